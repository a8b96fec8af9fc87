//! Scope-aware lists (README "Scope-aware lists"): list answers cut down to what the token may
//! use, asked of the same rules code that gates calls; JSON bodies and event streams.

use mcp_gate::lists::{
    filter_json, EntryPolicy, FilteredJson, ListError, ListKind, ListRequests, SseFilter,
    MAX_LIST_BYTES,
};
use mcp_gate::rpc::inspect;
use mcp_gate::rules::RuleSet;
use proptest::prelude::*;
use serde_json::{json, Value};

const EXAMPLE: &str = include_str!("fixtures/rules.example.json");
const AUTHENTICATED_DEFAULT: &str = include_str!("fixtures/rules.authenticated.json");

fn scopes(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_owned).collect()
}

fn policy(granted: &str) -> EntryPolicy {
    let rules = RuleSet::parse(EXAMPLE).unwrap();
    EntryPolicy::new(&rules, "POST", "/mcp", &scopes(granted), &[])
}

fn requests(body: Value) -> ListRequests {
    ListRequests::from_body(&inspect(body.to_string().as_bytes()).unwrap())
}

fn list_request(id: Value, kind: ListKind) -> ListRequests {
    requests(json!({"jsonrpc":"2.0","id":id,"method":kind.method()}))
}

fn filtered(response: &Value, requests: &ListRequests, policy: &EntryPolicy) -> FilteredJson {
    filter_json(response.to_string().as_bytes(), requests, policy).unwrap()
}

fn body_of(out: &FilteredJson) -> Value {
    serde_json::from_slice(&out.body).unwrap()
}

/// The values of `key` in the entries of `result[member]`.
fn keys_of(result: &Value, member: &str, key: &str) -> Vec<String> {
    result[member]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry[key].as_str().unwrap().to_owned())
        .collect()
}

fn tools() -> Value {
    json!([
        {"name":"calendar_get_events","description":"d","inputSchema":{"type":"object"}},
        {"name":"calendar_get_free_busy","inputSchema":{"type":"object"}},
        {"name":"calendar_create_event","inputSchema":{"type":"object"}},
        {"name":"weather","inputSchema":{"type":"object"}},
        {"name":"two words","inputSchema":{"type":"object"}},
        {"name":"colon:name"},
        {"description":"no name"},
        {"name":5},
        "not an object"
    ])
}

fn tools_answer(id: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"result":{
        "tools":tools(),"nextCursor":"page-2","_meta":{"z":[1,2.5,"x"],"a":null}}})
}

fn visible_tools(granted: &str) -> Vec<String> {
    let out = filtered(
        &tools_answer(json!(1)),
        &list_request(json!(1), ListKind::Tools),
        &policy(granted),
    );
    assert!(out.changed);
    let body = body_of(&out);
    let names = keys_of(&body["result"], "tools", "name");
    assert_eq!(out.removed, tools().as_array().unwrap().len() - names.len());
    names
}

#[test]
fn calendar_read_sees_only_calendar_read_tools() {
    assert_eq!(
        visible_tools("mcp:tools:calendar:read"),
        ["calendar_get_events", "calendar_get_free_busy"]
    );
}

#[test]
fn a_tools_wildcard_sees_every_usable_tool() {
    // "two words" and "colon:name" cannot fill `mcp:tools:{name}`: removed, and the list is
    // still answered. Entries without a string name are removed.
    assert_eq!(
        visible_tools("mcp:tools:*"),
        [
            "calendar_get_events",
            "calendar_get_free_busy",
            "calendar_create_event",
            "weather"
        ]
    );
}

#[test]
fn one_tool_scope_sees_that_tool() {
    assert_eq!(visible_tools("mcp:tools:weather"), ["weather"]);
    assert!(visible_tools("").is_empty());
    assert!(visible_tools("mcp:tools mcp:toolsmith mcp:prompts:*").is_empty());
}

