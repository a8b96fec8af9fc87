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

/** What `promise` settles with, or `fallback` if it rejects or there is no promise. */
async function settled(promise, fallback) {
  if (promise === undefined) return fallback;
  try {
    return await promise;
  } catch {
    return fallback;
  }
}

/**
 * After a trap in the wasm (a panic), wasm-bindgen instantiates the module afresh on the next
 * call into it; an `Exchange` of the old instance is then abandoned, never used nor freed (its
 * pointer means nothing in the new memory). Thrown by `on` below.
 */
class InstanceReplaced extends Error {}

/** The signature check at `Verify`: true only if WebCrypto said true. */
async function checkSignature(ex, resumed) {
  // A rejected promise (or none) is a failed check; an error of the wasm call itself is not
  // swallowed.
  let outcome = await settled(ex.signaturePromise(), false);
  // The first time this isolate meets the key: it was imported, now verify with it.
  if (typeof outcome !== 'boolean' && resumed().keyImported(outcome)) {
    outcome = await settled(ex.signaturePromise(), false);
  }
  return outcome === true;
}

async function serve(request, env, ctx) {
  const ex = Exchange.begin(request, env);
  const instance = gate.instanceId();
  // After every await, `ex` is used through `resumed()`: `instanceId` carries out a pending
  // re-instantiation first, and a replaced instance ends the request (500). Between two
  // awaits nothing else runs, so the instance cannot change there.
  const resumed = () => {
    if (gate.instanceId() !== instance) throw new InstanceReplaced('wasm instance replaced');
    return ex;
  };
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
      step = resumed().precheck(bytes, env, ctx);
    }
    if (step === Step.UnknownKid) {
      await gate.settleUnknownKid(env, ex.kid);
      step = resumed().keysSettled();
    }
    if (step === Step.Verify) {
      const verified = await checkSignature(ex, resumed);
      step = resumed().signatureChecked(verified);
    }
    if (step === Step.Forward) {
      const call = ex.forward();
      // `forward()` answers itself (no promise) when it cannot start the call; the call
      // settles as the response, `undefined` when no headers arrived in time, `null` when
      // the fetch failed.
      if (call === undefined) {
        step = ex.step;
      } else {
        const answer = await settled(call, null);
        step = resumed().relay(answer);
      }
    }
    if (step === Step.Filter) {
      // `relayFiltered` takes the exchange over (and frees it).
      owned = false;
      return await gate.relayFiltered(ex);
    }
    return ex.response();
  } finally {
    if (owned && gate.instanceId() === instance) ex.free();
  }
}

/**
 * The answer when the gate itself failed (a bug, a trap in the wasm, a step out of order):
 * `500`, never the request passed on. Only the error's type is logged: a runtime error's
 * message may quote a header value.
 */
function internalError(error) {
  console.error(JSON.stringify({ event: 'internal_error', error: String(error?.name ?? typeof error) }));
  return Response.json(
    { error: 'server_error', error_description: 'The gate could not handle this request' },
    { status: 500 },
  );
}

export default {
  async fetch(request, env, ctx) {
    try {
      return await serve(request, env, ctx);
    } catch (error) {
      return internalError(error);
    }
  },

  scheduled(event, env, ctx) {
    return gate.scheduled(event, env, ctx);
  },
};
