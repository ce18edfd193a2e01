/**
 * The daemon: one listener per address of each tlsproxy inet service, one
 * Session per accepted connection.
 *
 * Start-up loads everything first (crypto provider, certificates, backend
 * address, timeouts) and fails with a ConfigError naming the parameter
 * before anything listens; a listen failure closes what was already open.
 */

import { runtimeNotice } from '../base/runtime.js';
import net from 'node:net';
import { parseBackend, type BackendAddress } from '../front-ends/backend.js';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import type { Configuration, ServiceDefinition } from '../config/configuration.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { hostPort } from '../base/endpoint.js';
import { strerror } from '../base/errno.js';
import { Logger, type LogSink } from '../log/log.js';
import { keyLogFor } from '../tls/keylog.js';
import { ResumptionStore } from '../tls/resumption.js';
import type { AdmitFn, Release } from './limits.js';
import type { Listening } from './ipc.js';

export type { Listening } from './ipc.js';
import { loadFrontEnd, startSession, type FrontEndService, type FrontEndSession } from '../front-ends/registry.js';
import { createProvider, loadTlsSettings, type FileReader, type TlsSettings } from '../tls/settings.js';
import { loadTlsService } from '../tls/service.js';
import { reportMlKemTo } from '../../providers/mlkem-wasm.js';

export interface DaemonOptions {
  /** Where log lines go (default stderr). */
  readonly sink?: LogSink;
  /** Certificate/key file reader (tests). */
  readonly readFile?: FileReader;
  /** Ticket keys and session cache (default: this process's own, closed with the daemon). */
  readonly resumption?: ResumptionStore;
  /**
   * Log the start-up lines (configuration warnings, `daemon started`,
   * `listening on`); default true. A worker process leaves them to the
   * main process.
   */
  readonly announce?: boolean;
  /** Admission of accepted connections (per-client limits, supervisor-limits.ts); default: every one. */
  readonly admit?: AdmitFn;
}

export interface RunningService extends FrontEndService {
  readonly definition: ServiceDefinition;
  readonly hosts: readonly (string | undefined)[];
  /** The loaded TLS settings (undefined for a STARTTLS front end whose TLS cannot work: see tlsService). */
  readonly tls?: TlsSettings;
  readonly resumption?: ResumptionStore;
}

/** Logger for lines of one parameter set (syslog_name and myhostname may differ per service). */
export function loggerFor(params: ParameterSet, sink?: LogSink): Logger {
  return new Logger({ syslogName: params.get('syslog_name'), hostname: params.get('myhostname'), sink });
}

/** Hosts an inet service listens on: its own host, else inet_interfaces (§ master.cf bare port). */
function listenHosts(service: ServiceDefinition): (string | undefined)[] {
  if (service.listen.host !== undefined) return [service.listen.host];
  const value = service.params.get('inet_interfaces').trim().toLowerCase();
  if (value === 'all' || value === '') return [undefined];
  if (value === 'loopback-only') return ['127.0.0.1', '::1'];
  return value.split(/[\s,]+/).filter(Boolean).map((h) => h.replace(/^\[(.*)\]$/, '$1'));
}

function requireBackend(service: ServiceDefinition): BackendAddress {
  const value = service.params.get('tlsproxy_backend');
  if (!value.trim()) {
    throw new ConfigError(`${service.where}: service ${service.name}: tlsproxy_backend is not set (use -o tlsproxy_backend=inet:HOST:PORT or unix:PATH)`);
  }
  return parseBackend(value);
}

/** The store of a daemon that serves everything in one process: keys and cache here. */
export function localResumption(configuration: Configuration, logger: Logger, role: 'local' | 'primary' = 'local'): ResumptionStore {
  return new ResumptionStore({
    role,
    cacheSize: configuration.params.getInt('tlsproxy_session_cache_size'),
    warn: (m) => logger.warning(m),
    info: (m) => logger.info(m),
  });
}

export interface LoadOptions {
  readonly sink?: LogSink;
  readonly readFile?: FileReader;
  readonly resumption: ResumptionStore;
  /** Log start-up warnings (the main process does; workers leave them to it). */
  readonly logWarnings: boolean;
  /** Log `initializing the server-side TLS engine` at loglevel >= 2 (per serving process). */
  readonly logInit: boolean;
}

