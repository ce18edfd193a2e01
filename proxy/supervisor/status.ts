/**
 * `tlsproxy status [-c DIR]`: is the daemon running, its pid, uptime,
 * configuration generation, and its worker processes with their sessions,
 * on one screen.
 *
 * The command finds the daemon through its pid file and sends it SIGUSR2;
 * the main process answers by writing `tlsproxy.state` (JSON, replaced
 * atomically) next to the pid file, with a sequence number the command
 * waits for (up to 3 s). The main process never reads client data, so the
 * figures are the workers' last heartbeats (at most a second old).
 */

import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ParameterSet } from '../config/main-cf.js';
import { isRunning, pidDirectory, readPidFile } from './pidfile.js';
import type { WorkerStatus } from './workers.js';

export const STATE_FILE = 'tlsproxy.state';
export const STATUS_SIGNAL = 'SIGUSR2';

export interface DaemonState {
  readonly pid: number;
  readonly seq: number;
  /** ms since the epoch. */
  readonly started: number;
  readonly time: number;
  readonly configuration: string;
  readonly generation: number;
  readonly mode: 'workers' | 'single';
  readonly services: readonly { readonly name: string; readonly command: string }[];
  readonly listening: readonly string[];
  readonly workers: readonly WorkerStatus[];
  /** Sessions in progress (all workers, or the one process). */
  readonly sessions: number;
  readonly metrics?: string;
}

export function writeState(dir: string, state: DaemonState): void {
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.${state.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let created = false;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    created = true;
    try {
      writeSync(fd, `${JSON.stringify(state)}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch {
    if (created) {
      try {
        unlinkSync(tmp);
      } catch {
        // gone
      }
    }
  }
}

export function readState(dir: string): DaemonState | undefined {
  try {
    const s = JSON.parse(readFileSync(path.join(dir, STATE_FILE), 'utf8')) as DaemonState;
    if (typeof s.pid !== 'number' || typeof s.seq !== 'number' || !Array.isArray(s.workers)) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

export function removeState(dir: string, pid: number): void {
  try {
    if (readState(dir)?.pid === pid) unlinkSync(path.join(dir, STATE_FILE));
  } catch {
    // gone
  }
}

export function duration(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return [d ? `${d}d` : '', d || h ? `${h}h` : '', d || h || m ? `${m}m` : '', `${s}s`].filter(Boolean).join(' ');
}

/** The screen `tlsproxy status` prints for a state. */
export function formatState(s: DaemonState, now = Date.now()): string {
  const out: string[] = [];
  out.push(`tlsproxy: running, pid ${s.pid}, up ${duration(now - s.started)} (since ${new Date(s.started).toISOString().replace(/\.\d+Z$/, 'Z')})`);
  out.push(`configuration: ${s.configuration}, generation ${s.generation}`);
  if (s.metrics) out.push(`metrics: http://${s.metrics}/metrics`);
  out.push(`listening: ${s.listening.join(', ') || '(nothing)'}`);
  if (s.mode === 'single') {
    out.push(`one process (no worker processes): ${s.sessions} session${s.sessions === 1 ? '' : 's'} in progress`);
    return `${out.join('\n')}\n`;
  }
  for (const svc of s.services) {
    const ws = s.workers.filter((w) => w.service === svc.name);
    const sessions = ws.reduce((n, w) => n + w.sessions, 0);
    out.push(`service ${svc.name} (${svc.command}): ${ws.length} worker process${ws.length === 1 ? '' : 'es'}, ${sessions} session${sessions === 1 ? '' : 's'}`);
    for (const w of ws.sort((a, b) => a.pid - b.pid)) {
      out.push(`  pid ${String(w.pid).padEnd(8)} ${w.state.padEnd(9)} generation ${String(w.generation).padEnd(3)} sessions ${String(w.sessions).padEnd(6)} cpu ${Math.round(w.cpu * 100)}%`);
    }
  }
  return `${out.join('\n')}\n`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Exit status: 0 running (the screen printed), 1 not running. */
export async function statusCommand(params: ParameterSet, io: { stdout: (t: string) => void; stderr: (t: string) => void; timeoutMs?: number }): Promise<number> {
  let dir: string;
  let pid: number;
  try {
    dir = pidDirectory(params);
    const c = readPidFile(dir);
    if (!c) {
      io.stdout(`tlsproxy: not running (no pid file ${dir}/tlsproxy.pid)\n`);
      return 1;
    }
    if (!isRunning(c)) {
      io.stdout(`tlsproxy: not running: stale pid file ${dir}/tlsproxy.pid (pid ${c.pid} is gone)\n`);
      return 1;
    }
    pid = c.pid;
  } catch (e) {
    io.stderr(`tlsproxy: status: ${(e as Error).message}\n`);
    return 1;
  }
  const before = readState(dir);
  const seq = before?.pid === pid ? before.seq : 0;
  try {
    process.kill(pid, STATUS_SIGNAL);
  } catch (e) {
    io.stdout(`tlsproxy: running, pid ${pid} (cannot ask it for more: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})\n`);
    return 0;
  }
  const end = Date.now() + (io.timeoutMs ?? 3000);
  while (Date.now() < end) {
    await sleep(25);
    const s = readState(dir);
    if (s && s.pid === pid && s.seq > seq) {
      io.stdout(formatState(s));
      return 0;
    }
  }
  io.stdout(`tlsproxy: running, pid ${pid} (no status answer within ${Math.round((io.timeoutMs ?? 3000) / 1000)}s)\n`);
  return 0;
}