#[test]
fn other_members_stay_and_the_result_is_private() {
    // Written by hand: `json!` would sort the members.
    let answer = concat!(
        r#"{"jsonrpc":"2.0","id":"req-1","result":{"tools":["#,
        r#"{"name":"weather","inputSchema":{"type":"object"}},{"name":"calendar_create_event"}],"#,
        r#""nextCursor":"page-2","_meta":{"z":[1,2.5,"x"],"a":null}}}"#
    );
    let out = filter_json(
        answer.as_bytes(),
        &list_request(json!("req-1"), ListKind::Tools),
        &policy("mcp:tools:weather"),
    )
    .unwrap();
    assert_eq!(out.removed, 1);
    let body = body_of(&out);
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], "req-1");
    assert_eq!(body["result"]["nextCursor"], "page-2");
    assert_eq!(body["result"]["_meta"], json!({"z":[1,2.5,"x"],"a":null}));
    assert_eq!(body["result"]["cacheScope"], "private");
    assert_eq!(
        body["result"]["tools"],
        json!([{"name":"weather","inputSchema":{"type":"object"}}])
    );
    // Member order is kept.
    let text = String::from_utf8(out.body).unwrap();
    let at = |needle: &str| text.find(needle).unwrap();
    assert!(at("\"jsonrpc\"") < at("\"id\"") && at("\"id\"") < at("\"result\""));
    assert!(at("\"tools\"") < at("\"nextCursor\"") && at("\"nextCursor\"") < at("\"_meta\""));
    assert!(at("\"_meta\"") < at("\"cacheScope\""));
    assert!(at("\"z\"") < at("\"a\""));
}

#[test]
fn an_empty_result_is_still_marked_private() {
    let answer = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[]}});
    let out = filtered(
        &answer,
        &list_request(json!(1), ListKind::Tools),
        &policy("mcp:tools:*"),
    );
    assert!(out.changed);
    assert_eq!(out.removed, 0);
    assert_eq!(
        body_of(&out),
        json!({"jsonrpc":"2.0","id":1,"result":{"tools":[],"cacheScope":"private"}})
    );
}

#[test]
fn resources_by_uri() {
    let answer = json!({"jsonrpc":"2.0","id":2,"result":{"resources":[
        {"uri":"customer://acme/orders","name":"orders"},
        {"uri":"file:///readme.md","name":"readme"},
        {"name":"no uri"},
        {"uri":["customer://x"]}
    ]}});
    let requests = list_request(json!(2), ListKind::Resources);
    let uris = |granted: &str| {
        let out = filtered(&answer, &requests, &policy(granted));
        keys_of(&body_of(&out)["result"], "resources", "uri")
    };
    assert_eq!(uris("mcp:resources:read"), ["file:///readme.md"]);
    assert_eq!(
        uris("mcp:resources:customer-data:read"),
        ["customer://acme/orders"]
    );
    assert_eq!(
        uris("mcp:resources:*"),
        ["customer://acme/orders", "file:///readme.md"]
    );
    assert!(uris("mcp:tools:*").is_empty());
}

#[test]
fn templates_by_uri_template() {
    let answer = json!({"jsonrpc":"2.0","id":3,"result":{"resourceTemplates":[
        {"uriTemplate":"customer://{account}/orders","name":"orders"},
        {"uriTemplate":"file:///{path}","name":"files"},
        {"uri":"file:///not-a-template","name":"uri is not the key"}
    ]}});
    let requests = list_request(json!(3), ListKind::ResourceTemplates);
    let templates = |granted: &str| {
        let out = filtered(&answer, &requests, &policy(granted));
        keys_of(&body_of(&out)["result"], "resourceTemplates", "uriTemplate")
    };
    assert_eq!(templates("mcp:resources:read"), ["file:///{path}"]);
    assert_eq!(
        templates("mcp:resources:customer-data:read"),
        ["customer://{account}/orders"]
    );
}

