// SPEC §7 public endpoints (discovery, preflight, health) and the `Origin` check / CORS of
// SPEC §1 ALLOWED_ORIGINS, against the built Worker under wrangler dev.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALLOWED_BROWSER_ORIGIN,
  FOREIGN_BROWSER_ORIGIN,
  ISSUER,
  ORIGIN_AUTHORIZATION,
  REQUIRED_SCOPE,
  RESOURCE,
  expectJsonError,
  expectNoChallenge,
  expectNoCredentialsChallenge,
  fetchWithTimeout,
  headerList,
  rawRequest,
  snapshot,
  startStack,
} from '../support/index.mjs';

const METADATA_PATHS = ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp'];
const T = { timeout: 30_000 };

describe('public endpoints and browser origins (default settings)', { timeout: 180_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({ name: 'public' });
  });
  after(async () => {
    await stack?.stop();
  });

  const get = async (path, init = {}) => snapshot(await fetchWithTimeout(stack.gate.url + path, init));

  async function originPaths() {
    return (await stack.origin.requests()).map((r) => `${r.method} ${r.path}`);
  }

  for (const path of METADATA_PATHS) {
    test(`GET ${path} serves the RFC 9728 document`, T, async () => {
      const res = await get(path);
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers['content-type'] || '', /application\/json/);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.json.resource, RESOURCE, '`resource` is RESOURCE exactly');
      assert.deepEqual(res.json.authorization_servers, [ISSUER]);
      assert.deepEqual(res.json.bearer_methods_supported, ['header']);
      assert.deepEqual(res.json.scopes_supported, [REQUIRED_SCOPE, 'mcp:tools:*', 'mcp:resources:*']);
      assert.equal(res.json.resource_name, 'mcp-gate e2e');
      assert.ok(!('resource_documentation' in res.json), 'unset optional fields are omitted');
    });

    test(`GET ${path} is never gated: garbage token, two Authorization headers, foreign Origin`, T, async () => {
      const garbage = await get(path, { headers: { Authorization: 'Bearer garbage.garbage.garbage' } });
      assert.equal(garbage.status, 200, garbage.text);
      assert.equal(garbage.json.resource, RESOURCE);
      expectNoChallenge(garbage);

      const twoHeaders = await rawRequest(stack.gate.url + path, {
        headers: [
          ['Authorization', 'Bearer a.b.c'],
          ['Authorization', 'Bearer d.e.f'],
        ],
      });
      assert.equal(twoHeaders.status, 200, twoHeaders.body);
      assert.equal(JSON.parse(twoHeaders.body).resource, RESOURCE);

      const foreign = await get(path, { headers: { Origin: FOREIGN_BROWSER_ORIGIN } });
      assert.equal(foreign.status, 200, foreign.text);
      assert.equal(foreign.headers['access-control-allow-origin'], '*');
    });
  }

  test('discovery requests never reach the origin', T, async () => {
    const seen = await originPaths();
    assert.ok(!seen.some((p) => p.includes('.well-known')), `origin saw: ${seen.join(', ')}`);
  });

  test('OPTIONS preflight from an allowed origin is answered by the gate without a token', T, async () => {
    await stack.origin.reset();
    // Every served path (SPEC §7): the MCP endpoint and a FORWARD_PATHS path (an unserved path
    // is 404, tests/e2e/hygiene.test.mjs).
    for (const path of ['/mcp', '/__echo']) {
      const res = await get(path, {
        method: 'OPTIONS',
        headers: {
          Origin: ALLOWED_BROWSER_ORIGIN,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id',
        },
      });
      assert.ok(res.status === 200 || res.status === 204, `preflight status ${res.status}: ${res.text}`);
      expectNoChallenge(res);
      assert.ok(
        [ALLOWED_BROWSER_ORIGIN, '*'].includes(res.headers['access-control-allow-origin']),
        `Access-Control-Allow-Origin: ${res.headers['access-control-allow-origin']}`,
      );
      const allowHeaders = headerList(res.headers['access-control-allow-headers']);
      for (const h of ['authorization', 'content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id']) {
        assert.ok(allowHeaders.has(h) || allowHeaders.has('*'), `Access-Control-Allow-Headers lists ${h}: ${[...allowHeaders]}`);
      }
      const allowMethods = headerList(res.headers['access-control-allow-methods']);
      for (const m of ['get', 'post', 'delete']) {
        assert.ok(allowMethods.has(m), `Access-Control-Allow-Methods lists ${m}: ${[...allowMethods]}`);
      }
    }
    const seen = await originPaths();
    assert.ok(!seen.some((p) => p.startsWith('OPTIONS')), `the origin never sees a preflight: ${seen.join(', ')}`);
  });

  test('OPTIONS preflight on a metadata URL succeeds without a token', T, async () => {
    const res = await get(METADATA_PATHS[1], {
      method: 'OPTIONS',
      headers: { Origin: FOREIGN_BROWSER_ORIGIN, 'Access-Control-Request-Method': 'GET' },
    });
    assert.ok(res.status === 200 || res.status === 204, `status ${res.status}`);
    assert.equal(res.headers['access-control-allow-origin'], '*');
  });

  test('OPTIONS preflight from a foreign origin does not grant that origin', T, async () => {
    const res = await get('/mcp', {
      method: 'OPTIONS',
      headers: {
        Origin: FOREIGN_BROWSER_ORIGIN,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization',
      },
    });
    const acao = res.headers['access-control-allow-origin'];
    assert.ok(acao !== FOREIGN_BROWSER_ORIGIN && acao !== '*', `Access-Control-Allow-Origin must not admit it: ${acao}`);
  });

  test('GET /healthz answers 200 {"status":"ok"} with no secret', T, async () => {
    const res = await get('/healthz');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'] || '', /application\/json/);
    assert.equal(res.json.status, 'ok');
    assert.equal(res.json.login_bridge, 'off', 'no Scalekit setting: the login bridge is off');
    assert.ok(!res.text.includes(ORIGIN_AUTHORIZATION), 'no secret in /healthz');
    assert.ok(!res.text.includes('origin-only-secret'), 'no secret in /healthz');
    const seen = await originPaths();
    assert.ok(!seen.some((p) => p.includes('healthz')), 'health is answered by the gate itself');
  });

  describe('Origin validation and CORS (ALLOWED_ORIGINS = one origin)', () => {
    test('a foreign Origin with a valid token gets 403 without a challenge and is not forwarded', T, async () => {
      await stack.origin.reset();
      const token = await stack.token();
      const res = await get('/__echo?case=foreign-origin', {
        headers: { Authorization: `Bearer ${token}`, Origin: FOREIGN_BROWSER_ORIGIN },
      });
      assert.equal(res.status, 403, res.text);
      expectNoChallenge(res);
      expectJsonError(res);
      const acao = res.headers['access-control-allow-origin'];
      assert.ok(acao !== FOREIGN_BROWSER_ORIGIN && acao !== '*', `no CORS grant for a foreign origin: ${acao}`);
      assert.deepEqual(await originPaths(), [], 'the origin saw nothing');
    });

    test('a foreign Origin is refused before the token is looked at (no token → 403, not 401)', T, async () => {
      const res = await get('/mcp', { method: 'POST', headers: { Origin: FOREIGN_BROWSER_ORIGIN }, body: '{}' });
      assert.equal(res.status, 403, res.text);
      expectNoChallenge(res);
      const garbage = await get('/mcp', {
        method: 'POST',
        headers: { Origin: FOREIGN_BROWSER_ORIGIN, Authorization: 'Bearer x.y.z' },
        body: '{}',
      });
      assert.equal(garbage.status, 403, garbage.text);
      expectNoChallenge(garbage);
    });

    test('an allowed Origin without a token gets the 401 challenge with CORS and exposed headers', T, async () => {
      const res = await get('/mcp', {
        method: 'POST',
        headers: { Origin: ALLOWED_BROWSER_ORIGIN, 'Content-Type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      });
      expectNoCredentialsChallenge(res);
      assert.equal(res.headers['access-control-allow-origin'], ALLOWED_BROWSER_ORIGIN);
      const exposed = headerList(res.headers['access-control-expose-headers']);
      for (const h of ['www-authenticate', 'mcp-session-id', 'mcp-protocol-version']) {
        assert.ok(exposed.has(h), `Access-Control-Expose-Headers lists ${h}: ${[...exposed]}`);
      }
      assert.match(res.headers.vary || '', /origin/i, 'a response that depends on Origin says Vary: Origin');
    });

    test('an allowed Origin with a valid token is forwarded, with CORS and exposed headers', T, async () => {
      await stack.origin.reset();
      const token = await stack.token();
      const res = await get('/__echo?case=allowed-origin', {
        headers: { Authorization: `Bearer ${token}`, Origin: ALLOWED_BROWSER_ORIGIN },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-origin-seen'], 'yes', 'answered by the origin');
      assert.equal(res.headers['access-control-allow-origin'], ALLOWED_BROWSER_ORIGIN);
      const exposed = headerList(res.headers['access-control-expose-headers']);
      for (const h of ['www-authenticate', 'mcp-session-id', 'mcp-protocol-version']) {
        assert.ok(exposed.has(h), `Access-Control-Expose-Headers lists ${h}: ${[...exposed]}`);
      }
      assert.equal(res.headers['mcp-session-id'], 'echo-session', 'Mcp-Session-Id from the origin reaches the browser');
    });

    test("the gate's own origin (the origin of RESOURCE) is allowed without being listed", T, async () => {
      // SPEC §4a.9: the own origin is RESOURCE's, never the one the request URL or Host shows
      // (here http://127.0.0.1:PORT, which is refused: tests/e2e/hygiene.test.mjs).
      const token = await stack.token();
      const own = new URL(RESOURCE).origin;
      const res = await get('/__echo?case=own-origin', {
        headers: { Authorization: `Bearer ${token}`, Origin: own },
      });
      assert.equal(res.status, 200, `Origin ${own}: ${res.status} ${res.text}`);
    });

    test('a request without Origin (non-browser client) is not subject to the Origin check', T, async () => {
      const token = await stack.token();
      const res = await get('/__echo?case=no-origin', { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, res.text);
    });
  });
});
