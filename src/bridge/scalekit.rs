//! Talking to Scalekit (README "Login bridge" step 4): the client-credentials token and its
//! cache, the user submission and the `partner:callback` URL. Pure: the flow does the calls.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::identity::{CallFailure, Reply, User};
use super::params::LoginParams;
use crate::settings::bridge::BridgeSettings;
use crate::settings::Secret;

/// A cached client token is dropped this long before Scalekit said it expires.
pub const TOKEN_EARLY_EXPIRY_SECS: u64 = 60;
/// Largest answer read from Scalekit.
pub const MAX_SCALEKIT_REPLY_BYTES: usize = 64 * 1024;

/// Standard claims copied to Scalekit when the user object has them with this JSON type.
const STANDARD_CLAIMS: [(&str, ClaimType); 9] = [
    ("name", ClaimType::String),
    ("given_name", ClaimType::String),
    ("family_name", ClaimType::String),
    ("email_verified", ClaimType::Bool),
    ("preferred_username", ClaimType::String),
    ("picture", ClaimType::String),
    ("locale", ClaimType::String),
    ("phone_number", ClaimType::String),
    ("phone_number_verified", ClaimType::Bool),
];

#[derive(Clone, Copy)]
enum ClaimType {
    String,
    Bool,
}

impl ClaimType {
    fn fits(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Bool => value.is_boolean(),
        }
    }
}

/// Why Scalekit did not take the user (a `502` page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalekitError {
    /// No answer (connection, deadline, oversized answer).
    Unreachable,
    /// An answer that is not a success: the token endpoint refused the client credentials or
    /// answered something unusable, or the submission was refused.
    Refused {
        /// Which call: `token` or `submit`.
        call: &'static str,
        /// Scalekit's status.
        status: u16,
    },
}

impl From<CallFailure> for ScalekitError {
    fn from(_: CallFailure) -> Self {
        Self::Unreachable
    }
}

/// The isolate's client-credentials token, with the clock injected.
#[derive(Debug, Default)]
pub struct ClientTokenCache {
    token: Option<(Secret, u64)>,
}

impl ClientTokenCache {
    /// The cached token while it is good at `now_ms`.
    pub fn get(&self, now_ms: u64) -> Option<&Secret> {
        self.token
            .as_ref()
            .filter(|(_, good_until_ms)| now_ms < *good_until_ms)
            .map(|(token, _)| token)
    }

    /// Keeps a fresh token until [`TOKEN_EARLY_EXPIRY_SECS`] before its `expires_in`; one
    /// that expires sooner (or says nothing) is used once and not kept.
    pub fn store(&mut self, token: Secret, expires_in_secs: Option<u64>, now_ms: u64) {
        self.token = expires_in_secs
            .and_then(|secs| secs.checked_sub(TOKEN_EARLY_EXPIRY_SECS))
            .filter(|secs| *secs > 0)
            .map(|secs| (token, now_ms.saturating_add(secs.saturating_mul(1000))));
    }

    /// Forgets the token (Scalekit answered `401` to it).
    pub fn clear(&mut self) {
        self.token = None;
    }
}

/// `<env>/oauth/token`.
pub fn token_url(settings: &BridgeSettings) -> String {
    format!("{}/oauth/token", settings.environment_url)
}

/// The client-credentials grant, form-encoded.
pub fn token_request_body(settings: &BridgeSettings) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", settings.client_id.expose())
        .append_pair("client_secret", settings.client_secret.expose())
        .finish()
        .into_bytes()
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Reads the token endpoint's answer: `200` with a string `access_token` (and `expires_in`).
pub fn read_token_reply(
    answer: Result<Reply, CallFailure>,
) -> Result<(Secret, Option<u64>), ScalekitError> {
    let reply = answer?;
    let refused = ScalekitError::Refused {
        call: "token",
        status: reply.status,
    };
    if reply.status != 200 {
        return Err(refused);
    }
    let parsed: TokenReply = serde_json::from_slice(&reply.body).map_err(|_| refused)?;
    if parsed.access_token.is_empty() {
        return Err(refused);
    }
    Ok((Secret::new(parsed.access_token), parsed.expires_in))
}

/// `<env>/api/v1/connections/<connection>/auth-requests/<login_request_id>/user`.
pub fn submit_url(settings: &BridgeSettings, params: &LoginParams) -> String {
    format!(
        "{}/api/v1/connections/{}/auth-requests/{}/user",
        settings.environment_url, settings.connection_id, params.login_request_id
    )
}