#[test]
fn prompts_by_name() {
    let answer = json!({"jsonrpc":"2.0","id":4,"result":{"prompts":[
        {"name":"summarize","arguments":[]},
        {"name":"translate"},
        {"name":"bad name"},
        {"title":"no name"}
    ]}});
    let requests = list_request(json!(4), ListKind::Prompts);
    let names = |granted: &str| {
        let out = filtered(&answer, &requests, &policy(granted));
        keys_of(&body_of(&out)["result"], "prompts", "name")
    };
    assert_eq!(names("mcp:prompts:summarize"), ["summarize"]);
    assert_eq!(names("mcp:prompts:*"), ["summarize", "translate"]);
    assert!(names("mcp:tools:*").is_empty());
}

#[test]
fn a_batch_with_two_lists_an_error_and_another_answer() {
    let requests = requests(json!([
        {"jsonrpc":"2.0","id":1,"method":"tools/list"},
        {"jsonrpc":"2.0","id":2,"method":"prompts/list"},
        {"jsonrpc":"2.0","id":3,"method":"resources/list"},
        {"jsonrpc":"2.0","id":4,"method":"ping"}
    ]));
    let answer = json!([
        {"jsonrpc":"2.0","id":4,"result":{"tools":[{"name":"not a list answer"}]}},
        {"jsonrpc":"2.0","id":2,"result":{"prompts":[{"name":"summarize"},{"name":"translate"}]}},
        {"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no resources"}},
        {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"weather"},{"name":"calendar_get_events"}]}}
    ]);
    let out = filtered(
        &answer,
        &requests,
        &policy("mcp:tools:calendar:read mcp:prompts:translate"),
    );
    assert!(out.changed);
    assert_eq!(out.removed, 2);
    assert_eq!(
        body_of(&out),
        json!([
            {"jsonrpc":"2.0","id":4,"result":{"tools":[{"name":"not a list answer"}]}},
            {"jsonrpc":"2.0","id":2,"result":{"prompts":[{"name":"translate"}],"cacheScope":"private"}},
            {"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no resources"}},
            {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"calendar_get_events"}],"cacheScope":"private"}}
        ])
    );
}

#[test]
fn error_answers_and_other_ids_pass_unchanged() {
    let requests = list_request(json!(1), ListKind::Tools);
    for body in [
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,\"message\":\"x\"}}",
        "{ \"jsonrpc\" : \"2.0\", \"id\" : 7, \"result\" : {\"tools\":[{\"name\":\"weather\"}]} }",
        "[{\"jsonrpc\":\"2.0\",\"id\":\"2\",\"result\":{}}]",
        "17",
    ] {
        let out = filter_json(body.as_bytes(), &requests, &policy("")).unwrap();
        assert!(!out.changed, "{body}");
        assert_eq!(out.removed, 0);
        assert_eq!(out.body, body.as_bytes());
    }
}

#[test]
fn an_id_the_typescript_client_would_match_is_filtered() {
    let out = filtered(
        &tools_answer(json!("1")),
        &list_request(json!(1), ListKind::Tools),
        &policy("mcp:tools:weather"),
    );
    assert!(out.changed);
    assert_eq!(
        keys_of(&body_of(&out)["result"], "tools", "name"),
        ["weather"]
    );
}

#[test]
fn authenticated_mode_filters_nothing() {
    let policy = EntryPolicy::keep_all();
    assert!(policy.keeps_all());
    let body = format!("{} ", tools_answer(json!(1)));
    let requests = list_request(json!(1), ListKind::Tools);
    let out = filter_json(body.as_bytes(), &requests, &policy).unwrap();
    assert!(!out.changed);
    assert_eq!(out.body, body.as_bytes());
    let out = filter_json(b"not json", &requests, &EntryPolicy::keep_all()).unwrap();
    assert!(!out.changed);
}

#[test]
fn a_document_with_default_authenticated_still_asks_its_rules() {
    let rules = RuleSet::parse(AUTHENTICATED_DEFAULT).unwrap();
    let policy = EntryPolicy::new(&rules, "POST", "/mcp", &scopes("mcp:base"), &[]);
    let answer = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
        {"name":"weather"},{"name":"admin_reset"},{"name":"two words"}]}});
    let out = filtered(&answer, &list_request(json!(1), ListKind::Tools), &policy);
    assert_eq!(
        keys_of(&body_of(&out)["result"], "tools", "name"),
        ["weather", "two words"]
    );
    assert_eq!(body_of(&out)["result"]["cacheScope"], "private");
}

