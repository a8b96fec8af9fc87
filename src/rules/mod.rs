//! Scope rules (README "Scope rules"): the rules document, parsed once into typed matchers, and the
//! authorization of a request against it.
//!
//! Two separate steps:
//! 1. [`RuleSet::requirement`] — from the request alone (HTTP method, path, inspected JSON-RPC
//!    body) to the rule deciding each message and the concrete scopes it needs. No token
//!    needed, so a `401` challenge can carry `scope=`.
//! 2. [`Requirement::check`] — the token's granted scopes against those needs, by the grant
//!    law [`covers`].
//!
//! Errors: [`RulesError`] for documents, [`AuthzError`] for requests.

mod cache;
mod document;
mod error;
mod grant;
mod pattern;
mod requirement;
mod template;

pub use cache::{
    RulesCache, RulesEvent, RulesRead, RulesSlot, RulesSnapshot, RulesView, RULES_REFRESH_MS,
};
pub use document::{DefaultDecision, Rule, RuleSet, RULES_VERSION};
pub use error::{AuthzError, BadValueReason, RuleProblem, RulesError, ScopeProblem};
pub use grant::{any_covers, covers};
pub use pattern::Pattern;
pub use requirement::{Decision, Grant, MessageRequirement, RequestFacts, Requirement};
pub use template::{ScopeTemplate, MAX_TEMPLATE_VALUE_BYTES};
