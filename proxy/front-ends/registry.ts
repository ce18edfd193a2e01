/**
 * Front ends: what runs on an accepted connection of a service, by its
 * master.cf command.
 *
 *   tlsproxy    implicit TLS: the connection goes to the TLS service at
 *               once, then to the backend (session.ts)
 *   postscreen  SMTP with STARTTLS (postscreen/session.ts)
 *
 * Both can first read a PROXY protocol header from an upstream load
 * balancer (tlsproxy_upstream_proxy_protocol = haproxy, for postscreen
 * also postscreen_upstream_proxy_protocol) within
 * tlsproxy_upstream_proxy_timeout, so the real client reaches the log
 * lines and the backend; a bad or missing header closes the connection
 * with `warning: haproxy read: <reason>` (Postfix's words) naming the
 * load balancer's endpoint. Both can send a PROXY header to the backend
 * (tlsproxy_backend_proxy_protocol = v1 | v2).
 */

import type net from 'node:net';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { formatEndpoint } from '../base/endpoint.js';
import { metrics } from '../base/metrics-hooks.js';
import { memoryReducer } from '../base/memory-reducer.js';
import { tuneTieringOnFirstSession } from '../base/v8-tiering.js';
import { Logger, type LogSink } from '../log/log.js';
import { PostscreenSession, type PostscreenService } from './postscreen/session.js';
import { loadPostscreenSettings, type PostscreenSettings } from './postscreen/settings.js';
import {
  headerEndpoints,
  parseBackendProxyProtocol,
  parseUpstreamProxyProtocol,
  readProxyHeader,
  type ConnectionEndpoints,
  type ProxyProtocolVersion,
} from './proxy-protocol.js';
import { Session, type SessionService } from './implicit-tls.js';

import { FRONT_END_COMMANDS, isFrontEndCommand, type FrontEndKind } from '../config/front-end-kinds.js';

export { FRONT_END_COMMANDS, isFrontEndCommand, type FrontEndKind };

export interface FrontEndSettings {
  readonly kind: FrontEndKind;
  readonly backendProxy: ProxyProtocolVersion;
  /** Milliseconds to wait for an upstream PROXY header; undefined = no header expected. */
  readonly upstreamTimeoutMs?: number;
  /** postscreen only. */
  readonly postscreen?: PostscreenSettings;
  /** postscreen only: its own log tag (postfix/postscreen). */
  readonly frontLogger?: Logger;
  /** Start-up warnings. */
  readonly warnings: readonly string[];
}

function configError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError) throw new ConfigError(e.message);
    throw e;
  }
}

/** A service's front-end settings; throws ConfigError naming the parameter. */
export function loadFrontEnd(kind: FrontEndKind, params: ParameterSet, sink?: LogSink): FrontEndSettings {
  const backendProxy = configError(() => parseBackendProxyProtocol(params.get('tlsproxy_backend_proxy_protocol')));
  const upstreamName = kind === 'postscreen' ? 'postscreen_upstream_proxy' : 'tlsproxy_upstream_proxy';
  const upstream = configError(() => parseUpstreamProxyProtocol(params.get(`${upstreamName}_protocol`), `${upstreamName}_protocol`));
  const upstreamTimeoutMs = upstream ? params.getTime(`${upstreamName}_timeout`) * 1000 : undefined;
  if (kind === 'tlsproxy') return { kind, backendProxy, upstreamTimeoutMs, warnings: [] };
  const postscreen = loadPostscreenSettings(params);
  const frontLogger = new Logger({ syslogName: params.get('syslog_name'), hostname: params.get('myhostname'), processName: 'postscreen', sink });
  return { kind, backendProxy, upstreamTimeoutMs, postscreen, frontLogger, warnings: postscreen.warnings };
}

/** What a front end needs of its service (daemon.ts RunningService has it all). */
export interface FrontEndService extends SessionService {
  readonly frontEnd: FrontEndSettings;
}

/** A session the daemon tracks (to end it at shutdown). */
export interface FrontEndSession {
  destroy(): void;
}

/** Start the service's front end on an accepted connection. */
export function startSession(socket: net.Socket, service: FrontEndService, onFinished: (session: FrontEndSession) => void): FrontEndSession {
  memoryReducer?.sessionStarted(); // base/memory-reducer.ts
  tuneTieringOnFirstSession(); // base/v8-tiering.ts
  const timeout = service.frontEnd.upstreamTimeoutMs;
  if (timeout === undefined) return dispatch(socket, service, onFinished);
  return new UpstreamWait(socket, service, timeout, onFinished);
}

/** What each kind of session gets of its service, made once per service. */
const derived = new WeakMap<FrontEndService, PostscreenService | SessionService>();

function dispatch(socket: net.Socket, service: FrontEndService, onFinished: (session: FrontEndSession) => void, endpoints?: ConnectionEndpoints): FrontEndSession {
  const fe = service.frontEnd;
  let view = derived.get(service);
  if (!view) {
    view = fe.kind === 'postscreen' ? { ...service, logger: fe.frontLogger!, backendProxy: fe.backendProxy, postscreen: fe.postscreen! } : { ...service, backendProxy: fe.backendProxy };
    derived.set(service, view);
  }
  const m = metrics;
  if (m) {
    // Sessions and client bytes for the metrics (base/metrics-hooks.ts), counted here once for every kind.
    m.sessionStarted(service.name, fe.kind);
    const done = onFinished;
    let ended = false;
    onFinished = (session) => {
      if (!ended) m.sessionEnded(service.name, fe.kind, socket.bytesRead, socket.bytesWritten);
      ended = true;
      done(session);
    };
  }
  if (fe.kind === 'postscreen') return new PostscreenSession(socket, view as PostscreenService, onFinished, endpoints);
  return new Session(socket, view, onFinished, endpoints);
}

/** Reading the upstream PROXY header, then the real front end. */
class UpstreamWait implements FrontEndSession {
  private inner: FrontEndSession | undefined;
  private destroyed = false;

  constructor(
    private readonly socket: net.Socket,
    service: FrontEndService,
    timeoutMs: number,
    onFinished: (session: FrontEndSession) => void,
  ) {
    const peer = formatEndpoint(socket.remoteAddress, socket.remotePort);
    const logger = service.frontEnd.frontLogger ?? service.logger;
    socket.on('error', () => undefined);
    readProxyHeader(socket, timeoutMs).then(
      (header) => {
        if (this.destroyed) return;
        if (header.command === 'proxy' && header.family !== 'tcp4' && header.family !== 'tcp6') {
          this.fail(logger, peer, `unsupported protocol type: ${header.family}`, onFinished);
          return;
        }
        try {
          this.inner = dispatch(socket, service, () => onFinished(this), headerEndpoints(header, socket));
        } catch (e) {
          this.fail(logger, peer, `cannot start a session: ${(e as Error)?.message ?? e}`, onFinished);
          return;
        }
        socket.resume();
      },
      (e: Error) => {
        if (!this.destroyed) this.fail(logger, peer, e.message, onFinished);
        else onFinished(this);
      },
    );
  }

  private fail(logger: Logger, peer: string, reason: string, onFinished: (session: FrontEndSession) => void): void {
    logger.warning(`haproxy read: ${reason} (from ${peer})`);
    this.socket.destroy();
    onFinished(this);
  }

  destroy(): void {
    this.destroyed = true;
    if (this.inner) this.inner.destroy();
    else this.socket.destroy();
  }
}
