//! Per-isolate state: settings (parsed once) and the rules (read from KV at most once per
//! [`KV_REFRESH_MS`], kept in memory between), with README "Workers KV"'s never-widen semantics.
//! Keys live in [`super::keys`].
//!
//! Nothing here holds a `RefCell` borrow across an `.await`: values are `Rc`-cloned out.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use worker::{console_error, Env};

use crate::rules::RuleSet;
use crate::settings::{Settings, SettingsError};

/// KV binding name (README "Workers KV").
pub const KV_BINDING: &str = "GATE_KV";
/// KV key of the rules document.
pub const RULES_KEY: &str = "rules";
/// How long an isolate trusts its in-memory key set and rules before reading KV again.
/// Changes written to KV therefore take effect within KV's propagation time plus this.
pub const KV_REFRESH_MS: u64 = 30_000;

/// The rules as this isolate knows them.
#[derive(Debug, Clone, Default)]
pub enum RulesSlot {
    /// Never read yet.
    #[default]
    Unknown,
    /// No document in KV, and none was ever loaded by this isolate.
    Absent,
    /// The last valid document.
    Loaded(Rc<RuleSet>),
    /// Invalid (or deleted after a load) with no earlier valid document.
    Unusable,
}

/// Everything the isolate keeps between requests.
#[derive(Default)]
struct Isolate {
    settings: Option<Result<Rc<Settings>, SettingsError>>,
    rules: RulesSlot,
    rules_loaded_at: Option<u64>,
    rules_checked_at: Option<u64>,
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

fn due(checked_at: Option<u64>, now: u64) -> bool {
    checked_at.is_none_or(|t| now.saturating_sub(t) >= KV_REFRESH_MS || now < t)
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

/// Reads the rules from KV when due, applying README "Workers KV": an invalid document, or one deleted
/// after a valid one was loaded, never opens the gate.
pub async fn load_rules(env: &Env, now: u64) -> RulesSlot {
    let checked = ISOLATE.with(|i| i.borrow().rules_checked_at);
    if due(checked, now) {
        ISOLATE.with(|i| i.borrow_mut().rules_checked_at = Some(now));
        let read = kv_get(env, RULES_KEY).await;
        let next = ISOLATE.with(|i| {
            let current = i.borrow().rules.clone();
            match read {
                Ok(Some(bytes)) => match std::str::from_utf8(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|text| RuleSet::parse(text).map_err(|e| e.to_string()))
                {
                    Ok(set) => Some((RulesSlot::Loaded(Rc::new(set)), true)),
                    Err(e) => {
                        console_error!(
                            "{}",
                            serde_json::json!({"event": "rules_invalid", "error": e.to_string()})
                        );
                        match current {
                            RulesSlot::Loaded(_) => None,
                            RulesSlot::Unknown | RulesSlot::Absent | RulesSlot::Unusable => {
                                Some((RulesSlot::Unusable, false))
                            }
                        }
                    }
                },
                Ok(None) => match current {
                    RulesSlot::Unknown | RulesSlot::Absent => Some((RulesSlot::Absent, false)),
                    RulesSlot::Loaded(_) | RulesSlot::Unusable => {
                        console_error!(
                            "{}",
                            serde_json::json!({"event": "rules_missing_after_load",
                            "action": "keeping the last valid rules"})
                        );
                        None
                    }
                },
                Err(e) => {
                    console_error!(
                        "{}",
                        serde_json::json!({"event": "kv_read_failed", "key": RULES_KEY, "error": e})
                    );
                    match current {
                        // A first read that fails must not mean "authenticated mode".
                        RulesSlot::Unknown => Some((RulesSlot::Unusable, false)),
                        RulesSlot::Absent | RulesSlot::Loaded(_) | RulesSlot::Unusable => None,
                    }
                }
            }
        });
        if let Some((slot, loaded)) = next {
            ISOLATE.with(|i| {
                let mut i = i.borrow_mut();
                i.rules = slot;
                if loaded {
                    i.rules_loaded_at = Some(now);
                }
            });
        }
    }
    ISOLATE.with(|i| i.borrow().rules.clone())
}

/// Non-secret rules state for `/healthz`.
pub struct RulesSnapshot {
    /// Rules version, when loaded.
    pub rules_version: Option<u64>,
    /// Rules state name.
    pub rules_state: &'static str,
    /// Age of the rules in seconds.
    pub rules_age_seconds: Option<u64>,
}

/// Current rules state for `/healthz`.
pub fn rules_snapshot(now: u64) -> RulesSnapshot {
    ISOLATE.with(|i| {
        let i = i.borrow();
        let age = |t: Option<u64>| t.map(|t| now.saturating_sub(t) / 1000);
        let (rules_version, rules_state) = match &i.rules {
            RulesSlot::Unknown => (None, "unknown"),
            RulesSlot::Absent => (None, "absent"),
            RulesSlot::Loaded(set) => (set.version(), "loaded"),
            RulesSlot::Unusable => (None, "unusable"),
        };
        RulesSnapshot {
            rules_version,
            rules_state,
            rules_age_seconds: age(i.rules_loaded_at),
        }
    })
}
