/**
 * Running the daemon from the command line (`tlsproxy start`), and the
 * `tlsproxy reload` / `tlsproxy stop` commands that talk to it.
 *
 * Start, after the configuration is loaded (cli.ts):
 *   1. every service loaded once for checking (certificates, keys...: the
 *      first problem is the one `fatal:` line), and the operations
 *      parameters (supervisor-config.ts);
 *   2. privileges (privileges.ts): started as root, tlsproxy_user is
 *      required (or tlsproxy_allow_root = yes);
 *   3. the pid file (pidfile.ts; a stale one is replaced, a live one stops
 *      the start);
 *   4. worker processes (workers.ts) when any service may have more than
 *      one, or when privileges are to be dropped (the main process keeps
 *      them to bind and to read files at reload); otherwise one process
 *      (daemon.ts), watched by an in-process watchdog thread.
 *
 * Signals:
 *   SIGHUP          reload: re-read the ticket key files and the configuration; a valid,
 *                   changed configuration serves new sessions, old sessions finish where
 *                   they are; an invalid one is refused and logged. The outcome also goes
 *                   to the status file for `tlsproxy reload`.
 *   SIGTERM/SIGINT  stop accepting, let sessions finish for up to tlsproxy_drain_timeout,
 *                   then close; a second one closes at once.
 */

import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import type { Configuration } from '../config/configuration.js';
import { Daemon, loadServices, localResumption, loggerFor, type Listening } from './daemon.js';
import { loadConfigSource, type ConfigSource } from './ipc.js';
import { keyLogWarning } from '../tls/keylog.js';
import type { Logger, LogSink } from '../log/log.js';
import { acquirePidFile, isRunning, pidDirectory, readPidFile, readStatus, writeStatus, type PidFile } from './pidfile.js';
import { configurationFingerprint, operationsSettings, type OperationsSettings } from './settings.js';
import { LocalCounter, makeAdmission } from './limits.js';
import { startThreadWatchdog, type ThreadWatchdog } from './watchdog.js';
import { WorkerPool, type ReloadOutcome, type WorkerStatus } from './workers.js';
import { MetricsRecorder, parseListen } from './metrics.js';
import type { MetricsAggregator, MetricsServer } from './prometheus.js';
import { setMetricsObserver } from '../base/metrics-hooks.js';
import { installMemoryReducer, setMemoryReducer } from '../base/memory-reducer.js';
import { armTieringForServing } from '../base/v8-tiering.js';
import { STATUS_SIGNAL, removeState, writeState } from './status.js';

/** What runs: one Daemon in this process, or a WorkerPool of worker processes. */
export interface Running {
  readonly listening: readonly Listening[];
  /** Never throws: the outcome says. */
  reload(why: string): Promise<ReloadOutcome>;
  /** Stop accepting; sessions get up to `drainMs`; then close. */
  shutdown(drainMs: number): Promise<void>;
  /** Close everything now. */
  close(): Promise<void>;
  /** For `tlsproxy status`. */
  status(): { generation: number; workers: WorkerStatus[]; sessions: number; mode: 'workers' | 'single' };
}

function message(e: unknown): string {
  return e instanceof ConfigError ? e.message : ((e as Error)?.message ?? String(e));
}

/** Services load and check without serving (throw-away ticket keys, no log lines). */
async function check(configuration: Configuration, logger: Logger): Promise<void> {
  const scratch = localResumption(configuration, logger, 'primary');
  try {
    await loadServices(configuration, { sink: () => undefined, resumption: scratch, logWarnings: false, logInit: false });
  } finally {
    scratch.close();
  }
}

/** Worker processes are needed: a service may have several, or privileges must be dropped. */
function needsWorkers(configuration: Configuration, ops: OperationsSettings): boolean {
  return configuration.services.some((s) => s.processes > 1) || ops.privileges.drop !== undefined;
}

