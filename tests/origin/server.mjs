#!/usr/bin/env node
// Example origin MCP server for mcp-gate: the demo origin behind `npm start` and
// the origin of the end-to-end suite. Built on the official MCP TypeScript SDK
// (McpServer + StreamableHTTPServerTransport, stateful sessions).
//
// Besides MCP (served on every path that is not a debug endpoint), it records
// every request it receives so that tests can assert what the gate forwarded:
//   GET  /__requests   recorded requests, oldest first (debug endpoints excluded)
//   POST /__reset      forget recorded requests
//   ANY  /__slow       never answers within SLOW_SECONDS (?seconds=N, default 60): for the 504 test
//   GET  /__stream     raw SSE (?n=5&interval_ms=300), independent of MCP: for streaming tests
//   GET  /__jwks       a key set stored with PUT /__jwks (stand-in JWKS_URI); 404 until then
//   ANY  /__echo       JSON describing the request as seen here (method, path, headers, body);
//                      ?status=N answers with status N; sets X-Origin-Seen and Mcp-Session-Id (?session=)
//
// Loopback only. Configuration: PORT (default 0 = any free port), HOST (default 127.0.0.1),
// JSON_RESPONSE=1 (answer requests with application/json instead of an SSE stream).
// Prints `origin listening on http://127.0.0.1:PORT` once ready.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const HOST = process.env.HOST || '127.0.0.1';
// The debug endpoints reveal every header the origin received: never listen beyond loopback.
if (!['127.0.0.1', '::1', 'localhost'].includes(HOST)) {
  console.error(`origin: refusing HOST=${HOST}; this example server listens on loopback only`);
  process.exit(2);
}
const PORT = Number(process.env.PORT || 0);
const MAX_RECORDED = 2000;
const MAX_BODY = 8 * 1024 * 1024;

/** @type {Array<object>} */
let recorded = [];
let sequence = 0;
/** @type {string|null} served at GET /__jwks */
let jwksDocument = null;

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

function authHeadersOf(headers) {
  const seen = {};
  for (const [name, value] of Object.entries(headers || {})) {
    if (name.toLowerCase().startsWith('x-mcp-auth-')) seen[name.toLowerCase()] = value;
  }
  return seen;
}

function buildServer() {
  const server = new McpServer(
    { name: 'mcp-gate-example-origin', version: '1.0.0' },
    { capabilities: { logging: {} } },
  );

  server.registerTool(
    'echo',
    {
      description: 'Echo the given text back.',
      inputSchema: { text: z.string() },
    },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );

  server.registerTool(
    'whoami',
    {
      description: 'Return the X-MCP-Auth-* identity headers the origin received with this call.',
      inputSchema: {},
    },
    async (_args, extra) => {
      const identity = authHeadersOf(extra?.requestInfo?.headers);
      return {
        content: [{ type: 'text', text: JSON.stringify(identity) }],
        structuredContent: { headers: identity },
      };
    },
  );

  server.registerTool(
    'calendar_get_events',
    {
      description: 'List calendar events for a day.',
      inputSchema: { date: z.string().optional() },
    },
    async ({ date }) => {
      const day = date || '2026-01-15';
      const events = [
        { title: 'Standup', start: `${day}T09:00:00Z` },
        { title: 'Design review', start: `${day}T14:00:00Z` },
      ];
      return {
        content: [{ type: 'text', text: JSON.stringify(events) }],
        structuredContent: { events },
      };
    },
  );

  server.registerTool(
    'calendar_create_event',
    {
      description: 'Create a calendar event.',
      inputSchema: { title: z.string(), start: z.string() },
    },
    async ({ title, start }) => ({
      content: [{ type: 'text', text: `created event "${title}" at ${start}` }],
    }),
  );

  server.registerTool(
    'admin_reset',
    {
      description: 'Reset all data (administrative; should be guarded by scope rules).',
      inputSchema: {},
    },
    async () => ({ content: [{ type: 'text', text: 'reset done' }] }),
  );

  server.registerTool(
    'slow_count',
    {
      description:
        'Count from 1 to count, sending a progress notification and a log message every interval_ms before the result.',
      inputSchema: {
        count: z.number().int().min(1).max(50).optional(),
        interval_ms: z.number().int().min(0).max(5000).optional(),
      },
    },
    async ({ count = 5, interval_ms = 300 }, extra) => {
      const progressToken = extra?._meta?.progressToken;
      for (let i = 1; i <= count; i++) {
        if (i > 1) await sleep(interval_ms, extra.signal);
        if (extra.signal?.aborted) break;
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', logger: 'slow_count', data: `tick ${i}/${count} at ${Date.now()}` },
        });
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress: i, total: count, message: `tick ${i}` },
          });
        }
      }
      await sleep(interval_ms, extra.signal);
      return { content: [{ type: 'text', text: `counted to ${count}` }] };
    },
  );

  server.registerResource(
    'acme-profile',
    'customer://acme/profile',
    { title: 'ACME customer profile', mimeType: 'application/json' },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({ customer: 'ACME Corp', tier: 'gold', contact: 'ops@acme.example' }),
        },
      ],
    }),
  );

  server.registerResource(
    'handbook',
    'docs://handbook',
    { title: 'Employee handbook', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Be kind.' }] }),
  );

  server.registerResource(
    'customer-orders',
    new ResourceTemplate('customer://{customer}/orders', { list: undefined }),
    { title: 'Orders of a customer', mimeType: 'application/json' },
    async (uri, { customer }) => ({
      contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ customer, orders: [] }) }],
    }),
  );

  server.registerPrompt(
    'summary',
    { description: 'Summarise a text.', argsSchema: { text: z.string().optional() } },
    async ({ text }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Summarise: ${text || ''}` } }],
    }),
  );

  server.registerPrompt(
    'greeting',
    {
      description: 'A friendly greeting.',
      argsSchema: { name: z.string().optional() },
    },
    async ({ name }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Please greet ${name || 'the user'} warmly.` } }],
    }),
  );

  return server;
}

