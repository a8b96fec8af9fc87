// The Worker's entry module: receives every request and drives it through an `Exchange`
// (src/edge/exchange.rs). JavaScript does the awaiting — the body, KV when a read is due,
// WebCrypto, the origin — and Rust makes every decision, one synchronous call between two
// awaits. Nothing is decided here: each call answers the next step, and an unknown step, a
// thrown error or a step called out of order ends in a `500`, never in forwarding.
//
// Why not `#[event(fetch)]`: a request served as a Rust future paid, per awaited promise, a
// pair of wasm-bindgen closures, a microtask and an executor poll, and a fresh isolate compiled
// the whole future (README "Performance" has the measurements).
//
// Built by .ci/build-worker.sh: `./index.js` is wasm-bindgen's output for the crate, `./glue.js`
// re-exports src/edge/glue.js (the same module instance the wasm imports).
import * as gate from './index.js';
import { readBody } from './glue.js';

const { Exchange, Step } = gate;

// A trap in the wasm (a panic) may leave its memory inconsistent: the module is instantiated
// afresh before the next request, as worker-build's shim did.
let critical = false;

function noteCritical(error) {
  if (error instanceof WebAssembly.RuntimeError) critical = true;
}

function recover() {
  if (critical) {
    console.log(JSON.stringify({ event: 'wasm_reinitialized' }));
    gate.__wbg_reset_state();
    critical = false;
  }
}

addEventListener('error', (event) => noteCritical(event.error));

/** The settled value of `promise`, or `fallback` if it rejects. */
function settled(promise, fallback) {
  return promise.then(
    (value) => value,
    () => fallback,
  );
}

/** The signature check of the exchange at `Verify`: true only if WebCrypto said true. */
async function checkSignature(ex) {
  try {
    let outcome = await ex.signaturePromise();
    // The first time this isolate meets the key: it was imported, now verify with it.
    if (typeof outcome !== 'boolean' && ex.keyImported(outcome)) {
      outcome = await ex.signaturePromise();
    }
    return outcome === true;
  } catch {
    return false;
  }
}

async function serve(request, env, ctx) {
  const ex = Exchange.begin(request, env);
  let owned = true;
  try {
    let step = ex.step;
    if (step === Step.Async) return await gate.serveAsync(request, env);
    if (step === Step.Read) {
      // The body and the KV reads (when due) concurrently: a fresh isolate pays one round
      // trip, not three. The body settles as its bytes, `undefined` past the limit, or
      // `null` when the read failed.
      const body = settled(readBody(request, ex.bodyLimit), null);
      const bytes = ex.loadsState
        ? (await Promise.all([body, gate.loadState(env, ex.hasCredentials)]))[0]
        : await body;
      step = ex.precheck(bytes, env, ctx);
    }
    if (step === Step.UnknownKid) {
      await gate.settleUnknownKid(env, ex.kid);
      step = ex.keysSettled();
    }
    if (step === Step.Verify) step = ex.signatureChecked(await checkSignature(ex));
    if (step === Step.Forward) {
      const call = ex.forward();
      // `undefined` when no headers arrived in time, `null` when the fetch failed.
      step = call === undefined ? ex.step : ex.relay(await settled(call, null));
    }
    if (step === Step.Filter) {
      // `relayFiltered` takes the exchange over (and frees it).
      owned = false;
      return await gate.relayFiltered(ex);
    }
    return ex.response();
  } finally {
    if (owned) ex.free();
  }
}

/**
 * The answer when the gate itself failed (a bug, a trap in the wasm, a step out of order):
 * `500`, never the request passed on. Only the error's type is logged: a runtime error's
 * message may quote a header value.
 */
function internalError(error) {
  noteCritical(error);
  console.error(JSON.stringify({ event: 'internal_error', error: String(error?.name ?? typeof error) }));
  return Response.json(
    { error: 'server_error', error_description: 'The gate could not handle this request' },
    { status: 500 },
  );
}

export default {
  async fetch(request, env, ctx) {
    try {
      recover();
      return await serve(request, env, ctx);
    } catch (error) {
      return internalError(error);
    }
  },

  async scheduled(event, env, ctx) {
    recover();
    try {
      return await gate.scheduled(event, env, ctx);
    } catch (error) {
      noteCritical(error);
      throw error;
    }
  },
};
