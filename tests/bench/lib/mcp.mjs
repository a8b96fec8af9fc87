// The MCP requests the benchmark sends: one session per target (initialize once, then the
// cheap `ping` request — or, in the `tools-call` mode, a call of the origin's `echo` tool —
// each with its own JSON-RPC id so concurrent requests on one session never collide in the
// origin's stream mapping).

import { rawRequest } from '../../support/http.mjs';

export const MCP_PATH = '/mcp';
export const PROTOCOL_VERSION = '2025-06-18';

export const baseHeaders = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': PROTOCOL_VERSION,
};

export const pingBody = (id) => `{"jsonrpc":"2.0","id":${id},"method":"ping"}`;

/** A tools/call of the example origin's `echo` tool (tests/origin/server.mjs), which answers `ECHO_TEXT`. */
export const ECHO_TEXT = 'bench';
export const callBody = (id) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"${ECHO_TEXT}"}}}`;

/** A tools/list (used once per gate to check whether list filtering is on). */
export const toolsListBody = (id) => `{"jsonrpc":"2.0","id":${id},"method":"tools/list"}`;

const flat = (obj) => Object.entries(obj);

/** The JSON-RPC message of a JSON or single-event SSE response body. */
export function rpcResult(text) {
  const data = text.includes('data:')
    ? text
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trim())
        .join('')
    : text;
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

/** POST one JSON-RPC message to `url` + /mcp; returns {status, headers, body, ms}. */
export async function post(url, body, { token, session, timeoutMs = 10_000 } = {}) {
  const headers = { ...baseHeaders };
  if (token) headers.authorization = `Bearer ${token}`;
  if (session) headers['mcp-session-id'] = session;
  const started = performance.now();
  const res = await rawRequest(`${url}${MCP_PATH}`, { method: 'POST', headers: flat(headers), body, timeoutMs });
  return { ...res, ms: performance.now() - started };
}

/**
 * Open an MCP session through `url` (a gate, the pass-through or the origin) with `token`.
 * Throws with the response when anything is not as an MCP client expects.
 */
export async function openSession(url, token, what) {
  const init = await post(
    url,
    JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-gate-bench', version: '1' } },
    }),
    { token },
  );
  const session = init.headers['mcp-session-id'];
  if (init.status !== 200 || !session || !rpcResult(init.body)?.result) {
    throw new Error(`${what}: initialize answered ${init.status} (session ${session ?? 'none'}): ${init.body.slice(0, 300)}`);
  }
  const note = await post(url, '{"jsonrpc":"2.0","method":"notifications/initialized"}', { token, session });
  if (note.status !== 202 && note.status !== 200) {
    throw new Error(`${what}: notifications/initialized answered ${note.status}: ${note.body.slice(0, 300)}`);
  }
  const ping = await post(url, pingBody(1), { token, session });
  if (ping.status !== 200 || !rpcResult(ping.body)?.result) {
    throw new Error(`${what}: ping answered ${ping.status}: ${ping.body.slice(0, 300)}`);
  }
  return session;
}
