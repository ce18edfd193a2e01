/**
 * The `postscreen` front end: an SMTP server that speaks the first part of
 * the dialogue itself, gets TLS from the TLS service on STARTTLS, and then
 * relays the client to the backend SMTP server (tlsproxy_backend).
 *
 * Dialogue (replies exactly as postscreen's dummy engine and
 * tlsproxy-postfix.md §5):
 *
 *   greeting     220 <smtpd_banner>
 *   HELO/EHLO    250 <myhostname> / the dummy EHLO list (settings.ts), STARTTLS
 *                only before TLS and when offered; without a name:
 *                501 Syntax: HELO hostname / 501 Syntax: EHLO hostname
 *   NOOP         250 2.0.0 Ok
 *   RSET         250 2.0.0 Ok
 *   QUIT         221 2.0.0 Bye, then the connection is closed
 *   STARTTLS     501 5.5.4 Syntax: STARTTLS            with arguments
 *                554 5.5.1 Error: TLS already active
 *                502 5.5.1 Error: command not implemented   (not offered)
 *                454 4.7.0 TLS not available due to local problem   (the TLS
 *                    service said no: the plaintext dialogue goes on)
 *                220 2.0.0 Ready to start TLS          (written after the hand-over;
 *                    input the client sent after STARTTLS and before TLS is
 *                    discarded and logged: CVE-2011-0411; HELO is forgotten)
 *   encrypt, before TLS: MAIL RCPT DATA BDAT RSET VRFY ETRN get
 *                530 5.7.0 Must issue a STARTTLS command first
 *                and unknown or disabled commands (AUTH...)
 *                502 5.5.2 Error: command not recognized
 *
 * Relay: after TLS, the client's EHLO/HELO (or, in plaintext under `may`,
 * the first command other than the ones above) starts the relay: connect
 * to the backend, optionally send a PROXY header naming the client (with
 * the TLS facts in v2 TLVs), consume the backend's greeting, then
 *   - EHLO/HELO: forward it and return the backend's reply without
 *     STARTTLS;
 *   - another command: replay the client's earlier HELO/EHLO (if any) and
 *     swallow its reply, then forward the command;
 * and from then on copy bytes both ways. A backend that cannot be reached
 * or greets with anything but 2xx: `421 <myhostname> Service unavailable -
 * try again later` and the session ends.
 *
 * Limits: line_length_limit (`COMMAND LENGTH LIMIT`), postscreen_command_count_limit
 * (`COMMAND COUNT LIMIT`), postscreen_command_time_limit per command
 * (`COMMAND TIME LIMIT`, `421 4.4.2 <myhostname> Error: timeout exceeded`)
 * before the relay; tlsproxy_session_timeout idle limit during it.
 *
 * Log lines (tag postfix/postscreen): `CONNECT from [ip]:port to [ip]:port`,
 * `warning: ...` for discarded plaintext, `COMMAND ... LIMIT from ...`,
 * `HANGUP after <s> from [ip]:port in tests after SMTP handshake`,
 * `RELAY [ip]:port to <backend> after <COMMAND>[ with TLS]`,
 * `DISCONNECT [ip]:port`. The TLS service logs its own lines (postfix/tlsproxy).
 */

import { metrics } from '../../base/metrics-hooks.js';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { formatEndpoint } from '../../base/endpoint.js';
import { strerror } from '../../base/errno.js';
import { escapeBytes, socketEndpoints, type ConnectionEndpoints } from '../proxy-protocol.js';
import type { SessionService } from '../implicit-tls.js';
import { BackendRelay, sessionGuard } from '../relay.js';
import type { TlsHandOver } from '../../tls/service.js';
import { anchorFinishedSession } from '../../base/shape-anchors.js';
import type { PostscreenSettings } from './settings.js';
import { ReplyReader, commandArgs, commandVerb, formatReply, withoutStarttls } from './smtp.js';

/** A session service (proxy/session.ts) whose logger writes `postfix/postscreen` lines, plus postscreen's settings. */
export interface PostscreenService extends SessionService {
  readonly postscreen: PostscreenSettings;
}

