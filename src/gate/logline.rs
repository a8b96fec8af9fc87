//! The one JSON log line per request (README "Logs and /healthz"). Never a token, `Authorization` value or secret:
//! this struct has no field that could hold one.

use serde::Serialize;

/// Fields of the per-request log line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogLine {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Why (a short machine-readable reason).
    pub reason: String,
    /// HTTP status returned to the client.
    pub status: u16,
    /// HTTP method.
    pub http_method: String,
    /// Request path (no query string: queries may carry secrets).
    pub path: String,
    /// Verified `iss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Verified `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Verified `client_id` / `azp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Verified `jti`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// JSON-RPC method(s), comma-separated for batches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_method: Option<String>,
    /// Tool/prompt name or resource URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_name: Option<String>,
    /// The deciding rule(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Scopes the request needs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// Scopes missing from the token (step-up).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Scopes the token grants.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub granted: Vec<String>,
    /// List entries removed from the upstream's answer (README "Scope-aware lists"); absent
    /// when the answer was not filtered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filtered: Option<usize>,
    /// Wall time in the gate, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl LogLine {
    /// Serialises the line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
