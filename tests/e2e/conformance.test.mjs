// The official MCP conformance suite (npm @modelcontextprotocol/conformance) as a peer test suite:
// every server scenario of `conformance list` runs DIRECTLY against the example origin
// (tests/origin/server.mjs) and THROUGH the gate, and whatever conforms directly must still
// conform through the gate. The suite's own example "everything" server lives in another
// repository, so many scenarios fail directly (the example origin has no `test_*` tools,
// resources or prompts); those are reported, not asserted.
//
// Configuration (one wrangler dev start): the default settings (tests/support/stack.mjs), KV
// `rules` = tests/fixtures/rules.example.json, ALLOWED_ORIGINS += the local proxy's origin. The
// suite's client sends no Authorization header, so a loopback proxy (tests/support/conformance.mjs)
// adds `Authorization: Bearer <token>` with every scope the example rules ask for, and forwards
// everything else — Host and Origin included — streaming both ways. The DNS-rebinding scenario
// sends Host/Origin `evil.example.com` (must be refused with a 4xx) and Host/Origin of the URL it
// was given (must be accepted): the gate's own origin is the origin of RESOURCE
// (https://mcp.example.test), so the proxy's origin http://127.0.0.1:<port> is allowed by
// ALLOWED_ORIGINS, as a local MCP client's would be.
//
// Needs Node >= 22 (node_modules/.bin first on PATH). About 2–3 minutes: scenarios run one at a
// time, ~1.5 s each, twice. CONFORMANCE_SCENARIOS="name …" runs only the named scenarios.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  ALLOWED_BROWSER_ORIGIN,
  ISSUER,
  REPO,
  RESOURCE,
  TMP,
  defaultClaims,
  generateTestKeys,
  signToken,
  startStack,
} from '../support/index.mjs';
import {
  conformanceInstalled,
  listServerScenarios,
  runServerScenario,
  startBearerProxy,
} from '../support/conformance.mjs';

const EXAMPLE_RULES = readFileSync(path.join(REPO, 'tests/fixtures/rules.example.json'), 'utf8');
// Every scope the example rules can ask for: tools, prompts, resources (customer data included).
const FULL_SCOPE = [
  'mcp:access',
  'mcp:tools:*',
  'mcp:resources:*',
  'mcp:prompts:*',
  'mcp:resources:read',
  'mcp:resources:customer-data:read',
].join(' ');
const DNS_REBINDING = 'dns-rebinding-protection';

