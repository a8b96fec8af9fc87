//! Request hygiene (README "Request hygiene"): every rule that keeps the gate and the upstream
//! reading the same request, through the platform-free route and pipeline, with real tokens.
//! Each test names the reading it protects against.

mod common;

use std::cell::RefCell;

use common::*;
use http::Method;
use mcp_gate::admit::{AdmitError, McpHeader};
use mcp_gate::gate::forward::{self, ClientFacts};
use mcp_gate::gate::pipeline::{self, Allowed, ProtectedRequest, Refusal, RequestHead, RulesView};
use mcp_gate::gate::request_line;
use mcp_gate::gate::{route, GateError, Route};
use mcp_gate::rules::RuleSet;
use mcp_gate::settings::Settings;
use mcp_gate::token::cache::TokenCache;
use mcp_gate::token::native::NativeVerifier;
use serde_json::Value;

/// The whole protected pipeline for a request to `path` with the raw `method`: route, admit
/// the head, admit the body, verify, authorize.
fn through(
    raw_method: &str,
    path: &str,
    pairs: &[(&str, &str)],
    body: &[u8],
    settings: &Settings,
    rules: RulesView<'_>,
) -> Result<Allowed, Box<Refusal>> {
    let headers = headers(pairs);
    let method = request_line::method(raw_method);
    let head = RequestHead {
        method: method.as_ref(),
        raw_method,
        path,
        headers: &headers,
    };
    match route(method.as_ref(), path, Some(settings), None) {
        Route::Protected => {}
        Route::NotServed => return Err(pipeline::not_served(&head, settings)),
        other => panic!("{raw_method} {path} is not a protected request: {other:?}"),
    }
    let admitted = pipeline::admit_head(&head, settings)?;
    let request = ProtectedRequest {
        head: &admitted,
        path,
        headers: &headers,
        body,
    };
    let pre = pipeline::precheck(&request, settings, rules, |_| None)?;
    pollster::block_on(pipeline::authorize(
        pre,
        settings,
        &key_set(),
        &NativeVerifier,
        &RefCell::new(TokenCache::new()),
        NOW as u64 * 1000,
    ))
}

fn post(pairs: &[(&str, &str)], body: &[u8], settings: &Settings) -> Result<Allowed, Box<Refusal>> {
    through(
        "POST",
        "/mcp",
        pairs,
        body,
        settings,
        RulesView::Authenticated,
    )
}

/// The status and JSON body of a refusal.
fn answer(result: Result<Allowed, Box<Refusal>>) -> (u16, Value, Refusal) {
    let refusal = *result.expect_err("the gate must answer itself");
    let response = refusal.response();
    let body = serde_json::from_slice(response.body()).unwrap();
    (response.status().as_u16(), body, refusal)
}

const PING: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn paths_other_than_the_served_ones_are_404_with_or_without_a_token() {
    let s = settings(&[("FORWARD_PATHS", "/messages")]);
    let token = bearer("mcp:tools:*");
    for path in [
        "/",
        "/__echo",
        "/admin",
        "/mcp/",
        "/mcp/extra",
        "/MCP",
        "/%6dcp",
        "/messages/",
    ] {
        for auth in [None, Some(token.as_str())] {
            let mut pairs = vec![JSON];
            if let Some(auth) = auth {
                pairs.push(("authorization", auth));
            }
            let (status, body, refusal) = answer(through(
                "POST",
                path,
                &pairs,
                PING,
                &s,
                RulesView::Authenticated,
            ));
            assert_eq!(status, 404, "{path}");
            assert_eq!(body["error"], "not_found");
            assert_eq!(refusal.error, GateError::Admit(AdmitError::NotServed));
            // Never a challenge: the path does not exist whatever the token.
            assert!(refusal
                .response()
                .headers()
                .get("www-authenticate")
                .is_none());
        }
    }
    // FORWARD_PATHS are served like the MCP endpoint, under the same token and rules.
    post_to("/messages", &s).unwrap();
    // Unknown path-inserted metadata documents are not forwarded either.
    assert_eq!(
        route(
            Some(&Method::GET),
            "/.well-known/oauth-protected-resource/other",
            Some(&s),
            None
        ),
        Route::NotServed
    );
    assert_eq!(
        route(Some(&Method::OPTIONS), "/admin", Some(&s), None),
        Route::NotServed
    );
    assert_eq!(
        route(Some(&Method::OPTIONS), "/mcp", Some(&s), None),
        Route::Preflight
    );
    // With the login bridge on, its path is the bridge's for every method; off, it is 404.
    for method in [Method::GET, Method::POST, Method::OPTIONS, Method::PUT] {
        assert_eq!(
            route(Some(&method), "/login", Some(&s), Some("/login")),
            Route::Login
        );
        assert_eq!(
            route(Some(&method), "/login", None, Some("/login")),
            Route::Login
        );
    }
    assert_eq!(
        route(Some(&Method::GET), "/login", Some(&s), None),
        Route::NotServed
    );
    assert_eq!(
        route(Some(&Method::GET), "/login/", Some(&s), Some("/login")),
        Route::NotServed
    );
}

