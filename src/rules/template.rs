//! Required-scope templates: literal scope text with optional `{name}` placeholders.

use super::error::{BadValueReason, ScopeProblem};

/// Longest `{name}` value accepted into a scope (MCP recommends tool names of at most 128
/// characters; the scope ends up in a response header).
pub const MAX_TEMPLATE_VALUE_BYTES: usize = 256;

const PLACEHOLDER: &str = "{name}";

/// A parsed `require` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeTemplate {
    source: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Name,
}

impl ScopeTemplate {
    /// Parses a `require` entry: printable ASCII without quotes, backslashes or `*`, braces only
    /// as the `{name}` placeholder.
    pub fn parse(source: &str) -> Result<ScopeTemplate, ScopeProblem> {
        if source.is_empty() {
            return Err(ScopeProblem::Empty);
        }
        let mut pieces = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix(PLACEHOLDER) {
                pieces.push(Piece::Name);
                rest = after;
                continue;
            }
            if rest.starts_with('{') {
                // A `{…}` that is not `{name}` is a placeholder we do not know; a lone `{`
                // is a stray brace.
                return Err(match rest.find('}') {
                    Some(_) => ScopeProblem::UnknownPlaceholder,
                    None => ScopeProblem::StrayBrace,
                });
            }
            let end = rest.find('{').unwrap_or(rest.len());
            let (literal, after) = rest.split_at(end);
            check_literal(literal)?;
            pieces.push(Piece::Literal(literal.to_owned()));
            rest = after;
        }
        Ok(ScopeTemplate {
            source: source.to_owned(),
            pieces,
        })
    }

    /// The entry as written in the document.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the template contains `{name}`.
    pub fn uses_name(&self) -> bool {
        self.pieces.contains(&Piece::Name)
    }

    /// The concrete scope for a request whose name is `name`. The name is checked only when
    /// the template uses it.
    pub fn fill(&self, name: Option<&str>) -> Result<String, BadValueReason> {
        let mut scope = String::with_capacity(self.source.len());
        for piece in &self.pieces {
            match piece {
                Piece::Literal(literal) => scope.push_str(literal),
                Piece::Name => {
                    let value = name.ok_or(BadValueReason::Missing)?;
                    check_value(value)?;
                    scope.push_str(value);
                }
            }
        }
        Ok(scope)
    }
}

fn check_literal(literal: &str) -> Result<(), ScopeProblem> {
    for byte in literal.bytes() {
        match byte {
            b'"' | b'\'' | b'\\' => return Err(ScopeProblem::Quote),
            b'*' => return Err(ScopeProblem::Wildcard),
            b'}' => return Err(ScopeProblem::StrayBrace),
            0x21..=0x7e => {}
            _ => return Err(ScopeProblem::ForbiddenCharacter),
        }
    }
    Ok(())
}

/// README "Scope rules": a `{name}` value with whitespace, quotes, control characters, `*` or `:` makes the
/// request `400`. Also refused here: backslash and non-ASCII (not RFC 6749 scope characters),
/// empty and over-long values.
fn check_value(value: &str) -> Result<(), BadValueReason> {
    if value.is_empty() {
        return Err(BadValueReason::Empty);
    }
    if value.len() > MAX_TEMPLATE_VALUE_BYTES {
        return Err(BadValueReason::TooLong);
    }
    let acceptable = value.bytes().all(|byte| {
        (0x21..=0x7e).contains(&byte) && !matches!(byte, b'"' | b'\'' | b'\\' | b'*' | b':')
    });
    if acceptable {
        Ok(())
    } else {
        Err(BadValueReason::ForbiddenCharacter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_fills() {
        let template = ScopeTemplate::parse("mcp:tools:{name}").unwrap();
        assert!(template.uses_name());
        assert_eq!(template.fill(Some("weather")).unwrap(), "mcp:tools:weather");
        let twice = ScopeTemplate::parse("{name}:x:{name}").unwrap();
        assert_eq!(twice.fill(Some("a")).unwrap(), "a:x:a");
        let plain = ScopeTemplate::parse("mcp:tools:calendar:read").unwrap();
        assert!(!plain.uses_name());
        assert_eq!(plain.fill(None).unwrap(), "mcp:tools:calendar:read");
    }

    #[test]
    fn refuses_bad_templates() {
        let cases: &[(&str, ScopeProblem)] = &[
            ("", ScopeProblem::Empty),
            ("mcp tools", ScopeProblem::ForbiddenCharacter),
            ("mcp:\ttools", ScopeProblem::ForbiddenCharacter),
            ("mcp:é", ScopeProblem::ForbiddenCharacter),
            ("mcp:\"x\"", ScopeProblem::Quote),
            ("mcp:'x'", ScopeProblem::Quote),
            ("mcp:\\x", ScopeProblem::Quote),
            ("mcp:tools:*", ScopeProblem::Wildcard),
            ("*", ScopeProblem::Wildcard),
            ("mcp:{uri}", ScopeProblem::UnknownPlaceholder),
            ("mcp:{Name}", ScopeProblem::UnknownPlaceholder),
            ("mcp:{name", ScopeProblem::StrayBrace),
            ("mcp:name}", ScopeProblem::StrayBrace),
            ("mcp:{name}}", ScopeProblem::StrayBrace),
            ("{", ScopeProblem::StrayBrace),
        ];
        for (source, problem) in cases {
            assert_eq!(ScopeTemplate::parse(source), Err(*problem), "{source:?}");
        }
    }

    #[test]
    fn refuses_bad_values() {
        let template = ScopeTemplate::parse("mcp:tools:{name}").unwrap();
        for value in [
            "a b", "a\tb", "a\nb", "a\u{0}b", "a\"b", "a'b", "a\\b", "a*", "*", "a:b", "é",
            "a\u{7f}",
        ] {
            assert_eq!(
                template.fill(Some(value)),
                Err(BadValueReason::ForbiddenCharacter),
                "{value:?}"
            );
        }
        assert_eq!(template.fill(Some("")), Err(BadValueReason::Empty));
        assert_eq!(template.fill(None), Err(BadValueReason::Missing));
        let long = "x".repeat(MAX_TEMPLATE_VALUE_BYTES + 1);
        assert_eq!(template.fill(Some(&long)), Err(BadValueReason::TooLong));
        let longest = "x".repeat(MAX_TEMPLATE_VALUE_BYTES);
        assert!(template.fill(Some(&longest)).is_ok());
        assert!(template.fill(Some("calendar_get-events.v2/x{y}")).is_ok());
    }
}
