/**
 * The main process of a daemon with worker processes (node:cluster): the
 * supervisor.
 *
 * Why node:cluster: its workers share the listening sockets the main
 * process binds (one bind per address, port 0 resolved once for all), and
 * it gives each worker an IPC channel. Node's default scheduling on Linux
 * is round-robin: the main process accepts and hands each connection to
 * the next worker that is free to take one (a worker whose event loop is
 * stuck holds at most the one connection handed to it; the others go to
 * the other workers), which spreads load evenly. A worker that stops
 * listening gets no more connections; one handed to it as it closes is
 * handed to another worker (nothing is lost). NODE_CLUSTER_SCHED_POLICY=none
 * leaves the choice to the kernel instead.
 *
 * Each tlsproxy service gets between `min` and `max` workers
 * (supervisor-policy.ts: master.cf maxproc, tlsproxy_min_processes); a
 * worker serves one service. The main process itself serves nothing; it
 *
 *  - loads and checks the whole configuration first (a problem is one
 *    `fatal:` line, as in single-process mode), then forks `min` workers per
 *    service and waits until every one listens (the first one that cannot
 *    start stops everything with its message);
 *  - owns the ticket keys (ResumptionStore role 'primary': made from the
 *    CSPRNG and rotated here, or read from the key file) and sends the
 *    current sets to every worker at start and whenever they change;
 *  - owns the ONE TLS 1.2 session cache (bounded, in memory) and answers
 *    the workers' look-ups;
 *  - counts sessions per client address for all workers (supervisor-limits.ts);
 *  - writes the workers' log records (formatted by the worker, so with its
 *    pid);
 *  - reads the workers' heartbeats (sessions, CPU; every HEARTBEAT_MS):
 *    starts another worker when the load climbs and retires one after a
 *    long enough quiet time (supervisor-policy.ts), and kills a worker whose
 *    heartbeats stop for tlsproxy_watchdog_timeout (watchdog.ts);
 *  - replaces a worker that dies, at most RESPAWN_BURST times per
 *    RESPAWN_WINDOW_MS per service, then waits (throttling, as Postfix's
 *    master does for a failing service);
 *  - reload(): re-reads the configuration, checks it completely, and when
 *    it is valid and different starts a new generation of workers with it;
 *    once they all listen, the old workers stop accepting and exit after
 *    their last session (no bound: their sessions still have the session
 *    timeout). An invalid configuration, or new workers that cannot start,
 *    leave the old generation serving, and the reason is returned;
 *  - shutdown(): every worker stops accepting; sessions get up to
 *    tlsproxy_drain_timeout to finish; then stop(): SIGTERM to every
 *    worker, SIGKILL after STOP_TIMEOUT_MS.
 *
 * Workers started later (replacements, growth) read the configuration
 * files again when they start, as Postfix's daemons read main.cf when
 * master starts them: edit and reload together.
 */

import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config/errors.js';
import type { Configuration } from '../config/configuration.js';
import { loadServices, localResumption, loggerFor, type Listening } from './daemon.js';
import { hostPort } from '../base/endpoint.js';
import { runtimeNotice } from '../base/runtime.js';
import {
  HEARTBEAT_MS,
  MAX_ADDRESS,
  MAX_CACHE_BLOB,
  MAX_CACHE_ID,
  keysToWire,
  loadConfigSource,
  logRecordFrom,
  type ConfigSource,
  type DrainReason,
  type ToWorker,
} from './ipc.js';
import type { Logger, LogSink } from '../log/log.js';
import { stderrSink } from '../log/log.js';
import { MAX_LIFETIME, type ResumptionStore } from '../tls/resumption.js';
import { configurationFingerprint, operationsSettings } from './settings.js';
import { Anvil } from './limits.js';
import { GrowthPolicy, processBounds, type ProcessBounds } from './policy.js';
import type { MetricsAggregator } from './prometheus.js';
import { HeartbeatWatch } from './watchdog.js';

export const RESPAWN_BURST = 5;
export const RESPAWN_WINDOW_MS = 10_000;
export const STOP_TIMEOUT_MS = 5000;
export const START_TIMEOUT_MS = 60_000;

const WORKER_ENTRY = fileURLToPath(new URL('./worker-entry.mjs', import.meta.url));

type StartReason = 'start' | 'reload' | 'replace' | 'grow';

interface Generation {
  readonly id: number;
  readonly configuration: Configuration;
  readonly fingerprint: string;
  readonly services: ServiceState[];
}

