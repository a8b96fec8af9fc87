//! Per-isolate cache of verified tokens (issue 5): a repeated bearer token skips the signature
//! check and claims validation.
//!
//! Platform-free: time is injected (`now_ms`, Unix milliseconds) and there is no locking. A
//! Worker isolate runs one request at a time between `await`s, so the adapter keeps one
//! [`TokenCache`] in a `thread_local` `RefCell` and borrows it only for a [`TokenCache::get`] or
//! [`TokenCache::insert`] call, never across the signature verification's `await`.
//!
//! # What a hit stands for
//!
//! An entry records that *this exact token* (keyed by the SHA-256 of the raw compact string; the
//! raw token is never stored) was verified — signature with a key of the key set, claims against
//! the settings — at most [`MAX_ENTRY_AGE_MS`] ago, under the same key/settings `generation`.
//! A hit replaces `verify::verify` only: `verify::parse` (structure, `alg` in
//! `ALLOWED_ALGORITHMS`, `crit`, `typ`) still runs first on every request, and authorization
//! (scopes, rules) always runs after.
//!
//! An entry never outlives the token:
//! - **Expiry, on every hit.** An entry is valid until `min(exp, stored_at + MAX_ENTRY_AGE_MS)`,
//!   compared with `now_ms` on every lookup without any leeway: at `now_ms >= exp` the lookup
//!   misses and the entry is removed. `CLOCK_SKEW_SECONDS` widens only what verification itself
//!   accepts; a token inside that leeway past its `exp` is re-verified on each request and never
//!   stored.
//! - **Generation.** The adapter passes a `generation` number that it raises whenever the key set
//!   (or the settings) it verifies with changes. An entry is served only under the generation it
//!   was stored with, so a key removed from the key set stops every token it signed at the next
//!   request. The generation must only grow: a lookup or insert with a newer generation drops every
//!   entry; an insert with an older one (a verification that began before a key rotation and ended
//!   after it) is refused.
//! - **Age.** [`MAX_ENTRY_AGE_MS`] makes every token verified again periodically, so that no
//!   entry lives on indefinitely should some change ever fail to raise the generation.
//!
//! # Only successes are cached
//!
//! [`TokenCache::insert`] takes a [`VerifiedToken`], which only `verify::verify` produces: a
//! failed verification has nothing to insert, and there is no negative cache. Filling the cache
//! therefore requires tokens signed with one of the authorization server's keys and accepted by
//! the settings. An attacker sending invalid tokens only causes misses (a hash lookup), never an
//! insertion, so cannot evict good entries. (A negative cache would be keyed by strings the
//! attacker chooses freely, and could be flooded.)
//!
//! ```compile_fail
//! use std::sync::Arc;
//! use mcp_gate::token::cache::TokenCache;
//! use mcp_gate::token::{TokenError, VerifiedToken};
//!
//! let mut cache = TokenCache::new();
//! let failed: Result<VerifiedToken, TokenError> = Err(TokenError::BadSignature);
//! // Does not compile: only a `VerifiedToken` can be stored.
//! cache.insert(TokenCache::key("a.b.c"), Arc::new(failed), 100, 0, 1);
//! ```
//!
//! # Bounds
//!
//! At most [`MAX_ENTRIES`] entries and [`MAX_TOTAL_BYTES`] of accounted memory. Each entry is
//! charged [`ENTRY_OVERHEAD_BYTES`] plus [`BYTES_PER_TOKEN_BYTE`] per byte of the raw token (the
//! caller's `approx_size`); an entry charged more than [`MAX_ENTRY_BYTES`] is not stored (such a
//! token is simply verified on every request). Measured on a 64-bit host, the parsed claims
//! of ordinary tokens take about 1.2 bytes per raw token byte (less on wasm32, whose pointers
//! are half as wide), so the charge over-estimates them; claims made of thousands of tiny
//! array items or members take up to about 8 bytes per raw token byte, so the real heap stays
//! below four times [`MAX_TOTAL_BYTES`] even then — and only tokens the authorization server
//! signed get in.
//!
//! # Eviction
//!
//! When an insert finds the cache full, entries no longer valid (expired or too old) go first;
//! if that is not enough, live entries go in least-recently-used order (by a use counter: exact,
//! no clock ties) until the cache is back under its low-water marks
//! ([`EVICTION_BATCH`] entries and 1/16 of the bytes below the bounds). LRU rather than "closest
//! to expiry": with tokens of equal lifetime, closest-to-expiry is first-in-first-out and would
//! evict a hot token used on every request in favour of one-off tokens, while LRU keeps the hot
//! ones. Choosing victims scans every entry once (`O(n)`, ~4 µs natively for 1024 entries);
//! evicting a batch makes that scan happen once per [`EVICTION_BATCH`] inserts rather than on
//! every insert when tokens are all distinct. Inserts follow a signature verification, which
//! costs far more; a hit is one hash lookup plus an `Arc` clone, without allocation.

