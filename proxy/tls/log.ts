/**
 * The verbose TLS log lines of tlsproxy_tls_loglevel 2, 3 and 4
 * (tlsproxy-postfix.md §1.9, §4.2), for one connection:
 *
 *  level 2 (ssl-debug): the handshake state trace Postfix's
 *    tls_info_callback logs from OpenSSL, `SSL_accept:<state>` with
 *    OpenSSL 3's state names, `SSL3 alert read|write:<level>:<alert>`
 *    (never close_notify), `SSL_accept:error in <state>`. Our engine is not
 *    OpenSSL: the states are derived from the records on the wire (the
 *    plaintext handshake messages, ChangeCipherSpec, alerts) and from the
 *    engine's trace for what TLS 1.3 encrypts;
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

import type { ConnectionError, HandshakeInfo } from '../../engine/events.js';

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

/** Splits a byte stream into TLS records as they complete (header, body). */
class RecordSplitter {
  private pending = new Uint8Array(0);

  /** Complete records from `chunk` and what came before it. */
  push(chunk: Uint8Array, each: (header: Uint8Array, body: Uint8Array) => void): void {
    const buf = new Uint8Array(this.pending.length + chunk.length);
    buf.set(this.pending);
    buf.set(chunk, this.pending.length);
    let off = 0;
    while (buf.length - off >= 5) {
      const len = (buf[off + 3]! << 8) | buf[off + 4]!;
      if (buf.length - off < 5 + len) break;
      each(buf.subarray(off, off + 5), buf.subarray(off + 5, off + 5 + len));
      off += 5 + len;
    }
    this.pending = buf.slice(off);
  }
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

/** Alert names as the engine spells them (RFC 8446) → OpenSSL's long text. */
function alertText(nameOrCode: string | number): string {
  if (typeof nameOrCode === 'number') return ALERT_TEXT[nameOrCode] ?? `unknown (${nameOrCode})`;
  const byName = Object.entries(ALERT_TEXT).find(([, t]) => t.replace(/ /g, '_').toLowerCase() === nameOrCode.toLowerCase());
  return byName ? byName[1] : nameOrCode.replace(/_/g, ' ');
}

const CONTENT = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;
const HS = { clientHello: 1, serverHello: 2, newSessionTicket: 4, certificate: 11, serverKeyExchange: 12, certificateRequest: 13, serverHelloDone: 14, certificateVerify: 15, clientKeyExchange: 16, finished: 20 } as const;

/** What one side of the wire showed so far. */
interface Side {
  readonly records: RecordSplitter;
  /** Handshake bytes not yet split into messages (plaintext records only). */
  hs: Uint8Array;
  /** ChangeCipherSpec seen: further handshake records are encrypted. */
  ccs: boolean;
}

export interface TlsLogOptions {
  /** tlsproxy_tls_loglevel (verbose -v already applied). */
  readonly loglevel: number;
  /** Where the lines go (logger.info). */
  readonly info: (line: string) => void;
  /** `[ip]:port` for the lines that carry it. */
  readonly endpoint: string;
  /** The service requests client certificates (TLS 1.3 CertificateRequest is encrypted). */
  readonly requestsClientCertificate?: boolean;
  /** Session tickets are issued (TLS 1.3 NewSessionTicket is encrypted). */
  readonly issuesTickets?: boolean;
}

/**
 * One connection's level 2-4 lines. Feed it the ciphertext as it is read
 * and written (`observe`), the engine's trace (`trace`), the end of the
 * handshake (`secure`) and a failure (`failed`).
 */
export class TlsConnectionLog {
  private readonly ids = connectionIds();
  private readonly stateTrace: boolean;
  private readonly dumps: 0 | 3 | 4;
  private readonly read: Side = { records: new RecordSplitter(), hs: new Uint8Array(0), ccs: false };
  private readonly written: Side = { records: new RecordSplitter(), hs: new Uint8Array(0), ccs: false };
  private readonly readDump = new RecordSplitter();
  private last: string = STATE.before;
  private handshakeDone = false;
  private version: 'TLSv1.2' | 'TLSv1.3' | undefined;
  private failed_ = false;
  /** An alert was shown from the wire (plaintext record), per direction. */
  private readonly wireAlert = { read: false, write: false };

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

