//! Settings (README "Settings"): parsed once per isolate from the Worker's `[vars]` and secrets.
//!
//! Every setting has a documented default, and the default is the safe one. Parsing is
//! platform-free: it takes a lookup function, so the native tests and the Worker adapter
//! share it. An invalid or missing required setting is a [`SettingsError`] that names the
//! setting (never its value, which may be a secret); the gate then fails closed.

use std::fmt;

use ::url::Url;

use crate::token::{Algorithm, Policy, ScopeClaim};

/// Largest request body inspected and forwarded by default (`MAX_BODY_BYTES`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1_048_576;
/// Default leeway for `exp`, `nbf` and `iat` (`CLOCK_SKEW_SECONDS`).
pub const DEFAULT_CLOCK_SKEW_SECONDS: u32 = 60;
/// Upper bound for `CLOCK_SKEW_SECONDS`: a larger leeway would keep expired tokens alive.
pub const MAX_CLOCK_SKEW_SECONDS: u32 = 600;
/// Default time the gate waits for the origin's response headers (`ORIGIN_TIMEOUT_SECONDS`).
pub const DEFAULT_ORIGIN_TIMEOUT_SECONDS: u32 = 30;

pub mod bridge;
pub mod url;

/// Where the key set comes from (`JWKS_URI`), decided once from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksLocation {
    /// Unset: discovered from these issuers' metadata, in order (`ISSUERS`; RFC 8414, then
    /// OpenID discovery).
    Discover(Vec<String>),
    /// An explicit URL, one the gate may fetch ([`url::check_fetch_url`]).
    Fixed(Url),
    /// `off`: keys are managed by hand in KV; the gate never fetches them.
    Off,
}

/// Browser origins allowed to call the MCP endpoint (`ALLOWED_ORIGINS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Unset: only the gate's own origin (and requests without `Origin`).
    OwnOnly,
    /// `*`: any origin.
    Any,
    /// An explicit list of serialized origins (`https://app.example.com`).
    List(Vec<String>),
}

impl AllowedOrigins {
    /// Whether a browser `Origin` value may call the endpoint.
    pub fn allows(&self, origin: &str, own_origin: &str) -> bool {
        if origin == own_origin {
            return true;
        }
        match self {
            Self::OwnOnly => false,
            Self::Any => true,
            Self::List(list) => list.iter().any(|allowed| allowed == origin),
        }
    }
}

/// A secret value: never printed, in `Debug` or anywhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it (the origin request).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The validated settings of one deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `RESOURCE` (required): canonical URI of the protected MCP endpoint, kept verbatim.
    pub resource: String,
    /// Parsed form of `resource`, for the metadata URL and path matching.
    pub resource_url: Url,
    /// The path-inserted RFC 9728 metadata URL, computed once.
    metadata_url: String,
    /// The serialized origin of `RESOURCE`: the gate's own origin (README "Request hygiene"),
    /// never derived from the `Host` header.
    own_origin: String,
    /// `AUTHORIZATION_SERVERS` (required): issuer URLs listed in the metadata document.
    pub authorization_servers: Vec<String>,
    /// `ORIGIN` (required): base URL of the upstream MCP server the gate forwards to. (In this
    /// crate "upstream" is that server; "origin" is only ever a browser `Origin`.)
    pub upstream: Url,
    /// What tokens must be (`ISSUERS`, `AUDIENCES`, `ALLOWED_ALGORITHMS`,
    /// `CLOCK_SKEW_SECONDS`, `REQUIRE_TYP_AT_JWT`, `SCOPE_CLAIMS`).
    pub token: Policy,
    /// `JWKS_URI`: default [`JwksLocation::Discover`] from `ISSUERS`.
    pub jwks_location: JwksLocation,
    /// `SCOPES_SUPPORTED`: default omitted from the metadata.
    pub scopes_supported: Option<Vec<String>>,
    /// `REQUIRED_SCOPES`: baseline scopes for every protected request. Default none.
    pub required_scopes: Vec<String>,
    /// `RESOURCE_NAME`: default omitted.
    pub resource_name: Option<String>,
    /// `RESOURCE_DOCUMENTATION`: default omitted.
    pub resource_documentation: Option<String>,
    /// `REQUIRE_RULES`: default `true` (a missing `rules` document answers `503`; `false`
    /// chooses authenticated mode while the isolate has never loaded a document).
    pub require_rules: bool,
    /// `FORWARD_PATHS`: further exact paths served like the MCP endpoint. Default none.
    pub forward_paths: Vec<String>,
    /// `FILTER_LISTS`: default `true` (list answers show only what the token may use).
    pub filter_lists: bool,
    /// `ALLOWED_ORIGINS`: default own origin only.
    pub allowed_origins: AllowedOrigins,
    /// `FORWARD_TOKEN`: default `false` (the client's `Authorization` is stripped).
    pub forward_token: bool,
    /// `FORWARD_CLAIMS`: default none.
    pub forward_claims: Vec<String>,
    /// `ORIGIN_AUTHORIZATION` (secret): default none.
    pub origin_authorization: Option<Secret>,
    /// `AS_METADATA_URL`: default no mirror.
    pub as_metadata_url: Option<String>,
    /// `MAX_BODY_BYTES`: default 1 MiB.
    pub max_body_bytes: usize,
    /// `ORIGIN_TIMEOUT_SECONDS`: default 30.
    pub origin_timeout_seconds: u32,
}

