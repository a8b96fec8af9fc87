//! Per-isolate refresh policy: the refresh gate (cooldown, single flight, negative memory of
//! unknown `kid`s, freshness), the key cache with its stale-on-error rules, and the `/healthz`
//! report. Pure state machines: the adapter keeps one [`RefreshGate`] and one [`KeyCache`]
//! per isolate and passes the time in.
//!
//! Bounds (README): cooldown [`REFRESH_COOLDOWN_MS`] = 30 s; abandoned flight after
//! [`IN_FLIGHT_TIMEOUT_MS`] = 15 s; negative memory [`NEGATIVE_KID_CAPACITY`] = 256 `kid`s for
//! [`NEGATIVE_KID_TTL_MS`] = 5 min, oldest evicted first; KV re-read every
//! [`KV_RELOAD_INTERVAL_MS`] = 30 s.

mod gate;
mod health;
mod keys;
mod mirror;
mod negative;

pub use gate::{
    LastRefresh, RefreshGate, RefreshOutcome, RefreshResult, RefreshTicket, RefreshTrigger,
    UnknownKidDecision, IN_FLIGHT_TIMEOUT_MS, MAX_REMEMBERED_KID_BYTES, NEGATIVE_KID_CAPACITY,
    NEGATIVE_KID_TTL_MS, REFRESH_COOLDOWN_MS,
};
pub use health::{key_health, KeyHealth, LastRefreshReport};
pub use keys::{KeyCache, KeySource, KvApplied, KvRead, KV_RELOAD_INTERVAL_MS};
pub use mirror::{MirrorMemory, MIRROR_MEMORY_MS};
pub use negative::NegativeKids;
