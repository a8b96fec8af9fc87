//! JSON-RPC body inspection: classification and strictness.

use mcp_gate::rpc::{inspect, CallKind, RpcCall, RpcError, RpcMessage};

fn call(method: &str, name: Option<&str>, uri: Option<&str>, kind: CallKind) -> RpcMessage {
    RpcMessage::Call(RpcCall {
        method: method.to_owned(),
        name: name.map(str::to_owned),
        uri: uri.map(str::to_owned),
        kind,
        id: None,
    })
}

/// The messages with their ids cleared: the cases compare what the rules match on.
fn without_ids(messages: &[RpcMessage]) -> Vec<RpcMessage> {
    messages
        .iter()
        .cloned()
        .map(|message| match message {
            RpcMessage::Call(call) => RpcMessage::Call(RpcCall { id: None, ..call }),
            RpcMessage::Response => RpcMessage::Response,
        })
        .collect()
}

#[test]
fn classifies_single_messages() {
    use CallKind::{Notification, Request};
    let cases: Vec<(&str, RpcMessage)> = vec![
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
            call("initialize", None, None, Request),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            call("notifications/initialized", None, None, Notification),
        ),
        (
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#,
            call("tools/list", None, None, Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"calendar_get_events","arguments":{"name":"ignored","uri":"x"}}}"#,
            call("tools/call", Some("calendar_get_events"), None, Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"summary"}}"#,
            call("prompts/get", Some("summary"), None, Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"customer://acme/1"}}"#,
            call("resources/read", None, Some("customer://acme/1"), Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"file:///a"}}"#,
            call("resources/subscribe", None, Some("file:///a"), Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"resources/unsubscribe","params":{"uri":"file:///a"}}"#,
            call("resources/unsubscribe", None, Some("file:///a"), Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"summary"},"argument":{"name":"a","value":"b"}}}"#,
            call("completion/complete", Some("summary"), None, Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":8,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"customer://{id}"},"argument":{"name":"id","value":"a"}}}"#,
            call(
                "completion/complete",
                None,
                Some("customer://{id}"),
                Request,
            ),
        ),
        (
            // Other methods carry no match target even when params has a name.
            r#"{"jsonrpc":"2.0","id":9,"method":"custom/thing","params":{"name":"x","uri":"y"}}"#,
            call("custom/thing", None, None, Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":10,"method":"ping","params":[]}"#,
            call("ping", None, None, Request),
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            RpcMessage::Response,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"s1","error":{"code":-1,"message":"no"}}"#,
            RpcMessage::Response,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}}"#,
            RpcMessage::Response,
        ),
    ];
    for (body, expected) in cases {
        let inspected = inspect(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert!(!inspected.is_batch());
        assert_eq!(without_ids(inspected.messages()), [expected], "{body}");
    }
}

#[test]
fn classifies_batches_in_order() {
    let body = br#"[
        {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},
        {"jsonrpc":"2.0","method":"notifications/progress","params":{}},
        {"jsonrpc":"2.0","id":7,"result":{"content":[]}}
    ]"#;
    let inspected = inspect(body).unwrap();
    assert!(inspected.is_batch());
    assert_eq!(
        without_ids(inspected.messages()),
        [
            call("tools/call", Some("a"), None, CallKind::Request),
            call("notifications/progress", None, None, CallKind::Notification),
            RpcMessage::Response,
        ]
    );
    assert_eq!(
        inspected.calls().next().map(|c| c.method.as_str()),
        Some("tools/call")
    );
    let single = inspect(br#"[{"jsonrpc":"2.0","method":"ping","id":1}]"#).unwrap();
    assert!(single.is_batch());
    assert_eq!(single.messages().len(), 1);
}

