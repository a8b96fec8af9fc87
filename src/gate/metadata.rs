//! RFC 9728 protected resource metadata.

use serde::Serialize;

use crate::settings::Settings;

#[derive(Serialize)]
struct ProtectedResourceMetadata<'a> {
    resource: &'a str,
    authorization_servers: &'a [String],
    bearer_methods_supported: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes_supported: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<&'a str>,
}

/// The metadata document: `resource` is `RESOURCE` verbatim (clients compare it exactly).
pub fn protected_resource_metadata(settings: &Settings) -> Vec<u8> {
    let doc = ProtectedResourceMetadata {
        resource: &settings.resource,
        authorization_servers: &settings.authorization_servers,
        bearer_methods_supported: ["header"],
        scopes_supported: settings.scopes_supported.as_deref(),
        resource_name: settings.resource_name.as_deref(),
        resource_documentation: settings.resource_documentation.as_deref(),
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// A public discovery document: JSON, readable from any browser origin, cacheable briefly.
pub fn public_document(body: Vec<u8>) -> http::Response<Vec<u8>> {
    use http::header::{HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE};
    let mut response = http::Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
