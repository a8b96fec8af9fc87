//! Validation of a fetched key set before it is used or written to KV key `jwks`, and the
//! canonical form that decides whether KV needs a write.
//!
//! Stricter than loading KV (which skips bad keys and keeps the rest, README "Workers KV"): a fetched
//! document is rejected *as a whole* when any key publishes secret material (`d`, `p`, `q`,
//! `dp`, `dq`, `qi`, `oth`, or a symmetric `k`). Someone published secrets; storing them in KV
//! would spread them further, and the document's other keys are not to be trusted either. It
//! is also rejected when it is larger than [`MAX_JWKS_BYTES`], not a JWK Set, or has no usable
//! key; other unusable keys (RSA under 2048 bits, `use: enc`, unknown `kty`, …) are skipped and
//! reported, exactly as the key set loader would skip them.
//!
//! The value written to KV is the document's canonical form (compact JSON, object members
//! sorted, the `keys` array sorted), so comparing it with the canonical form of what KV holds
//! tells "changed" from "the same keys, reformatted or reordered": KV is written only on a
//! real change (KV writes are rate-limited and billed).

use std::fmt;
use std::future::Future;

use serde_json::Value;
use url::Url;

use super::cache_control::key_set_lifetime_secs;
use super::discovery::shorten;
use super::fetch::{check_fetch_url, get_ok, FetchFailure, FetchedResponse};
use super::RefreshError;
use crate::token::keyset::{KeySet, KeySetError, SkippedKey, SECRET_MEMBERS};

/// Largest key set document accepted (a real one with a dozen RSA keys is under 20 KiB).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// A fetched key set that may be used and written to KV.
#[derive(Debug, Clone)]
pub struct ValidatedKeySet {
    set: KeySet,
    skipped: Vec<SkippedKey>,
    canonical: String,
}

impl ValidatedKeySet {
    /// The usable keys (at least one).
    pub fn set(&self) -> &KeySet {
        &self.set
    }

    /// Keys that were skipped, for the log.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The canonical JSON to write to KV key `jwks`.
    pub fn canonical_json(&self) -> &str {
        &self.canonical
    }
}

/// A fetched key set document is unusable; KV keeps its old value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Larger than [`MAX_JWKS_BYTES`].
    TooLarge {
        /// The document's size in bytes.
        len: usize,
    },
    /// Not JSON, or not an object with a `keys` array.
    Unparseable(KeySetError),
    /// A key carries secret key material: the whole document is refused.
    SecretKeyMaterial {
        /// Position of the first such key in `keys`.
        index: usize,
        /// Its `kid`, when it has one (cut to 200 characters).
        kid: Option<String>,
    },
    /// No key is usable.
    NoUsableKey {
        /// Every key, with why it was skipped.
        skipped: Vec<SkippedKey>,
    },
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len } => {
                write!(f, "document of {len} bytes exceeds {MAX_JWKS_BYTES}")
            }
            Self::Unparseable(err) => write!(f, "{err}"),
            Self::SecretKeyMaterial { index, kid } => {
                write!(f, "key {index}")?;
                if let Some(kid) = kid {
                    write!(f, " (kid {kid:?})")?;
                }
                f.write_str(" contains secret key material; the whole document is refused")
            }
            Self::NoUsableKey { skipped } => {
                write!(f, "no usable key ({} skipped", skipped.len())?;
                for key in skipped.iter().take(5) {
                    write!(f, "; #{}: {}", key.index, key.reason)?;
                }
                f.write_str(")")
            }
        }
    }
}

impl std::error::Error for JwksError {}

/// Validates a fetched key set document (see the module documentation).
pub fn validate_key_set(body: &[u8]) -> Result<ValidatedKeySet, JwksError> {
    if body.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge { len: body.len() });
    }
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| JwksError::Unparseable(KeySetError::NotJson(e.to_string())))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::Unparseable(KeySetError::NotAKeySet))?;
    for (index, key) in keys.iter().enumerate() {
        let Some(members) = key.as_object() else {
            continue;
        };
        if SECRET_MEMBERS.iter().any(|m| members.contains_key(*m)) {
            let kid = members.get("kid").and_then(Value::as_str).map(shorten);
            return Err(JwksError::SecretKeyMaterial { index, kid });
        }
    }
    let parsed = KeySet::parse(body).map_err(JwksError::Unparseable)?;
    if parsed.set.is_empty() {
        return Err(JwksError::NoUsableKey {
            skipped: parsed.skipped,
        });
    }
    Ok(ValidatedKeySet {
        set: parsed.set,
        skipped: parsed.skipped,
        canonical: canonical_key_set(&doc),
    })
}

