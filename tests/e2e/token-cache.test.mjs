// Issue 5: a repeated token is served from the per-isolate verified-token cache, observed
// through the counters in /healthz (no timing assertions). Failures are never cached, and a
// hit still goes through expiry and scope checks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchWithTimeout, now, startStack, tamperSignature } from '../support/index.mjs';

const T = { timeout: 30_000 };

async function cacheStats(stack) {
  const res = await fetchWithTimeout(`${stack.gate.url}/healthz`);
  const body = await res.json();
  assert.equal(typeof body.token_cache, 'object', `healthz reports the token cache: ${JSON.stringify(body)}`);
  return body.token_cache;
}

async function ping(stack, token, id = 1) {
  const res = await fetchWithTimeout(`${stack.gate.url}/mcp`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'cache', version: '1' } },
    }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('verified-token cache', { timeout: 120_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({ name: 'token-cache' });
  });
  after(async () => {
    await stack?.stop();
  });

  test('a repeated token is verified once and then served from the cache', T, async () => {
    const token = await stack.token({ alg: 'ES256' });
    const start = await cacheStats(stack);
    assert.equal(await ping(stack, token, 1), 200);
    const afterFirst = await cacheStats(stack);
    assert.equal(afterFirst.inserts, start.inserts + 1, 'the first use verifies and stores');
    assert.equal(afterFirst.hits, start.hits);
    for (let i = 2; i <= 4; i++) assert.equal(await ping(stack, token, i), 200);
    const afterRepeats = await cacheStats(stack);
    assert.equal(afterRepeats.hits, afterFirst.hits + 3, 'three repeats are three hits');
    assert.equal(afterRepeats.inserts, afterFirst.inserts, 'repeats insert nothing');
  });

  test('failures are never cached, and a different token is a miss', T, async () => {
    const token = await stack.token();
    const forged = tamperSignature(token);
    const start = await cacheStats(stack);
    assert.equal(await ping(stack, forged), 401);
    assert.equal(await ping(stack, forged), 401);
    const afterForged = await cacheStats(stack);
    assert.equal(afterForged.inserts, start.inserts, 'an invalid token is never stored');
    assert.equal(afterForged.hits, start.hits, 'an invalid token never hits');
    assert.equal(await ping(stack, token), 200);
    const afterValid = await cacheStats(stack);
    assert.equal(afterValid.inserts, start.inserts + 1);
  });

  test('a token accepted only within the clock-skew leeway is not cached', T, async () => {
    const nearlyExpired = await stack.token({ claims: { exp: now() - 5, iat: now() - 100 } });
    const start = await cacheStats(stack);
    assert.equal(await ping(stack, nearlyExpired), 200, 'inside the 60 s leeway the token is valid');
    assert.equal(await ping(stack, nearlyExpired), 200);
    const end = await cacheStats(stack);
    assert.equal(end.hits, start.hits, 'never a hit past exp');
    assert.equal(end.inserts, start.inserts, 'never stored past exp');
  });

  test('a cached token still needs its scopes', T, async () => {
    const narrow = await stack.token({ claims: { scope: 'other' } });
    const start = await cacheStats(stack);
    assert.equal(await ping(stack, narrow), 403, 'REQUIRED_SCOPES missing');
    assert.equal(await ping(stack, narrow), 403, 'and still missing on a hit');
    const end = await cacheStats(stack);
    assert.equal(end.hits, start.hits + 1, 'the second request was a cache hit, refused by scopes');
  });
});
