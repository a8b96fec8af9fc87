// /proc readings for the load scripts: the workerd processes a running `wrangler dev` (started
// by tests/support/gate.mjs in its own session) owns, and their resident memory.
//
// The harness does not hand out wrangler's pid, so the session is found from the gate's working
// directory: wrangler's command line carries `-c <gate.dir>/wrangler.json`, and every process
// wrangler starts (workerd included) stays in the session the harness created with setsid.

import { readdirSync, readFileSync } from 'node:fs';

const numericDirs = () => readdirSync('/proc').filter((name) => /^\d+$/.test(name));

/** {pid, ppid, pgrp, session, comm} from /proc/PID/stat, or null when the process is gone. */
export function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    return {
      pid: Number(pid),
      comm: text.slice(open + 1, close),
      ppid: Number(fields[1]),
      pgrp: Number(fields[2]),
      session: Number(fields[3]),
    };
  } catch {
    return null;
  }
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Session id of the `wrangler dev` whose command line mentions `gateDir`; null when not found. */
export function findGateSession(gateDir) {
  for (const pid of numericDirs()) {
    if (!cmdline(pid).includes(gateDir)) continue;
    const stat = procStat(pid);
    if (stat) return stat.session;
  }
  return null;
}

/** Every process of a session: [{pid, comm, ...}]. */
export function sessionProcesses(session) {
  const out = [];
  for (const pid of numericDirs()) {
    const stat = procStat(pid);
    if (stat && stat.session === session) out.push(stat);
  }
  return out;
}

/** The workerd processes (and, separately, the others) of the gate started in `gateDir`. */
export function gateProcesses(gateDir) {
  const session = findGateSession(gateDir);
  if (session === null) return { session, workerd: [], others: [] };
  const all = sessionProcesses(session);
  const isWorkerd = (p) => p.comm === 'workerd' || cmdline(p.pid).split(' ')[0].endsWith('/workerd');
  return { session, workerd: all.filter(isWorkerd), others: all.filter((p) => !isWorkerd(p)) };
}

/** VmRSS of a process in bytes; NaN when it is gone. */
export function vmRssBytes(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Sample the summed VmRSS of `pids()` every `intervalMs`.
 * @returns {{stop: () => void, samples: Array<{at: number, total: number, each: number[]}>,
 *   peak: () => {at: number, total: number, each: number[]} | null}}
 */
export function startRssSampler(pids, intervalMs = 50) {
  const samples = [];
  const take = () => {
    const list = pids();
    const each = list.map(vmRssBytes);
    const alive = each.filter(Number.isFinite);
    if (alive.length) samples.push({ at: performance.now(), total: alive.reduce((a, b) => a + b, 0), each });
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      take();
    },
    peak: () => samples.reduce((best, s) => (!best || s.total > best.total ? s : best), null),
  };
}

/** Summed VmRSS of `pids()` measured `count` times `intervalMs` apart; resolves with the median. */
export async function settledRss(pids, { count = 10, intervalMs = 100 } = {}) {
  const values = [];
  for (let i = 0; i < count; i++) {
    const v = pids()
      .map(vmRssBytes)
      .filter(Number.isFinite)
      .reduce((a, b) => a + b, 0);
    values.push(v);
    if (i + 1 < count) await new Promise((r) => setTimeout(r, intervalMs));
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
}

export const MiB = 1024 * 1024;
export const fmtMiB = (bytes) => (Number.isFinite(bytes) ? `${(bytes / MiB).toFixed(1)} MiB` : 'n/a');
