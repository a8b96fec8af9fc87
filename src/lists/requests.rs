//! Which answers of a response are list results (README "Scope-aware lists"): the JSON-RPC
//! ids of the list requests in the request body, or, on a `GET` stream (resumption with
//! `Last-Event-ID`), "unknown ids".

use serde_json::Value;

use super::kind::ListKind;
use crate::rpc::{CallKind, RpcBody};

/// The list requests a response may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequests {
    ids: Ids,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ids {
    /// The list requests of a POST body, in body order: each request's `id` and kind.
    Known(Vec<(Value, ListKind)>),
    /// A stream whose requests the gate has not seen: every response whose `result` holds a
    /// list array is a list answer of that array's kind.
    Unknown,
}

impl ListRequests {
    /// The list requests of an inspected POST body: its requests (with an `id`; a notification
    /// gets no answer) whose method is one of the list methods. Empty for every other body,
    /// so such a response needs no filtering at all (see [`ListRequests::is_empty`]).
    pub fn from_body(body: &RpcBody) -> ListRequests {
        let known = body
            .calls()
            .filter(|call| call.kind == CallKind::Request)
            .filter_map(|call| {
                let kind = ListKind::from_method(&call.method)?;
                Some((call.id.clone()?, kind))
            })
            .collect();
        ListRequests {
            ids: Ids::Known(known),
        }
    }

    /// No list request (a request without a body, or one without a list call).
    pub fn none() -> ListRequests {
        ListRequests {
            ids: Ids::Known(Vec::new()),
        }
    }

    /// A stream whose request ids are unknown (a `GET` stream, resumption with
    /// `Last-Event-ID`): every response whose `result` holds a `tools`, `prompts`,
    /// `resources` or `resourceTemplates` array is filtered by that array's kind.
    pub fn unknown_ids() -> ListRequests {
        ListRequests { ids: Ids::Unknown }
    }

    /// Whether no answer can be a list result, so the response passes untouched. Cheap.
    pub fn is_empty(&self) -> bool {
        matches!(&self.ids, Ids::Known(known) if known.is_empty())
    }

    /// Whether the ids are unknown (see [`ListRequests::unknown_ids`]).
    pub fn is_unknown_ids(&self) -> bool {
        matches!(self.ids, Ids::Unknown)
    }

    /// The known list requests, in body order (none for unknown ids).
    pub fn known(&self) -> &[(Value, ListKind)] {
        match &self.ids {
            Ids::Known(known) => known,
            Ids::Unknown => &[],
        }
    }

    /// The kind of the known list request answered by a response with this `id` (see
    /// `same_id` for how ids compare). When several list requests share an id, the first
    /// counts.
    pub fn kind_of(&self, id: &Value) -> Option<ListKind> {
        self.known()
            .iter()
            .find(|(known, _)| same_id(known, id))
            .map(|(_, kind)| *kind)
    }

    /// The positions in [`ListRequests::known`] of the list requests a response with this `id`
    /// answers.
    pub(crate) fn answered_by<'a>(&'a self, id: &'a Value) -> impl Iterator<Item = usize> + 'a {
        self.known()
            .iter()
            .enumerate()
            .filter(move |(_, (known, _))| same_id(known, id))
            .map(|(index, _)| index)
    }
}

/// Whether a response id answers a request id. Equal ids do; so do ids that the MCP
/// TypeScript SDK's client reads as the same number (it looks answers up by `Number(id)`, so
/// it takes `"1"` and `1.0` as the answer to `1`). Matching more widely than any client only
/// means that an odd answer is filtered too, or refused; matching less would let a client read
/// an unfiltered list.
pub(crate) fn same_id(request: &Value, response: &Value) -> bool {
    if request == response {
        return true;
    }
    match (as_number(request), as_number(response)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// ECMAScript `Number(value)` for the decimal forms: a JSON number, or a string holding one
/// between whitespace (the empty string is 0).
fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => {
            let text = text.trim();
            if text.is_empty() {
                return Some(0.0);
            }
            // Rust also reads `inf` and `NaN`, which never equal a (finite) JSON number id.
            text.parse::<f64>().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::inspect;
    use serde_json::json;

    fn requests(body: Value) -> ListRequests {
        ListRequests::from_body(&inspect(body.to_string().as_bytes()).unwrap())
    }

    #[test]
    fn finds_the_list_requests_of_a_batch() {
        let found = requests(json!([
            {"jsonrpc":"2.0","id":1,"method":"tools/list"},
            {"jsonrpc":"2.0","id":"b","method":"resources/templates/list","params":{"cursor":"x"}},
            {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t"}},
            {"jsonrpc":"2.0","method":"prompts/list"},
            {"jsonrpc":"2.0","id":4,"result":{}}
        ]));
        assert!(!found.is_empty());
        assert!(!found.is_unknown_ids());
        assert_eq!(
            found.known(),
            &[
                (json!(1), ListKind::Tools),
                (json!("b"), ListKind::ResourceTemplates)
            ]
        );
        assert_eq!(found.kind_of(&json!(1)), Some(ListKind::Tools));
        assert_eq!(
            found.kind_of(&json!("b")),
            Some(ListKind::ResourceTemplates)
        );
        assert_eq!(found.kind_of(&json!(3)), None);
        assert_eq!(found.kind_of(&json!("B")), None);
        assert_eq!(found.kind_of(&json!(null)), None);
    }

    #[test]
    fn ids_compare_like_the_typescript_client_reads_them() {
        for (request, response) in [
            (json!(1), json!(1)),
            (json!(1), json!("1")),
            (json!(1), json!(" 1 ")),
            (json!(1), json!(1.0)),
            (json!(1), json!("1e0")),
            (json!(0), json!("")),
            (json!("7"), json!(7)),
            (json!("a"), json!("a")),
        ] {
            assert!(same_id(&request, &response), "{request} {response}");
        }
        for (request, response) in [
            (json!(1), json!(2)),
            (json!(1), json!("one")),
            (json!(1), json!(null)),
            (json!(1), json!(true)),
            (json!("a"), json!("A")),
            (json!("NaN"), json!("NaN")),
        ] {
            assert_eq!(
                same_id(&request, &response),
                request == response,
                "{request} {response}"
            );
        }
    }

    #[test]
    fn other_bodies_need_nothing() {
        let call =
            requests(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}));
        assert!(call.is_empty());
        let notification = requests(json!({"jsonrpc":"2.0","method":"tools/list"}));
        assert!(notification.is_empty());
        assert!(ListRequests::none().is_empty());
        let unknown = ListRequests::unknown_ids();
        assert!(!unknown.is_empty());
        assert!(unknown.is_unknown_ids());
        assert_eq!(unknown.kind_of(&json!(1)), None);
    }
}
