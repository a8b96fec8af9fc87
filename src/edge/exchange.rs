//! One request driven by the entry module (`entry.js`): the awaits happen in JavaScript, each
//! decision is one synchronous call into the core.
//!
//! Served as a Rust future, every awaited promise cost a pair of wasm-bindgen closures, a
//! queued microtask and a poll of the executor, and the runtime work they cause was most of
//! what a request through the gate cost beyond a JavaScript gate (README "Performance"). Here
//! the entry awaits the runtime's own promises — the body, KV when due, WebCrypto, the origin
//! — and calls these methods in between:
//!
//! ```text
//! begin ─► Respond (discovery, preflight, 404, a refusal of the request head)
//!   │   └► Async (login bridge, AS metadata mirror, /healthz: `serveAsync`, a Rust future)
//!   ▼
//! Read: body (+ `loadState` when a KV read is due) ─► precheck ─► Respond | Forward
//!   │                                                   ├► UnknownKid: `settleUnknownKid` ─► keysSettled
//!   │                                                   └► Verify: `signaturePromise` ─► signatureChecked
//!   ▼
//! Forward: `forward()` ─► relay ─► Respond | Filter: `relayFiltered` (a Rust future)
//! ```
//!
//! Each method answers the next [`Step`]; at `Respond`, [`Exchange::response`] holds the answer
//! and its log line is written. The decisions are `gate::pipeline`'s, the same functions as
//! everywhere: admission, precheck, the verified-token cache, and `authorize_settled`, which
//! accepts a signature outcome only for the very check it was made for (key, algorithm,
//! signature). A step called out of order finds no state and fails closed (an error, `500`).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use http::HeaderMap;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::CryptoKey;
use worker::Env;

use super::convert::{self, gate_headers};
use super::state::{self, now_ms};
use super::upstream::{self, UpstreamFailure};
use super::Incoming;
use super::{glue, issuer, relay, webcrypto};
use super::{log, not_served, preflight, protected_resource_metadata, refuse, settings_refusal};
use crate::admit::AdmitError;
use crate::gate::cors::{self, BrowserOrigin};
use crate::gate::pipeline::{self, AdmittedHead, Allowed, Prechecked, ProtectedRequest};
use crate::gate::pipeline::{RelayPlan, RequestHead};
use crate::gate::request_line::RequestUrl;
use crate::gate::respond::ChallengeContext;
use crate::gate::{forward, GateError, Route};
use crate::rules::RulesSlot;
use crate::settings::Settings;
use crate::token::cache::TokenCache;
use crate::token::verify::SignatureCheck;
use crate::token::KeySet;

thread_local! {
    /// Verified tokens of this isolate (see `crate::token::cache`).
    pub(super) static TOKEN_CACHE: Rc<RefCell<TokenCache>> =
        Rc::new(RefCell::new(TokenCache::new()));
}

/// What the entry module does next (see the module comment).
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `response()` holds the answer.
    Respond = 0,
    /// A route with I/O of its own: answer with `serveAsync(request, env, ctx)`.
    Async = 1,
    /// Read the body (`readBody` with `bodyLimit`; and `loadState(env, hasCredentials)` when
    /// `loadsState`), then `precheck`.
    Read = 2,
    /// No key for the token's `kid`: await `settleUnknownKid(env, kid)`, then `keysSettled`.
    UnknownKid = 3,
    /// Await `signaturePromise()` (a boolean, or an imported key to hand to `keyImported`
    /// before asking again), then `signatureChecked`.
    Verify = 4,
    /// Await `forward()`, then `relay`.
    Forward = 5,
    /// A list answer to filter: `relayFiltered(exchange)`.
    Filter = 6,
}

/// A protected request's state between the entry's awaits.
struct Flow {
    settings: Rc<Settings>,
    url: RequestUrl,
    /// The runtime's request headers (copied inside the runtime when forwarding).
    raw_headers: web_sys::Headers,
    /// The headers the core reads.
    headers: HeaderMap,
    admitted: AdmittedHead,
    has_credentials: bool,
    /// The runtime's copy of the body: what the origin receives.
    body: Option<Uint8Array>,
    /// The rules the precheck saw (the relay filters lists under the same ones).
    rules: Option<RulesSlot>,
    keys: Option<Arc<KeySet>>,
    pre: Option<Prechecked<'static>>,
    /// At `Verify`: an import of the job's key is under way (`keyImported` expected).
    importing: bool,
    /// At `Verify`: the check `signaturePromise` started, recorded when it started; its
    /// outcome counts only for this job under these keys.
    issued: Option<SignatureCheck>,
    allowed: Option<(Allowed, RelayPlan)>,
    /// The origin's answer to a list request, to filter.
    origin_response: Option<web_sys::Response>,
}

