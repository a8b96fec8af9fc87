//! The protected-request pipeline, platform-free.
//!
//! Split so that the adapter can do I/O in between and the core stays synchronous on
//! preloaded data wherever it can:
//!
//! 0. [`admit_head`] (sync): `Origin`, then method, media type, encoding, declared size
//!    (README "Request hygiene"); a path the gate does not serve was answered by
//!    [`not_served`] (`Origin`, then `404`).
//!    → the adapter reads the body, counted (past `MAX_BODY_BYTES`, or broken: [`body_refused`]).
//! 1. [`precheck`] (sync): rules availability, the body admitted (strict JSON-RPC, `Mcp-Method`
//!    and `Mcp-Name`), credential, the scopes the request needs; then the token: recalled
//!    from the verified-token cache (see [`recall_from`]), or its structure checked.
//!    → the adapter may now refresh the key set if the token's `kid` is unknown.
//! 2. [`authorize`] (async only for the signature check): verify (unless recalled), then
//!    check the grant.

use std::cell::RefCell;
use std::sync::Arc;

use http::{HeaderMap, Method, Response};

use super::cors::{self, BrowserOrigin};
use super::logline::LogLine;
use super::respond::{ChallengeContext, GateError};
use crate::admit;
use crate::lists::{EntryPolicy, ListRequests};
use crate::rpc::{RpcBody, RpcError};
use crate::rules::{RequestFacts, Requirement};
use crate::settings::Settings;
use crate::token::cache::{TokenCache, TokenKey};
use crate::token::extract;
use crate::token::keyset::KeyLookupError;
use crate::token::verify::{self, SignatureCheck, SignatureJob, UntrustedJwt};
use crate::token::{KeySet, SignatureVerifier, TokenError, VerifiedToken};

pub use crate::rules::RulesView;

/// The head of a request to a served path, as received.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The method, `None` when it is not a method token.
    pub method: Option<&'a Method>,
    /// The method as received, for the log line.
    pub raw_method: &'a str,
    /// Path (no query).
    pub path: &'a str,
    /// The request headers the core reads (see `edge::convert::gate_headers`).
    pub headers: &'a HeaderMap,
}

/// A head that [`admit_head`] admitted.
#[derive(Debug, Clone)]
pub struct AdmittedHead {
    /// `POST`, `GET` or `DELETE`.
    pub method: Method,
    /// The `Origin` outcome (never `Forbidden` here).
    pub browser_origin: BrowserOrigin,
}

/// A protected request as the core sees it (head admitted, body read within the size limit).
#[derive(Debug, Clone, Copy)]
pub struct ProtectedRequest<'a> {
    /// The admitted head.
    pub head: &'a AdmittedHead,
    /// Path (no query).
    pub path: &'a str,
    /// The request headers the core reads.
    pub headers: &'a HeaderMap,
    /// Body bytes, exactly as they will be forwarded.
    pub body: &'a [u8],
}

/// A request the gate answers itself, with what the log line and CORS need.
#[derive(Debug)]
pub struct Refusal {
    /// Why.
    pub error: GateError,
    /// Challenge parameters.
    pub context: ChallengeContext,
    /// CORS outcome, so that browser clients can read the challenge.
    pub browser_origin: BrowserOrigin,
    /// Log fields gathered so far.
    pub log: LogLine,
}

impl Refusal {
    /// The HTTP answer, CORS headers included.
    pub fn response(&self) -> Response<Vec<u8>> {
        let mut response = self.error.respond(&self.context);
        cors::decorate(response.headers_mut(), &self.browser_origin);
        response
    }

    /// The answer and its log line, the answer built once (the adapter's path).
    pub fn into_parts(self) -> (Response<Vec<u8>>, LogLine) {
        let response = self.response();
        let log = self.log_for(response.status().as_u16());
        (response, log)
    }

    fn log_for(&self, status: u16) -> LogLine {
        let mut log = self.log.clone();
        log.decision = "deny";
        log.reason = self.error.reason();
        log.status = status;
        log
    }
}

/// The token after [`precheck`].
// Built once per request and moved once into `authorize`: boxing the large variant would only
// add an allocation on every cache miss.
#[allow(clippy::large_enum_variant)]
enum TokenStage<'r> {
    /// Seen and verified before under the current key set: no parsing, no signature check.
    Recalled(Arc<VerifiedToken>),
    /// Structure checked; the signature and claims are still to be verified, then the token
    /// is cached under `cache_key` (charged `token_len` bytes).
    Untrusted {
        jwt: UntrustedJwt<'r>,
        cache_key: TokenKey,
        token_len: usize,
    },
}

