//! What `/healthz` reports about keys and refreshing (README "Responses", issue 4). No secrets: counts,
//! ages, outcomes and error texts that never contain a body, a token or a credential.

use serde::Serialize;

use super::key_cache::{KeyCache, KeySource};
use super::throttle::{RefreshResult, RefreshThrottle, RefreshTrigger};

/// The last refresh, with ages instead of timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRefreshReport {
    /// What started it.
    pub trigger: RefreshTrigger,
    /// How it ended.
    pub result: RefreshResult,
    /// Seconds since it ended.
    pub age_seconds: u64,
    /// Usable keys it fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_count: Option<usize>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The key part of `/healthz`. Serialize it into the response; answer `503` when
/// [`KeyHealth::is_healthy`] is false.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyHealth {
    /// Usable keys in use.
    pub key_count: usize,
    /// Where they came from.
    pub key_set_source: Option<KeySource>,
    /// Seconds since this isolate started using them.
    pub key_set_age_seconds: Option<u64>,
    /// Seconds since KV key `jwks` was last read.
    pub kv_checked_age_seconds: Option<u64>,
    /// The last refresh, if any ran in this isolate.
    pub last_refresh: Option<LastRefreshReport>,
    /// Seconds since the last successful refresh in this isolate.
    pub last_successful_refresh_age_seconds: Option<u64>,
    /// Whether a refresh is running.
    pub refresh_in_flight: bool,
    /// Why there are no usable keys (or why KV's value is not used), when that is the case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl KeyHealth {
    /// Whether tokens can be verified at all (at least one usable key).
    pub fn is_healthy(&self) -> bool {
        self.key_count > 0
    }
}

fn age_seconds(then_ms: u64, now_ms: u64) -> u64 {
    now_ms.saturating_sub(then_ms) / 1000
}

/// Builds the report from the isolate's cache and refresh throttle.
pub fn key_health(cache: &KeyCache, throttle: &RefreshThrottle, now_ms: u64) -> KeyHealth {
    let last_refresh = throttle.last().map(|last| LastRefreshReport {
        trigger: last.trigger,
        result: last.result,
        age_seconds: age_seconds(last.finished_at_ms, now_ms),
        key_count: last.key_count,
        error: last.error.clone(),
    });
    let key_count = cache.key_count();
    let problem = if key_count > 0 {
        cache.kv_problem().map(str::to_owned)
    } else {
        let why = match (&last_refresh, cache.kv_problem(), cache.kv_checked_at_ms()) {
            (
                Some(LastRefreshReport {
                    error: Some(err), ..
                }),
                _,
                _,
            ) => {
                format!("last refresh failed: {err}")
            }
            (_, Some(kv), _) => kv.to_owned(),
            (_, None, None) => "KV key `jwks` not read yet".to_owned(),
            (_, None, Some(_)) => {
                "KV key `jwks` is missing and no refresh has filled it".to_owned()
            }
        };
        Some(format!("no usable keys: {why}"))
    };
    KeyHealth {
        key_count,
        key_set_source: cache.source(),
        key_set_age_seconds: cache.since_ms().map(|at| age_seconds(at, now_ms)),
        kv_checked_age_seconds: cache.kv_checked_at_ms().map(|at| age_seconds(at, now_ms)),
        last_refresh,
        last_successful_refresh_age_seconds: throttle
            .last_success_ms()
            .map(|at| age_seconds(at, now_ms)),
        refresh_in_flight: throttle.in_flight(now_ms),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::policy::{KvRead, RefreshOutcome};
    use crate::refresh::{FetchFailure, RefreshError};

    #[test]
    fn empty_isolate_is_unhealthy_and_says_why() {
        let cache = KeyCache::new();
        let throttle = RefreshThrottle::new();
        let h = key_health(&cache, &throttle, 0);
        assert!(!h.is_healthy());
        assert_eq!(
            h.problem.as_deref(),
            Some("no usable keys: KV key `jwks` not read yet")
        );

        let mut cache = KeyCache::new();
        cache.apply_kv(KvRead::Missing, 0);
        let mut throttle = RefreshThrottle::new();
        let t = throttle.begin_scheduled(0).unwrap();
        let err = RefreshError::Fetch {
            url: "https://as.example.com/keys".into(),
            failure: FetchFailure::Network("connection refused".into()),
        };
        throttle.finish(t, 2_000, RefreshOutcome::Failed(&err));
        let h = key_health(&cache, &throttle, 5_000);
        assert!(!h.is_healthy());
        let problem = h.problem.unwrap();
        assert!(
            problem.starts_with(
                "no usable keys: last refresh failed: GET https://as.example.com/keys"
            ),
            "{problem}"
        );
        let report = h.last_refresh.unwrap();
        assert_eq!(
            (report.result, report.age_seconds),
            (RefreshResult::Failed, 3)
        );
    }

    #[test]
    fn healthy_report_serialises_without_empty_fields() {
        let mut cache = KeyCache::new();
        let doc = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        cache.apply_kv(KvRead::Value(doc), 1_000);
        let throttle = RefreshThrottle::new();
        let h = key_health(&cache, &throttle, 61_000);
        assert!(h.is_healthy());
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "key_count": 1,
                "key_set_source": "kv",
                "key_set_age_seconds": 60,
                "kv_checked_age_seconds": 60,
                "last_refresh": null,
                "last_successful_refresh_age_seconds": null,
                "refresh_in_flight": false
            })
        );
    }
}
