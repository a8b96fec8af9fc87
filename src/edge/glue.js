// JavaScript half of the adapter (src/edge/): the few runtime calls that are cheaper made in
// one piece here than as many small calls from wasm. Every call from wasm crosses the
// boundary and copies its strings, and an awaited promise costs the Rust executor two
// closures and a microtask, so these take and return whole values. No decision is made
// here: what to remove or set comes from the core (gate::forward, gate::cors).

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
