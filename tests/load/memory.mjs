#!/usr/bin/env node
// npm run memory — workerd's resident memory under many large chunked uploads (SPEC §4a.4:
// "the gate never holds more than MAX_BODY_BYTES plus one chunk of a request body").
//
// Starts the example origin and the built Worker under `wrangler dev --local` through the e2e
// harness (tests/support), REQUIRE_RULES=false and no rules document (authenticated mode), the
// default MAX_BODY_BYTES (1 MiB). Then UPLOADS (20) concurrent POSTs to the MCP endpoint, each a
// chunked body (Transfer-Encoding: chunked, no Content-Length) of UPLOAD_MIB (50) MiB written in
// 64 KiB chunks with backpressure; half carry a valid bearer token, half none. The VmRSS of the
// workerd processes under the wrangler dev session is sampled every 50 ms.
//
// Prints: idle before / peak during / after, the peak growth against UPLOADS × MAX_BODY_BYTES,
// and per upload the status, when the answer came and how many body bytes had gone out by then.
// A measurement, not a test: exit 0 when it ran, 2 when it could not run (no build, harness
// failure, overall deadline). Loopback only; bounded to ~3 minutes.
//
// MEMORY_RUNTIME=workerd runs the same measurement on raw workerd (tests/bench/lib/workerd.mjs:
// generated capnp config, in-memory KV), without wrangler dev's proxy in front of the gate.
//
// Env: UPLOADS (20), UPLOAD_MIB (50), MEMORY_UPLOAD_TIMEOUT_MS (120000),
//      MEMORY_ABORT_MIB (4096: uploads are cut if workerd grows by more than this).

import {
  ISSUER,
  REPO,
  REQUIRED_SCOPE,
  RESOURCE,
  TMP,
  WORKER_MAIN,
  defaultClaims,
  defaultVars,
  generateTestKeys,
  projectCompatibility,
  signToken,
  startOrigin,
  startStack,
  workerBuilt,
} from '../support/index.mjs';
import { startWorkerd, writeConfig } from '../bench/lib/workerd.mjs';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { send } from './lib/client.mjs';
import { MiB, fmtMiB, gateProcesses, settledRss, startRssSampler, vmRssBytes } from './lib/procfs.mjs';

const UPLOADS = Number(process.env.UPLOADS || 20);
const UPLOAD_BYTES = Number(process.env.UPLOAD_MIB || 50) * MiB;
const CHUNK = 64 * 1024;
const MAX_BODY_BYTES = 1_048_576; // SPEC §1 default; the gate runs with it
const UPLOAD_TIMEOUT_MS = Number(process.env.MEMORY_UPLOAD_TIMEOUT_MS || 120_000);
const ABORT_GROWTH = Number(process.env.MEMORY_ABORT_MIB || 4096) * MiB;
const OVERALL_MS = 180_000;
/** wrangler (default): under `wrangler dev` as the e2e suite runs it; workerd: raw workerd. */
const RUNTIME = process.env.MEMORY_RUNTIME || 'wrangler';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const watchdog = setTimeout(() => {
  console.error(`memory: overall deadline of ${OVERALL_MS / 1000} s passed; giving up`);
  process.exit(2); // the harness kills its process groups on exit
}, OVERALL_MS);
watchdog.unref();

function buildInfo() {
  try {
    const st = statSync(WORKER_MAIN);
    return `${WORKER_MAIN} (mtime ${st.mtime.toISOString()})`;
  } catch {
    return `${WORKER_MAIN} (missing)`;
  }
}

