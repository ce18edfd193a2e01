/**
 * tlsproxy_watchdog_timeout (tlsproxy-postfix.md §3.3: 10 s, cannot be
 * lower): a process whose event loop is stuck in one iteration for longer
 * is killed.
 *
 * Worker processes: the supervisor watches their heartbeats (ipc.ts `load`,
 * every HEARTBEAT_MS). A worker silent for longer than its service's
 * watchdog timeout is killed with SIGKILL (it cannot act on anything
 * gentler: its loop is stuck, or it is stopped) and replaced like any dead
 * worker. HeartbeatWatch is that bookkeeping. If the main process itself
 * was stalled (its check ran late), it cannot tell a stalled worker from
 * heartbeats it has not read yet: it forgives everyone and starts over.
 *
 * One process (no supervisor): a thread of that process watches a
 * heartbeat the event loop stores every second; when it is older than the
 * timeout the thread writes `fatal: watchdog timeout` (as Postfix's
 * watchdog does) and kills the process. The thread is the native addon's
 * (a POSIX thread: nothing to start, ~0 MiB) where the addon loads; else a
 * worker_threads thread (a JavaScript isolate: ~10 MiB of RSS and a few ms
 * of start-up, measured for issue 9), e.g. on Deno and Bun.
 */

import { createRequire } from 'node:module';
import { loadNative } from '../base/native.js';

export class HeartbeatWatch<K> {
  private readonly last = new Map<K, number>();
  private lastCheck: number | undefined;

  constructor(
    /** How often check() is called (ms): a check this much later than due means we stalled. */
    private readonly checkEveryMs: number,
  ) {}

  /** `id` is alive now (a heartbeat arrived, or it just became ready). */
  beat(id: K, now = Date.now()): void {
    this.last.set(id, now);
  }

  forget(id: K): void {
    this.last.delete(id);
  }

  /** Milliseconds since the last heartbeat of `id`. */
  silentFor(id: K, now = Date.now()): number | undefined {
    const t = this.last.get(id);
    return t === undefined ? undefined : now - t;
  }

  /** The ids silent for longer than their timeout; none when this check itself is late. */
  overdue(timeoutOf: (id: K) => number, now = Date.now()): K[] {
    const late = this.lastCheck !== undefined && now - this.lastCheck > 2 * this.checkEveryMs;
    this.lastCheck = now;
    if (late) {
      for (const id of this.last.keys()) this.last.set(id, now);
      return [];
    }
    const out: K[] = [];
    for (const [id, t] of this.last) if (now - t > timeoutOf(id)) out.push(id);
    return out;
  }
}

/** The watchdog thread: plain JavaScript (no loader needed in the thread); formats its line as log.ts does. */
const THREAD = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const beat = new Int32Array(workerData.shared);
const M = ['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec'];
const two = (n) => String(n).padStart(2, '0');
const timer = setInterval(() => {
  const now = Math.floor(Date.now() / 1000);
  if (now - Atomics.load(beat, 0) > workerData.timeoutS) {
    clearInterval(timer);
    const d = new Date();
    const stamp = M[d.getMonth()] + ' ' + two(d.getDate()) + ' ' + two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
    try { fs.writeSync(2, stamp + ' ' + workerData.prefix + 'fatal: watchdog timeout\\n'); } catch {}
    process.kill(workerData.pid, 'SIGKILL');
  }
}, 1000);
`;

export interface ThreadWatchdog {
  stop(): void;
}

/**
 * Start the in-process watchdog. `prefix` is what follows the time stamp
 * in a log line (`host postfix/tlsproxy[pid]: `); the thread writes
 * `<time> <prefix>fatal: watchdog timeout` to stderr before it kills the
 * process.
 */
export function startThreadWatchdog(timeoutS: number, prefix: string, native = loadNative()): ThreadWatchdog {
  if (native.ok && typeof native.addon.watchdogStart === 'function') {
    const addon = native.addon;
    let started = false;
    try {
      addon.watchdogStart(timeoutS, prefix);
      started = true;
    } catch {
      // e.g. a prefix longer than the addon's 511 bytes: the worker_threads watchdog below
    }
    if (started) {
      const timer = setInterval(() => addon.watchdogBeat(), 1000);
      timer.unref();
      return {
        stop() {
          clearInterval(timer);
          addon.watchdogStop();
        },
      };
    }
  }
  const shared = new SharedArrayBuffer(4);
  const beat = new Int32Array(shared);
  const store = () => Atomics.store(beat, 0, Math.floor(Date.now() / 1000));
  store();
  const timer = setInterval(store, 1000);
  timer.unref();
  // node:worker_threads only for this fallback (the native thread is the usual watchdog).
  const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
  const thread = new Worker(THREAD, { eval: true, execArgv: [], workerData: { shared, timeoutS, pid: process.pid, prefix } });
  thread.unref();
  thread.on('error', () => undefined);
  return {
    stop() {
      clearInterval(timer);
      void thread.terminate();
    },
  };
}
