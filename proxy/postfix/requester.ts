/**
 * One requester connection on private/tlsproxy (tlsproxy-postfix.md §2.2):
 *
 *   greeting (3.6+) -> request -> [second list] -> status -> descriptor
 *   -> TLS handshake with the remote peer -> [context] -> relay
 *
 * Until the remote peer's socket has arrived, the requester socket is
 * driven by the addon's Poller with recvmsg(): libuv must never read it,
 * because read(2) on the byte that carries SCM_RIGHTS silently destroys
 * the descriptor (postfix-master-dropin.md §5, trap 9). Once the
 * descriptor is in, the Poller is closed and both descriptors become
 * net.Sockets: the remote peer's handed over to the TLS service
 * (tls/service.ts, the same hand-over as the built-in front ends, with a
 * profile for what differs here), the requester's as the plaintext side.
 *
 * Log lines (§4.1): `CONNECT from|to|(bogus_direction) <endpt>` (ours),
 * `DISCONNECT <endpt>` (ours, whenever a request was parsed), `TLS
 * handshake failed for service=<serverid> peer=<endpt>` (ours for an fd
 * receive failure); everything of the TLS session is the TLS service's:
 * level 2-4 lines, SNI and client-certificate lines, the summary
 * (level >= 1) as this Postfix version words it, the warnings, the
 * handshake failure; the key log and tlsproxy_process_session_limit too.
 *
 * Termination (§2.9): the requester's EOF sends close_notify and closes
 * both sides; the remote peer's close or a TLS failure first lets the
 * decrypted data out to the requester, then closes both.
 */

import net from 'node:net';
import type { HandshakeInfo } from '../../engine/events.js';
import { strerror } from '../base/errno.js';
import type { Logger } from '../log/log.js';
import type { TlsAvailable, TlsHandOver, TlsService, TlsSessionProfile } from '../tls/service.js';
import { summaryLine } from '../tls/summary.js';
import type { TlsSettings } from '../tls/settings.js';
import { AttrError, AttrListReader } from './attr.js';
import type { NativeAddon, Poller } from '../base/native.js';
import { anchorFinishedSession } from '../base/shape-anchors.js';
import {
  atLeast,
  connectLine,
  encodeContext,
  expectsSecondList,
  FLAG_PROBE_ONLY,
  FLAG_SEND_CONTEXT,
  GREETING,
  hasGreeting,
  keyExchange,
  parseRequest,
  roleOf,
  statusReply,
  type PostfixVersion,
  type Request,
} from './protocol.js';

/** TLSP_INIT_TIMEOUT: waiting for the request, the descriptor, or the close after a refusal. */
export const INIT_TIMEOUT_MS = 100_000;

export type ServerRole = { readonly available: true; readonly tls: TlsSettings } | { readonly available: false; readonly reason: string; readonly warning: string };

export interface RequesterContext {
  readonly native: NativeAddon;
  readonly logger: Logger;
  readonly version: PostfixVersion;
  /** The server role: the TLS service of this process (its settings already at level 2 with -v). */
  readonly tls: TlsService;
  /** Timeout for the pre-handshake waits (tests shorten it). */
  readonly initTimeoutMs?: number;
}

type Phase = 'request' | 'settings' | 'refused' | 'fd' | 'tls' | 'closed';

/**
 * The summary line for `version`: Postfix 3.4-3.9 name the key exchange
 * from the peer's ephemeral key (`X25519`, `ECDHE (prime256v1)`,
 * `DHE (2048 bits)`), 3.10+ with OpenSSL 3 by the group (`x25519`).
 */
export function summaryFor(info: HandshakeInfo, endpoint: string, version: PostfixVersion, sniMaps = false): string {
  const line = summaryLine(info, endpoint, sniMaps);
  if (atLeast(version, 3, 10) || info.protocol !== 'TLSv1.3' || !info.group) return line;
  const k = keyExchange(info.group, version);
  const text = k.curve ? `${k.name} (${k.curve})` : k.bits ? `${k.name} (${k.bits} bits)` : k.name;
  return line.replace(` key-exchange ${info.group}`, ` key-exchange ${text}`);
}

