// A real browser against the gate: headless Chromium (Debian's package, driven by playwright-core;
// tests/support/browser.mjs) where the other files use fetch() and raw sockets, so that what
// matters in a browser is what the browser itself does: the CORS preflight and which response
// headers a page's script may read (SPEC §1 ALLOWED_ORIGINS), and the login bridge's pages, form,
// cookies, redirects and the `Sec-Fetch-Site`/`Origin` headers the browser sends (SPEC §10).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  METADATA_URL,
  ORIGIN_AUTHORIZATION,
  defaultVars,
  fetchWithTimeout,
  freePort,
  parseBearerChallenge,
  startGate,
  startOrigin,
  startStack,
} from '../support/index.mjs';
import { browserSkip, launchBrowser } from '../support/browser.mjs';
import {
  DEFAULT_APP_USER,
  escapeHtml,
  expectBridgePageHeaders,
  mintFormToken,
  startAppStandin,
  startScalekitStandin,
} from '../support/bridge.mjs';

const T = { timeout: 60_000 };
const PROTOCOL_VERSION = '2025-06-18';

/**
 * A loopback HTTP server for pages; `routes` maps a path to (req, res, url) => void.
 * Resolves with {url, origin, port, requests, stop}.
 */
function startPageServer(routes) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    requests.push({ method: req.method, path: url.pathname, headers: req.headers });
    const route = routes[url.pathname];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    route(req, res, url);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      const origin = `http://127.0.0.1:${port}`;
      resolve({
        url: origin,
        origin,
        port,
        requests: () => [...requests],
        stop: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}

const html = (body) => (req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>page</title></head><body>${body}</body></html>`);
};

/**
 * Record what Chromium sends and gets for a page, CORS preflights included (CDP Network events;
 * Playwright's own request events leave preflights out). Returns a live array of
 * {url, method, type, headers, sent, status, responseHeaders, failure}: `headers` are the ones
 * that went on the wire (Origin, Sec-Fetch-*, Cookie included) once `sent` is true; a request a
 * refused preflight stopped is listed with `sent` false and a `failure`.
 */
async function recordNetwork(page) {
  const cdp = await page.context().newCDPSession(page);
  // Per requestId: its hops (a redirect reuses the id) and ExtraInfo events not yet matched.
  // The n-th requestWillBeSentExtraInfo / responseReceivedExtraInfo of an id belongs to its n-th
  // hop; they may arrive before or after the hop's requestWillBeSent.
  const chains = new Map();
  const chainOf = (id) => {
    if (!chains.has(id)) chains.set(id, { hops: [], sentInfo: [], sentNext: 0, respInfo: [], respNext: 0 });
    return chains.get(id);
  };
  const flush = (chain) => {
    while (chain.sentNext < chain.hops.length && chain.sentInfo.length) {
      const hop = chain.hops[chain.sentNext++];
      hop.headers = chain.sentInfo.shift();
      hop.sent = true;
    }
    while (chain.respNext < chain.hops.length && chain.respInfo.length) {
      const hop = chain.hops[chain.respNext++];
      const info = chain.respInfo.shift();
      hop.status ??= info.status;
      hop.responseHeaders = info.headers;
    }
  };
  const seen = [];
  cdp.on('Network.requestWillBeSent', (e) => {
    const chain = chainOf(e.requestId);
    const prior = chain.hops.at(-1);
    if (prior && e.redirectResponse) prior.status = e.redirectResponse.status;
    const entry = {
      url: e.request.url,
      method: e.request.method,
      type: e.type,
      headers: lowerKeys(e.request.headers),
      sent: false,
      status: undefined,
      responseHeaders: undefined,
      failure: undefined,
    };
    chain.hops.push(entry);
    seen.push(entry);
    flush(chain);
  });
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
    const chain = chainOf(e.requestId);
    chain.sentInfo.push(lowerKeys(e.headers));
    flush(chain);
  });
  cdp.on('Network.responseReceivedExtraInfo', (e) => {
    const chain = chainOf(e.requestId);
    chain.respInfo.push({ status: e.statusCode, headers: lowerKeys(e.headers) });
    flush(chain);
  });
  cdp.on('Network.responseReceived', (e) => {
    const hop = chains.get(e.requestId)?.hops.at(-1);
    if (hop) hop.status = e.response.status;
  });
  cdp.on('Network.loadingFailed', (e) => {
    const hop = chains.get(e.requestId)?.hops.at(-1);
    if (hop) hop.failure = e.corsErrorStatus?.corsError ?? e.errorText;
  });
  await cdp.send('Network.enable');
  return seen;
}

/** Poll `predicate` (CDP events arrive asynchronously) until it holds or `timeoutMs` passes. */
async function settle(predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

const lowerKeys = (headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));

/** Runs in the page: fetch the MCP endpoint like a browser MCP client and report what script sees. */
async function pageFetchMcp({ url, token, body, contentType = 'application/json' }) {
  const headers = { 'Content-Type': contentType, Accept: 'application/json, text/event-stream' };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const res = await fetch(url, { method: 'POST', headers, body });
    return {
      ok: true,
      status: res.status,
      wwwAuthenticate: res.headers.get('www-authenticate'),
      sessionId: res.headers.get('mcp-session-id'),
      headerNames: [...res.headers.keys()],
      text: await res.text(),
    };
  } catch (err) {
    return { ok: false, error: `${err.name}: ${err.message}` };
  }
}

const initializeBody = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'browser-e2e', version: '1' } },
});

describe('a browser page calls the MCP endpoint (CORS, ALLOWED_ORIGINS)', { timeout: 240_000, skip: browserSkip() }, () => {
  let allowedPages;
  let foreignPages;
  let stack;
  let browser;
  let context;

  before(async () => {
    // Two page servers: one origin listed in ALLOWED_ORIGINS, one not (both on 127.0.0.1,
    // different ports, so different origins).
    allowedPages = await startPageServer({ '/': html('<h1>allowed</h1>') });
    foreignPages = await startPageServer({ '/': html('<h1>foreign</h1>') });
    stack = await startStack({
      name: 'browser-cors',
      vars: (_origin, defaults) => ({ ...defaults, ALLOWED_ORIGINS: allowedPages.origin }),
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stack?.stop();
    await allowedPages?.stop();
    await foreignPages?.stop();
  });

  // A fresh browser context per test: Chromium caches successful preflights per context.
  async function openPage(server) {
    await context?.close();
    context = await browser.newContext();
    const page = await context.newPage();
    const net = await recordNetwork(page);
    const nav = await page.goto(`${server.url}/`);
    assert.equal(nav.status(), 200);
    assert.equal(await page.evaluate(() => location.origin), server.origin, 'the page runs on its own origin');
    return { page, net };
  }

  const mcpUrl = () => `${stack.gate.url}/mcp`;
  const preflightsOf = (net) => net.filter((r) => r.url === mcpUrl() && r.method === 'OPTIONS');
  const postsOf = (net) => net.filter((r) => r.url === mcpUrl() && r.method === 'POST');
  const sent = (list) => list.filter((r) => r.sent);

  test('allowed origin, no token: the 401 challenge is readable from script, after a real preflight', T, async () => {
    await stack.origin.reset();
    const { page, net } = await openPage(allowedPages);
    try {
      const seen = await page.evaluate(pageFetchMcp, { url: mcpUrl(), body: initializeBody });
      await settle(() => sent(postsOf(net)).length === 1);
      assert.equal(seen.ok, true, `fetch must not be blocked by CORS: ${seen.error}`);
      assert.equal(seen.status, 401, seen.text);
      assert.equal(typeof seen.wwwAuthenticate, 'string', `WWW-Authenticate readable; script sees headers ${seen.headerNames}`);
      const challenge = parseBearerChallenge(seen.wwwAuthenticate);
      assert.equal(challenge.scheme, 'Bearer', seen.wwwAuthenticate);
      assert.equal(challenge.params.resource_metadata, METADATA_URL, seen.wwwAuthenticate);

      // Content-Type application/json makes the request non-simple: Chromium asked first.
      const preflights = preflightsOf(net);
      assert.equal(preflights.length, 1, `one preflight: ${JSON.stringify(net)}`);
      assert.equal(preflights[0].headers.origin, allowedPages.origin);
      assert.equal(preflights[0].headers['access-control-request-method'], 'POST');
      assert.match(preflights[0].headers['access-control-request-headers'] ?? '', /content-type/i);
      assert.ok([200, 204].includes(preflights[0].status), `preflight status ${preflights[0].status}`);
      const posts = sent(postsOf(net));
      assert.equal(posts.length, 1, JSON.stringify(net));
      assert.equal(posts[0].headers.origin, allowedPages.origin, 'the POST carried the page origin');
      assert.equal(posts[0].headers['sec-fetch-mode'], 'cors');
      const reached = (await stack.origin.requests()).filter((r) => r.path === '/mcp');
      assert.equal(reached.length, 0, 'without a token nothing reaches the origin');
    } finally {
      await page.close();
    }
  });

  test('allowed origin, valid token: the MCP session is created and Mcp-Session-Id is readable from script', T, async () => {
    await stack.origin.reset();
    const token = await stack.token();
    const { page, net } = await openPage(allowedPages);
    try {
      const seen = await page.evaluate(pageFetchMcp, { url: mcpUrl(), token, body: initializeBody });
      assert.equal(seen.ok, true, `fetch must not be blocked by CORS: ${seen.error}`);
      assert.equal(seen.status, 200, seen.text);
      assert.match(seen.sessionId ?? '', /^[0-9a-f-]{36}$/, `Mcp-Session-Id readable; script sees headers ${seen.headerNames}`);
      assert.match(seen.text, /"serverInfo"/, `the initialize result reached the page: ${seen.text}`);

      await settle(() => preflightsOf(net).length === 1);
      const preflights = preflightsOf(net);
      assert.equal(preflights.length, 1, `one preflight: ${JSON.stringify(net)}`);
      const asked = (preflights[0].headers['access-control-request-headers'] ?? '').toLowerCase().split(',');
      assert.ok(asked.includes('authorization'), `the preflight asked for Authorization: ${asked}`);

      // The origin got exactly the page's initialize (never the preflight), with the gate's own
      // credential instead of the page's token, and its session id is the one script read.
      const reached = (await stack.origin.requests()).filter((r) => r.path === '/mcp');
      assert.deepEqual(
        reached.map((r) => r.method),
        ['POST'],
        `origin saw ${reached.map((r) => r.method)}`,
      );
      assert.equal(JSON.parse(reached[0].body).method, 'initialize');
      assert.equal(reached[0].headers.authorization, ORIGIN_AUTHORIZATION, 'the gate replaced the page token');

      // The session works from the page: a follow-up request with the session id.
      const ping = await page.evaluate(
        async ({ url, token, sessionId, version }) => {
          const res = await fetch(url, {
            method: 'POST',
            headers: {
              Authorization: `Bearer ${token}`,
              'Content-Type': 'application/json',
              Accept: 'application/json, text/event-stream',
              'Mcp-Session-Id': sessionId,
              'MCP-Protocol-Version': version,
            },
            body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
          });
          return { status: res.status, text: await res.text() };
        },
        { url: mcpUrl(), token, sessionId: seen.sessionId, version: PROTOCOL_VERSION },
      );
      assert.equal(ping.status, 200, ping.text);
      assert.match(ping.text, /"id":2/, ping.text);
      const second = (await stack.origin.requests()).filter((r) => r.path === '/mcp')[1];
      assert.equal(second?.headers['mcp-session-id'], seen.sessionId, 'the session id script read is the origin session');
    } finally {
      await page.close();
    }
  });

  test('a page on an origin not in ALLOWED_ORIGINS cannot read anything, token or not', T, async () => {
    await stack.origin.reset();
    const token = await stack.token();
    const { page, net } = await openPage(foreignPages);
    try {
      for (const withToken of [false, true]) {
        const seen = await page.evaluate(pageFetchMcp, {
          url: mcpUrl(),
          token: withToken ? token : undefined,
          body: initializeBody,
        });
        assert.equal(seen.ok, false, `fetch from a foreign origin must reject (token: ${withToken}); it read ${JSON.stringify(seen)}`);
        assert.match(seen.error, /^TypeError/, seen.error);
      }
      // Both attempts stopped at the preflight, which did not admit the foreign origin: the
      // browser never sent the POST.
      await settle(() => postsOf(net).length === 2 && postsOf(net).every((p) => p.failure || p.status));
      assert.equal(preflightsOf(net).length, 2, `two preflights: ${JSON.stringify(net)}`);
      assert.equal(sent(postsOf(net)).length, 0, `no POST after a refused preflight: ${JSON.stringify(net)}`);
      for (const post of postsOf(net)) assert.match(post.failure ?? '', /^Preflight/, JSON.stringify(post));
      for (const pre of preflightsOf(net)) {
        assert.equal(pre.headers.origin, foreignPages.origin);
        assert.ok(
          ![foreignPages.origin, '*'].includes(pre.responseHeaders?.['access-control-allow-origin']),
          `the preflight answer must not admit the foreign origin: ${JSON.stringify(pre.responseHeaders)}`,
        );
      }

      // A simple request (no preflight: text/plain, no Authorization) is sent by the browser;
      // the gate refuses it with 403 and the page still cannot read it.
      const simple = await page.evaluate(pageFetchMcp, { url: mcpUrl(), body: initializeBody, contentType: 'text/plain' });
      assert.equal(simple.ok, false, `the page must not read the answer: ${JSON.stringify(simple)}`);
      await settle(() => sent(postsOf(net)).every((p) => p.status));
      const posts = sent(postsOf(net));
      assert.equal(posts.length, 1, JSON.stringify(net));
      assert.equal(posts[0].headers.origin, foreignPages.origin);
      assert.equal(preflightsOf(net).length, 2, 'the simple request needed no preflight');
      assert.equal(posts[0].status, 403, `the gate answered the foreign simple request with 403: ${JSON.stringify(posts)}`);
      const reached = (await stack.origin.requests()).filter((r) => r.path === '/mcp');
      assert.equal(reached.length, 0, `nothing from the foreign page reached the origin: ${reached.map((r) => r.method)}`);
    } finally {
      await page.close();
    }
  });
});

// --- the login bridge in a browser (SPEC §10, LOGIN_IDENTITY=userinfo) -------------------------

const CONNECTION_ID = 'conn_browser_e2e';
const LOGIN_SECRET = `browser-e2e-login-secret-${randomBytes(16).toString('hex')}`; // >= 32 bytes
// A name that resolves (inside Chromium only, via --host-resolver-rules) to 127.0.0.1: a page
// there is cross-site to the gate on 127.0.0.1, not merely cross-origin.
const EVIL_HOST = 'evil.example.test';

/** Start the gate on a port chosen in advance (RESOURCE names it); a few tries if it was taken. */
async function startGateOnFreePort(options) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return { gate: await startGate({ ...options(port), port }), port };
    } catch (err) {
      lastError = err;
      if (!/not on the requested port|EADDRINUSE|address already in use/i.test(err.message)) throw err;
    }
  }
  throw lastError;
}

describe('the login bridge in a browser (userinfo identity)', { timeout: 300_000, skip: browserSkip() }, () => {
  let scalekit;
  let app;
  let origin;
  let gate;
  let gateUrl;
  let pages;
  let browser;
  let context; // one browser profile for the whole describe: the user signs in once

  before(async () => {
    scalekit = await startScalekitStandin({ connectionId: CONNECTION_ID });
    app = await startAppStandin();
    origin = await startOrigin();
    ({ gate } = await startGateOnFreePort((port) => ({
      name: 'browser-login',
      vars: {
        ...defaultVars(origin.url),
        // The bridge checks Origin against the origin of RESOURCE: it must be where the
        // browser reaches the gate.
        RESOURCE: `http://127.0.0.1:${port}/mcp`,
        SCALEKIT_ENVIRONMENT_URL: scalekit.url,
        SCALEKIT_CONNECTION_ID: CONNECTION_ID,
        LOGIN_IDENTITY: 'userinfo',
        LOGIN_USERINFO_URL: app.whoamiUrl,
        LOGIN_REDIRECT_URL: app.loginUrl,
      },
      secrets: {
        ORIGIN_AUTHORIZATION,
        SCALEKIT_CLIENT_ID: scalekit.clientId,
        SCALEKIT_CLIENT_SECRET: scalekit.clientSecret,
        LOGIN_SECRET,
      },
      kv: {},
    })));
    gateUrl = gate.url;
    // Pages of other origins: an auto-submitting form and a page that frames the gate.
    pages = await startPageServer({
      '/frame': (req, res, url) =>
        html(`<h1>framing</h1><iframe id="gate" src="${escapeHtml(url.searchParams.get('src'))}" width="600" height="400"></iframe>`)(
          req,
          res,
        ),
      '/post': (req, res, url) => {
        const fields = JSON.parse(url.searchParams.get('fields'));
        const inputs = Object.entries(fields)
          .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
          .join('');
        html(
          `<h1>win a prize</h1><form id="f" method="post" action="${escapeHtml(url.searchParams.get('action'))}">${inputs}</form>` +
            '<script>document.getElementById("f").submit()</script>',
        )(req, res);
      },
    });
    browser = await launchBrowser({ args: [`--host-resolver-rules=MAP ${EVIL_HOST} 127.0.0.1`] });
    context = await browser.newContext();
  });
  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await Promise.allSettled([gate?.stop(), origin?.stop(), scalekit?.stop(), app?.stop(), pages?.stop()]);
  });

  const bridgeLogs = () => gate.jsonLogs().filter((l) => typeof l.bridge_step === 'string');

  /** The tests after the full flow need a signed-in browser: the flow's cookie, else a new session. */
  async function ensureSignedIn() {
    if ((await context.cookies(gateUrl)).some((c) => c.name === app.cookieName)) return;
    const { id } = app.createSession(app.sessions()[0]?.user ?? DEFAULT_APP_USER);
    await context.addCookies([{ name: app.cookieName, value: id, url: app.url, httpOnly: true, sameSite: 'Lax' }]);
  }

  test('no session → the app signs the user in → confirmation page → Continue → Scalekit callback', T, async () => {
    scalekit.reset();
    app.reset();
    const logsBefore = bridgeLogs().length;
    const state = `st.${randomBytes(18).toString('base64url')}~1`;
    const loginRequestId = 'lri_123';
    const start = `${gateUrl}/login?login_request_id=${loginRequestId}&state=${state}`;
    const page = await context.newPage();
    const net = await recordNetwork(page);
    const gateLogin = (method) => net.filter((r) => r.url.startsWith(`${gateUrl}/login`) && r.method === method && r.sent);
    try {
      // 1. No session: the gate sends the browser to the app's login page with return_to.
      await page.goto(start);
      assert.equal(new URL(page.url()).origin + new URL(page.url()).pathname, app.loginUrl, `landed on ${page.url()}`);
      assert.equal(
        new URL(page.url()).searchParams.get('return_to'),
        `${gateUrl}/login?login_request_id=${loginRequestId}&state=${state}`,
        'return_to is the origin of RESOURCE + LOGIN_PATH with both parameters',
      );
      await settle(() => gateLogin('GET')[0]?.status);
      assert.equal(gateLogin('GET')[0]?.status, 302, JSON.stringify(gateLogin('GET')));
      assert.equal(app.whoamiRequests().length, 0, 'no Cookie header: the gate did not ask the app');

      // 2. Sign in at the app: its cookie (host 127.0.0.1, any port) comes back to the gate.
      const confirmation = page.waitForResponse(
        (r) => r.url().startsWith(`${gateUrl}/login?`) && r.request().method() === 'GET' && r.status() !== 302,
      );
      await page.click('#sign-in');
      const confirmResponse = await confirmation;
      await page.waitForLoadState('load');
      assert.equal(confirmResponse.status(), 200, await confirmResponse.text());
      assert.equal(page.url(), start, 'the app sent the browser back to the gate');
      const cookies = await context.cookies(gateUrl);
      const session = cookies.find((c) => c.name === app.cookieName);
      assert.ok(session, `the app's session cookie applies to the gate's host: ${JSON.stringify(cookies)}`);
      await settle(() => gateLogin('GET').length === 2);
      assert.match(gateLogin('GET')[1]?.headers.cookie ?? '', new RegExp(`${app.cookieName}=${session.value}`));
      const whoami = app.whoamiRequests();
      assert.equal(whoami.length, 1, 'the gate asked the app once');
      assert.equal(whoami[0].headers.cookie, gateLogin('GET')[1].headers.cookie, "the browser's Cookie header, as sent");

      // 3. The confirmation page: headers, visible text, no script, the form.
      expectBridgePageHeaders(confirmResponse.headers(), 'confirmation page');
      assert.match(confirmResponse.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      const text = await page.innerText('body');
      assert.ok(text.includes('alice@example.test'), `the page names the user: ${text}`);
      assert.match(text, /Continue to mcp-gate e2e/, text);
      assert.ok(!text.includes(state), 'the state is not visible');
      assert.equal(await page.evaluate(() => document.scripts.length), 0, 'no <script> on the page');
      const form = await page.evaluate(() => {
        const f = document.querySelector('form');
        return f && {
          method: f.getAttribute('method'),
          action: f.getAttribute('action'),
          fields: Object.fromEntries([...f.querySelectorAll('input[type=hidden]')].map((i) => [i.name, i.value])),
        };
      });
      assert.equal(form?.method?.toLowerCase(), 'post', JSON.stringify(form));
      assert.equal(form.action, '/login');
      assert.equal(form.fields.login_request_id, loginRequestId);
      assert.equal(form.fields.state, state);
      assert.match(form.fields.token ?? '', /^v1\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      assert.ok(!text.includes(form.fields.token), 'the form token is not visible');

      // 4. Continue: the browser POSTs the form (its own Origin and Sec-Fetch-Site), the gate
      //    submits the user to Scalekit and redirects to the partner callback.
      const callbackUrl = `${scalekit.url}/sso/v1/connections/${CONNECTION_ID}/partner:callback?state=${encodeURIComponent(state)}`;
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(`${scalekit.url}/sso/`), { timeout: 20_000 }),
        page.locator('form [type=submit], form button').first().click(),
      ]);
      assert.equal(page.url(), callbackUrl, 'the redirect chain ends at partner:callback with the exact state');
      assert.equal(await page.locator('#state').innerText(), state, 'Scalekit received the exact state');
      assert.equal(scalekit.callbackRequests().length, 1);
      assert.deepEqual(scalekit.callbackRequests()[0].query.state, [state]);

      await settle(() => gateLogin('POST')[0]?.status);
      const posts = gateLogin('POST');
      assert.equal(posts.length, 1, JSON.stringify(posts));
      assert.equal(posts[0].headers['sec-fetch-site'], 'same-origin', 'the browser said same-origin');
      assert.equal(posts[0].headers.origin, gateUrl, "the browser's Origin is the origin of RESOURCE");
      assert.match(posts[0].headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
      assert.equal(posts[0].status, 302, 'accepted: redirected to Scalekit');

      const submissions = scalekit.submissions();
      assert.equal(submissions.length, 1, `one submission: ${JSON.stringify(submissions)}`);
      assert.equal(submissions[0].connectionId, CONNECTION_ID);
      assert.equal(submissions[0].loginRequestId, loginRequestId);
      // The app's user has only standard claims: all of them, and nothing else, are submitted.
      assert.deepEqual(submissions[0].user, { ...DEFAULT_APP_USER });
      assert.equal(scalekit.userRequests().length, 1, 'the user endpoint was called once');
      assert.equal(scalekit.tokenRequests().length, 1, 'one client-credentials token');
      assert.equal(app.whoamiRequests().length, 2, 'the user was learned again at the submit');

      // The log: one line per bridge request, never the state, the token or the cookie.
      await settle(() => bridgeLogs().length >= logsBefore + 3);
      const lines = bridgeLogs().slice(logsBefore);
      assert.deepEqual(
        lines.map((l) => `${l.bridge_step}:${l.outcome}:${l.status}`),
        ['page:not_signed_in:302', 'page:confirm:200', 'submit:submitted:302'],
        JSON.stringify(lines),
      );
      const logText = gate.logs();
      for (const secret of [state, form.fields.token, session.value, scalekit.clientSecret, LOGIN_SECRET]) {
        assert.ok(!logText.includes(secret), `the gate's output never contains ${secret.slice(0, 12)}…`);
      }
    } finally {
      await page.close();
    }
  });

  test('the confirmation page cannot be framed, even by a same-site page', T, async () => {
    // The user still has the app session from the flow above (same browser context): framed,
    // the gate would show the confirmation page; the browser must refuse to render it.
    const state = `fr-${randomBytes(12).toString('hex')}`;
    const src = `${gateUrl}/login?login_request_id=lri_frame&state=${state}`;
    await ensureSignedIn();
    const page = await context.newPage();
    try {
      const framed = page.waitForResponse((r) => r.url() === src);
      await page.goto(`${pages.url}/frame?src=${encodeURIComponent(src)}`);
      const response = await framed;
      assert.equal(response.status(), 200, 'the gate answered the framed request with its page');
      await page.waitForLoadState('load');
      const frame = page.frames().find((f) => f !== page.mainFrame());
      assert.ok(frame, 'the iframe exists');
      const content = await frame.content();
      assert.ok(
        !content.includes('alice@example.test'),
        `the framed confirmation page must not render: ${frame.url()} ${content.slice(0, 300)}`,
      );
      assert.ok(!content.includes(state), 'nothing of the page is in the frame');
    } finally {
      await page.close();
    }
  });

  for (const variant of [
    { name: 'same-site page on another port', host: '127.0.0.1', fetchSite: 'same-site' },
    { name: `cross-site page (${EVIL_HOST})`, host: EVIL_HOST, fetchSite: 'cross-site' },
  ]) {
    test(`an auto-submitted form from a ${variant.name} gets the 403 page`, T, async () => {
      scalekit.reset();
      const logsBefore = bridgeLogs().length;
      const state = `xs-${randomBytes(12).toString('hex')}`;
      const fields = {
        login_request_id: 'lri_evil',
        state,
        // A valid token for the signed-in user: only the cross-site check can refuse it.
        token: mintFormToken({
          secret: LOGIN_SECRET,
          exp: Math.floor(Date.now() / 1000) + 240,
          loginRequestId: 'lri_evil',
          state,
          sub: 'app-user-alice',
        }),
      };
      const evilOrigin = `http://${variant.host}:${pages.port}`;
      await ensureSignedIn();
      const page = await context.newPage();
      const net = await recordNetwork(page);
      try {
        const answered = page.waitForResponse((r) => r.url() === `${gateUrl}/login` && r.request().method() === 'POST');
        const action = encodeURIComponent(`${gateUrl}/login`);
        await page.goto(`${evilOrigin}/post?action=${action}&fields=${encodeURIComponent(JSON.stringify(fields))}`);
        const response = await answered;
        await page.waitForLoadState('load');
        assert.equal(response.status(), 403, await response.text());
        expectBridgePageHeaders(response.headers(), '403 page');
        assert.equal(page.url(), `${gateUrl}/login`, 'the browser shows the gate’s answer');
        const text = await page.innerText('body');
        assert.ok(!text.includes(state), 'the 403 page does not show the state');

        await settle(() => net.some((r) => r.url === `${gateUrl}/login` && r.method === 'POST' && r.sent));
        const post = net.find((r) => r.url === `${gateUrl}/login` && r.method === 'POST' && r.sent);
        assert.equal(post.headers.origin, evilOrigin, 'the browser sent the attacker page origin');
        assert.equal(post.headers['sec-fetch-site'], variant.fetchSite);
        assert.equal(scalekit.submissions().length, 0, 'nothing was submitted to Scalekit');
        assert.equal(scalekit.userRequests().length, 0);
        await settle(() => bridgeLogs().length >= logsBefore + 1);
        const lines = bridgeLogs().slice(logsBefore);
        assert.deepEqual(lines.map((l) => `${l.bridge_step}:${l.outcome}:${l.status}`), ['submit:cross_site:403'], JSON.stringify(lines));

        // Control: the very same fields with the user's cookie, sent without the browser's
        // cross-site headers, are accepted, so the 403 above came from the Origin /
        // Sec-Fetch-Site check alone.
        const cookie = (await context.cookies(gateUrl)).map((c) => `${c.name}=${c.value}`).join('; ');
        const control = await fetchWithTimeout(`${gateUrl}/login`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie },
          body: new URLSearchParams(fields).toString(),
        });
        assert.equal(control.status, 302, await control.text());
        assert.equal(
          control.headers.get('location'),
          `${scalekit.url}/sso/v1/connections/${CONNECTION_ID}/partner:callback?state=${state}`,
        );
        assert.equal(scalekit.submissions().length, 1);
      } finally {
        await page.close();
      }
    });
  }
});
