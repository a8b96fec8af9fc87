//! Header values: identity headers (`gate::forward::identity_value`), bearer extraction with
//! several `Authorization` values, and `Origin` validation and CORS (`gate::cors`).
//!
//! Input: lines (`\n`-separated, at most eight), each one header value; the whole input is
//! also one identity text.
#![no_main]

use std::sync::OnceLock;

use http::header::{HeaderMap, HeaderValue, ORIGIN};
use libfuzzer_sys::fuzz_target;
use mcp_gate::gate::cors::{self, BrowserOrigin, ALLOW_HEADERS};
use mcp_gate::gate::forward::identity_value;
use mcp_gate::settings::Settings;
use mcp_gate::token::extract;
use mcp_gate_fuzz::{settings, split};

const OWN: &str = "https://mcp.example.com";
const LISTED: [&str; 2] = ["https://app.example.com", "http://localhost:3000"];

/// Settings, and the origins they allow besides their own (`None`: any).
type Case = (Settings, Option<&'static [&'static str]>);

fn all_settings() -> &'static [Case; 3] {
    static SETTINGS: OnceLock<[Case; 3]> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        [
            (settings(&[]), Some(&[])),
            (settings(&[("ALLOWED_ORIGINS", "*")]), None),
            (
                settings(&[(
                    "ALLOWED_ORIGINS",
                    "https://app.example.com http://localhost:3000",
                )]),
                Some(&LISTED),
            ),
        ]
    })
}

/// RFC 9110 field-value of visible ASCII: VCHAR and SP only, no leading or trailing SP (the
/// runtime would trim it, and the origin would read another value).
fn assert_visible_field_value(value: &HeaderValue, text: &str) {
    let bytes = value.as_bytes();
    assert!(
        bytes.iter().all(|b| (0x20..=0x7e).contains(b)),
        "identity_value({text:?}) = {value:?} holds a byte outside visible ASCII"
    );
    assert!(
        bytes.first() != Some(&b' ') && bytes.last() != Some(&b' '),
        "identity_value({text:?}) = {value:?} starts or ends with a space"
    );
}

fn identity(text: &str) {
    let value = identity_value(text);
    assert_visible_field_value(&value, text);
    let shown = value.to_str().expect("visible ASCII");
    if shown.starts_with('"') {
        // The escaped form: a JSON string that decodes back to the text.
        let decoded: String = serde_json::from_str(shown).unwrap_or_else(|e| {
            panic!("identity_value({text:?}) = {shown:?} is not a JSON string: {e}")
        });
        assert_eq!(
            decoded, text,
            "identity_value({text:?}) = {shown:?} decodes to another text"
        );
    } else {
        assert_eq!(shown, text, "identity_value changed a plain text");
    }
}

fn origin(values: &[HeaderValue]) {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append(ORIGIN, value.clone());
    }
    for (settings, listed) in all_settings() {
        let result = cors::check(&headers, settings);
        match (&result, values) {
            (BrowserOrigin::Absent, []) => {}
            (_, []) => panic!("no Origin header must be Absent: {result:?}"),
            (BrowserOrigin::Forbidden, [_, _, ..]) => {}
            (_, [_, _, ..]) => panic!("several Origin headers must be Forbidden: {result:?}"),
            (BrowserOrigin::Allowed(echoed), [value]) => {
                assert_eq!(echoed, value);
                let text = value.to_str().expect("an allowed origin is text");
                let allowed = text == OWN || listed.is_none_or(|list| list.contains(&text));
                assert!(allowed, "{text:?} allowed with {listed:?}");
            }
            (BrowserOrigin::Forbidden, [value]) => {
                if let Ok(text) = value.to_str() {
                    assert!(
                        text != OWN && listed.is_some_and(|list| !list.contains(&text)),
                        "{text:?} forbidden with {listed:?}"
                    );
                }
            }
            (BrowserOrigin::Absent, [_, ..]) => panic!("an Origin header read as absent"),
        }
        let _ = cors::response_edits(&result);
        for public in [false, true] {
            let _ = cors::preflight(&result, public, values.first());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let lines = split(data, b"\n", 8);

    identity(&String::from_utf8_lossy(data));
    for line in &lines {
        identity(&String::from_utf8_lossy(line));
    }

    let texts: Vec<&str> = lines
        .iter()
        .filter_map(|line| std::str::from_utf8(line).ok())
        .collect();
    for n in 0..=texts.len().min(3) {
        let result = extract::bearer(texts[..n].iter().copied());
        if n >= 2 {
            assert_eq!(result, Err(extract::ExtractError::MultipleCredentials));
        }
        if let Ok(credential) = result {
            let token = credential.as_str();
            assert!(!token.is_empty() && token.len() <= extract::MAX_TOKEN_BYTES);
            assert!(!token.contains([',', ' ', '\t']));
        }
    }

    let values: Vec<HeaderValue> = lines
        .iter()
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect();
    origin(&[]);
    if let Some(first) = values.first() {
        origin(std::slice::from_ref(first));
    }
    origin(&values);

    if let Some(requested) = values.first() {
        let allow = cors::allow_headers(Some(requested));
        assert!(allow.to_str().is_ok_and(|a| a.starts_with(ALLOW_HEADERS)));
    }
});
