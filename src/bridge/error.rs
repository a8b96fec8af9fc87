//! Why the bridge refuses (README "Login bridge", "Pages"): one enum, and one exhaustive
//! `match` from each variant to its status, its log outcome and what its page says.

use super::form_token::FormTokenError;
use super::params::ParamError;
use super::scalekit::ScalekitError;
use crate::settings::SettingsError;

/// A refusal of the login bridge. Every variant is a page; none shows the `state`, the form
/// token, a cookie or a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeError {
    /// A bridge setting is missing or invalid (`500`, names the setting).
    Misconfigured(SettingsError),
    /// Not `GET` or `POST` (`405` with `Allow: GET, POST`).
    MethodNotAllowed,
    /// `login_request_id` or `state` missing, repeated or malformed (`400`).
    BadParams(ParamError),
    /// No session and no `LOGIN_REDIRECT_URL` (`401`).
    NotSignedIn,
    /// Your app says this user may not use MCP clients (`403`).
    Forbidden,
    /// Your app's userinfo answer is unusable (`502`); the text is for the log.
    IdentityUnavailable(&'static str),
    /// A form post from another site: `Sec-Fetch-Site` not `same-origin`, or an `Origin` other
    /// than the origin of `RESOURCE` (`403`).
    CrossSite,
    /// A form post that is not `application/x-www-form-urlencoded` (UTF-8) (`415`).
    UnsupportedMediaType,
    /// A form post over the bridge's body limit (`413`).
    TooLarge,
    /// The form's token is missing, malformed, tampered, for other fields, or expired (`400`).
    Form(FormTokenError),
    /// The signed-in user is not the one the form was made for (`403`).
    OtherUser,
    /// Scalekit did not take the user (`502`).
    Scalekit(ScalekitError),
}

impl BridgeError {
    /// HTTP status of the page.
    pub fn status(&self) -> u16 {
        self.describe().0
    }

    /// `outcome` in the log line.
    pub fn outcome(&self) -> &'static str {
        self.describe().1
    }

    /// More detail for the log line (`reason`), when there is any to give.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::IdentityUnavailable(why) => Some(why),
            Self::Misconfigured(e) => Some(e.setting()),
            Self::BadParams(ParamError::Missing(_)) => Some("missing"),
            Self::BadParams(ParamError::Repeated(_)) => Some("repeated"),
            Self::BadParams(ParamError::Invalid(_)) => Some("invalid"),
            Self::Form(FormTokenError::Malformed) => Some("malformed"),
            Self::Form(FormTokenError::BadSignature) => Some("bad_signature"),
            Self::Form(FormTokenError::Expired) => Some("expired"),
            Self::Scalekit(ScalekitError::Refused { call, .. }) => Some(call),
            Self::Scalekit(ScalekitError::Unreachable)
            | Self::MethodNotAllowed
            | Self::NotSignedIn
            | Self::Forbidden
            | Self::CrossSite
            | Self::UnsupportedMediaType
            | Self::TooLarge
            | Self::OtherUser => None,
        }
    }

    /// Page title and text.
    pub fn page(&self) -> (&'static str, String) {
        let (_, _, title, text) = self.describe();
        (title, text)
    }

    /// `(status, outcome, title, text)`: the one table of refusals.
    fn describe(&self) -> (u16, &'static str, &'static str, String) {
        match self {
            Self::Misconfigured(e) => (
                500,
                "misconfigured",
                "Sign-in is not set up",
                format!(
                    "The gate's sign-in page is switched on but not fully configured: {e}. The operator must fix the setting (README \"Login bridge\")."
                ),
            ),
            Self::MethodNotAllowed => (
                405,
                "method_not_allowed",
                "Method not allowed",
                "This page only answers GET and POST.".into(),
            ),
            Self::BadParams(e) => (
                400,
                "invalid_request",
                "This sign-in link is not valid",
                format!("{} Start signing in again from your MCP client.", e.message()),
            ),
            Self::NotSignedIn => (
                401,
                "not_signed_in",
                "You are not signed in",
                "Sign in to the app first, then start signing in again from your MCP client."
                    .into(),
            ),
            Self::Forbidden => (
                403,
                "forbidden",
                "Access not allowed",
                "You are signed in, but your account may not connect MCP clients to this server."
                    .into(),
            ),
            Self::IdentityUnavailable(_) => (
                502,
                "identity_unavailable",
                "Sign-in is not available",
                "The app that knows who you are did not answer as expected. Try again later."
                    .into(),
            ),
            Self::CrossSite => (
                403,
                "cross_site",
                "Request refused",
                "This form can only be sent from the confirmation page itself.".into(),
            ),
            Self::UnsupportedMediaType => (
                415,
                "unsupported_media_type",
                "Request refused",
                "This page only accepts its own confirmation form.".into(),
            ),
            Self::TooLarge => (
                413,
                "too_large",
                "Request refused",
                "The form is larger than the confirmation form can be.".into(),
            ),
            Self::Form(FormTokenError::Expired) => (
                400,
                "form_expired",
                "This confirmation expired",
                "The confirmation page is valid for five minutes. Start signing in again from your MCP client."
                    .into(),
            ),
            Self::Form(FormTokenError::Malformed | FormTokenError::BadSignature) => (
                400,
                "form_invalid",
                "This confirmation is not valid",
                "The form was changed or does not belong to this sign-in. Start signing in again from your MCP client."
                    .into(),
            ),
            Self::OtherUser => (
                403,
                "other_user",
                "Signed in as someone else",
                "The confirmation was made for another account than the one you are signed in with now. Start signing in again from your MCP client."
                    .into(),
            ),
            Self::Scalekit(ScalekitError::Refused { .. }) => (
                502,
                "scalekit_refused",
                "Sign-in could not be completed",
                "The authorization server refused to complete this sign-in. Start signing in again from your MCP client; if it keeps failing, tell the operator."
                    .into(),
            ),
            Self::Scalekit(ScalekitError::Unreachable) => (
                502,
                "scalekit_unreachable",
                "Sign-in could not be completed",
                "The authorization server could not be reached. Try again in a moment.".into(),
            ),
        }
    }
}
