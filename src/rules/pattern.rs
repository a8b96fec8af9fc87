//! Match patterns: exact strings in which `*` matches any run of characters (possibly empty).
//! Case-sensitive, no other metacharacters, no regex: compiled once into literal pieces.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// No `*`: the value must equal the literal.
    Exact(String),
    /// `prefix*middle*…*suffix`: starts with `prefix`, ends with `suffix`, and holds every
    /// `middle` piece in order, without overlaps, in between.
    Wildcard {
        prefix: String,
        middles: Vec<String>,
        suffix: String,
    },
}

impl Pattern {
    /// Compiles `source`. The caller rejects empty patterns (they are never meant).
    pub fn compile(source: &str) -> Pattern {
        let mut pieces: Vec<&str> = source.split('*').collect();
        let shape = if pieces.len() == 1 {
            Shape::Exact(source.to_owned())
        } else {
            // split() on a string containing `*` yields at least two pieces.
            let suffix = pieces.pop().unwrap_or_default().to_owned();
            let mut rest = pieces.into_iter();
            let prefix = rest.next().unwrap_or_default().to_owned();
            // Empty middles come from `**`, which means the same as `*`.
            let middles = rest
                .filter(|piece| !piece.is_empty())
                .map(str::to_owned)
                .collect();
            Shape::Wildcard {
                prefix,
                middles,
                suffix,
            }
        };
        Pattern { shape }
    }

    /// Whether `value` matches. Leftmost placement of each middle piece is optimal for
    /// `*`-only patterns, so one forward scan decides.
    pub fn matches(&self, value: &str) -> bool {
        match &self.shape {
            Shape::Exact(literal) => value == literal,
            Shape::Wildcard {
                prefix,
                middles,
                suffix,
            } => {
                // Suffix stripped from what follows the prefix: the two never overlap.
                let Some(after_prefix) = value.strip_prefix(prefix.as_str()) else {
                    return false;
                };
                let Some(mut between) = after_prefix.strip_suffix(suffix.as_str()) else {
                    return false;
                };
                for middle in middles {
                    match between.find(middle.as_str()) {
                        Some(at) => between = between.get(at + middle.len()..).unwrap_or(""),
                        None => return false,
                    }
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("tools/call", "tools/call", true),
            ("tools/call", "tools/call2", false),
            ("tools/call", "Tools/call", false),
            ("*", "", true),
            ("*", "anything at all", true),
            ("**", "x", true),
            ("calendar_get_*", "calendar_get_events", true),
            ("calendar_get_*", "calendar_get_", true),
            ("calendar_get_*", "calendar_delete", false),
            ("calendar_get_*", "Calendar_get_events", false),
            ("notifications/*", "notifications/initialized", true),
            ("notifications/*", "notification/x", false),
            ("*_read", "calendar_read", true),
            ("*_read", "calendar_read_more", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("*x*x*", "x", false),
            ("*x*x*", "xx", true),
            ("customer://*", "customer://acme/1", true),
            ("customer://*", "customers://acme", false),
            ("é*", "été", true),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                Pattern::compile(pattern).matches(value),
                *expected,
                "{pattern:?} vs {value:?}"
            );
        }
    }
}