/** Everything in this process. */
class SingleProcess implements Running {
  private fingerprint: string;
  private generation = 1;
  private reloading: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly daemon: Daemon,
    configuration: Configuration,
    private readonly source: ConfigSource,
    private readonly sink: LogSink,
    private readonly logger: Logger,
    private readonly watchdog: ThreadWatchdog,
  ) {
    this.fingerprint = configurationFingerprint(configuration);
  }

  static async start(configuration: Configuration, source: ConfigSource, sink: LogSink, logger: Logger): Promise<SingleProcess> {
    const daemon = await Daemon.start(configuration, { sink, admit: makeAdmission(new LocalCounter()) });
    const timeout = Math.min(...configuration.services.map((s) => s.params.getTime('tlsproxy_watchdog_timeout')));
    const watchdog = startThreadWatchdog(timeout, `${logger.hostname.split('.')[0] || logger.hostname} ${logger.tag}[${process.pid}]: `);
    installMemoryReducer()?.afterStart();
    armTieringForServing(); // base/v8-tiering.ts
    return new SingleProcess(daemon, configuration, source, sink, logger, watchdog);
  }

  get listening(): Listening[] {
    return this.daemon.listening;
  }

  reload(why: string): Promise<ReloadOutcome> {
    const run = this.reloading.then(() => this.doReload(why));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async doReload(why: string): Promise<ReloadOutcome> {
    const refused = (e: unknown): ReloadOutcome => {
      const m = message(e);
      this.logger.warning(`reload refused: ${m}; the running configuration stays in effect`);
      return { ok: false, message: m };
    };
    this.daemon.reloadKeyFiles(why);
    let configuration: Configuration;
    try {
      configuration = loadConfigSource(this.source);
      const ops = operationsSettings(configuration);
      if (needsWorkers(configuration, ops)) throw new ConfigError('the new configuration needs worker processes (a maxproc above 1, or tlsproxy_user): restart the daemon for it');
    } catch (e) {
      return refused(e);
    }
    const fingerprint = configurationFingerprint(configuration);
    if (fingerprint === this.fingerprint) {
      this.logger.info('reload: configuration unchanged');
      return { ok: true, message: 'configuration unchanged' };
    }
    try {
      await check(configuration, this.logger);
      await this.daemon.reconfigure(configuration, this.sink);
    } catch (e) {
      return refused(e);
    }
    this.fingerprint = fingerprint;
    this.generation++;
    const m = `${configuration.description}: new sessions get the new configuration; ${this.daemon.activeSessions} sessions in progress keep the old one`;
    this.logger.info(`reload: ${m}`);
    return { ok: true, message: m };
  }

  async shutdown(drainMs: number): Promise<void> {
    const n = this.daemon.activeSessions;
    await this.daemon.stopAccepting();
    if (n > 0) {
      this.logger.info(`stopping: finishing ${n} sessions (up to ${drainMs / 1000}s)`);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), drainMs)));
      const timedOut = await Promise.race([this.daemon.idle().then(() => false), late]);
      clearTimeout(timer);
      if (timedOut) this.logger.warning(`stopping: tlsproxy_drain_timeout (${drainMs / 1000}s) reached: closing ${this.daemon.activeSessions} sessions`);
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.watchdog.stop();
    setMemoryReducer(undefined);
    await this.daemon.close();
  }

  status(): { generation: number; workers: WorkerStatus[]; sessions: number; mode: 'single' } {
    return { generation: this.generation, workers: [], sessions: this.daemon.activeSessions, mode: 'single' };
  }
}

class Workers implements Running {
  constructor(private readonly pool: WorkerPool) {}
  get listening(): Listening[] {
    return this.pool.listening;
  }
  reload(why: string): Promise<ReloadOutcome> {
    return this.pool.reload(why);
  }
  shutdown(drainMs: number): Promise<void> {
    return this.pool.shutdown(drainMs);
  }
  close(): Promise<void> {
    return this.pool.stop();
  }
  status(): { generation: number; workers: WorkerStatus[]; sessions: number; mode: 'workers' } {
    const workers = this.pool.status();
    return { generation: this.pool.generationId, workers, sessions: workers.reduce((n, w) => n + w.sessions, 0), mode: 'workers' };
  }
}

export interface RunOptions {
  readonly sink: LogSink;
  /** Resolves when the daemon should stop (default: the first SIGINT or SIGTERM). */
  readonly stopSignal?: () => Promise<string>;
  /** Called once the daemon serves (the built-in mode prints its `try:` line). */
  readonly onListening?: (listening: readonly Listening[]) => void;
  /** After the daemon stopped or failed to start (the built-in mode closes its demo backend). */
  readonly cleanup?: () => Promise<void> | void;
  /** On SIGHUP, before the reload (reopen maillog_file). */
  readonly onSighup?: () => void;
  /** The start failed with this message (already logged as `fatal:`). */
  readonly onFatal?: (message: string) => void;
}

