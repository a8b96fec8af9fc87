//! The Worker adapter: the only code that touches `worker`, KV, fetch and WebCrypto.
//!
//! It does I/O (settings, KV, body, origin) and hands preloaded data to the core.

mod bridge;
mod convert;
mod glue;
mod issuer;
mod relay;
mod state;
mod upstream;
mod webcrypto;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use http::{HeaderMap, Method, StatusCode};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{console_log, event, Context, Env, Result, ScheduleContext, ScheduledEvent};

use crate::admit::AdmitError;
use crate::gate::cors::{self, BrowserOrigin};
use crate::gate::logline::LogLine;
use crate::gate::pipeline::{self, ProtectedRequest, RequestHead};
use crate::gate::respond::{json_response, ChallengeContext};
use crate::gate::{self, forward, metadata, request_line, route, GateError, Route};
use crate::settings::Settings;
use crate::token::cache::TokenCache;
use convert::{from_http, gate_headers};
use state::now_ms;
use upstream::UpstreamFailure;
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
        Ok(settings) => issuer::scheduled(&env, &settings).await,
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
    let raw_method = req.method();
    let method = request_line::method(&raw_method);
    let raw_url = req.url();
    let url = request_line::request_url(&raw_url).map_err(|e| {
        worker::Error::RustError(format!("failed to parse Url from {e}: {raw_url}"))
    })?;
    let settings = state::settings(&env);
    let raw_headers = req.headers();
    let headers = gate_headers(&raw_headers);
    let head = RequestHead {
        method: method.as_ref(),
        raw_method: &raw_method,
        path: &url.path,
        headers: &headers,
    };

    let login = state::bridge(&env);
    match route(
        method.as_ref(),
        &url.path,
        settings.as_ref().ok().map(Rc::as_ref),
        login.login_path(),
    ) {
        Route::Login => {
            apart(bridge::serve(
                req,
                &login,
                method.as_ref(),
                &raw_method,
                &url,
                started,
            ))
            .await
        }
        Route::ProtectedResourceMetadata => protected_resource_metadata(&settings),
        Route::AuthorizationServerMetadata => {
            let document = match &settings {
                Ok(s) => apart(issuer::as_metadata_document(&env, s)).await,
                Err(_) => None,
            };
            from_http(as_metadata_response(document))
        }
        Route::Preflight => preflight(&settings, &headers, &url.path),
        Route::Health => from_http(apart(health(&env, started)).await),
        Route::NotServed => not_served(&settings, &head, started),
        Route::Protected => {
            let settings = match settings {
                Ok(s) => s,
                Err(e) => return settings_refusal(e, &head, started),
            };
            let admitted = match pipeline::admit_head(&head, &settings) {
                Ok(admitted) => admitted,
                Err(refusal) => return refuse(*refusal, started),
            };
            let context = RequestContext {
                env: &env,
                ctx: &ctx,
                settings: &settings,
                url: &url,
                raw_headers: &raw_headers,
                headers: &headers,
                started,
            };
            apart(protected(req, admitted, &context)).await
        }
    }
}

/// Invalid settings: every request that is not discovery gets the `500` naming the setting.
#[inline(never)]
fn settings_refusal(
    error: crate::settings::SettingsError,
    head: &RequestHead<'_>,
    started: u64,
) -> Result<web_sys::Response> {
    let error = GateError::Settings(error);
    let response = error.respond(&ChallengeContext::default());
    log(
        LogLine {
            decision: "deny",
            reason: error.reason(),
            status: response.status().as_u16(),
            http_method: head.raw_method.to_owned(),
            path: head.path.to_owned(),
            ..LogLine::default()
        },
        started,
    );
    from_http(response)
}

// The routes answered without I/O, each a function of its own (never inlined into `fetch`):
// V8 compiles a wasm function whole on its first call, so a fresh isolate's first protected
// request does not compile the code of discovery, preflight and `404` as part of `fetch`.

