//! Signature verification with WebCrypto (`crypto.subtle`), the Worker's native crypto.
//!
//! Imported `CryptoKey`s are cached per isolate, keyed by algorithm and the key's public JWK
//! (so a rotated key under a reused `kid` can never hit a stale entry).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

use crate::token::{Algorithm, KeyEntry, SignatureVerifier};

/// Bound on cached imported keys; the cache is simply cleared when full (key sets are small).
const MAX_CACHED_KEYS: usize = 64;

thread_local! {
    static IMPORTED: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
    /// The `(importKey, verify)` algorithm objects per JWS algorithm, built once per isolate:
    /// WebCrypto only reads them, so one object serves every call.
    static ALGORITHMS: RefCell<HashMap<Algorithm, (Object, Object)>> = RefCell::new(HashMap::new());
}

/// Verifies with `crypto.subtle`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WebCryptoVerifier;

fn object(pairs: &[(&str, JsValue)]) -> Object {
    let obj = Object::new();
    for (name, value) in pairs {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&obj, &JsValue::from_str(name), value);
    }
    obj
}

fn hash_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Rs256 | Algorithm::Ps256 | Algorithm::Es256 | Algorithm::EdDsa => "SHA-256",
        Algorithm::Rs384 | Algorithm::Ps384 => "SHA-384",
        Algorithm::Rs512 | Algorithm::Ps512 => "SHA-512",
    }
}

/// `(importKey algorithm, verify algorithm)` for a JWS algorithm, from the isolate's cache.
fn algorithms(alg: Algorithm) -> (Object, Object) {
    ALGORITHMS.with(|cache| {
        cache
            .borrow_mut()
            .entry(alg)
            .or_insert_with(|| build_algorithms(alg))
            .clone()
    })
}

fn build_algorithms(alg: Algorithm) -> (Object, Object) {
    let s = |v: &str| JsValue::from_str(v);
    let hash = s(hash_name(alg));
    match alg {
        Algorithm::Rs256 | Algorithm::Rs384 | Algorithm::Rs512 => (
            object(&[("name", s("RSASSA-PKCS1-v1_5")), ("hash", hash)]),
            object(&[("name", s("RSASSA-PKCS1-v1_5"))]),
        ),
        Algorithm::Ps256 | Algorithm::Ps384 | Algorithm::Ps512 => {
            // RFC 7518 §3.5: salt length equals the hash output length.
            let salt = match alg {
                Algorithm::Ps384 => 48,
                Algorithm::Ps512 => 64,
                _ => 32,
            };
            (
                object(&[("name", s("RSA-PSS")), ("hash", hash)]),
                object(&[("name", s("RSA-PSS")), ("saltLength", JsValue::from(salt))]),
            )
        }
        Algorithm::Es256 => (
            object(&[("name", s("ECDSA")), ("namedCurve", s("P-256"))]),
            object(&[("name", s("ECDSA")), ("hash", hash)]),
        ),
        Algorithm::EdDsa => (
            object(&[("name", s("Ed25519"))]),
            object(&[("name", s("Ed25519"))]),
        ),
    }
}

fn subtle() -> Option<SubtleCrypto> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    scope.crypto().ok().map(|c| c.subtle())
}

/// The cache key of an imported key: the algorithm and the key's public JWK text.
fn cache_key(key: &KeyEntry, alg: Algorithm) -> String {
    format!("{}|{}", alg.jws_name(), key.public_jwk_json())
}

/// `key` imported for `alg` before in this isolate.
pub fn imported(key: &KeyEntry, alg: Algorithm) -> Option<CryptoKey> {
    let cache_key = cache_key(key, alg);
    IMPORTED.with(|c| c.borrow().get(&cache_key).cloned())
}

/// Starts importing `key` for `alg` (a promise of the `CryptoKey`; keep it with [`remember`]).
pub fn import(key: &KeyEntry, alg: Algorithm) -> Option<js_sys::Promise> {
    let jwk: Object = js_sys::JSON::parse(key.public_jwk_json())
        .ok()?
        .dyn_into()
        .ok()?;
    let (import_alg, _) = algorithms(alg);
    let usages = Array::of1(&JsValue::from_str("verify"));
    subtle()?
        .import_key_with_object("jwk", &jwk, &import_alg, false, &usages)
        .ok()
}

/// Keeps an imported key for the isolate's later requests.
pub fn remember(key: &KeyEntry, alg: Algorithm, imported: CryptoKey) {
    let cache_key = cache_key(key, alg);
    IMPORTED.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(cache_key, imported);
    });
}

/// Starts `crypto.subtle.verify` (a promise of a boolean).
pub fn verify(
    crypto_key: &CryptoKey,
    alg: Algorithm,
    signing_input: &[u8],
    signature: &[u8],
) -> Option<js_sys::Promise> {
    let (_, verify_alg) = algorithms(alg);
    // Copies owned by JavaScript, not views of the wasm memory: the promise may settle after
    // later wasm calls, which can grow the memory (detaching its buffer under a view).
    let signature = js_sys::Uint8Array::from(signature);
    let signing_input = js_sys::Uint8Array::from(signing_input);
    subtle()?
        .verify_with_object_and_buffer_source_and_buffer_source(
            &verify_alg,
            crypto_key,
            &signature,
            &signing_input,
        )
        .ok()
}

impl SignatureVerifier for WebCryptoVerifier {
    async fn verify(
        &self,
        key: &KeyEntry,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> bool {
        let crypto_key = match imported(key, alg) {
            Some(hit) => hit,
            None => {
                let Some(promise) = import(key, alg) else {
                    return false;
                };
                let Some(new) = JsFuture::from(promise)
                    .await
                    .ok()
                    .and_then(|v| v.dyn_into::<CryptoKey>().ok())
                else {
                    return false;
                };
                remember(key, alg, new.clone());
                new
            }
        };
        let Some(promise) = verify(&crypto_key, alg, signing_input, signature) else {
            return false;
        };
        matches!(JsFuture::from(promise).await, Ok(v) if v.as_bool() == Some(true))
    }
}
