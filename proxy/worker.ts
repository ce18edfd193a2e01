/**
 * A worker process (started by workers.ts through node:cluster, entry
 * worker-entry.mjs): serves ONE tlsproxy service of the configuration.
 *
 *  - waits for the `init` message, rebuilds the configuration from its
 *    source, starts a Daemon for its service (the listening socket is
 *    shared through node:cluster) and reports `ready`, or `fatal`;
 *  - ticket keys only arrive from the main process (`init`, `keys`): the
 *    rings here never make keys; TLS 1.2 session-cache look-ups go to the
 *    main process (IpcSessionCache);
 *  - log records are formatted here (so they carry this process's pid) and
 *    sent to the main process, which writes them (stderr when the channel
 *    is gone);
 *  - SIGTERM or a closed IPC channel (the main process died) ends the
 *    daemon and the process; SIGINT and SIGHUP are left to the main
 *    process (a terminal's ^C reaches the whole process group).
 */

import process from 'node:process';
import { ConfigError } from './config/errors.js';
import { Daemon } from './daemon.js';
import { IpcSessionCache, loadConfigSource, type FromWorker, type InitMessage } from './ipc.js';
import { stderrSink, type LogRecord } from './log.js';
import { ResumptionStore } from './resumption.js';
import { keysFromWire } from './ticket-keys.js';

let daemon: Daemon | undefined;
let store: ResumptionStore | undefined;
let cache: IpcSessionCache | undefined;
let stopping = false;

function send(m: FromWorker): boolean {
  if (!process.connected || !process.send) return false;
  try {
    process.send(m, undefined, {}, () => undefined);
    return true;
  } catch {
    return false;
  }
}

const sink = (r: LogRecord): void => {
  if (!send({ t: 'log', severity: r.severity, text: r.text, line: r.line })) stderrSink(r);
};

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    cache?.drop();
    const timer = setTimeout(() => process.exit(code), 5000);
    timer.unref();
    try {
      await daemon?.close();
    } catch {
      // exiting anyway
    }
    store?.close();
  }
  process.exit(code);
}

async function start(init: InitMessage): Promise<void> {
  try {
    const configuration = loadConfigSource(init.source);
    const service = configuration.services[init.service];
    if (!service || service.name !== init.serviceName) throw new ConfigError(`service ${init.serviceName}: not found in the configuration any more`);
    cache = new IpcSessionCache(send);
    store = new ResumptionStore({ role: 'worker', remoteCache: cache });
    for (const [id, wire] of init.keys) {
      const keys = keysFromWire(wire);
      if (keys) store.setRemoteKeys(id, keys);
    }
    daemon = await Daemon.start({ ...configuration, services: [service] }, { sink, resumption: store, announce: false });
    if (stopping) return;
    send({ t: 'ready', listening: daemon.listening });
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
  }
});

process.on('disconnect', () => void stop(0));
send({ t: 'hello' });
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
