//! Finding the JWKS URI (README "Settings" `JWKS_URI`).
//!
//! `JWKS_URI` wins when set (`off` disables refreshing). Otherwise the URI comes from the
//! metadata of the configured issuers (`ISSUERS`, which defaults to `AUTHORIZATION_SERVERS`),
//! tried in order, each at these URLs (RFC 8414 §3.1, OpenID Connect Discovery §4):
//!
//! 1. `https://host/.well-known/oauth-authorization-server{path}` (RFC 8414, path-inserted),
//! 2. `https://host/.well-known/openid-configuration{path}` (OpenID, path-inserted),
//! 3. `https://host{path}/.well-known/openid-configuration` (OpenID, appended; the same URL as
//!    2 when the issuer has no path, and then tried once).
//!
//! A terminating `/` of the issuer's path is removed before the well-known string is inserted
//! (RFC 8414 §3.1). A document is accepted only if its `issuer` is *exactly* the configured
//! issuer string (RFC 8414 §3.3) and its `jwks_uri` is a URL the gate may fetch
//! ([`super::fetch::check_fetch_url`]). The first issuer is the one the README names; the later ones
//! are only tried when it yields nothing, which lets a provider that issues two `iss` forms
//! (Scalekit: `{env}` and `{env}/resources/{id}`, one key set) work whichever is listed first.
//! No URL is ever taken from a token (`iss`, `jku`, `x5u`): the candidates are built from
//! settings only.

use std::fmt;
use std::future::Future;

use serde_json::Value;
use url::Url;

use super::fetch::{
    check_fetch_url, get_ok, loggable, FetchFailure, FetchUrlError, FetchedResponse,
};
use super::RefreshError;
pub use crate::settings::JwksLocation;

/// Largest metadata document read (real ones are a few KiB).
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Which well-known form a candidate URL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataKind {
    /// RFC 8414 `/.well-known/oauth-authorization-server`, inserted before the path.
    OAuthPathInserted,
    /// OpenID `/.well-known/openid-configuration`, inserted before the path.
    OpenIdPathInserted,
    /// OpenID `/.well-known/openid-configuration`, appended to the path.
    OpenIdAppended,
}

/// One URL to try for an issuer's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataCandidate {
    /// The well-known form.
    pub kind: MetadataKind,
    /// The URL.
    pub url: Url,
}

/// The issuer identifier cannot be used for discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Not an absolute URL.
    NotAUrl,
    /// Has a query or fragment, which an issuer identifier must not (RFC 8414 §2).
    QueryOrFragment,
    /// Not a URL the gate may fetch.
    Url(FetchUrlError),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAUrl => f.write_str("issuer is not an absolute URL"),
            Self::QueryOrFragment => f.write_str("issuer must not have a query or fragment"),
            Self::Url(err) => write!(f, "issuer URL {err}"),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// The candidate metadata URLs of `issuer`, in the order they are tried, without duplicates.
pub fn metadata_candidates(issuer: &str) -> Result<Vec<MetadataCandidate>, DiscoveryError> {
    let base = Url::parse(issuer).map_err(|_| DiscoveryError::NotAUrl)?;
    if base.query().is_some() || base.fragment().is_some() {
        return Err(DiscoveryError::QueryOrFragment);
    }
    check_fetch_url(&base).map_err(DiscoveryError::Url)?;
    let path = base.path().trim_end_matches('/').to_owned();
    let with_path = |new_path: String| {
        let mut url = base.clone();
        url.set_path(&new_path);
        url
    };
    let all = [
        (
            MetadataKind::OAuthPathInserted,
            with_path(format!("/.well-known/oauth-authorization-server{path}")),
        ),
        (
            MetadataKind::OpenIdPathInserted,
            with_path(format!("/.well-known/openid-configuration{path}")),
        ),
        (
            MetadataKind::OpenIdAppended,
            with_path(format!("{path}/.well-known/openid-configuration")),
        ),
    ];
    let mut candidates: Vec<MetadataCandidate> = Vec::with_capacity(all.len());
    for (kind, url) in all {
        if !candidates.iter().any(|c| c.url == url) {
            candidates.push(MetadataCandidate { kind, url });
        }
    }
    Ok(candidates)
}

/// The parts of an issuer's metadata the gate uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredMetadata {
    /// `issuer`, equal to the configured issuer.
    pub issuer: String,
    /// `jwks_uri`, checked with [`check_fetch_url`].
    pub jwks_uri: Url,
}

