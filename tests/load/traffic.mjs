#!/usr/bin/env node
// npm run load — mixed traffic through the gate with every answer checked against the decision
// the contract (SPEC §3, §4, §4a, §5, §6) requires, in three phases:
//
//   a. steady: LOAD_SECONDS (60) at LOAD_CONNECTIONS (50) concurrent keep-alive connections;
//   b. origin outage: the origin is killed (SIGKILL) and restarted on the same port mid-run.
//      While it is down, forwarded requests may get 502/504 (and, until the client has a new
//      MCP session, the origin's own 404 "Session not found"); afterwards they must recover.
//      A GET SSE stream and a streaming tools/call opened before the kill must end, not hang;
//   c. issuer down: the gate refreshes keys from JWKS_URI (the local issuer stand-in,
//      tests/issuer/server.mjs); the key cache is filled at start, then the issuer stops
//      (connections refused) and freshly signed tokens with known kids must keep working.
//
// One gate (built Worker under `wrangler dev --local`, through tests/support) serves all
// phases: the e2e default settings, plus JWKS_URI/ISSUERS/AUTHORIZATION_SERVERS of the local
// issuer, KV `rules` = tests/fixtures/rules.example.json, no KV `jwks` (filled by the first
// refresh), default MAX_BODY_BYTES (1 MiB).
//
// Every request has a deadline (LOAD_REQUEST_TIMEOUT_MS, 10 s; twice that for the oversize
// uploads); one that misses it is "stuck" and counts as wrong. Exit 0 when every answer matched, 1 on any wrong decision, gate 5xx
// outside the outage window, or stuck stream; 2 when it could not run.
//
// Env: LOAD_SECONDS (60; phase b lasts max(LOAD_SECONDS, 8) s, phase c max(0.6 × LOAD_SECONDS,
//      4) s), LOAD_CONNECTIONS (50), LOAD_PHASES (a,b,c), LOAD_REQUEST_TIMEOUT_MS (10000),
//      LOAD_KILL (SIGKILL | SIGTERM, how the origin is stopped in phase b),
//      LOAD_SEED_JWKS=1 (also seed KV `jwks` with the issuer's keys: for trying the script on a
//      Worker without JWKS_URI refresh, e.g. GATE_WORKER_MAIN=tests/bench/jose-gate-worker.mjs).
//      Smoke run: LOAD_SECONDS=4 npm run load (about 25 s with the start-up).

import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  METADATA_URL,
  ORIGIN_AUTHORIZATION,
  REPO,
  RESOURCE,
  RESOURCE_PATH,
  REQUIRED_SCOPE,
  WORKER_MAIN,
  defaultClaims,
  defaultVars,
  now,
  jsonLines,
  parseBearerChallenge,
  startGate,
  startOrigin,
  tamperSignature,
  workerBuilt,
} from '../support/index.mjs';
import { startIssuer } from '../issuer/server.mjs';
import { keepAliveAgent, percentile, send } from './lib/client.mjs';

const SECONDS = Number(process.env.LOAD_SECONDS || 60);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS || 50);
const PHASES = (process.env.LOAD_PHASES || 'a,b,c').split(',').map((s) => s.trim().toLowerCase());
const REQUEST_TIMEOUT_MS = Number(process.env.LOAD_REQUEST_TIMEOUT_MS || 10_000);
const KILL_SIGNAL = process.env.LOAD_KILL || 'SIGKILL';
const PHASE_B_SECONDS = Math.max(SECONDS, 8);
const PHASE_C_SECONDS = Math.max(0.6 * SECONDS, 4);
/** A stream opened before the kill must have ended this long after it. */
const STREAM_DEADLINE_MS = 10_000;
/** Forwarded requests may still fail this long after the session was re-established. */
const RECOVERY_GRACE_MS = 2_000;
const MAX_BODY_BYTES = 1_048_576;
const PROTOCOL_VERSION = '2025-06-18';
const FULL_SCOPE = `${REQUIRED_SCOPE} mcp:tools:* mcp:resources:*`;
const NARROW_SCOPE = `${REQUIRED_SCOPE} mcp:tools:echo`;
const RULES_FILE = path.join(REPO, 'tests/fixtures/rules.example.json');
const SEED_JWKS = process.env.LOAD_SEED_JWKS === '1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const plannedSeconds =
  (PHASES.includes('a') ? SECONDS : 0) + (PHASES.includes('b') ? PHASE_B_SECONDS : 0) + (PHASES.includes('c') ? PHASE_C_SECONDS : 0);
