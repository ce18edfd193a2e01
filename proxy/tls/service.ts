/**
 * The tlsproxy service inside the daemon: the one interface every front
 * end (implicit TLS `tlsproxy`, SMTP STARTTLS `postscreen`; IMAP, POP3,
 * LMTP later) uses to get TLS for a client connection. It mirrors the
 * requester protocol of Postfix's tlsproxy (tlsproxy-postfix.md §2.2),
 * in-process instead of over private/tlsproxy:
 *
 *   1. request({ remote: '[addr]:port', role: 'server', handshakeTimeout,
 *      sessionTimeout, serverId })        → `CONNECT from [addr]:port`
 *   2. the answer: TLS available or not, with the reason, BEFORE the front
 *      end promises anything to its client (postscreen answers `454 4.7.0
 *      TLS not available due to local problem` on "not available"). Not
 *      available: security level none, no usable certificate, an invalid
 *      protocol list, a bad digest or any other problem loading the TLS
 *      settings, or no capacity (tlsproxy_process_session_limit sessions
 *      in this process already). A refusal logs a warning and `DISCONNECT`.
 *   3. handOver(socket): the client connection becomes a TlsServerStream
 *      (this is the one place that builds one for a client: the front ends
 *      and the Postfix master(8) mode alike, their differences being a
 *      TlsSessionProfile),
 *      the plaintext Duplex the front end reads and writes from then on
 *      (the handshake starts with the first byte the client sends, so the
 *      front end may still write its plaintext "go ahead" on the socket
 *      right after the hand-over, as postscreen writes `220 2.0.0 Ready to
 *      start TLS`);
 *   4. release() when the front end is done with the plaintext side;
 *      `DISCONNECT [addr]:port` is logged once that happened and the TLS
 *      side is closed.
 *
 * The TLS side's log lines are this service's (Postfix's tlsproxy lines,
 * §4.1-4.3): `setting up TLS connection from` (level 2), the cache and
 * ticket lines (level 2), the summary line (level 1), `warning: TLS SNI
 * from ... is invalid`, `warning: TLS library problem: ...`,
 * `warning: ciphertext read/write error|timeout for ...`,
 * `TLS handshake failed for service=<serverId> peer=<remote>`.
 */

import type net from 'node:net';
import { SIGNATURE_ALGORITHM_NAMES } from '../../certs/oids.js';
import { parseCertificate } from '../../certs/x509.js';
import type { HandshakeInfo } from '../../engine/events.js';
import { ConfigError } from '../config/errors.js';
import type { Logger } from '../log/log.js';
import { PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS, PP2_CLIENT_SSL, type SslTlv } from '../base/proxy-tlv.js';
import { metrics } from '../base/metrics-hooks.js';
import type { ResumptionStore } from './resumption.js';
import { ResumptionLog } from './resumption-log.js';
import { notMatchedLine, withSniLog } from './sni-maps.js';
import type { KeyLogFn } from './keylog.js';
import { TlsServerStream, TlsStreamError } from './stream.js';
import { summaryLine } from './summary.js';
import { TlsConnectionLog } from './log.js';
import { ClientCertificateLog } from './client-auth.js';
import type { TlsSettings } from './settings.js';

/** What a front end asks for (the attributes of tlsproxy-postfix.md §2.3, 3.4+). */
export interface TlsRequest {
  /** The remote client as `[addr]:port` (IPv6 inside the brackets); used verbatim (lower case) in log lines. */
  readonly remote: string;
  /** Only the server role exists here. */
  readonly role: 'server';
  /** Seconds for the whole handshake. */
  readonly handshakeTimeout: number;
  /** Seconds without ciphertext activity after the handshake. */
  readonly sessionTimeout: number;
  /** Names the service in `TLS handshake failed for service=...` (postscreen: `smtpd`). */
  readonly serverId: string;
  /** How this caller's sessions differ (absent: the built-in front ends' way). */
  readonly profile?: TlsSessionProfile;
}

