// The login bridge's test peers and helpers (SPEC §10, /tmp/bridge/CONTRACT.md). Importable on
// its own (not re-exported by index.mjs):
//
//   import { startScalekitStandin, startAccessStandin, startAppStandin,
//            parseConfirmationPage, mintFormToken, expectBridgePageHeaders } from '../support/bridge.mjs';
//
// The three stand-ins (tests/origin/login-standins.mjs) are node:http servers on 127.0.0.1 in
// this process; each resolves to `{ url, requests(), reset(), stop(), …controls }` and records
// every request ({method, url, path, search, query, headers, rawHeaders, body, status}).
//
// Wiring a gate to them (the bridge's settings; the MCP settings come from defaultVars()):
//   vars:    SCALEKIT_ENVIRONMENT_URL = scalekit.url, SCALEKIT_CONNECTION_ID = <conn>,
//            SCALEKIT_CLIENT_ID = scalekit.clientId, LOGIN_IDENTITY = 'userinfo' | 'access',
//            userinfo: LOGIN_USERINFO_URL = app.whoamiUrl [, LOGIN_REDIRECT_URL = app.loginUrl]
//            access:   ACCESS_TEAM_DOMAIN = access.url, ACCESS_AUD = access.aud
//   secrets: SCALEKIT_CLIENT_SECRET = scalekit.clientSecret, LOGIN_SECRET = <>= 32 bytes>
//
// A browser flow with these: the browser opens `<gate>/login?login_request_id=…&state=…`; without
// a session the gate redirects (302) to `app.loginUrl?return_to=<RESOURCE origin>/login?…`; the
// app's page (form, button `#sign-in`) sets `app_session` (Path=/; SameSite=Lax; HttpOnly;
// `cookieDomain` adds Domain=) and redirects to return_to; the gate shows its confirmation page;
// submitting it ends at `<scalekit.url>/sso/v1/connections/<conn>/partner:callback?state=…`,
// whose page says "callback ok" and shows the state in `#state`; `scalekit.submissions()` holds
// the submitted user.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

export { startScalekitStandin, startAccessStandin, startAppStandin, escapeHtml, DEFAULT_APP_USER } from '../origin/login-standins.mjs';

/** Headers every bridge page carries (CONTRACT "Every page"), lowercase names. */
export const BRIDGE_PAGE_HEADERS = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'same-origin',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
});

/** Lowercase header object from a fetch Headers or a node headers object. */
function plainHeaders(headers) {
  if (headers && typeof headers.entries === 'function' && typeof headers.get === 'function') return Object.fromEntries(headers.entries());
  return headers || {};
}

/** Assert the security headers of a bridge page (success or error). */
export function expectBridgePageHeaders(headers, context = '') {
  const h = plainHeaders(headers);
  for (const [name, value] of Object.entries(BRIDGE_PAGE_HEADERS)) {
    const got = h[name];
    assert.equal(
      typeof got === 'string' ? got.toLowerCase() : got,
      value.toLowerCase(),
      `${context ? `${context}: ` : ''}header ${name}`,
    );
  }
}

const decodeEntities = (s) =>
  s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos|#39);/gi, (m, e) => {
    const lower = e.toLowerCase();
    if (lower === 'amp') return '&';
    if (lower === 'lt') return '<';
    if (lower === 'gt') return '>';
    if (lower === 'quot') return '"';
    if (lower === 'apos') return "'";
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return m;
  });

