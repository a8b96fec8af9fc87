//! Filtering the list answer in a `text/event-stream` response, incrementally
//! (README "Scope-aware lists").
//!
//! The stream is cut into events by the HTML Living Standard, "Server-sent events", §9.2.6:
//! lines end in CRLF, LF or CR; a blank line ends an event; a line starting with `:` is a
//! comment; `data` values are joined with LF; one leading UTF-8 BOM is not part of the stream.
//! An event is held only until its blank line arrives, and is then emitted at once:
//! - byte for byte, unless it is a `message` event whose data is a list answer;
//! - a list answer is rewritten: its JSON filtered like a JSON body, re-emitted compact on one
//!   `data:` line in the place of the first, its other lines (`id:`, `event:`, `retry:`,
//!   comments) kept in order;
//! - a list answer that cannot be read as one is replaced by a JSON-RPC error response with the
//!   request's id (code `-32603`), in the same event.

use serde_json::Value;

use super::error::ListError;
use super::json::{error_response, filter_message, messages_mut, Outcome};
use super::policy::EntryPolicy;
use super::requests::ListRequests;
use super::sse_event::HeldEvent;
use super::value::{self, Json};
use super::MAX_LIST_BYTES;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The incremental filter of one event stream. Feed it every chunk with [`SseFilter::push`] and
/// send what it returns; at the end of the stream send what [`SseFilter::finish`] returns.
///
/// When the request has no list call, or the policy keeps everything (authenticated mode),
/// every chunk is returned as it came.
///
/// Events that cannot be read:
/// - a `message` event whose data is not JSON (after UTF-8 decoding with replacement, as a
///   client decodes the stream) is taken as the answer to the first list request not yet
///   answered, and replaced by the error; when every list request has been answered, or the
///   ids are unknown (`GET` stream), it passes unchanged. Empty data (a priming event) always
///   passes;
/// - an event growing past [`MAX_LIST_BYTES`] is likewise replaced by the error
///   ([`ListError::TooLarge`]) at once, and the rest of it is discarded; when no list request is
///   waiting, it is not inspected and streams through unchanged from that point.
#[derive(Debug)]
pub struct SseFilter {
    requests: ListRequests,
    policy: EntryPolicy,
    /// Nothing to filter: every byte passes as it comes.
    untouched: bool,
    /// `finish` was called.
    finished: bool,
    /// Per known list request, whether an answer to it has been handled.
    answered: Vec<bool>,
    removed: usize,
    list_events: usize,
    error: Option<ListError>,
    /// The first bytes of the stream while they may still be a BOM.
    bom: Option<Vec<u8>>,
    /// A CR just ended a line: an LF right after it belongs to that line end.
    after_cr: Option<LineEnd>,
    /// What happens to the bytes of the current event.
    mode: Mode,
    event: HeldEvent,
}

/// Where the LF of a CRLF goes when it comes after the CR was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEnd {
    /// Into the held event (the line did not end it).
    Held,
    /// To the output (the event passed byte for byte).
    Emit,
    /// Nowhere (the event was rewritten or discarded).
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The event is held until its blank line.
    Holding,
    /// An event too large to inspect streams through until its blank line.
    Passing { line_empty: bool },
    /// An event too large to inspect, already replaced by an error, is dropped until its
    /// blank line.
    Discarding { line_empty: bool },
}

impl SseFilter {
    /// A filter for the answer to a request whose list requests are `requests`, deciding entries
    /// by `policy`.
    pub fn new(requests: ListRequests, policy: EntryPolicy) -> SseFilter {
        let untouched = requests.is_empty() || policy.keeps_all();
        let answered = vec![false; requests.known().len()];
        SseFilter {
            requests,
            policy,
            untouched,
            finished: false,
            answered,
            removed: 0,
            list_events: 0,
            error: None,
            bom: Some(Vec::new()),
            after_cr: None,
            mode: Mode::Holding,
            event: HeldEvent::default(),
        }
    }

