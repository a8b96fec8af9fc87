//! Bearer extraction (`token::extract::bearer`) and JWS structure parsing
//! (`token::verify::parse`) never panic, and what they accept holds its promises.
//!
//! Input: if it starts with `{`, three `\n`-separated parts — JOSE header JSON, claims JSON,
//! signature text — become a compact token (the JSON parts base64url-encoded) behind
//! `Bearer `, so the fuzzer reaches the JSON checks without learning base64. Otherwise the
//! `\n`-separated lines are the `Authorization` header values of one request, and the whole
//! input is also tried as the token after `Bearer `.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_gate::settings::Settings;
use mcp_gate::token::extract::{self, Credential, ExtractError, MAX_TOKEN_BYTES};
use mcp_gate::token::verify;
use mcp_gate_fuzz::{base64url, settings, split};

fn all_settings() -> &'static [Settings; 2] {
    static SETTINGS: OnceLock<[Settings; 2]> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        [
            settings(&[]),
            settings(&[
                ("REQUIRE_TYP_AT_JWT", "true"),
                (
                    "ALLOWED_ALGORITHMS",
                    "RS256 RS384 RS512 PS256 PS384 PS512 ES256 EdDSA",
                ),
            ]),
        ]
    })
}

fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fn extract(values: &[&str]) {
    let result = extract::bearer(values.iter().copied());
    match (&result, values.len()) {
        (Err(ExtractError::Missing), 0) => {}
        (_, 0) => panic!("no header must be Missing: {result:?}"),
        (Err(ExtractError::MultipleCredentials), 2..) => {}
        (_, 2..) => panic!("several headers must be MultipleCredentials: {result:?}"),
        _ => {}
    }
    if let Err(error) = &result {
        let _ = error.reason();
        return;
    }
    let credential = result.unwrap();
    let token = credential.as_str();
    assert!(token.len() <= MAX_TOKEN_BYTES);
    assert!(
        is_token68(token),
        "accepted a token that is not token68: {token:?}"
    );
    let value = values[0].trim_matches([' ', '\t']);
    assert!(
        value.len() > 6 && value[..6].eq_ignore_ascii_case("bearer"),
        "accepted another scheme: {value:?}"
    );
    assert!(value.ends_with(token));
    assert_eq!(format!("{credential:?}"), "Credential(<redacted>)");
    parse(&credential);
}

fn parse(credential: &Credential<'_>) {
    for settings in all_settings() {
        match verify::parse(credential, &settings.token) {
            Ok(jwt) => {
                assert!(settings.token.allowed_algorithms.contains(&jwt.algorithm()));
                assert_eq!(credential.as_str().split('.').count(), 3);
                let _ = (jwt.kid(), format!("{jwt:?}"));
            }
            Err(error) => {
                let _ = (error.reason(), error.description(), error.to_string());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        let parts = split(data, b"\n", 3);
        let header = base64url(parts[0]);
        let claims = base64url(parts.get(1).copied().unwrap_or_default());
        let signature = String::from_utf8_lossy(parts.get(2).copied().unwrap_or_default());
        let value = format!("Bearer {header}.{claims}.{signature}");
        extract(&[value.as_str()]);
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let values: Vec<&str> = text.split('\n').take(4).collect();
    extract(&values);
    extract(&[]);
    let whole = format!("Bearer {text}");
    extract(&[whole.as_str()]);
});
