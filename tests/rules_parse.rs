//! Reading rules documents: what is accepted, and an error for every kind of bad document.

use mcp_gate::rules::{DefaultDecision, RuleProblem, RuleSet, RulesError, ScopeProblem};

const EXAMPLE: &str = include_str!("fixtures/rules.example.json");

/// A document with `rules` set to `rules_json`.
fn doc(rules_json: &str) -> String {
    format!(r#"{{"version": 1, "default": "deny", "rules": [{rules_json}]}}"#)
}

/// Expects a `RulesError::Rule` at `index`, `field`, with `problem`.
fn expect_rule_error(document: &str, index: usize, field: &str, problem: RuleProblem) {
    match RuleSet::parse(document) {
        Err(RulesError::Rule {
            index: i,
            field: f,
            problem: p,
            ..
        }) => {
            assert_eq!((i, f.as_str(), p), (index, field, problem), "{document}");
        }
        other => panic!("{document}: {other:?}"),
    }
}

/// Expects a syntax/shape error whose message contains `needle`, at `line`.
fn expect_syntax_error(document: &str, needle: &str, line: usize) {
    match RuleSet::parse(document) {
        Err(error @ RulesError::Syntax { .. }) => {
            let RulesError::Syntax {
                message, line: l, ..
            } = &error
            else {
                unreachable!()
            };
            assert!(message.contains(needle), "{message} lacks {needle}");
            assert_eq!(*l, line, "{error}");
            assert!(
                error.to_string().contains(&format!("line {line}")),
                "{error}"
            );
        }
        other => panic!("{document}: {other:?}"),
    }
}

#[test]
fn accepts_the_example() {
    let rules = RuleSet::parse(EXAMPLE).unwrap();
    assert_eq!(rules.default_decision(), DefaultDecision::Deny);
    assert!(!rules.allow_global_wildcard());
    assert_eq!(rules.version(), 1);
    let names: Vec<&str> = rules.rules().iter().map(|r| r.name()).collect();
    assert!(names.contains(&"any tool"));
    let any_tool = rules
        .rules()
        .iter()
        .find(|r| r.name() == "any tool")
        .unwrap();
    assert_eq!(any_tool.require().collect::<Vec<_>>(), ["mcp:tools:{name}"]);
}

#[test]
fn accepts_the_spec_example_verbatim() {
    let spec = r#"{
      "version": 1,
      "default": "deny",
      "rules": [
        { "name": "public listing", "match": { "method": "tools/list" }, "require": [] },
        { "name": "calendar reads", "match": { "method": "tools/call", "name": "calendar_get_*" },
          "require": ["mcp:tools:calendar:read"] },
        { "name": "any tool", "match": { "method": "tools/call", "name": "*" },
          "require": ["mcp:tools:{name}"] },
        { "name": "customer data", "match": { "method": "resources/read", "uri": "customer://*" },
          "require": ["mcp:resources:customer-data:read"] },
        { "name": "session", "match": { "method": "initialize" }, "require": [] }
      ]
    }"#;
    assert_eq!(RuleSet::parse(spec).unwrap().rules().len(), 5);
}

#[test]
fn accepts_minimal_and_optional_forms() {
    let rules = RuleSet::parse(r#"{"version":1,"default":"authenticated","rules":[]}"#).unwrap();
    assert_eq!(rules.default_decision(), DefaultDecision::Authenticated);
    let rules = RuleSet::parse(
        r#"{"version":1,"default":"deny","allow_global_wildcard":true,"rules":[
            {"name":"everything","match":{},"require":["mcp:all"]},
            {"name":"stream","match":{"http_method":"GET","path":"/mcp*"},"require":[]},
            {"name":"any method","match":{"http_method":"*"},"require":[]}
        ]}"#,
    )
    .unwrap();
    assert!(rules.allow_global_wildcard());
    assert_eq!(rules.rules().len(), 3);
}

