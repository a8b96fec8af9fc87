//! Errors of the two rules stages: reading a rules document ([`RulesError`]) and authorizing
//! a request against it ([`AuthzError`]). Messages never echo request values or tokens.

use std::fmt;

/// Why a rules document is refused. An invalid document never opens the gate: the gate keeps
/// its last valid rules, or answers `503` without any (README "Workers KV").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesError {
    /// Not JSON, or not the document's shape: a syntax error, an unknown field (typos never
    /// open the gate), a missing required field, a wrong type, a duplicate field, a `default`
    /// other than `deny`/`authenticated`. `message` is the JSON reader's (it names the field);
    /// `line`/`column` locate the problem in the document.
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    /// `version` is not `1`, the only version this gate understands.
    UnsupportedVersion { found: u64 },
    /// One rule is invalid. `index` is 0-based in `rules`; `field` is the path inside the rule
    /// (`name`, `match.method`, `require[1]`, …).
    Rule {
        index: usize,
        name: String,
        field: String,
        problem: RuleProblem,
    },
}

/// What is wrong with one field of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleProblem {
    /// `name` is empty or holds control characters.
    BadName,
    /// Another rule already has this name (names identify rules in logs and answers).
    DuplicateName { first_index: usize },
    /// A match pattern is the empty string (omit the field to match anything).
    EmptyPattern,
    /// A match pattern holds control characters.
    ControlCharacterInPattern,
    /// An `http_method` pattern holds something other than `A`–`Z` and `*`. HTTP methods are
    /// case-sensitive upper-case tokens: `get` would never match and silently fall through.
    BadHttpMethodPattern,
    /// A `path` pattern does not start with `/` or `*`, or holds `?`, `#` or whitespace. Paths
    /// are matched without the query, so such a pattern would never match.
    BadPathPattern,
    /// A required scope is invalid; see [`ScopeProblem`].
    BadScope(ScopeProblem),
    /// The same scope is listed twice in `require`.
    DuplicateScope,
    /// A `require` entry uses `{name}` but the rule's `match` has no `name` pattern, so the
    /// request may have no name to fill it with.
    NameTemplateWithoutNamePattern,
}

/// What is wrong with a required scope (template) in `require`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeProblem {
    /// The scope is the empty string.
    Empty,
    /// Whitespace, control or non-ASCII character: OAuth scope tokens are printable ASCII
    /// (RFC 6749 §3.3) and travel in a quoted `WWW-Authenticate` parameter.
    ForbiddenCharacter,
    /// `"`, `'` or `\`: would break the quoted `scope="…"` parameter.
    Quote,
    /// `*`: a required scope is concrete; wildcards belong in granted scopes only.
    Wildcard,
    /// A placeholder other than `{name}` (there is no `{uri}`: URIs contain `:`; match them with
    /// `uri` patterns instead).
    UnknownPlaceholder,
    /// A `{` or `}` that is not part of `{name}`.
    StrayBrace,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesError::Syntax {
                message,
                line,
                column,
            } => write!(f, "line {line}, column {column}: {message}"),
            RulesError::UnsupportedVersion { found } => write!(
                f,
                "version: unsupported rules document version {found} (this gate reads version 1)"
            ),
            RulesError::Rule {
                index,
                name,
                field,
                problem,
            } => {
                if name.is_empty() {
                    write!(f, "rules[{index}]: {field}: {problem}")
                } else {
                    write!(f, "rules[{index}] ({name:?}): {field}: {problem}")
                }
            }
        }
    }
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleProblem::BadName => f.write_str("a rule name must be non-empty and free of control characters"),
            RuleProblem::DuplicateName { first_index } => {
                write!(f, "duplicate rule name (first used by rules[{first_index}])")
            }
            RuleProblem::EmptyPattern => {
                f.write_str("empty pattern (omit the field to match anything, or use \"*\")")
            }
            RuleProblem::ControlCharacterInPattern => {
                f.write_str("patterns cannot contain control characters")
            }
            RuleProblem::BadHttpMethodPattern => f.write_str(
                "http_method patterns are upper-case HTTP methods (A-Z, with optional *), e.g. \"GET\"",
            ),
            RuleProblem::BadPathPattern => f.write_str(
                "path patterns start with \"/\" or \"*\" and contain no \"?\", \"#\" or whitespace (the query is never matched)",
            ),
            RuleProblem::BadScope(problem) => write!(f, "{problem}"),
            RuleProblem::DuplicateScope => f.write_str("scope listed twice"),
            RuleProblem::NameTemplateWithoutNamePattern => f.write_str(
                "{name} needs a \"name\" pattern in this rule's match (e.g. \"name\": \"*\")",
            ),
        }
    }
}

impl fmt::Display for ScopeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScopeProblem::Empty => "empty scope",
            ScopeProblem::ForbiddenCharacter => {
                "scopes are printable ASCII without whitespace or control characters"
            }
            ScopeProblem::Quote => "scopes cannot contain quotes or backslashes",
            ScopeProblem::Wildcard => {
                "required scopes cannot contain \"*\" (wildcards belong in granted scopes)"
            }
            ScopeProblem::UnknownPlaceholder => {
                "unknown placeholder: only {name} is supported (match URIs with a \"uri\" pattern)"
            }
            ScopeProblem::StrayBrace => "\"{\" and \"}\" are only allowed as part of {name}",
        })
    }
}

impl std::error::Error for RulesError {}