/// One request through the gate (see the module comment).
#[wasm_bindgen]
pub struct Exchange {
    started: u64,
    step: Step,
    answer: Option<worker::Result<web_sys::Response>>,
    flow: Option<Box<Flow>>,
}

#[wasm_bindgen]
impl Exchange {
    /// Routes the request and admits its head (README "Request hygiene").
    pub fn begin(req: &web_sys::Request, env: &Env) -> Exchange {
        let Some(Incoming {
            started,
            raw_method,
            method,
            url,
            settings,
            route,
            ..
        }) = Incoming::read(req, env)
        else {
            // Never happens with the runtime's URLs; the async path answers it (an error).
            return Self::at(now_ms(), Step::Async);
        };
        let raw_headers = req.headers();
        let headers = gate_headers(&raw_headers);
        let head = RequestHead {
            method: method.as_ref(),
            raw_method: &raw_method,
            path: &url.path,
            headers: &headers,
        };
        let answer = match route {
            Route::Login | Route::AuthorizationServerMetadata | Route::Health => {
                return Self::at(started, Step::Async)
            }
            Route::ProtectedResourceMetadata => protected_resource_metadata(&settings),
            Route::Preflight => preflight(&settings, &headers, &url.path),
            Route::NotServed => not_served(&settings, &head, started),
            Route::Protected => match settings {
                Err(e) => settings_refusal(e, &head, started),
                Ok(settings) => match pipeline::admit_head(&head, &settings) {
                    Err(refusal) => refuse(*refusal, started),
                    Ok(admitted) => {
                        let has_credentials = headers.contains_key(http::header::AUTHORIZATION);
                        let flow = Flow {
                            settings,
                            url,
                            raw_headers,
                            headers,
                            admitted,
                            has_credentials,
                            body: None,
                            rules: None,
                            keys: None,
                            pre: None,
                            importing: false,
                            issued: None,
                            allowed: None,
                            origin_response: None,
                        };
                        return Exchange {
                            started,
                            step: Step::Read,
                            answer: None,
                            flow: Some(Box::new(flow)),
                        };
                    }
                },
            },
        };
        Self::respond(started, answer)
    }

    /// The next step.
    #[wasm_bindgen(getter)]
    pub fn step(&self) -> Step {
        self.step
    }

    /// At `Read`: the most body bytes to read (`MAX_BODY_BYTES`).
    #[wasm_bindgen(getter = bodyLimit)]
    pub fn body_limit(&self) -> f64 {
        self.flow
            .as_ref()
            .map_or(0.0, |f| f.settings.max_body_bytes as f64)
    }

    /// At `Read`: whether the request carries credentials (the keys are then needed).
    #[wasm_bindgen(getter = hasCredentials)]
    pub fn has_credentials(&self) -> bool {
        self.flow.as_ref().is_some_and(|f| f.has_credentials)
    }

    /// At `Read`: whether a KV read is due (`loadState` must be awaited before `precheck`).
    /// Without an `Authorization` header the answer needs no key, so KV `jwks` is not read.
    #[wasm_bindgen(getter = loadsState)]
    pub fn loads_state(&self) -> bool {
        let now = now_ms();
        state::rules_due(now) || (self.has_credentials() && issuer::kv_due(now))
    }

    /// At `UnknownKid`: the token's `kid` (untrusted; only used to look up the server's keys).
    #[wasm_bindgen(getter)]
    pub fn kid(&self) -> Option<String> {
        let pre = self.flow.as_ref()?.pre.as_ref()?;
        pre.kid().map(str::to_owned)
    }

    /// The answer, at `Respond`.
    pub fn response(&mut self) -> Result<web_sys::Response, JsValue> {
        match self.answer.take() {
            Some(Ok(response)) => Ok(response),
            Some(Err(e)) => {
                // The gate's own messages are logged; a runtime error's text may quote a
                // header value, so only its kind is.
                let detail = match &e {
                    worker::Error::RustError(message) => message.as_str(),
                    _ => "runtime error",
                };
                worker::console_error!(
                    "{}",
                    serde_json::json!({"event": "response_failed", "error": detail})
                );
                Err(e.into())
            }
            None => Err(out_of_order()),
        }
    }

