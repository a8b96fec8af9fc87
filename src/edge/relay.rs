//! The response side of the adapter: the upstream's answer to a list request, filtered by the
//! core (README "Scope-aware lists"). Every other response never comes here: it is handed to
//! the runtime as it is, body stream untouched.
//!
//! A JSON answer is read whole (at most `MAX_LIST_BYTES`, counted while read) and replaced by
//! the core's [`filter_json`] output. An event stream is piped through a `TransformStream`
//! (`filteredStream` in `glue.js`) whose chunks go to an [`SseRelay`] here, one call per chunk:
//! events that answer no list pass byte for byte as they arrive.

use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderValue;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use super::convert::edited_copy;
use super::{glue, log};
use crate::gate::header_edit::HeaderEdit;
use crate::gate::logline::LogLine;
use crate::gate::pipeline::private_cache_control;
use crate::gate::GateError;
use crate::lists::{filter_json, EntryPolicy, ListError, ListRequests, SseFilter, MAX_LIST_BYTES};

/// How a list answer was relayed.
pub enum Relayed {
    /// The response to send (its log line written, or to be written by the stream relay).
    Response(Response),
    /// A `2xx` JSON answer that is not a list answer: `502`, with the log line still to write.
    Invalid(GateError, Box<LogLine>),
}

/// The essence of a `Content-Type` value, lower-cased (`text/event-stream`).
fn essence(content_type: Option<String>) -> String {
    content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Relays a `2xx` answer to list `requests`, filtered by `policy`. `cors` are the CORS edits
/// for the client's browser origin.
pub async fn filtered(
    response: Response,
    requests: ListRequests,
    policy: EntryPolicy,
    cors: Vec<HeaderEdit>,
    mut line: LogLine,
    started: u64,
) -> worker::Result<Relayed> {
    let headers = response.headers();
    let content_type = essence(headers.get(CONTENT_TYPE.as_str()).ok().flatten());
    let cache_control = headers.get(CACHE_CONTROL.as_str()).ok().flatten();
    // The answer may now depend on the token: no shared cache may keep it.
    let private = HeaderEdit::Set(
        CACHE_CONTROL,
        HeaderValue::from_str(&private_cache_control(cache_control.as_deref()))
            .unwrap_or_else(|_| HeaderValue::from_static("private")),
    );
    let mut edits = cors.clone();
    edits.push(private);
    match content_type.as_str() {
        "text/event-stream" => {
            let relay = SseRelay {
                filter: SseFilter::new(requests, policy),
                line: Some(line),
                started,
            };
            let headers = edited_copy(&headers, &edits)?;
            let stream = glue::filtered_stream(&response, &headers, JsValue::from(relay))?;
            Ok(Relayed::Response(stream))
        }
        "application/json" => {
            let body =
                match JsFuture::from(glue::read_body_of(&response, MAX_LIST_BYTES as f64)).await {
                    Ok(value) if value.is_undefined() => Err(ListError::TooLarge),
                    Ok(value) => Ok(js_sys::Uint8Array::new(&value).to_vec()),
                    Err(_) => Err(ListError::NotJson),
                };
            let filtered = body.and_then(|body| filter_json(&body, &requests, &policy));
            let filtered = match filtered {
                Ok(filtered) => filtered,
                Err(e) => {
                    return Ok(Relayed::Invalid(
                        GateError::UpstreamListInvalid(e),
                        Box::new(line),
                    ))
                }
            };
            if filtered.changed {
                line.filtered = Some(filtered.removed);
            }
            // The length of the body actually sent; a content coding is applied by the
            // runtime on the way out, so then no length is given.
            edits.push(HeaderEdit::Remove(CONTENT_LENGTH.as_str().to_owned()));
            if headers.get("content-encoding").ok().flatten().is_none() {
                edits.push(HeaderEdit::Set(
                    CONTENT_LENGTH,
                    HeaderValue::from(filtered.body.len()),
                ));
            }
            let headers = edited_copy(&headers, &edits)?;
            let init = web_sys::ResponseInit::new();
            init.set_status(response.status());
            init.set_status_text(&response.status_text());
            init.set_headers(&headers);
            let body = js_sys::Uint8Array::from(filtered.body.as_slice());
            let relayed = Response::new_with_opt_buffer_source_and_init(Some(&body), &init)?;
            log(line, started);
            Ok(Relayed::Response(relayed))
        }
        // A GET stream that is not an event stream answers no list; a POST list request's
        // 2xx answer must be one of the two forms.
        _ if requests.is_unknown_ids() => {
            log(line, started);
            let headers = edited_copy(&headers, &cors)?;
            let init = web_sys::ResponseInit::new();
            init.set_status(response.status());
            init.set_status_text(&response.status_text());
            init.set_headers(&headers);
            Ok(Relayed::Response(
                Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init)?,
            ))
        }
        _ => Ok(Relayed::Invalid(
            GateError::UpstreamListInvalid(ListError::NotJson),
            Box::new(line),
        )),
    }
}

/// The stream filter of one event-stream response, driven from `filteredStream` in `glue.js`
/// (one `push` per chunk, `finish` at the end). Writes the request's log line, with the count
/// of removed entries, as soon as the list answer has been handled (or when the stream ends).
#[wasm_bindgen]
pub struct SseRelay {
    filter: SseFilter,
    line: Option<LogLine>,
    started: u64,
}

#[wasm_bindgen]
impl SseRelay {
    /// The bytes to pass on for `chunk`.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let out = self.filter.push(chunk);
        if self.filter.is_done() {
            self.write_log();
        }
        out
    }

    /// The bytes still held at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let out = self.filter.finish();
        self.write_log();
        out
    }
}

impl SseRelay {
    fn write_log(&mut self) {
        if let Some(mut line) = self.line.take() {
            if self.filter.list_events() > 0 {
                line.filtered = Some(self.filter.removed());
            }
            log(line, self.started);
        }
    }
}
