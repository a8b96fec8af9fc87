//! Every error of every stage, mapped to status, `WWW-Authenticate` and a JSON body in one
//! exhaustive `match` (README "Responses"). No arm may be a catch-all: a new error variant must be
//! placed here deliberately.

use std::fmt::Write as _;

use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::admit::{self, AdmitError};
use crate::lists::ListError;
use crate::rpc::RpcError;
use crate::rules::AuthzError;
use crate::settings::SettingsError;
use crate::token::extract::ExtractError;
use crate::token::TokenError;

/// Why the gate answers a protected request itself instead of forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateError {
    /// Settings are invalid: 500 naming the setting (never its value).
    Settings(SettingsError),
    /// A browser `Origin` that is not allowed: 403, no challenge.
    OriginForbidden,
    /// The request is not admitted (README "Request hygiene"): 404, 405, 400, 413 or 415.
    Admit(AdmitError),
    /// No usable credential: 401 challenge, or 400 `invalid_request`, or 401 `invalid_token`.
    Credential(ExtractError),
    /// The token failed verification: 401 `invalid_token`.
    Token(TokenError),
    /// The JSON-RPC body is unusable: 400.
    Body(RpcError),
    /// The scope rules refuse the request: 403 (step-up or denied) or 400 (bad `{name}`).
    Authz(AuthzError),
    /// No usable rules document (invalid with no earlier valid one, or deleted after one
    /// was loaded): 503.
    RulesUnavailable,
    /// No rules document in KV under `REQUIRE_RULES` (the default): 503, saying how to
    /// write one.
    RulesMissing,
    /// The upstream MCP server (`ORIGIN`) could not be reached: 502.
    UpstreamUnreachable,
    /// The upstream MCP server did not answer in time: 504.
    UpstreamTimeout,
    /// A `2xx` JSON answer to a list request that cannot be read as one (README "Scope-aware
    /// lists"): 502 `origin_response_invalid`.
    UpstreamListInvalid(ListError),
}

/// What a challenge needs to know beyond the error.
#[derive(Debug, Clone, Default)]
pub struct ChallengeContext {
    /// The path-inserted metadata URL (absent only when settings are invalid).
    pub metadata_url: Option<String>,
    /// Scopes this request needs, when known before the token (`scope=` in a 401).
    pub scope_hint: Vec<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// Keeps a value safe inside a quoted-string: printable ASCII without `"` and `\`.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

/// Builds a one-line `Bearer` challenge from `(name, value)` pairs.
fn bearer(params: &[(&str, &str)]) -> String {
    let mut header = String::from("Bearer");
    for (i, (name, value)) in params.iter().enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        let _ = write!(header, "{sep}{name}=\"{}\"", quotable(value));
    }
    header
}

impl GateError {
    /// Short reason for the log line.
    pub fn reason(&self) -> String {
        match self {
            Self::Settings(e) => format!("invalid_setting:{}", e.setting()),
            Self::OriginForbidden => "origin_not_allowed".into(),
            Self::Admit(e) => e.reason().into(),
            Self::Credential(e) => e.reason().into(),
            Self::Token(e) => e.reason().into(),
            Self::Body(e) => e.reason().into(),
            Self::Authz(e) => e.reason().into(),
            Self::RulesUnavailable => "rules_unavailable".into(),
            Self::RulesMissing => "rules_missing".into(),
            Self::UpstreamUnreachable => "origin_unreachable".into(),
            Self::UpstreamTimeout => "origin_timeout".into(),
            Self::UpstreamListInvalid(e) => e.reason().into(),
        }
    }

