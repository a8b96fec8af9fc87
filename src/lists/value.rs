//! A JSON value that keeps object members in document order.
//!
//! `serde_json::Value` sorts members by name unless serde_json's `preserve_order` feature is
//! on, and this crate does not enable it. A filtered list answer is re-serialised, and member
//! order matters there beyond JSON's data model: the properties of a tool's `inputSchema` are
//! commonly shown to a model in document order. So the filter reads answers into this type.
//!
//! Duplicate member names are read like ECMAScript's `JSON.parse` reads them (RFC 8259 §4
//! leaves them to the reader): the member keeps the position of its first occurrence and the
//! value of its last, and is written once. The filter therefore decides on the value the client
//! will read. Nesting depth is bounded by serde_json's reader (128 levels).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// A JSON value whose objects keep their members in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Members),
}

/// The members of an object, in document order, names unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Members(Vec<(String, Json)>);

/// Above this many members, duplicates are found through a hash set rather than a scan.
const SCAN_LIMIT: usize = 16;

impl Members {
    pub(crate) fn get(&self, name: &str) -> Option<&Json> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Json> {
        self.0.iter_mut().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Sets `name` to `value`: in place when present, else appended.
    pub(crate) fn set(&mut self, name: &str, value: Json) {
        match self.get_mut(name) {
            Some(slot) => *slot = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }
}

impl Json {
    pub(crate) fn as_object(&self) -> Option<&Members> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    pub(crate) fn as_object_mut(&mut self) -> Option<&mut Members> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    /// A JSON-RPC id (a string or a number) as a `serde_json::Value`, to compare with request
    /// ids; `None` for anything else.
    pub(crate) fn to_id(&self) -> Option<Value> {
        match self {
            Json::String(text) => Some(Value::String(text.clone())),
            Json::Number(number) => Some(Value::Number(number.clone())),
            _ => None,
        }
    }

    /// The value of a JSON-RPC id taken from a request, for an answer the gate writes.
    pub(crate) fn from_id(id: &Value) -> Json {
        match id {
            Value::String(text) => Json::String(text.clone()),
            Value::Number(number) => Json::Number(number.clone()),
            _ => Json::Null,
        }
    }

    /// Compact serialisation (no whitespace, so never a line break).
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        // Writing to a Vec fails only for map keys that are not strings, which this type
        // cannot hold.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(number) => number.serialize(serializer),
            Json::String(text) => serializer.serialize_str(text),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(Members(members)) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (name, value) in members {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
        Number::from_f64(n)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a JSON number must be finite"))
    }

    fn visit_str<E>(self, text: &str) -> Result<Json, E> {
        Ok(Json::String(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Json, E> {
        Ok(Json::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        // Built only for large objects, so that duplicates are found in linear time.
        let mut names: Option<HashSet<String>> = None;
        while let Some((name, value)) = map.next_entry::<String, Json>()? {
            let seen = match &mut names {
                Some(names) => !names.insert(name.clone()),
                None => members.iter().any(|(n, _)| *n == name),
            };
            if seen {
                if let Some(slot) = members.iter_mut().find(|(n, _)| *n == name) {
                    slot.1 = value;
                }
                continue;
            }
            members.push((name, value));
            if names.is_none() && members.len() > SCAN_LIMIT {
                names = Some(members.iter().map(|(n, _)| n.clone()).collect());
            }
        }
        Ok(Json::Object(Members(members)))
    }
}

/// Reads one JSON text (RFC 8259), nothing after it but whitespace.
pub(crate) fn parse(text: &[u8]) -> Result<Json, serde_json::Error> {
    serde_json::from_slice(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        String::from_utf8(parse(text.as_bytes()).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn keeps_member_order() {
        let text = r#"{"z":1,"a":{"y":[true,null,"s"],"b":-2.5},"m":18446744073709551615}"#;
        assert_eq!(round_trip(text), text);
    }

    #[test]
    fn duplicates_keep_the_first_place_and_the_last_value() {
        assert_eq!(round_trip(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let text = format!("{{{},\"k3\":\"last\",\"k39\":0}}", many.join(","));
        let value = parse(text.as_bytes()).unwrap();
        let members = value.as_object().unwrap();
        assert_eq!(members.0.len(), 40);
        assert_eq!(members.0[3], ("k3".to_owned(), Json::String("last".into())));
        assert_eq!(members.get("k39"), Some(&Json::Number(0.into())));
    }

    #[test]
    fn refuses_what_is_not_one_json_text() {
        for text in ["", "{", "{} {}", "[1,]", "{'a':1}", "\u{feff}{}", "nul"] {
            assert!(parse(text.as_bytes()).is_err(), "{text:?}");
        }
        assert!(parse(b"\"\xff\"").is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn set_replaces_in_place_or_appends() {
        let mut value = parse(br#"{"a":1,"b":2}"#).unwrap();
        let members = value.as_object_mut().unwrap();
        members.set("a", Json::Null);
        members.set("c", Json::Bool(true));
        assert_eq!(value.to_vec(), br#"{"a":null,"b":2,"c":true}"#);
    }
}
