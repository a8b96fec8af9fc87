//! Who the browser's user is (README "Login bridge" step 2), from the answer of your app's
//! userinfo endpoint or from a verified Cloudflare Access JWT. Never from the query.

use std::fmt;

use serde_json::{Map, Value};

use crate::json_strict;
use crate::token::VerifiedToken;

/// Largest userinfo answer read (a user object is a few hundred bytes).
pub const MAX_USERINFO_BYTES: usize = 64 * 1024;

/// A signed-in user: string `sub` and `email`, and every other member of the user object (for
/// the standard claims and `LOGIN_CLAIMS`).
#[derive(Clone, PartialEq)]
pub struct User {
    sub: String,
    email: String,
    claims: Map<String, Value>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("sub", &self.sub)
            .finish_non_exhaustive()
    }
}

impl User {
    /// A user from an object's members; `None` unless `sub` and `email` are non-empty strings.
    pub fn from_claims(claims: Map<String, Value>) -> Option<Self> {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(Self {
            sub: text("sub")?,
            email: text("email")?,
            claims,
        })
    }

    /// `sub`.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// `email`.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// A member of the user object.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }
}

/// What the identity source said.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    /// Signed in.
    User(User),
    /// No session (no cookie, `401`, no or a failing Access JWT): the browser is sent to
    /// `LOGIN_REDIRECT_URL`, or gets a `401` page. The text is for the log only.
    NotSignedIn(&'static str),
    /// Your app knows the user and says no (`403`): a `403` page.
    Forbidden,
    /// The answer is unusable (other status, not a user object, unreachable): a `502` page.
    /// The text is for the log only.
    Unavailable(&'static str),
}

/// An answer from a service the bridge calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body, read up to the caller's limit.
    pub body: Vec<u8>,
}

/// Why a call produced no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// Connection refused, DNS, TLS, an aborted stream.
    Unreachable,
    /// No answer within the deadline.
    TimedOut,
    /// The body is larger than the caller's limit.
    TooLarge,
}

/// Reads the userinfo endpoint's answer (README "Login bridge", "The userinfo contract").
pub fn from_userinfo(answer: Result<Reply, CallFailure>) -> Identity {
    let reply = match answer {
        Ok(reply) => reply,
        Err(CallFailure::Unreachable) => return Identity::Unavailable("userinfo_unreachable"),
        Err(CallFailure::TimedOut) => return Identity::Unavailable("userinfo_timeout"),
        Err(CallFailure::TooLarge) => return Identity::Unavailable("userinfo_too_large"),
    };
    match reply.status {
        200 => {}
        401 => return Identity::NotSignedIn("userinfo_401"),
        403 => return Identity::Forbidden,
        _ => return Identity::Unavailable("userinfo_status"),
    }
    // The same strict reading as tokens: a duplicated `sub` must not mean one thing here and
    // another in your app.
    if json_strict::check(&reply.body).is_err() {
        return Identity::Unavailable("userinfo_not_json");
    }
    match serde_json::from_slice::<Value>(&reply.body) {
        Ok(Value::Object(claims)) => User::from_claims(claims)
            .map(Identity::User)
            .unwrap_or(Identity::Unavailable("userinfo_without_sub_or_email")),
        _ => Identity::Unavailable("userinfo_not_json"),
    }
}

/// A verified Access JWT's user: string `sub` and `email` required, else "not signed in".
pub fn from_access(token: &VerifiedToken) -> Identity {
    User::from_claims(token.claims().clone())
        .map(Identity::User)
        .unwrap_or(Identity::NotSignedIn("access_jwt_without_sub_or_email"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Result<Reply, CallFailure> {
        Ok(Reply {
            status,
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn a_user_object_is_a_user() {
        let Identity::User(user) = from_userinfo(reply(
            200,
            r#"{"sub":"u1","email":"a@example.com","name":"A"}"#,
        )) else {
            panic!("expected a user")
        };
        assert_eq!((user.sub(), user.email()), ("u1", "a@example.com"));
        assert_eq!(user.claim("name"), Some(&Value::from("A")));
    }

    #[test]
    fn statuses() {
        assert_eq!(
            from_userinfo(reply(401, "")),
            Identity::NotSignedIn("userinfo_401")
        );
        assert_eq!(from_userinfo(reply(403, "")), Identity::Forbidden);
        for status in [201, 204, 302, 404, 500] {
            assert!(matches!(
                from_userinfo(reply(status, r#"{"sub":"u","email":"e"}"#)),
                Identity::Unavailable(_)
            ));
        }
        for failure in [
            CallFailure::Unreachable,
            CallFailure::TimedOut,
            CallFailure::TooLarge,
        ] {
            assert!(matches!(
                from_userinfo(Err(failure)),
                Identity::Unavailable(_)
            ));
        }
    }

    #[test]
    fn unusable_user_objects() {
        for body in [
            "",
            "not json",
            "[]",
            r#"{"email":"e"}"#,
            r#"{"sub":"u"}"#,
            r#"{"sub":"","email":"e"}"#,
            r#"{"sub":7,"email":"e"}"#,
            r#"{"sub":"u","email":"e","sub":"admin"}"#,
            r#"{"sub":"u","email":"e","Sub":"admin"}"#,
        ] {
            assert!(
                matches!(from_userinfo(reply(200, body)), Identity::Unavailable(_)),
                "{body}"
            );
        }
    }

    #[test]
    fn debug_shows_only_the_sub() {
        let user =
            User::from_claims(serde_json::from_str(r#"{"sub":"u1","email":"private@x"}"#).unwrap())
                .unwrap();
        assert!(!format!("{user:?}").contains("private@x"));
    }
}