    /// The HTTP answer.
    pub fn respond(&self, ctx: &ChallengeContext) -> Response<Vec<u8>> {
        let metadata = ctx.metadata_url.as_deref().unwrap_or_default();
        let hint = ctx.scope_hint.join(" ");
        let mut params: Vec<(&str, &str)> = Vec::new();
        let settings_text;
        let authz_description;
        let authz_scope;
        let (status, error, description, challenge) = match self {
            Self::Settings(e) => {
                settings_text = e.to_string();
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    settings_text.as_str(),
                    false,
                )
            }
            Self::OriginForbidden => (
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "This browser origin may not call the MCP endpoint",
                false,
            ),
            Self::Admit(e @ AdmitError::McpHeaderMismatch { id, .. }) => {
                return mcp_header_mismatch(id.as_ref(), e.description());
            }
            Self::Admit(e) => {
                let (status, code) = match e {
                    AdmitError::NotServed => (StatusCode::NOT_FOUND, "not_found"),
                    AdmitError::MethodNotAllowed => {
                        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
                    }
                    AdmitError::BodyNotAllowed
                    | AdmitError::BadContentLength
                    | AdmitError::BodyUnreadable => (StatusCode::BAD_REQUEST, "invalid_request"),
                    AdmitError::UnsupportedMediaType | AdmitError::UnsupportedEncoding => {
                        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                    }
                    AdmitError::BodyTooLarge => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large")
                    }
                    // Answered above as a JSON-RPC error.
                    AdmitError::McpHeaderMismatch { .. } => {
                        (StatusCode::BAD_REQUEST, "invalid_request")
                    }
                };
                let mut response = json_response(status, code, e.description(), None);
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    response
                        .headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(admit::ALLOWED_METHODS));
                }
                return response;
            }
            Self::Credential(ExtractError::Missing) => {
                params.push(("resource_metadata", metadata));
                if !hint.is_empty() {
                    params.push(("scope", &hint));
                }
                (
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "A bearer access token is required",
                    true,
                )
            }
            Self::Credential(ExtractError::MultipleCredentials) => {
                let description = "Send exactly one Authorization header with one bearer token";
                params.extend([
                    ("error", "invalid_request"),
                    ("error_description", description),
                    ("resource_metadata", metadata),
                ]);
                (
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    description,
                    true,
                )
            }
            // A bearer value that is not even token68 cannot be a valid token: README "Responses" keeps
            // 400 for several credentials only.
            Self::Credential(ExtractError::MalformedBearer | ExtractError::TooLarge) => {
                let description = "The access token is invalid";
                params.extend([
                    ("error", "invalid_token"),
                    ("error_description", description),
                    ("resource_metadata", metadata),
                ]);
                (StatusCode::UNAUTHORIZED, "invalid_token", description, true)
            }
            Self::Token(e) => {
                params.extend([
                    ("error", "invalid_token"),
                    ("error_description", e.description()),
                    ("resource_metadata", metadata),
                ]);
                (
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    e.description(),
                    true,
                )
            }
            Self::Body(e) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                e.description(),
                false,
            ),
            Self::Authz(e) => match e.insufficient_scope() {
                Some((required, description)) => {
                    authz_scope = required.join(" ");
                    authz_description = description;
                    params.extend([
                        ("error", "insufficient_scope"),
                        ("scope", authz_scope.as_str()),
                        ("resource_metadata", metadata),
                        ("error_description", authz_description.as_str()),
                    ]);
                    (
                        StatusCode::FORBIDDEN,
                        "insufficient_scope",
                        authz_description.as_str(),
                        true,
                    )
                }
                None => {
                    authz_description = e.description();
                    let status = if e.is_bad_request() {
                        StatusCode::BAD_REQUEST
                    } else {
                        StatusCode::FORBIDDEN
                    };
                    let code = if e.is_bad_request() {
                        "invalid_request"
                    } else {
                        "access_denied"
                    };
                    (status, code, authz_description.as_str(), false)
                }
            },
            Self::RulesUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The gate has no valid scope rules; see the logs",
                false,
            ),
            Self::RulesMissing => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                RULES_MISSING_DESCRIPTION,
                false,
            ),
            Self::UpstreamUnreachable => (
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "The MCP server could not be reached",
                false,
            ),
            Self::UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                "The MCP server did not answer in time",
                false,
            ),
            Self::UpstreamListInvalid(e) => (
                StatusCode::BAD_GATEWAY,
                "origin_response_invalid",
                e.message(),
                false,
            ),
        };
        json_response(
            status,
            error,
            description,
            challenge.then(|| bearer(&params)),
        )
    }
}

/// The `503` description when no rules document exists (README "Scope rules").
pub const RULES_MISSING_DESCRIPTION: &str = "No scope rules document: write one to KV key `rules` with `mcp-gate rules put FILE` (validated first), or for authenticated mode write {\"version\":1,\"default\":\"authenticated\",\"rules\":[]} or set REQUIRE_RULES=false";

/// The `400` answer to `Mcp-Method`/`Mcp-Name` disagreeing with the body: a JSON-RPC error
/// (code `-32020`) with the message's `id`, as MCP revision 2026-07-28 asks.
fn mcp_header_mismatch(id: Option<&serde_json::Value>, message: &str) -> Response<Vec<u8>> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(&serde_json::Value::Null),
        "error": { "code": MCP_HEADER_MISMATCH_CODE, "message": message },
    });
    let mut response = Response::new(serde_json::to_vec(&body).unwrap_or_default());
    *response.status_mut() = StatusCode::BAD_REQUEST;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// JSON-RPC error code of a header/body mismatch (MCP revision 2026-07-28).
pub const MCP_HEADER_MISMATCH_CODE: i64 = -32020;

/// A JSON error response, optionally with a `WWW-Authenticate` challenge.
pub fn json_response(
    status: StatusCode,
    error: &str,
    description: &str,
    challenge: Option<String>,
) -> Response<Vec<u8>> {
    let body = serde_json::to_vec(&ErrorBody {
        error,
        error_description: description,
    })
    .unwrap_or_default();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_cannot_break_the_header() {
        assert_eq!(quotable("a\"b\\c\r\nd"), "a?b?c??d");
        assert_eq!(
            bearer(&[
                ("error", "invalid_token"),
                ("resource_metadata", "https://x/y")
            ]),
            "Bearer error=\"invalid_token\", resource_metadata=\"https://x/y\""
        );
    }
}
