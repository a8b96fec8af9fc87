//! Browser origins: `Origin` validation (MCP transport security) and CORS headers.
//!
//! A request that carries an `Origin` header comes from a browser page. Unless that origin is
//! the gate's own (the origin of `RESOURCE`, never one derived from `Host`: under DNS
//! rebinding, `Host` and `Origin` agree with each other) or listed in `ALLOWED_ORIGINS`, it is
//! refused before the token is looked at (DNS-rebinding and cross-site protection the MCP
//! transport asks servers for). Responses to allowed origins, challenges included, expose the
//! headers an MCP client must read.

use http::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ALLOW, ORIGIN, VARY,
};
use http::{Response, StatusCode};

use super::header_edit::{self, HeaderEdit};

use crate::settings::Settings;

/// Headers a browser MCP client must be able to read.
pub const EXPOSE_HEADERS: &str = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version";
/// Request headers a browser MCP client may send (besides the `Mcp-Param-*` it asks for).
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name";
/// Prefix of the MCP request headers that carry tool parameters (revision 2026-07-28).
const PARAM_HEADER_PREFIX: &str = "mcp-param-";
/// Methods of the streamable HTTP transport.
pub const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// The outcome of `Origin` validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserOrigin {
    /// No `Origin` header: not a browser cross-origin call.
    Absent,
    /// An allowed origin, echoed in CORS headers.
    Allowed(HeaderValue),
    /// A browser origin that may not call the endpoint (403, checked before the token).
    Forbidden,
}

/// Validates the request's `Origin` against the gate's own origin and `ALLOWED_ORIGINS`.
pub fn check(headers: &HeaderMap, settings: &Settings) -> BrowserOrigin {
    let own_origin = settings.own_origin();
    let mut values = headers.get_all(ORIGIN).iter();
    match (values.next(), values.next()) {
        (None, _) => BrowserOrigin::Absent,
        (Some(value), None) => match value.to_str() {
            Ok(origin) if settings.allowed_origins.allows(origin, own_origin) => {
                BrowserOrigin::Allowed(value.clone())
            }
            _ => BrowserOrigin::Forbidden,
        },
        (Some(_), Some(_)) => BrowserOrigin::Forbidden,
    }
}

/// Adds the CORS response headers for an allowed origin.
pub fn decorate(headers: &mut HeaderMap, origin: &BrowserOrigin) {
    header_edit::apply(headers, response_edits(origin));
}

/// What [`decorate`] changes, as edits: the adapter applies them to the origin's response
/// headers inside the runtime, without copying every header into wasm and back.
pub fn response_edits(origin: &BrowserOrigin) -> Vec<HeaderEdit> {
    match origin {
        BrowserOrigin::Allowed(value) => vec![
            HeaderEdit::Set(ACCESS_CONTROL_ALLOW_ORIGIN, value.clone()),
            HeaderEdit::Set(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            ),
            HeaderEdit::Append(VARY, HeaderValue::from_static("Origin")),
        ],
        BrowserOrigin::Absent | BrowserOrigin::Forbidden => Vec::new(),
    }
}

/// The `Access-Control-Allow-Headers` value: the fixed list, plus each `Mcp-Param-*` name the
/// preflight asks for in `Access-Control-Request-Headers` (names of token characters only).
pub fn allow_headers(requested: Option<&HeaderValue>) -> HeaderValue {
    let mut value = String::from(ALLOW_HEADERS);
    let requested = requested.and_then(|v| v.to_str().ok()).unwrap_or_default();
    for name in requested.split(',').map(str::trim) {
        let is_param = name.len() > PARAM_HEADER_PREFIX.len()
            && name.as_bytes()[..PARAM_HEADER_PREFIX.len()]
                .eq_ignore_ascii_case(PARAM_HEADER_PREFIX.as_bytes());
        let token = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if is_param && token {
            value.push_str(", ");
            value.push_str(name);
        }
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(ALLOW_HEADERS))
}

/// Answers an `OPTIONS` preflight without a token. `public` paths (discovery) allow any origin.
/// `requested` is the preflight's `Access-Control-Request-Headers`.
pub fn preflight(
    origin: &BrowserOrigin,
    public: bool,
    requested: Option<&HeaderValue>,
) -> Response<Vec<u8>> {
    let allow_origin = match (origin, public) {
        (_, true) => HeaderValue::from_static("*"),
        (BrowserOrigin::Allowed(value), false) => value.clone(),
        (BrowserOrigin::Absent, false) => {
            // Not a CORS preflight: just say which methods exist.
            let mut response = Response::new(Vec::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(ALLOW_METHODS));
            return response;
        }
        (BrowserOrigin::Forbidden, false) => {
            let mut response = Response::new(Vec::new());
            *response.status_mut() = StatusCode::FORBIDDEN;
            return response;
        }
    };
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert("access-control-allow-headers", allow_headers(requested));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    headers.append(VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_allows_the_requested_mcp_param_headers_only() {
        let requested = HeaderValue::from_static(
            "mcp-method, Mcp-Param-Region,x-evil, mcp-param-, mcp-param-a b",
        );
        let value = allow_headers(Some(&requested));
        let value = value.to_str().unwrap();
        assert!(value.starts_with(ALLOW_HEADERS));
        assert!(value.contains("Mcp-Method") && value.contains("Mcp-Name"));
        assert!(value.ends_with(", Mcp-Param-Region"), "{value}");
        assert!(!value.contains("x-evil"));
        assert_eq!(allow_headers(None), ALLOW_HEADERS);
    }
}