/** Commands postscreen knows that need TLS first under encrypt (not PSC_SMTPD_CMD_FLAG_PRE_TLS). */
const NEED_TLS = new Set(['MAIL', 'RCPT', 'DATA', 'BDAT', 'RSET', 'VRFY', 'ETRN']);
/** Every command postscreen's table names (others are UNIMPLEMENTED in `after X`). */
const KNOWN = new Set(['HELO', 'EHLO', 'STARTTLS', 'XCLIENT', 'XFORWARD', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'RSET', 'NOOP', 'VRFY', 'ETRN', 'QUIT']);
/** Postfix's serverid for postscreen's requests (≤ 3.11). */
export const POSTSCREEN_SERVER_ID = 'smtpd';

type Phase = 'smtp' | 'relay-setup' | 'relay' | 'closing';

/** Command lines are kept as latin1 text: back to the very bytes the client sent. */
const latin1 = (text: string) => Buffer.from(text, 'latin1');

export class PostscreenSession {
  readonly endpoint: string;
  private readonly endpoints: ConnectionEndpoints;
  private readonly started = Date.now();
  private readonly settings: PostscreenSettings;
  /** What we read from and write to: the socket, then the TLS service's plaintext stream. */
  private client: Duplex;
  private handOver: TlsHandOver | undefined;
  private input: Buffer = Buffer.alloc(0);
  private phase: Phase = 'smtp';
  /** The client's last HELO/EHLO line (forgotten after STARTTLS). */
  private helo: string | undefined;
  private commands = 0;
  private where = 'CONNECT';
  private timer: NodeJS.Timeout | undefined;
  /** The backend leg (../relay.ts), shared with the implicit-TLS front end. */
  private readonly backend: BackendRelay;
  /** An exception in a handler ends this session only. */
  private readonly guard: (fn: () => void) => void;
  private backendBusy = false;
  private socketClosed = false;
  private finished = false;
  private hungUp = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly service: PostscreenService,
    private readonly onFinished: (session: PostscreenSession) => void,
    endpoints?: ConnectionEndpoints,
  ) {
    this.settings = service.postscreen;
    this.endpoints = endpoints ?? socketEndpoints(socket);
    this.endpoint = formatEndpoint(this.endpoints.client.address, this.endpoints.client.port);
    this.client = socket;
    this.guard = sessionGuard(service.logger, () => this.endpoint, () => this.destroy());
    this.backend = new BackendRelay(service, this.endpoints, { closed: () => this.guard(() => this.onBackendClosed()) });
    service.logger.info(`CONNECT from ${this.endpoint} to ${formatEndpoint(this.endpoints.server.address, this.endpoints.server.port)}`);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.once('close', () =>
      this.guard(() => {
        this.socketClosed = true;
        this.onClientGone();
      }),
    );
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.write(this.settings.greeting);
    this.armTimer();
  }

  /** End now (daemon shutdown). */
  destroy(): void {
    this.phase = 'closing';
    this.handOver?.destroy();
    this.socket.destroy();
    this.backend.destroy();
  }

  // ------------------------------------------------------------ input

  private readonly onData = (chunk: Buffer): void =>
    this.guard(() => {
      if (this.phase !== 'smtp' && this.phase !== 'relay-setup') return;
      this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
      if (this.phase === 'smtp') this.process();
    });

  private readonly onEnd = (): void =>
    this.guard(() => {
      if (this.phase === 'smtp' || this.phase === 'relay-setup') this.hangup();
    });

  private process(): void {
    const limit = this.settings.lineLengthLimit;
    while (this.phase === 'smtp') {
      const lf = this.input.indexOf(0x0a);
      if (lf < 0) {
        if (this.input.length > limit) this.lengthLimit();
        return;
      }
      const end = lf > 0 && this.input[lf - 1] === 0x0d ? lf - 1 : lf;
      if (end >= limit) {
        this.lengthLimit();
        return;
      }
      const line = this.input.toString('latin1', 0, end);
      this.input = this.input.subarray(lf + 1);
      this.command(line);
    }
  }

  private lengthLimit(): void {
    this.service.logger.info(`COMMAND LENGTH LIMIT from ${this.endpoint} after ${this.where}`);
    this.drop(this.settings.reply421);
  }

  // ------------------------------------------------------------ commands

  private command(line: string): void {
    const s = this.settings;
    const verb = commandVerb(line);
    const args = commandArgs(line);
    const saved = this.where;
    this.where = KNOWN.has(verb) ? verb : 'UNIMPLEMENTED';
    this.armTimer();
    if (++this.commands > s.commandCountLimit && verb !== 'QUIT') {
      this.service.logger.info(`COMMAND COUNT LIMIT from ${this.endpoint} after ${saved}`);
      this.drop(s.reply421);
      return;
    }
    const tls = !!this.handOver;
    switch (verb) {
      case 'HELO':
      case 'EHLO':
        if (!args.length) {
          this.reply(`501 Syntax: ${verb} hostname\r\n`);
          return;
        }
        if (tls) {
          this.relay(line, verb);
          return;
        }
        this.helo = `${verb} ${args[0]}`;
        this.reply(verb === 'HELO' ? s.heloReply : s.ehloPlain);
        return;
      case 'STARTTLS':
        if (args.length) this.reply('501 5.5.4 Syntax: STARTTLS\r\n');
        else if (tls) this.reply('554 5.5.1 Error: TLS already active\r\n');
        else if (!s.starttls) this.reply('502 5.5.1 Error: command not implemented\r\n');
        else this.startTls();
        if (args.length || tls || !s.starttls) metrics?.starttlsRefused(this.service.name, args.length ? 'syntax' : tls ? 'tls-already-active' : 'not-offered');
        return;
      case 'NOOP':
        this.reply('250 2.0.0 Ok\r\n');
        return;
      case 'QUIT':
        this.drop('221 2.0.0 Bye\r\n');
        return;
    }
    if (s.level === 'encrypt' && !tls) {
      this.reply(NEED_TLS.has(verb) ? '530 5.7.0 Must issue a STARTTLS command first\r\n' : '502 5.5.2 Error: command not recognized\r\n');
      return;
    }
    if (verb === 'RSET') {
      this.reply('250 2.0.0 Ok\r\n');
      return;
    }
    if (verb === '') {
      this.reply('502 5.5.2 Error: command not recognized\r\n');
      return;
    }
    this.relay(line, verb);
  }

  /** Our own replies (text), or bytes relayed from the backend as they came. */
  private reply(text: string | Buffer): void {
    if (!this.client.destroyed && !this.client.writableEnded) this.client.write(text);
  }

  /** Send a last reply and close. */
  private drop(text: string): void {
    this.phase = 'closing';
    this.clearTimer();
    this.reply(text);
    this.endClient();
  }

  private endClient(): void {
    if (this.handOver) {
      const tls = this.handOver.stream;
      if (!tls.destroyed && !tls.writableEnded) tls.end();
    } else if (!this.socket.destroyed) {
      this.socket.destroySoon();
    }
  }

  // ------------------------------------------------------------ STARTTLS

  private startTls(): void {
    const answer = this.service.tlsService.request({
      remote: this.endpoint,
      role: 'server',
      handshakeTimeout: this.service.handshakeTimeoutMs / 1000,
      sessionTimeout: this.service.idleTimeoutMs / 1000,
      serverId: POSTSCREEN_SERVER_ID,
    });
    if (!answer.available) {
      // The plaintext dialogue goes on (with whatever the client pipelined).
      this.reply('454 4.7.0 TLS not available due to local problem\r\n');
      metrics?.starttlsRefused(this.service.name, /tlsproxy_process_session_limit/.test(answer.reason) ? 'process-session-limit' : 'tls-not-available');
      return;
    }
    if (this.input.length) {
      this.service.logger.warning(
        `${this.endpoint}: discarding ${this.input.length} bytes of plaintext sent after STARTTLS (command injection): ${escapeBytes(this.input.subarray(0, 100))}`,
      );
      this.input = Buffer.alloc(0);
    }
    // From here on the socket is the TLS service's.
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    const handOver = answer.handOver(this.socket);
    this.handOver = handOver;
    this.socket.write('220 2.0.0 Ready to start TLS\r\n');
    this.helo = undefined;
    this.client = handOver.stream;
    handOver.stream.on('data', this.onData);
    handOver.stream.on('end', this.onEnd);
    handOver.stream.once('close', () => this.guard(() => this.onClientGone()));
  }

  // ------------------------------------------------------------ relay

  private relay(line: string, verb: string): void {
    this.phase = 'relay-setup';
    this.clearTimer();
    this.client.pause();
    this.backendBusy = true;
    void this.setUpRelay(line, verb).then(
      () => {
        this.backendBusy = false;
        this.maybeFinished();
      },
      (e) =>
        this.guard(() => {
          this.backendBusy = false;
          if (this.phase === 'relay-setup') {
            this.service.logger.warning(`backend ${this.service.backend.text} for ${this.endpoint}: ${(e as Error)?.message ?? e}`);
            this.backend.destroy();
            this.drop(this.settings.reply421);
          }
          this.maybeFinished();
        }),
    );
  }

  private async setUpRelay(line: string, verb: string): Promise<void> {
    const svc = this.service;
    let backend: net.Socket | undefined;
    try {
      // Connected, with the PROXY header (and the TLS facts when the client did STARTTLS) sent.
      backend = await this.backend.connect(this.handOver?.info, () => this.phase === 'relay-setup');
    } catch (e) {
      throw new Error(`connect: ${strerror(e)}`);
    }
    if (!backend) return;
    const reader = new ReplyReader(backend);
    const timeout = svc.idleTimeoutMs;
    const greeting = await reader.read(timeout);
    if (greeting.code < 200 || greeting.code > 299) throw new Error(`unexpected greeting: ${greeting.lines[0]}`);
    if (this.phase !== 'relay-setup') return;
    if (verb === 'EHLO' || verb === 'HELO') {
      backend.write(latin1(`${line}\r\n`));
      const r = await reader.read(timeout);
      if (this.phase !== 'relay-setup') return;
      this.reply(latin1(formatReply(verb === 'EHLO' ? withoutStarttls(r.lines) : r.lines)));
    } else {
      if (this.helo) {
        backend.write(latin1(`${this.helo}\r\n`));
        const r = await reader.read(timeout);
        if (r.code >= 400) svc.logger.warning(`backend ${svc.backend.text} for ${this.endpoint}: ${this.helo.split(' ')[0]} rejected: ${r.lines[r.lines.length - 1]}`);
        if (this.phase !== 'relay-setup') return;
      }
      backend.write(latin1(`${line}\r\n`));
    }
    const rest = reader.detach();
    if (rest.length) this.reply(rest);
    if (this.input.length) {
      backend.write(this.input);
      this.input = Buffer.alloc(0);
    }
    svc.logger.info(`RELAY ${this.endpoint} to ${svc.backend.text} after ${verb}${this.handOver ? ' with TLS' : ''}`);
    this.startPiping(backend);
  }

  private startPiping(backend: net.Socket): void {
    this.phase = 'relay';
    const client = this.client;
    client.removeListener('data', this.onData);
    client.removeListener('end', this.onEnd);
    if (!this.handOver) {
      this.socket.setTimeout(this.service.idleTimeoutMs, () =>
        this.guard(() => {
          this.service.logger.warning(`plaintext read/write timeout for ${this.endpoint}`);
          this.socket.destroy();
          backend.destroy();
        }),
      );
    }
    this.backend.pipe(client);
  }

  private onBackendClosed(): void {
    if (this.phase === 'relay') {
      // Nothing more can reach the backend: finish the client side too.
      this.phase = 'closing';
      this.endClient();
    }
    this.maybeFinished();
  }

  // ------------------------------------------------------------ end

  private hangup(): void {
    if (this.hungUp || this.finished) return;
    this.hungUp = true;
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    this.service.logger.info(`HANGUP after ${secs} from ${this.endpoint} in tests after SMTP handshake`);
    this.phase = 'closing';
    this.clearTimer();
    this.endClient();
  }

  /** The client connection (or its TLS stream) closed. */
  private onClientGone(): void {
    if (this.phase === 'smtp' || this.phase === 'relay-setup') this.hangup();
    this.phase = 'closing';
    // Flush what the backend was sent, then close it.
    this.backend.clientGone();
    this.maybeFinished();
  }

  private maybeFinished(): void {
    if (this.finished || this.backendBusy) return;
    const clientDone = this.socketClosed && (!this.handOver || this.handOver.stream.destroyed);
    const backendDone = this.backend.closed;
    if (!clientDone || !backendDone) return;
    this.finished = true;
    this.clearTimer();
    this.service.logger.info(`DISCONNECT ${this.endpoint}`);
    this.handOver?.release();
    anchorFinishedSession(this); // base/shape-anchors.ts
    this.onFinished(this);
  }

  // ------------------------------------------------------------ timers

  private armTimer(): void {
    this.clearTimer();
    this.timer = setTimeout(
      () =>
        this.guard(() => {
          if (this.phase !== 'smtp') return;
          this.service.logger.info(`COMMAND TIME LIMIT from ${this.endpoint} after ${this.where}`);
          this.drop(this.settings.timeoutReply);
        }),
      this.settings.commandTimeLimitMs,
    );
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
