//! README "Tokens": every rule, with real keys and real signatures (jwt-compact's native algorithms),
//! one negative case each and positive controls.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::*;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use mcp_gate::settings::Settings;
use mcp_gate::token::extract::{self, ExtractError};
use mcp_gate::token::keyset::KeyLookupError;
use mcp_gate::token::native::NativeVerifier;
use mcp_gate::token::verify;
use mcp_gate::token::{KeySet, TokenError, VerifiedToken};
use serde_json::json;

fn check_with(raw: &str, settings: &Settings, keys: &KeySet) -> Result<VerifiedToken, TokenError> {
    let header = format!("Bearer {raw}");
    let credential = extract::bearer([header.as_str()]).expect("credential");
    let jwt = verify::parse(&credential, &settings.token)?;
    pollster::block_on(verify::verify(
        &jwt,
        keys,
        &NativeVerifier,
        &settings.token,
        NOW as u64 * 1000,
    ))
}

fn check(raw: &str) -> Result<VerifiedToken, TokenError> {
    check_with(raw, &settings(&[]), &key_set())
}

#[test]
fn valid_tokens_of_every_algorithm_verify() {
    let ok = check(&rs256(claims())).unwrap();
    assert_eq!(ok.issuer(), ISS);
    assert_eq!(ok.subject(), Some("user-1"));
    assert_eq!(ok.client_id(), Some("client-1"));
    assert_eq!(ok.jti(), Some("j-1"));
    assert_eq!(ok.scopes(), ["mcp:tools:weather", "mcp:read"]);
    check(&token(
        json!({"alg": "PS256", "kid": "rsa-1"}),
        claims(),
        "ps256",
    ))
    .unwrap();
    check(&token(
        json!({"alg": "ES256", "kid": "ec-1"}),
        claims(),
        "ec",
    ))
    .unwrap();
    check(&token(
        json!({"alg": "EdDSA", "kid": "ed-1"}),
        claims(),
        "ed",
    ))
    .unwrap();
}

#[test]
fn alg_none_is_refused() {
    let raw = token(json!({"alg": "none", "kid": "rsa-1"}), claims(), "none");
    assert_eq!(check(&raw).unwrap_err(), TokenError::AlgorithmNotAllowed);
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    use jwt_compact::alg::{Hs256, Hs256Key};
    let public_pem_like = rsa_jwk(&keys().rsa, "rsa-1").to_string();
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": "rsa-1"}).to_string()),
        b64(&claims().to_string())
    );
    let mac = Hs256.sign(&Hs256Key::new(public_pem_like.as_bytes()), input.as_bytes());
    let raw = format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&mac.as_bytes())
    );
    assert_eq!(check(&raw).unwrap_err(), TokenError::AlgorithmNotAllowed);
}

#[test]
fn flipped_signature_is_refused() {
    let raw = rs256(claims());
    let (input, sig) = raw.rsplit_once('.').unwrap();
    let mut bytes = Base64UrlUnpadded::decode_vec(sig).unwrap();
    bytes[10] ^= 0x01;
    let flipped = format!("{input}.{}", Base64UrlUnpadded::encode_string(&bytes));
    assert_eq!(check(&flipped).unwrap_err(), TokenError::BadSignature);
    // Claims changed after signing.
    let mut other = claims();
    other["scope"] = json!("admin");
    let forged = format!(
        "{}.{}.{sig}",
        input.split('.').next().unwrap(),
        b64(&other.to_string())
    );
    assert_eq!(check(&forged).unwrap_err(), TokenError::BadSignature);
}

#[test]
fn unknown_kid_and_key_of_another_type() {
    let raw = token(json!({"alg": "RS256", "kid": "nope"}), claims(), "rsa");
    assert_eq!(
        check(&raw).unwrap_err(),
        TokenError::Key(KeyLookupError::UnknownKid)
    );
    // An ES256 token naming the RSA key: `alg` never chooses the verifier alone.
    let raw = token(json!({"alg": "ES256", "kid": "rsa-1"}), claims(), "ec");
    assert_eq!(
        check(&raw).unwrap_err(),
        TokenError::Key(KeyLookupError::KeyDoesNotFitAlgorithm)
    );
}

#[test]
fn embedded_jwk_and_jku_headers_are_ignored() {
    let attacker = rsa_jwk(&keys().rsa_other, "rsa-1");
    let raw = token(
        json!({"alg": "RS256", "kid": "rsa-1", "jwk": attacker, "jku": "https://evil.example/jwks",
               "x5u": "https://evil.example/cert"}),
        claims(),
        "rsa-other",
    );
    assert_eq!(check(&raw).unwrap_err(), TokenError::BadSignature);
    // Control: the same headers on a token signed by the real key are harmless.
    let raw = token(
        json!({"alg": "RS256", "kid": "rsa-1", "jku": "https://evil.example/jwks"}),
        claims(),
        "rsa",
    );
    check(&raw).unwrap();
}

