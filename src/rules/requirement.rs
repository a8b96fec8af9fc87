//! From a request to the scopes it needs ([`RuleSet::requirement`]), then from granted scopes
//! to a decision ([`Requirement::check`]). The first step needs no token, so the `401`
//! challenge can already say which scopes to ask for.

use super::document::{DefaultDecision, Match, Rule, RuleSet};
use super::error::AuthzError;
use super::grant::any_covers;
use super::pattern::Pattern;
use crate::rpc::{RpcBody, RpcCall, RpcMessage};

/// What authorization knows about a request, independent of its token.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The HTTP method, as received (`POST`, `GET`, `DELETE`).
    pub http_method: &'a str,
    /// The URL path without the query, as received (not decoded).
    pub path: &'a str,
    /// The inspected JSON-RPC body of a POST; `None` for requests without one (GET streams,
    /// DELETE of a session), which are then matched by `http_method`/`path` only.
    pub body: Option<&'a RpcBody>,
}

/// The scopes a request needs, message by message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    messages: Vec<MessageRequirement>,
    allow_global_wildcard: bool,
}

/// The decision for one JSON-RPC message (or for the body-less request as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRequirement {
    /// The message's method; `None` for a response or a body-less request.
    pub rpc_method: Option<String>,
    /// The message's `name` (tool, prompt), if any.
    pub rpc_name: Option<String>,
    /// The message's `uri` (resource), if any.
    pub rpc_uri: Option<String>,
    pub decision: Decision,
}

/// How one message is decided (see the precedence in [`RuleSet::requirement`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A rule matched: its scopes (templates filled) plus the baseline are needed.
    Rule {
        /// The rule's name.
        rule: String,
        /// The rule's 0-based index in the document.
        index: usize,
        /// The rule's concrete required scopes.
        scopes: Vec<String>,
    },
    /// A JSON-RPC response: the baseline is enough (README "Scope rules").
    Response,
    /// No rule matched under `default: authenticated`, or authenticated mode: the baseline is
    /// enough.
    Authenticated,
    /// No rule matched under `default: deny`: refused whatever the token holds.
    Denied,
}

/// An allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Names of the rules that decided, deduplicated, in message order (empty when only the
    /// baseline applied).
    pub rules: Vec<String>,
    /// Every scope the request needed (baseline first), deduplicated.
    pub required: Vec<String>,
}

impl Grant {
    /// The deciding rules for the log line, comma-separated (`None` when only the baseline
    /// applied).
    pub fn rule_names(&self) -> Option<String> {
        (!self.rules.is_empty()).then(|| self.rules.join(","))
    }
}

