//! Bounded memory of `kid`s that were still unknown after a refresh.

use std::collections::VecDeque;

/// Most `kid`s remembered; the oldest is forgotten first.
pub const NEGATIVE_KID_CAPACITY: usize = 256;
/// How long a `kid` stays remembered as unknown: 5 minutes.
pub const NEGATIVE_KID_TTL_MS: u64 = 5 * 60 * 1000;
/// Longer `kid`s are not remembered (memory stays bounded at capacity × this). Forgetting one
/// costs nothing but its place in the cooldown queue: it still cannot cause more than one
/// fetch per cooldown.
pub const MAX_REMEMBERED_KID_BYTES: usize = 256;

/// `kid`s a completed refresh did not find, with when that was (Unix ms), oldest first.
#[derive(Debug, Clone, Default)]
pub struct NegativeKids {
    entries: VecDeque<(String, u64)>,
}

impl NegativeKids {
    /// Whether `kid` was found missing less than [`NEGATIVE_KID_TTL_MS`] before `now_ms`.
    pub fn contains(&self, kid: &str, now_ms: u64) -> bool {
        self.entries
            .iter()
            .any(|(known, at)| known == kid && now_ms.saturating_sub(*at) < NEGATIVE_KID_TTL_MS)
    }

    /// Remembers `kid` as unknown at `now_ms`, dropping expired entries and, beyond
    /// [`NEGATIVE_KID_CAPACITY`], the oldest ones.
    pub fn insert(&mut self, kid: &str, now_ms: u64) {
        if kid.len() > MAX_REMEMBERED_KID_BYTES {
            return;
        }
        self.entries
            .retain(|(known, at)| known != kid && now_ms.saturating_sub(*at) < NEGATIVE_KID_TTL_MS);
        self.entries.push_back((kid.to_owned(), now_ms));
        while self.entries.len() > NEGATIVE_KID_CAPACITY {
            self.entries.pop_front();
        }
    }

    /// Number of entries (expired ones included until the next insert).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut neg = NegativeKids::default();
        neg.insert("k", 1_000);
        assert!(neg.contains("k", 1_000 + NEGATIVE_KID_TTL_MS - 1));
        assert!(!neg.contains("k", 1_000 + NEGATIVE_KID_TTL_MS));
        assert!(!neg.contains("other", 1_000));
    }

    #[test]
    fn capacity_is_bounded_and_the_oldest_goes_first() {
        let mut neg = NegativeKids::default();
        for i in 0..(NEGATIVE_KID_CAPACITY + 50) {
            neg.insert(&format!("kid-{i}"), 10);
        }
        assert_eq!(neg.len(), NEGATIVE_KID_CAPACITY);
        assert!(!neg.contains("kid-0", 10));
        assert!(!neg.contains("kid-49", 10));
        assert!(neg.contains("kid-50", 10));
        assert!(neg.contains(&format!("kid-{}", NEGATIVE_KID_CAPACITY + 49), 10));
    }

    #[test]
    fn reinserting_refreshes_and_long_kids_are_not_kept() {
        let mut neg = NegativeKids::default();
        neg.insert("k", 0);
        neg.insert("k", NEGATIVE_KID_TTL_MS - 1);
        assert_eq!(neg.len(), 1);
        assert!(neg.contains("k", NEGATIVE_KID_TTL_MS + 10));
        neg.insert(&"x".repeat(MAX_REMEMBERED_KID_BYTES + 1), 0);
        assert_eq!(neg.len(), 1);
        neg.insert("later", 3 * NEGATIVE_KID_TTL_MS);
        assert_eq!(neg.len(), 1, "expired entries are dropped on insert");
    }
}