#[test]
fn unknown_crit_is_refused() {
    let raw = token(
        json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"], "exp": 1}),
        claims(),
        "rsa",
    );
    assert_eq!(check(&raw).unwrap_err(), TokenError::CriticalExtension);
}

#[test]
fn jwe_and_malformed_structures_are_refused() {
    let jwe = format!("{}.a.b.c.d", b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#));
    assert_eq!(check(&jwe).unwrap_err(), TokenError::Malformed);
    let raw = rs256(claims());
    let two = raw.rsplit_once('.').unwrap().0;
    assert_eq!(check(two).unwrap_err(), TokenError::Malformed);
    // Padding is not strict base64url.
    let padded = format!("{}=", raw);
    assert!(check(&padded).is_err());
    // Claims that are not a JSON object.
    let array = sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, "[1,2]", "rsa");
    assert_eq!(check(&array).unwrap_err(), TokenError::Malformed);
}

#[test]
fn duplicate_members_are_refused() {
    let claims_text = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"sub":"a","sub":"admin"}}"#,
        NOW + 300
    );
    let raw = sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, &claims_text, "rsa");
    assert_eq!(check(&raw).unwrap_err(), TokenError::DuplicateMember);
    let raw = sign_raw(
        r#"{"alg":"RS256","kid":"rsa-1","kid":"rsa-1"}"#,
        &claims().to_string(),
        "rsa",
    );
    assert_eq!(check(&raw).unwrap_err(), TokenError::DuplicateMember);
}

#[test]
fn time_claims() {
    let mut c = claims();
    c["exp"] = json!(NOW - 61);
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::Expired);
    let mut c = claims();
    c["exp"] = json!(NOW - 30); // within the 60 s leeway
    check(&rs256(c)).unwrap();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::MissingExpiry);
    let mut c = claims();
    c["nbf"] = json!(NOW + 120);
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::NotYetValid);
    let mut c = claims();
    c["iat"] = json!(NOW + 120);
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::IssuedInFuture);
    // The leeway is inclusive: `iat` exactly 60 s ahead passes, one second more does not.
    let mut c = claims();
    c["iat"] = json!(NOW + 60);
    check(&rs256(c)).unwrap();
    let mut c = claims();
    c["iat"] = json!(NOW + 61);
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::IssuedInFuture);
    let mut c = claims();
    c["exp"] = json!("tomorrow");
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::MalformedClaims);
}

#[test]
fn issuer_is_matched_exactly() {
    for bad in [
        json!("https://env.example.com/resources/res_1/"),
        json!("https://evil.example"),
        json!(null),
        json!(42),
    ] {
        let mut c = claims();
        c["iss"] = bad.clone();
        assert!(
            matches!(
                check(&rs256(c)).unwrap_err(),
                TokenError::IssuerNotAccepted | TokenError::MalformedClaims
            ),
            "{bad}"
        );
    }
    // Several issuers (Scalekit: environment and resource forms, one key set).
    let both = settings(&[("ISSUERS", &format!("{ISS} {ISS_ENV}"))]);
    let mut c = claims();
    c["iss"] = json!(ISS_ENV);
    check_with(&rs256(c.clone()), &both, &key_set()).unwrap();
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::IssuerNotAccepted);
}

#[test]
fn audience_is_required_and_matched() {
    let mut c = claims();
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        check(&rs256(c)).unwrap_err(),
        TokenError::AudienceNotAccepted
    );
    let mut c = claims();
    c["aud"] = json!("https://other.example/mcp");
    assert_eq!(
        check(&rs256(c)).unwrap_err(),
        TokenError::AudienceNotAccepted
    );
    let mut c = claims();
    c["aud"] = json!(["https://other.example", AUD]);
    check(&rs256(c)).unwrap();
    let mut c = claims();
    c["aud"] = json!(["https://other.example"]);
    assert_eq!(
        check(&rs256(c)).unwrap_err(),
        TokenError::AudienceNotAccepted
    );
    // Exact match only: a prefix, an extension, another case or type of the configured
    // audience is another audience.
    for other in [
        json!("https://mcp.example.com"),
        json!(""),
        json!("https://mcp.example.com/mc"),
        json!("https://mcp.example.com/mcp/"),
        json!("https://mcp.example.com/mcpx"),
        json!("HTTPS://MCP.EXAMPLE.COM/MCP"),
        json!([""]),
        json!([]),
        json!(1),
        json!({"aud": AUD}),
        json!([[AUD]]),
    ] {
        let mut c = claims();
        c["aud"] = other.clone();
        assert_eq!(
            check(&rs256(c)).unwrap_err(),
            TokenError::AudienceNotAccepted,
            "{other}"
        );
    }
}

