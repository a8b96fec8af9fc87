//! The request line as the gate sees it: method and URL parts, split from what the runtime
//! gives without parsing again where it can. Platform-free so that it is tested natively.

use http::Method;

/// The request method as received, or `None` when it is not a method token. The methods the
/// Fetch standard normalizes (`DELETE GET HEAD OPTIONS POST PUT`) match case-insensitively
/// and are upper-cased, as the runtime sends them on; every other method is kept exactly as
/// written (methods are case-sensitive), so `PROPFIND` or `patch` is never taken for another.
pub fn method(raw: &str) -> Option<Method> {
    const NORMALIZED: [Method; 6] = [
        Method::DELETE,
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::POST,
        Method::PUT,
    ];
    if let Some(known) = NORMALIZED
        .iter()
        .find(|known| known.as_str().eq_ignore_ascii_case(raw))
    {
        return Some(known.clone());
    }
    Method::from_bytes(raw.as_bytes()).ok()
}

/// The parts of the request URL the gate uses.
pub struct RequestUrl {
    /// Serialized origin (`https://mcp.example.com`).
    pub origin: String,
    /// Path, without query or fragment.
    pub path: String,
    /// Query, without the `?`.
    pub query: Option<String>,
}

/// Splits the runtime's request URL (already a WHATWG serialization: lower-case scheme and
/// host, default port dropped, `?` and `#` percent-encoded inside the path) without parsing it
/// again; anything unusual (another scheme, credentials) goes through the full parser.
pub fn request_url(raw: &str) -> Result<RequestUrl, url::ParseError> {
    let split = ["https://", "http://"].iter().find_map(|scheme| {
        let rest = raw.strip_prefix(scheme)?;
        let path_start = scheme.len() + rest.find('/')?;
        let (origin, target) = raw.split_at(path_start);
        if origin[scheme.len()..].contains('@') {
            return None;
        }
        let target = target.split_once('#').map_or(target, |(before, _)| before);
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (target, None),
        };
        Some(RequestUrl {
            origin: origin.to_owned(),
            path: path.to_owned(),
            query,
        })
    });
    if let Some(split) = split {
        return Ok(split);
    }
    let url = url::Url::parse(raw)?;
    Ok(RequestUrl {
        origin: url.origin().ascii_serialization(),
        path: url.path().to_owned(),
        query: url.query().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_kept_as_received() {
        assert_eq!(method("post"), Some(Method::POST));
        assert_eq!(method("DELETE"), Some(Method::DELETE));
        assert_eq!(method("OPTIONS"), Some(Method::OPTIONS));
        assert_eq!(method("PROPFIND").unwrap().as_str(), "PROPFIND");
        assert_eq!(method("patch").unwrap().as_str(), "patch");
        assert_ne!(method("BREW"), Some(Method::GET));
        assert_eq!(method("GE T"), None);
        assert_eq!(method(""), None);
    }

    #[test]
    fn urls_are_split_like_the_full_parser() {
        for raw in [
            "https://mcp.example.com/mcp",
            "https://mcp.example.com/mcp?a=1&b=%20",
            "http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp",
            "https://mcp.example.com/",
            "https://mcp.example.com/a%3Fb?q#frag",
            "https://user:pw@mcp.example.com/mcp?x",
            "https://mcp.example.com:8443/mcp",
        ] {
            let split = request_url(raw).unwrap();
            let parsed = url::Url::parse(raw).unwrap();
            assert_eq!(split.origin, parsed.origin().ascii_serialization(), "{raw}");
            assert_eq!(split.path, parsed.path(), "{raw}");
            assert_eq!(split.query.as_deref(), parsed.query(), "{raw}");
        }
        assert!(request_url("not a url").is_err());
    }
}