/** Everything a service needs, loaded and checked (certificates, keys, backend, timeouts); throws ConfigError. */
export async function loadServices(configuration: Configuration, options: LoadOptions): Promise<RunningService[]> {
  const logger = loggerFor(configuration.params, options.sink);
  if (options.logWarnings) for (const w of configuration.warnings) logger.warning(w);
  // The node provider's ML-KEM-768 module loads at the first post-quantum handshake: one line says how it went
  // (to the logger of the load that serves, not of a check whose lines are discarded).
  if (options.logWarnings) {
    reportMlKemTo((inUse, detail) =>
      inUse
        ? logger.info(`ML-KEM-768 encapsulation (X25519MLKEM768, SecP256r1MLKEM768): ${detail}`)
        : logger.warning(`ML-KEM-768 on WebAssembly unavailable (${detail}): encapsulating in JavaScript (@noble/post-quantum), about 0.5 ms of CPU more per post-quantum handshake`),
    );
  }
  const providers = new Map<string, CryptoProvider>();
  const services: RunningService[] = [];
  for (const definition of configuration.services) {
    const p = definition.params;
    const log = loggerFor(p, options.sink);
    const providerName = p.get('tlsproxy_crypto_provider').trim().toLowerCase();
    let provider = providers.get(providerName);
    if (!provider) {
      provider = await createProvider(p);
      providers.set(providerName, provider);
    }
    // The implicit-TLS front end cannot run without TLS: its problems stop the start. A
    // STARTTLS front end (postscreen) runs anyway and answers "TLS not available" (tls-service.ts).
    const frontEnd = loadFrontEnd(definition.command ?? 'tlsproxy', p, options.sink);
    if (options.logWarnings) for (const w of frontEnd.warnings) log.warning(w);
    let tls: TlsSettings | undefined;
    const tlsService = await loadTlsService(
      { name: definition.name, logger: log, resumption: options.resumption, sessionLimit: p.getInt('tlsproxy_process_session_limit'), keylog: keyLogFor(p), strict: frontEnd.kind === 'tlsproxy', logWarnings: options.logWarnings },
      async () => {
        const loaded = await loadTlsSettings(p, provider, { readFile: options.readFile, resumption: options.resumption });
        const loglevel = definition.verbose ? Math.max(2, loaded.loglevel) : loaded.loglevel;
        if (options.logWarnings) for (const w of loaded.warnings) log.warning(w);
        if (options.logInit && loglevel >= 2) log.info('initializing the server-side TLS engine');
        tls = { ...loaded, loglevel };
        return tls;
      },
    );
    services.push({
      definition,
      name: definition.name,
      logger: log,
      tls,
      tlsService,
      frontEnd,
      backend: requireBackend(definition),
      handshakeTimeoutMs: p.getTime('tlsproxy_handshake_timeout') * 1000,
      idleTimeoutMs: p.getTime('tlsproxy_session_timeout') * 1000,
      connectTimeoutMs: p.getTime('tlsproxy_backend_connect_timeout') * 1000,
      hosts: listenHosts(definition),
      resumption: options.resumption,
    });
  }
  return services;
}

export class Daemon {
  /** One per listening socket; `service` is what new sessions get (reconfigure() may change it). */
  private servers: { server: net.Server; service: RunningService; host: string | undefined }[] = [];
  private readonly sessions = new Set<FrontEndSession>();
  private closing: Promise<void> | undefined;
  /** stopAccepting() was called: the listeners are closed, sessions go on. */
  private notAccepting = false;
  private idleWaiters: (() => void)[] = [];
  private admit: AdmitFn | undefined;

  private constructor(
    readonly logger: Logger,
    /** Ours to close (made by start() rather than passed in). */
    private readonly resumption: ResumptionStore | undefined,
  ) {}

  /** Load every service, then listen. Throws ConfigError on any configuration problem. */
  static async start(configuration: Configuration, options: DaemonOptions = {}): Promise<Daemon> {
    const announce = options.announce ?? true;
    const logger = loggerFor(configuration.params, options.sink);
    const resumption = options.resumption ?? localResumption(configuration, logger);
    let services: RunningService[];
    try {
      services = await loadServices(configuration, { ...options, resumption, logWarnings: announce, logInit: true });
    } catch (e) {
      if (!options.resumption) resumption.close();
      throw e;
    }
    const daemon = new Daemon(logger, options.resumption ? undefined : resumption);
    daemon.admit = options.admit;
    try {
      for (const s of services) for (const host of s.hosts) await daemon.listen(s, host);
    } catch (e) {
      await daemon.close();
      throw e;
    }
    if (announce) {
      logger.info(`daemon started -- ${configuration.description}`);
      const notice = runtimeNotice();
      if (notice) logger.info(notice);
      for (const l of daemon.listening) {
        const s = services.find((x) => x.name === l.service)!;
        s.logger.info(`service ${l.service}: listening on ${hostPort(l.address, l.port)}, backend ${s.backend.text}`);
      }
    }
    return daemon;
  }

  /** Re-read the session ticket key files (SIGHUP); the number of files. */
  reloadKeyFiles(why?: string): number {
    return this.resumption?.reloadKeyFiles(why) ?? 0;
  }

