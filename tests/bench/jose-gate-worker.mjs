// Measuring instrument for `npm run bench`: the hand-written JavaScript gate that mcp-gate is
// compared with (issues 5 and 15). It does what a careful JavaScript author would do with `jose`:
//
// - settings parsed once per isolate (same names and defaults as mcp-gate, README "Settings");
// - the JWK Set read from KV key `jwks` of binding GATE_KV, kept in isolate memory and re-read
//   at most every 30 s (mcp-gate's KV refresh interval); `createLocalJWKSet` keeps the imported
//   CryptoKeys between requests;
// - `jwtVerify` with the same checks as mcp-gate: `alg` in ALLOWED_ALGORITHMS, `iss` in ISSUERS,
//   `aud` containing one of AUDIENCES, `exp` required, leeway CLOCK_SKEW_SECONDS;
// - forwards to ORIGIN + path + query without `Authorization` and incoming `X-MCP-Auth-*`
//   headers, adding the identity headers of README "Forwarding"; the response streams back
//   unchanged.
//
// No verified-token cache: every request verifies a signature. No rules, no log line, no
// `Origin` check (mcp-gate does all three), so this is a lower bound of a full JavaScript gate.
//
// With the var SAME_DUTIES = "1" (target `jose-gate-duties`: the peer of issue 15's targets) it
// also does the per-request work mcp-gate has beyond verification in the benchmark's
// authenticated mode, in a plain JavaScript way:
// - request hygiene before the token (README "Request hygiene"): the `Origin` check (403), only
//   the RESOURCE path and FORWARD_PATHS served (404), methods POST/GET/DELETE (405), no content
//   coding but `identity` (415), POST only as `application/json` with no parameter but
//   `charset=utf-8` (415), a declared Content-Length within MAX_BODY_BYTES (413), no body
//   announced on GET/DELETE (400);
// - the body read counted chunk by chunk with mcp-gate's own `readBody` (413 past
//   MAX_BODY_BYTES), then strict JSON: `JSON.parse`, plus one scan of the text that refuses a
//   member name repeated in an object (exactly or under case folding, as mcp-gate folds) or
//   holding a control character, and nesting deeper than 64; then JSON-RPC 2.0 shape (message
//   objects or a non-empty batch, lower-case member names, `jsonrpc` "2.0", `method` a
//   string, no `result`/`error` beside it, `id` string or number, `params` object or array,
//   the name or URI of tools/call, prompts/get and resources/*); `Mcp-Method`/`Mcp-Name`
//   (`=?base64?…?=` decoded) must agree with the body (400);
// - forwarding hygiene: hop-by-hop headers and those listed in `Connection`, identity and
//   client-sent forwarding headers (read with `_` as `-`) removed; `X-Forwarded-Host`/`-Proto`
//   (and `-For` from `CF-Connecting-IP`) set;
// - forwards the read body, waits for the origin's headers under a deadline
//   (ORIGIN_TIMEOUT_SECONDS, default 30 s) and writes one JSON log line per request with the
//   fields of README "Logs and /healthz".
// Bundled with esbuild by run.mjs (jose from node_modules).

import { createLocalJWKSet, jwtVerify } from 'jose';
// mcp-gate's own deadline mechanism, so that both pay the same for it.
import { fetchWithDeadline, readBody } from '../../src/edge/glue.js';

const KV_REFRESH_MS = 30_000;
const DEFAULT_ALGORITHMS = 'RS256 PS256 ES256 EdDSA';
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

let settings = null;
let keySet = null; // { getKey, checkedAt }

const list = (value) => (value || '').split(/\s+/).filter(Boolean);

function settingsOf(env) {
  if (settings) return settings;
  const resource = env.RESOURCE;
  const authorizationServers = list(env.AUTHORIZATION_SERVERS);
  const issuers = list(env.ISSUERS);
  const audiences = list(env.AUDIENCES);
  const metadataUrl = new URL(resource);
  metadataUrl.pathname = `/.well-known/oauth-protected-resource${metadataUrl.pathname === '/' ? '' : metadataUrl.pathname}`;
  settings = {
    origin: env.ORIGIN.replace(/\/$/, ''),
    issuer: issuers.length ? issuers : authorizationServers,
    audience: audiences.length ? audiences : [resource],
    algorithms: list(env.ALLOWED_ALGORITHMS || DEFAULT_ALGORITHMS),
    clockTolerance: Number(env.CLOCK_SKEW_SECONDS || 60),
    metadataUrl: metadataUrl.href,
    sameDuties: env.SAME_DUTIES === '1',
    originTimeoutMs: Number(env.ORIGIN_TIMEOUT_SECONDS || 30) * 1000,
    // SAME_DUTIES: what the request hygiene needs.
    servedPaths: [new URL(resource).pathname, ...list(env.FORWARD_PATHS)],
    allowedOrigins: list(env.ALLOWED_ORIGINS),
    ownOrigin: new URL(resource).origin,
    maxBodyBytes: Number(env.MAX_BODY_BYTES || 1048576),
  };
  return settings;
}

