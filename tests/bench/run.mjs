#!/usr/bin/env node
// `npm run bench`: mcp-gate against the origin directly, a JavaScript pass-through Worker and a
// JavaScript gate using `jose` (plain, and doing mcp-gate's other per-request work), side by side in
// one run, on loopback only. See README.md here.
//
//   node tests/bench/run.mjs [--quick] [--duration=S] [--warmup=S] [--connections=N] [--pool=N]
//                            [--reps=N] [--rounds=N] [--modes=a,b] [--targets=a,b] [--rules] [--out=FILE]
//
// Issue 13 (list filtering costs non-list requests nothing): `--targets=mcp-gate,mcp-gate-lists-off`
// adds the same build with FILTER_LISTS=false, and the mode `tools-call` (a tools/call of the
// origin's `echo` tool); the report then compares the two builds per mode. Meaningful with --rules
// (without a rules document the gate filters nothing either way).
//
// Every Worker runs under raw workerd (generated config, one process each, no wrangler dev or
// Miniflare proxy in the path), with an in-memory KV service seeded with the JWK Set.

import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

import { generateTestKeys, defaultClaims, signToken, tamperSignature } from '../support/keys.mjs';
import { startProcess } from '../support/process.mjs';
import { ORIGIN_SERVER } from '../support/origin.mjs';
import { projectCompatibility } from '../support/gate.mjs';
import { rawRequest } from '../support/http.mjs';
import { BENCH_DIR, BUILD, REPO, TMP } from './lib/paths.mjs';
import { bundleWorker } from './lib/bundle.mjs';
import { processCpuNs, startWorkerd, workerdBinary, writeConfig } from './lib/workerd.mjs';
import { measureSlice, summarize } from './lib/load.mjs';
import { baseHeaders, callBody, ECHO_TEXT, MCP_PATH, openSession, pingBody, post, rpcResult, toolsListBody } from './lib/mcp.mjs';
import { coldStart, wasmCompiles } from './lib/coldstart.mjs';
import { sizesOf } from './lib/sizes.mjs';
import { checkTargets, compare, listFiltering, printReport } from './lib/report.mjs';

// The gate's configured identity (names never resolve: the gate only compares them).
const RESOURCE = 'https://mcp.example.test/mcp';
const ISSUER = 'https://auth.example.test/resources/res_bench';
// `mcp-gate-lists-off` (the same build with FILTER_LISTS=false) and `tools-call` (a tools/call of
// the origin's `echo` tool, one repeated RS256 token) run only when asked for.
const DEFAULT_TARGETS = ['origin', 'passthrough', 'jose-gate', 'jose-gate-duties', 'mcp-gate'];
// `mcp-gate-baseline`: another build of mcp-gate (`--baseline=DIR`, a copy of an earlier
// build/), same settings, measured in turn with the others: an A/B of two builds in one run.
const ALL_TARGETS = [...DEFAULT_TARGETS, 'mcp-gate-lists-off', 'mcp-gate-baseline'];
const DEFAULT_MODES = ['distinct-RS256', 'distinct-ES256', 'repeated-RS256', 'repeated-ES256', 'no-token'];
const ALL_MODES = [...DEFAULT_MODES, 'tools-call'];
const GATES = ['jose-gate', 'jose-gate-duties', 'mcp-gate', 'mcp-gate-lists-off', 'mcp-gate-baseline'];
const MCP_GATES = ['mcp-gate', 'mcp-gate-lists-off'];
const WARM_TOKENS = 400;

// ---------------------------------------------------------------------------------------------
// Configuration: flags override environment variables override defaults (full or --quick).

