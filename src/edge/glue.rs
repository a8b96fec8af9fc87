//! Bindings to `glue.js`, the JavaScript half of the adapter: whole-value runtime calls that
//! replace many small ones from wasm (see the comment at the top of `glue.js`).

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use web_sys::{Headers, RequestInit};

#[wasm_bindgen(module = "/src/edge/glue.js")]
extern "C" {
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
