/**
 * The IPC channel between the main process and its worker processes
 * (node:cluster's, with `serialization: 'advanced'` so Uint8Arrays cross
 * as they are). Every message is an object with a `t` field:
 *
 * main → worker
 *   init         what to serve (configuration source, service index, generation) and the current ticket key sets
 *   keys         a ticket key set changed (rotation, key file reload)
 *   cache-reply  answer to cache-get `q`: the session blob, or none
 *   drain        stop accepting, finish the sessions in progress, then exit (reload, retirement, stop)
 *   admit-reply  answer to admit `q`: within the per-client limit or not, and the client's count
 *
 * worker → main
 *   hello        its message handler is in place (messages sent before would be lost)
 *   ready        listening (addresses)
 *   fatal        could not start (the message names the parameter/file)
 *   log          one formatted log record (the worker's pid is in it)
 *   cache-get    look up session ID `id` (request number `q`)
 *   cache-put    store a session (fire and forget)
 *   cache-remove forget a session (fire and forget)
 *   load         heartbeat, every HEARTBEAT_MS: sessions in progress, CPU used since the last one
 *                (the supervisor grows and shrinks on these, and its watchdog kills a worker
 *                whose heartbeats stop for tlsproxy_watchdog_timeout)
 *   admit        a new connection from `address` on service `service`: may it have a session
 *                (per-client concurrency, counted across all workers in the main process)?
 *   leave        a session admitted that way ended
 *   metrics      with each heartbeat when tlsproxy_metrics_listen is set: counter increments,
 *                current gauges and handshake durations since the last one (metrics.ts)
 *
 * Each side checks what it receives (types, sizes) and ignores anything
 * else: a confused worker must not be able to take the main process down.
 */

import type { SessionCache } from '../../engine/session.js';
import type { TicketKey } from '../../engine/tickets.js';
import { builtinConfiguration, type BuiltinOptions } from '../config/builtin.js';
import type { Override } from '../config/main-cf.js';
import { loadConfiguration, type Configuration } from '../config/configuration.js';
import type { LogRecord, Severity } from '../log/log.js';
import type { WireKey } from '../tls/ticket-keys.js';
import type { MetricsSnapshot } from './metrics.js';

/** A listening socket of a service, as workers report it. */
export interface Listening {
  readonly service: string;
  readonly address: string;
  readonly port: number;
}


/** How a worker rebuilds the configuration the main process loaded. */
export type ConfigSource =
  | { readonly kind: 'dir'; readonly dir: string; readonly overrides: readonly Override[] }
  | { readonly kind: 'builtin'; readonly options: BuiltinOptions };

export function loadConfigSource(source: ConfigSource): Configuration {
  return source.kind === 'dir' ? loadConfiguration(source.dir, source.overrides) : builtinConfiguration(source.options);
}

export interface InitMessage {
  readonly t: 'init';
  readonly source: ConfigSource;
  /** Index into configuration.services, and its name as a check. */
  readonly service: number;
  readonly serviceName: string;
  readonly keys: readonly [id: string, keys: readonly WireKey[]][];
  /** Configuration generation (1 at start, +1 per reload that changed something). */
  readonly generation?: number;
}

/** Why a worker is told to stop accepting. */
export type DrainReason = 'reload' | 'idle' | 'stop';

export type ToWorker =
  | InitMessage
  | { readonly t: 'keys'; readonly id: string; readonly keys: readonly WireKey[] }
  | { readonly t: 'cache-reply'; readonly q: number; readonly blob?: Uint8Array }
  | { readonly t: 'drain'; readonly why: DrainReason }
  | { readonly t: 'admit-reply'; readonly q: number; readonly ok: boolean; readonly count: number };

