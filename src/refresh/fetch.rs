//! What the adapter's HTTP GET returns, and which URLs the gate agrees to fetch.
//!
//! Every URL fetched here comes from the settings or from validated issuer metadata, never
//! from a token. Only `https` is fetched, except `http` to a loopback host (`127.0.0.1`,
//! `localhost`, `[::1]`), which exists for local development and the end-to-end tests: a
//! deployed Worker cannot reach loopback, so this never weakens production, while plain
//! `http` anywhere else would let anyone on the path substitute the keys.

use std::fmt;
use std::future::Future;

use url::Url;

use super::RefreshError;

/// Time the adapter should allow one GET (metadata, key set) before giving up. A refresh
/// triggered by a request holds that request, so this is short.
pub const FETCH_TIMEOUT_MS: u64 = 5_000;

/// One HTTP response as the adapter read it. The adapter must stop reading the body at the
/// limit of the document it fetches (`jwks::MAX_JWKS_BYTES`, …) and report
/// [`FetchFailure::TooLarge`] instead of buffering more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Cache-Control` header, if any (several lines joined with `, `).
    pub cache_control: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Why the GET produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// Connection, TLS or runtime error; the text must not contain secrets.
    Network(String),
    /// No response within [`FETCH_TIMEOUT_MS`].
    Timeout,
    /// The body exceeded the limit for this document.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(why) => write!(f, "network error: {why}"),
            Self::Timeout => write!(f, "no response within {FETCH_TIMEOUT_MS} ms"),
            Self::TooLarge { limit } => write!(f, "body larger than {limit} bytes"),
        }
    }
}

pub use crate::settings::url::{check_fetch_url, is_loopback_host, FetchUrlError};

/// The URL for logs: scheme, host, port and path, without query or credentials (a query may
/// carry an API key some providers put there).
pub fn loggable(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    // Only fails for URLs that cannot carry credentials, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// GETs `url` and returns the response if its status is 2xx.
pub(crate) async fn get_ok<F, Fut>(
    fetch: &mut F,
    url: &Url,
) -> Result<FetchedResponse, RefreshError>
where
    F: FnMut(Url) -> Fut,
    Fut: Future<Output = Result<FetchedResponse, FetchFailure>>,
{
    let response = fetch(url.clone())
        .await
        .map_err(|failure| RefreshError::Fetch {
            url: loggable(url),
            failure,
        })?;
    if !(200..300).contains(&response.status) {
        return Err(RefreshError::HttpStatus {
            url: loggable(url),
            status: response.status,
        });
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<(), FetchUrlError> {
        check_fetch_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn https_everywhere_http_only_on_loopback() {
        assert_eq!(check("https://as.example.com/keys"), Ok(()));
        assert_eq!(check("http://127.0.0.1:8787/keys"), Ok(()));
        assert_eq!(check("http://localhost/keys"), Ok(()));
        assert_eq!(check("http://LOCALHOST:1/keys"), Ok(()));
        assert_eq!(check("http://[::1]:9/keys"), Ok(()));
        assert_eq!(
            check("http://as.example.com/keys"),
            Err(FetchUrlError::NotHttps)
        );
        assert_eq!(check("http://127.0.0.2/keys"), Err(FetchUrlError::NotHttps));
        assert_eq!(
            check("http://localhost.evil.com/keys"),
            Err(FetchUrlError::NotHttps)
        );
        assert_eq!(check("http://10.0.0.1/keys"), Err(FetchUrlError::NotHttps));
        assert_eq!(
            check("ftp://as.example.com/keys"),
            Err(FetchUrlError::NotHttps)
        );
        assert_eq!(check("file:///etc/passwd"), Err(FetchUrlError::NotHttps));
        assert_eq!(
            check("https://u:p@as.example.com/"),
            Err(FetchUrlError::HasCredentials)
        );
        assert_eq!(
            check("https://as.example.com/#x"),
            Err(FetchUrlError::HasFragment)
        );
    }

    #[test]
    fn loggable_urls_hide_query_and_credentials() {
        let url = Url::parse("https://u:p@as.example.com:8443/keys?api_key=s3cret#f").unwrap();
        assert_eq!(loggable(&url), "https://as.example.com:8443/keys");
    }

    #[test]
    fn non_2xx_is_an_error_with_the_status() {
        let url = Url::parse("https://as.example.com/keys?k=secret").unwrap();
        let mut fetch = |_: Url| async {
            Ok(FetchedResponse {
                status: 503,
                cache_control: None,
                body: b"down".to_vec(),
            })
        };
        let err = pollster::block_on(get_ok(&mut fetch, &url)).unwrap_err();
        assert_eq!(
            err,
            RefreshError::HttpStatus {
                url: "https://as.example.com/keys".into(),
                status: 503
            }
        );
        let mut failing = |_: Url| async { Err(FetchFailure::Timeout) };
        let err = pollster::block_on(get_ok(&mut failing, &url)).unwrap_err();
        assert!(err.to_string().contains("no response within"), "{err}");
        assert!(!err.to_string().contains("secret"));
    }
}
