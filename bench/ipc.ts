/**
 * A tiny request/reply protocol over the Node IPC channel between the bench
 * orchestrator (proxy-bench.ts) and its child processes.
 *
 *   parent → child   { id, cmd, args }
 *   child → parent   { id, ok: true, result } | { id, ok: false, error }
 *   child → parent   { event, data }            (unsolicited)
 */

import type { ChildProcess } from 'node:child_process';

interface Request {
  readonly id: number;
  readonly cmd: string;
  readonly args?: unknown;
}

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

export interface BenchEvent {
  readonly event: string;
  readonly data?: unknown;
}

function isRequest(m: unknown): m is Request {
  return typeof m === 'object' && m !== null && typeof (m as Request).id === 'number' && typeof (m as Request).cmd === 'string';
}

function isReply(m: unknown): m is Reply {
  return typeof m === 'object' && m !== null && typeof (m as Reply).id === 'number' && typeof (m as Reply).ok === 'boolean';
}

function isEvent(m: unknown): m is BenchEvent {
  return typeof m === 'object' && m !== null && typeof (m as BenchEvent).event === 'string';
}

// ------------------------------------------------------------------ parent side

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface EventWaiter {
  name: string;
  test: (data: unknown) => boolean;
  resolve: (data: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The parent's handle on one child: calls with time limits, buffered events. */
export class Rpc {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private events: BenchEvent[] = [];
  private waiters: EventWaiter[] = [];
  /** Set once the child exited. */
  exitReason: string | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: unknown) => this.onMessage(m));
    child.on('exit', (code, signal) => {
      this.exitReason = signal ? `killed by ${signal}` : `exited with status ${code}`;
      const e = new Error(`${name}: ${this.exitReason}`);
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(e);
      }
      this.pending.clear();
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(e);
      }
    });
  }

  call<T>(cmd: string, args?: unknown, timeoutMs = 60_000): Promise<T> {
    if (this.exitReason) return Promise.reject(new Error(`${this.name}: ${this.exitReason}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, cmd, args } satisfies Request);
    });
  }

  /** The first event `name` (already received or future) whose data passes `test`; it is consumed. */
  waitEvent<T>(name: string, timeoutMs = 30_000, test: (data: T) => boolean = () => true): Promise<T> {
    const i = this.events.findIndex((e) => e.event === name && test(e.data as T));
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]!.data as T);
    if (this.exitReason) return Promise.reject(new Error(`${this.name}: ${this.exitReason}`));
    return new Promise<T>((resolve, reject) => {
      const w: EventWaiter = {
        name,
        test: test as (d: unknown) => boolean,
        resolve: resolve as (d: unknown) => void,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new Error(`${this.name}: no ${name} event within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  clearEvents(): void {
    this.events = [];
  }

  private onMessage(m: unknown): void {
    if (isReply(m)) {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${this.name}: ${m.error}`));
    } else if (isEvent(m)) {
      const w = this.waiters.find((x) => x.name === m.event && x.test(m.data));
      if (w) {
        this.waiters = this.waiters.filter((x) => x !== w);
        clearTimeout(w.timer);
        w.resolve(m.data);
      } else {
        this.events.push(m);
        if (this.events.length > 10_000) this.events.splice(0, 5_000);
      }
    }
  }
}

// ------------------------------------------------------------------ child side

export type Handler = (args: never) => unknown;

/**
 * Answer the parent's requests with `handlers` (a missing one is ignored,
 * so several servers can share a process). `onDisconnect` runs when the
 * parent goes away (default: exit).
 */
export function serve(handlers: Record<string, Handler>, onDisconnect: () => void = () => process.exit(0)): void {
  if (!process.send) throw new Error('serve(): no IPC channel (start this file with child_process.fork)');
  process.on('message', (m: unknown) => {
    if (!isRequest(m)) return;
    const h = handlers[m.cmd];
    if (!h) return;
    Promise.resolve()
      .then(() => h(m.args as never))
      .then(
        (result) => send({ id: m.id, ok: true, result } satisfies Reply),
        (e: unknown) => send({ id: m.id, ok: false, error: (e as Error)?.stack ?? String(e) } satisfies Reply),
      );
  });
  process.on('disconnect', onDisconnect);
}

export function emit(event: string, data?: unknown): void {
  send({ event, data } satisfies BenchEvent);
}

function send(message: unknown): void {
  if (process.connected) process.send!(message);
}