    /// At `Read`, with what `readBody` settled with: the bytes (a `Uint8Array`), `undefined`
    /// past the limit, anything else when the read failed. Stage 1 of README "Tokens": the
    /// body's admission, the rules, the credential, the verified-token cache.
    pub fn precheck(&mut self, body: JsValue, env: &Env, ctx: worker::worker_sys::Context) -> Step {
        let Some(mut flow) = self.take_at(Step::Read) else {
            return self.fail();
        };
        let started = self.started;
        let settings = Rc::clone(&flow.settings);
        let body = if body.is_undefined() {
            Err(AdmitError::BodyTooLarge)
        } else {
            body.dyn_into::<Uint8Array>()
                .map_err(|_| AdmitError::BodyUnreadable)
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                let refusal = pipeline::body_refused(&flow.admitted, &flow.url.path, &settings, e);
                return self.refused(*refusal);
            }
        };
        let bytes = body.to_vec();
        flow.body = Some(body);
        let keys = flow.has_credentials.then(issuer::keys_now);
        if keys.is_some() {
            issuer::refresh_if_stale(&settings, &worker::Context::new(ctx), env);
        }
        let rules = state::rules_slot();
        let cache = TOKEN_CACHE.with(Rc::clone);
        let pre = {
            let request = ProtectedRequest {
                head: &flow.admitted,
                path: &flow.url.path,
                headers: &flow.headers,
                body: &bytes,
            };
            let recall = pipeline::recall_from(&cache, keys.as_deref(), started);
            match pipeline::precheck(
                &request,
                &settings,
                rules.view(settings.require_rules),
                recall,
            ) {
                Ok(pre) => pre.into_owned(),
                Err(refusal) => return self.refused(*refusal),
            }
        };
        flow.rules = Some(rules);
        // A request that passed the precheck carries a token.
        let keys = keys.unwrap_or_else(issuer::keys_now);
        let missing = pre.key_missing_from(&keys);
        flow.keys = Some(keys);
        flow.pre = Some(pre);
        if missing {
            // The only I/O between the two stages: an unknown `kid` may mean the keys rotated.
            return self.wait(flow, Step::UnknownKid);
        }
        self.with_keys(flow)
    }

    /// At `UnknownKid`, once `settleUnknownKid` finished: the keys in use now.
    #[wasm_bindgen(js_name = keysSettled)]
    pub fn keys_settled(&mut self) -> Step {
        let Some(mut flow) = self.take_at(Step::UnknownKid) else {
            return self.fail();
        };
        flow.keys = Some(issuer::keys_now());
        self.with_keys(flow)
    }

    /// At `Verify`: the promise of the token's signature check with WebCrypto — a boolean, or,
    /// the first time this isolate meets the key, the imported key (hand it to `keyImported`
    /// and ask again). `undefined` when WebCrypto refused to start (a failed check).
    #[wasm_bindgen(js_name = signaturePromise)]
    pub fn signature_promise(&mut self) -> Option<js_sys::Promise> {
        if self.step != Step::Verify {
            return None;
        }
        let flow = self.flow.as_mut()?;
        let job = flow.pre.as_ref()?.signature_job(flow.keys.as_ref()?)?;
        match webcrypto::imported(job.key, job.alg) {
            Some(key) => {
                let promise = webcrypto::verify(&key, job.alg, job.signing_input, job.signature);
                flow.issued = promise.as_ref().map(|_| SignatureCheck::of(&job, false));
                promise
            }
            None => {
                let promise = webcrypto::import(job.key, job.alg);
                flow.importing = promise.is_some();
                promise
            }
        }
    }

    /// At `Verify`, after `signaturePromise` started an import: keeps the imported key for the
    /// isolate; `false` (nothing kept) if it is not a key or no import was under way.
    #[wasm_bindgen(js_name = keyImported)]
    pub fn key_imported(&mut self, key: JsValue) -> bool {
        if self.step != Step::Verify {
            return false;
        }
        let Some(flow) = self.flow.as_mut() else {
            return false;
        };
        if !std::mem::take(&mut flow.importing) {
            return false;
        }
        let (Ok(key), Some(job)) = (
            key.dyn_into::<CryptoKey>(),
            flow.pre
                .as_ref()
                .zip(flow.keys.as_ref())
                .and_then(|(pre, keys)| pre.signature_job(keys)),
        ) else {
            return false;
        };
        webcrypto::remember(job.key, job.alg, key);
        true
    }

    /// At `Verify`, with whether the signature verified (`false` on any failure): stage 2, the
    /// claims and the scope grant.
    #[wasm_bindgen(js_name = signatureChecked)]
    pub fn signature_checked(&mut self, verified: bool) -> Step {
        let Some(mut flow) = self.take_at(Step::Verify) else {
            return self.fail();
        };
        let (Some(pre), Some(keys)) = (flow.pre.take(), flow.keys.clone()) else {
            return self.fail();
        };
        // The outcome belongs to the check `signaturePromise` started (none started: no
        // check, which `authorize_settled` refuses whenever a key fits).
        let check = flow.issued.take().map(|issued| issued.settled(verified));
        self.authorize(flow, pre, &keys, check.as_ref())
    }

    /// At `Forward`: starts the call to the origin (a promise for `relay`), or answers (`502`)
    /// when the runtime refused to copy the headers.
    pub fn forward(&mut self) -> Option<js_sys::Promise> {
        if self.step != Step::Forward {
            self.fail();
            return None;
        }
        let flow = self.flow.as_ref()?;
        let (allowed, _) = flow.allowed.as_ref()?;
        let settings = &flow.settings;
        let url = &flow.url;
        let target = forward::upstream_url(settings, &url.path, url.query.as_deref());
        let (proto, host) = url
            .origin
            .split_once("://")
            .unwrap_or(("https", url.origin.as_str()));
        let client = forward::ClientFacts {
            connecting_ip: flow
                .headers
                .get(convert::CF_CONNECTING_IP_HEADER)
                .and_then(|v| v.to_str().ok()),
            host,
            proto,
        };
        match convert::upstream_headers(&flow.raw_headers, &allowed.token, settings, &client) {
            Ok(headers) => {
                let init =
                    upstream::origin_init(&flow.admitted.method, &headers, flow.body.as_ref());
                let ms = f64::from(settings.origin_timeout_seconds) * 1000.0;
                Some(glue::fetch_with_deadline(&target, &init, ms))
            }
            Err(_) => {
                // The runtime refused its own headers' copy: answer, never forward half of them.
                self.origin_failed(GateError::UpstreamUnreachable);
                None
            }
        }
    }

    /// At `Forward`, with what `forward()`'s promise settled with (README "Forwarding"): the
    /// origin's response passed on with its body stream untouched, or `502`/`504`.
    pub fn relay(&mut self, settled: JsValue) -> Step {
        if self.step != Step::Forward {
            return self.fail();
        }
        let response = match upstream::origin_outcome(settled) {
            Ok(response) => response,
            Err(failure) => {
                return self.origin_failed(match failure {
                    UpstreamFailure::Unreachable => GateError::UpstreamUnreachable,
                    UpstreamFailure::Timeout => GateError::UpstreamTimeout,
                })
            }
        };
        let Some(mut flow) = self.flow.take() else {
            return self.fail();
        };
        let Some((mut allowed, plan)) = flow.allowed.take() else {
            return self.fail();
        };
        allowed.log.status = response.status();
        if matches!(plan, RelayPlan::FilterLists { .. }) && (200..300).contains(&response.status())
        {
            flow.origin_response = Some(response);
            flow.allowed = Some((allowed, plan));
            return self.wait(flow, Step::Filter);
        }
        log(allowed.log, self.started);
        let answer = if allowed.browser_origin == BrowserOrigin::Absent {
            // Nothing to add: hand the origin's response to the runtime as it is.
            Ok(response)
        } else {
            let edits = cors::response_edits(&allowed.browser_origin);
            upstream::with_edits(&response, &edits).ok_or_else(|| {
                worker::Error::RustError("could not relay the upstream's response".into())
            })
        };
        self.finish(answer)
    }
}

