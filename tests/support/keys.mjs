// Test keys and tokens, generated at test time (never stored in the repository).
//
// generateTestKeys() creates one signing key per algorithm the gate accepts by default
// (RS256, PS256, ES256, EdDSA/Ed25519) plus a 1024-bit RSA key for the weak-key case, and
// builds the public JWK Set the gate reads from KV key `jwks`.
// signToken() signs with jose; signRaw() assembles a compact JWS by hand with node:crypto
// for the cases jose refuses to produce (weak RSA key, alg "none", odd headers).

import { createSign, generateKeyPairSync, randomUUID, sign as cryptoSign, constants } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

export const ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

const b64url = (input) => Buffer.from(input).toString('base64url');

/**
 * @returns {Promise<{keys: Record<string, {alg: string, kid: string, privateKey: CryptoKey, publicJwk: object}>,
 *   weak: {alg: string, kid: string, privateKeyObject: import('node:crypto').KeyObject, publicJwk: object},
 *   jwks: {keys: object[]}, jwksWithWeak: {keys: object[]}}>}
 */
export async function generateTestKeys() {
  const keys = {};
  for (const alg of ALGS) {
    const options = { extractable: true };
    if (alg.startsWith('RS') || alg.startsWith('PS')) options.modulusLength = 2048;
    if (alg === 'EdDSA') options.crv = 'Ed25519';
    const { publicKey, privateKey } = await generateKeyPair(alg, options);
    const kid = `e2e-${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    keys[alg] = { alg, kid, privateKey, publicJwk };
  }

  // 1024-bit RSA: jose refuses to sign with it, so sign by hand with node:crypto.
  const weakPair = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const weakKid = `e2e-weak-rsa1024-${randomUUID().slice(0, 8)}`;
  const weak = {
    alg: 'RS256',
    kid: weakKid,
    privateKeyObject: weakPair.privateKey,
    publicJwk: { ...weakPair.publicKey.export({ format: 'jwk' }), kid: weakKid, alg: 'RS256', use: 'sig' },
  };

  const jwks = { keys: ALGS.map((alg) => keys[alg].publicJwk) };
  const jwksWithWeak = { keys: [...jwks.keys, weak.publicJwk] };
  return { keys, weak, jwks, jwksWithWeak };
}

/** Seconds since the epoch. */
export const now = () => Math.floor(Date.now() / 1000);

/**
 * Default claims of a valid token; override or remove (value `undefined`) any of them.
 * @param {{issuer: string, audience: string|string[]}} base
 */
export function defaultClaims(base, overrides = {}) {
  const t = now();
  const claims = {
    iss: base.issuer,
    aud: base.audience,
    sub: 'user-e2e-42',
    client_id: 'client-e2e',
    scope: 'mcp:tools:* mcp:resources:*',
    iat: t,
    nbf: t,
    exp: t + 600,
    jti: randomUUID(),
    ...overrides,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return claims;
}

/**
 * Sign a JWT with jose.
 * @param {{alg: string, kid: string, privateKey: CryptoKey}} key
 * @param {object} claims full claim set (see defaultClaims)
 * @param {object} [header] extra/overriding protected header members; `kid: undefined` omits kid
 */
export async function signToken(key, claims, header = {}) {
  const protectedHeader = { alg: key.alg, kid: key.kid, typ: 'JWT', ...header };
  for (const [k, v] of Object.entries(protectedHeader)) if (v === undefined) delete protectedHeader[k];
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key.privateKey);
}

/**
 * Assemble a compact JWS by hand. `headerJson` / `payloadJson` are strings so that tests can
 * send exactly the bytes they want (duplicate members, odd spacing). `signer` is one of
 * 'RS256' | 'PS256' | 'ES256' | 'EdDSA' | 'none'.
 * @param {string} headerJson
 * @param {string} payloadJson
 * @param {string} signer
 * @param {import('node:crypto').KeyObject|null} keyObject
 */
export function signRaw(headerJson, payloadJson, signer, keyObject) {
  const input = `${b64url(headerJson)}.${b64url(payloadJson)}`;
  let signature;
  switch (signer) {
    case 'none':
      signature = Buffer.alloc(0);
      break;
    case 'RS256':
      signature = createSign('sha256').update(input).sign(keyObject);
      break;
    case 'PS256':
      signature = cryptoSign('sha256', Buffer.from(input), {
        key: keyObject,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });
      break;
    case 'ES256':
      signature = cryptoSign('sha256', Buffer.from(input), { key: keyObject, dsaEncoding: 'ieee-p1363' });
      break;
    case 'EdDSA':
      signature = cryptoSign(null, Buffer.from(input), keyObject);
      break;
    default:
      throw new Error(`unknown signer ${signer}`);
  }
  return `${input}.${b64url(signature)}`;
}

/** Flip one bit in the signature segment of a compact JWS (keeps it valid base64url). */
export function tamperSignature(token) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[0] ^= 0x01;
  return `${h}.${p}.${sig.toString('base64url')}`;
}
