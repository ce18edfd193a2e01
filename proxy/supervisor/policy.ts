/**
 * When the supervisor (workers.ts) starts another worker process for a
 * service, and when it retires one: a pure decision over the load the
 * workers report (their heartbeats, ipc.ts `load`), so it can be tested
 * without processes.
 *
 * Bounds: at most the service's process count (the master.cf maxproc
 * column as configuration.ts workerProcesses() resolves it), at least
 * tlsproxy_min_processes (capped at that maximum). An explicit
 * tlsproxy_worker_processes fixes the count (minimum = maximum: no growth).
 *
 * Growth: one more worker when the accepting workers average at least
 * tlsproxy_process_grow_sessions sessions, or at least
 * tlsproxy_process_grow_cpu percent of one CPU, and no worker is still
 * starting and the last change is GROW_SETTLE_MS old (so the new one gets
 * a share of the connections before the next decision).
 *
 * Retirement, with hysteresis so the count does not flap: only when the
 * load would stay below HALF of both thresholds with one worker fewer,
 * continuously for max_idle (Postfix's idle limit, 100 s), and max_idle
 * after the last change; then the worker with the fewest sessions (the
 * newest on a tie) stops accepting and exits after its last session, and
 * the next retirement needs another max_idle of low load.
 */

import type { ParameterSet } from '../config/main-cf.js';

export interface ProcessBounds {
  readonly min: number;
  readonly max: number;
  /** Average sessions per accepting worker at which one more starts. */
  readonly growSessions: number;
  /** Average CPU (fraction of one CPU) per accepting worker at which one more starts. */
  readonly growCpu: number;
  /** Low load must last this long before a worker is retired (max_idle). */
  readonly idleMs: number;
}

/** After a change, wait this long before growing again. */
export const GROW_SETTLE_MS = 2000;

/** The bounds of a service whose maximum process count is `processes`. */
export function processBounds(params: ParameterSet, processes: number): ProcessBounds {
  const fixed = params.get('tlsproxy_worker_processes').trim() !== '';
  const min = fixed ? processes : Math.min(params.getInt('tlsproxy_min_processes'), processes);
  return {
    min,
    max: processes,
    growSessions: params.getInt('tlsproxy_process_grow_sessions'),
    growCpu: params.getInt('tlsproxy_process_grow_cpu') / 100,
    idleMs: params.getTime('max_idle') * 1000,
  };
}

/** What one accepting worker reported last. */
export interface WorkerLoad {
  readonly sessions: number;
  /** Fraction of one CPU (0.5 = half a CPU), averaged over the last few heartbeats. */
  readonly cpu: number;
}

export type Decision =
  | { readonly kind: 'none' }
  | { readonly kind: 'grow'; readonly why: string }
  /** Retire accepting worker number `index` (in the array given to decide()). */
  | { readonly kind: 'retire'; readonly index: number; readonly why: string };

const NONE: Decision = { kind: 'none' };

/** `12 sessions per process, cpu 40%` */
export function describeLoad(sessions: number, cpu: number): string {
  return `${Math.round(sessions * 10) / 10} sessions per process, cpu ${Math.round(cpu * 100)}%`;
}

/** The decision state of one service (the supervisor keeps one per service and generation). */
export class GrowthPolicy {
  private lowSince: number | undefined;
  private lastChange: number;

  constructor(now = 0) {
    this.lastChange = now;
  }

  /** A change the policy did not decide (a replacement after a crash) also settles. */
  changed(now: number): void {
    this.lastChange = now;
  }

  /**
   * `accepting`: the loads of the workers that accept connections now;
   * `starting`: workers forked that are not ready yet.
   */
  decide(now: number, bounds: ProcessBounds, accepting: readonly WorkerLoad[], starting: number): Decision {
    const n = accepting.length + starting;
    if (starting > 0) return NONE;
    if (n < bounds.min) {
      this.lastChange = now;
      return { kind: 'grow', why: `below the minimum of ${bounds.min}` };
    }
    if (!accepting.length) return NONE;
    const total = accepting.reduce((a, w) => a + w.sessions, 0);
    const cpu = accepting.reduce((a, w) => a + w.cpu, 0) / accepting.length;
    const avg = total / accepting.length;
    if (n < bounds.max && (avg >= bounds.growSessions || cpu >= bounds.growCpu)) {
      this.lowSince = undefined;
      if (now - this.lastChange < GROW_SETTLE_MS) return NONE;
      this.lastChange = now;
      return { kind: 'grow', why: describeLoad(avg, cpu) };
    }
    const low = n > bounds.min && total / (n - 1) < bounds.growSessions / 2 && (cpu * n) / (n - 1) < bounds.growCpu / 2;
    if (!low) {
      this.lowSince = undefined;
      return NONE;
    }
    this.lowSince ??= now;
    if (now - this.lowSince < bounds.idleMs || now - this.lastChange < bounds.idleMs) return NONE;
    let index = 0;
    for (let i = 1; i < accepting.length; i++) if (accepting[i]!.sessions <= accepting[index]!.sessions) index = i;
    this.lowSince = now;
    this.lastChange = now;
    return { kind: 'retire', index, why: describeLoad(avg, cpu) };
  }
}
