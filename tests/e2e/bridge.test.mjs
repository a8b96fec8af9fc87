// SPEC §10 login bridge (the gate as Scalekit's Login URL), against the built Worker under
// `wrangler dev --local` and in-process stand-ins (tests/origin/login-standins.mjs, via
// tests/support/bridge.mjs) for Scalekit, Cloudflare Access and the existing app. The exact
// behaviour checked is /tmp/bridge/CONTRACT.md (SPEC §10 and the SCALEKIT_*/LOGIN_*/ACCESS_*
// rows of §1, with the lead's decisions on top).
//
// Gate configurations (wrangler dev starts):
//   U. LOGIN_IDENTITY=userinfo, LOGIN_USERINFO_URL = app /whoami, LOGIN_REDIRECT_URL = app
//      /login?app=mcp (a URL that already has a query), LOGIN_CLAIMS, default LOGIN_PATH /login;
//   A. LOGIN_IDENTITY=access, ACCESS_TEAM_DOMAIN and SCALEKIT_ENVIRONMENT_URL with a trailing
//      slash (removed by the gate), LOGIN_PATH=/auth/mcp-login, no RESOURCE_NAME, no
//      LOGIN_REDIRECT_URL;
//   M1–M3 (started together): LOGIN_SECRET missing; LOGIN_SECRET 31 bytes; only
//      SCALEKIT_CONNECTION_ID set (half a bridge).
// Every bridge request goes through call(), which also picks up the request's log line (the
// gate's output is read as it arrives; waiting for it is bounded, never a sleep). The last
// describe checks the whole output of every gate for secrets.
//
// Scalekit outages use the stand-in's controls: answers overridden (500, 400, 401, 302), its
// listener closed (connection refused, same port reopened). The client-token cache is steered
// with `expires_in` (30 → never reusable, 3600 → reused) and by revoking issued tokens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  RESOURCE,
  WORKER_MAIN,
  defaultVars,
  expectNoCredentialsChallenge,
  headerList,
  now,
  rawRequest,
  snapshot,
  startGate,
  startOrigin,
  workerBuilt,
} from '../support/index.mjs';
import {
  DEFAULT_APP_USER,
  expectBridgePageHeaders,
  formBody,
  mintFormToken,
  parseConfirmationPage,
  readFormToken,
  startAccessStandin,
  startAppStandin,
  startScalekitStandin,
  visibleText,
} from '../support/bridge.mjs';

const T = { timeout: 45_000 };
const RESOURCE_ORIGIN = new URL(RESOURCE).origin; // https://mcp.example.test
const RESOURCE_HOST = new URL(RESOURCE).host;
const FORM = 'application/x-www-form-urlencoded';
const MAX_FORM_BYTES = 16 * 1024;
const FORM_TOKEN_LIFETIME = 300;
/** The Access key cache refetches on an unknown kid at most once per this many ms. */
const CERTS_COOLDOWN_MS = 30_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rand = (bytes = 18) => randomBytes(bytes).toString('base64url');

// --- users of the app stand-in (the userinfo answers) -----------------------------------------

/** Every standard claim with a fitting type, the LOGIN_CLAIMS of gate U, and claims not to copy. */
const ALICE = {
  ...DEFAULT_APP_USER,
  preferred_username: 'alice',
  picture: 'https://app.example.test/alice.png',
  locale: 'de-CH',
  phone_number: '+41 44 000 00 00',
  phone_number_verified: false,
  department: 'R&D <lab>',
  groups: ['eng', 'mcp-users'],
  org: { id: 7, name: 'Example AG', flags: [true, null] },
  internal_role: 'admin',
  sid: 'app-session-claim',
};
const ALICE_SUBMITTED = (({ internal_role: _r, sid: _s, ...rest }) => rest)(ALICE);

/** Standard claims with the wrong types (dropped), an email that needs escaping, a string LOGIN_CLAIM. */
const BOB = {
  sub: 'app-user-bob',
  email: '"<b>bob</b>"&co@example.test',
  name: 42,
  given_name: null,
  email_verified: 'true',
  phone_number_verified: 1,
  picture: ['https://app.example.test/bob.png'],
  locale: 'en',
  groups: 'single-group',
};
const BOB_SUBMITTED = { sub: BOB.sub, email: BOB.email, locale: 'en', groups: 'single-group' };

const CAROL = { sub: 'app-user-carol', email: 'carol@example.test' };
const MALLORY = { sub: 'app-user-mallory', email: 'mallory@example.test' };

// --- what the final log check looks for -------------------------------------------------------

/** Values that must never appear in any gate's output (states, cookies, tokens, secrets). */
const NEVER_LOGGED = new Set();
const remember = (...values) => {
  for (const v of values) if (v) NEVER_LOGGED.add(String(v));
  return values[0];
};
/** Every gate context started by this file (for the final log check). */
const CONTEXTS = [];

const newLogin = () => {
  const login = { id: `lri_${rand(9)}`, state: `st.${rand(24)}~z` };
  remember(login.state);
  return login;
};
const loginQuery = ({ id, state }) => `?login_request_id=${id}&state=${state}`;

// --- requests to the bridge -------------------------------------------------------------------

const bridgeLines = (gate) => gate.jsonLogs().filter((l) => 'bridge_step' in l);

/** Poll the gate's output until it holds `count` bridge lines (bounded). */
async function waitForBridgeLines(gate, count, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  let lines = bridgeLines(gate);
  while (lines.length < count && Date.now() < deadline) {
    await sleep(50);
    lines = bridgeLines(gate);
  }
  return lines;
}

/**
 * One request to the gate's LOGIN_PATH (or `path`) with exactly `headers` (rawRequest), read
 * into a snapshot; `snap.log` is the bridge log line it produced (undefined if none came).
 */
async function call(ctx, { method = 'GET', search = '', headers = [], body, path = ctx.loginPath, timeoutMs = 20_000 } = {}) {
  const before = bridgeLines(ctx.gate).length;
  const started = Date.now();
  const res = await rawRequest(`${ctx.gate.url}${path}${search}`, { method, headers, body, timeoutMs });
  const snap = await snapshot(res);
  snap.ms = Date.now() - started;
  snap.method = method;
  ctx.bridgeRequests += 1;
  const lines = await waitForBridgeLines(ctx.gate, before + 1);
  snap.log = lines[before];
  return snap;
}

/** GET LOGIN_PATH for `login` as a browser would (cookie / Access JWT when given). */
function getPage(ctx, login, { cookie, jwt, headers = [], search } = {}) {
  const h = [['Accept', 'text/html,application/xhtml+xml']];
  if (cookie) h.push(['Cookie', cookie]);
  if (jwt) h.push(['Cf-Access-Jwt-Assertion', jwt]);
  h.push(...headers);
  return call(ctx, { search: search ?? loginQuery(login), headers: h });
}

/**
 * POST LOGIN_PATH as the confirmation page's form does: `fields` (object or [name, value] list)
 * form-encoded, `Origin` = the RESOURCE origin and `Sec-Fetch-Site: same-origin` unless
 * overridden (null: header not sent).
 */
function submit(ctx, fields, { cookie, jwt, origin = RESOURCE_ORIGIN, site = 'same-origin', contentType = FORM, body, headers = [] } = {}) {
  const h = [];
  if (contentType !== null) h.push(['Content-Type', contentType]);
  if (origin !== null) h.push(['Origin', origin]);
  if (site !== null) h.push(['Sec-Fetch-Site', site]);
  if (cookie) h.push(['Cookie', cookie]);
  if (jwt) h.push(['Cf-Access-Jwt-Assertion', jwt]);
  h.push(...headers);
  return call(ctx, { method: 'POST', headers: h, body: body ?? formBody(fields) });
}

// --- expectations -----------------------------------------------------------------------------

/** A bridge page: status, the security headers, no script, and none of `hidden` in its visible text. */
function expectPage(snap, status, { outcome, hidden = [], context = '' } = {}) {
  const what = `${context ? `${context}: ` : ''}${snap.status} ${visibleText(snap.text || '').slice(0, 300)}`;
  assert.equal(snap.status, status, `status (${what})`);
  expectBridgePageHeaders(snap.headers, context);
  assert.doesNotMatch(snap.text, /<script\b/i, `no script on the page (${context})`);
  const text = visibleText(snap.text);
  for (const secret of hidden) if (secret) assert.ok(!text.includes(secret), `the page does not show the state or token (${context})`);
  if (outcome) expectLog(snap, { outcome, status });
  return text;
}

