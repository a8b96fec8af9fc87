//! The isolate's copy of the key set and its stale-on-error rules.
//!
//! The isolate keeps the keys it last loaded from KV key `jwks` or fetched itself, and re-reads
//! KV every [`KV_RELOAD_INTERVAL_MS`] (so a change written to KV reaches every isolate within
//! KV propagation time, up to about 60 s, plus this interval). What each observation does:
//!
//! | observation | effect |
//! |---|---|
//! | KV read failed | keep the keys (stale-on-error) |
//! | KV value unchanged since the last read | nothing (not even re-parsed) |
//! | KV value changed and parses as a JWK Set | replace the keys (even with fewer: that is how a key is revoked) |
//! | KV value changed and does not parse | keep the keys, report the problem |
//! | KV key changed to missing | drop the keys: README "Workers KV" "a missing `jwks` means no token can be valid" (the next unknown `kid` then triggers a refresh when one is configured) |
//! | refresh fetched a valid set | replace the keys |
//! | refresh failed | nothing |
//!
//! "Changed" compares a SHA-256 of the raw KV bytes with the last observation, so a stale KV
//! read that still shows the value from before this isolate's own refresh (KV is eventually
//! consistent) does not undo the refresh, and the isolate's own write, once visible, is
//! recognised as the keys it already has.

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::refresh::jwks::FetchedKeySet;
use crate::token::keyset::{KeySet, KeySetError, SkippedKey};

/// How often an isolate re-reads KV key `jwks`: 30 s (the same period the adapter uses for
/// `rules`, so the README states one bound).
pub const KV_RELOAD_INTERVAL_MS: u64 = 30_000;

/// One read of KV key `jwks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvRead<'a> {
    /// The value's bytes.
    Value(&'a [u8]),
    /// The key does not exist.
    Missing,
    /// The read failed (KV error, timeout).
    Failed,
}

/// Where the keys in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// KV key `jwks`.
    Kv,
    /// Fetched by this isolate from the JWKS URI.
    Fetched,
}

/// What a KV observation did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvApplied {
    /// New keys from KV are in use.
    Loaded {
        /// Usable keys.
        key_count: usize,
        /// Skipped keys (log them).
        skipped: Vec<SkippedKey>,
    },
    /// Same value as last time; nothing changed.
    Unchanged,
    /// The key was deleted: no keys are in use now.
    Cleared,
    /// The read failed; the previous keys stay.
    KeptAfterReadFailure,
    /// The value does not parse; the previous keys stay.
    KeptAfterInvalid(KeySetError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Missing,
    Value([u8; 32]),
}

#[derive(Debug, Clone)]
struct Current {
    keys: Arc<KeySet>,
    since_ms: u64,
    source: KeySource,
}

/// The isolate's key set. See the module documentation for the rules.
#[derive(Debug, Clone, Default)]
pub struct KeyCache {
    current: Option<Current>,
    kv_seen: Option<Seen>,
    kv_checked_at_ms: Option<u64>,
    kv_problem: Option<String>,
    fetched_digest: Option<[u8; 32]>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl KeyCache {
    /// An empty cache (nothing loaded yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys in use, if any. Cheap to clone and hold across an `await`.
    pub fn keys(&self) -> Option<&Arc<KeySet>> {
        self.current.as_ref().map(|c| &c.keys)
    }

    /// Usable keys in use.
    pub fn key_count(&self) -> usize {
        self.current.as_ref().map_or(0, |c| c.keys.len())
    }

    /// Where the keys in use came from.
    pub fn source(&self) -> Option<KeySource> {
        self.current.as_ref().map(|c| c.source)
    }

    /// Since when (Unix ms) the keys in use are in use.
    pub fn since_ms(&self) -> Option<u64> {
        self.current.as_ref().map(|c| c.since_ms)
    }

    /// When KV was last read (Unix ms), successfully or not.
    pub fn kv_checked_at_ms(&self) -> Option<u64> {
        self.kv_checked_at_ms
    }

    /// Why the last KV value could not be used, while that is the case.
    pub fn kv_problem(&self) -> Option<&str> {
        self.kv_problem.as_deref()
    }

    /// Whether KV should be read now: never read, or read [`KV_RELOAD_INTERVAL_MS`] ago.
    pub fn kv_reload_due(&self, now_ms: u64) -> bool {
        self.kv_checked_at_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= KV_RELOAD_INTERVAL_MS || now_ms < at)
    }

    /// Applies one read of KV key `jwks`.
    pub fn apply_kv(&mut self, read: KvRead<'_>, now_ms: u64) -> KvApplied {
        self.kv_checked_at_ms = Some(now_ms);
        let seen = match read {
            KvRead::Failed => return KvApplied::KeptAfterReadFailure,
            KvRead::Missing => Seen::Missing,
            KvRead::Value(bytes) => Seen::Value(digest(bytes)),
        };
        if self.kv_seen == Some(seen) {
            return KvApplied::Unchanged;
        }
        self.kv_seen = Some(seen);
        match read {
            KvRead::Failed => KvApplied::KeptAfterReadFailure,
            KvRead::Missing => {
                self.current = None;
                self.kv_problem = None;
                KvApplied::Cleared
            }
            KvRead::Value(bytes) => {
                if let (Seen::Value(d), Some(fetched)) = (seen, self.fetched_digest) {
                    if d == fetched && self.current.is_some() {
                        // This isolate's own write became visible: the same keys.
                        self.kv_problem = None;
                        return KvApplied::Unchanged;
                    }
                }
                match KeySet::parse(bytes) {
                    Ok(parsed) => {
                        let key_count = parsed.set.len();
                        self.current = Some(Current {
                            keys: Arc::new(parsed.set),
                            since_ms: now_ms,
                            source: KeySource::Kv,
                        });
                        self.fetched_digest = None;
                        self.kv_problem =
                            (key_count == 0).then(|| "KV key `jwks` has no usable key".to_owned());
                        KvApplied::Loaded {
                            key_count,
                            skipped: parsed.skipped,
                        }
                    }
                    Err(err) => {
                        self.kv_problem = Some(format!("KV key `jwks` is unusable: {err}"));
                        KvApplied::KeptAfterInvalid(err)
                    }
                }
            }
        }
    }

