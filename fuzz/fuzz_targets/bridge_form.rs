//! The login bridge's untrusted inputs (README "Login bridge"): the query and form fields, the
//! form token, and your app's userinfo answer. Never a panic; a form token checks only when
//! it is the one the gate issued for exactly these fields and user; a user only with string
//! `sub` and `email`; fields only in the documented alphabet.
//!
//! Input: bytes split at the first `\n\n`: the form (query or body) before it, a userinfo
//! answer body after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_gate::bridge::form_token::{self, FormTokenError};
use mcp_gate::bridge::identity::{from_userinfo, Identity, Reply};
use mcp_gate::bridge::params::MAX_PARAM_CHARS;
use mcp_gate::bridge::LoginParams;
use mcp_gate::settings::Secret;

const NOW_MS: u64 = 1_800_000_000_000;

fn pairs(form: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(form).into_owned().collect()
}

fuzz_target!(|data: &[u8]| {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (form, userinfo) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &b""[..]),
    };
    let secret = Secret::new("fuzzing-login-secret-0123456789abcdef");
    let fields = pairs(form);

    if let Ok(params) = LoginParams::from_pairs(&fields) {
        for value in [&params.login_request_id, &params.state] {
            assert!(!value.is_empty() && value.len() <= MAX_PARAM_CHARS);
            assert!(value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)));
        }
        // A posted token is never accepted unless the gate made it for these fields.
        if let Some((_, token)) = fields.iter().find(|(k, _)| k == "token") {
            if let Ok(sub) = form_token::check(&secret, token, &params, NOW_MS) {
                let reissued = form_token::issue(&secret, &params, &sub, NOW_MS);
                let same_mac = reissued.rsplit('.').next() == token.rsplit('.').next();
                let same_exp = reissued.split('.').nth(1) == token.split('.').nth(1);
                assert!(
                    same_mac || !same_exp,
                    "accepted a token the gate did not issue"
                );
            }
        }
        // What the gate issues, it accepts for the same fields and user, and for no other.
        let sub = String::from_utf8_lossy(userinfo);
        let issued = form_token::issue(&secret, &params, &sub, NOW_MS);
        assert_eq!(
            form_token::check(&secret, &issued, &params, NOW_MS).as_deref(),
            Ok(sub.as_ref())
        );
        let mut other = params.clone();
        other.state.push('x');
        if other.state.len() <= MAX_PARAM_CHARS {
            assert_eq!(
                form_token::check(&secret, &issued, &other, NOW_MS),
                Err(FormTokenError::BadSignature)
            );
        }
        assert_eq!(
            form_token::check(&secret, &issued, &params, NOW_MS + 301_000),
            Err(FormTokenError::Expired)
        );
    }

    let answer = Ok(Reply {
        status: 200,
        body: userinfo.to_vec(),
    });
    if let Identity::User(user) = from_userinfo(answer) {
        assert!(!user.sub().is_empty() && !user.email().is_empty());
        let parsed: serde_json::Value = serde_json::from_slice(userinfo).expect("a user is JSON");
        assert_eq!(parsed["sub"].as_str(), Some(user.sub()));
        assert_eq!(parsed["email"].as_str(), Some(user.email()));
    }
});
