//! The verification key set (README "Workers KV" key `jwks`, §3 rule 3).
//!
//! Parsed once from an RFC 7517 JWK Set. Each key is checked on its own: unusable keys
//! (unknown `kty` or curve, RSA under 2048 bits, private key material, `use` other than `sig`,
//! `key_ops` without `verify`, an `alg` that is not a supported signature algorithm) are
//! skipped and reported, and the others stay usable. Key selection uses only the token's `kid`
//! and `alg`, matched against what the *key set* says; the token never supplies key material.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use jwt_compact::jwk::JsonWebKey;
use serde_json::{Map, Value};

use super::{Algorithm, KeyKind};

/// Smallest RSA modulus accepted (RFC 7518 §3.3 requires 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;

/// JWK members that hold secret key material: RSA, EC and OKP private parts (RFC 7518 §6.2.2,
/// §6.3.2, RFC 8037 §2) and the symmetric key value `k` (RFC 7518 §6.4.1). The one list: KV
/// loading skips such keys, a fetched set holding one is refused whole, the CLI strips them.
pub const SECRET_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One usable public verification key.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// `kid`, when the JWK has one.
    pub kid: Option<String>,
    /// Key type.
    pub kind: KeyKind,
    /// The JWK's own `alg`, which then is the only algorithm this key verifies.
    pub alg: Option<Algorithm>,
    /// Public key material only.
    pub jwk: JsonWebKey<'static>,
    /// `jwk` as JSON text, serialised once when the set is parsed: WebCrypto imports it, and
    /// the adapter's imported-key cache is keyed by it (per verification, no re-serialising).
    public_jwk_text: String,
}

impl KeyEntry {
    /// Whether this key may verify a token signed with `alg` (type match and JWK `alg` agreement).
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.kind == alg.key_kind() && self.alg.is_none_or(|own| own == alg)
    }

    /// The public key as JWK JSON text (for WebCrypto's `importKey("jwk", …)`).
    pub fn public_jwk_json(&self) -> &str {
        &self.public_jwk_text
    }
}

/// Why one key of the set was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Not a JSON object, or the key material does not decode.
    Malformed(String),
    /// `kty` is not RSA, EC or OKP (for example `oct`: symmetric keys are never accepted).
    UnsupportedKeyType(String),
    /// EC or OKP curve other than P-256 / Ed25519.
    UnsupportedCurve(String),
    /// RSA modulus shorter than [`MIN_RSA_BITS`].
    WeakRsaKey {
        /// Modulus size in bits.
        bits: usize,
    },
    /// The JWK carries private key material: it should never be published or stored here.
    PrivateKeyMaterial,
    /// `use` is present and not `sig`.
    NotForSignatures,
    /// `key_ops` is present and does not include `verify`.
    NoVerifyOperation,
    /// `alg` is present and not a supported signature algorithm for this key type.
    UnsupportedAlgorithm(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed key: {why}"),
            Self::UnsupportedKeyType(kty) => write!(f, "unsupported kty `{kty}`"),
            Self::UnsupportedCurve(crv) => write!(f, "unsupported curve `{crv}`"),
            Self::WeakRsaKey { bits } => {
                write!(f, "RSA key of {bits} bits (minimum {MIN_RSA_BITS})")
            }
            Self::PrivateKeyMaterial => f.write_str("contains private key material"),
            Self::NotForSignatures => f.write_str("`use` is not `sig`"),
            Self::NoVerifyOperation => f.write_str("`key_ops` does not include `verify`"),
            Self::UnsupportedAlgorithm(alg) => write!(f, "unsupported or mismatched alg `{alg}`"),
        }
    }
}

/// A skipped key, for logs and `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// `kid`, when present and a string.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// The document as a whole is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySetError {
    /// Not valid JSON.
    NotJson(String),
    /// JSON, but not an object with a `keys` array.
    NotAKeySet,
}

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson(why) => write!(f, "key set is not JSON: {why}"),
            Self::NotAKeySet => {
                f.write_str("key set is not a JWK Set (object with a `keys` array)")
            }
        }
    }
}

