//! `GET /healthz` (README "Logs and /healthz"): the isolate's non-secret state and whether it
//! can serve: `200` only with valid settings and usable keys, `503` otherwise. Pure: the
//! adapter gathers the state, this decides and writes the answer.

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::refresh::policy::KeyHealth;
use crate::rules::RulesSnapshot;
use crate::settings::bridge::Bridge;
use crate::settings::SettingsError;
use crate::token::cache::CacheStats;

/// The overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Settings valid, usable keys: tokens can be verified.
    Ok,
    /// Settings valid, but no usable key: every token is refused.
    NoKeys,
    /// Settings invalid: every protected request gets `500`.
    InvalidSettings,
}

/// The status from the settings outcome and the key state (`None` when the settings are
/// invalid and keys were not looked at).
pub fn status(settings: Result<(), &SettingsError>, keys: Option<&KeyHealth>) -> HealthStatus {
    match (settings, keys) {
        (Err(_), _) => HealthStatus::InvalidSettings,
        (Ok(()), Some(keys)) if keys.is_healthy() => HealthStatus::Ok,
        (Ok(()), Some(_) | None) => HealthStatus::NoKeys,
    }
}

#[derive(Serialize)]
struct Body<'a> {
    status: HealthStatus,
    settings_error: Option<String>,
    keys: Option<&'a KeyHealth>,
    rules: &'static str,
    rules_version: Option<u64>,
    rules_age_seconds: Option<u64>,
    token_cache: CacheStats,
    /// The login bridge (README "Login bridge"): `off`, `on` or `misconfigured`. It never
    /// changes `status`: the MCP endpoint does not depend on it.
    login_bridge: &'static str,
    /// What is wrong with the bridge's settings (names the setting, never its value; the same
    /// text its `500` page shows).
    login_bridge_error: Option<String>,
}

/// The `/healthz` answer: JSON, `no-store`, `200` only when [`status`] is `ok`.
pub fn response(
    settings: Result<(), &SettingsError>,
    keys: Option<&KeyHealth>,
    rules: &RulesSnapshot,
    token_cache: CacheStats,
    bridge: &Bridge,
) -> Response<Vec<u8>> {
    let status = status(settings, keys);
    let (login_bridge, login_bridge_error) = match bridge {
        Bridge::Off => ("off", None),
        Bridge::On(_) => ("on", None),
        Bridge::Misconfigured { error, .. } => ("misconfigured", Some(error.to_string())),
    };
    let body = Body {
        status,
        settings_error: settings.err().map(ToString::to_string),
        keys,
        rules: rules.state,
        rules_version: rules.version,
        rules_age_seconds: rules.age_seconds,
        token_cache,
        login_bridge,
        login_bridge_error,
    };
    let mut response = Response::new(serde_json::to_vec(&body).unwrap_or_default());
    *response.status_mut() = match status {
        HealthStatus::Ok => StatusCode::OK,
        HealthStatus::NoKeys | HealthStatus::InvalidSettings => StatusCode::SERVICE_UNAVAILABLE,
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::policy::{key_health, KeyCache, RefreshThrottle};
    use crate::rules::RulesCache;
    use crate::token::cache::TokenCache;

    fn no_keys() -> KeyHealth {
        key_health(&KeyCache::default(), &RefreshThrottle::new(), 0)
    }

    #[test]
    fn only_valid_settings_with_usable_keys_are_healthy() {
        let invalid = SettingsError::Missing("ORIGIN");
        assert_eq!(status(Err(&invalid), None), HealthStatus::InvalidSettings);
        assert_eq!(
            status(Err(&invalid), Some(&no_keys())),
            HealthStatus::InvalidSettings
        );
        assert_eq!(status(Ok(()), None), HealthStatus::NoKeys);
        assert_eq!(status(Ok(()), Some(&no_keys())), HealthStatus::NoKeys);
    }

    #[test]
    fn the_answer_names_the_state_and_never_a_value() {
        let invalid = SettingsError::Invalid {
            setting: "ORIGIN",
            reason: "expected an http(s) URL with a host".into(),
        };
        let rules = RulesCache::default().snapshot(0);
        let response = response(
            Err(&invalid),
            None,
            &rules,
            TokenCache::new().stats(),
            &Bridge::Off,
        );
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["status"], "invalid_settings");
        assert!(body["settings_error"].as_str().unwrap().contains("ORIGIN"));
        assert_eq!(body["rules"], "unknown");
        assert_eq!(body["login_bridge"], "off");
        assert!(body["login_bridge_error"].is_null());
        let response = response_for_no_keys(&rules);
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["status"], "no_keys");
        assert_eq!(body["keys"]["key_count"], 0);
    }

    fn response_for_no_keys(rules: &RulesSnapshot) -> Response<Vec<u8>> {
        response(
            Ok(()),
            Some(&no_keys()),
            rules,
            TokenCache::new().stats(),
            &Bridge::Off,
        )
    }

    #[test]
    fn the_login_bridge_is_reported_without_changing_the_status() {
        let secret = "s3cr3t-value-that-must-never-show-up-0123456789";
        let vars = [
            ("RESOURCE", "https://mcp.example.com/mcp"),
            ("SCALEKIT_ENVIRONMENT_URL", "https://acme.scalekit.dev"),
            ("SCALEKIT_CONNECTION_ID", "conn_1"),
            ("SCALEKIT_CLIENT_SECRET", secret),
        ];
        let bridge = Bridge::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        });
        assert!(matches!(bridge, Bridge::Misconfigured { .. }));
        let rules = RulesCache::default().snapshot(0);
        let answer = response(
            Ok(()),
            Some(&no_keys()),
            &rules,
            TokenCache::new().stats(),
            &bridge,
        );
        assert_eq!(answer.status(), 503, "still about the keys only");
        let text = String::from_utf8(answer.body().clone()).unwrap();
        assert!(!text.contains(secret));
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "no_keys");
        assert_eq!(body["login_bridge"], "misconfigured");
        assert!(
            body["login_bridge_error"]
                .as_str()
                .unwrap()
                .contains("SCALEKIT_CLIENT_ID"),
            "{text}"
        );
    }
}
