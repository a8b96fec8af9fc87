// SPEC §4 (scope rules from KV key `rules`), the insufficient_scope and access_denied rows of
// SPEC §5, SPEC §2 ("a rules value that does not parse or validate never opens the gate") and
// the rules fields of the log line — issue 3's end-to-end list — against the built Worker under
// workerd, the real origin MCP server, and the official SDK client where a session matters.
//
// Two gate configurations (two `wrangler dev` starts), default settings otherwise
// (REQUIRED_SCOPES = mcp:access, so every `scope=` list starts with it):
//   1. `rules` = tests/fixtures/rules.example.json, later rewritten in KV while the gate runs
//      (a changed document, then an invalid one, then deleted);
//   2. `rules` = tests/fixtures/rules.invalid-unknown-field.json from the start (→ 503).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ISSUER,
  METADATA_URL,
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
  expectNoCredentialsChallenge,
  fetchWithTimeout,
  generateTestKeys,
  headersOf,
  signToken,
  snapshot,
  startGate,
  startOrigin,
  workerBuilt,
} from '../support/index.mjs';

const T = { timeout: 45_000 };
// A KV change must show within the gate's cache lifetime (30 s, KV_REFRESH_MS in
// src/edge/state.rs; local KV has no propagation delay) plus slack.
const RULES_RELOAD_BOUND_MS = 45_000;
const RELOAD_T = { timeout: RULES_RELOAD_BOUND_MS + 40_000 };
const POLL_MS = 1000;
const PROTOCOL_VERSION = '2025-06-18';

const fixture = (name) => readFileSync(path.join(REPO, 'tests/fixtures', name), 'utf8');
const EXAMPLE_RULES = fixture('rules.example.json');
const INVALID_FROM_START = fixture('rules.invalid-unknown-field.json');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const scopeSet = (value) => new Set(String(value ?? '').split(' ').filter(Boolean));
const BASELINE = REQUIRED_SCOPE;

/**
 * keys + origin + gate, like startStack() but with a `rules` document seeded in KV next to the
 * generated `jwks` (startStack's `kv` option cannot name the keys it generates itself).
 */
async function startRulesStack({ name, rules }) {
  if (!workerBuilt()) throw new Error(`the Worker is not built: ${WORKER_MAIN} is missing`);
  const keys = await generateTestKeys();
  const origin = await startOrigin();
  let gate;
  try {
    gate = await startGate({
      name,
      vars: defaultVars(origin.url),
      secrets: { ORIGIN_AUTHORIZATION },
      kv: { jwks: keys.jwks, rules },
    });
  } catch (err) {
    await origin.stop();
    throw err;
  }
  const issued = [];
  return {
    keys,
    origin,
    gate,
    issued,
    /** A valid RS256 token granting exactly `scope`. */
    async token(scope) {
      const claims = defaultClaims({ issuer: ISSUER, audience: RESOURCE }, { scope });
      const jwt = await signToken(keys.keys.RS256, claims);
      issued.push(jwt);
      return jwt;
    },
    async stop() {
      await Promise.allSettled([gate.stop(), origin.stop()]);
    },
  };
}

/**
 * The gate's JSON log lines matching `pred`, once at least `count` arrived or after `timeoutMs`
 * (the Worker's console output reaches wrangler's stdout/stderr asynchronously).
 */
async function waitForLines(gate, pred, count = 1, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  let lines = gate.jsonLogs().filter(pred);
  while (lines.length < count && Date.now() < deadline) {
    await sleep(100);
    lines = gate.jsonLogs().filter(pred);
  }
  return lines;
}
/** JSON log lines of the gate with `event: name`. */
const eventLines = (gate, name) => gate.jsonLogs().filter((l) => l.event === name);

/** Every JSON-RPC message of a response body, JSON or SSE. */
function rpcMessagesOf(snap) {
  if (/application\/json/.test(snap.headers['content-type'] || '')) return [snap.json].flat();
  const messages = [];
  for (const block of snap.text.replace(/\r\n/g, '\n').split('\n\n')) {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data) messages.push(...[JSON.parse(data)].flat());
  }
  return messages;
}

