//! The login bridge's flow (README "Login bridge"), natively: every step and failure with the
//! I/O injected (a recording fake for userinfo, Scalekit and the Access key set), real signed
//! Access JWTs and an injected clock.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use common::{headers, keys, rsa_jwk, token};
use http::{HeaderMap, Method};
use mcp_gate::bridge::{
    self, form_token, Answer, BridgeIo, BridgeRequest, CallFailure, ClientTokenCache, FormBody,
    Handled, Reply, Step,
};
use mcp_gate::settings::bridge::{AccessSettings, Bridge, BridgeSettings};
use mcp_gate::settings::Secret;
use mcp_gate::token::native::NativeVerifier;
use mcp_gate::token::KeySet;
use serde_json::{json, Value};
use url::Url;

const NOW_MS: u64 = 1_800_000_000_000;
const OWN: &str = "https://mcp.example.com";
const ENV: &str = "https://acme.scalekit.test";
const SECRET: &str = "a-login-secret-of-at-least-32-bytes!";
const TEAM: &str = "https://acme.cloudflareaccess.com";
const AUD_TAG: &str = "aud-tag-123";
const STATE: &str = "st_9f8e7d.6c~5b-4a";

fn bridge_settings(extra: &[(&str, &str)]) -> Bridge {
    let mut vars: HashMap<String, String> = [
        ("RESOURCE", "https://mcp.example.com/mcp"),
        ("RESOURCE_NAME", "Acme <Tools>"),
        ("SCALEKIT_ENVIRONMENT_URL", ENV),
        ("SCALEKIT_CONNECTION_ID", "conn_1"),
        ("SCALEKIT_CLIENT_ID", "skc_id"),
        ("SCALEKIT_CLIENT_SECRET", "skc-secret"),
        ("LOGIN_IDENTITY", "userinfo"),
        ("LOGIN_USERINFO_URL", "https://app.example.com/api/me"),
        ("LOGIN_SECRET", SECRET),
        ("LOGIN_CLAIMS", "department"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    vars.retain(|_, v| !v.is_empty());
    Bridge::from_lookup(|name| vars.get(name).cloned())
}

fn on(extra: &[(&str, &str)]) -> BridgeSettings {
    match bridge_settings(extra) {
        Bridge::On(s) => *s,
        other => panic!("bridge not on: {other:?}"),
    }
}

fn access_on() -> BridgeSettings {
    on(&[
        ("LOGIN_IDENTITY", "access"),
        ("ACCESS_TEAM_DOMAIN", TEAM),
        ("ACCESS_AUD", AUD_TAG),
    ])
}

fn reply(status: u16, body: Value) -> Result<Reply, CallFailure> {
    Ok(Reply {
        status,
        body: body.to_string().into_bytes(),
    })
}

/// One POST the bridge made: (url, content type, bearer, body).
type Post = (String, String, Option<String>, String);

/// Records every call; answers from queues (defaults: a user, a token, a 200 submission).
struct FakeIo {
    userinfo: RefCell<VecDeque<Result<Reply, CallFailure>>>,
    cookies_seen: RefCell<Vec<String>>,
    token_replies: RefCell<VecDeque<Result<Reply, CallFailure>>>,
    submit_replies: RefCell<VecDeque<Result<Reply, CallFailure>>>,
    posts: RefCell<Vec<Post>>,
    tokens_issued: Cell<u32>,
    access_keys: RefCell<Arc<KeySet>>,
    /// What a refresh on an unknown `kid` installs.
    access_keys_next: RefCell<Option<Arc<KeySet>>>,
    access_refreshes: Cell<u32>,
}

fn user_json() -> Value {
    json!({"sub": "user-1", "email": "ann@example.com", "name": "Ann", "email_verified": true,
           "department": "R&D", "internal_flag": "x"})
}

fn access_key_set(kid: &str) -> Arc<KeySet> {
    let doc = json!({"keys": [rsa_jwk(&keys().rsa, kid)]});
    Arc::new(KeySet::parse(doc.to_string().as_bytes()).unwrap().set)
}

impl FakeIo {
    fn new() -> Self {
        Self {
            userinfo: RefCell::new(VecDeque::new()),
            cookies_seen: RefCell::new(Vec::new()),
            token_replies: RefCell::new(VecDeque::new()),
            submit_replies: RefCell::new(VecDeque::new()),
            posts: RefCell::new(Vec::new()),
            tokens_issued: Cell::new(0),
            access_keys: RefCell::new(access_key_set("access-1")),
            access_keys_next: RefCell::new(None),
            access_refreshes: Cell::new(0),
        }
    }

    fn token_posts(&self) -> usize {
        self.posts
            .borrow()
            .iter()
            .filter(|p| p.0.ends_with("/oauth/token"))
            .count()
    }

    fn submissions(&self) -> Vec<(Option<String>, Value)> {
        self.posts
            .borrow()
            .iter()
            .filter(|p| p.0.ends_with("/user"))
            .map(|p| (p.2.clone(), serde_json::from_str(&p.3).unwrap()))
            .collect()
    }
}

impl BridgeIo for FakeIo {
    type Verifier = NativeVerifier;

    fn verifier(&self) -> &NativeVerifier {
        &NativeVerifier
    }

    async fn userinfo(&self, url: &Url, cookie: &str) -> Result<Reply, CallFailure> {
        assert_eq!(url.as_str(), "https://app.example.com/api/me");
        self.cookies_seen.borrow_mut().push(cookie.to_owned());
        self.userinfo
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| reply(200, user_json()))
    }

    async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        bearer: Option<&Secret>,
        body: Vec<u8>,
    ) -> Result<Reply, CallFailure> {
        self.posts.borrow_mut().push((
            url.to_owned(),
            content_type.to_owned(),
            bearer.map(|b| b.expose().to_owned()),
            String::from_utf8(body).unwrap(),
        ));
        if url.ends_with("/oauth/token") {
            if let Some(queued) = self.token_replies.borrow_mut().pop_front() {
                return queued;
            }
            self.tokens_issued.set(self.tokens_issued.get() + 1);
            return reply(
                200,
                json!({"access_token": format!("client-token-{}", self.tokens_issued.get()),
                       "token_type": "Bearer", "expires_in": 3600}),
            );
        }
        self.submit_replies
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| reply(200, json!({})))
    }

    async fn access_keys(&self, _access: &AccessSettings) -> Arc<KeySet> {
        self.access_keys.borrow().clone()
    }

    async fn access_keys_after_unknown_kid(
        &self,
        _access: &AccessSettings,
        _kid: Option<&str>,
    ) -> Arc<KeySet> {
        self.access_refreshes.set(self.access_refreshes.get() + 1);
        if let Some(next) = self.access_keys_next.borrow_mut().take() {
            *self.access_keys.borrow_mut() = next;
        }
        self.access_keys.borrow().clone()
    }
}

