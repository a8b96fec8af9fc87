// Bundle a JavaScript measuring instrument for workerd with esbuild (wrangler's dependency), so
// that `jose` from node_modules runs in workerd exactly as a deployed Worker would get it.
import { createRequire } from 'node:module';
import { statSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './paths.mjs';

/** Bundle `entry` to `outfile` (ESM, minified like a production build); returns its byte size. */
export async function bundleWorker(entry, outfile) {
  const require = createRequire(path.join(REPO, 'package.json'));
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch (err) {
    throw new Error(`esbuild (a wrangler dependency) is not installed: ${err.message}`);
  }
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    minify: true,
    logLevel: 'error',
    absWorkingDir: REPO,
  });
  return statSync(outfile).size;
}