#[test]
fn refuses_what_is_not_json() {
    for body in [
        &b""[..],
        b"   ",
        b"{\"jsonrpc\":\"2.0\",",
        b"{\"jsonrpc\":\"2.0\",\"method\":\"ping\"} x",
        b"\xff\xfe",
        b"{\"jsonrpc\":\"2.0\",\"method\":\"p\xffng\"}",
    ] {
        assert!(
            matches!(inspect(body), Err(RpcError::NotJson)),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn refuses_duplicate_members_anywhere() {
    for body in [
        &br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#[..],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":1,"x":2}}}"#,
        br#"[{"jsonrpc":"2.0","method":"ping","id":1},{"jsonrpc":"2.0","jsonrpc":"2.0","method":"ping","id":2}]"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}"#,
    ] {
        assert!(
            matches!(inspect(body), Err(RpcError::DuplicateMember)),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn refuses_what_is_not_json_rpc() {
    let not_rpc = |e: &RpcError| matches!(e, RpcError::NotJsonRpc(_));
    let not_object = |e: &RpcError| *e == RpcError::NotAnObject;
    let empty = |e: &RpcError| *e == RpcError::EmptyBatch;
    type Check = fn(&RpcError) -> bool;
    let cases: Vec<(&str, Check)> = vec![
        ("[]", empty),
        ("1", not_object),
        ("\"tools/call\"", not_object),
        ("null", not_object),
        ("[1]", not_object),
        ("[[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}]]", not_object),
        (r#"{"method":"ping","id":1}"#, not_rpc),
        (r#"{"jsonrpc":"1.0","method":"ping","id":1}"#, not_rpc),
        (r#"{"jsonrpc":2.0,"method":"ping","id":1}"#, not_rpc),
        (r#"{"jsonrpc":"2.0","method":5,"id":1}"#, not_rpc),
        (r#"{"jsonrpc":"2.0","method":"ping","id":null}"#, not_rpc),
        (r#"{"jsonrpc":"2.0","method":"ping","id":{}}"#, not_rpc),
        (r#"{"jsonrpc":"2.0","method":"ping","id":true}"#, not_rpc),
        (
            r#"{"jsonrpc":"2.0","method":"ping","id":1,"params":"x"}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"ping","id":1,"result":{}}"#,
            not_rpc,
        ),
        (r#"{"jsonrpc":"2.0","id":1}"#, not_rpc),
        (
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#,
            not_rpc,
        ),
        (r#"{"jsonrpc":"2.0","result":{}}"#, not_rpc),
        (r#"{"jsonrpc":"2.0","id":[],"result":{}}"#, not_rpc),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#, not_rpc),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["a"]}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"uri":"x"}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"name":"x"}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":["x"]}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/unsubscribe"}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/tool","name":"x"}}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","uri":"x"}}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","name":"x"}}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"name":"x"}}}"#,
            not_rpc,
        ),
        // An unknown reference kind is refused even when it carries a uri.
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/other","uri":"customer://a"}}}"#,
            not_rpc,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":7,"uri":"customer://a"}}}"#,
            not_rpc,
        ),
        // One bad element refuses the whole batch.
        (
            r#"[{"jsonrpc":"2.0","method":"ping","id":1},{"jsonrpc":"2.0","id":2,"method":"tools/call"}]"#,
            not_rpc,
        ),
    ];
    for (body, check) in cases {
        match inspect(body.as_bytes()) {
            Ok(inspected) => panic!("{body} accepted as {inspected:?}"),
            Err(error) => assert!(check(&error), "{body}: {error:?}"),
        }
    }
}

#[test]
fn error_messages_never_echo_the_body() {
    let secret = "s3cr3t-value";
    let bodies = [
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"{secret}":1,"{secret}":2}}}}"#
        ),
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{secret}","result":1}}"#),
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":{{"{secret}":1}}}}}}"#
        ),
        format!(r#"{{"jsonrpc":"{secret}"}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{secret}"#),
    ];
    for body in bodies {
        let error = inspect(body.as_bytes()).unwrap_err();
        assert!(!error.to_string().contains(secret), "{error}");
        assert!(!format!("{error:?}").contains(secret), "{error:?}");
    }
}

#[test]
fn refuses_deep_nesting() {
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","arguments":{}1{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert_eq!(inspect(deep.as_bytes()), Err(RpcError::TooDeep));
    let very_deep = "[".repeat(100_000);
    assert!(inspect(very_deep.as_bytes()).is_err());
}

#[test]
fn summarises_for_the_log_line() {
    let body = inspect(
        br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather"}},
            {"jsonrpc":"2.0","id":2,"result":{}},
            {"jsonrpc":"2.0","method":"notifications/progress"},
            {"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"customer://a"}}]"#,
    )
    .unwrap();
    assert_eq!(
        body.summary(),
        (
            Some("tools/call,notifications/progress,resources/read".to_owned()),
            Some("weather,customer://a".to_owned())
        )
    );
    let only_response = inspect(br#"{"jsonrpc":"2.0","id":2,"result":{}}"#).unwrap();
    assert_eq!(only_response.summary(), (None, None));
    assert_eq!(only_response.calls().next(), None);
}

#[test]
fn every_error_has_a_reason_and_description() {
    for error in [
        RpcError::NotJson,
        RpcError::DuplicateMember,
        RpcError::TooDeep,
        RpcError::EmptyBatch,
        RpcError::NotAnObject,
        RpcError::NotJsonRpc("x needs y"),
    ] {
        assert!(error.reason().starts_with("body_"));
        assert!(!error.description().is_empty());
        assert_eq!(error.to_string(), error.description());
    }
}
