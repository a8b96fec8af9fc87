// Assertions shared by the end-to-end tests: the gate's own responses (SPEC §5).
import assert from 'node:assert/strict';
import { parseBearerChallenge } from './http.mjs';
import { METADATA_URL } from './stack.mjs';

/** Response headers as a plain lowercase object, whatever client produced them. */
export function headersOf(res) {
  if (res.headers instanceof Headers) return Object.fromEntries(res.headers.entries());
  return res.headers;
}

/** Read a fetch Response or rawRequest result into {status, headers, text, json}. */
export async function snapshot(res) {
  const text = typeof res.text === 'function' ? await res.text() : res.body;
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: headersOf(res), text, json };
}

/** The JSON error body of SPEC §5: {"error": "...", "error_description": "..."}. */
export function expectJsonError(snap, error) {
  assert.match(snap.headers['content-type'] || '', /application\/json/, 'error bodies are JSON');
  assert.ok(snap.json && typeof snap.json === 'object', `body is a JSON object: ${snap.text}`);
  assert.equal(typeof snap.json.error, 'string', `body has an "error" string: ${snap.text}`);
  if (error) assert.equal(snap.json.error, error, `body error: ${snap.text}`);
}

/** The parsed one-line Bearer challenge of a response. */
export function challengeOf(snap) {
  const header = snap.headers['www-authenticate'];
  assert.equal(typeof header, 'string', `a WWW-Authenticate header is present (status ${snap.status}, body ${snap.text})`);
  assert.doesNotMatch(header, /[\r\n]/, 'the challenge is one line');
  const challenge = parseBearerChallenge(header);
  assert.equal(challenge.scheme, 'Bearer', `challenge scheme: ${header}`);
  assert.ok(challenge.wellFormed, `challenge is a well-formed auth-param list: ${header}`);
  return challenge;
}

/** 401 without credentials: resource_metadata, no error (SPEC §5 row 1). */
export function expectNoCredentialsChallenge(snap) {
  assert.equal(snap.status, 401, `status (body ${snap.text})`);
  const { params } = challengeOf(snap);
  assert.equal(params.resource_metadata, METADATA_URL, 'resource_metadata is the path-inserted metadata URL');
  assert.equal(params.error, undefined, 'no error attribute when no credentials were sent');
  assert.equal(params.error_description, undefined, 'no error_description when no credentials were sent');
  return params;
}

/** 401 invalid_token (SPEC §5 row 3). `secretsNotEchoed` must not appear anywhere in the response. */
export function expectInvalidToken(snap, secretsNotEchoed = []) {
  assert.equal(snap.status, 401, `status (body ${snap.text})`);
  const { params } = challengeOf(snap);
  assert.equal(params.error, 'invalid_token', `error attribute: ${snap.headers['www-authenticate']}`);
  assert.equal(typeof params.error_description, 'string', 'error_description present');
  assert.ok(params.error_description.length > 0, 'error_description not empty');
  assert.equal(params.resource_metadata, METADATA_URL);
  expectJsonError(snap, 'invalid_token');
  expectNotEchoed(snap, secretsNotEchoed);
  return params;
}

/** 400 invalid_request for the header cases (SPEC §5 row 2). */
export function expectInvalidRequest(snap) {
  assert.equal(snap.status, 400, `status (body ${snap.text})`);
  const { params } = challengeOf(snap);
  assert.equal(params.error, 'invalid_request', `error attribute: ${snap.headers['www-authenticate']}`);
  expectJsonError(snap, 'invalid_request');
  return params;
}

/** A response that carries no Bearer challenge. */
export function expectNoChallenge(snap) {
  assert.equal(snap.headers['www-authenticate'], undefined, `no WWW-Authenticate on ${snap.status}`);
}

/** None of `secrets` (tokens, secret values) appears in the response headers or body. */
export function expectNotEchoed(snap, secrets) {
  const everything = `${JSON.stringify(snap.headers)}\n${snap.text}`;
  for (const secret of secrets) {
    if (!secret) continue;
    assert.ok(!everything.includes(secret), 'the response does not echo the token or a secret');
    for (const part of String(secret).split('.')) {
      if (part.length >= 16) assert.ok(!everything.includes(part), 'the response does not echo a token segment');
    }
  }
}

/** Comma-separated header value as a lowercase set. */
export function headerList(value) {
  return new Set(
    String(value || '')
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean),
  );
}
