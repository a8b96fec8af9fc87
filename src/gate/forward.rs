//! Forward planning (SPEC §6): the origin URL and the headers the origin receives.
//!
//! The body is never touched here: the adapter forwards the original bytes.

use std::fmt::Write as _;

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONNECTION};

use super::header_edit::{self, HeaderEdit};
use crate::settings::Settings;
use crate::token::VerifiedToken;

/// Prefix of the identity headers; any incoming header with it is removed (anti-spoofing).
pub const IDENTITY_PREFIX: &str = "x-mcp-auth-";

// The identity headers of SPEC §6, built at compile time: `HeaderName::from_static` called
// at run time looks the name up in `http`'s table of standard headers on every call.
/// `sub`.
pub const SUBJECT_HEADER: HeaderName = HeaderName::from_static("x-mcp-auth-subject");
/// `client_id`, else `azp`.
pub const CLIENT_ID_HEADER: HeaderName = HeaderName::from_static("x-mcp-auth-client-id");
/// `iss`.
pub const ISSUER_HEADER: HeaderName = HeaderName::from_static("x-mcp-auth-issuer");
/// The granted scopes, space-separated.
pub const SCOPES_HEADER: HeaderName = HeaderName::from_static("x-mcp-auth-scopes");

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

/// How the incoming request headers become the origin's, from the incoming header `names` and
/// the value of its `Connection` header (whose listed names are hop-by-hop too): first a
/// [`HeaderEdit::Remove`] for each incoming header the origin must not receive (lowercase,
/// each once), then a [`HeaderEdit::Set`] for each header the gate sets (identity headers,
/// forwarded claims, `ORIGIN_AUTHORIZATION`; each name once).
pub fn header_edits<'a>(
    names: impl IntoIterator<Item = &'a str>,
    connection: Option<&str>,
    token: &VerifiedToken,
    settings: &Settings,
) -> Vec<HeaderEdit> {
    let connection_listed: Vec<String> = connection
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut remove: Vec<String> = Vec::new();
    for name in names {
        let lower = name.to_ascii_lowercase();
        let drop = HOP_BY_HOP.contains(&lower.as_str())
            || connection_listed.contains(&lower)
            || lower.starts_with(IDENTITY_PREFIX)
            || (lower == AUTHORIZATION.as_str() && !settings.forward_token);
        if drop && !remove.contains(&lower) {
            remove.push(lower);
        }
    }

    let mut set: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let mut put = |name: HeaderName, value: HeaderValue| {
        set.retain(|(existing, _)| *existing != name);
        set.push((name, value));
    };
    if let Some(sub) = token.subject() {
        put(SUBJECT_HEADER, identity_value(sub));
    }
    if let Some(client_id) = token.client_id() {
        put(CLIENT_ID_HEADER, identity_value(client_id));
    }
    put(ISSUER_HEADER, identity_value(token.issuer()));
    put(SCOPES_HEADER, identity_value(&token.scopes().join(" ")));
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
            put(name, identity_value(&text));
        }
    }
    if let Some(secret) = &settings.origin_authorization {
        if let Ok(value) = HeaderValue::from_str(secret.expose()) {
            put(AUTHORIZATION, value);
        }
    }
    remove
        .into_iter()
        .map(HeaderEdit::Remove)
        .chain(
            set.into_iter()
                .map(|(name, value)| HeaderEdit::Set(name, value)),
        )
        .collect()
}

/// The headers sent to the origin for an allowed request: [`header_edits`] applied to
/// `incoming`, as an `http` map. The Worker applies the same edits to the runtime's own copy
/// of the request headers instead (`edge::convert::origin_headers`); this form serves native
/// tests and tools.
pub fn origin_headers(
    incoming: &HeaderMap,
    token: &VerifiedToken,
    settings: &Settings,
) -> HeaderMap {
    let connection: Vec<&str> = incoming
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let connection = connection.join(",");
    let edits = header_edits(
        incoming.keys().map(HeaderName::as_str),
        Some(&connection),
        token,
        settings,
    );
    let mut out = incoming.clone();
    header_edit::apply(&mut out, edits);
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