    /// Takes the next chunk of the stream; returns the bytes to send now: every event completed
    /// by this chunk (as it came, or rewritten), and the bytes of an event too large to hold.
    /// The bytes of an event not yet complete are held.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.untouched || self.finished {
            return chunk.to_vec();
        }
        let mut out = Vec::new();
        let rest = self.skip_bom(chunk, &mut out);
        self.feed(rest, &mut out);
        out
    }

    /// Ends the stream; returns the bytes still held. An event the stream ended in the middle
    /// of (which a client never dispatches) is returned as it came, or, if it would be a list
    /// answer, rewritten, still without the blank line that would end it. Later pushes pass
    /// through unchanged.
    pub fn finish(&mut self) -> Vec<u8> {
        if self.untouched || self.finished {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(start) = self.bom.take() {
            // Fewer than three bytes, the start of a BOM: ordinary bytes after all.
            self.feed(&start, &mut out);
        }
        self.finished = true;
        if self.mode == Mode::Holding && !self.event.is_empty() {
            if !self.event.at_line_start() {
                let line = self.event.line_start..self.event.raw.len();
                self.event.add_line(line);
            }
            self.dispatch(false, &mut out);
        }
        out
    }

    /// How many list entries have been removed so far (the log line's `filtered`).
    pub fn removed(&self) -> usize {
        self.removed
    }

    /// How many list answers have been handled (filtered, or replaced by an error).
    pub fn list_events(&self) -> usize {
        self.list_events
    }

    /// Whether every list request of the body has been answered, so the log line can be
    /// written. Always `true` when there is nothing to filter; never before the end for a
    /// stream whose ids are unknown.
    pub fn is_done(&self) -> bool {
        if self.untouched {
            return true;
        }
        if self.requests.is_unknown_ids() {
            return self.finished;
        }
        self.answered.iter().all(|answered| *answered)
    }

    /// The first list answer that could not be read, if any (for the log line).
    pub fn error(&self) -> Option<ListError> {
        self.error
    }

    /// Passes a leading UTF-8 BOM through at once (it is not part of any event); returns the
    /// rest of `chunk`.
    fn skip_bom<'c>(&mut self, chunk: &'c [u8], out: &mut Vec<u8>) -> &'c [u8] {
        let Some(start) = self.bom.as_mut() else {
            return chunk;
        };
        let wanted = (BOM.len() - start.len()).min(chunk.len());
        start.extend_from_slice(&chunk[..wanted]);
        let rest = &chunk[wanted..];
        if !BOM.starts_with(start) {
            let start = self.bom.take().unwrap_or_default();
            self.feed(&start, out);
            return rest;
        }
        if start.len() == BOM.len() {
            out.extend_from_slice(BOM);
            self.bom = None;
        }
        rest
    }

    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < bytes.len() {
            if let Some(end) = self.after_cr.take() {
                if bytes[i] == b'\n' {
                    match end {
                        LineEnd::Held => {
                            self.event.raw.push(b'\n');
                            self.event.line_start = self.event.raw.len();
                        }
                        LineEnd::Emit => out.push(b'\n'),
                        LineEnd::Drop => {}
                    }
                    i += 1;
                    continue;
                }
            }
            let rest = &bytes[i..];
            let line_end = rest.iter().position(|&b| b == b'\r' || b == b'\n');
            let taken = line_end.map_or(rest.len(), |at| at + 1);
            match self.mode {
                Mode::Holding => self.hold(&rest[..taken], line_end.is_some(), out),
                Mode::Passing { line_empty } | Mode::Discarding { line_empty } => {
                    let passing = matches!(self.mode, Mode::Passing { .. });
                    if passing {
                        out.extend_from_slice(&rest[..taken]);
                    }
                    let blank = line_end == Some(0) && line_empty;
                    let line_empty = line_end.is_some();
                    if rest[taken - 1] == b'\r' && line_end.is_some() {
                        self.after_cr = Some(if passing {
                            LineEnd::Emit
                        } else {
                            LineEnd::Drop
                        });
                    }
                    self.mode = if blank {
                        Mode::Holding
                    } else if passing {
                        Mode::Passing { line_empty }
                    } else {
                        Mode::Discarding { line_empty }
                    };
                }
            }
            i += taken;
        }
    }

    /// Adds `piece` to the held event: the rest of a line (`ends_line`: including its CR or LF),
    /// or a part of one.
    fn hold(&mut self, piece: &[u8], ends_line: bool, out: &mut Vec<u8>) {
        let event = &mut self.event;
        event.raw.extend_from_slice(piece);
        if ends_line {
            let cr = piece.last() == Some(&b'\r');
            let line = event.line_start..event.raw.len() - 1;
            event.line_start = event.raw.len();
            if line.is_empty() {
                let end = self.dispatch(true, out);
                if cr {
                    self.after_cr = Some(end);
                }
                return;
            }
            event.add_line(line);
            if cr {
                self.after_cr = Some(LineEnd::Held);
            }
        }
        if self.event.raw.len() > MAX_LIST_BYTES {
            self.overflow(out);
        }
    }

    /// The held event grew past the limit.
    fn overflow(&mut self, out: &mut Vec<u8>) {
        let event = std::mem::take(&mut self.event);
        let line_empty = event.at_line_start();
        let passing = match self.first_waiting() {
            Some(waiting) => {
                let error = self.fail(waiting, ListError::TooLarge);
                event.write_rewritten(&error.to_vec(), true, out);
                false
            }
            None => {
                out.extend_from_slice(&event.raw);
                true
            }
        };
        if self.after_cr == Some(LineEnd::Held) {
            self.after_cr = Some(if passing {
                LineEnd::Emit
            } else {
                LineEnd::Drop
            });
        }
        self.mode = if passing {
            Mode::Passing { line_empty }
        } else {
            Mode::Discarding { line_empty }
        };
    }

    /// Handles the held event (`complete`: its blank line arrived; else the stream ended);
    /// returns where an LF completing its last CR would go.
    fn dispatch(&mut self, complete: bool, out: &mut Vec<u8>) -> LineEnd {
        let event = std::mem::take(&mut self.event);
        match self.rewrite(&event, complete) {
            Some(json) => {
                event.write_rewritten(&json, complete, out);
                LineEnd::Drop
            }
            None => {
                out.extend_from_slice(&event.raw);
                LineEnd::Emit
            }
        }
    }

    /// The new data of the event when it carries a list answer; `None` to pass it as it came.
    fn rewrite(&mut self, event: &HeldEvent, complete: bool) -> Option<Vec<u8>> {
        if !event.is_message() {
            return None;
        }
        let data = event.data();
        // A client decodes the stream as UTF-8 with replacement before parsing the data.
        let text = String::from_utf8_lossy(&data);
        if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
            return None;
        }
        let Ok(mut value) = value::parse(text.as_bytes()) else {
            if !complete {
                // Never dispatched by a client: passes as it came.
                return None;
            }
            let waiting = self.first_waiting()?;
            return Some(self.fail(waiting, ListError::NotJson).to_vec());
        };
        let mut changed = false;
        for message in messages_mut(&mut value) {
            match filter_message(message, &self.requests, &self.policy) {
                Outcome::NotAList => continue,
                Outcome::Filtered { removed } => self.removed += removed,
                Outcome::Invalid(error) => {
                    let id = message
                        .as_object()
                        .and_then(|m| m.get("id"))
                        .and_then(Json::to_id);
                    let request = id
                        .as_ref()
                        .and_then(|id| self.requests.answered_by(id).next());
                    *message = match request {
                        Some(request) => self.fail(request, error),
                        None => error_response(Json::Null, error),
                    };
                    changed = true;
                    continue;
                }
            }
            changed = true;
            self.list_events += 1;
            if let Some(id) = message
                .as_object()
                .and_then(|m| m.get("id"))
                .and_then(Json::to_id)
            {
                self.mark_answered(&id);
            }
        }
        changed.then(|| value.to_vec())
    }

    /// The first known list request without an answer yet.
    fn first_waiting(&self) -> Option<usize> {
        self.answered.iter().position(|answered| !answered)
    }

    /// Records that the answer to known list request `request` could not be read; returns the
    /// error response that replaces it.
    fn fail(&mut self, request: usize, error: ListError) -> Json {
        let id: Value = self.requests.known()[request].0.clone();
        self.mark_answered(&id);
        self.list_events += 1;
        self.error.get_or_insert(error);
        error_response(Json::from_id(&id), error)
    }

    fn mark_answered(&mut self, id: &Value) {
        for index in self.requests.answered_by(id) {
            self.answered[index] = true;
        }
    }
}