/// A fetched metadata document is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// Larger than [`MAX_METADATA_BYTES`].
    TooLarge,
    /// Not JSON.
    NotJson,
    /// JSON, but not an object.
    NotAnObject,
    /// No `issuer` string.
    MissingIssuer,
    /// `issuer` is not exactly the configured issuer (RFC 8414 §3.3: the document must not be
    /// used). The found value is kept for the log, cut to 200 characters.
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// What the document says.
        found: String,
    },
    /// No `jwks_uri` string.
    MissingJwksUri,
    /// `jwks_uri` is not an absolute URL.
    InvalidJwksUri,
    /// `jwks_uri` is not a URL the gate may fetch.
    JwksUriNotAllowed(FetchUrlError),
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => write!(f, "metadata larger than {MAX_METADATA_BYTES} bytes"),
            Self::NotJson => f.write_str("metadata is not JSON"),
            Self::NotAnObject => f.write_str("metadata is not a JSON object"),
            Self::MissingIssuer => f.write_str("metadata has no `issuer` string"),
            Self::IssuerMismatch { expected, found } => {
                write!(
                    f,
                    "metadata `issuer` is {found:?}, expected exactly {expected:?}"
                )
            }
            Self::MissingJwksUri => f.write_str("metadata has no `jwks_uri` string"),
            Self::InvalidJwksUri => f.write_str("metadata `jwks_uri` is not an absolute URL"),
            Self::JwksUriNotAllowed(err) => write!(f, "metadata `jwks_uri` {err}"),
        }
    }
}

impl std::error::Error for MetadataError {}

/// Cuts a value taken from a remote document for a log line.
pub(crate) fn shorten(value: &str) -> String {
    const LIMIT: usize = 200;
    match value.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", value.get(..end).unwrap_or_default()),
        None => value.to_owned(),
    }
}

/// Validates a fetched metadata document against the configured `expected_issuer`.
pub fn validate_metadata(
    body: &[u8],
    expected_issuer: &str,
) -> Result<DiscoveredMetadata, MetadataError> {
    if body.len() > MAX_METADATA_BYTES {
        return Err(MetadataError::TooLarge);
    }
    let doc: Value = serde_json::from_slice(body).map_err(|_| MetadataError::NotJson)?;
    let doc = doc.as_object().ok_or(MetadataError::NotAnObject)?;
    let issuer = doc
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or(MetadataError::MissingIssuer)?;
    if issuer != expected_issuer {
        return Err(MetadataError::IssuerMismatch {
            expected: expected_issuer.to_owned(),
            found: shorten(issuer),
        });
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or(MetadataError::MissingJwksUri)?;
    let jwks_uri = Url::parse(jwks_uri).map_err(|_| MetadataError::InvalidJwksUri)?;
    check_fetch_url(&jwks_uri).map_err(MetadataError::JwksUriNotAllowed)?;
    Ok(DiscoveredMetadata {
        issuer: issuer.to_owned(),
        jwks_uri,
    })
}

/// One failed discovery step, for the log and `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryAttempt {
    /// The issuer tried.
    pub issuer: String,
    /// The candidate URL (without query or credentials), when one was built.
    pub url: Option<String>,
    /// What went wrong.
    pub problem: AttemptProblem,
}

/// What went wrong in one discovery step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptProblem {
    /// The issuer identifier is unusable; its candidates were not tried.
    Issuer(DiscoveryError),
    /// The GET failed.
    Fetch(FetchFailure),
    /// The server answered with a status other than 2xx (404: not this form).
    Status(u16),
    /// The document was rejected.
    Metadata(MetadataError),
}

impl fmt::Display for DiscoveryAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => write!(f, "{url}: ")?,
            None => write!(f, "{}: ", self.issuer)?,
        }
        match &self.problem {
            AttemptProblem::Issuer(err) => write!(f, "{err}"),
            AttemptProblem::Fetch(err) => write!(f, "{err}"),
            AttemptProblem::Status(status) => write!(f, "HTTP {status}"),
            AttemptProblem::Metadata(err) => write!(f, "{err}"),
        }
    }
}

/// How long a discovered JWKS URI is reused before discovery runs again. Metadata rarely
/// changes; an hour bounds how long a moved `jwks_uri` goes unnoticed.
pub const DISCOVERY_TTL_MS: u64 = 60 * 60 * 1000;

/// A JWKS URI with the time it was resolved, for an isolate to reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedJwksUri {
    /// The URI.
    pub url: Url,
    /// When it was resolved (Unix ms); `None` for a fixed `JWKS_URI`, which never expires.
    pub discovered_at_ms: Option<u64>,
}