async function keysOf(env) {
  const now = Date.now();
  if (!keySet || now - keySet.checkedAt >= KV_REFRESH_MS) {
    const jwks = await env.GATE_KV.get('jwks', 'json');
    keySet = { getKey: jwks ? createLocalJWKSet(jwks) : null, checkedAt: now };
  }
  return keySet.getKey;
}

function challenge(s, error, description) {
  const params = error
    ? `error="${error}", error_description="${description}", resource_metadata="${s.metadataUrl}"`
    : `resource_metadata="${s.metadataUrl}"`;
  const body = error ? { error, error_description: description } : { error: 'unauthorized' };
  return new Response(JSON.stringify(body), {
    status: 401,
    headers: { 'content-type': 'application/json', 'www-authenticate': `Bearer ${params}` },
  });
}

function refusal(status, error, description, extra = {}) {
  return new Response(JSON.stringify({ error, error_description: description }), {
    status,
    headers: { 'content-type': 'application/json', ...extra },
  });
}

/** Request hygiene on the head (SAME_DUTIES): a Response refusing it, or null. */
function admitHead(request, s, path) {
  const h = request.headers;
  const origin = h.get('origin');
  if (origin !== null && origin !== s.ownOrigin && !s.allowedOrigins.includes('*') && !s.allowedOrigins.includes(origin)) {
    return refusal(403, 'forbidden', 'origin not allowed');
  }
  if (!s.servedPaths.includes(path)) return refusal(404, 'not_found', 'not served');
  const method = request.method;
  if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
    return refusal(405, 'method_not_allowed', 'method not allowed', { allow: 'GET, POST, DELETE, OPTIONS' });
  }
  const encoding = h.get('content-encoding');
  if (encoding !== null && !encoding.split(',').every((c) => c.trim().toLowerCase() === 'identity')) {
    return refusal(415, 'unsupported_media_type', 'content coding');
  }
  const length = h.get('content-length');
  if (length !== null && !/^[0-9]+$/.test(length)) return refusal(400, 'invalid_request', 'bad content-length');
  if (method === 'POST') {
    if (!jsonUtf8(h.get('content-type'))) return refusal(415, 'unsupported_media_type', 'not application/json');
    if (length !== null && Number(length) > s.maxBodyBytes) return refusal(413, 'payload_too_large', 'body too large');
  } else if (h.has('transfer-encoding') || (length !== null && Number(length) > 0)) {
    return refusal(400, 'invalid_request', 'no body allowed');
  }
  return null;
}

/** `application/json`, whose only parameter may be `charset=utf-8`. */
function jsonUtf8(value) {
  if (value === null) return false;
  const [essence, ...params] = value.split(';');
  if (essence.trim().toLowerCase() !== 'application/json') return false;
  let charset = false;
  for (const raw of params) {
    const param = raw.trim();
    if (!param) continue;
    const eq = param.indexOf('=');
    if (eq < 0 || charset || param.slice(0, eq).trim().toLowerCase() !== 'charset') return false;
    charset = true;
    const v = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (v.toLowerCase() !== 'utf-8') return false;
  }
  return true;
}

/** A member name folded for comparison, as mcp-gate folds it (upper- then lower-case, twice). */
const fold = (name) => {
  if (/^[\x00-\x7f]*$/.test(name)) return name.toLowerCase();
  const once = name.toUpperCase().toLowerCase();
  return once.toUpperCase().toLowerCase();
};
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * One scan of JSON text that `JSON.parse` accepted: the reason it is not strict (a member
 * name repeated in an object, exactly or case-folded; a control character in a name; nesting
 * deeper than 64), or null. (`JSON.parse` keeps the last duplicate silently, and its reviver
 * only sees the members that survived, so the text itself is scanned.)
 */
