#!/usr/bin/env node
// A local authorization server stand-in for the key lifecycle tests (issue 4): RFC 8414
// metadata and a JWK Set on 127.0.0.1, Scalekit style — one environment `{env}`
// (`http://127.0.0.1:PORT`) and one resource `{env}/resources/{res}`, both issuing tokens
// signed by the keys published at `{env}/keys`.
//
//   GET /.well-known/oauth-authorization-server                 metadata, issuer = {env}
//   GET /.well-known/oauth-authorization-server/resources/{res}  metadata, issuer = {env}/resources/{res}
//                                                                (RFC 8414 §3.1 path-inserted form)
//   GET /keys                                                    the published JWK Set, with Cache-Control
//   anything else                                                404
//
// For tests it counts requests per path (and keeps a log with times), switches key sets
// (publish a new key, start signing with it, retire one), and can go "down": `refused`
// (the listener is closed, so connections are refused, and reopened on the same port) or
// `error` (every answer is 500). The JWKS answer can be slowed down to widen the window in
// which a refresh is in flight.
//
// In a test: `const issuer = await startIssuer(); … await issuer.stop();`
// Standalone (manual checks): `node tests/issuer/server.mjs` prints `issuer listening on URL`.
// Loopback only. Private keys live in memory only and are never served.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

