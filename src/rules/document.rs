//! The rules document (README "Scope rules"): its JSON shape, validation, and the compiled [`RuleSet`].

use super::error::{RuleProblem, RulesError};
use super::pattern::Pattern;
use super::template::ScopeTemplate;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

/// The only document version this gate reads.
pub const RULES_VERSION: u64 = 1;

/// The document as written. `deny_unknown_fields` everywhere: a typo is an error, never a
/// silently ignored (and so wider) rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    version: u64,
    default: DefaultDecision,
    rules: Vec<ObjectOnly<RawRule>>,
    #[serde(default)]
    allow_global_wildcard: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(rename = "match")]
    matcher: ObjectOnly<RawMatch>,
    require: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default, deserialize_with = "present_string")]
    method: Option<String>,
    #[serde(default, deserialize_with = "present_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present_string")]
    uri: Option<String>,
    #[serde(default, deserialize_with = "present_string")]
    http_method: Option<String>,
    #[serde(default, deserialize_with = "present_string")]
    path: Option<String>,
}

/// An optional pattern: absent is `None`, but a present value must be a string (`null` is an
/// error, not "match anything").
fn present_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// `T` read from a JSON object only. serde's derived structs also accept a JSON array of the
/// field values in order (`[1, "deny", []]`), which is not the documented format.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(ObjectOnly)
    }
}

/// What happens when no rule matches a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultDecision {
    /// `403 access_denied`, no challenge.
    Deny,
    /// A valid token with `REQUIRED_SCOPES` is enough.
    Authenticated,
}

impl DefaultDecision {
    /// The document spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultDecision::Deny => "deny",
            DefaultDecision::Authenticated => "authenticated",
        }
    }
}

/// A validated, compiled rules document. Parse once, use for every request until the document
/// changes. (Authenticated mode without a document is `RulesView::Authenticated`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) default: DefaultDecision,
    pub(crate) allow_global_wildcard: bool,
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) matcher: Match,
    pub(crate) require: Vec<ScopeTemplate>,
}

/// The compiled `match` object: every present pattern must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Match {
    pub(crate) method: Option<Pattern>,
    pub(crate) name: Option<Pattern>,
    pub(crate) uri: Option<Pattern>,
    pub(crate) http_method: Option<Pattern>,
    pub(crate) path: Option<Pattern>,
}

impl Rule {
    /// The rule's `name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `require` entries as written (templates unfilled).
    pub fn require(&self) -> impl Iterator<Item = &str> {
        self.require.iter().map(ScopeTemplate::as_str)
    }
}

impl RuleSet {
    /// Reads and validates a rules document. See [`RulesError`] for what is refused.
    pub fn parse(json: &str) -> Result<RuleSet, RulesError> {
        let ObjectOnly(raw) =
            serde_json::from_str::<ObjectOnly<RawDocument>>(json).map_err(syntax_error)?;
        if raw.version != RULES_VERSION {
            return Err(RulesError::UnsupportedVersion { found: raw.version });
        }
        let mut first_index_of_name: HashMap<&str, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (index, ObjectOnly(raw_rule)) in raw.rules.iter().enumerate() {
            let fail = |field: &str, problem: RuleProblem| RulesError::Rule {
                index,
                name: raw_rule.name.clone(),
                field: field.to_owned(),
                problem,
            };
            if raw_rule.name.is_empty() || raw_rule.name.chars().any(char::is_control) {
                return Err(fail("name", RuleProblem::BadName));
            }
            if let Some(first_index) = first_index_of_name.insert(&raw_rule.name, index) {
                return Err(fail("name", RuleProblem::DuplicateName { first_index }));
            }
            let matcher = compile_match(&raw_rule.matcher.0).map_err(|(f, p)| fail(f, p))?;
            let require = compile_require(&raw_rule.require, matcher.name.is_some())
                .map_err(|(f, p)| fail(&f, p))?;
            rules.push(Rule {
                name: raw_rule.name.clone(),
                matcher,
                require,
            });
        }
        Ok(RuleSet {
            rules,
            default: raw.default,
            allow_global_wildcard: raw.allow_global_wildcard,
        })
    }

    /// The rules in document order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The document's `default`.
    pub fn default_decision(&self) -> DefaultDecision {
        self.default
    }

    /// The document's `allow_global_wildcard`.
    pub fn allow_global_wildcard(&self) -> bool {
        self.allow_global_wildcard
    }

    /// The document version (for `/healthz`).
    pub fn version(&self) -> u64 {
        RULES_VERSION
    }
}

/// serde_json's message ends in " at line L column C"; the position is kept separately.
fn syntax_error(error: serde_json::Error) -> RulesError {
    let (line, column) = (error.line(), error.column());
    let full = error.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    RulesError::Syntax {
        message,
        line,
        column,
    }
}

type FieldProblem<F> = (F, RuleProblem);

fn compile_match(raw: &RawMatch) -> Result<Match, FieldProblem<&'static str>> {
    Ok(Match {
        method: compile_pattern("match.method", raw.method.as_deref(), |_| Ok(()))?,
        name: compile_pattern("match.name", raw.name.as_deref(), |_| Ok(()))?,
        uri: compile_pattern("match.uri", raw.uri.as_deref(), |_| Ok(()))?,
        http_method: compile_pattern("match.http_method", raw.http_method.as_deref(), |p| {
            if p.bytes().all(|b| b.is_ascii_uppercase() || b == b'*') {
                Ok(())
            } else {
                Err(RuleProblem::BadHttpMethodPattern)
            }
        })?,
        path: compile_pattern("match.path", raw.path.as_deref(), |p| {
            let starts_well = p.starts_with('/') || p.starts_with('*');
            let clean = !p.contains(['?', '#']) && !p.chars().any(char::is_whitespace);
            if starts_well && clean {
                Ok(())
            } else {
                Err(RuleProblem::BadPathPattern)
            }
        })?,
    })
}

fn compile_pattern(
    field: &'static str,
    source: Option<&str>,
    check: impl Fn(&str) -> Result<(), RuleProblem>,
) -> Result<Option<Pattern>, FieldProblem<&'static str>> {
    let Some(source) = source else {
        return Ok(None);
    };
    if source.is_empty() {
        return Err((field, RuleProblem::EmptyPattern));
    }
    if source.chars().any(char::is_control) {
        return Err((field, RuleProblem::ControlCharacterInPattern));
    }
    check(source).map_err(|problem| (field, problem))?;
    Ok(Some(Pattern::compile(source)))
}

fn compile_require(
    raw: &[String],
    matches_name: bool,
) -> Result<Vec<ScopeTemplate>, FieldProblem<String>> {
    let mut templates: Vec<ScopeTemplate> = Vec::with_capacity(raw.len());
    for (index, source) in raw.iter().enumerate() {
        let field = || format!("require[{index}]");
        let template =
            ScopeTemplate::parse(source).map_err(|p| (field(), RuleProblem::BadScope(p)))?;
        if template.uses_name() && !matches_name {
            return Err((field(), RuleProblem::NameTemplateWithoutNamePattern));
        }
        if templates.iter().any(|seen| seen.as_str() == source) {
            return Err((field(), RuleProblem::DuplicateScope));
        }
        templates.push(template);
    }
    Ok(templates)
}
