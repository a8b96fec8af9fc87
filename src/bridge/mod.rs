//! The login bridge (README "Login bridge"): the gate as Scalekit's Login URL for "bring your
//! own auth". A second pipeline, independent of the MCP one, on `LOGIN_PATH` only:
//!
//! ```text
//! GET  ─► params ─► identity (Access JWT | userinfo) ─► confirmation page + signed form token
//! POST ─► same-origin ─► form ─► form token ─► identity again, same sub ─► client token
//!      ─► submit user to Scalekit ─► 302 partner:callback?state=…
//! ```
//!
//! Security decisions:
//! - The user comes from your existing auth only (a verified Access JWT or your app's
//!   userinfo answer to the browser's own cookies), never from the query or the form.
//! - The confirmation is a click on a page of the gate's own origin: a link with someone
//!   else's `login_request_id` sent to a victim shows who they would sign in as and why to
//!   cancel; a cross-site post (`Sec-Fetch-Site`, `Origin`) is refused; the form token binds
//!   `login_request_id`, `state` and `sub` under `LOGIN_SECRET` for five minutes, so a forged
//!   `state`, a replayed or altered form, or a form of another user goes nowhere.
//! - The `state` is handed back to Scalekit unchanged and never logged or shown; nothing of
//!   the user but `sub` is logged.
//! - Every failure is a page and nothing is retried, but for one new client token after a
//!   `401` from Scalekit.
//!
//! The flow is platform-free: the Worker adapter (`edge/bridge.rs`) implements [`BridgeIo`]
//! (fetches with deadlines, the Access key set) and keeps the [`ClientTokenCache`].

pub mod error;
pub mod form_token;
pub mod identity;
pub mod page;
pub mod params;
pub mod scalekit;

use std::cell::RefCell;
use std::sync::Arc;

use http::{HeaderMap, Method, Response};
use url::Url;

pub use error::BridgeError;
pub use identity::{CallFailure, Identity, Reply, User};
pub use params::LoginParams;
pub use scalekit::ClientTokenCache;

use crate::settings::bridge::{AccessSettings, BridgeSettings, IdentitySource};
use crate::settings::Secret;
use crate::token::{self, KeySet, SignatureVerifier};

/// Largest confirmation form read (three fields of at most a few hundred bytes each).
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Deadline of every call the bridge makes (userinfo, Scalekit).
pub const CALL_DEADLINE_MS: u64 = 10_000;
/// The Access JWT header (README "Login bridge", Access).
pub const ACCESS_JWT_HEADER: &str = "cf-access-jwt-assertion";

/// The I/O the bridge needs, done by the Worker adapter (or a test double).
#[allow(async_fn_in_trait)] // Workers are single-threaded: no `Send` bound wanted.
pub trait BridgeIo {
    /// Checks Access JWT signatures (WebCrypto in the Worker).
    type Verifier: SignatureVerifier;

    /// The signature verifier.
    fn verifier(&self) -> &Self::Verifier;

    /// `GET url` with `Cookie: <cookie>` as the only credential, no redirects followed,
    /// [`CALL_DEADLINE_MS`], the body read up to [`identity::MAX_USERINFO_BYTES`].
    async fn userinfo(&self, url: &Url, cookie: &str) -> Result<Reply, CallFailure>;

    /// `POST url` with `body` of `content_type` (and `Authorization: Bearer` when given), no
    /// redirects followed, [`CALL_DEADLINE_MS`], the answer read up to
    /// [`scalekit::MAX_SCALEKIT_REPLY_BYTES`].
    async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        bearer: Option<&Secret>,
        body: Vec<u8>,
    ) -> Result<Reply, CallFailure>;

    /// The Access team's key set in use (fetched when the isolate has none yet).
    async fn access_keys(&self, access: &AccessSettings) -> Arc<KeySet>;

    /// No key fits the JWT's `kid`: refresh the key set if the throttle allows (README "Login
    /// bridge": like the `jwks` refresh, at most once per 30 s per isolate), then the keys.
    async fn access_keys_after_unknown_kid(
        &self,
        access: &AccessSettings,
        kid: Option<&str>,
    ) -> Arc<KeySet>;
}

