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
    /// `OPTIONS` preflight: answered without a token.
    Preflight,
    /// `GET /healthz`.
    Health,
    /// Everything else: needs a valid token and is forwarded to the origin.
    Protected,
}

/// Classifies a request. `settings` is `None` when they are invalid: discovery paths are
/// still recognised (and answered with the settings error), everything else is protected.
pub fn route(method: &Method, path: &str, settings: Option<&Settings>) -> Route {
    if method == Method::OPTIONS {
        return Route::Preflight;
    }
    if method != Method::GET && method != Method::HEAD {
        return Route::Protected;
    }
    if path == HEALTH_PATH {
        return Route::Health;
    }
    if let Some(rest) = path.strip_prefix(PROTECTED_RESOURCE_PREFIX) {
        let resource_path = settings.map(|s| s.resource_url.path());
        if rest.is_empty() || rest == "/" || Some(rest) == resource_path {
            return Route::ProtectedResourceMetadata;
        }
        // Unknown path-inserted forms fall through: the origin may serve its own documents,
        // but only behind the gate.
    }
    if let Some(rest) = path.strip_prefix(AUTHORIZATION_SERVER_PREFIX) {
        let mirrored = settings.is_some_and(|s| s.as_metadata_url.is_some());
        if mirrored && (rest.is_empty() || rest.starts_with('/')) {
            return Route::AuthorizationServerMetadata;
        }
    }
    Route::Protected
}