  private listen(service: RunningService, host: string | undefined): Promise<void> {
    const entry = { server: net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(entry.service, socket)), service, host };
    const server = entry.server;
    return new Promise((resolve, reject) => {
      server.once('error', (e) => {
        reject(new ConfigError(`bind ${host ?? '*'} port ${service.definition.listen.port}: ${strerror(e)}`));
      });
      server.listen({ host, port: service.definition.listen.port }, () => {
        server.removeAllListeners('error');
        server.on('error', (e) => entry.service.logger.warning(`service ${entry.service.name}: accept: ${strerror(e)}`));
        this.servers.push(entry);
        resolve();
      });
    });
  }

  private accept(service: RunningService, socket: net.Socket): void {
    if (this.closing || this.notAccepting) {
      socket.destroy();
      return;
    }
    const admit = this.admit;
    if (!admit) {
      this.startSession(service, socket, undefined);
      return;
    }
    // Nothing is read before the verdict (the socket stays paused until the session listens).
    const ignore = () => undefined;
    socket.on('error', ignore);
    const decided = (release: Release | undefined) => {
      socket.removeListener('error', ignore);
      if (!release) {
        socket.destroy();
        return;
      }
      if (socket.destroyed || this.closing) {
        release();
        socket.destroy();
        return;
      }
      this.startSession(service, socket, release);
    };
    let verdict: ReturnType<AdmitFn>;
    try {
      verdict = admit(service, socket);
    } catch (e) {
      service.logger.warning(`service ${service.name}: admission: ${(e as Error)?.message ?? e}`);
      verdict = () => undefined;
    }
    if (verdict instanceof Promise) verdict.then(decided, () => decided(() => undefined));
    else decided(verdict);
  }

  private startSession(service: RunningService, socket: net.Socket, release: Release | undefined): void {
    try {
      const session = startSession(socket, service, (s) => {
        this.sessions.delete(s);
        release?.();
        if (!this.sessions.size) for (const w of this.idleWaiters.splice(0)) w();
      });
      this.sessions.add(session);
    } catch (e) {
      release?.();
      service.logger.warning(`service ${service.name}: cannot start a session: ${(e as Error)?.message ?? e}`);
      socket.destroy();
    }
  }

  /**
   * Stop accepting: the listeners close (in a worker process, node:cluster
   * hands this process no more connections), sessions in progress go on.
   */
  stopAccepting(): Promise<void> {
    if (!this.notAccepting) {
      this.notAccepting = true;
      for (const { server } of this.servers) server.close();
    }
    return Promise.resolve();
  }

  /**
   * Reload in one process: new sessions get the services of
   * `configuration`; sessions in progress keep theirs. Listeners of
   * addresses that stay are kept (no connection is refused meanwhile), new
   * addresses are bound, and those gone are closed. Throws ConfigError, and
   * then nothing changed.
   */
  async reconfigure(configuration: Configuration, sink?: LogSink): Promise<void> {
    if (this.closing || this.notAccepting) throw new ConfigError('the daemon is stopping');
    const resumption = this.resumption;
    if (!resumption) throw new ConfigError('reload needs the daemon to own its ticket keys and session cache');
    const services = await loadServices(configuration, { sink, resumption, logWarnings: true, logInit: true });
    const keep = new Map<(typeof this.servers)[number], RunningService>();
    const wanted: [RunningService, string | undefined][] = [];
    for (const s of services) {
      for (const host of s.hosts) {
        const old = this.servers.find((e) => !keep.has(e) && e.service.name === s.name && e.host === host && e.service.definition.listen.port === s.definition.listen.port);
        if (old) keep.set(old, s);
        else wanted.push([s, host]);
      }
    }
    const before = this.servers;
    this.servers = [];
    try {
      for (const [s, host] of wanted) await this.listen(s, host);
    } catch (e) {
      for (const { server } of this.servers) server.close();
      this.servers = before;
      throw e;
    }
    const added = this.servers;
    for (const e of before) {
      const s = keep.get(e);
      if (s) e.service = s;
      else e.server.close();
    }
    this.servers = [...before.filter((e) => keep.has(e)), ...added];
  }

  /** Addresses actually bound (port 0 in master.cf resolves here). */
  get listening(): Listening[] {
    const out: Listening[] = [];
    for (const { server, service } of this.servers) {
      const a = server.address();
      if (a && typeof a === 'object') out.push({ service: service.name, address: a.address, port: a.port });
    }
    return out;
  }

  /** Sessions in progress. */
  get activeSessions(): number {
    return this.sessions.size;
  }

  /** Resolves when no session is left (immediately if none). */
  idle(): Promise<void> {
    if (!this.sessions.size) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop listening, end every session, resolve when all is closed. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        // server.close() calls back once its connections are gone, so end the sessions too.
        const open = this.notAccepting ? [] : this.servers;
        const closed = Promise.all(open.map(({ server }) => new Promise<void>((r) => server.close(() => r()))));
        for (const s of [...this.sessions]) s.destroy();
        await Promise.all([closed, this.idle()]);
        this.resumption?.close();
      })();
    }
    return this.closing;
  }
}