/// Result of [`precheck`]: everything known before the signature check.
pub struct Prechecked<'r> {
    token: TokenStage<'r>,
    requirement: Result<Requirement, GateError>,
    lists: ListRequests,
    browser_origin: BrowserOrigin,
    context: ChallengeContext,
    log: LogLine,
}

impl Prechecked<'_> {
    /// The untrusted `kid`, to decide whether the key set needs a refresh (none for a
    /// recalled token).
    pub fn kid(&self) -> Option<&str> {
        match &self.token {
            TokenStage::Recalled(_) => None,
            TokenStage::Untrusted { jwt, .. } => jwt.kid(),
        }
    }

    /// The signature check this token still needs under `keys`, for an adapter that checks it
    /// itself and then calls [`authorize_settled`]: `None` for a recalled token, and when no
    /// key fits (then [`authorize_settled`] refuses with the key error, whatever it is given).
    pub fn signature_job<'k>(&'k self, keys: &'k KeySet) -> Option<SignatureJob<'k>> {
        match &self.token {
            TokenStage::Recalled(_) => None,
            TokenStage::Untrusted { jwt, .. } => verify::signature_job(jwt, keys).ok(),
        }
    }

    /// The same stage owning the token's bytes, for an adapter that keeps it across its own
    /// awaits (the Worker's entry module).
    pub fn into_owned(self) -> Prechecked<'static> {
        let token = match self.token {
            TokenStage::Recalled(token) => TokenStage::Recalled(token),
            TokenStage::Untrusted {
                jwt,
                cache_key,
                token_len,
            } => TokenStage::Untrusted {
                jwt: jwt.into_owned(),
                cache_key,
                token_len,
            },
        };
        Prechecked {
            token,
            requirement: self.requirement,
            lists: self.lists,
            browser_origin: self.browser_origin,
            context: self.context,
            log: self.log,
        }
    }

    /// Whether `keys` has no key for this token in a way a refresh could fix: an unknown
    /// `kid`, or no key at all for a `kid`-less token's algorithm. (A key of the wrong type,
    /// or an ambiguous set, is not fixed by fetching the same set again.)
    pub fn key_missing_from(&self, keys: &KeySet) -> bool {
        match &self.token {
            TokenStage::Recalled(_) => false,
            TokenStage::Untrusted { jwt, .. } => matches!(
                keys.select(jwt.kid(), jwt.algorithm()),
                Err(KeyLookupError::UnknownKid | KeyLookupError::NoUniqueKeyWithoutKid)
            ),
        }
    }
}

/// An allowed request.
#[derive(Debug)]
pub struct Allowed {
    /// The verified token (identity headers come from it).
    pub token: Arc<VerifiedToken>,
    /// CORS outcome for the origin's response.
    pub browser_origin: BrowserOrigin,
    /// The list requests whose answers are filtered (empty for every other request, whose
    /// response then streams through untouched).
    pub lists: ListRequests,
    /// Log fields.
    pub log: LogLine,
}

/// What the relay does with the upstream's response (README "Scope-aware lists").
#[derive(Debug)]
pub enum RelayPlan {
    /// Hand the response to the client as it is: every request that asks for no list, and
    /// every request when `FILTER_LISTS` is off or no rules document decides (authenticated
    /// mode).
    PassThrough,
    /// A `2xx` answer is filtered: a JSON body whole, an event stream event by event.
    FilterLists {
        /// Which response ids answer which list.
        requests: ListRequests,
        /// Which entries this token may see.
        policy: EntryPolicy,
    },
}

/// How the response to an allowed request is relayed: filtered only when it answers list
/// requests under a rules document with `FILTER_LISTS` on. Asks the same rules, with the same
/// HTTP method and path, as the call that would use each entry.
pub fn relay_plan(
    allowed: &Allowed,
    rules: RulesView<'_>,
    method: &Method,
    path: &str,
    settings: &Settings,
) -> RelayPlan {
    if !settings.filter_lists || allowed.lists.is_empty() {
        return RelayPlan::PassThrough;
    }
    let set = match rules {
        RulesView::Document(set) => set,
        RulesView::Authenticated | RulesView::Unavailable | RulesView::Missing => {
            return RelayPlan::PassThrough
        }
    };
    // The entries of a list are used by POSTs: a GET stream (resumption) carries answers to
    // list requests that were POSTed to the same path.
    let use_method = if *method == Method::GET {
        Method::POST
    } else {
        method.clone()
    };
    let policy = EntryPolicy::new(
        set,
        use_method.as_str(),
        path,
        allowed.token.scopes(),
        &settings.required_scopes,
    );
    if policy.keeps_all() {
        return RelayPlan::PassThrough;
    }
    RelayPlan::FilterLists {
        requests: allowed.lists.clone(),
        policy,
    }
}

