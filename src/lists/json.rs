//! Filtering list answers held as JSON: an `application/json` response body (one response or a
//! batch array), and, reused by the stream filter, the data of one SSE event
//! (README "Scope-aware lists").

use super::error::ListError;
use super::kind::ListKind;
use super::policy::EntryPolicy;
use super::requests::ListRequests;
use super::value::{self, Json, Members};
use super::MAX_LIST_BYTES;

/// The value of `cacheScope` on a filtered result: the answer depends on the token, so no
/// shared cache may keep it (MCP revision 2026-07-28; an absent `cacheScope` means public).
pub const CACHE_SCOPE_PRIVATE: &str = "private";

/// The JSON-RPC error code of the error that replaces an unreadable list answer in a stream
/// (JSON-RPC 2.0 §5.1, "Internal error").
pub const INTERNAL_ERROR: i64 = -32603;

/// A JSON response body after filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredJson {
    /// The body to send: re-serialised (compact, member order kept) when `changed`, else the
    /// original bytes.
    pub body: Vec<u8>,
    /// How many list entries were removed (the log line's `filtered`).
    pub removed: usize,
    /// Whether some list answer was found and rewritten. When `false` the body is the
    /// original; when `true` the response needs a new `Content-Length` and
    /// `Cache-Control: private`.
    pub changed: bool,
}

/// Filters the list answers in `body`, an `application/json` response body (a single
/// JSON-RPC response, or a batch array) to a request whose list requests are `requests`.
///
/// Each response that answers a list request (see [`ListRequests::kind_of`]) and has a
/// `result` keeps only the entries `policy` allows, every other member unchanged, and gets
/// `"cacheScope": "private"`; error responses and every other element are unchanged. When
/// nothing answers a list request, or `requests` is empty, or `policy` keeps everything
/// (authenticated mode), the body is returned as it came with `changed: false`.
///
/// Errors: body over [`MAX_LIST_BYTES`] → [`ListError::TooLarge`]; not one JSON text (UTF-8,
/// RFC 8259) → [`ListError::NotJson`]; a list answer whose `result` lacks its array →
/// [`ListError::NotAList`]. All of them mean `502` (README "Scope-aware lists").
pub fn filter_json(
    body: &[u8],
    requests: &ListRequests,
    policy: &EntryPolicy,
) -> Result<FilteredJson, ListError> {
    let unchanged = || FilteredJson {
        body: body.to_vec(),
        removed: 0,
        changed: false,
    };
    if requests.is_empty() || policy.keeps_all() {
        return Ok(unchanged());
    }
    if body.len() > MAX_LIST_BYTES {
        return Err(ListError::TooLarge);
    }
    let mut value = value::parse(body).map_err(|_| ListError::NotJson)?;
    let mut removed = 0;
    let mut changed = false;
    for message in messages_mut(&mut value) {
        match filter_message(message, requests, policy) {
            Outcome::NotAList => {}
            Outcome::Filtered { removed: count } => {
                removed += count;
                changed = true;
            }
            Outcome::Invalid(error) => return Err(error),
        }
    }
    if !changed {
        return Ok(unchanged());
    }
    Ok(FilteredJson {
        body: value.to_vec(),
        removed,
        changed,
    })
}

/// The message objects of a JSON-RPC payload: the elements of a batch array, or the value
/// itself.
pub(crate) fn messages_mut(value: &mut Json) -> Vec<&mut Json> {
    match value {
        Json::Array(items) => items.iter_mut().collect(),
        single => vec![single],
    }
}

/// What [`filter_message`] did with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not a list answer: left as it was.
    NotAList,
    /// A list answer, filtered in place.
    Filtered { removed: usize },
    /// A list answer that cannot be read as one; the message was left as it was.
    Invalid(ListError),
}

/// Filters one message object in place if it is a list answer:
/// - with known ids, a message whose `id` answers a list request and that has a `result`; its
///   `result` must be an object holding the request kind's array;
/// - with unknown ids, a message whose `result` is an object holding one or more of the four
///   list arrays; each of them is filtered by its own kind.
///
/// Whether the message also has `method` or `error` does not matter: a client that reads a
/// `result` would read the list.
pub(crate) fn filter_message(
    message: &mut Json,
    requests: &ListRequests,
    policy: &EntryPolicy,
) -> Outcome {
    let Some(members) = message.as_object_mut() else {
        return Outcome::NotAList;
    };
    if requests.is_unknown_ids() {
        let Some(Json::Object(result)) = members.get_mut("result") else {
            return Outcome::NotAList;
        };
        let mut found = false;
        let mut removed = 0;
        for kind in ListKind::ALL {
            if let Some(Json::Array(entries)) = result.get_mut(kind.member()) {
                found = true;
                removed += keep_allowed(entries, kind, policy);
            }
        }
        if !found {
            return Outcome::NotAList;
        }
        mark_private(result);
        return Outcome::Filtered { removed };
    }
    let kind = members
        .get("id")
        .and_then(Json::to_id)
        .and_then(|id| requests.kind_of(&id));
    let Some(kind) = kind else {
        return Outcome::NotAList;
    };
    // An error response (no `result`) passes unchanged.
    let Some(result) = members.get_mut("result") else {
        return Outcome::NotAList;
    };
    let Some(result) = result.as_object_mut() else {
        return Outcome::Invalid(ListError::NotAList(kind));
    };
    let Some(Json::Array(entries)) = result.get_mut(kind.member()) else {
        return Outcome::Invalid(ListError::NotAList(kind));
    };
    let removed = keep_allowed(entries, kind, policy);
    mark_private(result);
    Outcome::Filtered { removed }
}

