//! The isolate's rules cache (README "Workers KV"): when to read KV key `rules` again, what a
//! read changes, and which rules a request sees. Pure, with the clock injected, like the key
//! cache in `refresh::policy::key_cache`: the adapter reads KV and hands the outcome over.
//!
//! Never widen: a document that does not parse or validate, a failed read, or a document
//! deleted after one was loaded never opens the gate. The transitions (`current` → after a
//! read):
//!
//! | read | from `Unknown` / `Absent` | from `Loaded` | from `Unusable` |
//! |---|---|---|---|
//! | valid document | `Loaded` | `Loaded` (the new one) | `Loaded` |
//! | invalid document | `Unusable` | keep `Loaded` | `Unusable` |
//! | no key | `Absent` | keep `Loaded` | `Unusable` |
//! | read failed | `Unusable` from `Unknown`, else keep | keep | keep |

use std::rc::Rc;

use super::document::RuleSet;

/// How long an isolate trusts its rules before reading KV again. A change written to KV takes
/// effect within KV's propagation time plus this.
pub const RULES_REFRESH_MS: u64 = 30_000;

/// The rules as this isolate knows them.
#[derive(Debug, Clone, Default)]
pub enum RulesSlot {
    /// Never read yet.
    #[default]
    Unknown,
    /// No document in KV, and none was ever loaded by this isolate.
    Absent,
    /// The last valid document.
    Loaded(Rc<RuleSet>),
    /// Invalid, or unreadable at the first read, or deleted after a failed load, with no
    /// earlier valid document.
    Unusable,
}

/// The rules a request is decided by.
#[derive(Debug, Clone, Copy)]
pub enum RulesView<'a> {
    /// A valid rules document.
    Document(&'a RuleSet),
    /// No document was ever loaded and `REQUIRE_RULES=false`: a valid token with
    /// `REQUIRED_SCOPES` is enough.
    Authenticated,
    /// No usable rules (invalid with no earlier valid one, or unreadable): every protected
    /// request gets 503.
    Unavailable,
    /// No document, and `REQUIRE_RULES` (the default): every protected request gets 503
    /// saying how to write one.
    Missing,
}

impl RulesSlot {
    /// What a request sees, given `REQUIRE_RULES`: a missing document is authenticated mode
    /// only when rules are not required (and never after one was loaded: then the slot is
    /// still `Loaded`).
    pub fn view(&self, require_rules: bool) -> RulesView<'_> {
        match self {
            Self::Loaded(set) => RulesView::Document(set),
            Self::Absent if !require_rules => RulesView::Authenticated,
            Self::Absent => RulesView::Missing,
            // Not read yet means not known to be valid: never authenticated mode.
            Self::Unknown | Self::Unusable => RulesView::Unavailable,
        }
    }

    /// The state's name for `/healthz`.
    pub fn state_name(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Absent => "absent",
            Self::Loaded(_) => "loaded",
            Self::Unusable => "unusable",
        }
    }
}

/// The outcome of reading KV key `rules`.
#[derive(Debug, Clone, Copy)]
pub enum RulesRead<'a> {
    /// The key holds these bytes.
    Found(&'a [u8]),
    /// No such key.
    NoKey,
    /// The read failed (its error text, for the log).
    Failed(&'a str),
}

/// What the adapter should log about a read (nothing when the read changed nothing notable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesEvent {
    /// The document does not parse or validate (the reason, never its content).
    Invalid(String),
    /// The key was deleted after a valid document was loaded: the last one is kept.
    MissingAfterLoad,
    /// The KV read failed.
    ReadFailed(String),
}

/// Non-secret rules state for `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesSnapshot {
    /// The document's `version`, when loaded.
    pub version: Option<u64>,
    /// The slot's name.
    pub state: &'static str,
    /// Seconds since the document in use was loaded.
    pub age_seconds: Option<u64>,
}

/// The rules cache of one isolate.
#[derive(Debug, Clone, Default)]
pub struct RulesCache {
    slot: RulesSlot,
    loaded_at_ms: Option<u64>,
    checked_at_ms: Option<u64>,
}