#[test]
fn invalid_list_answers_are_errors() {
    let requests = list_request(json!(1), ListKind::Tools);
    let policy = policy("mcp:tools:*");
    let error = |body: &[u8]| filter_json(body, &requests, &policy).unwrap_err();
    assert_eq!(error(b"<html>"), ListError::NotJson);
    assert_eq!(error(b""), ListError::NotJson);
    assert_eq!(
        error(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}"),
        ListError::NotJson
    );
    assert_eq!(
        error(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}} {}"),
        ListError::NotJson
    );
    assert_eq!(error(b"\"\xff\""), ListError::NotJson);
    for result in [
        json!({}),
        json!({"tools":{}}),
        json!({"tools":null}),
        json!({"prompts":[]}),
        json!([]),
        json!("tools"),
    ] {
        let body = json!({"jsonrpc":"2.0","id":1,"result":result}).to_string();
        assert_eq!(
            error(body.as_bytes()),
            ListError::NotAList(ListKind::Tools),
            "{body}"
        );
    }
    // One bad list answer in a batch fails the whole body.
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"result":{"nope":[]}},
        {"jsonrpc":"2.0","id":2,"result":{}}
    ]);
    assert_eq!(
        error(batch.to_string().as_bytes()),
        ListError::NotAList(ListKind::Tools)
    );
    let mut large = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}".to_vec();
    large.resize(MAX_LIST_BYTES + 1, b' ');
    assert_eq!(error(&large), ListError::TooLarge);
    large.truncate(MAX_LIST_BYTES);
    assert!(filter_json(&large, &requests, &policy).unwrap().changed);
}

#[test]
fn errors_are_described_without_content() {
    for error in [
        ListError::TooLarge,
        ListError::NotJson,
        ListError::NotAList(ListKind::ResourceTemplates),
    ] {
        assert!(error.reason().starts_with("list_"));
        assert!(!error.to_string().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Event streams.

fn sse(requests: ListRequests, granted: &str) -> SseFilter {
    SseFilter::new(requests, policy(granted))
}

/// Feeds `stream` in the given chunks, then finishes.
fn run(filter: &mut SseFilter, chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(filter.push(chunk));
    }
    out.extend(filter.finish());
    out
}

fn run_whole(requests: ListRequests, granted: &str, stream: &[u8]) -> Vec<u8> {
    run(&mut sse(requests, granted), &[stream])
}

const WEATHER_ONLY: &str =
    r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"weather"}],"cacheScope":"private"}}"#;