const watchdog = setTimeout(() => {
  console.error('load: overall deadline passed; giving up');
  process.exit(2);
}, (plannedSeconds + 180) * 1000);
watchdog.unref();

// ---------------------------------------------------------------------------------------------
// Request classes: what is sent, and the decision the contract requires.

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
const bearer = (t) => ({ Authorization: `Bearer ${t}` });
const rpc = (id, method, params) => JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
const pick = (list, n) => list[n % list.length];

function challenge(out) {
  const header = out.headers['www-authenticate'];
  return typeof header === 'string' ? parseBearerChallenge(header) : null;
}
function jsonOf(out) {
  try {
    return JSON.parse(out.text);
  } catch {
    return undefined;
  }
}
const statusIs = (out, status) => (out.status === status ? null : `status ${out.status ?? out.error} (expected ${status})`);

function expectInvalidToken(out) {
  const bad = statusIs(out, 401);
  if (bad) return bad;
  const c = challenge(out);
  if (!c || c.scheme !== 'Bearer' || c.params.error !== 'invalid_token') return `401 without error="invalid_token": ${out.headers['www-authenticate']}`;
  return null;
}

function expectGateError(out, status, error) {
  const bad = statusIs(out, status);
  if (bad) return bad;
  const j = jsonOf(out);
  if (error && j?.error !== error) return `${status} body error ${JSON.stringify(j?.error)} (expected "${error}")`;
  return null;
}

/**
 * @typedef {object} RequestClass
 * @property {string} name
 * @property {string} expect        the decision, for the table
 * @property {number} weight
 * @property {boolean} forwarded    reaches the origin when the gate decides right
 * @property {boolean} [ownConnection]  sent on a connection of its own (early answers)
 * @property {(ctx: object, n: number) => {opts: object, data?: any}} make
 * @property {(out: object, data: any) => string|null} check   null = right decision
 */

/** @type {RequestClass[]} */
/**
 * A POST in the load's MCP session: JSON headers (or `contentType`), the bearer `token`, the
 * session headers, to the MCP endpoint (or `path`).
 */
function sessionPost(ctx, token, body, { path = RESOURCE_PATH, contentType } = {}) {
  const type = contentType ? { 'Content-Type': contentType } : {};
  return {
    method: 'POST',
    path,
    headers: { ...JSON_HEADERS, ...type, ...bearer(token), ...ctx.sessionHeaders() },
    body,
  };
}

