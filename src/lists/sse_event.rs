//! One event of a `text/event-stream` while it is being received: its bytes exactly as they
//! came, and where its fields are, read by the rules of the HTML Living Standard, "Server-sent
//! events", §9.2.6 "Interpreting an event stream".

use std::ops::Range;

/// The bytes of the event received so far and the positions of its complete lines.
#[derive(Debug, Default)]
pub(crate) struct HeldEvent {
    /// Every byte of the event as received, line ends included.
    pub(crate) raw: Vec<u8>,
    /// Where the line being received starts in `raw`.
    pub(crate) line_start: usize,
    /// The values of the `data` fields, in order (ranges of `raw`).
    data: Vec<Range<usize>>,
    /// Every other complete line (comments, `id`, `event`, `retry`, unknown fields), in
    /// order, without its line end.
    others: Vec<Range<usize>>,
    /// How many of `others` came before the first `data` line.
    data_at: Option<usize>,
    /// The value of the last `event` field.
    event_type: Option<Range<usize>>,
}

impl HeldEvent {
    /// Whether nothing of the event has been received.
    pub(crate) fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Whether the line being received has no byte yet.
    pub(crate) fn at_line_start(&self) -> bool {
        self.line_start == self.raw.len()
    }

    /// Records the complete, non-empty line `line` (a range of `raw` without its line end).
    /// A line starting with `:` is a comment; otherwise the field name runs to the first `:`
    /// (the whole line when there is none) and one space after the colon is not part of the
    /// value.
    pub(crate) fn add_line(&mut self, line: Range<usize>) {
        let bytes = &self.raw[line.clone()];
        if bytes.first() == Some(&b':') {
            self.others.push(line);
            return;
        }
        let (name, value) = match bytes.iter().position(|&b| b == b':') {
            Some(colon) => {
                let mut start = line.start + colon + 1;
                if start < line.end && self.raw[start] == b' ' {
                    start += 1;
                }
                (&bytes[..colon], start..line.end)
            }
            None => (bytes, line.end..line.end),
        };
        match name {
            b"data" => {
                if self.data_at.is_none() {
                    self.data_at = Some(self.others.len());
                }
                self.data.push(value);
            }
            b"event" => {
                self.event_type = Some(value);
                self.others.push(line);
            }
            _ => self.others.push(line),
        }
    }

    /// Whether a client would dispatch the event to `message` listeners, which is where MCP
    /// clients read JSON-RPC messages: it has data, and its type is unset, empty or `message`.
    pub(crate) fn is_message(&self) -> bool {
        if self.data.is_empty() {
            // No data: a client dispatches nothing (e.g. a comment kept alive, a priming `id:`).
            return false;
        }
        match &self.event_type {
            None => true,
            Some(value) => matches!(&self.raw[value.clone()], b"" | b"message"),
        }
    }

    /// The event's data: the `data` values joined with LF.
    pub(crate) fn data(&self) -> Vec<u8> {
        let mut data = Vec::new();
        for (index, value) in self.data.iter().enumerate() {
            if index > 0 {
                data.push(b'\n');
            }
            data.extend_from_slice(&self.raw[value.clone()]);
        }
        data
    }

    /// Writes the event with its data replaced by `json` (compact, so one line): every other
    /// line in its place and order, one `data:` line where the first one was, LF line ends,
    /// and the blank line that ends the event when `complete`.
    pub(crate) fn write_rewritten(&self, json: &[u8], complete: bool, out: &mut Vec<u8>) {
        let data_at = self.data_at.unwrap_or(self.others.len());
        let write_data = |out: &mut Vec<u8>| {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(json);
            out.push(b'\n');
        };
        for (index, line) in self.others.iter().enumerate() {
            if index == data_at {
                write_data(out);
            }
            out.extend_from_slice(&self.raw[line.clone()]);
            out.push(b'\n');
        }
        if data_at >= self.others.len() {
            write_data(out);
        }
        if complete {
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(lines: &[&str]) -> HeldEvent {
        let mut event = HeldEvent::default();
        for line in lines {
            let start = event.raw.len();
            event.raw.extend_from_slice(line.as_bytes());
            let end = event.raw.len();
            event.raw.push(b'\n');
            event.line_start = event.raw.len();
            event.add_line(start..end);
        }
        event
    }

    #[test]
    fn reads_fields_like_a_browser() {
        let held = event(&[
            ": c",
            "id: 7",
            "data:  two",
            "data",
            "data:x",
            "event:message",
        ]);
        assert!(held.is_message());
        assert_eq!(held.data(), b" two\n\nx");
        let mut out = Vec::new();
        held.write_rewritten(b"{}", true, &mut out);
        assert_eq!(out, b": c\nid: 7\ndata: {}\nevent:message\n\n");
    }

    #[test]
    fn message_type() {
        assert!(event(&["data: x"]).is_message());
        assert!(event(&["event:", "data: x"]).is_message());
        assert!(event(&["event: message", "data: x"]).is_message());
        assert!(!event(&["event: other", "data: x"]).is_message());
        assert!(!event(&["event: Message", "data: x"]).is_message());
        assert!(!event(&["event: message ", "data: x"]).is_message());
        assert!(!event(&["id: 1", ": only"]).is_message());
        assert!(event(&["event: other", "event: message", "data: x"]).is_message());
        assert!(event(&["data"]).is_message());
        // `data :x` is the field "data " (unknown), not data.
        assert!(!event(&["data :x"]).is_message());
    }

    #[test]
    fn data_goes_last_when_it_came_last_or_never() {
        let mut out = Vec::new();
        event(&["id: 1"]).write_rewritten(b"[]", false, &mut out);
        assert_eq!(out, b"id: 1\ndata: []\n");
    }
}