/// Why a request is not authorized. Mapped to HTTP by the gate:
///
/// | variant | answer |
/// |---|---|
/// | [`AuthzError::BadTemplateValue`] | `400 invalid_request` |
/// | [`AuthzError::NoRuleMatched`] | `403 access_denied`, no challenge |
/// | [`AuthzError::InsufficientScope`] | `403` + `Bearer error="insufficient_scope", scope="<required>"` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzError {
    /// A `{name}` template would be filled with a value that cannot be part of a scope. The
    /// request is malformed; the value never becomes a scope and is not echoed.
    BadTemplateValue {
        /// Name of the rule whose template it is.
        rule: String,
        reason: BadValueReason,
    },
    /// No rule matched a message (or the body-less request) under `default: deny`. No scope
    /// would help, so there is no `insufficient_scope` challenge.
    NoRuleMatched {
        /// The JSON-RPC method of the refused message; `None` for a body-less request.
        rpc_method: Option<String>,
        rpc_name: Option<String>,
    },
    /// The token lacks scopes the request needs.
    InsufficientScope {
        /// Every scope this request needs: `REQUIRED_SCOPES` then each message's rule scopes,
        /// deduplicated, in that stable order. This is the challenge's `scope=` list.
        required: Vec<String>,
        /// The required scopes no granted scope covers (same order).
        missing: Vec<String>,
        /// The rule of the first message lacking a scope; `None` when only the baseline is
        /// missing for it.
        rule: Option<String>,
        /// Method and name of that message (`None` for a body-less request or a response).
        rpc_method: Option<String>,
        rpc_name: Option<String>,
    },
}

/// Why a `{name}` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadValueReason {
    /// The value is empty.
    Empty,
    /// Longer than [`crate::rules::MAX_TEMPLATE_VALUE_BYTES`].
    TooLong,
    /// Whitespace, control characters, quotes, backslash, `*`, `:` or non-ASCII.
    ForbiddenCharacter,
    /// The rule matched without a name (cannot happen: a `{name}` rule must match on `name`).
    Missing,
}

impl AuthzError {
    /// Short machine-readable reason for the log line.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthzError::BadTemplateValue { .. } => "bad_template_value",
            AuthzError::NoRuleMatched { .. } => "no_rule_matched",
            AuthzError::InsufficientScope { .. } => "insufficient_scope",
        }
    }

    /// `true` for `400 invalid_request` (a malformed request), `false` for the `403`s.
    pub fn is_bad_request(&self) -> bool {
        match self {
            AuthzError::BadTemplateValue { .. } => true,
            AuthzError::NoRuleMatched { .. } | AuthzError::InsufficientScope { .. } => false,
        }
    }

    /// For the step-up challenge: every scope the request needs (the `scope=` list) and the
    /// `error_description`. `None` unless [`AuthzError::InsufficientScope`].
    pub fn insufficient_scope(&self) -> Option<(&[String], String)> {
        match self {
            AuthzError::InsufficientScope { required, .. } => {
                Some((required.as_slice(), self.description()))
            }
            AuthzError::BadTemplateValue { .. } | AuthzError::NoRuleMatched { .. } => None,
        }
    }

    /// The rule involved, for the log line.
    pub fn rule_name(&self) -> Option<String> {
        match self {
            AuthzError::BadTemplateValue { rule, .. } => Some(rule.clone()),
            AuthzError::InsufficientScope { rule, .. } => rule.clone(),
            AuthzError::NoRuleMatched { .. } => None,
        }
    }

    /// The scopes the token lacks, for the log line (empty unless insufficient scope).
    pub fn missing_scopes(&self) -> Vec<String> {
        match self {
            AuthzError::InsufficientScope { missing, .. } => missing.clone(),
            AuthzError::BadTemplateValue { .. } | AuthzError::NoRuleMatched { .. } => Vec::new(),
        }
    }

    /// The value for `error_description`: safe inside a quoted header parameter (printable
    /// ASCII without `"` or `\`), never echoing a value that is not. Names the method and tool
    /// when they are safe to show.
    pub fn description(&self) -> String {
        match self {
            AuthzError::BadTemplateValue { rule, reason } => format!(
                "the request's name cannot be used in a scope of rule '{}': {}",
                header_safe(rule),
                match reason {
                    BadValueReason::Empty => "it is empty",
                    BadValueReason::TooLong => "it is too long",
                    BadValueReason::ForbiddenCharacter =>
                        "it contains whitespace, quotes, control characters, non-ASCII, * or :",
                    BadValueReason::Missing => "it is missing",
                }
            ),
            AuthzError::NoRuleMatched { rpc_method, .. } => match rpc_method {
                Some(method) => format!("no rule allows {}", header_safe(method)),
                None => "no rule allows this request".to_owned(),
            },
            AuthzError::InsufficientScope {
                missing,
                rpc_method,
                rpc_name,
                ..
            } => {
                let what = match (rpc_method, rpc_name) {
                    (Some(method), Some(name)) => {
                        format!("{} {}", header_safe(method), header_safe(name))
                    }
                    (Some(method), None) => header_safe(method),
                    (None, Some(_)) | (None, None) => "this request".to_owned(),
                };
                format!("{what} needs scope {}", missing.join(" "))
            }
        }
    }
}

impl fmt::Display for AuthzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

impl std::error::Error for AuthzError {}

/// Longest request value echoed into a description.
const MAX_ECHO: usize = 64;

/// `value` if it is short printable ASCII without quotes or backslashes, else a placeholder.
fn header_safe(value: &str) -> String {
    let safe = value.len() <= MAX_ECHO
        && !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if safe {
        value.to_owned()
    } else {
        "(unprintable)".to_owned()
    }
}
