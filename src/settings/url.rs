//! Which URLs the gate may fetch from (README "Key lifecycle"): `https`, or `http` only to a
//! loopback host (local development and tests), no credentials, no fragment. Checked when a
//! setting names such a URL (`JWKS_URI`, `AS_METADATA_URL`) and again for every URL found in
//! metadata.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a URL may not be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchUrlError {
    /// Not `https` (and not `http` to a loopback host).
    NotHttps,
    /// Carries `user:password@`: credentials do not belong in these URLs.
    HasCredentials,
    /// Carries a `#fragment`.
    HasFragment,
}

impl fmt::Display for FetchUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHttps => {
                f.write_str("must be https (http only to 127.0.0.1, localhost or [::1])")
            }
            Self::HasCredentials => f.write_str("must not contain credentials"),
            Self::HasFragment => f.write_str("must not contain a fragment"),
        }
    }
}

impl std::error::Error for FetchUrlError {}

/// Whether the host is one of the loopback names allowed over plain `http`.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    }
}

/// Checks that the gate may fetch `url` (see the module documentation).
pub fn check_fetch_url(url: &Url) -> Result<(), FetchUrlError> {
    let secure = match url.scheme() {
        "https" => url.host().is_some(),
        "http" => is_loopback_host(url),
        _ => false,
    };
    if !secure {
        return Err(FetchUrlError::NotHttps);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchUrlError::HasCredentials);
    }
    if url.fragment().is_some() {
        return Err(FetchUrlError::HasFragment);
    }
    Ok(())
}
