//! The per-isolate refresh throttle: when may this isolate fetch the key set?
//!
//! Rules (README "Workers KV", issue 4), all per isolate and with injected time:
//! - **Single flight**: while a refresh is in flight nobody starts another; callers that need
//!   it get [`UnknownKidDecision::WaitForInFlight`]. A flight not finished within
//!   [`IN_FLIGHT_TIMEOUT_MS`] is presumed abandoned (its request was cancelled), so a lost
//!   ticket cannot block refreshing forever.
//! - **Cooldown**: an unknown `kid` starts at most one refresh per [`REFRESH_COOLDOWN_MS`],
//!   counted from the *start* of the previous refresh, failed or not (a down issuer is not
//!   hammered either). 1000 random `kid`s within one cooldown cause exactly one fetch.
//! - **Negative memory**: a `kid` that was still missing after the refresh it triggered is
//!   remembered for [`NEGATIVE_KID_TTL_MS`] and answered at once, so one stale client cannot
//!   cause a fetch every cooldown. Only the `kid` that triggered a completed, successful
//!   refresh is remembered — never a `kid` merely seen during a cooldown — so an attacker's
//!   flood cannot mark a legitimate new `kid` as unknown, and since any refresh fetches the
//!   whole set, the first refresh after the cooldown (whoever triggers it) brings the new key.
//! - **Freshness**: keys this isolate fetched count as fresh for their `Cache-Control`
//!   lifetime; after it, [`RefreshThrottle::begin_if_stale`] starts one background refresh (still
//!   single flight and cooldown-bound). After a failure it waits at least
//!   [`MIN_KEY_SET_LIFETIME_SECS`] before trying again.
//! - A failed refresh changes no keys: the gate only records the outcome for `/healthz`.

use serde::Serialize;

use super::negative::NegativeKids;
use crate::refresh::cache_control::MIN_KEY_SET_LIFETIME_SECS;
use crate::refresh::jwks::FetchedKeySet;
use crate::refresh::RefreshError;
use crate::token::keyset::KeySet;

pub use super::negative::{MAX_REMEMBERED_KID_BYTES, NEGATIVE_KID_CAPACITY, NEGATIVE_KID_TTL_MS};

/// Least time between two refreshes started for unknown `kid`s: 30 s (README "Workers KV").
pub const REFRESH_COOLDOWN_MS: u64 = 30_000;
/// A flight older than this is presumed abandoned: 15 s (three fetch timeouts: discovery may
/// take two GETs before the key set's).
pub const IN_FLIGHT_TIMEOUT_MS: u64 = 15_000;

/// What started a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTrigger {
    /// A token's `kid` was not in the key set (or a token without `kid` found no key).
    UnknownKid,
    /// The Cron Trigger.
    Scheduled,
    /// The keys this isolate fetched outlived their `Cache-Control` lifetime.
    Stale,
}

/// Permission to run one refresh; hand it back to [`RefreshThrottle::finish`] when done.
#[must_use = "a started refresh must be finished, or the gate waits for IN_FLIGHT_TIMEOUT_MS"]
#[derive(Debug, PartialEq, Eq)]
pub struct RefreshTicket {
    id: u64,
    trigger: RefreshTrigger,
    kid: Option<String>,
}

impl RefreshTicket {
    /// What started this refresh.
    pub fn trigger(&self) -> RefreshTrigger {
        self.trigger
    }
}

/// What to do about a token whose key is not in the set.
#[derive(Debug, PartialEq, Eq)]
pub enum UnknownKidDecision {
    /// Refresh now, then look the key up again; finish with [`RefreshThrottle::finish`].
    RefreshNow(RefreshTicket),
    /// A refresh is in flight: wait for it (do not start another), then look the key up once
    /// more. An adapter that cannot wait may answer `401` instead: safe, the client retries.
    WaitForInFlight,
    /// A refresh started less than [`REFRESH_COOLDOWN_MS`] ago: answer `401 invalid_token`.
    CoolingDown {
        /// When a refresh will be allowed again, in ms from now.
        retry_after_ms: u64,
    },
    /// This `kid` was still unknown after a recent refresh: answer `401 invalid_token`.
    RecentlyUnknown,
}

