//! The confirmation form's signed token (README "Login bridge" step 3): binds `login_request_id`,
//! `state` and the user's `sub` to an expiry, with HMAC-SHA256 under `LOGIN_SECRET`.
//!
//! Format: `v1.<exp>.<base64url(sub)>.<base64url(mac)>`, `exp` in Unix seconds, and the MAC over
//! `mcp-gate-login-v1\n<exp>\n<login_request_id>\n<state>\n<sub>` (the id and state cannot hold a
//! newline, `exp` is digits and `sub` comes last, so no two inputs share a message). The MAC is
//! checked in constant time before anything else is believed; `sub` travels in the token so that
//! "the form of another user" (403) can be told from "a tampered form" (400).

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::params::LoginParams;
use crate::settings::Secret;

/// How long a confirmation page may wait for its click.
pub const FORM_LIFETIME_SECS: u64 = 300;
const VERSION: &str = "v1";
const CONTEXT: &str = "mcp-gate-login-v1";

/// Why a form token is refused (a `400` page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormTokenError {
    /// Not a token of this format.
    Malformed,
    /// The MAC does not verify: tampered, another secret, or fields that are not the ones it
    /// was issued for.
    BadSignature,
    /// Issued for a moment that has passed.
    Expired,
}

fn mac(secret: &Secret, exp: u64, params: &LoginParams, sub: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; the settings require at least 32 bytes.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    for part in [
        CONTEXT,
        &exp.to_string(),
        &params.login_request_id,
        &params.state,
    ] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac.update(sub.as_bytes());
    mac
}

/// A token for `params` and `sub`, valid for [`FORM_LIFETIME_SECS`] after `now_ms`.
pub fn issue(secret: &Secret, params: &LoginParams, sub: &str, now_ms: u64) -> String {
    let exp = now_ms / 1000 + FORM_LIFETIME_SECS;
    let tag = mac(secret, exp, params, sub).finalize().into_bytes();
    format!(
        "{VERSION}.{exp}.{}.{}",
        Base64UrlUnpadded::encode_string(sub.as_bytes()),
        Base64UrlUnpadded::encode_string(&tag)
    )
}

/// Checks `token` against the posted `params` at `now_ms`; yields the `sub` it was issued to.
pub fn check(
    secret: &Secret,
    token: &str,
    params: &LoginParams,
    now_ms: u64,
) -> Result<String, FormTokenError> {
    let mut parts = token.split('.');
    let (Some(VERSION), Some(exp), Some(sub), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(FormTokenError::Malformed);
    };
    if exp.is_empty() || !exp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FormTokenError::Malformed);
    }
    let exp: u64 = exp.parse().map_err(|_| FormTokenError::Malformed)?;
    let sub = Base64UrlUnpadded::decode_vec(sub)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(FormTokenError::Malformed)?;
    let tag = Base64UrlUnpadded::decode_vec(tag).map_err(|_| FormTokenError::Malformed)?;
    mac(secret, exp, params, &sub)
        .verify_slice(&tag)
        .map_err(|_| FormTokenError::BadSignature)?;
    if now_ms / 1000 > exp {
        return Err(FormTokenError::Expired);
    }
    Ok(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_760_000_000_000;

    fn secret(s: &str) -> Secret {
        Secret::new(s)
    }

    fn params(id: &str, state: &str) -> LoginParams {
        LoginParams {
            login_request_id: id.into(),
            state: state.into(),
        }
    }

    #[test]
    fn a_token_checks_for_its_own_fields_and_user() {
        let key = secret("k".repeat(32).as_str());
        let p = params("lri_1", "st");
        let token = issue(&key, &p, "user|42", NOW);
        assert_eq!(check(&key, &token, &p, NOW).as_deref(), Ok("user|42"));
        assert!(!token.contains("st."), "the state is bound, not carried");
    }

    #[test]
    fn other_fields_another_secret_or_a_tampered_token_fail() {
        let key = secret("k".repeat(32).as_str());
        let p = params("lri_1", "st");
        let token = issue(&key, &p, "alice", NOW);
        for other in [params("lri_2", "st"), params("lri_1", "st2")] {
            assert_eq!(
                check(&key, &token, &other, NOW),
                Err(FormTokenError::BadSignature)
            );
        }
        let other_key = secret("j".repeat(32).as_str());
        assert_eq!(
            check(&other_key, &token, &p, NOW),
            Err(FormTokenError::BadSignature)
        );
        // Another user's name spliced in, or a later expiry: the MAC no longer fits.
        let parts: Vec<&str> = token.split('.').collect();
        let bob = Base64UrlUnpadded::encode_string(b"bob");
        let swapped = format!("{}.{}.{bob}.{}", parts[0], parts[1], parts[3]);
        assert_eq!(
            check(&key, &swapped, &p, NOW),
            Err(FormTokenError::BadSignature)
        );
        let later = format!("{}.{}.{}.{}", parts[0], u64::MAX / 2, parts[2], parts[3]);
        assert_eq!(
            check(&key, &later, &p, NOW),
            Err(FormTokenError::BadSignature)
        );
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            check(&key, &String::from_utf8(flipped).unwrap(), &p, NOW),
            Err(FormTokenError::BadSignature)
        );
    }

    #[test]
    fn expiry_is_five_minutes_without_leeway() {
        let key = secret("k".repeat(32).as_str());
        let p = params("lri_1", "st");
        let token = issue(&key, &p, "alice", NOW);
        let deadline = NOW / 1000 * 1000 + FORM_LIFETIME_SECS * 1000;
        assert!(check(&key, &token, &p, deadline + 999).is_ok());
        assert_eq!(
            check(&key, &token, &p, deadline + 1000),
            Err(FormTokenError::Expired)
        );
    }

    #[test]
    fn malformed_tokens() {
        let key = secret("k".repeat(32).as_str());
        let p = params("lri_1", "st");
        for bad in [
            "",
            "v1",
            "v2.1.YQ.YQ",
            "v1.x.YQ.YQ",
            "v1.+1.YQ.YQ",
            "v1.1.YQ",
            "v1.1.YQ.YQ.YQ",
            "v1.1.*.YQ",
            "v1.1.YQ.*",
            "v1.1._w.YQ",
        ] {
            assert_eq!(
                check(&key, bad, &p, NOW),
                Err(FormTokenError::Malformed),
                "{bad}"
            );
        }
    }
}
