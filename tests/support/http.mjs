// Small HTTP helpers for the end-to-end suite. Every call is bounded by a timeout.
import http from 'node:http';

/** fetch() that aborts after `timeoutMs`. */
export async function fetchWithTimeout(url, init = {}, timeoutMs = 15_000) {
  const signal = AbortSignal.timeout(timeoutMs);
  return fetch(url, { ...init, signal: init.signal ? AbortSignal.any([init.signal, signal]) : signal });
}

/**
 * A raw request with node:http, for what fetch() cannot express: repeated header lines
 * (e.g. two `Authorization` headers) and arbitrary `Origin`/`Host` headers.
 * `headers` is a flat list of [name, value] pairs sent in order.
 * Resolves with {status, headers (lowercased; arrays for repeats), rawHeaders, body (string)}.
 * @param {string} url
 * @param {{method?: string, headers?: Array<[string, string]>, body?: string|Buffer, timeoutMs?: number}} options
 */
export function rawRequest(url, { method = 'GET', headers = [], body, timeoutMs = 15_000 } = {}) {
  const target = new URL(url);
  // With a flat header list Node sends exactly these lines: add Host (HTTP/1.1 requires it).
  const flat = [];
  if (!headers.some(([n]) => n.toLowerCase() === 'host')) flat.push('Host', target.host);
  for (const [name, value] of headers) flat.push(name, value);
  if (body !== undefined && !headers.some(([n]) => n.toLowerCase() === 'content-length')) {
    flat.push('Content-Length', String(Buffer.byteLength(body)));
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method,
        headers: flat,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Parse a `WWW-Authenticate: Bearer k="v", k2=v2` header into {scheme, params, wellFormed}.
 * `wellFormed` is false when anything after the scheme is not a comma-separated auth-param list.
 */
export function parseBearerChallenge(header) {
  if (typeof header !== 'string') return null;
  const s = header.trim();
  const sp = s.indexOf(' ');
  const scheme = sp < 0 ? s : s.slice(0, sp);
  let i = sp < 0 ? s.length : sp + 1;
  const params = {};
  let wellFormed = true;
  while (i < s.length) {
    while (s[i] === ' ') i++;
    const name = /^([A-Za-z0-9_-]+)\s*=\s*/.exec(s.slice(i));
    if (!name) {
      wellFormed = false;
      break;
    }
    i += name[0].length;
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\') i++;
        value += s[i] ?? '';
        i++;
      }
      if (s[i] !== '"') {
        wellFormed = false;
        break;
      }
      i++;
    } else {
      value = /^[^\s,]*/.exec(s.slice(i))[0];
      i += value.length;
    }
    if (name[1] in params) wellFormed = false;
    params[name[1]] = value;
    while (s[i] === ' ') i++;
    if (i < s.length) {
      if (s[i] !== ',') {
        wellFormed = false;
        break;
      }
      i++;
    }
  }
  return { scheme, params, wellFormed };
}

/**
 * Read a streamed response body and return every chunk with its arrival time
 * (performance.now() in ms), bounded by `timeoutMs`.
 * @param {Response} response
 */
export async function readChunksTimed(response, timeoutMs = 20_000) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const chunks = [];
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      await reader.cancel().catch(() => {});
      throw new Error(`stream not finished after ${timeoutMs} ms; got ${chunks.length} chunks`);
    }
    let timer;
    const result = await Promise.race([
      reader.read(),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve({ timeout: true }), remaining);
      }),
    ]);
    clearTimeout(timer);
    if (result.timeout) continue;
    if (result.done) break;
    chunks.push({ at: performance.now(), text: decoder.decode(result.value, { stream: true }) });
  }
  return chunks;
}

/**
 * Split timed chunks into SSE events; each event carries the arrival time of the chunk that
 * completed it.
 */
export function sseEventsTimed(chunks) {
  const events = [];
  let buffer = '';
  for (const { at, text } of chunks) {
    buffer += text.replace(/\r\n/g, '\n');
    let idx;
    while ((idx = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      const event = { at, id: undefined, event: undefined, data: '' };
      const dataLines = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') dataLines.push(value);
        else if (field === 'id') event.id = value;
        else if (field === 'event') event.event = value;
      }
      if (dataLines.length === 0 && event.id === undefined) continue;
      event.data = dataLines.join('\n');
      events.push(event);
    }
  }
  return events;
}
