/**
 * A worker process (started by workers.ts through node:cluster, entry
 * worker-entry.mjs): serves ONE tlsproxy service of the configuration.
 *
 *  - waits for the `init` message, rebuilds the configuration from its
 *    source, starts a Daemon for its service (the listening socket is
 *    shared through node:cluster), drops its privileges to tlsproxy_user
 *    (privileges.ts: after certificates, keys and the key log file are
 *    open, before the first connection) and reports `ready`, or `fatal`;
 *  - ticket keys only arrive from the main process (`init`, `keys`): the
 *    rings here never make keys; TLS 1.2 session-cache look-ups go to the
 *    main process (IpcSessionCache), and so do the per-client session
 *    counts (supervisor-limits.ts IpcCounter);
 *  - sends a heartbeat every HEARTBEAT_MS with its sessions and CPU use
 *    (the supervisor's load figures and its watchdog's proof of life);
 *  - `drain`: stops accepting, finishes the sessions in progress, exits 0;
 *  - log records are formatted here (so they carry this process's pid) and
 *    sent to the main process, which writes them (stderr when the channel
 *    is gone);
 *  - SIGTERM or a closed IPC channel (the main process died) ends the
 *    daemon and the process at once; SIGINT and SIGHUP are left to the
 *    main process (a terminal's ^C reaches the whole process group).
 */

import process from 'node:process';
import { ConfigError } from '../config/errors.js';
import { Daemon, loggerFor } from './daemon.js';
import { HEARTBEAT_MS, IpcSessionCache, loadConfigSource, type FromWorker, type InitMessage } from './ipc.js';
import { stderrSink, type LogRecord } from '../log/log.js';
import { dropPrivileges, privilegePlan } from './privileges.js';
import { ResumptionStore } from '../tls/resumption.js';
import { IpcCounter, makeAdmission } from './limits.js';
import { keysFromWire } from '../tls/ticket-keys.js';
import { setMetricsObserver } from '../base/metrics-hooks.js';
import { installMemoryReducer, memoryReducer } from '../base/memory-reducer.js';
import { armTieringForServing, deferTurbofanUntilServing } from '../base/v8-tiering.js';
import { MetricsRecorder } from './metrics.js';

let daemon: Daemon | undefined;
let store: ResumptionStore | undefined;
let cache: IpcSessionCache | undefined;
let counter: IpcCounter | undefined;
/** tlsproxy_metrics_listen set: what this process counted, sent with each heartbeat (metrics.ts). */
let recorder: MetricsRecorder | undefined;
let stopping = false;
let draining = false;

/** Messages handed to the channel and not yet written (the last log lines must not be lost at exit). */
let unsent = 0;

function send(m: FromWorker): boolean {
  if (!process.connected || !process.send) return false;
  try {
    unsent++;
    process.send(m, undefined, {}, () => unsent--);
    return true;
  } catch {
    unsent--;
    return false;
  }
}

/** Resolves when every message sent so far is written (or after `ms`). */
function flushed(ms = 1000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve) => {
    const check = () => (unsent <= 0 || !process.connected || Date.now() > end ? resolve() : setTimeout(check, 5));
    check();
  });
}

const sink = (r: LogRecord): void => {
  if (!send({ t: 'log', severity: r.severity, text: r.text, line: r.line })) stderrSink(r);
};

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    cache?.drop();
    counter?.drop();
    if (recorder) send({ t: 'metrics', s: recorder.snapshot() });
    const timer = setTimeout(() => process.exit(code), 5000);
    timer.unref();
    try {
      await daemon?.close();
    } catch {
      // exiting anyway
    }
    store?.close();
    await flushed();
  }
  process.exit(code);
}

