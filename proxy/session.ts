/**
 * One client connection: TLS handshake, backend connection, relay, logging.
 *
 * Log lines (tlsproxy-postfix.md §4):
 *   CONNECT from [ip]:port
 *   [ip]:port: Reusing old session ...      at tlsproxy_tls_loglevel >= 2, with the
 *                                           other cache/ticket lines (resumption-log.ts)
 *   <summary line>                          at tlsproxy_tls_loglevel >= 1
 *   warning: TLS library problem: ...       on a TLS failure
 *   warning: ciphertext read/write error|timeout for [ip]:port
 *   TLS handshake failed for service=<service> peer=[ip]:port
 *   DISCONNECT [ip]:port                    always, last
 *
 * Relay: plaintext flows both ways through pipe() (backpressure both
 * ways). The client's close_notify (or EOF) half-closes the backend, whose
 * answers are still relayed until it closes. The backend's EOF (or
 * error) sends close_notify after pending data and then closes both
 * connections, as Postfix does (it never waits for the peer's close_notify).
 *
 * Nothing a session does can throw into the daemon: every handler is
 * guarded and a failure only ends this session.
 */

import type net from 'node:net';
import type { HandshakeInfo } from '../engine/events.js';
import { connectBackend, type BackendAddress } from './backend.js';
import { formatEndpoint } from './endpoint.js';
import { strerror } from './errno.js';
import type { Logger } from './log.js';
import type { ResumptionStore } from './resumption.js';
import { ResumptionLog } from './resumption-log.js';
import { notMatchedLine, withSniLog } from './sni-maps.js';
import { TlsServerStream, TlsStreamError } from './stream.js';
import { summaryLine } from './summary.js';
import type { TlsSettings } from './tls-settings.js';

/** What a session needs from its service. */
export interface SessionService {
  /** master.cf service name, for `TLS handshake failed for service=...`. */
  readonly name: string;
  readonly logger: Logger;
  readonly tls: TlsSettings;
  readonly backend: BackendAddress;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Where ticket keys come from (for the key expiration in level-2 lines). */
  readonly resumption?: ResumptionStore;
}

export class Session {
  readonly endpoint: string;
  readonly tls: TlsServerStream;
  private backend: net.Socket | undefined;
  private tlsClosed = false;
  /** True while no backend socket is open (none yet, or closed). */
  private backendClosed = true;
  private connecting = false;
  private finished = false;
  private readonly resumptionLog: ResumptionLog | undefined;

  constructor(
    socket: net.Socket,
    private readonly service: SessionService,
    private readonly onFinished: (session: Session) => void,
  ) {
    const log = service.logger;
    const loglevel = service.tls.loglevel;
    this.endpoint = formatEndpoint(socket.remoteAddress, socket.remotePort);
    socket.setNoDelay(true);
    log.info(`CONNECT from ${this.endpoint}`);
    if (loglevel >= 2) log.info(`setting up TLS connection from ${this.endpoint}`);
    // At level 2 the session cache and ticket lines of §4.2 (resumption-log.ts).
    this.resumptionLog = loglevel >= 2 ? new ResumptionLog((m) => log.info(m), this.endpoint, service.resumption) : undefined;
    let config = this.resumptionLog ? this.resumptionLog.wrap(service.tls.config) : service.tls.config;
    // tls_server_sni_maps: names that match no entry are logged as the hook sees them (before ServerHello).
    if (service.tls.sniMaps) config = withSniLog(config, (name) => log.info(notMatchedLine(name, this.endpoint)));
    this.tls = new TlsServerStream(socket, config, {
      handshakeTimeout: service.handshakeTimeoutMs,
      idleTimeout: service.idleTimeoutMs,
      trace: loglevel >= 2 ? (m) => log.info(`${this.endpoint}: ${m}`) : undefined,
      warning: (m) => log.warning(`${this.endpoint}: ${m}`),
    });
    this.tls.once('secure', (info: HandshakeInfo) => this.guard(() => this.onSecure(info)));
    this.tls.on('error', (e: Error) => this.guard(() => this.onTlsError(e)));
    // Once our close_notify is out, close the connection (Postfix does not wait for the peer's).
    this.tls.once('finish', () => this.tls.destroy());
    this.tls.once('close', () =>
      this.guard(() => {
        this.tlsClosed = true;
        if (this.backend) {
          this.backend.unpipe(this.tls);
          // Flush what the backend was sent, then close it.
          if (!this.backend.destroyed) this.backend.destroySoon();
        }
        this.maybeFinished();
      }),
    );
  }

