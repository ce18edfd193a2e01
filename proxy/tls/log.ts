/**
 * The verbose TLS log lines of tlsproxy_tls_loglevel 2, 3 and 4
 * (tlsproxy-postfix.md §1.9, §4.2), for one connection:
 *
 *  level 2 (ssl-debug): the handshake state trace Postfix's
 *    tls_info_callback logs from OpenSSL, `SSL_accept:<state>` with
 *    OpenSSL 3's state names, `SSL3 alert read|write:<level>:<alert>`
 *    (never close_notify), `SSL_accept:error in <state>`. Our engine is not
 *    OpenSSL: the states are the engine's typed events (engine/events.ts
 *    TlsEvent: each handshake message sent or received with its type,
 *    ChangeCipherSpec, alerts, the version), mapped to OpenSSL's names;
 *    plus the engine's trace lines as `<endpt>: <text>`, never parsed;
 *  level 3 (ssl-handshake-packet-dump): every ciphertext read and write
 *    during the handshake as tls_bio_dump_cb logs it:
 *      read from 5A1F0C00 [5A1F4000] (5 bytes => 5 (0x5))
 *      0000 16 03 01 02 00|01 00 01 fc 03 03 9c 2e 5d  ............].
 *    reads come as OpenSSL makes them (the 5-byte record header, then the
 *    record body); the two numbers in hex are the BIO and the buffer,
 *    which for us are stable per-connection identifiers, not addresses;
 *  level 4 (ssl-session-packet-dump): the same dumps after the handshake.
 *
 * Everything here only observes: it never changes what is sent.
 */

import { HandshakeType, ProtocolVersion } from '../../engine/constants.js';
import type { ConnectionError, HandshakeInfo, TlsEvent } from '../../engine/events.js';

// ------------------------------------------------------------ hex dump

const DUMP_WIDTH = 16;
const VERT_SPLIT = 7;

const hex = (n: number, width: number, upper = false) => {
  const s = n.toString(16).padStart(width, '0');
  return upper ? s.toUpperCase() : s;
};

/**
 * Postfix tls_dump_buffer (from OpenSSL's BIO_dump): 16 bytes a line as
 * `%02x` with `|` after the 8th, one space, the printable characters with
 * `.` for the others and a space after the 8th; trailing spaces and NULs
 * are not dumped but summarized as `<offset> - <SPACES/NULLS>`.
 */
export function hexDumpLines(bytes: Uint8Array): string[] {
  let last = bytes.length - 1;
  while (last >= 0 && (bytes[last] === 0x20 || bytes[last] === 0)) last--;
  const lines: string[] = [];
  for (let row = 0; row <= last; row += DUMP_WIDTH) {
    let line = `${hex(row, 4)} `;
    for (let col = row; col < row + DUMP_WIDTH; col++) {
      line += col > last ? '   ' : `${hex(bytes[col]!, 2)}${col - row === VERT_SPLIT ? '|' : ' '}`;
    }
    line += ' ';
    for (let col = row; col < row + DUMP_WIDTH && col <= last; col++) {
      const ch = bytes[col]!;
      line += ch >= 0x20 && ch <= 0x7e ? String.fromCharCode(ch) : '.';
      if (col - row === VERT_SPLIT) line += ' ';
    }
    lines.push(line);
  }
  if (last + 1 < bytes.length) lines.push(`${hex(last + 1, 4)} - <SPACES/NULLS>`);
  return lines;
}

/** tls_bio_dump_cb's first line. */
export function bioLine(direction: 'read' | 'write', bio: number, buffer: number, requested: number, got: number): string {
  const verb = direction === 'read' ? 'read from' : 'write to';
  return `${verb} ${hex(bio, 8, true)} [${hex(buffer, 8, true)}] (${requested} bytes => ${got} (0x${hex(got, 1, true)}))`;
}

let nextId = 0;

/** Stable per-connection BIO and buffer identifiers for the dump lines. */
function connectionIds(): { bio: number; rbuf: number; wbuf: number } {
  const n = nextId++ & 0xffff;
  const bio = 0x5a000000 + n * 0x100;
  return { bio, rbuf: 0x60000000 + n * 0x10000, wbuf: 0x68000000 + n * 0x10000 };
}

// ------------------------------------------------------------ states

