// SPEC §4a request hygiene ("the gate and the origin must see the same request"), §1
// REQUIRE_RULES / FORWARD_PATHS, against the built Worker and REAL origins that are fooled when
// the gate reads a request differently from them:
//   - tests/origin/sdk-express.mjs: the MCP SDK's createMcpExpressApp() (stateless). Express
//     decodes JSON by the request's charset (UTF-7 included), inflates gzip bodies, routes
//     case-insensitively (/MCP) and ignores a trailing slash (/mcp/);
//   - tests/origin/caseless.mjs: reads JSON member names like Go's encoding/json (last member
//     equal under simple case folding wins: name/Name, params/paramſ, kind/\u212Aind).
// Every refusal is checked at the origin too: it saw nothing and executed nothing. Where an
// attack depends on the origin's reading, a precondition first sends the same bytes directly to
// the origin and shows that it does execute delete_everything.
//
// Four gate configurations (wrangler dev starts), tokens signed at test time:
//   A. sdk-express origin, KV `rules` = tests/fixtures/rules.example.json, MAX_BODY_BYTES=65536,
//      FORWARD_PATHS=/messages (the origin serves MCP there too);
//   B. caseless origin, the same rules;
//   C. sdk-express origin, no `rules` in KV, REQUIRE_RULES unset (default true) → 503;
//   D. sdk-express origin, no `rules` in KV, REQUIRE_RULES=false → authenticated mode.
// Under the example rules a token with only REQUIRED_SCOPES may `ping`/`initialize`/`tools/list`
// and call no tool; `mcp:tools:calendar:read` adds calendar_get_*; nothing grants
// delete_everything except `mcp:tools:delete_everything` or `mcp:tools:*`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ALLOWED_BROWSER_ORIGIN,
  FOREIGN_BROWSER_ORIGIN,
  ISSUER,
  ORIGIN_AUTHORIZATION,
  REPO,
  REQUIRED_SCOPE,
  RESOURCE,
  WORKER_MAIN,
  challengeOf,
  defaultClaims,
  defaultVars,
  expectJsonError,
  expectNoChallenge,
  generateTestKeys,
  headerList,
  rawRequest,
  signToken,
  snapshot,
  startCaselessOrigin,
  startGate,
  startSdkExpressOrigin,
  workerBuilt,
} from '../support/index.mjs';
import { smuggledUtf7Body } from '../origin/sdk-express.mjs';

const T = { timeout: 45_000 };
const PROTOCOL_VERSION = '2025-11-25';
const RESOURCE_ORIGIN = new URL(RESOURCE).origin; // https://mcp.example.test
const EXAMPLE_RULES = readFileSync(path.join(REPO, 'tests/fixtures/rules.example.json'), 'utf8');
const SMALL_MAX_BODY = 65_536;
const ALLOW_405 = ['GET', 'POST', 'DELETE', 'OPTIONS'];

const BASELINE = REQUIRED_SCOPE; // ping, initialize, tools/list; no tool
const CALENDAR = `${REQUIRED_SCOPE} mcp:tools:calendar:read`; // + calendar_get_*

/**
 * keys + one of the hygiene origins + gate. `vars(defaults)` returns the settings; `rules`
 * (string) is seeded into KV next to the generated `jwks`.
 */
async function startHygieneStack({ name, originKind, rules, vars }) {
  if (!workerBuilt()) throw new Error(`the Worker is not built: ${WORKER_MAIN} is missing`);
  const keys = await generateTestKeys();
  const origin = originKind === 'caseless' ? await startCaselessOrigin() : await startSdkExpressOrigin();
  let gate;
  try {
    // The spec's defaults, not the suite's: REQUIRE_RULES and FORWARD_PATHS are set per configuration.
    const { REQUIRE_RULES, FORWARD_PATHS, ...defaults } = defaultVars(origin.url);
    void REQUIRE_RULES;
    void FORWARD_PATHS;
    gate = await startGate({
      name,
      vars: vars(defaults),
      secrets: { ORIGIN_AUTHORIZATION },
      kv: rules === undefined ? { jwks: keys.jwks } : { jwks: keys.jwks, rules },
    });
  } catch (err) {
    await origin.stop();
    throw err;
  }
  return {
    keys,
    origin,
    gate,
    /** A valid RS256 token granting exactly `scope`. */
    token: (scope) => signToken(keys.keys.RS256, defaultClaims({ issuer: ISSUER, audience: RESOURCE }, { scope })),
    async stop() {
      await Promise.allSettled([gate.stop(), origin.stop()]);
    },
  };
}

// --- requests -----------------------------------------------------------------------------

