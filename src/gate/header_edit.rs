//! Header edits: how the gate changes a set of headers it passes on (the request it forwards
//! to the origin, the origin's response it relays), as data.
//!
//! The core decides the edits; the adapter applies them to the runtime's own copy of the
//! headers, so that headers the gate does not change (the client's token among them) never
//! cross into wasm and back. [`apply`] is the same edits on an `http` map, for the core's own
//! responses and for native tests.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// One change to a set of headers; a list of edits is applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    /// Remove every value of this header (lowercase name, as the runtime lists names). A
    /// `String`, not a `HeaderName`: a name the `http` crate would refuse must still go.
    Remove(String),
    /// Replace any value of the header.
    Set(HeaderName, HeaderValue),
    /// Add a value, keeping those there.
    Append(HeaderName, HeaderValue),
}

/// Applies `edits` to `headers`, in order.
pub fn apply(headers: &mut HeaderMap, edits: impl IntoIterator<Item = HeaderEdit>) {
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => {
                headers.remove(name.as_str());
            }
            HeaderEdit::Set(name, value) => {
                headers.insert(name, value);
            }
            HeaderEdit::Append(name, value) => {
                headers.append(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_apply_in_order() {
        let mut headers = HeaderMap::new();
        headers.append("vary", HeaderValue::from_static("Accept"));
        headers.append("x-old", HeaderValue::from_static("1"));
        headers.append("x-old", HeaderValue::from_static("2"));
        apply(
            &mut headers,
            [
                HeaderEdit::Remove("x-old".into()),
                HeaderEdit::Set(
                    HeaderName::from_static("x-new"),
                    HeaderValue::from_static("a"),
                ),
                HeaderEdit::Set(
                    HeaderName::from_static("x-new"),
                    HeaderValue::from_static("b"),
                ),
                HeaderEdit::Append(http::header::VARY, HeaderValue::from_static("Origin")),
            ],
        );
        assert!(headers.get("x-old").is_none());
        assert_eq!(headers.get_all("x-new").iter().collect::<Vec<_>>(), ["b"]);
        assert_eq!(
            headers.get_all("vary").iter().collect::<Vec<_>>(),
            ["Accept", "Origin"]
        );
    }
}