/** Run until stopped; the exit status (0 after a clean stop, 1 when the start failed: one `fatal:` line). */
export async function runDaemon(configuration: Configuration, source: ConfigSource, options: RunOptions): Promise<number> {
  const sink = options.sink;
  const logger = loggerFor(configuration.params, sink);
  let running: Running | undefined;
  let pidFile: PidFile | undefined;
  let seq = 0;
  let metrics: MetricsAggregator | undefined;
  let metricsServer: MetricsServer | undefined;
  const started = Date.now();
  // tlsproxy status: SIGUSR2 asks for tlsproxy.state (status.ts). Handled from the start (Node's default would exit).
  let stateSeq = 0;
  const usr2 = () => {
    if (!pidFile) return;
    const st = running?.status() ?? { generation: 0, workers: [], sessions: 0, mode: 'workers' as const };
    writeState(pidFile.dir, {
      pid: process.pid,
      seq: ++stateSeq,
      started,
      time: Date.now(),
      configuration: source.kind === 'dir' ? source.dir : 'built-in defaults',
      generation: st.generation,
      mode: st.mode,
      services: configuration.services.map((s) => ({ name: s.name, command: s.command ?? 'tlsproxy' })),
      listening: (running?.listening ?? []).map((l) => `${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`),
      workers: st.workers,
      sessions: st.sessions,
      ...(metricsServer ? { metrics: `${metricsServer.address.includes(':') ? `[${metricsServer.address}]` : metricsServer.address}:${metricsServer.port}` } : {}),
    });
  };
  process.on(STATUS_SIGNAL, usr2);
  // Signals are ours from the start: a SIGHUP before we serve must not kill us (Node's default).
  let hupPending = false;
  let reloading: Promise<void> = Promise.resolve();
  const hup = () => {
    if (!running) {
      hupPending = true;
      return;
    }
    const r = running;
    reloading = reloading.then(async () => {
      options.onSighup?.();
      logger.info('reload on signal SIGHUP');
      const outcome = await r.reload('SIGHUP');
      metrics?.inc('tlsproxy_reloads_total', [!outcome.ok ? 'refused' : /unchanged/.test(outcome.message) ? 'unchanged' : 'changed']);
      if (metrics) metrics.set('tlsproxy_configuration_generation', [], r.status().generation);
      if (pidFile) writeStatus(pidFile.dir, { pid: process.pid, seq: ++seq, ok: outcome.ok, message: outcome.message, time: Date.now() });
    });
  };
  process.on('SIGHUP', hup);
  const signals = options.stopSignal ? { wanted: options.stopSignal(), cancel: () => undefined } : waitForSignal();
  const stopWanted = signals.wanted;
  let drainMs = 0;
  try {
    // The first problem is the one fatal line: certificates and keys before operations parameters.
    // (With worker processes, WorkerPool.start() loads everything itself before any fork.)
    let ops: OperationsSettings | undefined;
    let opsError: unknown;
    try {
      ops = operationsSettings(configuration);
    } catch (e) {
      opsError = e;
    }
    if (!ops || !needsWorkers(configuration, ops)) await check(configuration, logger);
    if (!ops) throw opsError;
    drainMs = ops.drainTimeoutMs;
    pidFile = acquirePidFile(ops.pidDirectory, (m) => logger.warning(m));
    const metricsListen = configuration.params.get('tlsproxy_metrics_listen').trim();
    if (metricsListen) {
      const at = parseListen(metricsListen);
      if (!at) throw new ConfigError(`tlsproxy_metrics_listen = ${metricsListen}: expected host:port, [ipv6]:port or a port`);
      // prom-client and node:http: loaded only when metrics are served (start-up time, issue 9).
      const { MetricsAggregator, startMetricsServer } = await import('./prometheus.js');
      metrics = new MetricsAggregator();
      try {
        metricsServer = await startMetricsServer(at, metrics, logger);
      } catch (e) {
        throw new ConfigError(`tlsproxy_metrics_listen = ${metricsListen}: cannot listen: ${(e as Error).message}`);
      }
    }
    const workers = needsWorkers(configuration, ops);
    if (metrics && !workers) {
      // One process: it counts itself; each scrape moves the counts into the registry.
      const recorder = new MetricsRecorder();
      setMetricsObserver(recorder);
      const agg = metrics;
      agg.beforeScrape = () => agg.ingest('local', recorder.snapshot());
    }
    running = workers ? new Workers(await WorkerPool.start(configuration, source, { sink, metrics })) : await SingleProcess.start(configuration, source, sink, logger);
    if (metricsServer) logger.info(`metrics: serving Prometheus metrics on http://${hostPortText(metricsServer.address, metricsServer.port)}/metrics`);
    // Said once serving (a start that fails says only why).
    if (ops.privileges.drop) logger.info(`worker processes run as ${ops.privileges.drop.user}:${ops.privileges.drop.group} (uid ${ops.privileges.drop.uid}, gid ${ops.privileges.drop.gid})`);
    if (ops.privileges.warning) logger.warning(ops.privileges.warning);
    for (const f of ops.keyLogFiles) logger.warning(keyLogWarning(f));
    options.onListening?.(running.listening);
  } catch (e) {
    logger.fatal(message(e));
    options.onFatal?.(message(e));
    process.removeListener('SIGHUP', hup);
    process.removeListener(STATUS_SIGNAL, usr2);
    setMetricsObserver(undefined);
    await metricsServer?.close();
    signals.cancel();
    pidFile?.release();
    await options.cleanup?.();
    return 1;
  }
  if (hupPending) hup();
  const signal = await stopWanted;
  process.removeListener('SIGHUP', hup);
  logger.info(`terminating on signal ${signal}`);
  const r = running;
  const now = (sig: NodeJS.Signals) => {
    logger.info(`terminating at once on signal ${sig}`);
    void r.close();
  };
  process.once('SIGINT', now);
  process.once('SIGTERM', now);
  try {
    await reloading;
    await r.shutdown(drainMs);
  } finally {
    process.removeListener('SIGINT', now);
    process.removeListener('SIGTERM', now);
    process.removeListener(STATUS_SIGNAL, usr2);
    setMetricsObserver(undefined);
    await metricsServer?.close();
    if (pidFile) removeState(pidFile.dir, process.pid);
    pidFile?.release();
    await options.cleanup?.();
  }
  return 0;
}