const HELP = `usage: node tests/bench/run.mjs [options]
  --quick            smoke run of a few seconds (short phases, small token pool, 1 cold start)
  --duration=S       seconds per measured phase          (env BENCH_DURATION;    default 3, quick 0.3)
  --warmup=S         seconds of warm-up per target       (env BENCH_WARMUP;      default 1, quick 0.2)
  --connections=N    connections of the load phase       (env BENCH_CONNECTIONS; default 8, quick 4)
  --pool=N           distinct tokens per algorithm       (env BENCH_POOL;        default 4096, quick 400)
  --reps=N           fresh workerd starts per Worker     (env BENCH_REPS;        default 3, quick 1)
  --rounds=N         slices per phase, targets in turn   (env BENCH_ROUNDS;      default 3, quick 1)
  --modes=LIST       any of ${ALL_MODES.join(",")}
                     (default: ${DEFAULT_MODES.join(',')}; quick: distinct-RS256,repeated-RS256,no-token;
                     tools-call is added to the default when mcp-gate-lists-off is a target)
  --targets=LIST     any of ${ALL_TARGETS.join(',')}
                     (default: ${DEFAULT_TARGETS.join(',')}; mcp-gate-lists-off = the same build with FILTER_LISTS=false)
  --baseline=DIR     also measure target mcp-gate-baseline: the build in DIR (a copy of an earlier build/:
                     index_bg.wasm, index.js, worker/shim.mjs), same settings — an A/B of two builds in one run
  --rules            seed a rules document (ping for scope mcp:ping, tools/call of echo for mcp:tools:echo,
                     tools/list for any token) instead of authenticated mode
  --out=FILE         JSON report                         (env BENCH_OUT;         default tests/.tmp/bench.json)
  --keep             keep the scratch directory (configs, bundles, workerd logs)
  --timeout=S        abort the whole run after S seconds (env BENCH_TIMEOUT;     default 600)`;

function parseConfig(argv) {
  const flags = {};
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg}\n${HELP}`);
    flags[m[1]] = m[2] ?? true;
  }
  const known = ['quick', 'duration', 'warmup', 'connections', 'pool', 'reps', 'rounds', 'modes', 'targets', 'rules', 'out', 'keep', 'timeout', 'baseline'];
  for (const k of Object.keys(flags)) if (!known.includes(k)) throw new Error(`unknown option --${k}\n${HELP}`);
  const quick = Boolean(flags.quick) || process.env.BENCH_QUICK === '1';
  const pick = (flag, env, full, smoke) => {
    const raw = flags[flag] ?? process.env[env];
    const value = raw === undefined ? (quick ? smoke : full) : Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${flag} must be a positive number, got ${raw}`);
    return value;
  };
  const list = (flag, all, byDefault) => {
    if (!flags[flag]) return byDefault;
    const chosen = String(flags[flag]).split(',').filter(Boolean);
    for (const c of chosen) if (!all.includes(c)) throw new Error(`--${flag}: unknown ${c} (known: ${all.join(', ')})`);
    return chosen;
  };
  const baseline = flags.baseline ? path.resolve(String(flags.baseline)) : null;
  const targets = list('targets', ALL_TARGETS, baseline ? [...DEFAULT_TARGETS, 'mcp-gate-baseline'] : DEFAULT_TARGETS);
  if (targets.includes('mcp-gate-baseline') && !baseline) throw new Error('target mcp-gate-baseline needs --baseline=DIR');
  // A smoke run covers one distinct and one repeated mode; a full run all four. Asking for the
  // lists-off target without naming modes adds tools-call (ping is repeated-RS256).
  let modes = list('modes', ALL_MODES, quick ? ['distinct-RS256', 'repeated-RS256', 'no-token'] : DEFAULT_MODES);
  if (!flags.modes && targets.includes('mcp-gate-lists-off')) modes = [...modes, 'tools-call'];
  return {
    quick,
    durationSec: pick('duration', 'BENCH_DURATION', 3, 0.3),
    warmupSec: pick('warmup', 'BENCH_WARMUP', 1, 0.2),
    connections: Math.round(pick('connections', 'BENCH_CONNECTIONS', 8, 4)),
    pool: Math.round(pick('pool', 'BENCH_POOL', 4096, 400)),
    reps: Math.round(pick('reps', 'BENCH_REPS', 3, 1)),
    rounds: Math.round(pick('rounds', 'BENCH_ROUNDS', 3, 1)),
    timeoutSec: pick('timeout', 'BENCH_TIMEOUT', 600, 600),
    modes,
    targets,
    rules: Boolean(flags.rules) || process.env.BENCH_RULES === '1',
    out: path.resolve(REPO, flags.out || process.env.BENCH_OUT || 'tests/.tmp/bench.json'),
    keep: Boolean(flags.keep),
    baseline,
  };
}

