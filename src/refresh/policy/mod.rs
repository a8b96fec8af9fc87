//! Per-isolate refresh policy: the refresh throttle (cooldown, single flight, negative memory of
//! unknown `kid`s, freshness), the key cache with its stale-on-error rules, and the `/healthz`
//! report. Pure state machines: the adapter keeps one [`RefreshThrottle`] and one [`KeyCache`]
//! per isolate and passes the time in.
//!
//! Bounds (README): cooldown [`REFRESH_COOLDOWN_MS`] = 30 s; abandoned flight after
//! [`IN_FLIGHT_TIMEOUT_MS`] = 15 s; negative memory [`NEGATIVE_KID_CAPACITY`] = 256 `kid`s for
//! [`NEGATIVE_KID_TTL_MS`] = 5 min, oldest evicted first; KV re-read every
//! [`KV_RELOAD_INTERVAL_MS`] = 30 s.

mod health;
mod key_cache;
mod mirror;
mod negative;
mod throttle;

pub use health::{key_health, KeyHealth, LastRefreshReport};
pub use key_cache::{KeyCache, KeySource, KvApplied, KvRead, KV_RELOAD_INTERVAL_MS};
pub use mirror::{MirrorMemory, MIRROR_MEMORY_MS};

/// A JWK Set document of P-256 keys with these `kid`s (test keys: fixed coordinates).
#[cfg(test)]
fn test_key_set_json(kids: &[&str]) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let keys: Vec<_> = kids
        .iter()
        .map(|kid| {
            serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid,
                "x": Base64UrlUnpadded::encode_string(&[1; 32]),
                "y": Base64UrlUnpadded::encode_string(&[2; 32])})
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}
pub use negative::NegativeKids;
pub use throttle::{
    LastRefresh, RefreshOutcome, RefreshResult, RefreshThrottle, RefreshTicket, RefreshTrigger,
    UnknownKidDecision, IN_FLIGHT_TIMEOUT_MS, MAX_REMEMBERED_KID_BYTES, NEGATIVE_KID_CAPACITY,
    NEGATIVE_KID_TTL_MS, REFRESH_COOLDOWN_MS,
};