impl Exchange {
    fn at(started: u64, step: Step) -> Self {
        Exchange {
            started,
            step,
            answer: None,
            flow: None,
        }
    }

    fn respond(started: u64, answer: worker::Result<web_sys::Response>) -> Self {
        Exchange {
            answer: Some(answer),
            ..Self::at(started, Step::Respond)
        }
    }

    fn finish(&mut self, answer: worker::Result<web_sys::Response>) -> Step {
        self.flow = None;
        self.answer = Some(answer);
        self.step = Step::Respond;
        self.step
    }

    fn refused(&mut self, refusal: pipeline::Refusal) -> Step {
        let answer = refuse(refusal, self.started);
        self.finish(answer)
    }

    /// The request's state, if the exchange is at `step` (a method called at another step
    /// finds none and fails).
    fn take_at(&mut self, step: Step) -> Option<Box<Flow>> {
        if self.step == step {
            self.flow.take()
        } else {
            None
        }
    }

    /// A step called without the state it needs: an error, never a decision.
    fn fail(&mut self) -> Step {
        self.finish(Err(worker::Error::RustError(
            "request steps out of order".into(),
        )))
    }

    fn wait(&mut self, flow: Box<Flow>, step: Step) -> Step {
        self.flow = Some(flow);
        self.step = step;
        step
    }

