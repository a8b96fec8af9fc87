//! One key set refresh, end to end but for KV: resolve the JWKS URI, fetch, validate.
//!
//! What the Worker adapter does around it (each step a call into this module's siblings):
//!
//! 1. Once per isolate: `JwksLocation::from_settings(&settings)` (an error there means
//!    refreshing cannot work: log it, report it in `/healthz`, keep serving KV's keys).
//! 2. Per request: if `KeyCache::kv_reload_due(now)`, read KV `jwks` and `apply_kv`; if
//!    `RefreshThrottle::begin_if_stale(now)` gives a ticket, run a refresh in `waitUntil`.
//! 3. Key lookup fails (`UnknownKid`, or no key for a token without `kid`):
//!    `RefreshThrottle::on_unknown_kid` decides — refresh now (then look up again), wait for the
//!    flight, or answer `401 invalid_token` at once.
//! 4. A refresh (ticket in hand): [`fetch_keys`]; on success read KV `jwks`,
//!    `jwks::needs_write`, put `canonical_json()` only if needed, `KeyCache::install_fetched`,
//!    then `RefreshThrottle::finish(ticket, now, RefreshOutcome::fetched(&set, changed))`; on
//!    failure `finish(…, RefreshOutcome::Failed(&err))` and nothing else: keys stay.
//! 5. Cron: `RefreshThrottle::begin_scheduled(now)` and step 4; then, with `AS_METADATA_URL`,
//!    `as_metadata::fetch_as_metadata`, `as_metadata::needs_write`, put `as-metadata`.

use std::future::Future;

use url::Url;

use super::discovery::{resolve_jwks_uri, JwksLocation, ResolvedJwksUri};
use super::fetch::{FetchFailure, FetchedResponse};
use super::jwks::{fetch_key_set, FetchedKeySet};
use super::RefreshError;

/// Resolves the JWKS URI — reusing `cached` while it is fresh — and fetches the key set.
///
/// Returns the URI to keep for the next refresh alongside the result. After a failed fetch
/// from a *discovered* URI nothing is kept, so the next attempt runs discovery again (the
/// issuer may have moved its keys).
pub async fn fetch_keys<F, Fut>(
    location: &JwksLocation,
    cached: Option<ResolvedJwksUri>,
    fetch: &mut F,
    now_ms: u64,
) -> (Option<ResolvedJwksUri>, Result<FetchedKeySet, RefreshError>)
where
    F: FnMut(Url) -> Fut,
    Fut: Future<Output = Result<FetchedResponse, FetchFailure>>,
{
    let reusable = match location {
        JwksLocation::Discover(_) => cached.filter(|c| c.is_fresh(now_ms)),
        JwksLocation::Fixed(_) | JwksLocation::Off => None,
    };
    let resolved = match reusable {
        Some(resolved) => resolved,
        None => match resolve_jwks_uri(location, fetch, now_ms).await {
            Ok(resolved) => resolved,
            Err(err) => return (None, Err(err)),
        },
    };
    match fetch_key_set(&resolved.url, fetch, now_ms).await {
        Ok(fetched) => (Some(resolved), Ok(fetched)),
        Err(err) => (None, Err(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::discovery::DISCOVERY_TTL_MS;
    use std::cell::RefCell;

    const ISS: &str = "https://as.example.com";
    const META: &str = "https://as.example.com/.well-known/oauth-authorization-server";
    const KEYS: &str = "https://as.example.com/jwks";

    fn key_set() -> Vec<u8> {
        br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#.to_vec()
    }

    /// Serves metadata and keys; `keys_up` switches the key endpoint; logs every GET.
    struct Issuer {
        log: RefCell<Vec<String>>,
        keys_up: RefCell<bool>,
    }

    impl Issuer {
        fn new() -> Self {
            Self {
                log: RefCell::new(Vec::new()),
                keys_up: RefCell::new(true),
            }
        }

        fn get(&self, url: &Url) -> Result<FetchedResponse, FetchFailure> {
            self.log.borrow_mut().push(url.to_string());
            let (status, body) = match url.as_str() {
                META => (
                    200,
                    format!(r#"{{"issuer":"{ISS}","jwks_uri":"{KEYS}"}}"#).into_bytes(),
                ),
                KEYS if *self.keys_up.borrow() => (200, key_set()),
                KEYS => return Err(FetchFailure::Network("connection refused".into())),
                _ => (404, Vec::new()),
            };
            Ok(FetchedResponse {
                status,
                cache_control: Some("max-age=300".into()),
                body,
            })
        }

        fn gets(&self) -> usize {
            self.log.borrow().len()
        }
    }

    fn run(
        issuer: &Issuer,
        location: &JwksLocation,
        cached: Option<ResolvedJwksUri>,
        now_ms: u64,
    ) -> (Option<ResolvedJwksUri>, Result<FetchedKeySet, RefreshError>) {
        let mut fetch = |url: Url| std::future::ready(issuer.get(&url));
        pollster::block_on(fetch_keys(location, cached, &mut fetch, now_ms))
    }

    #[test]
    fn discovery_runs_once_then_the_uri_is_reused_until_its_ttl() {
        let issuer = Issuer::new();
        let location = JwksLocation::Discover(vec![ISS.to_owned()]);
        let (cached, result) = run(&issuer, &location, None, 0);
        let fetched = result.unwrap();
        assert_eq!(
            (fetched.lifetime_secs, fetched.source.as_str()),
            (300, KEYS)
        );
        assert_eq!(issuer.gets(), 2, "metadata, then keys");
        let (cached, result) = run(&issuer, &location, cached, 1_000);
        assert!(result.is_ok());
        assert_eq!(issuer.gets(), 3, "keys only");
        let (_, result) = run(&issuer, &location, cached, DISCOVERY_TTL_MS);
        assert!(result.is_ok());
        assert_eq!(issuer.gets(), 5, "discovery again after its TTL");
    }

    #[test]
    fn a_failed_key_fetch_forgets_the_discovered_uri() {
        let issuer = Issuer::new();
        let location = JwksLocation::Discover(vec![ISS.to_owned()]);
        let (cached, _) = run(&issuer, &location, None, 0);
        *issuer.keys_up.borrow_mut() = false;
        let (cached, result) = run(&issuer, &location, cached, 1);
        assert!(matches!(result, Err(RefreshError::Fetch { .. })));
        assert!(cached.is_none());
        *issuer.keys_up.borrow_mut() = true;
        let (cached, result) = run(&issuer, &location, cached, 2);
        assert!(result.is_ok() && cached.is_some());
        assert_eq!(issuer.gets(), 5);
    }

    #[test]
    fn fixed_and_disabled_locations() {
        let issuer = Issuer::new();
        let fixed = JwksLocation::Fixed(Url::parse(KEYS).unwrap());
        let (_, result) = run(&issuer, &fixed, None, 0);
        assert!(result.is_ok());
        assert_eq!(*issuer.log.borrow(), [KEYS]);
        let (cached, result) = run(&issuer, &JwksLocation::Off, None, 0);
        assert_eq!(result.unwrap_err(), RefreshError::Disabled);
        assert!(cached.is_none());
        assert_eq!(issuer.gets(), 1);
    }
}
