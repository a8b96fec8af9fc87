//! The authorization server metadata mirror (`AS_METADATA_URL`, KV key `as-metadata`).
//!
//! MCP clients of revision 2025-03-26 look for `/.well-known/oauth-authorization-server` on
//! the MCP server's own origin. The gate fetches the real document from `AS_METADATA_URL`
//! (by the Cron Trigger), checks it, stores the bytes verbatim in KV and serves them.
//!
//! The check follows RFC 8414 §3.3: the document's `issuer` must be the issuer into which the
//! well-known string was inserted to build `AS_METADATA_URL`, that is, `AS_METADATA_URL` must
//! be one of the [`metadata_candidates`] of that `issuer`. So `AS_METADATA_URL` has to be a
//! well-known metadata URL (RFC 8414 or OpenID form), not an arbitrary copy of the document.
//!
//! Limits of a mirror, for the README:
//! - The mirrored `issuer` names the real authorization server, not the gate's origin, and is
//!   served unchanged (rewriting it would break every token's `iss`). A client that applies
//!   RFC 8414 §3.3 strictly to the URL it fetched (the gate's) will reject the mirror; such a
//!   client should use RFC 9728 discovery (`authorization_servers`) instead.
//! - Endpoints in the document are the real server's; the gate does not proxy them.
//! - The mirror is as fresh as the last successful cron run; a failed fetch keeps the
//!   previous copy, and until the first success there is nothing to serve (503).

use std::fmt;
use std::future::Future;

use serde_json::Value;
use url::Url;

use super::discovery::{metadata_candidates, shorten, DiscoveryError};
use super::fetch::{check_fetch_url, get_ok, FetchFailure, FetchUrlError, FetchedResponse};
use super::RefreshError;

/// Largest metadata document mirrored.
pub const MAX_AS_METADATA_BYTES: usize = 64 * 1024;

/// A document that may be mirrored: its exact bytes and its issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredMetadata {
    bytes: Vec<u8>,
    issuer: String,
}

impl MirroredMetadata {
    /// The document exactly as fetched: write these to KV and serve them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The document's `issuer`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// The fetched document may not be mirrored; KV keeps its old value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsMetadataError {
    /// Larger than [`MAX_AS_METADATA_BYTES`].
    TooLarge,
    /// Not JSON.
    NotJson,
    /// JSON, but not an object.
    NotAnObject,
    /// No `issuer` string.
    MissingIssuer,
    /// `issuer` is not a usable issuer identifier (see [`DiscoveryError`]).
    InvalidIssuer(DiscoveryError),
    /// `AS_METADATA_URL` is not a well-known metadata URL of the document's `issuer`.
    IssuerDoesNotMatchUrl {
        /// The document's `issuer` (cut to 200 characters).
        issuer: String,
    },
}

impl fmt::Display for AsMetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => write!(f, "document larger than {MAX_AS_METADATA_BYTES} bytes"),
            Self::NotJson => f.write_str("document is not JSON"),
            Self::NotAnObject => f.write_str("document is not a JSON object"),
            Self::MissingIssuer => f.write_str("document has no `issuer` string"),
            Self::InvalidIssuer(err) => write!(f, "document `issuer`: {err}"),
            Self::IssuerDoesNotMatchUrl { issuer } => write!(
                f,
                "AS_METADATA_URL is not a well-known metadata URL of issuer {issuer:?} (RFC 8414 §3.3)"
            ),
        }
    }
}

impl std::error::Error for AsMetadataError {}

/// Validates a document fetched from `metadata_url` (`AS_METADATA_URL`).
pub fn validate_as_metadata(
    body: &[u8],
    metadata_url: &Url,
) -> Result<MirroredMetadata, AsMetadataError> {
    if body.len() > MAX_AS_METADATA_BYTES {
        return Err(AsMetadataError::TooLarge);
    }
    let doc: Value = serde_json::from_slice(body).map_err(|_| AsMetadataError::NotJson)?;
    let issuer = doc
        .as_object()
        .ok_or(AsMetadataError::NotAnObject)?
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or(AsMetadataError::MissingIssuer)?;
    let candidates = metadata_candidates(issuer).map_err(AsMetadataError::InvalidIssuer)?;
    if !candidates.iter().any(|c| c.url == *metadata_url) {
        return Err(AsMetadataError::IssuerDoesNotMatchUrl {
            issuer: shorten(issuer),
        });
    }
    Ok(MirroredMetadata {
        bytes: body.to_vec(),
        issuer: issuer.to_owned(),
    })
}

/// Whether KV key `as-metadata` must be written (missing or different bytes).
pub fn needs_write(current: Option<&[u8]>, fetched: &MirroredMetadata) -> bool {
    current != Some(fetched.bytes())
}

/// Parses and checks `AS_METADATA_URL` (an https URL, or http on loopback).
pub fn metadata_url(setting: &str) -> Result<Url, RefreshError> {
    let not_allowed = |reason| RefreshError::UrlNotAllowed {
        setting: "AS_METADATA_URL",
        reason,
    };
    let url = Url::parse(setting).map_err(|_| not_allowed(FetchUrlError::NotHttps))?;
    check_fetch_url(&url).map_err(not_allowed)?;
    Ok(url)
}

