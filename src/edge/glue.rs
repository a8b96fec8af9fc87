//! Bindings to `glue.js`, the JavaScript half of the adapter: whole-value runtime calls that
//! replace many small ones from wasm (see the comment at the top of `glue.js`).

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use web_sys::{Headers, Request, RequestInit, Response};

#[wasm_bindgen(module = "/src/edge/glue.js")]
extern "C" {
    /// The values of the comma-separated header `names`, as one JSON array (`null` when
    /// absent).
    #[wasm_bindgen(js_name = pickHeaders)]
    pub fn pick_headers(headers: &Headers, names: &str) -> String;

    /// A promise of the request body's bytes (a `Uint8Array`), or of `undefined` as soon as
    /// more than `limit` bytes arrived (the rest is never read).
    #[wasm_bindgen(js_name = readBody)]
    pub fn read_body(request: &Request, limit: f64) -> js_sys::Promise;

    /// [`read_body`] for a response (the same function: both have a `body` stream).
    #[wasm_bindgen(js_name = readBody)]
    pub fn read_body_of(response: &Response, limit: f64) -> js_sys::Promise;

    /// The upstream's event stream piped through an `SseRelay` (see `edge::relay`), as a new
    /// response with `headers`.
    #[wasm_bindgen(js_name = filteredStream, catch)]
    pub fn filtered_stream(
        response: &Response,
        headers: &Headers,
        relay: JsValue,
    ) -> Result<Response, JsValue>;

    /// The header names of `headers`, as one JSON array of strings.
    #[wasm_bindgen(js_name = headerNames)]
    pub fn header_names(headers: &Headers) -> String;

    /// A copy of `source` with the JSON-encoded edits applied in order; throws if the runtime
    /// refuses one (then no copy is returned).
    #[wasm_bindgen(js_name = editedHeaders, catch)]
    pub fn edited_headers(source: &Headers, edits: &str) -> Result<Headers, JsValue>;

    /// A promise of the `Response`, or of `undefined` when no response headers arrived
    /// within `ms` (the request is then aborted); rejected when `fetch` fails.
    #[wasm_bindgen(js_name = fetchWithDeadline)]
    pub fn fetch_with_deadline(url: &str, init: &RequestInit, ms: f64) -> js_sys::Promise;
}