impl std::error::Error for KeySetError {}

/// Why no key could be chosen for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookupError {
    /// No key has the token's `kid` (a refresh may help).
    UnknownKid,
    /// Keys with this `kid` exist, but none fits the token's `alg`.
    KeyDoesNotFitAlgorithm,
    /// No `kid`, and the set does not hold exactly one usable key for the `alg`.
    NoUniqueKeyWithoutKid,
    /// Several keys share the `kid` and fit the `alg`.
    AmbiguousKid,
}

/// The parsed key set.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<KeyEntry>,
    generation: u64,
}

/// Source of [`KeySet::generation`] values: every parse gets a new one.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Result of parsing a JWK Set: the usable keys and the ones skipped.
#[derive(Debug, Clone)]
pub struct ParsedKeySet {
    /// Usable keys.
    pub set: KeySet,
    /// Skipped keys with reasons.
    pub skipped: Vec<SkippedKey>,
}

impl KeySet {
    /// Parses a JWK Set document.
    pub fn parse(json: &[u8]) -> Result<ParsedKeySet, KeySetError> {
        let doc: Value =
            serde_json::from_slice(json).map_err(|e| KeySetError::NotJson(e.to_string()))?;
        let keys = doc
            .as_object()
            .and_then(|o| o.get("keys"))
            .and_then(Value::as_array)
            .ok_or(KeySetError::NotAKeySet)?;
        let mut set = KeySet {
            keys: Vec::new(),
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        };
        let mut skipped = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            let kid = key.get("kid").and_then(Value::as_str).map(str::to_owned);
            match parse_key(key) {
                Ok(entry) => set.keys.push(entry),
                Err(reason) => skipped.push(SkippedKey { index, kid, reason }),
            }
        }
        Ok(ParsedKeySet { set, skipped })
    }

    /// Identifies this parsed set: a new parse (a refresh, a changed KV value) gets a larger
    /// number, clones keep it. Cached verifications are bound to it, so a key removed from the
    /// set can never keep a token alive through the cache. The empty default set is 0.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Usable keys.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether some key carries this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Chooses the key for a token from its `kid` and `alg` (README "Tokens" rule 3).
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&KeyEntry, KeyLookupError> {
        match kid {
            Some(kid) => {
                let mut same_kid = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid));
                let mut fitting = same_kid.clone().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    (Some(_), Some(_)) => Err(KeyLookupError::AmbiguousKid),
                    (None, _) if same_kid.next().is_some() => {
                        Err(KeyLookupError::KeyDoesNotFitAlgorithm)
                    }
                    (None, _) => Err(KeyLookupError::UnknownKid),
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    _ => Err(KeyLookupError::NoUniqueKeyWithoutKid),
                }
            }
        }
    }
}

fn parse_key(key: &Value) -> Result<KeyEntry, SkipReason> {
    let obj: &Map<String, Value> = key
        .as_object()
        .ok_or_else(|| SkipReason::Malformed("not an object".into()))?;
    let text = |name: &str| -> Result<Option<&str>, SkipReason> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(SkipReason::Malformed(format!("`{name}` is not a string"))),
        }
    };
    let kty = text("kty")?.ok_or_else(|| SkipReason::Malformed("no `kty`".into()))?;
    if SECRET_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err(SkipReason::PrivateKeyMaterial);
    }
    if text("use")?.is_some_and(|u| u != "sig") {
        return Err(SkipReason::NotForSignatures);
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops
            .as_array()
            .ok_or_else(|| SkipReason::Malformed("`key_ops` is not an array".into()))?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(SkipReason::NoVerifyOperation);
        }
    }
    let kind = match kty {
        "RSA" => KeyKind::Rsa,
        "EC" => match text("crv")? {
            Some("P-256") => KeyKind::P256,
            other => return Err(SkipReason::UnsupportedCurve(other.unwrap_or("").into())),
        },
        "OKP" => match text("crv")? {
            Some("Ed25519") => KeyKind::Ed25519,
            other => return Err(SkipReason::UnsupportedCurve(other.unwrap_or("").into())),
        },
        other => return Err(SkipReason::UnsupportedKeyType(other.into())),
    };
    let alg = match text("alg")? {
        None => None,
        Some(name) => match Algorithm::from_jws_name(name) {
            Some(alg) if alg.key_kind() == kind => Some(alg),
            _ => return Err(SkipReason::UnsupportedAlgorithm(name.into())),
        },
    };
    let jwk: JsonWebKey<'static> =
        serde_json::from_value(key.clone()).map_err(|e| SkipReason::Malformed(e.to_string()))?;
    check_material(&jwk)?;
    let public_jwk_text =
        serde_json::to_string(&jwk).map_err(|e| SkipReason::Malformed(e.to_string()))?;
    Ok(KeyEntry {
        kid: text("kid")?.map(str::to_owned),
        kind,
        alg,
        jwk,
        public_jwk_text,
    })
}

