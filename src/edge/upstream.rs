//! Calling the upstream MCP server (`ORIGIN`) and relaying its response unbuffered.
//!
//! This uses `fetch` from `web_sys` directly so that the origin's `Response` object can be
//! handed back to the runtime as it is: its body stream then flows to the client without
//! passing through the Worker at all.

use std::time::Duration;

use http::Method;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, RequestRedirect, Response, ResponseInit};

use super::convert::edited_copy;
use super::glue;
use crate::gate::header_edit::HeaderEdit;

/// How the upstream call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Connection refused, DNS failure, TLS failure...: 502.
    Unreachable,
    /// No response headers within `ORIGIN_TIMEOUT_SECONDS`: 504.
    Timeout,
}

/// Why a fetch with a deadline produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The runtime's fetch failed (connection refused, DNS, TLS, ...); its message.
    Failed(String),
    /// No response headers before the deadline; the request was aborted.
    TimedOut,
}

/// `fetch` with a deadline for the response headers only: the body (an SSE stream, say) is
/// never cut by it. Shared by the origin calls and the key and metadata refreshes. The race
/// runs in `glue.js`: one awaited promise instead of a fetch and a timer polled from Rust.
pub async fn fetch_with_deadline(
    url: &str,
    init: &RequestInit,
    deadline: Duration,
) -> Result<Response, FetchError> {
    let ms = deadline.as_millis() as f64;
    match JsFuture::from(glue::fetch_with_deadline(url, init, ms)).await {
        Ok(value) => settled_fetch(value),
        Err(e) => Err(fetch_failed(e)),
    }
}

/// What a `fetchWithDeadline` promise that did not reject settled with: `undefined` when no
/// headers arrived before the deadline, else the `Response` (anything else: a failed fetch).
fn settled_fetch(value: JsValue) -> Result<Response, FetchError> {
    if value.is_undefined() {
        return Err(FetchError::TimedOut);
    }
    value.dyn_into().map_err(fetch_failed)
}

/// A failed fetch, with the runtime's message.
fn fetch_failed(e: JsValue) -> FetchError {
    FetchError::Failed(
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| "fetch failed".into()),
    )
}

/// The `RequestInit` of a call to the origin: `method`, the edited `headers`, redirects
/// handed back to the client (`manual`), and the body — only a POST carries one: admission
/// refused a GET or DELETE with one.
pub fn origin_init(
    method: &Method,
    headers: &Headers,
    body: Option<&js_sys::Uint8Array>,
) -> RequestInit {
    let init = RequestInit::new();
    init.set_method(method.as_str());
    init.set_headers(headers);
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = body.filter(|b| b.byte_length() > 0) {
        if method == Method::POST {
            init.set_body(body);
        }
    }
    init
}

/// What became of a call to the origin, from the value its `fetchWithDeadline` promise settled
/// with (the entry module turns a rejection into `null`: a failed fetch).
pub fn origin_outcome(settled: JsValue) -> Result<Response, UpstreamFailure> {
    settled_fetch(settled).map_err(|e| match e {
        FetchError::Failed(_) => UpstreamFailure::Unreachable,
        FetchError::TimedOut => UpstreamFailure::Timeout,
    })
}

/// Why a response body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Larger than the limit (declared in `Content-Length` or counted).
    TooLarge,
    /// The stream failed; its message.
    Failed(String),
}

/// Reads a (small) response body whole, refusing one over `limit` bytes as declared or as
/// counted. For key sets, metadata and the login bridge's calls; never for relayed answers.
pub async fn read_limited(response: &Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let failed = |e: JsValue| ReadError::Failed(format!("{e:?}"));
    let buffer = JsFuture::from(response.array_buffer().map_err(failed)?)
        .await
        .map_err(failed)?;
    let body = js_sys::Uint8Array::new(&buffer).to_vec();
    if body.len() > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(body)
}

/// The origin's response with its headers edited (CORS), its body stream passed on
/// untouched. The headers are copied inside the runtime; only the edits cross from wasm.
pub fn with_edits(response: &Response, edits: &[HeaderEdit]) -> Option<Response> {
    let headers = edited_copy(&response.headers(), edits).ok()?;
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    init.set_headers(&headers);
    Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init).ok()
}
