// Start the origins of the request-hygiene tests (SPEC §4a) for a test file, the way origin.mjs
// starts the example origin: tests/origin/sdk-express.mjs (the MCP SDK's createMcpExpressApp(),
// stateless) and tests/origin/caseless.mjs (JSON member names read case-insensitively). Both
// record what they received and what they "executed".

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess } from './process.mjs';
import { fetchWithTimeout } from './http.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SDK_EXPRESS_ORIGIN_SERVER = path.resolve(here, '../origin/sdk-express.mjs');
export const CASELESS_ORIGIN_SERVER = path.resolve(here, '../origin/caseless.mjs');

/**
 * @typedef {object} RecordingOrigin
 * @property {string} url
 * @property {number} port
 * @property {() => Promise<object[]>} requests  requests received (oldest first), debug endpoints excluded
 * @property {() => Promise<any[]>} executed     what it executed (sdk-express: tool names;
 *                                               caseless: {method, name} objects)
 * @property {() => Promise<void>} reset         forget both
 * @property {() => string} output
 * @property {() => Promise<void>} stop
 */

/** @returns {Promise<RecordingOrigin>} */
async function startRecordingOrigin(script, label, { port = 0, env = {} } = {}) {
  const proc = startProcess(process.execPath, [script], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
  });
  const listening = new RegExp(`${label} origin listening on (http://127\\.0\\.0\\.1:(\\d+))`);
  const match = await proc.waitFor((out) => out.match(listening), 15_000, `the ${label} origin to listen`);
  const url = match[1];
  const getJson = async (p) => {
    const res = await fetchWithTimeout(`${url}${p}`, {}, 5000);
    if (!res.ok) throw new Error(`${label} origin ${p}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  return {
    url,
    port: Number(match[2]),
    requests: () => getJson('/__requests'),
    executed: () => getJson('/__executed'),
    async reset() {
      const res = await fetchWithTimeout(`${url}/__reset`, { method: 'POST' }, 5000);
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${label} origin /__reset: ${res.status}`);
    },
    output: proc.output,
    stop: () => proc.stop(2000),
  };
}

/** The MCP SDK Express origin (stateless; tools ping_tool, calendar_get_events, delete_everything). */
export const startSdkExpressOrigin = (options) => startRecordingOrigin(SDK_EXPRESS_ORIGIN_SERVER, 'sdk-express', options);

/** The case-insensitive JSON-RPC origin. */
export const startCaselessOrigin = (options) => startRecordingOrigin(CASELESS_ORIGIN_SERVER, 'caseless', options);
