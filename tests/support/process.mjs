// Child processes for the end-to-end suite: started in their own process group (setsid via
// `detached`), stdin from /dev/null, output captured, and always stopped as a group — also when
// the test process exits unexpectedly.

import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

const live = new Set();

function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of live) killGroup(child, 'SIGKILL');
    process.exit(130);
  });
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;
export const stripAnsi = (s) => s.replace(ANSI, '');

/**
 * Start a command in its own process group and capture its output.
 * @param {string} command
 * @param {string[]} args
 * @param {{cwd?: string, env?: object, logFile?: string}} [options]
 */
export function startProcess(command, args, options = {}) {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env || process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  const file = options.logFile ? createWriteStream(options.logFile) : null;
  const state = { output: '', stdout: '', exited: false, exitCode: null, listeners: new Set() };
  const onData = (fromStdout) => (chunk) => {
    const text = stripAnsi(chunk.toString('utf8'));
    state.output += text;
    if (fromStdout) state.stdout += text;
    file?.write(text);
    for (const listener of state.listeners) listener(state.output);
  };
  child.stdout.on('data', onData(true));
  child.stderr.on('data', onData(false));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      state.exited = true;
      state.exitCode = code ?? signal;
      live.delete(child);
      file?.end();
      for (const listener of state.listeners) listener(state.output);
      resolve(state.exitCode);
    });
    child.on('error', (err) => {
      state.output += `\n[spawn error] ${err.message}\n`;
      state.exited = true;
      live.delete(child);
      resolve(-1);
    });
  });

  /**
   * Wait until `predicate(output)` returns a truthy value; reject on timeout or exit.
   * @template T
   * @param {(output: string) => T} predicate
   * @param {number} timeoutMs
   * @returns {Promise<T>}
   */
  function waitFor(predicate, timeoutMs, what = 'output') {
    return new Promise((resolve, reject) => {
      const check = (output) => {
        const found = predicate(output);
        if (found) {
          done();
          resolve(found);
        } else if (state.exited) {
          done();
          reject(new Error(`${command} exited (${state.exitCode}) before ${what}:\n${tail(state.output)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${tail(state.output)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        state.listeners.delete(check);
      };
      state.listeners.add(check);
      check(state.output);
    });
  }

  async function stop(graceMs = 5000) {
    if (state.exited) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    // The group may hold grandchildren (workerd) that outlive the leader.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* group already empty */
    }
  }

  return {
    child,
    pid: child.pid,
    output: () => state.output,
    stdout: () => state.stdout,
    waitFor,
    stop,
    exited,
  };
}

/** Run a command to completion (bounded); resolves with {code, output, stdout}. */
export function runProcess(command, args, options = {}) {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const proc = startProcess(command, args, options);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(async () => {
      await proc.stop(1000);
      reject(new Error(`${command} ${args.join(' ')} timed out after ${timeoutMs} ms:\n${tail(proc.output())}`));
    }, timeoutMs);
    proc.exited.then((code) => {
      clearTimeout(timer);
      resolve({ code, output: proc.output(), stdout: proc.stdout() });
    });
  });
}

export function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}