#[test]
fn a_list_event_is_rewritten_with_its_other_lines_kept() {
    let stream = concat!(
        ": keepalive\r\n\r\n",
        "id: ev-1\r\nretry: 500\r\nevent: message\r\n: note\r\n",
        "data: {\"jsonrpc\":\"2.0\",\r\ndata:\"id\":1,\r\n",
        "data: \"result\":{\"tools\":[{\"name\":\"weather\"},{\"name\":\"calendar_create_event\"}]}}\r\n",
        "x-unknown: kept\r\n\r\n",
        "event: other\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"secret\"}]}}\n\n",
        "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\r",
    );
    let mut filter = sse(list_request(json!(1), ListKind::Tools), "mcp:tools:weather");
    let out = run(&mut filter, &[stream.as_bytes()]);
    let expected = format!(
        concat!(
            ": keepalive\r\n\r\n",
            "id: ev-1\nretry: 500\nevent: message\n: note\ndata: {}\nx-unknown: kept\n\n",
            "event: other\ndata: {{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"tools\":[{{\"name\":\"secret\"}}]}}}}\n\n",
            "data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}}\r\r",
        ),
        WEATHER_ONLY
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
    assert_eq!(filter.removed(), 1);
    assert_eq!(filter.list_events(), 1);
    assert!(filter.is_done());
    assert_eq!(filter.error(), None);
}

#[test]
fn cr_line_ends_and_multi_line_data() {
    let stream = "id:7\rdata:{\"jsonrpc\":\"2.0\",\rdata:\"id\":1,\"result\":{\"tools\":[{\"name\":\"weather\"},{\"name\":\"x\"}]}}\r\r: after\r\r";
    let out = run_whole(
        list_request(json!(1), ListKind::Tools),
        "mcp:tools:weather",
        stream.as_bytes(),
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("id:7\ndata: {WEATHER_ONLY}\n\n: after\r\r")
    );
}

#[test]
fn unrelated_events_pass_byte_for_byte_in_order() {
    let stream = concat!(
        "\u{feff}: hello\n\n",
        "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"secret\"}]}}\n\n",
        "data:{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sampling/createMessage\",\"params\":{}}\r\n\r\n",
        "event: message\ndata:  {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n\n\n",
        "id: prime\ndata:\n\n",
        "id: prime2\ndata: \r\n\r\n",
        "retry: 10\n\n",
        "data\n\n",
        "event: endpoint\ndata: /messages?x=1\n\n",
    );
    let mut filter = sse(list_request(json!(1), ListKind::Tools), "");
    let out = run(&mut filter, &[stream.as_bytes()]);
    assert_eq!(out, stream.as_bytes());
    assert_eq!(filter.list_events(), 0);
    assert!(!filter.is_done());
}

#[test]
fn an_unrelated_event_is_sent_by_the_push_that_completes_it() {
    let mut filter = sse(list_request(json!(1), ListKind::Tools), "mcp:tools:weather");
    assert!(filter
        .push(b"id: 1\ndata: {\"jsonrpc\":\"2.0\",")
        .is_empty());
    assert!(filter.push(b"\"method\":\"notifications/x\"}\n").is_empty());
    assert_eq!(
        filter.push(b"\n: next"),
        b"id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}\n\n"
    );
    // A CR completes an event at once; the LF that may follow is sent with the next chunk.
    assert_eq!(filter.push(b"\r\r"), b": next\r\r");
    assert_eq!(filter.push(b"\n"), b"\n");
    // The list event is rewritten as soon as it is complete.
    let list = br#"data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"weather"}]}}"#;
    assert!(filter.push(list).is_empty());
    assert!(filter.push(b"\r\n").is_empty());
    assert!(!filter.is_done());
    assert_eq!(
        filter.push(b"\r"),
        format!("data: {WEATHER_ONLY}\n\n").as_bytes()
    );
    assert!(filter.is_done());
    // The LF of its CRLF belonged to the rewritten event.
    assert!(filter.push(b"\n").is_empty());
    assert_eq!(filter.push(b": bye\n\n"), b": bye\n\n");
    assert!(filter.finish().is_empty());
}

#[test]
fn every_list_kind_in_a_stream_and_a_batch_in_one_event() {
    let requests = requests(json!([
        {"jsonrpc":"2.0","id":"t","method":"tools/list"},
        {"jsonrpc":"2.0","id":"r","method":"resources/templates/list"}
    ]));
    let data = json!([
        {"jsonrpc":"2.0","id":"r","result":{"resourceTemplates":[
            {"uriTemplate":"customer://{a}"},{"uriTemplate":"file:///{p}"}]}},
        {"jsonrpc":"2.0","id":"t","error":{"code":1,"message":"m"}}
    ]);
    let mut filter = sse(requests, "mcp:resources:read");
    let out = run(&mut filter, &[format!("data: {data}\n\n").as_bytes()]);
    let text = String::from_utf8(out).unwrap();
    let json_text = text
        .strip_prefix("data: ")
        .unwrap()
        .strip_suffix("\n\n")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(json_text).unwrap(),
        json!([
            {"jsonrpc":"2.0","id":"r","result":{"resourceTemplates":[
                {"uriTemplate":"file:///{p}"}],"cacheScope":"private"}},
            {"jsonrpc":"2.0","id":"t","error":{"code":1,"message":"m"}}
        ])
    );
    assert_eq!(filter.removed(), 1);
    // The error answer to "t" passed unchanged and is not counted as handled here.
    assert!(!filter.is_done());
}

