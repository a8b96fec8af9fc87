//! Scope-aware lists (README "Scope-aware lists"): the origin's `2xx` answers to
//! `tools/list`, `prompts/list`, `resources/list` and `resources/templates/list` are cut down to
//! the entries this token may use.
//!
//! Platform-free and without I/O; the Worker adapter feeds it bytes:
//! 1. [`ListRequests::from_body`] from the inspected request body (or
//!    [`ListRequests::unknown_ids`] for a `GET` stream). When [`ListRequests::is_empty`], the
//!    response passes untouched and costs nothing.
//! 2. [`EntryPolicy::new`] once per request (or [`EntryPolicy::keep_all`] in authenticated
//!    mode): an entry is kept only if the call that would use it is allowed by the same rules
//!    code that gates calls ([`crate::rules::RuleSet::requirement`], then
//!    [`crate::rules::Requirement::check`]).
//! 3. An `application/json` body: [`filter_json`]. An event stream: [`SseFilter`], fed chunk
//!    by chunk, passing every other event through byte for byte as soon as it is complete.
//!
//! Re-serialised answers keep their members in document order (see `value.rs`), compact, so
//! number and escape formatting may change. Errors: [`ListError`].

mod error;
mod json;
mod kind;
mod policy;
mod requests;
mod sse;
mod sse_event;
mod value;

pub use error::ListError;
pub use json::{filter_json, FilteredJson, CACHE_SCOPE_PRIVATE, INTERNAL_ERROR};
pub use kind::ListKind;
pub use policy::EntryPolicy;
pub use requests::ListRequests;
pub use sse::SseFilter;

/// The largest list answer the gate reads: a JSON body, or one event of a stream (8 MiB).
/// Larger → [`ListError::TooLarge`] (`502`, or the error event in a stream).
pub const MAX_LIST_BYTES: usize = 8 * 1024 * 1024;
