//! Credential extraction (README "Tokens" rule 1, RFC 6750 §2.1).
//!
//! Only the `Authorization` header is read: tokens in the query string or body are ignored
//! (RFC 6750 §2.2/2.3 methods are not supported, so such a request counts as having no
//! credentials). The Workers runtime joins repeated headers with `", "`, and a token68 value
//! never contains a comma, so a comma means several credentials.

use std::fmt;

/// Largest token accepted; longer ones are rejected before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A bearer token taken from the `Authorization` header. Not trusted in any way.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential<'a>(&'a str);

impl<'a> Credential<'a> {
    /// The raw compact token.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// Why no usable credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractError {
    /// No `Authorization` header, or another scheme: a plain challenge (401, no `error`).
    Missing,
    /// Several `Authorization` headers or several credentials in one (400 `invalid_request`).
    MultipleCredentials,
    /// `Bearer` with an empty value or characters outside token68 (401 `invalid_token`).
    MalformedBearer,
    /// The token is longer than [`MAX_TOKEN_BYTES`] (401 `invalid_token`).
    TooLarge,
}

impl ExtractError {
    /// Short reason for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "no_credentials",
            Self::MultipleCredentials => "multiple_credentials",
            Self::MalformedBearer => "malformed_bearer",
            Self::TooLarge => "token_too_large",
        }
    }
}

/// token68 (RFC 7235 §2.1): `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Extracts the bearer token from all `Authorization` header values of a request.
pub fn bearer<'a, I>(authorization_values: I) -> Result<Credential<'a>, ExtractError>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut values = authorization_values.into_iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Err(ExtractError::Missing),
        (Some(_), Some(_)) => return Err(ExtractError::MultipleCredentials),
        (Some(value), None) => value.trim_matches([' ', '\t']),
    };
    if value.contains(',') {
        return Err(ExtractError::MultipleCredentials);
    }
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ExtractError::Missing);
    }
    let token = rest.trim_start_matches([' ', '\t']);
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ExtractError::TooLarge);
    }
    if !is_token68(token) {
        return Err(ExtractError::MalformedBearer);
    }
    Ok(Credential(token))
}

/// A JWT carried on its own in a header (Cloudflare Access's `Cf-Access-Jwt-Assertion`, README
/// "Login bridge"): the same size limit and alphabet as a bearer token, no scheme.
pub fn assertion(value: &str) -> Result<Credential<'_>, ExtractError> {
    let token = value.trim_matches([' ', '\t']);
    if token.is_empty() {
        return Err(ExtractError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ExtractError::TooLarge);
    }
    if token.contains(',') {
        return Err(ExtractError::MultipleCredentials);
    }
    if !is_token68(token) {
        return Err(ExtractError::MalformedBearer);
    }
    Ok(Credential(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for header in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER  abc.def.ghi ",
        ] {
            assert_eq!(bearer([header]).unwrap().as_str(), "abc.def.ghi");
        }
    }

    #[test]
    fn missing_or_other_scheme_is_no_credentials() {
        assert_eq!(bearer([]).unwrap_err(), ExtractError::Missing);
        assert_eq!(
            bearer(["Basic dXNlcjpwYXNz"]).unwrap_err(),
            ExtractError::Missing
        );
        assert_eq!(bearer(["Bearerabc"]).unwrap_err(), ExtractError::Missing);
        assert_eq!(bearer(["DPoP abc"]).unwrap_err(), ExtractError::Missing);
    }

    #[test]
    fn several_credentials_are_a_bad_request() {
        assert_eq!(
            bearer(["Bearer a", "Bearer b"]).unwrap_err(),
            ExtractError::MultipleCredentials
        );
        assert_eq!(
            bearer(["Bearer a, Bearer b"]).unwrap_err(),
            ExtractError::MultipleCredentials
        );
        assert_eq!(
            bearer(["Bearer a,b"]).unwrap_err(),
            ExtractError::MultipleCredentials
        );
    }

    #[test]
    fn malformed_and_oversized_tokens() {
        assert_eq!(
            bearer(["Bearer"]).unwrap_err(),
            ExtractError::MalformedBearer
        );
        assert_eq!(
            bearer(["Bearer a b"]).unwrap_err(),
            ExtractError::MalformedBearer
        );
        assert_eq!(
            bearer(["Bearer \"quoted\""]).unwrap_err(),
            ExtractError::MalformedBearer
        );
        assert_eq!(
            bearer(["Bearer ==="]).unwrap_err(),
            ExtractError::MalformedBearer
        );
        let big = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(bearer([big.as_str()]).unwrap_err(), ExtractError::TooLarge);
        let edge = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        assert!(bearer([edge.as_str()]).is_ok());
    }

    #[test]
    fn assertions_are_bare_tokens() {
        assert_eq!(assertion(" a.b.c ").unwrap().as_str(), "a.b.c");
        assert_eq!(assertion("").unwrap_err(), ExtractError::Missing);
        assert_eq!(
            assertion("a.b.c, d.e.f").unwrap_err(),
            ExtractError::MultipleCredentials
        );
        assert_eq!(
            assertion("Bearer a.b.c").unwrap_err(),
            ExtractError::MalformedBearer
        );
        let big = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(assertion(&big).unwrap_err(), ExtractError::TooLarge);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let cred = bearer(["Bearer secret.token.value"]).unwrap();
        assert!(!format!("{cred:?}").contains("secret"));
    }
}