fn error_event(id: Value, message: &str) -> String {
    let message = Value::from(message);
    format!(
        "data: {{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":-32603,\"message\":{message}}}}}\n\n"
    )
}

#[test]
fn an_unreadable_list_event_becomes_an_error_event() {
    let not_a_list = "id: 9\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n";
    let mut filter = sse(list_request(json!(1), ListKind::Tools), "mcp:tools:*");
    let out = run(&mut filter, &[not_a_list.as_bytes()]);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "id: 9\n{}",
            error_event(
                json!(1),
                "The server's tools/list result has no \"tools\" array"
            )
        )
    );
    assert_eq!(filter.error(), Some(ListError::NotAList(ListKind::Tools)));
    assert!(filter.is_done());

    // Data that is not JSON is taken as the answer to the waiting list request.
    let stream =
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":\n\ndata: nonsense\n\n";
    let mut filter = sse(list_request(json!("p"), ListKind::Prompts), "");
    let out = run(&mut filter, &[stream.as_bytes()]);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "event: message\n{}data: nonsense\n\n",
            error_event(json!("p"), "The server's list result is not valid JSON")
        )
    );
    assert_eq!(filter.error(), Some(ListError::NotJson));
    assert!(filter.is_done());
}

#[test]
fn an_event_over_the_limit_becomes_an_error_event() {
    let mut filter = sse(list_request(json!(1), ListKind::Tools), "mcp:tools:*");
    let mut out = filter.push(b": c\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[");
    let piece = vec![b' '; 1024 * 1024];
    for _ in 0..8 {
        out.extend(filter.push(&piece));
    }
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        format!(
            ": c\n{}",
            error_event(
                json!(1),
                "The server's list result is too large for the gate to filter"
            )
        )
    );
    assert_eq!(filter.error(), Some(ListError::TooLarge));
    assert!(filter.is_done());
    // The rest of the event is discarded; the next event passes.
    assert!(filter.push(b"]}}\r").is_empty());
    assert!(filter.push(b"\n\r\n").is_empty());
    assert_eq!(filter.push(b": next\n\n"), b": next\n\n");
}