async function main() {
  if (!workerBuilt()) {
    console.error(`memory: the Worker is not built (${WORKER_MAIN} is missing): run bash .ci/build-worker.sh first`);
    return 2;
  }
  console.log(`build: ${buildInfo()}`);
  const startedAt = performance.now();
  const target = RUNTIME === 'workerd' ? await startRawWorkerd() : await startUnderWrangler();
  try {
    const { url, token, pids } = target;
    console.log(`${target.label} ${url} ready in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
    const gate = { url, logs: target.logs };

    const headersFor = (withToken) => ({
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...(withToken ? { Authorization: `Bearer ${token}` } : {}),
    });
    const prefix = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"';
    const upload = (withToken, total, timeoutMs = UPLOAD_TIMEOUT_MS, signal = undefined) =>
      send(gate.url, {
        signal,
        method: 'POST',
        path: '/mcp',
        headers: headersFor(withToken),
        chunked: { total, chunkSize: CHUNK, prefix },
        agent: false,
        timeoutMs,
      });

    // Warm-up: load the isolate and run the request paths once (a small allowed request, one
    // oversized chunked upload with and without a token), so that "idle" excludes start-up costs.
    const warm = [
      await send(gate.url, {
        method: 'POST',
        path: '/mcp',
        headers: headersFor(true),
        body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
        timeoutMs: 15_000,
      }),
      await upload(true, 2 * MAX_BODY_BYTES, 30_000),
      await upload(false, 2 * MAX_BODY_BYTES, 30_000),
    ];
    console.log(`warm-up: ${warm.map((w) => w.status ?? w.error).join(', ')}`);
    await sleep(2000);
    const idle = await settledRss(pids, { count: 10, intervalMs: 100 });
    const idleEach = pids().map(vmRssBytes);

    // The measurement.
    const sampler = startRssSampler(pids, 50);
    const cut = new AbortController();
    const guard = setInterval(() => {
      const last = sampler.samples.at(-1);
      if (last && last.total - idle > ABORT_GROWTH && !cut.signal.aborted) {
        console.error(`memory: workerd grew by ${fmtMiB(last.total - idle)} (> MEMORY_ABORT_MIB); cutting the uploads`);
        cut.abort();
      }
    }, 100);
    const began = performance.now();
    const results = await Promise.all(
      Array.from({ length: UPLOADS }, (_, i) => {
        const withToken = i % 2 === 0;
        return upload(withToken, UPLOAD_BYTES, UPLOAD_TIMEOUT_MS, cut.signal).then((r) => ({ i, withToken, ...r }));
      }),
    );
    const allDoneMs = performance.now() - began;
    clearInterval(guard);
    sampler.stop();
    const peak = sampler.peak();
    await sleep(3000);
    const after = await settledRss(pids, { count: 10, intervalMs: 100 });

    // Report.
    const bound = UPLOADS * MAX_BODY_BYTES;
    const growth = peak.total - idle;
    console.log('');
    console.log(`workerd resident memory, ${target.label} (VmRSS summed over workerd pid(s) ${pids().join(', ')})`);
    console.log(`  idle before        ${fmtMiB(idle).padStart(12)}   (per process ${idleEach.map(fmtMiB).join(' / ')})`);
    console.log(`  peak during        ${fmtMiB(peak.total).padStart(12)}   (+${fmtMiB(growth)}; per process ${peak.each.map(fmtMiB).join(' / ')})`);
    console.log(`  after (3 s later)  ${fmtMiB(after).padStart(12)}   (+${fmtMiB(after - idle)})`);
    console.log(`  samples            ${String(sampler.samples.length).padStart(12)}   (every 50 ms over ${(allDoneMs / 1000).toFixed(1)} s)`);
    console.log('');
    console.log(`bound to check: ${UPLOADS} uploads × MAX_BODY_BYTES (${fmtMiB(MAX_BODY_BYTES)}) = ${fmtMiB(bound)};`);
    console.log(`  peak − idle = ${fmtMiB(growth)} = ${(growth / bound).toFixed(2)} × the bound; all uploads together = ${fmtMiB(UPLOADS * UPLOAD_BYTES)} (${(growth / (UPLOADS * UPLOAD_BYTES) * 100).toFixed(1)} % of it)`);
    console.log(`  verdict: ${growth <= 2 * bound ? 'bounded by concurrency × MAX_BODY_BYTES (within 2×)' : growth <= 0.5 * UPLOADS * UPLOAD_BYTES ? 'ABOVE 2 × the bound, but well below the upload size' : 'grows with the upload size (bodies are buffered)'}`);
    console.log('');
    console.log(' #  token  status  answer after  body sent at answer  body sent in all  whole body sent  error');
    for (const r of results) {
      console.log(
        [
          String(r.i + 1).padStart(2),
          (r.withToken ? 'yes' : 'no').padEnd(5),
          String(r.status ?? '-').padStart(6),
          (r.ttfbMs == null ? '-' : `${(r.ttfbMs / 1000).toFixed(2)} s`).padStart(12),
          fmtMiB(r.sentAtAnswer).padStart(19),
          fmtMiB(r.sent).padStart(16),
          (r.bodyFinished ? 'yes' : 'no').padStart(15),
          r.error ?? '',
        ].join('  '),
      );
    }
    const bodies = new Map();
    for (const r of results) {
      if (r.status === null || r.status === 413) continue;
      const key = `${r.status} ${r.text.replace(/\s+/g, ' ').slice(0, 200)}`;
      bodies.set(key, (bodies.get(key) || 0) + 1);
    }
    for (const [k, v] of bodies) console.log(`answer other than 413 (${v}×): ${k}`);
    const problems = gate
      .logs()
      .split('\n')
      .filter((l) => /error|exception|panic|uncaught/i.test(l) && !/"status":\s*4\d\d/.test(l));
    if (problems.length) {
      console.log(`gate output lines mentioning errors (${problems.length}; first 8):`);
      for (const l of problems.slice(0, 8)) console.log(`  ${l.slice(0, 300)}`);
    }
    const tally = {};
    for (const r of results) {
      const key = `${r.withToken ? 'token' : 'no token'} → ${r.status ?? r.error}`;
      tally[key] = (tally[key] || 0) + 1;
    }
    console.log('');
    console.log(`outcomes: ${Object.entries(tally).map(([k, v]) => `${v}× ${k}`).join('; ')}`);
    const with413 = results.filter((r) => r.status === 413).length;
    console.log(`expected: 413 for every upload with a token (MAX_BODY_BYTES ${MAX_BODY_BYTES}); without a token 401 or 413 (check order is the implementation's); got 413 on ${with413}/${UPLOADS}`);
    const logged = {};
    for (const m of gate.logs().matchAll(/"status":\s*(\d{3})/g)) logged[m[1]] = (logged[m[1]] || 0) + 1;
    console.log(`the gate's own log lines (warm-up included): ${Object.entries(logged).map(([k, v]) => `${v}× ${k}`).join(', ') || 'none'}`);
    const early = results.filter((r) => r.status !== null && !r.bodyFinished).length;
    console.log(`answered before the whole ${fmtMiB(UPLOAD_BYTES)} body was sent: ${early}/${UPLOADS} (bytes "sent" = flushed to the client socket; loopback kernel buffers hold a few MiB more than the gate has read)`);
    return 0;
  } finally {
    await target.stop();
  }
}

/** The built Worker under `wrangler dev --local` (the e2e harness); workerd pids from its session. */
async function startUnderWrangler() {
  const stack = await startStack({
    name: 'load-memory',
    vars: (_originUrl, defaults) => ({ ...defaults, REQUIRE_RULES: 'false' }),
  });
  try {
    const { gate } = stack;
    const token = await stack.token({ claims: { scope: `${REQUIRED_SCOPE} mcp:tools:*` } });
    const procs = gateProcesses(gate.dir);
    if (procs.workerd.length === 0) throw new Error(`no workerd process found in the wrangler dev session (${procs.session}) of ${gate.dir}`);
    let workerdPids = procs.workerd.map((p) => p.pid);
    const pids = () => {
      if (workerdPids.some((pid) => !Number.isFinite(vmRssBytes(pid)))) workerdPids = gateProcesses(gate.dir).workerd.map((p) => p.pid);
      return workerdPids;
    };
    return { label: 'gate (wrangler dev: its proxy + the Worker)', url: gate.url, token, pids, logs: gate.logs, stop: () => stack.stop() };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

/**
 * The built Worker under raw workerd (the benchmark's config writer, tests/bench/lib/workerd.mjs):
 * no wrangler dev proxy between the client and the gate, one workerd process.
 */
async function startRawWorkerd() {
  const keys = await generateTestKeys();
  const origin = await startOrigin();
  let w;
  try {
    const dir = path.join(TMP, `load-memory-workerd-${process.pid}-${randomUUID().slice(0, 8)}`);
    mkdirSync(dir, { recursive: true });
    const compat = projectCompatibility();
    const build = path.dirname(path.dirname(WORKER_MAIN));
    const config = writeConfig({
      dir,
      name: 'memory',
      modules: [
        { name: 'worker/shim.mjs', type: 'esModule', file: WORKER_MAIN },
        { name: 'index.js', type: 'esModule', file: path.join(build, 'index.js') },
        { name: 'index_bg.wasm', type: 'wasm', file: path.join(build, 'index_bg.wasm') },
      ],
      vars: { ...defaultVars(origin.url), REQUIRE_RULES: 'false' },
      kv: { jwks: JSON.stringify(keys.jwks) },
      kvWorker: path.join(REPO, 'tests/bench/kv-worker.mjs'),
      compatibilityDate: compat.compatibility_date,
      compatibilityFlags: compat.compatibility_flags,
    });
    const logFile = path.join(dir, 'workerd.log');
    w = await startWorkerd(config, { logFile });
    const token = await signToken(
      keys.keys.RS256,
      defaultClaims({ issuer: ISSUER, audience: RESOURCE }, { scope: `${REQUIRED_SCOPE} mcp:tools:*` }),
    );
    return {
      label: 'gate (raw workerd, no proxy)',
      url: w.url,
      token,
      pids: () => [w.pid],
      logs: w.log,
      async stop() {
        await Promise.allSettled([w.stop(), origin.stop()]);
        if (!process.env.E2E_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.allSettled([w?.stop(), origin.stop()]);
    throw err;
  }
}

main()
  .then((code) => process.exit(code))
  .catch((err) => {
    console.error(`memory: could not run: ${err.stack || err.message}`);
    process.exit(2);
  });