/**
 * What differs between the callers of the one hand-over: the built-in
 * front ends (implicit TLS, postscreen) let the service log CONNECT and
 * DISCONNECT and use the summary line of tls_server_sni_maps; the Postfix
 * master(8) mode (postfix/requester.ts) logs its own `CONNECT from|to`
 * and DISCONNECT (its conversation starts before and ends after the TLS
 * session) and words the summary line as its Postfix version does.
 */
export interface TlsSessionProfile {
  /** Log `CONNECT from <remote>` on request (default true). */
  readonly logConnect?: boolean;
  /** Log `DISCONNECT <remote>` on a refusal, a decline, and at the end of the session (default true). */
  readonly logDisconnect?: boolean;
  /** The level-1 summary line (default summary.ts summaryLine). */
  readonly summary?: (info: HandshakeInfo, remote: string, sniMaps: boolean) => string;
}

export interface TlsUnavailable {
  readonly available: false;
  /** Why, for the requester's own log (the service already logged its warning). */
  readonly reason: string;
}

export interface TlsAvailable {
  readonly available: true;
  /** Take the client connection; from now on it is the service's. */
  handOver(socket: net.Socket): TlsHandOver;
  /** Not going to hand over after all (the client went away): frees the reservation, logs DISCONNECT. */
  decline(): void;
}

export type TlsAnswer = TlsAvailable | TlsUnavailable;

/** Why TLS is not available for every request of a service (found at start-up). */
export interface TlsServiceOptions {
  /** master.cf service name (log lines of the daemon). */
  readonly name: string;
  /** Logger of the TLS side (`postfix/tlsproxy`). */
  readonly logger: Logger;
  /** The loaded settings; undefined when TLS cannot work for this service. */
  readonly settings?: TlsSettings;
  /** When settings is undefined: the reason (logged per request). */
  readonly unavailable?: string;
  /** The level resolved to none: Postfix 3.11's per-request `TLS server role is disabled by configuration`. */
  readonly disabled?: boolean;
  readonly resumption?: ResumptionStore;
  /** Most TLS sessions at once in this service's process; 0 = no limit. */
  readonly sessionLimit?: number;
  /** tlsproxy_tls_keylog_file (keylog.ts): where session secrets go; absent = nowhere. */
  readonly keylog?: KeyLogFn;
  /** When settings is undefined: the warning logged per request (default: `TLS server role is not available: <reason>`). */
  readonly unavailableWarning?: string;
}

/** The served certificate's PP2_SUBTYPE_SSL_SIG_ALG and _KEY_ALG (HAProxy's wording). */
interface CertificateAlgorithms {
  readonly sigAlg?: string;
  readonly keyAlg?: string;
}

function certificateAlgorithms(chain: readonly Uint8Array[]): CertificateAlgorithms {
  const leaf = chain[0];
  if (!leaf) return {};
  try {
    const c = parseCertificate(leaf);
    const sigAlg = SIGNATURE_ALGORITHM_NAMES[c.signatureAlgorithm] ?? c.signatureAlgorithm;
    const alg = String(c.keyAlgorithm).toLowerCase();
    const keyAlg =
      alg.startsWith('rsa') ? `RSA${c.keyBits}`
      : alg.startsWith('ec') ? `EC${c.keyBits}`
      : alg === 'ed25519' ? 'ED25519'
      : alg === 'ed448' ? 'ED448'
      : c.keyAlgorithmName.replace(/\s+/g, '');
    return { sigAlg, keyAlg };
  } catch {
    return {};
  }
}

export class TlsService {
  readonly name: string;
  readonly logger: Logger;
  readonly settings: TlsSettings | undefined;
  private readonly unavailable: string | undefined;
  private readonly unavailableWarning: string | undefined;
  private readonly disabled: boolean;
  readonly resumption: ResumptionStore | undefined;
  readonly keylog: KeyLogFn | undefined;
  private readonly sessionLimit: number;
  /** Sessions reserved or handed over and not yet DISCONNECTed. */
  private sessions = 0;
  private readonly algorithms = new Map<string, CertificateAlgorithms>();

