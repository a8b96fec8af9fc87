// The official MCP Python SDK (`mcp` 2.x, pinned in tests/python/requirements.txt) as a client
// through the gate (issue 13): tests/python/client.py connects with the SDK's streamable HTTP
// client and an `Authorization: Bearer` header, and prints one JSON object per step.
//
// The venv comes from .ci/python-venv.sh (idempotent; fast when present). If it cannot be made
// (no python3, no route to PyPI) this file FAILS: it never skips.
//
// One gate configuration: the default settings (tests/support/stack.mjs, REQUIRE_RULES as set
// there), KV `rules` = tests/fixtures/rules.example.json, the example origin
// (tests/origin/server.mjs). Under those rules, with SPEC §4b list filtering (FILTER_LISTS, default
// true):
//   - `mcp:access mcp:tools:calendar:read` lists only the calendar read tools (`calendar_get_*`)
//     and may call them; any other tool is a step-up 403 (insufficient_scope, scope named);
//   - `mcp:access mcp:tools:*` lists and may call every tool of the origin;
//   - prompts, resources and resource templates are listed as far as the token may use them.
// The 2.x SDK speaks revision 2026-07-28 first: it probes `server/discover` (allowed by the example
// rules; the example origin refuses it) and falls back to `initialize`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ISSUER,
  METADATA_URL,
  REPO,
  REQUIRED_SCOPE,
  RESOURCE,
  defaultClaims,
  generateTestKeys,
  parseBearerChallenge,
  runProcess,
  signToken,
  startStack,
  tail,
} from '../support/index.mjs';

const EXAMPLE_RULES = readFileSync(path.join(REPO, 'tests/fixtures/rules.example.json'), 'utf8');
const VENV_SCRIPT = path.join(REPO, '.ci/python-venv.sh');
const CLIENT = path.join(REPO, 'tests/python/client.py');
const CALENDAR = `${REQUIRED_SCOPE} mcp:tools:calendar:read`;
const ALL_TOOLS = `${REQUIRED_SCOPE} mcp:tools:*`;
const T = { timeout: 90_000 };