/** OpenSSL 3 SSL_state_string_long() names, server side. */
export const STATE = {
  before: 'before SSL initialization',
  readClientHello: 'SSLv3/TLS read client hello',
  writeServerHello: 'SSLv3/TLS write server hello',
  writeChangeCipherSpec: 'SSLv3/TLS write change cipher spec',
  writeEncryptedExtensions: 'TLSv1.3 write encrypted extensions',
  writeCertificateRequest: 'SSLv3/TLS write certificate request',
  writeCertificate: 'SSLv3/TLS write certificate',
  writeCertificateVerify: 'TLSv1.3 write server certificate verify',
  writeKeyExchange: 'SSLv3/TLS write key exchange',
  writeServerDone: 'SSLv3/TLS write server done',
  writeFinished: 'SSLv3/TLS write finished',
  earlyData: 'TLSv1.3 early data',
  readClientCertificate: 'SSLv3/TLS read client certificate',
  readClientKeyExchange: 'SSLv3/TLS read client key exchange',
  readCertificateVerify: 'SSLv3/TLS read certificate verify',
  readChangeCipherSpec: 'SSLv3/TLS read change cipher spec',
  readFinished: 'SSLv3/TLS read finished',
  writeSessionTicket: 'SSLv3/TLS write session ticket',
  error: 'error',
} as const;

/** SSL_alert_desc_string_long(). */
const ALERT_TEXT: Record<number, string> = {
  0: 'close notify', 10: 'unexpected_message', 20: 'bad record mac', 21: 'decryption failed', 22: 'record overflow',
  30: 'decompression failure', 40: 'handshake failure', 41: 'no certificate', 42: 'bad certificate', 43: 'unsupported certificate',
  44: 'certificate revoked', 45: 'certificate expired', 46: 'certificate unknown', 47: 'illegal parameter', 48: 'unknown CA',
  49: 'access denied', 50: 'decode error', 51: 'decrypt error', 60: 'export restriction', 70: 'protocol version',
  71: 'insufficient security', 80: 'internal error', 86: 'inappropriate fallback', 90: 'user canceled', 100: 'no renegotiation',
  109: 'missing extension', 110: 'unsupported extension', 111: 'certificate unobtainable', 112: 'unrecognized name',
  113: 'bad certificate status response', 114: 'bad certificate hash value', 115: 'unknown PSK identity',
  116: 'certificate required', 120: 'no application protocol',
};

/** An alert's OpenSSL long text. */
function alertText(code: number): string {
  return ALERT_TEXT[code] ?? `unknown (${code})`;
}

/** OpenSSL's read and write states for the handshake messages (RFC 8446 §4 / RFC 5246 §7.4 HandshakeType). */
const READ_STATES: Partial<Record<number, string>> = {
  [HandshakeType.client_hello]: STATE.readClientHello,
  [HandshakeType.certificate]: STATE.readClientCertificate,
  [HandshakeType.client_key_exchange]: STATE.readClientKeyExchange,
  [HandshakeType.certificate_verify]: STATE.readCertificateVerify,
  [HandshakeType.finished]: STATE.readFinished,
};

const WRITE_STATES: Partial<Record<number, string>> = {
  [HandshakeType.server_hello]: STATE.writeServerHello,
  [HandshakeType.encrypted_extensions]: STATE.writeEncryptedExtensions,
  [HandshakeType.certificate_request]: STATE.writeCertificateRequest,
  [HandshakeType.certificate]: STATE.writeCertificate,
  [HandshakeType.certificate_verify]: STATE.writeCertificateVerify,
  [HandshakeType.server_key_exchange]: STATE.writeKeyExchange,
  [HandshakeType.server_hello_done]: STATE.writeServerDone,
  [HandshakeType.finished]: STATE.writeFinished,
  [HandshakeType.new_session_ticket]: STATE.writeSessionTicket,
};

export interface TlsLogOptions {
  /** tlsproxy_tls_loglevel (verbose -v already applied). */
  readonly loglevel: number;
  /** Where the lines go (logger.info). */
  readonly info: (line: string) => void;
  /** `[ip]:port` for the lines that carry it. */
  readonly endpoint: string;
}

/**
 * One connection's level 2-4 lines, a consumer of the engine's typed
 * events (engine/events.ts TlsEvent: `event`), its trace (`trace`), the
 * end of the handshake (`secure`) and a failure (`failed`).
 */
