//! From credential to verified token (README "Tokens" rules 2–6).
//!
//! [`parse`] checks structure only and yields an [`UntrustedJwt`]: nothing in it is trusted,
//! but its `kid` may be used to decide whether the key set needs a refresh (I/O happens in the
//! adapter, between the two steps). [`verify`] then picks the key from the server's own key set
//! using the token's `kid` and the `alg` *allowed by the settings and fitting the key* — `alg`
//! alone never chooses the verifier — checks the signature through a [`SignatureVerifier`]
//! (WebCrypto in the Worker, pure Rust natively) and finally the claims.

use std::borrow::Cow;
use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::{Claims, UntrustedToken};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::claims::{self, VerifiedToken};
use super::error::TokenError;
use super::extract::Credential;
use super::keyset::{KeyEntry, KeySet};
use super::policy::Policy;
use super::Algorithm;
use crate::json_strict;

/// Checks a signature with a key from the key set. Implementations must return `false` on
/// any failure (unsupported key, import error, malformed signature): failing closed.
#[allow(async_fn_in_trait)] // Workers are single-threaded: no `Send` bound wanted.
pub trait SignatureVerifier {
    /// Whether `signature` over `signing_input` verifies with `key` under `alg`.
    async fn verify(
        &self,
        key: &KeyEntry,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> bool;
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Header members beyond what `jwt_compact::Header` reads.
#[derive(Debug, Deserialize)]
struct HeaderExtras {
    /// Critical extensions (RFC 7515 §4.1.11).
    #[serde(default)]
    crit: Option<Value>,
}

/// A structurally valid JWS whose signature and claims are not checked yet.
pub struct UntrustedJwt<'a> {
    token: UntrustedToken<'a, HeaderExtras>,
    signing_input: Cow<'a, str>,
    alg: Algorithm,
}

impl fmt::Debug for UntrustedJwt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntrustedJwt")
            .field("alg", &self.alg)
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl UntrustedJwt<'_> {
    /// The header's `kid`, untrusted (used only to look up the server's own keys).
    pub fn kid(&self) -> Option<&str> {
        self.token.header().key_id.as_deref()
    }

    /// The header's `alg`, already checked against `ALLOWED_ALGORITHMS`.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The same token owning its bytes, for an adapter that keeps it across its own awaits
    /// (the Worker's entry module, see `edge::exchange`).
    pub fn into_owned(self) -> UntrustedJwt<'static> {
        UntrustedJwt {
            token: self.token.into_owned(),
            signing_input: Cow::Owned(self.signing_input.into_owned()),
            alg: self.alg,
        }
    }
}

/// The signature check a token needs: the key chosen from the server's own key set (by `kid`
/// and the allowed `alg` fitting the key, exactly as [`verify`] chooses it), the algorithm, the
/// signing input and the signature. For an adapter that checks signatures outside Rust's
/// futures (the Worker's entry module awaits WebCrypto in JavaScript) and then hands the
/// outcome to [`verify_settled`].
#[derive(Debug)]
pub struct SignatureJob<'a> {
    /// The key to verify with.
    pub key: &'a KeyEntry,
    /// The algorithm to verify under.
    pub alg: Algorithm,
    /// The bytes that were signed (`header.payload`).
    pub signing_input: &'a [u8],
    /// The signature bytes.
    pub signature: &'a [u8],
}

impl SignatureJob<'_> {
    /// Checks this job with `verifier`.
    pub async fn check_with<V: SignatureVerifier>(&self, verifier: &V) -> SignatureCheck {
        let verified = verifier
            .verify(self.key, self.alg, self.signing_input, self.signature)
            .await;
        SignatureCheck::of(self, verified)
    }
}

/// The outcome of a [`SignatureJob`] checked elsewhere, bound to that job: [`verify_settled`]
/// accepts it only for the same key, algorithm, signing input and signature.
#[derive(Debug)]
pub struct SignatureCheck {
    key_jwk: String,
    alg: Algorithm,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    verified: bool,
}

impl SignatureCheck {
    /// `verified`: whether the signature of `job` verified (`false` on any failure).
    pub fn of(job: &SignatureJob<'_>, verified: bool) -> Self {
        Self {
            key_jwk: job.key.public_jwk_json().to_owned(),
            alg: job.alg,
            signing_input: job.signing_input.to_vec(),
            signature: job.signature.to_vec(),
            verified,
        }
    }

