//! What comes from the issuers into the Worker: the key set (KV reads, refreshes from the JWKS URI
//! on an unknown `kid`, stale keys, cron) and the authorization server metadata mirror. The
//! decisions (cooldown, single flight, negative `kid` memory, stale-on-error, what to write,
//! the mirror's memory and rate limit) are the core's (`crate::refresh`);
//! this file only performs the I/O they ask for.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use url::Url;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, Delay, Env};

use super::state::{kv_get, kv_put, now_ms};
use super::upstream::{fetch_with_deadline, read_limited, FetchError, ReadError};
use crate::refresh::as_metadata::{self, MAX_AS_METADATA_BYTES};
use crate::refresh::discovery::{JwksLocation, ResolvedJwksUri};
use crate::refresh::fetch::FETCH_TIMEOUT_MS;
use crate::refresh::jwks::{self, MAX_JWKS_BYTES};
use crate::refresh::policy::{
    key_health, KeyCache, KeyHealth, KvApplied, KvRead, MirrorMemory, RefreshOutcome,
    RefreshThrottle, RefreshTicket, UnknownKidDecision,
};
use crate::refresh::run::fetch_keys;
use crate::refresh::{FetchFailure, FetchedResponse, RefreshError};
use crate::settings::Settings;
use crate::token::KeySet;

/// KV key of the JWK Set.
pub const JWKS_KEY: &str = "jwks";
/// KV key of the mirrored AS metadata.
pub const AS_METADATA_KEY: &str = "as-metadata";
/// How often a waiting request checks whether the in-flight refresh finished.
const WAIT_POLL_MS: u64 = 25;

#[derive(Default)]
struct KeyState {
    cache: KeyCache,
    throttle: RefreshThrottle,
    resolved: Option<ResolvedJwksUri>,
}

thread_local! {
    static KEYS: RefCell<KeyState> = RefCell::new(KeyState::default());
}

fn log_json(value: serde_json::Value) {
    console_log!("{value}");
}

/// Whether keys are fetched at all (`JWKS_URI` is not `off`).
fn refreshes(settings: &Settings) -> bool {
    match settings.jwks_location {
        JwksLocation::Fixed(_) | JwksLocation::Discover(_) => true,
        JwksLocation::Off => false,
    }
}

/// GET with a timeout and a body limit, for metadata and key sets (redirects followed).
pub(super) async fn http_get(url: Url, limit: usize) -> Result<FetchedResponse, FetchFailure> {
    let network = |e: JsValue| FetchFailure::Network(format!("{e:?}"));
    let headers = web_sys::Headers::new().map_err(network)?;
    headers.set("accept", "application/json").map_err(network)?;
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers);
    let deadline = Duration::from_millis(FETCH_TIMEOUT_MS);
    let response = fetch_with_deadline(url.as_str(), &init, deadline)
        .await
        .map_err(|e| match e {
            FetchError::Failed(message) => FetchFailure::Network(message),
            FetchError::TimedOut => FetchFailure::Timeout,
        })?;
    let body = read_limited(&response, limit).await.map_err(|e| match e {
        ReadError::TooLarge => FetchFailure::TooLarge { limit },
        ReadError::Failed(message) => FetchFailure::Network(message),
    })?;
    let header = |name: &str| response.headers().get(name).ok().flatten();
    Ok(FetchedResponse {
        status: response.status(),
        cache_control: header("cache-control"),
        body,
    })
}

/// Whether [`current`] would read KV now (the entry module then awaits it before the
/// request's decision; otherwise [`keys_now`] is what it would return).
pub fn kv_due(now: u64) -> bool {
    KEYS.with(|k| k.borrow().cache.kv_reload_due(now))
}

/// The keys in use, without I/O (empty when there are none).
pub fn keys_now() -> Arc<KeySet> {
    KEYS.with(|k| k.borrow().cache.keys().cloned().unwrap_or_default())
}

