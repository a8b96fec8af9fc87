//! Forward planning (SPEC §6): the origin URL and the headers the origin receives.
//!
//! The body is never touched here: the adapter forwards the original bytes.

use std::fmt::Write as _;

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONNECTION};

use crate::settings::Settings;
use crate::token::VerifiedToken;

/// Prefix of the identity headers; any incoming header with it is removed (anti-spoofing).
pub const IDENTITY_PREFIX: &str = "x-mcp-auth-";

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus those the runtime sets itself.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// `ORIGIN` + request path + query. `ORIGIN` may carry a base path.
pub fn origin_url(settings: &Settings, path: &str, query: Option<&str>) -> String {
    let base = settings.origin.as_str().trim_end_matches('/');
    match query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    }
}

/// A header value for an identity header: printable ASCII as is; anything else as a JSON
/// string with every non-ASCII character escaped (so it starts with `"`, and origins can
/// tell the two forms apart).
pub fn identity_value(text: &str) -> HeaderValue {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) && !text.starts_with('"') {
        if let Ok(value) = HeaderValue::from_str(text) {
            return value;
        }
    }
    let mut escaped = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            ' '..='~' => escaped.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(escaped, "\\u{unit:04x}");
                }
            }
        }
    }
    escaped.push('"');
    HeaderValue::from_str(&escaped).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// The headers sent to the origin for an allowed request.
pub fn origin_headers(
    incoming: &HeaderMap,
    token: &VerifiedToken,
    settings: &Settings,
) -> HeaderMap {
    // Headers named in `Connection` are hop-by-hop too.
    let connection_listed: Vec<String> = incoming
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();

    let mut out = HeaderMap::new();
    for (name, value) in incoming {
        let lower = name.as_str();
        let drop = HOP_BY_HOP.contains(&lower)
            || connection_listed.iter().any(|listed| listed == lower)
            || lower.starts_with(IDENTITY_PREFIX)
            || (name == AUTHORIZATION && !settings.forward_token);
        if !drop {
            out.append(name.clone(), value.clone());
        }
    }

    let mut set = |name: &'static str, value: HeaderValue| {
        out.insert(HeaderName::from_static(name), value);
    };
    if let Some(sub) = token.subject() {
        set("x-mcp-auth-subject", identity_value(sub));
    }
    if let Some(client_id) = token.client_id() {
        set("x-mcp-auth-client-id", identity_value(client_id));
    }
    set("x-mcp-auth-issuer", identity_value(token.issuer()));
    set(
        "x-mcp-auth-scopes",
        identity_value(&token.scopes().join(" ")),
    );

    for claim in &settings.forward_claims {
        let Some(value) = token.claim(claim) else {
            continue;
        };
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let header = format!("{IDENTITY_PREFIX}claim-{}", claim.to_ascii_lowercase());
        if let Ok(name) = HeaderName::from_bytes(header.as_bytes()) {
            out.insert(name, identity_value(&text));
        }
    }
    if let Some(secret) = &settings.origin_authorization {
        if let Ok(value) = HeaderValue::from_str(secret.expose()) {
            out.insert(AUTHORIZATION, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_values_are_safe_header_values() {
        assert_eq!(identity_value("user-123"), "user-123");
        assert_eq!(identity_value("José"), "\"Jos\\u00e9\"");
        assert_eq!(
            identity_value("a\r\nX-Evil: 1"),
            "\"a\\u000d\\u000aX-Evil: 1\""
        );
        assert_eq!(identity_value("\"quoted\""), "\"\\\"quoted\\\"\"");
    }
}