  /** Ciphertext read from or written to the socket. */
  observe(direction: 'read' | 'write', bytes: Uint8Array): void {
    if (!this.stateTrace || this.failed_) return;
    if (direction === 'read') {
      if (this.dumping()) {
        // OpenSSL reads the 5-byte header, then the record body.
        this.readDump.push(bytes, (header, body) => {
          this.dump('read', this.ids.rbuf, header);
          if (body.length) this.dump('read', this.ids.rbuf + 5, body);
        });
      }
      if (!this.handshakeDone) this.read.records.push(bytes, (h, b) => this.record('read', h[0]!, b));
    } else {
      // Records a write hands to the socket, in one go (one flight).
      if (!this.handshakeDone) this.written.records.push(bytes, (h, b) => this.record('write', h[0]!, b));
      if (this.dumping()) this.dump('write', this.ids.wbuf, bytes);
    }
  }

  private dump(direction: 'read' | 'write', buffer: number, bytes: Uint8Array): void {
    this.options.info(bioLine(direction, this.ids.bio, buffer, bytes.length, bytes.length));
    for (const l of hexDumpLines(bytes)) this.options.info(l);
  }

  private record(direction: 'read' | 'write', type: number, body: Uint8Array): void {
    const side = direction === 'read' ? this.read : this.written;
    switch (type) {
      case CONTENT.changeCipherSpec:
        // In TLS 1.3 ChangeCipherSpec changes nothing (a client may even send its second ClientHello after one).
        if (this.version !== 'TLSv1.3') side.ccs = true;
        if (this.version === 'TLSv1.3') {
          // TLS 1.3 middlebox compatibility CCS: OpenSSL shows ours, ignores the client's.
          if (direction === 'write') this.state(STATE.writeChangeCipherSpec);
        } else {
          this.state(direction === 'read' ? STATE.readChangeCipherSpec : STATE.writeChangeCipherSpec);
        }
        break;
      case CONTENT.alert:
        if (!side.ccs && body.length >= 2) this.alert(direction, body[0]!, body[1]!);
        break;
      case CONTENT.handshake:
        if (side.ccs) {
          // The first encrypted TLS 1.2 handshake message after ChangeCipherSpec is Finished.
          if (this.version !== 'TLSv1.3') this.state(direction === 'read' ? STATE.readFinished : STATE.writeFinished);
          break;
        }
        this.handshakeBytes(direction, side, body);
        break;
      default:
        break;
    }
  }

