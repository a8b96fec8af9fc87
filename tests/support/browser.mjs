// A real headless Chromium for the end-to-end suite, driven by npm playwright-core over CDP.
//
// The browser is Debian's `chromium` package (installed by .ci/setup.sh, which exports
// MCP_GATE_CHROMIUM): playwright-core never downloads a browser, and `playwright install` is
// never run (browser downloads are impossible on the project's machines; see
// ../shared/TOOLCHAIN.md). Not imported by index.mjs: only the browser tests load playwright-core.
//
// Missing browser: under CI (CI=true) or with MCP_GATE_REQUIRE_BROWSER=1, or when
// MCP_GATE_CHROMIUM names a file that is not there, the tests FAIL; on a developer's machine
// without Chromium they skip with a message saying how to get it.

import { accessSync, constants } from 'node:fs';

/** Where Chromium is looked for when MCP_GATE_CHROMIUM is not set. */
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

const truthy = (v) => v !== undefined && v !== '' && !/^(0|false|no)$/i.test(v);

function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Find the Chromium to launch.
 * @returns {{path: string|null, required: boolean, reason: string}}
 *   `path` null when none was found; `required` true when a missing browser must fail the tests.
 */
export function findChromium() {
  const explicit = process.env.MCP_GATE_CHROMIUM;
  const required = truthy(process.env.CI) || truthy(process.env.MCP_GATE_REQUIRE_BROWSER) || Boolean(explicit);
  if (explicit) {
    return executable(explicit)
      ? { path: explicit, required, reason: '' }
      : { path: null, required, reason: `MCP_GATE_CHROMIUM=${explicit} is not an executable file` };
  }
  const found = CHROMIUM_CANDIDATES.find(executable);
  if (found) return { path: found, required, reason: '' };
  return {
    path: null,
    required,
    reason:
      `no Chromium found (${CHROMIUM_CANDIDATES.join(', ')}): run \`bash .ci/setup.sh\` as root ` +
      '(it installs Debian\'s `chromium`) or set MCP_GATE_CHROMIUM to a Chromium binary',
  };
}

/**
 * The `skip` option for node:test's describe()/test(): a message when the browser tests must be
 * skipped (no Chromium on a developer's machine), false otherwise. When a missing Chromium must
 * fail (CI), this is false and launchBrowser() throws the reason.
 */
export function browserSkip() {
  const { path, required, reason } = findChromium();
  if (path || required) return false;
  return `browser tests skipped: ${reason}`;
}

/**
 * Launch headless Chromium. `--no-sandbox`: the suite runs as root on CI, where Chromium's
 * sandbox refuses to start. Throws (with how to fix it) when no Chromium is there.
 * @param {{args?: string[]}} [options] extra command-line switches
 * @returns {Promise<import('playwright-core').Browser>}
 */
export async function launchBrowser({ args = [] } = {}) {
  const { path, reason } = findChromium();
  if (!path) throw new Error(`cannot run the browser tests: ${reason}`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: path,
    headless: true,
    timeout: 60_000,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', '--disable-gpu', ...args],
  });
}
