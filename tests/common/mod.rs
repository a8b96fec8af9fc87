//! Shared by the native integration tests: real keys (generated once per test binary), a
//! server key set, settings, and tokens signed with jwt-compact's native algorithms.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::OnceLock;

use base64ct::{Base64UrlUnpadded, Encoding};
use http::{HeaderMap, HeaderName, HeaderValue};
use jwt_compact::alg::{Ed25519, Es256, ModulusBits, Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use mcp_gate::rules::RuleSet;
use mcp_gate::settings::Settings;
use mcp_gate::token::KeySet;
use rand_core::OsRng;
use serde_json::{json, Value};

pub const ISS: &str = "https://env.example.com/resources/res_1";
pub const ISS_ENV: &str = "https://env.example.com";
pub const AUD: &str = "https://mcp.example.com/mcp";
pub const NOW: i64 = 1_800_000_000;

pub struct Keys {
    pub rsa: RsaPrivateKey,
    pub rsa_other: RsaPrivateKey,
    pub rsa_weak: RsaPrivateKey,
    pub ec: p256::ecdsa::SigningKey,
    pub ed: <Ed25519 as jwt_compact::Algorithm>::SigningKey,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa = |bits| RsaPrivateKey::new(&mut OsRng, bits).unwrap();
        Keys {
            rsa: Rsa::generate(&mut OsRng, ModulusBits::TwoKibibytes)
                .unwrap()
                .0
                .into_inner(),
            rsa_other: rsa(2048),
            rsa_weak: rsa(1024),
            ec: p256::ecdsa::SigningKey::random(&mut OsRng),
            ed: Ed25519::generate(&mut OsRng).0,
        }
    })
}

pub fn public_jwk(jwk: JsonWebKey<'_>, kid: &str) -> Value {
    let mut value = serde_json::to_value(jwk.to_verifying_key()).unwrap();
    value["kid"] = json!(kid);
    value
}

pub fn rsa_jwk(key: &RsaPrivateKey, kid: &str) -> Value {
    public_jwk(JsonWebKey::from(key), kid)
}

/// The server's key set: RSA "rsa-1", P-256 "ec-1", Ed25519 "ed-1", weak RSA "weak".
pub fn key_set() -> KeySet {
    let k = keys();
    let doc = json!({"keys": [
        rsa_jwk(&k.rsa, "rsa-1"),
        public_jwk(JsonWebKey::from(&k.ec), "ec-1"),
        public_jwk(JsonWebKey::from(&k.ed), "ed-1"),
        rsa_jwk(&k.rsa_weak, "weak"),
    ]});
    KeySet::parse(doc.to_string().as_bytes()).unwrap().set
}

pub fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("RESOURCE", AUD),
        ("AUTHORIZATION_SERVERS", ISS),
        ("ORIGIN", "https://origin.internal"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    vars.retain(|_, v| !v.is_empty());
    Settings::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

pub fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "user-1", "client_id": "client-1", "jti": "j-1",
           "exp": NOW + 300, "iat": NOW - 10, "scope": "mcp:tools:weather mcp:read"})
}

pub fn b64(text: &str) -> String {
    Base64UrlUnpadded::encode_string(text.as_bytes())
}

/// Signs raw header and claims JSON text with the named key.
pub fn sign_raw(header: &str, claims: &str, signer: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let k = keys();
    let signature: Vec<u8> = match signer {
        "rsa" => Rsa::rs256()
            .sign(&k.rsa, input.as_bytes())
            .as_bytes()
            .into_owned(),
        "ps256" => Rsa::ps256()
            .sign(&k.rsa, input.as_bytes())
            .as_bytes()
            .into_owned(),
        "rsa-other" => Rsa::rs256()
            .sign(&k.rsa_other, input.as_bytes())
            .as_bytes()
            .into_owned(),
        "weak" => Rsa::rs256()
            .sign(&k.rsa_weak, input.as_bytes())
            .as_bytes()
            .into_owned(),
        "ec" => Es256.sign(&k.ec, input.as_bytes()).as_bytes().into_owned(),
        "ed" => Ed25519
            .sign(&k.ed, input.as_bytes())
            .as_bytes()
            .into_owned(),
        "none" => Vec::new(),
        other => panic!("unknown signer {other}"),
    };
    format!("{input}.{}", Base64UrlUnpadded::encode_string(&signature))
}

pub fn token(header: Value, claims: Value, signer: &str) -> String {
    sign_raw(&header.to_string(), &claims.to_string(), signer)
}

pub fn rs256(claims: Value) -> String {
    token(
        json!({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}),
        claims,
        "rsa",
    )
}

/// A header map from `(name, value)` pairs, repeated names appended.
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// An `Authorization` value: a valid RS256 token (default claims) granting `scope`.
pub fn bearer(scope: &str) -> String {
    let mut c = claims();
    c["scope"] = json!(scope);
    format!("Bearer {}", rs256(c))
}

/// The example rules document (`tests/fixtures/rules.example.json`).
pub fn example_rules() -> RuleSet {
    RuleSet::parse(include_str!("../fixtures/rules.example.json")).unwrap()
}