export class TlsConnectionLog {
  private readonly ids = connectionIds();
  private readonly stateTrace: boolean;
  private readonly dumps: 0 | 3 | 4;
  private last: string = STATE.before;
  private handshakeDone = false;
  private tls13 = false;
  private failed_ = false;

  constructor(private readonly options: TlsLogOptions) {
    this.stateTrace = options.loglevel >= 2;
    this.dumps = options.loglevel >= 4 ? 4 : options.loglevel >= 3 ? 3 : 0;
    if (this.stateTrace) {
      // OpenSSL reports the initial state twice (handshake start, then the first loop).
      this.state(STATE.before);
      this.state(STATE.before);
    }
  }

  /** True when any of this is logged at all (loglevel >= 2). */
  get enabled(): boolean {
    return this.stateTrace;
  }

  private state(s: string): void {
    this.last = s;
    if (this.stateTrace) this.options.info(`SSL_accept:${s}`);
  }

  private dumping(): boolean {
    return this.dumps === 4 || (this.dumps === 3 && !this.handshakeDone);
  }

  /** One engine event. */
  event(e: TlsEvent): void {
    if (!this.stateTrace || this.failed_) return;
    switch (e.kind) {
      case 'record':
        if (!this.dumping()) return;
        if (e.direction === 'received') {
          // OpenSSL reads the 5-byte header, then the record body.
          this.dump('read', this.ids.rbuf, e.header);
          if (e.fragment.length) this.dump('read', this.ids.rbuf + 5, e.fragment);
        } else {
          const bytes = new Uint8Array(e.header.length + e.fragment.length);
          bytes.set(e.header);
          bytes.set(e.fragment, e.header.length);
          this.dump('write', this.ids.wbuf, bytes);
        }
        return;
      case 'version':
        this.tls13 = e.version === ProtocolVersion.TLS1_3;
        return;
      case 'change-cipher-spec':
        // TLS 1.3 middlebox compatibility CCS (RFC 8446 §D.4): OpenSSL shows ours, ignores the client's.
        if (!this.tls13) this.state(e.direction === 'received' ? STATE.readChangeCipherSpec : STATE.writeChangeCipherSpec);
        else if (e.direction === 'sent') this.state(STATE.writeChangeCipherSpec);
        return;
      case 'alert':
        // close_notify is not logged.
        if (e.description !== 0) this.options.info(`SSL3 alert ${e.direction === 'received' ? 'read' : 'write'}:${e.level === 1 ? 'warning' : 'fatal'}:${alertText(e.description)}`);
        return;
      case 'message':
        if (e.direction === 'received') {
          // After the handshake (a refused renegotiation) OpenSSL's accept states no longer apply.
          const s = this.handshakeDone ? undefined : READ_STATES[e.type];
          if (s) this.state(s);
          return;
        }
        {
          const s = WRITE_STATES[e.type];
          if (!s) return;
          this.state(s);
          // TLS 1.3: after its Finished the server waits in OpenSSL's early data state (entered twice).
          if (this.tls13 && e.type === HandshakeType.finished) {
            this.state(STATE.earlyData);
            this.state(STATE.earlyData);
          }
        }
        return;
      default:
        return;
    }
  }

  private dump(direction: 'read' | 'write', buffer: number, bytes: Uint8Array): void {
    this.options.info(bioLine(direction, this.ids.bio, buffer, bytes.length, bytes.length));
    for (const l of hexDumpLines(bytes)) this.options.info(l);
  }

  /** An engine trace line, logged as `<endpt>: <trace>` (what the engine did: not Postfix's, but worth having at this level). */
  trace(message: string): void {
    if (this.stateTrace) this.options.info(`${this.options.endpoint}: ${message}`);
  }

  /** The handshake completed. */
  secure(_info: HandshakeInfo): void {
    this.handshakeDone = true;
  }

  /** The connection failed; `error` from the engine when it was a TLS failure (its alert was an `alert` event). */
  failed(duringHandshake: boolean, error?: ConnectionError): void {
    if (!this.stateTrace || this.failed_) return;
    this.failed_ = true;
    if (duringHandshake) this.options.info(`SSL_accept:error in ${error?.direction === 'sent' ? STATE.error : this.last}`);
  }
}