  constructor(options: TlsServiceOptions) {
    this.name = options.name;
    this.logger = options.logger;
    this.settings = options.settings;
    this.unavailable = options.settings ? undefined : (options.unavailable ?? 'TLS is not configured');
    this.disabled = !!options.disabled;
    this.unavailableWarning = options.unavailableWarning;
    this.resumption = options.resumption;
    this.keylog = options.keylog;
    this.sessionLimit = options.sessionLimit ?? 0;
    for (const c of this.settings?.config.certificates ?? []) {
      if (c.label !== undefined) this.algorithms.set(c.label, certificateAlgorithms(c.chain));
    }
  }

  /** Whether requests can succeed at all (capacity aside). */
  get configured(): boolean {
    return !!this.settings;
  }

  get loglevel(): number {
    return this.settings?.loglevel ?? 0;
  }

  /** Sessions of this service in this process (reserved or running). */
  get activeSessions(): number {
    return this.sessions;
  }

  /**
   * Step 1-2: log `CONNECT from <remote>` and say whether TLS can be had.
   * A refusal has been logged (warning + DISCONNECT) when this returns.
   */
  request(req: TlsRequest): TlsAnswer {
    const remote = req.remote.toLowerCase();
    const log = this.logger;
    const disconnect = req.profile?.logDisconnect ?? true;
    if (req.profile?.logConnect ?? true) log.info(`CONNECT from ${remote}`);
    const refuse = (reason: string, warning: string): TlsUnavailable => {
      log.warning(warning);
      if (disconnect) log.info(`DISCONNECT ${remote}`);
      return { available: false, reason };
    };
    if (req.role !== 'server') return refuse(`role ${String(req.role)} is not supported`, `tlsp_get_request_event: bad request flags: 0x0`);
    const settings = this.settings;
    if (!settings) {
      const reason = this.unavailable!;
      return refuse(reason, this.unavailableWarning ?? (this.disabled ? 'TLS server role is disabled by configuration' : `TLS server role is not available: ${reason}`));
    }
    if (this.sessionLimit > 0 && this.sessions >= this.sessionLimit) {
      const reason = `${this.sessions} TLS sessions in this process (tlsproxy_process_session_limit = ${this.sessionLimit})`;
      return refuse(reason, `TLS server role is not available for ${remote}: ${reason}`);
    }
    this.sessions++;
    let state: 'reserved' | 'handed' | 'done' = 'reserved';
    return {
      available: true,
      handOver: (socket) => {
        if (state !== 'reserved') throw new Error('TLS service: hand-over after the answer was used');
        state = 'handed';
        return new TlsHandOver(this, settings, socket, remote, req, () => {
          this.sessions--;
        });
      },
      decline: () => {
        if (state !== 'reserved') return;
        state = 'done';
        this.sessions--;
        if (disconnect) log.info(`DISCONNECT ${remote}`);
      },
    };
  }

  /** PP2_TYPE_SSL for a completed handshake (the served certificate's algorithms included). */
  sslTlv(info: HandshakeInfo): SslTlv {
    const cert = info.clientCertificate;
    let client = PP2_CLIENT_SSL;
    if (cert) client |= cert.resumed ? PP2_CLIENT_CERT_SESS : PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS;
    const algs = info.certificateLabel !== undefined ? this.algorithms.get(info.certificateLabel) : undefined;
    const cn = cert?.details?.subjectCN || undefined;
    return {
      client,
      verify: cert && cert.trusted ? 0 : 1,
      version: info.protocol,
      ...(cn ? { cn } : {}),
      cipher: info.cipherName,
      ...(algs?.sigAlg ? { sigAlg: algs.sigAlg } : {}),
      ...(algs?.keyAlg ? { keyAlg: algs.keyAlg } : {}),
    };
  }
}

