//! Classification of one JSON-RPC message object into what the rules can match on.

use super::error::RpcError;
use crate::json_strict::fold_case;
use serde_json::{Map, Value};

/// One JSON-RPC message of a POST body, reduced to what authorization needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcMessage {
    /// A request (with `id`) or a notification (without): anything carrying `method`.
    Call(RpcCall),
    /// A response (`result` or `error`, no `method`): the client's answer to a server request
    /// (sampling, elicitation, roots). Needs only a valid token and the baseline scopes.
    Response,
}

/// A request or notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcCall {
    /// The JSON-RPC `method`.
    pub method: String,
    /// `params.name` of `tools/call` and `prompts/get`; the prompt name of a
    /// `completion/complete` reference (`ref/prompt`). `None` for every other method.
    pub name: Option<String>,
    /// `params.uri` of `resources/read`, `resources/subscribe`, `resources/unsubscribe`; the
    /// resource URI of a `completion/complete` reference (`ref/resource`). `None` otherwise.
    pub uri: Option<String>,
    /// Whether the message is a request (has `id`) or a notification (no `id`).
    pub kind: CallKind,
    /// The request's `id` (a string or a number), for answers the gate writes itself.
    pub id: Option<Value>,
}

/// Request or notification: both are matched by rules the same way (README "Scope rules").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Request,
    Notification,
}

/// The members of a message object that decide what it is and what it reaches.
const MESSAGE_MEMBERS: [&str; 6] = ["jsonrpc", "id", "method", "params", "result", "error"];

/// Reads one message object. `value` is any element of the body (top level or batch element).
pub(crate) fn classify(value: &Value) -> Result<RpcMessage, RpcError> {
    let Value::Object(message) = value else {
        return Err(RpcError::NotAnObject);
    };
    // A member spelled like a message member in another case (`Method`, `RESULT`) is what a
    // case-insensitive origin reads as that member while the gate reads past it: refused, so
    // that every reader finds the same members. (Two spellings at once are refused earlier, as
    // duplicates under case folding.)
    let misspelled = message.keys().any(|name| {
        !MESSAGE_MEMBERS.contains(&name.as_str())
            && MESSAGE_MEMBERS.contains(&fold_case(name).as_str())
    });
    if misspelled {
        return Err(RpcError::NotJsonRpc(
            "a message member name must be written in lower case (\"jsonrpc\", \"id\", \"method\", \"params\", \"result\", \"error\")",
        ));
    }
    match message.get("jsonrpc") {
        Some(Value::String(version)) if version == "2.0" => {}
        Some(_) => {
            return Err(RpcError::NotJsonRpc(
                "\"jsonrpc\" must be the string \"2.0\"",
            ))
        }
        None => return Err(RpcError::NotJsonRpc("\"jsonrpc\": \"2.0\" is missing")),
    }
    match message.get("method") {
        Some(Value::String(method)) => classify_call(method, message).map(RpcMessage::Call),
        Some(_) => Err(RpcError::NotJsonRpc("\"method\" must be a string")),
        None => classify_response(message),
    }
}

fn classify_call(method: &str, message: &Map<String, Value>) -> Result<RpcCall, RpcError> {
    if message.contains_key("result") || message.contains_key("error") {
        return Err(RpcError::NotJsonRpc(
            "a message with \"method\" cannot carry \"result\" or \"error\"",
        ));
    }
    let id = message.get("id");
    let kind = match id {
        None => CallKind::Notification,
        // MCP: request ids are strings or integers, never null (2025-03-26 and later).
        Some(Value::String(_)) | Some(Value::Number(_)) => CallKind::Request,
        Some(_) => {
            return Err(RpcError::NotJsonRpc(
                "a request \"id\" must be a string or a number",
            ))
        }
    };
    let params = match message.get("params") {
        None => None,
        Some(Value::Object(params)) => Some(params),
        Some(Value::Array(_)) => None,
        Some(_) => {
            return Err(RpcError::NotJsonRpc(
                "\"params\" must be an object or an array",
            ))
        }
    };
    let target = target_of(method, params)?;
    Ok(RpcCall {
        method: method.to_owned(),
        name: target.name,
        uri: target.uri,
        kind,
        id: id.cloned(),
    })
}

/// The `name` / `uri` the rules may match, per method.
#[derive(Default)]
struct Target {
    name: Option<String>,
    uri: Option<String>,
}

/// Extracts the match target of the methods that have one. For those methods the target is
/// required: a missing or non-string value is refused rather than matched as "no name", so a
/// malformed call can never slip past a rule keyed on its name.
fn target_of(method: &str, params: Option<&Map<String, Value>>) -> Result<Target, RpcError> {
    match method {
        "tools/call" => Ok(Target {
            name: Some(required_string(
                params,
                "name",
                "tools/call needs a string \"params.name\"",
            )?),
            uri: None,
        }),
        "prompts/get" => Ok(Target {
            name: Some(required_string(
                params,
                "name",
                "prompts/get needs a string \"params.name\"",
            )?),
            uri: None,
        }),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => Ok(Target {
            name: None,
            uri: Some(required_string(
                params,
                "uri",
                "resources/read, resources/subscribe and resources/unsubscribe need a string \"params.uri\"",
            )?),
        }),
        "completion/complete" => completion_target(params),
        _ => Ok(Target::default()),
    }
}

fn completion_target(params: Option<&Map<String, Value>>) -> Result<Target, RpcError> {
    const BAD_REF: &str = "completion/complete needs \"params.ref\" with type \"ref/prompt\" and a string \"name\", or type \"ref/resource\" and a string \"uri\"";
    let Some(Value::Object(reference)) = params.and_then(|params| params.get("ref")) else {
        return Err(RpcError::NotJsonRpc(BAD_REF));
    };
    match reference.get("type") {
        Some(Value::String(kind)) if kind == "ref/prompt" => Ok(Target {
            name: Some(required_string(Some(reference), "name", BAD_REF)?),
            uri: None,
        }),
        Some(Value::String(kind)) if kind == "ref/resource" => Ok(Target {
            name: None,
            uri: Some(required_string(Some(reference), "uri", BAD_REF)?),
        }),
        // Unknown reference kinds are refused: the gate cannot tell what they would reach.
        Some(_) | None => Err(RpcError::NotJsonRpc(BAD_REF)),
    }
}

fn required_string(
    object: Option<&Map<String, Value>>,
    member: &str,
    reason: &'static str,
) -> Result<String, RpcError> {
    match object.and_then(|object| object.get(member)) {
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) | None => Err(RpcError::NotJsonRpc(reason)),
    }
}

fn classify_response(message: &Map<String, Value>) -> Result<RpcMessage, RpcError> {
    let has_result = message.contains_key("result");
    let has_error = message.contains_key("error");
    if has_result == has_error {
        return Err(RpcError::NotJsonRpc(
            "a message without \"method\" must be a response with exactly one of \"result\" or \"error\"",
        ));
    }
    match message.get("id") {
        // JSON-RPC allows a null id in an error response whose request id was unreadable.
        Some(Value::String(_)) | Some(Value::Number(_)) | Some(Value::Null) => {
            Ok(RpcMessage::Response)
        }
        Some(_) => Err(RpcError::NotJsonRpc(
            "a response \"id\" must be a string, a number or null",
        )),
        None => Err(RpcError::NotJsonRpc("a response needs an \"id\"")),
    }
}
