// Key lifecycle end to end (issue 4, SPEC §1 JWKS_URI/ISSUERS/AS_METADATA_URL, §2, README
// "Key lifecycle"): the built Worker under `wrangler dev --local --test-scheduled`, a local
// issuer (tests/issuer/server.mjs) serving RFC 8414 metadata and a JWK Set on 127.0.0.1 and
// counting requests, and the example origin.
//
// One gate start, one timeline (the gate's refresh state lives in its isolate, so the steps
// run in order and each builds on the previous one):
//   1. empty KV, no refresh yet: /healthz 503, nothing fetched;
//   2. cron while the issuer is down: still no keys, /healthz 503 says why, tokens get 401;
//      the AS metadata mirror has nothing to serve yet;
//   3. cron with the issuer up: discovery via the path-inserted RFC 8414 metadata of the first
//      issuer (JWKS_URI unset), keys fetched, written to KV `jwks`, tokens verify;
//   4. both Scalekit issuer forms verify, a third `iss` is refused;
//   5. the AS metadata mirror (AS_METADATA_URL) at both well-known forms, CORS *;
//   6. issuer down (500, then connection refused) after a refresh attempt: cached keys serve;
//   7. a flood of random unknown `kid`s: bounded JWKS fetches (single flight + cooldown);
//   8. rotation: the issuer signs with a new key; concurrent tokens with the new kid verify at
//      once, sharing one refresh (single flight).
// Steps 7 and 8 each wait out the 30 s refresh cooldown first (REFRESH_COOLDOWN_MS, counted
// from the *start* of the previous refresh of any trigger, cron included).
//
// Harness use: `--test-scheduled` is passed through startGate's `extraArgs` (exposes
// `/__scheduled?cron=…`); `gate.kvGet()` reads the local KV the running gate writes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  RESOURCE,
  REQUIRED_SCOPE,
  defaultClaims,
  expectInvalidToken,
  fetchWithTimeout,
  snapshot,
  startGate,
  startOrigin,
  tail,
  workerBuilt,
  WORKER_MAIN,
} from '../support/index.mjs';
import { startIssuer } from '../issuer/server.mjs';

const T = { timeout: 60_000 };
const CRON = '*/15 * * * *';
/** README "Key lifecycle": at most one unknown-`kid` refresh per 30 s per isolate. */
const COOLDOWN_MS = 30_000;
/** Extra wait past the cooldown, for clock granularity between this process and workerd. */
const COOLDOWN_MARGIN_MS = 1_500;
const FLOOD_TOKENS = 150;
const FLOOD_CONCURRENCY = 30;
/** The issuer holds each key set answer this long during the flood, so many requests find the refresh in flight. */
const FLOOD_JWKS_DELAY_MS = 1_500;