fn post_to(path: &str, s: &Settings) -> Result<Allowed, Box<Refusal>> {
    let token = bearer("mcp:tools:*");
    through(
        "POST",
        path,
        &[JSON, ("authorization", &token)],
        PING,
        s,
        RulesView::Authenticated,
    )
}

#[test]
fn a_forbidden_origin_is_refused_before_the_path_and_the_method() {
    let s = settings(&[]);
    for (method, path) in [("POST", "/admin"), ("PROPFIND", "/mcp")] {
        let (status, _, refusal) = answer(through(
            method,
            path,
            &[("origin", "https://evil.example")],
            b"",
            &s,
            RulesView::Authenticated,
        ));
        assert_eq!(status, 403, "{method} {path}");
        assert_eq!(refusal.error, GateError::OriginForbidden);
    }
}

#[test]
fn other_methods_are_405_with_allow_and_never_taken_for_get() {
    let s = settings(&[]);
    let token = bearer("mcp:tools:*");
    for method in [
        "PROPFIND", "PUT", "PATCH", "HEAD", "TRACE", "CONNECT", "get_", "BREW",
    ] {
        let (status, body, refusal) = answer(through(
            method,
            "/mcp",
            &[("authorization", &token)],
            b"",
            &s,
            RulesView::Authenticated,
        ));
        assert_eq!(status, 405, "{method}");
        assert_eq!(body["error"], "method_not_allowed");
        assert_eq!(
            refusal.response().headers()["allow"],
            "GET, POST, DELETE, OPTIONS"
        );
    }
    // Lower-case names of the methods the Fetch standard normalizes are those methods.
    let (status, ..) = answer(through(
        "get",
        "/mcp",
        &[],
        b"",
        &s,
        RulesView::Authenticated,
    ));
    assert_eq!(status, 401);
}

#[test]
fn get_and_delete_must_not_carry_a_body() {
    let s = settings(&[]);
    let token = bearer("mcp:tools:*");
    for method in ["GET", "DELETE"] {
        // Announced by the headers: refused before anything is read.
        for framing in [("content-length", "5"), ("transfer-encoding", "chunked")] {
            let (status, body, _) = answer(through(
                method,
                "/mcp",
                &[("authorization", &token), framing],
                b"",
                &s,
                RulesView::Authenticated,
            ));
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_request"))
            );
        }
        // Found while reading, without framing headers.
        let (status, _, refusal) = answer(through(
            method,
            "/mcp",
            &[("authorization", &token)],
            PING,
            &s,
            RulesView::Authenticated,
        ));
        assert_eq!(status, 400);
        assert_eq!(refusal.error, GateError::Admit(AdmitError::BodyNotAllowed));
        // Without a body they pass.
        through(
            method,
            "/mcp",
            &[("authorization", &token), ("content-length", "0")],
            b"",
            &s,
            RulesView::Authenticated,
        )
        .unwrap();
    }
}

