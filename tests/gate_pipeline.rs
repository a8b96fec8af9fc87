//! README "Responses" and §6 through the platform-free pipeline: statuses, one-line challenges, CORS on
//! challenges, and the headers the origin would receive. Real tokens, real rules.

mod common;

use std::cell::RefCell;

use common::*;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use mcp_gate::admit::AdmitError;
use mcp_gate::gate::forward;
use mcp_gate::gate::header_edit::HeaderEdit;
use mcp_gate::gate::logline::LogLine;
use mcp_gate::gate::pipeline::{
    self, AdmittedHead, Allowed, ProtectedRequest, Refusal, RequestHead, RulesView,
};
use mcp_gate::gate::GateError;
use mcp_gate::settings::{Settings, SettingsError};
use mcp_gate::token::cache::TokenCache;
use mcp_gate::token::native::NativeVerifier;
use mcp_gate::token::verify::{SignatureCheck, SignatureJob};
use mcp_gate::token::{KeySet, SignatureVerifier, TokenError};
use serde_json::{json, Value};

const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
        .to_string()
}

/// `headers` of a request, with `Content-Type: application/json` added to a `POST` that has
/// none (the media type admission asks for).
fn with_json_type(method: &Method, headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    if *method == Method::POST && !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    headers
}

/// The head of a request to `/mcp`, admitted.
fn admitted(
    method: &Method,
    headers: &HeaderMap,
    settings: &Settings,
) -> Result<AdmittedHead, Box<Refusal>> {
    let head = RequestHead {
        method: Some(method),
        raw_method: method.as_str(),
        path: "/mcp",
        headers,
    };
    pipeline::admit_head(&head, settings)
}

/// A request to `/mcp` whose head was admitted.
fn request<'a>(
    head: &'a AdmittedHead,
    headers: &'a HeaderMap,
    body: &'a str,
) -> ProtectedRequest<'a> {
    ProtectedRequest {
        head,
        path: "/mcp",
        headers,
        body: body.as_bytes(),
    }
}

/// The log line of a refusal.
fn log_of(refusal: Refusal) -> LogLine {
    refusal.into_parts().1
}

fn run(
    method: Method,
    headers: &HeaderMap,
    body: &str,
    settings: &Settings,
    rules: RulesView<'_>,
) -> Result<Allowed, Box<Refusal>> {
    let headers = with_json_type(&method, headers);
    let head = admitted(&method, &headers, settings)?;
    let request = request(&head, &headers, body);
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

fn refused(result: Result<Allowed, Box<Refusal>>) -> (u16, Option<String>, Value, Refusal) {
    let refusal = *result.expect_err("the gate must answer itself");
    let response = refusal.response();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert!(
        body["error"].is_string() && body["error_description"].is_string(),
        "{body}"
    );
    (response.status().as_u16(), challenge, body, refusal)
}

#[test]
fn no_credentials_get_a_plain_challenge_with_the_scopes_the_request_needs() {
    let s = settings(&[]);
    let rules = example_rules();
    let (status, challenge, _, _) = refused(run(
        Method::POST,
        &headers(&[]),
        &call("calendar_get_events"),
        &s,
        RulesView::Document(&rules),
    ));
    assert_eq!(status, 401);
    assert_eq!(
        challenge.unwrap(),
        format!("Bearer resource_metadata=\"{METADATA}\", scope=\"mcp:tools:calendar:read\"")
    );
    // Another scheme counts as no credentials; a GET stream needs no scope here.
    let (status, challenge, _, _) = refused(run(
        Method::GET,
        &headers(&[("authorization", "Basic dTpw")]),
        "",
        &s,
        RulesView::Document(&rules),
    ));
    assert_eq!(status, 401);
    assert_eq!(
        challenge.unwrap(),
        format!("Bearer resource_metadata=\"{METADATA}\"")
    );
}

#[test]
fn two_authorization_headers_are_a_bad_request() {
    let s = settings(&[]);
    let token = bearer("mcp:tools:*");
    let (status, challenge, body, _) = refused(run(
        Method::POST,
        &headers(&[("authorization", &token), ("authorization", &token)]),
        &call("echo"),
        &s,
        RulesView::Authenticated,
    ));
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    let challenge = challenge.unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_request\""),
        "{challenge}"
    );
    assert!(!challenge.contains(token.trim_start_matches("Bearer ")));
}