const CLASSES = [
  {
    name: 'call_allowed',
    expect: '200 (origin)',
    weight: 30,
    forwarded: true,
    make(ctx, n) {
      const text = `load-${n}-${randomUUID().slice(0, 8)}`;
      return {
        data: text,
        opts: sessionPost(ctx, pick(ctx.valid, n), rpc(n, 'tools/call', { name: 'echo', arguments: { text } })),
      };
    },
    check(out, text) {
      const bad = statusIs(out, 200);
      if (bad) return bad;
      if (!out.complete) return `200 but the body did not end (${out.error})`;
      if (!out.text.includes(text)) return `200 without the echoed text: ${out.text.slice(0, 120)}`;
      return null;
    },
  },
  {
    name: 'list_allowed',
    expect: '200 (origin)',
    weight: 8,
    forwarded: true,
    make(ctx, n) {
      return {
        opts: sessionPost(ctx, pick(ctx.valid, n), rpc(n, 'tools/list')),
      };
    },
    check(out) {
      const bad = statusIs(out, 200);
      if (bad) return bad;
      if (!out.complete) return `200 but the body did not end (${out.error})`;
      if (!out.text.includes('"echo"')) return `200 without the tool list: ${out.text.slice(0, 120)}`;
      return null;
    },
  },
  {
    name: 'expired',
    expect: '401 invalid_token',
    weight: 6,
    forwarded: false,
    make: (ctx, n) => ({ opts: callOpts(pick(ctx.expired, n), ctx, n) }),
    check: expectInvalidToken,
  },
  {
    name: 'forged_sig',
    expect: '401 invalid_token',
    weight: 6,
    forwarded: false,
    make: (ctx, n) => ({ opts: callOpts(pick(ctx.forged, n), ctx, n) }),
    check: expectInvalidToken,
  },
  {
    name: 'unknown_kid',
    expect: '401 invalid_token',
    weight: 3,
    forwarded: false,
    make: (ctx, n) => ({ opts: callOpts(pick(ctx.unknownKid, n), ctx, n) }),
    check: expectInvalidToken,
  },
  {
    name: 'no_token',
    expect: '401 challenge',
    weight: 6,
    forwarded: false,
    make: (ctx, n) => ({ opts: callOpts(null, ctx, n) }),
    check(out) {
      const bad = statusIs(out, 401);
      if (bad) return bad;
      const c = challenge(out);
      if (!c || c.scheme !== 'Bearer') return `401 without a Bearer challenge`;
      if (c.params.error !== undefined) return `401 challenge carries error="${c.params.error}" without credentials`;
      if (c.params.resource_metadata !== METADATA_URL) return `resource_metadata ${c.params.resource_metadata}`;
      return null;
    },
  },
  {
    name: 'over_scoped',
    expect: '403 insufficient_scope',
    weight: 6,
    forwarded: false,
    make(ctx, n) {
      return {
        opts: sessionPost(ctx, pick(ctx.narrow, n), rpc(n, 'tools/call', { name: 'admin_reset', arguments: {} })),
      };
    },
    check(out) {
      const bad = statusIs(out, 403);
      if (bad) return bad;
      const c = challenge(out);
      if (c?.params.error !== 'insufficient_scope') return `403 without error="insufficient_scope": ${out.headers['www-authenticate']}`;
      if (!(c.params.scope || '').split(' ').includes('mcp:tools:admin_reset')) return `scope="${c.params.scope}" lacks mcp:tools:admin_reset`;
      return null;
    },
  },
  {
    name: 'default_deny',
    expect: '403 access_denied',
    weight: 3,
    forwarded: false,
    make(ctx, n) {
      return {
        opts: sessionPost(ctx, pick(ctx.valid, n), rpc(n, 'tasks/list')),
      };
    },
    check(out) {
      const bad = expectGateError(out, 403, 'access_denied');
      if (bad) return bad;
      if (challenge(out)?.params.error === 'insufficient_scope') return '403 access_denied with an insufficient_scope challenge';
      return null;
    },
  },
  {
    name: 'dup_member',
    expect: '400',
    weight: 4,
    forwarded: false,
    make(ctx, n) {
      return {
        opts: sessionPost(ctx, pick(ctx.valid, n), `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"echo","name":"admin_reset","arguments":{"text":"x"}}}`),
      };
    },
    check: (out) => statusIs(out, 400),
  },
  {
    name: 'dup_casefold',
    expect: '400',
    weight: 3,
    forwarded: false,
    make(ctx, n) {
      // SPEC §4a.5: names equal under simple case folding (name/Name, kind/\u212Aind) → 400.
      const variants = [
        `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"echo","Name":"admin_reset","arguments":{"text":"x"}}}`,
        `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}},"Params":{"name":"admin_reset"}}`,
        `{"jsonrpc":"2.0","id":${n},"method":"tools/call","METHOD":"tools/list","params":{"name":"echo","arguments":{"text":"x"}}}`,
      ];
      return {
        opts: sessionPost(ctx, pick(ctx.valid, n), pick(variants, n)),
      };
    },
    check: (out) => statusIs(out, 400),
  },
  {
    name: 'bad_media_type',
    expect: '415',
    weight: 5,
    forwarded: false,
    make(ctx, n) {
      const types = ['application/json; charset=utf-7', 'text/plain', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded'];
      return {
        data: pick(types, n),
        opts: sessionPost(ctx, pick(ctx.valid, n), rpc(n, 'tools/call', { name: 'echo', arguments: { text: 'media' } }), { contentType: pick(types, n) }),
      };
    },
    check(out, type) {
      const bad = expectGateError(out, 415, 'unsupported_media_type');
      return bad ? `${bad} [Content-Type: ${type}]` : null;
    },
  },
  {
    name: 'unknown_path',
    expect: '404 not_found',
    weight: 5,
    forwarded: false,
    make(ctx, n) {
      const paths = ['/admin', '/mcp/', '/MCP', '/__echo', '/mcp/x'];
      return {
        data: pick(paths, n),
        opts: sessionPost(ctx, pick(ctx.valid, n), rpc(n, 'tools/call', { name: 'echo', arguments: { text: 'path' } }), { path: pick(paths, n) }),
      };
    },
    check(out, p) {
      const bad = expectGateError(out, 404, 'not_found');
      return bad ? `${bad} [path ${p}]` : null;
    },
  },
  {
    name: 'propfind',
    expect: '405 + Allow',
    weight: 3,
    forwarded: false,
    make: (ctx, n) => ({
      opts: { method: 'PROPFIND', path: RESOURCE_PATH, headers: { ...bearer(pick(ctx.valid, n)), Depth: '1' } },
    }),
    check(out) {
      const bad = statusIs(out, 405);
      if (bad) return bad;
      const allow = new Set(String(out.headers.allow || '').split(',').map((s) => s.trim().toUpperCase()));
      for (const m of ['GET', 'POST', 'DELETE', 'OPTIONS']) if (!allow.has(m)) return `405 Allow: ${out.headers.allow}`;
      return null;
    },
  },
  {
    name: 'oversize_length',
    expect: '413',
    weight: 1,
    forwarded: false,
    ownConnection: true,
    make(ctx, n) {
      const head = `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"echo","arguments":{"text":"`;
      const tail = '"}}}';
      const body = head + 'a'.repeat(MAX_BODY_BYTES + 1 - head.length - tail.length) + tail;
      return { opts: { method: 'POST', path: RESOURCE_PATH, headers: { ...JSON_HEADERS, ...bearer(pick(ctx.valid, n)) }, body } };
    },
    check: (out) => statusIs(out, 413),
  },
  {
    name: 'oversize_chunked',
    expect: '413',
    weight: 1,
    forwarded: false,
    ownConnection: true,
    make(ctx, n) {
      return {
        opts: {
          method: 'POST',
          path: RESOURCE_PATH,
          headers: { ...JSON_HEADERS, ...bearer(pick(ctx.valid, n)) },
          chunked: { total: 2 * MAX_BODY_BYTES, prefix: `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"echo","arguments":{"text":"` },
        },
      };
    },
    check: (out) => statusIs(out, 413),
  },
];

function callOpts(token, ctx, n) {
  return {
    method: 'POST',
    path: RESOURCE_PATH,
    headers: { ...JSON_HEADERS, ...(token ? bearer(token) : {}), ...ctx.sessionHeaders() },
    body: rpc(n, 'tools/call', { name: 'echo', arguments: { text: `t${n}` } }),
  };
}

/** Interleaved weighted schedule (deterministic: class i appears weight_i times per cycle). */
function schedule(classes) {
  const slots = [];
  for (const c of classes) for (let k = 0; k < c.weight; k++) slots.push({ c, key: (k + 0.5) / c.weight });
  slots.sort((x, y) => x.key - y.key);
  return slots.map((s) => s.c);
}

/**
 * An oversize upload whose answer was lost on the way, not decided wrong: the gate answers 413
 * while the client is still sending and the body is left unread, so either wrangler dev's own
 * proxy chain (Miniflare's entry worker / wrangler's ProxyWorker, in front of the Worker) fails
 * its upload to the Worker and answers 500 "Network connection lost" with a stack trace naming
 * its own file, or the connection is closed with unread data and the client gets a reset
 * (EPIPE/ECONNRESET) before it reads the 413. The gate's own log shows the 413; the phase report
 * prints both counts. Counted apart ("lost"), not as wrong.
 */
function lostInTransport(out) {
  if (out.status === null) return /EPIPE|ECONNRESET|closed without an answer/.test(out.error || '');
  return out.status >= 500 && /miniflare\/dist\/src\/workers\/core\/entry\.worker\.js|ProxyWorker/.test(out.text);
}

/** An outcome tolerated while the origin is down or coming back (forwarded classes only). */
function outageOutcome(out) {
  if (out.error?.startsWith('timeout')) return null; // stuck: never tolerated
  if (out.status === 502 || out.status === 504) return `${out.status}`;
  if (out.status === 200 && !out.complete) return '200 cut';
  if (out.status === 200) return '200';
  if (out.status === 404 && /Session not found/i.test(out.text)) return '404 origin session lost';
  return null;
}

// ---------------------------------------------------------------------------------------------

function buildMtime() {
  try {
    return statSync(WORKER_MAIN).mtime.toISOString();
  } catch {
    return 'missing';
  }
}

/** The origin process the harness started for us (our child), for a hard kill. */
function originPid() {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('tests/origin/server.mjs')) return Number(pid);
    } catch {
      /* gone */
    }
  }
  return null;
}

