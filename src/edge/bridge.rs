//! The login bridge in the Worker (README "Login bridge"): reads the request, performs the I/O
//! the core's [`crate::bridge`] flow asks for (userinfo and Scalekit calls with deadlines, the
//! Access key set) and writes the log line. The decisions are the core's.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use url::Url;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, RequestRedirect};
use worker::console_error;

use super::convert::{bridge_headers, from_http};
use super::issuer::{http_get, settle_unknown_kid};
use super::state::now_ms;
use super::upstream::{fetch_with_deadline, read_limited, FetchError, ReadError};
use super::webcrypto::WebCryptoVerifier;
use super::{glue, request_line};
use crate::bridge::identity::MAX_USERINFO_BYTES;
use crate::bridge::scalekit::MAX_SCALEKIT_REPLY_BYTES;
use crate::bridge::{
    self, BridgeIo, BridgeRequest, CallFailure, ClientTokenCache, FormBody, Handled, Reply,
    CALL_DEADLINE_MS, MAX_FORM_BYTES,
};
use crate::refresh::jwks::{fetch_key_set, MAX_JWKS_BYTES};
use crate::refresh::policy::{KeyCache, RefreshOutcome, RefreshThrottle, RefreshTicket};
use crate::settings::bridge::{AccessSettings, Bridge};
use crate::settings::Secret;
use crate::token::KeySet;

/// The Access team's keys, in isolate memory: fetched on first use and on an unknown `kid`
/// (the same throttle as `jwks`: at most once per 30 s, single flight).
#[derive(Default)]
struct AccessKeys {
    cache: KeyCache,
    throttle: RefreshThrottle,
}

thread_local! {
    static ACCESS_KEYS: RefCell<AccessKeys> = RefCell::new(AccessKeys::default());
    /// Scalekit's client-credentials token of this isolate.
    static CLIENT_TOKEN: Rc<RefCell<ClientTokenCache>> = Rc::new(RefCell::new(ClientTokenCache::default()));
}

/// Serves one request to `LOGIN_PATH`.
pub async fn serve(
    req: web_sys::Request,
    bridge: &Bridge,
    method: Option<&Method>,
    raw_method: &str,
    url: &request_line::RequestUrl,
    started: u64,
) -> worker::Result<web_sys::Response> {
    let headers = bridge_headers(&req.headers());
    let is_post = method == Some(&Method::POST);
    let body = if is_post {
        read_form(&req).await
    } else {
        Ok(None)
    };
    let form = match &body {
        Ok(Some(bytes)) => FormBody::Bytes(bytes),
        Ok(None) if is_post => FormBody::TooLarge,
        Ok(None) => FormBody::NotRead,
        Err(()) => FormBody::Unreadable,
    };
    let request = BridgeRequest {
        method,
        query: url.query.as_deref(),
        headers: &headers,
        body: form,
    };
    let handled = match bridge {
        Bridge::On(settings) => {
            let tokens = CLIENT_TOKEN.with(Rc::clone);
            bridge::handle(&request, settings, &EdgeIo, &tokens, now_ms()).await
        }
        Bridge::Misconfigured { error, .. } => bridge::misconfigured(&request, error),
        // Routing sends nothing here when the bridge is off.
        Bridge::Off => {
            return from_http(crate::gate::respond::json_response(
                http::StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                None,
            ))
        }
    };
    let response = handled.response();
    log(
        &handled,
        response.status().as_u16(),
        raw_method,
        &url.path,
        started,
    );
    from_http(response)
}

/// The form's bytes; `Ok(None)` when over [`MAX_FORM_BYTES`].
async fn read_form(req: &web_sys::Request) -> Result<Option<Vec<u8>>, ()> {
    match JsFuture::from(glue::read_body(req, MAX_FORM_BYTES as f64)).await {
        Ok(value) if value.is_undefined() => Ok(None),
        Ok(value) => Ok(Some(js_sys::Uint8Array::new(&value).to_vec())),
        Err(_) => Err(()),
    }
}

/// One line per bridge request (README "Logs"): never a cookie, token, secret or the state.
fn log(handled: &Handled, status: u16, raw_method: &str, path: &str, started: u64) {
    let line = serde_json::json!({
        "bridge_step": handled.log.step.name(),
        "outcome": handled.log.outcome,
        "reason": handled.log.reason,
        "status": status,
        "sub": handled.log.sub,
        "http_method": raw_method,
        "path": path,
        "duration_ms": now_ms().saturating_sub(started),
    });
    web_sys::console::log_1(&JsValue::from_str(&line.to_string()));
}

