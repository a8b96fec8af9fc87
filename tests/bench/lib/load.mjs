// One measurement with autocannon (programmatic API). Latency percentiles are computed here from
// autocannon's per-response timings (float ms, from its `response` event): its own latency
// histogram keeps whole milliseconds only, too coarse for sub-millisecond differences.

import autocannon from 'autocannon';

/**
 * @param {object} o
 * @param {string} o.url                base URL of the target
 * @param {string} o.path
 * @param {number} o.connections
 * @param {number} o.durationSec        length of the measurement
 * @param {(n: number) => {headers: object, body: string}} o.requestFor  the n-th request (n from 1)
 * @param {object} o.baseHeaders
 * @param {() => number} [o.cpuNs]      CPU time (ns) of the target process, sampled around the run
 * @param {Array<() => number>} [o.extraCpuNs]  other processes on the path (e.g. the origin)
 * @param {number} [o.expectStatus]     the status every response should have (default: any 2xx)
 * @returns {Promise<object>} {requests, ok, non2xx, errors, timeouts, seconds, rps, p50, p90, p99, mean, max, cpuUsPerRequest, ...}
 */
export async function measure({ url, path, connections, durationSec, requestFor, baseHeaders, cpuNs, extraCpuNs = [], expectStatus }) {
  const expected = expectStatus ? (s) => s === expectStatus : (s) => s >= 200 && s < 300;
  let n = 0;
  const latencies = [];
  const statuses = {};
  let ok = 0;
  const cpuBefore = cpuNs ? cpuNs() : NaN;
  const extraBefore = extraCpuNs.map((f) => f());
  const selfBefore = process.cpuUsage();
  const startedAt = performance.now();
  let firstAt = 0;
  let lastAt = 0;

  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections,
        pipelining: 1,
        duration: durationSec,
        timeout: 10,
        bailout: 1000,
        // autocannon checks for the end of `duration` at every sample: sample often so that a
        // short phase really is short.
        sampleInt: 100,
        requests: [
          {
            method: 'POST',
            path,
            headers: baseHeaders,
            setupRequest(req) {
              const next = requestFor(++n);
              req.headers = { ...req.headers, ...next.headers };
              req.body = next.body;
              return req;
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      const now = performance.now();
      if (!firstAt) firstAt = now;
      lastAt = now;
      statuses[status] = (statuses[status] || 0) + 1;
      if (expected(status)) {
        ok++;
        latencies.push(ms);
      }
    });
    // autocannon stops itself after `duration`; this is only a guard against a wedged target.
    const guard = setTimeout(() => instance.stop(), (durationSec + 15) * 1000);
    guard.unref();
    instance.on('done', () => clearTimeout(guard));
  });

  const wallSec = (performance.now() - startedAt) / 1000;
  const self = process.cpuUsage(selfBefore);
  const cpuAfter = cpuNs ? cpuNs() : NaN;
  const extraAfter = extraCpuNs.map((f) => f());
  const total = Object.values(statuses).reduce((a, b) => a + b, 0);
  const activeSec = lastAt > firstAt ? (lastAt - firstAt) / 1000 : wallSec;

  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN);
  const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
  const perReqUs = (ns) => (total > 0 && Number.isFinite(ns) ? Math.round(ns / total / 10) / 100 : null);

  return {
    connections,
    durationSec,
    requests: total,
    ok,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: round3(activeSec),
    rps: Math.round(ok / activeSec),
    p50: round3(pct(50)),
    p90: round3(pct(90)),
    p99: round3(pct(99)),
    mean: round3(latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1)),
    max: round3(latencies[latencies.length - 1]),
    cpuUsPerRequest: perReqUs(cpuAfter - cpuBefore),
    originCpuUsPerRequest: extraCpuNs.length ? perReqUs(extraAfter[0] - extraBefore[0]) : null,
    loadGenCpuUsPerRequest: perReqUs((self.user + self.system) * 1000),
    tokensUsed: n,
  };
}
