/**
 * The backend leg both front ends share (implicit TLS `tlsproxy`,
 * `postscreen`): connect to tlsproxy_backend, send the PROXY header naming
 * the client (v2 with the TLS facts as TLVs: PP2_TYPE_SSL, ALPN, authority),
 * pipe plaintext both ways, and the close rules:
 *
 *  - the backend closes (or fails): nothing more can reach it, so the
 *    client side is finished too (`onBackendClosed`: close_notify after
 *    pending data, or the plaintext socket ended);
 *  - the client side closes: what the backend was sent is flushed, then the
 *    backend connection is closed (`clientGone`).
 *
 * `guard` is the rule of every session handler: an exception ends this
 * session only, with an `internal error` warning.
 */

import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { TlsServerStream } from '../tls/stream.js';
import type { HandshakeInfo } from '../../engine/events.js';
import type { Logger } from '../log/log.js';
import type { TlsService } from '../tls/service.js';
import { connectBackend, type BackendAddress } from './backend.js';
import { encodeProxyHeader, type ConnectionEndpoints, type ProxyProtocolVersion } from './proxy-protocol.js';

/** What the relay needs from its service. */
export interface RelayService {
  readonly logger: Logger;
  readonly tlsService: TlsService;
  readonly backend: BackendAddress;
  readonly connectTimeoutMs: number;
  /** PROXY protocol header towards the backend (default none). */
  readonly backendProxy?: ProxyProtocolVersion;
}

export interface RelayEvents {
  /** The backend connection closed (after an error, too). */
  readonly closed: () => void;
  /** A backend socket error (before its close); default: ignored. */
  readonly error?: (e: Error) => void;
}

export class BackendRelay {
  /** The backend connection, once connected. */
  socket: net.Socket | undefined;
  private client: Duplex | undefined;

  constructor(
    private readonly service: RelayService,
    private readonly endpoints: ConnectionEndpoints,
    private readonly events: RelayEvents,
  ) {}

  /** True when there is no open backend connection (none yet, or closed). */
  get closed(): boolean {
    return !this.socket || this.socket.destroyed;
  }

  /**
   * Connect and send the PROXY header (`info`: the client's TLS handshake, if it
   * has one). Rejects with the system error; `wanted()` false once connected
   * (the session ended meanwhile): the socket is closed and undefined returned.
   */
  async connect(info: HandshakeInfo | undefined, wanted: () => boolean): Promise<net.Socket | undefined> {
    const svc = this.service;
    const backend = await connectBackend(svc.backend, svc.connectTimeoutMs);
    if (!wanted()) {
      backend.destroy();
      return undefined;
    }
    this.socket = backend;
    backend.on('error', (e) => this.events.error?.(e));
    backend.once('close', () => {
      this.unpipe(false);
      this.events.closed();
    });
    const version = svc.backendProxy ?? 'none';
    if (version !== 'none') {
      const extras = info ? { ssl: svc.tlsService.sslTlv(info), ...(info.alpn ? { alpn: info.alpn } : {}), ...(info.serverName ? { authority: info.serverName } : {}) } : {};
      backend.write(encodeProxyHeader(version, this.endpoints.client, this.endpoints.server, extras));
    }
    return backend;
  }

  /** Plaintext both ways from now on (backpressure both ways). */
  pipe(client: Duplex): void {
    const backend = this.socket!;
    this.client = client;
    if (client instanceof TlsServerStream) {
      // pipe() both ways without the stream machinery per record (stream.ts relay()).
      client.relay(backend);
      return;
    }
    client.pipe(backend);
    backend.pipe(client);
  }

  /** Undo pipe() towards the backend (and back, with `both`). */
  private unpipe(both: boolean): void {
    const client = this.client;
    const backend = this.socket;
    if (!client || !backend) return;
    if (client instanceof TlsServerStream) {
      client.unrelay(both);
      return;
    }
    client.unpipe(backend);
    if (both) backend.unpipe(client);
  }

  /** The client side closed: flush what the backend was sent, then close it. */
  clientGone(): void {
    const backend = this.socket;
    if (!backend || backend.destroyed) return;
    this.unpipe(true);
    backend.destroySoon();
  }

  /** Stop sending to the backend (its error). */
  stopSending(): void {
    this.unpipe(false);
  }

  destroy(): void {
    this.socket?.destroy();
  }
}

/** A session's guard: run `fn`; an exception logs `<endpoint>: internal error: ...` and ends this session only (`destroy`). */
export function sessionGuard(logger: Logger, endpoint: () => string, destroy: () => void): (fn: () => void) => void {
  return (fn) => {
    try {
      fn();
    } catch (e) {
      logger.warning(`${endpoint()}: internal error: ${(e as Error)?.stack ?? e}`);
      try {
        destroy();
      } catch {
        // already as closed as it gets
      }
    }
  };
}
