//! The Worker adapter: the only code that touches `worker`, KV, fetch and WebCrypto.
//!
//! The entry module `entry.js` receives every request and drives it through an
//! [`exchange::Exchange`]: JavaScript awaits the runtime's promises, Rust decides synchronously in
//! between. The routes that need I/O of their own (the login bridge, the AS metadata mirror,
//! `/healthz`) and the Cron Trigger run as Rust futures ([`serve_async`], `scheduled`).

mod bridge;
mod convert;
mod exchange;
mod glue;
mod issuer;
mod relay;
mod state;
mod upstream;
mod webcrypto;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use http::{HeaderMap, StatusCode};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{console_log, event, Env, Result, ScheduleContext, ScheduledEvent};

use exchange::TOKEN_CACHE;

use crate::gate::cors::{self, BrowserOrigin};
use crate::gate::logline::LogLine;
use crate::gate::pipeline::{self, RequestHead};
use crate::gate::request_line::RequestUrl;
use crate::gate::respond::{json_response, ChallengeContext};
use crate::gate::{self, metadata, request_line, route, GateError, Route};
use crate::settings::bridge::Bridge;
use crate::settings::{Settings, SettingsError};
use convert::from_http;
use state::now_ms;

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

/// What every request starts from: its request line, the isolate's settings and its route.
struct Incoming {
    started: u64,
    raw_method: String,
    method: Option<http::Method>,
    url: RequestUrl,
    settings: std::result::Result<Rc<Settings>, SettingsError>,
    login: Rc<Bridge>,
    route: Route,
}

impl Incoming {
    /// `None` when the request URL does not split (never with the runtime's own URLs).
    fn read(req: &web_sys::Request, env: &Env) -> Option<Self> {
        let started = now_ms();
        let raw_method = req.method();
        let method = request_line::method(&raw_method);
        let url = request_line::request_url(&req.url()).ok()?;
        let settings = state::settings(env);
        let login = state::bridge(env);
        let route = route(
            method.as_ref(),
            &url.path,
            settings.as_ref().ok().map(Rc::as_ref),
            login.login_path(),
        );
        Some(Incoming {
            started,
            raw_method,
            method,
            url,
            settings,
            login,
            route,
        })
    }
}

/// The routes with I/O of their own, as Rust futures: the login bridge, the AS metadata
/// mirror and `/healthz` ([`exchange::Step::Async`]). Every other route is the
/// [`exchange::Exchange`]'s.
#[wasm_bindgen(js_name = serveAsync)]
pub async fn serve_async(
    req: web_sys::Request,
    env: Env,
) -> std::result::Result<web_sys::Response, JsValue> {
    let Some(incoming) = Incoming::read(&req, &env) else {
        return Err(JsValue::from_str("the request URL does not split"));
    };
    let Incoming {
        started,
        raw_method,
        method,
        url,
        settings,
        login,
        route,
    } = incoming;
    let response = match route {
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
        Route::AuthorizationServerMetadata => {
            let document = match &settings {
                Ok(s) => apart(issuer::as_metadata_document(&env, s)).await,
                Err(_) => None,
            };
            from_http(as_metadata_response(document))
        }
        Route::Health => from_http(apart(health(&env, started)).await),
        Route::ProtectedResourceMetadata
        | Route::Preflight
        | Route::NotServed
        | Route::Protected => Err(worker::Error::RustError(
            "not a route with I/O of its own".into(),
        )),
    };
    Ok(response?)
}

/// Invalid settings: every request that is not discovery gets the `500` naming the setting.
#[inline(never)]
fn settings_refusal(
    error: SettingsError,
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

// The routes answered without I/O, each a function of its own (never inlined into `begin`):
// V8 compiles a wasm function whole on its first call, so a fresh isolate's first protected
// request does not compile the code of discovery, preflight and `404` as part of `begin`.

#[inline(never)]
fn protected_resource_metadata(
    settings: &std::result::Result<Rc<Settings>, SettingsError>,
) -> Result<web_sys::Response> {
    match settings {
        Ok(s) => from_http(metadata_response(s)),
        Err(e) => from_http(GateError::Settings(e.clone()).respond(&ChallengeContext::default())),
    }
}

#[inline(never)]
fn preflight(
    settings: &std::result::Result<Rc<Settings>, SettingsError>,
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
    settings: &std::result::Result<Rc<Settings>, SettingsError>,
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
/// whole on its first call: one `poll` holding every route made a fresh isolate's first
/// request compile all of them. It costs one small allocation per use.
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
        &state::bridge(env),
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

// One copy shared by every refusal, not one inlined into each stage.
#[inline(never)]
fn refuse(refusal: pipeline::Refusal, started: u64) -> Result<web_sys::Response> {
    let (response, line) = refusal.into_parts();
    log(line, started);
    from_http(response)
}
