// Time to the first response of a freshly started workerd: spawn → listening (workerd has
// compiled the Worker and run its top level), then the wall time of each of the first requests
// the new isolate serves. Requests go over node:http (already warmed up by the caller), each
// with a token never seen before, so no verified-token cache can answer them.

import { startWorkerd } from './workerd.mjs';
import { pingBody, post } from './mcp.mjs';

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};
const r2 = (x) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);

/**
 * @param {object} o
 * @param {string} o.configFile
 * @param {string} o.logFile
 * @param {Array<{label: string, token?: () => string, expect: number}>} o.sequence  requests in order
 * @param {string} o.session   MCP session id at the origin
 * @param {number} o.reps
 */
export async function coldStart({ configFile, logFile, sequence, session, reps }) {
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    const w = await startWorkerd(configFile, { logFile });
    try {
      const run = { listenMs: w.listeningAt - w.spawnedAt, requests: [] };
      for (const [i, step] of sequence.entries()) {
        const res = await post(w.url, pingBody(1000 + i), { token: step.token?.(), session });
        if (res.status !== step.expect) {
          throw new Error(`cold start "${step.label}": expected ${step.expect}, got ${res.status}: ${res.body.slice(0, 200)}`);
        }
        run.requests.push({ label: step.label, ms: res.ms, sinceSpawnMs: performance.now() - w.spawnedAt });
      }
      runs.push(run);
    } finally {
      await w.stop();
    }
  }
  return {
    reps,
    listenMs: r2(median(runs.map((r) => r.listenMs))),
    requests: sequence.map((step, i) => ({
      label: step.label,
      ms: r2(median(runs.map((r) => r.requests[i].ms))),
      sinceSpawnMs: r2(median(runs.map((r) => r.requests[i].sinceSpawnMs))),
      all: runs.map((r) => r2(r.requests[i].ms)),
    })),
  };
}
