// SPEC §8: one JSON line per request on the Workers console, with the decision fields, and
// never a token, an Authorization value or a secret. The Worker's console output is what
// `wrangler dev` prints (captured by the harness).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ISSUER,
  ORIGIN_AUTHORIZATION,
  fetchWithTimeout,
  now,
  rawRequest,
  startStack,
  tamperSignature,
} from '../support/index.mjs';

const T = { timeout: 30_000 };

/** JSON log lines of the gate (objects with a `decision` field). */
function decisionLines(gate) {
  return gate.jsonLogs().filter((l) => 'decision' in l);
}

async function waitForDecisionCount(gate, count, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (decisionLines(gate).length < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return decisionLines(gate);
}

describe('Worker logs', { timeout: 180_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({ name: 'logs' });
  });
  after(async () => {
    await stack?.stop();
  });

  test('one JSON line per request with decision, status and identity fields', T, async () => {
    const before = decisionLines(stack.gate).length;
    const token = await stack.token({ claims: { sub: 'log-subject', client_id: 'log-client' } });
    const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).jti;

    const allowed = await fetchWithTimeout(`${stack.gate.url}/mcp`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'logs', version: '1' } },
      }),
    });
    assert.equal(allowed.status, 200);
    await allowed.text();

    const denied = await fetchWithTimeout(`${stack.gate.url}/mcp`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tamperSignature(token)}`, 'Content-Type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
    });
    assert.equal(denied.status, 401);
    await denied.text();

    const noCredentials = await fetchWithTimeout(`${stack.gate.url}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":3,"method":"tools/list"}',
    });
    assert.equal(noCredentials.status, 401);
    await noCredentials.text();

    const lines = (await waitForDecisionCount(stack.gate, before + 3)).slice(before);
    assert.equal(lines.length, 3, `one decision line per request:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);

    const [allow, deny, anonymous] = lines;
    assert.equal(allow.decision, 'allow');
    assert.equal(allow.status, 200);
    assert.equal(allow.iss, ISSUER);
    assert.equal(allow.sub, 'log-subject');
    assert.equal(allow.client_id, 'log-client');
    assert.equal(allow.jti, jti);
    assert.equal(allow.rpc_method, 'initialize');

    assert.equal(deny.decision, 'deny');
    assert.equal(deny.status, 401);
    assert.equal(typeof deny.reason, 'string');
    assert.ok(deny.reason.length > 0);

    assert.equal(anonymous.decision, 'deny');
    assert.equal(anonymous.status, 401);

    for (const line of lines) {
      if ('duration_ms' in line) assert.equal(typeof line.duration_ms, 'number');
    }
  });

  test('no token, Authorization value or secret appears anywhere in the Worker output', { timeout: 60_000 }, async () => {
    // Exercise every path that handles a token: a full SDK session, invalid and expired tokens,
    // a token in the query string, two Authorization headers, a forwarded request.
    const good = await stack.token();
    const transport = new StreamableHTTPClientTransport(new URL(`${stack.gate.url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${good}` } },
      reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
    });
    const client = new Client({ name: 'logs', version: '1' });
    await client.connect(transport, { timeout: 15_000 });
    await client.listTools(undefined, { timeout: 10_000 });
    await client.callTool({ name: 'echo', arguments: { text: 'x' } }, undefined, { timeout: 10_000 });
    await client.callTool({ name: 'slow_count', arguments: { count: 2, interval_ms: 50 } }, undefined, { timeout: 10_000 });
    await transport.terminateSession().catch(() => {});
    await client.close();

    const expired = await stack.token({ claims: { exp: now() - 3600, iat: now() - 7200, nbf: now() - 7200 } });
    const wrongAud = await stack.token({ claims: { aud: 'https://other.example.test' } });
    const inQuery = await stack.token();
    const twice = await stack.token();
    const sends = [
      fetchWithTimeout(`${stack.gate.url}/__echo`, { headers: { Authorization: `Bearer ${expired}` } }),
      fetchWithTimeout(`${stack.gate.url}/__echo`, { headers: { Authorization: `Bearer ${wrongAud}` } }),
      fetchWithTimeout(`${stack.gate.url}/__echo`, { headers: { Authorization: `Bearer ${tamperSignature(good)}` } }),
      fetchWithTimeout(`${stack.gate.url}/__echo`, { headers: { Authorization: 'Bearer not.a.jwt-but-secret-looking' } }),
      fetchWithTimeout(`${stack.gate.url}/__echo?access_token=${inQuery}`),
      fetchWithTimeout(`${stack.gate.url}/__echo`, { headers: { Authorization: `Basic ${Buffer.from('user:pass-secret').toString('base64')}` } }),
    ];
    for (const res of await Promise.all(sends)) await res.text();
    await rawRequest(`${stack.gate.url}/__echo`, {
      headers: [
        ['Authorization', `Bearer ${twice}`],
        ['Authorization', `Bearer ${twice}`],
      ],
    });
    await new Promise((r) => setTimeout(r, 1000)); // let the console output arrive

    const logs = stack.gate.logs();
    assert.ok(logs.length > 0);
    const tokens = [...stack.issuedTokens(), tamperSignature(good), 'not.a.jwt-but-secret-looking'];
    for (const token of tokens) {
      assert.ok(!logs.includes(token), 'a whole token appears in the logs');
      for (const segment of token.split('.')) {
        if (segment.length >= 16) assert.ok(!logs.includes(segment), 'a token segment appears in the logs');
      }
    }
    assert.ok(!/Bearer\s+eyJ/i.test(logs), 'a Bearer JWT appears in the logs');
    assert.ok(!/Bearer\s+not\.a\.jwt/i.test(logs), 'an Authorization value appears in the logs');
    assert.ok(!logs.includes(Buffer.from('user:pass-secret').toString('base64')), 'a Basic credential appears in the logs');
    assert.ok(!logs.includes(ORIGIN_AUTHORIZATION) && !logs.includes('origin-only-secret'), 'the ORIGIN_AUTHORIZATION secret appears in the logs');
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(logs), 'something JWT-shaped appears in the logs');
  });
});