/** Attributes of one start tag's text (`<input a="b" c=d e>`), names lowercased, values decoded. */
function attributesOf(tag) {
  const attrs = {};
  const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const inner = tag.replace(/^<\s*[a-zA-Z0-9]+/, '').replace(/\/?>$/, '');
  let m;
  while ((m = re.exec(inner))) {
    const name = m[1].toLowerCase();
    if (name in attrs) continue; // HTML: the first occurrence wins
    attrs[name] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

/** The page's visible text (tags, comments, script/style content removed; entities decoded). */
export function visibleText(html) {
  return decodeEntities(
    html
      .replace(/<!--[\s\S]*?-->/g, ' ')
      .replace(/<(script|style|title)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<[^>]*>/g, ' '),
  )
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Read the bridge's confirmation page: every form with its method/action and inputs.
 * `fields` are the first form's named inputs (hidden ones included), name → value (decoded);
 * `duplicates` lists input names that occur more than once in that form.
 * @param {string} html
 * @returns {{forms: Array<{method: string, action: string, inputs: Array<object>}>, form: object|null,
 *   fields: Record<string,string>, hidden: Record<string,string>, duplicates: string[], hasSubmit: boolean,
 *   hasScript: boolean, links: Array<{href: string, text: string}>, text: string}}
 */
export function parseConfirmationPage(html) {
  const forms = [];
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form\s*>/gi;
  let m;
  while ((m = formRe.exec(html))) {
    const tag = /^<form\b[^>]*>/i.exec(m[0])[0];
    const attrs = attributesOf(tag);
    const inputs = [];
    for (const input of m[1].matchAll(/<(input|button)\b[^>]*>/gi)) {
      inputs.push({ element: input[1].toLowerCase(), ...attributesOf(input[0]) });
    }
    forms.push({ method: (attrs.method || 'get').toLowerCase(), action: attrs.action ?? null, inputs });
  }
  const form = forms[0] ?? null;
  const fields = {};
  const hidden = {};
  const seen = new Set();
  const duplicates = [];
  for (const input of form?.inputs ?? []) {
    if (input.element !== 'input' || !input.name) continue;
    if (seen.has(input.name)) duplicates.push(input.name);
    seen.add(input.name);
    if (!(input.name in fields)) fields[input.name] = input.value ?? '';
    if ((input.type || '').toLowerCase() === 'hidden' && !(input.name in hidden)) hidden[input.name] = input.value ?? '';
  }
  const hasSubmit = (form?.inputs ?? []).some(
    (i) => (i.element === 'button' && (!i.type || i.type.toLowerCase() === 'submit')) || (i.element === 'input' && (i.type || '').toLowerCase() === 'submit'),
  );
  const links = [...html.matchAll(/<a\b[^>]*>([\s\S]*?)<\/a\s*>/gi)].map((a) => ({
    href: attributesOf(/^<a\b[^>]*>/i.exec(a[0])[0]).href ?? null,
    text: visibleText(a[1]),
  }));
  return { forms, form, fields, hidden, duplicates, hasSubmit, hasScript: /<script\b/i.test(html), links, text: visibleText(html) };
}

/**
 * Mint a bridge form token exactly as CONTRACT "Form token" defines it:
 * `v1.<exp>.<b64u(sub)>.<b64u(HMAC-SHA256(secret, "mcp-gate-login-v1\n" + exp + "\n" + id + "\n" + state + "\n" + sub))>`.
 * @param {{secret: string, exp: number, loginRequestId: string, state: string, sub: string}} p
 */
export function mintFormToken({ secret, exp, loginRequestId, state, sub }) {
  const message = `mcp-gate-login-v1\n${exp}\n${loginRequestId}\n${state}\n${sub}`;
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8')).update(message, 'utf8').digest('base64url');
  return `v1.${exp}.${Buffer.from(sub, 'utf8').toString('base64url')}.${mac}`;
}

/** Split a form token into {version, exp, sub, mac} (null when it has not four parts). */
export function readFormToken(token) {
  const parts = String(token).split('.');
  if (parts.length !== 4) return null;
  return { version: parts[0], exp: Number(parts[1]), sub: Buffer.from(parts[2], 'base64url').toString('utf8'), mac: parts[3] };
}

/** application/x-www-form-urlencoded body of `[name, value]` pairs (or an object). */
export function formBody(fields) {
  const entries = Array.isArray(fields) ? fields : Object.entries(fields);
  return new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString();
}