/// How a refresh ended.
#[derive(Debug, Clone, Copy)]
pub enum RefreshOutcome<'a> {
    /// A valid key set was fetched (and written to KV when `changed`).
    Fetched {
        /// The keys now in use.
        keys: &'a KeySet,
        /// Whether they differ from what KV held.
        changed: bool,
        /// Until when they count as fresh (Unix ms, from `Cache-Control`).
        fresh_until_ms: u64,
    },
    /// Nothing usable; the old keys stay.
    Failed(&'a RefreshError),
}

impl<'a> RefreshOutcome<'a> {
    /// The outcome for a fetched key set; `changed` is what [`crate::refresh::jwks::needs_write`]
    /// said (whether or not the KV write then succeeded: the keys are in use either way).
    pub fn fetched(fetched: &'a FetchedKeySet, changed: bool) -> Self {
        Self::Fetched {
            keys: fetched.keys.set(),
            changed,
            fresh_until_ms: fetched.fresh_until_ms(),
        }
    }
}

/// How the last refresh ended, for logs and `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshResult {
    /// New keys were fetched and written.
    Updated,
    /// The fetched keys were the ones already held.
    Unchanged,
    /// The refresh failed; the old keys stay.
    Failed,
}

/// The last finished refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRefresh {
    /// What started it.
    pub trigger: RefreshTrigger,
    /// How it ended.
    pub result: RefreshResult,
    /// When it ended (Unix ms).
    pub finished_at_ms: u64,
    /// Usable keys fetched (successful refreshes).
    pub key_count: Option<usize>,
    /// Why it failed (no secrets: see [`RefreshError`]).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    id: u64,
    started_ms: u64,
}

/// The refresh throttle of one isolate. See the module documentation for the rules.
#[derive(Debug, Clone, Default)]
pub struct RefreshThrottle {
    flight: Option<Flight>,
    last_started_ms: Option<u64>,
    next_id: u64,
    negative: NegativeKids,
    fresh_until_ms: Option<u64>,
    last: Option<LastRefresh>,
    last_success_ms: Option<u64>,
}

impl RefreshThrottle {
    /// A gate that has never refreshed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides what to do about a token whose `kid` (or, without `kid`, whose algorithm)
    /// found no key in the set.
    pub fn on_unknown_kid(&mut self, kid: Option<&str>, now_ms: u64) -> UnknownKidDecision {
        self.settle_clock(now_ms);
        if kid.is_some_and(|kid| self.negative.contains(kid, now_ms)) {
            return UnknownKidDecision::RecentlyUnknown;
        }
        if self.in_flight(now_ms) {
            return UnknownKidDecision::WaitForInFlight;
        }
        if let Some(wait) = self.cooldown_left(now_ms) {
            return UnknownKidDecision::CoolingDown {
                retry_after_ms: wait,
            };
        }
        UnknownKidDecision::RefreshNow(self.start(RefreshTrigger::UnknownKid, kid, now_ms))
    }

    /// Starts the Cron Trigger's refresh: ignores the cooldown (the schedule is the operator's
    /// choice) but not single flight (`None` while another refresh is in flight).
    pub fn begin_scheduled(&mut self, now_ms: u64) -> Option<RefreshTicket> {
        self.settle_clock(now_ms);
        if self.in_flight(now_ms) {
            return None;
        }
        Some(self.start(RefreshTrigger::Scheduled, None, now_ms))
    }

    /// Starts a background refresh if keys this isolate fetched are past their lifetime
    /// (and no refresh is in flight or cooling down). Call it on requests; run the refresh
    /// without holding the request (`waitUntil`).
    pub fn begin_if_stale(&mut self, now_ms: u64) -> Option<RefreshTicket> {
        self.settle_clock(now_ms);
        let stale = self.fresh_until_ms.is_some_and(|until| now_ms >= until);
        if !stale || self.in_flight(now_ms) || self.cooldown_left(now_ms).is_some() {
            return None;
        }
        Some(self.start(RefreshTrigger::Stale, None, now_ms))
    }