/// The `Cache-Control` of a response that may carry a filtered list: its answer depends on the
/// token, so no shared cache may keep it. `private` is added to the upstream's directives
/// (unless they already forbid storing or sharing).
pub fn private_cache_control(upstream: Option<&str>) -> String {
    let directives: Vec<&str> = upstream
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let is = |d: &str, name: &str| d.eq_ignore_ascii_case(name);
    if directives
        .iter()
        .any(|d| is(d, "private") || is(d, "no-store"))
    {
        return upstream.unwrap_or_default().trim().to_owned();
    }
    // `public` and `s-maxage` speak to shared caches, which may not keep this answer.
    let mut kept: Vec<&str> = directives
        .into_iter()
        .filter(|d| {
            !is(d, "public")
                && !d
                    .get(..8)
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case("s-maxage"))
        })
        .collect();
    kept.push("private");
    kept.join(", ")
}

fn base_log(http_method: &str, path: &str) -> LogLine {
    LogLine {
        http_method: http_method.to_owned(),
        path: path.to_owned(),
        ..LogLine::default()
    }
}

fn challenge_context(settings: &Settings) -> ChallengeContext {
    ChallengeContext {
        metadata_url: Some(settings.metadata_url().to_owned()),
        scope_hint: Vec::new(),
    }
}

/// A refusal before the token is looked at: no scope hint, the log line's method and path only.
fn early_refusal(
    error: GateError,
    settings: &Settings,
    browser_origin: BrowserOrigin,
    http_method: &str,
    path: &str,
) -> Box<Refusal> {
    Box::new(Refusal {
        error,
        context: challenge_context(settings),
        browser_origin,
        log: base_log(http_method, path),
    })
}

/// The `Origin` check every non-public request passes first (README "Request hygiene": order
/// `Origin`, path, method).
fn origin_checked(
    head: &RequestHead<'_>,
    settings: &Settings,
) -> Result<BrowserOrigin, Box<Refusal>> {
    let browser_origin = cors::check(head.headers, settings);
    if browser_origin == BrowserOrigin::Forbidden {
        return Err(early_refusal(
            GateError::OriginForbidden,
            settings,
            browser_origin,
            head.raw_method,
            head.path,
        ));
    }
    Ok(browser_origin)
}

/// A path the gate does not serve: `403` for a forbidden `Origin`, else `404`; never
/// forwarded, with or without a token.
pub fn not_served(head: &RequestHead<'_>, settings: &Settings) -> Box<Refusal> {
    match origin_checked(head, settings) {
        Err(refusal) => refusal,
        Ok(browser_origin) => early_refusal(
            GateError::Admit(admit::AdmitError::NotServed),
            settings,
            browser_origin,
            head.raw_method,
            head.path,
        ),
    }
}

/// Stage 0: `Origin`, then the head's admission ([`admit::head`]), before the body is read.
pub fn admit_head(
    head: &RequestHead<'_>,
    settings: &Settings,
) -> Result<AdmittedHead, Box<Refusal>> {
    let browser_origin = origin_checked(head, settings)?;
    match admit::head(head.method, head.headers, settings) {
        Ok(method) => Ok(AdmittedHead {
            method,
            browser_origin,
        }),
        Err(e) => Err(early_refusal(
            GateError::Admit(e),
            settings,
            browser_origin,
            head.raw_method,
            head.path,
        )),
    }
}

/// The body grew past `MAX_BODY_BYTES` while the adapter read it (`413`), or could not be read
/// to its end (`400`).
pub fn body_refused(
    head: &AdmittedHead,
    path: &str,
    settings: &Settings,
    error: admit::AdmitError,
) -> Box<Refusal> {
    early_refusal(
        GateError::Admit(error),
        settings,
        head.browser_origin.clone(),
        head.method.as_str(),
        path,
    )
}

