// Measuring instrument for `npm run bench`: the hand-written JavaScript gate that mcp-gate is
// compared with (issue 5). It does what a careful JavaScript author would do with `jose`:
//
// - settings parsed once per isolate (same names and defaults as mcp-gate, SPEC §1);
// - the JWK Set read from KV key `jwks` of binding GATE_KV, kept in isolate memory and re-read
//   at most every 30 s (mcp-gate's KV refresh interval); `createLocalJWKSet` keeps the imported
//   CryptoKeys between requests;
// - `jwtVerify` with the same checks as mcp-gate: `alg` in ALLOWED_ALGORITHMS, `iss` in ISSUERS,
//   `aud` containing one of AUDIENCES, `exp` required, leeway CLOCK_SKEW_SECONDS;
// - forwards to ORIGIN + path + query without `Authorization` and incoming `X-MCP-Auth-*`
//   headers, adding the identity headers of SPEC §6; the response streams back unchanged.
//
// No verified-token cache: every request verifies a signature. No rules, no log line, no
// `Origin` check (mcp-gate does all three), so this is a lower bound of a full JavaScript gate.
//
// With the var SAME_DUTIES = "1" (target `jose-gate-duties`, context only: issue 5's targets
// compare with the plain instrument) it also does the per-request work mcp-gate has beyond
// verification in the benchmark's authenticated mode: reads the body and parses the JSON-RPC
// method and name (mcp-gate needs them for rules, scope hints and the log), forwards the read
// body, waits for the origin's headers under a deadline (ORIGIN_TIMEOUT_SECONDS, default 30 s)
// and writes one JSON log line per request with the fields of SPEC §8.
// Bundled with esbuild by run.mjs (jose from node_modules).

import { createLocalJWKSet, jwtVerify } from 'jose';
// mcp-gate's own deadline mechanism, so that both pay the same for it.
import { fetchWithDeadline } from '../../src/edge/glue.js';

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

/** The JSON-RPC method and tool/prompt/resource name of a body, as far as it has them. */
function rpcOf(body) {
  try {
    const msg = JSON.parse(body);
    const params = msg && typeof msg.params === 'object' && msg.params ? msg.params : {};
    const name = params.name ?? params.uri;
    return { rpc_method: typeof msg?.method === 'string' ? msg.method : null, rpc_name: typeof name === 'string' ? name : null };
  } catch {
    return { rpc_method: null, rpc_name: null };
  }
}

/**
 * Checks the token and forwards. `duties` (SAME_DUTIES only): `{ line, body }`, the log line to
 * complete and the body already read.
 */
async function gate(request, env, s, duties) {
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
  for (const name of [...headers.keys()]) if (name.startsWith('x-mcp-auth-')) headers.delete(name);
  if (typeof payload.sub === 'string') headers.set('x-mcp-auth-subject', payload.sub);
  const clientId = payload.client_id ?? payload.azp;
  if (typeof clientId === 'string') headers.set('x-mcp-auth-client-id', clientId);
  headers.set('x-mcp-auth-issuer', payload.iss);
  if (typeof payload.scope === 'string') headers.set('x-mcp-auth-scopes', payload.scope);

  const url = new URL(request.url);
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
    if (!s.sameDuties) return gate(request, env, s, null);
    const started = Date.now();
    const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    const path = new URL(request.url).pathname;
    const line = { decision: 'deny', reason: 'denied', http_method: request.method, path, ...rpcOf(body) };
    const response = await gate(request, env, s, { line, body });
    console.log(JSON.stringify({ ...line, status: response.status, duration_ms: Date.now() - started }));
    return response;
  },
};