// ---------------------------------------------------------------------------------------------

const t0 = performance.now();
const log = (msg) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);

function machine() {
  let workerd = null;
  try {
    workerd = execFileSync(workerdBinary(), ['--version'], { timeout: 10_000 }).toString().trim();
  } catch {
    /* reported as null */
  }
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`,
    node: process.version,
    workerd,
  };
}

async function startOrigin(dir) {
  const proc = startProcess(process.execPath, [ORIGIN_SERVER], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    logFile: path.join(dir, 'origin.log'),
  });
  const match = await proc.waitFor((out) => out.match(/origin listening on (http:\/\/127\.0\.0\.1:\d+)/), 15_000, 'the origin to listen');
  return { url: match[1], pid: proc.pid, stop: () => proc.stop(2000) };
}

async function signPool(key, count, claims) {
  const out = new Array(count);
  const batch = 256;
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    const signed = await Promise.all(Array.from({ length: n }, () => signToken(key, claims())));
    for (let j = 0; j < n; j++) out[i + j] = signed[j];
  }
  return out;
}

/** Newest modification time (ms) of a file or of any file under a directory; 0 when missing. */
function newestMtime(file) {
  if (!existsSync(file)) return 0;
  const st = statSync(file);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(file)) newest = Math.max(newest, newestMtime(path.join(file, entry)));
  return newest;
}

/** Numbers {hits, misses} of a verified-token cache in mcp-gate's /healthz, when it reports them. */
async function cacheCounters(url) {
  try {
    const res = await rawRequest(`${url}/healthz`, { timeoutMs: 5000 });
    const find = (v) => {
      if (!v || typeof v !== 'object') return null;
      if (typeof v.hits === 'number' && typeof v.misses === 'number') return { hits: v.hits, misses: v.misses };
      for (const child of Object.values(v)) {
        const found = find(child);
        if (found) return found;
      }
      return null;
    };
    return find(JSON.parse(res.body));
  } catch {
    return null;
  }
}

async function main() {
  const cfg = parseConfig(process.argv.slice(2));
  const deadline = setTimeout(() => {
    log(`ABORT: the run exceeded --timeout=${cfg.timeoutSec}s; stopping every child process`);
    process.exit(2);
  }, cfg.timeoutSec * 1000);
  deadline.unref();

  for (const file of Object.values(BUILD)) {
    if (!existsSync(file)) {
      throw new Error(`${path.relative(REPO, file)} is missing: build the Worker first (bash .ci/build-worker.sh)`);
    }
  }
  const loadBefore = os.loadavg();
  const started = Date.now();
  const runDir = path.join(TMP, `bench-${process.pid}`);
  mkdirSync(runDir, { recursive: true });
  log(`scratch directory ${path.relative(REPO, runDir)}; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores`);
  if (loadBefore[0] > os.cpus().length * 0.5) log('WARNING: the machine is busy; latency figures will be noisy');

  // On SIGINT/SIGTERM the harness (tests/support/process.mjs) kills its children and exits;
  // workerd processes are killed by lib/workerd.mjs's exit hook; the scratch directory here.
  let keep = cfg.keep;
  process.on('exit', () => {
    if (!keep) rmSync(runDir, { recursive: true, force: true });
  });
  const cleanups = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
    if (!keep) rmSync(runDir, { recursive: true, force: true });
  };

  try {
    const report = await bench(cfg, runDir, cleanups);
    report.startedAt = new Date(started).toISOString();
    report.elapsedSec = Math.round((Date.now() - started) / 100) / 10;
    report.loadavg = { before: loadBefore, after: os.loadavg() };
    report.comparison = compare(report.runs);
    report.targets = checkTargets(report);
    const lists = listFiltering(report.runs);
    if (lists) report.listFiltering = lists;
    mkdirSync(path.dirname(cfg.out), { recursive: true });
    writeFileSync(cfg.out, `${JSON.stringify(report, null, 2)}\n`);
    printReport(report);
    console.log(`\nJSON: ${path.relative(REPO, cfg.out)}  (${report.elapsedSec} s)`);
  } catch (err) {
    keep = true;
    log(`configs, bundles and workerd logs kept in ${path.relative(REPO, runDir)}`);
    throw err;
  } finally {
    await cleanup();
  }
}

async function bench(cfg, runDir, cleanups) {
  const compat = projectCompatibility();

  // --- a snapshot of the build: a rebuild during the run must not change what is measured
  const built = path.join(runDir, 'build');
  mkdirSync(path.join(built, 'worker'), { recursive: true });
  const snapshot = { wasm: path.join(built, 'index_bg.wasm'), js: path.join(built, 'index.js'), shim: path.join(built, 'worker/shim.mjs') };
  for (const key of Object.keys(snapshot)) copyFileSync(BUILD[key], snapshot[key]);
  const builtAt = statSync(BUILD.shim).mtimeMs;
  const newerSource = ['src', 'Cargo.toml', 'Cargo.lock'].map((p) => newestMtime(path.join(REPO, p))).some((t) => t > builtAt);
  if (newerSource) log('WARNING: build/ is older than src/ or Cargo.*: this measures the previous build (bash .ci/build-worker.sh)');
  const buildInfo = {
    builtAt: new Date(builtAt).toISOString(),
    olderThanSources: newerSource,
    wasmSha256: createHash('sha256').update(readFileSync(snapshot.wasm)).digest('hex'),
  };

  // --- sizes and instruments
  const passthroughBundle = path.join(runDir, 'passthrough.bundle.mjs');
  const joseBundle = path.join(runDir, 'jose-gate.bundle.mjs');
  await bundleWorker(path.join(BENCH_DIR, 'passthrough-worker.mjs'), passthroughBundle);
  await bundleWorker(path.join(BENCH_DIR, 'jose-gate-worker.mjs'), joseBundle);
  const sizes = {
    mcpGate: sizesOf([snapshot.wasm, snapshot.js, snapshot.shim]),
    joseGate: sizesOf([joseBundle]),
    passthrough: sizesOf([passthroughBundle]),
  };
  for (const s of sizes.mcpGate.files) s.file = `build/${path.relative(built, path.join(REPO, s.file))}`;
  for (const s of [...sizes.joseGate.files, ...sizes.passthrough.files]) s.file = path.basename(s.file);

  // --- keys, origin, tokens
  log('bundled the instruments; generating keys and signing tokens');
  const keys = await generateTestKeys();
  const origin = await startOrigin(runDir);
  cleanups.push(origin.stop);
  const claims = () =>
    defaultClaims({ issuer: ISSUER, audience: RESOURCE }, { scope: 'mcp:ping mcp:tools:*', exp: Math.floor(Date.now() / 1000) + 3600 });
  const tokens = {};
  for (const alg of ['RS256', 'ES256']) {
    tokens[alg] = {
      pool: await signPool(keys.keys[alg], cfg.pool, claims),
      // Warm-up tokens, distinct from the measured ones, enough not to be served from a cache.
      warm: await signPool(keys.keys[alg], WARM_TOKENS, claims),
      one: await signToken(keys.keys[alg], claims()),
    };
  }
  log(`signed ${2 * (cfg.pool + WARM_TOKENS + 1)} tokens`);
  // Fresh workerd runs use 3 new tokens per start and gate (2 gates x reps x 3), plus one for
  // the wasm compilation pass.
  const coldTokens = await signPool(keys.keys.RS256, cfg.reps * 6 + 1, claims);
  let coldNext = 0;
  const coldToken = () => {
    if (coldNext >= coldTokens.length) throw new Error('internal: cold-start token pool exhausted');
    return coldTokens[coldNext++];
  };

  // --- Workers under workerd
  // Without --rules: authenticated mode, chosen explicitly (a missing document is a 503).
  const vars = {
    RESOURCE,
    AUTHORIZATION_SERVERS: ISSUER,
    ORIGIN: origin.url,
    JWKS_URI: 'off',
    ...(cfg.rules ? {} : { REQUIRE_RULES: 'false' }),
  };
  const kv = { jwks: JSON.stringify(keys.jwks) };
  if (cfg.rules) {
    kv.rules = JSON.stringify({
      version: 1,
      default: 'deny',
      rules: [
        { name: 'session', match: { method: 'initialize' }, require: [] },
        { name: 'notifications', match: { method: 'notifications/*' }, require: [] },
        { name: 'ping', match: { method: 'ping' }, require: ['mcp:ping'] },
        // After `ping`, so that a ping is decided as before; for the tools-call mode and the
        // check that list filtering is on (tools/list shows only `echo`) or off (every tool).
        { name: 'echo', match: { method: 'tools/call', name: 'echo' }, require: ['mcp:tools:echo'] },
        { name: 'tool lists', match: { method: 'tools/list' }, require: [] },
      ],
    });
  }
  const kvWorker = path.join(BENCH_DIR, 'kv-worker.mjs');
  const mcpGateModules = [
    { name: 'worker/shim.mjs', type: 'esModule', file: snapshot.shim },
    { name: 'index.js', type: 'esModule', file: snapshot.js },
    { name: 'index_bg.wasm', type: 'wasm', file: snapshot.wasm },
  ];
  const configs = {
    passthrough: writeConfig({
      dir: runDir,
      name: 'passthrough',
      modules: [{ name: 'worker.mjs', type: 'esModule', file: passthroughBundle }],
      vars: { ORIGIN: origin.url },
      kv: null,
      kvWorker,
      compatibilityDate: compat.compatibility_date,
      compatibilityFlags: compat.compatibility_flags,
    }),
    'jose-gate': writeConfig({
      dir: runDir,
      name: 'jose-gate',
      modules: [{ name: 'worker.mjs', type: 'esModule', file: joseBundle }],
      vars,
      kv,
      kvWorker,
      compatibilityDate: compat.compatibility_date,
      compatibilityFlags: compat.compatibility_flags,
    }),
    // The same instrument doing mcp-gate's other per-request work (context, not a target).
    'jose-gate-duties': writeConfig({
      dir: runDir,
      name: 'jose-gate-duties',
      modules: [{ name: 'worker.mjs', type: 'esModule', file: joseBundle }],
      vars: { ...vars, SAME_DUTIES: '1' },
      kv,
      kvWorker,
      compatibilityDate: compat.compatibility_date,
      compatibilityFlags: compat.compatibility_flags,
    }),
    'mcp-gate': writeConfig({
      dir: runDir,
      name: 'mcp-gate',
      modules: mcpGateModules,
      vars,
      kv,
      kvWorker,
      compatibilityDate: compat.compatibility_date,
      compatibilityFlags: compat.compatibility_flags,
    }),
  };
  // The same snapshot with list filtering off (issue 13: non-list requests pay nothing for it).
  if (cfg.targets.includes('mcp-gate-lists-off')) {
    configs['mcp-gate-lists-off'] = writeConfig({
      dir: runDir,
      name: 'mcp-gate-lists-off',
      modules: mcpGateModules,
      vars: { ...vars, FILTER_LISTS: 'false' },
      kv,
      kvWorker,
      compatibilityDate: compat.compatibility_date,
      compatibilityFlags: compat.compatibility_flags,
    });
  }

  // Another build, copied like the first (A/B within one run).
  if (cfg.targets.includes('mcp-gate-baseline')) {
    const other = path.join(runDir, 'baseline');
    const files = ['index_bg.wasm', 'index.js', 'worker/shim.mjs'];
    mkdirSync(path.join(other, 'worker'), { recursive: true });
    for (const f of files) copyFileSync(path.join(cfg.baseline, f), path.join(other, f));
    configs['mcp-gate-baseline'] = writeConfig({
      dir: runDir,
      name: 'mcp-gate-baseline',
      modules: [
        { name: 'worker/shim.mjs', type: 'esModule', file: path.join(other, 'worker/shim.mjs') },
        { name: 'index.js', type: 'esModule', file: path.join(other, 'index.js') },
        { name: 'index_bg.wasm', type: 'wasm', file: path.join(other, 'index_bg.wasm') },
      ],
      vars,
      kv,
      kvWorker,
      compatibilityDate: compat.compatibility_date,
      compatibilityFlags: compat.compatibility_flags,
    });
  }

  const targets = [];
  for (const name of cfg.targets) {
    if (name === 'origin') {
      targets.push({ name, url: origin.url, cpuNs: () => processCpuNs(origin.pid) });
      continue;
    }
    const w = await startWorkerd(configs[name], { logFile: path.join(runDir, `${name}.log`) });
    cleanups.push(w.stop);
    targets.push({ name, url: w.url, cpuNs: w.cpuNs, worker: w });
  }
  log(`started ${targets.map((t) => `${t.name} ${t.url}`).join(', ')}`);

  // --- sanity: a real MCP session through every target; the gates really verify
  for (const t of targets) {
    t.session = await openSession(t.url, tokens.RS256.one, t.name);
    if (GATES.includes(t.name)) {
      const none = await post(t.url, pingBody(2), { session: t.session });
      const bad = await post(t.url, pingBody(3), { token: tamperSignature(tokens.RS256.one), session: t.session });
      const es = await post(t.url, pingBody(4), { token: tokens.ES256.one, session: t.session });
      if (none.status !== 401 || bad.status !== 401 || es.status !== 200) {
        throw new Error(`${t.name}: expected 401 without token, 401 with a bad signature and 200 with ES256; got ${none.status}, ${bad.status}, ${es.status}`);
      }
    }
    if (cfg.modes.includes('tools-call')) {
      const call = await post(t.url, callBody(5), { token: tokens.RS256.one, session: t.session });
      const text = rpcResult(call.body)?.result?.content?.[0]?.text;
      if (call.status !== 200 || text !== ECHO_TEXT) {
        throw new Error(`${t.name}: tools/call of echo answered ${call.status}: ${call.body.slice(0, 300)}`);
      }
    }
    // The two builds really differ: under the rules document only `echo` may be called, so a
    // filtered tools/list shows `echo` alone and an unfiltered one every tool of the origin.
    if (cfg.rules && MCP_GATES.includes(t.name)) {
      const list = await post(t.url, toolsListBody(6), { token: tokens.RS256.one, session: t.session });
      const names = (rpcResult(list.body)?.result?.tools ?? []).map((x) => x.name);
      const filtered = names.length === 1 && names[0] === 'echo';
      const wantFiltered = t.name === 'mcp-gate';
      if (list.status !== 200 || !names.includes('echo') || filtered !== wantFiltered) {
        throw new Error(`${t.name}: tools/list should be ${wantFiltered ? 'filtered to echo' : 'unfiltered'}; got ${list.status} with ${JSON.stringify(names)}`);
      }
      t.toolsListed = names.length;
    }
  }
  const originSession = targets.find((t) => t.name === 'origin')?.session ?? (await openSession(origin.url, tokens.RS256.one, 'origin'));

  // --- time to first response of a freshly started workerd
  log(`fresh workerd starts (${cfg.reps} per Worker)`);
  await post(origin.url, pingBody(9), { session: originSession }); // node:http warmed up
  const firstResponse = {};
  for (const name of ['mcp-gate', 'jose-gate', 'passthrough']) {
    if (!cfg.targets.includes(name)) continue;
    const gated = name !== 'passthrough';
    const common = { configFile: configs[name], logFile: path.join(runDir, `${name}.cold.log`), session: originSession, reps: cfg.reps };
    firstResponse[name] = {
      noTokenFirst: await coldStart({
        ...common,
        sequence: gated
          ? [
              { label: 'first request, no token', expect: 401 },
              { label: 'then first verified request', token: coldToken, expect: 200 },
              { label: 'then another new token', token: coldToken, expect: 200 },
            ]
          : [
              { label: 'first request', expect: 200 },
              { label: 'second request', expect: 200 },
            ],
      }),
    };
    if (gated) {
      firstResponse[name].verifiedFirst = await coldStart({
        ...common,
        sequence: [{ label: 'first request, verified (RS256)', token: coldToken, expect: 200 }],
      });
    }
  }
  // What the first request costs in wasm compilation (the main share of its time).
  if (firstResponse['mcp-gate']) {
    const common = { configFile: configs['mcp-gate'], logFile: path.join(runDir, 'mcp-gate.compile.log'), session: originSession };
    firstResponse['mcp-gate'].wasmCompiles = [
      await wasmCompiles({ ...common, step: { label: 'first request, no token', expect: 401 } }),
      await wasmCompiles({ ...common, step: { label: 'first request, verified (RS256)', token: coldToken, expect: 200 } }),
    ];
  }

  // --- load
  const requestSource = (mode, t) => {
    if (mode === 'no-token') return (n) => ({ headers: { 'mcp-session-id': t.session }, body: pingBody(n) });
    if (mode === 'tools-call') {
      const headers = { authorization: `Bearer ${tokens.RS256.one}`, 'mcp-session-id': t.session };
      return (n) => ({ headers, body: callBody(n) });
    }
    const [kind, alg] = mode.split('-');
    const pool = kind === 'distinct' ? tokens[alg].pool : [tokens[alg].one];
    t.cursor ??= {};
    return (n) => {
      const i = (t.cursor[alg] = (t.cursor[alg] ?? -1) + 1);
      return { headers: { authorization: `Bearer ${pool[i % pool.length]}`, 'mcp-session-id': t.session }, body: pingBody(n) };
    };
  };
  const slice = async (t, connections, durationSec, requestFor, expectStatus) => {
    const before = MCP_GATES.includes(t.name) ? await cacheCounters(t.url) : null;
    const r = await measureSlice({
      url: t.url,
      path: MCP_PATH,
      connections,
      durationSec,
      requestFor,
      baseHeaders,
      cpuNs: t.cpuNs,
      originCpuNs: t.name === 'origin' ? undefined : () => processCpuNs(origin.pid),
      expectStatus,
    });
    const after = before ? await cacheCounters(t.url) : null;
    if (before && after) r.tokenCache = { hits: after.hits - before.hits, misses: after.misses - before.misses };
    const total = Object.values(r.statuses).reduce((a, b) => a + b, 0);
    if (r.ok === 0) throw new Error(`${t.name}: no expected response (statuses ${JSON.stringify(r.statuses)}, errors ${r.errors})`);
    if (r.ok !== total || r.errors || r.timeouts) {
      log(`WARNING ${t.name}: ${total - r.ok} unexpected statuses, ${r.errors} errors, ${r.timeouts} timeouts (statuses ${JSON.stringify(r.statuses)})`);
    }
    return r;
  };
  const summary = (slices, connections) => {
    const s = summarize(slices, { connections, durationSec: cfg.durationSec });
    const caches = slices.map((x) => x.tokenCache).filter(Boolean);
    if (caches.length) s.tokenCache = { hits: caches.reduce((a, c) => a + c.hits, 0), misses: caches.reduce((a, c) => a + c.misses, 0) };
    return s;
  };

  log(`first responses measured; warm-up ${cfg.warmupSec}s per target`);
  for (const t of targets) {
    const warm = (alg) => (n) => ({
      headers: { authorization: `Bearer ${tokens[alg].warm[n % tokens[alg].warm.length]}`, 'mcp-session-id': t.session },
      body: pingBody(n),
    });
    await slice(t, cfg.connections, cfg.warmupSec / 2, warm('RS256'));
    await slice(t, cfg.connections, cfg.warmupSec / 2, warm('ES256'));
  }

  // Each phase is measured in `rounds` slices, the targets taking turns (in a rotating order),
  // so that load from elsewhere on the machine spreads over all targets.
  const runs = [];
  const sliceSec = cfg.durationSec / cfg.rounds;
  for (const mode of cfg.modes) {
    // Without a token only the gates answer by themselves (401, origin not involved).
    const expectStatus = mode === 'no-token' ? 401 : undefined;
    const inMode = targets.filter((t) => !expectStatus || GATES.includes(t.name));
    const acc = new Map(inMode.map((t) => [t, { source: requestSource(mode, t), latency: [], load: [] }]));
    log(`${mode}: ${inMode.map((t) => t.name).join(', ')} (${cfg.rounds} x ${sliceSec.toFixed(2)} s per phase)`);
    for (let round = 0; round < cfg.rounds; round++) {
      const order = inMode.map((_, i) => inMode[(i + round) % inMode.length]);
      for (const t of order) {
        const a = acc.get(t);
        a.latency.push(await slice(t, 1, sliceSec, a.source, expectStatus));
        a.load.push(await slice(t, cfg.connections, sliceSec, a.source, expectStatus));
      }
    }
    for (const t of inMode) {
      const a = acc.get(t);
      runs.push({ mode, target: t.name, latency: summary(a.latency, 1), load: summary(a.load, cfg.connections) });
    }
  }

  return {
    tool: 'tests/bench/run.mjs',
    config: { ...cfg, out: path.relative(REPO, cfg.out), resource: RESOURCE, issuer: ISSUER, compatibility: compat },
    machine: machine(),
    build: buildInfo,
    request: `POST ${MCP_PATH} ${pingBody('<n>')} (MCP ping on one session per target; SSE response from the origin)${cfg.modes.includes('tools-call') ? `; tools-call: ${callBody('<n>')}` : ''}`,
    sizes,
    firstResponse,
    runs,
    notes: [
      'latency = autocannon per-response time, 1 connection (no queueing); load = the same with `connections` connections',
      `each phase = ${cfg.rounds} slices of ${cfg.durationSec / cfg.rounds} s, the targets taking turns in a rotating order`,
      'no-token = the same request without Authorization: the gates answer 401 themselves (fixed cost of a request through the gate, no crypto, no origin)',
      'CPU µs/req = CPU time (all threads, /proc schedstat) of the target process during the phase / requests; workerd does not expose per-request CPU time to a Worker',
      `distinct = a pool of ${cfg.pool} tokens per algorithm used in rotation (each token re-used only after ${cfg.pool} requests)`,
      'KiB = 1024 bytes; gzip = zlib default level of all modules together, as `wrangler deploy` reports',
      ...(cfg.modes.includes('tools-call') ? ['tools-call = a tools/call of the origin\'s echo tool with one repeated RS256 token'] : []),
      ...(cfg.targets.includes('mcp-gate-lists-off')
        ? [`mcp-gate-lists-off = the same build with FILTER_LISTS=false${cfg.rules ? '' : ' (without --rules the gate filters nothing either way)'}`]
        : []),
    ],
    ...(MCP_GATES.every((g) => cfg.targets.includes(g)) && cfg.rules
      ? { listsCheck: Object.fromEntries(targets.filter((t) => MCP_GATES.includes(t.name)).map((t) => [t.name, `tools/list shows ${t.toolsListed} tool(s)`])) }
      : {}),
  };
}

main().catch((err) => {
  console.error(`[bench] FAILED: ${err?.stack || err}`);
  process.exitCode = 1;
});