/// Why the settings are unusable. Names the setting, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// A required setting is unset or empty.
    Missing(&'static str),
    /// A setting has a value the gate cannot use; the text says what is expected.
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong, without the value.
        reason: String,
    },
}

impl SettingsError {
    /// The setting this error is about.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::Missing(setting) | Self::Invalid { setting, .. } => setting,
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(setting) => write!(f, "required setting {setting} is not set"),
            Self::Invalid { setting, reason } => {
                write!(f, "setting {setting} is invalid: {reason}")
            }
        }
    }
}

impl std::error::Error for SettingsError {}

fn invalid(setting: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// Reads settings through `lookup` (a `[vars]` entry or secret by name).
struct Vars<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The trimmed value, with empty meaning unset (README "Settings").
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, SettingsError> {
        self.get(name).ok_or(SettingsError::Missing(name))
    }

    fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name)
            .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(invalid(name, "expected `true` or `false`")),
        }
    }

    fn number(&self, name: &'static str, default: u64, max: u64) -> Result<u64, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(invalid(
                    name,
                    format!("expected a whole number from 0 to {max}"),
                )),
            },
        }
    }
}

fn absolute_url(setting: &'static str, value: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(value).map_err(|_| invalid(setting, "expected an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(invalid(setting, "expected an http(s) URL with a host"));
    }
    if url.fragment().is_some() {
        return Err(invalid(setting, "a URL with a fragment is not allowed"));
    }
    Ok(url)
}

/// A URL setting the gate fetches or sends browsers to: an absolute http(s) URL the gate may
/// fetch ([`url::check_fetch_url`]: `https`, or `http` to a loopback host; no credentials or
/// fragment). `JWKS_URI`, `AS_METADATA_URL` and the login bridge's URLs.
fn fetchable_url(setting: &'static str, value: &str) -> Result<Url, SettingsError> {
    let url = absolute_url(setting, value)?;
    url::check_fetch_url(&url).map_err(|e| invalid(setting, e.to_string()))?;
    Ok(url)
}

fn path_inserted_metadata_url(resource: &Url) -> String {
    let origin = resource.origin().ascii_serialization();
    let path = resource.path();
    let suffix = if path == "/" { "" } else { path };
    format!("{origin}/.well-known/oauth-protected-resource{suffix}")
}

