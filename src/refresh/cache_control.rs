//! How long a fetched key set counts as fresh, from the JWKS response's `Cache-Control`.
//!
//! The gate is a shared cache of the key set, so `s-maxage` wins over `max-age` (RFC 9111
//! §5.2.2.10); `no-store` and `no-cache` mean "as short as allowed". The result is clamped to
//! [`MIN_KEY_SET_LIFETIME_SECS`]..=[`MAX_KEY_SET_LIFETIME_SECS`]: the floor keeps an issuer
//! answering `max-age=0` from turning every request into a fetch, the ceiling keeps a rotated
//! key from going unnoticed for days. Without a usable directive the lifetime is
//! [`DEFAULT_KEY_SET_LIFETIME_SECS`]. Malformed values are ignored; a directive given twice
//! counts with its smallest value (the conservative reading of RFC 9111 §4.2.1).

/// Shortest lifetime (also used for `no-store`, `no-cache`, `max-age=0`): 60 s.
pub const MIN_KEY_SET_LIFETIME_SECS: u64 = 60;
/// Longest lifetime: 24 h.
pub const MAX_KEY_SET_LIFETIME_SECS: u64 = 24 * 60 * 60;
/// Lifetime when the response has no usable `Cache-Control`: 15 min.
pub const DEFAULT_KEY_SET_LIFETIME_SECS: u64 = 15 * 60;

/// The directives of a `Cache-Control` value that matter here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Directives {
    max_age: Option<u64>,
    s_maxage: Option<u64>,
    no_store_or_no_cache: bool,
}

/// The freshness lifetime in seconds for a key set served with this `Cache-Control` value.
pub fn key_set_lifetime_secs(cache_control: Option<&str>) -> u64 {
    let directives = cache_control.map(parse).unwrap_or_default();
    let wanted = if directives.no_store_or_no_cache {
        MIN_KEY_SET_LIFETIME_SECS
    } else {
        directives
            .s_maxage
            .or(directives.max_age)
            .unwrap_or(DEFAULT_KEY_SET_LIFETIME_SECS)
    };
    wanted.clamp(MIN_KEY_SET_LIFETIME_SECS, MAX_KEY_SET_LIFETIME_SECS)
}

fn parse(value: &str) -> Directives {
    let mut found = Directives::default();
    for directive in split_directives(value) {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(unquote(argument.trim()))),
            None => (directive.trim(), None),
        };
        let seconds = argument.and_then(delta_seconds);
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            found.no_store_or_no_cache = true;
        } else if name.eq_ignore_ascii_case("max-age") {
            found.max_age = smallest(found.max_age, seconds);
        } else if name.eq_ignore_ascii_case("s-maxage") {
            found.s_maxage = smallest(found.s_maxage, seconds);
        }
    }
    found
}

fn smallest(previous: Option<u64>, new: Option<u64>) -> Option<u64> {
    match (previous, new) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Splits at commas outside quoted strings (`no-cache="a, b"` is one directive).
fn split_directives(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(value.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value.get(start..).unwrap_or_default());
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn unquote(argument: &str) -> &str {
    argument
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .unwrap_or(argument)
}

/// `delta-seconds` (RFC 9111 §1.2.2): digits only; too large saturates.
fn delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(value: &str) -> u64 {
        key_set_lifetime_secs(Some(value))
    }

    #[test]
    fn default_and_bounds() {
        assert_eq!(key_set_lifetime_secs(None), DEFAULT_KEY_SET_LIFETIME_SECS);
        assert_eq!(secs(""), DEFAULT_KEY_SET_LIFETIME_SECS);
        assert_eq!(secs("public"), DEFAULT_KEY_SET_LIFETIME_SECS);
        assert_eq!(secs("max-age=3600"), 3600);
        assert_eq!(secs("max-age=0"), MIN_KEY_SET_LIFETIME_SECS);
        assert_eq!(secs("max-age=5"), MIN_KEY_SET_LIFETIME_SECS);
        assert_eq!(secs("max-age=31536000"), MAX_KEY_SET_LIFETIME_SECS);
        assert_eq!(
            secs("max-age=99999999999999999999999"),
            MAX_KEY_SET_LIFETIME_SECS
        );
    }

    #[test]
    fn s_maxage_wins_and_no_store_means_minimum() {
        assert_eq!(secs("public, max-age=600, s-maxage=1200"), 1200);
        assert_eq!(secs("s-maxage=120, max-age=600"), 120);
        assert_eq!(secs("max-age=600, no-store"), MIN_KEY_SET_LIFETIME_SECS);
        assert_eq!(secs("No-Cache, max-age=600"), MIN_KEY_SET_LIFETIME_SECS);
        assert_eq!(
            secs("no-cache=\"set-cookie, x\", max-age=600"),
            MIN_KEY_SET_LIFETIME_SECS
        );
    }

    #[test]
    fn tolerant_parsing() {
        assert_eq!(secs("MAX-AGE = 300"), 300);
        assert_eq!(secs("max-age=\"300\""), 300);
        assert_eq!(secs("max-age=300, max-age=100"), 100);
        assert_eq!(secs("max-age=-1"), DEFAULT_KEY_SET_LIFETIME_SECS);
        assert_eq!(
            secs("max-age=abc, s-maxage="),
            DEFAULT_KEY_SET_LIFETIME_SECS
        );
        assert_eq!(secs("max-age=1e3"), DEFAULT_KEY_SET_LIFETIME_SECS);
        assert_eq!(secs(",,, max-age=240 ,"), 240);
        assert_eq!(secs("private=\"a\\\"b, c\", max-age=240"), 240);
        assert_eq!(secs("max-agent=999"), DEFAULT_KEY_SET_LIFETIME_SECS);
    }
}
