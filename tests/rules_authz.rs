//! Authorization against rules: matching, templating, precedence, defaults, batches, responses,
//! body-less requests, and the scopes a challenge lists.

use mcp_gate::rpc::inspect;
use mcp_gate::rules::{
    AuthzError, BadValueReason, Decision, Grant, RequestFacts, Requirement, RuleSet,
};

const EXAMPLE: &str = include_str!("fixtures/rules.example.json");

fn example() -> RuleSet {
    RuleSet::parse(EXAMPLE).unwrap()
}

fn scopes(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_owned).collect()
}

fn tool_call(name: &str) -> String {
    serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name,"arguments":{}}})
        .to_string()
}

fn message(method: &str, params: serde_json::Value) -> String {
    serde_json::json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}).to_string()
}

fn requirement_for(
    rules: &RuleSet,
    http_method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Requirement, AuthzError> {
    let body = body.map(|b| inspect(b.as_bytes()).unwrap());
    rules.requirement(&RequestFacts {
        http_method,
        path,
        body: body.as_ref(),
    })
}

/// Decides a POST /mcp with `body` for `granted` scopes and `baseline`.
fn decide(rules: &RuleSet, body: &str, granted: &str, baseline: &str) -> Result<Grant, AuthzError> {
    requirement_for(rules, "POST", "/mcp", Some(body))?.check(&scopes(granted), &scopes(baseline))
}

fn allowed_by(rules: &RuleSet, body: &str, granted: &str) -> Vec<String> {
    match decide(rules, body, granted, "") {
        Ok(grant) => grant.rules,
        Err(error) => panic!("{body} with {granted:?}: {error:?}"),
    }
}

fn missing(rules: &RuleSet, body: &str, granted: &str) -> Vec<String> {
    match decide(rules, body, granted, "") {
        Err(AuthzError::InsufficientScope { missing, .. }) => missing,
        other => panic!("{body} with {granted:?}: {other:?}"),
    }
}

#[test]
fn tool_calls_follow_the_example() {
    let rules = example();
    // (tool, granted, Ok(rule) | Err(missing))
    let cases: &[(&str, &str, Result<&str, &str>)] = &[
        (
            "calendar_get_events",
            "mcp:tools:calendar:read",
            Ok("calendar reads"),
        ),
        ("calendar_get_events", "mcp:tools:*", Ok("calendar reads")),
        (
            "calendar_get_events",
            "mcp:tools:calendar:*",
            Ok("calendar reads"),
        ),
        ("calendar_get_events", "mcp:*", Ok("calendar reads")),
        ("calendar_get_events", "", Err("mcp:tools:calendar:read")),
        (
            "calendar_get_events",
            "mcp:tools:calendar_get_events",
            Err("mcp:tools:calendar:read"),
        ),
        (
            "calendar_get_events",
            "mcp:tools:calendar:write",
            Err("mcp:tools:calendar:read"),
        ),
        (
            "calendar_delete",
            "mcp:tools:calendar:read",
            Err("mcp:tools:calendar_delete"),
        ),
        (
            "calendar_delete",
            "mcp:tools:calendar_delete",
            Ok("any tool"),
        ),
        ("calendar_delete", "mcp:tools:*", Ok("any tool")),
        ("weather", "mcp:tools:weather", Ok("any tool")),
        ("weather", "mcp:tools:Weather", Err("mcp:tools:weather")),
        (
            "weather",
            "mcp:toolsmith mcp:tools",
            Err("mcp:tools:weather"),
        ),
        ("weather", "*", Err("mcp:tools:weather")),
        (
            "Calendar_get_events",
            "mcp:tools:calendar:read",
            Err("mcp:tools:Calendar_get_events"),
        ),
    ];
    for (tool, granted, expected) in cases {
        let body = tool_call(tool);
        match expected {
            Ok(rule) => assert_eq!(
                allowed_by(&rules, &body, granted),
                [*rule],
                "{tool} {granted}"
            ),
            Err(scope) => assert_eq!(
                missing(&rules, &body, granted),
                [*scope],
                "{tool} {granted}"
            ),
        }
    }
}

#[test]
fn insufficient_scope_lists_everything_needed() {
    let rules = example();
    let error = decide(
        &rules,
        &tool_call("weather"),
        "mcp:base",
        "mcp:base mcp:other",
    )
    .unwrap_err();
    assert_eq!(
        error,
        AuthzError::InsufficientScope {
            required: scopes("mcp:base mcp:other mcp:tools:weather"),
            missing: scopes("mcp:other mcp:tools:weather"),
            rule: Some("any tool".to_owned()),
            rpc_method: Some("tools/call".to_owned()),
            rpc_name: Some("weather".to_owned()),
        }
    );
    assert_eq!(
        error.description(),
        "tools/call weather needs scope mcp:other mcp:tools:weather"
    );
    // Baseline alone missing: the rule's scopes are covered, the baseline is not.
    let error = decide(
        &rules,
        &tool_call("weather"),
        "mcp:tools:weather",
        "mcp:base",
    )
    .unwrap_err();
    match error {
        AuthzError::InsufficientScope {
            required,
            missing,
            rule,
            ..
        } => {
            assert_eq!(required, scopes("mcp:base mcp:tools:weather"));
            assert_eq!(missing, scopes("mcp:base"));
            assert_eq!(rule.as_deref(), Some("any tool"));
        }
        other => panic!("{other:?}"),
    }
    // Baseline covered by a wildcard, rule scope covered exactly.
    assert!(decide(
        &rules,
        &tool_call("weather"),
        "mcp:tools:weather mcp:*",
        "mcp:base"
    )
    .is_ok());
}

#[test]
fn templating_refuses_values_that_cannot_be_scopes() {
    let rules = example();
    for tool in [
        "a b",
        "a\tb",
        "a\"b",
        "a'b",
        "a*",
        "*",
        "x:y",
        "mcp:tools:*",
        "a\u{1}b",
        "é",
        "a\\b",
        "",
    ] {
        let result = requirement_for(&rules, "POST", "/mcp", Some(&tool_call(tool)));
        match result {
            Err(AuthzError::BadTemplateValue { rule, .. }) => {
                assert_eq!(rule, "any tool", "{tool:?}")
            }
            other => panic!("{tool:?}: {other:?}"),
        }
    }
    let long = "x".repeat(300);
    assert_eq!(
        requirement_for(&rules, "POST", "/mcp", Some(&tool_call(&long))),
        Err(AuthzError::BadTemplateValue {
            rule: "any tool".to_owned(),
            reason: BadValueReason::TooLong
        })
    );
    // A name that only feeds a non-template rule is fine, whatever it holds.
    assert_eq!(
        allowed_by(
            &rules,
            &tool_call("calendar_get_a b:*"),
            "mcp:tools:calendar:read"
        ),
        ["calendar reads"]
    );
    // The description does not echo the value.
    let error =
        requirement_for(&rules, "POST", "/mcp", Some(&tool_call("evil\"value"))).unwrap_err();
    assert!(!error.description().contains("evil"), "{error}");
}

#[test]
fn first_matching_rule_wins() {
    let rules = RuleSet::parse(
        r#"{"version":1,"default":"deny","rules":[
            {"name":"narrow","match":{"method":"tools/call","name":"admin_*"},"require":["mcp:admin"]},
            {"name":"broad","match":{"method":"tools/call"},"require":[]},
            {"name":"never","match":{"method":"tools/call","name":"admin_x"},"require":[]}
        ]}"#,
    )
    .unwrap();
    assert_eq!(missing(&rules, &tool_call("admin_x"), ""), ["mcp:admin"]);
    assert_eq!(
        allowed_by(&rules, &tool_call("admin_x"), "mcp:admin"),
        ["narrow"]
    );
    assert_eq!(allowed_by(&rules, &tool_call("other"), ""), ["broad"]);
    // Reversed order: the broad rule shadows the narrow one.
    let reversed = RuleSet::parse(
        r#"{"version":1,"default":"deny","rules":[
            {"name":"broad","match":{"method":"tools/call"},"require":[]},
            {"name":"narrow","match":{"method":"tools/call","name":"admin_*"},"require":["mcp:admin"]}
        ]}"#,
    )
    .unwrap();
    assert_eq!(allowed_by(&reversed, &tool_call("admin_x"), ""), ["broad"]);
}

