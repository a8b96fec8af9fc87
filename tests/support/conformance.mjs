// The official MCP conformance suite (npm @modelcontextprotocol/conformance, CLI `conformance`)
// as a peer test suite: list its server scenarios, run one against a URL and read its verdict,
// and a small bearer-adding proxy (the suite's client sends no Authorization header).
//
// Facts this relies on (../shared/TOOLCHAIN.md, "MCP conformance suite"): the CLI needs Node >= 22
// (node_modules/.bin first on PATH); `conformance server --url URL --scenario NAME -o DIR` writes
// DIR/<run>/checks.json only when -o is given; `conformance list` prints the server scenarios as
// `  - name [versions]` lines under "Server scenarios".

import http from 'node:http';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './gate.mjs';
import { runProcess, tail } from './process.mjs';

const BIN = path.join(REPO, 'node_modules/.bin');
export const CONFORMANCE = path.join(BIN, 'conformance');
const SCENARIO_TIMEOUT_MS = Number(process.env.CONFORMANCE_SCENARIO_TIMEOUT_MS || 90_000);

/** Environment for the CLI: Node 22 from node_modules first on PATH, no colours. */
export function conformanceEnv() {
  return { ...process.env, PATH: `${BIN}:${process.env.PATH || ''}`, NO_COLOR: '1', FORCE_COLOR: '0' };
}

export function conformanceInstalled() {
  return existsSync(CONFORMANCE);
}

/** Parse the "Server scenarios" section of `conformance list`. */
export function parseServerScenarios(text) {
  const names = [];
  let inServer = false;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      inServer = /^Server scenarios/i.test(line);
      continue;
    }
    const m = inServer && line.match(/^\s+-\s+(\S+)/);
    if (m) names.push(m[1]);
  }
  return names;
}

/** The server scenarios the installed suite knows. */
export async function listServerScenarios() {
  const { code, output, stdout } = await runProcess(CONFORMANCE, ['list'], {
    env: conformanceEnv(),
    timeoutMs: 60_000,
  });
  if (code !== 0) throw new Error(`conformance list failed (${code}):\n${tail(output)}`);
  const names = parseServerScenarios(stdout);
  if (names.length === 0) throw new Error(`conformance list showed no server scenarios:\n${tail(output)}`);
  return names;
}

function findChecks(dir) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findChecks(full));
    else if (entry.name === 'checks.json') found.push(full);
  }
  return found;
}

/**
 * Run one server scenario against `url` and read its checks.json.
 * A scenario passes when it produced at least one check and none has status FAILURE
 * (WARNING marks an unmet SHOULD; INFO is a trace).
 * @returns {Promise<{scenario: string, pass: boolean, exitCode: any, checks: object[],
 *   failures: string[], warnings: string[], ms: number, output: string}>}
 */
export async function runServerScenario({ url, scenario, outDir }) {
  const started = performance.now();
  let result;
  try {
    result = await runProcess(CONFORMANCE, ['server', '--url', url, '--scenario', scenario, '-o', outDir], {
      env: conformanceEnv(),
      timeoutMs: SCENARIO_TIMEOUT_MS,
    });
  } catch (err) {
    result = { code: 'timeout', output: err.message };
  }
  const ms = Math.round(performance.now() - started);
  let checks = [];
  const files = findChecks(outDir);
  for (const file of files) {
    try {
      checks.push(...JSON.parse(readFileSync(file, 'utf8')));
    } catch (err) {
      checks.push({ id: 'checks.json', status: 'FAILURE', errorMessage: `unreadable ${file}: ${err.message}` });
    }
  }
  if (files.length === 0) {
    const why = tail(result.output || '', 6).replace(/\s+/g, ' ').trim();
    checks = [{ id: 'checks.json', status: 'FAILURE', errorMessage: `no checks.json (exit ${result.code}): ${why}` }];
  }
  const describe = (c) => `${c.id}: ${c.errorMessage || c.description || ''}`.trim();
  const failures = checks.filter((c) => c.status === 'FAILURE').map(describe);
  const warnings = checks.filter((c) => c.status === 'WARNING').map(describe);
  const pass = failures.length === 0 && checks.some((c) => c.status === 'SUCCESS');
  return { scenario, pass, exitCode: result.code, checks, failures, warnings, ms, output: result.output };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** A flat [name, value, …] header list without hop-by-hop headers (repeats and order kept). */
function forwardable(rawHeaders, { drop = [] } = {}) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || drop.includes(name)) continue;
    out.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return out;
}

/**
 * A loopback HTTP proxy that adds `Authorization: Bearer <token>` (when the request carries no
 * Authorization) and forwards everything else unchanged — method, path, query, headers including
 * Host and Origin, body — to `target`, streaming request and response both ways (SSE included).
 * `setTarget(url)` may be called after start (the proxy's own origin is then known before the
 * gate's settings are written).
 * @returns {Promise<{url: string, port: number, setTarget: (url: string) => void,
 *   requests: () => number, stop: () => Promise<void>}>}
 */
export async function startBearerProxy({ token, target } = {}) {
  let upstream = target ? new URL(target) : null;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let count = 0;
  const server = http.createServer((req, res) => {
    count++;
    if (!upstream) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('proxy: no target yet');
      return;
    }
    const headers = forwardable(req.rawHeaders);
    if (req.headers.authorization === undefined && token) headers.push('Authorization', `Bearer ${token}`);
    const out = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
        setHost: false, // the client's Host goes through as it was (DNS-rebinding scenario)
      },
      (up) => {
        res.writeHead(up.statusCode, up.statusMessage, forwardable(up.rawHeaders));
        res.flushHeaders();
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${err.message}`);
      else res.destroy();
    });
    // A client that goes away (closing an SSE stream) closes the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setTarget(url) {
      upstream = new URL(url);
    },
    requests: () => count,
    async stop() {
      server.closeAllConnections?.();
      agent.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