/// The request body as the adapter read it (only for `POST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormBody<'a> {
    /// Not read (not a `POST`).
    NotRead,
    /// The bytes, at most [`MAX_FORM_BYTES`].
    Bytes(&'a [u8]),
    /// Over [`MAX_FORM_BYTES`].
    TooLarge,
    /// The stream failed.
    Unreadable,
}

/// One request to `LOGIN_PATH`.
#[derive(Debug, Clone, Copy)]
pub struct BridgeRequest<'a> {
    /// The method (`None`: not one the `http` crate knows).
    pub method: Option<&'a Method>,
    /// The raw query (never logged).
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The form, for a `POST`.
    pub body: FormBody<'a>,
}

/// Which step a request is (`bridge_step` in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `GET`: the confirmation page (and anything that is not a `POST`).
    Page,
    /// `POST`: the form.
    Submit,
}

impl Step {
    /// The log's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Submit => "submit",
        }
    }
}

/// What the bridge answers.
#[derive(Debug)]
pub enum Answer {
    /// `200`: the confirmation page (HTML, rendered; it holds the state and the form token in
    /// hidden fields only).
    Confirm(String),
    /// `302` to `LOGIN_REDIRECT_URL` with `return_to` (not signed in).
    SignIn(String),
    /// `302` to Scalekit's `partner:callback`: done.
    Callback(String),
    /// A page saying why not.
    Refused(BridgeError),
}

/// The bridge's log line, without the adapter's fields (status, method, path, duration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeLog {
    /// `bridge_step`.
    pub step: Step,
    /// `outcome`.
    pub outcome: &'static str,
    /// `reason`: more detail, when there is some.
    pub reason: Option<&'static str>,
    /// The user's `sub`, when known.
    pub sub: Option<String>,
}

/// A finished bridge request: the answer and its log line.
#[derive(Debug)]
pub struct Handled {
    /// What to answer.
    pub answer: Answer,
    /// What to log.
    pub log: BridgeLog,
}

impl Handled {
    /// The HTTP response (README "Login bridge", "Pages").
    pub fn response(&self) -> Response<Vec<u8>> {
        match &self.answer {
            Answer::Confirm(html) => page::html(200, html.clone()),
            Answer::SignIn(location) | Answer::Callback(location) => page::redirect(location),
            Answer::Refused(error) => refusal(error),
        }
    }
}

fn refusal(error: &BridgeError) -> Response<Vec<u8>> {
    let (title, text) = error.page();
    let mut response = page::html(error.status(), page::message(title, &text));
    if *error == BridgeError::MethodNotAllowed {
        response.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_static("GET, POST"),
        );
    }
    response
}

/// The answer of a misconfigured bridge (`500` naming the setting) to any request.
pub fn misconfigured(
    request: &BridgeRequest<'_>,
    error: &crate::settings::SettingsError,
) -> Handled {
    let error = BridgeError::Misconfigured(error.clone());
    Handled {
        log: BridgeLog {
            step: step_of(request),
            outcome: error.outcome(),
            reason: error.reason(),
            sub: None,
        },
        answer: Answer::Refused(error),
    }
}

fn step_of(request: &BridgeRequest<'_>) -> Step {
    if request.method == Some(&Method::POST) {
        Step::Submit
    } else {
        Step::Page
    }
}

/// Handles one request to `LOGIN_PATH` at `now_ms`.
pub async fn handle<I: BridgeIo>(
    request: &BridgeRequest<'_>,
    settings: &BridgeSettings,
    io: &I,
    tokens: &RefCell<ClientTokenCache>,
    now_ms: u64,
) -> Handled {
    let mut sub = None;
    let result = match request.method {
        Some(m) if *m == Method::GET => page(request, settings, io, now_ms, &mut sub).await,
        Some(m) if *m == Method::POST => {
            submit(request, settings, io, tokens, now_ms, &mut sub).await
        }
        _ => Err(BridgeError::MethodNotAllowed.into()),
    };
    let (Ok(ended) | Err(ended)) = result;
    Handled {
        answer: ended.answer,
        log: BridgeLog {
            step: step_of(request),
            outcome: ended.outcome,
            reason: ended.reason,
            sub,
        },
    }
}

/// How a step ended: its answer and what the log says of it. A step returns `Err` to stop
/// early; both sides are answers.
struct Ended {
    answer: Answer,
    outcome: &'static str,
    reason: Option<&'static str>,
}