/// What the request needs, from the request alone.
fn requirement(
    req: &ProtectedRequest<'_>,
    body: Result<Option<RpcBody>, RpcError>,
    rules: RulesView<'_>,
    log: &mut LogLine,
) -> Result<Requirement, GateError> {
    let body = body.map_err(GateError::Body)?;
    if let Some(body) = &body {
        let (methods, names) = body.summary();
        log.rpc_method = methods;
        log.rpc_name = names;
    }
    let facts = RequestFacts {
        http_method: req.head.method.as_str(),
        path: req.path,
        body: body.as_ref(),
    };
    match rules {
        RulesView::Document(set) => set.requirement(&facts).map_err(GateError::Authz),
        RulesView::Authenticated => Ok(Requirement::authenticated()),
        RulesView::Unavailable => Err(GateError::RulesUnavailable),
        RulesView::Missing => Err(GateError::RulesMissing),
    }
}

/// How [`precheck`] looks a token up in the verified-token cache: `cache` entries verified
/// under `keys`' generation, still valid at `now_ms` (expiry is checked on every hit).
pub fn recall_from<'c>(
    cache: &'c RefCell<TokenCache>,
    keys: Option<&'c KeySet>,
    now_ms: u64,
) -> impl FnOnce(&TokenKey) -> Option<Arc<VerifiedToken>> + 'c {
    move |key| {
        let generation = keys?.generation();
        cache.borrow_mut().get(key, now_ms, generation)
    }
}

/// Stage 1: checks that need no key and no I/O.
///
/// `recall` looks the token up among tokens verified before (see [`recall_from`]); a hit
/// skips parsing the token and, in [`authorize`], its signature check. The cache key is a
/// hash of the whole token, so a hit is the exact token verified before.
pub fn precheck<'r>(
    req: &ProtectedRequest<'r>,
    settings: &Settings,
    rules: RulesView<'_>,
    recall: impl FnOnce(&TokenKey) -> Option<Arc<VerifiedToken>>,
) -> Result<Prechecked<'r>, Box<Refusal>> {
    let mut log = base_log(req.head.method.as_str(), req.path);
    let mut context = challenge_context(settings);
    let browser_origin = req.head.browser_origin.clone();
    let refuse =
        |error: GateError, context: ChallengeContext, log: LogLine, origin: BrowserOrigin| {
            Box::new(Refusal {
                error,
                context,
                browser_origin: origin,
                log,
            })
        };
    let no_rules = match rules {
        RulesView::Unavailable => Some(GateError::RulesUnavailable),
        RulesView::Missing => Some(GateError::RulesMissing),
        RulesView::Document(_) | RulesView::Authenticated => None,
    };
    if let Some(error) = no_rules {
        return Err(refuse(error, context, log, browser_origin));
    }
    // The adapter stops reading at the limit; checked again so that no caller can skip it.
    if req.body.len() > settings.max_body_bytes {
        return Err(refuse(
            GateError::Admit(admit::AdmitError::BodyTooLarge),
            context,
            log,
            browser_origin,
        ));
    }
    let body = match admit::body(&req.head.method, req.headers, req.body) {
        Ok(body) => body,
        Err(e) => return Err(refuse(GateError::Admit(e), context, log, browser_origin)),
    };

    let lists = match &body {
        Ok(Some(body)) => ListRequests::from_body(body),
        // A GET stream may carry answers to list requests sent earlier (resumption).
        Ok(None) if req.head.method == Method::GET => ListRequests::unknown_ids(),
        Ok(None) | Err(_) => ListRequests::none(),
    };
    let requirement = requirement(req, body, rules, &mut log);
    if let Ok(requirement) = &requirement {
        context.scope_hint = requirement.scopes(&settings.required_scopes);
        log.required = context.scope_hint.clone();
    }

    let authorization = req
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .map(|v| v.to_str().unwrap_or(","));
    let credential = match extract::bearer(authorization) {
        Ok(credential) => credential,
        Err(e) => {
            return Err(refuse(
                GateError::Credential(e),
                context,
                log,
                browser_origin,
            ))
        }
    };
    let cache_key = TokenCache::key(credential.as_str());
    let token = match recall(&cache_key) {
        Some(token) => TokenStage::Recalled(token),
        None => match verify::parse(&credential, &settings.token) {
            Ok(jwt) => TokenStage::Untrusted {
                jwt,
                cache_key,
                token_len: credential.as_str().len(),
            },
            Err(e) => return Err(refuse(GateError::Token(e), context, log, browser_origin)),
        },
    };
    Ok(Prechecked {
        token,
        requirement,
        lists,
        browser_origin,
        context,
        log,
    })
}

