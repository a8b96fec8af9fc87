//! Claims validation (README "Tokens" rule 5, RFC 9068) and the verified token.

use chrono::{DateTime, Duration, TimeZone, Utc};
use jwt_compact::{Claims, TimeOptions, ValidationError};
use serde_json::{Map, Value};

use super::error::TokenError;
use super::policy::{Policy, ScopeClaim};

/// A token whose signature and claims were verified. Only [`super::verify::verify`] makes one,
/// so holding one proves the checks ran.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    issuer: String,
    subject: Option<String>,
    client_id: Option<String>,
    jti: Option<String>,
    scopes: Vec<String>,
    expires_at_ms: u64,
    claims: Map<String, Value>,
}

impl VerifiedToken {
    /// `iss`, one of `ISSUERS`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// `sub`, when present.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// `client_id`, else `azp`.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    /// `jti`, when present.
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }
    /// Granted scopes from `SCOPE_CLAIMS`, deduplicated, in token order.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// `exp` in Unix milliseconds.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms
    }
    /// A claim by name (for `FORWARD_CLAIMS`).
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }
    /// Every claim (the login bridge copies a user's claims from an Access JWT).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

fn datetime(ms: u64) -> DateTime<Utc> {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn optional_string(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::MalformedClaims),
    }
}

fn push_scopes(out: &mut Vec<String>, text: &str) {
    for scope in text.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
}

/// Collects granted scopes from the configured claims (README "Settings" `SCOPE_CLAIMS`).
fn granted_scopes(
    claims: &Map<String, Value>,
    sources: &[ScopeClaim],
) -> Result<Vec<String>, TokenError> {
    let mut scopes = Vec::new();
    for source in sources {
        match (source, claims.get(source.name())) {
            (_, None) => {}
            (_, Some(Value::String(text))) => push_scopes(&mut scopes, text),
            (ScopeClaim::Scp | ScopeClaim::Scopes, Some(Value::Array(items))) => {
                for item in items {
                    let text = item.as_str().ok_or(TokenError::BadScopeClaim)?;
                    if text.contains(' ') {
                        return Err(TokenError::BadScopeClaim);
                    }
                    push_scopes(&mut scopes, text);
                }
            }
            (ScopeClaim::Scope | ScopeClaim::Scp | ScopeClaim::Scopes, Some(_)) => {
                return Err(TokenError::BadScopeClaim)
            }
        }
    }
    Ok(scopes)
}

/// Validates claims of a token whose signature already verified.
pub(super) fn validate(
    claims: Claims<Map<String, Value>>,
    policy: &Policy,
    now_ms: u64,
) -> Result<VerifiedToken, TokenError> {
    let leeway = Duration::seconds(policy.clock_skew_seconds.into());
    let now = datetime(now_ms);
    let options = TimeOptions::new(leeway, move || now);

    claims.validate_expiration(&options).map_err(|e| match e {
        ValidationError::NoClaim(_) => TokenError::MissingExpiry,
        _ => TokenError::Expired,
    })?;
    // jwt-compact reports a missing `nbf` as an error; `nbf` is optional (RFC 7519 §4.1.5).
    if claims.not_before.is_some() {
        claims
            .validate_maturity(&options)
            .map_err(|_| TokenError::NotYetValid)?;
    }
    if claims.issued_at.is_some_and(|iat| iat > now + leeway) {
        return Err(TokenError::IssuedInFuture);
    }
    let expires_at_ms = claims
        .expiration
        .map(|exp| u64::try_from(exp.timestamp_millis()).unwrap_or(0))
        .ok_or(TokenError::MissingExpiry)?;

    let custom = claims.custom;
    let issuer = optional_string(&custom, "iss")?
        .filter(|iss| policy.issuers.iter().any(|accepted| accepted == iss))
        .ok_or(TokenError::IssuerNotAccepted)?;

    let audience_ok = match custom.get("aud") {
        Some(Value::String(aud)) => policy.audiences.iter().any(|a| a == aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| policy.audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(TokenError::AudienceNotAccepted);
    }

    let scopes = granted_scopes(&custom, &policy.scope_claims)?;
    let client_id = match optional_string(&custom, "client_id")? {
        Some(id) => Some(id),
        None => optional_string(&custom, "azp")?,
    };
    Ok(VerifiedToken {
        issuer,
        subject: optional_string(&custom, "sub")?,
        client_id,
        jti: optional_string(&custom, "jti")?,
        scopes,
        expires_at_ms,
        claims: custom,
    })
}