impl RulesCache {
    /// Whether KV should be read now: never read, or read [`RULES_REFRESH_MS`] ago or more
    /// (or the clock went back).
    pub fn due(&self, now_ms: u64) -> bool {
        self.checked_at_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= RULES_REFRESH_MS || now_ms < t)
    }

    /// Marks a read as started at `now_ms`, so that concurrent requests do not read again.
    pub fn begin_read(&mut self, now_ms: u64) {
        self.checked_at_ms = Some(now_ms);
    }

    /// Applies the outcome of a read (see the table in the module documentation).
    pub fn apply(&mut self, read: RulesRead<'_>, now_ms: u64) -> Option<RulesEvent> {
        let parsed = match read {
            RulesRead::Found(bytes) => Some(
                std::str::from_utf8(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|text| RuleSet::parse(text).map_err(|e| e.to_string())),
            ),
            RulesRead::NoKey | RulesRead::Failed(_) => None,
        };
        match (read, parsed, &self.slot) {
            (_, Some(Ok(set)), _) => {
                self.slot = RulesSlot::Loaded(Rc::new(set));
                self.loaded_at_ms = Some(now_ms);
                None
            }
            (_, Some(Err(why)), RulesSlot::Loaded(_)) => Some(RulesEvent::Invalid(why)),
            (_, Some(Err(why)), RulesSlot::Unknown | RulesSlot::Absent | RulesSlot::Unusable) => {
                self.slot = RulesSlot::Unusable;
                Some(RulesEvent::Invalid(why))
            }
            (RulesRead::NoKey, None, RulesSlot::Unknown | RulesSlot::Absent) => {
                self.slot = RulesSlot::Absent;
                None
            }
            (RulesRead::NoKey, None, RulesSlot::Loaded(_) | RulesSlot::Unusable) => {
                Some(RulesEvent::MissingAfterLoad)
            }
            (RulesRead::Failed(why), None, RulesSlot::Unknown) => {
                // A first read that fails must never mean "no document".
                self.slot = RulesSlot::Unusable;
                Some(RulesEvent::ReadFailed(why.to_owned()))
            }
            (
                RulesRead::Failed(why),
                None,
                RulesSlot::Absent | RulesSlot::Loaded(_) | RulesSlot::Unusable,
            ) => Some(RulesEvent::ReadFailed(why.to_owned())),
            // `parsed` is `Some` exactly for `Found`.
            (RulesRead::Found(_), None, _) => None,
        }
    }

    /// The rules in use.
    pub fn slot(&self) -> &RulesSlot {
        &self.slot
    }

    /// The state for `/healthz` at `now_ms`.
    pub fn snapshot(&self, now_ms: u64) -> RulesSnapshot {
        RulesSnapshot {
            version: match &self.slot {
                RulesSlot::Loaded(set) => Some(set.version()),
                RulesSlot::Unknown | RulesSlot::Absent | RulesSlot::Unusable => None,
            },
            state: self.slot.state_name(),
            age_seconds: self.loaded_at_ms.map(|t| now_ms.saturating_sub(t) / 1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::DefaultDecision;

    const VALID: &[u8] = br#"{"version":1,"default":"deny","rules":[]}"#;
    const OTHER: &[u8] = br#"{"version":1,"default":"authenticated","rules":[]}"#;
    const INVALID: &[u8] = br#"{"version":1,"default":"allow","rules":[]}"#;

    fn loaded(cache: &RulesCache) -> &RuleSet {
        match cache.slot() {
            RulesSlot::Loaded(set) => set,
            other => panic!("expected loaded rules, got {other:?}"),
        }
    }

    #[test]
    fn reads_are_due_every_30_seconds() {
        let mut cache = RulesCache::default();
        assert!(cache.due(0));
        cache.begin_read(1_000);
        assert!(!cache.due(1_000) && !cache.due(30_999));
        assert!(cache.due(31_000));
        assert!(cache.due(500), "a clock that went back reads again");
    }

    #[test]
    fn a_valid_document_loads_and_replaces_the_last() {
        let mut cache = RulesCache::default();
        assert_eq!(cache.apply(RulesRead::Found(VALID), 1_000), None);
        assert!(matches!(
            cache.slot().view(true),
            RulesView::Document(set) if set.default_decision() == DefaultDecision::Deny
        ));
        cache.apply(RulesRead::Found(OTHER), 2_000);
        assert_eq!(
            loaded(&cache).default_decision(),
            DefaultDecision::Authenticated
        );
        assert_eq!(cache.snapshot(12_000).age_seconds, Some(10));
        assert_eq!(cache.snapshot(12_000).state, "loaded");
        assert_eq!(cache.snapshot(12_000).version, Some(1));
    }

    #[test]
    fn an_invalid_document_never_opens_the_gate() {
        // With nothing before: unusable, whatever REQUIRE_RULES says.
        let mut cache = RulesCache::default();
        assert!(matches!(
            cache.apply(RulesRead::Found(INVALID), 0),
            Some(RulesEvent::Invalid(_))
        ));
        assert!(matches!(cache.slot().view(false), RulesView::Unavailable));
        // After a valid one: the valid one is kept.
        let mut cache = RulesCache::default();
        cache.apply(RulesRead::Found(VALID), 0);
        assert!(matches!(
            cache.apply(RulesRead::Found(b"not json"), 1),
            Some(RulesEvent::Invalid(_))
        ));
        assert_eq!(loaded(&cache).default_decision(), DefaultDecision::Deny);
        // Bytes that are not UTF-8 are an invalid document too.
        let mut cache = RulesCache::default();
        cache.apply(RulesRead::Found(b"\xff"), 0);
        assert!(matches!(cache.slot(), RulesSlot::Unusable));
    }

    #[test]
    fn a_missing_document_is_503_unless_rules_are_not_required() {
        let mut cache = RulesCache::default();
        assert_eq!(cache.apply(RulesRead::NoKey, 0), None);
        assert!(matches!(cache.slot().view(true), RulesView::Missing));
        assert!(matches!(cache.slot().view(false), RulesView::Authenticated));
        assert_eq!(cache.snapshot(0).state, "absent");
    }

    #[test]
    fn deleting_the_document_after_a_load_keeps_the_last_rules() {
        let mut cache = RulesCache::default();
        cache.apply(RulesRead::Found(VALID), 0);
        assert_eq!(
            cache.apply(RulesRead::NoKey, 1),
            Some(RulesEvent::MissingAfterLoad)
        );
        assert!(matches!(cache.slot().view(false), RulesView::Document(_)));
        // After an invalid first document, a deletion does not reach authenticated mode.
        let mut cache = RulesCache::default();
        cache.apply(RulesRead::Found(INVALID), 0);
        cache.apply(RulesRead::NoKey, 1);
        assert!(matches!(cache.slot().view(false), RulesView::Unavailable));
    }

    #[test]
    fn a_failed_read_never_means_no_document() {
        let mut cache = RulesCache::default();
        assert_eq!(
            cache.apply(RulesRead::Failed("timeout"), 0),
            Some(RulesEvent::ReadFailed("timeout".into()))
        );
        assert!(matches!(cache.slot().view(false), RulesView::Unavailable));
        // Later failures keep what there is.
        let mut cache = RulesCache::default();
        cache.apply(RulesRead::Found(VALID), 0);
        cache.apply(RulesRead::Failed("timeout"), 1);
        assert!(matches!(cache.slot().view(true), RulesView::Document(_)));
        let mut cache = RulesCache::default();
        cache.apply(RulesRead::NoKey, 0);
        cache.apply(RulesRead::Failed("timeout"), 1);
        assert!(matches!(cache.slot().view(false), RulesView::Authenticated));
    }

    #[test]
    fn not_read_yet_is_unavailable() {
        let cache = RulesCache::default();
        assert!(matches!(cache.slot().view(false), RulesView::Unavailable));
        assert_eq!(cache.snapshot(5).state, "unknown");
        assert_eq!(cache.snapshot(5).age_seconds, None);
    }
}
