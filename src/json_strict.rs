//! Strict JSON checks that `serde_json` leaves to the caller.
//!
//! `serde_json` keeps the last of duplicate object members when it builds a `Value`, and two
//! parsers disagreeing on which duplicate wins is how a token or JSON-RPC message can mean one
//! thing to the gate and another to the origin. This walks the document once with serde's
//! visitor machinery (no hand-written parser) and refuses any object with a repeated name —
//! repeated exactly, or under Unicode case folding (`name`/`Name`, `params`/`paramſ`,
//! `kind`/`\u212Aind`), since origins exist that match member names case-insensitively
//! (Go's `encoding/json`) — and any member name holding a control character (README "Request
//! hygiene"). `serde_json` itself refuses invalid UTF-8, lone surrogates (`"\ud800"`) and
//! trailing data.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The document is not strict JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictJsonError {
    /// Not JSON at all (syntax error, trailing data).
    Syntax(String),
    /// An object repeats a member name, exactly or under case folding.
    DuplicateMember,
    /// A member name holds a control character (U+0000–U+001F, U+007F–U+009F).
    ControlInName,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(why) => write!(f, "not valid JSON: {why}"),
            Self::DuplicateMember => f.write_str("an object repeats a member name"),
            Self::ControlInName => f.write_str("a member name holds a control character"),
            Self::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
        }
    }
}

/// Nesting limit; `serde_json` stops at 128 as well, this keeps the message clear.
pub const MAX_DEPTH: usize = 64;

const DUPLICATE: &str = "\u{0}duplicate member";
const TOO_DEEP: &str = "\u{0}too deep";
const CONTROL: &str = "\u{0}control character in a member name";

/// [`fold_case`] of a name the caller owns: an ASCII name, the common case, is folded in place
/// (no second allocation per member of every body and token).
fn folded(mut name: String) -> String {
    if name.is_ascii() {
        name.make_ascii_lowercase();
        name
    } else {
        fold_case(&name)
    }
}

/// A member name folded for comparison: equal results for names equal under Unicode simple
/// case folding (and a few more: full upper- then lower-casing also folds `ß` to `ss`, which
/// only refuses more). ASCII names, the common case, fold without allocating per character.
pub fn fold_case(name: &str) -> String {
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    // Twice: one round maps `ẞ` to `ß` and `ß` to `ss`; the second brings both to `ss`.
    let once: String = name
        .chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect();
    once.chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

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
        } else if text.starts_with(CONTROL) {
            StrictJsonError::ControlInName
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
            if key.chars().any(char::is_control) {
                return Err(de::Error::custom(CONTROL));
            }
            if !seen.insert(folded(key)) {
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
    fn refuses_names_equal_under_case_folding() {
        for doc in [
            r#"{"name":1,"Name":2}"#,
            r#"{"params":{},"param\u017f":{}}"#,
            r#"{"kind":1,"\u212Aind":2}"#,
            r#"{"x":[{"METHOD":1,"method":2}]}"#,
            r#"{"\u03c3":1,"\u03c2":2}"#,
            "{\"\u{df}\":1,\"\u{1e9e}\":2}",
        ] {
            assert_eq!(
                check(doc.as_bytes()),
                Err(StrictJsonError::DuplicateMember),
                "{doc}"
            );
        }
        check(br#"{"name":1,"names":2,"nam":3}"#).unwrap();
        assert_eq!(fold_case("N\u{212A}\u{17F}"), "nks");
    }

    #[test]
    fn refuses_control_characters_in_names_only() {
        for doc in [
            "{\"a\\u0000\":1}",
            "{\"a\\nb\":1}",
            "{\"\\u007f\":1}",
            "{\"\\u0085x\":1}",
        ] {
            assert_eq!(
                check(doc.as_bytes()),
                Err(StrictJsonError::ControlInName),
                "{doc}"
            );
        }
        check(br#"{"a":"line\nbreak"}"#).unwrap();
    }

    #[test]
    fn refuses_invalid_utf8_and_lone_surrogates() {
        assert!(matches!(
            check(b"{\"a\":\"\xff\"}"),
            Err(StrictJsonError::Syntax(_))
        ));
        assert!(matches!(
            check(b"{\"\xc3\":1}"),
            Err(StrictJsonError::Syntax(_))
        ));
        for doc in [r#"{"a":"\ud800"}"#, r#"{"\udc00":1}"#, r#"["\ud800x"]"#] {
            assert!(
                matches!(check(doc.as_bytes()), Err(StrictJsonError::Syntax(_))),
                "{doc}"
            );
        }
        check(r#"{"a":"\ud83d\ude00"}"#.as_bytes()).unwrap();
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            StrictJsonError::DuplicateMember.to_string(),
            "an object repeats a member name"
        );
        assert_eq!(
            StrictJsonError::TooDeep.to_string(),
            format!("nested deeper than {MAX_DEPTH} levels")
        );
        assert!(check(b"{")
            .unwrap_err()
            .to_string()
            .starts_with("not valid JSON: "));
    }

    #[test]
    fn refuses_bad_syntax_and_depth() {
        assert!(matches!(check(b"{"), Err(StrictJsonError::Syntax(_))));
        assert!(matches!(check(b"{} {}"), Err(StrictJsonError::Syntax(_))));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert_eq!(check(deep.as_bytes()), Err(StrictJsonError::TooDeep));
    }
}
