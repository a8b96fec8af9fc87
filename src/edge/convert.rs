//! Conversions between `worker` types and the `http` types the core uses.

use http::{HeaderMap, HeaderName, HeaderValue};
use worker::{Headers, Response, Result};

use super::origin::to_worker_headers;

/// Workers headers (repeated headers already joined with `", "` by the runtime) as a map.
/// Header names or values the `http` crate refuses are dropped.
pub fn http_headers(headers: &Headers) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers.entries() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// A response built by the core, as the runtime's response.
pub fn from_http(response: http::Response<Vec<u8>>) -> Result<web_sys::Response> {
    let (parts, body) = response.into_parts();
    Ok(Response::from_bytes(body)?
        .with_status(parts.status.as_u16())
        .with_headers(to_worker_headers(&parts.headers))
        .into())
}