async function main() {
  if (!workerBuilt()) {
    console.error(`load: the Worker is not built (${WORKER_MAIN} is missing): run bash .ci/build-worker.sh first`);
    return 2;
  }
  const mtimeAtStart = buildMtime();
  console.log(`build: ${WORKER_MAIN} (mtime ${mtimeAtStart})`);
  console.log(`load: ${CONNECTIONS} connections; phases ${PHASES.join(',')}: a ${SECONDS} s, b ${PHASE_B_SECONDS} s, c ${PHASE_C_SECONDS} s`);

  const issuer = await startIssuer();
  let origin = await startOrigin();
  let gate;
  const agent = keepAliveAgent(CONNECTIONS);
  try {
    const ISS = issuer.resourceIssuer;
    gate = await startGate({
      name: 'load-traffic',
      vars: {
        ...defaultVars(origin.url),
        AUTHORIZATION_SERVERS: ISS,
        ISSUERS: ISS,
        JWKS_URI: issuer.jwksUri,
        // Only the MCP endpoint is served (the harness default forwards the origin's debug paths).
        FORWARD_PATHS: '',
        REQUIRE_RULES: 'true',
      },
      secrets: { ORIGIN_AUTHORIZATION },
      kv: { rules: readFileSync(RULES_FILE, 'utf8'), ...(SEED_JWKS ? { jwks: issuer.jwks() } : {}) },
    });
    console.log(`gate ${gate.url}; origin ${origin.url}; issuer ${issuer.url}`);

    // Tokens (the issuer's signing key; fresh pools are signed for phase c).
    const claims = (over = {}) => defaultClaims({ issuer: ISS, audience: RESOURCE }, { scope: FULL_SCOPE, ...over });
    const signMany = (count, over = {}, opts = {}) =>
      Promise.all(Array.from({ length: count }, () => issuer.sign(claims(over), opts)));
    const t = now();
    const ctx = {
      valid: await signMany(64),
      narrow: await signMany(16, { scope: NARROW_SCOPE }),
      expired: await signMany(16, { iat: t - 4000, nbf: t - 4000, exp: t - 3600 }),
      unknownKid: await Promise.all(Array.from({ length: 16 }, () => issuer.sign(claims(), { header: { kid: `load-unknown-${randomUUID().slice(0, 8)}` } }))),
      forged: [],
      session: null,
      sessionHeaders() {
        return this.session ? { 'Mcp-Session-Id': this.session, 'MCP-Protocol-Version': PROTOCOL_VERSION } : {};
      },
    };
    ctx.forged = ctx.valid.slice(0, 16).map(tamperSignature);

    // Fill the key cache from the issuer (first valid token: unknown kid → refresh), and open
    // the MCP session the allowed calls use.
    ctx.session = await openSession(gate.url, agent, ctx.valid[0], 20_000);
    if (!ctx.session) throw new Error('could not open an MCP session through the gate (see above)');
    console.log(`key cache filled from the issuer: ${issuer.count('/keys')} JWKS fetch(es); MCP session ${ctx.session}`);

    const reports = [];
    let failed = false;
    const sched = schedule(CLASSES);

    if (PHASES.includes('a')) {
      const r = await runPhase({ label: `a. steady, ${SECONDS} s`, seconds: SECONDS, gate, agent, ctx, sched, issuer });
      reports.push(r);
    }

    if (PHASES.includes('b')) {
      const outage = { killAt: null, upAt: null, recoveredAt: null, streams: [], notes: [] };
      const event = async (phaseStart) => {
        const B = PHASE_B_SECONDS * 1000;
        await sleep(B * 0.2);
        // Streams opened before the kill: the standalone GET SSE stream and a slow streaming call.
        const streams = [
          openStream('GET /mcp SSE', gate.url, {
            method: 'GET',
            path: RESOURCE_PATH,
            headers: { Accept: 'text/event-stream', ...bearer(ctx.valid[1]), ...ctx.sessionHeaders() },
          }),
          openStream('POST tools/call slow_count (SSE)', gate.url, {
            method: 'POST',
            path: RESOURCE_PATH,
            headers: { ...JSON_HEADERS, ...bearer(ctx.valid[2]), ...ctx.sessionHeaders() },
            body: rpc('slow', 'tools/call', { name: 'slow_count', arguments: { count: 50, interval_ms: 500 }, _meta: { progressToken: 'p1' } }),
          }),
        ];
        await Promise.race([Promise.all(streams.map((s) => s.head)), sleep(3000)]);
        await sleep(700); // let a few events flow
        const pid = originPid();
        outage.killAt = performance.now();
        if (KILL_SIGNAL === 'SIGKILL' && pid) process.kill(pid, 'SIGKILL');
        await origin.stop();
        outage.notes.push(`origin stopped with ${KILL_SIGNAL === 'SIGKILL' && pid ? `SIGKILL (pid ${pid})` : 'SIGTERM'} at +${((outage.killAt - phaseStart) / 1000).toFixed(1)} s`);
        await sleep(Math.min(3000, B * 0.25));
        origin = await startOrigin({ port: origin.port });
        outage.upAt = performance.now();
        outage.notes.push(`origin listening again on the same port at +${((outage.upAt - phaseStart) / 1000).toFixed(1)} s`);
        // A new MCP session (the old one died with the origin).
        for (let i = 0; i < 30 && !outage.recoveredAt; i++) {
          const sid = await openSession(gate.url, agent, ctx.valid[3], 5000, true);
          if (sid) {
            ctx.session = sid;
            outage.recoveredAt = performance.now();
          } else await sleep(300);
        }
        outage.notes.push(
          outage.recoveredAt
            ? `new MCP session through the gate at +${((outage.recoveredAt - phaseStart) / 1000).toFixed(1)} s (${((outage.recoveredAt - outage.upAt) / 1000).toFixed(1)} s after the restart)`
            : 'NO new MCP session through the gate within 30 attempts',
        );
        // The streams must have ended within STREAM_DEADLINE_MS of the kill.
        for (const s of streams) {
          const left = outage.killAt + STREAM_DEADLINE_MS - performance.now();
          const result = await Promise.race([s.done, sleep(Math.max(0, left)).then(() => null)]);
          if (!result) {
            s.abort();
            outage.streams.push({ name: s.name, ok: false, text: `STUCK: still open ${STREAM_DEADLINE_MS / 1000} s after the kill` });
          } else {
            const endedAfter = result.endedAt - outage.killAt;
            const how = result.out.complete ? 'ended cleanly' : `ended with ${result.out.error}`;
            const ok = result.out.status === 200 && endedAfter >= -50 && endedAfter <= STREAM_DEADLINE_MS;
            outage.streams.push({
              name: s.name,
              ok,
              text: `status ${result.out.status ?? '-'}, ${result.events} event(s) before the kill, ${how} ${(endedAfter / 1000).toFixed(2)} s after the kill`,
            });
          }
        }
      };
      const r = await runPhase({
        label: `b. origin killed and restarted, ${PHASE_B_SECONDS} s`,
        seconds: PHASE_B_SECONDS,
        gate,
        agent,
        ctx,
        sched,
        issuer,
        event,
        window: () =>
          outage.killAt ? { from: outage.killAt, to: (outage.recoveredAt ?? Infinity) + RECOVERY_GRACE_MS } : null,
      });
      r.outage = outage;
      if (!outage.recoveredAt || outage.streams.some((s) => !s.ok)) r.failed = true;
      reports.push(r);
    }

    if (PHASES.includes('c')) {
      const before = issuer.count('/keys');
      await issuer.down('refused');
      // Fresh tokens with the known kid, signed after the issuer went away (not in any token cache).
      ctx.valid = await signMany(64);
      ctx.forged = ctx.valid.slice(0, 16).map(tamperSignature);
      const r = await runPhase({
        label: `c. issuer down (connections refused), ${PHASE_C_SECONDS} s`,
        seconds: PHASE_C_SECONDS,
        gate,
        agent,
        ctx,
        sched,
        issuer,
      });
      r.notes = [
        `JWKS fetches before phase c: ${before}; the issuer refused connections during it; the key cache was filled at start (${before > 0 ? 'yes' : 'NO'})`,
      ];
      if (before === 0 && !SEED_JWKS) r.failed = true;
      const allowed = r.stats.get('call_allowed');
      if (!allowed || allowed.ok === 0) {
        r.failed = true;
        r.notes.push('no allowed call succeeded while the issuer was down');
      }
      reports.push(r);
    }

    // Report.
    console.log('');
    for (const r of reports) {
      printReport(r);
      if (r.failed || r.wrong > 0 || r.fivexx > 0) failed = true;
    }
    const mtimeAtEnd = buildMtime();
    if (mtimeAtEnd !== mtimeAtStart) console.log(`NOTE: ${WORKER_MAIN} changed during the run (mtime ${mtimeAtStart} → ${mtimeAtEnd}); the gate ran the first.`);
    console.log(failed ? 'load: FAILED (wrong decisions, gate 5xx outside the outage window, or stuck streams; see above)' : 'load: every answer matched the contract');
    return failed ? 1 : 0;
  } finally {
    agent.destroy();
    await Promise.allSettled([gate?.stop(), origin.stop(), issuer.stop()]);
  }
}