const rpc = (method, params, id = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
const callTool = (name, id = 1, args = {}) => rpc('tools/call', { name, arguments: args }, id);

/**
 * One request through node:http with exactly these headers (rawRequest): `token` adds
 * Authorization; a POST gets `Content-Type: application/json` (unless `contentType` says
 * otherwise; null sends none) and the Accept header the MCP transport wants.
 */
async function send(base, urlPath, { method = 'POST', token, contentType, headers = [], body } = {}) {
  const flat = [];
  if (token) flat.push(['Authorization', `Bearer ${token}`]);
  if (method === 'POST') {
    const type = contentType === undefined ? 'application/json' : contentType;
    if (type !== null) flat.push(['Content-Type', type]);
    flat.push(['Accept', 'application/json, text/event-stream']);
  }
  flat.push(...headers);
  const res = await rawRequest(`${base}${urlPath}`, { method, headers: flat, body });
  return snapshot(res);
}

/**
 * A request whose body goes out with `Transfer-Encoding: chunked` (no Content-Length), one
 * write per chunk. With `end: false` the request is left open after the chunks (a chunk more
 * every 100 ms until the answer): the answer must come while the client is still sending. Resolves with {status, headers, text, json, ended}.
 */
function streamRequest(url, { method = 'POST', headers = {}, chunks, end = true, timeoutMs = 15_000 }) {
  return new Promise((resolve, reject) => {
    let ended = false;
    let answered = false;
    const req = http.request(url, { method, headers: { ...headers, 'Transfer-Encoding': 'chunked' } }, (res) => {
      answered = true;
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(parts).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json, ended });
        req.destroy();
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms (request ended: ${ended})`));
    }, timeoutMs);
    req.on('error', (err) => {
      // Writing on after the gate answered and closed is expected; a missing answer is not.
      if (!['EPIPE', 'ECONNRESET'].includes(err.code)) {
        clearTimeout(timer);
        reject(err);
      }
    });
    (async () => {
      for (const chunk of chunks) {
        if (req.destroyed) return;
        req.write(chunk);
        await new Promise((r) => setTimeout(r, 5));
      }
      if (end && !req.destroyed) {
        ended = true;
        req.end();
        return;
      }
      // Left open: keep sending a little until the answer comes, as a client still uploading
      // would, so that no proxy in front of the Worker (wrangler dev's) holds back bytes it
      // has not passed on yet. The request is never ended.
      const last = chunks[chunks.length - 1];
      while (!end && !answered && !req.destroyed) {
        await new Promise((r) => setTimeout(r, 100));
        if (!answered && !req.destroyed) req.write(last);
      }
    })();
  });
}

/** A JSON-RPC body of exactly `size` bytes (padding in params._meta). */
function paddedBody(method, params, size, id) {
  const head = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"${method}","params":{${params}"_meta":{"pad":"`;
  const tail = '"}}}';
  const pad = size - Buffer.byteLength(head) - Buffer.byteLength(tail);
  assert.ok(pad > 0);
  return Buffer.from(head + 'x'.repeat(pad) + tail);
}

/** Split a buffer into chunks of `size` bytes. */
const chunksOf = (buf, size) => Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => buf.subarray(i * size, (i + 1) * size));

// --- expectations --------------------------------------------------------------------------

function expect415(snap) {
  assert.equal(snap.status, 415, `status 415 (body ${snap.text})`);
  expectJsonError(snap, 'unsupported_media_type');
  expectNoChallenge(snap);
}

function expect404(snap) {
  assert.equal(snap.status, 404, `status 404 (body ${snap.text})`);
  expectJsonError(snap, 'not_found');
  expectNoChallenge(snap);
}

function expect405(snap, label) {
  assert.equal(snap.status, 405, `${label}: status 405 (body ${snap.text})`);
  assert.deepEqual(
    [...headerList(snap.headers.allow)].sort(),
    ALLOW_405.map((m) => m.toLowerCase()).sort(),
    `${label}: Allow: GET, POST, DELETE, OPTIONS (got ${snap.headers.allow})`,
  );
  expectNoChallenge(snap);
}

/** The 400 answers of §4a: {"error":"invalid_request","error_description":"…"}. */
function expectInvalidRequest400(snap, label = '') {
  assert.equal(snap.status, 400, `${label} status 400 (body ${snap.text})`);
  expectJsonError(snap, 'invalid_request');
  assert.equal(typeof snap.json.error_description, 'string', `${label} error_description: ${snap.text}`);
}

/** §4a.6: 400 with a JSON-RPC error -32020 carrying the message id (or null). */
function expectHeaderMismatch(snap, id, label = '') {
  assert.equal(snap.status, 400, `${label} status 400 (body ${snap.text})`);
  assert.ok(snap.json && typeof snap.json === 'object', `${label} JSON body: ${snap.text}`);
  assert.equal(snap.json.jsonrpc, '2.0', `${label} a JSON-RPC error body: ${snap.text}`);
  assert.deepEqual(snap.json.id, id, `${label} the message id: ${snap.text}`);
  assert.equal(snap.json.error?.code, -32020, `${label} error code -32020: ${snap.text}`);
  assert.equal(typeof snap.json.error?.message, 'string', `${label} error message: ${snap.text}`);
}

/** The origin received nothing and executed nothing. */
async function expectOriginUntouched(origin, label = '') {
  const seen = await origin.requests();
  assert.deepEqual(
    seen.map((r) => `${r.method} ${r.url}`),
    [],
    `${label} the origin received nothing`,
  );
  assert.deepEqual(await origin.executed(), [], `${label} the origin executed nothing`);
}

/** [name, value] pairs of a rawHeaders list. */
const pairsOf = (raw) => Array.from({ length: raw.length / 2 }, (_, i) => [raw[2 * i], raw[2 * i + 1]]);
const scopeSet = (value) => [...new Set(String(value ?? '').split(' ').filter(Boolean))].sort();

// ============================================================================================
describe('A. request hygiene in front of the MCP SDK Express origin (example rules)', { timeout: 600_000 }, () => {
  let stack;
  let base;
  before(async () => {
    stack = await startHygieneStack({
      name: 'hygiene-sdk',
      originKind: 'sdk',
      rules: EXAMPLE_RULES,
      vars: (defaults) => ({ ...defaults, MAX_BODY_BYTES: String(SMALL_MAX_BODY), FORWARD_PATHS: '/messages' }),
    });
    base = stack.gate.url;
  });
  after(async () => {
    await stack?.stop();
  });

  /** Send directly to the origin (precondition checks), then forget it. */
  async function direct(urlPath, options) {
    await stack.origin.reset();
    const snap = await send(stack.origin.url, urlPath, options);
    const executed = await stack.origin.executed();
    await stack.origin.reset();
    return { snap, executed };
  }

  describe('media type and charset (§4a.3)', () => {
    test('precondition: sent directly with charset=utf-7 the ping body executes delete_everything; with utf-8 it is a ping', T, async () => {
      const utf7 = await direct('/mcp', { contentType: 'application/json; charset=utf-7', body: smuggledUtf7Body() });
      assert.equal(utf7.snap.status, 200, utf7.snap.text);
      assert.deepEqual(utf7.executed, ['delete_everything'], 'the origin decoded UTF-7 and ran the smuggled call');
      const utf8 = await direct('/mcp', { contentType: 'application/json; charset=utf-8', body: smuggledUtf7Body() });
      assert.equal(utf8.snap.status, 200, utf8.snap.text);
      assert.deepEqual(utf8.executed, [], 'read as UTF-8 the same bytes are a ping');
    });

    test('the UTF-7 smuggling body with charset=utf-7 → 415 unsupported_media_type; delete_everything never runs', T, async () => {
      const token = await stack.token(BASELINE);
      for (const type of [
        'application/json; charset=utf-7',
        'application/json;charset=UTF-7',
        'application/json; charset="utf-7"',
        'application/json; charset=utf-8; charset=utf-7',
      ]) {
        await stack.origin.reset();
        expect415(await send(base, '/mcp', { token, contentType: type, body: smuggledUtf7Body() }));
        await expectOriginUntouched(stack.origin, type);
      }
    });

    test('text/plain, no Content-Type, charset=latin1 and other types → 415, never forwarded', T, async () => {
      const token = await stack.token(BASELINE);
      const body = rpc('ping');
      for (const type of [
        'text/plain',
        null,
        'application/json; charset=latin1',
        'application/json; charset=iso-8859-1',
        'application/json; charset=utf-16',
        'application/x-www-form-urlencoded',
        'application/jsonx',
        'text/json',
      ]) {
        await stack.origin.reset();
        expect415(await send(base, '/mcp', { token, contentType: type, body }));
        await expectOriginUntouched(stack.origin, `Content-Type ${type}`);
      }
    });

    test('application/json, with or without charset=utf-8 (any case), is forwarded byte for byte', T, async () => {
      const token = await stack.token(BASELINE);
      for (const type of ['application/json', 'application/json; charset=UTF-8', 'application/json;charset=utf-8', 'Application/JSON; Charset=UTF-8']) {
        await stack.origin.reset();
        const body = smuggledUtf7Body(`ok-${type}`);
        const snap = await send(base, '/mcp', { token, contentType: type, body });
        assert.equal(snap.status, 200, `${type}: ${snap.text}`);
        assert.deepEqual(snap.json?.result, {}, `${type}: the origin answered the ping: ${snap.text}`);
        const [seen] = await stack.origin.requests();
        assert.equal(seen.bodyBase64, Buffer.from(body).toString('base64'), `${type}: body forwarded unchanged`);
        assert.equal(seen.headers['content-type'], type, `${type}: Content-Type forwarded unchanged`);
        assert.deepEqual(await stack.origin.executed(), [], `${type}: a ping executes no tool`);
      }
    });

    test('Content-Encoding gzip (which Express inflates) or deflate → 415; identity is accepted', T, async () => {
      const gz = gzipSync(Buffer.from(callTool('delete_everything', 'gz')));
      const precondition = await direct('/mcp', { headers: [['Content-Encoding', 'gzip']], body: gz });
      assert.deepEqual(precondition.executed, ['delete_everything'], `precondition: Express inflates gzip (${precondition.snap.text})`);

      const token = await stack.token(BASELINE);
      for (const encoding of ['gzip', 'GZIP', 'deflate', 'br', 'identity, gzip']) {
        await stack.origin.reset();
        expect415(await send(base, '/mcp', { token, headers: [['Content-Encoding', encoding]], body: gz }));
        await expectOriginUntouched(stack.origin, `Content-Encoding ${encoding}`);
      }
      await stack.origin.reset();
      const identity = await send(base, '/mcp', { token, headers: [['Content-Encoding', 'identity']], body: rpc('ping', undefined, 'id-enc') });
      assert.equal(identity.status, 200, `Content-Encoding: identity is no encoding: ${identity.text}`);
      assert.equal((await stack.origin.requests()).length, 1);
    });
  });

  describe('paths (§4a.1) and FORWARD_PATHS (§1)', () => {
    const UNSERVED = ['/__echo', '/admin', '/mcp/extra', '/MCP', '/mcp/', '/Mcp', '/messages/', '/', '/mcp%2F', '/%6Dcp'];

    test('precondition: the origin serves MCP on /MCP and /mcp/ too (Express routing is case-insensitive and non-strict)', T, async () => {
      for (const p of ['/MCP', '/mcp/']) {
        const { executed } = await direct(p, { body: callTool('delete_everything') });
        assert.deepEqual(executed, ['delete_everything'], `${p} reaches the MCP handler at the origin`);
      }
    });

    test('any other path → 404 {"error":"not_found"} with or without a valid token, never forwarded', T, async () => {
      const token = await stack.token(`${BASELINE} mcp:tools:*`);
      for (const p of UNSERVED) {
        for (const withToken of [false, true]) {
          const label = `POST ${p} ${withToken ? 'with' : 'without'} a token`;
          await stack.origin.reset();
          expect404(await send(base, p, { token: withToken ? token : undefined, body: callTool('delete_everything') }));
          expect404(await send(base, p, { method: 'GET', token: withToken ? token : undefined }));
          await expectOriginUntouched(stack.origin, label);
        }
      }
    });

    test('a FORWARD_PATHS path is served under the same token and rules', T, async () => {
      await stack.origin.reset();
      const calendar = await stack.token(CALENDAR);
      const allowed = await send(base, '/messages', { token: calendar, body: callTool('calendar_get_events', 'fp-1') });
      assert.equal(allowed.status, 200, allowed.text);
      assert.deepEqual(await stack.origin.executed(), ['calendar_get_events']);
      const [seen] = await stack.origin.requests();
      assert.equal(seen.path, '/messages', 'forwarded to the same path at the origin');

      await stack.origin.reset();
      const refused = await send(base, '/messages', { token: calendar, body: callTool('delete_everything', 'fp-2') });
      assert.equal(refused.status, 403, `the rules apply on FORWARD_PATHS: ${refused.text}`);
      assert.equal(challengeOf(refused).params.error, 'insufficient_scope');
      const anonymous = await send(base, '/messages', { body: callTool('calendar_get_events', 'fp-3') });
      assert.equal(anonymous.status, 401, `a token is needed on FORWARD_PATHS: ${anonymous.text}`);
      await expectOriginUntouched(stack.origin, 'refused on /messages');
    });
  });

  describe('methods (§4a.2) and bodies on GET/DELETE', () => {
    test('PROPFIND, PUT, PATCH, HEAD, TRACE on /mcp and on a FORWARD_PATHS path → 405 with Allow, never forwarded', T, async () => {
      const token = await stack.token(`${BASELINE} mcp:tools:*`);
      for (const p of ['/mcp', '/messages']) {
        for (const method of ['PROPFIND', 'PUT', 'PATCH', 'HEAD', 'TRACE']) {
          for (const withToken of [false, true]) {
            const label = `${method} ${p} ${withToken ? 'with' : 'without'} a token`;
            await stack.origin.reset();
            const hasBody = method === 'PUT' || method === 'PATCH' || method === 'PROPFIND';
            const flat = withToken ? [['Authorization', `Bearer ${token}`]] : [];
            if (hasBody) flat.push(['Content-Type', 'application/json']);
            const res = await rawRequest(`${base}${p}`, { method, headers: flat, body: hasBody ? callTool('delete_everything') : undefined });
            expect405(await snapshot(res), label);
            await expectOriginUntouched(stack.origin, label);
          }
        }
      }
    });

    test('order: Origin before path before method (§4a)', T, async () => {
      await stack.origin.reset();
      const foreign = await send(base, '/admin', { method: 'PUT', headers: [['Origin', FOREIGN_BROWSER_ORIGIN]], body: '{}' });
      assert.equal(foreign.status, 403, `a foreign Origin is refused first: ${foreign.text}`);
      expect404(await send(base, '/admin', { method: 'PUT', body: '{}' }));
      expect405(await snapshot(await rawRequest(`${base}/mcp`, { method: 'PUT', headers: [['Content-Type', 'text/plain']], body: 'x' })), 'PUT /mcp text/plain');
      await expectOriginUntouched(stack.origin, 'order');
    });

    test('GET or DELETE carrying a body → 400, never forwarded; without a body they are forwarded', T, async (t) => {
      const token = await stack.token(`${BASELINE} mcp:tools:*`);
      const body = callTool('delete_everything', 'in-get');
      for (const method of ['GET', 'DELETE']) {
        await stack.origin.reset();
        expectInvalidRequest400(
          await send(base, '/mcp', { method, token, headers: [['Content-Type', 'application/json']], body }),
          `${method} with Content-Length`,
        );
        await expectOriginUntouched(stack.origin, `${method} with a body`);

        const chunked = await streamRequest(`${base}/mcp`, {
          method,
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          chunks: [Buffer.from(body)],
        });
        if (method === 'GET' && chunked.status !== 400) {
          // Measured: under wrangler dev a chunked GET body never reaches the Worker (it sees
          // no body and no Transfer-Encoding), so the gate cannot refuse it; what matters is
          // that no byte of it reaches the origin.
          t.diagnostic(`chunked GET body: the Worker saw none (status ${chunked.status}); checked that the origin got no body`);
          const seen = await stack.origin.requests();
          assert.ok(seen.every((r) => r.bodyBase64 === ''), `no GET body bytes reached the origin: ${JSON.stringify(seen.map((r) => r.body))}`);
          assert.deepEqual(await stack.origin.executed(), []);
        } else {
          expectInvalidRequest400(chunked, `${method} with a chunked body`);
          await expectOriginUntouched(stack.origin, `${method} with a chunked body`);
        }
        await stack.origin.reset();

        // Control: the same method without a body reaches the origin (a stateless SDK origin
        // answers GET/DELETE with its own 405, which passes through).
        const plain = await send(base, '/mcp', { method, token, headers: [['Accept', 'text/event-stream']] });
        const seen = await stack.origin.requests();
        assert.equal(seen.length, 1, `${method} without a body is forwarded (status ${plain.status}: ${plain.text})`);
        assert.equal(seen[0].method, method);
      }
    });
  });

  describe(`size (§4a.4, MAX_BODY_BYTES=${SMALL_MAX_BODY})`, () => {
    test('a chunked body (no Content-Length) under the limit is forwarded unchanged', T, async () => {
      await stack.origin.reset();
      const token = await stack.token(BASELINE);
      const body = paddedBody('ping', '', 60_000, 'chunked-ok');
      const res = await streamRequest(`${base}/mcp`, {
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        chunks: chunksOf(body, 8192),
      });
      assert.equal(res.status, 200, res.text);
      const [seen] = await stack.origin.requests();
      assert.equal(seen.bodyBase64, body.toString('base64'), 'forwarded byte for byte');
    });

    test('a chunked body over the limit → 413, never forwarded', T, async () => {
      await stack.origin.reset();
      const token = await stack.token(`${BASELINE} mcp:tools:*`);
      const body = paddedBody('tools/call', '"name":"delete_everything","arguments":{},', SMALL_MAX_BODY + 8192, 'chunked-big');
      const res = await streamRequest(`${base}/mcp`, {
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        chunks: chunksOf(body, 8192),
      });
      assert.equal(res.status, 413, res.text);
      expectJsonError(res);
      expectNoChallenge(res);
      await expectOriginUntouched(stack.origin, 'chunked over the limit');
    });

    test('413 comes at once: while the client is still sending past the limit', T, async () => {
      await stack.origin.reset();
      const token = await stack.token(BASELINE);
      const res = await streamRequest(`${base}/mcp`, {
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        chunks: [Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"pad":"'), ...chunksOf(Buffer.alloc(SMALL_MAX_BODY + 16_384, 0x78), 8192)],
        end: false,
        timeoutMs: 10_000,
      });
      assert.equal(res.status, 413, res.text);
      assert.equal(res.ended, false, 'answered before the request body ended');
      await expectOriginUntouched(stack.origin, 'unfinished body');
    });

    test('Content-Length bodies: exactly the limit is forwarded, one byte more → 413', T, async () => {
      const token = await stack.token(BASELINE);
      await stack.origin.reset();
      const exact = paddedBody('ping', '', SMALL_MAX_BODY, 'exact');
      const ok = await send(base, '/mcp', { token, body: exact });
      assert.equal(ok.status, 200, `${SMALL_MAX_BODY} bytes: ${ok.text.slice(0, 300)}`);
      assert.equal((await stack.origin.requests()).length, 1);
      await stack.origin.reset();
      const over = await send(base, '/mcp', { token, body: paddedBody('ping', '', SMALL_MAX_BODY + 1, 'over') });
      assert.equal(over.status, 413, over.text);
      expectJsonError(over);
      await expectOriginUntouched(stack.origin, 'one byte over');
    });
  });

  describe('Mcp-Method / Mcp-Name (§4a.6)', () => {
    const b64 = (s) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

    test('a header that disagrees with the body → 400 JSON-RPC error -32020 with the message id, never forwarded', T, async () => {
      const token = await stack.token(`${CALENDAR} mcp:resources:*`);
      const cases = [
        ['Mcp-Method ≠ method', callTool('calendar_get_events', 'mm-1'), [['Mcp-Method', 'tools/list']], 'mm-1'],
        ['Mcp-Name ≠ params.name', callTool('calendar_get_events', 'mm-2'), [['Mcp-Method', 'tools/call'], ['Mcp-Name', 'delete_everything']], 'mm-2'],
        ['Mcp-Name hides a forbidden tool', callTool('delete_everything', 7), [['Mcp-Name', 'calendar_get_events']], 7],
        ['Mcp-Name in base64 form ≠ params.name', callTool('calendar_get_events', 'mm-4'), [['Mcp-Name', b64('delete_everything')]], 'mm-4'],
        ['Mcp-Name ≠ params.uri', rpc('resources/read', { uri: 'customer://acme/profile' }, 'mm-5'), [['Mcp-Method', 'resources/read'], ['Mcp-Name', 'customer://other/profile']], 'mm-5'],
        ['Mcp-Method on a notification', JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), [['Mcp-Method', 'ping']], null],
        ['Mcp-Method on a batch', JSON.stringify([JSON.parse(rpc('ping', undefined, 'b-1'))]), [['Mcp-Method', 'ping']], null],
        ['Mcp-Name on a batch', JSON.stringify([JSON.parse(callTool('calendar_get_events', 'b-2'))]), [['Mcp-Name', 'calendar_get_events']], null],
      ];
      for (const [label, body, headers, id] of cases) {
        await stack.origin.reset();
        const snap = await send(base, '/mcp', { token, headers, body });
        expectHeaderMismatch(snap, id, label);
        await expectOriginUntouched(stack.origin, label);
      }
    });

    test('matching headers (plain and =?base64?…?=), Mcp-Param-* and MCP-Protocol-Version are forwarded unchanged', T, async () => {
      const token = await stack.token(CALENDAR);
      const variants = [
        [['Mcp-Method', 'tools/call'], ['Mcp-Name', 'calendar_get_events']],
        [['Mcp-Method', 'tools/call'], ['Mcp-Name', b64('calendar_get_events')]],
        [['Mcp-Method', b64('tools/call')]],
      ];
      for (const mcpHeaders of variants) {
        await stack.origin.reset();
        const headers = [...mcpHeaders, ['Mcp-Param-Region', 'eu-west'], ['MCP-Protocol-Version', PROTOCOL_VERSION]];
        const snap = await send(base, '/mcp', { token, headers, body: callTool('calendar_get_events', 'match') });
        assert.equal(snap.status, 200, `${JSON.stringify(mcpHeaders)}: ${snap.text}`);
        assert.deepEqual(await stack.origin.executed(), ['calendar_get_events']);
        const [seen] = await stack.origin.requests();
        for (const [name, value] of headers) {
          assert.equal(seen.headers[name.toLowerCase()], value, `${name} reached the origin unchanged`);
        }
      }
      await stack.origin.reset();
      const ping = await send(base, '/mcp', { token: await stack.token(BASELINE), headers: [['Mcp-Method', 'ping']], body: rpc('ping', undefined, 'p') });
      assert.equal(ping.status, 200, `Mcp-Method alone: ${ping.text}`);
    });
  });

  describe('identity and forwarding headers (§4a.7, §4a.8)', () => {
    test('client X-MCP-Auth-* headers, underscores and any case included, never reach the origin', T, async () => {
      await stack.origin.reset();
      const token = await stack.token(CALENDAR);
      const snap = await send(base, '/mcp', {
        token,
        headers: [
          ['X_MCP_Auth_Client_Id', 'evil'],
          ['x-mcp-auth-subject', 'evil'],
          ['X-MCP-AUTH-Scopes', '*'],
          ['X_Mcp_Auth_Issuer', 'evil'],
          ['X-Mcp_Auth-Claim-Role', 'evil'],
        ],
        body: rpc('ping', undefined, 'spoof'),
      });
      assert.equal(snap.status, 200, snap.text);
      const [seen] = await stack.origin.requests();
      const auth = pairsOf(seen.rawHeaders).filter(([n]) => n.toLowerCase().replace(/_/g, '-').startsWith('x-mcp-auth-'));
      for (const [name, value] of auth) {
        assert.ok(value !== 'evil' && value !== '*', `the origin got the client's ${name}: ${value}`);
        assert.ok(!name.includes('_'), `an underscore header reached the origin: ${name}`);
      }
      const byName = Object.fromEntries(auth.map(([n, v]) => [n.toLowerCase(), v]));
      assert.equal(auth.length, Object.keys(byName).length, `one line per identity header: ${JSON.stringify(auth)}`);
      assert.equal(byName['x-mcp-auth-subject'], 'user-e2e-42');
      assert.equal(byName['x-mcp-auth-client-id'], 'client-e2e');
      assert.equal(byName['x-mcp-auth-issuer'], ISSUER);
      assert.deepEqual(scopeSet(byName['x-mcp-auth-scopes']), scopeSet(CALENDAR));
      assert.equal(byName['x-mcp-auth-claim-role'], undefined);
    });

    test('client Forwarded / X-Forwarded-* / X-Real-IP are removed; the gate sets X-Forwarded-For/Host/Proto', T, async () => {
      const token = await stack.token(BASELINE);
      const spoofed = [
        ['Forwarded', 'for=198.51.100.68;host=attacker.example;proto=https'],
        ['X-Forwarded-For', '198.51.100.66'],
        ['X-Forwarded-Host', 'attacker.example'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Real-IP', '198.51.100.67'],
      ];
      const gateHost = new URL(base).host;
      for (const connectingIp of ['203.0.113.9', undefined]) {
        await stack.origin.reset();
        const headers = connectingIp ? [...spoofed, ['CF-Connecting-IP', connectingIp]] : spoofed;
        const snap = await send(base, '/mcp', { token, headers, body: rpc('ping', undefined, 'fwd') });
        assert.equal(snap.status, 200, snap.text);
        const [seen] = await stack.origin.requests();
        const raw = JSON.stringify(seen.rawHeaders);
        assert.ok(!/198\.51\.100\.|attacker\.example/.test(raw), `no client-sent forwarding value reached the origin: ${raw}`);
        assert.equal(seen.headers.forwarded, undefined, 'Forwarded removed');
        assert.equal(seen.headers['x-real-ip'], undefined, 'X-Real-IP removed');
        const lines = (name) => pairsOf(seen.rawHeaders).filter(([n]) => n.toLowerCase() === name).length;
        assert.equal(seen.headers['x-forwarded-host'], gateHost, 'X-Forwarded-Host from the request URL');
        assert.equal(lines('x-forwarded-host'), 1);
        assert.equal(seen.headers['x-forwarded-proto'], 'http', 'X-Forwarded-Proto from the request URL');
        assert.equal(lines('x-forwarded-proto'), 1);
        if (connectingIp) {
          assert.equal(seen.headers['x-forwarded-for'], connectingIp, 'X-Forwarded-For from CF-Connecting-IP');
          assert.equal(lines('x-forwarded-for'), 1);
        } else {
          // wrangler dev supplies CF-Connecting-IP 127.0.0.1 itself when the client sends none.
          assert.ok([undefined, '127.0.0.1'].includes(seen.headers['x-forwarded-for']), `X-Forwarded-For: ${seen.headers['x-forwarded-for']}`);
        }
      }
    });
  });

  describe('own origin (§4a.9) and preflight (§7)', () => {
    test('DNS rebinding: Host and Origin agree with each other, not with RESOURCE → 403, never forwarded', T, async () => {
      const token = await stack.token(BASELINE);
      const gateHost = new URL(base).host;
      const cases = [
        ['evil.example', 'http://evil.example'],
        [gateHost, `http://${gateHost}`],
        // Same host as RESOURCE, other scheme: the request URL's origin, not RESOURCE's.
        ['mcp.example.test', 'http://mcp.example.test'],
      ];
      for (const [host, origin] of cases) {
        await stack.origin.reset();
        const snap = await send(base, '/mcp', { token, headers: [['Host', host], ['Origin', origin]], body: rpc('ping', undefined, 'rebind') });
        assert.equal(snap.status, 403, `Host ${host}, Origin ${origin}: ${snap.text}`);
        expectNoChallenge(snap);
        expectJsonError(snap);
        await expectOriginUntouched(stack.origin, `Host ${host}, Origin ${origin}`);
      }
    });

    test("Origin equal to RESOURCE's origin is accepted, whatever the Host", T, async () => {
      const token = await stack.token(BASELINE);
      for (const host of [undefined, 'evil.example']) {
        await stack.origin.reset();
        const headers = [['Origin', RESOURCE_ORIGIN]];
        if (host) headers.unshift(['Host', host]);
        const snap = await send(base, '/mcp', { token, headers, body: rpc('ping', undefined, 'own') });
        assert.equal(snap.status, 200, `Host ${host ?? '(the gate)'}, Origin ${RESOURCE_ORIGIN}: ${snap.text}`);
        assert.equal((await stack.origin.requests()).length, 1, 'forwarded');
      }
    });

    test('preflight allows Mcp-Method, Mcp-Name and the requested Mcp-Param-*; never forwarded', T, async () => {
      await stack.origin.reset();
      for (const p of ['/mcp', '/messages']) {
        const res = await snapshot(
          await rawRequest(`${base}${p}`, {
            method: 'OPTIONS',
            headers: [
              ['Origin', ALLOWED_BROWSER_ORIGIN],
              ['Access-Control-Request-Method', 'POST'],
              ['Access-Control-Request-Headers', 'authorization, content-type, mcp-method, mcp-name, mcp-param-region'],
            ],
          }),
        );
        assert.ok(res.status === 200 || res.status === 204, `${p}: preflight status ${res.status}: ${res.text}`);
        assert.equal(res.headers['access-control-allow-origin'], ALLOWED_BROWSER_ORIGIN);
        const allowed = headerList(res.headers['access-control-allow-headers']);
        for (const h of ['authorization', 'content-type', 'mcp-method', 'mcp-name', 'mcp-param-region']) {
          assert.ok(allowed.has(h), `${p}: Access-Control-Allow-Headers lists ${h}: ${res.headers['access-control-allow-headers']}`);
        }
      }
      const unserved = await snapshot(
        await rawRequest(`${base}/admin`, {
          method: 'OPTIONS',
          headers: [['Origin', ALLOWED_BROWSER_ORIGIN], ['Access-Control-Request-Method', 'POST']],
        }),
      );
      expect404(unserved);
      await expectOriginUntouched(stack.origin, 'preflights');
    });
  });
});

// ============================================================================================
describe('B. strict JSON (§4a.5) in front of an origin that folds member names (example rules)', { timeout: 300_000 }, () => {
  let stack;
  let base;
  before(async () => {
    stack = await startHygieneStack({ name: 'hygiene-caseless', originKind: 'caseless', rules: EXAMPLE_RULES, vars: (d) => d });
    base = stack.gate.url;
  });
  after(async () => {
    await stack?.stop();
  });

  const CALL = '"jsonrpc":"2.0","id":1,"method":"tools/call"';
  // Bodies that a case-sensitive reader takes for a calendar read (or a ping) and the caseless
  // origin for a call of delete_everything.
  const FOLDED = {
    'name / Name': `{${CALL},"params":{"name":"calendar_get_events","Name":"delete_everything"}}`,
    'name / NAME (escaped \\u0041)': `{${CALL},"params":{"name":"calendar_get_events","N\\u0041ME":"delete_everything"}}`,
    'params / paramſ (U+017F, literal)': `{${CALL},"params":{"name":"calendar_get_events"},"paramſ":{"name":"delete_everything"}}`,
    'params / param\\u017f (escaped)': `{${CALL},"params":{"name":"calendar_get_events"},"param\\u017f":{"name":"delete_everything"}}`,
    'method / Method (a ping that is a tools/call)': '{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"delete_everything"}}',
    'name / na\\u0000me (control character)': `{${CALL},"params":{"name":"calendar_get_events","na\\u0000me":"delete_everything"}}`,
    'name / name\\u001f (control character)': `{${CALL},"params":{"name":"calendar_get_events","name\\u001f":"delete_everything"}}`,
    'name / name\\u007f (DEL)': `{${CALL},"params":{"name":"calendar_get_events","name\\u007f":"delete_everything"}}`,
    'exact duplicate name': `{${CALL},"params":{"name":"calendar_get_events","name":"delete_everything"}}`,
  };
  // Refused as well, though this origin reads nothing differently from them.
  const OTHER_INVALID = {
    'kind / \\u212Aind (KELVIN SIGN, literal, in arguments)': `{${CALL},"params":{"name":"calendar_get_events","arguments":{"kind":"read","\u212Aind":"delete"}}}`,
    'kind / \\u212Aind (escaped)': `{${CALL},"params":{"name":"calendar_get_events","arguments":{"kind":"read","\\u212Aind":"delete"}}}`,
    'case-fold duplicate deep in arguments': `{${CALL},"params":{"name":"calendar_get_events","arguments":{"a":[{"b":{"Date":"x","date":"y"}}]}}}`,
    'case-fold duplicate inside a batch element': `[${`{"jsonrpc":"2.0","id":2,"method":"ping"}`},{${CALL},"params":{"name":"calendar_get_events","Name":"delete_everything"}}]`,
    'control character in a member name only': `{${CALL},"params":{"name":"calendar_get_events","arguments":{"da\\u0007te":"x"}}}`,
    'lone high surrogate "\\ud800" in a value': `{${CALL},"params":{"name":"calendar_get_events","arguments":{"date":"\\ud800"}}}`,
    'lone low surrogate "\\udc00" in a member name': `{${CALL},"params":{"name":"calendar_get_events","arguments":{"\\udc00":"x"}}}`,
    'nesting 200 deep': `{${CALL},"params":{"name":"calendar_get_events","arguments":{"deep":${'['.repeat(200)}${']'.repeat(200)}}}}`,
  };

  async function post(token, body) {
    return send(base, '/mcp', { token, body });
  }

  test('control: a plain calendar read is forwarded and executed as calendar_get_events', T, async () => {
    await stack.origin.reset();
    const snap = await post(await stack.token(CALENDAR), `{${CALL},"params":{"name":"calendar_get_events"}}`);
    assert.equal(snap.status, 200, snap.text);
    assert.deepEqual(await stack.origin.executed(), [{ method: 'tools/call', name: 'calendar_get_events' }]);
  });

  test('precondition: sent directly, every folded body executes delete_everything at this origin', T, async () => {
    for (const [label, body] of Object.entries(FOLDED)) {
      await stack.origin.reset();
      await send(stack.origin.url, '/mcp', { body: Buffer.from(body, 'utf8') });
      assert.deepEqual(await stack.origin.executed(), [{ method: 'tools/call', name: 'delete_everything' }], label);
    }
    await stack.origin.reset();
  });

  test('member names equal under simple case folding, or with control characters → 400 invalid_request; the origin executes nothing', T, async () => {
    const token = await stack.token(CALENDAR);
    for (const [label, body] of Object.entries({ ...FOLDED, ...OTHER_INVALID })) {
      await stack.origin.reset();
      expectInvalidRequest400(await post(token, Buffer.from(body, 'utf8')), label);
      await expectOriginUntouched(stack.origin, label);
    }
  });

  test('invalid UTF-8 bytes → 400, never forwarded; an escaped surrogate pair is fine', T, async () => {
    const token = await stack.token(CALENDAR);
    const around = (bytes) =>
      Buffer.concat([Buffer.from(`{${CALL},"params":{"name":"calendar_get_events","arguments":{"date":"`), Buffer.from(bytes), Buffer.from('"}}}')]);
    const invalid = {
      'byte 0xff': [0xff],
      'overlong "/" (0xc0 0xaf)': [0xc0, 0xaf],
      'UTF-8-encoded surrogate (0xed 0xa0 0x80)': [0xed, 0xa0, 0x80],
      'truncated sequence (0xe2 0x82)': [0xe2, 0x82],
      'lone continuation byte 0x80': [0x80],
    };
    for (const [label, bytes] of Object.entries(invalid)) {
      await stack.origin.reset();
      expectInvalidRequest400(await post(token, around(bytes)), label);
      await expectOriginUntouched(stack.origin, label);
    }
    // Invalid UTF-8 in a member name, where a lenient decoder's U+FFFD could meet another name.
    await stack.origin.reset();
    const inName = Buffer.concat([Buffer.from(`{${CALL},"params":{"name":"calendar_get_events","na`), Buffer.from([0xff]), Buffer.from('me":"x"}}')]);
    expectInvalidRequest400(await post(token, inName), 'invalid UTF-8 in a member name');
    await expectOriginUntouched(stack.origin, 'invalid UTF-8 in a member name');

    await stack.origin.reset();
    const pair = await post(token, `{${CALL},"params":{"name":"calendar_get_events","arguments":{"date":"\\ud83d\\ude00 \u00e9"}}}`);
    assert.equal(pair.status, 200, `a valid surrogate pair and UTF-8 text are fine: ${pair.text}`);
    assert.deepEqual(await stack.origin.executed(), [{ method: 'tools/call', name: 'calendar_get_events' }]);
  });
});

// ============================================================================================
describe('C. REQUIRE_RULES default (true): no rules document → 503', { timeout: 180_000 }, () => {
  let stack;
  before(async () => {
    stack = await startHygieneStack({ name: 'hygiene-no-rules', originKind: 'sdk', rules: undefined, vars: (d) => d });
  });
  after(async () => {
    await stack?.stop();
  });

  test('protected requests get 503 whose body says how to write a rules document; nothing is forwarded', T, async () => {
    await stack.origin.reset();
    const token = await stack.token(`${BASELINE} mcp:tools:*`);
    for (const [label, options] of [
      ['ping', { token, body: rpc('ping') }],
      ['tools/call delete_everything', { token, body: callTool('delete_everything') }],
      ['GET stream', { method: 'GET', token, headers: [['Accept', 'text/event-stream']] }],
    ]) {
      const snap = await send(stack.gate.url, '/mcp', options);
      assert.equal(snap.status, 503, `${label}: ${snap.text}`);
      expectJsonError(snap);
      assert.match(snap.text, /rules/, `${label}: the body names the KV key \`rules\`: ${snap.text}`);
      assert.match(
        snap.text,
        /wrangler kv|kv key put|"version"|\\"version\\"|authenticated|REQUIRE_RULES/i,
        `${label}: the body says how to write one (a command, the document, or the authenticated-mode switch): ${snap.text}`,
      );
    }
    await expectOriginUntouched(stack.origin, 'no rules');
  });
});

describe('D. REQUIRE_RULES=false: no rules document → authenticated mode', { timeout: 180_000 }, () => {
  let stack;
  before(async () => {
    stack = await startHygieneStack({ name: 'hygiene-authenticated', originKind: 'sdk', rules: undefined, vars: (d) => ({ ...d, REQUIRE_RULES: 'false' }) });
  });
  after(async () => {
    await stack?.stop();
  });

  test('a valid token with REQUIRED_SCOPES is enough, for any tool', T, async () => {
    await stack.origin.reset();
    const snap = await send(stack.gate.url, '/mcp', { token: await stack.token(BASELINE), body: callTool('delete_everything', 'auth-mode') });
    assert.equal(snap.status, 200, snap.text);
    assert.deepEqual(await stack.origin.executed(), ['delete_everything']);
    const without = await send(stack.gate.url, '/mcp', { token: await stack.token('mcp:tools:*'), body: callTool('delete_everything') });
    assert.equal(without.status, 403, `REQUIRED_SCOPES still apply: ${without.text}`);
  });
});