    /// Records how a refresh ended. The keys themselves are the caller's to install
    /// ([`super::KeyCache::install_fetched`]); a failure installs nothing.
    pub fn finish(&mut self, ticket: RefreshTicket, now_ms: u64, outcome: RefreshOutcome<'_>) {
        if self.flight.is_some_and(|f| f.id == ticket.id) {
            self.flight = None;
        }
        let last = match outcome {
            RefreshOutcome::Fetched {
                keys,
                changed,
                fresh_until_ms,
            } => {
                if let Some(kid) = ticket.kid.as_deref() {
                    if !keys.has_kid(kid) {
                        self.negative.insert(kid, now_ms);
                    }
                }
                self.fresh_until_ms = Some(fresh_until_ms);
                self.last_success_ms = Some(now_ms);
                LastRefresh {
                    trigger: ticket.trigger,
                    result: if changed {
                        RefreshResult::Updated
                    } else {
                        RefreshResult::Unchanged
                    },
                    finished_at_ms: now_ms,
                    key_count: Some(keys.len()),
                    error: None,
                }
            }
            RefreshOutcome::Failed(error) => {
                let retry = now_ms.saturating_add(MIN_KEY_SET_LIFETIME_SECS * 1000);
                self.fresh_until_ms = self.fresh_until_ms.map(|until| until.max(retry));
                LastRefresh {
                    trigger: ticket.trigger,
                    result: RefreshResult::Failed,
                    finished_at_ms: now_ms,
                    key_count: None,
                    error: Some(error.to_string()),
                }
            }
        };
        self.last = Some(last);
    }

    /// Whether a refresh is in flight (and not presumed abandoned).
    pub fn in_flight(&self, now_ms: u64) -> bool {
        self.flight
            .is_some_and(|f| now_ms.saturating_sub(f.started_ms) < IN_FLIGHT_TIMEOUT_MS)
    }

    /// The last finished refresh.
    pub fn last(&self) -> Option<&LastRefresh> {
        self.last.as_ref()
    }

    /// When the last successful refresh ended (Unix ms).
    pub fn last_success_ms(&self) -> Option<u64> {
        self.last_success_ms
    }

    /// How many `kid`s the negative memory holds.
    pub fn remembered_unknown_kids(&self) -> usize {
        self.negative.len()
    }

    fn start(&mut self, trigger: RefreshTrigger, kid: Option<&str>, now_ms: u64) -> RefreshTicket {
        self.next_id = self.next_id.wrapping_add(1);
        self.flight = Some(Flight {
            id: self.next_id,
            started_ms: now_ms,
        });
        self.last_started_ms = Some(now_ms);
        RefreshTicket {
            id: self.next_id,
            trigger,
            kid: kid.map(str::to_owned),
        }
    }

    fn cooldown_left(&self, now_ms: u64) -> Option<u64> {
        let started = self.last_started_ms?;
        let elapsed = now_ms.saturating_sub(started);
        (elapsed < REFRESH_COOLDOWN_MS).then(|| REFRESH_COOLDOWN_MS - elapsed)
    }

    /// A clock that went backwards restarts the running periods at `now_ms` instead of
    /// stretching them by the jump; they stay bounded by their own length.
    fn settle_clock(&mut self, now_ms: u64) {
        if self.last_started_ms.is_some_and(|t| t > now_ms) {
            self.last_started_ms = Some(now_ms);
        }
        if let Some(flight) = self.flight.as_mut() {
            flight.started_ms = flight.started_ms.min(now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::FetchFailure;
    use crate::token::Algorithm;
    use proptest::prelude::*;

    fn keys(kids: &[&str]) -> KeySet {
        KeySet::parse(super::super::test_key_set_json(kids).as_bytes())
            .unwrap()
            .set
    }

    fn fetched<'a>(set: &'a KeySet, fresh_until_ms: u64) -> RefreshOutcome<'a> {
        RefreshOutcome::Fetched {
            keys: set,
            changed: true,
            fresh_until_ms,
        }
    }

    fn refresh_now(decision: UnknownKidDecision) -> RefreshTicket {
        match decision {
            UnknownKidDecision::RefreshNow(ticket) => ticket,
            other => panic!("expected RefreshNow, got {other:?}"),
        }
    }

    #[test]
    fn a_thousand_random_kids_in_one_cooldown_cause_exactly_one_refresh() {
        let mut throttle = RefreshThrottle::new();
        let set = keys(&["real"]);
        let mut refreshes = 0;
        let mut ticket = None;
        // Pseudo-random kids and times within one cooldown; the single refresh finishes
        // after the 10th request.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..1000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let now = 1_000_000 + i * (REFRESH_COOLDOWN_MS - 1) / 1000;
            match throttle.on_unknown_kid(Some(&format!("{x:016x}")), now) {
                UnknownKidDecision::RefreshNow(t) => {
                    refreshes += 1;
                    ticket = Some(t);
                }
                UnknownKidDecision::WaitForInFlight => assert!(i < 10),
                UnknownKidDecision::CoolingDown { .. } => assert!(i >= 10),
                UnknownKidDecision::RecentlyUnknown => panic!("random kids repeat"),
            }
            if i == 9 {
                let t = ticket.take().unwrap();
                throttle.finish(t, now, fetched(&set, now + 900_000));
            }
        }
        assert_eq!(refreshes, 1);
        assert_eq!(
            throttle.remembered_unknown_kids(),
            1,
            "only the triggering kid"
        );
    }