/// Checks sizes that the JWK deserializer does not.
fn check_material(jwk: &JsonWebKey<'_>) -> Result<(), SkipReason> {
    match jwk {
        JsonWebKey::Rsa { modulus, .. } => {
            let bits = bit_length(modulus);
            if bits < MIN_RSA_BITS {
                return Err(SkipReason::WeakRsaKey { bits });
            }
            Ok(())
        }
        JsonWebKey::EllipticCurve { x, y, .. } if x.len() == 32 && y.len() == 32 => Ok(()),
        JsonWebKey::KeyPair { x, .. } if x.len() == 32 => Ok(()),
        JsonWebKey::EllipticCurve { .. } | JsonWebKey::KeyPair { .. } => {
            Err(SkipReason::Malformed("wrong coordinate length".into()))
        }
        // `kty` was checked before: a symmetric or unknown key never gets here.
        _ => Err(SkipReason::UnsupportedKeyType("unknown".into())),
    }
}

/// Bit length of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let significant: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(first) => bytes.get(first..).unwrap_or_default(),
        None => &[],
    };
    match significant.first() {
        Some(top) => (significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        Base64UrlUnpadded::encode_string(bytes)
    }

    fn rsa(kid: &str, bits: usize) -> Value {
        let mut n = vec![0xC5u8; bits / 8];
        n[0] = 0xD1;
        json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": "AQAB"})
    }

    fn ec(kid: Option<&str>) -> Value {
        let mut v = json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])});
        if let Some(kid) = kid {
            v["kid"] = json!(kid);
        }
        v
    }

    fn parse(keys: Vec<Value>) -> ParsedKeySet {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    fn usable_kids(parsed: &ParsedKeySet) -> Vec<String> {
        parsed
            .set
            .keys()
            .iter()
            .map(|k| k.kid.clone().unwrap())
            .collect()
    }

    fn skip_reasons(parsed: &ParsedKeySet) -> Vec<SkipReason> {
        parsed.skipped.iter().map(|s| s.reason.clone()).collect()
    }

    #[test]
    fn key_material_of_the_wrong_size_or_kind_is_skipped() {
        let short = b64(&[1; 31]);
        let parsed = parse(vec![
            json!({"kty": "EC", "crv": "P-256", "kid": "short-x", "x": short, "y": b64(&[2; 32])}),
            json!({"kty": "EC", "crv": "P-256", "kid": "short-y", "x": b64(&[1; 32]), "y": short}),
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "short-okp", "x": short}),
            // An `alg` for another key type than the key's own.
            json!({"kty": "EC", "crv": "P-256", "kid": "rsa-alg", "alg": "RS256",
                   "x": b64(&[1; 32]), "y": b64(&[2; 32])}),
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "okp", "x": b64(&[3; 32])}),
        ]);
        let kids = usable_kids(&parsed);
        assert_eq!(kids, ["okp"]);
        let reasons = skip_reasons(&parsed);
        assert_eq!(
            reasons,
            [
                SkipReason::Malformed("wrong coordinate length".into()),
                SkipReason::Malformed("wrong coordinate length".into()),
                SkipReason::Malformed("wrong coordinate length".into()),
                SkipReason::UnsupportedAlgorithm("RS256".into()),
            ]
        );
    }

    #[test]
    fn unusable_keys_are_skipped_and_the_others_stay() {
        let mut private = ec(Some("priv"));
        private["d"] = json!(b64(&[3; 32]));
        let mut enc = rsa("enc", 2048);
        enc["use"] = json!("enc");
        let mut ops = rsa("ops", 2048);
        ops["key_ops"] = json!(["sign"]);
        let mut hs = rsa("hs", 2048);
        hs["alg"] = json!("HS256");
        let parsed = parse(vec![
            rsa("good", 2048),
            rsa("weak", 1024),
            private,
            enc,
            ops,
            hs,
            // A symmetric key is a secret: skipped as such before its type is looked at.
            json!({"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}),
            json!({"kty": "oct", "kid": "sym2"}),
            json!({"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"}),
            json!("not a key"),
            ec(Some("ec")),
        ]);
        let kids = usable_kids(&parsed);
        assert_eq!(kids, ["good", "ec"]);
        let reasons = skip_reasons(&parsed);
        assert_eq!(
            reasons[..8],
            [
                SkipReason::WeakRsaKey { bits: 1024 },
                SkipReason::PrivateKeyMaterial,
                SkipReason::NotForSignatures,
                SkipReason::NoVerifyOperation,
                SkipReason::UnsupportedAlgorithm("HS256".into()),
                SkipReason::PrivateKeyMaterial,
                SkipReason::UnsupportedKeyType("oct".into()),
                SkipReason::UnsupportedCurve("P-384".into()),
            ]
        );
        assert!(matches!(reasons[8], SkipReason::Malformed(_)));
    }

    #[test]
    fn whole_document_errors() {
        assert!(matches!(KeySet::parse(b"{"), Err(KeySetError::NotJson(_))));
        assert_eq!(KeySet::parse(b"[]").unwrap_err(), KeySetError::NotAKeySet);
        assert_eq!(
            KeySet::parse(b"{\"keys\":{}}").unwrap_err(),
            KeySetError::NotAKeySet
        );
    }

    #[test]
    fn selection_by_kid_and_alg() {
        let mut rs_only = rsa("pinned", 2048);
        rs_only["alg"] = json!("RS256");
        let set = parse(vec![
            rsa("a", 2048),
            rs_only,
            ec(Some("e")),
            rsa("dup", 2048),
            rsa("dup", 3072),
        ])
        .set;
        assert_eq!(
            set.select(Some("a"), Algorithm::Ps256)
                .unwrap()
                .kid
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            set.select(Some("pinned"), Algorithm::Rs256)
                .unwrap()
                .kid
                .as_deref(),
            Some("pinned")
        );
        assert_eq!(
            set.select(Some("pinned"), Algorithm::Ps256).unwrap_err(),
            KeyLookupError::KeyDoesNotFitAlgorithm
        );
        assert_eq!(
            set.select(Some("e"), Algorithm::Rs256).unwrap_err(),
            KeyLookupError::KeyDoesNotFitAlgorithm
        );
        assert_eq!(
            set.select(Some("zzz"), Algorithm::Rs256).unwrap_err(),
            KeyLookupError::UnknownKid
        );
        assert_eq!(
            set.select(Some("dup"), Algorithm::Rs256).unwrap_err(),
            KeyLookupError::AmbiguousKid
        );
        // Without `kid`: exactly one key must fit the algorithm.
        assert_eq!(
            set.select(None, Algorithm::Es256).unwrap().kid.as_deref(),
            Some("e")
        );
        assert_eq!(
            set.select(None, Algorithm::Rs256).unwrap_err(),
            KeyLookupError::NoUniqueKeyWithoutKid
        );
        assert_eq!(
            set.select(None, Algorithm::EdDsa).unwrap_err(),
            KeyLookupError::NoUniqueKeyWithoutKid
        );
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0, 1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0x7f, 0]), 15);
    }
}