/** SPEC §5 step-up 403; returns the challenge parameters. */
function expectInsufficientScope(snap, { scopes, names = [] }) {
  assert.equal(snap.status, 403, `status (body ${snap.text})`);
  const header = snap.headers['www-authenticate'];
  const { params } = challengeOf(snap); // present, one line, Bearer, well-formed auth-params
  assert.equal(params.error, 'insufficient_scope', `error: ${header}`);
  assert.deepEqual(scopeSet(params.scope), new Set(scopes), `scope= lists every scope the request needs: ${header}`);
  assert.equal(params.resource_metadata, METADATA_URL, `resource_metadata: ${header}`);
  assert.equal(typeof params.error_description, 'string', `error_description: ${header}`);
  for (const name of names) {
    assert.ok(params.error_description.includes(name), `error_description names ${name}: ${header}`);
  }
  expectJsonError(snap, 'insufficient_scope');
  return params;
}

/** SPEC §5 "no rule matched under default: deny": 403 access_denied, no challenge. */
function expectAccessDenied(snap) {
  assert.equal(snap.status, 403, `status (body ${snap.text})`);
  expectNoChallenge(snap);
  expectJsonError(snap, 'access_denied');
}

/** Helpers bound to one stack. */
function client(stackRef) {
  let seq = 0;
  const url = () => `${stackRef().gate.url}/mcp`;

  /** POST a JSON-RPC body (object/array, or exact string) to /mcp; `token` null sends none. */
  async function post(token, body, headers = {}) {
    const res = await fetchWithTimeout(url(), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return snapshot(res);
  }

  const call = (name, args = {}, id = `rules-e2e-${++seq}`) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: args },
  });
  const request = (method, params, id = `rules-e2e-${++seq}`) => ({
    jsonrpc: '2.0',
    id,
    method,
    ...(params ? { params } : {}),
  });

  /** initialize + notifications/initialized over raw HTTP; returns the session headers. */
  async function openSession(token) {
    const init = await post(
      token,
      request('initialize', {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'rules-e2e-raw', version: '1' },
      }),
    );
    assert.equal(init.status, 200, `initialize through the gate: ${init.text}`);
    const sessionId = init.headers['mcp-session-id'];
    assert.ok(sessionId, 'the origin assigned an Mcp-Session-Id');
    const headers = { 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION };
    const note = await post(token, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    assert.equal(note.status, 202, `notifications/initialized: ${note.text}`);
    return headers;
  }

  /**
   * The SDK client (Client + StreamableHTTPClientTransport) with the token in the
   * Authorization header. `responses` records every HTTP answer the transport got (status,
   * headers, and for errors the body) so that tests can inspect the gate's refusals.
   */
  async function connect(token) {
    const responses = [];
    const transport = new StreamableHTTPClientTransport(new URL(url()), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
      reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
      fetch: async (input, init = {}) => {
        const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(20_000)]) : AbortSignal.timeout(20_000);
        const res = await fetch(input, { ...init, signal });
        const entry = { method: init.method || 'GET', body: typeof init.body === 'string' ? init.body : '', status: res.status };
        if (res.status >= 400) Object.assign(entry, await snapshot(res.clone()));
        else entry.headers = headersOf(res);
        responses.push(entry);
        return res;
      },
    });
    const sdk = new Client({ name: 'rules-e2e', version: '1.0.0' });
    await sdk.connect(transport, { timeout: 15_000 });
    return {
      client: sdk,
      transport,
      responses,
      /** The recorded answer to the POST whose body mentions `marker`. */
      answerTo: (marker) => responses.filter((r) => r.method === 'POST' && r.body.includes(marker)).at(-1),
      async close() {
        await transport.terminateSession().catch(() => {});
        await sdk.close().catch(() => {});
      },
    };
  }

  return { post, call, request, openSession, connect };
}

/** Every POST /mcp body the origin received, parsed, flattened to messages. */
async function originMessages(origin) {
  const seen = (await origin.requests()).filter((r) => r.method === 'POST' && r.path === '/mcp');
  return seen.flatMap((r) => {
    try {
      return [JSON.parse(r.body)].flat();
    } catch {
      return [];
    }
  });
}

