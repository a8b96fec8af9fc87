//! Errors of the JSON-RPC inspection stage. Every variant maps to `400 invalid_request`; the
//! messages name what is wrong in general terms and never echo request content.

use std::fmt;

/// Why a POST body is not an acceptable JSON-RPC body. The whole request is refused and nothing
/// reaches the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// The body is not exactly one JSON value (syntax error, truncation, invalid UTF-8,
    /// trailing data).
    NotJson,
    /// Some JSON object in the body holds the same member name twice, exactly or under
    /// Unicode case folding, so the gate and the origin could read it differently.
    DuplicateMember,
    /// A member name holds a control character.
    ControlInName,
    /// The body nests arrays/objects deeper than [`crate::json_strict::MAX_DEPTH`].
    TooDeep,
    /// A batch array with no element (JSON-RPC 2.0 answers it with an error, never forwards it).
    EmptyBatch,
    /// The body or a batch element is not a JSON object.
    NotAnObject,
    /// A message object that breaks JSON-RPC 2.0 or the MCP shape the gate relies on to
    /// authorize it; the text says what (a fixed sentence, never request content).
    NotJsonRpc(&'static str),
}

impl RpcError {
    /// Short machine-readable reason for the log line.
    pub fn reason(&self) -> &'static str {
        match self {
            RpcError::NotJson => "body_not_json",
            RpcError::DuplicateMember => "body_duplicate_member",
            RpcError::ControlInName => "body_control_in_name",
            RpcError::TooDeep => "body_too_deep",
            RpcError::EmptyBatch => "body_empty_batch",
            RpcError::NotAnObject => "body_not_json_rpc",
            RpcError::NotJsonRpc(_) => "body_not_json_rpc",
        }
    }

    /// The `error_description` of the `400` answer.
    pub fn description(&self) -> &'static str {
        match self {
            RpcError::NotJson => "The request body is not valid JSON",
            RpcError::DuplicateMember => {
                "The request body repeats a member name in a JSON object (names are compared ignoring case)"
            }
            RpcError::ControlInName => "A member name in the request body holds a control character",
            RpcError::TooDeep => "The request body is nested too deeply",
            RpcError::EmptyBatch => "The JSON-RPC batch is empty",
            RpcError::NotAnObject => {
                "A JSON-RPC message must be an object (or a batch array of objects)"
            }
            RpcError::NotJsonRpc(reason) => reason,
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for RpcError {}
