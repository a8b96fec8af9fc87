//! The AS-metadata mirror's memory and rate limit (README "Key lifecycle"): how long an
//! isolate serves the document it holds, and how often public, unauthenticated traffic may
//! cause a live fetch from the authorization server. Pure, with the clock injected; the adapter
//! reads KV and fetches.

/// How long the mirror serves a document from isolate memory, and the least time between two
/// live fetches caused by requests.
pub const MIRROR_MEMORY_MS: u64 = 30_000;

/// One isolate's mirror state.
#[derive(Debug, Clone, Default)]
pub struct MirrorMemory {
    document: Option<(Vec<u8>, u64)>,
    last_live_fetch_ms: Option<u64>,
}

impl MirrorMemory {
    /// The document held in memory, while it is fresh (younger than [`MIRROR_MEMORY_MS`]).
    pub fn fresh(&self, now_ms: u64) -> Option<&[u8]> {
        match &self.document {
            Some((doc, at)) if now_ms >= *at && now_ms - *at < MIRROR_MEMORY_MS => Some(doc),
            Some(_) | None => None,
        }
    }

    /// Whether a request may cause a live fetch now (KV has no copy): at most one per
    /// [`MIRROR_MEMORY_MS`] per isolate, whatever the traffic. A yes counts as the fetch.
    pub fn take_live_fetch(&mut self, now_ms: u64) -> bool {
        let allowed = self
            .last_live_fetch_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= MIRROR_MEMORY_MS || now_ms < t);
        if allowed {
            self.last_live_fetch_ms = Some(now_ms);
        }
        allowed
    }

    /// Remembers a document read from KV or fetched at `now_ms`.
    pub fn remember(&mut self, document: Vec<u8>, now_ms: u64) {
        self.document = Some((document, now_ms));
    }

    /// The document served before, however old: stale-on-error, when neither KV nor a live
    /// fetch has one now.
    pub fn stale(&self) -> Option<&[u8]> {
        self.document.as_ref().map(|(doc, _)| doc.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_fresh_for_30_seconds_then_stale() {
        let mut memory = MirrorMemory::default();
        assert_eq!(memory.fresh(0), None);
        assert_eq!(memory.stale(), None);
        memory.remember(b"doc".to_vec(), 1_000);
        assert_eq!(memory.fresh(1_000), Some(&b"doc"[..]));
        assert_eq!(memory.fresh(30_999), Some(&b"doc"[..]));
        assert_eq!(memory.fresh(31_000), None);
        assert_eq!(
            memory.fresh(999),
            None,
            "a clock that went back is not fresh"
        );
        assert_eq!(memory.stale(), Some(&b"doc"[..]));
    }

    #[test]
    fn live_fetches_are_limited_to_one_per_30_seconds() {
        let mut memory = MirrorMemory::default();
        assert!(memory.take_live_fetch(10_000));
        for now in [10_000, 10_001, 39_999] {
            assert!(!memory.take_live_fetch(now), "{now}");
        }
        assert!(memory.take_live_fetch(40_000));
        assert!(!memory.take_live_fetch(40_001));
        assert!(
            memory.take_live_fetch(5_000),
            "a clock that went back may fetch"
        );
    }
}