use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::VerifiedToken;

/// Most entries held. With ordinary tokens (~0.7–1 KB raw, ~2 KB charged) this and
/// [`MAX_TOTAL_BYTES`] bind at about the same point; 1024 distinct live tokens per isolate
/// covers the clients one isolate serves, and a miss only costs one verification.
pub const MAX_ENTRIES: usize = 1024;

/// Most accounted bytes held: 2 MiB, under 2% of a Worker isolate's 128 MB.
pub const MAX_TOTAL_BYTES: usize = 2 * 1024 * 1024;

/// Largest charge of one entry: 16 KiB, so raw tokens up to 7,936 bytes are cached. Larger
/// (rare) tokens are verified on every request rather than crowding out many ordinary ones.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;

/// Fixed charge per entry: hash key, map slot, entry bookkeeping, the `VerifiedToken` struct and
/// its small strings, allocator overhead.
pub const ENTRY_OVERHEAD_BYTES: usize = 512;

/// Charge per byte of the raw token: the parsed claims map, the granted scopes (stored twice:
/// in the claims and as a list) and the copied `iss`/`sub`/`client_id`/`jti`.
pub const BYTES_PER_TOKEN_BYTE: usize = 2;

/// Longest time an entry is served without verifying the token again: 5 minutes. Bounds how long
/// a cached verification can outlive any change that failed to raise the generation, at the cost
/// of one verification per token per 5 minutes.
pub const MAX_ENTRY_AGE_MS: u64 = 5 * 60 * 1000;

/// Live entries evicted at once when the cache is full (1/16 of [`MAX_ENTRIES`]): the scan
/// that picks least recently used entries then runs once per this many inserts, not on each.
/// The bytes bound keeps the same proportion of slack (1/16 of [`MAX_TOTAL_BYTES`]).
pub const EVICTION_BATCH: usize = MAX_ENTRIES / 16;

/// Entry count an eviction brings the cache down to.
const LOW_WATER_ENTRIES: usize = MAX_ENTRIES - EVICTION_BATCH;

/// Accounted bytes (the new entry included) an eviction brings the cache down to.
const LOW_WATER_BYTES: usize = MAX_TOTAL_BYTES - MAX_TOTAL_BYTES / 16;

/// SHA-256 of a raw token: the cache key. The token itself is never kept.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenKey([u8; 32]);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A short prefix of the hash: enough to tell keys apart in a test failure, and a hash
        // reveals nothing of the token anyway.
        let [a, b, c, d, ..] = self.0;
        write!(f, "TokenKey({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

/// One cached verification.
struct Entry {
    token: Arc<VerifiedToken>,
    /// `min(exp, stored_at + MAX_ENTRY_AGE_MS)`: served only while `now_ms` is below it.
    valid_until_ms: u64,
    /// Key/settings generation the token was verified under.
    generation: u64,
    /// Value of the use counter at the last hit or insert (for LRU).
    last_used: u64,
    /// Bytes charged against [`MAX_TOTAL_BYTES`].
    charged_bytes: usize,
}

/// Counters for `/healthz` (since the isolate started; [`TokenCache::clear`] keeps them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Entries held now.
    pub entries: usize,
    /// Accounted bytes held now.
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups not answered (absent, expired, too old, other generation).
    pub misses: u64,
    /// Verified tokens stored.
    pub inserts: u64,
    /// Valid entries removed to make room (least recently used).
    pub evictions: u64,
    /// Entries removed because they were no longer valid: expired, too old, from an older
    /// generation, or cleared.
    pub dropped: u64,
    /// Verified tokens not stored (see [`InsertOutcome`]).
    pub not_stored: u64,
}