#[test]
fn credential_refusals_are_logged_with_their_reason() {
    let s = settings(&[]);
    let token = bearer("mcp:tools:*");
    for (pairs, reason) in [
        (vec![], "no_credentials"),
        (
            vec![
                ("authorization", token.as_str()),
                ("authorization", token.as_str()),
            ],
            "multiple_credentials",
        ),
        (vec![("authorization", "Bearer a b")], "malformed_bearer"),
    ] {
        let refusal = *run(
            Method::POST,
            &headers(&pairs),
            &call("echo"),
            &s,
            RulesView::Authenticated,
        )
        .unwrap_err();
        let log = log_of(refusal);
        assert_eq!(log.reason, reason);
        assert_eq!(log.decision, "deny");
    }
}

#[test]
fn invalid_tokens_get_invalid_token_without_echoing_the_token() {
    let s = settings(&[]);
    let mut expired = claims();
    expired["exp"] = json!(NOW - 3600);
    for (bad, description, reason) in [
        (
            "Bearer a.b.c".to_owned(),
            "The access token is invalid",
            "malformed_token",
        ),
        (
            format!("Bearer {}", rs256(expired)),
            "The access token expired",
            "expired",
        ),
    ] {
        let (status, challenge, body, refusal) = refused(run(
            Method::POST,
            &headers(&[("authorization", &bad)]),
            &call("echo"),
            &s,
            RulesView::Authenticated,
        ));
        assert_eq!(status, 401);
        let challenge = challenge.unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{challenge}"
        );
        assert!(challenge.ends_with(&format!("resource_metadata=\"{METADATA}\"")));
        let raw = bad.trim_start_matches("Bearer ");
        assert!(!challenge.contains(raw) && !body.to_string().contains(raw));
        assert_eq!(body["error_description"], description);
        assert!(challenge.contains(&format!("error_description=\"{description}\"")));
        let log = log_of(refusal);
        assert_eq!(log.reason, reason);
        assert!(!log.to_json().contains(raw));
    }
}

#[test]
fn insufficient_scope_names_every_scope_the_request_needs() {
    let s = settings(&[("REQUIRED_SCOPES", "mcp:base")]);
    let rules = example_rules();
    let token = bearer("mcp:base mcp:tools:calendar:read");
    let (status, challenge, body, refusal) = refused(run(
        Method::POST,
        &headers(&[("authorization", &token)]),
        &call("admin_reset"),
        &s,
        RulesView::Document(&rules),
    ));
    assert_eq!(status, 403);
    assert_eq!(body["error"], "insufficient_scope");
    let challenge = challenge.unwrap();
    assert!(
        challenge.starts_with(&format!(
            "Bearer error=\"insufficient_scope\", scope=\"mcp:base mcp:tools:admin_reset\", resource_metadata=\"{METADATA}\", error_description=\""
        )),
        "{challenge}"
    );
    assert!(challenge.contains("admin_reset"));
    let log = log_of(refusal);
    assert_eq!(log.rule.as_deref(), Some("any tool"));
    assert_eq!(log.missing, ["mcp:tools:admin_reset"]);
    // The same token reaches calendar reads.
    run(
        Method::POST,
        &headers(&[("authorization", &token)]),
        &call("calendar_get_events"),
        &s,
        RulesView::Document(&rules),
    )
    .unwrap();
}

