// Run the built Worker (build/worker/shim.mjs) under `wrangler dev --local` (workerd) for a test
// file, with its own temporary wrangler config, local KV state and vars.
//
// Facts this relies on (see ../shared/TOOLCHAIN.md): wrangler 4.164 needs Node >= 22.12 (the
// node in node_modules/.bin); no [build] section, so wrangler does not rerun worker-build; local KV
// is seeded with `wrangler kv ... --local --persist-to DIR` using the same DIR as `wrangler dev`.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { runProcess, startProcess, tail } from './process.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../..');
export const TMP = path.join(REPO, 'tests/.tmp');
export const WORKER_MAIN = process.env.GATE_WORKER_MAIN || path.join(REPO, 'build/worker/shim.mjs');
export const KV_NAMESPACE_ID = 'mcp-gate-e2e-kv';

const BIN = path.join(REPO, 'node_modules/.bin');
const WRANGLER = path.join(BIN, 'wrangler');
const READY_TIMEOUT_MS = Number(process.env.GATE_READY_TIMEOUT_MS || 90_000);
const KV_TIMEOUT_MS = 60_000;

/** Environment for every wrangler invocation: quiet, non-interactive, Node 22 first on PATH. */
export function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    PATH: `${BIN}:${process.env.PATH || ''}`,
    CI: 'true',
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_SEND_ERROR_REPORTS: 'false',
    DO_NOT_TRACK: '1',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    ...extra,
  };
}