    proptest! {
        #[test]
        fn at_most_one_refresh_per_cooldown_whatever_the_traffic(
            steps in proptest::collection::vec((0u64..2_000, any::<u16>(), any::<bool>()), 1..400)
        ) {
            let mut throttle = RefreshThrottle::new();
            let set = keys(&["real"]);
            let mut now = 0u64;
            let mut starts: Vec<u64> = Vec::new();
            for (advance, kid, finish_now) in steps {
                now += advance;
                if let UnknownKidDecision::RefreshNow(ticket) =
                    throttle.on_unknown_kid(Some(&kid.to_string()), now)
                {
                    starts.push(now);
                    if finish_now {
                        throttle.finish(ticket, now, fetched(&set, now + 60_000));
                    }
                    // Otherwise the ticket is dropped: an abandoned flight.
                }
            }
            for pair in starts.windows(2) {
                prop_assert!(pair[1] - pair[0] >= REFRESH_COOLDOWN_MS);
            }
        }
    }

    #[test]
    fn a_legitimately_new_kid_is_fetched_after_the_cooldown_despite_a_flood() {
        let mut throttle = RefreshThrottle::new();
        let old = keys(&["old"]);
        let t = refresh_now(throttle.on_unknown_kid(Some("attacker-0"), 0));
        throttle.finish(t, 10, fetched(&old, 900_000));
        // The flood fills the negative memory and then some.
        for i in 1..=2 * NEGATIVE_KID_CAPACITY {
            let d = throttle.on_unknown_kid(Some(&format!("attacker-{i}")), 100 + i as u64);
            assert!(matches!(d, UnknownKidDecision::CoolingDown { .. }));
        }
        // The new kid during the cooldown is refused, but not remembered as unknown...
        let during = throttle.on_unknown_kid(Some("rotated"), 20_000);
        assert_eq!(
            during,
            UnknownKidDecision::CoolingDown {
                retry_after_ms: 10_000
            }
        );
        // ...so right after the cooldown it triggers the refresh that finds it.
        let t = refresh_now(throttle.on_unknown_kid(Some("rotated"), REFRESH_COOLDOWN_MS));
        let new = keys(&["old", "rotated"]);
        throttle.finish(t, REFRESH_COOLDOWN_MS + 5, fetched(&new, 900_000));
        assert_eq!(throttle.remembered_unknown_kids(), 1, "only attacker-0");
    }