/** An error page: as expectPage, and the state / form token appear nowhere in it. */
function expectErrorPage(snap, status, outcome, { hidden = [], context = '' } = {}) {
  const text = expectPage(snap, status, { outcome, hidden, context });
  for (const secret of hidden) if (secret) assert.ok(!snap.text.includes(secret), `an error page carries no state or form token (${context})`);
  return text;
}

/** The bridge log line of one request. */
function expectLog(snap, { outcome, status, sub, step } = {}) {
  const line = snap.log;
  assert.ok(line, `a bridge log line for this request (status ${snap.status})`);
  if (outcome) assert.equal(line.outcome, outcome, `log outcome: ${JSON.stringify(line)}`);
  if (status !== undefined) assert.equal(line.status, status, `log status: ${JSON.stringify(line)}`);
  if (sub !== undefined) assert.equal(line.sub, sub, `log sub: ${JSON.stringify(line)}`);
  if (step) assert.equal(line.bridge_step, step, `log bridge_step: ${JSON.stringify(line)}`);
  assert.ok(!String(line.path ?? '').includes('?'), `the log's path carries no query: ${JSON.stringify(line)}`);
  assert.equal(typeof line.duration_ms, 'number', `duration_ms: ${JSON.stringify(line)}`);
  if (snap.method) assert.equal(line.http_method, snap.method, `log http_method: ${JSON.stringify(line)}`);
  return line;
}

/** The confirmation page of `login` for `user`; returns the parsed form. */
function expectConfirmation(ctx, snap, login, user, { resourceLabel = ctx.resourceLabel } = {}) {
  const text = expectPage(snap, 200, { context: 'confirmation page' });
  const page = parseConfirmationPage(snap.text);
  assert.ok(text.includes(`Continue to ${resourceLabel}`), `the page says "Continue to ${resourceLabel}": ${text}`);
  assert.ok(text.includes(user.email), `the page shows the email ${user.email}: ${text}`);
  assert.equal(page.forms.length, 1, 'one form');
  assert.equal(page.form.method, 'post', 'the form posts');
  assert.equal(page.form.action, ctx.loginPath, 'the form posts to LOGIN_PATH');
  assert.deepEqual(page.duplicates, [], 'no input twice');
  assert.equal(page.hidden.login_request_id, login.id, 'hidden login_request_id');
  assert.equal(page.hidden.state, login.state, 'hidden state');
  assert.equal(typeof page.hidden.token, 'string', 'hidden token');
  assert.match(page.hidden.token, /^v1\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'form token shape v1.<exp>.<b64u sub>.<b64u mac>');
  remember(page.hidden.token);
  assert.ok(page.hasSubmit, 'a submit button');
  assert.ok(!text.includes(login.state), 'the visible text does not contain the state');
  assert.ok(!text.includes(page.hidden.token), 'the visible text does not contain the form token');
  assert.equal(snap.text.split(login.state).length - 1, 1, 'the state appears once in the HTML (the hidden input)');
  assert.equal(snap.text.split(page.hidden.token).length - 1, 1, 'the form token appears once in the HTML (the hidden input)');
  expectLog(snap, { outcome: 'confirm', status: 200, sub: user.sub, step: 'page' });
  return page;
}

/** The form token binds exactly these fields and this user, signed with LOGIN_SECRET, 5 minutes ahead. */
function expectTokenBinds(ctx, token, login, sub, { from, to }) {
  const parts = readFormToken(token);
  assert.equal(parts.sub, sub, 'the form token names the user');
  assert.ok(parts.exp >= from + FORM_TOKEN_LIFETIME - 1 && parts.exp <= to + FORM_TOKEN_LIFETIME + 1, `exp is issue time + 300 s (${parts.exp}, issued ${from}..${to})`);
  const expected = mintFormToken({ secret: ctx.loginSecret, exp: parts.exp, loginRequestId: login.id, state: login.state, sub });
  assert.equal(token, expected, 'the form token is the HMAC of CONTRACT "Form token" under LOGIN_SECRET');
}

const callbackUrl = (ctx, state) => `${ctx.scalekit.url}/sso/v1/connections/${ctx.conn}/partner:callback?state=${encodeURIComponent(state)}`;

/** 302 to Scalekit's partner:callback with the exact state. */
function expectSubmitted(ctx, snap, login, sub) {
  assert.equal(snap.status, 302, `submitted → 302 (${snap.status} ${visibleText(snap.text || '').slice(0, 300)})`);
  assert.equal(snap.headers.location, callbackUrl(ctx, login.state), 'Location is the partner:callback with the state');
  expectLog(snap, { outcome: 'submitted', status: 302, sub, step: 'submit' });
}

/** Headers a userinfo call must never carry (the browser's other headers stay with the gate). */
const NOT_FOR_USERINFO = ['authorization', 'cf-access-jwt-assertion', 'x-forwarded-for', 'referer', 'x-probe-header', 'origin', 'sec-fetch-site', 'content-type'];

function expectUserinfoCall(rec, cookie) {
  assert.equal(rec.method, 'GET', 'userinfo is a GET');
  assert.equal(rec.headers.cookie, cookie, "userinfo gets the browser's Cookie header exactly");
  assert.equal(rec.headers.accept, 'application/json', 'userinfo Accept: application/json');
  for (const name of NOT_FOR_USERINFO) assert.equal(rec.headers[name], undefined, `userinfo does not get ${name}`);
  assert.equal(rec.body, '', 'userinfo has no body');
}

function expectTokenRequest(rec, scalekit) {
  assert.equal(rec.method, 'POST');
  assert.equal(String(rec.headers['content-type']).split(';')[0].trim(), FORM, 'token request is form-encoded');
  const form = new URLSearchParams(rec.body);
  assert.deepEqual([...form.keys()].sort(), ['client_id', 'client_secret', 'grant_type'], `token request fields: ${[...form.keys()]}`);
  assert.equal(form.get('grant_type'), 'client_credentials');
  assert.equal(form.get('client_id'), scalekit.clientId);
  assert.equal(form.get('client_secret'), scalekit.clientSecret);
}

function expectUserRequest(ctx, rec, login, body, bearer) {
  assert.equal(rec.method, 'POST');
  assert.equal(rec.path, `/api/v1/connections/${ctx.conn}/auth-requests/${login.id}/user`, 'user endpoint path');
  assert.equal(String(rec.headers['content-type']).split(';')[0].trim(), 'application/json', 'user body is JSON');
  if (bearer) assert.equal(rec.headers.authorization, `Bearer ${bearer}`, 'Authorization: Bearer <client token>');
  assert.deepEqual(JSON.parse(rec.body), body, 'the submitted user');
}

// --- gate settings ----------------------------------------------------------------------------

let origin;
before(async () => {
  if (!workerBuilt()) throw new Error(`the Worker is not built: ${WORKER_MAIN} is missing`);
  origin = await startOrigin();
});
after(async () => {
  await origin?.stop();
});

function bridgeSecret() {
  return remember(`ls_${rand(36)}`); // 51 bytes
}