export type FromWorker =
  | { readonly t: 'hello' }
  | { readonly t: 'ready'; readonly listening: readonly Listening[] }
  | { readonly t: 'fatal'; readonly message: string }
  | { readonly t: 'log'; readonly severity: Severity; readonly text: string; readonly line: string }
  | { readonly t: 'cache-get'; readonly q: number; readonly id: Uint8Array }
  | { readonly t: 'cache-put'; readonly id: Uint8Array; readonly blob: Uint8Array; readonly lifetime: number }
  | { readonly t: 'cache-remove'; readonly id: Uint8Array }
  | { readonly t: 'load'; readonly sessions: number; readonly cpu: number; readonly accepting: boolean }
  | { readonly t: 'admit'; readonly q: number; readonly service: string; readonly address: string; readonly limit: number }
  | { readonly t: 'leave'; readonly service: string; readonly address: string }
  | { readonly t: 'metrics'; readonly s: MetricsSnapshot };

/** How often a worker reports its load (its heartbeat). */
export const HEARTBEAT_MS = 1000;
/** A worker's admit request waits this long for the main process; then the connection is admitted. */
export const ADMIT_TIMEOUT_MS = 1000;
/** Longest address string accepted in admit/leave. */
export const MAX_ADDRESS = 64;

/** Bounds the main process enforces on cache messages. */
export const MAX_CACHE_ID = 600;
export const MAX_CACHE_BLOB = 8192;

/** A worker's cache `get` waits this long for the main process; a timeout is a miss. */
export const CACHE_GET_TIMEOUT_MS = 1000;
/** Look-ups in flight at most; more are misses at once. */
export const MAX_PENDING_GETS = 4096;

const SEVERITIES = new Set<string>(['info', 'warning', 'error', 'fatal', 'panic']);

/** A log record from a worker, or undefined when malformed. */
export function logRecordFrom(m: Record<string, unknown>): LogRecord | undefined {
  if (typeof m.severity !== 'string' || !SEVERITIES.has(m.severity) || typeof m.text !== 'string' || typeof m.line !== 'string') return undefined;
  if (m.line.length > 4096) return undefined;
  return { severity: m.severity as Severity, text: m.text, line: m.line };
}

/** Copy into a fresh, exactly-sized Uint8Array (a view would carry its whole buffer across). */
export function own(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

export function keysToWire(keys: readonly TicketKey[]): WireKey[] {
  return keys.map((k) => ({ name: own(k.name), secret: own(k.secret), created: k.created }));
}

/**
 * A worker's view of the shared session cache: `get` is a request with a
 * number, answered by the main process or missed after
 * CACHE_GET_TIMEOUT_MS; put and remove are fire-and-forget.
 */
export class IpcSessionCache implements SessionCache {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (b: Uint8Array | undefined) => void; timer: NodeJS.Timeout }>();

  constructor(
    /** Sends a message; false if the channel is gone. */
    private readonly send: (m: FromWorker) => boolean,
    private readonly timeoutMs = CACHE_GET_TIMEOUT_MS,
  ) {}

  get(id: Uint8Array): Promise<Uint8Array | undefined> | undefined {
    if (this.pending.size >= MAX_PENDING_GETS) return undefined;
    const q = this.next;
    this.next = this.next >= 0x7fffffff ? 1 : this.next + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answer(q, undefined), this.timeoutMs);
      this.pending.set(q, { resolve, timer });
      if (!this.send({ t: 'cache-get', q, id: own(id) })) this.answer(q, undefined);
    });
  }

  put(id: Uint8Array, blob: Uint8Array, lifetime: number): void {
    this.send({ t: 'cache-put', id: own(id), blob: own(blob), lifetime });
  }

  remove(id: Uint8Array): void {
    this.send({ t: 'cache-remove', id: own(id) });
  }

  /** A cache-reply arrived (or the request timed out: blob undefined). */
  answer(q: number, blob: Uint8Array | undefined): void {
    const p = this.pending.get(q);
    if (!p) return;
    this.pending.delete(q);
    clearTimeout(p.timer);
    p.resolve(blob instanceof Uint8Array ? blob : undefined);
  }

  /** Every pending look-up misses (the channel closed). */
  drop(): void {
    for (const q of [...this.pending.keys()]) this.answer(q, undefined);
  }

  get inFlight(): number {
    return this.pending.size;
  }
}
