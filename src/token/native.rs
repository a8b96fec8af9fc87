//! Native signature verification with jwt-compact's pure-Rust algorithms (tests and CLI).
//!
//! The Worker uses WebCrypto instead (`edge::webcrypto`): pure-Rust RSA in wasm costs
//! milliseconds per verification and adds hundreds of kilobytes to the bundle.

use jwt_compact::alg::{Ed25519, Es256, Rsa};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm as JwtAlgorithm, AlgorithmSignature};

use super::keyset::KeyEntry;
use super::verify::SignatureVerifier;
use super::Algorithm;

/// Verifies signatures natively. Stateless: keys are converted from the JWK on each call.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeVerifier;

fn check<A>(alg: &A, jwk: &JsonWebKey<'_>, message: &[u8], signature: &[u8]) -> bool
where
    A: JwtAlgorithm,
    A::VerifyingKey: for<'a, 'b> TryFrom<&'a JsonWebKey<'b>>,
{
    let Ok(key) = A::VerifyingKey::try_from(jwk) else {
        return false;
    };
    let Ok(signature) = A::Signature::try_from_slice(signature) else {
        return false;
    };
    alg.verify_signature(&signature, &key, message)
}

impl SignatureVerifier for NativeVerifier {
    async fn verify(
        &self,
        key: &KeyEntry,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> bool {
        let jwk = &key.jwk;
        match alg {
            Algorithm::Rs256 => check(&Rsa::rs256(), jwk, signing_input, signature),
            Algorithm::Rs384 => check(&Rsa::rs384(), jwk, signing_input, signature),
            Algorithm::Rs512 => check(&Rsa::rs512(), jwk, signing_input, signature),
            Algorithm::Ps256 => check(&Rsa::ps256(), jwk, signing_input, signature),
            Algorithm::Ps384 => check(&Rsa::ps384(), jwk, signing_input, signature),
            Algorithm::Ps512 => check(&Rsa::ps512(), jwk, signing_input, signature),
            Algorithm::Es256 => check(&Es256, jwk, signing_input, signature),
            Algorithm::EdDsa => check(&Ed25519, jwk, signing_input, signature),
        }
    }
}