impl From<BridgeError> for Ended {
    fn from(error: BridgeError) -> Self {
        Self {
            outcome: error.outcome(),
            reason: error.reason(),
            answer: Answer::Refused(error),
        }
    }
}

async fn page<I: BridgeIo>(
    request: &BridgeRequest<'_>,
    settings: &BridgeSettings,
    io: &I,
    now_ms: u64,
    sub: &mut Option<String>,
) -> Result<Ended, Ended> {
    let params = LoginParams::from_query(request.query).map_err(BridgeError::BadParams)?;
    let user = signed_in_user(request, settings, io, &params, now_ms).await?;
    *sub = Some(user.sub().to_owned());
    let form_token = form_token::issue(&settings.login_secret, &params, user.sub(), now_ms);
    Ok(Ended {
        answer: Answer::Confirm(page::confirmation(settings, &user, &params, &form_token)),
        outcome: "confirm",
        reason: None,
    })
}

async fn submit<I: BridgeIo>(
    request: &BridgeRequest<'_>,
    settings: &BridgeSettings,
    io: &I,
    tokens: &RefCell<ClientTokenCache>,
    now_ms: u64,
    sub: &mut Option<String>,
) -> Result<Ended, Ended> {
    check_same_origin(request.headers, &settings.own_origin)?;
    if !is_form(request.headers) {
        return Err(BridgeError::UnsupportedMediaType.into());
    }
    let body = match request.body {
        FormBody::Bytes(bytes) => bytes,
        FormBody::TooLarge => return Err(BridgeError::TooLarge.into()),
        FormBody::NotRead | FormBody::Unreadable => {
            return Err(BridgeError::Form(form_token::FormTokenError::Malformed).into())
        }
    };
    let pairs = params::form_pairs(body);
    let params = LoginParams::from_pairs(&pairs).map_err(BridgeError::BadParams)?;
    let token = params::single(&pairs, "token")
        .map_err(|_| BridgeError::Form(form_token::FormTokenError::Malformed))?;
    let form_sub = form_token::check(&settings.login_secret, token, &params, now_ms)
        .map_err(BridgeError::Form)?;
    let user = signed_in_user(request, settings, io, &params, now_ms).await?;
    *sub = Some(user.sub().to_owned());
    if user.sub() != form_sub {
        return Err(BridgeError::OtherUser.into());
    }
    submit_user(settings, io, tokens, &params, &user, now_ms)
        .await
        .map_err(BridgeError::Scalekit)?;
    Ok(Ended {
        answer: Answer::Callback(scalekit::callback_url(settings, &params)),
        outcome: "submitted",
        reason: None,
    })
}

/// `Sec-Fetch-Site` other than `same-origin` or an `Origin` other than the origin of
/// `RESOURCE`, when present, is a cross-site post. Browsers send at least one of them on a
/// form post; a client without either is not a browser another site can drive.
fn check_same_origin(headers: &HeaderMap, own_origin: &str) -> Result<(), BridgeError> {
    let all_equal = |name: &str, expected: &str| {
        headers
            .get_all(name)
            .iter()
            .all(|value| value.as_bytes() == expected.as_bytes())
    };
    if all_equal("sec-fetch-site", "same-origin") && all_equal("origin", own_origin) {
        Ok(())
    } else {
        Err(BridgeError::CrossSite)
    }
}

/// `application/x-www-form-urlencoded`, with no parameter but `charset=utf-8`.
fn is_form(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(http::header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let essence_ok = parts
        .next()
        .is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    essence_ok
        && parts.all(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("charset")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            })
        })
}

/// The user, or the answer that replaces the page (a refusal, or the sign-in redirect).
async fn signed_in_user<I: BridgeIo>(
    request: &BridgeRequest<'_>,
    settings: &BridgeSettings,
    io: &I,
    params: &LoginParams,
    now_ms: u64,
) -> Result<User, Ended> {
    let identity = match &settings.identity {
        IdentitySource::Userinfo { url } => match cookie(request.headers) {
            None => Identity::NotSignedIn("no_cookie"),
            Some(cookie) => identity::from_userinfo(io.userinfo(url, &cookie).await),
        },
        IdentitySource::Access(access) => {
            access_identity(
                request.headers,
                access,
                settings.clock_skew_seconds,
                io,
                now_ms,
            )
            .await
        }
    };
    match identity {
        Identity::User(user) => Ok(user),
        Identity::NotSignedIn(why) => Err(not_signed_in(settings, params, why)),
        Identity::Forbidden => Err(BridgeError::Forbidden.into()),
        Identity::Unavailable(why) => Err(BridgeError::IdentityUnavailable(why).into()),
    }
}