#[inline(never)]
fn protected_resource_metadata(
    settings: &std::result::Result<Rc<Settings>, crate::settings::SettingsError>,
) -> Result<web_sys::Response> {
    match settings {
        Ok(s) => from_http(metadata_response(s)),
        Err(e) => from_http(GateError::Settings(e.clone()).respond(&ChallengeContext::default())),
    }
}

#[inline(never)]
fn preflight(
    settings: &std::result::Result<Rc<Settings>, crate::settings::SettingsError>,
    headers: &HeaderMap,
    path: &str,
) -> Result<web_sys::Response> {
    let origin = match settings {
        Ok(s) => cors::check(headers, s),
        Err(_) => BrowserOrigin::Forbidden,
    };
    let requested = headers.get(http::header::ACCESS_CONTROL_REQUEST_HEADERS);
    from_http(cors::preflight(&origin, route::is_public(path), requested))
}

#[inline(never)]
fn not_served(
    settings: &std::result::Result<Rc<Settings>, crate::settings::SettingsError>,
    head: &RequestHead<'_>,
    started: u64,
) -> Result<web_sys::Response> {
    match settings {
        Ok(s) => refuse(*pipeline::not_served(head, s), started),
        Err(e) => settings_refusal(e.clone(), head, started),
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
        Ok(_) => Some(issuer::health(env).await),
        Err(_) => None,
    };
    if settings.is_ok() {
        state::load_rules(env, now).await;
    }
    gate::health::response(
        settings.as_ref().map(|_| ()),
        key_health.as_ref(),
        &state::rules_snapshot(now),
        TOKEN_CACHE.with(|c| c.borrow().stats()),
    )
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

/// What one protected request carries through the adapter's stages.
struct RequestContext<'a> {
    env: &'a Env,
    ctx: &'a Context,
    settings: &'a Settings,
    url: &'a request_line::RequestUrl,
    /// The runtime's request headers (copied inside the runtime when forwarding).
    raw_headers: &'a web_sys::Headers,
    /// The headers the core reads.
    headers: &'a HeaderMap,
    started: u64,
}

/// A request body read once: its bytes in wasm memory for the core, and the runtime's own
/// copy, which is what the upstream receives (the same bytes, never copied back out of wasm).
#[derive(Default)]
struct Body {
    bytes: Vec<u8>,
    buffer: Option<js_sys::Uint8Array>,
}

/// Reads the body counted (see `readBody` in `glue.js`): never more than `MAX_BODY_BYTES`
/// plus one chunk is held, with or without `Content-Length`.
async fn read_body(req: &web_sys::Request, limit: usize) -> std::result::Result<Body, AdmitError> {
    match JsFuture::from(glue::read_body(req, limit as f64)).await {
        Ok(value) if value.is_undefined() => Err(AdmitError::BodyTooLarge),
        Ok(value) => {
            let buffer = js_sys::Uint8Array::new(&value);
            Ok(Body {
                bytes: buffer.to_vec(),
                buffer: Some(buffer),
            })
        }
        Err(_) => Err(AdmitError::BodyUnreadable),
    }
}

async fn protected(
    req: web_sys::Request,
    admitted: pipeline::AdmittedHead,
    rc: &RequestContext<'_>,
) -> Result<web_sys::Response> {
    let settings = rc.settings;
    let env = rc.env;
    let started = rc.started;
    // Without an `Authorization` header the answer is a challenge that needs no key: a fresh
    // isolate then neither reads KV `jwks` nor parses it for that request.
    let has_credentials = rc.headers.contains_key(http::header::AUTHORIZATION);
    let load_keys = async {
        if has_credentials {
            Some(issuer::current(env).await)
        } else {
            None
        }
    };
    // The body and both KV reads (when due) run concurrently: a fresh isolate pays one round
    // trip, not three.
    let (body, keys, rules_slot) = futures_util::future::join3(
        apart(read_body(&req, settings.max_body_bytes)),
        apart(load_keys),
        apart(state::load_rules(env, started)),
    )
    .await;
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let refusal = pipeline::body_refused(&admitted, &rc.url.path, settings, e);
            return refuse(*refusal, started);
        }
    };
    if keys.is_some() {
        issuer::refresh_if_stale(settings, rc.ctx, env);
    }
    let rules = rules_slot.view(settings.require_rules);
    let request = ProtectedRequest {
        head: &admitted,
        path: &rc.url.path,
        headers: rc.headers,
        body: &body.bytes,
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
        None => issuer::current(env).await,
    };
    // The only I/O between the two stages: an unknown `kid` may mean the keys rotated.
    let keys = if pre.key_missing_from(&keys) {
        apart(issuer::on_unknown_kid(env, settings, pre.kid())).await
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

    let plan = pipeline::relay_plan(&allowed, rules, &admitted.method, &rc.url.path, settings);
    apart(forward_allowed(
        allowed,
        plan,
        &admitted.method,
        body.buffer.as_ref(),
        rc,
    ))
    .await
}