// =============================================================================================
describe('login bridge, LOGIN_IDENTITY=userinfo with LOGIN_REDIRECT_URL (gate U)', { timeout: 600_000 }, () => {
  const CONN = 'conn_e2e-userinfo';
  const ctx = { name: 'U', loginPath: '/login', conn: CONN, resourceLabel: 'mcp-gate e2e', bridgeRequests: 0 };
  let scalekit;
  let app;
  /** A fresh session cookie header for `user` (remembered for the log check). */
  const sessionFor = (user, opts) => {
    const s = app.createSession(user, opts);
    remember(s.id);
    return s.cookie;
  };
  /** Page + form for a fresh login as `user`. */
  async function confirmed(user, cookie = sessionFor(user)) {
    const login = newLogin();
    const snap = await getPage(ctx, login, { cookie });
    const page = expectConfirmation(ctx, snap, login, user);
    return { login, cookie, fields: page.hidden, page };
  }
  const redirectTo = (login) =>
    `${app.url}/login?app=mcp&return_to=${encodeURIComponent(`${RESOURCE_ORIGIN}/login?login_request_id=${login.id}&state=${login.state}`)}`;
  const resetAll = () => {
    scalekit.reset();
    app.reset();
  };

  before(async () => {
    scalekit = await startScalekitStandin({ connectionId: CONN });
    app = await startAppStandin({ users: { alice: ALICE } });
    remember(scalekit.clientSecret);
    ctx.scalekit = scalekit;
    ctx.app = app;
    ctx.loginSecret = bridgeSecret();
    ctx.gate = await startGate({
      name: 'bridge-userinfo',
      vars: {
        ...defaultVars(origin.url),
        SCALEKIT_ENVIRONMENT_URL: scalekit.url,
        SCALEKIT_CONNECTION_ID: CONN,
        SCALEKIT_CLIENT_ID: scalekit.clientId,
        LOGIN_IDENTITY: 'userinfo',
        LOGIN_USERINFO_URL: app.whoamiUrl,
        LOGIN_REDIRECT_URL: `${app.url}/login?app=mcp`,
        LOGIN_CLAIMS: 'department groups org cost_center',
      },
      secrets: { SCALEKIT_CLIENT_SECRET: scalekit.clientSecret, LOGIN_SECRET: ctx.loginSecret },
      kv: {},
    });
    CONTEXTS.push(ctx);
  });
  after(async () => {
    await Promise.allSettled([ctx.gate?.stop(), scalekit?.stop(), app?.stop()]);
  });

  test('the MCP endpoint still answers its 401 challenge; paths below LOGIN_PATH are 404 and nothing reaches the origin', T, async () => {
    await origin.reset();
    const mcp = await snapshot(
      await rawRequest(`${ctx.gate.url}/mcp`, {
        method: 'POST',
        headers: [
          ['Content-Type', 'application/json'],
          ['Accept', 'application/json, text/event-stream'],
        ],
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      }),
    );
    expectNoCredentialsChallenge(mcp);
    const below = await snapshot(await rawRequest(`${ctx.gate.url}/login/extra${loginQuery(newLogin())}`));
    assert.equal(below.status, 404, `/login/extra is not the bridge: ${below.status} ${below.text}`);
    assert.deepEqual(await origin.requests(), [], 'the origin saw nothing');
  });

  test('the confirmation page says how to cancel (close the page) and why, and carries no link that could leak the form', T, async () => {
    const { page } = await confirmed(ALICE);
    assert.match(page.text, /did not just start signing in/i, `the warning about links sent by someone else: ${page.text}`);
    assert.match(page.text, /To cancel, close this page/i, `how to cancel: ${page.text}`);
    assert.deepEqual(page.links, [], 'no link on the page (README "Login bridge": cancelling is closing the page)');
  });

  test('token endpoint failures before any token is cached: 500, non-JSON, no access_token, string expires_in → 502 page, asked once each, nothing submitted', T, async () => {
    const answers = [
      { status: 500, body: { error: 'server_error' } },
      { status: 200, body: 'not json', contentType: 'text/plain' },
      { status: 200, body: { token_type: 'Bearer', expires_in: 3600 } },
      { status: 200, body: { access_token: `skat_${rand()}`, token_type: 'Bearer', expires_in: '3600' } },
      { status: 401, body: { error: 'invalid_client' } },
    ];
    for (const answer of answers) {
      if (answer.body?.access_token) remember(answer.body.access_token);
      const { login, cookie, fields } = await confirmed(ALICE);
      resetAll();
      scalekit.setTokenAnswer(answer);
      const snap = await submit(ctx, fields, { cookie });
      const context = `token endpoint ${answer.status} ${JSON.stringify(answer.body)}`;
      expectErrorPage(snap, 502, 'scalekit_refused', { hidden: [login.state, fields.token], context });
      assert.equal(scalekit.tokenRequests().length, 1, `${context}: one token request, no retry`);
      assert.equal(scalekit.userRequests().length, 0, `${context}: no user submitted`);
      assert.equal(app.whoamiRequests().length, 1, `${context}: the user was learned again once`);
      scalekit.setTokenAnswer(null);
    }
  });

  test('happy path, three logins (all standard claims; wrongly typed claims; sub+email only): confirmation page, 302 to partner:callback, each user submitted once, one client token', T, async () => {
    resetAll();
    const cases = [
      {
        user: ALICE,
        expected: ALICE_SUBMITTED,
        // Other cookies and headers of the browser stay with the gate.
        cookiePrefix: 'theme=dark; ',
        extraHeaders: [
          ['Authorization', 'Basic dXNlcjpwYXNz'],
          ['Cf-Access-Jwt-Assertion', 'not-for-userinfo'],
          ['X-Forwarded-For', '203.0.113.9'],
          ['Referer', 'https://auth.example.test/some/page'],
          ['X-Probe-Header', 'probe'],
        ],
        contentType: FORM,
      },
      { user: BOB, expected: BOB_SUBMITTED, cookiePrefix: '', extraHeaders: [], contentType: `${FORM}; charset=UTF-8` },
      { user: CAROL, expected: { sub: CAROL.sub, email: CAROL.email }, cookiePrefix: '', extraHeaders: [], contentType: FORM },
    ];
    const done = [];
    for (const c of cases) {
      const cookie = `${c.cookiePrefix}${sessionFor(c.user)}`;
      const login = newLogin();
      app.reset();
      const scalekitBefore = scalekit.requests().length;
      const from = now();
      const snap = await getPage(ctx, login, { cookie, headers: c.extraHeaders });
      const to = now();
      const page = expectConfirmation(ctx, snap, login, c.user);
      if (c.user === BOB) {
        assert.ok(!snap.text.includes('<b>bob</b>'), 'the email is HTML-escaped on the page');
        assert.ok(!snap.text.includes('"<b>'), 'no raw quote-and-tag from the email');
      }
      expectTokenBinds(ctx, page.hidden.token, login, c.user.sub, { from, to });
      assert.equal(app.whoamiRequests().length, 1, 'the page asked userinfo once');
      expectUserinfoCall(app.whoamiRequests()[0], cookie);
      assert.equal(scalekit.requests().length, scalekitBefore, 'the page does not call Scalekit');

      app.reset();
      const posted = await submit(ctx, page.fields, { cookie, contentType: c.contentType });
      expectSubmitted(ctx, posted, login, c.user.sub);
      assert.equal(app.whoamiRequests().length, 1, 'the submit learned the user again, once');
      expectUserinfoCall(app.whoamiRequests()[0], cookie);
      done.push({ login, expected: c.expected, location: posted.headers.location });
    }

    const tokens = scalekit.tokenRequests();
    assert.equal(tokens.length, 1, 'one client token for three logins');
    expectTokenRequest(tokens[0], scalekit);
    const issued = scalekit.issuedTokens().at(-1);
    const users = scalekit.userRequests();
    assert.equal(users.length, 3, 'three user submissions');
    done.forEach((d, i) => expectUserRequest(ctx, users[i], d.login, d.expected, issued));
    assert.deepEqual(
      scalekit.submissions().map((s) => [s.connectionId, s.loginRequestId, s.user.sub]),
      done.map((d, i) => [CONN, d.login.id, cases[i].user.sub]),
      'Scalekit accepted each user once, for its own login request',
    );

    // The browser follows the Location: Scalekit's page, with the state.
    const followed = await fetch(done[0].location);
    const html = await followed.text();
    assert.equal(followed.status, 200);
    assert.match(html, /callback ok/);
    assert.equal(scalekit.callbackRequests().at(-1).query.state?.[0], done[0].login.state, 'Scalekit got the exact state');
  });

  test('not signed in: no cookie → 302 to LOGIN_REDIRECT_URL&return_to=… (no userinfo call); unknown session → userinfo 401 → the same; through the app login and back to a confirmed login', T, async () => {
    resetAll();
    const login = newLogin();
    const anonymous = await getPage(ctx, login);
    assert.equal(anonymous.status, 302, `no cookie → 302: ${anonymous.status} ${anonymous.text}`);
    assert.equal(anonymous.headers.location, redirectTo(login), 'Location: LOGIN_REDIRECT_URL + & + return_to');
    expectLog(anonymous, { outcome: 'not_signed_in', status: 302, step: 'page' });
    assert.equal(app.whoamiRequests().length, 0, 'no Cookie header → no userinfo call');

    const stale = `${app.cookieName}=sess_${rand()}`;
    remember(stale.split('=')[1]);
    const unknown = await getPage(ctx, login, { cookie: stale });
    assert.equal(unknown.status, 302, `unknown session → 302: ${unknown.status} ${unknown.text}`);
    assert.equal(unknown.headers.location, redirectTo(login));
    expectLog(unknown, { outcome: 'not_signed_in', status: 302 });
    assert.equal(app.whoamiRequests().length, 1, 'the unknown session was asked about once');

    // The browser: the app's login page, sign in, back to return_to on the gate.
    const loginPage = await fetch(anonymous.headers.location);
    const form = parseConfirmationPage(await loginPage.text());
    assert.equal(form.fields.return_to, `${RESOURCE_ORIGIN}/login?login_request_id=${login.id}&state=${login.state}`, 'the app got return_to intact');
    const signedIn = await fetch(new URL(form.form.action, app.url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': FORM },
      body: formBody(form.fields),
    });
    await signedIn.text();
    assert.equal(signedIn.status, 302);
    const cookie = signedIn.headers.get('set-cookie').split(';')[0];
    remember(cookie.split('=')[1]);
    const back = new URL(signedIn.headers.get('location'));
    assert.equal(back.origin, RESOURCE_ORIGIN, 'the app sends the browser back to the gate');
    const snap = await call(ctx, { search: back.search, path: back.pathname, headers: [['Cookie', cookie]] });
    const page = expectConfirmation(ctx, snap, login, ALICE);
    const posted = await submit(ctx, page.fields, { cookie });
    expectSubmitted(ctx, posted, login, ALICE.sub);
    assert.equal(scalekit.submissions().at(-1).loginRequestId, login.id);
  });

  test('parameters: missing, empty, repeated, over 512 characters, outside [A-Za-z0-9._~-] → 400 page before any userinfo call; 512 characters are fine', T, async () => {
    const cookie = sessionFor(ALICE);
    const ok = newLogin();
    const long = 'a'.repeat(512);
    const bad = [
      ['no parameters', ''],
      ['no state', `?login_request_id=${ok.id}`],
      ['no login_request_id', `?state=${ok.state}`],
      ['empty state', `?login_request_id=${ok.id}&state=`],
      ['empty login_request_id', `?login_request_id=&state=${ok.state}`],
      ['state twice', `?login_request_id=${ok.id}&state=${ok.state}&state=${ok.state}`],
      ['login_request_id twice', `?login_request_id=${ok.id}&login_request_id=lri_other&state=${ok.state}`],
      ['state of 513 characters', `?login_request_id=${ok.id}&state=${long}b`],
      ['login_request_id of 513 characters', `?login_request_id=${long}b&state=${ok.state}`],
      ['space in state', `?login_request_id=${ok.id}&state=a%20b`],
      ['plus in state', `?login_request_id=${ok.id}&state=a+b`],
      ['slash in state', `?login_request_id=${ok.id}&state=a%2Fb`],
      ['non-ASCII state', `?login_request_id=${ok.id}&state=caf%C3%A9`],
      ['angle brackets in login_request_id', `?login_request_id=%3Cb%3E&state=${ok.state}`],
      ['percent in state', `?login_request_id=${ok.id}&state=a%25b`],
    ];
    for (const [what, search] of bad) {
      app.reset();
      const snap = await getPage(ctx, ok, { cookie, search });
      expectErrorPage(snap, 400, 'invalid_request', { hidden: [ok.state], context: what });
      assert.equal(app.whoamiRequests().length, 0, `${what}: no userinfo call`);
    }
    const edge = { id: `L${'x'.repeat(511)}`, state: remember(`S${rand(30)}${'y'.repeat(470)}.`) };
    assert.equal(edge.id.length, 512);
    assert.equal(edge.state.length, 512);
    const snap = await getPage(ctx, edge, { cookie });
    expectConfirmation(ctx, snap, edge, ALICE);
  });

  test('userinfo 403 → 403 page; 500, 404, 302 (not followed), non-JSON, array, missing email, numeric sub, duplicate members → 502 page; Scalekit untouched', T, async () => {
    const login = newLogin();
    const forbidden = await getPage(ctx, login, { cookie: sessionFor(ALICE, { forbidden: true }) });
    expectErrorPage(forbidden, 403, 'forbidden', { hidden: [login.state] });

    const odd = [
      ['500', { status: 500, body: { error: 'boom' } }],
      ['404', { status: 404, body: { error: 'nope' } }],
      ['302 to the app login', { status: 302, headers: { location: `${app.url}/login` }, body: '' }],
      ['200 text', { status: 200, body: 'alice', contentType: 'text/plain' }],
      ['200 HTML', { status: 200, body: '<html>sign in</html>', contentType: 'text/html' }],
      ['200 array', { status: 200, body: '[{"sub":"a","email":"a@example.test"}]', contentType: 'application/json' }],
      ['200 no email', { status: 200, body: { sub: 'app-user-x' } }],
      ['200 no sub', { status: 200, body: { email: 'x@example.test' } }],
      ['200 numeric sub', { status: 200, body: { sub: 12, email: 'x@example.test' } }],
      [
        '200 duplicate sub',
        { status: 200, body: '{"sub":"app-user-alice","email":"alice@example.test","sub":"app-user-mallory"}', contentType: 'application/json' },
      ],
    ];
    for (const [what, answer] of odd) {
      resetAll();
      const l = newLogin();
      const snap = await getPage(ctx, l, { cookie: sessionFor(ALICE, { answer }) });
      expectErrorPage(snap, 502, 'identity_unavailable', { hidden: [l.state], context: `userinfo ${what}` });
      assert.equal(app.requests().length, 1, `userinfo ${what}: one request to the app (no redirect followed, no retry)`);
      assert.equal(scalekit.requests().length, 0, `userinfo ${what}: Scalekit untouched`);
    }
  });

  test('userinfo slower than the 10 s deadline → 502 page', { timeout: 40_000 }, async () => {
    const login = newLogin();
    const cookie = sessionFor(ALICE, { answer: { status: 200, body: ALICE, delayMs: 15_000 } });
    const snap = await getPage(ctx, login, { cookie });
    expectErrorPage(snap, 502, 'identity_unavailable', { hidden: [login.state], context: 'slow userinfo' });
    assert.ok(snap.ms >= 9_000 && snap.ms < 14_000, `answered at the deadline (${snap.ms} ms)`);
  });

  test('POST from another site: Sec-Fetch-Site cross-site/same-site/none, Origin foreign/null/http/other port → 403 page before anything else; no Origin and no Sec-Fetch-Site is accepted', T, async () => {
    const { login, cookie, fields } = await confirmed(ALICE);
    const cases = [
      ['Sec-Fetch-Site: cross-site', { site: 'cross-site' }],
      ['Sec-Fetch-Site: same-site', { site: 'same-site' }],
      ['Sec-Fetch-Site: none', { site: 'none' }],
      ['Origin: https://evil.example.test', { origin: 'https://evil.example.test' }],
      ['Origin: null', { origin: 'null' }],
      ['Origin: http://mcp.example.test', { origin: `http://${RESOURCE_HOST}` }],
      ['Origin: https://mcp.example.test:8443', { origin: `${RESOURCE_ORIGIN}:8443` }],
      ['Origin foreign, no Sec-Fetch-Site', { origin: 'https://evil.example.test', site: null }],
      ['cross-site with a text/plain body (403 comes first)', { site: 'cross-site', contentType: 'text/plain' }],
      ['cross-site with a bad token (403 comes first)', { site: 'cross-site', body: formBody({ ...fields, token: 'v1.1.x.y' }) }],
    ];
    for (const [what, opts] of cases) {
      resetAll();
      const snap = await submit(ctx, fields, { cookie, ...opts });
      expectErrorPage(snap, 403, 'cross_site', { hidden: [login.state, fields.token], context: what });
      assert.equal(app.whoamiRequests().length, 0, `${what}: no userinfo call`);
      assert.equal(scalekit.requests().length, 0, `${what}: Scalekit untouched`);
    }
    // Controls: a client that sends neither header (not a browser), and same-origin without Origin.
    for (const [what, opts] of [
      ['neither Origin nor Sec-Fetch-Site', { origin: null, site: null }],
      ['Sec-Fetch-Site: same-origin without Origin', { origin: null }],
      ['Origin without Sec-Fetch-Site', { site: null }],
    ]) {
      const fresh = await confirmed(ALICE);
      const snap = await submit(ctx, fresh.fields, { cookie: fresh.cookie, ...opts });
      assert.equal(snap.status, 302, `${what} is accepted: ${snap.status}`);
      expectSubmitted(ctx, snap, fresh.login, ALICE.sub);
    }
  });

  test('POST body: other media types → 415, over 16 KiB → 413 (both before the fields are read); exactly 16 KiB is not refused as too large', T, async () => {
    const { login, cookie, fields } = await confirmed(ALICE);
    for (const type of ['text/plain', 'application/json', 'multipart/form-data; boundary=x', null, `${FORM}x`]) {
      resetAll();
      const snap = await submit(ctx, fields, { cookie, contentType: type, body: type === 'application/json' ? JSON.stringify(fields) : undefined });
      expectErrorPage(snap, 415, 'unsupported_media_type', { hidden: [login.state, fields.token], context: `Content-Type ${type}` });
      assert.equal(app.whoamiRequests().length + scalekit.requests().length, 0, `${type}: nothing called`);
    }
    const junk415 = await submit(ctx, null, { cookie, contentType: 'text/plain', body: 'login_request_id=%%%' });
    expectErrorPage(junk415, 415, 'unsupported_media_type', { context: '415 before the fields' });

    const base = formBody(fields);
    const padded = (size) => `${base}&pad=${'p'.repeat(size - base.length - 5)}`;
    assert.equal(padded(MAX_FORM_BYTES + 1).length, MAX_FORM_BYTES + 1);
    resetAll();
    const tooLarge = await submit(ctx, null, { cookie, body: padded(MAX_FORM_BYTES + 1) });
    expectErrorPage(tooLarge, 413, 'too_large', { hidden: [login.state, fields.token], context: '16 KiB + 1' });
    assert.equal(app.whoamiRequests().length + scalekit.requests().length, 0, '413: nothing called');
    const junkLarge = await submit(ctx, null, { cookie, body: `x=${'%'.repeat(MAX_FORM_BYTES)}` });
    expectErrorPage(junkLarge, 413, 'too_large', { context: '413 before the fields' });

    const fresh = await confirmed(ALICE);
    const b = formBody(fresh.fields);
    const exact = await submit(ctx, null, { cookie: fresh.cookie, body: `${b}&pad=${'p'.repeat(MAX_FORM_BYTES - b.length - 5)}` });
    assert.notEqual(exact.status, 413, `a body of exactly 16 KiB is within the limit (${exact.status} ${visibleText(exact.text).slice(0, 200)})`);
  });

  test('form token: missing, malformed, tampered, re-signed with another secret, another user, another login_request_id or state, repeated fields, expired → 400 page before any userinfo call; a token minted with LOGIN_SECRET is accepted', T, async () => {
    const a = await confirmed(ALICE);
    const b = await confirmed(ALICE, a.cookie);
    const tok = readFormToken(a.fields.token);
    const flip = (s) => s.slice(0, -2) + (s.at(-2) === 'A' ? 'B' : 'A') + s.at(-1);
    const mint = (over = {}) =>
      remember(mintFormToken({ secret: ctx.loginSecret, exp: tok.exp, loginRequestId: a.login.id, state: a.login.state, sub: ALICE.sub, ...over }));
    const [v, exp, sub, mac] = a.fields.token.split('.');
    const withToken = (token) => [
      ['login_request_id', a.login.id],
      ['state', a.login.state],
      ['token', token],
    ];
    const cases = [
      ['no token', [['login_request_id', a.login.id], ['state', a.login.state]], 'form_invalid'],
      ['empty token', withToken(''), 'form_invalid'],
      ['garbage token', withToken('garbage'), 'form_invalid'],
      ['three parts', withToken(`${v}.${exp}.${sub}`), 'form_invalid'],
      ['version v2', withToken(`v2.${exp}.${sub}.${mac}`), 'form_invalid'],
      ['non-numeric exp', withToken(`${v}.x${exp}.${sub}.${mac}`), 'form_invalid'],
      ['tampered mac', withToken(`${v}.${exp}.${sub}.${flip(mac)}`), 'form_invalid'],
      ['exp moved later, mac kept', withToken(`${v}.${Number(exp) + 60}.${sub}.${mac}`), 'form_invalid'],
      ['sub swapped, mac kept', withToken(`${v}.${exp}.${Buffer.from(MALLORY.sub).toString('base64url')}.${mac}`), 'form_invalid'],
      ['minted with another secret', withToken(remember(mintFormToken({ secret: `other-${ctx.loginSecret}`, exp: tok.exp, loginRequestId: a.login.id, state: a.login.state, sub: ALICE.sub }))), 'form_invalid'],
      ['token of login B with the fields of login A', withToken(b.fields.token), 'form_invalid'],
      ['token of A, login_request_id of B', [['login_request_id', b.login.id], ['state', a.login.state], ['token', a.fields.token]], 'form_invalid'],
      ['token of A, state of B', [['login_request_id', a.login.id], ['state', b.login.state], ['token', a.fields.token]], 'form_invalid'],
      ['state twice', [...withToken(a.fields.token), ['state', a.login.state]], 'form_invalid'],
      ['token twice', [...withToken(a.fields.token), ['token', a.fields.token]], 'form_invalid'],
      ['login_request_id twice', [['login_request_id', a.login.id], ...withToken(a.fields.token)], 'form_invalid'],
      ['invalid state characters', [['login_request_id', a.login.id], ['state', `${a.login.state}/`], ['token', a.fields.token]], 'form_invalid'],
      ['expired 5 s ago (valid MAC)', withToken(mint({ exp: now() - 5 })), 'form_expired'],
      ['expired an hour ago (valid MAC)', withToken(mint({ exp: now() - 3600 })), 'form_expired'],
    ];
    for (const [what, fields, outcome] of cases) {
      resetAll();
      const snap = await submit(ctx, fields, { cookie: a.cookie });
      // A repeated or invalid field may be reported as invalid_request; a bad token as form_invalid.
      const allowed = outcome === 'form_expired' ? ['form_expired'] : ['form_invalid', 'invalid_request'];
      expectErrorPage(snap, 400, undefined, { hidden: [a.login.state, a.fields.token], context: what });
      assert.ok(allowed.includes(snap.log?.outcome), `${what}: log outcome ${snap.log?.outcome} in ${allowed}`);
      assert.equal(app.whoamiRequests().length, 0, `${what}: no userinfo call`);
      assert.equal(scalekit.requests().length, 0, `${what}: Scalekit untouched`);
    }

    // Controls: the minting above matches the gate's (a fresh exp two minutes ahead is accepted),
    // and the untouched token of A still works after all the refusals.
    resetAll();
    const minted = await submit(ctx, withToken(mint({ exp: now() + 120 })), { cookie: a.cookie });
    expectSubmitted(ctx, minted, a.login, ALICE.sub);
    const own = await submit(ctx, b.fields, { cookie: b.cookie });
    expectSubmitted(ctx, own, b.login, ALICE.sub);
  });

  test("POST as another user than the token's → 403 page; a forbidden session → 403; no session → 302 to LOGIN_REDIRECT_URL; userinfo 500 → 502", T, async () => {
    const cases = [
      ['another user', () => sessionFor(MALLORY), 403, 'other_user'],
      ['the same sub, forbidden', () => sessionFor(ALICE, { forbidden: true }), 403, 'forbidden'],
      ['userinfo 500', () => sessionFor(ALICE, { answer: { status: 500, body: 'x' } }), 502, 'identity_unavailable'],
    ];
    for (const [what, cookieOf, status, outcome] of cases) {
      const { login, fields } = await confirmed(ALICE);
      resetAll();
      const snap = await submit(ctx, fields, { cookie: cookieOf() });
      expectErrorPage(snap, status, outcome, { hidden: [login.state, fields.token], context: what });
      assert.equal(app.whoamiRequests().length, 1, `${what}: userinfo asked once`);
      assert.equal(scalekit.requests().length, 0, `${what}: Scalekit untouched`);
    }
    const { login, fields } = await confirmed(ALICE);
    resetAll();
    const gone = await submit(ctx, fields, {});
    assert.equal(gone.status, 302, `no cookie on the POST → 302: ${gone.status}`);
    assert.equal(gone.headers.location, redirectTo(login));
    expectLog(gone, { outcome: 'not_signed_in', status: 302, step: 'submit' });
    assert.equal(scalekit.requests().length, 0, 'Scalekit untouched');
  });

  test('Scalekit user endpoint 400, 500, 302, 404 → 502 page, one attempt each with the cached token; a 204 is success', T, async () => {
    for (const answer of [
      { status: 400, body: { error: 'invalid_request' } },
      { status: 500, body: { error: 'internal' } },
      { status: 302, headers: { location: '/elsewhere' } },
      { status: 404, body: { error: 'auth_request_not_found' } },
    ]) {
      const { login, cookie, fields } = await confirmed(ALICE);
      resetAll();
      scalekit.setUserAnswer(answer);
      const snap = await submit(ctx, fields, { cookie });
      expectErrorPage(snap, 502, 'scalekit_refused', { hidden: [login.state, fields.token], context: `user endpoint ${answer.status}` });
      assert.equal(scalekit.userRequests().length, 1, `user endpoint ${answer.status}: one attempt`);
      assert.equal(scalekit.tokenRequests().length, 0, `user endpoint ${answer.status}: the cached token was used`);
      assert.equal(scalekit.requests().length, 1, `user endpoint ${answer.status}: nothing else (no redirect followed)`);
      scalekit.setUserAnswer(null);
    }
    const { login, cookie, fields } = await confirmed(ALICE);
    resetAll();
    scalekit.setUserAnswer({ status: 204, body: '' });
    const snap = await submit(ctx, fields, { cookie });
    expectSubmitted(ctx, snap, login, ALICE.sub);
    scalekit.setUserAnswer(null);
  });

  test('user endpoint 401 (revoked token): the cached token is dropped, a new one fetched, one retry succeeds; 401 twice → 502, no third attempt', T, async () => {
    const oldToken = scalekit.issuedTokens().at(-1);
    const { login, cookie, fields } = await confirmed(ALICE);
    resetAll();
    scalekit.revokeTokens();
    const snap = await submit(ctx, fields, { cookie });
    expectSubmitted(ctx, snap, login, ALICE.sub);
    const users = scalekit.userRequests();
    assert.equal(users.length, 2, 'two attempts');
    assert.equal(scalekit.tokenRequests().length, 1, 'one new client token');
    const fresh = scalekit.issuedTokens().at(-1);
    assert.notEqual(fresh, oldToken);
    expectUserRequest(ctx, users[0], login, ALICE_SUBMITTED, oldToken);
    expectUserRequest(ctx, users[1], login, ALICE_SUBMITTED, fresh);
    assert.equal(scalekit.submissions().length, 1);

    const again = await confirmed(ALICE);
    resetAll();
    scalekit.setUserAnswer({ status: 401, body: { error: 'unauthenticated' } });
    const twice = await submit(ctx, again.fields, { cookie: again.cookie });
    expectErrorPage(twice, 502, 'scalekit_refused', { hidden: [again.login.state, again.fields.token], context: '401 twice' });
    assert.equal(scalekit.userRequests().length, 2, 'exactly one retry');
    assert.equal(scalekit.tokenRequests().length, 1, 'one new token for the retry');
    scalekit.setUserAnswer(null);

    const later = await confirmed(ALICE);
    const ok = await submit(ctx, later.fields, { cookie: later.cookie });
    expectSubmitted(ctx, ok, later.login, ALICE.sub);
  });

  test('client token cache: expires_in 30 (< 60 s) is never reused, expires_in 3600 is; Scalekit unreachable (user endpoint, then token endpoint) → 502 page', T, async () => {
    const login = async () => {
      const c = await confirmed(ALICE);
      const snap = await submit(ctx, c.fields, { cookie: c.cookie });
      expectSubmitted(ctx, snap, c.login, ALICE.sub);
    };
    resetAll();
    scalekit.setExpiresIn(30);
    scalekit.revokeTokens(); // the cached token fails once → a new one with expires_in 30
    await login();
    assert.equal(scalekit.tokenRequests().length, 1, 'a new token after the 401');
    await login();
    assert.equal(scalekit.tokenRequests().length, 2, 'a token with expires_in 30 is not reused');
    scalekit.setExpiresIn(3600);
    await login();
    assert.equal(scalekit.tokenRequests().length, 3, 'the expires_in 30 token is not reused either');
    await login();
    await login();
    assert.equal(scalekit.tokenRequests().length, 3, 'a token with expires_in 3600 is reused');

    // Unreachable with a cached token: the user endpoint's connection is refused.
    let c = await confirmed(ALICE);
    await scalekit.down();
    let snap;
    try {
      snap = await submit(ctx, c.fields, { cookie: c.cookie });
    } finally {
      await scalekit.up();
    }
    expectErrorPage(snap, 502, 'scalekit_unreachable', { hidden: [c.login.state, c.fields.token], context: 'user endpoint refused' });

    // Unreachable without a usable token: the token endpoint's connection is refused.
    scalekit.setExpiresIn(30);
    scalekit.revokeTokens();
    await login(); // now only an expires_in 30 token is cached
    c = await confirmed(ALICE);
    resetAll();
    await scalekit.down();
    try {
      snap = await submit(ctx, c.fields, { cookie: c.cookie });
    } finally {
      await scalekit.up();
      scalekit.setExpiresIn(3600);
    }
    expectErrorPage(snap, 502, 'scalekit_unreachable', { hidden: [c.login.state, c.fields.token], context: 'token endpoint refused' });
    await login();
  });

  test('other methods on LOGIN_PATH (OPTIONS, PUT, DELETE, PATCH, HEAD) → 405 with Allow: GET, POST; a CORS preflight gets no CORS grant', T, async () => {
    const login = newLogin();
    for (const method of ['OPTIONS', 'PUT', 'DELETE', 'PATCH', 'HEAD']) {
      const headers =
        method === 'OPTIONS'
          ? [
              ['Origin', 'https://evil.example.test'],
              ['Access-Control-Request-Method', 'POST'],
            ]
          : [['Content-Type', FORM]];
      const body = method === 'PUT' || method === 'PATCH' ? 'x=1' : undefined;
      const snap = await call(ctx, { method, search: loginQuery(login), headers, body });
      assert.equal(snap.status, 405, `${method} → 405 (${snap.status})`);
      assert.deepEqual([...headerList(snap.headers.allow)].sort(), ['get', 'post'], `${method}: Allow: GET, POST (${snap.headers.allow})`);
      assert.equal(snap.headers['access-control-allow-origin'], undefined, `${method}: no CORS grant`);
      if (method !== 'HEAD') expectErrorPage(snap, 405, 'method_not_allowed', { hidden: [login.state], context: method });
      else expectLog(snap, { outcome: 'method_not_allowed', status: 405 });
    }
  });
});