#[test]
fn only_json_in_utf8_without_content_coding_is_admitted() {
    let s = settings(&[]);
    let token = bearer("mcp:tools:*");
    // The charset-smuggling body: UTF-8 reads a ping, UTF-7 reads a tools/call.
    let smuggled =
        br#"{"jsonrpc":"2.0","id":1,"method":"ping","x":"+ACI-,+ACI-method+ACI-:+ACI-tools/call"}"#;
    for content_type in [
        "application/json; charset=utf-7",
        "application/json; charset=utf-16",
        "application/json; charset=iso-8859-1",
        "text/plain",
        "application/x-www-form-urlencoded",
    ] {
        let (status, body, _) = answer(post(
            &[("authorization", &token), ("content-type", content_type)],
            smuggled,
            &s,
        ));
        assert_eq!(status, 415, "{content_type}");
        assert_eq!(body["error"], "unsupported_media_type");
    }
    let (status, ..) = answer(post(&[("authorization", &token)], PING, &s));
    assert_eq!(status, 415, "a POST without Content-Type");
    let (status, body, refusal) = answer(post(
        &[
            ("authorization", &token),
            JSON,
            ("content-encoding", "gzip"),
        ],
        PING,
        &s,
    ));
    assert_eq!(status, 415);
    assert_eq!(body["error"], "unsupported_media_type");
    assert_eq!(
        refusal.error,
        GateError::Admit(AdmitError::UnsupportedEncoding)
    );
    for content_type in ["application/json", "application/json; charset=UTF-8"] {
        post(
            &[("authorization", &token), ("content-type", content_type)],
            PING,
            &s,
        )
        .unwrap();
    }
    // Refused before the token: an anonymous client learns the media type, nothing more.
    let (status, ..) = answer(post(&[("content-type", "text/plain")], PING, &s));
    assert_eq!(status, 415);
}

#[test]
fn bodies_are_limited_with_or_without_content_length() {
    let s = settings(&[("MAX_BODY_BYTES", "64")]);
    let token = bearer("mcp:tools:*");
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(64)
    );
    // Declared: refused unread.
    let (status, ..) = answer(post(
        &[("authorization", &token), JSON, ("content-length", "65")],
        b"",
        &s,
    ));
    assert_eq!(status, 413);
    // Not declared (chunked): the adapter stops reading at the limit; the core refuses a
    // body past it too.
    let (status, body, _) = answer(post(&[("authorization", &token), JSON], big.as_bytes(), &s));
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("request_too_large"))
    );
    for bad in ["-1", "+5", "1e3", "12, 12", "", " 5"] {
        let (status, ..) = answer(post(
            &[("authorization", &token), JSON, ("content-length", bad)],
            PING,
            &s,
        ));
        assert_eq!(status, 400, "Content-Length {bad:?}");
    }
}