/** compatibility_date (and flags) of the project's wrangler.toml, so tests run what deploys. */
export function projectCompatibility() {
  const result = { compatibility_date: '2025-11-01', compatibility_flags: [] };
  const file = path.join(REPO, 'wrangler.toml');
  if (!existsSync(file)) return result;
  const text = readFileSync(file, 'utf8');
  const date = text.match(/^\s*compatibility_date\s*=\s*"([^"]+)"/m);
  if (date) result.compatibility_date = date[1];
  const flags = text.match(/^\s*compatibility_flags\s*=\s*\[([^\]]*)\]/m);
  if (flags) result.compatibility_flags = [...flags[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  return result;
}

export function workerBuilt() {
  return existsSync(WORKER_MAIN);
}

/**
 * Create a working directory with a wrangler config for one gate configuration.
 * @param {{name?: string, vars?: Record<string,string>, secrets?: Record<string,string>, main?: string}} options
 */
export function prepareGateDir({ name = 'gate', vars = {}, secrets = {}, main = WORKER_MAIN } = {}) {
  const dir = path.join(TMP, `${name}-${process.pid}-${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { recursive: true });
  const persist = path.join(dir, 'state');
  const config = {
    name: 'mcp-gate-e2e',
    main,
    ...projectCompatibility(),
    kv_namespaces: [{ binding: 'GATE_KV', id: KV_NAMESPACE_ID }],
    vars,
  };
  if (config.compatibility_flags.length === 0) delete config.compatibility_flags;
  const configPath = path.join(dir, 'wrangler.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  // Secrets the way `wrangler dev` reads them locally: a .dev.vars file next to the config.
  const secretLines = Object.entries(secrets).map(([k, v]) => `${k}=${JSON.stringify(String(v))}`);
  if (secretLines.length) writeFileSync(path.join(dir, '.dev.vars'), `${secretLines.join('\n')}\n`);
  return { dir, persist, configPath };
}

/** Write several KV keys into the local state directory (one wrangler call). */
export async function kvBulkPut({ dir, persist, configPath }, entries) {
  const list = Object.entries(entries).map(([key, value]) => ({
    key,
    value: typeof value === 'string' ? value : JSON.stringify(value),
  }));
  if (list.length === 0) return;
  const file = path.join(dir, `kv-bulk-${randomUUID().slice(0, 8)}.json`);
  writeFileSync(file, JSON.stringify(list));
  const { code, output } = await runProcess(
    WRANGLER,
    ['kv', 'bulk', 'put', file, '--binding', 'GATE_KV', '--local', '--persist-to', persist, '-c', configPath],
    { cwd: dir, env: wranglerEnv(), timeoutMs: KV_TIMEOUT_MS },
  );
  rmSync(file, { force: true });
  if (code !== 0) throw new Error(`wrangler kv bulk put failed (${code}):\n${tail(output)}`);
}

/** Write one KV key (`value` string or JSON-able) into the local state directory. */
export async function kvPut({ dir, persist, configPath }, key, value) {
  const file = path.join(dir, `kv-${randomUUID().slice(0, 8)}.txt`);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  const { code, output } = await runProcess(
    WRANGLER,
    ['kv', 'key', 'put', key, '--path', file, '--binding', 'GATE_KV', '--local', '--persist-to', persist, '-c', configPath],
    { cwd: dir, env: wranglerEnv(), timeoutMs: KV_TIMEOUT_MS },
  );
  rmSync(file, { force: true });
  if (code !== 0) throw new Error(`wrangler kv key put ${key} failed (${code}):\n${tail(output)}`);
}

/** Read one KV key from the local state directory (null when missing). */
export async function kvGet({ dir, persist, configPath }, key) {
  const { code, output, stdout } = await runProcess(
    WRANGLER,
    ['kv', 'key', 'get', key, '--binding', 'GATE_KV', '--local', '--persist-to', persist, '-c', configPath, '--text'],
    { cwd: dir, env: wranglerEnv(), timeoutMs: KV_TIMEOUT_MS },
  );
  if (code !== 0) throw new Error(`wrangler kv key get ${key} failed (${code}):\n${tail(output)}`);
  // wrangler prints the value followed by one newline of its own.
  return /^Value not found/m.test(output) ? null : stdout.replace(/\n$/, '');
}

/** Delete one KV key from the local state directory. */
export async function kvDelete({ dir, persist, configPath }, key) {
  const { code, output } = await runProcess(
    WRANGLER,
    ['kv', 'key', 'delete', key, '--binding', 'GATE_KV', '--local', '--persist-to', persist, '-c', configPath],
    { cwd: dir, env: wranglerEnv(), timeoutMs: KV_TIMEOUT_MS },
  );
  if (code !== 0) throw new Error(`wrangler kv key delete ${key} failed (${code}):\n${tail(output)}`);
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0), for a
 * process that must know its port before it starts: e.g. the gate when RESOURCE has to be
 * `http://127.0.0.1:<gate port>/mcp` (the login bridge checks `Origin` against the origin of
 * RESOURCE). Another process may take it in between: startGate({port}) then fails clearly.
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start the gate under `wrangler dev --local`.
 * `port` (default 0: any free port) fixes the port on 127.0.0.1; see freePort().
 * @param {{name?: string, vars?: Record<string,string>, secrets?: Record<string,string>,
 *   kv?: Record<string, string|object>, main?: string, extraArgs?: string[], port?: number}} options
 * @returns {Promise<Gate>}
 *
 * @typedef {object} Gate
 * @property {string} url            base URL, e.g. http://127.0.0.1:41234
 * @property {() => string} logs     everything wrangler/workerd printed so far (ANSI stripped)
 * @property {() => object[]} jsonLogs  every log line that parses as a JSON object
 * @property {(pred: (logs: string) => any, timeoutMs?: number) => Promise<any>} waitForLogs
 * @property {(key: string, value: string|object) => Promise<void>} kvPut   write KV while running
 * @property {(key: string) => Promise<void>} kvDelete
 * @property {(key: string) => Promise<string|null>} kvGet
 * @property {() => Promise<void>} stop
 */
export async function startGate({ name, vars = {}, secrets = {}, kv = {}, main, extraArgs = [], port = 0 } = {}) {
  const place = prepareGateDir({ name, vars, secrets, main });
  await kvBulkPut(place, kv);
  const proc = startProcess(
    WRANGLER,
    [
      'dev',
      '--local',
      '-c',
      place.configPath,
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--inspector-port',
      '0',
      '--persist-to',
      place.persist,
      '--show-interactive-dev-session=false',
      '--log-level',
      'log',
      ...extraArgs,
    ],
    { cwd: place.dir, env: wranglerEnv(), logFile: path.join(place.dir, 'wrangler-dev.log') },
  );
  let url;
  try {
    const match = await proc.waitFor(
      (out) => out.match(/Ready on (http:\/\/[0-9.:\[\]a-z]+)/),
      READY_TIMEOUT_MS,
      '`Ready on http://…` from wrangler dev',
    );
    url = match[1].replace(/\/$/, '');
    if (port && new URL(url).port !== String(port)) {
      throw new Error(`wrangler dev is on ${url}, not on the requested port ${port} (taken meanwhile?)`);
    }
  } catch (err) {
    await proc.stop(1000);
    throw new Error(`${err.message}\n(wrangler config and logs kept in ${place.dir})`);
  }
  return {
    url,
    dir: place.dir,
    persist: place.persist,
    logs: proc.output,
    jsonLogs: () => jsonLines(proc.output()),
    waitForLogs: (pred, timeoutMs = 5000) => proc.waitFor(pred, timeoutMs, 'log output'),
    kvPut: (key, value) => kvPut(place, key, value),
    kvDelete: (key) => kvDelete(place, key),
    kvGet: (key) => kvGet(place, key),
    async stop() {
      await proc.stop(5000);
      // Keep the directory (config, local KV state, wrangler-dev.log) only when asked to.
      if (!process.env.E2E_KEEP_TMP) rmSync(place.dir, { recursive: true, force: true });
    },
  };
}

/** Every line of `text` that is (or ends in) a JSON object. */
export function jsonLines(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const start = line.indexOf('{');
    if (start < 0) continue;
    try {
      const value = JSON.parse(line.slice(start).trim());
      if (value && typeof value === 'object' && !Array.isArray(value)) out.push(value);
    } catch {
      /* not JSON */
    }
  }
  return out;
}
