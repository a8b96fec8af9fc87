//! Strict JSON checks that `serde_json` leaves to the caller.
//!
//! `serde_json` keeps the last of duplicate object members when it builds a `Value`, and two
//! parsers disagreeing on which duplicate wins is how a token or JSON-RPC message can mean one
//! thing to the gate and another to the origin. This walks the document once with serde's
//! visitor machinery (no hand-written parser) and refuses any object with a repeated name.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The document is not strict JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictJsonError {
    /// Not JSON at all (syntax error, trailing data).
    Syntax(String),
    /// An object repeats a member name.
    DuplicateMember,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(why) => write!(f, "not valid JSON: {why}"),
            Self::DuplicateMember => f.write_str("an object repeats a member name"),
            Self::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
        }
    }
}

/// Nesting limit; `serde_json` stops at 128 as well, this keeps the message clear.
pub const MAX_DEPTH: usize = 64;

const DUPLICATE: &str = "\u{0}duplicate member";
const TOO_DEEP: &str = "\u{0}too deep";

/// Fails when `json` is not valid JSON or repeats a member name in any object.
pub fn check(json: &[u8]) -> Result<(), StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let result = UniqueMembers { depth: 0 }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    result.map_err(|e| {
        let text = e.to_string();
        if text.starts_with(DUPLICATE) {
            StrictJsonError::DuplicateMember
        } else if text.starts_with(TOO_DEEP) {
            StrictJsonError::TooDeep
        } else {
            StrictJsonError::Syntax(text)
        }
    })
}

#[derive(Clone, Copy)]
struct UniqueMembers {
    depth: usize,
}

impl UniqueMembers {
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(Self {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for UniqueMembers {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueMembers {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_strict_json() {
        check(br#"{"a":1,"b":[{"a":2},{"a":3}],"c":{"d":null}}"#).unwrap();
        check(b"[]").unwrap();
        check(b"\"x\"").unwrap();
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert_eq!(
            check(br#"{"a":1,"a":2}"#),
            Err(StrictJsonError::DuplicateMember)
        );
        assert_eq!(
            check(br#"[{"x":{"y":1,"y":1}}]"#),
            Err(StrictJsonError::DuplicateMember)
        );
        // An escaped name is the same name.
        assert_eq!(
            check(br#"{"a":1,"\u0061":2}"#),
            Err(StrictJsonError::DuplicateMember)
        );
    }

    #[test]
    fn refuses_bad_syntax_and_depth() {
        assert!(matches!(check(b"{"), Err(StrictJsonError::Syntax(_))));
        assert!(matches!(check(b"{} {}"), Err(StrictJsonError::Syntax(_))));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert_eq!(check(deep.as_bytes()), Err(StrictJsonError::TooDeep));
    }
}