#[test]
fn weak_rsa_keys_are_never_used() {
    let raw = token(json!({"alg": "RS256", "kid": "weak"}), claims(), "weak");
    assert_eq!(
        check(&raw).unwrap_err(),
        TokenError::Key(KeyLookupError::UnknownKid)
    );
}

#[test]
fn tokens_without_kid_need_exactly_one_key_for_their_alg() {
    let raw = token(json!({"alg": "ES256"}), claims(), "ec");
    check(&raw).unwrap();
    let two_rsa = {
        let k = keys();
        let doc = json!({"keys": [rsa_jwk(&k.rsa, "a"), rsa_jwk(&k.rsa_other, "b")]});
        KeySet::parse(doc.to_string().as_bytes()).unwrap().set
    };
    let raw = token(json!({"alg": "RS256"}), claims(), "rsa");
    assert_eq!(
        check_with(&raw, &settings(&[]), &two_rsa).unwrap_err(),
        TokenError::Key(KeyLookupError::NoUniqueKeyWithoutKid)
    );
}

#[test]
fn typ_is_checked_only_when_required() {
    let strict = settings(&[("REQUIRE_TYP_AT_JWT", "true")]);
    let untyped = token(json!({"alg": "RS256", "kid": "rsa-1"}), claims(), "rsa");
    check(&untyped).unwrap();
    assert_eq!(
        check_with(&untyped, &strict, &key_set()).unwrap_err(),
        TokenError::WrongType
    );
    let jwt_typed = token(
        json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}),
        claims(),
        "rsa",
    );
    assert_eq!(
        check_with(&jwt_typed, &strict, &key_set()).unwrap_err(),
        TokenError::WrongType
    );
    check_with(&rs256(claims()), &strict, &key_set()).unwrap();
    let media = token(
        json!({"alg": "RS256", "kid": "rsa-1", "typ": "application/at+jwt"}),
        claims(),
        "rsa",
    );
    check_with(&media, &strict, &key_set()).unwrap();
}

#[test]
fn algorithms_outside_the_allowed_list_are_refused() {
    let only_es = settings(&[("ALLOWED_ALGORITHMS", "ES256")]);
    assert_eq!(
        check_with(&rs256(claims()), &only_es, &key_set()).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
}

#[test]
fn scope_claims() {
    let mut c = claims();
    c.as_object_mut().unwrap().remove("scope");
    c["scopes"] = json!(["mcp:tools:calendar:read", "mcp:tools:*"]);
    c["scp"] = json!("extra mcp:tools:*");
    let ok = check(&rs256(c)).unwrap();
    assert_eq!(
        ok.scopes(),
        ["extra", "mcp:tools:*", "mcp:tools:calendar:read"]
    );
    let mut c = claims();
    c["scope"] = json!(["mcp:read"]);
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::BadScopeClaim);
    let mut c = claims();
    c["scopes"] = json!([1]);
    assert_eq!(check(&rs256(c)).unwrap_err(), TokenError::BadScopeClaim);
    // Only the configured claims count.
    let scope_only = settings(&[("SCOPE_CLAIMS", "scope")]);
    let mut c = claims();
    c["scopes"] = json!(["admin"]);
    let ok = check_with(&rs256(c), &scope_only, &key_set()).unwrap();
    assert!(!ok.scopes().iter().any(|s| s == "admin"));
}

#[test]
fn credential_extraction_rules() {
    let raw = rs256(claims());
    let lower = format!("bearer {raw}");
    assert_eq!(extract::bearer([lower.as_str()]).unwrap().as_str(), raw);
    let one = format!("Bearer {raw}");
    assert_eq!(
        extract::bearer([one.as_str(), one.as_str()]).unwrap_err(),
        ExtractError::MultipleCredentials
    );
    // Token only in the query string: the gate reads headers only, so nothing is found.
    assert_eq!(extract::bearer([]).unwrap_err(), ExtractError::Missing);
    let huge = format!("Bearer {}", "a".repeat(16 * 1024 + 1));
    assert_eq!(
        extract::bearer([huge.as_str()]).unwrap_err(),
        ExtractError::TooLarge
    );
}