struct Call<'a> {
    method: Method,
    query: Option<&'a str>,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

fn get<'a>(query: &'a str, pairs: &[(&str, &str)]) -> Call<'a> {
    Call {
        method: Method::GET,
        query: Some(query),
        headers: headers(pairs),
        body: None,
    }
}

fn page_query() -> String {
    format!("login_request_id=lri_1&state={STATE}")
}

/// One bridge under test: its settings, the recording fake and the isolate's token cache.
struct Flow {
    s: BridgeSettings,
    io: FakeIo,
    tokens: RefCell<ClientTokenCache>,
}

impl Flow {
    fn new(s: &BridgeSettings) -> Self {
        Self {
            s: s.clone(),
            io: FakeIo::new(),
            tokens: RefCell::new(ClientTokenCache::default()),
        }
    }

    fn run(&self, call: &Call<'_>, now_ms: u64) -> Handled {
        run(&self.s, &self.io, &self.tokens, call, now_ms)
    }

    /// `GET` of the standard sign-in link with these request headers.
    fn page(&self, pairs: &[(&str, &str)]) -> Handled {
        let q = page_query();
        self.run(&get(&q, pairs), NOW_MS)
    }
}

fn run(
    settings: &BridgeSettings,
    io: &FakeIo,
    tokens: &RefCell<ClientTokenCache>,
    call: &Call<'_>,
    now_ms: u64,
) -> Handled {
    let request = BridgeRequest {
        method: Some(&call.method),
        query: call.query,
        headers: &call.headers,
        body: match &call.body {
            Some(bytes) => FormBody::Bytes(bytes),
            None => FormBody::NotRead,
        },
    };
    pollster::block_on(bridge::handle(&request, settings, io, tokens, now_ms))
}