/// Re-reads KV `jwks` when due and returns the keys in use (empty when there are none).
pub async fn current(env: &Env) -> Arc<KeySet> {
    let now = now_ms();
    if kv_due(now) {
        let read = kv_get(env, JWKS_KEY).await;
        let applied = KEYS.with(|k| {
            let mut k = k.borrow_mut();
            match &read {
                Ok(Some(bytes)) => k.cache.apply_kv(KvRead::Value(bytes), now),
                Ok(None) => k.cache.apply_kv(KvRead::Missing, now),
                Err(_) => k.cache.apply_kv(KvRead::Failed, now),
            }
        });
        match (&read, applied) {
            (_, KvApplied::Loaded { key_count, skipped }) => {
                for s in skipped {
                    log_json(
                        serde_json::json!({"event": "jwk_skipped", "index": s.index, "kid": s.kid,
                        "reason": s.reason.to_string()}),
                    );
                }
                log_json(
                    serde_json::json!({"event": "jwks_loaded", "source": "kv", "keys": key_count}),
                );
            }
            (Err(e), _) => console_error!(
                "{}",
                serde_json::json!({"event": "kv_read_failed", "key": JWKS_KEY, "error": e})
            ),
            (_, KvApplied::KeptAfterInvalid(e)) => {
                console_error!(
                    "{}",
                    serde_json::json!({"event": "jwks_invalid", "source": "kv", "error": e.to_string()})
                );
            }
            _ => {}
        }
    }
    keys_now()
}

/// Starts a background refresh when the fetched keys' `Cache-Control` lifetime ran out.
pub fn refresh_if_stale(settings: &Settings, ctx: &worker::Context, env: &Env) {
    if !refreshes(settings) {
        return;
    }
    let ticket = KEYS.with(|k| k.borrow_mut().throttle.begin_if_stale(now_ms()));
    if let Some(ticket) = ticket {
        let env = env.clone();
        let settings = settings.clone();
        ctx.wait_until(async move { refresh(&env, &settings, ticket).await });
    }
}

/// The token's `kid` is unknown (or no key fits a `kid`-less token): refresh if the policy
/// allows, wait for a refresh already in flight, or give up at once.
pub async fn on_unknown_kid(env: &Env, settings: &Settings, kid: Option<&str>) -> Arc<KeySet> {
    if refreshes(settings) {
        settle_unknown_kid(
            |now| KEYS.with(|k| k.borrow_mut().throttle.on_unknown_kid(kid, now)),
            |now| KEYS.with(|k| k.borrow().throttle.in_flight(now)),
            |ticket| refresh(env, settings, ticket),
        )
        .await;
    }
    keys_now()
}

/// Carries out a [`RefreshThrottle`]'s answer to an unknown `kid`: runs `refresh` with the
/// ticket when a refresh is due, waits for one already in flight (single flight, polling up to
/// three fetch timeouts), or gives up at once. Shared by the `jwks` key set and the login
/// bridge's Access key set, each with its own throttle.
pub(super) async fn settle_unknown_kid<Fut: std::future::Future<Output = ()>>(
    mut decide: impl FnMut(u64) -> UnknownKidDecision,
    in_flight: impl Fn(u64) -> bool,
    refresh: impl FnOnce(RefreshTicket) -> Fut,
) {
    let deadline = now_ms() + FETCH_TIMEOUT_MS * 3;
    loop {
        match decide(now_ms()) {
            UnknownKidDecision::RefreshNow(ticket) => return refresh(ticket).await,
            UnknownKidDecision::WaitForInFlight if now_ms() < deadline => {
                // Single flight: wait for the running refresh, then look again.
                Delay::from(Duration::from_millis(WAIT_POLL_MS)).await;
                if !in_flight(now_ms()) {
                    return;
                }
            }
            UnknownKidDecision::WaitForInFlight
            | UnknownKidDecision::CoolingDown { .. }
            | UnknownKidDecision::RecentlyUnknown => return,
        }
    }
}

/// One refresh with a ticket: fetch, validate, write KV only when changed, install.
pub async fn refresh(env: &Env, settings: &Settings, ticket: RefreshTicket) {
    if !refreshes(settings) {
        KEYS.with(|k| {
            k.borrow_mut().throttle.finish(
                ticket,
                now_ms(),
                RefreshOutcome::Failed(&RefreshError::Disabled),
            )
        });
        return;
    }
    let cached = KEYS.with(|k| k.borrow().resolved.clone());
    let mut fetch = |url: Url| http_get(url, MAX_JWKS_BYTES);
    let (resolved, result) =
        fetch_keys(&settings.jwks_location, cached, &mut fetch, now_ms()).await;
    KEYS.with(|k| k.borrow_mut().resolved = resolved);
    match result {
        Ok(fetched) => {
            let current = kv_get(env, JWKS_KEY).await.ok().flatten();
            let changed = jwks::needs_write(current.as_deref(), &fetched.keys);
            if changed {
                if let Err(e) =
                    kv_put(env, JWKS_KEY, fetched.keys.canonical_json().as_bytes()).await
                {
                    console_error!(
                        "{}",
                        serde_json::json!({"event": "kv_write_failed", "key": JWKS_KEY, "error": e})
                    );
                }
            }
            for s in fetched.keys.skipped() {
                log_json(
                    serde_json::json!({"event": "jwk_skipped", "index": s.index, "kid": s.kid,
                    "reason": s.reason.to_string()}),
                );
            }
            log_json(
                serde_json::json!({"event": "jwks_refreshed", "trigger": ticket.trigger(),
                "keys": fetched.keys.set().len(), "changed": changed, "source": crate::refresh::fetch::loggable(&fetched.source)}),
            );
            let now = now_ms();
            KEYS.with(|k| {
                let mut k = k.borrow_mut();
                k.cache.install_fetched(&fetched, now);
                k.throttle
                    .finish(ticket, now, RefreshOutcome::fetched(&fetched, changed));
            });
        }
        Err(e) => {
            console_error!(
                "{}",
                serde_json::json!({"event": "jwks_refresh_failed", "trigger": ticket.trigger(),
                "error": e.to_string(), "action": "keeping the keys in use"})
            );
            KEYS.with(|k| {
                k.borrow_mut()
                    .throttle
                    .finish(ticket, now_ms(), RefreshOutcome::Failed(&e))
            });
        }
    }
}