/** @type {Map<string, StreamableHTTPServerTransport>} */
const sessions = new Map();

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res, status, value, extraHeaders = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', ...extraHeaders });
  res.end(body);
}

function jsonRpcError(res, status, message) {
  sendJson(res, status, { jsonrpc: '2.0', error: { code: -32000, message }, id: null });
}

function record(req, url, body) {
  const entry = {
    seq: ++sequence,
    time: Date.now(),
    method: req.method,
    path: url.pathname,
    query: url.search,
    url: req.url,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    body: body.toString('utf8'),
    bodyBase64: body.toString('base64'),
  };
  recorded.push(entry);
  if (recorded.length > MAX_RECORDED) recorded = recorded.slice(-MAX_RECORDED);
  return entry;
}

async function handleMcp(req, res, body) {
  const sessionId = req.headers['mcp-session-id'];
  let parsed;
  if (req.method === 'POST') {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      jsonRpcError(res, 400, 'Parse error: Invalid JSON');
      return;
    }
  }

  let transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
  if (!transport) {
    if (typeof sessionId === 'string') {
      jsonRpcError(res, 404, 'Session not found');
      return;
    }
    const isInit =
      req.method === 'POST' &&
      (Array.isArray(parsed) ? parsed.some((m) => isInitializeRequest(m)) : isInitializeRequest(parsed));
    if (!isInit) {
      jsonRpcError(res, 400, 'Bad Request: No valid session ID provided');
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // JSON_RESPONSE=1: answer requests with application/json instead of an SSE stream.
      enableJsonResponse: process.env.JSON_RESPONSE === '1',
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    const server = buildServer();
    await server.connect(transport);
  }
  await transport.handleRequest(req, res, parsed);
}

async function handleStream(req, res, url) {
  const n = Math.min(Number(url.searchParams.get('n') || 5), 100);
  const interval = Math.min(Number(url.searchParams.get('interval_ms') || 300), 10000);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  for (let i = 1; i <= n && !closed; i++) {
    if (i > 1) await sleep(interval);
    res.write(`id: ${i}\nevent: tick\ndata: ${JSON.stringify({ i, n, sent: Date.now() })}\n\n`);
  }
  res.end();
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);

  if (url.pathname === '/__requests' && req.method === 'GET') {
    sendJson(res, 200, recorded);
    return;
  }
  if (url.pathname === '/__reset' && req.method === 'POST') {
    recorded = [];
    sendJson(res, 200, { ok: true });
    return;
  }

  const body = await readBody(req);
  record(req, url, body);

  if (url.pathname === '/__slow') {
    const seconds = Math.min(Number(url.searchParams.get('seconds') || process.env.SLOW_SECONDS || 60), 600);
    const timer = setTimeout(() => {
      if (!res.writableEnded) sendJson(res, 200, { slow: true, waited_seconds: seconds });
    }, seconds * 1000);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  if (url.pathname === '/__jwks') {
    // A stand-in JWKS endpoint (for JWKS_URI tests): PUT/POST stores the body, GET serves it.
    if (req.method === 'PUT' || req.method === 'POST') {
      jwksDocument = body.toString('utf8');
      sendJson(res, 200, { ok: true });
    } else if (jwksDocument === null) {
      sendJson(res, 404, { error: 'no key set stored' });
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
      res.end(jwksDocument);
    }
    return;
  }
  if (url.pathname === '/__stream') {
    await handleStream(req, res, url);
    return;
  }
  if (url.pathname === '/__echo') {
    const status = Number(url.searchParams.get('status') || 200);
    sendJson(res, status >= 200 && status <= 599 ? status : 200, {
      method: req.method,
      path: url.pathname,
      query: url.search,
      headers: req.headers,
      body: body.toString('utf8'),
    }, { 'x-origin-seen': 'yes', 'mcp-session-id': url.searchParams.get('session') || 'echo-session' });
    return;
  }
  await handleMcp(req, res, body);
}

const httpServer = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('origin error:', err?.message || err);
    if (!res.headersSent) jsonRpcError(res, 500, 'Internal origin error');
    else res.end();
  });
});
// The gate's keep-alive connections must not be cut by Node's default timeouts mid-test.
httpServer.keepAliveTimeout = 65_000;
httpServer.requestTimeout = 0;
httpServer.headersTimeout = 60_000;

httpServer.listen(PORT, HOST, () => {
  const { port } = httpServer.address();
  console.log(`origin listening on http://${HOST}:${port}`);
});

function shutdown() {
  for (const transport of sessions.values()) transport.close().catch(() => {});
  httpServer.close(() => process.exit(0));
  httpServer.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