  /** End the session now (daemon shutdown). */
  destroy(): void {
    this.tls.destroy();
    this.backend?.destroy();
  }

  private onSecure(info: HandshakeInfo): void {
    const log = this.service.logger;
    // Postfix looks at SNI (and so warns about an invalid name) only with tls_server_sni_maps.
    if (info.invalidServerName !== undefined && this.service.tls.sniMaps) log.warning(`TLS SNI from ${this.endpoint} is invalid: ${info.invalidServerName}`);
    if (info.resumed && this.resumptionLog) log.info(this.resumptionLog.reusing());
    if (this.service.tls.loglevel >= 1) log.info(summaryLine(info, this.endpoint, this.service.tls.sniMaps));
    this.backendClosed = false;
    this.connecting = true;
    connectBackend(this.service.backend, this.service.connectTimeoutMs).then(
      (socket) => this.guard(() => this.onBackendConnected(socket)),
      (e) => this.guard(() => this.onBackendFailed(e)),
    );
  }

  private onBackendFailed(e: unknown): void {
    this.connecting = false;
    this.backendClosed = true;
    if (this.tlsClosed) {
      this.maybeFinished();
      return;
    }
    this.service.logger.warning(`connect to backend ${this.service.backend.text} for ${this.endpoint}: ${strerror(e)}`);
    this.closeTls();
  }

  private onBackendConnected(backend: net.Socket): void {
    this.connecting = false;
    if (this.tlsClosed || this.tls.destroyed) {
      backend.destroy();
      this.backendClosed = true;
      this.maybeFinished();
      return;
    }
    this.backend = backend;
    backend.on('error', (e) =>
      this.guard(() => {
        this.service.logger.warning(`backend ${this.service.backend.text} read/write error for ${this.endpoint}: ${strerror(e)}`);
        this.tls.unpipe(backend);
        this.closeTls();
      }),
    );
    backend.once('close', () =>
      this.guard(() => {
        this.backendClosed = true;
        this.tls.unpipe(backend);
        // Nothing more can reach the backend: finish the TLS side too.
        this.closeTls();
        this.maybeFinished();
      }),
    );
    this.tls.pipe(backend);
    backend.pipe(this.tls);
  }

  /** Send close_notify after pending data, then close the connection. */
  private closeTls(): void {
    const tls = this.tls;
    if (tls.destroyed) return;
    if (tls.writableFinished) tls.destroy();
    else if (!tls.writableEnded) tls.end();
  }

  private onTlsError(e: Error): void {
    const log = this.service.logger;
    if (e instanceof TlsStreamError) {
      switch (e.kind) {
        case 'tls':
          log.warning(`TLS library problem: ${e.message}`);
          break;
        case 'socket':
          log.warning(`ciphertext read/write error for ${this.endpoint}`);
          break;
        case 'handshake-timeout':
        case 'idle-timeout':
          log.warning(`ciphertext read/write timeout for ${this.endpoint}`);
          break;
        case 'eof':
          break;
      }
      if (e.duringHandshake) log.info(`TLS handshake failed for service=${this.service.name} peer=${this.endpoint}`);
    } else {
      log.warning(`${this.endpoint}: ${e.message}`);
      if (!this.tls.info) log.info(`TLS handshake failed for service=${this.service.name} peer=${this.endpoint}`);
    }
  }

  private maybeFinished(): void {
    if (this.finished || !this.tlsClosed || !this.backendClosed || this.connecting) return;
    this.finished = true;
    this.service.logger.info(`DISCONNECT ${this.endpoint}`);
    this.onFinished(this);
  }

  /** Run `fn`; an exception ends this session only. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.service.logger.warning(`${this.endpoint}: internal error: ${(e as Error)?.stack ?? e}`);
      try {
        this.destroy();
      } catch {
        // already as closed as it gets
      }
    }
  }
}
