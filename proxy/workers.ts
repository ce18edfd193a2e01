/**
 * The main process of a daemon with worker processes (node:cluster).
 *
 * Why node:cluster: its workers share the listening sockets the main
 * process binds (one bind per address, port 0 resolved once for all), and
 * it gives each worker an IPC channel. Node's default scheduling on Linux
 * is round-robin: the main process accepts and hands each connection to
 * the next worker, which spreads load evenly (NODE_CLUSTER_SCHED_POLICY=none
 * leaves it to the kernel instead).
 *
 * Each tlsproxy service gets `processes` workers (configuration.ts
 * workerProcesses: the master.cf maxproc column or tlsproxy_worker_processes);
 * a worker serves one service. The main process itself serves nothing; it
 *
 *  - loads and checks the whole configuration first (a problem is one
 *    `fatal:` line, as in single-process mode), then forks the workers and
 *    waits until every one listens (the first one that cannot start stops
 *    everything with its message);
 *  - owns the ticket keys (ResumptionStore role 'primary': made from the
 *    CSPRNG and rotated here, or read from the key file) and sends the
 *    current sets to every worker at start and whenever they change;
 *  - owns the ONE TLS 1.2 session cache (bounded, in memory) and answers
 *    the workers' look-ups;
 *  - writes the workers' log records (formatted by the worker, so with its
 *    pid);
 *  - replaces a worker that dies, at most RESPAWN_BURST times per
 *    RESPAWN_WINDOW_MS per service, then waits (throttling, as Postfix's
 *    master does for a failing service);
 *  - on stop: SIGTERM to every worker, SIGKILL after STOP_TIMEOUT_MS.
 */

import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './config/errors.js';
import type { Configuration } from './configuration.js';
import { loadServices, localResumption, loggerFor, type Listening } from './daemon.js';
import { hostPort } from './endpoint.js';
import { MAX_CACHE_BLOB, MAX_CACHE_ID, keysToWire, logRecordFrom, type ConfigSource, type ToWorker } from './ipc.js';
import type { Logger, LogSink } from './log.js';
import { stderrSink } from './log.js';
import { MAX_LIFETIME, type ResumptionStore } from './resumption.js';

export const RESPAWN_BURST = 5;
export const RESPAWN_WINDOW_MS = 10_000;
export const STOP_TIMEOUT_MS = 5000;
export const START_TIMEOUT_MS = 60_000;

const WORKER_ENTRY = fileURLToPath(new URL('./worker-entry.mjs', import.meta.url));

interface WorkerRecord {
  readonly worker: Worker;
  readonly pid: number;
  readonly service: number;
  /** It said hello: its message handler is in place. */
  hello: boolean;
  ready: boolean;
  listening: readonly Listening[];
  /** The pid this one replaces (logged when it is ready). */
  readonly replaces?: number;
}

interface ServiceState {
  readonly name: string;
  readonly index: number;
  readonly processes: number;
  readonly logger: Logger;
  /** Recent respawn times (ms). */
  respawns: number[];
  throttled: boolean;
}

export interface WorkerPoolOptions {
  readonly sink?: LogSink;
}

export class WorkerPool {
  private readonly workers = new Set<WorkerRecord>();
  private readonly services: ServiceState[];
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopping: Promise<void> | undefined;
  private starting: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private listeningAddresses: Listening[] = [];

  private constructor(
    private readonly configuration: Configuration,
    private readonly source: ConfigSource,
    private readonly store: ResumptionStore,
    private readonly sink: LogSink,
    readonly logger: Logger,
  ) {
    this.services = configuration.services.map((s, index) => ({
      name: s.name,
      index,
      processes: s.processes,
      logger: loggerFor(s.params, sink),
      respawns: [],
      throttled: false,
    }));
  }