/// GETs `AS_METADATA_URL` and validates the document.
pub async fn fetch_as_metadata<F, Fut>(
    metadata_url: &Url,
    fetch: &mut F,
) -> Result<MirroredMetadata, RefreshError>
where
    F: FnMut(Url) -> Fut,
    Fut: Future<Output = Result<FetchedResponse, FetchFailure>>,
{
    check_fetch_url(metadata_url).map_err(|reason| RefreshError::UrlNotAllowed {
        setting: "AS_METADATA_URL",
        reason,
    })?;
    let response = get_ok(fetch, metadata_url).await?;
    validate_as_metadata(&response.body, metadata_url).map_err(RefreshError::AsMetadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn doc(issuer: &str) -> Vec<u8> {
        // Deliberately odd formatting: the mirror must keep the bytes as they are.
        format!(
            "{{ \"issuer\" : \"{issuer}\",\n \"authorization_endpoint\":\"{issuer}/authorize\" }}"
        )
        .into_bytes()
    }

    #[test]
    fn path_inserted_and_root_forms_match_their_issuer() {
        let cases = [
            (
                "https://env.scalekit.com/.well-known/oauth-authorization-server/resources/res_1",
                "https://env.scalekit.com/resources/res_1",
            ),
            (
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com",
            ),
            (
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/",
            ),
            (
                "https://as.example.com/.well-known/openid-configuration",
                "https://as.example.com",
            ),
            (
                "https://as.example.com/t/.well-known/openid-configuration",
                "https://as.example.com/t",
            ),
            (
                "http://127.0.0.1:8080/.well-known/oauth-authorization-server/t",
                "http://127.0.0.1:8080/t",
            ),
        ];
        for (metadata, issuer) in cases {
            let body = doc(issuer);
            let mirrored = validate_as_metadata(&body, &url(metadata)).unwrap();
            assert_eq!(mirrored.bytes(), body.as_slice(), "verbatim");
            assert_eq!(mirrored.issuer(), issuer);
        }
    }

    #[test]
    fn a_document_of_another_issuer_is_refused() {
        let rfc8414 = url("https://as.example.com/.well-known/oauth-authorization-server/t");
        for issuer in [
            "https://as.example.com",
            "https://as.example.com/other",
            "https://evil.example/t",
            "http://as.example.com/t",
        ] {
            assert!(
                validate_as_metadata(&doc(issuer), &rfc8414).is_err(),
                "{issuer}"
            );
        }
        let custom = url("https://as.example.com/metadata.json");
        assert_eq!(
            validate_as_metadata(&doc("https://as.example.com"), &custom),
            Err(AsMetadataError::IssuerDoesNotMatchUrl {
                issuer: "https://as.example.com".into()
            })
        );
        assert_eq!(
            validate_as_metadata(b"[1]", &rfc8414),
            Err(AsMetadataError::NotAnObject)
        );
        assert_eq!(
            validate_as_metadata(b"{", &rfc8414),
            Err(AsMetadataError::NotJson)
        );
        assert_eq!(
            validate_as_metadata(br#"{"issuer": 5}"#, &rfc8414),
            Err(AsMetadataError::MissingIssuer)
        );
        let big = vec![b' '; MAX_AS_METADATA_BYTES + 1];
        assert_eq!(
            validate_as_metadata(&big, &rfc8414),
            Err(AsMetadataError::TooLarge)
        );
    }

    #[test]
    fn writes_only_on_change() {
        let u = url("https://as.example.com/.well-known/oauth-authorization-server");
        let m = validate_as_metadata(&doc("https://as.example.com"), &u).unwrap();
        assert!(needs_write(None, &m));
        assert!(!needs_write(Some(m.bytes()), &m));
        assert!(needs_write(Some(b"{}"), &m));
    }

    #[test]
    fn setting_and_fetch() {
        assert!(
            metadata_url("https://as.example.com/.well-known/oauth-authorization-server").is_ok()
        );
        assert!(matches!(
            metadata_url("http://as.example.com/.well-known/oauth-authorization-server"),
            Err(RefreshError::UrlNotAllowed {
                setting: "AS_METADATA_URL",
                ..
            })
        ));
        let u = url("https://as.example.com/.well-known/oauth-authorization-server");
        let mut fetch = |_: Url| async {
            Ok(FetchedResponse {
                status: 200,
                cache_control: None,
                body: doc("https://evil.example"),
            })
        };
        let err = pollster::block_on(fetch_as_metadata(&u, &mut fetch)).unwrap_err();
        assert!(matches!(
            err,
            RefreshError::AsMetadata(AsMetadataError::IssuerDoesNotMatchUrl { .. })
        ));
        let mut down = |_: Url| async { Err(FetchFailure::Network("refused".into())) };
        assert!(matches!(
            pollster::block_on(fetch_as_metadata(&u, &mut down)),
            Err(RefreshError::Fetch { .. })
        ));
    }
}
