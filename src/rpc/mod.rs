//! JSON-RPC inspection of MCP POST bodies (README "Scope rules", README "Responses").
//!
//! [`inspect`] reads a body strictly — one JSON value, no duplicate member names at any depth,
//! JSON-RPC 2.0 message objects, non-empty batches — and reduces every message to what the
//! scope rules match on. It never changes the body: the gate forwards the original bytes, so
//! what was authorized is exactly what the origin receives. The body size limit
//! (`MAX_BODY_BYTES`, `413`) is enforced by the caller before inspection.

mod error;
mod message;

pub use error::RpcError;
pub use message::{CallKind, RpcCall, RpcMessage};

use crate::json_strict::{self, StrictJsonError};

use serde_json::Value;

/// An inspected POST body: one message, or a batch of at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcBody {
    messages: Vec<RpcMessage>,
    batch: bool,
}

impl RpcBody {
    /// A one-message body (not a batch) that the gate builds itself instead of reading it from
    /// a request: list filtering asks the rules, per list entry, about the call that would use
    /// it (README "Scope-aware lists").
    pub fn single(message: RpcMessage) -> RpcBody {
        RpcBody {
            messages: vec![message],
            batch: false,
        }
    }

    /// The messages in body order (exactly one unless [`RpcBody::is_batch`]).
    pub fn messages(&self) -> &[RpcMessage] {
        &self.messages
    }

    /// Whether the body was a JSON array (a batch), even of one element.
    pub fn is_batch(&self) -> bool {
        self.batch
    }

    /// The requests and notifications, in body order (responses skipped).
    pub fn calls(&self) -> impl Iterator<Item = &RpcCall> {
        self.messages.iter().filter_map(|message| match message {
            RpcMessage::Call(call) => Some(call),
            RpcMessage::Response => None,
        })
    }

    /// For the log line: the methods of the calls, and their names or URIs, each
    /// comma-separated in body order (`None` when there is none, e.g. only responses).
    pub fn summary(&self) -> (Option<String>, Option<String>) {
        let join = |items: Vec<&str>| (!items.is_empty()).then(|| items.join(","));
        let methods = self.calls().map(|call| call.method.as_str()).collect();
        let targets = self
            .calls()
            .filter_map(|call| call.name.as_deref().or(call.uri.as_deref()))
            .collect();
        (join(methods), join(targets))
    }
}

/// Inspects a JSON-RPC POST body without altering it. See the module documentation.
pub fn inspect(body: &[u8]) -> Result<RpcBody, RpcError> {
    // Two passes over at most MAX_BODY_BYTES: the strict check (duplicates, depth), then the
    // value itself. serde_json alone would keep the last of duplicate members silently.
    json_strict::check(body).map_err(|error| match error {
        StrictJsonError::Syntax(_) => RpcError::NotJson,
        StrictJsonError::DuplicateMember => RpcError::DuplicateMember,
        StrictJsonError::ControlInName => RpcError::ControlInName,
        StrictJsonError::TooDeep => RpcError::TooDeep,
    })?;
    let value: Value = serde_json::from_slice(body).map_err(|_| RpcError::NotJson)?;
    match &value {
        Value::Array(elements) => {
            if elements.is_empty() {
                return Err(RpcError::EmptyBatch);
            }
            let messages = elements
                .iter()
                .map(message::classify)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RpcBody {
                messages,
                batch: true,
            })
        }
        single => Ok(RpcBody {
            messages: vec![message::classify(single)?],
            batch: false,
        }),
    }
}