/// Not signed in: `302` to `LOGIN_REDIRECT_URL` with `return_to` (back to this sign-in on the
/// origin of `RESOURCE`), else a `401` page.
fn not_signed_in(settings: &BridgeSettings, params: &LoginParams, why: &'static str) -> Ended {
    let answer = match &settings.redirect_url {
        Some(login_page) => {
            let return_to = format!(
                "{}{}?{}",
                settings.own_origin,
                settings.login_path,
                params.query()
            );
            let separator = if login_page.query().is_some() {
                '&'
            } else {
                '?'
            };
            Answer::SignIn(format!(
                "{login_page}{separator}return_to={}",
                scalekit::component(&return_to)
            ))
        }
        None => Answer::Refused(BridgeError::NotSignedIn),
    };
    Ended {
        answer,
        outcome: BridgeError::NotSignedIn.outcome(),
        reason: Some(why),
    }
}

/// The browser's cookies, as one header value (HTTP/2 may split them over several fields).
fn cookie(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then(|| values.join("; "))
}

async fn access_identity<I: BridgeIo>(
    headers: &HeaderMap,
    access: &AccessSettings,
    clock_skew_seconds: u32,
    io: &I,
    now_ms: u64,
) -> Identity {
    let mut values = headers.get_all(ACCESS_JWT_HEADER).iter();
    let raw = match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().unwrap_or_default(),
        (None, _) => return Identity::NotSignedIn("no_access_jwt"),
        (Some(_), Some(_)) => return Identity::NotSignedIn("several_access_jwts"),
    };
    let Ok(credential) = token::extract::assertion(raw) else {
        return Identity::NotSignedIn("malformed_access_jwt");
    };
    let policy = access.token_policy(clock_skew_seconds);
    let jwt = match token::verify::parse(&credential, &policy) {
        Ok(jwt) => jwt,
        Err(e) => return Identity::NotSignedIn(e.reason()),
    };
    let mut keys = io.access_keys(access).await;
    if keys.select(jwt.kid(), jwt.algorithm()).is_err() {
        keys = io.access_keys_after_unknown_kid(access, jwt.kid()).await;
    }
    match token::verify::verify(&jwt, &keys, io.verifier(), &policy, now_ms).await {
        Ok(verified) => identity::from_access(&verified),
        Err(e) => Identity::NotSignedIn(e.reason()),
    }
}

/// Gets a client token (cached) and submits the user; one retry with a new token after a
/// `401`, nothing else retried.
async fn submit_user<I: BridgeIo>(
    settings: &BridgeSettings,
    io: &I,
    tokens: &RefCell<ClientTokenCache>,
    params: &LoginParams,
    user: &User,
    now_ms: u64,
) -> Result<(), scalekit::ScalekitError> {
    let url = scalekit::submit_url(settings, params);
    let body = scalekit::submission_body(user, &settings.login_claims);
    let mut retried = false;
    loop {
        let cached = tokens.borrow().get(now_ms).cloned();
        let token = match cached {
            Some(token) => token,
            None => {
                let answer = io
                    .post(
                        &scalekit::token_url(settings),
                        "application/x-www-form-urlencoded",
                        None,
                        scalekit::token_request_body(settings),
                    )
                    .await;
                let (token, expires_in) = scalekit::read_token_reply(answer)?;
                tokens.borrow_mut().store(token.clone(), expires_in, now_ms);
                token
            }
        };
        let reply = io
            .post(&url, "application/json", Some(&token), body.clone())
            .await?;
        if scalekit::submitted(&reply) {
            return Ok(());
        }
        if reply.status == 401 && !retried {
            tokens.borrow_mut().clear();
            retried = true;
            continue;
        }
        return Err(scalekit::ScalekitError::Refused {
            call: "submit",
            status: reply.status,
        });
    }
}