/// The confirmation page's hidden fields.
fn form_fields(handled: &Handled) -> Vec<(String, String)> {
    let html = String::from_utf8(handled.response().into_body()).unwrap();
    let mut fields = Vec::new();
    for name in ["login_request_id", "state", "token"] {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).expect(name) + marker.len();
        let end = start + html[start..].find('"').unwrap();
        fields.push((name.to_owned(), html[start..end].to_owned()));
    }
    fields
}

fn post_form(fields: &[(String, String)], pairs: &[(&str, &str)]) -> Call<'static> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut all = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", OWN),
        ("sec-fetch-site", "same-origin"),
    ];
    all.extend_from_slice(pairs);
    Call {
        method: Method::POST,
        query: None,
        headers: headers(&all),
        body: Some(body.into_bytes()),
    }
}

fn refused(handled: &Handled) -> (u16, &'static str) {
    match &handled.answer {
        Answer::Refused(error) => (error.status(), handled.log.outcome),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const COOKIE: (&str, &str) = ("cookie", "app_session=abc123");

#[test]
fn userinfo_happy_path_from_link_to_partner_callback() {
    let s = on(&[]);
    let f = Flow::new(&s);

    let page = f.page(&[COOKIE]);
    assert!(matches!(page.answer, Answer::Confirm { .. }));
    assert_eq!((page.log.step, page.log.outcome), (Step::Page, "confirm"));
    assert_eq!(page.log.sub.as_deref(), Some("user-1"));
    assert_eq!(
        *f.io.cookies_seen.borrow(),
        vec!["app_session=abc123".to_owned()]
    );
    let response = page.response();
    assert_eq!(response.status(), 200);
    let html = String::from_utf8(response.body().clone()).unwrap();
    assert!(
        html.contains("Continue to Acme &lt;Tools&gt; as ann@example.com"),
        "{html}"
    );
    assert!(!html.contains("<script") && !html.contains("<Tools>"));
    // The state only as the hidden field's value, never in the visible text.
    assert_eq!(html.matches(STATE).count(), 1);

    let fields = form_fields(&page);
    let done = run(
        &s,
        &f.io,
        &f.tokens,
        &post_form(&fields, &[COOKIE]),
        NOW_MS + 5_000,
    );
    let Answer::Callback(location) = &done.answer else {
        panic!("expected the callback, got {:?}", done.answer)
    };
    assert_eq!(
        location,
        &format!("{ENV}/sso/v1/connections/conn_1/partner:callback?state={STATE}")
    );
    assert_eq!(
        (done.log.step, done.log.outcome),
        (Step::Submit, "submitted")
    );
    let response = done.response();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], location.as_str());

    let posts = f.io.posts.borrow();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].0, format!("{ENV}/oauth/token"));
    assert_eq!(posts[0].1, "application/x-www-form-urlencoded");
    assert_eq!(posts[0].2, None);
    assert_eq!(
        posts[0].3,
        "grant_type=client_credentials&client_id=skc_id&client_secret=skc-secret"
    );
    assert_eq!(
        posts[1].0,
        format!("{ENV}/api/v1/connections/conn_1/auth-requests/lri_1/user")
    );
    assert_eq!(posts[1].1, "application/json");
    assert_eq!(posts[1].2.as_deref(), Some("client-token-1"));
    assert_eq!(
        serde_json::from_str::<Value>(&posts[1].3).unwrap(),
        json!({"sub": "user-1", "email": "ann@example.com", "name": "Ann",
               "email_verified": true, "department": "R&D"})
    );
}