function hostPortText(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** `wanted` resolves with the name of the first SIGINT/SIGTERM; cancel() removes the handlers. */
function waitForSignal(): { wanted: Promise<string>; cancel: () => void } {
  let cancel = () => undefined as void;
  const wanted = new Promise<string>((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      cancel();
      resolve(sig);
    };
    cancel = () => {
      process.removeListener('SIGINT', on);
      process.removeListener('SIGTERM', on);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
  return { wanted, cancel };
}

// ------------------------------------------------------------------ tlsproxy reload / stop

export interface ControlIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** How long to wait for the daemon (ms); default: reload 90 s, stop tlsproxy_drain_timeout + 30 s. */
  readonly timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The running daemon named by the pid file of `params`, or an error text. */
function findDaemon(params: ParameterSet): { pid: number; dir: string } | string {
  let dir: string;
  try {
    dir = pidDirectory(params);
    const c = readPidFile(dir);
    if (!c) return `no daemon is running (no pid file ${dir}/tlsproxy.pid)`;
    if (!isRunning(c)) return `no daemon is running: stale pid file ${dir}/tlsproxy.pid (pid ${c.pid} is gone)`;
    return { pid: c.pid, dir };
  } catch (e) {
    return message(e);
  }
}

/** `tlsproxy reload`: SIGHUP to the daemon, then its verdict. Exit status 0 (reloaded), 1 (refused or no daemon). */
export async function reloadCommand(params: ParameterSet, io: ControlIo): Promise<number> {
  const d = findDaemon(params);
  if (typeof d === 'string') {
    io.stderr(`tlsproxy: reload: ${d}\n`);
    return 1;
  }
  const before = readStatus(d.dir);
  const seq = before?.pid === d.pid ? before.seq : 0;
  try {
    process.kill(d.pid, 'SIGHUP');
  } catch (e) {
    io.stderr(`tlsproxy: reload: kill -HUP ${d.pid}: ${message(e)}\n`);
    return 1;
  }
  const end = Date.now() + (io.timeoutMs ?? 90_000);
  while (Date.now() < end) {
    await sleep(50);
    const s = readStatus(d.dir);
    if (s && s.pid === d.pid && s.seq > seq) {
      if (s.ok) io.stdout(`tlsproxy: reload: ${s.message}\n`);
      else io.stderr(`tlsproxy: reload refused: ${s.message}\n`);
      return s.ok ? 0 : 1;
    }
    if (!isRunning({ pid: d.pid })) {
      io.stderr(`tlsproxy: reload: the daemon (pid ${d.pid}) exited\n`);
      return 1;
    }
  }
  io.stderr(`tlsproxy: reload: no answer from the daemon (pid ${d.pid}) within ${Math.round((io.timeoutMs ?? 90_000) / 1000)}s; see its log\n`);
  return 1;
}

/** `tlsproxy stop`: SIGTERM to the daemon, then wait until it is gone. */
export async function stopCommand(params: ParameterSet, io: ControlIo): Promise<number> {
  const d = findDaemon(params);
  if (typeof d === 'string') {
    io.stderr(`tlsproxy: stop: ${d}\n`);
    return 1;
  }
  let waitMs = io.timeoutMs;
  if (waitMs === undefined) {
    try {
      waitMs = params.getTime('tlsproxy_drain_timeout') * 1000 + 30_000;
    } catch {
      waitMs = 90_000;
    }
  }
  try {
    process.kill(d.pid, 'SIGTERM');
  } catch (e) {
    io.stderr(`tlsproxy: stop: kill ${d.pid}: ${message(e)}\n`);
    return 1;
  }
  const end = Date.now() + waitMs;
  while (Date.now() < end) {
    await sleep(50);
    if (!isRunning({ pid: d.pid })) {
      io.stdout(`tlsproxy: stopped (pid ${d.pid})\n`);
      return 0;
    }
  }
  io.stderr(`tlsproxy: stop: the daemon (pid ${d.pid}) is still running after ${Math.round(waitMs / 1000)}s\n`);
  return 1;
}