interface ServiceState {
  readonly name: string;
  /** Index into its generation's configuration.services. */
  readonly index: number;
  readonly generation: Generation;
  readonly bounds: ProcessBounds;
  readonly watchdogMs: number;
  readonly logger: Logger;
  readonly backend: string;
  readonly policy: GrowthPolicy;
  /** Recent respawn times (ms). */
  respawns: number[];
  throttled: boolean;
  /** Replacements waiting for their (throttled) time. */
  pendingRespawns: number;
  /** A newer generation replaced it: no respawn, no growth. */
  retired: boolean;
}

/** Workers started together (start-up, reload): all ready, or the first failure. */
interface Batch {
  readonly pending: Set<WorkerRecord>;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

interface WorkerRecord {
  readonly worker: Worker;
  readonly pid: number;
  readonly service: ServiceState;
  readonly reason: StartReason;
  /** The pid this one replaces (logged when it is ready). */
  readonly replaces?: number;
  /** Why it was started, for the `started` line (growth). */
  readonly why?: string;
  batch?: Batch;
  /** It said hello: its message handler is in place. */
  hello: boolean;
  state: 'starting' | 'ready' | 'draining';
  drainWhy?: DrainReason;
  listening: readonly Listening[];
  sessions: number;
  /** Fraction of one CPU, smoothed over the last heartbeats. */
  cpu: number;
  startTimer?: NodeJS.Timeout;
  watchdogKilled?: boolean;
}

export interface WorkerPoolOptions {
  readonly sink?: LogSink;
  /** tlsproxy_metrics_listen: the registry the workers' counts go to (metrics.ts). */
  readonly metrics?: MetricsAggregator;
}

/** One worker as `tlsproxy status` shows it. */
export interface WorkerStatus {
  readonly service: string;
  readonly pid: number;
  readonly state: 'starting' | 'ready' | 'draining';
  readonly generation: number;
  readonly sessions: number;
  /** Fraction of one CPU. */
  readonly cpu: number;
}

export interface ReloadOutcome {
  readonly ok: boolean;
  /** What happened (ok), or why the reload was refused. */
  readonly message: string;
}

export class WorkerPool {
  private readonly workers = new Set<WorkerRecord>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly anvil = new Anvil<WorkerRecord>();
  private readonly watch = new HeartbeatWatch<WorkerRecord>(HEARTBEAT_MS);
  private current: Generation;
  private generations = 0;
  private stopping: Promise<void> | undefined;
  private shuttingDown: Promise<void> | undefined;
  private reloading: Promise<unknown> = Promise.resolve();
  private listeningAddresses: Listening[] = [];
  private readonly tick: NodeJS.Timeout;
  private metrics: MetricsAggregator | undefined;

  private constructor(
    configuration: Configuration,
    fingerprint: string,
    private readonly source: ConfigSource,
    private readonly store: ResumptionStore,
    private readonly sink: LogSink,
    readonly logger: Logger,
  ) {
    this.current = this.generation(configuration, fingerprint);
    this.tick = setInterval(() => this.onTick(), HEARTBEAT_MS);
    this.tick.unref();
  }

