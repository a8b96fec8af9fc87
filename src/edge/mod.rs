//! The Worker adapter: the only code that touches `worker`, KV, fetch and WebCrypto.
//!
//! It does I/O (settings, KV, body, origin) and hands preloaded data to the core.

mod convert;
mod glue;
mod keys;
mod origin;
mod state;
mod webcrypto;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use http::{HeaderMap, Method, StatusCode};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{console_log, event, Context, Env, Result, ScheduleContext, ScheduledEvent};

use crate::gate::cors::{self, BrowserOrigin};
use crate::gate::logline::LogLine;
use crate::gate::pipeline::{self, ProtectedRequest, RulesView};
use crate::gate::respond::{json_response, ChallengeContext};
use crate::gate::{forward, metadata, request_line, route, GateError, Route};
use crate::settings::Settings;
use crate::token::cache::TokenCache;
use convert::{from_http, gate_headers};
use origin::OriginFailure;
use state::{now_ms, RulesSlot};
use webcrypto::WebCryptoVerifier;

thread_local! {
    /// Verified tokens of this isolate (see `crate::token::cache`).
    static TOKEN_CACHE: Rc<RefCell<TokenCache>> = Rc::new(RefCell::new(TokenCache::new()));
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match state::settings(&env) {
        Ok(settings) => keys::scheduled(&env, &settings).await,
        Err(e) => console_log!(
            "{}",
            serde_json::json!({"event": "scheduled_skipped", "error": e.to_string()})
        ),
    }
}

#[event(fetch)]
// The raw `web_sys::Request`: `worker::Request` would copy the method, URL, path and `cf`
// across the boundary up front, needed or not.
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let started = now_ms();
    let method = request_line::method(&req.method());
    let raw_url = req.url();
    let url = request_line::request_url(&raw_url).map_err(|e| {
        worker::Error::RustError(format!("failed to parse Url from {e}: {raw_url}"))
    })?;
    let path = url.path.clone();
    let settings = state::settings(&env);
    let raw_headers = req.headers();
    let headers = gate_headers(&raw_headers);
    let own_origin = url.origin.clone();

    match route(&method, &path, settings.as_ref().ok().map(Rc::as_ref)) {
        Route::ProtectedResourceMetadata => Ok(match &settings {
            Ok(s) => from_http(metadata_response(s)),
            Err(e) => {
                from_http(GateError::Settings(e.clone()).respond(&ChallengeContext::default()))
            }
        }?),
        Route::AuthorizationServerMetadata => {
            let document = match &settings {
                Ok(s) => apart(keys::as_metadata_document(&env, s)).await,
                Err(_) => None,
            };
            from_http(as_metadata_response(document))
        }
        Route::Preflight => {
            let public = path.starts_with(route::PROTECTED_RESOURCE_PREFIX)
                || path.starts_with(route::AUTHORIZATION_SERVER_PREFIX);
            let origin = match &settings {
                Ok(s) => cors::check(&headers, &own_origin, s),
                Err(_) => BrowserOrigin::Forbidden,
            };
            from_http(cors::preflight(&origin, public))
        }
        Route::Health => from_http(apart(health(&env, started)).await),
        Route::Protected => {
            let settings = match settings {
                Ok(s) => s,
                Err(e) => {
                    let error = GateError::Settings(e);
                    let response = error.respond(&ChallengeContext::default());
                    log(
                        LogLine {
                            decision: "deny",
                            reason: error.reason(),
                            status: response.status().as_u16(),
                            http_method: method.to_string(),
                            path,
                            ..LogLine::default()
                        },
                        started,
                    );
                    return from_http(response);
                }
            };
            apart(protected(
                req,
                &env,
                &ctx,
                &settings,
                method,
                url,
                &raw_headers,
                headers,
                own_origin,
                started,
            ))
            .await
        }
    }
}