#[test]
fn default_deny_refuses_unmatched_messages_without_a_challenge() {
    let rules = example();
    let body = message("sampling/unknownThing", serde_json::json!({}));
    let requirement = requirement_for(&rules, "POST", "/mcp", Some(&body)).unwrap();
    assert!(requirement.is_denied());
    assert_eq!(requirement.messages()[0].decision, Decision::Denied);
    assert_eq!(
        requirement.check(&scopes("* mcp:*"), &[]),
        Err(AuthzError::NoRuleMatched {
            rpc_method: Some("sampling/unknownThing".to_owned()),
            rpc_name: None
        })
    );
    // The 401 challenge of a denied request lists only the baseline.
    assert_eq!(requirement.scopes(&scopes("mcp:base")), scopes("mcp:base"));
}

#[test]
fn default_authenticated_needs_only_the_baseline() {
    let rules = RuleSet::parse(include_str!("fixtures/rules.authenticated.json")).unwrap();
    let body = tool_call("weather");
    assert_eq!(allowed_by(&rules, &body, ""), Vec::<String>::new());
    assert!(decide(&rules, &body, "", "mcp:base").is_err());
    assert!(decide(&rules, &body, "mcp:base", "mcp:base").is_ok());
    assert_eq!(
        requirement_for(&rules, "POST", "/mcp", Some(&body))
            .unwrap()
            .messages()[0]
            .decision,
        Decision::Authenticated
    );
    // A matching rule still applies; this document allows the global wildcard.
    assert_eq!(
        missing(
            &rules,
            &tool_call("admin_reset"),
            "mcp:tools:x mcp:tools:admin:*"
        ),
        ["mcp:tools:admin"]
    );
    assert_eq!(
        allowed_by(&rules, &tool_call("admin_reset"), "*"),
        ["admin tools"]
    );
    // The global wildcard also covers the baseline here.
    assert!(decide(&rules, &tool_call("admin_reset"), "*", "mcp:base").is_ok());
}