  private handshakeBytes(direction: 'read' | 'write', side: Side, body: Uint8Array): void {
    const buf = new Uint8Array(side.hs.length + body.length);
    buf.set(side.hs);
    buf.set(body, side.hs.length);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
      if (buf.length - off < 4 + len) break;
      this.message(direction, buf[off]!, buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    side.hs = buf.slice(off);
  }

  private message(direction: 'read' | 'write', type: number, body: Uint8Array): void {
    if (direction === 'read') {
      switch (type) {
        case HS.clientHello:
          this.state(STATE.readClientHello);
          break;
        case HS.certificate:
          this.state(STATE.readClientCertificate);
          break;
        case HS.clientKeyExchange:
          this.state(STATE.readClientKeyExchange);
          break;
        case HS.certificateVerify:
          this.state(STATE.readCertificateVerify);
          break;
        default:
          break;
      }
      return;
    }
    switch (type) {
      case HS.serverHello:
        this.version = serverHelloVersion(body);
        this.state(STATE.writeServerHello);
        break;
      case HS.certificate:
        this.state(STATE.writeCertificate);
        break;
      case HS.serverKeyExchange:
        this.state(STATE.writeKeyExchange);
        break;
      case HS.certificateRequest:
        this.state(STATE.writeCertificateRequest);
        break;
      case HS.serverHelloDone:
        this.state(STATE.writeServerDone);
        break;
      case HS.newSessionTicket:
        this.state(STATE.writeSessionTicket);
        break;
      default:
        break;
    }
  }

  private alert(direction: 'read' | 'write', level: number, description: number): void {
    this.wireAlert[direction] = true;
    if (description === 0) return; // close_notify is not logged
    this.options.info(`SSL3 alert ${direction}:${level === 1 ? 'warning' : 'fatal'}:${alertText(description)}`);
  }

  /**
   * An engine trace line: logged as `<endpt>: <trace>` (what the engine
   * did, e.g. the suite and group of a flight: not Postfix's, but worth
   * having at this level), and the ones that stand for TLS 1.3 encrypted
   * messages also become states.
   */
  trace(message: string): void {
    if (!this.stateTrace) return;
    this.options.info(`${this.options.endpoint}: ${message}`);
    let m: RegExpExecArray | null;
    if ((m = /^sent server flight: .*?(resumed with PSK)?$/.exec(message))) {
      // TLS 1.3: EncryptedExtensions, [CertificateRequest], [Certificate, CertificateVerify], Finished.
      this.state(STATE.writeEncryptedExtensions);
      if (!m[1]) {
        if (this.options.requestsClientCertificate) this.state(STATE.writeCertificateRequest);
        this.state(STATE.writeCertificate);
        this.state(STATE.writeCertificateVerify);
      }
      this.state(STATE.writeFinished);
      this.state(STATE.earlyData);
      this.state(STATE.earlyData);
    } else if (this.version === 'TLSv1.3' && /^client sent no certificate$/.test(message)) {
      this.state(STATE.readClientCertificate);
    } else if (this.version === 'TLSv1.3' && /^client certificate (trusted|not trusted)/.test(message)) {
      this.state(STATE.readClientCertificate);
      this.state(STATE.readCertificateVerify);
    } else if (/^client Finished verified$/.test(message)) {
      this.state(STATE.readFinished);
    }
  }

  /** The handshake completed. */
  secure(info: HandshakeInfo): void {
    if (!this.stateTrace) return;
    if (info.protocol === 'TLSv1.3' && this.options.issuesTickets && info.ticketsUsable !== false) this.state(STATE.writeSessionTicket);
    this.handshakeDone = true;
  }

  /** The connection failed; `error` from the engine when it was a TLS failure. */
  failed(duringHandshake: boolean, error?: ConnectionError): void {
    if (!this.stateTrace || this.failed_) return;
    this.failed_ = true;
    // Alerts in plaintext records were shown from the wire; encrypted ones only the engine knows.
    if (error?.direction === 'sent' && error.alert !== undefined && !this.wireAlert.write) this.alert('write', 2, error.alert);
    if (error?.direction === 'received' && error.alert !== undefined && !this.wireAlert.read) this.alert('read', 2, error.alert);
    if (duringHandshake) this.options.info(`SSL_accept:error in ${error?.direction === 'sent' ? STATE.error : this.last}`);
  }
}

/** The version a ServerHello selects: supported_versions (TLS 1.3) or legacy_version. */
function serverHelloVersion(body: Uint8Array): 'TLSv1.2' | 'TLSv1.3' {
  // legacy_version(2) random(32) session_id<0..32> cipher_suite(2) compression(1) extensions<..>
  let off = 34;
  if (body.length < off + 1) return 'TLSv1.2';
  off += 1 + body[off]!;
  off += 3;
  if (body.length < off + 2) return 'TLSv1.2';
  const end = Math.min(body.length, off + 2 + ((body[off]! << 8) | body[off + 1]!));
  off += 2;
  while (off + 4 <= end) {
    const type = (body[off]! << 8) | body[off + 1]!;
    const len = (body[off + 2]! << 8) | body[off + 3]!;
    if (type === 43 && len === 2 && off + 6 <= end) return ((body[off + 4]! << 8) | body[off + 5]!) === 0x0304 ? 'TLSv1.3' : 'TLSv1.2';
    off += 4 + len;
  }
  return 'TLSv1.2';
}