    #[test]
    fn an_attacker_refresh_after_the_cooldown_also_serves_the_new_kid() {
        let mut throttle = RefreshThrottle::new();
        let t = refresh_now(throttle.on_unknown_kid(Some("a"), 0));
        throttle.finish(t, 0, fetched(&keys(&["old"]), 900_000));
        let t = refresh_now(throttle.on_unknown_kid(Some("b"), REFRESH_COOLDOWN_MS));
        // While the attacker's refresh is in flight the legitimate request waits for it.
        assert_eq!(
            throttle.on_unknown_kid(Some("rotated"), REFRESH_COOLDOWN_MS + 1),
            UnknownKidDecision::WaitForInFlight
        );
        let served = keys(&["old", "rotated"]);
        throttle.finish(t, REFRESH_COOLDOWN_MS + 2, fetched(&served, 900_000));
        // The attacker's refresh fetched the new key: the waiting request finds it in the set
        // that refresh produced, and it is never remembered as unknown (only the attacker's
        // two kids are).
        assert!(served.select(Some("rotated"), Algorithm::Es256).is_ok());
        assert_eq!(
            throttle.remembered_unknown_kids(),
            2,
            "a and b, not rotated"
        );
        assert!(matches!(
            throttle.on_unknown_kid(Some("rotated"), REFRESH_COOLDOWN_MS + 3),
            UnknownKidDecision::CoolingDown { .. }
        ));
    }

    #[test]
    fn a_kid_still_missing_after_its_refresh_is_answered_at_once_until_the_ttl() {
        let mut throttle = RefreshThrottle::new();
        let set = keys(&["real"]);
        let t = refresh_now(throttle.on_unknown_kid(Some("stale"), 0));
        throttle.finish(t, 100, fetched(&set, 900_000));
        for now in [REFRESH_COOLDOWN_MS, 60_000, 100 + NEGATIVE_KID_TTL_MS - 1] {
            assert_eq!(
                throttle.on_unknown_kid(Some("stale"), now),
                UnknownKidDecision::RecentlyUnknown
            );
        }
        let t = refresh_now(throttle.on_unknown_kid(Some("stale"), 100 + NEGATIVE_KID_TTL_MS));
        throttle.finish(t, 100 + NEGATIVE_KID_TTL_MS, fetched(&set, 900_000));
    }

    #[test]
    fn a_failed_refresh_remembers_no_kid_and_still_cools_down() {
        let mut throttle = RefreshThrottle::new();
        let err = RefreshError::Fetch {
            url: "https://as.example.com/keys".into(),
            failure: FetchFailure::Timeout,
        };
        let t = refresh_now(throttle.on_unknown_kid(Some("new"), 0));
        throttle.finish(t, 5_000, RefreshOutcome::Failed(&err));
        assert_eq!(throttle.remembered_unknown_kids(), 0);
        assert!(matches!(
            throttle.on_unknown_kid(Some("new"), 6_000),
            UnknownKidDecision::CoolingDown {
                retry_after_ms: 24_000
            }
        ));
        let last = throttle.last().unwrap();
        assert_eq!(last.result, RefreshResult::Failed);
        assert!(last
            .error
            .as_deref()
            .unwrap()
            .contains("no response within"));
        assert!(throttle.last_success_ms().is_none());
        let _ = refresh_now(throttle.on_unknown_kid(Some("new"), REFRESH_COOLDOWN_MS));
    }

    #[test]
    fn an_abandoned_flight_stops_blocking_after_its_timeout() {
        let mut throttle = RefreshThrottle::new();
        let lost = refresh_now(throttle.on_unknown_kid(Some("a"), 0));
        drop(lost);
        assert_eq!(
            throttle.on_unknown_kid(Some("b"), IN_FLIGHT_TIMEOUT_MS - 1),
            UnknownKidDecision::WaitForInFlight
        );
        assert!(matches!(
            throttle.on_unknown_kid(Some("b"), IN_FLIGHT_TIMEOUT_MS),
            UnknownKidDecision::CoolingDown { .. }
        ));
        let new = refresh_now(throttle.on_unknown_kid(Some("b"), REFRESH_COOLDOWN_MS));
        assert!(throttle.in_flight(REFRESH_COOLDOWN_MS));
        throttle.finish(new, REFRESH_COOLDOWN_MS, fetched(&keys(&["b"]), 900_000));
        assert!(!throttle.in_flight(REFRESH_COOLDOWN_MS));
    }