#[test]
fn no_matching_rule_under_deny_is_access_denied_without_a_challenge() {
    let s = settings(&[]);
    let rules = example_rules();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage", "params": {}})
        .to_string();
    let (status, challenge, json_body, _) = refused(run(
        Method::POST,
        &headers(&[("authorization", &bearer("mcp:tools:*"))]),
        &body,
        &s,
        RulesView::Document(&rules),
    ));
    assert_eq!(status, 403);
    assert_eq!(json_body["error"], "access_denied");
    assert_eq!(challenge, None);
}

#[test]
fn forbidden_browser_origins_are_refused_before_the_token() {
    let s = settings(&[("ALLOWED_ORIGINS", "http://localhost:6274")]);
    let (status, challenge, _, _) = refused(run(
        Method::POST,
        &headers(&[
            ("origin", "https://evil.example"),
            ("authorization", "Bearer garbage"),
        ]),
        &call("echo"),
        &s,
        RulesView::Authenticated,
    ));
    assert_eq!((status, challenge), (403, None));

    // An allowed origin can read the challenge.
    let refusal = *run(
        Method::POST,
        &headers(&[("origin", "http://localhost:6274")]),
        &call("echo"),
        &s,
        RulesView::Authenticated,
    )
    .unwrap_err();
    let response = refusal.response();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    for name in ["WWW-Authenticate", "Mcp-Session-Id", "MCP-Protocol-Version"] {
        assert!(exposed.contains(name), "{exposed}");
    }
}

#[test]
fn oversized_bodies_broken_bodies_and_missing_rules() {
    let s = settings(&[("MAX_BODY_BYTES", "64")]);
    let token = bearer("mcp:tools:*");
    let big = call(&"x".repeat(100));
    let (status, challenge, _, _) = refused(run(
        Method::POST,
        &headers(&[("authorization", &token)]),
        &big,
        &s,
        RulesView::Authenticated,
    ));
    assert_eq!((status, challenge), (413, None));

    // A body declared too large is refused before it is read.
    let incoming = headers(&[
        ("authorization", &token),
        ("content-type", "application/json"),
        ("content-length", "65"),
    ]);
    let Err(refusal) = admitted(&Method::POST, &incoming, &s) else {
        panic!("a body declared too large must be refused");
    };
    assert_eq!(refusal.error, GateError::Admit(AdmitError::BodyTooLarge));
    assert_eq!(refusal.response().status(), 413);
    let fits = headers(&[
        ("content-type", "application/json"),
        ("content-length", "64"),
    ]);
    admitted(&Method::POST, &fits, &s).unwrap();

    let s = settings(&[]);
    let (status, _, body, _) = refused(run(
        Method::POST,
        &headers(&[("authorization", &token)]),
        "{\"jsonrpc\":\"2.0\",",
        &s,
        RulesView::Authenticated,
    ));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let (status, _, _, _) = refused(run(
        Method::POST,
        &headers(&[("authorization", &token)]),
        &call("echo"),
        &s,
        RulesView::Unavailable,
    ));
    assert_eq!(status, 503);
}

#[test]
fn authenticated_mode_needs_the_baseline_scopes() {
    let s = settings(&[("REQUIRED_SCOPES", "mcp:base")]);
    let (status, challenge, _, _) = refused(run(
        Method::POST,
        &headers(&[("authorization", &bearer("other"))]),
        &call("echo"),
        &s,
        RulesView::Authenticated,
    ));
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("scope=\"mcp:base\""));
    run(
        Method::POST,
        &headers(&[("authorization", &bearer("mcp:base"))]),
        &call("echo"),
        &s,
        RulesView::Authenticated,
    )
    .unwrap();
}

