// Where things are: the repository root and the benchmark's scratch directory (git-ignored).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../../..');
export const BENCH_DIR = path.resolve(here, '..');
export const TMP = path.join(REPO, 'tests/.tmp');
export const BUILD = {
  wasm: path.join(REPO, 'build/index_bg.wasm'),
  js: path.join(REPO, 'build/index.js'),
  shim: path.join(REPO, 'build/worker/shim.mjs'),
};