// =============================================================================================
describe('login bridge, LOGIN_IDENTITY=access, LOGIN_PATH=/auth/mcp-login (gate A)', { timeout: 300_000 }, () => {
  const CONN = 'conn_e2e_access';
  const ctx = { name: 'A', loginPath: '/auth/mcp-login', conn: CONN, resourceLabel: RESOURCE_HOST, bridgeRequests: 0 };
  let scalekit;
  let access;
  const DANA = { sub: 'access-user-dana', email: 'dana@example.test', name: 'Dana Access', groups: ['eng', 'mcp'], country: 'CH' };
  const EVE = { sub: 'access-user-eve', email: 'eve@example.test' };
  /** An Access JWT for `user` (claims override), remembered for the log check. */
  const jwtFor = async (user, claims = {}, options = {}) => remember(await access.sign({ ...user, ...claims }, options));
  const resetAll = () => {
    scalekit.reset();
  };

  before(async () => {
    scalekit = await startScalekitStandin({ connectionId: CONN });
    // The certs document as Cloudflare serves it: keys plus PEM certificates (ignored by the gate).
    access = await startAccessStandin({
      extraMembers: {
        public_cert: { kid: 'pem-only', cert: '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n' },
        public_certs: [{ kid: 'pem-only', cert: '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n' }],
      },
    });
    remember(scalekit.clientSecret);
    ctx.scalekit = scalekit;
    ctx.loginSecret = bridgeSecret();
    const { RESOURCE_NAME, ...mcp } = defaultVars(origin.url);
    void RESOURCE_NAME; // unset: the page names the RESOURCE host
    ctx.gate = await startGate({
      name: 'bridge-access',
      vars: {
        ...mcp,
        SCALEKIT_ENVIRONMENT_URL: `${scalekit.url}/`,
        SCALEKIT_CONNECTION_ID: CONN,
        SCALEKIT_CLIENT_ID: scalekit.clientId,
        LOGIN_IDENTITY: 'access',
        LOGIN_PATH: ctx.loginPath,
        ACCESS_TEAM_DOMAIN: `${access.url}/`,
        ACCESS_AUD: access.aud,
        LOGIN_CLAIMS: 'groups country',
      },
      secrets: { SCALEKIT_CLIENT_SECRET: scalekit.clientSecret, LOGIN_SECRET: ctx.loginSecret },
      kv: {},
    });
    CONTEXTS.push(ctx);
  });
  after(async () => {
    await Promise.allSettled([ctx.gate?.stop(), scalekit?.stop(), access?.stop()]);
  });

  test('happy path, three logins: confirmation page naming the RESOURCE host, 302 to partner:callback, users submitted with standard and LOGIN_CLAIMS claims only, one client token, one key fetch', T, async () => {
    resetAll();
    access.reset();
    const done = [];
    // `country` is in LOGIN_CLAIMS (the stand-in's JWTs carry country 'CH' by default); `custom`,
    // `type`, `identity_nonce` and the registered claims are not copied; a numeric name is dropped.
    for (const [user, extra, expected] of [
      [DANA, { custom: { nested: true } }, { sub: DANA.sub, email: DANA.email, name: DANA.name, groups: DANA.groups, country: 'CH' }],
      [EVE, {}, { sub: EVE.sub, email: EVE.email, country: 'CH' }],
      [DANA, { email_verified: true, name: 7, country: 'DE' }, { sub: DANA.sub, email: DANA.email, email_verified: true, groups: DANA.groups, country: 'DE' }],
    ]) {
      const login = newLogin();
      const jwtPage = await jwtFor(user, extra);
      const scalekitBefore = scalekit.requests().length;
      const from = now();
      const snap = await getPage(ctx, login, { jwt: jwtPage });
      const page = expectConfirmation(ctx, snap, login, user);
      expectTokenBinds(ctx, page.hidden.token, login, user.sub, { from, to: now() });
      assert.equal(scalekit.requests().length, scalekitBefore, 'the page does not call Scalekit');
      const jwtPost = await jwtFor(user, extra); // the browser's next request carries a (possibly new) assertion
      const posted = await submit(ctx, page.fields, { jwt: jwtPost });
      expectSubmitted(ctx, posted, login, user.sub);
      done.push({ login, expected });
    }
    assert.equal(scalekit.tokenRequests().length, 1, 'one client token for three logins');
    expectTokenRequest(scalekit.tokenRequests()[0], scalekit);
    const users = scalekit.userRequests();
    assert.equal(users.length, 3);
    done.forEach((d, i) => expectUserRequest(ctx, users[i], d.login, d.expected, scalekit.issuedTokens().at(-1)));
    assert.equal(access.certFetches(), 1, 'the Access keys were fetched once for six checks');
  });

  test('the MCP endpoint still answers its challenge; /login (the default path) is not the bridge here', T, async () => {
    const mcp = await snapshot(
      await rawRequest(`${ctx.gate.url}/mcp`, {
        method: 'POST',
        headers: [
          ['Content-Type', 'application/json'],
          ['Accept', 'application/json, text/event-stream'],
        ],
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      }),
    );
    expectNoCredentialsChallenge(mcp);
    const other = await snapshot(await rawRequest(`${ctx.gate.url}/login${loginQuery(newLogin())}`, { headers: [['Cf-Access-Jwt-Assertion', await jwtFor(DANA)]] }));
    assert.equal(other.status, 404, `/login → 404 with LOGIN_PATH=/auth/mcp-login (${other.status})`);
    const health = await (await fetch(`${ctx.gate.url}/healthz`)).json();
    assert.equal(health.login_bridge, 'on');
    assert.equal(health.login_bridge_error, null);
  });

  test('not signed in (no LOGIN_REDIRECT_URL → 401 page): no assertion, empty, garbage, another audience, another issuer, expired, not yet valid, no email, numeric sub, unknown key, tampered, alg none', T, async () => {
    const t = now();
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const valid = await jwtFor(DANA);
    const [h, p, s] = valid.split('.');
    const flipped = Buffer.from(s, 'base64url');
    flipped[5] ^= 1;
    const cases = [
      ['no assertion', null],
      ['empty assertion', ''],
      ['garbage', 'not-a-jwt'],
      ['another audience (array)', await jwtFor(DANA, {}, { aud: [`${access.aud}x`] })],
      ['another audience (string)', await jwtFor(DANA, {}, { aud: 'another-application-aud' })],
      ['no audience', await jwtFor(DANA, { aud: undefined })],
      ['another issuer', await jwtFor(DANA, { iss: 'https://other-team.cloudflareaccess.com' })],
      ['expired 10 minutes ago', await jwtFor(DANA, { exp: t - 600, iat: t - 900, nbf: t - 900 })],
      ['not valid for 10 minutes', await jwtFor(DANA, { nbf: t + 600, exp: t + 900 })],
      ['no email', await jwtFor(DANA, { email: undefined })],
      ['numeric sub', await jwtFor(DANA, { sub: 4242 })],
      ['no sub', await jwtFor(DANA, { sub: undefined })],
      ['signed by an unknown key', await jwtFor(DANA, {}, { unpublished: true })],
      ['tampered signature', remember(`${h}.${p}.${flipped.toString('base64url')}`)],
      ['claims swapped, signature kept', remember(`${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url')), sub: EVE.sub })}.${s}`)],
      ['alg none', remember(`${b64({ alg: 'none', kid: access.kid })}.${p}.`)],
      ['alg HS256 header on an RS256 signature', remember(`${b64({ alg: 'HS256', kid: access.kid })}.${p}.${s}`)],
    ];
    for (const [what, jwt] of cases) {
      resetAll();
      const login = newLogin();
      const headers = jwt === null ? [] : [['Cf-Access-Jwt-Assertion', jwt]];
      const snap = await call(ctx, { search: loginQuery(login), headers });
      expectErrorPage(snap, 401, 'not_signed_in', { hidden: [login.state], context: what });
      assert.equal(snap.headers.location, undefined, `${what}: no redirect without LOGIN_REDIRECT_URL`);
      assert.equal(scalekit.requests().length, 0, `${what}: Scalekit untouched`);
    }
    // Controls: aud as a plain string, aud among others, expiry within CLOCK_SKEW_SECONDS (60).
    for (const [what, jwt] of [
      ['aud as a string', await jwtFor(DANA, {}, { aud: access.aud })],
      ['aud among others', await jwtFor(DANA, {}, { aud: ['another-app', access.aud] })],
      ['expired 20 s ago (within the leeway)', await jwtFor(DANA, { exp: t - 20, iat: t - 320, nbf: t - 320 })],
    ]) {
      const login = newLogin();
      const snap = await getPage(ctx, login, { jwt });
      assert.equal(snap.status, 200, `${what} is signed in (${snap.status} ${visibleText(snap.text).slice(0, 200)})`);
      expectConfirmation(ctx, snap, login, DANA);
    }
  });

  test("POST: no assertion → 401 page; an expired one → 401; another user's → 403; an assertion for another audience → 401", T, async () => {
    const t = now();
    const cases = [
      ['no assertion', null, 401, 'not_signed_in'],
      ['expired assertion', await jwtFor(DANA, { exp: t - 600, iat: t - 900, nbf: t - 900 }), 401, 'not_signed_in'],
      ['another audience', await jwtFor(DANA, {}, { aud: ['another-app'] }), 401, 'not_signed_in'],
      ["another user's assertion", await jwtFor(EVE), 403, 'other_user'],
    ];
    for (const [what, jwt, status, outcome] of cases) {
      const login = newLogin();
      const page = expectConfirmation(ctx, await getPage(ctx, login, { jwt: await jwtFor(DANA) }), login, DANA);
      resetAll();
      const snap = await submit(ctx, page.fields, { jwt: jwt ?? undefined });
      expectErrorPage(snap, status, outcome, { hidden: [login.state, page.fields.token], context: what });
      assert.equal(scalekit.requests().length, 0, `${what}: Scalekit untouched`);
    }
  });

  test('key rotation: after the 30 s cooldown a new kid is fetched once and accepted; unknown kids right after do not refetch', { timeout: 90_000 }, async () => {
    const lastFetch = Math.max(...access.requests().filter((r) => r.path === '/cdn-cgi/access/certs').map((r) => r.at));
    const wait = lastFetch + CERTS_COOLDOWN_MS + 1500 - Date.now();
    if (wait > 0) await sleep(wait);
    const kid = await access.addKey();
    const fetchesBefore = access.certFetches();
    const login = newLogin();
    const snap = await getPage(ctx, login, { jwt: await jwtFor(DANA, {}, { kid }) });
    expectConfirmation(ctx, snap, login, DANA);
    assert.equal(access.certFetches(), fetchesBefore + 1, 'one refetch for the new kid');
    for (let i = 0; i < 3; i++) {
      const l = newLogin();
      const unknown = await getPage(ctx, l, { jwt: await jwtFor(DANA, {}, { unpublished: true }) });
      expectErrorPage(unknown, 401, 'not_signed_in', { hidden: [l.state], context: 'unknown kid in the cooldown' });
    }
    assert.equal(access.certFetches(), fetchesBefore + 1, 'no refetch within 30 s of the last one');
    // Both keys still verify.
    const l = newLogin();
    expectConfirmation(ctx, await getPage(ctx, l, { jwt: await jwtFor(EVE) }), l, EVE);
  });
});