/// What [`TokenCache::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The token is cached.
    Stored,
    /// Its charge exceeds [`MAX_ENTRY_BYTES`].
    TooLarge,
    /// It expires at or before `now_ms` (accepted only thanks to the clock-skew leeway).
    Expiring,
    /// It was verified under an older generation than the cache has already seen.
    StaleGeneration,
}

/// The per-isolate verified-token cache. See the module documentation.
#[derive(Default)]
pub struct TokenCache {
    entries: HashMap<TokenKey, Entry>,
    /// Sum of `charged_bytes` over `entries`.
    bytes: usize,
    /// Newest generation seen; every entry belongs to it.
    generation: u64,
    /// Use counter for LRU, bumped on every hit and insert.
    uses: u64,
    stats: CacheStats,
}

impl fmt::Debug for TokenCache {
    /// Sizes only: neither keys nor tokens (whose claims are personal data).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.len())
            .field("bytes", &self.bytes)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Accounted size of an entry for a raw token of `approx_size` bytes.
fn charge(approx_size: usize) -> usize {
    approx_size
        .saturating_mul(BYTES_PER_TOKEN_BYTE)
        .saturating_add(ENTRY_OVERHEAD_BYTES)
}

impl TokenCache {
    /// An empty cache at generation 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cache key of a raw compact token (the bearer credential, exactly as received).
    pub fn key(raw_token: &str) -> TokenKey {
        TokenKey(Sha256::digest(raw_token.as_bytes()).into())
    }

    /// The token stored under `key`, if it is still valid at `now_ms` and was verified under
    /// `generation`. An entry found expired or too old is removed.
    pub fn get(
        &mut self,
        key: &TokenKey,
        now_ms: u64,
        generation: u64,
    ) -> Option<Arc<VerifiedToken>> {
        if generation < self.generation {
            self.stats.misses = self.stats.misses.saturating_add(1);
            return None;
        }
        self.adopt_generation(generation);
        let found = match self.entries.get_mut(key) {
            None => None,
            Some(entry) => {
                if entry.generation == generation && now_ms < entry.valid_until_ms {
                    self.uses = self.uses.saturating_add(1);
                    entry.last_used = self.uses;
                    Some(Some(Arc::clone(&entry.token)))
                } else {
                    Some(None)
                }
            }
        };
        match found {
            Some(Some(token)) => {
                self.stats.hits = self.stats.hits.saturating_add(1);
                Some(token)
            }
            Some(None) => {
                self.remove(key);
                self.stats.dropped = self.stats.dropped.saturating_add(1);
                self.stats.misses = self.stats.misses.saturating_add(1);
                None
            }
            None => {
                self.stats.misses = self.stats.misses.saturating_add(1);
                None
            }
        }
    }

    /// Stores a token that `verify::verify` accepted at `now_ms` under `generation`.
    /// `approx_size` is the length of the raw token in bytes (it sizes the entry's charge).
    /// Replaces an entry with the same key; evicts when full (see the module documentation).
    pub fn insert(
        &mut self,
        key: TokenKey,
        token: Arc<VerifiedToken>,
        approx_size: usize,
        now_ms: u64,
        generation: u64,
    ) -> InsertOutcome {
        let outcome = self.try_insert(key, token, approx_size, now_ms, generation);
        let counter = match outcome {
            InsertOutcome::Stored => &mut self.stats.inserts,
            InsertOutcome::TooLarge | InsertOutcome::Expiring | InsertOutcome::StaleGeneration => {
                &mut self.stats.not_stored
            }
        };
        *counter = counter.saturating_add(1);
        outcome
    }