/// The Cron Trigger: refresh keys and the AS metadata mirror.
pub async fn scheduled(env: &Env, settings: &Settings) {
    let _ = current(env).await;
    if refreshes(settings) {
        let ticket = KEYS.with(|k| k.borrow_mut().throttle.begin_scheduled(now_ms()));
        if let Some(ticket) = ticket {
            refresh(env, settings, ticket).await;
        }
    }
    if settings.as_metadata_url.is_some() {
        let _ = refresh_as_metadata(env, settings).await;
    }
}

/// Fetches `AS_METADATA_URL`, validates it and writes `as-metadata` when it changed.
pub async fn refresh_as_metadata(env: &Env, settings: &Settings) -> Option<Vec<u8>> {
    let setting = settings.as_metadata_url.as_deref()?;
    let result = match as_metadata::metadata_url(setting) {
        Ok(url) => {
            let mut fetch = |url: Url| http_get(url, MAX_AS_METADATA_BYTES);
            as_metadata::fetch_as_metadata(&url, &mut fetch).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(mirrored) => {
            let current = kv_get(env, AS_METADATA_KEY).await.ok().flatten();
            if as_metadata::needs_write(current.as_deref(), &mirrored) {
                if let Err(e) = kv_put(env, AS_METADATA_KEY, mirrored.bytes()).await {
                    console_error!(
                        "{}",
                        serde_json::json!({"event": "kv_write_failed", "key": AS_METADATA_KEY, "error": e})
                    );
                }
            }
            log_json(
                serde_json::json!({"event": "as_metadata_refreshed", "issuer": mirrored.issuer()}),
            );
            Some(mirrored.bytes().to_vec())
        }
        Err(e) => {
            console_error!(
                "{}",
                serde_json::json!({"event": "as_metadata_refresh_failed", "error": e.to_string()})
            );
            None
        }
    }
}

thread_local! {
    static AS_METADATA: RefCell<MirrorMemory> = RefCell::new(MirrorMemory::default());
}

/// The mirrored AS metadata: isolate memory (30 s), then KV, then — at most once per 30 s per
/// isolate — a live fetch (the core's [`MirrorMemory`] decides; this reads KV and fetches).
pub async fn as_metadata_document(env: &Env, settings: &Settings) -> Option<Vec<u8>> {
    let now = now_ms();
    if let Some(doc) = AS_METADATA.with(|m| m.borrow().fresh(now).map(<[u8]>::to_vec)) {
        return Some(doc);
    }
    let doc = match kv_get(env, AS_METADATA_KEY).await {
        Ok(Some(doc)) => Some(doc),
        Ok(None) | Err(_) => {
            if AS_METADATA.with(|m| m.borrow_mut().take_live_fetch(now)) {
                refresh_as_metadata(env, settings).await
            } else {
                None
            }
        }
    };
    AS_METADATA.with(|m| {
        let mut m = m.borrow_mut();
        match doc {
            Some(doc) => {
                m.remember(doc.clone(), now);
                Some(doc)
            }
            // Stale-on-error: a document this isolate served before is better than none.
            None => m.stale().map(<[u8]>::to_vec),
        }
    })
}

/// Key health for `/healthz`.
pub async fn health(env: &Env) -> KeyHealth {
    let _ = current(env).await;
    KEYS.with(|k| {
        let k = k.borrow();
        key_health(&k.cache, &k.throttle, now_ms())
    })
}