// =============================================================================================
describe('login bridge misconfigured: LOGIN_PATH answers a 500 page naming the setting, the MCP endpoint is unaffected (gates M1–M3)', { timeout: 180_000 }, () => {
  let scalekit;
  const configs = [
    { name: 'M1', what: 'LOGIN_SECRET missing', setting: 'LOGIN_SECRET', secret: undefined },
    { name: 'M2', what: 'LOGIN_SECRET of 31 bytes', setting: 'LOGIN_SECRET', secret: remember(`short_${rand(19)}`.slice(0, 31)) },
    { name: 'M3', what: 'only SCALEKIT_CONNECTION_ID set', setting: 'SCALEKIT_ENVIRONMENT_URL', half: true, secret: undefined },
  ];
  before(async () => {
    scalekit = await startScalekitStandin({ connectionId: 'conn_m' });
    remember(scalekit.clientSecret);
    assert.equal(configs[1].secret.length, 31);
    await Promise.all(
      configs.map(async (c) => {
        const vars = {
          ...defaultVars(origin.url),
          SCALEKIT_CONNECTION_ID: 'conn_m',
          SCALEKIT_CLIENT_ID: scalekit.clientId,
          LOGIN_IDENTITY: 'userinfo',
          LOGIN_USERINFO_URL: 'http://127.0.0.1:9/whoami',
        };
        if (!c.half) vars.SCALEKIT_ENVIRONMENT_URL = scalekit.url;
        const secrets = { SCALEKIT_CLIENT_SECRET: scalekit.clientSecret };
        if (c.secret) secrets.LOGIN_SECRET = c.secret;
        if (c.half) secrets.LOGIN_SECRET = bridgeSecret();
        Object.assign(c, { loginPath: '/login', bridgeRequests: 0, conn: 'conn_m' });
        c.gate = await startGate({ name: `bridge-${c.name.toLowerCase()}`, vars, secrets, kv: {} });
        CONTEXTS.push(c);
      }),
    );
  });
  after(async () => {
    await Promise.allSettled([...configs.map((c) => c.gate?.stop()), scalekit?.stop()]);
  });

  for (const c of configs) {
    test(`${c.name}: ${c.what} → GET and POST /login answer 500 naming ${c.setting}; POST /mcp still answers 401 with the challenge`, T, async () => {
      const login = newLogin();
      const page = await call(c, { search: loginQuery(login), headers: [['Cookie', 'app_session=whatever']] });
      const text = expectErrorPage(page, 500, 'misconfigured', { hidden: [login.state], context: `${c.name} GET` });
      assert.ok(text.includes(c.setting), `${c.name}: the page names ${c.setting}: ${text}`);
      if (c.secret) assert.ok(!page.text.includes(c.secret), 'the page does not show the secret');
      const posted = await call(c, {
        method: 'POST',
        headers: [
          ['Content-Type', FORM],
          ['Origin', RESOURCE_ORIGIN],
          ['Sec-Fetch-Site', 'same-origin'],
        ],
        body: formBody({ login_request_id: login.id, state: login.state, token: 'v1.1.x.y' }),
      });
      const postText = expectErrorPage(posted, 500, 'misconfigured', { hidden: [login.state], context: `${c.name} POST` });
      assert.ok(postText.includes(c.setting), `${c.name}: the POST page names ${c.setting}`);
      const mcp = await snapshot(
        await rawRequest(`${c.gate.url}/mcp`, {
          method: 'POST',
          headers: [
            ['Content-Type', 'application/json'],
            ['Accept', 'application/json, text/event-stream'],
          ],
          body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
        }),
      );
      expectNoCredentialsChallenge(mcp);
      // /healthz tells the operator, naming the setting and never a value; its status stays
      // about the MCP endpoint's keys.
      const health = await fetch(`${c.gate.url}/healthz`);
      const healthText = await health.text();
      const body = JSON.parse(healthText);
      assert.equal(body.login_bridge, 'misconfigured', healthText);
      assert.ok(body.login_bridge_error.includes(c.setting), healthText);
      assert.ok(!healthText.includes(scalekit.clientSecret) && !(c.secret && healthText.includes(c.secret)), 'no secret in /healthz');
      assert.deepEqual([health.status, body.status], [503, 'no_keys'], 'no key set in this KV: the keys decide the status, not the bridge');
      assert.equal(scalekit.requests().length, 0, 'Scalekit untouched');
    });
  }
});