/// The submitted user: `sub`, `email`, the standard claims the user object has with the right
/// type, then each `LOGIN_CLAIMS` claim it has (any JSON value, copied as it is).
pub fn submission_body(user: &User, login_claims: &[String]) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("sub".into(), Value::from(user.sub()));
    body.insert("email".into(), Value::from(user.email()));
    for (name, kind) in STANDARD_CLAIMS {
        if let Some(value) = user.claim(name).filter(|v| kind.fits(v)) {
            body.insert(name.into(), value.clone());
        }
    }
    for name in login_claims {
        if body.contains_key(name) {
            continue;
        }
        if let Some(value) = user.claim(name).filter(|v| !v.is_null()) {
            body.insert(name.clone(), value.clone());
        }
    }
    Value::Object(body).to_string().into_bytes()
}

/// Whether the submission succeeded (`2xx`).
pub fn submitted(reply: &Reply) -> bool {
    (200..300).contains(&reply.status)
}

/// `<env>/sso/v1/connections/<connection>/partner:callback?state=<state>` (the state
/// URL-encoded, though its alphabet needs no escaping).
pub fn callback_url(settings: &BridgeSettings, params: &LoginParams) -> String {
    format!(
        "{}/sso/v1/connections/{}/partner:callback?state={}",
        settings.environment_url,
        settings.connection_id,
        component(&params.state)
    )
}

/// Everything but `A-Z a-z 0-9 - . _ ~` percent-encoded (RFC 3986 unreserved; what
/// JavaScript's `encodeURIComponent` leaves alone, but for `!*'()`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one URL query value.
pub fn component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(json: &str) -> User {
        User::from_claims(serde_json::from_str(json).unwrap()).unwrap()
    }

    fn body(user: &User, claims: &[&str]) -> Value {
        let claims: Vec<String> = claims.iter().map(|c| (*c).to_owned()).collect();
        serde_json::from_slice(&submission_body(user, &claims)).unwrap()
    }

    #[test]
    fn standard_claims_of_the_right_type_and_login_claims() {
        let u = user(
            r#"{"sub":"u1","email":"a@x","name":"Ann","email_verified":true,
                "given_name":7,"phone_number_verified":"yes","locale":"fr",
                "department":"R&D","groups":["a","b"],"iat":1,"empty":null}"#,
        );
        assert_eq!(
            body(&u, &["groups", "department", "missing", "empty"]),
            serde_json::json!({"sub":"u1","email":"a@x","name":"Ann","email_verified":true,
                "locale":"fr","groups":["a","b"],"department":"R&D"})
        );
        // Claims not asked for stay home.
        assert_eq!(
            body(&u, &[]),
            serde_json::json!({"sub":"u1","email":"a@x","name":"Ann","email_verified":true,"locale":"fr"})
        );
        // LOGIN_CLAIMS never overrides sub or email.
        assert_eq!(body(&u, &["sub", "email"])["sub"], "u1");
    }

    #[test]
    fn the_client_token_is_cached_until_a_minute_before_expiry() {
        let mut cache = ClientTokenCache::default();
        assert!(cache.get(0).is_none());
        cache.store(Secret::new("t1"), Some(3600), 1_000);
        assert_eq!(cache.get(1_000).map(Secret::expose), Some("t1"));
        let edge = 1_000 + (3600 - TOKEN_EARLY_EXPIRY_SECS) * 1000;
        assert!(cache.get(edge - 1).is_some());
        assert!(cache.get(edge).is_none());
        cache.clear();
        assert!(cache.get(1_000).is_none());
        for short in [None, Some(0), Some(30), Some(TOKEN_EARLY_EXPIRY_SECS)] {
            cache.store(Secret::new("t2"), short, 0);
            assert!(cache.get(0).is_none(), "{short:?}");
        }
    }

    #[test]
    fn token_replies() {
        let ok = Reply {
            status: 200,
            body: br#"{"access_token":"abc","token_type":"Bearer","expires_in":86399}"#.to_vec(),
        };
        let (token, expires) = read_token_reply(Ok(ok)).unwrap();
        assert_eq!((token.expose(), expires), ("abc", Some(86399)));
        for (status, body) in [
            (401, r#"{"error":"invalid_client"}"#),
            (200, r#"{"token_type":"Bearer"}"#),
            (200, r#"{"access_token":""}"#),
            (200, "nope"),
        ] {
            let reply = Reply {
                status,
                body: body.as_bytes().to_vec(),
            };
            assert!(matches!(
                read_token_reply(Ok(reply)),
                Err(ScalekitError::Refused { call: "token", .. })
            ));
        }
        assert_eq!(
            read_token_reply(Err(CallFailure::TimedOut)).unwrap_err(),
            ScalekitError::Unreachable
        );
    }
}
