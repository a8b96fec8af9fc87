// Stand-ins for the login bridge's peers (SPEC §10), each a small node:http server on
// 127.0.0.1 that records every request it receives:
//   - Scalekit: the client-credentials token endpoint, the "submit the user" endpoint of an
//     auth request, and the partner:callback page the browser is sent to at the end;
//   - Cloudflare Access: the team domain's `/cdn-cgi/access/certs` (a JWK Set) and a signer for
//     Access JWTs (`Cf-Access-Jwt-Assertion`);
//   - the existing app: a userinfo endpoint (`GET /whoami`, by session cookie) and a login page
//     (`GET /login?return_to=…`) that sets the session cookie and redirects back.
// They run in-process (import and call start…); the public entry points are re-exported, with
// helpers, from tests/support/bridge.mjs. Loopback only; private keys live in memory only.
//
// Standalone (manual checks): `node tests/origin/login-standins.mjs` starts all three and
// prints their URLs.

import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** HTML-escape text for the stand-ins' own pages. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/**
 * @typedef {object} RecordedRequest
 * @property {number} at          Date.now() when the request ended
 * @property {string} method
 * @property {string} url         path + query as received
 * @property {string} path        the raw path (before `?`, not percent-decoded)
 * @property {string} search      raw query string including `?` ('' when none)
 * @property {Record<string, string[]>} query  query parameters (every value, in order)
 * @property {Record<string, string|string[]>} headers  lowercase names (node's joining rules)
 * @property {string[]} rawHeaders  [name, value, …] as received
 * @property {string} body        raw body (UTF-8)
 * @property {number} [status]    status the stand-in answered (set after answering)
 */

function queryOf(search) {
  const out = {};
  for (const [k, v] of new URLSearchParams(search)) (out[k] ||= []).push(v);
  return out;
}

/**
 * A recording HTTP server. `handle(rec, req, res)` answers; every request is recorded first
 * (with its whole body). Supports going down (connection refused) and back up on the same port.
 */
async function startRecordingServer(handle, { port = 0 } = {}) {
  let log = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const qm = req.url.indexOf('?');
      const rec = {
        at: Date.now(),
        method: req.method,
        url: req.url,
        path: qm < 0 ? req.url : req.url.slice(0, qm),
        search: qm < 0 ? '' : req.url.slice(qm),
        query: queryOf(qm < 0 ? '' : req.url.slice(qm + 1)),
        headers: { ...req.headers },
        rawHeaders: [...req.rawHeaders],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      log.push(rec);
      try {
        await handle(rec, req, res);
      } catch (err) {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`stand-in error: ${err?.message || err}`);
      }
      rec.status = res.statusCode;
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
  return {
    port: boundPort,
    url: `http://${HOST}:${boundPort}`,
    requests: () => log.map((r) => ({ ...r })),
    resetLog() {
      log = [];
    },
    /** Close the listener: connections are refused until up(). */
    down: close,
    async up() {
      if (!server.listening) await listen(boundPort);
    },
    isUp: () => server.listening,
    stop: close,
  };
}

function send(res, status, { body = '', headers = {}, type } = {}) {
  const h = { ...headers };
  if (type && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = type;
  res.writeHead(status, h);
  res.end(body);
}
const sendJson = (res, status, value, headers = {}) =>
  send(res, status, { body: typeof value === 'string' ? value : JSON.stringify(value), headers, type: 'application/json' });

/** An answer override: {status, body?, headers?, contentType?, delayMs?}. */
async function sendOverride(res, answer) {
  if (answer.delayMs) await sleep(answer.delayMs);
  const body = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  const type = answer.contentType === undefined ? (typeof answer.body === 'object' ? 'application/json' : 'text/plain') : answer.contentType;
  send(res, answer.status, { body, headers: answer.headers || {}, type: type || undefined });
}

/** A queue of overrides: `{answer, remaining}`; take() returns the next one due (or null). */
function overrideSlot() {
  let current = null;
  return {
    set(answer, { times = Infinity } = {}) {
      current = answer ? { answer, remaining: times } : null;
    },
    take() {
      if (!current || current.remaining <= 0) return null;
      current.remaining -= 1;
      const { answer } = current;
      if (current.remaining <= 0) current = null;
      return answer;
    },
    clear() {
      current = null;
    },
  };
}

// --- Scalekit ---------------------------------------------------------------------------------

/**
 * Start the Scalekit stand-in (an "environment" at its own URL).
 *
 * Routes:
 *   POST /oauth/token   form-encoded `grant_type=client_credentials&client_id=..&client_secret=..`
 *     → 200 {"access_token": <random>, "token_type": "Bearer", "expires_in": <expiresIn>};
 *     a wrong grant/client/secret or a non-form Content-Type → 401 {"error":"invalid_client"}
 *     (400 {"error":"unsupported_grant_type"} for another grant).
 *   POST /api/v1/connections/{conn}/auth-requests/{id}/user
 *     `Authorization: Bearer <a token it issued and has not revoked>` else 401;
 *     `Content-Type: application/json` (params allowed) else 415; body a JSON object with string
 *     `sub` and `email` else 400; a {conn} other than `connectionId` (when given) → 404.
 *     Then records the submission and answers 200 `{}`.
 *   GET /sso/v1/connections/{conn}/partner:callback?state=..  → 200 HTML containing
 *     "callback ok" and the received state in `<code id="state">` (HTML-escaped).
 *   anything else → 404 JSON.
 *
 * @param {object} [opts]
 * @param {string} [opts.clientId='skc_e2e_client']    client_id the token endpoint accepts
 * @param {string} [opts.clientSecret]                 client_secret it accepts (random by default)
 * @param {number} [opts.expiresIn=3600]               `expires_in` of issued tokens
 * @param {string} [opts.connectionId]                 when set, other connection ids get 404
 * @param {number} [opts.port=0]
 * @returns {Promise<ScalekitStandin>}
 *
 * @typedef {object} ScalekitStandin
 * @property {string} url                the environment URL (SCALEKIT_ENVIRONMENT_URL), no trailing slash
 * @property {string} clientId
 * @property {string} clientSecret
 * @property {() => RecordedRequest[]} requests   every request, oldest first
 * @property {() => RecordedRequest[]} tokenRequests    requests to /oauth/token
 * @property {() => RecordedRequest[]} userRequests     requests to …/auth-requests/{id}/user (any outcome)
 * @property {() => RecordedRequest[]} callbackRequests requests to …/partner:callback
 * @property {() => Array<{connectionId: string, loginRequestId: string, user: object, token: string, at: number}>} submissions
 *   users accepted by the user endpoint (answered 2xx), oldest first
 * @property {() => string[]} issuedTokens   access tokens issued so far (for log checks)
 * @property {() => void} reset   forget requests and submissions; clear every override (issued tokens stay valid)
 * @property {(answer: ({status: number, body?: any, headers?: object, contentType?: string, delayMs?: number}|null), opts?: {times?: number}) => void} setTokenAnswer
 *   answer the token endpoint with this instead (for `times` requests; default every request); null clears
 * @property {(answer: ({status: number, body?: any, headers?: object, contentType?: string, delayMs?: number}|null), opts?: {times?: number}) => void} setUserAnswer
 *   answer the user endpoint with this instead (checked after nothing: the override wins); null clears
 * @property {() => void} revokeTokens   every token issued so far is refused (401) by the user endpoint
 * @property {(seconds: number) => void} setExpiresIn
 * @property {() => Promise<void>} down  close the listener (connection refused) until up()
 * @property {() => Promise<void>} up
 * @property {() => Promise<void>} stop
 */
export async function startScalekitStandin(opts = {}) {
  const clientId = opts.clientId ?? 'skc_e2e_client';
  const clientSecret = opts.clientSecret ?? `skc_secret_${randomBytes(18).toString('base64url')}`;
  const state = {
    expiresIn: opts.expiresIn ?? 3600,
    issued: new Map(), // token -> {revoked}
    submissions: [],
    tokenOverride: overrideSlot(),
    userOverride: overrideSlot(),
  };
  const USER_PATH = /^\/api\/v1\/connections\/([^/]+)\/auth-requests\/([^/]+)\/user$/;
  const CALLBACK_PATH = /^\/sso\/v1\/connections\/([^/]+)\/partner(?::|%3A)callback$/i;

  async function handle(rec, req, res) {
    if (rec.path === '/oauth/token') {
      rec.kind = 'token';
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
      const override = state.tokenOverride.take();
      if (override) return sendOverride(res, override);
      const type = String(rec.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') return sendJson(res, 401, { error: 'invalid_client', note: 'not a form' });
      const form = new URLSearchParams(rec.body);
      if (form.getAll('grant_type').length !== 1 || form.get('grant_type') !== 'client_credentials') {
        return sendJson(res, 400, { error: 'unsupported_grant_type' });
      }
      if (form.getAll('client_id').length !== 1 || form.get('client_id') !== clientId) return sendJson(res, 401, { error: 'invalid_client' });
      if (form.getAll('client_secret').length !== 1 || form.get('client_secret') !== clientSecret) {
        return sendJson(res, 401, { error: 'invalid_client' });
      }
      const token = `skat_${randomBytes(24).toString('base64url')}`;
      state.issued.set(token, { revoked: false });
      return sendJson(res, 200, { access_token: token, token_type: 'Bearer', expires_in: state.expiresIn });
    }

    const user = USER_PATH.exec(rec.path);
    if (user) {
      rec.kind = 'user';
      const [, conn, id] = user;
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
      const override = state.userOverride.take();
      if (override) return sendOverride(res, override);
      if (opts.connectionId && conn !== opts.connectionId) return sendJson(res, 404, { error: 'connection_not_found' });
      const auth = /^Bearer (\S+)$/.exec(String(rec.headers.authorization || ''));
      const known = auth && state.issued.get(auth[1]);
      if (!known || known.revoked) return sendJson(res, 401, { error: 'unauthenticated' });
      const type = String(rec.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/json') return sendJson(res, 415, { error: 'unsupported_media_type' });
      let body;
      try {
        body = JSON.parse(rec.body);
      } catch {
        return sendJson(res, 400, { error: 'invalid_json' });
      }
      if (!body || typeof body !== 'object' || Array.isArray(body) || typeof body.sub !== 'string' || typeof body.email !== 'string') {
        return sendJson(res, 400, { error: 'invalid_user' });
      }
      state.submissions.push({ connectionId: conn, loginRequestId: id, user: body, token: auth[1], at: Date.now() });
      return sendJson(res, 200, {});
    }

    const callback = CALLBACK_PATH.exec(rec.path);
    if (callback) {
      rec.kind = 'callback';
      const stateParam = rec.query.state?.[0] ?? '';
      return send(res, 200, {
        type: 'text/html; charset=utf-8',
        body: `<!doctype html><html><head><title>Scalekit stand-in</title></head><body><h1>callback ok</h1><p>connection <code id="connection">${escapeHtml(callback[1])}</code>, state <code id="state">${escapeHtml(stateParam)}</code></p></body></html>`,
      });
    }
    return sendJson(res, 404, { error: 'not_found' });
  }

  const server = await startRecordingServer(handle, { port: opts.port });
  const byKind = (kind) => () => server.requests().filter((r) => r.kind === kind);
  return {
    url: server.url,
    port: server.port,
    clientId,
    clientSecret,
    requests: server.requests,
    tokenRequests: byKind('token'),
    userRequests: byKind('user'),
    callbackRequests: byKind('callback'),
    submissions: () => state.submissions.map((s) => ({ ...s })),
    issuedTokens: () => [...state.issued.keys()],
    reset() {
      server.resetLog();
      state.submissions = [];
      state.tokenOverride.clear();
      state.userOverride.clear();
    },
    setTokenAnswer: (answer, o) => state.tokenOverride.set(answer, o),
    setUserAnswer: (answer, o) => state.userOverride.set(answer, o),
    revokeTokens() {
      for (const entry of state.issued.values()) entry.revoked = true;
    },
    setExpiresIn(seconds) {
      state.expiresIn = seconds;
    },
    down: server.down,
    up: server.up,
    stop: server.stop,
  };
}

// --- Cloudflare Access ------------------------------------------------------------------------

async function makeRsaKey(prefix) {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const kid = `${prefix}-${randomUUID().slice(0, 8)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk };
}

/**
 * Start the Cloudflare Access stand-in (a "team domain" at its own URL).
 *
 * Routes: `GET /cdn-cgi/access/certs` → 200 `{"keys": [<published RS256 public JWKs>]}` (plus
 * `extraMembers`); anything else 404.
 *
 * @param {object} [opts]
 * @param {string} [opts.aud]   the Access application's AUD tag (ACCESS_AUD); random hex by default
 * @param {object} [opts.extraMembers]  extra top-level members of the certs document
 * @param {number} [opts.port=0]
 * @returns {Promise<AccessStandin>}
 *
 * @typedef {object} AccessStandin
 * @property {string} url     the team domain (ACCESS_TEAM_DOMAIN) and the `iss` of its JWTs
 * @property {string} aud     ACCESS_AUD
 * @property {string} kid     kid of the published signing key
 * @property {(claims?: object, options?: {kid?: string, unpublished?: boolean, header?: object, aud?: string|string[]}) => Promise<string>} sign
 *   an Access JWT (RS256, `kid` header). Default claims: iss = url, aud = [aud], sub (random
 *   uuid), email 'access-user@example.test', iat/nbf = now, exp = now + 300, type 'app';
 *   `claims` overrides them (value undefined removes a claim). `unpublished: true` signs with a
 *   key the certs never list (kid `access-unpublished-…`); `aud` overrides the aud claim.
 * @property {() => Promise<string>} addKey   publish another key; returns its kid (sign with {kid})
 * @property {(answer: ({status: number, body?: any, contentType?: string, delayMs?: number}|null), opts?: {times?: number}) => void} setCertsAnswer
 * @property {() => RecordedRequest[]} requests
 * @property {() => number} certFetches   requests to /cdn-cgi/access/certs so far
 * @property {() => void} reset   forget requests; clear the override
 * @property {() => Promise<void>} down
 * @property {() => Promise<void>} up
 * @property {() => Promise<void>} stop
 */
export async function startAccessStandin(opts = {}) {
  const aud = opts.aud ?? randomBytes(32).toString('hex');
  const published = [await makeRsaKey('access')];
  const unpublished = await makeRsaKey('access-unpublished');
  const certsOverride = overrideSlot();

  async function handle(rec, req, res) {
    if (rec.path === '/cdn-cgi/access/certs' && (req.method === 'GET' || req.method === 'HEAD')) {
      rec.kind = 'certs';
      const override = certsOverride.take();
      if (override) return sendOverride(res, override);
      return sendJson(res, 200, { keys: published.map((k) => k.publicJwk), ...(opts.extraMembers || {}) });
    }
    return sendJson(res, 404, { error: 'not_found' });
  }
  const server = await startRecordingServer(handle, { port: opts.port });

  return {
    url: server.url,
    port: server.port,
    aud,
    kid: published[0].kid,
    async sign(claims = {}, options = {}) {
      const t = nowSeconds();
      const full = {
        iss: server.url,
        aud: options.aud ?? [aud],
        sub: randomUUID(),
        email: 'access-user@example.test',
        iat: t,
        nbf: t,
        exp: t + 300,
        type: 'app',
        identity_nonce: randomBytes(8).toString('hex'),
        country: 'CH',
        ...claims,
      };
      for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
      let key;
      if (options.unpublished) key = unpublished;
      else key = options.kid ? published.find((k) => k.kid === options.kid) : published[0];
      if (!key) throw new Error(`no published Access key ${options.kid}`);
      return new SignJWT(full).setProtectedHeader({ alg: 'RS256', kid: key.kid, ...(options.header || {}) }).sign(key.privateKey);
    },
    async addKey() {
      const key = await makeRsaKey('access');
      published.push(key);
      return key.kid;
    },
    setCertsAnswer: (answer, o) => certsOverride.set(answer, o),
    requests: server.requests,
    certFetches: () => server.requests().filter((r) => r.kind === 'certs').length,
    reset() {
      server.resetLog();
      certsOverride.clear();
    },
    down: server.down,
    up: server.up,
    stop: server.stop,
  };
}

// --- the existing app -------------------------------------------------------------------------

/**
 * Start the app stand-in: the app whose users already sign in, with a userinfo endpoint and a
 * login page.
 *
 * Routes:
 *   GET /whoami (LOGIN_USERINFO_URL): reads cookie `<cookieName>`; no or unknown session → 401
 *     JSON; a session created with `forbidden: true` → 403 JSON; a session created with an
 *     `answer` → that answer; a global `setWhoamiAnswer` override → that answer; else 200
 *     `application/json` with the session's user object as is (e.g. {sub, email, name, …}).
 *   GET /login?return_to=URL: an HTML page with a form (POST /login) holding `return_to`
 *     (hidden), `username` (text input, pre-filled with the first user) and a submit button
 *     "Sign in" (id `sign-in`).
 *   POST /login (form: username, return_to): for a known username creates a session, answers
 *     302 `Location: return_to` (or `/` when missing) with
 *     `Set-Cookie: <cookieName>=<id>; Path=/; SameSite=Lax; HttpOnly[; Domain=…][; Secure]`;
 *     unknown username → 401 HTML page.
 *   GET /logout: clears the cookie (Max-Age=0), 200.
 *   anything else → 404.
 *
 * @param {object} [opts]
 * @param {string} [opts.cookieName='app_session']
 * @param {Record<string, object>} [opts.users]  username → user object answered by /whoami;
 *   default { alice: {sub: 'app-user-alice', email: 'alice@example.test', name: 'Alice Example',
 *   given_name: 'Alice', family_name: 'Example', email_verified: true} }
 * @param {string} [opts.cookieDomain]   adds `Domain=` to the login cookie (a browser test may
 *   need the cookie to reach the gate's host)
 * @param {boolean} [opts.secureCookie=false]  adds `Secure`
 * @param {string} [opts.sameSite='Lax']
 * @param {number} [opts.port=0]
 * @returns {Promise<AppStandin>}
 *
 * @typedef {object} AppStandin
 * @property {string} url
 * @property {string} whoamiUrl      `${url}/whoami` (LOGIN_USERINFO_URL)
 * @property {string} loginUrl       `${url}/login` (LOGIN_REDIRECT_URL)
 * @property {string} cookieName
 * @property {(user: object, opts?: {forbidden?: boolean, answer?: object}) => {id: string, cookie: string}} createSession
 *   a session for `user` (answered by /whoami as is); `cookie` is `<cookieName>=<id>` for a Cookie header
 * @property {(id: string) => void} deleteSession
 * @property {() => Array<{id: string, user: object}>} sessions
 * @property {(answer: ({status: number, body?: any, headers?: object, contentType?: string, delayMs?: number}|null), opts?: {times?: number}) => void} setWhoamiAnswer
 *   answer /whoami with this for any session (or none); null clears
 * @property {() => RecordedRequest[]} requests
 * @property {() => RecordedRequest[]} whoamiRequests
 * @property {() => RecordedRequest[]} loginRequests   GET and POST /login
 * @property {() => void} reset   forget requests, clear the override (sessions stay)
 * @property {() => Promise<void>} stop
 */
/** The app stand-in's default user (`alice`), whose session its login page creates. */
export const DEFAULT_APP_USER = Object.freeze({
  sub: 'app-user-alice',
  email: 'alice@example.test',
  name: 'Alice Example',
  given_name: 'Alice',
  family_name: 'Example',
  email_verified: true,
});

export async function startAppStandin(opts = {}) {
  const cookieName = opts.cookieName ?? 'app_session';
  const users = opts.users ?? {
    alice: DEFAULT_APP_USER,
  };
  const sessions = new Map(); // id -> {user, forbidden, answer}
  const whoamiOverride = overrideSlot();

  const cookieAttrs = () =>
    [
      'Path=/',
      `SameSite=${opts.sameSite ?? 'Lax'}`,
      'HttpOnly',
      ...(opts.cookieDomain ? [`Domain=${opts.cookieDomain}`] : []),
      ...(opts.secureCookie ? ['Secure'] : []),
    ].join('; ');

  function createSession(user, { forbidden = false, answer } = {}) {
    const id = `sess_${randomBytes(18).toString('base64url')}`;
    sessions.set(id, { user, forbidden, answer });
    return { id, cookie: `${cookieName}=${id}` };
  }

  function sessionOf(cookieHeader) {
    for (const part of String(cookieHeader || '').split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() === cookieName) {
        const found = sessions.get(part.slice(eq + 1).trim());
        if (found) return found;
      }
    }
    return null;
  }

  const page = (title, inner) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${inner}</body></html>`;

  async function handle(rec, req, res) {
    if (rec.path === '/whoami') {
      rec.kind = 'whoami';
      const override = whoamiOverride.take();
      if (override) return sendOverride(res, override);
      const session = sessionOf(rec.headers.cookie);
      if (!session) return sendJson(res, 401, { error: 'not_signed_in' });
      if (session.answer) return sendOverride(res, session.answer);
      if (session.forbidden) return sendJson(res, 403, { error: 'forbidden' });
      return sendJson(res, 200, session.user);
    }
    if (rec.path === '/login' && req.method === 'GET') {
      rec.kind = 'login';
      const returnTo = rec.query.return_to?.[0] ?? '';
      const first = Object.keys(users)[0] ?? '';
      return send(res, 200, {
        type: 'text/html; charset=utf-8',
        body: page(
          'App sign-in',
          `<h1>Sign in to the app</h1><form method="post" action="/login">` +
            `<input type="hidden" name="return_to" value="${escapeHtml(returnTo)}">` +
            `<label>User <input type="text" name="username" id="username" value="${escapeHtml(first)}"></label>` +
            `<button type="submit" id="sign-in">Sign in</button></form>`,
        ),
      });
    }
    if (rec.path === '/login' && req.method === 'POST') {
      rec.kind = 'login';
      const form = new URLSearchParams(rec.body);
      const user = users[form.get('username') ?? ''];
      if (!user) return send(res, 401, { type: 'text/html; charset=utf-8', body: page('Sign-in failed', '<h1>unknown user</h1>') });
      const { id } = createSession(user);
      return send(res, 302, {
        headers: { location: form.get('return_to') || '/', 'set-cookie': `${cookieName}=${id}; ${cookieAttrs()}` },
        type: 'text/plain',
        body: 'signed in',
      });
    }
    if (rec.path === '/logout') {
      return send(res, 200, {
        headers: { 'set-cookie': `${cookieName}=; ${cookieAttrs()}; Max-Age=0` },
        type: 'text/html; charset=utf-8',
        body: page('Signed out', '<h1>signed out</h1>'),
      });
    }
    if (rec.path === '/') return send(res, 200, { type: 'text/html; charset=utf-8', body: page('App', '<h1>app home</h1>') });
    return sendJson(res, 404, { error: 'not_found' });
  }
  const server = await startRecordingServer(handle, { port: opts.port });
  const byKind = (kind) => () => server.requests().filter((r) => r.kind === kind);

  return {
    url: server.url,
    port: server.port,
    whoamiUrl: `${server.url}/whoami`,
    loginUrl: `${server.url}/login`,
    cookieName,
    createSession,
    deleteSession: (id) => sessions.delete(id),
    sessions: () => [...sessions].map(([id, s]) => ({ id, user: s.user })),
    setWhoamiAnswer: (answer, o) => whoamiOverride.set(answer, o),
    requests: server.requests,
    whoamiRequests: byKind('whoami'),
    loginRequests: byKind('login'),
    reset() {
      server.resetLog();
      whoamiOverride.clear();
    },
    stop: server.stop,
  };
}

// Standalone: start all three and print their URLs.
if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const scalekit = await startScalekitStandin({ connectionId: 'conn_e2e' });
  const access = await startAccessStandin();
  const app = await startAppStandin();
  console.log(`scalekit stand-in listening on ${scalekit.url} (client ${scalekit.clientId} / ${scalekit.clientSecret})`);
  console.log(`access stand-in listening on ${access.url} (aud ${access.aud})`);
  console.log(`app stand-in listening on ${app.url} (whoami ${app.whoamiUrl}, login ${app.loginUrl})`);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, async () => {
      await Promise.allSettled([scalekit.stop(), access.stop(), app.stop()]);
      process.exit(0);
    });
  }
}