#[test]
fn an_event_over_the_limit_with_no_list_waiting_streams_through() {
    let mut filter = sse(ListRequests::unknown_ids(), "");
    let head = b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[\"";
    let mut out = filter.push(head);
    let piece = vec![b'x'; 1024 * 1024];
    for _ in 0..8 {
        out.extend(filter.push(&piece));
    }
    assert_eq!(out.len(), head.len() + 8 * piece.len());
    assert_eq!(filter.push(b"\"]}}\n"), b"\"]}}\n");
    assert_eq!(filter.push(b"\n: next"), b"\n");
    assert_eq!(filter.finish(), b": next");
}

#[test]
fn a_get_stream_filters_every_list_shaped_answer() {
    let stream = concat!(
        "id: a\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"prompts\":[{\"name\":\"summarize\"},{\"name\":\"translate\"}]}}\n\n",
        "id: b\ndata: {\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n\n",
        "id: c\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"resources\":[{\"uri\":\"customer://x\"},{\"uri\":\"file:///y\"}]}}\n\n",
        "id: d\ndata: not json\n\n",
    );
    let mut filter = sse(
        ListRequests::unknown_ids(),
        "mcp:prompts:translate mcp:resources:read",
    );
    let out = run(&mut filter, &[stream.as_bytes()]);
    let expected = concat!(
        "id: a\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"prompts\":[{\"name\":\"translate\"}],\"cacheScope\":\"private\"}}\n\n",
        "id: b\ndata: {\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n\n",
        "id: c\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"resources\":[{\"uri\":\"file:///y\"}],\"cacheScope\":\"private\"}}\n\n",
        "id: d\ndata: not json\n\n",
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
    assert_eq!(filter.removed(), 2);
    assert_eq!(filter.list_events(), 2);
    assert!(filter.is_done());
}

#[test]
fn nothing_to_filter_passes_every_chunk_at_once() {
    for mut filter in [
        SseFilter::new(ListRequests::none(), policy("")),
        SseFilter::new(
            list_request(json!(1), ListKind::Tools),
            EntryPolicy::keep_all(),
        ),
    ] {
        assert!(filter.is_done());
        let list =
            b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"x\"}]}}";
        assert_eq!(filter.push(list), list);
        assert_eq!(filter.push(b"\n\n"), b"\n\n");
        assert!(filter.finish().is_empty());
    }
}

#[test]
fn a_stream_ending_inside_an_event() {
    // A plain incomplete event is returned as it came.
    let mut filter = sse(list_request(json!(1), ListKind::Tools), "");
    assert!(filter.push(b"\xEF\xBB").is_empty());
    // The BOM is not part of any event: sent as soon as it is whole.
    assert_eq!(filter.push(b"\xBFid: 3\ndata: {\"x\":"), b"\xEF\xBB\xBF");
    assert_eq!(filter.finish(), b"id: 3\ndata: {\"x\":");
    // An incomplete list answer is still filtered (and still not ended).
    let mut filter = sse(list_request(json!(1), ListKind::Tools), "mcp:tools:weather");
    let out = run(
        &mut filter,
        &[br#"data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"weather"},{"name":"x"}]}}"#],
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("data: {WEATHER_ONLY}\n")
    );
    // Two bytes that begin a BOM and nothing else.
    let mut filter = sse(list_request(json!(1), ListKind::Tools), "");
    assert!(filter.push(b"\xEF").is_empty());
    assert_eq!(filter.finish(), b"\xEF");
}

// ---------------------------------------------------------------------------------------------
// Chunk boundaries never change the output.

const LINE_ENDS: [&str; 3] = ["\n", "\r", "\r\n"];

/// The lines of one event, from a choice of shapes.
fn event_lines(shape: u8, id: u8) -> Vec<String> {
    let list = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[{{"name":"weather"}},{{"name":"calendar_get_x"}},{{"name":"nope"}}],"nextCursor":"n"}}}}"#
    );
    match shape % 9 {
        0 => vec![format!("data: {list}")],
        1 => {
            // Cut after a comma, so the LF joining the two data lines is JSON whitespace.
            let (a, b) = list.split_at(list.find(',').unwrap() + 1);
            vec![
                format!("id: e{id}"),
                ": comment".into(),
                format!("data:{a}"),
                "retry: 3000".into(),
                format!("data: {b}"),
            ]
        }
        2 => vec![format!("event: other"), format!("data: {list}")],
        3 => vec![": keepalive".into()],
        4 => vec!["id: prime".into(), "data:".into()],
        5 => {
            vec![r#"data: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#.into()]
        }
        6 => vec![format!(
            r#"data: {{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#
        )],
        7 => vec!["data: not json".into(), "event: message".into()],
        _ => vec![format!(
            r#"data: {{"jsonrpc":"2.0","id":{id},"error":{{"code":1,"message":"m"}}}}"#
        )],
    }
}

prop_compose! {
    /// A stream of events of every shape; `unreadable`: including a `message` event whose data
    /// is not JSON.
    fn stream(unreadable: bool)(
        bom in any::<bool>(),
        events in prop::collection::vec((0u8..9, 0u8..3, 0usize..3, any::<bool>()), 0..8),
        tail in prop::sample::select(vec!["", "data: partial", "\r", "id: x\r\n"]),
    ) -> Vec<u8> {
        let mut stream = Vec::new();
        if bom {
            stream.extend_from_slice(b"\xEF\xBB\xBF");
        }
        for (shape, id, end, mixed) in events {
            let shape = if !unreadable && shape == 7 { 3 } else { shape };
            let mut last = end;
            for (index, line) in event_lines(shape, id).iter().enumerate() {
                stream.extend_from_slice(line.as_bytes());
                last = if mixed { (end + index) % 3 } else { end };
                stream.extend_from_slice(LINE_ENDS[last].as_bytes());
            }
            // The blank line: the same line end again (after a CR, an LF would only complete
            // a CRLF and the event would go on).
            stream.extend_from_slice(LINE_ENDS[last].as_bytes());
        }
        stream.extend_from_slice(tail.as_bytes());
        stream
    }
}

