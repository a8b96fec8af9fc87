// Scope-aware lists (README "Scope-aware lists"): through the built Worker, a real MCP client
// (the official TypeScript SDK) sees in tools/list, prompts/list, resources/list and
// resources/templates/list only what its token may use under the example rules — over SSE
// answers (the example origin's default) and over JSON answers (JSON_RESPONSE=1). Raw HTTP
// checks the private cache markers, the Content-Length of a rewritten JSON body, the log's
// `filtered` count, and that a streaming tools/call still streams.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  REPO,
  REQUIRED_SCOPE,
  fetchWithTimeout,
  readChunksTimed,
  sseEventsTimed,
  startStack,
} from '../support/index.mjs';

const T = { timeout: 60_000 };
const EXAMPLE_RULES = readFileSync(path.join(REPO, 'tests/fixtures/rules.example.json'), 'utf8');
const ALL_TOOLS = ['admin_reset', 'calendar_create_event', 'calendar_get_events', 'echo', 'slow_count', 'whoami'];
const PROTOCOL_VERSION = '2025-06-18';

const sorted = (items) => [...items].sort();

for (const form of ['sse', 'json']) {
  describe(`scope-aware lists, ${form} answers`, { timeout: 300_000 }, () => {
    let stack;
    before(async () => {
      stack = await startStack({
        name: `lists-${form}`,
        originEnv: form === 'json' ? { JSON_RESPONSE: '1' } : {},
      });
      await stack.gate.kvPut('rules', EXAMPLE_RULES);
    });
    after(async () => {
      await stack?.stop();
    });

    async function connect(scope) {
      const token = await stack.token({ claims: { scope: `${REQUIRED_SCOPE} ${scope}`.trim() } });
      const transport = new StreamableHTTPClientTransport(new URL(`${stack.gate.url}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
        reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
      });
      const client = new Client({ name: 'mcp-gate-e2e-lists', version: '1.0.0' });
      await client.connect(transport, { timeout: 15_000 });
      return {
        client,
        token,
        transport,
        /** POSTs one JSON-RPC message in this session, as the SDK would, and returns the response. */
        post: (message) =>
          fetchWithTimeout(`${stack.gate.url}/mcp`, {
            method: 'POST',
            headers: {
              Authorization: `Bearer ${token}`,
              'Content-Type': 'application/json',
              Accept: 'application/json, text/event-stream',
              'Mcp-Session-Id': transport.sessionId,
              'MCP-Protocol-Version': PROTOCOL_VERSION,
            },
            body: JSON.stringify(message),
          }),
        async close() {
          await transport.terminateSession().catch(() => {});
          await client.close().catch(() => {});
        },
      };
    }

    async function seen(scope) {
      const session = await connect(scope);
      try {
        const opts = { timeout: 10_000 };
        return {
          tools: sorted((await session.client.listTools(undefined, opts)).tools.map((t) => t.name)),
          prompts: sorted((await session.client.listPrompts(undefined, opts)).prompts.map((p) => p.name)),
          resources: sorted((await session.client.listResources(undefined, opts)).resources.map((r) => r.uri)),
          templates: sorted(
            (await session.client.listResourceTemplates(undefined, opts)).resourceTemplates.map((t) => t.uriTemplate),
          ),
        };
      } finally {
        await session.close();
      }
    }

    test('mcp:tools:calendar:read sees only the calendar read tools; mcp:tools:* sees every tool', T, async () => {
      assert.deepEqual((await seen('mcp:tools:calendar:read')).tools, ['calendar_get_events']);
      assert.deepEqual((await seen('mcp:tools:*')).tools, ALL_TOOLS);
      assert.deepEqual((await seen('mcp:tools:echo mcp:tools:whoami')).tools, ['echo', 'whoami']);
      assert.deepEqual((await seen('')).tools, []);
    });

    test('prompts, resources and resource templates are filtered by the rules of their use', T, async () => {
      const narrow = await seen('mcp:prompts:greeting mcp:resources:customer-data:read');
      assert.deepEqual(narrow.prompts, ['greeting']);
      assert.deepEqual(narrow.resources, ['customer://acme/profile']);
      assert.deepEqual(narrow.templates, ['customer://{customer}/orders']);
      const other = await seen('mcp:prompts:summary mcp:resources:read');
      assert.deepEqual(other.prompts, ['summary']);
      assert.deepEqual(other.resources, ['docs://handbook']);
      assert.deepEqual(other.templates, [], 'the template is a customer:// URI: the customer data rule decides');
      const wide = await seen('mcp:prompts:* mcp:resources:*');
      assert.deepEqual(wide.prompts, ['greeting', 'summary']);
      assert.deepEqual(wide.resources, ['customer://acme/profile', 'docs://handbook']);
      assert.deepEqual(wide.templates, ['customer://{customer}/orders']);
    });

    test('a filtered answer is private to the token, counted in the log, with a correct length', T, async () => {
      const session = await connect('mcp:tools:calendar:read');
      try {
        const res = await session.post({ jsonrpc: '2.0', id: 'list-7', method: 'tools/list', params: {} });
        assert.equal(res.status, 200);
        assert.match(res.headers.get('cache-control') || '', /\bprivate\b/);
        const type = res.headers.get('content-type') || '';
        let message;
        if (form === 'json') {
          assert.match(type, /^application\/json/);
          const bytes = new Uint8Array(await res.arrayBuffer());
          const length = res.headers.get('content-length');
          if (length !== null) assert.equal(Number(length), bytes.length, 'Content-Length of the rewritten body');
          message = JSON.parse(new TextDecoder().decode(bytes));
        } else {
          assert.match(type, /^text\/event-stream/);
          const events = sseEventsTimed(await readChunksTimed(res, 15_000)).filter((e) => e.data);
          message = events.map((e) => JSON.parse(e.data)).find((m) => m.id === 'list-7');
        }
        assert.equal(message.id, 'list-7');
        assert.equal(message.result.cacheScope, 'private');
        assert.deepEqual(message.result.tools.map((t) => t.name), ['calendar_get_events']);
        assert.ok(message.result.tools[0].inputSchema, 'the kept entries are whole');
      } finally {
        await session.close();
      }
      // The log line of that list request counts what was removed.
      let line;
      for (let i = 0; i < 20 && !line; i++) {
        line = stack.gate.jsonLogs().find((l) => l.rpc_method === 'tools/list' && l.filtered === ALL_TOOLS.length - 1);
        if (!line) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(line, `a log line with filtered=${ALL_TOOLS.length - 1}`);
      assert.equal(line.decision, 'allow');
    });

    test('requests that are not list requests stream through untouched', T, async () => {
      const session = await connect('mcp:tools:*');
      try {
        const res = await session.post({
          jsonrpc: '2.0',
          id: 9,
          method: 'tools/call',
          params: { name: 'slow_count', arguments: { count: 4, interval_ms: 400 }, _meta: { progressToken: 'p9' } },
        });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('cache-control')?.includes('private') ?? false, false, 'no private marker on a call');
        if (form === 'json') {
          const body = await res.json();
          assert.deepEqual(body.result.content, [{ type: 'text', text: 'counted to 4' }]);
          return;
        }
        const events = sseEventsTimed(await readChunksTimed(res, 20_000)).filter((e) => e.data);
        assert.ok(events.length >= 5, `progress events and the result: ${events.length}`);
        const first = events[0].at;
        const last = events[events.length - 1].at;
        assert.ok(last - first >= 1000, `the first event arrived ${Math.round(last - first)} ms before the last`);
      } finally {
        await session.close();
      }
    });
  });
}
