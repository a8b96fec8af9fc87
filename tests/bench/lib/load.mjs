// Measurements with autocannon (programmatic API). Latency percentiles are computed here from
// autocannon's per-response timings (float ms, from its `response` event): its own latency
// histogram keeps whole milliseconds only, too coarse for sub-millisecond differences.
//
// A phase may be measured in several slices (rounds interleaved with the other targets, so that
// a burst of load from elsewhere on the machine does not land on one target only); `summarize`
// merges the slices.

import autocannon from 'autocannon';

/**
 * One slice of load.
 * @param {object} o
 * @param {string} o.url                base URL of the target
 * @param {string} o.path
 * @param {number} o.connections
 * @param {number} o.durationSec        length of the slice
 * @param {(n: number) => {headers: object, body: string}} o.requestFor  the n-th request (n from 1)
 * @param {object} o.baseHeaders
 * @param {() => number} [o.cpuNs]      CPU time (ns) of the target process, sampled around the slice
 * @param {() => number} [o.originCpuNs]  CPU time (ns) of the origin, when it is behind the target
 * @param {number} [o.expectStatus]     the status every response should have (default: any 2xx)
 * @returns {Promise<object>} raw figures for `summarize`
 */
export async function measureSlice({ url, path, connections, durationSec, requestFor, baseHeaders, cpuNs, originCpuNs, expectStatus }) {
  const expected = expectStatus ? (s) => s === expectStatus : (s) => s >= 200 && s < 300;
  let built = 0;
  const latencies = [];
  const statuses = {};
  let ok = 0;
  let firstAt = 0;
  let lastAt = 0;
  const cpuBefore = cpuNs ? cpuNs() : NaN;
  const originBefore = originCpuNs ? originCpuNs() : NaN;
  const selfBefore = process.cpuUsage();

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
        // short slice really is short.
        sampleInt: 100,
        requests: [
          {
            method: 'POST',
            path,
            headers: baseHeaders,
            setupRequest(req) {
              const next = requestFor(++built);
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
      if (!firstAt) firstAt = now - ms;
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

  const self = process.cpuUsage(selfBefore);
  return {
    latencies,
    statuses,
    ok,
    errors: result.errors,
    timeouts: result.timeouts,
    activeSec: lastAt > firstAt ? (lastAt - firstAt) / 1000 : durationSec,
    cpuNs: cpuNs ? cpuNs() - cpuBefore : NaN,
    originCpuNs: originCpuNs ? originCpuNs() - originBefore : NaN,
    loadGenCpuNs: (self.user + self.system) * 1000,
    built,
  };
}

const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);

/** Merge slices into {requests, ok, statuses, rps, p50, p90, p99, mean, max, cpuUsPerRequest, ...}. */
export function summarize(slices, { connections, durationSec }) {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const statuses = {};
  for (const s of slices) for (const [k, v] of Object.entries(s.statuses)) statuses[k] = (statuses[k] || 0) + v;
  const total = Object.values(statuses).reduce((a, b) => a + b, 0);
  const ok = slices.reduce((a, s) => a + s.ok, 0);
  const activeSec = slices.reduce((a, s) => a + s.activeSec, 0);
  const sum = (key) => slices.reduce((a, s) => a + s[key], 0);
  // Nearest-rank percentile.
  const pct = (p) => (latencies.length ? latencies[Math.max(0, Math.ceil((p / 100) * latencies.length) - 1)] : NaN);
  const perReqUs = (ns) => (total > 0 && Number.isFinite(ns) ? Math.round(ns / total / 10) / 100 : null);
  return {
    connections,
    durationSec,
    slices: slices.length,
    requests: total,
    ok,
    statuses,
    errors: sum('errors'),
    timeouts: sum('timeouts'),
    seconds: round3(activeSec),
    rps: Math.round(ok / activeSec),
    p50: round3(pct(50)),
    p90: round3(pct(90)),
    p99: round3(pct(99)),
    mean: round3(latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1)),
    max: round3(latencies[latencies.length - 1]),
    cpuUsPerRequest: perReqUs(sum('cpuNs')),
    originCpuUsPerRequest: perReqUs(sum('originCpuNs')),
    loadGenCpuUsPerRequest: perReqUs(sum('loadGenCpuNs')),
    // Each slice on its own (the spread of a phase: how far apart two targets must be to differ).
    perSlice: slices.map((s) => {
      const l = [...s.latencies].sort((a, b) => a - b);
      const n = Object.values(s.statuses).reduce((a, b) => a + b, 0);
      return {
        p50: round3(l.length ? l[Math.max(0, Math.ceil(0.5 * l.length) - 1)] : NaN),
        rps: Math.round(s.ok / s.activeSec),
        cpuUsPerRequest: n > 0 && Number.isFinite(s.cpuNs) ? Math.round(s.cpuNs / n / 10) / 100 : null,
      };
    }),
  };
}