function notStrict(text) {
  const open = []; // per open container: a Set of folded names (object) or null (array)
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      const names = open[open.length - 1];
      if (names) {
        let k = j + 1;
        while (k < n && (text[k] === ' ' || text[k] === '\n' || text[k] === '\r' || text[k] === '\t')) k++;
        if (text.charCodeAt(k) === 0x3a) {
          const name = escaped ? JSON.parse(text.slice(i, j + 1)) : text.slice(i + 1, j);
          if (CONTROL.test(name)) return 'control character in a member name';
          const folded = fold(name);
          if (names.has(folded)) return 'duplicate member';
          names.add(folded);
        }
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      if (open.length >= 64) return 'too deep';
      open.push(c === 0x7b ? new Set() : null);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
    }
  }
  return null;
}

const MESSAGE_MEMBERS = ['jsonrpc', 'id', 'method', 'params', 'result', 'error'];
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One JSON-RPC message: {method, name} of a call, {} of a response; throws when invalid. */
function classify(message) {
  if (!isObject(message)) throw new Error('not an object');
  for (const key of Object.keys(message)) {
    if (!MESSAGE_MEMBERS.includes(key) && MESSAGE_MEMBERS.includes(fold(key))) throw new Error('member case');
  }
  if (message.jsonrpc !== '2.0') throw new Error('jsonrpc');
  const { method, params, id } = message;
  if (method === undefined) {
    if (('result' in message) === ('error' in message)) throw new Error('response');
    return {};
  }
  if (typeof method !== 'string') throw new Error('method');
  if ('result' in message || 'error' in message) throw new Error('result beside method');
  if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') throw new Error('id');
  if (params !== undefined && typeof params !== 'object') throw new Error('params');
  const p = isObject(params) ? params : {};
  const need = (v) => {
    if (typeof v !== 'string') throw new Error('target');
    return v;
  };
  switch (method) {
    case 'tools/call':
    case 'prompts/get':
      return { method, id, name: need(p.name) };
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return { method, id, name: need(p.uri) };
    case 'completion/complete': {
      const ref = isObject(p.ref) ? p.ref : {};
      return { method, id, name: need(ref.type === 'ref/prompt' ? ref.name : ref.type === 'ref/resource' ? ref.uri : undefined) };
    }
    default:
      return { method, id, name: null };
  }
}

/** An `Mcp-Method`/`Mcp-Name` value as text (`=?base64?…?=` decoded), null when unreadable. */
function headerText(value) {
  const m = /^=\?base64\?(.*)\?=$/.exec(value);
  if (!m) return value;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(atob(m[1]), (ch) => ch.charCodeAt(0)));
  } catch {
    return null;
  }
}

/**
 * The body's hygiene (SAME_DUTIES) after the head's: {refusal} or {rpc_method, rpc_name}.
 * Like mcp-gate, a body that is not JSON-RPC is only reported to a request with a valid token;
 * here it is refused at once (a lower bound: no token work for it).
 */
function admitBody(request, method, bytes) {
  if (method !== 'POST') {
    return bytes.length ? { refusal: refusal(400, 'invalid_request', 'no body allowed') } : { rpc_method: null, rpc_name: null };
  }
  let calls;
  let batch;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    const value = JSON.parse(text);
    const why = notStrict(text);
    if (why) throw new Error(why);
    batch = Array.isArray(value);
    if (batch && value.length === 0) throw new Error('empty batch');
    calls = (batch ? value : [value]).map(classify);
  } catch (e) {
    return { refusal: refusal(400, 'invalid_request', `body: ${e.message}`) };
  }
  const h = request.headers;
  const mcpMethod = h.get('mcp-method');
  const mcpName = h.get('mcp-name');
  if (mcpMethod !== null || mcpName !== null) {
    const call = !batch && calls[0].method !== undefined ? calls[0] : null;
    if (mcpMethod !== null && (call === null || headerText(mcpMethod) !== call.method)) {
      return { refusal: refusal(400, 'invalid_request', 'Mcp-Method does not match the body') };
    }
    if (mcpName !== null && (call === null || call.name === null || headerText(mcpName) !== call.name)) {
      return { refusal: refusal(400, 'invalid_request', 'Mcp-Name does not match the body') };
    }
  }
  const withMethod = calls.filter((c) => c.method !== undefined);
  const names = withMethod.map((c) => c.name).filter((n) => typeof n === 'string');
  return {
    rpc_method: withMethod.length ? withMethod.map((c) => c.method).join(',') : null,
    rpc_name: names.length ? names.join(',') : null,
  };
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host'];
const CLIENT_FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip'];

