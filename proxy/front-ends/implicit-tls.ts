/**
 * The `tlsproxy` front end (implicit TLS): one client connection handed to
 * the TLS service at once (tls-service.ts), then relayed to the backend.
 *
 * Log lines (tlsproxy-postfix.md §4), all from the TLS service except the
 * backend ones:
 *   CONNECT from [ip]:port
 *   [ip]:port: Reusing old session ...      at tlsproxy_tls_loglevel >= 2, with the
 *                                           other cache/ticket lines (resumption-log.ts)
 *   <summary line>                          at tlsproxy_tls_loglevel >= 1
 *   warning: TLS library problem: ...       on a TLS failure
 *   warning: ciphertext read/write error|timeout for [ip]:port
 *   TLS handshake failed for service=<service> peer=[ip]:port
 *   warning: connect to backend ... / backend ... read/write error ...
 *   DISCONNECT [ip]:port                    always, last
 *
 * Relay: plaintext flows both ways through TlsServerStream.relay() (pipe() semantics, backpressure both
 * ways). The client's close_notify (or EOF) half-closes the backend, whose
 * answers are still relayed until it closes. The backend's EOF (or
 * error) sends close_notify after pending data and then closes both
 * connections, as Postfix does (it never waits for the peer's close_notify).
 * With tlsproxy_backend_proxy_protocol = v1|v2 the backend first gets a
 * PROXY header naming the client (proxy-protocol.ts).
 *
 * Nothing a session does can throw into the daemon: every handler is
 * guarded and a failure only ends this session.
 */

import type net from 'node:net';
import { connectBackend, type BackendAddress } from './backend.js';
import { formatEndpoint } from '../base/endpoint.js';
import { strerror } from '../base/errno.js';
import type { Logger } from '../log/log.js';
import { encodeProxyHeader, socketEndpoints, type ConnectionEndpoints, type ProxyProtocolVersion } from './proxy-protocol.js';
import type { TlsServerStream } from '../tls/stream.js';
import type { TlsHandOver, TlsService } from '../tls/service.js';

/** What a session needs from its service. */
export interface SessionService {
  /** master.cf service name, for `TLS handshake failed for service=...`. */
  readonly name: string;
  readonly logger: Logger;
  /** The TLS service every front end asks (tls-service.ts). */
  readonly tlsService: TlsService;
  readonly backend: BackendAddress;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** PROXY protocol header towards the backend (default none). */
  readonly backendProxy?: ProxyProtocolVersion;
}

export class Session {
  readonly endpoint: string;
  /** The TLS side (undefined when the TLS service refused the connection). */
  readonly handOver: TlsHandOver | undefined;
  private readonly endpoints: ConnectionEndpoints;
  private backend: net.Socket | undefined;
  private tlsClosed = false;
  /** True while no backend socket is open (none yet, or closed). */
  private backendClosed = true;
  private connecting = false;
  private finished = false;

  constructor(
    socket: net.Socket,
    private readonly service: SessionService,
    private readonly onFinished: (session: Session) => void,
    endpoints?: ConnectionEndpoints,
  ) {
    this.endpoints = endpoints ?? socketEndpoints(socket);
    this.endpoint = formatEndpoint(this.endpoints.client.address, this.endpoints.client.port);
    socket.setNoDelay(true);
    const answer = service.tlsService.request({
      remote: this.endpoint,
      role: 'server',
      handshakeTimeout: service.handshakeTimeoutMs / 1000,
      sessionTimeout: service.idleTimeoutMs / 1000,
      serverId: service.name,
    });
    if (!answer.available) {
      // Implicit TLS has nothing else to offer: close (the service logged why).
      this.handOver = undefined;
      this.finished = true;
      socket.destroy();
      process.nextTick(() => onFinished(this));
      return;
    }
    this.handOver = answer.handOver(socket);
    const tls = this.tls;
    tls.once('secure', () => this.guard(() => this.onSecure()));
    tls.once('close', () =>
      this.guard(() => {
        this.tlsClosed = true;
        if (this.backend) {
          this.backend.unpipe(tls);
          // Flush what the backend was sent, then close it.
          if (!this.backend.destroyed) this.backend.destroySoon();
        }
        this.maybeFinished();
      }),
    );
  }

  /** The plaintext side of the client connection. */
  get tls(): TlsServerStream {
    return this.handOver!.stream;
  }

  /** End the session now (daemon shutdown). */
  destroy(): void {
    this.handOver?.destroy();
    this.backend?.destroy();
  }

  private onSecure(): void {
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
    const version = this.service.backendProxy ?? 'none';
    if (version !== 'none') {
      const info = this.handOver!.info;
      const extras = info ? { ssl: this.service.tlsService.sslTlv(info), ...(info.alpn ? { alpn: info.alpn } : {}), ...(info.serverName ? { authority: info.serverName } : {}) } : {};
      backend.write(encodeProxyHeader(version, this.endpoints.client, this.endpoints.server, extras));
    }
    // Both ways, as tls.pipe(backend) + backend.pipe(tls) would, without the stream machinery per record.
    this.tls.relay(backend);
  }

  /** Send close_notify after pending data, then close the connection. */
  private closeTls(): void {
    const tls = this.tls;
    if (tls.destroyed) return;
    if (tls.writableFinished) tls.destroy();
    else if (!tls.writableEnded) tls.end();
  }

  private maybeFinished(): void {
    if (this.finished || !this.tlsClosed || !this.backendClosed || this.connecting) return;
    this.finished = true;
    this.handOver!.release();
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
