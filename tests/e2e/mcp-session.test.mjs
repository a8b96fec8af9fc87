// A real MCP client session (official SDK: Client + StreamableHTTPClientTransport) through the
// gate to the real MCP origin, with RS256, PS256, ES256 and EdDSA tokens; SSE streaming proof;
// Mcp-Session-Id round trip.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ISSUER,
  REQUIRED_SCOPE,
  fetchWithTimeout,
  readChunksTimed,
  snapshot,
  sseEventsTimed,
  startStack,
} from '../support/index.mjs';

const T = { timeout: 45_000 };
const PROTOCOL_VERSION = '2025-06-18';

describe('MCP session through the gate', { timeout: 240_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({ name: 'mcp-session' });
  });
  after(async () => {
    await stack?.stop();
  });

  async function connect(token) {
    const transport = new StreamableHTTPClientTransport(new URL(`${stack.gate.url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
      reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
    });
    const client = new Client({ name: 'mcp-gate-e2e', version: '1.0.0' });
    await client.connect(transport, { timeout: 15_000 });
    return { client, transport };
  }

  async function close({ client, transport }) {
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }

  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
    test(`${alg}: initialize, tools/list, tools/call, streaming tool, resource, prompt`, T, async () => {
      await stack.origin.reset();
      const token = await stack.token({ alg, claims: { sub: `user-${alg}` } });
      const session = await connect(token);
      const { client, transport } = session;
      try {
        assert.equal(client.getServerVersion()?.name, 'mcp-gate-example-origin');
        assert.ok(transport.sessionId, 'the origin assigned an Mcp-Session-Id that reached the client');

        const tools = (await client.listTools(undefined, { timeout: 10_000 })).tools.map((t) => t.name);
        for (const name of ['echo', 'calendar_get_events', 'calendar_create_event', 'admin_reset', 'slow_count']) {
          assert.ok(tools.includes(name), `tools/list includes ${name}: ${tools}`);
        }

        const echoed = await client.callTool({ name: 'echo', arguments: { text: `hello ${alg}` } }, undefined, {
          timeout: 10_000,
        });
        assert.deepEqual(echoed.content, [{ type: 'text', text: `hello ${alg}` }]);

        const who = await client.callTool({ name: 'whoami', arguments: {} }, undefined, { timeout: 10_000 });
        const identity = who.structuredContent.headers;
        assert.equal(identity['x-mcp-auth-subject'], `user-${alg}`);
        assert.equal(identity['x-mcp-auth-issuer'], ISSUER);
        assert.equal(identity['x-mcp-auth-client-id'], 'client-e2e');
        assert.ok(identity['x-mcp-auth-scopes'].split(' ').includes(REQUIRED_SCOPE), identity['x-mcp-auth-scopes']);

        const progress = [];
        const counted = await client.callTool(
          { name: 'slow_count', arguments: { count: 3, interval_ms: 100 } },
          undefined,
          { timeout: 15_000, onprogress: (p) => progress.push(p.progress) },
        );
        assert.deepEqual(counted.content, [{ type: 'text', text: 'counted to 3' }]);
        assert.deepEqual(progress, [1, 2, 3], 'every progress notification arrived, in order');

        const resource = await client.readResource({ uri: 'customer://acme/profile' }, { timeout: 10_000 });
        assert.equal(JSON.parse(resource.contents[0].text).customer, 'ACME Corp');

        const prompt = await client.getPrompt({ name: 'greeting', arguments: { name: 'Ada' } }, { timeout: 10_000 });
        assert.match(prompt.messages[0].content.text, /Ada/);

        // What the origin saw: one session, carried on every request after initialize.
        const seen = (await stack.origin.requests()).filter((r) => r.path === '/mcp');
        assert.ok(seen.length >= 6, `origin saw ${seen.length} MCP requests`);
        const sessionIds = new Set(seen.slice(1).map((r) => r.headers['mcp-session-id']));
        assert.deepEqual([...sessionIds], [transport.sessionId], 'Mcp-Session-Id round trip');
        const versions = new Set(seen.slice(1).map((r) => r.headers['mcp-protocol-version']).filter(Boolean));
        assert.equal(versions.size, 1, `MCP-Protocol-Version reached the origin: ${[...versions]}`);
        for (const r of seen) {
          assert.ok(!JSON.stringify(r.headers).includes(token), 'the client token never reaches the origin');
        }
      } finally {
        await close(session);
      }
      const deletes = (await stack.origin.requests()).filter((r) => r.method === 'DELETE' && r.path === '/mcp');
      assert.equal(deletes.length, 1, 'session termination (DELETE) was forwarded');
    });
  }

  test('SDK client: progress of a slow tool arrives while the tool is still running', T, async () => {
    const session = await connect(await stack.token());
    try {
      const start = performance.now();
      const arrivals = [];
      const result = await session.client.callTool(
        { name: 'slow_count', arguments: { count: 5, interval_ms: 400 } },
        undefined,
        { timeout: 20_000, onprogress: () => arrivals.push(performance.now()) },
      );
      const done = performance.now();
      assert.equal(arrivals.length, 5);
      // The origin spends 4 × 400 ms between the first and the last progress and 400 ms more
      // before the result. Buffering anywhere would deliver them all together at the end.
      const spread = arrivals[4] - arrivals[0];
      assert.ok(spread >= 1000, `progress events spread over ${Math.round(spread)} ms (expected ~1600)`);
      assert.ok(done - arrivals[0] >= 1400, `first progress ${Math.round(done - arrivals[0])} ms before the result`);
      assert.ok(arrivals[0] - start < done - start - 1400, 'the first event arrived long before the last');
      assert.deepEqual(result.content, [{ type: 'text', text: 'counted to 5' }]);
    } finally {
      await close(session);
    }
  });

  describe('raw HTTP: SSE response streamed unbuffered, session headers both ways', () => {
    const base = () => stack.gate.url;
    const mcpHeaders = (token, extra = {}) => ({
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...extra,
    });

    test('initialize → Mcp-Session-Id; tools/call slow_count streams events as they are produced', T, async () => {
      await stack.origin.reset();
      const token = await stack.token();
      const init = await fetchWithTimeout(`${base()}/mcp`, {
        method: 'POST',
        headers: mcpHeaders(token),
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
        }),
      });
      assert.equal(init.status, 200, await init.clone().text());
      const sessionId = init.headers.get('mcp-session-id');
      assert.ok(sessionId, 'Mcp-Session-Id came back through the gate');
      await init.text();

      const initialized = await fetchWithTimeout(`${base()}/mcp`, {
        method: 'POST',
        headers: mcpHeaders(token, { 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION }),
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      });
      assert.equal(initialized.status, 202);
      await initialized.text();

      const start = performance.now();
      const call = await fetchWithTimeout(
        `${base()}/mcp`,
        {
          method: 'POST',
          headers: mcpHeaders(token, { 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION }),
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 2,
            method: 'tools/call',
            params: { name: 'slow_count', arguments: { count: 5, interval_ms: 400 }, _meta: { progressToken: 'p1' } },
          }),
        },
        20_000,
      );
      assert.equal(call.status, 200);
      assert.match(call.headers.get('content-type') || '', /text\/event-stream/);
      const events = sseEventsTimed(await readChunksTimed(call, 15_000));
      const messages = events.map((e) => ({ at: e.at, msg: JSON.parse(e.data) }));
      const progress = messages.filter((m) => m.msg.method === 'notifications/progress');
      const final = messages.find((m) => m.msg.id === 2);
      assert.equal(progress.length, 5, `5 progress events: ${events.map((e) => e.data).join(' | ')}`);
      assert.ok(final, 'the result arrived');
      const first = progress[0].at - start;
      const last = final.at - start;
      assert.ok(last - first >= 1400, `first event at ${Math.round(first)} ms, result at ${Math.round(last)} ms`);
      const distinct = new Set(progress.map((p) => Math.round(p.at / 100)));
      assert.ok(distinct.size >= 4, 'events arrived at distinct times, not in one burst');

      const seen = (await stack.origin.requests()).filter((r) => r.path === '/mcp');
      assert.equal(seen.at(-1).headers['mcp-session-id'], sessionId, 'Mcp-Session-Id reached the origin');
      assert.equal(seen.at(-1).headers['mcp-protocol-version'], PROTOCOL_VERSION, 'MCP-Protocol-Version reached the origin');

      const del = await fetchWithTimeout(`${base()}/mcp`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${token}`, 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION },
      });
      assert.equal(del.status, 200, 'DELETE ends the session at the origin');
      await del.text();
    });

    test('a non-MCP SSE stream from the origin is relayed event by event', T, async () => {
      const token = await stack.token();
      const start = performance.now();
      const res = await fetchWithTimeout(
        `${base()}/__stream?n=5&interval_ms=400`,
        { headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } },
        20_000,
      );
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') || '', /text\/event-stream/);
      const events = sseEventsTimed(await readChunksTimed(res, 15_000));
      assert.deepEqual(
        events.map((e) => e.id),
        ['1', '2', '3', '4', '5'],
      );
      const first = events[0].at - start;
      const last = events[4].at - start;
      assert.ok(last - first >= 1000, `first event at ${Math.round(first)} ms, last at ${Math.round(last)} ms (origin spaces them 400 ms apart)`);
    });

    test('an unknown Mcp-Session-Id is answered by the origin (404 passes through)', T, async () => {
      const token = await stack.token();
      const res = await snapshot(
        await fetchWithTimeout(`${base()}/mcp`, {
          method: 'POST',
          headers: mcpHeaders(token, { 'Mcp-Session-Id': 'no-such-session' }),
          body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
        }),
      );
      assert.equal(res.status, 404, res.text);
    });

    test('Last-Event-ID is forwarded to the origin', T, async () => {
      await stack.origin.reset();
      const token = await stack.token();
      const res = await fetchWithTimeout(`${base()}/__echo?case=last-event-id`, {
        headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': 'evt-42' },
      });
      assert.equal(res.status, 200);
      await res.text();
      const [seen] = await stack.origin.requests();
      assert.equal(seen.headers['last-event-id'], 'evt-42');
    });
  });
});