/// Sends an allowed request to the upstream and relays its response (README "Forwarding").
async fn forward_allowed(
    allowed: pipeline::Allowed,
    plan: pipeline::RelayPlan,
    method: &Method,
    body: Option<&js_sys::Uint8Array>,
    rc: &RequestContext<'_>,
) -> Result<web_sys::Response> {
    let settings = rc.settings;
    let started = rc.started;
    let target = forward::upstream_url(settings, &rc.url.path, rc.url.query.as_deref());
    let (proto, host) = rc
        .url
        .origin
        .split_once("://")
        .unwrap_or(("https", rc.url.origin.as_str()));
    let client = forward::ClientFacts {
        connecting_ip: rc
            .headers
            .get(convert::CF_CONNECTING_IP_HEADER)
            .and_then(|v| v.to_str().ok()),
        host,
        proto,
    };
    let headers = match convert::upstream_headers(rc.raw_headers, &allowed.token, settings, &client)
    {
        Ok(headers) => headers,
        Err(_) => {
            // The runtime refused its own headers' copy: answer, never forward half of them.
            let refusal = pipeline::Refusal {
                error: GateError::UpstreamUnreachable,
                context: ChallengeContext::default(),
                browser_origin: allowed.browser_origin,
                log: allowed.log,
            };
            return refuse(refusal, started);
        }
    };
    let mut line = allowed.log;
    match apart(upstream::send(
        &target,
        method,
        &headers,
        body,
        settings.origin_timeout_seconds,
    ))
    .await
    {
        Ok(response) => {
            line.status = response.status();
            if let pipeline::RelayPlan::FilterLists { requests, policy } = plan {
                if (200..300).contains(&response.status()) {
                    let cors = cors::response_edits(&allowed.browser_origin);
                    return match apart(relay::filtered(
                        response, requests, policy, cors, line, started,
                    ))
                    .await?
                    {
                        relay::Relayed::Response(response) => Ok(response),
                        relay::Relayed::Invalid(error, line) => refuse(
                            pipeline::Refusal {
                                error,
                                context: ChallengeContext::default(),
                                browser_origin: allowed.browser_origin,
                                log: *line,
                            },
                            started,
                        ),
                    };
                }
            }
            log(line, started);
            if allowed.browser_origin == BrowserOrigin::Absent {
                // Nothing to add: hand the upstream's response to the runtime as it is.
                return Ok(response);
            }
            let edits = cors::response_edits(&allowed.browser_origin);
            upstream::with_edits(&response, &edits).ok_or_else(|| {
                worker::Error::RustError("could not relay the upstream's response".into())
            })
        }
        Err(failure) => {
            let error = match failure {
                UpstreamFailure::Unreachable => GateError::UpstreamUnreachable,
                UpstreamFailure::Timeout => GateError::UpstreamTimeout,
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

// One copy shared by every refusal, not one inlined into each stage.
#[inline(never)]
fn refuse(refusal: pipeline::Refusal, started: u64) -> Result<web_sys::Response> {
    let (response, line) = refusal.into_parts();
    log(line, started);
    from_http(response)
}
