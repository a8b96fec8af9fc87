// JavaScript half of the adapter (src/edge/): the few runtime calls that are cheaper made in
// one piece here than as many small calls from wasm. Every call from wasm crosses the
// boundary and copies its strings, and an awaited promise costs the Rust executor two
// closures and a microtask, so these take and return whole values. No decision is made
// here: what to remove or set comes from the core (gate::forward, gate::cors).

/**
 * The values of the named headers (`names`: one comma-separated string), as one JSON array
 * (`null` for an absent header; the runtime joins repeated headers with ", ").
 */
export function pickHeaders(headers, names) {
  return JSON.stringify(names.split(',').map((name) => headers.get(name)));
}

/**
 * The body of a request (or response), read and counted chunk by chunk: resolves to its bytes
 * (empty when there is no body), or to `undefined` as soon as more than `limit` bytes have arrived; the rest is
 * then never read (the stream is cancelled). So at most `limit` bytes plus one chunk are held,
 * whatever the client sends, with or without Content-Length. Rejects if the read fails.
 */
export async function readBody(request, limit) {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * The upstream's event stream piped through `relay` (an `SseRelay` from wasm: `push(chunk)`
 * returns the bytes to pass on, `finish()` those still held at the end), as a new Response
 * with `headers`. Each chunk is passed on as soon as the relay returns it: nothing is
 * buffered here. The relay is freed exactly once, when the stream ends or fails.
 */
export function filteredStream(response, headers, relay) {
  let live = true;
  const release = () => {
    if (!live) return new Uint8Array(0);
    live = false;
    try {
      return relay.finish();
    } finally {
      relay.free();
    }
  };
  const { readable, writable } = new TransformStream({
    transform(chunk, controller) {
      const out = relay.push(chunk);
      if (out.length > 0) controller.enqueue(out);
    },
    flush(controller) {
      const out = release();
      if (out.length > 0) controller.enqueue(out);
    },
  });
  // A client that goes away, or an upstream that breaks off: the relay still writes its log
  // line and is freed.
  response.body.pipeTo(writable).catch(() => {
    try {
      release();
    } catch {
      // already released
    }
  });
  return new Response(readable, { status: response.status, statusText: response.statusText, headers });
}

/** The header names of `headers` (lowercase, as the runtime lists them), as one JSON array. */
export function headerNames(headers) {
  return JSON.stringify([...headers.keys()]);
}

/**
 * A copy of `source` (runtime Headers) with the core's edits applied in order.
 * `edits` is JSON: [["remove", name] | ["set", name, value] | ["append", name, value], ...].
 * Throws (and nothing is used) if the runtime refuses a name or value.
 */
export function editedHeaders(source, edits) {
  const out = new Headers(source);
  for (const [op, name, value] of JSON.parse(edits)) {
    if (op === 'remove') out.delete(name);
    else if (op === 'set') out.set(name, value);
    else if (op === 'append') out.append(name, value);
    else throw new TypeError(`unknown header edit ${op}`);
  }
  return out;
}

/**
 * `fetch(url, init)` with a deadline for the response headers only: resolves to the
 * Response, or to `undefined` when no headers arrived within `ms` (the request is then
 * aborted); rejects when fetch fails. The body (an SSE stream, say) is never cut by the
 * deadline: the timer is cleared as soon as the headers are in.
 */
export function fetchWithDeadline(url, init, ms) {
  const controller = new AbortController();
  init.signal = controller.signal;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      resolve(undefined);
    }, ms);
    const failed = (error) => {
      clearTimeout(timer);
      reject(error);
    };
    try {
      fetch(url, init).then((response) => {
        clearTimeout(timer);
        resolve(response);
      }, failed);
    } catch (error) {
      // A synchronous throw (a URL the runtime refuses): no timer may outlive it.
      failed(error);
    }
  });
}
