//! Why a request is not admitted. Each variant has its answer in `gate::respond` (status,
//! JSON body); none carries request content, so no answer echoes it.

use std::fmt;

use serde_json::Value;

/// A request the gate refuses before any rule is applied (README "Request hygiene").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmitError {
    /// The path is neither the MCP endpoint, a `FORWARD_PATHS` entry nor a public endpoint:
    /// `404`, never forwarded, with or without a token.
    NotServed,
    /// A method other than `GET`, `POST`, `DELETE` (and `OPTIONS`) on a served path: `405`
    /// with `Allow`.
    MethodNotAllowed,
    /// A `GET` or `DELETE` that carries (or announces) a body: `400`. The upstream might read
    /// a body the gate never inspected.
    BodyNotAllowed,
    /// `Content-Length` is not one decimal number: `400`.
    BadContentLength,
    /// A `POST` whose `Content-Type` is not `application/json` (with no `charset` or
    /// `charset=utf-8`): `415`. Another charset decodes the same bytes into another message.
    UnsupportedMediaType,
    /// A `Content-Encoding` other than `identity`: `415`.
    UnsupportedEncoding,
    /// The body exceeds `MAX_BODY_BYTES` (declared, or counted while read): `413`.
    BodyTooLarge,
    /// The body could not be read to its end (the client went away, a broken chunked
    /// encoding): `400`; nothing half-read is forwarded.
    BodyUnreadable,
    /// `Mcp-Method` or `Mcp-Name` disagrees with the body: `400` with JSON-RPC error
    /// `-32020` and the message's `id` (or `null`).
    McpHeaderMismatch {
        /// The header that disagrees.
        header: McpHeader,
        /// The `id` of the message, when the body is one request.
        id: Option<Value>,
    },
}

/// The MCP request headers of revision 2026-07-28 that must agree with the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpHeader {
    /// `Mcp-Method`: the JSON-RPC `method`.
    Method,
    /// `Mcp-Name`: `params.name` or `params.uri`.
    Name,
}

impl McpHeader {
    /// The header's name as written in the MCP specification.
    pub fn name(self) -> &'static str {
        match self {
            Self::Method => "Mcp-Method",
            Self::Name => "Mcp-Name",
        }
    }
}

impl AdmitError {
    /// Short machine-readable reason for the log line.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotServed => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BodyNotAllowed => "body_not_allowed",
            Self::BadContentLength => "bad_content_length",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnsupportedEncoding => "unsupported_content_encoding",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyUnreadable => "body_unreadable",
            Self::McpHeaderMismatch {
                header: McpHeader::Method,
                ..
            } => "mcp_method_mismatch",
            Self::McpHeaderMismatch {
                header: McpHeader::Name,
                ..
            } => "mcp_name_mismatch",
        }
    }

    /// The human-readable description of the answer.
    pub fn description(&self) -> &'static str {
        match self {
            Self::NotServed => "The gate serves no resource at this path",
            Self::MethodNotAllowed => "The MCP endpoint accepts GET, POST, DELETE and OPTIONS",
            Self::BodyNotAllowed => {
                "A GET or DELETE request to the MCP endpoint must not carry a body"
            }
            Self::BadContentLength => "The Content-Length header is not one decimal number",
            Self::UnsupportedMediaType => {
                "A POST body must be Content-Type: application/json, UTF-8 (no other charset)"
            }
            Self::UnsupportedEncoding => {
                "The request body must not be compressed (Content-Encoding: identity only)"
            }
            Self::BodyTooLarge => "The request body exceeds the gate's limit",
            Self::BodyUnreadable => "The request body could not be read to its end",
            Self::McpHeaderMismatch {
                header: McpHeader::Method,
                ..
            } => "The Mcp-Method header does not match the JSON-RPC method of the body",
            Self::McpHeaderMismatch {
                header: McpHeader::Name,
                ..
            } => "The Mcp-Name header does not match the name or uri in the body",
        }
    }
}

impl fmt::Display for AdmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for AdmitError {}