/**
 * One TLS session of the service: the plaintext stream for the front end
 * and the TLS side's logging. `stream` emits 'secure' (HandshakeInfo),
 * and 'error' only after this object logged it (a front end needs no
 * error listener of its own, but may add one).
 */
export class TlsHandOver {
  readonly stream: TlsServerStream;
  readonly remote: string;
  private released = false;
  private closed = false;
  private finished = false;
  private readonly resumptionLog: ResumptionLog | undefined;
  /** Client-certificate lines (client-auth.ts): depth/verification lines as the chain is verified, peer certificate lines after. */
  private readonly clientCertLog: ClientCertificateLog;
  /** Level 2-4: SSL_accept states, alerts, ciphertext dumps (tls-log.ts). */
  private readonly tlsLog: TlsConnectionLog | undefined;
  /** When the connection was handed over (the handshake duration metric). */
  private readonly started = performance.now();

  constructor(
    private readonly service: TlsService,
    settings: TlsSettings,
    socket: net.Socket,
    remote: string,
    private readonly request: TlsRequest,
    private readonly onDone: () => void,
  ) {
    this.remote = remote;
    const log = service.logger;
    const loglevel = settings.loglevel;
    socket.setNoDelay(true);
    if (loglevel >= 2) log.info(`setting up TLS connection from ${remote}`);
    if (loglevel >= 2 && settings.ciphers) log.info(`${remote}: TLS cipher list "${settings.ciphers.cipherList}"`);
    // At level 2 the session cache and ticket lines of §4.2 (resumption-log.ts).
    this.resumptionLog = loglevel >= 2 ? new ResumptionLog((m) => log.info(m), remote, service.resumption) : undefined;
    let config = this.resumptionLog ? this.resumptionLog.wrap(settings.config) : settings.config;
    // tls_server_sni_maps: names that match no entry are logged as the hook sees them (before ServerHello).
    if (settings.sniMaps) config = withSniLog(config, (name) => log.info(notMatchedLine(name, remote)));
    this.clientCertLog = new ClientCertificateLog(config, log, remote, loglevel);
    config = this.clientCertLog.config;
    const tlsLog = loglevel >= 2
      ? new TlsConnectionLog({ loglevel, info: (m) => log.info(m), endpoint: remote })
      : undefined;
    this.tlsLog = tlsLog;
    this.stream = new TlsServerStream(socket, config, {
      handshakeTimeout: Math.round(request.handshakeTimeout * 1000),
      idleTimeout: Math.round(request.sessionTimeout * 1000),
      trace: tlsLog ? (m) => tlsLog.trace(m) : undefined,
      event: tlsLog ? (e) => tlsLog.event(e) : undefined,
      warning: (m) => log.warning(`${remote}: ${m}`),
      keylog: service.keylog,
    });
    this.stream.once('secure', (info: HandshakeInfo) => this.guard(() => this.onSecure(info, settings)));
    this.stream.on('error', (e: Error) => this.guard(() => this.onError(e)));
    // Once our close_notify is out, close the connection (Postfix does not wait for the peer's).
    this.stream.once('finish', () => this.stream.destroy());
    this.stream.once('close', () => {
      this.closed = true;
      this.maybeDone();
    });
  }

  /** The negotiated parameters, once the handshake completed. */
  get info(): HandshakeInfo | undefined {
    return this.stream.info;
  }

