//! Browser origins: `Origin` validation (MCP transport security) and CORS headers.
//!
//! A request that carries an `Origin` header comes from a browser page. Unless that origin is
//! the gate's own or listed in `ALLOWED_ORIGINS`, it is refused before the token is looked at
//! (DNS-rebinding and cross-site protection the MCP transport asks servers for). Responses to
//! allowed origins, challenges included, expose the headers an MCP client must read.

use http::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ALLOW, ORIGIN, VARY,
};
use http::{Response, StatusCode};

use super::header_edit::{self, HeaderEdit};

use crate::settings::Settings;

/// Headers a browser MCP client must be able to read.
pub const EXPOSE_HEADERS: &str = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version";
/// Request headers a browser MCP client may send.
pub const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID";
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
pub fn check(headers: &HeaderMap, own_origin: &str, settings: &Settings) -> BrowserOrigin {
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

/// Answers an `OPTIONS` preflight without a token. `public` paths (discovery) allow any origin.
pub fn preflight(origin: &BrowserOrigin, public: bool) -> Response<Vec<u8>> {
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
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    headers.append(VARY, HeaderValue::from_static("Origin"));
    response
}
