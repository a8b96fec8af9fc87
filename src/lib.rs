//! # mcp-gate
//!
//! An OAuth 2.1 resource server for MCP servers, running as a Cloudflare Worker.
//!
//! ## The pipeline
//!
//! Every request flows one way:
//!
//! 1. **route** ([`gate::route()`]): discovery documents, CORS preflight and `/healthz` are
//!    answered without a token; the MCP endpoint (and `FORWARD_PATHS`) is protected; every
//!    other path is `404`, never forwarded.
//! 2. **admit** ([`admit`]): the gate and the upstream must read the same request — method,
//!    media type and charset, content coding, counted body size, strict JSON (no duplicate
//!    member names, even under case folding), `Mcp-Method`/`Mcp-Name` agreeing with the body.
//! 3. **extract** ([`token::extract`]): exactly one `Authorization: Bearer` credential.
//! 4. **verify** ([`token::verify`]): structure, key chosen from the server's own key set by
//!    `kid` and an allowed `alg`, signature (WebCrypto in the Worker), claims at an injected time.
//!    Only a [`token::VerifiedToken`] leaves this stage.
//! 5. **authorize** ([`rules`], [`rpc`]): the JSON-RPC body is inspected (never re-serialised)
//!    and matched against the scope rules; the answer is allow, step-up (`insufficient_scope`)
//!    or deny.
//! 6. **forward** ([`gate::forward`]): the original bytes go to the origin with identity
//!    headers; the client's token is removed; the response streams back unbuffered.
//! 7. **filter lists** ([`lists`]): only the answers to list requests (`tools/list`, …) are
//!    read, and cut down to the entries the token may use, asked of the same rules code.
//!
//! The login bridge ([`bridge`]) is a second, independent pipeline on `LOGIN_PATH`: identity
//! from Cloudflare Access (checked by the same token verifier) or your app's session, a signed
//! confirmation form, then Scalekit's API. It never touches the MCP endpoint's tokens or rules.
//!
//! Every stage has its own error enum; [`gate::respond`] maps them all to HTTP status and
//! `WWW-Authenticate` in one exhaustive `match`.
//!
//! ## Security decisions
//!
//! - Fail closed: invalid settings, an unparseable key set or rules document, or any error
//!   while verifying never lets a request through.
//! - `alg` never chooses the verifier alone: it must be listed in `ALLOWED_ALGORITHMS` (never
//!   `none` or HMAC) and fit the type of the key the server picked.
//! - Keys are never taken from the token (`jku`, `jwk`, `x5u`, `x5c` are ignored).
//! - In the Worker the signature is checked by WebCrypto while JavaScript awaits it; the core
//!   takes the outcome back as a [`token::verify::SignatureCheck`], which counts only for the
//!   key, algorithm, signing input and signature the core itself chose
//!   ([`gate::pipeline::authorize_settled`]).
//! - Tokens, `Authorization` values and secrets are never logged or echoed.
//! - A token verified before may be recalled from the isolate's verified-token cache
//!   ([`token::cache`], keyed by its SHA-256, bound to the key set's generation): a recall
//!   skips parsing and the signature, never the `exp` check nor the scope rules.
//!
//! - The gate and the upstream read the same request ([`admit`]): anything two HTTP or JSON
//!   readers could read differently is refused before a rule applies; identity and
//!   forwarding headers come from the gate only.
//!
//! ## Where things live
//!
//! The core (everything outside `edge`) is platform-free and tested natively: decisions are
//! pure functions and state machines on preloaded data with the clock injected. `edge` is the
//! thin Worker adapter (KV, fetch, WebCrypto, streams, clock), compiled only for wasm32: it
//! does the I/O first, then asks the core — its entry module awaits in JavaScript and calls into
//! Rust once per decision (`edge/exchange.rs`), so a request is not a Rust future.
//!
//! | room | what belongs there |
//! |---|---|
//! | [`settings`] | every setting, parsed and validated once (`settings/url.rs`: which URLs may be fetched) |
//! | [`admit`] | request hygiene: method, media type, body framing, `Mcp-Method`/`Mcp-Name` |
//! | [`json_strict`], [`rpc`] | strict JSON and JSON-RPC inspection (what the rules match on) |
//! | [`token`] | credential extraction, structure, key set, signature, claims, the verified-token cache; [`token::Policy`] is what the settings say about tokens |
//! | [`rules`] | the rules document, its matchers, the grant law, the decision, the rules cache |
//! | [`lists`] | list filtering and the incremental SSE parser (response side) |
//! | [`bridge`] | the login bridge (README "Login bridge"): Scalekit's Login URL, its own pipeline on `LOGIN_PATH` with the I/O injected; its settings in `settings/bridge.rs` |
//! | [`refresh`] | keys and metadata from issuers: discovery, JWKS, AS mirror, the refresh throttle, the key cache, key health |
//! | [`gate`] | routing, CORS, the pipeline that ties the stages together, answers and challenges, forwarding plan, log line, `/healthz` |
//! | `edge` (wasm only) | the Worker entry: `entry.js` (the entry module: awaits the runtime's promises), `exchange.rs` (one request's steps, each a synchronous call into the core), `mod.rs` (the routes with I/O of their own, Cron), `bridge.rs` (the login bridge's I/O), `issuer.rs` (keys and AS metadata I/O), `state.rs` (settings, rules cache, KV), `upstream.rs` (fetch with deadline), `relay.rs` (list answers), `webcrypto.rs`, `glue.js` |
//! | `bin/mcp-gate` (native only) | the operator CLI (clap): dev keys and tokens, `rules check/explain/put` |

pub mod admit;
pub mod bridge;
pub mod gate;
pub mod json_strict;
pub mod lists;
pub mod refresh;
pub mod rpc;
pub mod rules;
pub mod settings;
pub mod token;

#[cfg(target_arch = "wasm32")]
mod edge;