/// One GET and its POST; the result of the POST.
impl Flow {
    /// The page, then its form posted, both at `now_ms` with the session cookie.
    fn login(&self, now_ms: u64) -> Handled {
        let q = page_query();
        let page = self.run(&get(&q, &[COOKIE]), now_ms);
        self.run(&post_form(&form_fields(&page), &[COOKIE]), now_ms)
    }
}

#[test]
fn the_client_token_is_fetched_once_for_many_logins_until_it_nears_expiry() {
    let s = on(&[]);
    let f = Flow::new(&s);
    for i in 0..3 {
        let done = f.login(NOW_MS + i * 60_000);
        assert_eq!(done.log.outcome, "submitted");
    }
    assert_eq!(f.io.token_posts(), 1);
    assert_eq!(f.io.submissions().len(), 3);
    // 3600 s minus the minute of margin later, a new one is fetched.
    let done = f.login(NOW_MS + 3_540_000);
    assert_eq!(done.log.outcome, "submitted");
    assert_eq!(f.io.token_posts(), 2);
    assert_eq!(f.io.submissions()[3].0.as_deref(), Some("client-token-2"));
}

#[test]
fn a_401_at_submission_gets_one_new_token_and_one_retry() {
    let s = on(&[]);
    let f = Flow::new(&s);
    f.io.submit_replies
        .borrow_mut()
        .push_back(reply(401, json!({})));
    let done = f.login(NOW_MS);
    assert_eq!(done.log.outcome, "submitted");
    let bearers: Vec<_> =
        f.io.submissions()
            .into_iter()
            .map(|s| s.0.unwrap())
            .collect();
    assert_eq!(bearers, vec!["client-token-1", "client-token-2"]);

    // Twice 401: the second is an answer, not retried again.
    let f = Flow::new(&s);
    for _ in 0..2 {
        f.io.submit_replies
            .borrow_mut()
            .push_back(reply(401, json!({})));
    }
    let done = f.login(NOW_MS);
    assert_eq!(refused(&done), (502, "scalekit_refused"));
    assert_eq!((f.io.token_posts(), f.io.submissions().len()), (2, 2));
}

#[test]
fn scalekit_failures_are_502_pages_and_never_retried() {
    let s = on(&[]);
    for (token_reply, submit_reply, outcome) in [
        (Some(reply(500, json!({}))), None, "scalekit_refused"),
        (
            Some(reply(401, json!({"error": "invalid_client"}))),
            None,
            "scalekit_refused",
        ),
        (
            Some(Err(CallFailure::Unreachable)),
            None,
            "scalekit_unreachable",
        ),
        (
            Some(Err(CallFailure::TimedOut)),
            None,
            "scalekit_unreachable",
        ),
        (None, Some(reply(400, json!({}))), "scalekit_refused"),
        (None, Some(reply(500, json!({}))), "scalekit_refused"),
        (None, Some(reply(302, json!({}))), "scalekit_refused"),
        (
            None,
            Some(Err(CallFailure::TimedOut)),
            "scalekit_unreachable",
        ),
    ] {
        let f = Flow::new(&s);
        let token_failed = token_reply.is_some();
        if let Some(r) = token_reply {
            f.io.token_replies.borrow_mut().push_back(r);
        }
        if let Some(r) = submit_reply {
            f.io.submit_replies.borrow_mut().push_back(r);
        }
        let done = f.login(NOW_MS);
        assert_eq!(refused(&done), (502, outcome));
        assert_eq!(f.io.token_posts(), 1, "{outcome}");
        assert_eq!(f.io.submissions().len(), usize::from(!token_failed));
        assert_eq!(done.log.sub.as_deref(), Some("user-1"));
    }
}

