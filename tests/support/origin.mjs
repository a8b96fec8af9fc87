// Start the example origin MCP server (tests/origin/server.mjs) for a test file.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess } from './process.mjs';
import { fetchWithTimeout } from './http.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ORIGIN_SERVER = path.resolve(here, '../origin/server.mjs');

/**
 * @returns {Promise<{url: string, port: number, requests: () => Promise<object[]>, reset: () => Promise<void>,
 *   output: () => string, stop: () => Promise<void>}>}
 */
export async function startOrigin({ port = 0, env = {} } = {}) {
  const proc = startProcess(process.execPath, [ORIGIN_SERVER], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
  });
  const match = await proc.waitFor(
    (out) => out.match(/origin listening on (http:\/\/127\.0\.0\.1:(\d+))/),
    15_000,
    'the origin to listen',
  );
  const url = match[1];
  return {
    url,
    port: Number(match[2]),
    /** Requests the origin received (oldest first), debug endpoints excluded. */
    async requests() {
      const res = await fetchWithTimeout(`${url}/__requests`, {}, 5000);
      return res.json();
    },
    async reset() {
      await fetchWithTimeout(`${url}/__reset`, { method: 'POST' }, 5000);
    },
    output: proc.output,
    stop: () => proc.stop(2000),
  };
}
