//! Which list entries a token may see: exactly those whose use the rules would allow
//! (README "Scope-aware lists"). There is no second matcher: every entry is put to
//! [`RuleSet::requirement`] and [`Requirement::check`] as the one-message call that would use it,
//! the same two steps that gate a real call.
//!
//! [`Requirement::check`]: crate::rules::Requirement::check

use serde_json::Value;

use super::kind::ListKind;
use crate::rpc::{CallKind, RpcBody, RpcCall, RpcMessage};
use crate::rules::{RequestFacts, RuleSet};

/// The per-request question "may this token use that entry?". Built once per list request;
/// owns what it needs, so a streaming filter can keep it for the life of the response.
#[derive(Debug, Clone)]
pub struct EntryPolicy {
    mode: Mode,
}

#[derive(Debug, Clone)]
enum Mode {
    /// Authenticated mode (no rules document): nothing is filtered.
    KeepAll,
    /// A rules document decides, entry by entry.
    Rules(Box<Asked>),
}

/// What the list request itself was asked with.
#[derive(Debug, Clone)]
struct Asked {
    rules: RuleSet,
    http_method: String,
    path: String,
    granted: Vec<String>,
    baseline: Vec<String>,
}

impl EntryPolicy {
    /// The policy of one list request: `rules` (a document; authenticated mode without one is
    /// [`EntryPolicy::keep_all`]), the list request's `http_method` and `path` (as given
    /// to [`RequestFacts`]), the token's `granted` scopes and the baseline (`REQUIRED_SCOPES`).
    pub fn new(
        rules: &RuleSet,
        http_method: &str,
        path: &str,
        granted: &[String],
        baseline: &[String],
    ) -> EntryPolicy {
        EntryPolicy {
            mode: Mode::Rules(Box::new(Asked {
                rules: rules.clone(),
                http_method: http_method.to_owned(),
                path: path.to_owned(),
                granted: granted.to_vec(),
                baseline: baseline.to_vec(),
            })),
        }
    }

    /// Authenticated mode (no rules document): every entry is kept and list answers pass
    /// unchanged (README "Scope-aware lists").
    pub fn keep_all() -> EntryPolicy {
        EntryPolicy {
            mode: Mode::KeepAll,
        }
    }

    /// Whether this policy keeps every entry, so that no answer needs to be read at all.
    pub fn keeps_all(&self) -> bool {
        matches!(self.mode, Mode::KeepAll)
    }

    /// Whether an entry of `kind` named `key` (its `name`, `uri` or `uriTemplate`) may be
    /// shown: the call that would use it (`tools/call` / `prompts/get` with `params.name`,
    /// `resources/read` with `params.uri`) is decided by the rules exactly like a real call
    /// with the same HTTP method and path, and allowed for the granted scopes. Any error —
    /// a `{name}` value that cannot be a scope, no rule matching under `default: deny`,
    /// missing scopes — hides the entry.
    pub fn allows(&self, kind: ListKind, key: &str) -> bool {
        let asked = match &self.mode {
            Mode::KeepAll => return true,
            Mode::Rules(asked) => asked,
        };
        let (name, uri) = if kind.keyed_by_name() {
            (Some(key.to_owned()), None)
        } else {
            (None, Some(key.to_owned()))
        };
        let body = RpcBody::single(RpcMessage::Call(RpcCall {
            method: kind.use_method().to_owned(),
            name,
            uri,
            kind: CallKind::Request,
            id: Some(Value::from(0)),
        }));
        let facts = RequestFacts {
            http_method: &asked.http_method,
            path: &asked.path,
            body: Some(&body),
        };
        asked
            .rules
            .requirement(&facts)
            .and_then(|requirement| requirement.check(&asked.granted, &asked.baseline))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &str) -> Vec<String> {
        list.split_whitespace().map(str::to_owned).collect()
    }

    const RULES: &str = r#"{"version":1,"default":"deny","rules":[
        {"name":"get only","match":{"http_method":"GET","method":"tools/call","name":"*"},"require":[]},
        {"name":"weather","match":{"method":"tools/call","name":"weather*"},"require":["mcp:tools:weather"]},
        {"name":"any tool","match":{"method":"tools/call","name":"*"},"require":["mcp:tools:{name}"]},
        {"name":"docs","match":{"method":"resources/read","uri":"docs://*"},"require":[]}
    ]}"#;

    fn policy(http_method: &str, granted: &str, baseline: &str) -> EntryPolicy {
        let rules = RuleSet::parse(RULES).unwrap();
        EntryPolicy::new(
            &rules,
            http_method,
            "/mcp",
            &scopes(granted),
            &scopes(baseline),
        )
    }

    #[test]
    fn asks_the_rules_like_a_call() {
        let policy = policy("POST", "mcp:tools:weather mcp:tools:sum", "");
        assert!(policy.allows(ListKind::Tools, "weather_now"));
        assert!(policy.allows(ListKind::Tools, "sum"));
        assert!(!policy.allows(ListKind::Tools, "delete"));
        // No rule for prompts/get under default: deny.
        assert!(!policy.allows(ListKind::Prompts, "sum"));
        assert!(policy.allows(ListKind::Resources, "docs://a"));
        assert!(policy.allows(ListKind::ResourceTemplates, "docs://{path}"));
        assert!(!policy.allows(ListKind::Resources, "file:///etc"));
    }

    #[test]
    fn a_value_that_cannot_be_a_scope_hides_the_entry() {
        let policy = policy("POST", "mcp:tools:*", "");
        assert!(policy.allows(ListKind::Tools, "fine"));
        for name in ["two words", "a:b", "star*", "", "quote\""] {
            assert!(!policy.allows(ListKind::Tools, name), "{name:?}");
        }
    }

    #[test]
    fn the_http_method_and_path_of_the_list_request_count() {
        assert!(policy("GET", "", "").allows(ListKind::Tools, "delete"));
        assert!(!policy("POST", "", "").allows(ListKind::Tools, "delete"));
    }

    #[test]
    fn the_baseline_is_needed() {
        let policy = policy("POST", "mcp:tools:sum", "mcp:base");
        assert!(!policy.allows(ListKind::Tools, "sum"));
        let policy = policy_with_base();
        assert!(policy.allows(ListKind::Tools, "sum"));
    }

    fn policy_with_base() -> EntryPolicy {
        policy("POST", "mcp:tools:sum mcp:base", "mcp:base")
    }

    #[test]
    fn authenticated_mode_keeps_everything() {
        let policy = EntryPolicy::keep_all();
        assert!(policy.keeps_all());
        assert!(policy.allows(ListKind::Tools, "two words"));
        assert!(EntryPolicy::keep_all().allows(ListKind::Resources, "x"));
    }
}