#[test]
fn member_names_equal_under_case_folding_are_refused_before_any_rule() {
    let s = settings(&[]);
    let rules = example_rules();
    // Allowed by the rules for this token if read case-sensitively, a call of another tool if
    // read case-insensitively (Go's encoding/json).
    let token = bearer("mcp:tools:calendar:read");
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calendar_get_events","Name":"admin_reset"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calendar_get_events","NAME":"admin_reset"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calendar_get_events"},"paramſ":{"name":"admin_reset"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","Method":"ping","params":{"name":"calendar_get_events"}}"#,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"calendar_get_events\",\"\\u212Aind\":1,\"kind\":2}}",
    ] {
        let (status, json, refusal) = answer(through(
            "POST",
            "/mcp",
            &[JSON, ("authorization", &token)],
            body.as_bytes(),
            &s,
            RulesView::Document(&rules),
        ));
        assert_eq!(status, 400, "{body}");
        assert_eq!(json["error"], "invalid_request");
        assert!(matches!(refusal.error, GateError::Body(_)), "{body}");
        let description = json["error_description"].as_str().unwrap();
        assert!(description.contains("member name"), "{description}");
    }
    // One member in another case is what a case-insensitive reader takes for the member
    // while the gate reads past it: a response (baseline only) to the gate, a call upstream.
    let disguised = r#"{"jsonrpc":"2.0","id":1,"result":{},"METHOD":"tools/call","params":{"name":"admin_reset"}}"#;
    let (status, ..) = answer(through(
        "POST",
        "/mcp",
        &[JSON, ("authorization", &token)],
        disguised.as_bytes(),
        &s,
        RulesView::Document(&rules),
    ));
    assert_eq!(status, 400);
    for body in [
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"a\\u0000\":1}".as_bytes(),
        br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\ud800"}}"#,
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":\"\xc0\xaf\"}}",
    ] {
        let (status, ..) = answer(through(
            "POST",
            "/mcp",
            &[JSON, ("authorization", &token)],
            body,
            &s,
            RulesView::Document(&rules),
        ));
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn mcp_method_and_name_must_agree_with_the_body() {
    let s = settings(&[]);
    let token = bearer("mcp:tools:*");
    let call = br#"{"jsonrpc":"2.0","id":"c-9","method":"tools/call","params":{"name":"calendar_get_events"}}"#;
    let agree = [
        JSON,
        ("authorization", token.as_str()),
        ("mcp-method", "tools/call"),
        ("mcp-name", "calendar_get_events"),
        ("mcp-param-region", "eu"),
    ];
    post(&agree, call, &s).unwrap();
    post(
        &[
            JSON,
            ("authorization", &token),
            ("mcp-name", "=?base64?Y2FsZW5kYXJfZ2V0X2V2ZW50cw==?="),
        ],
        call,
        &s,
    )
    .unwrap();
    for (header, value) in [
        ("mcp-method", "ping"),
        ("mcp-name", "admin_reset"),
        ("mcp-name", "=?base64?YWRtaW5fcmVzZXQ=?="),
    ] {
        let refusal = *post(
            &[JSON, ("authorization", &token), (header, value)],
            call,
            &s,
        )
        .expect_err("a disagreeing header is refused");
        let response = refusal.response();
        assert_eq!(response.status(), 400);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["id"], "c-9");
        assert_eq!(body["error"]["code"], -32020);
        assert!(body["error"]["message"].is_string());
    }
    // A batch carrying either header is a mismatch, answered with a null id.
    let batch = format!("[{}]", std::str::from_utf8(call).unwrap());
    let refusal = *post(
        &[
            JSON,
            ("authorization", &token),
            ("mcp-method", "tools/call"),
        ],
        batch.as_bytes(),
        &s,
    )
    .unwrap_err();
    assert_eq!(
        refusal.error,
        GateError::Admit(AdmitError::McpHeaderMismatch {
            header: McpHeader::Method,
            id: None
        })
    );
    let body: Value = serde_json::from_slice(refusal.response().body()).unwrap();
    assert_eq!(body["id"], Value::Null);
}