    /// Installs keys this isolate fetched (and wrote to KV in canonical form if they changed).
    pub fn install_fetched(&mut self, fetched: &FetchedKeySet, now_ms: u64) {
        self.fetched_digest = Some(digest(fetched.keys.canonical_json().as_bytes()));
        self.current = Some(Current {
            keys: Arc::new(fetched.keys.set().clone()),
            since_ms: now_ms,
            source: KeySource::Fetched,
        });
        self.kv_problem = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::jwks::validate_key_set;
    use url::Url;

    fn doc(kids: &[&str]) -> Vec<u8> {
        super::super::test_key_set_json(kids).into_bytes()
    }

    fn fetched(kids: &[&str]) -> FetchedKeySet {
        FetchedKeySet {
            keys: validate_key_set(&doc(kids)).unwrap(),
            source: Url::parse("https://as.example.com/keys").unwrap(),
            fetched_at_ms: 0,
            lifetime_secs: 900,
        }
    }

    fn has(cache: &KeyCache, kid: &str) -> bool {
        cache.keys().is_some_and(|k| k.has_kid(kid))
    }

    #[test]
    fn kv_loads_replace_and_unchanged_values_are_not_reparsed() {
        let mut cache = KeyCache::new();
        assert!(cache.kv_reload_due(0));
        let a = doc(&["a"]);
        assert!(matches!(
            cache.apply_kv(KvRead::Value(&a), 0),
            KvApplied::Loaded { key_count: 1, .. }
        ));
        assert_eq!(cache.source(), Some(KeySource::Kv));
        assert!(!cache.kv_reload_due(KV_RELOAD_INTERVAL_MS - 1));
        assert!(cache.kv_reload_due(KV_RELOAD_INTERVAL_MS));
        assert_eq!(cache.apply_kv(KvRead::Value(&a), 1), KvApplied::Unchanged);
        assert_eq!(cache.since_ms(), Some(0));
        let b = doc(&["b"]);
        cache.apply_kv(KvRead::Value(&b), 2);
        assert!(
            has(&cache, "b") && !has(&cache, "a"),
            "a removed key is revoked"
        );
    }

    #[test]
    fn failures_and_invalid_values_never_drop_keys() {
        let mut cache = KeyCache::new();
        cache.apply_kv(KvRead::Value(&doc(&["a"])), 0);
        assert_eq!(
            cache.apply_kv(KvRead::Failed, 1),
            KvApplied::KeptAfterReadFailure
        );
        assert!(has(&cache, "a"));
        assert!(matches!(
            cache.apply_kv(KvRead::Value(b"{oops"), 2),
            KvApplied::KeptAfterInvalid(KeySetError::NotJson(_))
        ));
        assert!(has(&cache, "a"));
        assert!(cache.kv_problem().unwrap().contains("unusable"));
        cache.apply_kv(KvRead::Value(&doc(&["c"])), 3);
        assert!(cache.kv_problem().is_none());
    }

    #[test]
    fn a_deleted_key_set_clears_the_keys() {
        let mut cache = KeyCache::new();
        cache.apply_kv(KvRead::Value(&doc(&["a"])), 0);
        assert_eq!(cache.apply_kv(KvRead::Missing, 1), KvApplied::Cleared);
        assert!(cache.keys().is_none());
        assert_eq!(cache.apply_kv(KvRead::Missing, 2), KvApplied::Unchanged);
    }

    #[test]
    fn own_refresh_survives_stale_kv_reads_and_is_recognised_when_visible() {
        let mut cache = KeyCache::new();
        // Start: KV empty. A token's kid triggers a refresh, which installs and writes keys.
        assert_eq!(cache.apply_kv(KvRead::Missing, 0), KvApplied::Cleared);
        let f = fetched(&["new"]);
        cache.install_fetched(&f, 10);
        // KV still shows the old state for a while: the fetched keys stay.
        assert_eq!(cache.apply_kv(KvRead::Missing, 20), KvApplied::Unchanged);
        assert!(has(&cache, "new"));
        // Then our own canonical write becomes visible: same keys, nothing to do.
        let written = f.keys.canonical_json().as_bytes().to_vec();
        assert_eq!(
            cache.apply_kv(KvRead::Value(&written), 30),
            KvApplied::Unchanged
        );
        assert_eq!(cache.source(), Some(KeySource::Fetched));
        assert_eq!(cache.since_ms(), Some(10));
        // A later write by someone else replaces them.
        cache.apply_kv(KvRead::Value(&doc(&["other"])), 40);
        assert!(has(&cache, "other"));
        assert_eq!(cache.source(), Some(KeySource::Kv));
    }

    #[test]
    fn stale_kv_value_does_not_undo_a_refresh() {
        let mut cache = KeyCache::new();
        let old = doc(&["old"]);
        cache.apply_kv(KvRead::Value(&old), 0);
        cache.install_fetched(&fetched(&["old", "rotated"]), 5);
        assert_eq!(
            cache.apply_kv(KvRead::Value(&old), 60_000),
            KvApplied::Unchanged
        );
        assert!(has(&cache, "rotated"));
    }
}