#[test]
fn authenticated_mode_needs_only_the_baseline() {
    let rules = RuleSet::parse(r#"{"version":1,"default":"authenticated","rules":[]}"#).unwrap();
    for body in [
        tool_call("anything"),
        message("whatever/else", serde_json::json!({})),
    ] {
        assert!(decide(&rules, &body, "", "").is_ok());
        assert!(decide(&rules, &body, "mcp:base", "mcp:base").is_ok());
        let error = decide(&rules, &body, "mcp:base:x", "mcp:base").unwrap_err();
        assert!(
            matches!(error, AuthzError::InsufficientScope { rule: None, .. }),
            "{error:?}"
        );
    }
    // The lone wildcard never covers the baseline without a document allowing it.
    assert!(decide(&rules, &tool_call("x"), "*", "mcp:base").is_err());
    let requirement = requirement_for(&rules, "GET", "/mcp", None).unwrap();
    assert!(requirement.check(&[], &[]).is_ok());
}

#[test]
fn notifications_are_matched_by_method() {
    let rules = example();
    let body = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(allowed_by(&rules, body, ""), ["notifications"]);
    let body = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#;
    assert_eq!(allowed_by(&rules, body, ""), ["notifications"]);
    // Without a notifications rule, default deny refuses them.
    let strict = RuleSet::parse(
        r#"{"version":1,"default":"deny","rules":[{"name":"init","match":{"method":"initialize"},"require":[]}]}"#,
    )
    .unwrap();
    assert!(matches!(
        decide(&strict, body, "*", ""),
        Err(AuthzError::NoRuleMatched { .. })
    ));
    // A notification-shaped tools/call is still matched like the request.
    let body = r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"weather"}}"#;
    assert_eq!(missing(&rules, body, ""), ["mcp:tools:weather"]);
}