#[test]
fn the_origin_sees_the_identity_and_never_the_token() {
    let token = bearer("mcp:tools:* mcp:read");
    let incoming = headers(&[
        ("authorization", &token),
        ("x-mcp-auth-subject", "admin"),
        ("X-MCP-Auth-Scopes", "everything"),
        ("mcp-session-id", "session-1"),
        ("connection", "keep-alive, x-hop"),
        ("x-hop", "1"),
        ("content-type", "application/json"),
    ]);
    let s = settings(&[("FORWARD_CLAIMS", "jti tenant")]);
    let allowed = run(
        Method::POST,
        &incoming,
        &call("echo"),
        &s,
        RulesView::Authenticated,
    )
    .unwrap();
    let client = forward::ClientFacts {
        connecting_ip: None,
        host: "mcp.example.com",
        proto: "https",
    };
    let out = forward::upstream_headers(&incoming, &allowed.token, &s, &client);
    assert_eq!(out["x-mcp-auth-subject"], "user-1");
    assert_eq!(out["x-mcp-auth-client-id"], "client-1");
    assert_eq!(out["x-mcp-auth-issuer"], ISS);
    assert_eq!(out["x-mcp-auth-scopes"], "mcp:tools:* mcp:read");
    assert_eq!(out["x-mcp-auth-claim-jti"], "j-1");
    assert!(out.get("x-mcp-auth-claim-tenant").is_none());
    assert_eq!(out.get_all("x-mcp-auth-subject").iter().count(), 1);
    assert_eq!(out["mcp-session-id"], "session-1");
    assert!(out.get("authorization").is_none());
    assert!(out.get("x-hop").is_none() && out.get("connection").is_none());

    let passthrough = settings(&[("FORWARD_TOKEN", "true")]);
    let out = forward::upstream_headers(&incoming, &allowed.token, &passthrough, &client);
    assert_eq!(out["authorization"], token.as_str());

    let gate_only = settings(&[("ORIGIN_AUTHORIZATION", "Bearer origin-secret")]);
    let out = forward::upstream_headers(&incoming, &allowed.token, &gate_only, &client);
    assert_eq!(out["authorization"], "Bearer origin-secret");
    assert_eq!(out.get_all("authorization").iter().count(), 1);

    assert_eq!(
        forward::upstream_url(&s, "/mcp", Some("a=1")),
        "https://origin.internal/mcp?a=1"
    );
    let log = allowed.log.to_json();
    assert!(!log.contains(token.trim_start_matches("Bearer ")));
    assert!(log.contains("\"decision\":\"allow\""));
}

#[test]
fn header_edits_from_names_as_the_runtime_lists_them() {
    // The adapter passes lowercase names (as the runtime's `Headers.keys()` lists them) and
    // the `Connection` value; the edits must equal what `upstream_headers` does to a map.
    let token = bearer("mcp:read");
    let allowed = run(
        Method::POST,
        &headers(&[("authorization", &token)]),
        &call("echo"),
        &settings(&[]),
        RulesView::Authenticated,
    )
    .unwrap();
    let s = settings(&[("ORIGIN_AUTHORIZATION", "Bearer origin-secret")]);
    let names = [
        "authorization",
        "connection",
        "content-type",
        "host",
        "mcp-session-id",
        "x-hop",
        "x-mcp-auth-issuer",
        "x-mcp-auth-subject",
    ];
    let client = forward::ClientFacts {
        connecting_ip: Some("203.0.113.7"),
        host: "mcp.example.com",
        proto: "https",
    };
    let edits = forward::header_edits(
        names,
        Some("keep-alive, X-Hop"),
        &allowed.token,
        &s,
        &client,
    );
    // Every removal comes before every set, so a set header is never removed again.
    let first_set = edits
        .iter()
        .position(|e| matches!(e, HeaderEdit::Set(..)))
        .unwrap();
    assert!(edits[first_set..]
        .iter()
        .all(|e| matches!(e, HeaderEdit::Set(..))));
    let mut removed = removed_names(&edits);
    removed.sort();
    assert_eq!(
        removed,
        [
            "authorization",
            "connection",
            "host",
            "x-hop",
            "x-mcp-auth-issuer",
            "x-mcp-auth-subject"
        ]
    );
    let set = set_headers(&edits);
    assert!(set.contains(&("x-mcp-auth-subject", "user-1")));
    assert!(set.contains(&("x-mcp-auth-issuer", ISS)));
    assert!(set.contains(&("authorization", "Bearer origin-secret")));
    // Each name is set once, so applying the edits in order is unambiguous.
    let mut set_names: Vec<&str> = set.iter().map(|(n, _)| *n).collect();
    set_names.sort();
    set_names.dedup();
    assert_eq!(set_names.len(), set.len());

    // Without ORIGIN_AUTHORIZATION, FORWARD_TOKEN keeps the client's Authorization.
    let passthrough = settings(&[("FORWARD_TOKEN", "true")]);
    let edits = forward::header_edits(names, None, &allowed.token, &passthrough, &client);
    assert!(!removed_names(&edits).contains(&"authorization"));
    assert!(set_headers(&edits)
        .iter()
        .all(|(n, _)| *n != "authorization"));
}