/// Runs a future behind a `dyn` pointer, so that its state machine compiles to functions of
/// its own instead of being inlined into its caller's `poll`. V8 compiles each wasm function
/// whole on its first call: one `poll` holding every route and stage made a fresh isolate's
/// first request compile all of them (tens of KB) even to answer a 401. Used for the routes
/// and for each stage of a protected request; it costs one small allocation per use.
fn apart<'a, T>(future: impl Future<Output = T> + 'a) -> Pin<Box<dyn Future<Output = T> + 'a>> {
    Box::pin(future)
}

fn metadata_response(settings: &Settings) -> http::Response<Vec<u8>> {
    metadata::public_document(metadata::protected_resource_metadata(settings))
}

async fn health(env: &Env, now: u64) -> http::Response<Vec<u8>> {
    let settings = state::settings(env);
    let key_health = match &settings {
        Ok(_) => Some(keys::health(env).await),
        Err(_) => None,
    };
    if settings.is_ok() {
        state::load_rules(env, now).await;
    }
    let rules = state::rules_snapshot(now);
    let status = match (&settings, &key_health) {
        (Ok(_), Some(k)) if k.is_healthy() => "ok",
        (Ok(_), _) => "no_keys",
        (Err(_), _) => "invalid_settings",
    };
    let body = serde_json::json!({
        "status": status,
        "settings_error": settings.as_ref().err().map(|e| e.to_string()),
        "keys": key_health,
        "rules": rules.rules_state,
        "rules_version": rules.rules_version,
        "rules_age_seconds": rules.rules_age_seconds,
        "token_cache": TOKEN_CACHE.with(|c| c.borrow().stats()),
    });
    let mut response = http::Response::new(serde_json::to_vec(&body).unwrap_or_default());
    *response.status_mut() = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

fn as_metadata_response(document: Option<Vec<u8>>) -> http::Response<Vec<u8>> {
    let Some(document) = document else {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The authorization server metadata could not be loaded",
            None,
        );
    };
    metadata::public_document(document)
}

fn log(mut line: LogLine, started: u64) {
    line.duration_ms = Some(now_ms().saturating_sub(started));
    web_sys::console::log_1(&JsValue::from_str(&line.to_json()));
}

/// A request body read once: its bytes in wasm memory for the core, and the runtime's own
/// buffer, which is what the origin receives (the same bytes, never copied back out of wasm).
#[derive(Default)]
struct Body {
    bytes: Vec<u8>,
    buffer: Option<js_sys::ArrayBuffer>,
}

