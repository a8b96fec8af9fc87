//! The bridge's HTML (README "Login bridge", "Pages"): small, accessible, no script, every
//! shown value escaped, and headers that keep the pages out of caches and frames.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::identity::User;
use super::params::LoginParams;
use crate::settings::bridge::BridgeSettings;

/// The pages' `Content-Security-Policy`: nothing loads, inline style only, no framing. No
/// `form-action`: it would also apply to the redirect chain to Scalekit after the post.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}h1{font-size:1.4rem}button{font-size:1rem;padding:.6rem 1.4rem;border-radius:.4rem;border:1px solid #1a4fd6;background:#1a4fd6;color:#fff;cursor:pointer}button:focus{outline:3px solid #f5b400;outline-offset:2px}.note{color:#444;font-size:.95rem}";

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"same-origin\"><title>{}</title><style>{STYLE}</style></head><body><main>{main}</main></body></html>\n",
        escape(title)
    )
}

/// The confirmation page (README "Login bridge" step 3). The hidden fields carry the state and
/// the form token; the visible text shows neither.
pub fn confirmation(
    settings: &BridgeSettings,
    user: &User,
    params: &LoginParams,
    form_token: &str,
) -> String {
    let name = escape(&settings.resource_name);
    let email = escape(user.email());
    let title = format!("Continue to {} as {}", settings.resource_name, user.email());
    let main = format!(
        "<h1>Continue to {name} as {email}</h1>\
<p>An MCP client (an AI assistant, an editor or another tool) asked to access {name} on your behalf. Continuing signs that client in as <strong>{email}</strong>.</p>\
<p class=\"note\">If you did not just start signing in from an MCP client, do not continue: close this page. Someone may have sent you this link to get access as you.</p>\
<form method=\"post\" action=\"{path}\">\
<input type=\"hidden\" name=\"login_request_id\" value=\"{id}\">\
<input type=\"hidden\" name=\"state\" value=\"{state}\">\
<input type=\"hidden\" name=\"token\" value=\"{token}\">\
<button type=\"submit\">Continue</button>\
</form>\
<p class=\"note\">To cancel, close this page: nothing is shared until you continue.</p>",
        path = escape(&settings.login_path),
        id = escape(&params.login_request_id),
        state = escape(&params.state),
        token = escape(form_token),
    );
    document(&title, &main)
}

/// A page with a title and one paragraph (errors).
pub fn message(title: &str, text: &str) -> String {
    document(
        title,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text)),
    )
}

/// An HTML response with the pages' security headers.
pub fn html(status: u16, body: String) -> Response<Vec<u8>> {
    let mut response = Response::new(body.into_bytes());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    secure(&mut response);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A redirect with the pages' security headers (no body).
pub fn redirect(location: &str) -> Response<Vec<u8>> {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::FOUND;
    secure(&mut response);
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        // Every location is built from checked settings and URL-safe fields; should one not
        // be a header value, answer an error rather than a redirect to nowhere.
        Err(_) => *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
    }
    response
}

fn secure(response: &mut Response<Vec<u8>>) {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn pages_carry_the_security_headers_and_no_script() {
        let response = html(400, message("T <b>", "x"));
        let h = response.headers();
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["content-security-policy"], CONTENT_SECURITY_POLICY);
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        let body = String::from_utf8(response.body().clone()).unwrap();
        assert!(body.contains("T &lt;b&gt;") && !body.contains("<script"));
        let r = redirect("https://x.test/a?b=c");
        assert_eq!(
            (r.status(), &r.headers()["location"]),
            (
                StatusCode::FOUND,
                &HeaderValue::from_static("https://x.test/a?b=c")
            )
        );
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
}
