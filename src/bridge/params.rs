//! The two values Scalekit puts on the login URL (README "Login bridge" step 1), read from the
//! query of the page request or from the confirmation form.

use std::fmt;

/// Longest `login_request_id` or `state` accepted.
pub const MAX_PARAM_CHARS: usize = 512;

/// `login_request_id` and `state`, each checked: present once, 1 to 512 characters of
/// `[A-Za-z0-9._~-]` (so they can be put in a URL, a path segment or an HTML attribute without
/// any escaping doing the gate's security for it).
#[derive(Clone, PartialEq, Eq)]
pub struct LoginParams {
    /// Scalekit's id of this sign-in; goes into the submission URL's path.
    pub login_request_id: String,
    /// Scalekit's `state`, handed back unchanged on `partner:callback`. Never logged or shown.
    pub state: String,
}

impl fmt::Debug for LoginParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginParams")
            .field("login_request_id", &self.login_request_id)
            .field("state", &"<redacted>")
            .finish()
    }
}

/// Why the parameters are unusable (a `400` page; the text names the field, never its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// The field is absent or empty.
    Missing(&'static str),
    /// The field appears more than once: two readers could pick different ones.
    Repeated(&'static str),
    /// Longer than [`MAX_PARAM_CHARS`] or outside `[A-Za-z0-9._~-]`.
    Invalid(&'static str),
}

impl ParamError {
    /// What the page says.
    pub fn message(self) -> String {
        match self {
            Self::Missing(name) => format!("The sign-in link has no `{name}`."),
            Self::Repeated(name) => format!("The sign-in link repeats `{name}`."),
            Self::Invalid(name) => format!(
                "The sign-in link's `{name}` is not valid (at most {MAX_PARAM_CHARS} letters, digits, `.`, `_`, `~` or `-`)."
            ),
        }
    }
}

fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_PARAM_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// The single value of `name` among form-encoded `pairs`.
pub(super) fn single<'a>(
    pairs: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, ParamError> {
    let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
    match (values.next(), values.next()) {
        (None, _) => Err(ParamError::Missing(name)),
        (Some(_), Some(_)) => Err(ParamError::Repeated(name)),
        (Some(v), None) if v.is_empty() => Err(ParamError::Missing(name)),
        (Some(v), None) => Ok(v),
    }
}

/// Decodes `application/x-www-form-urlencoded` text (a query or a form body).
pub(super) fn form_pairs(text: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text).into_owned().collect()
}

impl LoginParams {
    /// Reads the two fields from decoded form pairs.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, ParamError> {
        let field = |name: &'static str| {
            let value = single(pairs, name)?;
            if valid_value(value) {
                Ok(value.to_owned())
            } else {
                Err(ParamError::Invalid(name))
            }
        };
        Ok(Self {
            login_request_id: field("login_request_id")?,
            state: field("state")?,
        })
    }

    /// Reads the two fields from a request's query (`None`: no query at all).
    pub fn from_query(query: Option<&str>) -> Result<Self, ParamError> {
        Self::from_pairs(&form_pairs(query.unwrap_or_default().as_bytes()))
    }

    /// The query that brings a browser back to this sign-in (`return_to`): both values are
    /// URL-safe as checked.
    pub fn query(&self) -> String {
        format!(
            "login_request_id={}&state={}",
            self.login_request_id, self.state
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_fields_once_and_well_formed() {
        let p = LoginParams::from_query(Some("login_request_id=lri_1&state=a.b~c-d_e")).unwrap();
        assert_eq!(p.login_request_id, "lri_1");
        assert_eq!(p.state, "a.b~c-d_e");
        assert_eq!(p.query(), "login_request_id=lri_1&state=a.b~c-d_e");
        assert_eq!(
            LoginParams::from_query(None),
            Err(ParamError::Missing("login_request_id"))
        );
        assert_eq!(
            LoginParams::from_query(Some("login_request_id=x")),
            Err(ParamError::Missing("state"))
        );
        assert_eq!(
            LoginParams::from_query(Some("login_request_id=x&state=")),
            Err(ParamError::Missing("state"))
        );
        assert_eq!(
            LoginParams::from_query(Some("login_request_id=x&state=a&state=b")),
            Err(ParamError::Repeated("state"))
        );
    }

    #[test]
    fn values_outside_the_alphabet_or_too_long_are_refused() {
        for bad in ["a b", "a%2Fb", "<x>", "a\"b", "é", "a%00b", "a+b"] {
            let query = format!("login_request_id=ok&state={bad}");
            assert_eq!(
                LoginParams::from_query(Some(&query)),
                Err(ParamError::Invalid("state")),
                "{bad}"
            );
        }
        let longest = "a".repeat(MAX_PARAM_CHARS);
        let query = format!("login_request_id={longest}&state=s");
        assert!(LoginParams::from_query(Some(&query)).is_ok());
        let query = format!("login_request_id={longest}a&state=s");
        assert_eq!(
            LoginParams::from_query(Some(&query)),
            Err(ParamError::Invalid("login_request_id"))
        );
    }

    #[test]
    fn debug_and_messages_never_show_the_state() {
        let p = LoginParams::from_query(Some("login_request_id=x&state=secretstate")).unwrap();
        assert!(!format!("{p:?}").contains("secretstate"));
        assert!(ParamError::Invalid("state").message().contains("`state`"));
    }
}
