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
 * Relay: plaintext flows both ways through pipe() (backpressure both
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
import type { BackendAddress } from './backend.js';
import { formatEndpoint } from '../base/endpoint.js';
import { strerror } from '../base/errno.js';
import type { Logger } from '../log/log.js';
import { socketEndpoints, type ConnectionEndpoints, type ProxyProtocolVersion } from './proxy-protocol.js';
import { BackendRelay, sessionGuard } from './relay.js';
import type { TlsServerStream } from '../tls/stream.js';
import type { TlsHandOver, TlsService } from '../tls/service.js';
import { anchorFinishedSession } from '../base/shape-anchors.js';

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
  /** The backend leg (relay.ts), shared with the postscreen front end. */
  private readonly relay: BackendRelay;
  private tlsClosed = false;
  private connecting = false;
  private finished = false;
  /** An exception in a handler ends this session only (relay.ts). */
  private readonly guard: (fn: () => void) => void;

  constructor(
    socket: net.Socket,
    private readonly service: SessionService,
    private readonly onFinished: (session: Session) => void,
    endpoints?: ConnectionEndpoints,
  ) {
    this.endpoints = endpoints ?? socketEndpoints(socket);
    this.endpoint = formatEndpoint(this.endpoints.client.address, this.endpoints.client.port);
    socket.setNoDelay(true);
    this.guard = sessionGuard(service.logger, () => this.endpoint, () => this.destroy());
    this.relay = new BackendRelay(service, this.endpoints, {
      error: (e) =>
        this.guard(() => {
          this.service.logger.warning(`backend ${this.service.backend.text} read/write error for ${this.endpoint}: ${strerror(e)}`);
          this.relay.stopSending();
          this.closeTls();
        }),
      // Nothing more can reach the backend: finish the TLS side too.
      closed: () =>
        this.guard(() => {
          this.closeTls();
          this.maybeFinished();
        }),
    });
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
        // Flush what the backend was sent, then close it.
        this.relay.clientGone();
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
    this.relay.destroy();
  }

  private onSecure(): void {
    this.connecting = true;
    this.relay.connect(this.handOver!.info, () => !this.tlsClosed && !this.tls.destroyed).then(
      (backend) =>
        this.guard(() => {
          this.connecting = false;
          if (backend) this.relay.pipe(this.tls);
          else this.maybeFinished();
        }),
      (e) =>
        this.guard(() => {
          this.connecting = false;
          if (!this.tlsClosed) {
            this.service.logger.warning(`connect to backend ${this.service.backend.text} for ${this.endpoint}: ${strerror(e)}`);
            this.closeTls();
          }
          this.maybeFinished();
        }),
    );
  }

  /** Send close_notify after pending data, then close the connection. */
  private closeTls(): void {
    const tls = this.tls;
    if (tls.destroyed) return;
    if (tls.writableFinished) tls.destroy();
    else if (!tls.writableEnded) tls.end();
  }

  private maybeFinished(): void {
    if (this.finished || !this.tlsClosed || !this.relay.closed || this.connecting) return;
    this.finished = true;
    this.handOver!.release();
    anchorFinishedSession(this); // base/shape-anchors.ts
    this.onFinished(this);
  }
}