const toolCallsSeen = async (origin) =>
  (await originMessages(origin)).filter((m) => m.method === 'tools/call').map((m) => m.params?.name);

/** Rejection code of an SDK call refused by the gate (the transport throws StreamableHTTPError). */
async function sdkRefusal(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('the SDK call was expected to be refused by the gate');
}

describe('scope rules from KV (rules.example.json); changing them while the gate runs', { timeout: 600_000 }, () => {
  let stack;
  const { post, call, request, openSession, connect } = client(() => stack);
  before(async () => {
    stack = await startRulesStack({ name: 'rules', rules: EXAMPLE_RULES });
  });
  after(async () => {
    await stack?.stop();
  });

  test('mcp:tools:* calls any tool through a real MCP client session', T, async () => {
    await stack.origin.reset();
    const token = await stack.token(`${BASELINE} mcp:tools:*`);
    const session = await connect(token);
    try {
      const { client: sdk } = session;
      const tools = (await sdk.listTools(undefined, { timeout: 10_000 })).tools.map((t) => t.name);
      assert.ok(tools.includes('admin_reset'), `tools/list: ${tools}`);

      const echoed = await sdk.callTool({ name: 'echo', arguments: { text: 'through the rules' } }, undefined, { timeout: 10_000 });
      assert.deepEqual(echoed.content, [{ type: 'text', text: 'through the rules' }]);
      const created = await sdk.callTool(
        { name: 'calendar_create_event', arguments: { title: 'Launch', start: '2026-01-15T10:00:00Z' } },
        undefined,
        { timeout: 10_000 },
      );
      assert.match(created.content[0].text, /created event "Launch"/);
      const reset = await sdk.callTool({ name: 'admin_reset', arguments: {} }, undefined, { timeout: 10_000 });
      assert.deepEqual(reset.content, [{ type: 'text', text: 'reset done' }]);
      const events = await sdk.callTool({ name: 'calendar_get_events', arguments: {} }, undefined, { timeout: 10_000 });
      assert.equal(events.structuredContent.events.length, 2);
      for (const r of session.responses) assert.ok(r.status < 400, `no refusal in the session: ${r.status} ${r.text ?? ''}`);
    } finally {
      await session.close();
    }
    const called = await toolCallsSeen(stack.origin);
    for (const name of ['echo', 'calendar_create_event', 'admin_reset', 'calendar_get_events']) {
      assert.ok(called.includes(name), `the origin received tools/call ${name}: ${called}`);
    }
  });

  test('mcp:tools:calendar:read reaches calendar reads only; a forbidden tool gets the step-up 403 and never reaches the origin', T, async () => {
    await stack.origin.reset();
    const token = await stack.token(`${BASELINE} mcp:tools:calendar:read`);
    const session = await connect(token);
    try {
      const { client: sdk } = session;
      const tools = (await sdk.listTools(undefined, { timeout: 10_000 })).tools.map((t) => t.name);
      assert.ok(tools.includes('calendar_get_events'), 'tools/list is public under the example rules');
      const events = await sdk.callTool({ name: 'calendar_get_events', arguments: { date: '2026-03-01' } }, undefined, { timeout: 10_000 });
      assert.equal(events.structuredContent.events[0].start, '2026-03-01T09:00:00Z');

      const refused = await sdkRefusal(sdk.callTool({ name: 'admin_reset', arguments: {} }, undefined, { timeout: 10_000 }));
      assert.equal(refused.code, 403, `the SDK saw the gate's 403: ${refused}`);
      const answer = session.answerTo('"admin_reset"');
      assert.ok(answer, 'the SDK sent tools/call admin_reset');
      expectInsufficientScope(answer, { scopes: [BASELINE, 'mcp:tools:admin_reset'], names: ['tools/call', 'admin_reset'] });

      const refusedWrite = await sdkRefusal(
        sdk.callTool({ name: 'calendar_create_event', arguments: { title: 'x', start: 'y' } }, undefined, { timeout: 10_000 }),
      );
      assert.equal(refusedWrite.code, 403, `${refusedWrite}`);
      expectInsufficientScope(session.answerTo('"calendar_create_event"'), {
        scopes: [BASELINE, 'mcp:tools:calendar_create_event'],
        names: ['calendar_create_event'],
      });

      // The session still works after a refusal.
      const again = await sdk.callTool({ name: 'calendar_get_events', arguments: {} }, undefined, { timeout: 10_000 });
      assert.equal(again.structuredContent.events.length, 2);
    } finally {
      await session.close();
    }
    const called = await toolCallsSeen(stack.origin);
    assert.deepEqual(called, ['calendar_get_events', 'calendar_get_events'], 'the origin saw only the allowed calls');
    const bodies = (await stack.origin.requests()).map((r) => r.body).join('\n');
    assert.ok(!bodies.includes('admin_reset') && !bodies.includes('calendar_create_event'), 'no refused call reached the origin');
  });

  test('a JSON-RPC batch with one forbidden element is refused whole; an all-allowed batch is forwarded', T, async () => {
    const token = await stack.token(`${BASELINE} mcp:tools:calendar:read`);
    const session = await openSession(token);
    await stack.origin.reset();

    const forbidden = await post(
      token,
      [call('calendar_get_events', {}, 'batch-forbidden-1'), call('admin_reset', {}, 'batch-forbidden-2')],
      session,
    );
    expectInsufficientScope(forbidden, {
      scopes: [BASELINE, 'mcp:tools:calendar:read', 'mcp:tools:admin_reset'],
      names: ['admin_reset'],
    });

    const unmatched = await post(
      token,
      [call('calendar_get_events', {}, 'batch-unmatched-1'), request('acme/frobnicate', {}, 'batch-unmatched-2')],
      session,
    );
    expectAccessDenied(unmatched);

    const bodies = (await stack.origin.requests()).map((r) => r.body).join('\n');
    assert.ok(!bodies.includes('batch-forbidden'), 'no element of the forbidden batch reached the origin');
    assert.ok(!bodies.includes('batch-unmatched'), 'no element of the unmatched batch reached the origin');

    const allowedBody = JSON.stringify([
      call('calendar_get_events', { date: '2026-02-01' }, 'batch-allowed-1'),
      call('calendar_get_events', {}, 'batch-allowed-2'),
    ]);
    const allowed = await post(token, allowedBody, session);
    assert.equal(allowed.status, 200, `the allowed batch was answered by the origin: ${allowed.text}`);
    const byId = new Map(rpcMessagesOf(allowed).map((m) => [m.id, m]));
    assert.equal(byId.get('batch-allowed-1')?.result?.structuredContent?.events?.[0]?.start, '2026-02-01T09:00:00Z');
    assert.ok(byId.get('batch-allowed-2')?.result, `both results came back: ${allowed.text}`);
    const forwarded = (await stack.origin.requests()).filter((r) => r.body.includes('batch-allowed'));
    assert.equal(forwarded.length, 1, 'the batch was forwarded once');
    assert.equal(forwarded[0].body, allowedBody, 'the batch was forwarded byte for byte');
  });

  test('resources/read customer://acme/profile needs mcp:resources:customer-data:read', T, async () => {
    await stack.origin.reset();
    // mcp:resources:read (the scope of "other resources") is not a wildcard: it does not cover
    // the customer-data scope.
    const without = await connect(await stack.token(`${BASELINE} mcp:tools:* mcp:resources:read`));
    try {
      const refused = await sdkRefusal(without.client.readResource({ uri: 'customer://acme/profile' }, { timeout: 10_000 }));
      assert.equal(refused.code, 403, `${refused}`);
      expectInsufficientScope(without.answerTo('customer://acme/profile'), {
        scopes: [BASELINE, 'mcp:resources:customer-data:read'],
        names: ['resources/read'],
      });
    } finally {
      await without.close();
    }
    const reads = (await originMessages(stack.origin)).filter((m) => m.method === 'resources/read');
    assert.equal(reads.length, 0, 'the refused read never reached the origin');

    for (const scope of ['mcp:resources:customer-data:read', 'mcp:resources:*']) {
      const withScope = await connect(await stack.token(`${BASELINE} ${scope}`));
      try {
        const resource = await withScope.client.readResource({ uri: 'customer://acme/profile' }, { timeout: 10_000 });
        assert.equal(JSON.parse(resource.contents[0].text).customer, 'ACME Corp', `read with ${scope}`);
        assert.equal(withScope.answerTo('customer://acme/profile')?.status, 200);
      } finally {
        await withScope.close();
      }
    }
  });

  test('401 without a token carries scope= for the requested tool', T, async () => {
    await stack.origin.reset();
    const admin = await post(null, call('admin_reset'));
    const params = expectNoCredentialsChallenge(admin);
    assert.deepEqual(scopeSet(params.scope), new Set([BASELINE, 'mcp:tools:admin_reset']), `scope=: ${admin.headers['www-authenticate']}`);

    // First match decides: calendar_get_* is matched before the generic tool rule.
    const read = await post(null, call('calendar_get_events'));
    const readParams = expectNoCredentialsChallenge(read);
    assert.deepEqual(scopeSet(readParams.scope), new Set([BASELINE, 'mcp:tools:calendar:read']), `scope=: ${read.headers['www-authenticate']}`);

    assert.equal((await stack.origin.requests()).length, 0, 'nothing reached the origin');
  });

  test('a method no rule matches under default deny → 403 access_denied, no challenge', T, async () => {
    await stack.origin.reset();
    const token = await stack.token(`${BASELINE} mcp:tools:* mcp:resources:*`);
    const made = await post(token, request('acme/frobnicate', { level: 11 }));
    expectAccessDenied(made);
    assert.equal((await stack.origin.requests()).length, 0, 'nothing reached the origin');
  });

  test('the log line of a denied call names the rule and the missing scope', T, async () => {
    const session = await openSession(await stack.token(`${BASELINE} mcp:tools:*`));
    // Console output arrives asynchronously: pick this test's lines by the calling token's jti.
    const token = await stack.token(`${BASELINE} mcp:tools:calendar:read`);
    const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).jti;
    expectInsufficientScope(await post(token, call('admin_reset'), session), { scopes: [BASELINE, 'mcp:tools:admin_reset'] });
    const allowed = await post(token, call('calendar_get_events'), session);
    assert.equal(allowed.status, 200, allowed.text);

    const lines = await waitForLines(stack.gate, (l) => 'decision' in l && l.jti === jti, 2);
    assert.equal(lines.length, 2, `one decision line per request:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
    const [deny, allow] = lines;
    assert.equal(deny.decision, 'deny', JSON.stringify(deny));
    assert.equal(deny.status, 403, JSON.stringify(deny));
    assert.equal(deny.rule, 'any tool', `the deciding rule: ${JSON.stringify(deny)}`);
    assert.deepEqual(deny.missing, ['mcp:tools:admin_reset'], `the missing scope: ${JSON.stringify(deny)}`);
    assert.equal(allow.decision, 'allow', JSON.stringify(allow));
    assert.equal(allow.rule, 'calendar reads', `the deciding rule of an allowed call: ${JSON.stringify(allow)}`);
  });

  // From here on the tests rewrite KV `rules`, in order: changed → invalid → deleted.
  const CHANGED_RULES = (() => {
    const doc = JSON.parse(EXAMPLE_RULES);
    const listing = doc.rules.find((r) => r.name === 'public listing');
    listing.require = ['mcp:tools:list'];
    return JSON.stringify(doc, null, 2);
  })();
  let changedRulesLive = false;

  /** tools/list in an open session with `token`. */
  const listTools = (token, session) => post(token, request('tools/list'), session);

  /** Poll `probe()` every POLL_MS until `done()` holds or the bound passes; `each(snap)` checks every answer. */
  async function pollUntil({ probe, done, each = () => {}, boundMs = RULES_RELOAD_BOUND_MS }) {
    const start = Date.now();
    let last;
    while (Date.now() - start < boundMs) {
      last = await probe();
      each(last);
      if (done(last)) return { last, elapsedMs: Date.now() - start, reached: true };
      await sleep(POLL_MS);
    }
    return { last, elapsedMs: Date.now() - start, reached: false };
  }

  test('rules changed in local KV while the gate runs take effect within the bound', RELOAD_T, async (t) => {
    const full = await stack.token(`${BASELINE} mcp:tools:*`);
    const baselineOnly = await stack.token(BASELINE);
    const lister = await stack.token(`${BASELINE} mcp:tools:list`);
    const session = await openSession(full);

    const opened = await listTools(baselineOnly, session);
    assert.equal(opened.status, 200, `tools/list needs no scope under the example rules: ${opened.text}`);

    await stack.gate.kvPut('rules', CHANGED_RULES);
    const { last, elapsedMs, reached } = await pollUntil({
      probe: () => listTools(baselineOnly, session),
      done: (snap) => snap.status !== 200,
    });
    t.diagnostic(`the changed rules took effect after ${elapsedMs} ms`);
    assert.ok(reached, `tools/list still allowed ${RULES_RELOAD_BOUND_MS} ms after the rules change`);
    expectInsufficientScope(last, { scopes: [BASELINE, 'mcp:tools:list'], names: ['tools/list'] });

    // The requirement changed (not a blanket refusal): the new scope opens tools/list.
    const withScope = await listTools(lister, session);
    assert.equal(withScope.status, 200, `tools/list with mcp:tools:list: ${withScope.text}`);
    // The list itself is filtered (README "Scope-aware lists"): this token may call no tool,
    // so it sees none; a token that may call tools sees them.
    const listed = rpcMessagesOf(withScope)[0]?.result;
    assert.ok(Array.isArray(listed?.tools), `a tools/list result: ${withScope.text}`);
    assert.equal(listed.tools.length, 0, 'no tool this token could call');
    const callers = await listTools(await stack.token(`${BASELINE} mcp:tools:list mcp:tools:*`), session);
    assert.ok(rpcMessagesOf(callers)[0]?.result?.tools?.length > 0, `tools for a caller: ${callers.text}`);
    changedRulesLive = true;
  });

  /**
   * After `rules` became unusable in KV (invalid or deleted), the last valid rules (the changed
   * document) must still decide every request: nothing opens, nothing gets 503.
   */
  async function expectLastValidRules(session, tokens) {
    expectInsufficientScope(await listTools(tokens.baselineOnly, session), { scopes: [BASELINE, 'mcp:tools:list'] });
    const listed = await listTools(tokens.lister, session);
    assert.equal(listed.status, 200, `the last valid rules still allow tools/list with mcp:tools:list: ${listed.text}`);
    expectInsufficientScope(await post(tokens.calendar, call('admin_reset'), session), {
      scopes: [BASELINE, 'mcp:tools:admin_reset'],
    });
    expectAccessDenied(await post(tokens.full, request('acme/frobnicate', {}), session));
    const bodies = (await stack.origin.requests()).map((r) => r.body).join('\n');
    assert.ok(!bodies.includes('admin_reset') && !bodies.includes('acme/frobnicate'), 'no refused call reached the origin');
  }

  async function tokensForLastValid() {
    return {
      full: await stack.token(`${BASELINE} mcp:tools:* mcp:resources:*`),
      baselineOnly: await stack.token(BASELINE),
      lister: await stack.token(`${BASELINE} mcp:tools:list`),
      calendar: await stack.token(`${BASELINE} mcp:tools:calendar:read`),
    };
  }

  test('an invalid rules document written while the gate runs keeps the last valid rules', RELOAD_T, async (t) => {
    assert.ok(changedRulesLive, 'needs the changed rules of the previous test in effect');
    const tokens = await tokensForLastValid();
    const session = await openSession(tokens.full);
    await stack.origin.reset();

    // Would open everything if it were read leniently: an unknown field ("requires") in a
    // match-all rule under default "authenticated".
    const invalid = JSON.stringify({
      version: 1,
      default: 'authenticated',
      rules: [{ name: 'everything', match: {}, require: [], requires: ['mcp:tools:*'] }],
    });
    const seenBefore = eventLines(stack.gate, 'rules_invalid').length;
    await stack.gate.kvPut('rules', invalid);
    const { elapsedMs, reached } = await pollUntil({
      probe: () => listTools(tokens.baselineOnly, session),
      // Every answer while the gate re-reads KV stays closed.
      each: (snap) => expectInsufficientScope(snap, { scopes: [BASELINE, 'mcp:tools:list'] }),
      done: () => eventLines(stack.gate, 'rules_invalid').length > seenBefore,
    });
    t.diagnostic(`the gate logged the invalid document after ${elapsedMs} ms`);
    assert.ok(reached, `no rules_invalid log line ${RULES_RELOAD_BOUND_MS} ms after writing an invalid document`);
    const logged = eventLines(stack.gate, 'rules_invalid').at(-1);
    assert.match(JSON.stringify(logged), /requires/, `the log says why: ${JSON.stringify(logged)}`);

    await expectLastValidRules(session, tokens);
  });

  test('deleting the rules document after a load keeps the last valid rules too', RELOAD_T, async (t) => {
    assert.ok(changedRulesLive, 'needs the changed rules in effect');
    const tokens = await tokensForLastValid();
    const session = await openSession(tokens.full);
    await stack.origin.reset();

    const seenBefore = eventLines(stack.gate, 'rules_missing_after_load').length;
    await stack.gate.kvDelete('rules');
    const { elapsedMs, reached } = await pollUntil({
      probe: () => listTools(tokens.baselineOnly, session),
      // Authenticated mode would answer 200 here: the gate must not widen.
      each: (snap) => expectInsufficientScope(snap, { scopes: [BASELINE, 'mcp:tools:list'] }),
      done: () => eventLines(stack.gate, 'rules_missing_after_load').length > seenBefore,
    });
    t.diagnostic(`the gate noticed the deletion after ${elapsedMs} ms`);
    assert.ok(reached, `no rules_missing_after_load log line ${RULES_RELOAD_BOUND_MS} ms after deleting the document`);

    await expectLastValidRules(session, tokens);
  });

  test('no token appears anywhere in the Worker output', T, async () => {
    await sleep(500); // let the last console output arrive
    const logs = stack.gate.logs();
    assert.ok(logs.length > 0);
    assert.ok(stack.issued.length > 10, 'the tests above used many tokens');
    for (const token of stack.issued) {
      assert.ok(!logs.includes(token), 'a whole token appears in the logs');
      for (const segment of token.split('.')) {
        if (segment.length >= 16) assert.ok(!logs.includes(segment), 'a token segment appears in the logs');
      }
    }
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(logs), 'something JWT-shaped appears in the logs');
  });
});

describe('a rules document invalid from the start keeps the gate closed', { timeout: 180_000 }, () => {
  let stack;
  const { post, call, request } = client(() => stack);
  before(async () => {
    stack = await startRulesStack({ name: 'rules-invalid', rules: INVALID_FROM_START });
  });
  after(async () => {
    await stack?.stop();
  });

  test('every protected request gets 503, nothing reaches the origin, the log says why', T, async () => {
    const token = await stack.token(`${BASELINE} mcp:tools:* mcp:resources:*`);
    const bodies = [
      request('initialize', { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'x', version: '1' } }),
      request('tools/list'),
      call('echo', { text: 'x' }),
      call('admin_reset'),
    ];
    for (const body of bodies) {
      const snap = await post(token, body);
      assert.equal(snap.status, 503, `${body.method} ${body.params?.name ?? ''}: ${snap.status} ${snap.text}`);
      expectJsonError(snap);
    }
    const anonymous = await post(null, call('admin_reset'));
    assert.equal(anonymous.status, 503, `without a token: ${anonymous.status} ${anonymous.text}`);
    const stream = await snapshot(
      await fetchWithTimeout(`${stack.gate.url}/mcp`, { headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } }),
    );
    assert.equal(stream.status, 503, `GET /mcp: ${stream.text}`);

    assert.equal((await stack.origin.requests()).length, 0, 'nothing reached the origin');

    const why = await waitForLines(stack.gate, (l) => l.event === 'rules_invalid');
    assert.ok(why.length >= 1, `the invalid document is logged:\n${stack.gate.logs().slice(-3000)}`);
    assert.match(JSON.stringify(why[0]), /requires/, `the log names the bad field: ${JSON.stringify(why[0])}`);

    // Public endpoints are unaffected.
    const metadata = await fetchWithTimeout(`${stack.gate.url}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(metadata.status, 200);
    assert.equal((await metadata.json()).resource, RESOURCE);
  });
});