export const RESOURCE_ID = 'res_e2e';
const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A signing key: private key in memory, public JWK for the key set. */
async function makeKey(alg) {
  const options = { extractable: true };
  if (alg.startsWith('RS') || alg.startsWith('PS')) options.modulusLength = 2048;
  if (alg === 'EdDSA') options.crv = 'Ed25519';
  const { publicKey, privateKey } = await generateKeyPair(alg, options);
  const kid = `issuer-${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk };
}

/**
 * Start the issuer.
 * @param {{port?: number, resourceId?: string, alg?: string, cacheControl?: string}} [options]
 *   `port` 0 = any free port; `cacheControl` is sent with the key set.
 */
export async function startIssuer({ port = 0, resourceId = RESOURCE_ID, alg = 'RS256', cacheControl = 'public, max-age=600' } = {}) {
  const state = {
    /** Keys published at /keys, in order. */
    published: [await makeKey(alg)],
    /** kid of the key tokens are signed with. */
    signingKid: null,
    /** 'up' | 'error' | 'refused' */
    mode: 'up',
    cacheControl,
    jwksDelayMs: 0,
    counts: new Map(),
    log: [],
  };
  state.signingKid = state.published[0].kid;

  let base = '';
  const env = () => base;
  const resourceIssuer = () => `${base}/resources/${resourceId}`;
  const metadataFor = (issuer) => ({
    issuer,
    jwks_uri: `${base}/keys`,
    authorization_endpoint: `${base}/oauth/authorize`,
    token_endpoint: `${base}/oauth/token`,
    registration_endpoint: `${issuer}/register`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_post'],
    scopes_supported: ['mcp:access', 'mcp:tools:*'],
  });
  // Serialised once per request so that a test can compare the exact bytes a mirror serves.
  const metadataText = (issuer) => `${JSON.stringify(metadataFor(issuer), null, 2)}\n`;
  const jwksText = () => JSON.stringify({ keys: state.published.map((k) => k.publicJwk) });

  const routes = {
    '/.well-known/oauth-authorization-server': () => ({ body: metadataText(env()) }),
    [`/.well-known/oauth-authorization-server/resources/${resourceId}`]: () => ({ body: metadataText(resourceIssuer()) }),
    '/keys': async () => {
      if (state.jwksDelayMs > 0) await sleep(state.jwksDelayMs);
      return { body: jwksText(), headers: state.cacheControl ? { 'cache-control': state.cacheControl } : {} };
    },
  };

  async function handle(req, res) {
    const path = new URL(req.url, 'http://issuer.invalid').pathname;
    state.counts.set(path, (state.counts.get(path) || 0) + 1);
    state.log.push({ at: Date.now(), method: req.method, path });
    if (state.mode === 'error') {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"server_error"}');
      return;
    }
    const route = req.method === 'GET' || req.method === 'HEAD' ? routes[path] : undefined;
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not_found"}');
      return;
    }
    const { body, headers = {} } = await route();
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500);
      res.end(String(err?.message || err));
    });
  });
  server.keepAliveTimeout = 1000;

  const listen = (p) =>
    new Promise((resolve, reject) => {
      const onError = (err) => reject(err);
      server.once('error', onError);
      server.listen(p, HOST, () => {
        server.off('error', onError);
        resolve(server.address().port);
      });
    });
  const close = () =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });

  const boundPort = await listen(port);
  base = `http://${HOST}:${boundPort}`;

  const keyByKid = (kid) => {
    const key = state.published.find((k) => k.kid === kid);
    if (!key) throw new Error(`no published key ${kid}`);
    return key;
  };

  const issuer = {
    port: boundPort,
    /** `{env}`: the environment-level issuer. */
    url: base,
    /** `{env}/resources/{res}`: the resource's issuer. */
    resourceIssuer: resourceIssuer(),
    jwksUri: `${base}/keys`,
    /** The RFC 8414 path-inserted metadata URL of `issuer` (one of the two served). */
    metadataUrl(iss) {
      const u = new URL(iss);
      const path = u.pathname.replace(/\/$/, '');
      return `${u.origin}/.well-known/oauth-authorization-server${path}`;
    },
    /** The exact metadata document served for `iss` (env or resource issuer). */
    metadataText,

    /** kid of the key tokens are signed with now. */
    get signingKid() {
      return state.signingKid;
    },
    /** kids of the published keys. */
    publishedKids: () => state.published.map((k) => k.kid),
    /** The published key set (public keys only). */
    jwks: () => JSON.parse(jwksText()),
    /** Publish a new key (not yet signing with it); returns its kid. */
    async addKey(newAlg = alg) {
      const key = await makeKey(newAlg);
      state.published.push(key);
      return key.kid;
    },
    /** Sign new tokens with a published key. */
    useKey(kid) {
      keyByKid(kid);
      state.signingKid = kid;
    },
    /** Rotation as an authorization server does it: publish a new key and sign with it at once. */
    async rotate(newAlg = alg) {
      const kid = await this.addKey(newAlg);
      this.useKey(kid);
      return kid;
    },
    /** Stop publishing a key (it must not be the signing key). */
    retire(kid) {
      if (kid === state.signingKid) throw new Error('cannot retire the signing key');
      state.published = state.published.filter((k) => k.kid !== kid);
    },
    /**
     * Sign a token. `header` overrides protected header members (e.g. a made-up `kid`);
     * `kid` picks a published key other than the signing key.
     */
    async sign(claims, { kid = state.signingKid, header = {} } = {}) {
      const key = keyByKid(kid);
      const protectedHeader = { alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header };
      return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key.privateKey);
    },

    /** Cache-Control sent with the key set (null: none). */
    setCacheControl(value) {
      state.cacheControl = value;
    },
    /** Delay before the key set is answered (ms). */
    setJwksDelay(ms) {
      state.jwksDelayMs = ms;
    },

    /** 'up' | 'error' | 'refused' */
    get mode() {
      return state.mode;
    },
    /** Go down: 'refused' closes the listener (connection refused), 'error' answers 500. */
    async down(how = 'refused') {
      if (how !== 'refused' && how !== 'error') throw new Error(`unknown down mode ${how}`);
      if (state.mode === 'refused' && how !== 'refused') await listen(boundPort);
      if (how === 'refused') await close();
      state.mode = how;
    },
    /** Come back up on the same port. */
    async up() {
      if (state.mode === 'refused') await listen(boundPort);
      state.mode = 'up';
    },

    /** Requests for `path` so far. */
    count: (path) => state.counts.get(path) || 0,
    /** Requests per path so far. */
    counts: () => Object.fromEntries(state.counts),
    /** Every request so far, oldest first: {at, method, path}. */
    requests: () => [...state.log],
    resetCounts() {
      state.counts.clear();
      state.log = [];
    },

    stop: close,
  };
  return issuer;
}

// Standalone: PORT (default 0) and RESOURCE_ID from the environment.
if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const issuer = await startIssuer({
    port: Number(process.env.PORT || 0),
    resourceId: process.env.RESOURCE_ID || RESOURCE_ID,
  });
  console.log(`issuer listening on ${issuer.url} (resource issuer ${issuer.resourceIssuer})`);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, async () => {
      await issuer.stop();
      process.exit(0);
    });
  }
}