#[test]
fn not_signed_in_goes_to_the_login_page_or_gets_a_401_page() {
    let q = page_query();
    let tokens = RefCell::new(ClientTokenCache::default());
    // No cookie: the app is not even asked.
    let s = on(&[]);
    let io = FakeIo::new();
    let h = run(&s, &io, &tokens, &get(&q, &[]), NOW_MS);
    assert_eq!(refused(&h), (401, "not_signed_in"));
    assert_eq!(h.log.reason, Some("no_cookie"));
    assert!(io.cookies_seen.borrow().is_empty());
    // The app says 401.
    io.userinfo.borrow_mut().push_back(reply(401, json!({})));
    let h = run(&s, &io, &tokens, &get(&q, &[COOKIE]), NOW_MS);
    assert_eq!(refused(&h), (401, "not_signed_in"));

    let s = on(&[(
        "LOGIN_REDIRECT_URL",
        "https://app.example.com/signin?from=mcp",
    )]);
    let h = run(&s, &io, &tokens, &get(&q, &[]), NOW_MS);
    let Answer::SignIn(location) = &h.answer else {
        panic!("expected a redirect, got {:?}", h.answer)
    };
    assert_eq!(
        location,
        &format!(
            "https://app.example.com/signin?from=mcp&return_to=https%3A%2F%2Fmcp.example.com%2Flogin%3Flogin_request_id%3Dlri_1%26state%3D{STATE}"
        )
    );
    assert_eq!(h.log.outcome, "not_signed_in");
    assert_eq!(h.response().status(), 302);
    let s = on(&[("LOGIN_REDIRECT_URL", "https://app.example.com/signin")]);
    let h = run(&s, &io, &tokens, &get(&q, &[]), NOW_MS);
    let Answer::SignIn(location) = &h.answer else {
        panic!()
    };
    assert!(location.starts_with("https://app.example.com/signin?return_to=https%3A%2F%2F"));
}

#[test]
fn userinfo_refusals_and_failures() {
    let s = on(&[]);
    let q = page_query();
    let tokens = RefCell::new(ClientTokenCache::default());
    for (answer, expected) in [
        (reply(403, json!({})), (403, "forbidden")),
        (reply(500, json!({})), (502, "identity_unavailable")),
        (reply(302, json!({})), (502, "identity_unavailable")),
        (
            reply(200, json!({"sub": "u"})),
            (502, "identity_unavailable"),
        ),
        (Err(CallFailure::TimedOut), (502, "identity_unavailable")),
    ] {
        let io = FakeIo::new();
        io.userinfo.borrow_mut().push_back(answer);
        let h = run(&s, &io, &tokens, &get(&q, &[COOKIE]), NOW_MS);
        assert_eq!(refused(&h), expected);
    }
}

#[test]
fn bad_parameters_are_400_pages_before_any_call() {
    let s = on(&[]);
    let f = Flow::new(&s);
    let long = format!("login_request_id=lri&state={}", "s".repeat(513));
    for q in [
        "",
        "state=x",
        "login_request_id=lri",
        "login_request_id=lri&state=a%20b",
        "login_request_id=lri&state=x&state=y",
        long.as_str(),
    ] {
        let h = f.run(&get(q, &[COOKIE]), NOW_MS);
        assert_eq!(refused(&h), (400, "invalid_request"), "{q}");
    }
    assert!(f.io.cookies_seen.borrow().is_empty());
}

