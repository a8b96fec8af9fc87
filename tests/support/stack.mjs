// One gate configuration for a test file: test keys, the example origin MCP server, and the
// built Worker under `wrangler dev`, wired together with the settings of SPEC §1.

import { generateTestKeys, defaultClaims, signToken } from './keys.mjs';
import { startOrigin } from './origin.mjs';
import { startGate, workerBuilt, WORKER_MAIN } from './gate.mjs';

// The gate's configured identity. The host names never resolve: the gate only compares and
// prints them, and wrangler dev serves the gate on 127.0.0.1.
export const RESOURCE = 'https://mcp.example.test/mcp';
export const RESOURCE_PATH = '/mcp';
export const METADATA_URL = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp';
export const ISSUER = 'https://auth.example.test/resources/res_e2e';
export const SECOND_ISSUER = 'https://login.second.example.test';
export const REQUIRED_SCOPE = 'mcp:access';
export const ALLOWED_BROWSER_ORIGIN = 'https://inspector.example.test';
export const FOREIGN_BROWSER_ORIGIN = 'https://evil.example.test';
// A made-up secret for ORIGIN_AUTHORIZATION; the suite checks it never leaks to clients or logs.
export const ORIGIN_AUTHORIZATION = 'Bearer origin-only-secret-7f3a9c1e';
export const ORIGIN_TIMEOUT_SECONDS = 2;

/** Settings of the default configuration (SPEC §1), given the origin's URL. */
export function defaultVars(originUrl) {
  return {
    RESOURCE,
    AUTHORIZATION_SERVERS: ISSUER,
    ISSUERS: `${ISSUER} ${SECOND_ISSUER}`,
    ORIGIN: originUrl,
    JWKS_URI: 'off',
    SCOPES_SUPPORTED: `${REQUIRED_SCOPE} mcp:tools:* mcp:resources:*`,
    REQUIRED_SCOPES: REQUIRED_SCOPE,
    RESOURCE_NAME: 'mcp-gate e2e',
    ALLOWED_ORIGINS: ALLOWED_BROWSER_ORIGIN,
    // Not in SPEC §1: the gate's time limit for the origin's response headers (lead's setting).
    ORIGIN_TIMEOUT_SECONDS: String(ORIGIN_TIMEOUT_SECONDS),
    // SPEC §1 REQUIRE_RULES defaults to true (no `rules` document → 503); most files test
    // authenticated mode, so the default configuration chooses it explicitly. Files that seed
    // `rules` are unaffected; tests/e2e/hygiene.test.mjs covers the default.
    REQUIRE_RULES: 'false',
    // SPEC §4a.1: only the MCP endpoint and FORWARD_PATHS are forwarded. The example origin's
    // debug endpoints that tests reach through the gate are served like the MCP endpoint.
    FORWARD_PATHS: '/__echo /__slow /__stream',
  };
}

/**
 * Start keys + origin + gate. `vars(originUrl, defaults)` may return replacement settings;
 * `secrets` defaults to { ORIGIN_AUTHORIZATION }; `kv` defaults to { jwks } (no rules document:
 * authenticated mode, because defaultVars sets REQUIRE_RULES=false); `originEnv` is the
 * example origin's environment (e.g. { JSON_RESPONSE: '1' }).
 */
export async function startStack({ name = 'gate', vars, secrets, kv, withWeakKey = true, originEnv = {} } = {}) {
  if (!workerBuilt()) {
    throw new Error(`the Worker is not built: ${WORKER_MAIN} is missing (run worker-build --release first)`);
  }
  const keys = await generateTestKeys();
  const origin = await startOrigin({ env: originEnv });
  let gate;
  try {
    const defaults = defaultVars(origin.url);
    const jwks = withWeakKey ? keys.jwksWithWeak : keys.jwks;
    gate = await startGate({
      name,
      vars: vars ? vars(origin.url, defaults) : defaults,
      secrets: secrets ?? { ORIGIN_AUTHORIZATION },
      kv: kv ?? { jwks },
    });
  } catch (err) {
    await origin.stop();
    throw err;
  }

  const issued = [];
  /**
   * A valid token (default claims) signed with the test key for `alg`; `claims` overrides
   * (value undefined removes a claim), `header` overrides protected header members.
   */
  async function token({ alg = 'RS256', claims = {}, header = {} } = {}) {
    const full = defaultClaims(
      { issuer: ISSUER, audience: RESOURCE },
      { scope: `${REQUIRED_SCOPE} mcp:tools:* mcp:resources:*`, ...claims },
    );
    const jwt = await signToken(keys.keys[alg], full, header);
    issued.push(jwt);
    return jwt;
  }

  return {
    keys,
    origin,
    gate,
    token,
    /** Every token minted through token() (for the log checks). */
    issuedTokens: () => [...issued],
    remember: (jwt) => issued.push(jwt),
    async stop() {
      await Promise.allSettled([gate?.stop(), origin.stop()]);
    },
  };
}
