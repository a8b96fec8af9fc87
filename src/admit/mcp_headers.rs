//! `Mcp-Method` and `Mcp-Name` (MCP revision 2026-07-28): request headers that repeat what the
//! body says, so that intermediaries can route without reading the body. An upstream may
//! trust them instead of the body; the gate decides on the body. So when a `POST` carries
//! them, they must say the same as the body, or the request is refused (README "Request
//! hygiene"). Matching headers, like `Mcp-Param-*`, are forwarded unchanged.

use base64ct::{Base64, Encoding};
use http::{HeaderMap, HeaderName};

use super::{AdmitError, McpHeader};
use crate::rpc::{RpcBody, RpcMessage};

/// `Mcp-Method`.
pub const MCP_METHOD: &str = "mcp-method";
/// `Mcp-Name`.
pub const MCP_NAME: &str = "mcp-name";
// Looked up by `HeaderName`, built at compile time: a lookup by `&str` parses the name through
// `http`'s table of standard headers on every call (and compiles that 12 KB function on a
// fresh isolate's first request).
const MCP_METHOD_HEADER: HeaderName = HeaderName::from_static(MCP_METHOD);
const MCP_NAME_HEADER: HeaderName = HeaderName::from_static(MCP_NAME);

/// Checks `Mcp-Method` and `Mcp-Name`, when present, against the inspected body:
/// - `Mcp-Method` must equal the `method` of the body's one message;
/// - `Mcp-Name` must equal that message's `params.name` (`tools/call`, `prompts/get`) or
///   `params.uri` (`resources/read`, …), and a message without either never matches it;
/// - a batch, or a body that is a response, carrying either header is a mismatch;
/// - values of the form `=?base64?<base64>?=` are decoded first (UTF-8); one that does not
///   decode is a mismatch; a header given twice (joined by the runtime with `, `) matches
///   nothing.
pub fn check(headers: &HeaderMap, body: &RpcBody) -> Result<(), AdmitError> {
    let method = header_text(headers, &MCP_METHOD_HEADER);
    let name = header_text(headers, &MCP_NAME_HEADER);
    if method.is_none() && name.is_none() {
        return Ok(());
    }
    let call = match (body.is_batch(), body.messages()) {
        (false, [RpcMessage::Call(call)]) => Some(call),
        _ => None,
    };
    let id = call.and_then(|call| call.id.clone());
    let mismatch = |header| AdmitError::McpHeaderMismatch {
        header,
        id: id.clone(),
    };
    if let Some(method) = method {
        let agrees = match (&method, call) {
            (Some(value), Some(call)) => *value == call.method,
            _ => false,
        };
        if !agrees {
            return Err(mismatch(McpHeader::Method));
        }
    }
    if let Some(name) = name {
        let target = call.and_then(|call| call.name.as_deref().or(call.uri.as_deref()));
        let agrees = match (&name, target) {
            (Some(value), Some(target)) => value == target,
            _ => false,
        };
        if !agrees {
            return Err(mismatch(McpHeader::Name));
        }
    }
    Ok(())
}

/// The header's text: `None` when absent, `Some(None)` when present but unreadable (not
/// visible ASCII, given twice, or a `=?base64?…?=` value that does not decode to UTF-8).
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<Option<String>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(None);
    }
    let Ok(text) = first.to_str() else {
        return Some(None);
    };
    Some(decode(text))
}

/// A header value as text: `=?base64?<standard base64>?=` decoded, anything else as is.
pub fn decode(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => {
            let bytes = Base64::decode_vec(encoded).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::inspect;
    use http::HeaderValue;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const CALL: &[u8] =
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather"}}"#;

    #[test]
    fn matching_or_absent_headers_pass() {
        let body = inspect(CALL).unwrap();
        check(&HeaderMap::new(), &body).unwrap();
        check(
            &headers(&[(MCP_METHOD, "tools/call"), (MCP_NAME, "get_weather")]),
            &body,
        )
        .unwrap();
        check(&headers(&[(MCP_METHOD, "tools/call")]), &body).unwrap();
        check(
            &headers(&[(MCP_NAME, "=?base64?Z2V0X3dlYXRoZXI=?=")]),
            &body,
        )
        .unwrap();
        let read = inspect(
            br#"{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":"file:///a b"}}"#,
        )
        .unwrap();
        check(
            &headers(&[(MCP_METHOD, "resources/read"), (MCP_NAME, "file:///a b")]),
            &read,
        )
        .unwrap();
    }

    #[test]
    fn disagreeing_headers_are_refused_with_the_message_id() {
        let body = inspect(CALL).unwrap();
        let method_mismatch = Err(AdmitError::McpHeaderMismatch {
            header: McpHeader::Method,
            id: Some(json!(7)),
        });
        let name_mismatch = Err(AdmitError::McpHeaderMismatch {
            header: McpHeader::Name,
            id: Some(json!(7)),
        });
        assert_eq!(
            check(&headers(&[(MCP_METHOD, "ping")]), &body),
            method_mismatch
        );
        assert_eq!(
            check(&headers(&[(MCP_METHOD, "Tools/Call")]), &body),
            method_mismatch
        );
        assert_eq!(
            check(
                &headers(&[(MCP_METHOD, "tools/call"), (MCP_METHOD, "tools/call")]),
                &body
            ),
            method_mismatch
        );
        assert_eq!(
            check(&headers(&[(MCP_NAME, "delete_all")]), &body),
            name_mismatch
        );
        assert_eq!(
            check(&headers(&[(MCP_NAME, "=?base64?!!?=")]), &body),
            name_mismatch
        );
        // A method without a name or uri has nothing Mcp-Name could equal.
        let ping = inspect(br#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#).unwrap();
        assert_eq!(
            check(&headers(&[(MCP_NAME, "")]), &ping),
            Err(AdmitError::McpHeaderMismatch {
                header: McpHeader::Name,
                id: Some(json!("p")),
            })
        );
    }

    #[test]
    fn batches_and_responses_never_match() {
        let batch =
            inspect(format!("[{}]", std::str::from_utf8(CALL).unwrap()).as_bytes()).unwrap();
        assert_eq!(
            check(&headers(&[(MCP_METHOD, "tools/call")]), &batch),
            Err(AdmitError::McpHeaderMismatch {
                header: McpHeader::Method,
                id: None,
            })
        );
        let response = inspect(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap();
        assert_eq!(
            check(&headers(&[(MCP_NAME, "x")]), &response),
            Err(AdmitError::McpHeaderMismatch {
                header: McpHeader::Name,
                id: None,
            })
        );
    }

    #[test]
    fn base64_values_decode_to_utf8_only() {
        assert_eq!(decode("=?base64?w6k=?=").as_deref(), Some("é"));
        assert_eq!(decode("plain").as_deref(), Some("plain"));
        assert_eq!(decode("=?base64?/w==?="), None);
        assert_eq!(decode("=?base64?w6k?="), None);
    }
}