#[test]
fn responses_need_only_the_baseline() {
    let strict = RuleSet::parse(r#"{"version":1,"default":"deny","rules":[]}"#).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":"srv-1","result":{"content":{"type":"text","text":"hi"}}}"#;
    let requirement = requirement_for(&strict, "POST", "/mcp", Some(body)).unwrap();
    assert_eq!(requirement.messages()[0].decision, Decision::Response);
    assert!(requirement.check(&[], &[]).is_ok());
    assert!(requirement.check(&[], &scopes("mcp:base")).is_err());
    assert!(requirement
        .check(&scopes("mcp:base"), &scopes("mcp:base"))
        .is_ok());
    let error_response = r#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"declined"}}"#;
    assert!(decide(&strict, error_response, "", "").is_ok());
}

#[test]
fn a_forbidden_batch_element_blocks_the_whole_batch() {
    let rules = example();
    let batch = format!(
        "[{},{}]",
        tool_call("calendar_get_events"),
        tool_call("weather")
    );
    let error = decide(&rules, &batch, "mcp:tools:calendar:read", "").unwrap_err();
    assert_eq!(
        error,
        AuthzError::InsufficientScope {
            required: scopes("mcp:tools:calendar:read mcp:tools:weather"),
            missing: scopes("mcp:tools:weather"),
            rule: Some("any tool".to_owned()),
            rpc_method: Some("tools/call".to_owned()),
            rpc_name: Some("weather".to_owned()),
        }
    );
    let grant = decide(
        &rules,
        &batch,
        "mcp:tools:calendar:read mcp:tools:weather",
        "",
    )
    .unwrap();
    assert_eq!(grant.rules, ["calendar reads", "any tool"]);
    assert_eq!(
        grant.required,
        scopes("mcp:tools:calendar:read mcp:tools:weather")
    );
    // An unmatched element denies the batch even when the others would pass.
    let batch = format!(
        "[{},{}]",
        tool_call("calendar_get_events"),
        message("unknown/method", serde_json::json!({}))
    );
    assert!(matches!(
        decide(&rules, &batch, "mcp:*", ""),
        Err(AuthzError::NoRuleMatched { .. })
    ));
    // A bad template value in any element refuses the batch (400).
    let batch = format!("[{},{}]", tool_call("weather"), tool_call("bad name"));
    assert!(matches!(
        requirement_for(&rules, "POST", "/mcp", Some(&batch)),
        Err(AuthzError::BadTemplateValue { .. })
    ));
    // Mixed: a response and a notification ride along with an allowed call.
    let batch = format!(
        r#"[{},{{"jsonrpc":"2.0","id":9,"result":{{}}}},{{"jsonrpc":"2.0","method":"notifications/progress"}}]"#,
        tool_call("weather")
    );
    let grant = decide(&rules, &batch, "mcp:tools:weather", "").unwrap();
    assert_eq!(grant.rules, ["any tool", "notifications"]);
    // Duplicate calls list their scope once.
    let batch = format!("[{},{}]", tool_call("weather"), tool_call("weather"));
    match decide(&rules, &batch, "", "") {
        Err(AuthzError::InsufficientScope { required, .. }) => {
            assert_eq!(required, scopes("mcp:tools:weather"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn resources_prompts_and_completions() {
    let rules = example();
    let read = |uri: &str| message("resources/read", serde_json::json!({"uri": uri}));
    assert_eq!(
        allowed_by(
            &rules,
            &read("customer://acme/1"),
            "mcp:resources:customer-data:read"
        ),
        ["customer data"]
    );
    assert_eq!(
        missing(&rules, &read("customer://acme/1"), "mcp:resources:read"),
        ["mcp:resources:customer-data:read"]
    );
    assert_eq!(
        allowed_by(&rules, &read("file:///readme"), "mcp:resources:read"),
        ["other resources"]
    );
    assert_eq!(
        missing(&rules, &read("Customer://acme"), ""),
        ["mcp:resources:read"]
    );
    let subscribe = message(
        "resources/subscribe",
        serde_json::json!({"uri": "customer://acme"}),
    );
    assert_eq!(
        missing(&rules, &subscribe, ""),
        ["mcp:resources:customer-data:read"]
    );
    let prompt = message("prompts/get", serde_json::json!({"name": "summary"}));
    assert_eq!(
        missing(&rules, &prompt, "mcp:tools:*"),
        ["mcp:prompts:summary"]
    );
    let complete_prompt = message(
        "completion/complete",
        serde_json::json!({"ref": {"type": "ref/prompt", "name": "summary"}, "argument": {"name": "a", "value": ""}}),
    );
    assert_eq!(
        allowed_by(&rules, &complete_prompt, "mcp:prompts:*"),
        ["prompt completion"]
    );
    let complete_resource = message(
        "completion/complete",
        serde_json::json!({"ref": {"type": "ref/resource", "uri": "customer://{id}"}, "argument": {"name": "id", "value": ""}}),
    );
    assert_eq!(
        missing(&rules, &complete_resource, "mcp:resources:read"),
        ["mcp:resources:customer-data:read"]
    );
    for method in [
        "initialize",
        "ping",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "prompts/list",
        "logging/setLevel",
    ] {
        let body = message(method, serde_json::json!({}));
        assert_eq!(allowed_by(&rules, &body, "").len(), 1, "{method}");
    }
}

#[test]
fn body_less_requests_match_http_method_and_path() {
    let rules = example();
    let facts = |method: &'static str, path: &'static str| {
        requirement_for(&rules, method, path, None)
            .unwrap()
            .check(&[], &[])
    };
    assert_eq!(facts("GET", "/mcp").unwrap().rules, ["event stream"]);
    assert_eq!(facts("DELETE", "/mcp").unwrap().rules, ["end session"]);
    assert!(matches!(
        facts("GET", "/other"),
        Err(AuthzError::NoRuleMatched {
            rpc_method: None,
            ..
        })
    ));
    assert!(matches!(
        facts("get", "/mcp"),
        Err(AuthzError::NoRuleMatched { .. })
    ));
    assert!(matches!(
        facts("PUT", "/mcp"),
        Err(AuthzError::NoRuleMatched { .. })
    ));
    // Rules keyed on JSON-RPC fields never match a body-less request.
    let rules = RuleSet::parse(
        r#"{"version":1,"default":"deny","rules":[
            {"name":"any method","match":{"method":"*"},"require":[]},
            {"name":"any name","match":{"name":"*"},"require":[]},
            {"name":"streams","match":{"http_method":"GET"},"require":["mcp:stream"]}
        ]}"#,
    )
    .unwrap();
    let requirement = requirement_for(&rules, "GET", "/mcp", None).unwrap();
    assert_eq!(requirement.messages()[0].rule(), Some("streams"));
    assert_eq!(
        requirement.scopes(&scopes("mcp:base")),
        scopes("mcp:base mcp:stream")
    );
}

#[test]
fn http_method_and_path_apply_to_json_rpc_messages_too() {
    let rules = RuleSet::parse(
        r#"{"version":1,"default":"deny","rules":[
            {"name":"admin endpoint","match":{"path":"/admin/*"},"require":["mcp:admin"]},
            {"name":"calls on /mcp","match":{"method":"tools/call","path":"/mcp"},"require":["mcp:tools"]},
            {"name":"posts","match":{"http_method":"POST"},"require":[]}
        ]}"#,
    )
    .unwrap();
    let body = tool_call("x");
    let rule_of = |path| {
        requirement_for(&rules, "POST", path, Some(&body))
            .unwrap()
            .messages()[0]
            .rule()
            .map(str::to_owned)
    };
    assert_eq!(rule_of("/admin/mcp").as_deref(), Some("admin endpoint"));
    assert_eq!(rule_of("/mcp").as_deref(), Some("calls on /mcp"));
    assert_eq!(rule_of("/mcp/").as_deref(), Some("posts"));
}

#[test]
fn requirement_scopes_serve_the_401_challenge() {
    let rules = example();
    let requirement = requirement_for(&rules, "POST", "/mcp", Some(&tool_call("weather"))).unwrap();
    assert_eq!(requirement.scopes(&[]), scopes("mcp:tools:weather"));
    assert_eq!(
        requirement.scopes(&scopes("mcp:base mcp:tools:weather")),
        scopes("mcp:base mcp:tools:weather")
    );
    let requirement = requirement_for(
        &rules,
        "POST",
        "/mcp",
        Some(&message("tools/list", serde_json::json!({}))),
    )
    .unwrap();
    assert!(requirement.scopes(&[]).is_empty());
}

#[test]
fn descriptions_are_header_safe() {
    let rules = example();
    let weird = message("weird\"method", serde_json::json!({}));
    let error = decide(&rules, &weird, "", "").unwrap_err();
    assert_eq!(error.description(), "no rule allows (unprintable)");
    let error = decide(&rules, &tool_call("calendar_get_\"x\""), "", "").unwrap_err();
    assert_eq!(
        error.description(),
        "tools/call (unprintable) needs scope mcp:tools:calendar:read"
    );
}

#[test]
fn helpers_for_responses_and_logs() {
    let rules = example();
    let error = decide(&rules, &tool_call("weather"), "", "mcp:base").unwrap_err();
    assert_eq!(error.reason(), "insufficient_scope");
    assert!(!error.is_bad_request());
    let (required, description) = error.insufficient_scope().unwrap();
    assert_eq!(required, scopes("mcp:base mcp:tools:weather"));
    assert_eq!(
        description,
        "tools/call weather needs scope mcp:base mcp:tools:weather"
    );
    assert_eq!(error.rule_name().as_deref(), Some("any tool"));
    assert_eq!(error.missing_scopes(), scopes("mcp:base mcp:tools:weather"));

    let denied = decide(&rules, &message("x/y", serde_json::json!({})), "", "").unwrap_err();
    assert_eq!(denied.reason(), "no_rule_matched");
    assert!(!denied.is_bad_request());
    assert_eq!(denied.insufficient_scope(), None);
    assert_eq!(denied.rule_name(), None);
    assert!(denied.missing_scopes().is_empty());

    let bad = requirement_for(&rules, "POST", "/mcp", Some(&tool_call("a:b"))).unwrap_err();
    assert_eq!(bad.reason(), "bad_template_value");
    assert!(bad.is_bad_request());
    assert_eq!(bad.insufficient_scope(), None);
    assert_eq!(bad.rule_name().as_deref(), Some("any tool"));

    let batch = format!("[{},{}]", tool_call("calendar_get_x"), tool_call("weather"));
    let grant = decide(&rules, &batch, "mcp:tools:*", "").unwrap();
    assert_eq!(
        grant.rule_names().as_deref(),
        Some("calendar reads,any tool")
    );
    let grant = decide(&rules, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, "", "").unwrap();
    assert_eq!(grant.rule_names(), None);

    let authenticated = Requirement::authenticated();
    assert_eq!(
        authenticated.scopes(&scopes("mcp:base")),
        scopes("mcp:base")
    );
    assert!(authenticated
        .check(&scopes("mcp:base"), &scopes("mcp:base"))
        .is_ok());
    assert!(authenticated
        .check(&scopes("*"), &scopes("mcp:base"))
        .is_err());
}