async fn read_body(req: &web_sys::Request) -> Body {
    let Ok(promise) = req.array_buffer() else {
        return Body::default();
    };
    match JsFuture::from(promise).await {
        Ok(buffer) => Body {
            bytes: js_sys::Uint8Array::new(&buffer).to_vec(),
            buffer: Some(buffer.into()),
        },
        Err(_) => Body::default(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn protected(
    req: web_sys::Request,
    env: &Env,
    ctx: &Context,
    settings: &Settings,
    method: Method,
    url: request_line::RequestUrl,
    raw_headers: &web_sys::Headers,
    headers: HeaderMap,
    own_origin: String,
    started: u64,
) -> Result<web_sys::Response> {
    // Refuse oversized bodies before reading them when the client says how large they are.
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let read_body = async {
        match declared {
            Some(n) if n > settings.max_body_bytes => Body::default(),
            _ if method == Method::GET || method == Method::HEAD => Body::default(),
            _ => read_body(&req).await,
        }
    };
    // Without an `Authorization` header the answer is a challenge that needs no key: a fresh
    // isolate then neither reads KV `jwks` nor parses it for that request.
    let has_credentials = headers.contains_key(http::header::AUTHORIZATION);
    let load_keys = async {
        if has_credentials {
            Some(keys::current(env).await)
        } else {
            None
        }
    };
    // The body and both KV reads (when due) run concurrently: a fresh isolate pays one round
    // trip, not three.
    let (body, keys, rules_slot) = futures_util::future::join3(
        apart(read_body),
        apart(load_keys),
        apart(state::load_rules(env, started)),
    )
    .await;
    if keys.is_some() {
        keys::refresh_if_stale(settings, ctx, env);
    }
    let rules = match &rules_slot {
        RulesSlot::Loaded(set) => RulesView::Document(set),
        RulesSlot::Absent if !settings.require_rules => RulesView::Authenticated,
        RulesSlot::Unknown | RulesSlot::Absent | RulesSlot::Unusable => RulesView::Unavailable,
    };
    let request = ProtectedRequest {
        method: &method,
        path: &url.path,
        headers: &headers,
        body: &body.bytes,
        declared_length: declared,
        own_origin: &own_origin,
    };
    let cache = TOKEN_CACHE.with(Rc::clone);
    let recall = pipeline::recall_from(&cache, keys.as_deref(), started);
    let pre = pipeline::precheck(&request, settings, rules, recall);
    let pre = match pre {
        Ok(pre) => pre,
        Err(refusal) => return refuse(*refusal, started),
    };

    // A request that passed the precheck carries a token, so its keys were loaded above.
    let keys = match keys {
        Some(keys) => keys,
        None => keys::current(env).await,
    };
    // The only I/O between the two stages: an unknown `kid` may mean the keys rotated.
    let keys = if pre.key_missing_from(&keys) {
        apart(keys::on_unknown_kid(env, settings, pre.kid())).await
    } else {
        keys
    };
    let allowed = match apart(pipeline::authorize(
        pre,
        settings,
        &keys,
        &WebCryptoVerifier,
        &cache,
        now_ms(),
    ))
    .await
    {
        Ok(allowed) => allowed,
        Err(refusal) => return refuse(*refusal, started),
    };

    apart(forward_allowed(
        allowed,
        settings,
        &method,
        &url,
        raw_headers,
        body.buffer.as_ref(),
        started,
    ))
    .await
}

/// Sends an allowed request to the origin and relays its response (SPEC §6).
async fn forward_allowed(
    allowed: pipeline::Allowed,
    settings: &Settings,
    method: &Method,
    url: &request_line::RequestUrl,
    raw_headers: &web_sys::Headers,
    body: Option<&js_sys::ArrayBuffer>,
    started: u64,
) -> Result<web_sys::Response> {
    let target = forward::origin_url(settings, &url.path, url.query.as_deref());
    let origin_headers = match convert::origin_headers(raw_headers, &allowed.token, settings) {
        Ok(headers) => headers,
        Err(_) => {
            // The runtime refused its own headers' copy: answer, never forward half of them.
            let refusal = pipeline::Refusal {
                error: GateError::OriginUnreachable,
                context: ChallengeContext::default(),
                browser_origin: allowed.browser_origin,
                log: allowed.log,
            };
            return refuse(refusal, started);
        }
    };
    let mut line = allowed.log;
    match apart(origin::send(
        &target,
        method,
        &origin_headers,
        body,
        settings.origin_timeout_seconds,
    ))
    .await
    {
        Ok(response) => {
            line.status = response.status();
            log(line, started);
            if allowed.browser_origin == BrowserOrigin::Absent {
                // Nothing to add: hand the origin's response to the runtime as it is.
                return Ok(response);
            }
            let edits = cors::response_edits(&allowed.browser_origin);
            origin::with_edits(&response, &edits).ok_or_else(|| {
                worker::Error::RustError("could not relay the origin's response".into())
            })
        }
        Err(failure) => {
            let error = match failure {
                OriginFailure::Unreachable => GateError::OriginUnreachable,
                OriginFailure::Timeout => GateError::OriginTimeout,
            };
            let refusal = pipeline::Refusal {
                error,
                context: ChallengeContext::default(),
                browser_origin: allowed.browser_origin,
                log: line,
            };
            refuse(refusal, started)
        }
    }
}

fn refuse(refusal: pipeline::Refusal, started: u64) -> Result<web_sys::Response> {
    let (response, line) = refusal.into_parts();
    log(line, started);
    from_http(response)
}
