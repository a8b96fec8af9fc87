// `npm start` (after `bash .ci/setup.sh`, which installs what is missing): the gate running
// locally, end to end, with the e2e harness's process, KV and origin helpers:
//   1. builds the Worker when a source changed (`bash .ci/build-worker.sh --if-stale`),
//   2. makes development keys in .dev/ (git-ignored) with `mcp-gate dev-keys` and seeds local KV
//      (.wrangler/state) with their public key set (`jwks`) and the example rules (`rules`),
//   3. starts the example origin MCP server (tests/origin/server.mjs) on a free loopback port,
//   4. starts `wrangler dev --local` with the project's wrangler.toml on http://127.0.0.1:8787
//      in front of it (its [build] rebuilds the Worker when src/ changes),
//   5. prints how to get a development token and call the gate, then the gate's log.
// Ctrl-C (or SIGTERM) stops everything it started. Loopback only.
//
//   GATE_PORT=8787   port of the gate (RESOURCE and the issuer depend on it)

import { mkdirSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, kvBulkPut, wranglerEnv } from './gate.mjs';
import { startOrigin } from './origin.mjs';
import { startProcess, tail } from './process.mjs';

const GATE_PORT = Number(process.env.GATE_PORT || 8787);
const GATE_URL = `http://127.0.0.1:${GATE_PORT}`;
const RESOURCE = `${GATE_URL}/mcp`;
// A made-up issuer: tokens come from `mcp-gate token`, and JWKS_URI=off keeps the gate from
// trying to discover keys from it; the keys are seeded in KV.
const ISSUER = `${GATE_URL}/dev-issuer`;
const DEV_DIR = '.dev';
const LOG_DIR = path.join(DEV_DIR, 'logs');
const PERSIST = '.wrangler/state'; // shared by `wrangler kv ... --local` and `wrangler dev`
const RULES_FILE = 'tests/fixtures/rules.example.json';
const WRANGLER = path.join(REPO, 'node_modules/.bin/wrangler');
const READY_TIMEOUT_MS = 120_000;

process.chdir(REPO);

// process.mjs stops every child's process group on SIGINT/SIGTERM and on exit; say so first.
for (const signal of ['SIGINT', 'SIGTERM']) process.prependListener(signal, () => console.log('\nstopping...'));

/** Print a child's output as it comes (from now on). */
function echo(proc) {
  proc.child.stdout.on('data', (chunk) => process.stdout.write(chunk));
  proc.child.stderr.on('data', (chunk) => process.stderr.write(chunk));
}

/** Run a build step to completion, its output shown here. */
async function step(command, args) {
  const proc = startProcess(command, args, { cwd: REPO });
  echo(proc);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code})`);
}

async function main() {
  mkdirSync(LOG_DIR, { recursive: true });

  console.log('==> building the Worker (skipped when build/ is newer than the sources)');
  await step('bash', ['.ci/build-worker.sh', '--if-stale']);

  console.log(`==> development keys in ${DEV_DIR}/ (private keys stay there, git-ignored)`);
  await step('cargo', ['run', '--quiet', '--bin', 'mcp-gate', '--', 'dev-keys', '--dir', DEV_DIR]);

  console.log(`==> seeding local KV (${PERSIST}): jwks, rules`);
  const kv = { jwks: readFileSync(path.join(DEV_DIR, 'jwks.json'), 'utf8') };
  if (existsSync(RULES_FILE)) kv.rules = readFileSync(RULES_FILE, 'utf8');
  else console.log(`    ${RULES_FILE} not found: no rules, the gate runs in authenticated mode`);
  const place = { dir: path.resolve(DEV_DIR), persist: path.resolve(PERSIST), configPath: path.resolve('wrangler.toml') };
  await kvBulkPut(place, kv);

  console.log('==> starting the example origin MCP server');
  const origin = await startOrigin();
  console.log(`    ${origin.url}`);

  console.log('==> starting the gate (wrangler dev --local)');
  const logFile = path.join(LOG_DIR, 'wrangler.log');
  const gate = startProcess(
    WRANGLER,
    [
      'dev',
      '--local',
      '--ip',
      '127.0.0.1',
      '--port',
      String(GATE_PORT),
      '--inspector-port',
      '0',
      '--persist-to',
      place.persist,
      '--show-interactive-dev-session=false',
      ...['--var', `RESOURCE:${RESOURCE}`],
      ...['--var', `AUTHORIZATION_SERVERS:${ISSUER}`],
      ...['--var', `ORIGIN:${origin.url}`],
      ...['--var', 'JWKS_URI:off'],
      ...['--var', 'ALLOWED_ORIGINS:http://localhost:6274 http://127.0.0.1:6274'],
    ],
    { cwd: REPO, env: wranglerEnv(), logFile },
  );
  const [, readyUrl] = await gate.waitFor(
    (out) => out.match(/Ready on (http:\/\/[0-9.:]+)/),
    READY_TIMEOUT_MS,
    '`Ready on http://…` from wrangler dev',
  );
  if (readyUrl.replace(/\/$/, '') !== GATE_URL) {
    console.warn(`warning: wrangler dev listens on ${readyUrl}, not ${GATE_URL} (RESOURCE and the issuer say ${GATE_PORT})`);
  }

  console.log(`
mcp-gate is running at ${GATE_URL}  (MCP endpoint: ${RESOURCE})
  origin MCP server: ${origin.url}
  log: ${logFile} (one JSON line per request; also shown below)

Get a development token (add --scope "..." for the scopes the rules require):
  TOKEN=$(cargo run -q --bin mcp-gate -- token --iss ${ISSUER} --aud ${RESOURCE} --scope "mcp:tools:*")

Call the gate:
  curl -i ${GATE_URL}/.well-known/oauth-protected-resource/mcp
  curl -i ${RESOURCE} -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}'

Press Ctrl-C to stop.
`);

  // The gate's log from here on, and whatever the origin prints (errors only).
  echo(gate);
  let originShown = origin.output().length;
  setInterval(() => {
    const out = origin.output();
    if (out.length > originShown) process.stderr.write(out.slice(originShown));
    originShown = out.length;
  }, 1000).unref();

  const code = await gate.exited;
  throw new Error(`wrangler dev exited (${code}); see ${logFile}`);
}

main().catch((err) => {
  console.error(`\nnpm start: ${err.message}`);
  // process.mjs stops the children on exit.
  process.exit(1);
});
