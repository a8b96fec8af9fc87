// SPEC §1: an invalid or missing required setting makes every protected request fail closed
// with 500 and a JSON body naming the setting (never a secret value), and is logged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ORIGIN_AUTHORIZATION, fetchWithTimeout, snapshot, startStack } from '../support/index.mjs';

const T = { timeout: 30_000 };
/** The setting's name as a whole word (so ORIGIN is not found inside ALLOWED_ORIGINS). */
const named = (setting) => new RegExp(`(^|[^A-Za-z0-9_])${setting}([^A-Za-z0-9_]|$)`);

const invalidConfigurations = [
  {
    name: 'missing ORIGIN',
    setting: 'ORIGIN',
    vars: (_origin, defaults) => {
      const { ORIGIN, ...rest } = defaults;
      void ORIGIN;
      return rest;
    },
  },
  {
    name: 'ALLOWED_ALGORITHMS listing an HMAC algorithm',
    setting: 'ALLOWED_ALGORITHMS',
    vars: (_origin, defaults) => ({ ...defaults, ALLOWED_ALGORITHMS: 'RS256 HS256' }),
  },
  {
    // wrangler hands a non-string [vars] value to the Worker as JSON: never ignored as unset.
    name: 'CLOCK_SKEW_SECONDS given as a JSON object',
    setting: 'CLOCK_SKEW_SECONDS',
    vars: (_origin, defaults) => ({ ...defaults, CLOCK_SKEW_SECONDS: { seconds: 60 } }),
  },
];

for (const config of invalidConfigurations) {
  describe(`invalid settings: ${config.name}`, { timeout: 120_000 }, () => {
    let stack;
    before(async () => {
      stack = await startStack({ name: `settings-${config.setting.toLowerCase()}`, vars: config.vars });
    });
    after(async () => {
      await stack?.stop();
    });

    const requests = {
      'valid token': async () => ({ Authorization: `Bearer ${await stack.token()}` }),
      'no token': async () => ({}),
    };
    for (const [label, headers] of Object.entries(requests)) {
      test(`protected request with ${label} → 500 naming ${config.setting}, not forwarded`, T, async () => {
        await stack.origin.reset();
        const res = await snapshot(
          await fetchWithTimeout(`${stack.gate.url}/mcp`, {
            method: 'POST',
            headers: { ...(await headers()), 'Content-Type': 'application/json' },
            body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
          }),
        );
        assert.equal(res.status, 500, res.text);
        assert.match(res.headers['content-type'] || '', /application\/json/);
        assert.ok(res.json && typeof res.json.error === 'string', `JSON error body: ${res.text}`);
        assert.match(res.text, named(config.setting), `the body names ${config.setting}: ${res.text}`);
        assert.ok(!res.text.includes(ORIGIN_AUTHORIZATION) && !res.text.includes('origin-only-secret'), 'no secret value');
        assert.deepEqual(await stack.origin.requests(), [], 'nothing reached the origin');
      });
    }

    test(`the Worker log names ${config.setting}`, T, async () => {
      // Skip wrangler's own binding table (`env.NAME (...)`); look for the Worker's line.
      await stack.gate.waitForLogs(
        (logs) => logs.split('\n').some((l) => named(config.setting).test(l) && !l.includes('env.')),
        5000,
      );
      assert.ok(!stack.gate.logs().includes('origin-only-secret'), 'no secret value in the logs');
    });
  });
}

// A TOML number or boolean in [vars] (`MAX_BODY_BYTES = 64`, `FORWARD_TOKEN = true`) reaches
// the Worker as a JSON value: it is read as its text, not ignored in favour of the default.
describe('numeric and boolean [vars] values are read as their text', { timeout: 120_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({
      name: 'settings-number',
      vars: (_origin, defaults) => ({ ...defaults, MAX_BODY_BYTES: 64, FORWARD_TOKEN: true }),
    });
  });
  after(async () => {
    await stack?.stop();
  });

  const post = async (body) =>
    snapshot(
      await fetchWithTimeout(`${stack.gate.url}/mcp`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await stack.token()}`, 'Content-Type': 'application/json' },
        body,
      }),
    );

  test('a body over MAX_BODY_BYTES = 64 → 413, not forwarded; one under it is forwarded with the token (FORWARD_TOKEN = true)', T, async () => {
    await stack.origin.reset();
    const large = await post(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${'x'.repeat(64)}"}}`);
    assert.equal(large.status, 413, large.text);
    assert.deepEqual(await stack.origin.requests(), [], 'nothing reached the origin');
    // Outside an MCP session the origin itself answers 400; what matters is that it got it.
    const small = await post('{"jsonrpc":"2.0","id":2,"method":"ping"}');
    assert.notEqual(small.status, 413, small.text);
    const received = await stack.origin.requests();
    assert.equal(received.length, 1, 'the small request reached the origin');
    assert.equal(received[0].body, '{"jsonrpc":"2.0","id":2,"method":"ping"}');
    assert.match(received[0].headers.authorization ?? '', /^Bearer /, 'FORWARD_TOKEN = true passed the token on');
  });
});
