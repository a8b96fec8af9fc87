//! Calling the origin MCP server and relaying its response unbuffered.
//!
//! This uses `fetch` from `web_sys` directly so that the origin's `Response` object can be
//! handed back to the runtime as it is: its body stream then flows to the client without
//! passing through the Worker at all.

use std::time::Duration;

use futures_util::future::{select, Either};
use http::{HeaderMap, Method};
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, RequestInit, RequestRedirect, Response, ResponseInit, WorkerGlobalScope,
};
use worker::Delay;

use super::convert::runtime_headers;

/// How the origin call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginFailure {
    /// Connection refused, DNS failure, TLS failure...: 502.
    Unreachable,
    /// No response headers within `ORIGIN_TIMEOUT_SECONDS`: 504.
    Timeout,
}

/// Sends the request; the timeout covers only the wait for response headers, so a long SSE
/// stream is never cut by it.
pub async fn send(
    url: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    timeout_seconds: u32,
) -> Result<Response, OriginFailure> {
    let controller = AbortController::new().map_err(|_| OriginFailure::Unreachable)?;
    let init = RequestInit::new();
    init.set_method(method.as_str());
    let headers = runtime_headers(headers).map_err(|_| OriginFailure::Unreachable)?;
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    init.set_signal(Some(&controller.signal()));
    if !body.is_empty() && method != Method::GET && method != Method::HEAD {
        init.set_body(&Uint8Array::from(body));
    }
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let sending = JsFuture::from(scope.fetch_with_str_and_init(url, &init));
    let timer = Delay::from(Duration::from_secs(timeout_seconds.into()));
    futures_util::pin_mut!(timer);
    match select(sending, timer).await {
        Either::Left((Ok(value), _)) => value.dyn_into().map_err(|_| OriginFailure::Unreachable),
        Either::Left((Err(_), _)) => Err(OriginFailure::Unreachable),
        Either::Right(_) => {
            controller.abort();
            Err(OriginFailure::Timeout)
        }
    }
}

/// The origin's response with other headers, its body stream passed on untouched.
pub fn with_headers(response: &Response, headers: &HeaderMap) -> Option<Response> {
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    let headers = runtime_headers(headers).ok()?;
    init.set_headers(&headers);
    Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init).ok()
}