#[test]
fn cross_site_and_malformed_posts_are_refused_before_the_user_is_asked() {
    let s = on(&[]);
    let f = Flow::new(&s);
    let page = f.page(&[COOKIE]);
    let fields = form_fields(&page);
    let asked = f.io.cookies_seen.borrow().len();

    // A post another site made: any `Sec-Fetch-Site` but `same-origin`, any other `Origin`.
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("sec-fetch-site", "none"),
        ("origin", "https://evil.example"),
        ("origin", "https://mcp.example.com.evil.example"),
        ("origin", "null"),
    ] {
        let mut post = post_form(&fields, &[COOKIE]);
        post.headers.insert(header, value.parse().unwrap());
        assert_eq!(
            refused(&f.run(&post, NOW_MS)),
            (403, "cross_site"),
            "{header}: {value}"
        );
    }

    for content_type in [
        "application/json",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded; charset=utf-7",
    ] {
        let mut other = post_form(&fields, &[COOKIE]);
        other
            .headers
            .insert("content-type", content_type.parse().unwrap());
        assert_eq!(
            refused(&f.run(&other, NOW_MS)),
            (415, "unsupported_media_type")
        );
    }
    let mut charset = post_form(&fields, &[COOKIE]);
    charset.headers.insert(
        "content-type",
        "Application/X-WWW-Form-URLEncoded; charset=UTF-8"
            .parse()
            .unwrap(),
    );
    assert_eq!(f.run(&charset, NOW_MS).log.outcome, "submitted");

    let too_large = BridgeRequest {
        method: Some(&Method::POST),
        query: None,
        headers: &post_form(&fields, &[COOKIE]).headers,
        body: FormBody::TooLarge,
    };
    let h = pollster::block_on(bridge::handle(&too_large, &s, &f.io, &f.tokens, NOW_MS));
    assert_eq!(refused(&h), (413, "too_large"));
    // Only the one accepted post asked the app again.
    assert_eq!(f.io.cookies_seen.borrow().len(), asked + 1);
}