export class RequesterSession {
  private phase: Phase = 'request';
  private poller: Poller | undefined;
  private readonly out: Buffer[] = [];
  private reader = new AttrListReader();
  private request: Request | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Set from the status 1 reply until the handshake completed (Postfix's handshake flag). */
  private handshaking = false;
  /** The TLS service's yes (a reserved session) until the hand-over. */
  private reservation: TlsAvailable | undefined;
  private handOver: TlsHandOver | undefined;
  private plain: net.Socket | undefined;
  /** The requester descriptor is ours to close (not yet owned by a net.Socket). */
  private rawOpen = true;
  private tlsClosed = false;
  private plainClosed = false;
  private done = false;
  private afterWrite: (() => void) | undefined;
  /** How the TLS service's session differs for a Postfix requester. */
  private readonly profile: TlsSessionProfile;

  constructor(
    private readonly fd: number,
    private readonly ctx: RequesterContext,
    private readonly onDone: (session: RequesterSession) => void,
  ) {
    const version = ctx.version;
    this.profile = { logConnect: false, logDisconnect: false, summary: (info, remote, sniMaps) => summaryFor(info, remote, version, sniMaps) };
  }

  get endpoint(): string | undefined {
    return this.request?.endpoint;
  }

  /** Called right after accept(): greet (3.6+) and wait for the request. */
  start(): void {
    this.guard(() => {
      this.poller = new this.ctx.native.Poller(this.fd, (status, readable, writable) => this.guard(() => this.onEvent(status, readable, writable)));
      if (hasGreeting(this.ctx.version) && !this.write(GREETING, 'write protocol attribute')) return;
      this.arm('request');
      this.updatePoll();
    });
  }

  /** End now (SIGTERM path; normally the process just exits). */
  destroy(): void {
    this.handOver?.destroy();
    this.plain?.destroy();
    this.close();
  }

  // ------------------------------------------------------------ pre-handshake I/O

  /** Still in the pre-handshake conversation (the phase changes under the handlers). */
  private get active(): boolean {
    return this.phase !== 'closed' && this.phase !== 'tls';
  }

  private onEvent(status: number, readable: boolean, writable: boolean): void {
    if (this.phase === 'closed' || this.phase === 'tls') return;
    if (status < 0) {
      this.fail(`tlsp_get_request_event: poll: ${status}`);
      return;
    }
    if (writable && this.out.length) this.flush('write protocol attribute');
    if (readable && this.active) this.onReadable();
    if (this.active) this.updatePoll();
  }

  private updatePoll(): void {
    if (!this.poller) return;
    // While output is pending nothing is read: the requester waits for it anyway.
    if (this.out.length) this.poller.start(false, true);
    else this.poller.start(true, false);
  }

  /** Queue `data` and try to send it; false when the session was ended by the failure. */
  private write(data: Buffer, what: string): boolean {
    this.out.push(data);
    return this.flush(what);
  }

  private flush(what: string): boolean {
    while (this.out.length) {
      const head = this.out[0]!;
      let n: number;
      try {
        n = this.ctx.native.send(this.fd, head);
      } catch (e) {
        this.ctx.logger.warning(`${what}: ${strerror(e)}`);
        this.close();
        return false;
      }
      if (n < 0) break;
      if (n < head.length) {
        this.out[0] = head.subarray(n);
        break;
      }
      this.out.shift();
    }
    if (!this.out.length && this.afterWrite) {
      const next = this.afterWrite;
      this.afterWrite = undefined;
      next();
    }
    return this.phase !== 'closed';
  }

  private onReadable(): void {
    switch (this.phase) {
      case 'request':
      case 'settings':
        this.readAttributes();
        return;
      case 'refused':
        this.drainAfterRefusal();
        return;
      case 'fd':
        this.receiveDescriptor();
        return;
      default:
        return;
    }
  }

  private readAttributes(): void {
    const where = this.phase === 'request' ? 'tlsp_get_request_event: receive request attributes' : 'tlsp_get_request_event: receive client TLS settings';
    let r;
    try {
      r = this.ctx.native.recvFd(this.fd, 4096);
    } catch (e) {
      this.fail(`${where}: ${strerror(e)}`);
      return;
    }
    if (!r) return;
    if (r.fd >= 0) this.closeQuietly(r.fd); // a descriptor before the status reply is a protocol error; drop it
    if (!r.data.length) {
      this.fail(`${where}: ${this.reader.attrs.length || this.reader.pending !== undefined ? 'premature end-of-input' : 'Connection reset by peer'}`);
      return;
    }
    let used: number;
    try {
      used = this.reader.feed(r.data);
    } catch (e) {
      this.fail(`${where}: ${(e as Error).message}`);
      return;
    }
    if (!this.reader.done) return;
    const rest = r.data.subarray(used);
    if (this.phase === 'request') {
      try {
        this.request = parseRequest(this.reader.attrs);
      } catch (e) {
        this.fail(`${where}: ${e instanceof AttrError ? e.message : String(e)}`);
        return;
      }
      const role = roleOf(this.request.flags);
      this.ctx.logger.info(connectLine(role, this.request.endpoint));
      if (expectsSecondList(this.request, this.ctx.version)) {
        this.phase = 'settings';
        this.reader = new AttrListReader();
        if (rest.length) this.feedRest(rest, where);
        return;
      }
    }
    if (rest.length) {
      this.fail(`${where}: ${rest.length} unexpected bytes after the attribute list`);
      return;
    }
    this.answer();
  }

  /** Bytes of the second list that came with the first. */
  private feedRest(rest: Buffer, where: string): void {
    try {
      const used = this.reader.feed(rest);
      if (!this.reader.done) return;
      if (used !== rest.length) {
        this.fail(`${where}: ${rest.length - used} unexpected bytes after the attribute list`);
        return;
      }
    } catch (e) {
      this.fail(`${where}: ${(e as Error).message}`);
      return;
    }
    this.answer();
  }

  /** Status 1 or 0 (§2.5). */
  private answer(): void {
    const req = this.request!;
    const log = this.ctx.logger;
    const role = roleOf(req.flags);
    let ok = false;
    if (role === 'bogus') {
      log.warning(`tlsp_get_request_event: bad request flags: 0x${req.flags.toString(16)}`);
    } else if (role === 'client') {
      log.warning(`TLS client role is not available: this tlsproxy implements the server role only`);
    } else {
      // 3.4+: the handshake timeout as sent; before, the one timeout + 10 s (§2.8).
      const handshakeSeconds = req.form === '3.4' ? req.handshakeTimeout : req.handshakeTimeout + 10;
      const answer = this.ctx.tls.request({
        remote: req.endpoint,
        role: 'server',
        handshakeTimeout: Math.max(1, handshakeSeconds),
        sessionTimeout: req.sessionTimeout + 10,
        serverId: req.serverId,
        profile: this.profile,
      });
      // A refusal (not configured, the session limit) has been logged by the service.
      if (answer.available) {
        ok = true;
        this.reservation = answer;
      }
    }
    if (req.flags & FLAG_PROBE_ONLY) {
      this.reservation?.decline();
      this.reservation = undefined;
      this.afterWrite = () => this.close();
      this.write(statusReply(ok), 'write protocol attribute');
      return;
    }
    if (!ok) {
      this.phase = 'refused';
      this.arm('refused');
      this.write(statusReply(false), 'write protocol attribute');
      return;
    }
    this.phase = 'fd';
    this.handshaking = true;
    this.arm('fd');
    this.write(statusReply(true), 'write protocol attribute');
  }

  private drainAfterRefusal(): void {
    for (let i = 0; i < 16; i++) {
      let r;
      try {
        r = this.ctx.native.recvFd(this.fd, 4096);
      } catch {
        this.close();
        return;
      }
      if (!r) return;
      if (r.fd >= 0) this.closeQuietly(r.fd);
      if (!r.data.length) {
        this.close();
        return;
      }
    }
  }

  private receiveDescriptor(): void {
    const where = 'tlsp_get_fd_event: receive remote SMTP peer file descriptor';
    let r;
    try {
      r = this.ctx.native.recvFd(this.fd, 1);
    } catch (e) {
      this.fail(`${where}: ${strerror(e)}`);
      return;
    }
    if (!r) return;
    if (r.fd < 0) {
      this.fail(`${where}: ${r.data.length ? 'no descriptor came with the data' : 'premature end-of-input'}`);
      return;
    }
    this.startTls(r.fd);
  }

  private arm(phase: 'request' | 'refused' | 'fd'): void {
    clearTimeout(this.timer);
    const ms = this.ctx.initTimeoutMs ?? INIT_TIMEOUT_MS;
    this.timer = setTimeout(
      () =>
        this.guard(() => {
          if (this.phase === 'closed' || this.phase === 'tls') return;
          if (phase === 'refused') this.close();
          else if (phase === 'fd') this.fail('tlsp_get_fd_event: receive remote SMTP peer file descriptor: timeout');
          else this.fail(`tlsp_get_request_event: receive ${this.phase === 'settings' ? 'client TLS settings' : 'request attributes'}: timeout`);
        }),
      ms,
    );
  }

  /** A warning, then the session ends (DISCONNECT if the request was parsed). */
  private fail(warning: string): void {
    this.ctx.logger.warning(warning);
    this.close();
  }

  private stopPolling(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.poller?.close();
    this.poller = undefined;
  }

  /** End before or instead of TLS. */
  private close(): void {
    if (this.phase === 'closed') return;
    const wasTls = this.phase === 'tls';
    this.phase = 'closed';
    this.stopPolling();
    if (!this.handOver) this.reservation?.decline();
    if (this.rawOpen) {
      this.rawOpen = false;
      this.closeQuietly(this.fd);
    }
    if (!wasTls) this.finish();
  }

  private closeQuietly(fd: number): void {
    try {
      this.ctx.native.close(fd);
    } catch {
      // already closed
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    const req = this.request;
    if (req && this.handshaking) this.ctx.logger.info(`TLS handshake failed for service=${req.serverId} peer=${req.endpoint}`);
    if (req) this.ctx.logger.info(`DISCONNECT ${req.endpoint}`);
    anchorFinishedSession(this); // base/shape-anchors.ts
    this.onDone(this);
  }

  // ------------------------------------------------------------ TLS and relay

  private startTls(clientFd: number): void {
    this.stopPolling();
    this.phase = 'tls';
    let socket: net.Socket;
    try {
      socket = new net.Socket({ fd: clientFd, readable: true, writable: true, allowHalfOpen: true });
    } catch (e) {
      this.closeQuietly(clientFd);
      this.phase = 'request'; // let close() run its course
      this.fail(`tlsp_get_fd_event: remote SMTP peer file descriptor: ${strerror(e)}`);
      return;
    }
    // From here on the TLS service logs the handshake's failure (`TLS handshake failed for ...`).
    this.handshaking = false;
    const handOver = this.reservation!.handOver(socket);
    this.handOver = handOver;
    const tls = handOver.stream;
    tls.once('secure', (info: HandshakeInfo) => this.guard(() => this.onSecure(info)));
    tls.once('close', () =>
      this.guard(() => {
        this.tlsClosed = true;
        handOver.release();
        if (this.plain) {
          tls.unpipe(this.plain);
          // Whatever was decrypted is on its way to the requester: flush it, then close.
          if (!this.plain.destroyed) this.plain.destroySoon();
        } else if (this.rawOpen) {
          this.rawOpen = false;
          this.closeQuietly(this.fd);
          this.plainClosed = true;
        }
        this.maybeFinished();
      }),
    );
  }

  /** After the TLS service's lines (summary...): the plaintext side, the context (SEND_CONTEXT), the relay. */
  private onSecure(info: HandshakeInfo): void {
    const req = this.request!;
    const log = this.ctx.logger;
    const tls = this.handOver!.stream;
    // The plaintext side: libuv may read the requester socket from now on.
    this.rawOpen = false;
    const plain = new net.Socket({ fd: this.fd, readable: true, writable: true, allowHalfOpen: true });
    this.plain = plain;
    plain.on('error', () => {
      // Plaintext read/write error: stop, close_notify, close (no line of its own in Postfix).
      this.guard(() => this.handOver?.release());
    });
    plain.once('close', () =>
      this.guard(() => {
        this.plainClosed = true;
        plain.unpipe(tls);
        // close_notify after pending data, then close.
        this.handOver?.release();
        this.maybeFinished();
      }),
    );
    if (req.flags & FLAG_SEND_CONTEXT) {
      // Before any decrypted byte, so that the remote peer cannot inject into it.
      plain.write(encodeContext(info, req.endpoint, this.ctx.version), (e) => {
        if (e) {
          this.guard(() => {
            log.warning(`cannot send TLS context: ${strerror(e)}`);
            tls.destroy();
            plain.destroy();
          });
        }
      });
    }
    tls.pipe(plain);
    plain.pipe(tls);
  }

  private maybeFinished(): void {
    if (!this.tlsClosed || !this.plainClosed) return;
    this.phase = 'closed';
    this.finish();
  }

  /** Run `fn`; an exception ends this session only. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.ctx.logger.warning(`${this.request?.endpoint ?? 'tlsproxy'}: internal error: ${(e as Error)?.stack ?? e}`);
      try {
        this.handOver?.destroy();
        this.plain?.destroy();
        if (this.phase !== 'tls') this.close();
      } catch {
        // as closed as it gets
      }
    }
  }
}
