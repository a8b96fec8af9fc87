//! Conversions between the runtime's `web_sys` types and the `http` types the core uses.
//!
//! Every call across the wasm/JavaScript boundary (and every string copied across it) costs
//! far more than the Rust work of a request, so these conversions cross it as few times as
//! they can.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasm_bindgen::JsValue;
use web_sys::{Headers, Response, ResponseInit};

use super::glue;
use crate::admit::mcp_headers;
use crate::gate::forward;
use crate::gate::header_edit::HeaderEdit;
use crate::settings::Settings;
use crate::token::VerifiedToken;

/// The headers the origin receives: the incoming ones copied inside the runtime with the
/// core's [`forward::header_edits`] applied. Two calls cross the boundary: the header names
/// come in as one JSON string, the edits go out as one; the client's token never crosses
/// again.
pub fn upstream_headers(
    incoming: &Headers,
    token: &VerifiedToken,
    settings: &Settings,
    client: &forward::ClientFacts<'_>,
) -> Result<Headers, JsValue> {
    let names: Vec<String> = serde_json::from_str(&glue::header_names(incoming))
        .map_err(|_| JsValue::from_str("request header names"))?;
    // workerd removes `Connection` before the Worker runs; the runtime's copy would hold its
    // listed names otherwise, so the core is still told of it.
    let connection = incoming.get(http::header::CONNECTION.as_str())?;
    let edits = forward::header_edits(
        names.iter().map(String::as_str),
        connection.as_deref(),
        token,
        settings,
        client,
    );
    edited_copy(incoming, &edits)
}

/// A copy of runtime headers with the core's edits applied in order (see [`HeaderEdit`]),
/// made inside the runtime from one JSON list. The values are `HeaderValue`s the core built
/// from visible ASCII; one that is not, or one the runtime refuses, fails the whole call, so
/// that nothing is passed on with only some of its edits.
pub fn edited_copy(source: &Headers, edits: &[HeaderEdit]) -> Result<Headers, JsValue> {
    let not_ascii = || JsValue::from_str("header value is not visible ASCII");
    let mut list: Vec<[&str; 3]> = Vec::with_capacity(edits.len());
    for edit in edits {
        list.push(match edit {
            HeaderEdit::Remove(name) => ["remove", name.as_str(), ""],
            HeaderEdit::Set(name, value) => [
                "set",
                name.as_str(),
                value.to_str().map_err(|_| not_ascii())?,
            ],
            HeaderEdit::Append(name, value) => [
                "append",
                name.as_str(),
                value.to_str().map_err(|_| not_ascii())?,
            ],
        });
    }
    copy_with(source, &list)
}

/// `source` copied inside the runtime with `list` (`[op, name, value]` triples, see
/// `editedHeaders` in `glue.js`) applied: the list crosses the boundary as one JSON string.
fn copy_with(source: &Headers, list: &[[&str; 3]]) -> Result<Headers, JsValue> {
    let json = serde_json::to_string(list).map_err(|e| JsValue::from_str(&e.to_string()))?;
    glue::edited_headers(source, &json)
}

/// The request headers the core reads, in one call across the boundary (the rest are copied
/// inside the runtime when forwarding, see [`upstream_headers`]).
///
/// Keep in step with the core: `cors` reads `Origin` (and a preflight's
/// `Access-Control-Request-Headers`), `admit` reads the body's framing and media type and
/// `Mcp-Method`/`Mcp-Name`, `pipeline::precheck` reads `Authorization`, forwarding reads
/// `CF-Connecting-IP`; nothing before forwarding reads more.
pub fn gate_headers(headers: &Headers) -> HeaderMap {
    const READ: [HeaderName; 10] = [
        http::header::AUTHORIZATION,
        http::header::ORIGIN,
        http::header::CONTENT_LENGTH,
        http::header::CONTENT_TYPE,
        http::header::CONTENT_ENCODING,
        http::header::TRANSFER_ENCODING,
        http::header::ACCESS_CONTROL_REQUEST_HEADERS,
        HeaderName::from_static(mcp_headers::MCP_METHOD),
        HeaderName::from_static(mcp_headers::MCP_NAME),
        CF_CONNECTING_IP_HEADER,
    ];
    const NAMES: &str = "authorization,origin,content-length,content-type,content-encoding,transfer-encoding,access-control-request-headers,mcp-method,mcp-name,cf-connecting-ip";
    picked(headers, &READ, NAMES)
}

/// The request headers the login bridge reads (README "Login bridge"): the browser's
/// `Origin` and `Sec-Fetch-Site`, the form's `Content-Type`, and the identity sources'
/// `Cookie` and `Cf-Access-Jwt-Assertion`.
pub fn bridge_headers(headers: &Headers) -> HeaderMap {
    const READ: [HeaderName; 5] = [
        http::header::ORIGIN,
        HeaderName::from_static("sec-fetch-site"),
        http::header::CONTENT_TYPE,
        http::header::COOKIE,
        HeaderName::from_static(crate::bridge::ACCESS_JWT_HEADER),
    ];
    const NAMES: &str = "origin,sec-fetch-site,content-type,cookie,cf-access-jwt-assertion";
    picked(headers, &READ, NAMES)
}

/// The values of `names` (the same names as `read`, comma-separated) in one call.
fn picked(headers: &Headers, read: &[HeaderName], names: &str) -> HeaderMap {
    let values: Vec<Option<String>> =
        serde_json::from_str(&glue::pick_headers(headers, names)).unwrap_or_default();
    let mut map = HeaderMap::new();
    for (name, value) in read.iter().zip(values) {
        // A value the `http` crate refuses (not visible ASCII) is kept as bytes: the core
        // then refuses what it cannot read instead of not seeing it.
        if let Some(value) = value {
            let value = HeaderValue::from_str(&value)
                .or_else(|_| HeaderValue::from_bytes(value.as_bytes()))
                .or_else(|_| HeaderValue::from_bytes(b"\xff"))
                .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
            map.append(name.clone(), value);
        }
    }
    map
}

/// `CF-Connecting-IP`: the client address Cloudflare's edge sets.
pub const CF_CONNECTING_IP: &str = "cf-connecting-ip";
/// [`CF_CONNECTING_IP`] as a `HeaderName` built at compile time (no name parsing per lookup).
pub const CF_CONNECTING_IP_HEADER: HeaderName = HeaderName::from_static(CF_CONNECTING_IP);

/// Converts an `http` header map into runtime headers: each pair appended to empty headers
/// through the same one-call path as [`edited_copy`], instead of one `append` (and two string
/// copies) per header. Values that are not visible ASCII are dropped (the core builds these
/// maps from visible ASCII).
pub fn runtime_headers(map: &HeaderMap) -> Result<Headers, JsValue> {
    let list: Vec<[&str; 3]> = map
        .iter()
        .filter_map(|(name, value)| Some(["append", name.as_str(), value.to_str().ok()?]))
        .collect();
    copy_with(&Headers::new()?, &list)
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