/** Clients presenting the new kid at the same moment after a rotation. */
const ROTATION_CONCURRENT = 10;
const ROTATION_JWKS_DELAY_MS = 1_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('key lifecycle: refresh, discovery, rotation, outages, issuers, AS metadata mirror', { timeout: 420_000 }, () => {
  let issuer;
  let origin;
  let gate;
  /** `{env}/resources/{res}` and `{env}`: the two Scalekit issuer forms. */
  let RES_ISS;
  let ENV_ISS;
  let RES_META_PATH;
  const ENV_META_PATH = '/.well-known/oauth-authorization-server';
  /** Upper bound (this process's clock) of when the gate last started a refresh. */
  let lastRefreshStartedBy = 0;

  before(async () => {
    if (!workerBuilt()) throw new Error(`the Worker is not built: ${WORKER_MAIN} is missing`);
    issuer = await startIssuer();
    RES_ISS = issuer.resourceIssuer;
    ENV_ISS = issuer.url;
    RES_META_PATH = new URL(issuer.metadataUrl(RES_ISS)).pathname;
    origin = await startOrigin();
    gate = await startGate({
      name: 'refresh',
      vars: {
        RESOURCE,
        AUTHORIZATION_SERVERS: RES_ISS,
        // The resource issuer first: JWKS_URI is unset, so the key set is discovered from the
        // first issuer's metadata (RFC 8414 path-inserted form).
        ISSUERS: `${RES_ISS} ${ENV_ISS}`,
        ORIGIN: origin.url,
        REQUIRED_SCOPES: REQUIRED_SCOPE,
        AS_METADATA_URL: issuer.metadataUrl(RES_ISS),
        ORIGIN_TIMEOUT_SECONDS: '5',
        // No `rules` in KV: authenticated mode must be chosen explicitly (REQUIRE_RULES defaults
        // to true), and the origin's /__echo is forwarded only when listed (SPEC §4a.1).
        REQUIRE_RULES: 'false',
        FORWARD_PATHS: '/__echo',
      },
      secrets: {},
      kv: {}, // no `jwks`: only a refresh can fill it
      extraArgs: ['--test-scheduled'],
    });
  });

  after(async () => {
    await Promise.allSettled([gate?.stop(), origin?.stop(), issuer?.stop()]);
  });

  // --- helpers ---------------------------------------------------------------------------

  const claims = (iss, overrides = {}) =>
    defaultClaims({ issuer: iss, audience: RESOURCE }, { scope: `${REQUIRED_SCOPE} mcp:tools:*`, ...overrides });

  /** A protected GET through the gate (the origin echoes what it received). */
  async function call(token, caseName = 'refresh') {
    const res = await fetchWithTimeout(`${gate.url}/__echo?case=${encodeURIComponent(caseName)}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    return snapshot(res);
  }

  async function expectAllowed(token, iss, caseName) {
    const snap = await call(token, caseName);
    assert.equal(snap.status, 200, `a valid token (iss ${iss}) is allowed: ${snap.status} ${snap.text}`);
    assert.equal(snap.json?.headers?.['x-mcp-auth-issuer'], iss, 'the origin saw the verified issuer');
    return snap;
  }

  async function health() {
    const snap = await snapshot(await fetchWithTimeout(`${gate.url}/healthz`));
    assert.ok(snap.json && typeof snap.json === 'object', `/healthz answers JSON: ${snap.text}`);
    assert.ok(snap.json.keys && typeof snap.json.keys === 'object', `/healthz reports keys: ${snap.text}`);
    return snap;
  }

  /** Trigger the Cron Trigger (wrangler dev --test-scheduled). */
  async function runCron() {
    const res = await fetchWithTimeout(`${gate.url}/__scheduled?cron=${encodeURIComponent(CRON).replace(/%20/g, '+')}`, {}, 30_000);
    const text = await res.text();
    lastRefreshStartedBy = Date.now();
    assert.equal(res.status, 200, `/__scheduled ran: ${text}`);
    return text;
  }

  /** Sleep until the refresh cooldown that began at `lastRefreshStartedBy` has surely ended. */
  async function waitOutCooldown() {
    const wait = lastRefreshStartedBy + COOLDOWN_MS + COOLDOWN_MARGIN_MS - Date.now();
    if (wait > 0) await sleep(wait);
  }

  /** The value of local KV `key` as the running gate wrote it, or null when missing. */
  const kvGet = (key) => gate.kvGet(key);

  /** The JWK Set in KV `jwks` (parsed), or null when missing. */
  async function kvJwks() {
    const value = await kvGet('jwks');
    if (value === null) return null;
    try {
      return JSON.parse(value);
    } catch {
      assert.fail(`KV jwks holds JSON: ${tail(value, 5)}`);
    }
  }

  const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

  // --- 1. empty ----------------------------------------------------------------------------

  test('empty KV, before any refresh: /healthz is 503 and says there are no keys; nothing fetched', T, async () => {
    const snap = await health();
    assert.equal(snap.status, 503, `no keys → 503: ${snap.text}`);
    assert.equal(snap.json.keys.key_count, 0);
    assert.equal(typeof snap.json.keys.problem, 'string', `/healthz says why: ${snap.text}`);
    assert.match(snap.json.keys.problem, /no usable keys/);
    assert.deepEqual(issuer.counts(), {}, 'the gate fetches nothing before a refresh is due');
  });

  // --- 2. cron while the issuer is down, with no keys ---------------------------------------

  test('cron while the issuer refuses connections: still no keys, /healthz 503 says the refresh failed, tokens get 401', T, async () => {
    await issuer.down('refused');
    await runCron();
    const snap = await health();
    assert.equal(snap.status, 503, `still no keys → 503: ${snap.text}`);
    assert.equal(snap.json.keys.key_count, 0);
    assert.equal(snap.json.keys.last_refresh?.trigger, 'scheduled', snap.text);
    assert.equal(snap.json.keys.last_refresh?.result, 'failed', snap.text);
    assert.match(snap.json.keys.problem || '', /last refresh failed/, `/healthz says why: ${snap.text}`);

    const token = await issuer.sign(claims(RES_ISS));
    const denied = await call(token, 'no-keys');
    expectInvalidToken(denied, [token]);
    assert.equal(await kvJwks(), null, 'a failed refresh writes nothing to KV `jwks`');
  });

  test('AS metadata mirror before any successful fetch: no document is served (JSON error, not 200)', T, async (t) => {
    await issuer.down('error'); // answers 500, and counts the requests
    issuer.resetCounts();
    for (let i = 0; i < 3; i++) {
      const snap = await snapshot(await fetchWithTimeout(`${gate.url}/.well-known/oauth-authorization-server`));
      assert.notEqual(snap.status, 200, `nothing to mirror yet: ${snap.status} ${snap.text}`);
      assert.equal(typeof snap.json?.error, 'string', `a JSON error body: ${snap.text}`);
      assert.equal(snap.json?.issuer, undefined, 'no metadata document');
    }
    // Not a contract (README is silent): how many live fetches three public GETs caused.
    t.diagnostic(`mirror GETs with an empty mirror and a failing issuer caused ${issuer.count(RES_META_PATH)} metadata fetches`);
  });

  // --- 3. cron fills the empty KV via discovery ---------------------------------------------

  test('cron with the issuer up: discovers the JWKS URI from path-inserted RFC 8414 metadata, fills KV, tokens verify', T, async () => {
    await issuer.up();
    issuer.resetCounts();
    await runCron();

    const paths = issuer.requests().map((r) => r.path);
    assert.equal(paths[0], RES_META_PATH, `discovery starts at the first issuer's path-inserted metadata: ${paths.join(', ')}`);
    assert.equal(paths[1], '/keys', `then the jwks_uri from that metadata: ${paths.join(', ')}`);
    assert.equal(issuer.count('/keys'), 1, 'one key set fetch');
    assert.equal(issuer.count(ENV_META_PATH), 0, 'no fallback to other candidates once the first one worked');
    assert.ok(
      paths.every((p) => p === RES_META_PATH || p === '/keys'),
      `only the discovered URLs (and the AS metadata mirror, the same URL) are fetched: ${paths.join(', ')}`,
    );

    const snap = await health();
    assert.equal(snap.status, 200, `keys present → 200: ${snap.text}`);
    assert.equal(snap.json.status, 'ok');
    assert.equal(snap.json.keys.key_count, 1, snap.text);
    assert.equal(snap.json.keys.last_refresh?.trigger, 'scheduled', snap.text);
    assert.equal(snap.json.keys.last_refresh?.result, 'updated', snap.text);
    assert.equal(snap.json.keys.last_refresh?.key_count, 1, snap.text);
    assert.equal(snap.json.keys.problem, undefined, `no problem reported: ${snap.text}`);

    const stored = await kvJwks();
    assert.ok(stored, 'the cron wrote KV `jwks`');
    assert.deepEqual(
      stored.keys.map((k) => k.kid),
      [issuer.signingKid],
      'KV `jwks` holds the issuer key set',
    );
    for (const key of stored.keys) {
      for (const member of PRIVATE_MEMBERS) assert.equal(key[member], undefined, `no private member ${member} in KV`);
    }

    const before = issuer.count('/keys');
    await expectAllowed(await issuer.sign(claims(RES_ISS)), RES_ISS, 'after-cron');
    assert.equal(issuer.count('/keys'), before, 'a known kid causes no fetch');
  });

  // --- 4. Scalekit issuer forms --------------------------------------------------------------

  test('both Scalekit issuer forms verify ({env} and {env}/resources/{res}, one key set); other iss values are refused', T, async () => {
    const before = issuer.count('/keys');
    await expectAllowed(await issuer.sign(claims(ENV_ISS)), ENV_ISS, 'env-iss');
    await expectAllowed(await issuer.sign(claims(RES_ISS)), RES_ISS, 'res-iss');
    for (const other of [`${ENV_ISS}/resources/res_other`, `${ENV_ISS}/`, 'https://evil.example.test']) {
      const token = await issuer.sign(claims(other));
      const snap = await call(token, 'other-iss');
      expectInvalidToken(snap, [token]);
    }
    assert.equal(issuer.count('/keys'), before, 'issuer checks cause no key fetch');
    const seen = (await origin.requests()).filter((r) => r.query.includes('case=other-iss'));
    assert.equal(seen.length, 0, 'refused tokens never reach the origin');
  });

  // --- 5. AS metadata mirror -------------------------------------------------------------------

  test('AS metadata is mirrored byte for byte at /.well-known/oauth-authorization-server (and path-inserted), with CORS *', T, async () => {
    const expected = issuer.metadataText(RES_ISS);
    const fetchesBefore = issuer.count(RES_META_PATH);
    for (const wellKnown of ['/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/mcp']) {
      const snap = await snapshot(
        await fetchWithTimeout(`${gate.url}${wellKnown}`, { headers: { Origin: 'https://client.example.test' } }),
      );
      assert.equal(snap.status, 200, `${wellKnown}: ${snap.text}`);
      assert.equal(snap.text, expected, `${wellKnown} serves the issuer's document unchanged`);
      assert.equal(snap.headers['access-control-allow-origin'], '*', `${wellKnown} CORS`);
      assert.match(snap.headers['content-type'] || '', /application\/json/);
      assert.equal(snap.json.issuer, RES_ISS);
      assert.equal(snap.json.jwks_uri, issuer.jwksUri);
    }
    assert.equal(issuer.count(RES_META_PATH), fetchesBefore, 'served from the mirror (KV/memory), not proxied per request');
    const stored = await kvGet('as-metadata');
    assert.ok(stored?.includes(`"issuer": "${RES_ISS}"`), `KV as-metadata holds the document: ${tail(String(stored), 5)}`);
  });

  // --- 6. issuer down: stale-on-error -----------------------------------------------------------

  test('issuer answering 500: the cron refresh fails, the cached keys keep serving, /healthz stays 200 and reports the failure', T, async () => {
    const oldToken = await issuer.sign(claims(RES_ISS));
    await issuer.down('error');
    await runCron();
    assert.ok(issuer.count('/keys') > 0, 'the refresh was attempted');
    const snap = await health();
    assert.equal(snap.status, 200, `cached keys → 200: ${snap.text}`);
    assert.equal(snap.json.keys.key_count, 1, snap.text);
    assert.equal(snap.json.keys.last_refresh?.result, 'failed', snap.text);
    assert.match(snap.json.keys.last_refresh?.error || '', /500/, `the failure is reported: ${snap.text}`);
    await expectAllowed(oldToken, RES_ISS, 'down-500');
    await expectAllowed(await issuer.sign(claims(ENV_ISS)), ENV_ISS, 'down-500-env');
  });

  test('issuer refusing connections: the cron refresh fails, cached keys and the AS metadata mirror keep serving', T, async () => {
    await issuer.down('refused');
    await runCron();
    const snap = await health();
    assert.equal(snap.status, 200, `cached keys → 200: ${snap.text}`);
    assert.equal(snap.json.keys.key_count, 1, snap.text);
    assert.equal(snap.json.keys.last_refresh?.trigger, 'scheduled', snap.text);
    assert.equal(snap.json.keys.last_refresh?.result, 'failed', snap.text);
    await expectAllowed(await issuer.sign(claims(RES_ISS)), RES_ISS, 'down-refused');
    const stored = await kvJwks();
    assert.deepEqual(stored?.keys.map((k) => k.kid), [issuer.signingKid], 'a failed refresh never removes keys from KV');
    const mirror = await fetchWithTimeout(`${gate.url}/.well-known/oauth-authorization-server`);
    assert.equal(mirror.status, 200, 'the mirror keeps its last copy');
    assert.equal(await mirror.text(), issuer.metadataText(RES_ISS));
    await issuer.up();
  });

  // --- 7. flood of unknown kids -----------------------------------------------------------------

  test(`a flood of ${FLOOD_TOKENS} tokens with random unknown kids causes at most one JWKS fetch per cooldown`, { timeout: 120_000 }, async (t) => {
    await waitOutCooldown();
    issuer.resetCounts();
    issuer.setJwksDelay(FLOOD_JWKS_DELAY_MS);
    const tokens = [];
    for (let i = 0; i < FLOOD_TOKENS; i++) {
      tokens.push(await issuer.sign(claims(RES_ISS), { header: { kid: `flood-${randomUUID()}` } }));
    }
    let next = 0;
    let firstResponseAt = 0;
    const statuses = [];
    const started = Date.now();
    async function worker() {
      while (next < tokens.length) {
        const token = tokens[next++];
        const snap = await call(token, 'flood');
        if (!firstResponseAt) firstResponseAt = Date.now();
        statuses.push(snap.status);
        expectInvalidToken(snap, [token]);
      }
    }
    try {
      await Promise.all(Array.from({ length: FLOOD_CONCURRENCY }, worker));
    } finally {
      issuer.setJwksDelay(0);
    }
    const elapsed = Date.now() - started;
    assert.equal(statuses.length, FLOOD_TOKENS);

    // The bound. The previous refresh started more than COOLDOWN_MS ago, so the first unknown
    // kid may start one refresh; every other request either waits for that flight (single
    // flight) or is answered at once (cooldown, or the kid's negative memory). Another refresh
    // may start only COOLDOWN_MS after the start of the previous one (whatever triggered it),
    // so a flood lasting `elapsed` ms starts at most 1 + floor(elapsed / COOLDOWN_MS) refreshes,
    // each one GET of the key set (plus at most one metadata GET: the failed refreshes of step
    // 6 dropped the discovered URI, so the next refresh runs discovery again).
    const bound = 1 + Math.floor(elapsed / COOLDOWN_MS);
    const keyFetches = issuer.count('/keys');
    assert.ok(keyFetches >= 1, `an unknown kid past the cooldown triggers a refresh (fetches: ${JSON.stringify(issuer.counts())})`);
    assert.ok(
      keyFetches <= bound,
      `${FLOOD_TOKENS} random kids in ${elapsed} ms caused ${keyFetches} key set fetches; at most ${bound} allowed`,
    );
    assert.ok(issuer.count(RES_META_PATH) <= bound, `metadata fetches bounded too: ${JSON.stringify(issuer.counts())}`);
    t.diagnostic(`flood: ${FLOOD_TOKENS} requests in ${elapsed} ms, ${keyFetches} key set fetch(es), bound ${bound}`);
    // Every flood response came after the flood's first refresh started (each request either
    // started it, waited for it, or was refused because of it), so with one refresh the first
    // response bounds its start; with more, the end of the flood does.
    lastRefreshStartedBy = keyFetches === 1 ? firstResponseAt : Date.now();

    const snap = await health();
    assert.equal(snap.json.keys.last_refresh?.trigger, 'unknown_kid', snap.text);
    assert.equal(snap.json.keys.last_refresh?.result, 'unchanged', `same keys, nothing written: ${snap.text}`);
    assert.equal(snap.json.keys.key_count, 1, snap.text);
    await expectAllowed(await issuer.sign(claims(RES_ISS)), RES_ISS, 'after-flood');
  });

  // --- 8. rotation ----------------------------------------------------------------------------

  test('rotation: the issuer starts signing with a new key; tokens with the new kid verify at once (one shared fetch), old tokens keep working', { timeout: 120_000 }, async () => {
    const oldKid = issuer.signingKid;
    const oldToken = await issuer.sign(claims(RES_ISS));
    await waitOutCooldown();
    issuer.resetCounts();
    const newKid = await issuer.rotate();
    assert.notEqual(newKid, oldKid);

    // Several clients at once with the new kid, while the key set answer takes a while: the
    // first starts the refresh, the others wait for that flight (single flight) instead of
    // being refused or fetching again; all verify with the refreshed keys.
    issuer.setJwksDelay(ROTATION_JWKS_DELAY_MS);
    try {
      const newTokens = await Promise.all(
        Array.from({ length: ROTATION_CONCURRENT }, () => issuer.sign(claims(RES_ISS))),
      );
      await Promise.all(newTokens.map((token, i) => expectAllowed(token, RES_ISS, `rotated-new-${i}`)));
    } finally {
      issuer.setJwksDelay(0);
    }
    assert.equal(issuer.count('/keys'), 1, `the unknown kid triggered exactly one refresh: ${JSON.stringify(issuer.counts())}`);
    await expectAllowed(await issuer.sign(claims(ENV_ISS)), ENV_ISS, 'rotated-new-env');
    await expectAllowed(oldToken, RES_ISS, 'rotated-old');
    assert.equal(issuer.count('/keys'), 1, 'the new keys are in use: no further fetch');

    const snap = await health();
    assert.equal(snap.status, 200, snap.text);
    assert.equal(snap.json.keys.key_count, 2, snap.text);
    assert.equal(snap.json.keys.last_refresh?.trigger, 'unknown_kid', snap.text);
    assert.equal(snap.json.keys.last_refresh?.result, 'updated', snap.text);

    const stored = await kvJwks();
    assert.deepEqual(
      new Set(stored?.keys.map((k) => k.kid)),
      new Set([oldKid, newKid]),
      'the refreshed set is written to KV `jwks` for the other isolates',
    );
  });
});