#[test]
fn identity_and_forwarding_headers_come_from_the_gate_only() {
    let s = settings(&[]);
    let token = bearer("mcp:tools:*");
    let allowed = post(&[JSON, ("authorization", &token)], PING, &s).unwrap();
    let incoming = headers(&[
        ("x_mcp_auth_client_id", "evil"),
        ("X_MCP_AUTH_SUBJECT", "admin"),
        ("x-mcp-auth_scopes", "*"),
        ("X-Mcp-Auth-Issuer", "https://evil.example"),
        ("forwarded", "for=1.2.3.4;host=evil.example"),
        ("x-forwarded-for", "1.2.3.4"),
        ("x_forwarded_for", "1.2.3.4"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "http"),
        ("x-real-ip", "1.2.3.4"),
        ("mcp-session-id", "s-1"),
        ("mcp-protocol-version", "2026-07-28"),
    ]);
    let client = ClientFacts {
        connecting_ip: Some("203.0.113.9"),
        host: "mcp.example.com",
        proto: "https",
    };
    let out = forward::upstream_headers(&incoming, &allowed.token, &s, &client);
    for gone in [
        "x_mcp_auth_client_id",
        "x_mcp_auth_subject",
        "x-mcp-auth_scopes",
        "forwarded",
        "x_forwarded_for",
        "x-real-ip",
    ] {
        assert!(out.get(gone).is_none(), "{gone} reached the upstream");
    }
    assert_eq!(out["x-mcp-auth-subject"], "user-1");
    assert_eq!(out["x-mcp-auth-issuer"], ISS);
    assert_eq!(
        out.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
        ["203.0.113.9"]
    );
    assert_eq!(out["x-forwarded-host"], "mcp.example.com");
    assert_eq!(out["x-forwarded-proto"], "https");
    assert_eq!(out["mcp-session-id"], "s-1");
    assert_eq!(out["mcp-protocol-version"], "2026-07-28");
    // The edits themselves, from names as written (a runtime may list them in any case).
    let names = [
        "X-MCP-AUTH-SUBJECT",
        "X_Mcp_Auth_Claim_Role",
        "X-Forwarded-Proto",
        "X_REAL_IP",
        "Mcp-Session-Id",
    ];
    let edits = forward::header_edits(names, None, &allowed.token, &s, &client);
    let removed: Vec<&str> = edits
        .iter()
        .filter_map(|edit| match edit {
            mcp_gate::gate::header_edit::HeaderEdit::Remove(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        [
            "x-mcp-auth-subject",
            "x_mcp_auth_claim_role",
            "x-forwarded-proto",
            "x_real_ip"
        ]
    );
    // Without CF-Connecting-IP (local development) no X-Forwarded-For at all.
    let local = ClientFacts {
        connecting_ip: None,
        ..client
    };
    let out = forward::upstream_headers(&incoming, &allowed.token, &s, &local);
    assert!(out.get("x-forwarded-for").is_none());
}

#[test]
fn the_own_origin_is_resources_never_the_hosts() {
    let s = settings(&[]);
    // DNS rebinding: the page's origin and the Host header agree, RESOURCE does not.
    let (status, _, refusal) = answer(post(
        &[
            JSON,
            ("host", "evil.example"),
            ("origin", "http://evil.example"),
        ],
        PING,
        &s,
    ));
    assert_eq!(status, 403);
    assert_eq!(refusal.error, GateError::OriginForbidden);
    // Behind a proxy that rewrites Host, the RESOURCE origin is still the gate's own.
    let (status, ..) = answer(post(
        &[
            JSON,
            ("host", "internal:8787"),
            ("origin", "https://mcp.example.com"),
        ],
        PING,
        &s,
    ));
    assert_eq!(status, 401);
}

#[test]
fn a_missing_rules_document_fails_closed_saying_how_to_write_one() {
    let s = settings(&[]);
    let token = bearer("mcp:tools:*");
    let (status, body, refusal) = answer(through(
        "POST",
        "/mcp",
        &[JSON, ("authorization", &token)],
        PING,
        &s,
        RulesView::Missing,
    ));
    assert_eq!(status, 503);
    assert_eq!(refusal.error, GateError::RulesMissing);
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("rules") && description.contains("REQUIRE_RULES"));
}

#[test]
fn responses_are_matched_by_path_rules() {
    let s = settings(&[("FORWARD_PATHS", "/internal")]);
    let rules = RuleSet::parse(
        r#"{"version":1,"default":"deny","rules":[
            {"name":"ping","match":{"method":"ping"},"require":[]},
            {"name":"internal","match":{"path":"/internal"},"require":["mcp:internal"]}
        ]}"#,
    )
    .unwrap();
    let token = bearer("mcp:tools:*");
    let response = br#"{"jsonrpc":"2.0","id":5,"result":{}}"#;
    let (status, ..) = answer(through(
        "POST",
        "/internal",
        &[JSON, ("authorization", &token)],
        response,
        &s,
        RulesView::Document(&rules),
    ));
    assert_eq!(status, 403, "a response needs the path rule's scopes");
    through(
        "POST",
        "/internal",
        &[JSON, ("authorization", &bearer("mcp:internal"))],
        response,
        &s,
        RulesView::Document(&rules),
    )
    .unwrap();
    // Elsewhere a response needs only the baseline, even under default deny.
    through(
        "POST",
        "/mcp",
        &[JSON, ("authorization", &token)],
        response,
        &s,
        RulesView::Document(&rules),
    )
    .unwrap();
}
