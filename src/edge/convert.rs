//! Conversions between the runtime's `web_sys` types and the `http` types the core uses.
//!
//! Every call across the wasm/JavaScript boundary (and every string copied across it) costs
//! far more than the Rust work of a request, so these conversions cross it as few times as
//! they can.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasm_bindgen::JsValue;
use web_sys::{Headers, Response, ResponseInit};

/// Runtime headers (repeated headers already joined with `", "` by the runtime) as a map.
/// Header names or values the `http` crate refuses are dropped.
///
/// The pairs cross the boundary as one JSON string (`JSON.stringify(Array.from(headers))`):
/// three calls in all, instead of several calls and two string copies per header.
pub fn http_headers(headers: &Headers) -> HeaderMap {
    let pairs: Vec<(String, String)> = js_sys::JSON::stringify(&js_sys::Array::from(headers))
        .ok()
        .and_then(|json| json.as_string())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    let mut map = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// The request headers the gate reads before it forwards (`Authorization`, `Origin`,
/// `Content-Length`), as a map: reading three by name costs a fraction of converting them
/// all, which only an allowed request (forwarded with its headers) needs.
///
/// Keep in step with the core: `cors::check` reads `Origin`, `pipeline::precheck` reads
/// `Authorization`, the adapter reads `Content-Length`; nothing before forwarding reads more.
pub fn gate_headers(headers: &Headers) -> HeaderMap {
    const READ: [HeaderName; 3] = [
        http::header::AUTHORIZATION,
        http::header::ORIGIN,
        http::header::CONTENT_LENGTH,
    ];
    let mut map = HeaderMap::new();
    for name in READ {
        // The runtime joins repeated headers with `", "`, as in `http_headers`.
        if let Some(value) = headers.get(name.as_str()).ok().flatten() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                map.append(name, value);
            }
        }
    }
    map
}

/// Converts an `http` header map into runtime headers (values that the runtime refuses are
/// dropped; the maps come from validated `HeaderValue`s, so none should be).
pub fn runtime_headers(map: &HeaderMap) -> Result<Headers, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in map {
        if let Ok(value) = value.to_str() {
            let _ = headers.append(name.as_str(), value);
        }
    }
    Ok(headers)
}

/// A response built by the core, as the runtime's response.
pub fn from_http(response: http::Response<Vec<u8>>) -> worker::Result<Response> {
    let (parts, body) = response.into_parts();
    let init = ResponseInit::new();
    init.set_status(parts.status.as_u16());
    let headers = runtime_headers(&parts.headers)?;
    init.set_headers(&headers);
    // Always a (possibly empty) body, never `null`, as `worker::Response::from_bytes` did; a
    // copy owned by JavaScript, not a view of the wasm memory.
    let body = js_sys::Uint8Array::from(body.as_slice());
    Ok(Response::new_with_opt_buffer_source_and_init(
        Some(&body),
        &init,
    )?)
}