    /// The same job with its outcome: for an adapter that records the job when it starts the
    /// check (`of(job, false)`) and learns the outcome later.
    pub fn settled(self, verified: bool) -> Self {
        Self { verified, ..self }
    }

    /// Whether this check verified exactly `job`'s signature.
    fn verified(&self, job: &SignatureJob<'_>) -> bool {
        self.verified
            && self.alg == job.alg
            && self.key_jwk == job.key.public_jwk_json()
            && self.signature == job.signature
            && self.signing_input == job.signing_input
    }
}

/// Checks the token's structure (README "Tokens" rule 2, and rule 6 `typ`).
pub fn parse<'a>(
    credential: &Credential<'a>,
    policy: &Policy,
) -> Result<UntrustedJwt<'a>, TokenError> {
    let raw = credential.as_str();
    let mut segments = raw.split('.');
    let (Some(header_b64), Some(claims_b64), Some(_), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(TokenError::Malformed);
    };
    for segment in [header_b64, claims_b64] {
        let json = Base64UrlUnpadded::decode_vec(segment).map_err(|_| TokenError::Malformed)?;
        if !json.starts_with(b"{") {
            return Err(TokenError::Malformed);
        }
        json_strict::check(&json).map_err(|e| match e {
            json_strict::StrictJsonError::DuplicateMember => TokenError::DuplicateMember,
            json_strict::StrictJsonError::Syntax(_)
            | json_strict::StrictJsonError::TooDeep
            | json_strict::StrictJsonError::ControlInName => TokenError::Malformed,
        })?;
    }
    let token: UntrustedToken<'a, HeaderExtras> =
        UntrustedToken::try_from(raw).map_err(|_| TokenError::Malformed)?;
    let alg = Algorithm::from_jws_name(token.algorithm())
        .filter(|alg| policy.allowed_algorithms.contains(alg))
        .ok_or(TokenError::AlgorithmNotAllowed)?;
    if token.header().other_fields.crit.is_some() {
        return Err(TokenError::CriticalExtension);
    }
    if policy.require_typ_at_jwt {
        let typ = token.header().token_type.as_deref().unwrap_or("");
        if !(typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")) {
            return Err(TokenError::WrongType);
        }
    }
    let signing_input = raw
        .rsplit_once('.')
        .map(|(input, _)| Cow::Borrowed(input))
        .ok_or(TokenError::Malformed)?;
    Ok(UntrustedJwt {
        token,
        signing_input,
        alg,
    })
}

/// The signature check `jwt` needs (README "Tokens" rule 3: the key by `kid` and the allowed
/// `alg` fitting it), or why no key fits.
pub fn signature_job<'a>(
    jwt: &'a UntrustedJwt<'_>,
    keys: &'a KeySet,
) -> Result<SignatureJob<'a>, TokenError> {
    let key = keys.select(jwt.kid(), jwt.alg).map_err(TokenError::Key)?;
    Ok(SignatureJob {
        key,
        alg: jwt.alg,
        signing_input: jwt.signing_input.as_bytes(),
        signature: jwt.token.signature_bytes(),
    })
}

/// Verifies signature and claims at `now_ms` (Unix milliseconds), yielding the only type that
/// authorization accepts.
pub async fn verify<V: SignatureVerifier>(
    jwt: &UntrustedJwt<'_>,
    keys: &KeySet,
    verifier: &V,
    policy: &Policy,
    now_ms: u64,
) -> Result<VerifiedToken, TokenError> {
    let check = signature_job(jwt, keys)?.check_with(verifier).await;
    verify_settled(jwt, keys, &check, policy, now_ms)
}

/// [`verify`] with the signature already checked elsewhere: `check` must be the outcome of
/// this token's own [`signature_job`] under `keys`, or the token is refused as badly signed.
pub fn verify_settled(
    jwt: &UntrustedJwt<'_>,
    keys: &KeySet,
    check: &SignatureCheck,
    policy: &Policy,
    now_ms: u64,
) -> Result<VerifiedToken, TokenError> {
    let job = signature_job(jwt, keys)?;
    if !check.verified(&job) {
        return Err(TokenError::BadSignature);
    }
    // The claims, read only once the signature verified (README "Tokens" rules 4–6).
    let claims: Claims<Map<String, Value>> = jwt
        .token
        .deserialize_claims_unchecked()
        .map_err(|_| TokenError::MalformedClaims)?;
    claims::validate(claims, policy, now_ms)
}
