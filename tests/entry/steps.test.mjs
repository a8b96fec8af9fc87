// The entry module (src/edge/entry.js) driven against a scripted stand-in for the wasm exports:
// its control flow only — which steps it calls, in which order, what it does when a promise
// rejects, when a call into the wasm throws, or when the wasm instance is replaced under a
// request (after a trap elsewhere: the exchange must be abandoned, never used nor freed).
// The decisions themselves are the Rust core's, tested natively and end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The stand-in for wasm-bindgen's output: every call is recorded in `fake.calls`; `fake.script`
// answers a step's method; `fake.instance` is the wasm instance id `instanceId()` reports.
const FAKE_INDEX = `
const fake = globalThis.__entryFake;
export const Step = { Respond: 0, Async: 1, Read: 2, UnknownKid: 3, Verify: 4, Forward: 5, Filter: 6 };
export function instanceId() { fake.calls.push('instanceId'); return fake.instance(); }
export class Exchange {
  static begin() { fake.calls.push('begin'); return new Exchange(); }
  get step() { fake.calls.push('step'); return fake.script.step ?? Step.Read; }
  get bodyLimit() { return 1024; }
  get loadsState() { return false; }
  get hasCredentials() { return true; }
  get kid() { return 'k1'; }
  precheck(body) { fake.calls.push('precheck:' + (body instanceof Uint8Array ? body.length : String(body))); return fake.script.precheck(); }
  keysSettled() { fake.calls.push('keysSettled'); return Step.Verify; }
  signaturePromise() { fake.calls.push('signaturePromise'); return fake.script.signaturePromise(); }
  keyImported(key) { fake.calls.push('keyImported'); return fake.script.keyImported?.(key) ?? false; }
  signatureChecked(ok) { fake.calls.push('signatureChecked:' + ok); return fake.script.signatureChecked?.(ok) ?? Step.Forward; }
  forward() { fake.calls.push('forward'); return Promise.resolve(new Response('upstream')); }
  relay() { fake.calls.push('relay'); return fake.script.relay?.() ?? Step.Respond; }
  response() { fake.calls.push('response'); return new Response('answer', { status: fake.script.status ?? 200 }); }
  free() { fake.calls.push('free'); }
}
export async function serveAsync() { fake.calls.push('serveAsync'); return new Response('async'); }
export async function loadState() { fake.calls.push('loadState'); }
export async function settleUnknownKid() { fake.calls.push('settleUnknownKid'); }
export async function relayFiltered() { fake.calls.push('relayFiltered'); return new Response('filtered'); }
export function scheduled() {}
`;
const FAKE_GLUE = `export async function readBody() { return new Uint8Array(3); }\n`;

let counter = 0;
/** A fresh copy of the entry module wired to the stand-in, and the stand-in's record. */
async function entry(script, instance = () => 1) {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcp-gate-entry-'));
  copyFileSync(path.join(REPO, 'src/edge/entry.js'), path.join(dir, 'entry.mjs'));
  writeFileSync(path.join(dir, 'index.js'), FAKE_INDEX);
  writeFileSync(path.join(dir, 'glue.js'), FAKE_GLUE);
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
  const fake = { calls: [], script, instance };
  globalThis.__entryFake = fake;
  const mod = await import(`${pathToFileURL(path.join(dir, 'entry.mjs'))}?${counter++}`);
  rmSync(dir, { recursive: true, force: true });
  const quiet = console.error;
  return {
    fake,
    async fetch() {
      console.error = () => {};
      try {
        return await mod.default.fetch(new Request('https://gate.example/mcp', { method: 'POST' }), {}, {});
      } finally {
        console.error = quiet;
      }
    },
  };
}

const steps = (calls) => calls.filter((c) => c !== 'instanceId' && c !== 'step');

test('a request goes through the steps in order and its exchange is freed once', async () => {
  const { fake, fetch } = await entry({ precheck: () => 4, signaturePromise: () => Promise.resolve(true) });
  const res = await fetch();
  assert.equal(res.status, 200);
  assert.deepEqual(steps(fake.calls), [
    'begin', 'precheck:3', 'signaturePromise', 'signatureChecked:true', 'forward', 'relay', 'response', 'free',
  ]);
});

test('a first meeting with a key: imported, then verified with it', async () => {
  let first = true;
  const script = {
    precheck: () => 4,
    signaturePromise: () => {
      const answer = first ? Promise.resolve({ imported: 'key' }) : Promise.resolve(true);
      first = false;
      return answer;
    },
    keyImported: () => true,
  };
  const { fake, fetch } = await entry(script);
  await fetch();
  assert.deepEqual(steps(fake.calls).slice(1, 6), [
    'precheck:3', 'signaturePromise', 'keyImported', 'signaturePromise', 'signatureChecked:true',
  ]);
});

test('a rejected or missing WebCrypto promise, or a second key, is a failed check', async () => {
  for (const signaturePromise of [
    () => Promise.reject(new Error('bad key')),
    () => undefined,
    () => Promise.resolve('yes'),
  ]) {
    const { fake, fetch } = await entry({ precheck: () => 4, signaturePromise, status: 401, signatureChecked: () => 0 });
    const res = await fetch();
    assert.equal(res.status, 401);
    assert.ok(fake.calls.includes('signatureChecked:false'), fake.calls.join(' '));
  }
});

test('an error of a call into the wasm is not taken for a failed check: 500, nothing forwarded', async () => {
  const { fake, fetch } = await entry({
    precheck: () => 4,
    signaturePromise: () => {
      throw new Error('recursive use of an object');
    },
  });
  const res = await fetch();
  assert.equal(res.status, 500);
  assert.equal((await res.json()).error, 'server_error');
  assert.ok(!fake.calls.some((c) => c.startsWith('signatureChecked') || c === 'forward'), fake.calls.join(' '));
  assert.ok(fake.calls.includes('free'));
});

test('a wasm instance replaced under a request: 500, the old exchange never used nor freed', async () => {
  let instance = 1;
  const script = {
    precheck: () => 4,
    signaturePromise: () => {
      // Another request trapped meanwhile: the next call into the wasm re-instantiates it.
      instance = 2;
      return Promise.resolve(true);
    },
  };
  const { fake, fetch } = await entry(script, () => instance);
  const res = await fetch();
  assert.equal(res.status, 500);
  assert.ok(!fake.calls.some((c) => c.startsWith('signatureChecked') || c === 'forward' || c === 'free'), fake.calls.join(' '));
});

test('the routes with I/O of their own, and filtered lists, leave the exchange to Rust', async () => {
  const routed = await entry({ step: 1 });
  assert.equal(await (await routed.fetch()).text(), 'async');
  assert.deepEqual(steps(routed.fake.calls), ['begin', 'serveAsync', 'free']);
  // `relayFiltered` takes the exchange over (it frees it): the entry must not free it again.
  const filtered = await entry({ precheck: () => 5, relay: () => 6 });
  assert.equal(await (await filtered.fetch()).text(), 'filtered');
  assert.deepEqual(steps(filtered.fake.calls).slice(-3), ['forward', 'relay', 'relayFiltered']);
});
