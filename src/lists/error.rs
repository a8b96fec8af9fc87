//! Why a `2xx` list answer cannot be filtered (README "Scope-aware lists"). A JSON answer is
//! then refused with `502 {"error":"origin_response_invalid"}`; in an event stream, whose status
//! is already sent, the list event is replaced by a JSON-RPC error (code `-32603`).

use std::fmt;

use super::kind::ListKind;

/// A list answer the gate cannot read as one. Never carries answer content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListError {
    /// The answer (a JSON body, or one event of a stream) is larger than
    /// [`MAX_LIST_BYTES`](super::MAX_LIST_BYTES).
    TooLarge,
    /// The answer is not one JSON text (RFC 8259): a syntax error, invalid UTF-8 in a JSON
    /// body, nesting deeper than 128, trailing data.
    NotJson,
    /// The answer to a list request has a `result` that is not an object holding its array
    /// (`tools`, `prompts`, `resources`, `resourceTemplates` by the request's kind).
    NotAList(ListKind),
}

impl ListError {
    /// Short machine-readable reason for the log line.
    pub fn reason(&self) -> &'static str {
        match self {
            ListError::TooLarge => "list_too_large",
            ListError::NotJson => "list_not_json",
            ListError::NotAList(_) => "list_not_a_list",
        }
    }

    /// The `message` of the JSON-RPC error that replaces a list event in a stream.
    pub fn message(&self) -> &'static str {
        match self {
            ListError::TooLarge => "The server's list result is too large for the gate to filter",
            ListError::NotJson => "The server's list result is not valid JSON",
            ListError::NotAList(ListKind::Tools) => {
                "The server's tools/list result has no \"tools\" array"
            }
            ListError::NotAList(ListKind::Prompts) => {
                "The server's prompts/list result has no \"prompts\" array"
            }
            ListError::NotAList(ListKind::Resources) => {
                "The server's resources/list result has no \"resources\" array"
            }
            ListError::NotAList(ListKind::ResourceTemplates) => {
                "The server's resources/templates/list result has no \"resourceTemplates\" array"
            }
        }
    }
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ListError {}
