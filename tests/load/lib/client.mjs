// One HTTP/1.1 request through node:http for the load scripts: every outcome is a value (never a
// rejection), every request is bounded by a deadline, and a body can be streamed chunked
// (no Content-Length) with backpressure, stopping as soon as the server answers.
//
// Why node:http and not fetch: fetch (undici) cannot stop writing a request body when the
// answer arrives, hides how much of the body went out, and reports an early 413 followed by
// a closed socket as a network error.

import http from 'node:http';

/** A keep-alive agent that opens up to `connections` sockets (one per concurrent worker). */
export function keepAliveAgent(connections) {
  return new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: 'fifo' });
}

/**
 * @typedef {object} Outcome
 * @property {number|null} status       null when no response head arrived
 * @property {object} headers           lowercase response headers ({} without a response)
 * @property {string} text              response body (first `maxBody` bytes, utf8)
 * @property {boolean} complete         the response body ended normally
 * @property {string|null} error        what went wrong (timeout, reset, refused, ...) or null
 * @property {number} ms                start to end of the exchange (response end, error or deadline)
 * @property {number|null} ttfbMs       start to response head
 * @property {number} sentAtAnswer      request body bytes flushed to the socket when the head arrived
 * @property {number} sent              request body bytes flushed to the socket in all
 * @property {boolean} bodyFinished     the whole request body was written
 */

/**
 * @param {string} base  e.g. http://127.0.0.1:8787 (loopback only)
 * @param {object} o
 * @param {string} [o.method]
 * @param {string} [o.path]
 * @param {Record<string,string>} [o.headers]
 * @param {string|Buffer} [o.body]                  sent with Content-Length
 * @param {{total: number, chunkSize?: number, prefix?: string}} [o.chunked]
 *        streamed with Transfer-Encoding: chunked: `prefix`, then filler, `total` bytes in all
 * @param {http.Agent|false} [o.agent]             false: a connection of its own, closed after
 * @param {number} [o.timeoutMs]                    deadline for the whole exchange
 * @param {number} [o.maxBody]                      response bytes kept for checks
 * @param {(res: http.IncomingMessage) => void} [o.onHead]  called when the head arrives
 * @param {AbortSignal} [o.signal]                  ends the exchange early (error "aborted by caller")
 * @returns {Promise<Outcome>}
 */
export function send(base, { method = 'GET', path = '/', headers = {}, body, chunked, agent = false, timeoutMs = 10_000, maxBody = 256 * 1024, onHead, signal } = {}) {
  const target = new URL(base);
  if (target.hostname !== '127.0.0.1') throw new Error(`load traffic goes to 127.0.0.1 only, not ${target.hostname}`);
  const started = performance.now();
  const out = {
    status: null,
    headers: {},
    text: '',
    complete: false,
    error: null,
    ms: 0,
    ttfbMs: null,
    sentAtAnswer: 0,
    sent: 0,
    bodyFinished: false,
  };
  const allHeaders = { ...headers };
  if (body !== undefined) allHeaders['Content-Length'] = String(Buffer.byteLength(body));
  if (chunked) allHeaders['Transfer-Encoding'] = 'chunked';

  return new Promise((resolve) => {
    let settled = false;
    let answered = false;
    const chunks = [];
    let kept = 0;
    const waiters = new Set();
    const wake = () => {
      for (const w of waiters) w();
      waiters.clear();
    };
    const finish = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error && !out.error) out.error = error;
      out.ms = performance.now() - started;
      out.text = Buffer.concat(chunks).toString('utf8');
      wake();
      // A request whose body was cut short cannot go back to a keep-alive pool.
      if (!out.bodyFinished || !out.complete || agent === false) req.destroy();
      resolve(out);
    };
    const timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms`), timeoutMs);
    if (signal) {
      if (signal.aborted) queueMicrotask(() => finish('aborted by caller'));
      else signal.addEventListener('abort', () => finish('aborted by caller'), { once: true });
    }

    const req = http.request({
      host: target.hostname,
      port: target.port,
      path,
      method,
      headers: allHeaders,
      agent,
    });
    req.on('response', (res) => {
      answered = true;
      out.status = res.statusCode;
      out.headers = res.headers;
      out.ttfbMs = performance.now() - started;
      out.sentAtAnswer = out.sent;
      wake();
      onHead?.(res);
      res.on('data', (c) => {
        if (kept < maxBody) {
          chunks.push(c);
          kept += c.length;
        }
      });
      res.on('end', () => {
        out.complete = true;
        finish(null);
      });
      res.on('error', (err) => finish(`response ${err.code || err.message}`));
      res.on('close', () => {
        if (!out.complete) finish('response aborted after its head');
      });
    });
    req.on('error', (err) => {
      // Writing after an early answer commonly ends in EPIPE/ECONNRESET: the answer counts.
      if (answered) return;
      finish(err.code || err.message);
    });
    req.on('close', () => {
      if (!answered) finish('connection closed without an answer');
    });

    if (!chunked) {
      if (body !== undefined) {
        const n = Buffer.byteLength(body);
        req.write(body, (err) => {
          if (!err) out.sent += n;
        });
      }
      req.end(() => {
        out.bodyFinished = true;
      });
      return;
    }

    // Chunked streaming with backpressure; stops writing once the answer (or an error) arrives.
    const chunkSize = chunked.chunkSize ?? 64 * 1024;
    const filler = Buffer.alloc(chunkSize, 0x61); // 'a'
    const prefix = Buffer.from(chunked.prefix ?? '');
    (async () => {
      let handed = 0;
      while (handed < chunked.total && !answered && !settled) {
        let piece;
        if (handed < prefix.length) piece = prefix.subarray(handed, Math.min(prefix.length, handed + chunkSize));
        else piece = filler.subarray(0, Math.min(chunkSize, chunked.total - handed));
        handed += piece.length;
        const n = piece.length;
        const ok = req.write(piece, (err) => {
          if (!err) out.sent += n;
        });
        if (!ok) {
          await new Promise((resolveWait) => {
            waiters.add(resolveWait);
            req.once('drain', resolveWait);
          });
        }
      }
      if (!answered && !settled) {
        req.end(() => {
          out.bodyFinished = true;
        });
      }
    })().catch((err) => finish(`writing the body: ${err.message}`));
  });
}

/** Percentile (0..100) of a numeric array; NaN when empty. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}