/// Stage 2: signature and claims (unless the token was recalled from the verified-token
/// cache), then the scope grant, with `verifier` checking the signature: [`authorize_settled`]
/// with the check made here (one path for every adapter).
pub async fn authorize<V: SignatureVerifier>(
    pre: Prechecked<'_>,
    settings: &Settings,
    keys: &KeySet,
    verifier: &V,
    cache: &RefCell<TokenCache>,
    now_ms: u64,
) -> Result<Allowed, Box<Refusal>> {
    let check = match pre.signature_job(keys) {
        Some(job) => Some(job.check_with(verifier).await),
        None => None,
    };
    authorize_settled(pre, settings, keys, check.as_ref(), cache, now_ms)
}

/// Stage 2 for an adapter that checked the signature itself (the Worker's entry module awaits
/// WebCrypto in JavaScript): `check` is the outcome of [`Prechecked::signature_job`] under the
/// same `keys`. It is ignored for a recalled token; a check made for another key, algorithm or
/// signature, or none when a key fits, counts as a bad signature.
///
/// A newly verified token is cached. Entries are bound to the key set's generation, so a
/// changed key set invalidates them; scopes and rules are checked on every request, recalled
/// or not.
pub fn authorize_settled(
    pre: Prechecked<'_>,
    settings: &Settings,
    keys: &KeySet,
    check: Option<&SignatureCheck>,
    cache: &RefCell<TokenCache>,
    now_ms: u64,
) -> Result<Allowed, Box<Refusal>> {
    let Prechecked {
        token,
        requirement,
        lists,
        browser_origin,
        context,
        mut log,
    } = pre;
    let token = match token {
        TokenStage::Recalled(token) => token,
        TokenStage::Untrusted {
            jwt,
            cache_key,
            token_len,
        } => {
            let verified = match check {
                Some(check) => verify::verify_settled(&jwt, keys, check, &settings.token, now_ms),
                // No check was made: the key error when no key fits, else a bad signature.
                None => verify::signature_job(&jwt, keys).and(Err(TokenError::BadSignature)),
            };
            match verified {
                Ok(token) => {
                    let token = Arc::new(token);
                    cache.borrow_mut().insert(
                        cache_key,
                        Arc::clone(&token),
                        token_len,
                        now_ms,
                        keys.generation(),
                    );
                    token
                }
                Err(e) => {
                    return Err(Box::new(Refusal {
                        error: GateError::Token(e),
                        context,
                        browser_origin,
                        log,
                    }))
                }
            }
        }
    };
    log.iss = Some(token.issuer().to_owned());
    log.sub = token.subject().map(str::to_owned);
    log.client_id = token.client_id().map(str::to_owned);
    log.jti = token.jti().map(str::to_owned);
    log.granted = token.scopes().to_vec();

    let outcome = requirement.and_then(|requirement| {
        requirement
            .check(token.scopes(), &settings.required_scopes)
            .map_err(GateError::Authz)
    });
    match outcome {
        Ok(grant) => {
            log.rule = grant.rule_names();
            log.decision = "allow";
            log.reason = "allowed".into();
            Ok(Allowed {
                token,
                browser_origin,
                lists,
                log,
            })
        }
        Err(error) => {
            if let GateError::Authz(authz) = &error {
                log.rule = authz.rule_name();
                log.missing = authz.missing_scopes();
            }
            Err(Box::new(Refusal {
                error,
                context,
                browser_origin,
                log,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::private_cache_control;

    #[test]
    fn a_filtered_answer_is_never_kept_by_a_shared_cache() {
        assert_eq!(private_cache_control(None), "private");
        assert_eq!(private_cache_control(Some("  ")), "private");
        assert_eq!(private_cache_control(Some("no-cache")), "no-cache, private");
        assert_eq!(
            private_cache_control(Some("public, max-age=60, S-MaxAge=600")),
            "max-age=60, private"
        );
        assert_eq!(private_cache_control(Some("PUBLIC")), "private");
        // Already not shared: as it came.
        assert_eq!(
            private_cache_control(Some("no-store,no-cache")),
            "no-store,no-cache"
        );
        assert_eq!(
            private_cache_control(Some(" Private, max-age=5")),
            "Private, max-age=5"
        );
    }
}