/** Heartbeats: sessions and the CPU share used since the previous one. */
function startHeartbeats(): void {
  let lastCpu = process.cpuUsage();
  let lastTime = process.hrtime.bigint();
  const beat = () => {
    const cpu = process.cpuUsage();
    const now = process.hrtime.bigint();
    const elapsedUs = Number(now - lastTime) / 1000;
    const usedUs = cpu.user - lastCpu.user + (cpu.system - lastCpu.system);
    lastCpu = cpu;
    lastTime = now;
    send({ t: 'load', sessions: daemon?.activeSessions ?? 0, cpu: elapsedUs > 0 ? Math.max(0, usedUs / elapsedUs) : 0, accepting: !draining });
    if (recorder) send({ t: 'metrics', s: recorder.snapshot() });
  };
  const timer = setInterval(beat, HEARTBEAT_MS);
  timer.unref();
  beat();
}

/** Stop accepting; exit once the last session is over. */
async function drain(): Promise<void> {
  if (draining || stopping) return;
  draining = true;
  if (!daemon) return; // start() drains once the daemon exists
  await daemon.stopAccepting();
  await daemon.idle();
  await stop(0);
}

async function start(init: InitMessage): Promise<void> {
  try {
    const configuration = loadConfigSource(init.source);
    const service = configuration.services[init.service];
    if (!service || service.name !== init.serviceName) throw new ConfigError(`service ${init.serviceName}: not found in the configuration any more`);
    const plan = privilegePlan(configuration.params);
    if (configuration.params.get('tlsproxy_metrics_listen').trim()) {
      recorder = new MetricsRecorder();
      setMetricsObserver(recorder);
    }
    installMemoryReducer(); // base/memory-reducer.ts: young generation back after a burst
    cache = new IpcSessionCache(send);
    counter = new IpcCounter(send);
    const logger = loggerFor(configuration.params, sink);
    store = new ResumptionStore({ role: 'worker', remoteCache: cache, warn: (m) => logger.warning(m) });
    for (const [id, wire] of init.keys) {
      const keys = keysFromWire(wire);
      if (keys) store.setRemoteKeys(id, keys);
    }
    daemon = await Daemon.start({ ...configuration, services: [service] }, { sink, resumption: store, announce: false, admit: makeAdmission(counter) });
    if (stopping) return;
    // Everything that needs the start-up rights is open now: certificates, keys, the key log, the listening socket.
    if (plan.drop) {
      try {
        dropPrivileges(plan.drop);
      } catch (e) {
        throw new ConfigError(`tlsproxy_user = ${plan.drop.user}: ${(e as Error)?.message ?? e}`);
      }
    }
    startHeartbeats();
    send({ t: 'ready', listening: daemon.listening });
    memoryReducer?.afterStart();
    armTieringForServing(); // base/v8-tiering.ts
    if (draining) {
      draining = false;
      await drain();
    }
  } catch (e) {
    const message = e instanceof ConfigError ? e.message : ((e as Error)?.message ?? String(e));
    await new Promise<void>((resolve) => {
      if (!process.connected || !process.send) return resolve();
      process.send({ t: 'fatal', message } satisfies FromWorker, undefined, {}, () => resolve());
    });
    await stop(1);
  }
}

process.on('message', (raw: unknown) => {
  if (!raw || typeof raw !== 'object') return;
  const m = raw as Record<string, unknown>;
  switch (m.t) {
    case 'init':
      if (!daemon && !store) void start(m as unknown as InitMessage);
      break;
    case 'keys': {
      const keys = keysFromWire(m.keys);
      if (keys && typeof m.id === 'string') store?.setRemoteKeys(m.id, keys);
      break;
    }
    case 'cache-reply':
      if (typeof m.q === 'number') cache?.answer(m.q, m.blob instanceof Uint8Array ? m.blob : undefined);
      break;
    case 'admit-reply':
      if (typeof m.q === 'number' && typeof m.ok === 'boolean') counter?.answer(m.q, m.ok, typeof m.count === 'number' ? m.count : 0);
      break;
    case 'drain':
      void drain();
      break;
  }
});

process.on('disconnect', () => void stop(0));
// TurboFan from the first session on (base/v8-tiering.ts), now that the modules are loaded.
deferTurbofanUntilServing();
send({ t: 'hello' });
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