/// An RFC 6749 §3.3 scope token: `%x21 / %x23-5B / %x5D-7E`, at least one.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn header_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Settings {
    /// Parses and validates every setting. `lookup` returns a var or secret by name.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let vars = Vars { lookup };

        let resource = vars.required("RESOURCE")?;
        let resource_url = absolute_url("RESOURCE", &resource)?;
        if resource_url.query().is_some() {
            return Err(invalid("RESOURCE", "a resource URI must not have a query"));
        }

        let authorization_servers = vars
            .list("AUTHORIZATION_SERVERS")
            .ok_or(SettingsError::Missing("AUTHORIZATION_SERVERS"))?;
        for server in &authorization_servers {
            absolute_url("AUTHORIZATION_SERVERS", server)?;
        }

        let upstream = absolute_url("ORIGIN", &vars.required("ORIGIN")?)?;
        if upstream.query().is_some() {
            return Err(invalid(
                "ORIGIN",
                "the origin base URL must not have a query",
            ));
        }

        let issuers = vars
            .list("ISSUERS")
            .unwrap_or_else(|| authorization_servers.clone());
        let audiences = vars
            .list("AUDIENCES")
            .unwrap_or_else(|| vec![resource.clone()]);

        let jwks_location = match vars.get("JWKS_URI") {
            None => JwksLocation::Discover(issuers.clone()),
            Some(v) if v == "off" => JwksLocation::Off,
            Some(v) => JwksLocation::Fixed(fetchable_url("JWKS_URI", &v)?),
        };

        let allowed_algorithms = match vars.list("ALLOWED_ALGORITHMS") {
            None => Algorithm::DEFAULT_ALLOWED.to_vec(),
            Some(names) => names
                .iter()
                .map(|name| {
                    Algorithm::from_jws_name(name).ok_or_else(|| {
                        invalid(
                            "ALLOWED_ALGORITHMS",
                            format!(
                                "`{name}` is not accepted (supported: {}; `none` and HMAC are never accepted)",
                                Algorithm::ALL.iter().map(|a| a.jws_name()).collect::<Vec<_>>().join(" ")
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };

        let scope_claims = match vars.list("SCOPE_CLAIMS") {
            None => vec![ScopeClaim::Scope, ScopeClaim::Scp, ScopeClaim::Scopes],
            Some(names) => names
                .iter()
                .map(|name| match name.as_str() {
                    "scope" => Ok(ScopeClaim::Scope),
                    "scp" => Ok(ScopeClaim::Scp),
                    "scopes" => Ok(ScopeClaim::Scopes),
                    _ => Err(invalid(
                        "SCOPE_CLAIMS",
                        "expected names among `scope scp scopes`",
                    )),
                })
                .collect::<Result<_, _>>()?,
        };

        let allowed_origins = match vars.list("ALLOWED_ORIGINS") {
            None => AllowedOrigins::OwnOnly,
            Some(list) if list.iter().any(|o| o == "*") => AllowedOrigins::Any,
            Some(list) => {
                for origin in &list {
                    let url = absolute_url("ALLOWED_ORIGINS", origin)?;
                    if url.origin().ascii_serialization() != *origin {
                        return Err(invalid(
                            "ALLOWED_ORIGINS",
                            "each entry must be a bare origin such as https://app.example.com",
                        ));
                    }
                }
                AllowedOrigins::List(list)
            }
        };

        let forward_claims = vars.list("FORWARD_CLAIMS").unwrap_or_default();
        if let Some(bad) = forward_claims.iter().find(|c| !header_token(c)) {
            let _ = bad;
            return Err(invalid(
                "FORWARD_CLAIMS",
                "claim names must be letters, digits, `-`, `_` or `.` (they become header names)",
            ));
        }

        let as_metadata_url = match vars.get("AS_METADATA_URL") {
            None => None,
            Some(v) => {
                fetchable_url("AS_METADATA_URL", &v)?;
                Some(v)
            }
        };

        let max_body_bytes = vars.number(
            "MAX_BODY_BYTES",
            DEFAULT_MAX_BODY_BYTES as u64,
            100 * 1024 * 1024,
        )?;
        let clock_skew_seconds = vars.number(
            "CLOCK_SKEW_SECONDS",
            DEFAULT_CLOCK_SKEW_SECONDS.into(),
            MAX_CLOCK_SKEW_SECONDS.into(),
        )?;
        let origin_timeout_seconds = vars.number(
            "ORIGIN_TIMEOUT_SECONDS",
            DEFAULT_ORIGIN_TIMEOUT_SECONDS.into(),
            300,
        )?;
        if origin_timeout_seconds == 0 {
            return Err(invalid("ORIGIN_TIMEOUT_SECONDS", "must be at least 1"));
        }

        let forward_paths = vars.list("FORWARD_PATHS").unwrap_or_default();
        for path in &forward_paths {
            if let Some(reason) = unservable_forward_path(path, resource_url.path()) {
                return Err(invalid("FORWARD_PATHS", reason));
            }
        }

        // Scopes are quoted in challenges (`scope="…"`): only RFC 6749 §3.3 scope tokens.
        let scopes_supported = vars.list("SCOPES_SUPPORTED");
        let required_scopes = vars.list("REQUIRED_SCOPES").unwrap_or_default();
        for (setting, scopes) in [
            (
                "SCOPES_SUPPORTED",
                scopes_supported.as_deref().unwrap_or_default(),
            ),
            ("REQUIRED_SCOPES", required_scopes.as_slice()),
        ] {
            if !scopes.iter().all(|scope| is_scope_token(scope)) {
                return Err(invalid(
                    setting,
                    "scopes are printable ASCII without spaces, `\"` or `\\` (RFC 6749 §3.3)",
                ));
            }
        }

        let metadata_url = path_inserted_metadata_url(&resource_url);
        let own_origin = resource_url.origin().ascii_serialization();
        Ok(Self {
            resource,
            resource_url,
            metadata_url,
            own_origin,
            authorization_servers,
            upstream,
            token: Policy {
                issuers,
                audiences,
                allowed_algorithms,
                clock_skew_seconds: clock_skew_seconds as u32,
                require_typ_at_jwt: vars.flag("REQUIRE_TYP_AT_JWT", false)?,
                scope_claims,
            },
            jwks_location,
            scopes_supported,
            required_scopes,
            resource_name: vars.get("RESOURCE_NAME"),
            resource_documentation: vars.get("RESOURCE_DOCUMENTATION"),
            require_rules: vars.flag("REQUIRE_RULES", true)?,
            forward_paths,
            filter_lists: vars.flag("FILTER_LISTS", true)?,
            allowed_origins,
            forward_token: vars.flag("FORWARD_TOKEN", false)?,
            forward_claims,
            origin_authorization: vars.get("ORIGIN_AUTHORIZATION").map(Secret),
            as_metadata_url,
            max_body_bytes: max_body_bytes as usize,
            origin_timeout_seconds: origin_timeout_seconds as u32,
        })
    }

    /// The path-inserted RFC 9728 metadata URL for `RESOURCE`
    /// (`https://mcp.example.com/.well-known/oauth-protected-resource/mcp`).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The gate's own browser origin: the origin of `RESOURCE` (`https://mcp.example.com`).
    /// Never taken from the `Host` header: under DNS rebinding, `Host` and `Origin` agree
    /// with each other and not with `RESOURCE`.
    pub fn own_origin(&self) -> &str {
        &self.own_origin
    }

    /// Whether `path` is served like the MCP endpoint: the path of `RESOURCE`, exactly, or
    /// one of `FORWARD_PATHS`.
    pub fn serves_mcp_path(&self, path: &str) -> bool {
        path == self.resource_url.path() || self.forward_paths.iter().any(|p| p == path)
    }
}

/// Why a `FORWARD_PATHS` entry cannot be served, if it cannot. Entries are compared with the
/// request path exactly (not decoded), so they must look like one: an absolute path without
/// query, fragment, whitespace or percent-escapes, and no public endpoint of the gate.
fn unservable_forward_path(path: &str, resource_path: &str) -> Option<&'static str> {
    use crate::gate::route::{AUTHORIZATION_SERVER_PREFIX, HEALTH_PATH, PROTECTED_RESOURCE_PREFIX};
    if !path.starts_with('/') {
        return Some("each path must start with `/`");
    }
    if path
        .bytes()
        .any(|b| !b.is_ascii_graphic() || b"?#%\\".contains(&b))
    {
        return Some("a path must be visible ASCII without `?`, `#`, `%` or `\\`");
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Some("a path must not hold `.` or `..` segments");
    }
    if path == resource_path {
        return Some("the MCP endpoint (the path of RESOURCE) is served already");
    }
    if path == HEALTH_PATH
        || path.starts_with(PROTECTED_RESOURCE_PREFIX)
        || path.starts_with(AUTHORIZATION_SERVER_PREFIX)
    {
        return Some("a path must not be one of the gate's public endpoints");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("RESOURCE", "https://mcp.example.com/mcp"),
        (
            "AUTHORIZATION_SERVERS",
            "https://env.example.com/resources/res_1",
        ),
        ("ORIGIN", "https://origin.internal"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Settings, SettingsError> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(extra);
        parse(&all)
    }

    #[test]
    fn defaults_are_the_safe_ones() {
        let s = with(&[]).unwrap();
        assert_eq!(
            s.token.issuers,
            vec!["https://env.example.com/resources/res_1"]
        );
        assert_eq!(s.token.audiences, vec!["https://mcp.example.com/mcp"]);
        assert_eq!(
            s.jwks_location,
            JwksLocation::Discover(vec!["https://env.example.com/resources/res_1".into()])
        );
        assert_eq!(
            s.token.allowed_algorithms,
            Algorithm::DEFAULT_ALLOWED.to_vec()
        );
        assert_eq!(s.token.clock_skew_seconds, 60);
        assert!(!s.token.require_typ_at_jwt && !s.forward_token);
        assert!(
            s.require_rules,
            "a missing rules document fails closed by default"
        );
        assert!(s.forward_paths.is_empty());
        assert!(s.filter_lists, "lists are filtered by default");
        assert_eq!(s.own_origin(), "https://mcp.example.com");
        assert!(s.serves_mcp_path("/mcp"));
        assert!(
            !s.serves_mcp_path("/mcp/") && !s.serves_mcp_path("/MCP") && !s.serves_mcp_path("/")
        );
        assert_eq!(s.allowed_origins, AllowedOrigins::OwnOnly);
        assert_eq!(s.max_body_bytes, 1_048_576);
        assert!(s.origin_authorization.is_none());
        assert_eq!(
            s.metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn missing_required_settings_are_named() {
        for name in ["RESOURCE", "AUTHORIZATION_SERVERS", "ORIGIN"] {
            let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != name).collect();
            assert_eq!(parse(&pairs).unwrap_err(), SettingsError::Missing(name));
            let mut empty = pairs.clone();
            empty.push((name, "   "));
            assert_eq!(parse(&empty).unwrap_err(), SettingsError::Missing(name));
        }
    }

    #[test]
    fn none_and_hmac_algorithms_are_invalid_settings() {
        for alg in ["none", "HS256", "HS512", "RS256 none", "es256"] {
            let err = parse(&[BASE[0], BASE[1], BASE[2], ("ALLOWED_ALGORITHMS", alg)]).unwrap_err();
            assert_eq!(err.setting(), "ALLOWED_ALGORITHMS", "{alg}");
        }
        let ok = with(&[("ALLOWED_ALGORITHMS", "ES256 RS512")]).unwrap();
        assert_eq!(
            ok.token.allowed_algorithms,
            vec![Algorithm::Es256, Algorithm::Rs512]
        );
    }

    #[test]
    fn invalid_values_are_named_without_echoing_them() {
        let cases: [(&str, &str); 12] = [
            ("REQUIRED_SCOPES", "mcp:ba\u{d1}se"),
            ("REQUIRED_SCOPES", "a\"b"),
            ("SCOPES_SUPPORTED", "ok back\\slash"),
            ("RESOURCE", "not a url"),
            ("ORIGIN", "ftp://origin"),
            ("CLOCK_SKEW_SECONDS", "601"),
            ("CLOCK_SKEW_SECONDS", "-1"),
            ("REQUIRE_TYP_AT_JWT", "yes"),
            ("SCOPE_CLAIMS", "roles"),
            ("ALLOWED_ORIGINS", "https://app.example.com/path"),
            ("FORWARD_CLAIMS", "bad:name"),
            ("MAX_BODY_BYTES", "lots"),
        ];
        for (name, value) in cases {
            let mut pairs = BASE.to_vec();
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            let err = parse(&pairs).unwrap_err();
            assert_eq!(err.setting(), name);
            assert!(!err.to_string().contains(value), "{err}");
        }
    }

    #[test]
    fn forward_paths_are_exact_plain_paths() {
        let s = with(&[("FORWARD_PATHS", "/messages /sse")]).unwrap();
        assert!(s.serves_mcp_path("/messages") && s.serves_mcp_path("/sse"));
        assert!(!s.serves_mcp_path("/messages/") && !s.serves_mcp_path("/Messages"));
        for bad in [
            "messages",
            "/a?b",
            "/a#b",
            "/a%2fb",
            "/a/../b",
            "/mcp",
            "/healthz",
            "/.well-known/oauth-protected-resource/x",
            "/.well-known/oauth-authorization-server",
        ] {
            let err = with(&[("FORWARD_PATHS", bad)]).unwrap_err();
            assert_eq!(err.setting(), "FORWARD_PATHS", "{bad}");
        }
        let off = with(&[("REQUIRE_RULES", "false")]).unwrap();
        assert!(!off.require_rules);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = with(&[("ORIGIN_AUTHORIZATION", "Bearer origin-secret-123")]).unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("origin-secret-123"));
        assert_eq!(
            s.origin_authorization.as_ref().map(Secret::expose),
            Some("Bearer origin-secret-123")
        );
    }

    #[test]
    fn origins_and_lists() {
        let s = with(&[("ALLOWED_ORIGINS", "https://a.example http://localhost:6274")]).unwrap();
        assert!(s
            .allowed_origins
            .allows("http://localhost:6274", "https://mcp.example.com"));
        assert!(!s
            .allowed_origins
            .allows("https://evil.example", "https://mcp.example.com"));
        assert!(s
            .allowed_origins
            .allows("https://mcp.example.com", "https://mcp.example.com"));
        let any = with(&[("ALLOWED_ORIGINS", "*")]).unwrap();
        assert!(any
            .allowed_origins
            .allows("https://evil.example", "https://mcp.example.com"));
        let root = parse(&[("RESOURCE", "https://mcp.example.com"), BASE[1], BASE[2]]).unwrap();
        assert_eq!(
            root.metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
    }
}