  /** Check the configuration, start every worker, resolve when all listen. Throws ConfigError. */
  static async start(configuration: Configuration, source: ConfigSource, options: WorkerPoolOptions = {}): Promise<WorkerPool> {
    const sink = options.sink ?? stderrSink;
    const logger = loggerFor(configuration.params, sink);
    const store = localResumption(configuration, logger, 'primary');
    try {
      // Everything a worker will load, loaded once here: errors surface before any fork.
      await loadServices(configuration, { sink, resumption: store, logWarnings: true, logInit: false });
    } catch (e) {
      store.close();
      throw e;
    }
    const pool = new WorkerPool(configuration, source, store, sink, logger);
    store.onKeysChanged((id, keys) => pool.broadcast({ t: 'keys', id, keys: keysToWire(keys) }));
    cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], execArgv: [], serialization: 'advanced', silent: false });
    const ready = new Promise<void>((resolve, reject) => (pool.starting = { resolve, reject }));
    const timeout = setTimeout(() => pool.starting?.reject(new ConfigError(`worker processes did not start within ${START_TIMEOUT_MS / 1000}s`)), START_TIMEOUT_MS);
    for (const s of pool.services) for (let i = 0; i < s.processes; i++) pool.fork(s);
    try {
      await ready;
    } catch (e) {
      await pool.stop();
      throw e;
    } finally {
      clearTimeout(timeout);
      pool.starting = undefined;
    }
    pool.announce();
    return pool;
  }

  /** Addresses the workers listen on (from the first worker of each service). */
  get listening(): Listening[] {
    return this.listeningAddresses;
  }

  /** Worker pids by service name. */
  pids(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const s of this.services) out.set(s.name, []);
    for (const w of this.workers) out.get(this.services[w.service]!.name)!.push(w.pid);
    return out;
  }

  /** Re-read the session ticket key files (SIGHUP); new keys go to every worker. */
  reloadKeyFiles(why?: string): number {
    return this.store.reloadKeyFiles(why);
  }

  private announce(): void {
    this.logger.info(`daemon started -- ${this.configuration.description}`);
    for (const [name, pids] of this.pids()) {
      const s = this.services.find((x) => x.name === name)!;
      s.logger.info(`service ${name}: ${pids.length} worker processes, pids ${pids.join(' ')}`);
    }
    // `listening on` last: it says the daemon is ready.
    const seen = new Set<number>();
    for (const w of this.workers) {
      if (seen.has(w.service)) continue;
      seen.add(w.service);
      const s = this.services[w.service]!;
      const backend = this.configuration.services[w.service]!.params.get('tlsproxy_backend');
      for (const l of w.listening) {
        this.listeningAddresses.push(l);
        s.logger.info(`service ${l.service}: listening on ${hostPort(l.address, l.port)}, backend ${backend}`);
      }
    }
  }

  private fork(s: ServiceState, replaces?: number): void {
    const worker = cluster.fork({ TLSPROXY_WORKER: '1' });
    const rec: WorkerRecord = { worker, pid: worker.process.pid ?? 0, service: s.index, hello: false, ready: false, listening: [], replaces };
    this.workers.add(rec);
    worker.on('message', (m: unknown) => this.onMessage(rec, m));
    worker.on('error', () => undefined);
    worker.on('exit', (code, signal) => this.onExit(rec, code, signal));
  }

  /** The worker listens for messages now (anything sent earlier would be lost): send it its work. */
  private init(rec: WorkerRecord): void {
    if (rec.hello) return;
    rec.hello = true;
    const s = this.services[rec.service]!;
    this.send(rec, {
      t: 'init',
      source: this.source,
      service: s.index,
      serviceName: s.name,
      keys: this.store.keySets().map(([id, keys]) => [id, keysToWire(keys)]),
    });
  }

  private send(rec: WorkerRecord, m: ToWorker): void {
    if (!rec.hello || !rec.worker.isConnected()) return;
    try {
      rec.worker.send(m, undefined, () => undefined);
    } catch {
      // it is going away; its exit is handled
    }
  }

  private broadcast(m: ToWorker): void {
    for (const w of this.workers) this.send(w, m);
  }

  private onMessage(rec: WorkerRecord, raw: unknown): void {
    if (!raw || typeof raw !== 'object') return;
    const m = raw as Record<string, unknown>;
    switch (m.t) {
      case 'hello':
        this.init(rec);
        break;
      case 'log': {
        const r = logRecordFrom(m);
        if (r) this.sink(r);
        break;
      }
      case 'ready':
        rec.ready = true;
        rec.listening = Array.isArray(m.listening) ? (m.listening as Listening[]) : [];
        if (this.starting) {
          if ([...this.workers].every((w) => w.ready) && this.workers.size === this.expected()) this.starting.resolve();
        } else if (rec.replaces !== undefined) {
          this.services[rec.service]!.logger.info(`service ${this.services[rec.service]!.name}: worker process pid ${rec.pid} started (replacing pid ${rec.replaces})`);
        }
        break;
      case 'fatal': {
        const message = typeof m.message === 'string' ? m.message : 'worker process failed to start';
        if (this.starting) this.starting.reject(new ConfigError(message));
        else this.services[rec.service]!.logger.warning(`worker process pid ${rec.pid}: ${message}`);
        break;
      }
      case 'cache-get': {
        if (typeof m.q !== 'number' || !validId(m.id)) return;
        const blob = this.store.sessionCache().get(m.id);
        // The main process's cache is a MemorySessionCache: synchronous.
        if (blob instanceof Promise) return;
        this.send(rec, { t: 'cache-reply', q: m.q, ...(blob ? { blob } : {}) });
        break;
      }
      case 'cache-put':
        if (!validId(m.id) || !(m.blob instanceof Uint8Array) || m.blob.length > MAX_CACHE_BLOB) return;
        if (typeof m.lifetime !== 'number' || !Number.isInteger(m.lifetime) || m.lifetime < 1 || m.lifetime > MAX_LIFETIME) return;
        this.store.sessionCache().put(m.id, m.blob, m.lifetime);
        break;
      case 'cache-remove':
        if (validId(m.id)) this.store.sessionCache().remove(m.id);
        break;
    }
  }

  private expected(): number {
    return this.services.reduce((n, s) => n + s.processes, 0);
  }

  private onExit(rec: WorkerRecord, code: number | null, signal: string | null): void {
    this.workers.delete(rec);
    if (this.stopping) return;
    const s = this.services[rec.service]!;
    if (this.starting) {
      this.starting.reject(new ConfigError(`worker process pid ${rec.pid} for service ${s.name} ${exitText(code, signal)} during start-up`));
      return;
    }
    s.logger.warning(`process tlsproxy pid ${rec.pid} ${exitText(code, signal)}`);
    this.respawn(s, rec.pid);
  }

  /** Start a replacement now, or later when the service's workers die too fast. */
  private respawn(s: ServiceState, replaces: number): void {
    const now = Date.now();
    s.respawns = s.respawns.filter((t) => now - t < RESPAWN_WINDOW_MS);
    let delay = 0;
    if (s.respawns.length >= RESPAWN_BURST) {
      delay = s.respawns[s.respawns.length - RESPAWN_BURST]! + RESPAWN_WINDOW_MS - now;
      if (!s.throttled) s.logger.warning(`service ${s.name}: worker processes are dying too fast -- throttling`);
      s.throttled = true;
    } else {
      s.throttled = false;
    }
    s.respawns.push(now + delay);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopping) this.fork(s, replaces);
    }, delay);
    this.timers.add(timer);
  }

  /** SIGTERM to every worker, SIGKILL to those still there after STOP_TIMEOUT_MS. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      const all = [...this.workers];
      const exited = all.map((w) => (w.worker.isDead() ? Promise.resolve() : new Promise<void>((r) => w.worker.once('exit', () => r()))));
      for (const w of all) {
        try {
          w.worker.process.kill('SIGTERM');
        } catch {
          // gone
        }
      }
      const timer = setTimeout(() => {
        for (const w of all) {
          try {
            if (!w.worker.isDead()) w.worker.process.kill('SIGKILL');
          } catch {
            // gone
          }
        }
      }, STOP_TIMEOUT_MS);
      await Promise.all(exited);
      clearTimeout(timer);
      this.store.close();
    })();
    return this.stopping;
  }
}

function validId(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length > 0 && v.length <= MAX_CACHE_ID;
}

function exitText(code: number | null, signal: string | null): string {
  return signal ? `killed by signal ${signal}` : `exit status ${code ?? 0}`;
}