fn removed_names(edits: &[HeaderEdit]) -> Vec<&str> {
    edits
        .iter()
        .filter_map(|e| match e {
            HeaderEdit::Remove(name) => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

fn set_headers(edits: &[HeaderEdit]) -> Vec<(&str, &str)> {
    edits
        .iter()
        .filter_map(|e| match e {
            HeaderEdit::Set(name, value) => Some((name.as_str(), value.to_str().unwrap())),
            _ => None,
        })
        .collect()
}

#[test]
fn cors_edits_on_relayed_responses() {
    use mcp_gate::gate::cors::{self, BrowserOrigin};
    let origin = BrowserOrigin::Allowed(HeaderValue::from_static("https://app.example.com"));
    let edits = cors::response_edits(&origin);
    assert!(edits.contains(&HeaderEdit::Set(
        HeaderName::from_static("access-control-allow-origin"),
        HeaderValue::from_static("https://app.example.com")
    )));
    assert!(edits.contains(&HeaderEdit::Append(
        http::header::VARY,
        HeaderValue::from_static("Origin")
    )));
    let mut relayed = headers(&[("vary", "Accept"), ("mcp-session-id", "s-1")]);
    cors::decorate(&mut relayed, &origin);
    assert_eq!(
        relayed.get_all("vary").iter().count(),
        2,
        "Vary is appended"
    );
    assert_eq!(
        relayed["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(cors::response_edits(&BrowserOrigin::Absent).is_empty());
    assert!(cors::response_edits(&BrowserOrigin::Forbidden).is_empty());
}

#[test]
fn a_recalled_token_is_not_parsed_or_verified_again() {
    // Recall is keyed by a hash of the exact token, so a hit is a token verified before;
    // here a recall that answers for anything shows that nothing of the token is re-read.
    let s = settings(&[]);
    let verified = run(
        Method::POST,
        &headers(&[("authorization", &bearer("mcp:read"))]),
        &call("echo"),
        &s,
        RulesView::Authenticated,
    )
    .unwrap()
    .token;
    let incoming = headers(&[
        ("authorization", "Bearer not-a-jwt"),
        ("content-type", "application/json"),
    ]);
    let body = call("echo");
    let head = admitted(&Method::POST, &incoming, &s).unwrap();
    let request = request(&head, &incoming, &body);
    let Err(refusal) = pipeline::precheck(&request, &s, RulesView::Authenticated, |_| None) else {
        panic!("a malformed token is refused when not recalled");
    };
    assert!(matches!(refusal.error, GateError::Token(_)));
    let Ok(pre) = pipeline::precheck(&request, &s, RulesView::Authenticated, |_| {
        Some(std::sync::Arc::clone(&verified))
    }) else {
        panic!("a recalled token passes the precheck");
    };
    assert!(pre.kid().is_none() && !pre.key_missing_from(&KeySet::default()));
    let verifier = CountingVerifier(std::cell::Cell::new(0));
    let allowed = pollster::block_on(pipeline::authorize(
        pre,
        &s,
        &KeySet::default(),
        &verifier,
        &RefCell::new(TokenCache::new()),
        NOW as u64 * 1000,
    ))
    .unwrap_or_else(|_| panic!("a recalled token is allowed"));
    assert_eq!(verifier.0.get(), 0);
    assert_eq!(allowed.token.subject(), Some("user-1"));
}

#[test]
fn invalid_settings_fail_closed_naming_the_setting() {
    let error = GateError::Settings(SettingsError::Missing("ORIGIN"));
    let response = error.respond(&Default::default());
    assert_eq!(response.status(), 500);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("ORIGIN"));
}

/// Counts signature checks, to see which requests the verified-token cache served.
struct CountingVerifier(std::cell::Cell<u32>);

impl mcp_gate::token::SignatureVerifier for CountingVerifier {
    async fn verify(
        &self,
        key: &mcp_gate::token::KeyEntry,
        alg: mcp_gate::token::Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> bool {
        self.0.set(self.0.get() + 1);
        NativeVerifier
            .verify(key, alg, signing_input, signature)
            .await
    }
}

#[test]
fn repeated_tokens_are_served_from_the_cache_and_scopes_are_still_checked() {
    let s = settings(&[]);
    let rules = example_rules();
    let keys = key_set();
    let cache = RefCell::new(TokenCache::new());
    let verifier = CountingVerifier(std::cell::Cell::new(0));
    let token = bearer("mcp:tools:calendar:read");
    let attempt = |tool: &str, keys: &KeySet, now_ms: u64| {
        let incoming = headers(&[
            ("authorization", &token),
            ("content-type", "application/json"),
        ]);
        let body = call(tool);
        let head = admitted(&Method::POST, &incoming, &s).map_err(|r| r.error)?;
        let request = request(&head, &incoming, &body);
        let recall = pipeline::recall_from(&cache, Some(keys), now_ms);
        let pre = pipeline::precheck(&request, &s, RulesView::Document(&rules), recall)
            .map_err(|r| r.error)?;
        pollster::block_on(pipeline::authorize(
            pre, &s, keys, &verifier, &cache, now_ms,
        ))
        .map(|_| ())
        .map_err(|r| r.error)
    };
    let now = NOW as u64 * 1000;
    attempt("calendar_get_events", &keys, now).unwrap();
    attempt("calendar_get_events", &keys, now + 1000).unwrap();
    assert_eq!(verifier.0.get(), 1, "the second request is a cache hit");
    assert_eq!(cache.borrow().stats().hits, 1);
    // A hit still goes through the rules.
    assert!(matches!(
        attempt("admin_reset", &keys, now + 2000),
        Err(GateError::Authz(_))
    ));
    assert_eq!(verifier.0.get(), 1);
    // Past `exp` (no leeway on a hit) the token is verified again and refused.
    let exp_ms = (NOW as u64 + 300) * 1000;
    assert!(matches!(
        attempt("calendar_get_events", &keys, exp_ms + 61_000),
        Err(GateError::Token(_))
    ));
    // A new key set (another generation) never serves entries of the old one.
    let reloaded = key_set();
    assert_ne!(reloaded.generation(), keys.generation());
    let before = verifier.0.get();
    attempt("calendar_get_events", &reloaded, now + 3000).unwrap();
    assert_eq!(verifier.0.get(), before + 1);
}

/// The settled path (the Worker's entry module checks the signature itself, then hands the
/// outcome back): one request through `precheck` → `into_owned` → `signature_job` → a check
/// made with `check` → `authorize_settled`.
fn run_settled(
    authorization: &str,
    check: impl FnOnce(&pipeline::Prechecked<'static>, &KeySet) -> Option<SignatureCheck>,
    cache: &RefCell<TokenCache>,
) -> Result<Allowed, GateError> {
    let s = settings(&[]);
    let keys = key_set();
    let pre = {
        // The request's own buffers are gone before the signature is checked.
        let incoming = headers(&[
            ("authorization", authorization),
            ("content-type", "application/json"),
        ]);
        let body = call("echo");
        let head = admitted(&Method::POST, &incoming, &s).map_err(|r| r.error)?;
        let request = request(&head, &incoming, &body);
        pipeline::precheck(&request, &s, RulesView::Authenticated, |_| None)
            .map_err(|r| r.error)?
            .into_owned()
    };
    let check = check(&pre, &keys);
    pipeline::authorize_settled(pre, &s, &keys, check.as_ref(), cache, NOW as u64 * 1000)
        .map_err(|r| r.error)
}

/// What the native verifier says about a job.
fn native_check(job: &SignatureJob<'_>) -> SignatureCheck {
    let ok = pollster::block_on(NativeVerifier.verify(
        job.key,
        job.alg,
        job.signing_input,
        job.signature,
    ));
    SignatureCheck::of(job, ok)
}

#[test]
fn a_settled_signature_check_allows_exactly_what_authorize_allows() {
    let cache = RefCell::new(TokenCache::new());
    let allowed = run_settled(
        &bearer("mcp:read"),
        |pre, keys| Some(native_check(&pre.signature_job(keys).unwrap())),
        &cache,
    )
    .unwrap_or_else(|e| panic!("a good token is allowed: {e:?}"));
    assert_eq!(allowed.token.subject(), Some("user-1"));
    assert_eq!(allowed.log.decision, "allow");
    assert_eq!(
        cache.borrow().stats().entries,
        1,
        "a settled token is cached too"
    );

    // A signature that does not verify, and a token signed by a key the server does not hold.
    let failed = run_settled(
        &bearer("mcp:read"),
        |pre, keys| Some(SignatureCheck::of(&pre.signature_job(keys).unwrap(), false)),
        &cache,
    );
    assert!(matches!(
        failed,
        Err(GateError::Token(TokenError::BadSignature))
    ));
    let forged = format!(
        "Bearer {}",
        token(
            json!({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}),
            claims(),
            "rsa-other"
        )
    );
    let forged = run_settled(
        &forged,
        |pre, keys| Some(native_check(&pre.signature_job(keys).unwrap())),
        &cache,
    );
    assert!(matches!(
        forged,
        Err(GateError::Token(TokenError::BadSignature))
    ));
}

#[test]
fn a_settled_check_counts_only_for_the_job_it_was_made_for() {
    let cache = RefCell::new(TokenCache::new());
    let keys = key_set();
    // A genuine "verified" for another token's signature is worth nothing for this one.
    let other = {
        let s = settings(&[]);
        let incoming = headers(&[
            ("authorization", &bearer("mcp:write")),
            ("content-type", "application/json"),
        ]);
        let body = call("echo");
        let head = admitted(&Method::POST, &incoming, &s).unwrap();
        let request = request(&head, &incoming, &body);
        let pre = pipeline::precheck(&request, &s, RulesView::Authenticated, |_| None)
            .unwrap_or_else(|_| panic!("precheck"));
        native_check(&pre.signature_job(&keys).unwrap())
    };
    let forged_claims = {
        let mut c = claims();
        c["scope"] = json!("mcp:admin");
        token(
            json!({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}),
            c,
            "rsa-other",
        )
    };
    let result = run_settled(
        &format!("Bearer {forged_claims}"),
        |_, _| Some(other),
        &cache,
    );
    assert!(matches!(
        result,
        Err(GateError::Token(TokenError::BadSignature))
    ));

    // No check at all: a bad signature when a key fits; the key error when none does.
    let result = run_settled(&bearer("mcp:read"), |_, _| None, &cache);
    assert!(matches!(
        result,
        Err(GateError::Token(TokenError::BadSignature))
    ));
    let unknown_kid = token(
        json!({"alg": "RS256", "kid": "nope", "typ": "at+jwt"}),
        claims(),
        "rsa",
    );
    let result = run_settled(
        &format!("Bearer {unknown_kid}"),
        |pre, keys| {
            assert!(pre.signature_job(keys).is_none() && pre.key_missing_from(keys));
            None
        },
        &cache,
    );
    assert!(matches!(result, Err(GateError::Token(TokenError::Key(_)))));
    assert_eq!(cache.borrow().stats().entries, 0);
}