describe('MCP Python SDK (mcp 2.x) client through the gate', { timeout: 600_000 }, () => {
  let python;
  let keys;
  let stack;
  /** Tool names of the example origin, as the Python client lists them directly (no gate). */
  let originTools;
  /** Its prompts, resources and resource templates, listed directly. */
  let originLists;

  /** Why the setup failed: every test then fails with it (node:test would only cancel them). */
  let setupError;

  before(
    async () => {
      try {
        // The venv first: a missing venv is a failure of every test below, never a skip.
        const venv = await runProcess('bash', [VENV_SCRIPT], { timeoutMs: 540_000 });
        assert.equal(venv.code, 0, `.ci/python-venv.sh failed (exit ${venv.code}):\n${tail(venv.output)}`);
        python = venv.stdout.trim().split('\n').at(-1);
        assert.ok(python && path.isAbsolute(python), `.ci/python-venv.sh printed the venv's python: ${venv.stdout}`);

        keys = await generateTestKeys();
        // startStack() with its default settings; KV holds our key set and the example rules.
        stack = await startStack({ name: 'python-sdk', kv: { jwks: keys.jwks, rules: EXAMPLE_RULES } });
      } catch (err) {
        setupError = err;
      }
    },
    { timeout: 600_000 },
  );

  after(async () => {
    await stack?.stop();
  });

  /** A valid RS256 token (our key set) granting exactly `scope`. */
  const token = (scope) =>
    signToken(keys.keys.RS256, defaultClaims({ issuer: ISSUER, audience: RESOURCE }, { scope }));

  /**
   * Run the Python client; resolves with {code, connect, steps: [...], output}.
   * `jwt` undefined sends no Authorization header.
   */
  async function py(url, jwt, steps) {
    if (setupError) throw setupError;
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
    delete env.MCP_TOKEN;
    if (jwt) env.MCP_TOKEN = jwt;
    const run = await runProcess(python, [CLIENT, '--url', url, '--timeout', '20', ...steps], {
      env,
      timeoutMs: 75_000,
    });
    const objects = [];
    for (const line of run.stdout.split('\n')) {
      if (!line.trim()) continue;
      try {
        objects.push(JSON.parse(line));
      } catch {
        assert.fail(`client printed a line that is not JSON: ${line}\n${tail(run.output)}`);
      }
    }
    const [connect, ...rest] = objects;
    assert.ok(connect?.step === 'connect', `the client reported its connection:\n${tail(run.output)}`);
    return { code: run.code, connect, steps: rest, output: run.output };
  }

  const viaGate = (jwt, steps) => py(`${stack.gate.url}/mcp`, jwt, steps);

  function expectConnected(run) {
    assert.equal(run.code, 0, `client exit status:\n${tail(run.output)}`);
    assert.equal(run.connect.ok, true, `connected: ${JSON.stringify(run.connect)}`);
    assert.equal(run.connect.server, 'mcp-gate-example-origin', 'the origin answered the handshake');
  }

  /** The step-up 403 of SPEC §5 as the SDK's HTTP client saw it. */
  function expectStepUp(step, requiredScope) {
    assert.equal(step.ok, false, `the call failed: ${JSON.stringify(step)}`);
    const refusal = step.http.find((h) => h.status === 403);
    assert.ok(refusal, `an HTTP 403 during the step: ${JSON.stringify(step.http)} (error ${JSON.stringify(step.error)})`);
    const challenge = parseBearerChallenge(refusal.www_authenticate);
    assert.ok(challenge?.wellFormed, `a well-formed Bearer challenge: ${refusal.www_authenticate}`);
    assert.equal(challenge.scheme, 'Bearer');
    assert.equal(challenge.params.error, 'insufficient_scope', refusal.www_authenticate);
    const scopes = (challenge.params.scope || '').split(' ');
    assert.ok(scopes.includes(requiredScope), `scope= names ${requiredScope}: ${refusal.www_authenticate}`);
    assert.equal(challenge.params.resource_metadata, METADATA_URL);
    assert.ok(step.error, 'the SDK surfaced an error for the refused call');
  }

  test('the Python client lists the example origin\'s tools, prompts, resources, templates directly (no gate)', T, async () => {
    const run = await py(`${stack.origin.url}/mcp`, undefined, [
      'list-tools',
      'list-prompts',
      'list-resources',
      'list-resource-templates',
    ]);
    expectConnected(run);
    const [list, prompts, resources, templates] = run.steps;
    for (const step of run.steps) assert.equal(step.ok, true, JSON.stringify(step));
    originTools = list.tools;
    originLists = { prompts: prompts.prompts, resources: resources.resources, templates: templates.templates };
    for (const name of ['echo', 'calendar_get_events', 'calendar_create_event', 'admin_reset']) {
      assert.ok(originTools.includes(name), `the example origin offers ${name}: ${originTools}`);
    }
    assert.ok(
      originTools.some((n) => n.startsWith('calendar_get_')),
      `the example origin has calendar read tools (calendar_get_*): ${originTools}`,
    );
  });

  test('connect: server/discover probe is let through, then initialize (SDK falls back)', T, async () => {
    const run = await viaGate(await token(CALENDAR), []);
    expectConnected(run);
    const methods = run.connect.exchanges.map((e) => e.rpc_method);
    assert.ok(methods.includes('initialize'), `initialize was sent: ${JSON.stringify(run.connect.exchanges)}`);
    for (const e of run.connect.exchanges) {
      assert.ok(![401, 403].includes(e.status), `the gate refused nothing during the handshake: ${JSON.stringify(e)}`);
    }
    // mcp 2.x in its default mode probes server/discover first. The example rules allow it, so
    // the answer is the origin's own (the example origin, revision 2025-11-25, refuses it with a
    // JSON-RPC error), never the gate's 401/403; the SDK then falls back to initialize.
    assert.equal(methods[0], 'server/discover', `the SDK probed server/discover first: ${JSON.stringify(run.connect.exchanges)}`);
    assert.ok(methods.indexOf('initialize') > 0, 'initialize came after the probe');
    const answer = run.connect.http.find((h) => h.rpc_method === 'server/discover');
    if (answer) assert.match(answer.body || '', /"jsonrpc"/, `the origin's JSON-RPC answer to the probe: ${answer.body}`);
    assert.match(run.connect.protocol_version, /^\d{4}-\d{2}-\d{2}$/, 'a protocol version was negotiated');
  });

  test('mcp:tools:calendar:read: tools/list shows only the calendar read tools', T, async () => {
    if (setupError) throw setupError;
    assert.ok(originTools, 'the direct listing ran first');
    const run = await viaGate(await token(CALENDAR), ['list-tools']);
    expectConnected(run);
    const [list] = run.steps;
    assert.equal(list.ok, true, JSON.stringify(list));
    const expected = originTools.filter((n) => n.startsWith('calendar_get_')).sort();
    assert.deepEqual(
      [...list.tools].sort(),
      expected,
      `SPEC §4b: a token with ${CALENDAR} sees only the tools it may call (${expected}); got ${list.tools}`,
    );
  });

  test('mcp:tools:calendar:read: calendar_get_events works; calendar_create_event and admin_reset are step-up 403s', T, async () => {
    await stack.origin.reset();
    const run = await viaGate(await token(CALENDAR), [
      'call-tool',
      'calendar_get_events',
      '{"date":"2026-02-01"}',
      'call-tool',
      'calendar_create_event',
      '{"title":"x","start":"2026-02-01T10:00:00Z"}',
      'call-tool',
      'admin_reset',
    ]);
    expectConnected(run);
    const [allowed, create, reset] = run.steps;
    assert.equal(allowed.ok, true, JSON.stringify(allowed));
    assert.notEqual(allowed.result.isError, true, JSON.stringify(allowed.result));
    assert.equal(allowed.result.structuredContent.events.length, 2);
    assert.match(allowed.result.content[0].text, /2026-02-01/);

    expectStepUp(create, 'mcp:tools:calendar_create_event');
    expectStepUp(reset, 'mcp:tools:admin_reset');

    const calls = (await stack.origin.requests())
      .filter((r) => r.path === '/mcp' && r.method === 'POST')
      .map((r) => {
        try {
          return JSON.parse(r.body);
        } catch {
          return null;
        }
      })
      .filter((m) => m?.method === 'tools/call')
      .map((m) => m.params?.name);
    assert.deepEqual(calls, ['calendar_get_events'], 'the origin saw only the allowed call');
  });

  test('mcp:tools:*: tools/list shows every tool; calling them works', T, async () => {
    if (setupError) throw setupError;
    assert.ok(originTools, 'the direct listing ran first');
    const run = await viaGate(await token(ALL_TOOLS), [
      'list-tools',
      'call-tool',
      'echo',
      '{"text":"hello from python"}',
      'call-tool',
      'calendar_create_event',
      '{"title":"Review","start":"2026-02-01T10:00:00Z"}',
    ]);
    expectConnected(run);
    const [list, echo, create] = run.steps;
    assert.equal(list.ok, true, JSON.stringify(list));
    assert.deepEqual([...list.tools].sort(), [...originTools].sort(), 'every tool of the origin is listed');
    assert.equal(echo.ok, true, JSON.stringify(echo));
    assert.deepEqual(echo.result.content, [{ type: 'text', text: 'hello from python' }]);
    assert.equal(create.ok, true, JSON.stringify(create));
    assert.match(create.result.content[0].text, /created event "Review"/);
  });

  test('prompts, resources and templates are listed as far as the token may use them', T, async () => {
    if (setupError) throw setupError;
    assert.ok(originLists, 'the direct listing ran first');
    // Under the example rules: docs://handbook needs mcp:resources:read, customer://… (the
    // template's uriTemplate included) mcp:resources:customer-data:read, a prompt mcp:prompts:<name>.
    for (const [what, expected] of [
      ['prompts', ['greeting']],
      ['resources', ['docs://handbook']],
      ['templates', []],
    ]) {
      for (const item of expected) assert.ok(originLists[what].includes(item), `the origin lists ${item}: ${originLists[what]}`);
      assert.ok(originLists[what].length > expected.length, `the origin lists more ${what} than this token may use: ${originLists[what]}`);
    }
    const steps = ['list-prompts', 'list-resources', 'list-resource-templates'];
    const partial = await viaGate(await token(`${REQUIRED_SCOPE} mcp:resources:read mcp:prompts:greeting`), steps);
    expectConnected(partial);
    const [prompts, resources, templates] = partial.steps;
    for (const step of partial.steps) assert.equal(step.ok, true, JSON.stringify(step));
    assert.deepEqual(prompts.prompts, ['greeting']);
    assert.deepEqual(resources.resources, ['docs://handbook']);
    assert.deepEqual(templates.templates, []);

    const calendar = await viaGate(await token(CALENDAR), steps);
    expectConnected(calendar);
    assert.deepEqual(
      calendar.steps.map((st) => [st.ok, st.prompts ?? st.resources ?? st.templates]),
      [
        [true, []],
        [true, []],
        [true, []],
      ],
      `a calendar-only token sees no prompt, resource or template: ${JSON.stringify(calendar.steps)}`,
    );

    const all = await viaGate(await token(`${REQUIRED_SCOPE} mcp:resources:* mcp:prompts:*`), steps);
    expectConnected(all);
    assert.deepEqual(all.steps[0].prompts.sort(), [...originLists.prompts].sort());
    assert.deepEqual(all.steps[1].resources.sort(), [...originLists.resources].sort());
    assert.deepEqual(all.steps[2].templates.sort(), [...originLists.templates].sort());
  });

  test('REQUIRED_SCOPES only: connects, lists no tool, any call is a step-up 403', T, async () => {
    const run = await viaGate(await token(REQUIRED_SCOPE), ['list-tools', 'call-tool', 'echo', '{"text":"x"}']);
    expectConnected(run);
    const [list, echo] = run.steps;
    assert.equal(list.ok, true, JSON.stringify(list));
    assert.deepEqual(list.tools, [], `no tool may be called, so none is listed: ${list.tools}`);
    expectStepUp(echo, 'mcp:tools:echo');
  });

  test('no token: the SDK cannot connect; the gate answered 401 with resource_metadata', T, async () => {
    const run = await viaGate(undefined, ['list-tools']);
    assert.equal(run.code, 1, `client exit status:\n${tail(run.output)}`);
    assert.equal(run.connect.ok, false, JSON.stringify(run.connect));
    const refusal = run.connect.http.find((h) => h.status === 401);
    assert.ok(refusal, `an HTTP 401: ${JSON.stringify(run.connect.http)}`);
    const challenge = parseBearerChallenge(refusal.www_authenticate);
    assert.equal(challenge?.scheme, 'Bearer', refusal.www_authenticate);
    assert.equal(challenge.params.resource_metadata, METADATA_URL);
    assert.equal(challenge.params.error, undefined, 'no error attribute without credentials');
  });
});