    /// The keys are settled: check the signature (`Verify`) when a key fits, or conclude now
    /// (a recalled token, or no key fits: the key error).
    fn with_keys(&mut self, mut flow: Box<Flow>) -> Step {
        let (Some(pre), Some(keys)) = (flow.pre.take(), flow.keys.clone()) else {
            return self.fail();
        };
        if pre.signature_job(&keys).is_some() {
            flow.pre = Some(pre);
            return self.wait(flow, Step::Verify);
        }
        self.authorize(flow, pre, &keys, None)
    }

    fn authorize(
        &mut self,
        mut flow: Box<Flow>,
        pre: Prechecked<'static>,
        keys: &KeySet,
        check: Option<&SignatureCheck>,
    ) -> Step {
        let cache = TOKEN_CACHE.with(Rc::clone);
        let settings = Rc::clone(&flow.settings);
        match pipeline::authorize_settled(pre, &settings, keys, check, &cache, now_ms()) {
            Ok(allowed) => {
                // The lists are filtered under the rules the precheck saw.
                let Some(rules) = flow.rules.take() else {
                    return self.fail();
                };
                let plan = pipeline::relay_plan(
                    &allowed,
                    rules.view(settings.require_rules),
                    &flow.admitted.method,
                    &flow.url.path,
                    &settings,
                );
                flow.allowed = Some((allowed, plan));
                self.wait(flow, Step::Forward)
            }
            Err(refusal) => self.refused(*refusal),
        }
    }

    /// The origin call failed (`502`/`504`), with the allowed request's log fields.
    fn origin_failed(&mut self, error: GateError) -> Step {
        let Some((allowed, _)) = self.flow.take().and_then(|mut f| f.allowed.take()) else {
            return self.fail();
        };
        self.refused(pipeline::Refusal {
            error,
            context: ChallengeContext::default(),
            browser_origin: allowed.browser_origin,
            log: allowed.log,
        })
    }
}

fn out_of_order() -> JsValue {
    JsValue::from_str("request steps out of order")
}

thread_local! {
    static INSTANCE_ID: f64 = js_sys::Math::random();
}

/// A number drawn once per wasm instance. After a trap, wasm-bindgen instantiates the module
/// afresh on the next call into it (the build's `--experimental-reset-state-function`); an
/// `Exchange` of the old instance must then never be used again, not even freed: its pointer
/// means nothing in the new memory. The entry module calls this before every step (the call
/// itself carries out a pending re-instantiation) and gives up the request when it changed.
#[wasm_bindgen(js_name = instanceId)]
pub fn instance_id() -> f64 {
    INSTANCE_ID.with(|id| *id)
}

/// At `Read`, when `loadsState`: reads KV `jwks` (when the request carries credentials) and
/// `rules` as they are due, concurrently; the outcome stays in the isolate's caches, where
/// `precheck` finds it.
#[wasm_bindgen(js_name = loadState)]
pub async fn load_state(env: Env, with_keys: bool) {
    let now = now_ms();
    let keys = async {
        if with_keys {
            issuer::current(&env).await;
        }
    };
    futures_util::future::join(keys, state::load_rules(&env, now)).await;
}

/// At `UnknownKid`: refresh the keys if the policy allows, or wait for a refresh in flight
/// (README "Keys").
#[wasm_bindgen(js_name = settleUnknownKid)]
pub async fn settle_unknown_kid(env: Env, kid: Option<String>) {
    if let Ok(settings) = state::settings(&env) {
        issuer::on_unknown_kid(&env, &settings, kid.as_deref()).await;
    }
}

/// At `Filter`: the origin's answer to list requests, filtered (README "Scope-aware lists").
#[wasm_bindgen(js_name = relayFiltered)]
pub async fn relay_filtered(exchange: Exchange) -> Result<web_sys::Response, JsValue> {
    let started = exchange.started;
    let (Step::Filter, Some(mut flow)) = (exchange.step, exchange.flow) else {
        return Err(out_of_order());
    };
    let (Some(response), Some((allowed, RelayPlan::FilterLists { requests, policy }))) =
        (flow.origin_response.take(), flow.allowed.take())
    else {
        return Err(out_of_order());
    };
    let cors = cors::response_edits(&allowed.browser_origin);
    match relay::filtered(response, requests, policy, cors, allowed.log, started).await? {
        relay::Relayed::Response(response) => Ok(response),
        relay::Relayed::Invalid(error, line) => Ok(refuse(
            pipeline::Refusal {
                error,
                context: ChallengeContext::default(),
                browser_origin: allowed.browser_origin,
                log: *line,
            },
            started,
        )?),
    }
}
