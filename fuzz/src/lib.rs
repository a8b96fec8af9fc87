//! Helpers shared by the fuzz targets: settings, input splitting, and the lenient JSON-RPC
//! readers of `rpc_differential` (plain serde_json, and Go-like case-insensitive member lookup
//! under Unicode simple case folding).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use mcp_gate::settings::Settings;
use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

// ------------------------------------------------------------------ settings

/// Settings from `(name, value)` pairs on top of the three required ones (an empty value
/// removes a setting, as in the integration tests).
pub fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("RESOURCE", "https://mcp.example.com/mcp"),
        (
            "AUTHORIZATION_SERVERS",
            "https://env.example.com/resources/res_1",
        ),
        ("ORIGIN", "https://origin.internal"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    vars.retain(|_, v| !v.is_empty());
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("fuzz settings are valid")
}

/// Splits `data` at every `separator`, keeping at most `max` parts (the last takes the rest).
pub fn split<'a>(data: &'a [u8], separator: &[u8], max: usize) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() + 1 < max {
        match rest
            .windows(separator.len())
            .position(|window| window == separator)
        {
            Some(at) => {
                parts.push(&rest[..at]);
                rest = &rest[at + separator.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

/// Unpadded base64url, as JWS segments use.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

// ------------------------------------------------------------------ case folding

/// The representative of `c`'s orbit under Unicode simple case folding (CaseFolding.txt,
/// statuses C and S): the smallest code point equivalent to it. Two strings are equal for Go's
/// `bytes.EqualFold` exactly when they have as many characters and their representatives agree
/// one by one.
pub fn fold_key(c: char) -> char {
    if c.is_ascii() {
        // ASCII orbits are {upper, lower} plus, for k and s, a non-ASCII member (KELVIN SIGN,
        // LONG S) that is larger: the uppercase letter is the smallest.
        return c.to_ascii_uppercase();
    }
    thread_local! {
        static CACHE: RefCell<HashMap<char, char>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        *cache.borrow_mut().entry(c).or_insert_with(|| {
            let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
            class.case_fold_simple();
            class.iter().next().map_or(c, |range| range.start())
        })
    })
}

/// `bytes.EqualFold` of Go: equal under Unicode simple case folding.
pub fn eq_fold(a: &str, b: &str) -> bool {
    a.chars().count() == b.chars().count()
        && a.chars()
            .zip(b.chars())
            .all(|(x, y)| x == y || fold_key(x) == fold_key(y))
}

/// Panics unless the folding oracle agrees with a few known answers (run once per target).
pub fn fold_self_check() {
    for (a, b) in [
        ("params", "paramſ"),
        ("kind", "\u{212A}ind"),
        ("Name", "nAME"),
        ("ß", "ẞ"),
        ("σ", "ς"),
        ("Σ", "ς"),
        ("µ", "Μ"),
        ("ǅ", "ǆ"),
    ] {
        assert!(eq_fold(a, b), "fold oracle: {a:?} must equal {b:?}");
    }
    for (a, b) in [
        ("uri", "urı"),
        ("uri", "urİ"),
        ("ss", "ß"),
        ("name", "names"),
        ("a", "b"),
    ] {
        assert!(!eq_fold(a, b), "fold oracle: {a:?} must differ from {b:?}");
    }
}

// ------------------------------------------------------------------ lenient JSON

/// A JSON value that keeps every object member in document order, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub enum Lenient {
    Null,
    Bool(bool),
    Number,
    String(String),
    Array(Vec<Lenient>),
    Object(Vec<(String, Lenient)>),
}

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LenientVisitor;
        impl<'de> Visitor<'de> for LenientVisitor {
            type Value = Lenient;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Lenient, E> {
                Ok(Lenient::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Lenient, E> {
                Ok(Lenient::Bool(v))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Lenient, E> {
                Ok(Lenient::Number)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Lenient, E> {
                Ok(Lenient::Number)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Lenient, E> {
                Ok(Lenient::Number)
            }
            fn visit_str<E>(self, v: &str) -> Result<Lenient, E> {
                Ok(Lenient::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Lenient, E> {
                Ok(Lenient::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Lenient::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient, A::Error> {
                let mut members = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, Lenient>()? {
                    members.push((name, value));
                }
                Ok(Lenient::Object(members))
            }
        }
        deserializer.deserialize_any(LenientVisitor)
    }
}

impl From<&serde_json::Value> for Lenient {
    fn from(value: &serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => Lenient::Null,
            Value::Bool(b) => Lenient::Bool(*b),
            Value::Number(_) => Lenient::Number,
            Value::String(s) => Lenient::String(s.clone()),
            Value::Array(items) => Lenient::Array(items.iter().map(Lenient::from).collect()),
            Value::Object(map) => Lenient::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Lenient::from(v)))
                    .collect(),
            ),
        }
    }
}

/// How a reader picks the member for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The last member with exactly that name (serde_json's `Value`).
    Exact,
    /// The first member whose name equals under simple case folding.
    FoldFirst,
    /// The last member whose name equals under simple case folding (Go's encoding/json: every
    /// matching member is decoded in turn, the last one stays).
    FoldLast,
}

impl Pick {
    pub const ALL: [Pick; 3] = [Pick::Exact, Pick::FoldFirst, Pick::FoldLast];

    fn get<'a>(self, members: &'a [(String, Lenient)], name: &str) -> Option<&'a Lenient> {
        let mut found = members.iter().filter(|(member, _)| match self {
            Pick::Exact => member == name,
            Pick::FoldFirst | Pick::FoldLast => eq_fold(member, name),
        });
        match self {
            Pick::FoldFirst => found.next(),
            Pick::Exact | Pick::FoldLast => found.next_back(),
        }
        .map(|(_, value)| value)
    }
}

/// What a reader sees in one message: the JSON-RPC method and the rule targets, read the way
/// mcp-gate's rules use them (SPEC §4 `match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A request or notification.
    Call {
        method: String,
        name: Option<String>,
        uri: Option<String>,
    },
    /// No `method` member: a response.
    NoMethod,
    /// Something the gate would have to refuse (with why): the gate accepted the body, so a
    /// reader that sees this reads it differently.
    Unusable(&'static str),
}

/// Reads one message object with `pick`.
pub fn read_message(message: &Lenient, pick: Pick) -> Reading {
    let Lenient::Object(members) = message else {
        return Reading::Unusable("not an object");
    };
    let method = match pick.get(members, "method") {
        None => return Reading::NoMethod,
        Some(Lenient::String(method)) => method.clone(),
        Some(_) => return Reading::Unusable("method is not a string"),
    };
    let params = match pick.get(members, "params") {
        Some(Lenient::Object(params)) => Some(params.as_slice()),
        _ => None,
    };
    let string = |object: Option<&[(String, Lenient)]>, name: &str| -> Option<String> {
        match object.and_then(|object| pick.get(object, name)) {
            Some(Lenient::String(value)) => Some(value.clone()),
            _ => None,
        }
    };
    let (name, uri) = match method.as_str() {
        "tools/call" | "prompts/get" => match string(params, "name") {
            Some(name) => (Some(name), None),
            None => return Reading::Unusable("no string params.name"),
        },
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            match string(params, "uri") {
                Some(uri) => (None, Some(uri)),
                None => return Reading::Unusable("no string params.uri"),
            }
        }
        "completion/complete" => {
            let Some(Lenient::Object(reference)) = params.and_then(|p| pick.get(p, "ref")) else {
                return Reading::Unusable("no object params.ref");
            };
            let reference = Some(reference.as_slice());
            match string(reference, "type").as_deref() {
                Some("ref/prompt") => match string(reference, "name") {
                    Some(name) => (Some(name), None),
                    None => return Reading::Unusable("ref/prompt without a string name"),
                },
                Some("ref/resource") => match string(reference, "uri") {
                    Some(uri) => (None, Some(uri)),
                    None => return Reading::Unusable("ref/resource without a string uri"),
                },
                _ => return Reading::Unusable("params.ref.type is not ref/prompt or ref/resource"),
            }
        }
        _ => (None, None),
    };
    Reading::Call { method, name, uri }
}

/// Reads a whole body: `(is_batch, readings)`.
pub fn read_body(body: &Lenient, pick: Pick) -> (bool, Vec<Reading>) {
    match body {
        Lenient::Array(items) => (true, items.iter().map(|m| read_message(m, pick)).collect()),
        single => (false, vec![read_message(single, pick)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_oracle() {
        fold_self_check();
    }

    #[test]
    fn readers_differ_on_case_variants() {
        let body: Lenient =
            serde_json::from_str(r#"{"method":"a","Method":"b","METHOD":"c"}"#).unwrap();
        let method = |pick| match read_message(&body, pick) {
            Reading::Call { method, .. } => method,
            other => panic!("{other:?}"),
        };
        assert_eq!(method(Pick::Exact), "a");
        assert_eq!(method(Pick::FoldFirst), "a");
        assert_eq!(method(Pick::FoldLast), "c");
    }

    #[test]
    fn split_and_base64url() {
        assert_eq!(split(b"a%%b%%c", b"%%", 2), vec![&b"a"[..], &b"b%%c"[..]]);
        assert_eq!(split(b"abc", b"%%", 5), vec![&b"abc"[..]]);
        assert_eq!(base64url(b"{\"a\":1}"), "eyJhIjoxfQ");
        assert_eq!(base64url(b"ab"), "YWI");
    }
}