/// The bridge's I/O through the runtime.
struct EdgeIo;

fn call_failure(error: FetchError) -> CallFailure {
    match error {
        FetchError::Failed(_) => CallFailure::Unreachable,
        FetchError::TimedOut => CallFailure::TimedOut,
    }
}

/// Sends a request without following redirects (a `3xx` is an answer like any other) and
/// reads the answer up to `limit`.
async fn call(url: &str, init: &RequestInit, limit: usize) -> Result<Reply, CallFailure> {
    init.set_redirect(RequestRedirect::Manual);
    let deadline = Duration::from_millis(CALL_DEADLINE_MS);
    let response = fetch_with_deadline(url, init, deadline)
        .await
        .map_err(call_failure)?;
    let body = read_limited(&response, limit).await.map_err(|e| match e {
        ReadError::TooLarge => CallFailure::TooLarge,
        ReadError::Failed(_) => CallFailure::Unreachable,
    })?;
    Ok(Reply {
        status: response.status(),
        body,
    })
}

fn headers(pairs: &[(&str, &str)]) -> Result<Headers, CallFailure> {
    let headers = Headers::new().map_err(|_| CallFailure::Unreachable)?;
    for (name, value) in pairs {
        headers
            .set(name, value)
            .map_err(|_| CallFailure::Unreachable)?;
    }
    Ok(headers)
}

impl BridgeIo for EdgeIo {
    type Verifier = WebCryptoVerifier;

    fn verifier(&self) -> &WebCryptoVerifier {
        &WebCryptoVerifier
    }

    async fn userinfo(&self, url: &Url, cookie: &str) -> Result<Reply, CallFailure> {
        let init = RequestInit::new();
        init.set_method("GET");
        let headers = headers(&[("cookie", cookie), ("accept", "application/json")])?;
        init.set_headers(&headers);
        call(url.as_str(), &init, MAX_USERINFO_BYTES).await
    }

    async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        bearer: Option<&Secret>,
        body: Vec<u8>,
    ) -> Result<Reply, CallFailure> {
        let authorization = bearer.map(|token| format!("Bearer {}", token.expose()));
        let mut pairs = vec![
            ("content-type", content_type),
            ("accept", "application/json"),
        ];
        if let Some(value) = &authorization {
            pairs.push(("authorization", value));
        }
        let init = RequestInit::new();
        init.set_method("POST");
        let headers = headers(&pairs)?;
        init.set_headers(&headers);
        init.set_body(&js_sys::Uint8Array::from(body.as_slice()));
        call(url, &init, MAX_SCALEKIT_REPLY_BYTES).await
    }

    async fn access_keys(&self, access: &AccessSettings) -> Arc<KeySet> {
        match ACCESS_KEYS.with(|k| k.borrow().cache.keys().cloned()) {
            Some(keys) => keys,
            None => self.access_keys_after_unknown_kid(access, None).await,
        }
    }

    async fn access_keys_after_unknown_kid(
        &self,
        access: &AccessSettings,
        kid: Option<&str>,
    ) -> Arc<KeySet> {
        settle_unknown_kid(
            |now| ACCESS_KEYS.with(|k| k.borrow_mut().throttle.on_unknown_kid(kid, now)),
            |now| ACCESS_KEYS.with(|k| k.borrow().throttle.in_flight(now)),
            |ticket| refresh_access_keys(access, ticket),
        )
        .await;
        ACCESS_KEYS.with(|k| k.borrow().cache.keys().cloned().unwrap_or_default())
    }
}

/// One refresh of the Access team's key set with a ticket: fetch, validate, install.
async fn refresh_access_keys(access: &AccessSettings, ticket: RefreshTicket) {
    let mut fetch = |url: Url| http_get(url, MAX_JWKS_BYTES);
    let fetched = fetch_key_set(&access.certs_url, &mut fetch, now_ms()).await;
    ACCESS_KEYS.with(|k| {
        let mut k = k.borrow_mut();
        match &fetched {
            Ok(set) => {
                k.cache.install_fetched(set, now_ms());
                k.throttle
                    .finish(ticket, now_ms(), RefreshOutcome::fetched(set, true));
            }
            Err(e) => k
                .throttle
                .finish(ticket, now_ms(), RefreshOutcome::Failed(e)),
        }
    });
    if let Err(e) = fetched {
        console_error!(
            "{}",
            serde_json::json!({"event": "access_keys_refresh_failed", "error": e.to_string()})
        );
    }
}
