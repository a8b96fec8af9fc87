// Time to the first response of a freshly started workerd: spawn → listening (workerd has
// compiled the Worker and run its top level), then the wall time of each of the first requests
// the new isolate serves. Requests go over node:http (already warmed up by the caller), each
// with a token never seen before, so no verified-token cache can answer them.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { startWorkerd } from './workerd.mjs';
import { pingBody, post } from './mcp.mjs';

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};
const r2 = (x) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);

/**
 * @param {object} o
 * @param {string} o.configFile
 * @param {string} o.logFile
 * @param {Array<{label: string, token?: () => string, expect: number}>} o.sequence  requests in order
 * @param {string} o.session   MCP session id at the origin
 * @param {number} o.reps
 */
export async function coldStart({ configFile, logFile, sequence, session, reps }) {
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    const w = await startWorkerd(configFile, { logFile });
    try {
      const run = { listenMs: w.listeningAt - w.spawnedAt, requests: [] };
      for (const [i, step] of sequence.entries()) {
        const res = await post(w.url, pingBody(1000 + i), { token: step.token?.(), session });
        if (res.status !== step.expect) {
          throw new Error(`cold start "${step.label}": expected ${step.expect}, got ${res.status}: ${res.body.slice(0, 200)}`);
        }
        run.requests.push({ label: step.label, ms: res.ms, sinceSpawnMs: performance.now() - w.spawnedAt });
      }
      runs.push(run);
    } finally {
      await w.stop();
    }
  }
  return {
    reps,
    listenMs: r2(median(runs.map((r) => r.listenMs))),
    requests: sequence.map((step, i) => ({
      label: step.label,
      ms: r2(median(runs.map((r) => r.requests[i].ms))),
      sinceSpawnMs: r2(median(runs.map((r) => r.requests[i].sinceSpawnMs))),
      all: runs.map((r) => r2(r.requests[i].ms)),
    })),
  };
}

/**
 * Sum of V8's `--trace-wasm-compilation-times` lines in `text` for Liftoff, the compiler that
 * runs on the request's thread when a function is first called (TurboFan tier-up runs in the
 * background): functions compiled, their wasm body bytes, ms.
 */
export function sumWasmCompiles(text) {
  let functions = 0;
  let wasmBytes = 0;
  let us = 0;
  for (const line of text.split('\n')) {
    const m = /Compiled function \S+ using Liftoff, took (\d+) μs and \d+ bytes; bodysize (\d+)/.exec(line);
    if (!m) continue;
    functions += 1;
    us += Number(m[1]);
    wasmBytes += Number(m[2]);
  }
  return { functions, wasmBytes, compileMs: r2(us / 1000) };
}

/**
 * The wasm code V8 compiles (lazily, with Liftoff) for a fresh isolate: once for startup
 * alone, once for startup plus `step`. Runs a copy of the config with V8's
 * `--trace-wasm-compilation-times` (a separate pass: V8 flags change workerd's own startup, so
 * these runs are not timed). Workerd discards the Liftoff code compiled at startup before the
 * first request, so `firstRequest` is about what that request compiles itself.
 * @returns {Promise<{startup: object, firstRequest: object}>}
 */
export async function wasmCompiles({ configFile, logFile, step, session }) {
  const traced = configFile.replace(/\.capnp$/, '.traced.capnp');
  writeFileSync(traced, readFileSync(configFile, 'utf8').replace('sockets = [', 'v8Flags = ["--trace-wasm-compilation-times"],\n  sockets = ['));
  const pass = async (withRequest) => {
    rmSync(logFile, { force: true });
    const w = await startWorkerd(traced, { logFile });
    try {
      if (withRequest) {
        const res = await post(w.url, pingBody(2000), { token: step.token?.(), session });
        if (res.status !== step.expect) throw new Error(`wasm compile pass: expected ${step.expect}, got ${res.status}`);
      }
    } finally {
      await w.stop();
    }
    return sumWasmCompiles(readFileSync(logFile, 'utf8'));
  };
  const startup = await pass(false);
  const total = await pass(true);
  return {
    label: step.label,
    startup,
    firstRequest: {
      functions: total.functions - startup.functions,
      wasmBytes: total.wasmBytes - startup.wasmBytes,
      compileMs: r2(total.compileMs - startup.compileMs),
    },
  };
}