/// Whether KV must be written: `current` (what KV key `jwks` holds, `None` if missing) is
/// missing, not JSON, or differs from `fetched` in canonical form.
pub fn needs_write(current: Option<&[u8]>, fetched: &ValidatedKeySet) -> bool {
    match current.and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok()) {
        Some(doc) => canonical_key_set(&doc) != fetched.canonical,
        None => true,
    }
}

/// The canonical form of a key set document: compact JSON with object members sorted by name
/// at every level and the elements of the top-level `keys` array sorted by their own
/// canonical form (their order carries no meaning). Other arrays keep their order.
pub fn canonical_key_set(doc: &Value) -> String {
    let mut out = String::new();
    match doc {
        Value::Object(members) => {
            let mut names: Vec<&String> = members.keys().collect();
            names.sort();
            out.push('{');
            for (i, name) in names.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                match members.get(name) {
                    Some(Value::Array(keys)) if name == "keys" => {
                        let mut each: Vec<String> = keys.iter().map(canonical).collect();
                        each.sort();
                        out.push('[');
                        out.push_str(&each.join(","));
                        out.push(']');
                    }
                    Some(value) => write_canonical(value, &mut out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
        other => write_canonical(other, &mut out),
    }
    out
}

fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(members) => {
            let mut entries: Vec<(&String, &Value)> = members.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, member)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A key set fetched from the JWKS URI and validated.
#[derive(Debug, Clone)]
pub struct FetchedKeySet {
    /// The keys.
    pub keys: ValidatedKeySet,
    /// Where they came from.
    pub source: Url,
    /// When they were fetched (Unix ms).
    pub fetched_at_ms: u64,
    /// Freshness lifetime from `Cache-Control`, clamped ([`super::cache_control`]).
    pub lifetime_secs: u64,
}

impl FetchedKeySet {
    /// Until when (Unix ms) the keys count as fresh.
    pub fn fresh_until_ms(&self) -> u64 {
        self.fetched_at_ms
            .saturating_add(self.lifetime_secs.saturating_mul(1000))
    }
}

/// GETs the key set from `jwks_uri` and validates it.
pub async fn fetch_key_set<F, Fut>(
    jwks_uri: &Url,
    fetch: &mut F,
    now_ms: u64,
) -> Result<FetchedKeySet, RefreshError>
where
    F: FnMut(Url) -> Fut,
    Fut: Future<Output = Result<FetchedResponse, FetchFailure>>,
{
    check_fetch_url(jwks_uri).map_err(|reason| RefreshError::UrlNotAllowed {
        setting: "JWKS_URI",
        reason,
    })?;
    let response = get_ok(fetch, jwks_uri).await?;
    let keys = validate_key_set(&response.body).map_err(RefreshError::KeySet)?;
    Ok(FetchedKeySet {
        keys,
        source: jwks_uri.clone(),
        fetched_at_ms: now_ms,
        lifetime_secs: key_set_lifetime_secs(response.cache_control.as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keyset::SkipReason;
    use base64ct::{Base64UrlUnpadded, Encoding};
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        Base64UrlUnpadded::encode_string(bytes)
    }

    fn rsa(kid: &str, bits: usize) -> Value {
        let mut n = vec![0xC5u8; bits / 8];
        n[0] = 0xD1;
        json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&n), "e": "AQAB"})
    }

    fn ec(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&[1; 32]), "y": b64(&[2; 32])})
    }

    fn body(keys: Vec<Value>) -> Vec<u8> {
        json!({ "keys": keys }).to_string().into_bytes()
    }

    #[test]
    fn a_good_set_is_accepted_and_weak_keys_are_reported() {
        let valid =
            validate_key_set(&body(vec![rsa("a", 2048), rsa("weak", 1024), ec("e")])).unwrap();
        assert_eq!(valid.set().len(), 2);
        assert_eq!(valid.skipped().len(), 1);
        assert_eq!(
            valid.skipped()[0].reason,
            SkipReason::WeakRsaKey { bits: 1024 }
        );
        assert_eq!(valid.skipped()[0].kid.as_deref(), Some("weak"));
    }

    #[test]
    fn any_secret_material_rejects_the_whole_document() {
        for member in SECRET_MEMBERS {
            let mut leaked = ec("leaked");
            leaked[member] = json!(b64(&[3; 32]));
            let err = validate_key_set(&body(vec![rsa("a", 2048), leaked])).unwrap_err();
            assert_eq!(
                err,
                JwksError::SecretKeyMaterial {
                    index: 1,
                    kid: Some("leaked".into())
                },
                "{member}"
            );
            assert!(!err.to_string().contains(&b64(&[3; 32])));
        }
        let symmetric = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(matches!(
            validate_key_set(&body(vec![rsa("a", 2048), symmetric])),
            Err(JwksError::SecretKeyMaterial {
                index: 1,
                kid: None
            })
        ));
    }

    #[test]
    fn documents_without_usable_keys_are_rejected() {
        let err = validate_key_set(&body(vec![rsa("weak", 1024)])).unwrap_err();
        assert!(matches!(&err, JwksError::NoUsableKey { skipped } if skipped.len() == 1));
        assert!(err.to_string().contains("1024 bits"), "{err}");
        assert!(matches!(
            validate_key_set(&body(vec![])),
            Err(JwksError::NoUsableKey { .. })
        ));
        assert!(matches!(
            validate_key_set(b"<html>"),
            Err(JwksError::Unparseable(KeySetError::NotJson(_)))
        ));
        assert_eq!(
            validate_key_set(br#"{"keys": {}}"#).unwrap_err(),
            JwksError::Unparseable(KeySetError::NotAKeySet)
        );
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert_eq!(
            validate_key_set(&big).unwrap_err(),
            JwksError::TooLarge {
                len: MAX_JWKS_BYTES + 1
            }
        );
    }

    #[test]
    fn canonical_form_ignores_formatting_and_order_only() {
        let a = validate_key_set(&body(vec![rsa("a", 2048), ec("e")])).unwrap();
        let reordered = format!(
            "{{\n  \"keys\": [{}, {}]\n}}",
            ec("e"),
            serde_json::to_string_pretty(&rsa("a", 2048)).unwrap()
        );
        assert!(!needs_write(Some(reordered.as_bytes()), &a));
        assert!(!needs_write(Some(a.canonical_json().as_bytes()), &a));
        let rotated = body(vec![rsa("b", 2048), ec("e")]);
        assert!(needs_write(Some(&rotated), &a));
        let fewer = body(vec![ec("e")]);
        assert!(needs_write(Some(&fewer), &a));
        assert!(needs_write(None, &a));
        assert!(needs_write(Some(b"not json"), &a));
        // The canonical form is itself a valid key set with the same keys.
        let again = validate_key_set(a.canonical_json().as_bytes()).unwrap();
        assert_eq!(again.canonical_json(), a.canonical_json());
    }

    #[test]
    fn canonical_form_sorts_members_but_keeps_inner_array_order() {
        let doc = json!({"z": 1, "keys": [{"b": [2, 1], "a": "x"}], "a": {"y": null, "x": true}});
        assert_eq!(
            canonical_key_set(&doc),
            r#"{"a":{"x":true,"y":null},"keys":[{"a":"x","b":[2,1]}],"z":1}"#
        );
    }

    #[test]
    fn fetching_records_source_time_and_lifetime() {
        let url = Url::parse("https://as.example.com/keys").unwrap();
        let mut fetch = |_: Url| async {
            Ok(FetchedResponse {
                status: 200,
                cache_control: Some("public, max-age=600".into()),
                body: body(vec![rsa("a", 2048)]),
            })
        };
        let fetched = pollster::block_on(fetch_key_set(&url, &mut fetch, 5_000)).unwrap();
        assert_eq!(fetched.lifetime_secs, 600);
        assert_eq!(fetched.fresh_until_ms(), 605_000);
        assert_eq!(fetched.source, url);

        let mut leaking = |_: Url| async {
            let mut key = rsa("a", 2048);
            key["d"] = json!("AAAA");
            Ok(FetchedResponse {
                status: 200,
                cache_control: None,
                body: body(vec![key]),
            })
        };
        let err = pollster::block_on(fetch_key_set(&url, &mut leaking, 0)).unwrap_err();
        assert!(matches!(
            err,
            RefreshError::KeySet(JwksError::SecretKeyMaterial { .. })
        ));

        let insecure = Url::parse("http://as.example.com/keys").unwrap();
        let err = pollster::block_on(fetch_key_set(&insecure, &mut fetch, 0)).unwrap_err();
        assert!(matches!(err, RefreshError::UrlNotAllowed { .. }));
    }
}