    #[test]
    fn a_late_finish_of_an_abandoned_flight_leaves_the_new_flight_alone() {
        let mut throttle = RefreshThrottle::new();
        let old = refresh_now(throttle.on_unknown_kid(Some("a"), 0));
        let newer = refresh_now(throttle.on_unknown_kid(Some("b"), REFRESH_COOLDOWN_MS));
        let set = keys(&["x"]);
        throttle.finish(old, REFRESH_COOLDOWN_MS + 1, fetched(&set, 900_000));
        assert!(throttle.in_flight(REFRESH_COOLDOWN_MS + 1));
        throttle.finish(newer, REFRESH_COOLDOWN_MS + 2, fetched(&set, 900_000));
        assert!(!throttle.in_flight(REFRESH_COOLDOWN_MS + 2));
    }

    #[test]
    fn scheduled_refreshes_ignore_the_cooldown_but_not_single_flight() {
        let mut throttle = RefreshThrottle::new();
        let t = throttle.begin_scheduled(0).unwrap();
        assert_eq!(t.trigger(), RefreshTrigger::Scheduled);
        assert!(throttle.begin_scheduled(1).is_none());
        assert_eq!(
            throttle.on_unknown_kid(Some("k"), 2),
            UnknownKidDecision::WaitForInFlight
        );
        throttle.finish(t, 3, fetched(&keys(&["k"]), 900_000));
        assert!(throttle.begin_scheduled(4).is_some());
    }

    #[test]
    fn tokens_without_kid_are_gated_but_never_remembered() {
        let mut throttle = RefreshThrottle::new();
        let t = refresh_now(throttle.on_unknown_kid(None, 0));
        throttle.finish(t, 1, fetched(&keys(&["k"]), 900_000));
        assert_eq!(throttle.remembered_unknown_kids(), 0);
        assert!(matches!(
            throttle.on_unknown_kid(None, 2),
            UnknownKidDecision::CoolingDown { .. }
        ));
    }

    #[test]
    fn stale_keys_get_one_background_refresh_and_failures_back_off() {
        let mut throttle = RefreshThrottle::new();
        assert!(
            throttle.begin_if_stale(u64::MAX / 2).is_none(),
            "nothing fetched yet: KV rules"
        );
        let t = throttle.begin_scheduled(0).unwrap();
        throttle.finish(t, 0, fetched(&keys(&["k"]), 600_000));
        assert!(throttle.begin_if_stale(599_999).is_none());
        let t = throttle.begin_if_stale(600_000).unwrap();
        assert_eq!(t.trigger(), RefreshTrigger::Stale);
        assert!(throttle.begin_if_stale(600_001).is_none(), "single flight");
        let err = RefreshError::HttpStatus {
            url: "https://as.example.com/keys".into(),
            status: 500,
        };
        throttle.finish(t, 601_000, RefreshOutcome::Failed(&err));
        let retry_at = 601_000 + MIN_KEY_SET_LIFETIME_SECS * 1000;
        assert!(throttle.begin_if_stale(retry_at - 1).is_none());
        assert!(throttle.begin_if_stale(retry_at).is_some());
    }

    #[test]
    fn a_clock_going_backwards_does_not_stretch_the_cooldown() {
        let mut throttle = RefreshThrottle::new();
        let t = refresh_now(throttle.on_unknown_kid(Some("a"), 10_000_000));
        throttle.finish(t, 10_000_000, fetched(&keys(&["k"]), u64::MAX));
        assert!(matches!(
            throttle.on_unknown_kid(Some("b"), 5_000),
            UnknownKidDecision::CoolingDown {
                retry_after_ms: REFRESH_COOLDOWN_MS
            }
        ));
        let _ = refresh_now(throttle.on_unknown_kid(Some("b"), 5_000 + REFRESH_COOLDOWN_MS));
    }

    #[test]
    fn outcomes_are_recorded() {
        let mut throttle = RefreshThrottle::new();
        let t = throttle.begin_scheduled(7).unwrap();
        throttle.finish(
            t,
            9,
            RefreshOutcome::Fetched {
                keys: &keys(&["a", "b"]),
                changed: false,
                fresh_until_ms: 100,
            },
        );
        assert_eq!(
            throttle.last(),
            Some(&LastRefresh {
                trigger: RefreshTrigger::Scheduled,
                result: RefreshResult::Unchanged,
                finished_at_ms: 9,
                key_count: Some(2),
                error: None,
            })
        );
        assert_eq!(throttle.last_success_ms(), Some(9));
    }
}