#[test]
fn tampered_expired_or_foreign_forms() {
    let s = on(&[]);
    let f = Flow::new(&s);
    let q = page_query();
    let page = f.page(&[COOKIE]);
    let fields = form_fields(&page);
    let with = |name: &str, value: &str| {
        fields
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == name {
                        value.to_owned()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    let post = |fields: &[(String, String)], now: u64| f.run(&post_form(fields, &[COOKIE]), now);

    // Another sign-in's id or state with this token (the MAC binds them), a malformed token,
    // an empty one.
    for (name, value) in [
        ("login_request_id", "lri_2"),
        ("state", "forged"),
        ("token", "v1.1.YQ.YQ"),
        ("token", ""),
    ] {
        assert_eq!(
            refused(&post(&with(name, value), NOW_MS)),
            (400, "form_invalid"),
            "{name}={value}"
        );
    }
    let no_token: Vec<_> = fields
        .iter()
        .filter(|(k, _)| k != "token")
        .cloned()
        .collect();
    assert_eq!(refused(&post(&no_token, NOW_MS)), (400, "form_invalid"));
    // Replayed after five minutes.
    assert_eq!(
        refused(&post(&fields, NOW_MS + 301_000)),
        (400, "form_expired")
    );
    // Still valid at the edge.
    assert_eq!(post(&fields, NOW_MS + 299_000).log.outcome, "submitted");
    // A form made for user-1 posted by a browser now signed in as user-2.
    f.io.userinfo.borrow_mut().push_back(reply(
        200,
        json!({"sub": "user-2", "email": "bob@example.com"}),
    ));
    let h = post(&fields, NOW_MS);
    assert_eq!(refused(&h), (403, "other_user"));
    assert_eq!(h.log.sub.as_deref(), Some("user-2"));
    // A form token minted with another secret.
    let params = mcp_gate::bridge::LoginParams::from_query(Some(&q)).unwrap();
    let forged = form_token::issue(
        &Secret::new("another-secret-of-32-bytes-or-more"),
        &params,
        "user-1",
        NOW_MS,
    );
    assert_eq!(
        refused(&post(&with("token", &forged), NOW_MS)),
        (400, "form_invalid")
    );
    // Not signed in any more at the post: as on the page.
    let h = f.run(&post_form(&fields, &[]), NOW_MS);
    assert_eq!(refused(&h), (401, "not_signed_in"));
}

fn access_jwt(claims: Value, kid: &str, signer: &str) -> String {
    token(
        json!({"alg": "RS256", "kid": kid, "typ": "JWT"}),
        claims,
        signer,
    )
}

fn access_claims() -> Value {
    let now = (NOW_MS / 1000) as i64;
    json!({"iss": TEAM, "aud": [AUD_TAG], "sub": "access-user-7", "email": "cy@example.com",
           "exp": now + 600, "iat": now - 5, "nbf": now - 5, "type": "app", "country": "FR"})
}

#[test]
fn access_happy_path_and_failing_jwts() {
    let s = access_on();
    let tokens = RefCell::new(ClientTokenCache::default());
    let q = page_query();
    let io = FakeIo::new();
    let jwt = access_jwt(access_claims(), "access-1", "rsa");
    let header = ("cf-access-jwt-assertion", jwt.as_str());
    let page = run(&s, &io, &tokens, &get(&q, &[header]), NOW_MS);
    assert_eq!(page.log.outcome, "confirm");
    assert_eq!(page.log.sub.as_deref(), Some("access-user-7"));
    let fields = form_fields(&page);
    let done = run(&s, &io, &tokens, &post_form(&fields, &[header]), NOW_MS);
    assert_eq!(done.log.outcome, "submitted");
    assert_eq!(
        io.submissions()[0].1,
        json!({"sub": "access-user-7", "email": "cy@example.com"})
    );

    let mut other_aud = access_claims();
    other_aud["aud"] = json!(["another-app"]);
    let mut expired = access_claims();
    expired["exp"] = json!((NOW_MS / 1000) as i64 - 120);
    let mut other_iss = access_claims();
    other_iss["iss"] = json!("https://evil.cloudflareaccess.com");
    let mut no_email = access_claims();
    no_email.as_object_mut().unwrap().remove("email");
    for (jwt, why) in [
        (
            access_jwt(other_aud, "access-1", "rsa"),
            "audience_not_accepted",
        ),
        (access_jwt(expired, "access-1", "rsa"), "expired"),
        (
            access_jwt(other_iss, "access-1", "rsa"),
            "issuer_not_accepted",
        ),
        (
            access_jwt(no_email, "access-1", "rsa"),
            "access_jwt_without_sub_or_email",
        ),
        (
            access_jwt(access_claims(), "access-1", "rsa-other"),
            "bad_signature",
        ),
        (
            token(
                json!({"alg": "ES256", "kid": "access-1"}),
                access_claims(),
                "ec",
            ),
            "algorithm_not_allowed",
        ),
        ("not-a-jwt".to_owned(), "malformed_token"),
    ] {
        let io = FakeIo::new();
        let h = run(
            &s,
            &io,
            &tokens,
            &get(&q, &[("cf-access-jwt-assertion", &jwt)]),
            NOW_MS,
        );
        assert_eq!(refused(&h), (401, "not_signed_in"), "{why}");
        assert_eq!(h.log.reason, Some(why));
    }
    let io = FakeIo::new();
    let h = run(&s, &io, &tokens, &get(&q, &[]), NOW_MS);
    assert_eq!(
        (refused(&h), h.log.reason),
        ((401, "not_signed_in"), Some("no_access_jwt"))
    );
}

#[test]
fn an_unknown_access_kid_refreshes_the_team_keys() {
    let s = access_on();
    let tokens = RefCell::new(ClientTokenCache::default());
    let q = page_query();
    let io = FakeIo::new();
    *io.access_keys_next.borrow_mut() = Some(access_key_set("access-2"));
    let jwt = access_jwt(access_claims(), "access-2", "rsa");
    let h = run(
        &s,
        &io,
        &tokens,
        &get(&q, &[("cf-access-jwt-assertion", &jwt)]),
        NOW_MS,
    );
    assert_eq!(h.log.outcome, "confirm");
    assert_eq!(io.access_refreshes.get(), 1);
    // A known kid costs no refresh.
    run(
        &s,
        &io,
        &tokens,
        &get(&q, &[("cf-access-jwt-assertion", &jwt)]),
        NOW_MS,
    );
    assert_eq!(io.access_refreshes.get(), 1);
    // Still unknown after the refresh: not signed in.
    let stranger = access_jwt(access_claims(), "access-9", "rsa");
    let h = run(
        &s,
        &io,
        &tokens,
        &get(&q, &[("cf-access-jwt-assertion", &stranger)]),
        NOW_MS,
    );
    assert_eq!(
        (refused(&h), h.log.reason),
        ((401, "not_signed_in"), Some("unknown_kid"))
    );
}

#[test]
fn other_methods_and_a_misconfigured_bridge() {
    let s = on(&[]);
    let f = Flow::new(&s);
    for method in [Method::PUT, Method::OPTIONS, Method::HEAD, Method::DELETE] {
        let call = Call {
            method,
            query: None,
            headers: HeaderMap::new(),
            body: None,
        };
        let h = f.run(&call, NOW_MS);
        assert_eq!(refused(&h), (405, "method_not_allowed"));
        assert_eq!(h.response().headers()["allow"], "GET, POST");
    }

    let broken = bridge_settings(&[("LOGIN_SECRET", "short")]);
    let Bridge::Misconfigured { error, path } = &broken else {
        panic!("{broken:?}")
    };
    assert_eq!(path.as_deref(), Some("/login"));
    let headers = HeaderMap::new();
    let request = BridgeRequest {
        method: Some(&Method::GET),
        query: None,
        headers: &headers,
        body: FormBody::NotRead,
    };
    let h = bridge::misconfigured(&request, error);
    let response = h.response();
    assert_eq!(response.status(), 500);
    assert_eq!(h.log.outcome, "misconfigured");
    let html = String::from_utf8(response.into_body()).unwrap();
    assert!(
        html.contains("LOGIN_SECRET") && !html.contains("short"),
        "{html}"
    );
}

#[test]
fn logs_and_pages_never_carry_the_state_the_form_token_or_secrets() {
    let s = on(&[("LOGIN_REDIRECT_URL", "https://app.example.com/signin")]);
    let f = Flow::new(&s);
    let q = page_query();
    let page = f.page(&[COOKIE]);
    let fields = form_fields(&page);
    let form_token = fields[2].1.clone();
    let mut outcomes = vec![page];
    outcomes.push(run(
        &s,
        &f.io,
        &f.tokens,
        &post_form(&fields, &[COOKIE]),
        NOW_MS,
    ));
    outcomes.push(f.run(&get(&q, &[]), NOW_MS));
    f.io.userinfo.borrow_mut().push_back(reply(500, json!({})));
    outcomes.push(run(
        &s,
        &f.io,
        &f.tokens,
        &post_form(&fields, &[COOKIE]),
        NOW_MS,
    ));
    for h in &outcomes {
        let log = format!("{:?}", h.log);
        for secret in [
            STATE,
            form_token.as_str(),
            SECRET,
            "skc-secret",
            "abc123",
            "client-token-1",
        ] {
            assert!(!log.contains(secret), "{log}");
        }
        if let Answer::Refused(_) = h.answer {
            let html = String::from_utf8(h.response().into_body()).unwrap();
            assert!(!html.contains(STATE) && !html.contains(&form_token));
        }
    }
}
