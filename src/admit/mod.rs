//! Request admission (README "Request hygiene"): the gate and the upstream MCP server must
//! read the same request, so anything two HTTP or JSON readers could read differently is
//! refused before a rule is applied.
//!
//! Two pure steps around the adapter's body read:
//!
//! 1. [`head`] — the method, the media type and encoding, a declared body size, and whether a
//!    `GET`/`DELETE` announces a body: decided from the request line and headers alone, so
//!    that nothing is read for a request that is refused anyway.
//! 2. [`body`] — after the adapter has read the body (counted chunk by chunk and abandoned
//!    with `413` as soon as it passes `MAX_BODY_BYTES`, so that no more than the limit plus
//!    one chunk is ever held): no body on `GET`/`DELETE`; on `POST`, strict JSON-RPC
//!    ([`crate::rpc::inspect`]) and the `Mcp-Method`/`Mcp-Name` headers agreeing with it
//!    ([`mcp_headers`]).
//!
//! Paths are decided by [`crate::gate::route()`] (a path the gate does not serve is `404`
//! before any of this), and the identity and forwarding headers by
//! [`crate::gate::forward::header_edits`].

mod error;
pub mod mcp_headers;
pub mod media;

pub use error::{AdmitError, McpHeader};

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method};

use crate::rpc::{self, RpcBody, RpcError};
use crate::settings::Settings;

/// The methods of the MCP endpoint (streamable HTTP transport), `OPTIONS` answered by the
/// gate itself: the `Allow` header of a `405`.
pub const ALLOWED_METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// Admits the head of a request to the MCP endpoint (or a `FORWARD_PATHS` path).
///
/// `method` is the method as received (`None` when it is not a valid HTTP method token). On
/// success, the method the upstream receives. Checks, in order:
/// 1. the method is `POST`, `GET` or `DELETE` (else `405`);
/// 2. a `Content-Encoding` other than `identity` (`415`): the gate would inspect compressed
///    bytes the upstream decompresses;
/// 3. `GET`/`DELETE`: no body announced (`Content-Length` other than `0`, or any
///    `Transfer-Encoding`) (`400`);
/// 4. `POST`: `Content-Type: application/json`, no `charset` or `charset=utf-8` (`415`), and
///    a declared `Content-Length` within `MAX_BODY_BYTES` (`413`, refused unread).
pub fn head(
    method: Option<&Method>,
    headers: &HeaderMap,
    settings: &Settings,
) -> Result<Method, AdmitError> {
    let method = match method {
        Some(m) if *m == Method::POST || *m == Method::GET || *m == Method::DELETE => m.clone(),
        Some(_) | None => return Err(AdmitError::MethodNotAllowed),
    };
    media::check_encoding(headers)?;
    if method == Method::POST {
        media::check_content_type(headers)?;
        if declared_length(headers)?.is_some_and(|n| n > settings.max_body_bytes as u64) {
            return Err(AdmitError::BodyTooLarge);
        }
    } else {
        let announced = headers.contains_key(TRANSFER_ENCODING)
            || declared_length(headers)?.is_some_and(|n| n > 0);
        if announced {
            return Err(AdmitError::BodyNotAllowed);
        }
    }
    Ok(method)
}

/// `Content-Length` as a number; one that is not a single decimal number is a `400` (the
/// runtime would refuse it too, but the gate does not rely on that).
fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, AdmitError> {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value
            .to_str()
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .map(Some)
            .ok_or(AdmitError::BadContentLength),
        (Some(_), Some(_)) => Err(AdmitError::BadContentLength),
    }
}

/// Admits the body of a request whose [`head`] was admitted: `None` for `GET`/`DELETE` (whose
/// body must be empty), the inspected JSON-RPC body of a `POST`.
///
/// The outer error is an admission refusal; the inner one, a JSON-RPC body the gate cannot
/// read, which the pipeline reports only to a request with a valid token (like a rule
/// refusal), so that an anonymous client learns nothing about the body.
pub fn body(
    method: &Method,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Result<Option<RpcBody>, RpcError>, AdmitError> {
    if *method != Method::POST {
        if !bytes.is_empty() {
            return Err(AdmitError::BodyNotAllowed);
        }
        return Ok(Ok(None));
    }
    let body = match rpc::inspect(bytes) {
        Ok(body) => body,
        Err(e) => return Ok(Err(e)),
    };
    mcp_headers::check(headers, &body)?;
    Ok(Ok(Some(body)))
}