describe('MCP conformance suite: directly against the example origin and through the gate', { timeout: 900_000 }, () => {
  let stack;
  let proxy;
  let scenarios;
  const outRoot = path.join(TMP, `conformance-${process.pid}`);
  /** @type {Map<string, Awaited<ReturnType<typeof runServerScenario>>>} */
  const direct = new Map();
  /** @type {Map<string, Awaited<ReturnType<typeof runServerScenario>>>} */
  const gated = new Map();

  /** Why the setup failed: every test then fails with it (node:test would only cancel them). */
  let setupError;
  const ready = () => {
    if (setupError) throw setupError;
  };

  before(async () => {
    try {
      assert.ok(
        conformanceInstalled(),
        'node_modules/.bin/conformance is missing: npm ci (devDependency @modelcontextprotocol/conformance)',
      );
      scenarios = await listServerScenarios();
      // CONFORMANCE_SCENARIOS="a b" runs only those (for debugging one scenario).
      const only = (process.env.CONFORMANCE_SCENARIOS || '').split(/[\s,]+/).filter(Boolean);
      if (only.length) scenarios = scenarios.filter((s) => only.includes(s));
      mkdirSync(outRoot, { recursive: true });

      const keys = await generateTestKeys();
      // The proxy first: its origin goes into ALLOWED_ORIGINS (the DNS-rebinding scenario's
      // "valid localhost Origin" case), then the gate, then the proxy learns where the gate is.
      const token = await signToken(
        keys.keys.RS256,
        defaultClaims({ issuer: ISSUER, audience: RESOURCE }, { scope: FULL_SCOPE, exp: Math.floor(Date.now() / 1000) + 3600 }),
      );
      proxy = await startBearerProxy({ token });
      stack = await startStack({
        name: 'conformance',
        vars: (_originUrl, defaults) => ({ ...defaults, ALLOWED_ORIGINS: `${ALLOWED_BROWSER_ORIGIN} ${proxy.url}` }),
        kv: { jwks: keys.jwks, rules: EXAMPLE_RULES },
      });
      proxy.setTarget(stack.gate.url);
    } catch (err) {
      setupError = err;
    }
  });

  after(async () => {
    await Promise.allSettled([stack?.stop(), proxy?.stop()]);
    if (!process.env.E2E_KEEP_TMP) rmSync(outRoot, { recursive: true, force: true });
  });

  const line = (r) =>
    `${r.pass ? 'pass' : 'FAIL'} ${r.scenario} (${r.ms} ms)${r.failures.length ? `: ${r.failures.join('; ')}` : ''}`;

  test('every server scenario directly against the example origin', { timeout: 400_000 }, async (t) => {
    ready();
    for (const scenario of scenarios) {
      const r = await runServerScenario({
        url: `${stack.origin.url}/mcp`,
        scenario,
        outDir: path.join(outRoot, 'direct', scenario),
      });
      direct.set(scenario, r);
      t.diagnostic(`direct  ${line(r)}`);
    }
    assert.equal(direct.size, scenarios.length);
    // The suite must have run at all: the example origin answers initialize, ping, tools/list.
    for (const basic of ['server-initialize', 'ping', 'tools-list'].filter((s) => scenarios.includes(s))) {
      assert.ok(direct.get(basic).pass, `${basic} passes directly: ${direct.get(basic).failures.join('; ')}`);
    }
  });

  test('every server scenario through the gate (bearer proxy → gate → example origin)', { timeout: 400_000 }, async (t) => {
    ready();
    for (const scenario of scenarios) {
      const r = await runServerScenario({
        url: `${proxy.url}/mcp`,
        scenario,
        outDir: path.join(outRoot, 'gate', scenario),
      });
      gated.set(scenario, r);
      t.diagnostic(`gate    ${line(r)}`);
    }
    assert.equal(gated.size, scenarios.length);
    assert.ok(proxy.requests() > 0, 'the scenarios went through the proxy');
  });

  test('every scenario that passes directly also passes through the gate', () => {
    ready();
    assert.ok(direct.size > 0 && gated.size > 0, 'both runs happened');
    const directPass = scenarios.filter((s) => direct.get(s)?.pass);
    const gatePass = scenarios.filter((s) => gated.get(s)?.pass);
    const lost = directPass.filter((s) => !gated.get(s)?.pass);
    const gained = gatePass.filter((s) => !direct.get(s)?.pass);
    const summary = `conformance: ${scenarios.length} scenarios, ${directPass.length} pass directly, ${gatePass.length} pass through the gate`;
    console.log(summary);
    console.log(`conformance: pass directly: ${directPass.join(', ') || '(none)'}`);
    if (gained.length) console.log(`conformance: pass only through the gate: ${gained.join(', ')}`);
    for (const s of scenarios.filter((x) => !direct.get(x)?.pass)) {
      console.log(`conformance: fails directly: ${s}: ${direct.get(s)?.failures.join('; ')}`);
    }
    assert.deepEqual(
      lost,
      [],
      `${summary}; passing directly but failing through the gate: ${lost
        .map((s) => `${s} [${gated.get(s).failures.join('; ')}]`)
        .join(', ')}`,
    );
  });

  test('every check has the same verdict through the gate as directly (the gate changes nothing else)', () => {
    ready();
    assert.ok(direct.size > 0 && gated.size > 0, 'both runs happened');
    // Per check id: SUCCESS / FAILURE / WARNING / INFO. DNS rebinding is the one scenario where the
    // gate is meant to differ (SPEC §4a.9: it refuses the foreign Origin the example origin accepts).
    const verdicts = (r) =>
      r.checks
        .map((c) => `${c.id}=${c.status}`)
        .sort()
        .join(' ');
    const differ = scenarios
      .filter((s) => s !== DNS_REBINDING)
      .filter((s) => verdicts(direct.get(s)) !== verdicts(gated.get(s)))
      .map((s) => `${s}: directly [${verdicts(direct.get(s))}], through the gate [${verdicts(gated.get(s))}] ${gated.get(s).failures.join('; ')}`);
    assert.deepEqual(differ, [], `scenarios whose checks differ through the gate:\n${differ.join('\n')}`);
  });

  test(`${DNS_REBINDING}: the gate refuses a foreign Host/Origin and accepts an allowed local Origin (SPEC §4a.9)`, (t) => {
    ready();
    if (!scenarios.includes(DNS_REBINDING)) {
      t.skip(`this suite version has no ${DNS_REBINDING} scenario`);
      return;
    }
    const r = gated.get(DNS_REBINDING);
    assert.ok(r, 'the scenario ran through the gate');
    assert.ok(r.pass, `${DNS_REBINDING} through the gate: ${r.failures.join('; ')}`);
  });
});
