//! The login bridge's settings (README "Login bridge"): one struct of their own, parsed from the
//! same `[vars]` and secrets as the gate's but validated apart, so that a half-configured bridge
//! breaks only `LOGIN_PATH` (a `500` page naming the setting) and never the MCP endpoint.

use std::fmt;

use ::url::Url;

use super::{
    absolute_url, fetchable_url, invalid, unservable_forward_path, Secret, SettingsError, Vars,
};
use crate::token::{Algorithm, Policy};

/// `LOGIN_PATH` default.
pub const DEFAULT_LOGIN_PATH: &str = "/login";
/// Shortest accepted `LOGIN_SECRET`: an HMAC-SHA256 key of less than 256 bits would be the
/// weakest link of the confirmation form.
pub const MIN_LOGIN_SECRET_BYTES: usize = 32;

/// What the deployment says about the bridge.
#[derive(Debug, Clone)]
pub enum Bridge {
    /// Neither `SCALEKIT_ENVIRONMENT_URL` nor `SCALEKIT_CONNECTION_ID` is set: `LOGIN_PATH` is
    /// not served (404 like any other path).
    Off,
    /// The bridge is asked for but a setting is missing or invalid: `path` (when one can be
    /// served without shadowing another endpoint) answers a `500` page naming the setting.
    Misconfigured {
        /// Where the `500` page is served: `LOGIN_PATH`, or `/login` when `LOGIN_PATH` itself
        /// is unusable; `None` when that path belongs to another endpoint.
        path: Option<String>,
        /// What is wrong (names the setting, never its value).
        error: SettingsError,
    },
    /// The bridge is on.
    On(Box<BridgeSettings>),
}

impl Bridge {
    /// The path the bridge answers on, if any.
    pub fn login_path(&self) -> Option<&str> {
        match self {
            Self::Off => None,
            Self::Misconfigured { path, .. } => path.as_deref(),
            Self::On(settings) => Some(&settings.login_path),
        }
    }

    /// Parses the bridge's settings through `lookup` (a `[vars]` entry or secret by name).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let vars = Vars { lookup };
        if vars.get("SCALEKIT_ENVIRONMENT_URL").is_none()
            && vars.get("SCALEKIT_CONNECTION_ID").is_none()
        {
            return Self::Off;
        }
        match BridgeSettings::parse(&vars) {
            Ok(settings) => Self::On(Box::new(settings)),
            Err(error) => Self::Misconfigured {
                path: page_path_for_errors(&vars),
                error,
            },
        }
    }
}

/// How the bridge learns who the browser's user is (`LOGIN_IDENTITY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `access`: the path sits behind a Cloudflare Access application.
    Access(AccessSettings),
    /// `userinfo`: your app's "who am I" endpoint, called with the browser's cookies.
    Userinfo {
        /// `LOGIN_USERINFO_URL`.
        url: Url,
    },
}

/// Cloudflare Access (`ACCESS_TEAM_DOMAIN`, `ACCESS_AUD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// `ACCESS_TEAM_DOMAIN` without a trailing `/`: the `iss` of Access JWTs.
    pub team_domain: String,
    /// `ACCESS_AUD`: the Access application's AUD tag.
    pub aud: String,
    /// `<ACCESS_TEAM_DOMAIN>/cdn-cgi/access/certs`: the team's key set.
    pub certs_url: Url,
}

impl AccessSettings {
    /// The token rules an Access JWT is checked against (README "Login bridge"): RS256 only,
    /// `iss` the team domain, `aud` containing the application's tag. Scopes are not read.
    pub fn token_policy(&self, clock_skew_seconds: u32) -> Policy {
        Policy {
            issuers: vec![self.team_domain.clone()],
            audiences: vec![self.aud.clone()],
            allowed_algorithms: vec![Algorithm::Rs256],
            clock_skew_seconds,
            require_typ_at_jwt: false,
            scope_claims: Vec::new(),
        }
    }
}

/// The validated settings of a bridge that is on.
#[derive(Clone)]
pub struct BridgeSettings {
    /// `LOGIN_PATH`: default `/login`.
    pub login_path: String,
    /// The origin of `RESOURCE`: the only `Origin` a form post may come from, and the host of
    /// `return_to`.
    pub own_origin: String,
    /// What the confirmation page calls the server: `RESOURCE_NAME`, else the host of
    /// `RESOURCE`.
    pub resource_name: String,
    /// `SCALEKIT_ENVIRONMENT_URL` without a trailing `/`.
    pub environment_url: String,
    /// `SCALEKIT_CONNECTION_ID`.
    pub connection_id: String,
    /// `SCALEKIT_CLIENT_ID` (secret).
    pub client_id: Secret,
    /// `SCALEKIT_CLIENT_SECRET` (secret).
    pub client_secret: Secret,
    /// `LOGIN_IDENTITY` and its settings.
    pub identity: IdentitySource,
    /// `LOGIN_REDIRECT_URL`: default none (a browser without a session gets a `401` page).
    pub redirect_url: Option<Url>,
    /// `LOGIN_SECRET` (secret): signs the confirmation form.
    pub login_secret: Secret,
    /// `LOGIN_CLAIMS`: default none.
    pub login_claims: Vec<String>,
    /// `CLOCK_SKEW_SECONDS` (shared with the gate): leeway for Access JWTs.
    pub clock_skew_seconds: u32,
}