    /// Counters and current size.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.entries.len(),
            bytes: self.bytes,
            ..self.stats
        }
    }

    /// Drops every entry (counted as `dropped`); the counters and the generation stay.
    pub fn clear(&mut self) {
        let count = u64::try_from(self.entries.len()).unwrap_or(u64::MAX);
        self.stats.dropped = self.stats.dropped.saturating_add(count);
        self.entries.clear();
        self.bytes = 0;
    }

    fn try_insert(
        &mut self,
        key: TokenKey,
        token: Arc<VerifiedToken>,
        approx_size: usize,
        now_ms: u64,
        generation: u64,
    ) -> InsertOutcome {
        if generation < self.generation {
            return InsertOutcome::StaleGeneration;
        }
        self.adopt_generation(generation);
        let charged_bytes = charge(approx_size);
        if charged_bytes > MAX_ENTRY_BYTES {
            return InsertOutcome::TooLarge;
        }
        let valid_until_ms = token
            .expires_at_ms()
            .min(now_ms.saturating_add(MAX_ENTRY_AGE_MS));
        if valid_until_ms <= now_ms {
            return InsertOutcome::Expiring;
        }
        // A second verification of the same token (concurrent requests): the newer one wins.
        self.remove(&key);
        self.make_room(charged_bytes, now_ms);
        if self.lacks_room_for(charged_bytes) {
            // Unreachable while MAX_ENTRY_BYTES <= MAX_TOTAL_BYTES; refuse rather than overflow.
            return InsertOutcome::TooLarge;
        }
        self.uses = self.uses.saturating_add(1);
        self.bytes = self.bytes.saturating_add(charged_bytes);
        self.entries.insert(
            key,
            Entry {
                token,
                valid_until_ms,
                generation,
                last_used: self.uses,
                charged_bytes,
            },
        );
        InsertOutcome::Stored
    }

    /// A newer generation invalidates every entry at once.
    fn adopt_generation(&mut self, generation: u64) {
        if generation > self.generation {
            self.clear();
            self.generation = generation;
        }
    }

    fn remove(&mut self, key: &TokenKey) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes = self.bytes.saturating_sub(old.charged_bytes);
        }
    }

    fn lacks_room_for(&self, charged_bytes: usize) -> bool {
        self.entries.len() >= MAX_ENTRIES
            || self.bytes.saturating_add(charged_bytes) > MAX_TOTAL_BYTES
    }

    fn below_low_water(&self, charged_bytes: usize) -> bool {
        self.entries.len() <= LOW_WATER_ENTRIES
            && self.bytes.saturating_add(charged_bytes) <= LOW_WATER_BYTES
    }

    /// Frees room for an entry charged `charged_bytes` (see "Eviction" in the module
    /// documentation). Each round of the loop removes at least one entry.
    fn make_room(&mut self, charged_bytes: usize, now_ms: u64) {
        while self.lacks_room_for(charged_bytes) {
            // One pass: drop entries no longer valid, and keep the `EVICTION_BATCH` least
            // recently used of the others in a max-heap (its top is the most recent of them).
            let mut dropped = 0_usize;
            let mut freed = 0_usize;
            let mut oldest: BinaryHeap<(u64, TokenKey)> =
                BinaryHeap::with_capacity(EVICTION_BATCH.saturating_add(1));
            self.entries.retain(|key, entry| {
                if now_ms >= entry.valid_until_ms {
                    dropped = dropped.saturating_add(1);
                    freed = freed.saturating_add(entry.charged_bytes);
                    return false;
                }
                if oldest.len() < EVICTION_BATCH {
                    oldest.push((entry.last_used, *key));
                } else if oldest
                    .peek()
                    .is_some_and(|(used, _)| entry.last_used < *used)
                {
                    oldest.pop();
                    oldest.push((entry.last_used, *key));
                }
                true
            });
            self.bytes = self.bytes.saturating_sub(freed);
            let dropped = u64::try_from(dropped).unwrap_or(u64::MAX);
            self.stats.dropped = self.stats.dropped.saturating_add(dropped);
            if !self.lacks_room_for(charged_bytes) {
                return;
            }
            let mut evicted = 0_u64;
            for (_, victim) in oldest.into_sorted_vec() {
                if self.below_low_water(charged_bytes) {
                    break;
                }
                self.remove(&victim);
                evicted = evicted.saturating_add(1);
            }
            self.stats.evictions = self.stats.evictions.saturating_add(evicted);
            if evicted == 0 {
                return;
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use crate::token::native::NativeVerifier;
    use crate::token::{extract, verify, KeySet, TokenError};
    use base64ct::{Base64UrlUnpadded, Encoding};
    use jwt_compact::alg::Ed25519;
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
    use serde_json::{json, Value};

    const ISS: &str = "https://as.example.com";
    const AUD: &str = "https://mcp.example.com/mcp";
    /// Unix seconds of "now" in these tests.
    const NOW_S: u64 = 1_800_000_000;
    const NOW: u64 = NOW_S * 1000;
    const GEN: u64 = 1;

    /// Signs tokens with a fresh Ed25519 key and verifies them like the gate does.
    struct Issuer {
        signing_key: <Ed25519 as jwt_compact::Algorithm>::SigningKey,
        keys: KeySet,
        settings: Settings,
    }

    impl Issuer {
        fn new() -> Self {
            let (signing_key, _) = Ed25519::generate(&mut rand_core::OsRng);
            let mut jwk = serde_json::to_value(JsonWebKey::from(&signing_key).to_verifying_key())
                .expect("jwk");
            jwk["kid"] = json!("ed-1");
            let keys = KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes())
                .expect("key set")
                .set;
            let settings = Settings::from_lookup(|name| match name {
                "RESOURCE" => Some(AUD.to_owned()),
                "AUTHORIZATION_SERVERS" => Some(ISS.to_owned()),
                "ORIGIN" => Some("https://origin.internal".to_owned()),
                _ => None,
            })
            .expect("settings");
            Self {
                signing_key,
                keys,
                settings,
            }
        }

        /// A signed token expiring `ttl_s` seconds after `NOW_S`, with extra claims.
        fn sign(&self, ttl_s: u64, extra: Value) -> String {
            let mut claims = json!({"iss": ISS, "aud": AUD, "sub": "user-1",
                                    "exp": NOW_S + ttl_s, "scope": "mcp:read"});
            if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
                claims.extend(extra);
            }
            let b64 = |v: Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
            let input = format!(
                "{}.{}",
                b64(json!({"alg": "EdDSA", "kid": "ed-1"})),
                b64(claims)
            );
            let signature = Ed25519.sign(&self.signing_key, input.as_bytes());
            format!(
                "{input}.{}",
                Base64UrlUnpadded::encode_string(&signature.as_bytes())
            )
        }

        fn verify(&self, raw: &str) -> Result<Arc<VerifiedToken>, TokenError> {
            let header = format!("Bearer {raw}");
            let credential = extract::bearer([header.as_str()]).expect("credential");
            let jwt = verify::parse(&credential, &self.settings.token)?;
            let token = pollster::block_on(verify::verify(
                &jwt,
                &self.keys,
                &NativeVerifier,
                &self.settings.token,
                NOW,
            ))?;
            Ok(Arc::new(token))
        }

        /// A verified token expiring `ttl_s` seconds after `NOW_S`, and its raw form.
        fn token(&self, ttl_s: u64) -> (String, Arc<VerifiedToken>) {
            let raw = self.sign(ttl_s, json!({}));
            let token = self.verify(&raw).expect("verifies");
            (raw, token)
        }
    }

    fn key_n(n: usize) -> TokenKey {
        TokenCache::key(&format!("token-{n}"))
    }

    #[test]
    fn a_stored_token_is_served_until_just_before_exp() {
        let issuer = Issuer::new();
        let (raw, token) = issuer.token(10);
        let mut cache = TokenCache::new();
        let key = TokenCache::key(&raw);
        assert!(cache.get(&key, NOW, GEN).is_none());
        assert_eq!(
            cache.insert(key, Arc::clone(&token), raw.len(), NOW, GEN),
            InsertOutcome::Stored
        );
        let hit = cache.get(&key, NOW + 10_000 - 1, GEN).expect("hit");
        assert!(Arc::ptr_eq(&hit, &token));
        assert_eq!(hit.subject(), Some("user-1"));
        // exp is NOW + 10 s: at that instant the entry is dead, no leeway.
        assert!(cache.get(&key, NOW + 10_000, GEN).is_none());
        let stats = cache.stats();
        assert_eq!(
            (stats.hits, stats.misses, stats.inserts, stats.dropped),
            (1, 2, 1, 1)
        );
        assert_eq!((stats.entries, stats.bytes), (0, 0), "removed on the miss");
        // Once removed it stays a miss even if the clock were to go back.
        assert!(cache.get(&key, NOW, GEN).is_none());
    }

    #[test]
    fn a_token_past_exp_but_within_leeway_is_not_stored() {
        let issuer = Issuer::new();
        let (raw, token) = issuer.token(10);
        let mut cache = TokenCache::new();
        // Verification accepted it (60 s leeway); the cache does not extend it.
        let later = NOW + 30_000;
        let outcome = cache.insert(TokenCache::key(&raw), token, raw.len(), later, GEN);
        assert_eq!(outcome, InsertOutcome::Expiring);
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().not_stored, 1);
    }

    #[test]
    fn entries_are_reverified_after_the_maximum_age() {
        let issuer = Issuer::new();
        let (raw, token) = issuer.token(3600);
        let mut cache = TokenCache::new();
        let key = TokenCache::key(&raw);
        cache.insert(key, token, raw.len(), NOW, GEN);
        assert!(cache.get(&key, NOW + MAX_ENTRY_AGE_MS - 1, GEN).is_some());
        assert!(cache.get(&key, NOW + MAX_ENTRY_AGE_MS, GEN).is_none());
    }

    #[test]
    fn another_generation_misses() {
        let issuer = Issuer::new();
        let (raw, token) = issuer.token(3600);
        let key = TokenCache::key(&raw);

        let mut cache = TokenCache::new();
        cache.insert(key, Arc::clone(&token), raw.len(), NOW, 5);
        assert!(cache.get(&key, NOW, 4).is_none(), "older generation");
        assert!(
            cache.get(&key, NOW, 5).is_some(),
            "untouched by the stale lookup"
        );
        assert!(cache.get(&key, NOW, 6).is_none(), "newer generation");
        assert_eq!(
            cache.stats().entries,
            0,
            "a newer generation drops everything"
        );
        assert!(cache.get(&key, NOW, 5).is_none());

        // A verification that started under generation 5 and ends after the bump is refused.
        assert_eq!(
            cache.insert(key, token, raw.len(), NOW, 5),
            InsertOutcome::StaleGeneration
        );
        assert_eq!(cache.stats().entries, 0);
    }

    #[test]
    fn keyed_by_hash_and_never_shows_the_token() {
        let issuer = Issuer::new();
        let (raw, token) = issuer.token(3600);
        let mut twin = raw.clone();
        let last = twin.pop().expect("non-empty");
        twin.push(if last == 'A' { 'B' } else { 'A' });
        assert_ne!(TokenCache::key(&raw), TokenCache::key(&twin));
        assert_eq!(TokenCache::key(&raw), TokenCache::key(&raw.clone()));

        let mut cache = TokenCache::new();
        cache.insert(TokenCache::key(&raw), token, raw.len(), NOW, GEN);
        assert!(cache.get(&TokenCache::key(&twin), NOW, GEN).is_none());
        assert!(cache.get(&TokenCache::key(&raw), NOW, GEN).is_some());

        let shown = format!("{cache:?} {:?}", TokenCache::key(&raw));
        for part in raw.split('.') {
            assert!(!shown.contains(part), "{shown}");
        }
        assert!(!shown.contains("user-1"), "{shown}");
    }

    #[test]
    fn failures_are_never_cached() {
        // The API takes only a `VerifiedToken` (see the module's compile_fail example): a bad
        // signature yields an error and there is nothing to insert.
        let issuer = Issuer::new();
        let raw = issuer.sign(3600, json!({}));
        let mut forged = raw.clone();
        forged.truncate(raw.rfind('.').expect("three segments") + 1);
        forged.push_str(&Base64UrlUnpadded::encode_string(&[0_u8; 64]));
        assert_eq!(issuer.verify(&forged).err(), Some(TokenError::BadSignature));
        let mut cache = TokenCache::new();
        assert!(cache.get(&TokenCache::key(&forged), NOW, GEN).is_none());
        assert_eq!(cache.stats().entries, 0);
    }

    #[test]
    fn entry_count_is_bounded_and_the_least_recently_used_go_first() {
        let issuer = Issuer::new();
        let (_, token) = issuer.token(3600);
        let mut cache = TokenCache::new();
        for n in 0..MAX_ENTRIES {
            cache.insert(key_n(n), Arc::clone(&token), 100, NOW, GEN);
        }
        assert_eq!(cache.stats().entries, MAX_ENTRIES);
        // Entry 0 is used, so entries 1, 2, ... are now the least recently used.
        assert!(cache.get(&key_n(0), NOW, GEN).is_some());
        cache.insert(key_n(MAX_ENTRIES), Arc::clone(&token), 100, NOW, GEN);
        let stats = cache.stats();
        assert_eq!(stats.evictions, EVICTION_BATCH as u64);
        assert_eq!(stats.entries, MAX_ENTRIES - EVICTION_BATCH + 1);
        for n in 1..=EVICTION_BATCH {
            assert!(cache.get(&key_n(n), NOW, GEN).is_none(), "{n} evicted");
        }
        for n in [0, EVICTION_BATCH + 1, MAX_ENTRIES - 1, MAX_ENTRIES] {
            assert!(cache.get(&key_n(n), NOW, GEN).is_some(), "{n} kept");
        }
        // The batch left room: the next inserts up to the bound evict nothing.
        for n in 1..EVICTION_BATCH {
            cache.insert(key_n(MAX_ENTRIES + n), Arc::clone(&token), 100, NOW, GEN);
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, MAX_ENTRIES);
        assert_eq!(stats.evictions, EVICTION_BATCH as u64);
    }

    #[test]
    fn expired_entries_are_evicted_before_live_ones() {
        let issuer = Issuer::new();
        let (_, short) = issuer.token(10);
        let (_, long) = issuer.token(3600);
        let mut cache = TokenCache::new();
        // The short-lived entry is the most recently stored, yet goes first once expired.
        for n in 0..MAX_ENTRIES - 1 {
            cache.insert(key_n(n), Arc::clone(&long), 100, NOW, GEN);
        }
        cache.insert(key_n(MAX_ENTRIES - 1), short, 100, NOW, GEN);
        let later = NOW + 20_000;
        cache.insert(key_n(MAX_ENTRIES), long, 100, later, GEN);
        let stats = cache.stats();
        assert_eq!((stats.evictions, stats.dropped), (0, 1));
        assert!(
            cache.get(&key_n(0), later, GEN).is_some(),
            "oldest live kept"
        );
    }

    #[test]
    fn accounted_bytes_are_bounded() {
        let issuer = Issuer::new();
        let (_, token) = issuer.token(3600);
        let big = (MAX_ENTRY_BYTES - ENTRY_OVERHEAD_BYTES) / BYTES_PER_TOKEN_BYTE;
        assert_eq!(charge(big), MAX_ENTRY_BYTES);
        let fit = MAX_TOTAL_BYTES / MAX_ENTRY_BYTES;
        assert!(fit < MAX_ENTRIES, "bytes bind first here");

        let mut cache = TokenCache::new();
        for n in 0..fit + 3 {
            let outcome = cache.insert(key_n(n), Arc::clone(&token), big, NOW, GEN);
            assert_eq!(outcome, InsertOutcome::Stored);
            assert!(cache.stats().bytes <= MAX_TOTAL_BYTES);
        }
        let stats = cache.stats();
        let evicted = usize::try_from(stats.evictions).expect("small");
        assert!((1..=EVICTION_BATCH).contains(&evicted), "{stats:?}");
        assert_eq!(stats.entries + evicted, fit + 3);
        assert_eq!(stats.bytes, stats.entries * MAX_ENTRY_BYTES);
        for n in 0..evicted {
            assert!(
                cache.get(&key_n(n), NOW, GEN).is_none(),
                "{n}: oldest evicted"
            );
        }
        for n in evicted..fit + 3 {
            assert!(cache.get(&key_n(n), NOW, GEN).is_some(), "{n} kept");
        }

        // One large entry evicts as many smaller ones as it needs.
        let mut cache = TokenCache::new();
        let small = 1000;
        let small_count = MAX_TOTAL_BYTES / charge(small);
        assert!(small_count < MAX_ENTRIES, "bytes bind first here");
        for n in 0..small_count {
            cache.insert(key_n(n), Arc::clone(&token), small, NOW, GEN);
        }
        let outcome = cache.insert(key_n(usize::MAX), Arc::clone(&token), big, NOW, GEN);
        assert_eq!(outcome, InsertOutcome::Stored);
        let stats = cache.stats();
        assert!(stats.bytes <= MAX_TOTAL_BYTES);
        assert!(stats.evictions >= 1);
        assert_eq!(
            stats.entries as u64 + stats.evictions,
            small_count as u64 + 1
        );
    }

    #[test]
    fn huge_tokens_are_not_stored() {
        let issuer = Issuer::new();
        let raw = issuer.sign(3600, json!({ "groups": vec!["g"; 2000] }));
        let token = issuer.verify(&raw).expect("verifies");
        let mut cache = TokenCache::new();
        let outcome = cache.insert(TokenCache::key(&raw), token, raw.len(), NOW, GEN);
        assert_eq!(outcome, InsertOutcome::TooLarge);
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().bytes, 0);
    }

    #[test]
    fn reinserting_a_key_replaces_it_without_leaking_bytes() {
        let issuer = Issuer::new();
        let (raw, token) = issuer.token(3600);
        let key = TokenCache::key(&raw);
        let mut cache = TokenCache::new();
        cache.insert(key, Arc::clone(&token), raw.len(), NOW, GEN);
        cache.insert(key, Arc::clone(&token), raw.len(), NOW + 1000, GEN);
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes), (1, charge(raw.len())));
        // The newer insert restarts the age window.
        assert!(cache.get(&key, NOW + MAX_ENTRY_AGE_MS, GEN).is_some());
    }

    #[test]
    fn clear_keeps_counters() {
        let issuer = Issuer::new();
        let (raw, token) = issuer.token(3600);
        let mut cache = TokenCache::new();
        cache.insert(TokenCache::key(&raw), token, raw.len(), NOW, GEN);
        cache.clear();
        let stats = cache.stats();
        assert_eq!(
            (stats.entries, stats.bytes, stats.inserts, stats.dropped),
            (0, 0, 1, 1)
        );
        let json = serde_json::to_value(stats).expect("serializes");
        assert_eq!(json["inserts"], 1);
    }
}
