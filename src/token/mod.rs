//! Bearer tokens (README "Tokens"): extraction, the key set, signature and claims verification.
//!
//! Trust flows one way through types: a raw header value becomes a [`extract::Credential`],
//! which [`verify::parse`] turns into an [`verify::UntrustedJwt`] (structure checked, nothing
//! trusted), and only [`verify::verify`] produces a [`VerifiedToken`]: signature checked with a
//! key the *server* chose from its own key set (never from `jku`/`jwk`/`x5u`/`x5c`), and claims
//! checked against the token [`Policy`] (built once from the settings) at an injected time. Authorization only accepts a
//! `VerifiedToken`.

pub mod cache;
pub mod claims;
pub mod error;
pub mod extract;
pub mod keyset;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod policy;
pub mod verify;

pub use claims::VerifiedToken;
pub use error::TokenError;
pub use keyset::{KeyEntry, KeySet};
pub use policy::{Policy, ScopeClaim};
pub use verify::SignatureVerifier;

/// JWS algorithms the gate can accept. `none` and HMAC are deliberately absent: a resource
/// server never shares a symmetric key with the authorization server, and accepting HS256 with
/// an RSA public key as the secret is the classic key-confusion attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// EdDSA on Ed25519.
    EdDsa,
}

/// The key type an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC`, `crv: P-256`.
    P256,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Self; 8] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::EdDsa,
    ];

    /// `ALLOWED_ALGORITHMS` default (README "Settings").
    pub const DEFAULT_ALLOWED: [Self; 4] = [Self::Rs256, Self::Ps256, Self::Es256, Self::EdDsa];

    /// Parses a JWS `alg` name (case-sensitive, as JWS requires).
    pub fn from_jws_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.jws_name() == name)
    }

    /// The JWS `alg` name.
    pub fn jws_name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The key type this algorithm verifies with.
    pub fn key_kind(self) -> KeyKind {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                KeyKind::Rsa
            }
            Self::Es256 => KeyKind::P256,
            Self::EdDsa => KeyKind::Ed25519,
        }
    }
}
