//! Media type and content coding of a request body (README "Request hygiene").
//!
//! The gate reads a body as UTF-8 JSON. An upstream decodes it by the request's `charset`
//! (the MCP TypeScript SDK's Express app does, through `body-parser`): the same bytes in
//! `utf-7` or `utf-16` are another message there. So only the one reading both agree on is
//! admitted: `application/json`, no parameter but `charset=utf-8`, no content coding.

use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::HeaderMap;

use super::AdmitError;

/// `Content-Type` must be exactly one `application/json` (case-insensitive) whose only
/// parameter, if any, is `charset=utf-8` (case-insensitive, optionally quoted).
pub fn check_content_type(headers: &HeaderMap) -> Result<(), AdmitError> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let value = match (values.next(), values.next()) {
        (Some(value), None) => value
            .to_str()
            .map_err(|_| AdmitError::UnsupportedMediaType)?,
        _ => return Err(AdmitError::UnsupportedMediaType),
    };
    if is_json_utf8(value) {
        Ok(())
    } else {
        Err(AdmitError::UnsupportedMediaType)
    }
}

fn is_json_utf8(value: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return false;
    }
    let mut charset_seen = false;
    for parameter in parts {
        let parameter = parameter.trim();
        // A trailing `;` (an empty parameter) is harmless to every reader.
        if parameter.is_empty() {
            continue;
        }
        let Some((name, value)) = parameter.split_once('=') else {
            return false;
        };
        if !name.trim_end().eq_ignore_ascii_case("charset") || charset_seen {
            return false;
        }
        charset_seen = true;
        let value = value.trim_start();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if !value.eq_ignore_ascii_case("utf-8") {
            return false;
        }
    }
    true
}

/// `Content-Encoding`, when present, must be `identity` (case-insensitive): the gate inspects
/// the bytes it receives, an upstream would decompress them first.
pub fn check_encoding(headers: &HeaderMap) -> Result<(), AdmitError> {
    for value in headers.get_all(CONTENT_ENCODING) {
        let identity = value.to_str().is_ok_and(|v| {
            v.split(',')
                .all(|coding| coding.trim().eq_ignore_ascii_case("identity"))
        });
        if !identity {
            return Err(AdmitError::UnsupportedEncoding);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(name: http::HeaderName, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn json_in_utf8_is_the_only_media_type() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/json ; charset = utf-8",
            "application/json;",
        ] {
            assert_eq!(
                check_content_type(&with(CONTENT_TYPE, &[ok])),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "application/json; charset=utf-7",
            "application/json; charset=utf-16le",
            "application/json; charset=latin1",
            "application/json; charset=utf-8; charset=utf-7",
            "application/json; boundary=x",
            "application/json; x-charset=utf-8",
            "application/json; charset=utf-8; charset=utf-8",
            "application/json; charset",
            "application/jsonx",
            "application/json-seq",
            "text/plain",
            "text/json",
            "application/x-www-form-urlencoded",
            "",
        ] {
            assert_eq!(
                check_content_type(&with(CONTENT_TYPE, &[bad])),
                Err(AdmitError::UnsupportedMediaType),
                "{bad}"
            );
        }
        assert_eq!(
            check_content_type(&HeaderMap::new()),
            Err(AdmitError::UnsupportedMediaType)
        );
        assert_eq!(
            check_content_type(&with(
                CONTENT_TYPE,
                &["application/json", "application/json; charset=utf-7"]
            )),
            Err(AdmitError::UnsupportedMediaType)
        );
    }

    #[test]
    fn only_identity_coding_is_admitted() {
        assert_eq!(check_encoding(&HeaderMap::new()), Ok(()));
        assert_eq!(
            check_encoding(&with(CONTENT_ENCODING, &["identity"])),
            Ok(())
        );
        assert_eq!(
            check_encoding(&with(CONTENT_ENCODING, &["IDENTITY"])),
            Ok(())
        );
        for bad in ["gzip", "br", "deflate", "identity, gzip", "x-gzip", ""] {
            assert_eq!(
                check_encoding(&with(CONTENT_ENCODING, &[bad])),
                Err(AdmitError::UnsupportedEncoding),
                "{bad}"
            );
        }
        assert_eq!(
            check_encoding(&with(CONTENT_ENCODING, &["identity", "gzip"])),
            Err(AdmitError::UnsupportedEncoding)
        );
    }
}