/// Keeps the entries whose key member is a string the policy allows; returns how many were
/// removed. An entry that is not an object, or lacks its key, or whose key is not a string, is
/// removed: nothing could use it.
fn keep_allowed(entries: &mut Vec<Json>, kind: ListKind, policy: &EntryPolicy) -> usize {
    let before = entries.len();
    entries.retain(|entry| {
        entry
            .as_object()
            .and_then(|entry| entry.get(kind.key()))
            .and_then(Json::as_str)
            .is_some_and(|key| policy.allows(kind, key))
    });
    before - entries.len()
}

fn mark_private(result: &mut Members) {
    result.set("cacheScope", Json::String(CACHE_SCOPE_PRIVATE.to_owned()));
}

/// The JSON-RPC error response that replaces an unreadable list answer:
/// `{"jsonrpc":"2.0","id":<id>,"error":{"code":-32603,"message":"…"}}`.
pub(crate) fn error_response(id: Json, error: ListError) -> Json {
    let mut detail = Members::default();
    detail.set("code", Json::Number(INTERNAL_ERROR.into()));
    detail.set("message", Json::String(error.message().to_owned()));
    let mut response = Members::default();
    response.set("jsonrpc", Json::String("2.0".to_owned()));
    response.set("id", id);
    response.set("error", Json::Object(detail));
    Json::Object(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use serde_json::json;

    fn tools_only(allowed: &str) -> EntryPolicy {
        let rules = format!(
            r#"{{"version":1,"default":"deny","rules":[
                {{"name":"t","match":{{"method":"tools/call","name":"{allowed}"}},"require":[]}}]}}"#
        );
        EntryPolicy::new(&RuleSet::parse(&rules).unwrap(), "POST", "/mcp", &[], &[])
    }

    fn known_tools() -> ListRequests {
        let body =
            crate::rpc::inspect(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        ListRequests::from_body(&body)
    }

    #[test]
    fn filters_and_marks_private_keeping_order() {
        let body = br#"{"result":{"_meta":{"z":1,"a":2},"tools":[{"name":"keep","inputSchema":{"type":"object","properties":{"z":{},"a":{}}}},{"name":"drop"}],"nextCursor":"c"},"jsonrpc":"2.0","id":1}"#;
        let out = filter_json(body, &known_tools(), &tools_only("keep")).unwrap();
        assert!(out.changed);
        assert_eq!(out.removed, 1);
        assert_eq!(
            String::from_utf8(out.body).unwrap(),
            r#"{"result":{"_meta":{"z":1,"a":2},"tools":[{"name":"keep","inputSchema":{"type":"object","properties":{"z":{},"a":{}}}}],"nextCursor":"c","cacheScope":"private"},"jsonrpc":"2.0","id":1}"#
        );
    }

    #[test]
    fn an_existing_cache_scope_is_overwritten_in_place() {
        let body = br#"{"jsonrpc":"2.0","id":1,"result":{"cacheScope":"public","tools":[]}}"#;
        let out = filter_json(body, &known_tools(), &tools_only("x")).unwrap();
        assert_eq!(
            out.body,
            br#"{"jsonrpc":"2.0","id":1,"result":{"cacheScope":"private","tools":[]}}"#
        );
    }

    #[test]
    fn a_message_with_method_and_result_is_still_filtered() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"x","result":{"tools":[{"name":"a"}]}}"#;
        let out = filter_json(body, &known_tools(), &tools_only("keep")).unwrap();
        assert_eq!(out.removed, 1);
    }

    #[test]
    fn unknown_ids_filter_every_list_array() {
        let mut message = value::parse(
            br#"{"jsonrpc":"2.0","id":9,"result":{"tools":[{"name":"keep"},{"name":"x"}],"prompts":[{"name":"p"}],"resources":"not an array"}}"#,
        )
        .unwrap();
        let outcome = filter_message(
            &mut message,
            &ListRequests::unknown_ids(),
            &tools_only("keep"),
        );
        assert_eq!(outcome, Outcome::Filtered { removed: 2 });
        assert_eq!(
            message.to_vec(),
            br#"{"jsonrpc":"2.0","id":9,"result":{"tools":[{"name":"keep"}],"prompts":[],"resources":"not an array","cacheScope":"private"}}"#
        );
        let mut other =
            value::parse(br#"{"jsonrpc":"2.0","id":9,"result":{"content":[]}}"#).unwrap();
        let outcome = filter_message(
            &mut other,
            &ListRequests::unknown_ids(),
            &tools_only("keep"),
        );
        assert_eq!(outcome, Outcome::NotAList);
    }

    #[test]
    fn error_response_shape() {
        let error = error_response(Json::from_id(&json!("a")), ListError::NotJson);
        assert_eq!(
            error.to_vec(),
            br#"{"jsonrpc":"2.0","id":"a","error":{"code":-32603,"message":"The server's list result is not valid JSON"}}"#
        );
    }
}
