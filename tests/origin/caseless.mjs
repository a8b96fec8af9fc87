#!/usr/bin/env node
// A small JSON-RPC origin that reads member names case-insensitively, the way Go's
// encoding/json fills a struct: for each object, the LAST member whose name equals the wanted
// key under Unicode simple case folding wins ("Name" ≈ "name", "paramſ" ≈ "params" since
// U+017F LATIN SMALL LETTER LONG S folds to "s", "\u212Aind" ≈ "kind" since U+212A KELVIN SIGN
// folds to "k"). It also ignores control characters inside member names (a lenient reading
// some hand-written decoders make), so that every rule of SPEC §4a.5 has an origin it protects.
// Invalid UTF-8 is decoded with U+FFFD replacements and lone surrogates are kept, as lenient
// decoders do.
//
// So `{"method":"tools/call","params":{"name":"calendar_get_events","Name":"delete_everything"}}`
// is, to a case-sensitive gate, a call of calendar_get_events and, here, a call of
// delete_everything. The gate must refuse such bodies (400) before any rule is applied.
//
// It "executes" every JSON-RPC request or notification it receives (no real tools): it records
// {method, name} (name = params.name, or params.uri) and answers {"result":{"executed":{...}}}.
//   GET  /__executed  what it executed, oldest first
//   GET  /__requests  every request received (method, path, headers, rawHeaders, body, bodyBase64)
//   POST /__reset     forget both
// Every other request, on any path, is handled as JSON-RPC (POST) or answered 200 (others).
//
// Loopback only. PORT (default 0), HOST (default 127.0.0.1). Prints
// `caseless origin listening on http://127.0.0.1:PORT` once ready.
// `node tests/origin/caseless.mjs --self-test` shows the reading on the sample bodies.

import http from 'node:http';
import { fileURLToPath } from 'node:url';

/** One code point under simple case folding (a one-to-one mapping, never a longer string). */
function foldCodePoint(ch) {
  const upper = ch.toUpperCase();
  const base = [...upper].length === 1 ? upper : ch;
  const lower = base.toLowerCase();
  return [...lower].length === 1 ? lower : base;
}

/** A member name as this origin compares it: control characters dropped, simple-case-folded. */
export function foldName(name) {
  let out = '';
  // eslint-disable-next-line no-control-regex
  for (const ch of name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '')) out += foldCodePoint(ch);
  return out;
}

/** An object that keeps every member, duplicates included, in order. */
export class Members {
  constructor(pairs) {
    this.pairs = pairs;
  }

  /** The last member whose name folds equal to `key` (Go's encoding/json into a struct). */
  get(key) {
    const wanted = foldName(key);
    let found;
    for (const [name, value] of this.pairs) if (foldName(name) === wanted) found = value;
    return found;
  }
}

/** A lenient JSON parser: objects become Members (duplicates kept); strings keep lone surrogates. */
export function parseLenient(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const fail = (what) => {
    throw new SyntaxError(`${what} at ${i}`);
  };
  function string() {
    if (text[i] !== '"') fail('string expected');
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i++];
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[i++];
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e in simple) out += simple[e];
      else if (e === 'u') {
        const hex = text.slice(i, i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 4;
      } else fail('bad escape');
    }
  }
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const pairs = [];
      ws();
      if (text[i] === '}') {
        i++;
        return new Members(pairs);
      }
      for (;;) {
        ws();
        const name = string();
        ws();
        if (text[i++] !== ':') fail('":" expected');
        pairs.push([name, value()]);
        ws();
        const sep = text[i++];
        if (sep === '}') return new Members(pairs);
        if (sep !== ',') fail('"," or "}" expected');
      }
    }
    if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') {
        i++;
        return items;
      }
      for (;;) {
        items.push(value());
        ws();
        const sep = text[i++];
        if (sep === ']') return items;
        if (sep !== ',') fail('"," or "]" expected');
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const num = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!num) fail('value expected');
    i += num[0].length;
    return Number(num[0]);
  }
  const result = value();
  ws();
  if (i !== text.length) fail('trailing data');
  return result;
}

/** What this origin reads from one JSON-RPC message: {method, name, id}. */
export function readMessage(message) {
  if (!(message instanceof Members)) return { method: undefined, name: undefined, id: null };
  const params = message.get('params');
  const name = params instanceof Members ? (params.get('name') ?? params.get('uri')) : undefined;
  const id = message.get('id');
  return { method: message.get('method'), name, id: typeof id === 'string' || typeof id === 'number' ? id : null };
}

let executed = [];
let recorded = [];

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > 8 * 1024 * 1024) {
        req.destroy();
        reject(new Error('body too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function handle(req, res) {
  const path = new URL(req.url, 'http://origin.invalid').pathname;
  if (path === '/__executed' && req.method === 'GET') return sendJson(res, 200, executed);
  if (path === '/__requests' && req.method === 'GET') return sendJson(res, 200, recorded);
  if (path === '/__reset' && req.method === 'POST') {
    executed = [];
    recorded = [];
    return sendJson(res, 200, { ok: true });
  }
  const body = await readBody(req);
  recorded.push({
    method: req.method,
    path,
    url: req.url,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    body: body.toString('utf8'),
    bodyBase64: body.toString('base64'),
  });
  if (req.method !== 'POST') return sendJson(res, 200, { origin: 'caseless', method: req.method, path });

  let parsed;
  try {
    parsed = parseLenient(new TextDecoder('utf-8', { fatal: false }).decode(body));
  } catch (err) {
    return sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: ${err.message}` } });
  }
  const answers = [];
  for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
    const { method, name, id } = readMessage(message);
    if (typeof method !== 'string') continue; // a response: nothing to execute
    const done = { method, ...(typeof name === 'string' ? { name } : {}) };
    executed.push(done);
    if (message.get('id') !== undefined) answers.push({ jsonrpc: '2.0', id, result: { executed: done } });
  }
  if (answers.length === 0) {
    res.writeHead(202);
    return res.end();
  }
  return sendJson(res, 200, Array.isArray(parsed) ? answers : answers[0]);
}

function selfTest() {
  const samples = [
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calendar_get_events","Name":"delete_everything"}}',
    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"calendar_get_events"},"paramſ":{"name":"delete_everything"}}',
    '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"calendar_get_events"},"param\\u017f":{"name":"delete_everything"}}',
    '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"calendar_get_events","na\\u0000me":"delete_everything"}}',
  ];
  let ok = true;
  for (const sample of samples) {
    const read = readMessage(parseLenient(sample));
    console.log(`${sample}\n  → ${JSON.stringify(read)}`);
    ok &&= read.name === 'delete_everything';
  }
  const kelvin = [foldName('\u212Aind') === foldName('kind'), foldName('ſ') === 's', foldName('Name') === 'name'];
  console.log(`fold: \\u212Aind≈kind ${kelvin[0]}, ſ≈s ${kelvin[1]}, Name≈name ${kelvin[2]}`);
  return ok && kelvin.every(Boolean);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--self-test')) process.exit(selfTest() ? 0 : 1);
  const HOST = process.env.HOST || '127.0.0.1';
  if (!['127.0.0.1', '::1', 'localhost'].includes(HOST)) {
    console.error(`caseless origin: refusing HOST=${HOST}; it listens on loopback only`);
    process.exit(2);
  }
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(err?.message || err) });
      else res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  server.listen(Number(process.env.PORT || 0), HOST, () => {
    console.log(`caseless origin listening on http://${HOST}:${server.address().port}`);
  });
  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