  /** Check the configuration, start every worker, resolve when all listen. Throws ConfigError. */
  static async start(configuration: Configuration, source: ConfigSource, options: WorkerPoolOptions = {}): Promise<WorkerPool> {
    const sink = options.sink ?? stderrSink;
    const logger = loggerFor(configuration.params, sink);
    operationsSettings(configuration);
    const store = localResumption(configuration, logger, 'primary');
    try {
      // Everything a worker will load, loaded once here: errors surface before any fork.
      await loadServices(configuration, { sink, resumption: store, logWarnings: true, logInit: false });
    } catch (e) {
      store.close();
      throw e;
    }
    const pool = new WorkerPool(configuration, configurationFingerprint(configuration), source, store, sink, logger);
    pool.metrics = options.metrics;
    options.metrics?.setWorkerStates(() => {
      const counts = new Map<string, number>();
      for (const w of pool.workers) counts.set(`${w.service.name}\0${w.state}`, (counts.get(`${w.service.name}\0${w.state}`) ?? 0) + 1);
      return [...counts].map(([k, count]) => ({ service: k.split('\0')[0]!, state: k.split('\0')[1]!, count }));
    });
    store.onKeysChanged((id, keys) => pool.broadcast({ t: 'keys', id, keys: keysToWire(keys) }));
    cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], execArgv: [], serialization: 'advanced', silent: false });
    try {
      await pool.startBatch(pool.current.services, 'start');
    } catch (e) {
      await pool.stop();
      throw e;
    }
    pool.announce();
    return pool;
  }

  private generation(configuration: Configuration, fingerprint: string): Generation {
    const id = ++this.generations;
    const services: ServiceState[] = [];
    const gen: Generation = { id, configuration, fingerprint, services };
    configuration.services.forEach((s, index) => {
      services.push({
        name: s.name,
        index,
        generation: gen,
        bounds: processBounds(s.params, s.processes),
        watchdogMs: s.params.getTime('tlsproxy_watchdog_timeout') * 1000,
        logger: loggerFor(s.params, this.sink),
        backend: s.params.get('tlsproxy_backend'),
        policy: new GrowthPolicy(Date.now()),
        respawns: [],
        throttled: false,
        pendingRespawns: 0,
        retired: false,
      });
    });
    return gen;
  }

  /** Addresses the workers listen on (from the first worker of each service at start). */
  get listening(): Listening[] {
    return this.listeningAddresses;
  }

  /** The configuration generation serving new sessions. */
  get generationId(): number {
    return this.current.id;
  }

  /** Every worker, for `tlsproxy status`. */
  status(): WorkerStatus[] {
    return [...this.workers].map((w) => ({ service: w.service.name, pid: w.pid, state: w.state, generation: w.service.generation.id, sessions: w.sessions, cpu: w.cpu }));
  }

  /** Worker pids by service name (workers that accept connections or are starting; not those draining). */
  pids(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const s of this.current.services) out.set(s.name, []);
    for (const w of this.workers) if (w.service.generation === this.current && w.state !== 'draining') out.get(w.service.name)?.push(w.pid);
    return out;
  }

  /** Re-read the session ticket key files (SIGHUP); new keys go to every worker. */
  reloadKeyFiles(why?: string): number {
    return this.store.reloadKeyFiles(why);
  }

  private announce(): void {
    this.logger.info(`daemon started -- ${this.current.configuration.description}`);
    const notice = runtimeNotice();
    if (notice) this.logger.info(notice);
    this.logPids(this.current);
    // `listening on` last: it says the daemon is ready.
    const seen = new Set<ServiceState>();
    for (const w of this.workers) {
      if (seen.has(w.service)) continue;
      seen.add(w.service);
      for (const l of w.listening) {
        this.listeningAddresses.push(l);
        w.service.logger.info(`service ${l.service}: listening on ${hostPort(l.address, l.port)}, backend ${w.service.backend}`);
      }
    }
  }

  private logPids(gen: Generation): void {
    for (const s of gen.services) {
      const pids = [...this.workers].filter((w) => w.service === s).map((w) => w.pid);
      s.logger.info(`service ${s.name}: ${pids.length} worker processes, pids ${pids.join(' ')}`);
    }
  }

  // ------------------------------------------------------------------ processes

  /** Fork `min` workers for each service; resolves when all are ready, rejects at the first failure. */
  private startBatch(services: readonly ServiceState[], reason: StartReason): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => batch.reject(new ConfigError(`worker processes did not start within ${START_TIMEOUT_MS / 1000}s`)), START_TIMEOUT_MS);
      let settled = false;
      const batch: Batch = {
        pending: new Set(),
        resolve: () => {
          if (settled) return;
          settled = true;
          clearTimeout(timeout);
          resolve();
        },
        reject: (e) => {
          if (settled) return;
          settled = true;
          clearTimeout(timeout);
          reject(e);
        },
      };
      for (const s of services) for (let i = 0; i < s.bounds.min; i++) batch.pending.add(this.fork(s, reason, { batch }));
      if (!batch.pending.size) batch.resolve();
    });
  }

  private fork(s: ServiceState, reason: StartReason, extra: { replaces?: number; why?: string; batch?: Batch } = {}): WorkerRecord {
    const worker = cluster.fork({ TLSPROXY_WORKER: '1' });
    const rec: WorkerRecord = {
      worker,
      pid: worker.process.pid ?? 0,
      service: s,
      reason,
      replaces: extra.replaces,
      why: extra.why,
      batch: extra.batch,
      hello: false,
      state: 'starting',
      listening: [],
      sessions: 0,
      cpu: 0,
    };
    this.workers.add(rec);
    worker.on('message', (m: unknown) => this.onMessage(rec, m));
    worker.on('error', () => undefined);
    worker.on('exit', (code, signal) => this.onExit(rec, code, signal));
    if (!rec.batch) {
      // A batch has its own time limit; a lone worker that never gets ready is killed (and replaced, throttled).
      rec.startTimer = setTimeout(() => {
        if (rec.state !== 'starting') return;
        s.logger.warning(`service ${s.name}: worker process pid ${rec.pid} did not start within ${START_TIMEOUT_MS / 1000}s -- killing it`);
        this.kill(rec, 'SIGKILL');
      }, START_TIMEOUT_MS);
    }
    return rec;
  }

  /** The worker listens for messages now (anything sent earlier would be lost): send it its work. */
  private init(rec: WorkerRecord): void {
    if (rec.hello) return;
    rec.hello = true;
    const s = rec.service;
    this.send(rec, {
      t: 'init',
      source: this.source,
      service: s.index,
      serviceName: s.name,
      generation: s.generation.id,
      keys: this.store.keySets().map(([id, keys]) => [id, keysToWire(keys)]),
    });
    // Told to stop before it could hear it: tell it now.
    if (rec.state === 'draining') this.send(rec, { t: 'drain', why: rec.drainWhy ?? 'stop' });
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

  private kill(rec: WorkerRecord, signal: NodeJS.Signals): void {
    try {
      if (!rec.worker.isDead()) rec.worker.process.kill(signal);
    } catch {
      // gone
    }
  }

  /** Stop accepting, finish the sessions, exit. */
  private drainWorker(rec: WorkerRecord, why: DrainReason): void {
    if (rec.state === 'draining') return;
    const wasReady = rec.state === 'ready';
    rec.state = 'draining';
    rec.drainWhy = why;
    if (!wasReady && !rec.hello) return; // init() sends the drain once it can
    this.send(rec, { t: 'drain', why });
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
        this.onReady(rec, Array.isArray(m.listening) ? (m.listening as Listening[]) : []);
        break;
      case 'fatal': {
        const message = typeof m.message === 'string' ? m.message : 'worker process failed to start';
        if (rec.batch) rec.batch.reject(new ConfigError(message));
        else rec.service.logger.warning(`worker process pid ${rec.pid}: ${message}`);
        break;
      }
      case 'load':
        if (typeof m.sessions !== 'number' || !Number.isInteger(m.sessions) || m.sessions < 0 || m.sessions > 1e7) return;
        if (typeof m.cpu !== 'number' || !Number.isFinite(m.cpu) || m.cpu < 0 || m.cpu > 1024) return;
        rec.sessions = m.sessions;
        rec.cpu = rec.cpu * 0.5 + m.cpu * 0.5;
        if (rec.state !== 'starting') this.watch.beat(rec);
        break;
      case 'admit': {
        if (typeof m.q !== 'number' || typeof m.service !== 'string' || typeof m.address !== 'string' || m.address.length > MAX_ADDRESS) return;
        if (typeof m.limit !== 'number' || !Number.isInteger(m.limit) || m.limit < 0) return;
        const v = this.anvil.enter(rec, m.service, m.address, m.limit);
        this.send(rec, { t: 'admit-reply', q: m.q, ok: v.ok, count: v.count });
        break;
      }
      case 'leave':
        if (typeof m.service === 'string' && typeof m.address === 'string') this.anvil.leave(rec, m.service, m.address);
        break;
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
      case 'metrics':
        this.metrics?.ingest(String(rec.pid), m.s);
        break;
    }
  }

  private onReady(rec: WorkerRecord, listening: Listening[]): void {
    clearTimeout(rec.startTimer);
    rec.listening = listening;
    this.watch.beat(rec);
    if (rec.state === 'draining') return;
    rec.state = 'ready';
    const s = rec.service;
    const batch = rec.batch;
    if (batch) {
      batch.pending.delete(rec);
      rec.batch = undefined;
      if (!batch.pending.size) batch.resolve();
      return;
    }
    if (this.shuttingDown || this.stopping || s.retired) {
      this.drainWorker(rec, this.shuttingDown || this.stopping ? 'stop' : 'reload');
      return;
    }
    s.policy.changed(Date.now());
    if (rec.replaces !== undefined) {
      s.logger.info(`service ${s.name}: worker process pid ${rec.pid} started (replacing pid ${rec.replaces})`);
    } else {
      const n = [...this.workers].filter((w) => w.service === s && w.state !== 'draining').length;
      s.logger.info(`service ${s.name}: worker process pid ${rec.pid} started (${rec.why ?? rec.reason}; ${n} of at most ${s.bounds.max} processes)`);
    }
  }

  private onExit(rec: WorkerRecord, code: number | null, signal: string | null): void {
    this.workers.delete(rec);
    this.metrics?.forget(String(rec.pid));
    if (!(rec.state === 'draining' && code === 0 && !signal) && !this.stopping) this.metrics?.inc('tlsproxy_worker_deaths_total', [rec.service.name]);
    this.watch.forget(rec);
    this.anvil.dropOwner(rec);
    clearTimeout(rec.startTimer);
    const s = rec.service;
    if (rec.batch) {
      rec.batch.reject(new ConfigError(`worker process pid ${rec.pid} for service ${s.name} ${exitText(code, signal)} during start-up`));
      rec.batch = undefined;
      return;
    }
    if (this.stopping) return;
    if (rec.state === 'draining' && code === 0 && !signal) {
      if (!this.shuttingDown) s.logger.info(`service ${s.name}: worker process pid ${rec.pid} exited after its last session`);
      return;
    }
    s.logger.warning(`process tlsproxy pid ${rec.pid} ${exitText(code, signal)}`);
    // Draining, retired or shutting down: it had stopped accepting; nothing to replace.
    if (rec.state === 'draining' || s.retired || this.shuttingDown) return;
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
    s.policy.changed(now + delay);
    s.pendingRespawns++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      s.pendingRespawns--;
      if (!this.stopping && !this.shuttingDown && !s.retired) this.fork(s, 'replace', { replaces });
    }, delay);
    this.timers.add(timer);
  }

  // ------------------------------------------------------------------ heartbeats: watchdog, growth

  private onTick(): void {
    if (this.stopping) return;
    const now = Date.now();
    for (const rec of this.watch.overdue((r) => r.service.watchdogMs, now)) {
      if (rec.watchdogKilled) continue;
      rec.watchdogKilled = true;
      this.watch.forget(rec);
      const s = rec.service;
      s.logger.warning(
        `service ${s.name}: worker process pid ${rec.pid}: watchdog timeout: no heartbeat for more than ${s.watchdogMs / 1000}s (tlsproxy_watchdog_timeout) -- killing it`,
      );
      this.kill(rec, 'SIGKILL');
      this.metrics?.inc('tlsproxy_watchdog_kills_total', [s.name]);
    }
    if (this.shuttingDown) return;
    for (const s of this.current.services) {
      if (s.retired) continue;
      const mine = [...this.workers].filter((w) => w.service === s);
      const accepting = mine.filter((w) => w.state === 'ready');
      const starting = mine.filter((w) => w.state === 'starting').length + s.pendingRespawns;
      const d = s.policy.decide(now, s.bounds, accepting, starting);
      if (d.kind === 'grow') {
        this.fork(s, 'grow', { why: `load: ${d.why}` });
      } else if (d.kind === 'retire') {
        const rec = accepting[d.index]!;
        s.logger.info(`service ${s.name}: worker process pid ${rec.pid} retiring (low load: ${d.why}): it stops accepting and exits after its last session`);
        this.drainWorker(rec, 'idle');
      }
    }
  }

  // ------------------------------------------------------------------ reload

  /** Re-read and check the configuration; serve new sessions with it when valid and changed. Never throws. */
  reload(why = 'reload'): Promise<ReloadOutcome> {
    const run = this.reloading.then(() => this.doReload(why));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async doReload(why: string): Promise<ReloadOutcome> {
    if (this.stopping || this.shuttingDown) return { ok: false, message: 'the daemon is stopping' };
    const refused = (e: unknown): ReloadOutcome => {
      const message = e instanceof ConfigError ? e.message : ((e as Error)?.message ?? String(e));
      this.logger.warning(`reload refused: ${message}; the running configuration stays in effect`);
      return { ok: false, message };
    };
    this.store.reloadKeyFiles(why);
    let configuration: Configuration;
    try {
      configuration = loadConfigSource(this.source);
      operationsSettings(configuration);
    } catch (e) {
      return refused(e);
    }
    const fingerprint = configurationFingerprint(configuration);
    if (fingerprint === this.current.fingerprint) {
      const n = [...this.workers].filter((w) => w.service.generation === this.current && w.state !== 'draining').length;
      const message = `configuration unchanged: ${n} worker processes keep serving`;
      this.logger.info(`reload: ${message}`);
      return { ok: true, message };
    }
    // Everything a worker will load, first with throw-away ticket keys (nothing changes if it fails) ...
    const scratch = localResumption(configuration, this.logger, 'primary');
    try {
      await loadServices(configuration, { sink: () => undefined, resumption: scratch, logWarnings: false, logInit: false });
    } catch (e) {
      return refused(e);
    } finally {
      scratch.close();
    }
    // ... then into the store the workers get their keys from (new key sets, if any), with the warnings.
    try {
      await loadServices(configuration, { sink: this.sink, resumption: this.store, logWarnings: true, logInit: false });
    } catch (e) {
      return refused(e);
    }
    const gen = this.generation(configuration, fingerprint);
    try {
      await this.startBatch(gen.services, 'reload');
    } catch (e) {
      // Back out: the new workers that listen already may have sessions: they finish them.
      for (const s of gen.services) s.retired = true;
      for (const w of [...this.workers]) {
        if (w.service.generation !== gen) continue;
        w.batch = undefined;
        if (w.state === 'ready') this.drainWorker(w, 'reload');
        else this.kill(w, 'SIGKILL');
      }
      return refused(e);
    }
    const old = this.current;
    this.current = gen;
    this.metrics?.set('tlsproxy_configuration_generation', [], gen.id);
    for (const s of old.services) s.retired = true;
    this.logger.info(`reload: ${configuration.description}: new sessions get the new configuration`);
    this.logPids(gen);
    let draining = 0;
    let sessions = 0;
    for (const w of [...this.workers]) {
      if (w.service.generation === gen || w.state === 'draining') continue;
      draining++;
      sessions += w.sessions;
      w.service.logger.info(`service ${w.service.name}: worker process pid ${w.pid} stops accepting (reload) and exits after its last session (${w.sessions} now)`);
      this.drainWorker(w, 'reload');
    }
    const message = `new configuration in ${gen.services.length} service${gen.services.length === 1 ? '' : 's'}; ${draining} old worker process${draining === 1 ? '' : 'es'} finishing ${sessions} session${sessions === 1 ? '' : 's'}`;
    return { ok: true, message };
  }

  // ------------------------------------------------------------------ stopping

  /** Sessions in progress, as the workers last reported. */
  get sessions(): number {
    let n = 0;
    for (const w of this.workers) n += w.sessions;
    return n;
  }

  /**
   * Stop gracefully: every worker stops accepting and exits after its last
   * session; after `drainTimeoutMs` the rest are stopped (stop()).
   */
  shutdown(drainTimeoutMs: number): Promise<void> {
    this.shuttingDown ??= (async () => {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      const all = [...this.workers];
      if (!all.length) return this.stop();
      const sessions = this.sessions;
      if (sessions > 0) this.logger.info(`stopping: ${all.length} worker processes stop accepting and finish ${sessions} sessions (up to ${drainTimeoutMs / 1000}s)`);
      const exited = Promise.all(all.map((w) => (w.worker.isDead() ? Promise.resolve() : new Promise<void>((r) => w.worker.once('exit', () => r())))));
      for (const w of all) {
        if (w.state === 'ready' || (w.state === 'draining' && w.hello)) this.drainWorker(w, 'stop');
        else if (w.state === 'starting') this.kill(w, 'SIGTERM');
      }
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), drainTimeoutMs)));
      const timedOut = await Promise.race([exited.then(() => false), late]);
      clearTimeout(timer);
      if (timedOut) this.logger.warning(`stopping: ${DRAIN_TIMEOUT_TEXT} (${drainTimeoutMs / 1000}s) reached: closing ${this.sessions} sessions`);
      await this.stop();
    })();
    return this.shuttingDown;
  }

  /** SIGTERM to every worker, SIGKILL to those still there after STOP_TIMEOUT_MS. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.tick);
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      const all = [...this.workers];
      const exited = all.map((w) => (w.worker.isDead() ? Promise.resolve() : new Promise<void>((r) => w.worker.once('exit', () => r()))));
      for (const w of all) {
        clearTimeout(w.startTimer);
        w.batch?.reject(new ConfigError('stopped during start-up'));
        this.kill(w, 'SIGTERM');
      }
      const timer = setTimeout(() => {
        for (const w of all) this.kill(w, 'SIGKILL');
      }, STOP_TIMEOUT_MS);
      await Promise.all(exited);
      clearTimeout(timer);
      this.store.close();
    })();
    return this.stopping;
  }
}

const DRAIN_TIMEOUT_TEXT = 'tlsproxy_drain_timeout';

function validId(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length > 0 && v.length <= MAX_CACHE_ID;
}

function exitText(code: number | null, signal: string | null): string {
  return signal ? `killed by signal ${signal}` : `exit status ${code ?? 0}`;
}
