//! Key lifecycle (README "Workers KV", issue 4): where the key set comes from, when it may be fetched,
//! what may be written to KV, and the authorization server metadata mirror.
//!
//! Platform-free like the rest of the core: no clock (time is injected as `now_ms`, Unix
//! milliseconds) and no network. The fetching functions are `async` and take the HTTP GET as a
//! closure (`FnMut(Url) -> impl Future<Output = Result<FetchedResponse, FetchFailure>>`), which
//! the Worker adapter implements with `fetch` and the native tests with canned responses.
//!
//! - [`discovery`]: the JWKS URI — `JWKS_URI`, or discovered from the configured issuers
//!   (RFC 8414 path-inserted, then OpenID Connect path-inserted, then appended), with the
//!   metadata's `issuer` checked against the configured one. URLs are never taken from a token.
//! - [`jwks`]: validation of a fetched key set before it is used or written to KV (reject the
//!   whole document if it publishes secret key material), the canonical form that decides
//!   "changed or not", and `Cache-Control` lifetimes ([`cache_control`]).
//! - [`policy`]: the per-isolate refresh throttle (cooldown, single flight, negative memory of
//!   unknown `kid`s), the key cache with its stale-on-error rules, and the `/healthz` report.
//! - [`run`]: one key set refresh (resolve, fetch, validate) and the order of calls the
//!   Worker adapter makes around it.
//! - [`as_metadata`]: validation of the AS metadata mirrored at
//!   `/.well-known/oauth-authorization-server`.
//!
//! Every stage has its own error enum; [`RefreshError`] is the one a whole refresh attempt
//! returns, for logs and `/healthz`. None of them carries a response body or a secret.

pub mod as_metadata;
pub mod cache_control;
pub mod discovery;
pub mod fetch;
pub mod jwks;
pub mod policy;
pub mod run;

use std::fmt;

pub use fetch::{FetchFailure, FetchUrlError, FetchedResponse};

/// Why one refresh attempt (key set or AS metadata) produced nothing usable. The previous
/// keys and metadata stay in use whatever the variant (stale-on-error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// `JWKS_URI` is `off`: keys are managed by hand in KV, nothing is fetched.
    Disabled,
    /// A configured URL may not be fetched (not https outside loopback, credentials, …).
    UrlNotAllowed {
        /// The setting the URL came from.
        setting: &'static str,
        /// What is wrong with it.
        reason: FetchUrlError,
    },
    /// No metadata candidate of any configured issuer gave a valid document.
    DiscoveryFailed(Vec<discovery::DiscoveryAttempt>),
    /// The request itself failed (network, timeout, body too large).
    Fetch {
        /// The URL, without query or credentials.
        url: String,
        /// What went wrong.
        failure: FetchFailure,
    },
    /// The server answered with a status other than 2xx.
    HttpStatus {
        /// The URL, without query or credentials.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The key set document is unusable (see [`jwks::JwksError`]).
    KeySet(jwks::JwksError),
    /// The AS metadata document is unusable (see [`as_metadata::AsMetadataError`]).
    AsMetadata(as_metadata::AsMetadataError),
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("refreshing is disabled (JWKS_URI=off)"),
            Self::UrlNotAllowed { setting, reason } => write!(f, "{setting}: {reason}"),
            Self::DiscoveryFailed(attempts) => {
                f.write_str("JWKS URI discovery failed")?;
                for (i, attempt) in attempts.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { "; " })?;
                    write!(f, "{attempt}")?;
                }
                Ok(())
            }
            Self::Fetch { url, failure } => write!(f, "GET {url}: {failure}"),
            Self::HttpStatus { url, status } => write!(f, "GET {url}: HTTP {status}"),
            Self::KeySet(err) => write!(f, "key set rejected: {err}"),
            Self::AsMetadata(err) => write!(f, "AS metadata rejected: {err}"),
        }
    }
}

impl std::error::Error for RefreshError {}