// =============================================================================================
describe('bridge logs: one line per request with bridge_step/outcome/sub; no cookie, Access JWT, client token, secret, form token or state anywhere in any gate output', { timeout: 60_000 }, () => {
  test('every gate of this file', T, async () => {
    assert.ok(CONTEXTS.length >= 5, `all gates ran (${CONTEXTS.map((c) => c.name)})`);
    for (const c of CONTEXTS) {
      if (c.scalekit) for (const t of c.scalekit.issuedTokens()) remember(t);
    }
    for (const c of CONTEXTS) {
      const lines = await waitForBridgeLines(c.gate, c.bridgeRequests);
      assert.equal(lines.length, c.bridgeRequests, `${c.name}: one bridge log line per bridge request`);
      for (const line of lines) {
        assert.ok(['page', 'submit'].includes(line.bridge_step) || line.outcome === 'method_not_allowed' || line.outcome === 'misconfigured', `${c.name}: bridge_step: ${JSON.stringify(line)}`);
        assert.equal(typeof line.outcome, 'string', `${c.name}: outcome: ${JSON.stringify(line)}`);
        assert.equal(typeof line.status, 'number', `${c.name}: status: ${JSON.stringify(line)}`);
        assert.equal(line.path, c.loginPath, `${c.name}: path is LOGIN_PATH without the query: ${JSON.stringify(line)}`);
        assert.equal(typeof line.http_method, 'string', `${c.name}: http_method: ${JSON.stringify(line)}`);
        if (line.outcome === 'confirm' || line.outcome === 'submitted') assert.equal(typeof line.sub, 'string', `${c.name}: sub on ${line.outcome}`);
      }
    }
    const outcomesU = new Set(bridgeLines(CONTEXTS.find((c) => c.name === 'U').gate).map((l) => l.outcome));
    for (const o of [
      'confirm',
      'submitted',
      'invalid_request',
      'not_signed_in',
      'forbidden',
      'other_user',
      'identity_unavailable',
      'cross_site',
      'form_invalid',
      'form_expired',
      'scalekit_refused',
      'scalekit_unreachable',
      'unsupported_media_type',
      'too_large',
      'method_not_allowed',
    ]) {
      assert.ok(outcomesU.has(o), `gate U logged outcome ${o}`);
    }

    // Positive control: the text scanned below is the gate output that holds the bridge lines.
    const outputU = CONTEXTS.find((c) => c.name === 'U').gate.logs();
    assert.ok(outputU.includes(`"sub":"${ALICE.sub}"`) && outputU.includes('"bridge_step":"submit"'), 'the scanned output holds the bridge lines');
    assert.ok(NEVER_LOGGED.size > 50, `enough values to look for (${NEVER_LOGGED.size})`);
    for (const c of CONTEXTS) {
      const logs = c.gate.logs();
      assert.ok(logs.length > 0, `${c.name}: output captured`);
      for (const value of NEVER_LOGGED) {
        if (logs.includes(value)) {
          const at = logs.indexOf(value);
          assert.fail(`${c.name}: a secret value appears in the gate output: …${logs.slice(Math.max(0, at - 120), at)}<HERE>`);
        }
        for (const part of value.split('.')) {
          if (part.length >= 16) assert.ok(!logs.includes(part), `${c.name}: a segment of a token or secret appears in the gate output`);
        }
      }
      assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(logs), `${c.name}: something JWT-shaped appears in the output`);
      assert.ok(!/login_request_id=|state=/.test(logs), `${c.name}: a login query appears in the output`);
    }
  });
});
