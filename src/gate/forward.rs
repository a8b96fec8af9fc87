//! Forward planning (README "Forwarding"): the origin URL and the headers the origin receives.
//!
//! The body is never touched here: the adapter forwards the original bytes.

use std::fmt::Write as _;

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONNECTION};

use super::header_edit::{self, HeaderEdit};
use crate::settings::Settings;
use crate::token::VerifiedToken;

/// Prefix of the identity headers; any incoming header with it is removed (anti-spoofing),
/// read case-insensitively with `_` as `-` (see [`normalized_name`]).
pub const IDENTITY_PREFIX: &str = "x-mcp-auth-";

/// Forwarding headers a client may not set (README "Forwarding"): the gate sets its own.
const CLIENT_FORWARDING: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// `X-Forwarded-For`, set from `CF-Connecting-IP`.
pub const FORWARDED_FOR_HEADER: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Host`, set from the request URL.
pub const FORWARDED_HOST_HEADER: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Forwarded-Proto`, set from the request URL.
pub const FORWARDED_PROTO_HEADER: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// What the gate knows of the client connection, for the forwarding headers it sets.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientFacts<'a> {
    /// `CF-Connecting-IP`, set by Cloudflare's edge (absent under `wrangler dev`).
    pub connecting_ip: Option<&'a str>,
    /// The request URL's host (with a non-default port).
    pub host: &'a str,
    /// The request URL's scheme (`https`, `http`).
    pub proto: &'a str,
}

/// A header name as origins may read it: lowercase, `_` as `-`. CGI, WSGI and several proxies
/// turn both `X-MCP-Auth-Subject` and `X_MCP_Auth_Subject` into `HTTP_X_MCP_AUTH_SUBJECT`.
pub fn normalized_name(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'_' => '-',
            other => char::from(other.to_ascii_lowercase()),
        })
        .collect()
}

// The identity headers of README "Forwarding", built at compile time: `HeaderName::from_static` called
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
pub fn upstream_url(settings: &Settings, path: &str, query: Option<&str>) -> String {
    let base = settings.upstream.as_str().trim_end_matches('/');
    match query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    }
}

/// A header value for an identity header: printable ASCII as is; anything else as a JSON
/// string with every non-ASCII character escaped (so it starts with `"`, and origins can
/// tell the two forms apart).
pub fn identity_value(text: &str) -> HeaderValue {
    // Leading or trailing spaces would be trimmed by the runtime or the upstream's HTTP
    // parser (another identity than the one verified): such a value takes the quoted form.
    let plain = text.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !text.starts_with(['"', ' '])
        && !text.ends_with(' ');
    if plain {
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
/// each once: hop-by-hop, `Authorization` unless `FORWARD_TOKEN`, and — read with `_` as
/// `-` — identity headers and client-sent forwarding headers), then a [`HeaderEdit::Set`] for
/// each header the gate sets (identity headers, forwarded claims, forwarding headers from
/// `client`, `ORIGIN_AUTHORIZATION`; each name once).
pub fn header_edits<'a>(
    names: impl IntoIterator<Item = &'a str>,
    connection: Option<&str>,
    token: &VerifiedToken,
    settings: &Settings,
    client: &ClientFacts<'_>,
) -> Vec<HeaderEdit> {
    let connection_listed: Vec<String> = connection
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut remove: Vec<String> = Vec::new();
    for name in names {
        let lower = name.to_ascii_lowercase();
        let normalized = normalized_name(name);
        let drop = HOP_BY_HOP.contains(&lower.as_str())
            || connection_listed.contains(&lower)
            || normalized.starts_with(IDENTITY_PREFIX)
            || CLIENT_FORWARDING.contains(&normalized.as_str())
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
    if let Some(ip) = client
        .connecting_ip
        .and_then(|ip| HeaderValue::from_str(ip).ok())
    {
        put(FORWARDED_FOR_HEADER, ip);
    }
    if let Ok(host) = HeaderValue::from_str(client.host) {
        put(FORWARDED_HOST_HEADER, host);
    }
    if let Ok(proto) = HeaderValue::from_str(client.proto) {
        put(FORWARDED_PROTO_HEADER, proto);
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
pub fn upstream_headers(
    incoming: &HeaderMap,
    token: &VerifiedToken,
    settings: &Settings,
    client: &ClientFacts<'_>,
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
        client,
    );
    let mut out = incoming.clone();
    header_edit::apply(&mut out, edits);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_with_underscores_as_dashes() {
        assert_eq!(
            normalized_name("X_MCP_Auth_Client_Id"),
            "x-mcp-auth-client-id"
        );
        assert_eq!(normalized_name("X-Forwarded_For"), "x-forwarded-for");
        assert_eq!(normalized_name("Content-Type"), "content-type");
    }

    #[test]
    fn identity_values_are_safe_header_values() {
        assert_eq!(identity_value("user-123"), "user-123");
        assert_eq!(identity_value("José"), "\"Jos\\u00e9\"");
        assert_eq!(
            identity_value("a\r\nX-Evil: 1"),
            "\"a\\u000d\\u000aX-Evil: 1\""
        );
        assert_eq!(identity_value("\"quoted\""), "\"\\\"quoted\\\"\"");
        // Spaces at either end would be trimmed: quoted.
        assert_eq!(identity_value(" "), "\" \"");
        assert_eq!(identity_value("admin "), "\"admin \"");
        assert_eq!(identity_value(" admin"), "\" admin\"");
        assert_eq!(identity_value("a b"), "a b");
        // A backslash in the escaped form is escaped too, so the JSON string reads back as sent.
        assert_eq!(identity_value("é\\u0041"), "\"\\u00e9\\\\u0041\"");
    }
}