impl ResolvedJwksUri {
    /// Whether it may still be used at `now_ms` without running discovery again.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        self.discovered_at_ms
            .is_none_or(|at| now_ms.saturating_sub(at) < DISCOVERY_TTL_MS && now_ms >= at)
    }
}

/// Resolves the JWKS URI: the fixed one, or by discovery. `Off` gives [`RefreshError::Disabled`].
pub async fn resolve_jwks_uri<F, Fut>(
    location: &JwksLocation,
    fetch: &mut F,
    now_ms: u64,
) -> Result<ResolvedJwksUri, RefreshError>
where
    F: FnMut(Url) -> Fut,
    Fut: Future<Output = Result<FetchedResponse, FetchFailure>>,
{
    match location {
        JwksLocation::Off => Err(RefreshError::Disabled),
        JwksLocation::Fixed(url) => Ok(ResolvedJwksUri {
            url: url.clone(),
            discovered_at_ms: None,
        }),
        JwksLocation::Discover(issuers) => {
            let found = discover(issuers, fetch).await?;
            Ok(ResolvedJwksUri {
                url: found.jwks_uri,
                discovered_at_ms: Some(now_ms),
            })
        }
    }
}

/// Tries every candidate of every issuer in order; the first valid document wins.
pub async fn discover<F, Fut>(
    issuers: &[String],
    fetch: &mut F,
) -> Result<DiscoveredMetadata, RefreshError>
where
    F: FnMut(Url) -> Fut,
    Fut: Future<Output = Result<FetchedResponse, FetchFailure>>,
{
    let mut attempts = Vec::new();
    for issuer in issuers {
        let candidates = match metadata_candidates(issuer) {
            Ok(candidates) => candidates,
            Err(err) => {
                attempts.push(DiscoveryAttempt {
                    issuer: issuer.clone(),
                    url: None,
                    problem: AttemptProblem::Issuer(err),
                });
                continue;
            }
        };
        for candidate in candidates {
            let problem = match get_ok(fetch, &candidate.url).await {
                Ok(response) => match validate_metadata(&response.body, issuer) {
                    Ok(found) => return Ok(found),
                    Err(err) => AttemptProblem::Metadata(err),
                },
                Err(RefreshError::Fetch { failure, .. }) => AttemptProblem::Fetch(failure),
                Err(RefreshError::HttpStatus { status, .. }) => AttemptProblem::Status(status),
                Err(other) => return Err(other),
            };
            attempts.push(DiscoveryAttempt {
                issuer: issuer.clone(),
                url: Some(loggable(&candidate.url)),
                problem,
            });
        }
    }
    Err(RefreshError::DiscoveryFailed(attempts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn urls(issuer: &str) -> Vec<String> {
        metadata_candidates(issuer)
            .unwrap()
            .into_iter()
            .map(|c| c.url.to_string())
            .collect()
    }

    #[test]
    fn issuer_with_a_path_gets_three_candidates_in_order() {
        assert_eq!(
            urls("https://env.scalekit.com/resources/res_123"),
            [
                "https://env.scalekit.com/.well-known/oauth-authorization-server/resources/res_123",
                "https://env.scalekit.com/.well-known/openid-configuration/resources/res_123",
                "https://env.scalekit.com/resources/res_123/.well-known/openid-configuration",
            ]
        );
        let kinds: Vec<_> = metadata_candidates("https://as.example.com/t")
            .unwrap()
            .into_iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                MetadataKind::OAuthPathInserted,
                MetadataKind::OpenIdPathInserted,
                MetadataKind::OpenIdAppended
            ]
        );
    }

    #[test]
    fn issuer_without_a_path_gets_two_candidates() {
        let expected = [
            "https://env.scalekit.com/.well-known/oauth-authorization-server",
            "https://env.scalekit.com/.well-known/openid-configuration",
        ];
        assert_eq!(urls("https://env.scalekit.com"), expected);
        assert_eq!(urls("https://env.scalekit.com/"), expected);
    }

    #[test]
    fn terminating_slash_is_removed_before_insertion_and_ports_are_kept() {
        assert_eq!(
            urls("http://127.0.0.1:9999/tenant/a/"),
            [
                "http://127.0.0.1:9999/.well-known/oauth-authorization-server/tenant/a",
                "http://127.0.0.1:9999/.well-known/openid-configuration/tenant/a",
                "http://127.0.0.1:9999/tenant/a/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn unusable_issuers_are_refused() {
        assert_eq!(
            metadata_candidates("not a url"),
            Err(DiscoveryError::NotAUrl)
        );
        assert_eq!(
            metadata_candidates("https://as.example.com/?tenant=1"),
            Err(DiscoveryError::QueryOrFragment)
        );
        assert_eq!(
            metadata_candidates("https://as.example.com/#x"),
            Err(DiscoveryError::QueryOrFragment)
        );
        assert_eq!(
            metadata_candidates("http://as.example.com"),
            Err(DiscoveryError::Url(FetchUrlError::NotHttps))
        );
    }

    const ISS: &str = "https://as.example.com/tenant";

    fn doc(issuer: &str, jwks_uri: &str) -> Vec<u8> {
        serde_json::json!({"issuer": issuer, "jwks_uri": jwks_uri, "token_endpoint": "https://x/t"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn metadata_needs_the_exact_issuer_and_a_fetchable_jwks_uri() {
        let ok = validate_metadata(&doc(ISS, "https://as.example.com/keys"), ISS).unwrap();
        assert_eq!(ok.jwks_uri.as_str(), "https://as.example.com/keys");
        for other in [
            "https://as.example.com/tenant/",
            "https://AS.example.com/tenant",
            "https://as.example.com",
            "https://evil.example/tenant",
        ] {
            assert!(
                matches!(
                    validate_metadata(&doc(other, "https://as.example.com/keys"), ISS),
                    Err(MetadataError::IssuerMismatch { .. })
                ),
                "{other}"
            );
        }
        assert_eq!(
            validate_metadata(&doc(ISS, "http://as.example.com/keys"), ISS),
            Err(MetadataError::JwksUriNotAllowed(FetchUrlError::NotHttps))
        );
        assert!(validate_metadata(&doc(ISS, "http://127.0.0.1:1/keys"), ISS).is_ok());
        assert_eq!(
            validate_metadata(&doc(ISS, "/keys"), ISS),
            Err(MetadataError::InvalidJwksUri)
        );
        assert_eq!(
            validate_metadata(b"[]", ISS),
            Err(MetadataError::NotAnObject)
        );
        assert_eq!(validate_metadata(b"{", ISS), Err(MetadataError::NotJson));
        assert_eq!(
            validate_metadata(b"{}", ISS),
            Err(MetadataError::MissingIssuer)
        );
        assert_eq!(
            validate_metadata(br#"{"issuer":"https://as.example.com/tenant"}"#, ISS),
            Err(MetadataError::MissingJwksUri)
        );
        let big = vec![b' '; MAX_METADATA_BYTES + 1];
        assert_eq!(validate_metadata(&big, ISS), Err(MetadataError::TooLarge));
    }

    #[test]
    fn mismatch_messages_are_bounded() {
        let long = format!("https://evil.example/{}", "a".repeat(1000));
        let err = validate_metadata(&doc(&long, "https://x/keys"), ISS).unwrap_err();
        assert!(err.to_string().len() < 400);
    }

    /// A fake network: URL → (status, body); records every GET.
    struct Net {
        routes: HashMap<String, (u16, Vec<u8>)>,
        log: Vec<String>,
    }

    impl Net {
        fn new(routes: &[(&str, u16, Vec<u8>)]) -> Self {
            Self {
                routes: routes
                    .iter()
                    .map(|(u, s, b)| ((*u).to_owned(), (*s, b.clone())))
                    .collect(),
                log: Vec::new(),
            }
        }

        fn get(&mut self, url: Url) -> std::future::Ready<Result<FetchedResponse, FetchFailure>> {
            self.log.push(url.to_string());
            let (status, body) = self
                .routes
                .get(url.as_str())
                .cloned()
                .unwrap_or((404, Vec::new()));
            std::future::ready(Ok(FetchedResponse {
                status,
                cache_control: None,
                body,
            }))
        }
    }

    fn run_discover(net: &mut Net, issuers: &[&str]) -> Result<DiscoveredMetadata, RefreshError> {
        let issuers: Vec<String> = issuers.iter().map(|s| (*s).to_owned()).collect();
        let mut fetch = |url: Url| net.get(url);
        pollster::block_on(discover(&issuers, &mut fetch))
    }

    #[test]
    fn discovery_falls_back_through_the_candidates_in_order() {
        let appended = "https://as.example.com/tenant/.well-known/openid-configuration";
        let mut net = Net::new(&[(appended, 200, doc(ISS, "https://as.example.com/jwks"))]);
        let found = run_discover(&mut net, &[ISS]).unwrap();
        assert_eq!(found.jwks_uri.as_str(), "https://as.example.com/jwks");
        assert_eq!(
            net.log,
            [
                "https://as.example.com/.well-known/oauth-authorization-server/tenant",
                "https://as.example.com/.well-known/openid-configuration/tenant",
                appended,
            ]
        );
    }

    #[test]
    fn a_document_for_another_issuer_is_skipped_not_used() {
        let rfc8414 = "https://as.example.com/.well-known/oauth-authorization-server/tenant";
        let oidc = "https://as.example.com/.well-known/openid-configuration/tenant";
        let mut net = Net::new(&[
            (
                rfc8414,
                200,
                doc("https://evil.example", "https://evil.example/keys"),
            ),
            (oidc, 200, doc(ISS, "https://as.example.com/good-keys")),
        ]);
        let found = run_discover(&mut net, &[ISS]).unwrap();
        assert_eq!(found.jwks_uri.as_str(), "https://as.example.com/good-keys");
    }

    #[test]
    fn later_issuers_are_tried_when_the_first_yields_nothing() {
        let env = "https://env.scalekit.com";
        let res = "https://env.scalekit.com/resources/res_1";
        let root = "https://env.scalekit.com/.well-known/oauth-authorization-server";
        let mut net = Net::new(&[(root, 200, doc(env, "https://env.scalekit.com/keys"))]);
        let found = run_discover(&mut net, &[res, env]).unwrap();
        assert_eq!(found.issuer, env);
        assert_eq!(net.log.len(), 4, "three candidates of {res}, then {root}");
    }

    #[test]
    fn total_failure_lists_every_attempt() {
        let mut net = Net::new(&[]);
        let err = run_discover(&mut net, &["http://insecure.example", ISS]).unwrap_err();
        let RefreshError::DiscoveryFailed(attempts) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(attempts.len(), 4);
        assert_eq!(
            attempts[0].problem,
            AttemptProblem::Issuer(DiscoveryError::Url(FetchUrlError::NotHttps))
        );
        assert!(attempts[1..]
            .iter()
            .all(|a| a.problem == AttemptProblem::Status(404)));
        assert!(err
            .to_string()
            .contains("oauth-authorization-server/tenant: HTTP 404"));
        assert_eq!(
            net.log.len(),
            3,
            "nothing is fetched for an insecure issuer"
        );
    }

    #[test]
    fn location_from_settings() {
        let settings = |jwks: Option<&str>| {
            crate::settings::Settings::from_lookup(|name| match name {
                "RESOURCE" => Some("https://mcp.example.com/mcp".into()),
                "AUTHORIZATION_SERVERS" => Some(ISS.into()),
                "ORIGIN" => Some("https://origin.internal".into()),
                "JWKS_URI" => jwks.map(str::to_owned),
                _ => None,
            })
        };
        let location = |jwks| settings(jwks).unwrap().jwks_location;
        assert_eq!(location(None), JwksLocation::Discover(vec![ISS.to_owned()]));
        assert_eq!(location(Some("off")), JwksLocation::Off);
        assert_eq!(
            location(Some("https://as.example.com/keys")),
            JwksLocation::Fixed(Url::parse("https://as.example.com/keys").unwrap())
        );
        // A JWKS_URI the gate may not fetch is an invalid setting, found at the first request,
        // not at the first refresh.
        for bad in [
            "http://as.example.com/keys",
            "https://user:pw@as.example.com/keys",
        ] {
            let error = settings(Some(bad)).unwrap_err();
            assert_eq!(error.setting(), "JWKS_URI", "{bad}");
        }
        assert!(settings(Some("http://127.0.0.1:8788/keys")).is_ok());
    }

    #[test]
    fn resolved_uris_expire_unless_fixed() {
        let mut net = Net::new(&[(
            "https://as.example.com/.well-known/oauth-authorization-server/tenant",
            200,
            doc(ISS, "https://as.example.com/keys"),
        )]);
        let mut fetch = |url: Url| net.get(url);
        let location = JwksLocation::Discover(vec![ISS.to_owned()]);
        let resolved = pollster::block_on(resolve_jwks_uri(&location, &mut fetch, 1_000)).unwrap();
        assert!(resolved.is_fresh(1_000 + DISCOVERY_TTL_MS - 1));
        assert!(!resolved.is_fresh(1_000 + DISCOVERY_TTL_MS));
        assert!(
            !resolved.is_fresh(999),
            "a clock that went backwards forces a new discovery"
        );
        let fixed = JwksLocation::Fixed(Url::parse("https://as.example.com/k").unwrap());
        let resolved = pollster::block_on(resolve_jwks_uri(&fixed, &mut fetch, 0)).unwrap();
        assert!(resolved.is_fresh(u64::MAX));
        assert_eq!(
            pollster::block_on(resolve_jwks_uri(&JwksLocation::Off, &mut fetch, 0)),
            Err(RefreshError::Disabled)
        );
    }
}