impl fmt::Debug for BridgeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secrets print as `<redacted>` through `Secret`'s own `Debug`.
        f.debug_struct("BridgeSettings")
            .field("login_path", &self.login_path)
            .field("own_origin", &self.own_origin)
            .field("environment_url", &self.environment_url)
            .field("connection_id", &self.connection_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("identity", &self.identity)
            .field("redirect_url", &self.redirect_url.as_ref().map(Url::as_str))
            .field("login_secret", &self.login_secret)
            .field("login_claims", &self.login_claims)
            .finish_non_exhaustive()
    }
}

/// A URL the bridge calls or sends browsers to: `https`, or `http` on a loopback host
/// (README "Login bridge"), no credentials or fragment.
fn bridge_url(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
    name: &'static str,
) -> Result<Url, SettingsError> {
    fetchable_url(name, &vars.required(name)?)
}

/// A base URL the bridge appends paths to: no query, and no trailing `/`.
fn base_url(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
    name: &'static str,
) -> Result<String, SettingsError> {
    let url = bridge_url(vars, name)?;
    if url.query().is_some() {
        return Err(invalid(name, "a base URL must not have a query"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Whether `path` may be `LOGIN_PATH`: shaped like a served path and no other endpoint's.
fn login_path_problem(
    path: &str,
    vars: &Vars<impl Fn(&str) -> Option<String>>,
) -> Option<&'static str> {
    let resource_path = vars
        .get("RESOURCE")
        .and_then(|r| Url::parse(&r).ok())
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    if let Some(problem) = unservable_forward_path(path, &resource_path) {
        return Some(problem);
    }
    let forwarded = vars.list("FORWARD_PATHS").unwrap_or_default();
    if forwarded.iter().any(|p| p == path) {
        return Some("the path is one of FORWARD_PATHS");
    }
    None
}

/// Where a misconfigured bridge shows its `500` page.
fn page_path_for_errors(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Option<String> {
    let configured = vars.get("LOGIN_PATH");
    let found = [configured.as_deref(), Some(DEFAULT_LOGIN_PATH)]
        .into_iter()
        .flatten()
        .find(|path| login_path_problem(path, vars).is_none())
        .map(str::to_owned);
    found
}

/// `SCALEKIT_CONNECTION_ID` goes into URL paths: letters, digits, `_` and `-` only.
fn is_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl BridgeSettings {
    fn parse(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, SettingsError> {
        // Checked as the gate checks it: the bridge must not accept a RESOURCE the gate refuses.
        let resource_url = absolute_url("RESOURCE", &vars.required("RESOURCE")?)?;
        let own_origin = resource_url.origin().ascii_serialization();

        let environment_url = base_url(vars, "SCALEKIT_ENVIRONMENT_URL")?;
        let connection_id = vars.required("SCALEKIT_CONNECTION_ID")?;
        if !is_connection_id(&connection_id) {
            return Err(invalid(
                "SCALEKIT_CONNECTION_ID",
                "expected letters, digits, `_` and `-` (e.g. conn_123)",
            ));
        }
        let client_id = Secret(vars.required("SCALEKIT_CLIENT_ID")?);
        let client_secret = Secret(vars.required("SCALEKIT_CLIENT_SECRET")?);

        let login_path = vars
            .get("LOGIN_PATH")
            .unwrap_or_else(|| DEFAULT_LOGIN_PATH.to_owned());
        if let Some(problem) = login_path_problem(&login_path, vars) {
            return Err(invalid("LOGIN_PATH", problem));
        }

        let identity = match vars.required("LOGIN_IDENTITY")?.as_str() {
            "access" => {
                let team_domain = base_url(vars, "ACCESS_TEAM_DOMAIN")?;
                let team_url = Url::parse(&team_domain)
                    .map_err(|_| invalid("ACCESS_TEAM_DOMAIN", "expected an absolute URL"))?;
                if team_url.path() != "/" {
                    return Err(invalid(
                        "ACCESS_TEAM_DOMAIN",
                        "expected the team domain only, e.g. https://<team>.cloudflareaccess.com",
                    ));
                }
                let certs_url = team_url
                    .join("/cdn-cgi/access/certs")
                    .map_err(|_| invalid("ACCESS_TEAM_DOMAIN", "expected an absolute URL"))?;
                IdentitySource::Access(AccessSettings {
                    team_domain,
                    aud: vars.required("ACCESS_AUD")?,
                    certs_url,
                })
            }
            "userinfo" => IdentitySource::Userinfo {
                url: bridge_url(vars, "LOGIN_USERINFO_URL")?,
            },
            _ => return Err(invalid("LOGIN_IDENTITY", "expected `access` or `userinfo`")),
        };
        let redirect_url = match vars.get("LOGIN_REDIRECT_URL") {
            None => None,
            Some(_) => Some(bridge_url(vars, "LOGIN_REDIRECT_URL")?),
        };

        let login_secret = vars.required("LOGIN_SECRET")?;
        if login_secret.len() < MIN_LOGIN_SECRET_BYTES {
            return Err(invalid(
                "LOGIN_SECRET",
                format!("must be at least {MIN_LOGIN_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)"),
            ));
        }

        let login_claims = vars.list("LOGIN_CLAIMS").unwrap_or_default();
        let clock_skew_seconds = vars.number(
            "CLOCK_SKEW_SECONDS",
            super::DEFAULT_CLOCK_SKEW_SECONDS.into(),
            super::MAX_CLOCK_SKEW_SECONDS.into(),
        )? as u32;
        let resource_name = vars
            .get("RESOURCE_NAME")
            .or_else(|| resource_url.host_str().map(str::to_owned))
            .unwrap_or_else(|| own_origin.clone());

        Ok(Self {
            login_path,
            own_origin,
            resource_name,
            environment_url,
            connection_id,
            client_id,
            client_secret,
            identity,
            redirect_url,
            login_secret: Secret(login_secret),
            login_claims,
            clock_skew_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn bridge(pairs: &[(&str, &str)]) -> Bridge {
        let mut map: HashMap<String, String> = [
            ("RESOURCE", "https://mcp.example.com/mcp"),
            ("SCALEKIT_ENVIRONMENT_URL", "https://acme.scalekit.dev/"),
            ("SCALEKIT_CONNECTION_ID", "conn_123"),
            ("SCALEKIT_CLIENT_ID", "skc_1"),
            ("SCALEKIT_CLIENT_SECRET", "client-secret-value"),
            ("LOGIN_IDENTITY", "userinfo"),
            ("LOGIN_USERINFO_URL", "https://app.example.com/api/me"),
            ("LOGIN_SECRET", SECRET),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in pairs {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
        Bridge::from_lookup(|name| map.get(name).cloned())
    }

    fn on(pairs: &[(&str, &str)]) -> BridgeSettings {
        match bridge(pairs) {
            Bridge::On(settings) => *settings,
            other => panic!("expected the bridge on, got {other:?}"),
        }
    }

    fn misconfigured(pairs: &[(&str, &str)]) -> (Option<String>, &'static str) {
        match bridge(pairs) {
            Bridge::Misconfigured { path, error } => (path, error.setting()),
            other => panic!("expected a misconfigured bridge, got {other:?}"),
        }
    }

    #[test]
    fn off_unless_scalekit_is_named() {
        let bridge =
            Bridge::from_lookup(|name| (name == "RESOURCE").then(|| "https://x.test/mcp".into()));
        assert!(matches!(bridge, Bridge::Off));
        assert_eq!(bridge.login_path(), None);
    }

    #[test]
    fn defaults() {
        let s = on(&[]);
        assert_eq!(s.login_path, "/login");
        assert_eq!(s.own_origin, "https://mcp.example.com");
        assert_eq!(s.resource_name, "mcp.example.com");
        assert_eq!(s.environment_url, "https://acme.scalekit.dev");
        assert!(s.redirect_url.is_none() && s.login_claims.is_empty());
        assert_eq!(s.clock_skew_seconds, 60);
    }

    #[test]
    fn half_configured_bridges_name_the_missing_setting() {
        assert_eq!(
            misconfigured(&[("SCALEKIT_CONNECTION_ID", "")]),
            (Some("/login".into()), "SCALEKIT_CONNECTION_ID")
        );
        assert_eq!(misconfigured(&[("LOGIN_SECRET", "")]).1, "LOGIN_SECRET");
        assert_eq!(
            misconfigured(&[("LOGIN_SECRET", "short")]).1,
            "LOGIN_SECRET"
        );
        assert_eq!(misconfigured(&[("LOGIN_IDENTITY", "")]).1, "LOGIN_IDENTITY");
        assert_eq!(
            misconfigured(&[("LOGIN_IDENTITY", "saml")]).1,
            "LOGIN_IDENTITY"
        );
        assert_eq!(
            misconfigured(&[("LOGIN_USERINFO_URL", "")]).1,
            "LOGIN_USERINFO_URL"
        );
        assert_eq!(
            misconfigured(&[("SCALEKIT_CLIENT_SECRET", "")]).1,
            "SCALEKIT_CLIENT_SECRET"
        );
        assert_eq!(
            misconfigured(&[
                ("LOGIN_IDENTITY", "access"),
                ("ACCESS_TEAM_DOMAIN", "https://t.cloudflareaccess.com")
            ])
            .1,
            "ACCESS_AUD"
        );
        assert_eq!(
            misconfigured(&[("LOGIN_IDENTITY", "access"), ("ACCESS_AUD", "aud")]).1,
            "ACCESS_TEAM_DOMAIN"
        );
    }

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert_eq!(
            misconfigured(&[("SCALEKIT_ENVIRONMENT_URL", "http://acme.scalekit.dev")]).1,
            "SCALEKIT_ENVIRONMENT_URL"
        );
        assert_eq!(
            misconfigured(&[("LOGIN_REDIRECT_URL", "http://app.example.com/login")]).1,
            "LOGIN_REDIRECT_URL"
        );
        assert_eq!(
            misconfigured(&[("LOGIN_USERINFO_URL", "https://user:pw@app.example.com/me")]).1,
            "LOGIN_USERINFO_URL"
        );
        let s = on(&[
            ("SCALEKIT_ENVIRONMENT_URL", "http://127.0.0.1:9000"),
            ("LOGIN_REDIRECT_URL", "http://localhost:3000/login?next=1"),
        ]);
        assert_eq!(s.environment_url, "http://127.0.0.1:9000");
        assert!(s.redirect_url.is_some());
        assert_eq!(
            misconfigured(&[("SCALEKIT_CONNECTION_ID", "conn/../x")]).1,
            "SCALEKIT_CONNECTION_ID"
        );
        // RESOURCE as the gate reads it: an ftp URL or one with a fragment is no resource.
        for resource in ["ftp://mcp.example.com/mcp", "https://mcp.example.com/mcp#x"] {
            assert_eq!(
                misconfigured(&[("RESOURCE", resource)]).1,
                "RESOURCE",
                "{resource}"
            );
        }
    }

    #[test]
    fn login_path_never_shadows_another_endpoint() {
        for taken in [
            "/mcp",
            "/healthz",
            "/.well-known/oauth-protected-resource",
            "login",
            "/a b",
        ] {
            let (path, setting) = misconfigured(&[("LOGIN_PATH", taken)]);
            assert_eq!(setting, "LOGIN_PATH", "{taken}");
            // The 500 page moves to the default path, never onto the other endpoint.
            assert_eq!(path.as_deref(), Some("/login"), "{taken}");
        }
        let (path, setting) =
            misconfigured(&[("LOGIN_PATH", "/sse"), ("FORWARD_PATHS", "/sse /login")]);
        assert_eq!((path, setting), (None, "LOGIN_PATH"));
        assert_eq!(on(&[("LOGIN_PATH", "/mcp-login")]).login_path, "/mcp-login");
    }

    #[test]
    fn access_settings() {
        let s = on(&[
            ("LOGIN_IDENTITY", "access"),
            ("ACCESS_TEAM_DOMAIN", "https://acme.cloudflareaccess.com/"),
            (
                "ACCESS_AUD",
                "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2",
            ),
        ]);
        let IdentitySource::Access(access) = &s.identity else {
            panic!("expected access");
        };
        assert_eq!(access.team_domain, "https://acme.cloudflareaccess.com");
        assert_eq!(
            access.certs_url.as_str(),
            "https://acme.cloudflareaccess.com/cdn-cgi/access/certs"
        );
        let policy = access.token_policy(60);
        assert_eq!(policy.allowed_algorithms, vec![Algorithm::Rs256]);
        assert_eq!(policy.issuers, vec![access.team_domain.clone()]);
        assert_eq!(
            misconfigured(&[
                ("LOGIN_IDENTITY", "access"),
                (
                    "ACCESS_TEAM_DOMAIN",
                    "https://acme.cloudflareaccess.com/app"
                ),
                ("ACCESS_AUD", "x"),
            ])
            .1,
            "ACCESS_TEAM_DOMAIN"
        );
    }

    #[test]
    fn secrets_are_redacted_and_never_named_by_value() {
        let s = on(&[]);
        let printed = format!("{s:?}");
        for secret in [SECRET, "client-secret-value", "skc_1"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        let Bridge::Misconfigured { error, .. } = bridge(&[("LOGIN_SECRET", "tooshort-secret")])
        else {
            panic!()
        };
        assert!(!error.to_string().contains("tooshort-secret"));
    }
}
