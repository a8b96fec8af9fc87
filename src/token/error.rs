//! Why a token is invalid (README "Tokens"), in a module of its own so that every stage of the
//! token pipeline (structure, key, signature, claims) uses it without depending on another.

use super::keyset::KeyLookupError;

/// Why a token is invalid. Every variant answers `401 invalid_token`; the variant is logged
/// as the reason, and only [`TokenError::description`] (generic) reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a compact JWS: wrong segment count (a JWE has five), bad base64url, header or
    /// claims not a JSON object.
    Malformed,
    /// Header or claims repeat a member name.
    DuplicateMember,
    /// `alg` is not in `ALLOWED_ALGORITHMS` (this covers `none`, HMAC and unknown names).
    AlgorithmNotAllowed,
    /// The header lists `crit` extensions; the gate understands none.
    CriticalExtension,
    /// `REQUIRE_TYP_AT_JWT` is on and `typ` is not `at+jwt`.
    WrongType,
    /// No key of the key set can verify this token.
    Key(KeyLookupError),
    /// The signature does not verify.
    BadSignature,
    /// Claims have the wrong JSON types (`exp` not a number, `iss` not a string, ...).
    MalformedClaims,
    /// `iss` is missing or not in `ISSUERS`.
    IssuerNotAccepted,
    /// `aud` is missing or lists none of `AUDIENCES`.
    AudienceNotAccepted,
    /// No `exp` claim.
    MissingExpiry,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// A scope claim has the wrong type (`scope` must be a string).
    BadScopeClaim,
}

impl TokenError {
    /// Short reason for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed_token",
            Self::DuplicateMember => "duplicate_member",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::CriticalExtension => "critical_extension",
            Self::WrongType => "wrong_typ",
            Self::Key(KeyLookupError::UnknownKid) => "unknown_kid",
            Self::Key(KeyLookupError::KeyDoesNotFitAlgorithm) => "key_does_not_fit_alg",
            Self::Key(KeyLookupError::NoUniqueKeyWithoutKid) => "no_unique_key_without_kid",
            Self::Key(KeyLookupError::AmbiguousKid) => "ambiguous_kid",
            Self::BadSignature => "bad_signature",
            Self::MalformedClaims => "malformed_claims",
            Self::IssuerNotAccepted => "issuer_not_accepted",
            Self::AudienceNotAccepted => "audience_not_accepted",
            Self::MissingExpiry => "missing_exp",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::BadScopeClaim => "bad_scope_claim",
        }
    }

    /// What the client is told: generic, except for expiry, which tells a client to refresh.
    pub fn description(self) -> &'static str {
        match self {
            Self::Expired => "The access token expired",
            Self::Malformed
            | Self::DuplicateMember
            | Self::AlgorithmNotAllowed
            | Self::CriticalExtension
            | Self::WrongType
            | Self::Key(_)
            | Self::BadSignature
            | Self::MalformedClaims
            | Self::IssuerNotAccepted
            | Self::AudienceNotAccepted
            | Self::MissingExpiry
            | Self::NotYetValid
            | Self::IssuedInFuture
            | Self::BadScopeClaim => "The access token is invalid",
        }
    }
}