/** Forwarding hygiene (SAME_DUTIES) on the copy of the request headers sent to the origin. */
function forwardingHygiene(headers, url) {
  const listed = (headers.get('connection') || '').split(',').map((n) => n.trim().toLowerCase());
  for (const name of [...headers.keys()]) {
    const normalized = name.replaceAll('_', '-');
    if (HOP_BY_HOP.includes(name) || listed.includes(name) || normalized.startsWith('x-mcp-auth-') || CLIENT_FORWARDING.includes(normalized)) {
      headers.delete(name);
    }
  }
  const ip = headers.get('cf-connecting-ip');
  if (ip) headers.set('x-forwarded-for', ip);
  headers.set('x-forwarded-host', url.host);
  headers.set('x-forwarded-proto', url.protocol.slice(0, -1));
}

/**
 * Checks the token and forwards. `duties` (SAME_DUTIES only): `{ line, body }`, the log line to
 * complete and the body already read.
 */
async function gate(request, env, s, duties, url) {
  const authorization = request.headers.get('authorization');
  if (!authorization || !/^bearer /i.test(authorization)) return challenge(s);
  const match = BEARER.exec(authorization);
  if (!match) return challenge(s, 'invalid_token', 'malformed bearer token');

  const getKey = await keysOf(env);
  if (!getKey) return challenge(s, 'invalid_token', 'no key set');
  let payload;
  try {
    ({ payload } = await jwtVerify(match[1], getKey, {
      issuer: s.issuer,
      audience: s.audience,
      algorithms: s.algorithms,
      clockTolerance: s.clockTolerance,
      requiredClaims: ['exp'],
    }));
  } catch {
    return challenge(s, 'invalid_token', 'the token is not valid');
  }

  const headers = new Headers(request.headers);
  headers.delete('authorization');
  if (duties) forwardingHygiene(headers, url); // url is set when duties is
  else for (const name of [...headers.keys()]) if (name.startsWith('x-mcp-auth-')) headers.delete(name);
  if (typeof payload.sub === 'string') headers.set('x-mcp-auth-subject', payload.sub);
  const clientId = payload.client_id ?? payload.azp;
  if (typeof clientId === 'string') headers.set('x-mcp-auth-client-id', clientId);
  headers.set('x-mcp-auth-issuer', payload.iss);
  if (typeof payload.scope === 'string') headers.set('x-mcp-auth-scopes', payload.scope);

  url ??= new URL(request.url);
  const target = s.origin + url.pathname + url.search;
  const init = { method: request.method, headers, redirect: 'manual' };
  if (!duties) return fetch(target, { ...init, body: request.body });
  Object.assign(duties.line, {
    decision: 'allow',
    reason: 'allowed',
    iss: payload.iss,
    sub: payload.sub ?? null,
    client_id: clientId ?? null,
    jti: payload.jti ?? null,
    rule: null,
    required: [],
    granted: typeof payload.scope === 'string' ? payload.scope.split(' ') : [],
  });
  const response = await fetchWithDeadline(target, { ...init, body: duties.body }, s.originTimeoutMs);
  return response ?? new Response(null, { status: 504 });
}

export default {
  async fetch(request, env) {
    const s = settingsOf(env);
    if (!s.sameDuties) return gate(request, env, s, null, null);
    const url = new URL(request.url);
    const started = Date.now();
    const line = { decision: 'deny', reason: 'denied', http_method: request.method, path: url.pathname, rpc_method: null, rpc_name: null };
    const response = await duties(request, env, s, url, line);
    console.log(JSON.stringify({ ...line, status: response.status, duration_ms: Date.now() - started }));
    return response;
  },
};

/** SAME_DUTIES: hygiene of the head, the counted body and its JSON-RPC, then the token. */
async function duties(request, env, s, url, line) {
  const refused = admitHead(request, s, url.pathname);
  if (refused) return refused;
  let body;
  try {
    body = await readBody(request, s.maxBodyBytes);
  } catch {
    return refusal(400, 'invalid_request', 'body unreadable');
  }
  if (body === undefined) return refusal(413, 'payload_too_large', 'body too large');
  const admitted = admitBody(request, request.method, body);
  if (admitted.refusal) return admitted.refusal;
  line.rpc_method = admitted.rpc_method;
  line.rpc_name = admitted.rpc_name;
  return gate(request, env, s, { line, body: request.method === 'POST' ? body : null }, url);
}
