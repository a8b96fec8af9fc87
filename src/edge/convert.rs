//! Conversions between the runtime's `web_sys` types and the `http` types the core uses.
//!
//! Every call across the wasm/JavaScript boundary (and every string copied across it) costs
//! far more than the Rust work of a request, so these conversions cross it as few times as
//! they can.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasm_bindgen::JsValue;
use web_sys::{Headers, Response, ResponseInit};

use crate::gate::forward;
use crate::gate::header_edit::HeaderEdit;
use crate::settings::Settings;
use crate::token::VerifiedToken;

/// The headers the origin receives: the incoming ones copied inside the runtime, then the
/// core's [`forward::header_edits`] applied ([`apply_edits`]). Only the header names (one JSON string) and the
/// `Connection` value cross into wasm; the client's token never does again.
pub fn origin_headers(
    incoming: &Headers,
    token: &VerifiedToken,
    settings: &Settings,
) -> Result<Headers, JsValue> {
    let names: Vec<String> = js_sys::JSON::stringify(&js_sys::Array::from(&incoming.keys()))?
        .as_string()
        .and_then(|json| serde_json::from_str(&json).ok())
        .ok_or_else(|| JsValue::from_str("request header names"))?;
    let connection = incoming.get(http::header::CONNECTION.as_str())?;
    let edits = forward::header_edits(
        names.iter().map(String::as_str),
        connection.as_deref(),
        token,
        settings,
    );
    let out = Headers::new_with_headers(incoming)?;
    apply_edits(&out, &edits)?;
    Ok(out)
}

/// Applies the core's edits to runtime headers, in order (see [`HeaderEdit`]). The values are
/// `HeaderValue`s the core built from visible ASCII; one the runtime refused fails the whole
/// call, so that nothing is passed on with only some of its edits.
pub fn apply_edits(headers: &Headers, edits: &[HeaderEdit]) -> Result<(), JsValue> {
    fn text(value: &HeaderValue) -> Result<&str, JsValue> {
        value
            .to_str()
            .map_err(|_| JsValue::from_str("header value is not visible ASCII"))
    }
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => headers.delete(name)?,
            HeaderEdit::Set(name, value) => headers.set(name.as_str(), text(value)?)?,
            HeaderEdit::Append(name, value) => headers.append(name.as_str(), text(value)?)?,
        }
    }
    Ok(())
}

/// The request headers the gate reads before it forwards (`Authorization`, `Origin`,
/// `Content-Length`), as a map: reading three by name costs a fraction of converting them
/// all, and forwarding copies the rest inside the runtime ([`origin_headers`]).
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
        // The runtime joins repeated headers with `", "`.
        if let Some(value) = headers.get(name.as_str()).ok().flatten() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                map.append(name, value);
            }
        }
    }
    map
}

/// Converts an `http` header map into runtime headers.
///
/// The pairs cross the boundary as one JSON string handed to `new Headers(…)`: a constant
/// number of calls instead of one `append` (and two string copies) per header. Values that
/// are not visible ASCII are dropped (the core builds these maps from visible ASCII).
pub fn runtime_headers(map: &HeaderMap) -> Result<Headers, JsValue> {
    let pairs: Vec<(&str, &str)> = map
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let json = serde_json::to_string(&pairs).map_err(|e| JsValue::from_str(&e.to_string()))?;
    Headers::new_with_str_sequence_sequence(&js_sys::JSON::parse(&json)?)
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