/** initialize + notifications/initialized through the gate; the session id, or null. */
async function openSession(base, agent, token, timeoutMs, quiet = false) {
  const init = await send(base, {
    method: 'POST',
    path: RESOURCE_PATH,
    headers: { ...JSON_HEADERS, ...bearer(token) },
    body: rpc('init', 'initialize', { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-gate-load', version: '1.0.0' } }),
    agent,
    timeoutMs,
  });
  const sid = init.headers['mcp-session-id'];
  if (init.status !== 200 || !sid) {
    if (!quiet) console.error(`initialize through the gate: ${init.status ?? init.error} ${init.text.slice(0, 300)}`);
    return null;
  }
  const note = await send(base, {
    method: 'POST',
    path: RESOURCE_PATH,
    headers: { ...JSON_HEADERS, ...bearer(token), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL_VERSION },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    agent,
    timeoutMs,
  });
  if (note.status !== 202) {
    if (!quiet) console.error(`notifications/initialized through the gate: ${note.status ?? note.error} ${note.text.slice(0, 300)}`);
    return null;
  }
  return sid;
}

/** A long-lived streamed response: {name, head, done, abort}. */
function openStream(name, base, opts) {
  const ac = new AbortController();
  let events = 0;
  let resolveHead;
  const head = new Promise((r) => {
    resolveHead = r;
  });
  const done = send(base, {
    ...opts,
    agent: false,
    timeoutMs: 600_000,
    signal: ac.signal,
    onHead(res) {
      resolveHead();
      res.on('data', (c) => {
        events += (c.toString('utf8').match(/\n\n/g) || []).length;
      });
    },
  }).then((out) => {
    resolveHead();
    return { out, endedAt: performance.now(), events };
  });
  return { name, head, done, abort: () => ac.abort() };
}

/** Request number across phases (JSON-RPC ids, pool picks). */
let counter = 0;

/** Run the worker loops for `seconds` (plus an optional side event); collect per-request outcomes. */
async function runPhase({ label, seconds, gate, agent, ctx, sched, issuer, event, window }) {
  const records = [];
  const keysBefore = issuer.count('/keys');
  const logStart = gate.logs().length;
  const started = performance.now();
  const endAt = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < endAt) {
      const n = counter++;
      const cls = sched[n % sched.length];
      const { opts, data } = cls.make(ctx, n);
      const t0 = performance.now();
      // Oversize uploads (own connection) get twice the deadline: 1–2 MiB through wrangler dev's
      // proxy on a busy 2-core machine took up to ~10 s at the 99th percentile.
      const out = await send(gate.url, {
        ...opts,
        agent: cls.ownConnection ? false : agent,
        timeoutMs: cls.ownConnection ? 2 * REQUEST_TIMEOUT_MS : REQUEST_TIMEOUT_MS,
      });
      const t1 = performance.now();
      records.push({ cls, t0, t1, out, reason: cls.check(out, data) });
    }
  };
  const side = event ? event(started).catch((err) => ({ error: err })) : Promise.resolve();
  await Promise.all([...Array.from({ length: CONNECTIONS }, worker), side]);
  const sideResult = await side;
  const elapsed = (performance.now() - started) / 1000;

  const win = window?.() ?? null;
  // What the gate itself logged (SPEC §8 line per request) during the phase, by status.
  const gateLogged = {};
  for (const line of jsonLines(gate.logs().slice(logStart))) {
    if (typeof line.status === 'number') gateLogged[line.status] = (gateLogged[line.status] || 0) + 1;
  }
  const stats = new Map(CLASSES.map((c) => [c.name, { cls: c, count: 0, ok: 0, tolerated: 0, lost: 0, wrong: 0, fivexx: 0, stuck: 0, lat: [], statuses: {}, examples: [], toleratedKinds: {} }]));
  let wrong = 0;
  let fivexx = 0;
  for (const r of records) {
    const s = stats.get(r.cls.name);
    s.count++;
    s.lat.push(r.t1 - r.t0);
    const key = r.out.status ?? (r.out.error?.startsWith('timeout') ? 'timeout' : 'neterr');
    s.statuses[key] = (s.statuses[key] || 0) + 1;
    if (r.out.error?.startsWith('timeout')) s.stuck++;
    if (!r.reason) {
      s.ok++;
      continue;
    }
    if (r.cls.ownConnection && lostInTransport(r.out)) {
      s.lost++;
      continue;
    }
    const inWindow = win && r.cls.forwarded && r.t1 >= win.from && r.t0 <= win.to;
    const kind = inWindow ? outageOutcome(r.out) : null;
    if (kind) {
      s.tolerated++;
      s.toleratedKinds[kind] = (s.toleratedKinds[kind] || 0) + 1;
      continue;
    }
    s.wrong++;
    wrong++;
    if (r.out.status >= 500) {
      s.fivexx++;
      fivexx++;
    }
    if (s.examples.length < 3) {
      const at = ((r.t0 - started) / 1000).toFixed(1);
      s.examples.push(`+${at}s ${r.reason}; body: ${r.out.text.replace(/\s+/g, ' ').slice(0, 160)}`);
    }
  }
  return {
    label,
    elapsed,
    total: records.length,
    stats,
    wrong,
    fivexx,
    keysFetched: issuer.count('/keys') - keysBefore,
    gateLogged,
    lost: [...stats.values()].reduce((a, x) => a + x.lost, 0),
    oversizeSent: [...stats.values()].filter((x) => x.cls.ownConnection).reduce((a, x) => a + x.count, 0),
    allLat: records.map((r) => r.t1 - r.t0),
    failed: Boolean(sideResult?.error),
    sideError: sideResult?.error,
  };
}

