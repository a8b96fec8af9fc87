//! What the token pipeline accepts (README "Tokens"), built once from the settings. The token
//! code reads only this, never the settings themselves, so that settings depend on tokens
//! (for [`Algorithm`]) and not the other way round.

use super::Algorithm;

/// The token rules of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `ISSUERS`: accepted `iss` values, exact match. Default: `AUTHORIZATION_SERVERS`.
    pub issuers: Vec<String>,
    /// `AUDIENCES`: accepted `aud` values, exact match. Default: `RESOURCE`.
    pub audiences: Vec<String>,
    /// `ALLOWED_ALGORITHMS`: default `RS256 PS256 ES256 EdDSA`; `none` and HMAC are refused.
    pub allowed_algorithms: Vec<Algorithm>,
    /// `CLOCK_SKEW_SECONDS`: default 60, at most 600.
    pub clock_skew_seconds: u32,
    /// `REQUIRE_TYP_AT_JWT`: default `false`.
    pub require_typ_at_jwt: bool,
    /// `SCOPE_CLAIMS`: default `scope scp scopes`.
    pub scope_claims: Vec<ScopeClaim>,
}

/// Claims read as granted scopes (`SCOPE_CLAIMS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeClaim {
    /// `scope`: a space-separated string; any other type makes the token invalid.
    Scope,
    /// `scp`: a space-separated string or an array of strings.
    Scp,
    /// `scopes`: a space-separated string or an array of strings (Scalekit).
    Scopes,
}

impl ScopeClaim {
    /// The claim's name in the token.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scope => "scope",
            Self::Scp => "scp",
            Self::Scopes => "scopes",
        }
    }
}
