//! Calling the origin MCP server and relaying its response unbuffered.

use std::time::Duration;

use futures_util::future::{select, Either};
use http::{HeaderMap, Method};
use worker::{
    AbortController, Delay, Fetch, Headers, Request, RequestInit, RequestRedirect, Response,
};

/// How the origin call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginFailure {
    /// Connection refused, DNS failure, TLS failure...: 502.
    Unreachable,
    /// No response headers within `ORIGIN_TIMEOUT_SECONDS`: 504.
    Timeout,
}

/// Converts an `http` header map into Workers headers (values that the runtime refuses are
/// dropped; the maps come from validated `HeaderValue`s, so none should be).
pub fn to_worker_headers(map: &HeaderMap) -> Headers {
    let headers = Headers::new();
    for (name, value) in map {
        if let Ok(value) = value.to_str() {
            let _ = headers.append(name.as_str(), value);
        }
    }
    headers
}

fn worker_method(method: &Method) -> worker::Method {
    worker::Method::from(method.as_str().to_owned())
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
    let mut init = RequestInit::new();
    init.with_method(worker_method(method))
        .with_headers(to_worker_headers(headers))
        .with_redirect(RequestRedirect::Manual);
    if !body.is_empty() && method != Method::GET && method != Method::HEAD {
        init.with_body(Some(js_sys::Uint8Array::from(body).into()));
    }
    let request = Request::new_with_init(url, &init).map_err(|_| OriginFailure::Unreachable)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sending = fetch.send_with_signal(&signal);
    let timer = Delay::from(Duration::from_secs(timeout_seconds.into()));
    futures_util::pin_mut!(sending, timer);
    match select(sending, timer).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(_), _)) => Err(OriginFailure::Unreachable),
        Either::Right(_) => {
            controller.abort();
            Err(OriginFailure::Timeout)
        }
    }
}