function printReport(r) {
  const f = (ms) => (Number.isFinite(ms) ? ms.toFixed(1) : '-');
  console.log(`=== phase ${r.label} ===`);
  console.log(
    `${r.total} requests in ${r.elapsed.toFixed(1)} s = ${(r.total / r.elapsed).toFixed(0)} req/s; p50 ${f(percentile(r.allLat, 50))} ms, p99 ${f(percentile(r.allLat, 99))} ms; wrong decisions ${r.wrong}; gate 5xx outside the outage window ${r.fivexx}; JWKS fetches ${r.keysFetched}`,
  );
  const head = ['class', 'expected', 'count', 'ok', 'outage', 'lost', 'wrong', '5xx', 'p50 ms', 'p99 ms', 'statuses'];
  const rows = [];
  for (const s of r.stats.values()) {
    if (s.count === 0) continue;
    rows.push([
      s.cls.name,
      s.cls.expect,
      s.count,
      s.ok,
      s.tolerated || '',
      s.lost || '',
      s.wrong || '',
      s.fivexx || '',
      f(percentile(s.lat, 50)),
      f(percentile(s.lat, 99)),
      Object.entries(s.statuses)
        .map(([k, v]) => `${k}×${v}`)
        .join(' '),
    ]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (row) => row.map((v, i) => (i >= 2 && i <= 9 ? String(v).padStart(widths[i]) : String(v).padEnd(widths[i]))).join('  ');
  console.log(line(head));
  for (const row of rows) console.log(line(row));
  for (const s of r.stats.values()) {
    if (Object.keys(s.toleratedKinds).length) {
      console.log(`  ${s.cls.name} during the outage window: ${Object.entries(s.toleratedKinds).map(([k, v]) => `${k}×${v}`).join(', ')}`);
    }
  }
  console.log(`  the gate's own log lines, by status: ${Object.entries(r.gateLogged).map(([k, v]) => `${k}×${v}`).join(' ') || 'none'}`);
  if (r.lost) {
    console.log(
      `  NOTE: the 413 of ${r.lost} oversize upload(s) was lost in transport (wrangler dev proxy 500 "Network connection lost", or a reset before the answer); ${r.oversizeSent} oversize uploads sent, the gate logged 413×${r.gateLogged[413] || 0}`,
    );
  }
  if (r.outage) {
    for (const n of r.outage.notes) console.log(`  ${n}`);
    for (const s of r.outage.streams) console.log(`  stream ${s.name}: ${s.ok ? 'ok' : 'WRONG'} — ${s.text}`);
  }
  for (const n of r.notes || []) console.log(`  ${n}`);
  if (r.sideError) console.log(`  phase event failed: ${r.sideError.stack || r.sideError}`);
  for (const s of r.stats.values()) {
    for (const e of s.examples) console.log(`  WRONG ${s.cls.name}: ${e}`);
  }
  console.log('');
}

main()
  .then((code) => process.exit(code))
  .catch((err) => {
    console.error(`load: could not run: ${err.stack || err.message}`);
    process.exit(2);
  });
