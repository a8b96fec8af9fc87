// Bundle sizes, raw and gzip. "upload" is what `wrangler deploy` prints as Total Upload: the
// gzip (zlib default level) of all modules concatenated.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO } from './paths.mjs';

function one(file) {
  const bytes = readFileSync(file);
  return { file: path.relative(REPO, file), raw: bytes.length, gzip: gzipSync(bytes).length };
}

/** Sizes of each file and of all of them as one upload. */
export function sizesOf(files) {
  const each = files.map(one);
  const all = Buffer.concat(files.map((f) => readFileSync(f)));
  return { files: each, upload: { raw: all.length, gzip: gzipSync(all).length } };
}

export const fileSize = (file) => statSync(file).size;

export const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