#[test]
fn refuses_bad_json_with_line_and_column() {
    expect_syntax_error(
        "{\n\"version\": 1,\n\"default\": \"deny\",\n\"rules\": [,]}",
        "expected value",
        4,
    );
    expect_syntax_error("", "EOF", 1);
    expect_syntax_error("[]", "expected a JSON object", 1);
    expect_syntax_error(r#"[1, "deny", []]"#, "expected a JSON object", 1);
    expect_syntax_error(&doc(r#"["r", {}, []]"#), "expected a JSON object", 1);
    expect_syntax_error(
        &doc(r#"{"name":"r","match":["tools/call"],"require":[]}"#),
        "expected a JSON object",
        1,
    );
    expect_syntax_error(
        "{\"version\":1,\"default\":\"deny\",\"rules\":[]} {}",
        "trailing",
        1,
    );
}

#[test]
fn refuses_unknown_fields_at_every_level() {
    expect_syntax_error(
        "{\"version\":1,\"default\":\"deny\",\"rules\":[],\n\"allow_global_wildcards\":true}",
        "unknown field `allow_global_wildcards`",
        2,
    );
    expect_syntax_error(
        &doc("\n{\"name\":\"a\",\"match\":{},\"require\":[],\"requires\":[\"x\"]}"),
        "unknown field `requires`",
        2,
    );
    expect_syntax_error(
        &doc("{\"name\":\"a\",\n\"match\":{\"method\":\"tools/call\",\"tool\":\"x\"},\"require\":[]}"),
        "unknown field `tool`",
        2,
    );
    expect_syntax_error(
        &doc("{\"name\":\"a\",\"match\":{\"Method\":\"tools/call\"},\"require\":[]}"),
        "unknown field `Method`",
        1,
    );
}

#[test]
fn refuses_missing_and_mistyped_fields() {
    expect_syntax_error(
        r#"{"default":"deny","rules":[]}"#,
        "missing field `version`",
        1,
    );
    expect_syntax_error(r#"{"version":1,"rules":[]}"#, "missing field `default`", 1);
    expect_syntax_error(
        r#"{"version":1,"default":"deny"}"#,
        "missing field `rules`",
        1,
    );
    expect_syntax_error(
        &doc(r#"{"match":{},"require":[]}"#),
        "missing field `name`",
        1,
    );
    expect_syntax_error(
        &doc(r#"{"name":"a","require":[]}"#),
        "missing field `match`",
        1,
    );
    expect_syntax_error(
        &doc(r#"{"name":"a","match":{}}"#),
        "missing field `require`",
        1,
    );
    expect_syntax_error(
        r#"{"version":"1","default":"deny","rules":[]}"#,
        "invalid type",
        1,
    );
    expect_syntax_error(
        r#"{"version":1.0,"default":"deny","rules":[]}"#,
        "invalid type",
        1,
    );
    expect_syntax_error(
        r#"{"version":-1,"default":"deny","rules":[]}"#,
        "invalid value",
        1,
    );
    expect_syntax_error(
        r#"{"version":1,"default":"deny","rules":{}}"#,
        "invalid type",
        1,
    );
    expect_syntax_error(
        r#"{"version":1,"default":"deny","rules":[],"allow_global_wildcard":"yes"}"#,
        "invalid type",
        1,
    );
    expect_syntax_error(
        &doc(r#"{"name":"a","match":{},"require":"x"}"#),
        "invalid type",
        1,
    );
    expect_syntax_error(
        &doc(r#"{"name":"a","match":{"method":1},"require":[]}"#),
        "invalid type",
        1,
    );
    expect_syntax_error(
        &doc(r#"{"name":"a","match":{"method":null},"require":[]}"#),
        "invalid type",
        1,
    );
    expect_syntax_error(
        &doc(r#"{"name":"a","match":[],"require":[]}"#),
        "invalid type",
        1,
    );
    expect_syntax_error(&doc(r#""a""#), "invalid type", 1);
}

#[test]
fn refuses_duplicate_fields() {
    expect_syntax_error(
        r#"{"version":1,"default":"authenticated","default":"deny","rules":[]}"#,
        "duplicate field `default`",
        1,
    );
    expect_syntax_error(
        &doc(r#"{"name":"a","match":{"method":"x","method":"y"},"require":[]}"#),
        "duplicate field `method`",
        1,
    );
}

#[test]
fn refuses_bad_version_and_default() {
    for version in ["0", "2", "100"] {
        let document = format!(r#"{{"version":{version},"default":"deny","rules":[]}}"#);
        assert!(
            matches!(
                RuleSet::parse(&document),
                Err(RulesError::UnsupportedVersion { .. })
            ),
            "{document}"
        );
    }
    let error = RuleSet::parse(r#"{"version":2,"default":"deny","rules":[]}"#).unwrap_err();
    assert!(error.to_string().starts_with("version:"), "{error}");
    for default in ["allow", "Deny", "", "authenticated "] {
        let document = format!(r#"{{"version":1,"default":"{default}","rules":[]}}"#);
        expect_syntax_error(&document, "unknown variant", 1);
    }
    expect_syntax_error(r#"{"version":1,"default":null,"rules":[]}"#, "", 1);
}

#[test]
fn refuses_bad_and_duplicate_rule_names() {
    expect_rule_error(
        &doc(r#"{"name":"","match":{},"require":[]}"#),
        0,
        "name",
        RuleProblem::BadName,
    );
    expect_rule_error(
        &doc(r#"{"name":"a\nb","match":{},"require":[]}"#),
        0,
        "name",
        RuleProblem::BadName,
    );
    expect_rule_error(
        &doc(r#"{"name":"x","match":{"method":"a"},"require":[]},
               {"name":"y","match":{"method":"b"},"require":[]},
               {"name":"x","match":{"method":"c"},"require":[]}"#),
        2,
        "name",
        RuleProblem::DuplicateName { first_index: 0 },
    );
    let error = RuleSet::parse(&doc(
        r#"{"name":"tools","match":{},"require":[]},{"name":"tools","match":{},"require":[]}"#,
    ))
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "rules[1] (\"tools\"): name: duplicate rule name (first used by rules[0])"
    );
}

#[test]
fn refuses_bad_patterns() {
    for field in ["method", "name", "uri", "http_method", "path"] {
        expect_rule_error(
            &doc(&format!(
                r#"{{"name":"r","match":{{"{field}":""}},"require":[]}}"#
            )),
            0,
            &format!("match.{field}"),
            RuleProblem::EmptyPattern,
        );
    }
    expect_rule_error(
        &doc(r#"{"name":"r","match":{"method":"tools/\u0000call"},"require":[]}"#),
        0,
        "match.method",
        RuleProblem::ControlCharacterInPattern,
    );
    for method in ["get", "Get", "GET ", "G-T", "P0ST"] {
        expect_rule_error(
            &doc(&format!(
                r#"{{"name":"r","match":{{"http_method":"{method}"}},"require":[]}}"#
            )),
            0,
            "match.http_method",
            RuleProblem::BadHttpMethodPattern,
        );
    }
    for path in ["mcp", "/mcp?x=1", "/mcp#a", "/m cp", " /mcp"] {
        expect_rule_error(
            &doc(&format!(
                r#"{{"name":"r","match":{{"path":"{path}"}},"require":[]}}"#
            )),
            0,
            "match.path",
            RuleProblem::BadPathPattern,
        );
    }
}

#[test]
fn refuses_bad_scopes_and_templates() {
    let cases: &[(&str, ScopeProblem)] = &[
        ("", ScopeProblem::Empty),
        ("mcp:tools read", ScopeProblem::ForbiddenCharacter),
        ("mcp:tools\\\\read", ScopeProblem::Quote),
        ("mcp:tools\\u0009read", ScopeProblem::ForbiddenCharacter),
        ("mcp:caf\\u00e9", ScopeProblem::ForbiddenCharacter),
        ("mcp:\\\"x", ScopeProblem::Quote),
        ("mcp:'x'", ScopeProblem::Quote),
        ("mcp:tools:*", ScopeProblem::Wildcard),
        ("*", ScopeProblem::Wildcard),
        ("mcp:resources:{uri}", ScopeProblem::UnknownPlaceholder),
        ("mcp:tools:{NAME}", ScopeProblem::UnknownPlaceholder),
        ("mcp:tools:{name", ScopeProblem::StrayBrace),
        ("mcp:tools:name}", ScopeProblem::StrayBrace),
    ];
    for (scope, problem) in cases {
        expect_rule_error(
            &doc(&format!(
                r#"{{"name":"r","match":{{"method":"tools/call","name":"*"}},"require":["ok:scope","{scope}"]}}"#
            )),
            0,
            "require[1]",
            RuleProblem::BadScope(*problem),
        );
    }
    expect_rule_error(
        &doc(r#"{"name":"r","match":{"method":"tools/call"},"require":["mcp:tools:{name}"]}"#),
        0,
        "require[0]",
        RuleProblem::NameTemplateWithoutNamePattern,
    );
    expect_rule_error(
        &doc(r#"{"name":"r","match":{"uri":"*"},"require":["a","mcp:{name}"]}"#),
        0,
        "require[1]",
        RuleProblem::NameTemplateWithoutNamePattern,
    );
    expect_rule_error(
        &doc(r#"{"name":"r","match":{},"require":["a:b","a:b"]}"#),
        0,
        "require[1]",
        RuleProblem::DuplicateScope,
    );
}

#[test]
fn errors_name_the_rule_and_field() {
    let error = RuleSet::parse(&doc(
        r#"{"name":"ok","match":{},"require":[]},
           {"name":"resources","match":{"method":"resources/read","uri":"*"},"require":["mcp:resources:{uri}"]}"#,
    ))
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("rules[1] (\"resources\"): require[0]: unknown placeholder"),
        "{text}"
    );
}

#[test]
fn every_invalid_fixture_is_refused() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if !file.starts_with("rules.") || !file.ends_with(".json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let result = RuleSet::parse(&text);
        if file.starts_with("rules.invalid-") {
            seen += 1;
            assert!(result.is_err(), "{file} accepted");
        } else {
            assert!(result.is_ok(), "{file}: {result:?}");
        }
    }
    assert!(seen >= 10, "only {seen} invalid fixtures");
}