  /** The front end is done with the plaintext side (DISCONNECT follows once the TLS side is closed too). */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (!this.closed) {
      // Flush what is pending with a close_notify; a stream that cannot finish is destroyed.
      if (this.stream.writableFinished || this.stream.destroyed) this.stream.destroy();
      else if (!this.stream.writableEnded) this.stream.end();
    }
    this.maybeDone();
  }

  /** End now (daemon shutdown). */
  destroy(): void {
    this.stream.destroy();
  }

  private onSecure(info: HandshakeInfo, settings: TlsSettings): void {
    const log = this.service.logger;
    this.tlsLog?.secure(info);
    // Postfix looks at SNI (and so warns about an invalid name) only with tls_server_sni_maps.
    if (info.invalidServerName !== undefined && settings.sniMaps) log.warning(`TLS SNI from ${this.remote} is invalid: ${info.invalidServerName}`);
    if (info.resumed && this.resumptionLog) log.info(this.resumptionLog.reusing(info));
    this.clientCertLog.secure(info);
    if (settings.loglevel >= 1) log.info((this.request.profile?.summary ?? summaryLine)(info, this.remote, !!settings.sniMaps));
    metrics?.handshake(this.service.name, handshakeFacts(info), (performance.now() - this.started) / 1000);
  }

  private onError(e: Error): void {
    const log = this.service.logger;
    if (e instanceof TlsStreamError) {
      this.tlsLog?.failed(e.duringHandshake, e.tls);
      switch (e.kind) {
        case 'tls':
          log.warning(`TLS library problem: ${e.message}`);
          break;
        case 'socket':
          log.warning(`ciphertext read/write error for ${this.remote}`);
          break;
        case 'handshake-timeout':
        case 'idle-timeout':
          log.warning(`ciphertext read/write timeout for ${this.remote}`);
          break;
        case 'eof':
          break;
      }
      if (e.duringHandshake) log.info(`TLS handshake failed for service=${this.request.serverId} peer=${this.remote}`);
      if (e.duringHandshake) metrics?.handshakeFailed(this.service.name, e.tls?.cause ?? e.kind, e.tls?.alertName ?? 'none');
    } else {
      log.warning(`${this.remote}: ${e.message}`);
      if (!this.stream.info) log.info(`TLS handshake failed for service=${this.request.serverId} peer=${this.remote}`);
      if (!this.stream.info) metrics?.handshakeFailed(this.service.name, 'internal', 'none');
    }
  }

  private maybeDone(): void {
    if (this.finished || !this.closed || !this.released) return;
    this.finished = true;
    if (this.request.profile?.logDisconnect ?? true) this.service.logger.info(`DISCONNECT ${this.remote}`);
    this.onDone();
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.service.logger.warning(`${this.remote}: internal error: ${(e as Error)?.stack ?? e}`);
      this.stream.destroy();
    }
  }
}

/** The labels of the handshake metrics. */
function handshakeFacts(info: HandshakeInfo): { protocol: string; cipher: string; group: string; resumed?: string } {
  const resumed = !info.resumed ? undefined : info.version === 0x0304 ? 'tls13-ticket' : info.resumedVia === 'session-id' ? 'tls12-session-id' : 'tls12-ticket';
  return { protocol: info.protocol, cipher: info.cipherName, group: info.group || 'none', resumed };
}

/**
 * Load a service's TLS side. `strict` (the implicit-TLS front end: TLS is
 * the whole point) lets a ConfigError stop the start; otherwise (STARTTLS
 * front ends) the problem is logged once now and every request is then
 * answered "not available" with it, as Postfix's tlsproxy does.
 */
export async function loadTlsService(
  options: Omit<TlsServiceOptions, 'settings' | 'unavailable' | 'disabled'> & { readonly strict: boolean; readonly logWarnings: boolean },
  load: () => Promise<TlsSettings>,
): Promise<TlsService> {
  try {
    const settings = await load();
    return new TlsService({ ...options, settings });
  } catch (e) {
    if (options.strict || !(e instanceof ConfigError)) throw e;
    const disabled = /disabled by configuration/.test(e.message);
    if (options.logWarnings && !disabled) options.logger.warning(e.message);
    return new TlsService({ ...options, unavailable: e.message, disabled });
  }
}
