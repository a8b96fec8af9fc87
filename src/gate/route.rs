//! Routing: which requests the gate answers itself and which are protected.

use http::Method;

use crate::settings::Settings;

/// RFC 9728 well-known prefix.
pub const PROTECTED_RESOURCE_PREFIX: &str = "/.well-known/oauth-protected-resource";
/// RFC 8414 well-known prefix (mirrored for 2025-03-26 clients when `AS_METADATA_URL` is set).
pub const AUTHORIZATION_SERVER_PREFIX: &str = "/.well-known/oauth-authorization-server";
/// Health endpoint.
pub const HEALTH_PATH: &str = "/healthz";

/// What kind of request this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET` of the protected resource metadata (root or path-inserted form). Never gated.
    ProtectedResourceMetadata,
    /// `GET` of the mirrored authorization server metadata.
    AuthorizationServerMetadata,
    /// `OPTIONS` preflight of a served path: answered without a token.
    Preflight,
    /// `GET /healthz`.
    Health,
    /// The MCP endpoint or a `FORWARD_PATHS` path: admitted (README "Request hygiene"), then
    /// needs a valid token and the rules' scopes, then forwarded to the upstream.
    Protected,
    /// `LOGIN_PATH` of the login bridge (README "Login bridge"), any method: the bridge's own
    /// pipeline, independent of the gate's settings, tokens and rules.
    Login,
    /// Any other path: `404` (after the `Origin` check), never forwarded.
    NotServed,
}

/// Classifies a request by method and path (README "Request hygiene"). `settings` is `None`
/// when they are invalid: discovery paths are still recognised (and answered with the
/// settings error), everything else is protected (and answered with the settings error).
///
/// Only exact paths are served: the path of `RESOURCE`, `FORWARD_PATHS`, the public
/// endpoints. Paths are compared as received (not decoded), so `/MCP`, `/mcp/` and `/%6dcp`
/// are not the MCP endpoint, whatever the upstream would make of them. `login_path` is the
/// bridge's path when it serves one (its settings keep it apart from every other path).
pub fn route(
    method: Option<&Method>,
    path: &str,
    settings: Option<&Settings>,
    login_path: Option<&str>,
) -> Route {
    if login_path == Some(path) {
        return Route::Login;
    }
    let public = public_route(path, settings);
    let Some(settings) = settings else {
        return match (method, public) {
            (Some(m), Some(route)) if *m == Method::GET || *m == Method::HEAD => route,
            (Some(m), _) if *m == Method::OPTIONS => Route::Preflight,
            _ => Route::Protected,
        };
    };
    if settings.serves_mcp_path(path) {
        return match method {
            Some(m) if *m == Method::OPTIONS => Route::Preflight,
            _ => Route::Protected,
        };
    }
    match (method, public) {
        (Some(m), Some(_)) if *m == Method::OPTIONS => Route::Preflight,
        (Some(m), Some(route)) if *m == Method::GET || *m == Method::HEAD => route,
        _ => Route::NotServed,
    }
}

/// The public endpoint at `path`, if there is one.
fn public_route(path: &str, settings: Option<&Settings>) -> Option<Route> {
    if path == HEALTH_PATH {
        return Some(Route::Health);
    }
    if let Some(rest) = path.strip_prefix(PROTECTED_RESOURCE_PREFIX) {
        let resource_path = settings.map(|s| s.resource_url.path());
        if rest.is_empty() || rest == "/" || Some(rest) == resource_path {
            return Some(Route::ProtectedResourceMetadata);
        }
    }
    if let Some(rest) = path.strip_prefix(AUTHORIZATION_SERVER_PREFIX) {
        let mirrored = settings.is_some_and(|s| s.as_metadata_url.is_some());
        if mirrored && (rest.is_empty() || rest.starts_with('/')) {
            return Some(Route::AuthorizationServerMetadata);
        }
    }
    None
}

/// Whether `path` is one of the gate's public endpoints (discovery, health): their preflight
/// allows any origin.
pub fn is_public(path: &str) -> bool {
    path == HEALTH_PATH
        || path.starts_with(PROTECTED_RESOURCE_PREFIX)
        || path.starts_with(AUTHORIZATION_SERVER_PREFIX)
}