fn chunked(filter: &mut SseFilter, stream: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<usize>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (stream.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut emitted_at = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([stream.len()]) {
        out.extend(filter.push(&stream[from..cut]));
        emitted_at.push(out.len());
        from = cut;
    }
    out.extend(filter.finish());
    (out, emitted_at)
}

/// Every split point of `stream` that is between a CR and an LF.
fn cr_lf_cuts(stream: &[u8]) -> Vec<usize> {
    stream
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| pair == b"\r\n")
        .map(|(at, _)| at + 1)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunk_boundaries_do_not_change_the_output(
        stream in stream(true),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        known in any::<bool>(),
    ) {
        let requests = || if known {
            requests(json!([
                {"jsonrpc":"2.0","id":1,"method":"tools/list"},
                {"jsonrpc":"2.0","id":2,"method":"tools/list"}
            ]))
        } else {
            ListRequests::unknown_ids()
        };
        let whole = run_whole(requests(), "mcp:tools:calendar:read mcp:tools:weather", &stream);
        let mut filter = sse(requests(), "mcp:tools:calendar:read mcp:tools:weather");
        let (split, _) = chunked(&mut filter, &stream, &cuts);
        prop_assert_eq!(&split, &whole);
        // Splitting between every CR and LF, and byte by byte.
        let mut filter = sse(requests(), "mcp:tools:calendar:read mcp:tools:weather");
        let (split, _) = chunked(&mut filter, &stream, &cr_lf_cuts(&stream));
        prop_assert_eq!(&split, &whole);
        let mut filter = sse(requests(), "mcp:tools:calendar:read mcp:tools:weather");
        let every: Vec<usize> = (0..stream.len()).collect();
        let (split, _) = chunked(&mut filter, &stream, &every);
        prop_assert_eq!(&split, &whole);
    }

    #[test]
    fn a_stream_without_list_answers_passes_unchanged_and_promptly(
        stream in stream(false),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        // Nothing in `stream` answers id 100: every byte passes as it came.
        let mut filter = sse(list_request(json!(100), ListKind::Tools), "");
        let (out, emitted_at) = chunked(&mut filter, &stream, &cuts);
        prop_assert_eq!(&out, &stream);
        // After each push, everything up to the end of the last complete event was sent.
        let mut sorted: Vec<usize> = cuts.iter().map(|cut| cut % (stream.len() + 1)).collect();
        sorted.sort_unstable();
        sorted.push(stream.len());
        for (cut, emitted) in sorted.into_iter().zip(emitted_at) {
            prop_assert!(emitted >= complete_events_end(&stream[..cut]), "cut {} emitted {}", cut, emitted);
            prop_assert!(emitted <= cut);
        }
    }
}

/// Where the last blank line (two line ends in a row, or one at the start) of `prefix` ends:
/// every event before it is complete. A CR at the very end counts (a CR ends a line at once).
fn complete_events_end(prefix: &[u8]) -> usize {
    let mut end = 0;
    let mut line_empty = true;
    let mut i = 0;
    let start = if prefix.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    i += start;
    let mut after_cr = false;
    while i < prefix.len() {
        let byte = prefix[i];
        if after_cr && byte == b'\n' {
            after_cr = false;
            i += 1;
            continue;
        }
        after_cr = false;
        if byte == b'\r' || byte == b'\n' {
            if line_empty {
                end = i + 1;
            }
            line_empty = true;
            after_cr = byte == b'\r';
        } else {
            line_empty = false;
        }
        i += 1;
    }
    end
}
