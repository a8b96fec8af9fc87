//! Per-isolate state: settings (parsed once) and the rules cache (the core's
//! [`RulesCache`]: when to read KV, what a read changes, never widening). This file only reads
//! KV and logs. Keys live in [`super::issuer`].

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use worker::{console_error, Env};

use crate::rules::{RulesCache, RulesEvent, RulesRead, RulesSlot, RulesSnapshot};
use crate::settings::bridge::Bridge;
use crate::settings::{Settings, SettingsError};

/// KV binding name (README "Workers KV").
pub const KV_BINDING: &str = "GATE_KV";
/// KV key of the rules document.
pub const RULES_KEY: &str = "rules";
/// Everything the isolate keeps between requests.
#[derive(Default)]
struct Isolate {
    settings: Option<Result<Rc<Settings>, SettingsError>>,
    bridge: Option<Rc<Bridge>>,
    rules: RulesCache,
}

thread_local! {
    static ISOLATE: RefCell<Isolate> = RefCell::new(Isolate::default());
}

/// A setting's text: a `[vars]` entry or a secret, both properties of `env`.
///
/// Read with one property lookup, not `worker`'s `Env::var`/`Env::secret`, whose type check
/// and error path (a formatted message per unset setting, for each of the two) cost the
/// first request of every isolate milliseconds. A TOML number or boolean in `[vars]` (the
/// runtime hands those over as JSON values) reads as its text, `60` as `"60"`. Any other
/// non-string value (a TOML array or table) reads as its JSON text, never as unset: a setting
/// that must be a URL, a number, a flag, an algorithm or an origin then fails validation (and
/// is named in the 500), and a list or free-text setting gets one odd entry that matches
/// nothing, so no setting can open the gate this way.
fn lookup(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if value.is_undefined() || value.is_null() {
        return None;
    }
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    if let Some(flag) = value.as_bool() {
        return Some(flag.to_string());
    }
    js_sys::JSON::stringify(&value).ok()?.as_string()
}

/// The settings, validated at the first request of the isolate (and logged once if invalid).
pub fn settings(env: &Env) -> Result<Rc<Settings>, SettingsError> {
    if let Some(parsed) = ISOLATE.with(|i| i.borrow().settings.clone()) {
        return parsed;
    }
    let parsed = Settings::from_lookup(|name| lookup(env, name)).map(Rc::new);
    if let Err(e) = &parsed {
        console_error!(
            "{}",
            serde_json::json!({"event": "settings_invalid", "error": e.to_string()})
        );
    }
    ISOLATE.with(|i| i.borrow_mut().settings = Some(parsed.clone()));
    parsed
}

/// The login bridge's settings, parsed at the first request of the isolate (and logged once
/// if the bridge is asked for but misconfigured).
pub fn bridge(env: &Env) -> Rc<Bridge> {
    if let Some(parsed) = ISOLATE.with(|i| i.borrow().bridge.clone()) {
        return parsed;
    }
    let parsed = Rc::new(Bridge::from_lookup(|name| lookup(env, name)));
    if let Bridge::Misconfigured { error, path } = parsed.as_ref() {
        console_error!(
            "{}",
            serde_json::json!({"event": "bridge_settings_invalid", "error": error.to_string(), "login_path": path})
        );
    }
    ISOLATE.with(|i| i.borrow_mut().bridge = Some(parsed.clone()));
    parsed
}

/// The clock in Unix milliseconds: `Date.now()` (no `Date` object allocated). The one clock of
/// the adapter; the core only ever receives its readings.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Reads a KV key as bytes (`Ok(None)`: no such key).
pub async fn kv_get(env: &Env, key: &str) -> Result<Option<Vec<u8>>, String> {
    let kv = env.kv(KV_BINDING).map_err(|e| e.to_string())?;
    kv.get(key).bytes().await.map_err(|e| e.to_string())
}

/// Writes a KV key.
pub async fn kv_put(env: &Env, key: &str, value: &[u8]) -> Result<(), String> {
    let kv = env.kv(KV_BINDING).map_err(|e| e.to_string())?;
    kv.put_bytes(key, value)
        .map_err(|e| e.to_string())?
        .execute()
        .await
        .map_err(|e| e.to_string())
}

/// Reads the rules from KV when due and hands the outcome to the core's cache (README
/// "Workers KV": never widen).
pub async fn load_rules(env: &Env, now: u64) -> RulesSlot {
    let due = ISOLATE.with(|i| {
        let mut i = i.borrow_mut();
        let due = i.rules.due(now);
        if due {
            i.rules.begin_read(now);
        }
        due
    });
    if due {
        let read = kv_get(env, RULES_KEY).await;
        let outcome = match &read {
            Ok(Some(bytes)) => RulesRead::Found(bytes),
            Ok(None) => RulesRead::NoKey,
            Err(e) => RulesRead::Failed(e),
        };
        let event = ISOLATE.with(|i| i.borrow_mut().rules.apply(outcome, now));
        match event {
            None => {}
            Some(RulesEvent::Invalid(error)) => console_error!(
                "{}",
                serde_json::json!({"event": "rules_invalid", "error": error})
            ),
            Some(RulesEvent::MissingAfterLoad) => console_error!(
                "{}",
                serde_json::json!({"event": "rules_missing_after_load",
                "action": "keeping the last valid rules"})
            ),
            Some(RulesEvent::ReadFailed(error)) => console_error!(
                "{}",
                serde_json::json!({"event": "kv_read_failed", "key": RULES_KEY, "error": error})
            ),
        }
    }
    rules_slot()
}

/// Whether [`load_rules`] would read KV now (the entry module then awaits it before the
/// request's decision; otherwise [`rules_slot`] is what it would return).
pub fn rules_due(now: u64) -> bool {
    ISOLATE.with(|i| i.borrow().rules.due(now))
}

/// The rules in use, without I/O.
pub fn rules_slot() -> RulesSlot {
    ISOLATE.with(|i| i.borrow().rules.slot().clone())
}

/// Current rules state for `/healthz`.
pub fn rules_snapshot(now: u64) -> RulesSnapshot {
    ISOLATE.with(|i| i.borrow().rules.snapshot(now))
}