impl RuleSet {
    /// The scopes `request` needs, computed from the request alone.
    ///
    /// Each JSON-RPC message is decided on its own, by the first of these that applies:
    /// 1. a JSON-RPC response (the client's answer to a server request): the first rule, in
    ///    document order, that matches by `http_method`/`path` alone (no `method`, `name` or
    ///    `uri`) decides; with none, the baseline (`REQUIRED_SCOPES`) is enough, even under
    ///    `default: deny`;
    /// 2. the first rule, in document order, whose `match` holds decides: its `require`
    ///    scopes with `{name}` filled in, plus the baseline;
    /// 3. otherwise `default: authenticated` (and authenticated mode) needs only the baseline;
    /// 4. otherwise the message is denied.
    ///
    /// A request without a body is one subject matched by `http_method` and `path` only.
    /// Fails with [`AuthzError::BadTemplateValue`] when some `{name}` value cannot be a scope.
    pub fn requirement(&self, request: &RequestFacts<'_>) -> Result<Requirement, AuthzError> {
        let messages = match request.body {
            None => vec![self.decide(request, None)?],
            Some(body) => body
                .messages()
                .iter()
                .map(|message| match message {
                    RpcMessage::Call(call) => self.decide(request, Some(call)),
                    // With no call, a rule with a `method`, `name` or `uri` pattern never
                    // holds: only rules on `http_method`/`path` alone (or `match: {}`) apply.
                    RpcMessage::Response => self.decide_response(request),
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(Requirement {
            messages,
            allow_global_wildcard: self.allow_global_wildcard,
        })
    }

    /// A JSON-RPC response: a rule on `http_method`/`path` decides, else the baseline alone.
    fn decide_response(
        &self,
        request: &RequestFacts<'_>,
    ) -> Result<MessageRequirement, AuthzError> {
        self.first_match(request, None, Decision::Response)
    }

    /// A call, or a request without a body: a rule decides, else `default`.
    fn decide(
        &self,
        request: &RequestFacts<'_>,
        call: Option<&RpcCall>,
    ) -> Result<MessageRequirement, AuthzError> {
        let otherwise = match self.default {
            DefaultDecision::Authenticated => Decision::Authenticated,
            DefaultDecision::Deny => Decision::Denied,
        };
        self.first_match(request, call, otherwise)
    }

    /// The first rule whose match holds decides; `otherwise` when none does.
    fn first_match(
        &self,
        request: &RequestFacts<'_>,
        call: Option<&RpcCall>,
        otherwise: Decision,
    ) -> Result<MessageRequirement, AuthzError> {
        let matched = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matcher.holds(request, call));
        let decision = match matched {
            Some((index, rule)) => Decision::Rule {
                rule: rule.name.clone(),
                index,
                scopes: fill(rule, call)?,
            },
            None => otherwise,
        };
        Ok(MessageRequirement {
            rpc_method: call.map(|call| call.method.clone()),
            rpc_name: call.and_then(|call| call.name.clone()),
            rpc_uri: call.and_then(|call| call.uri.clone()),
            decision,
        })
    }
}

fn fill(rule: &Rule, call: Option<&RpcCall>) -> Result<Vec<String>, AuthzError> {
    let name = call.and_then(|call| call.name.as_deref());
    rule.require
        .iter()
        .map(|template| {
            template
                .fill(name)
                .map_err(|reason| AuthzError::BadTemplateValue {
                    rule: rule.name.clone(),
                    reason,
                })
        })
        .collect()
}

impl Match {
    /// Every present pattern must hold. `method`, `name` and `uri` need a JSON-RPC call that
    /// has the value; `http_method` and `path` apply to every request.
    fn holds(&self, request: &RequestFacts<'_>, call: Option<&RpcCall>) -> bool {
        let on_call = |pattern: &Option<Pattern>, value: fn(&RpcCall) -> Option<&str>| match pattern
        {
            None => true,
            Some(pattern) => call.and_then(value).is_some_and(|v| pattern.matches(v)),
        };
        let on_request = |pattern: &Option<Pattern>, value: &str| match pattern {
            None => true,
            Some(pattern) => pattern.matches(value),
        };
        on_call(&self.method, |call| Some(call.method.as_str()))
            && on_call(&self.name, |call| call.name.as_deref())
            && on_call(&self.uri, |call| call.uri.as_deref())
            && on_request(&self.http_method, request.http_method)
            && on_request(&self.path, request.path)
    }
}

impl Requirement {
    /// The requirement of any request in authenticated mode (no rules document): the baseline
    /// alone.
    pub fn authenticated() -> Requirement {
        Requirement {
            messages: vec![MessageRequirement {
                rpc_method: None,
                rpc_name: None,
                rpc_uri: None,
                decision: Decision::Authenticated,
            }],
            allow_global_wildcard: false,
        }
    }

    /// The per-message decisions, in body order.
    pub fn messages(&self) -> &[MessageRequirement] {
        &self.messages
    }

    /// Every scope the request needs: `baseline` first, then each message's rule scopes,
    /// deduplicated in that order. Usable before any token is seen (the `401` challenge's
    /// `scope=`); denied messages contribute nothing (no scope would help them).
    pub fn scopes(&self, baseline: &[String]) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        let rule_scopes = self.messages.iter().flat_map(|message| message.scopes());
        for scope in baseline.iter().chain(rule_scopes) {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        scopes
    }

    /// Whether some message is denied whatever the token holds.
    pub fn is_denied(&self) -> bool {
        self.messages
            .iter()
            .any(|message| message.decision == Decision::Denied)
    }

    /// Applies the grant law to `granted` (the token's scopes). Every message must be allowed
    /// (a batch is all or nothing): a denied message gives [`AuthzError::NoRuleMatched`];
    /// otherwise every needed scope (see [`Requirement::scopes`]) must be covered by a granted
    /// scope, or [`AuthzError::InsufficientScope`] lists them.
    pub fn check(&self, granted: &[String], baseline: &[String]) -> Result<Grant, AuthzError> {
        if let Some(denied) = self
            .messages
            .iter()
            .find(|message| message.decision == Decision::Denied)
        {
            return Err(AuthzError::NoRuleMatched {
                rpc_method: denied.rpc_method.clone(),
                rpc_name: denied.rpc_name.clone(),
            });
        }
        let covered = |scope: &String| any_covers(granted, scope, self.allow_global_wildcard);
        let required = self.scopes(baseline);
        let missing: Vec<String> = required.iter().filter(|s| !covered(s)).cloned().collect();
        if missing.is_empty() {
            let mut rules: Vec<String> = Vec::new();
            for message in &self.messages {
                if let Some(rule) = message.rule() {
                    if !rules.iter().any(|seen| seen == rule) {
                        rules.push(rule.to_owned());
                    }
                }
            }
            return Ok(Grant { rules, required });
        }
        // Blame the first message whose own rule scopes are missing something; if only the
        // baseline is missing, the first message.
        let blamed = self
            .messages
            .iter()
            .find(|message| message.scopes().iter().any(|s| !covered(s)))
            .or_else(|| self.messages.first());
        Err(AuthzError::InsufficientScope {
            required,
            missing,
            rule: blamed.and_then(|m| m.rule()).map(str::to_owned),
            rpc_method: blamed.and_then(|m| m.rpc_method.clone()),
            rpc_name: blamed.and_then(|m| m.rpc_name.clone()),
        })
    }
}

impl MessageRequirement {
    /// The deciding rule's name, when a rule decided.
    pub fn rule(&self) -> Option<&str> {
        match &self.decision {
            Decision::Rule { rule, .. } => Some(rule),
            Decision::Response | Decision::Authenticated | Decision::Denied => None,
        }
    }

    /// The rule's concrete scopes (empty unless a rule decided).
    pub fn scopes(&self) -> &[String] {
        match &self.decision {
            Decision::Rule { scopes, .. } => scopes,
            Decision::Response | Decision::Authenticated | Decision::Denied => &[],
        }
    }
}
