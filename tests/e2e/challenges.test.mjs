// SPEC §5 challenges and SPEC §3 token validation, over HTTP against the built Worker.
// Every refused request must also never reach the origin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject, createHmac, createPublicKey, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import {
  ISSUER,
  METADATA_URL,
  REQUIRED_SCOPE,
  RESOURCE,
  SECOND_ISSUER,
  challengeOf,
  defaultClaims,
  expectInvalidRequest,
  expectInvalidToken,
  expectJsonError,
  expectNoCredentialsChallenge,
  expectNotEchoed,
  fetchWithTimeout,
  now,
  rawRequest,
  signRaw,
  signToken,
  snapshot,
  startStack,
  tamperSignature,
} from '../support/index.mjs';

const T = { timeout: 30_000 };
const b64url = (s) => Buffer.from(s).toString('base64url');

describe('challenges and token validation (default settings, authenticated mode)', { timeout: 240_000 }, () => {
  let stack;
  before(async () => {
    stack = await startStack({ name: 'challenges' });
  });
  after(async () => {
    await stack?.stop();
  });

  /** GET /__echo?case=NAME through the gate with the given headers. */
  async function call(caseName, headers = {}, init = {}) {
    const res = await fetchWithTimeout(`${stack.gate.url}/__echo?case=${encodeURIComponent(caseName)}`, {
      headers,
      ...init,
    });
    return snapshot(res);
  }
  const bearer = (token) => ({ Authorization: `Bearer ${token}` });

  async function originSawCase(caseName) {
    const requests = await stack.origin.requests();
    return requests.some((r) => r.query.includes(`case=${encodeURIComponent(caseName)}`));
  }

  const claimsWith = (overrides) =>
    defaultClaims({ issuer: ISSUER, audience: RESOURCE }, { scope: `${REQUIRED_SCOPE} mcp:tools:*`, ...overrides });

  describe('no credentials (SPEC §5 row 1)', () => {
    test('no Authorization header → 401 with resource_metadata and no error', T, async () => {
      const res = await call('none');
      const params = expectNoCredentialsChallenge(res);
      if (params.scope !== undefined) {
        assert.ok(params.scope.split(' ').includes(REQUIRED_SCOPE), `scope lists REQUIRED_SCOPES: ${params.scope}`);
      }
      expectJsonError(res);
      assert.equal(await originSawCase('none'), false);
    });

    test('another scheme (Basic) → 401 without error', T, async () => {
      const res = await call('basic', { Authorization: 'Basic dXNlcjpwYXNz' });
      expectNoCredentialsChallenge(res);
      assert.equal(await originSawCase('basic'), false);
    });

    test('a valid token only in the query string → 401 without error, not forwarded', T, async () => {
      const token = await stack.token();
      const snap = await snapshot(await fetchWithTimeout(`${stack.gate.url}/__echo?case=query&access_token=${token}`));
      expectNoCredentialsChallenge(snap);
      expectNotEchoed(snap, [token]);
      assert.equal(await originSawCase('query'), false);
    });

    test('a valid token only in a form body → refused (401 without error, or 415), not forwarded', T, async () => {
      // SPEC §4a.3 makes a form body 415 and leaves the order of that check relative to the
      // token to the implementation: either refusal is right, neither may forward.
      const token = await stack.token();
      const res = await call(
        'body',
        { 'Content-Type': 'application/x-www-form-urlencoded' },
        { method: 'POST', body: `access_token=${token}` },
      );
      if (res.status === 415) expectJsonError(res, 'unsupported_media_type');
      else expectNoCredentialsChallenge(res);
      expectNotEchoed(res, [token]);
      assert.equal(await originSawCase('body'), false);
    });

    test('a valid token only in a JSON-RPC body → 401 without error, not forwarded', T, async () => {
      const token = await stack.token();
      const res = await call(
        'json-body',
        { 'Content-Type': 'application/json' },
        { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { access_token: token } }) },
      );
      expectNoCredentialsChallenge(res);
      expectNotEchoed(res, [token]);
      assert.equal(await originSawCase('json-body'), false);
    });
  });

  describe('malformed Authorization (SPEC §3 rule 1, §5 row 2)', () => {
    test('two Authorization header lines → 400 invalid_request, not forwarded', T, async () => {
      const token = await stack.token();
      const res = await rawRequest(`${stack.gate.url}/__echo?case=two-headers`, {
        headers: [
          ['Authorization', `Bearer ${token}`],
          ['Authorization', `Bearer ${token}`],
        ],
      });
      const snap = await snapshot(res);
      expectInvalidRequest(snap);
      expectNotEchoed(snap, [token]);
      assert.equal(await originSawCase('two-headers'), false);
    });

    test('one header holding two credentials (comma) → 400 invalid_request', T, async () => {
      const token = await stack.token();
      const res = await call('comma', { Authorization: `Bearer ${token}, Bearer ${token}` });
      expectInvalidRequest(res);
      expectNotEchoed(res, [token]);
      assert.equal(await originSawCase('comma'), false);
    });

    test('scheme is case-insensitive: "bearer" and "BEARER" with a valid token are forwarded', T, async () => {
      for (const scheme of ['bearer', 'BEARER']) {
        const token = await stack.token();
        const res = await call(`scheme-${scheme}`, { Authorization: `${scheme} ${token}` });
        assert.equal(res.status, 200, `${scheme}: ${res.status} ${res.text}`);
        assert.equal(res.headers['x-origin-seen'], 'yes');
      }
    });

    test('a token over 16 KiB → 401 invalid_token', T, async () => {
      const token = await signToken(stack.keys.keys.RS256, claimsWith({ padding: 'x'.repeat(17 * 1024) }));
      stack.remember(token);
      assert.ok(token.length > 16 * 1024);
      expectInvalidToken(await call('oversized', bearer(token)));
      assert.equal(await originSawCase('oversized'), false);
    });
  });

  describe('valid tokens are accepted (controls)', () => {
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
      test(`${alg} token → forwarded`, T, async () => {
        const res = await call(`valid-${alg}`, bearer(await stack.token({ alg })));
        assert.equal(res.status, 200, res.text);
        assert.equal(res.headers['x-origin-seen'], 'yes');
      });
    }

    const controls = {
      'second issuer listed in ISSUERS': { claims: { iss: SECOND_ISSUER } },
      'aud array containing RESOURCE': { claims: { aud: ['https://other.example.test', RESOURCE] } },
      'expired 10 s ago (within the 60 s leeway)': { claims: { exp: now() - 10, iat: now() - 600, nbf: now() - 600 } },
      'iat 10 s in the future (within leeway)': { claims: { iat: now() + 10 } },
      'Scalekit-style "scopes" array': { claims: { scope: undefined, scopes: [REQUIRED_SCOPE, 'mcp:tools:echo'] } },
      '"scp" string': { claims: { scope: undefined, scp: `${REQUIRED_SCOPE} other` } },
      'typ at+jwt (not required by default)': { header: { typ: 'at+jwt' } },
      'no typ header': { header: { typ: undefined } },
      'no kid, one usable ES256 key in the set': { alg: 'ES256', header: { kid: undefined } },
    };
    for (const [name, spec] of Object.entries(controls)) {
      test(`${name} → forwarded`, T, async () => {
        const token = await stack.token(spec);
        const res = await call(`control-${name}`, bearer(token));
        assert.equal(res.status, 200, `${res.status} ${res.text}`);
      });
    }
  });

  describe('invalid tokens → 401 invalid_token, never forwarded (SPEC §3)', () => {
    /** name → async () => token */
    const cases = {
      'garbage, not a JWS': async () => 'not-a-jwt',
      'two segments': async () => `${b64url('{"alg":"RS256"}')}.${b64url('{}')}`,
      'five segments (JWE form)': async () =>
        `${b64url('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.${b64url('k')}.${b64url('iv')}.${b64url('c')}.${b64url('t')}`,
      expired: async () => stack.token({ claims: { exp: now() - 3600, iat: now() - 7200, nbf: now() - 7200 } }),
      'missing exp': async () => stack.token({ claims: { exp: undefined } }),
      'nbf in the future': async () => stack.token({ claims: { nbf: now() + 3600 } }),
      'iat in the future': async () => stack.token({ claims: { iat: now() + 3600 } }),
      'wrong aud': async () => stack.token({ claims: { aud: 'https://other.example.test/mcp' } }),
      'missing aud': async () => stack.token({ claims: { aud: undefined } }),
      'aud array without RESOURCE': async () => stack.token({ claims: { aud: ['https://a.example.test', 'https://b.example.test'] } }),
      'wrong iss': async () => stack.token({ claims: { iss: 'https://attacker.example.test' } }),
      'iss with an extra trailing slash': async () => stack.token({ claims: { iss: `${ISSUER}/` } }),
      'missing iss': async () => stack.token({ claims: { iss: undefined } }),
      '"scope" claim that is not a string': async () => stack.token({ claims: { scope: [REQUIRED_SCOPE] } }),
      'flipped signature bit': async () => tamperSignature(await stack.token()),
      'payload swapped under a valid signature': async () => {
        const [h, , s] = (await stack.token()).split('.');
        return `${h}.${b64url(JSON.stringify(claimsWith({ sub: 'admin' })))}.${s}`;
      },
      'alg none, empty signature': async () =>
        signRaw(JSON.stringify({ alg: 'none', typ: 'JWT' }), JSON.stringify(claimsWith({})), 'none', null),
      'alg none with a known kid': async () =>
        signRaw(
          JSON.stringify({ alg: 'none', kid: stack.keys.keys.RS256.kid }),
          JSON.stringify(claimsWith({})),
          'none',
          null,
        ),
      'HS256 signed with the RSA public key as HMAC secret': async () => {
        const key = stack.keys.keys.RS256;
        const input = `${b64url(JSON.stringify({ alg: 'HS256', kid: key.kid }))}.${b64url(JSON.stringify(claimsWith({})))}`;
        const publicPem = createPublicKey(KeyObject.from(key.privateKey)).export({ format: 'pem', type: 'spki' });
        return `${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`;
      },
      'unknown kid': async () => {
        const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
        return signToken({ alg: 'RS256', kid: `unknown-${randomUUID()}`, privateKey }, claimsWith({}));
      },
      'right kid, signed by another key': async () => {
        const { privateKey } = await generateKeyPair('ES256');
        return signToken({ alg: 'ES256', kid: stack.keys.keys.ES256.kid, privateKey }, claimsWith({}));
      },
      'embedded jwk header with the attacker key': async () => {
        const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
        const jwk = await exportJWK(publicKey);
        return signToken({ alg: 'ES256', kid: `attacker-${randomUUID()}`, privateKey }, claimsWith({}), { jwk });
      },
      'embedded jwk header, no kid': async () => {
        const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
        const jwk = await exportJWK(publicKey);
        return signToken({ alg: 'RS256', kid: undefined, privateKey }, claimsWith({}), { jwk, kid: undefined });
      },
      'jku header pointing at an attacker key set': async () => {
        const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
        return signToken({ alg: 'RS256', kid: `attacker-${randomUUID()}`, privateKey }, claimsWith({}), {
          jku: 'http://127.0.0.1:9/jwks.json',
        });
      },
      'kid of an RSA key with alg ES256 (key of another type)': async () => {
        const es = stack.keys.keys.ES256;
        return signToken({ ...es, kid: stack.keys.keys.RS256.kid }, claimsWith({}));
      },
      'RS256 signature under the PS256 key (JWK alg disagrees)': async () => {
        const ps = stack.keys.keys.PS256;
        const keyObject = KeyObject.from(ps.privateKey);
        return signRaw(JSON.stringify({ alg: 'RS256', kid: ps.kid }), JSON.stringify(claimsWith({})), 'RS256', keyObject);
      },
      'weak 1024-bit RSA key (its kid is in the KV set)': async () => {
        const weak = stack.keys.weak;
        return signRaw(
          JSON.stringify({ alg: 'RS256', kid: weak.kid, typ: 'JWT' }),
          JSON.stringify(claimsWith({})),
          'RS256',
          weak.privateKeyObject,
        );
      },
      'unknown crit member': async () => {
        const rs = stack.keys.keys.RS256;
        const header = JSON.stringify({ alg: 'RS256', kid: rs.kid, crit: ['x-unknown'], 'x-unknown': true });
        return signRaw(header, JSON.stringify(claimsWith({})), 'RS256', KeyObject.from(rs.privateKey));
      },
      'duplicate claim names': async () => {
        const rs = stack.keys.keys.RS256;
        const c = claimsWith({});
        const payload = JSON.stringify(c).replace(/}$/, `,"iss":"https://attacker.example.test"}`);
        return signRaw(JSON.stringify({ alg: 'RS256', kid: rs.kid }), payload, 'RS256', KeyObject.from(rs.privateKey));
      },
      'duplicate header names': async () => {
        const rs = stack.keys.keys.RS256;
        const header = `{"alg":"RS256","kid":"${rs.kid}","alg":"none"}`;
        return signRaw(header, JSON.stringify(claimsWith({})), 'RS256', KeyObject.from(rs.privateKey));
      },
      'base64url padding after the signature (valid token68, not strict base64url)': async () => {
        const [h, p, s] = (await stack.token()).split('.');
        return `${h}.${p}.${s}${'='.repeat((4 - (s.length % 4)) % 4 || 4)}`;
      },
      'standard base64 alphabet (+/) in a segment': async () => {
        const [h, p, s] = (await stack.token({ claims: { note: '\u00ff\u00fe>>>???' } })).split('.');
        const standard = Buffer.from(p, 'base64url').toString('base64').replace(/=+$/, '');
        assert.ok(/[+/]/.test(standard), 'the test payload must contain + or /');
        return `${h}.${standard}.${s}`;
      },
    };

    for (const [name, make] of Object.entries(cases)) {
      test(name, T, async () => {
        const token = await make();
        stack.remember(token);
        const res = await call(`invalid-${name}`, bearer(token));
        expectInvalidToken(res, [token]);
        assert.equal(await originSawCase(`invalid-${name}`), false, 'the origin never saw the request');
      });
    }

    test('padding inside the token (not a token68 value) → refused, never forwarded', T, async () => {
      // SPEC §3 rule 1 asks for one token68 value; whether a value that is not token68 is a
      // malformed header (400 invalid_request) or a bad token (401 invalid_token) is open.
      const [h, p, s] = (await stack.token()).split('.');
      const token = `${h}.${p}==.${s}`;
      const res = await call('mid-padding', bearer(token));
      if (res.status === 400) expectInvalidRequest(res);
      else expectInvalidToken(res, [token]);
      expectNotEchoed(res, [token]);
      assert.equal(await originSawCase('mid-padding'), false);
    });

    test('the error_description is generic: it does not echo claims or key ids', T, async () => {
      const token = await stack.token({ claims: { iss: 'https://attacker-marker.example.test' } });
      const res = await call('generic-description', bearer(token));
      const params = expectInvalidToken(res, [token]);
      assert.ok(!params.error_description.includes('attacker-marker'), params.error_description);
    });
  });

  describe('REQUIRED_SCOPES (authenticated mode)', () => {
    test('a valid token without REQUIRED_SCOPES → 403 insufficient_scope naming the scope', T, async () => {
      const token = await stack.token({ claims: { scope: 'mcp:tools:*' } });
      const res = await call('insufficient', bearer(token));
      assert.equal(res.status, 403, res.text);
      const { params } = challengeOf(res);
      assert.equal(params.error, 'insufficient_scope');
      assert.ok((params.scope || '').split(' ').includes(REQUIRED_SCOPE), `scope="${params.scope}"`);
      assert.equal(params.resource_metadata, METADATA_URL);
      assert.equal(typeof params.error_description, 'string');
      expectJsonError(res, 'insufficient_scope');
      assert.equal(await originSawCase('insufficient'), false);
    });
  });
});
