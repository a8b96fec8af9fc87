// SPEC §2: changes written to KV take effect within the KV propagation time plus the gate's
// own cache lifetime. Locally, a `wrangler kv key put --local` into the running gate's
// --persist-to directory is visible to the Worker's next KV read (propagation ~0), so the bound
// here is the gate's key-set cache lifetime.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchWithTimeout, snapshot, startStack } from '../support/index.mjs';

// The gate re-reads KV `jwks` at most every 30 s per isolate (lead: KV_RELOAD_INTERVAL_MS,
// documented in the README). Override with E2E_KEY_CACHE_SECONDS if that bound changes.
const KEY_CACHE_SECONDS = Number(process.env.E2E_KEY_CACHE_SECONDS || 30);
const MARGIN_SECONDS = 5;

describe('key set rotation through KV while the gate runs', { timeout: 180_000 }, () => {
  let stack;
  before(async () => {
    // KV starts with every test key except EdDSA: the EdDSA key plays the "new" key.
    stack = await startStack({
      name: 'kv-changes',
      kv: {},
    });
  });
  after(async () => {
    await stack?.stop();
  });

  const call = async (token) =>
    snapshot(await fetchWithTimeout(`${stack.gate.url}/__echo`, { headers: { Authorization: `Bearer ${token}` } }));

  test(
    'a key added to and a key removed from KV `jwks` take effect within the cache lifetime',
    { timeout: (KEY_CACHE_SECONDS + MARGIN_SECONDS + 60) * 1000 },
    async () => {
      const { keys } = stack.keys;
      const before = { keys: [keys.RS256.publicJwk, keys.ES256.publicJwk] };
      await stack.gate.kvPut('jwks', before);

      // Old key works, new key is unknown (this also loads the key set into the isolate).
      assert.equal((await call(await stack.token({ alg: 'RS256' }))).status, 200);
      assert.equal((await call(await stack.token({ alg: 'EdDSA' }))).status, 401);

      // Rotate: RS256 out, EdDSA in.
      await stack.gate.kvPut('jwks', { keys: [keys.EdDSA.publicJwk, keys.ES256.publicJwk] });
      const written = Date.now();
      assert.deepEqual(JSON.parse(await stack.gate.kvGet('jwks')).keys.map((k) => k.kid), [keys.EdDSA.kid, keys.ES256.kid]);

      // Within the bound both changes must be visible. Poll with the key that stays (ES256)
      // so that the poll itself cannot teach the gate anything about the rotated kids.
      const deadline = written + (KEY_CACHE_SECONDS + MARGIN_SECONDS) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())));
      assert.equal((await call(await stack.token({ alg: 'ES256' }))).status, 200, 'the unchanged key still works');
      const added = await call(await stack.token({ alg: 'EdDSA' }));
      assert.equal(added.status, 200, `the added key is accepted ${KEY_CACHE_SECONDS + MARGIN_SECONDS} s after the write: ${added.text}`);
      const removed = await call(await stack.token({ alg: 'RS256' }));
      assert.equal(removed.status, 401, `the removed key is refused ${KEY_CACHE_SECONDS + MARGIN_SECONDS} s after the write`);
    },
  );
});
