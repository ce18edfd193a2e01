/**
 * A scripted TLS 1.3 client on a raw TCP socket, built on node:crypto
 * only (no engine code): it can run a correct handshake step by step and
 * then misbehave at any point, and it decrypts the alert the server sends
 * back so tests can assert the exact alert after the keys changed.
 *
 * Not a general client: no certificate validation (the interop tests do
 * that), no resumption. It verifies the server Finished.
 */

import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';
import net from 'node:net';
import { cat, clientHello, type ClientKey, fragments, type HelloSpec, handshakeMessage, record, u16, u8, vec } from './hello.js';

export const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

export interface RawRecord {
  readonly type: number;
  readonly version: number;
  readonly header: Uint8Array;
  readonly fragment: Uint8Array;
}

/** A TCP connection with a record-level reader. */
export class RawConn {
  private buf: Buffer = Buffer.alloc(0);
  eof = false;
  error: Error | undefined;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wake?.();
    });
    socket.on('end', () => {
      this.eof = true;
      this.wake?.();
    });
    socket.on('close', () => {
      this.eof = true;
      this.wake?.();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.eof = true;
      this.wake?.();
    });
  }

  static open(port: number, timeoutMs = 3000): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('connect timeout'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.setNoDelay(true);
        resolve(new RawConn(s));
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  send(...chunks: Uint8Array[]): void {
    for (const c of chunks) if (!this.socket.destroyed) this.socket.write(c);
  }

  /** Half-close our side (TCP FIN). */
  endWrite(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  get buffered(): number {
    return this.buf.length;
  }

  private async waitData(deadline: number): Promise<boolean> {
    if (this.eof) return false;
    const ms = deadline - Date.now();
    if (ms <= 0) return false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
    return true;
  }

  /** The next record, or null at EOF; throws on timeout. */
  async nextRecord(timeoutMs = 3000): Promise<RawRecord | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readUInt16BE(3);
        if (this.buf.length >= 5 + len) {
          const header = Uint8Array.from(this.buf.subarray(0, 5));
          const fragment = Uint8Array.from(this.buf.subarray(5, 5 + len));
          this.buf = this.buf.subarray(5 + len);
          return { type: header[0]!, version: (header[1]! << 8) | header[2]!, header, fragment };
        }
      }
      if (this.eof) {
        if (this.buf.length) throw new Error(`EOF inside a record (${this.buf.length} bytes left)`);
        return null;
      }
      if (!(await this.waitData(deadline))) {
        if (this.eof) continue;
        throw new Error(`timeout waiting for a record (${this.buf.length} bytes buffered)`);
      }
    }
  }

  /** Everything until the peer closes; `eof` false if it did not within the timeout. */
  async readToEnd(timeoutMs = 3000): Promise<{ data: Buffer; eof: boolean }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.eof && (await this.waitData(deadline)));
    const data = this.buf;
    this.buf = Buffer.alloc(0);
    return { data, eof: this.eof };
  }
}

// ------------------------------------------------------------ key schedule

export type HashName = 'sha256' | 'sha384';

interface SuiteInfo {
  readonly id: number;
  readonly cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
  readonly keyLen: number;
  readonly hash: HashName;
}

const SUITES: Record<number, SuiteInfo> = {
  0x1301: { id: 0x1301, cipher: 'aes-128-gcm', keyLen: 16, hash: 'sha256' },
  0x1302: { id: 0x1302, cipher: 'aes-256-gcm', keyLen: 32, hash: 'sha384' },
  0x1303: { id: 0x1303, cipher: 'chacha20-poly1305', keyLen: 32, hash: 'sha256' },
};

function hashLen(h: HashName): number {
  return h === 'sha256' ? 32 : 48;
}

function hmac(h: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  return Uint8Array.from(createHmac(h, key).update(data).digest());
}

function expand(h: HashName, prk: Uint8Array, info: Uint8Array, len: number): Uint8Array {
  const out: Uint8Array[] = [];
  let t: Uint8Array = new Uint8Array(0);
  let n = 0;
  for (let i = 1; n < len; i++) {
    t = hmac(h, prk, cat(t, info, u8(i)));
    out.push(t);
    n += t.length;
  }
  return cat(...out).subarray(0, len);
}

export function expandLabel(h: HashName, secret: Uint8Array, label: string, context: Uint8Array, len: number): Uint8Array {
  const info = cat(u16(len), vec(1, new TextEncoder().encode(`tls13 ${label}`)), vec(1, context));
  return expand(h, secret, info, len);
}

function digest(h: HashName, data: Uint8Array): Uint8Array {
  return Uint8Array.from(createHash(h).update(data).digest());
}

class Direction {
  private seq = 0;
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
  constructor(readonly suite: SuiteInfo, public secret: Uint8Array) {
    this.key = expandLabel(suite.hash, secret, 'key', new Uint8Array(0), suite.keyLen);
    this.iv = expandLabel(suite.hash, secret, 'iv', new Uint8Array(0), 12);
  }
  nonce(): Buffer {
    const n = Buffer.from(this.iv);
    const seq = this.seq++;
    n.writeUInt32BE((n.readUInt32BE(4) ^ Math.floor(seq / 2 ** 32)) >>> 0, 4);
    n.writeUInt32BE((n.readUInt32BE(8) ^ seq) >>> 0, 8);
    return n;
  }
  next(): Direction {
    return new Direction(this.suite, expandLabel(this.suite.hash, this.secret, 'traffic upd', new Uint8Array(0), hashLen(this.suite.hash)));
  }
}

export interface Opened {
  readonly type: number;
  readonly content: Uint8Array;
}

// ------------------------------------------------------------------ client

export interface ServerFlight {
  readonly serverHello: Uint8Array;
  readonly helloRetry: boolean;
  readonly ccs: boolean;
  readonly messages: { type: number; body: Uint8Array }[];
  /** pre_shared_key selected_identity, when the server resumed. */
  readonly selectedPsk?: number;
}

export interface Ticket {
  readonly lifetime: number;
  readonly ageAdd: number;
  readonly nonce: Uint8Array;
  readonly ticket: Uint8Array;
  readonly extensions: Uint8Array;
  readonly receivedAt: number;
  /** HKDF-Expand-Label(resumption_master_secret, "resumption", nonce, Hash.length) (§4.6.1). */
  readonly psk: Uint8Array;
  readonly hash: HashName;
}

export interface PskOffer {
  readonly identity: Uint8Array;
  readonly obfuscatedAge: number;
  readonly psk: Uint8Array;
}

/** An offer for `t` with the right obfuscated age (§4.2.11.1), `skewMs` added. */
export function offerFor(t: Ticket, skewMs = 0): PskOffer {
  const age = Date.now() - t.receivedAt + skewMs;
  return { identity: t.ticket, obfuscatedAge: (age + t.ageAdd) >>> 0, psk: t.psk };
}

export class Tls13Client {
  suite!: SuiteInfo;
  private transcript: Uint8Array[] = [];
  private read: Direction | undefined;
  private write: Direction | undefined;
  private hsSecret!: Uint8Array;
  private cHs!: Direction;
  private cAp!: Direction;
  private sAp!: Direction;
  private hsBuf: Uint8Array = new Uint8Array(0);
  flight: ServerFlight | undefined;
  /** NewSessionTickets received (§4.6.1). */
  readonly tickets: Ticket[] = [];
  /** NewSessionTicket bodies read before our Finished was sent (parsed into `tickets` by finish()). */
  readonly ticketsBeforeFinished: Uint8Array[] = [];
  /** KeyUpdates received from the server (§4.6.3). */
  serverKeyUpdates = 0;
  private offers: PskOffer[] = [];
  private master: Uint8Array | undefined;
  private resumptionMaster: Uint8Array | undefined;

  constructor(readonly raw: RawConn) {}

  static async connect(port: number): Promise<Tls13Client> {
    return new Tls13Client(await RawConn.open(port));
  }

  private th(): Uint8Array {
    return digest(this.suite.hash, cat(...this.transcript));
  }

  /**
   * Send ClientHello (as one record, or the given records), read the server's
   * flight through its Finished (verified), and hold the client handshake keys.
   * `records` lets a test fragment or wrap the hello; the transcript gets `clientHello(spec)`.
   */
  async handshake(spec: HelloSpec, keys: ClientKey[], records?: Uint8Array[]): Promise<ServerFlight> {
    const ch = clientHello(spec);
    this.raw.send(...(records ?? fragments(ch, 0x0301)));
    this.transcript.push(ch);
    return this.readServerFlight(keys);
  }

  /** After a HelloRetryRequest: reset the transcript as §4.4.1 says and send ClientHello2. */
  async retry(spec: HelloSpec | (() => HelloSpec), keys: ClientKey[], hrr: Uint8Array, extra: Uint8Array[] = []): Promise<ServerFlight> {
    const ch1Hash = this.th();
    this.transcript = [handshakeMessage(254, ch1Hash), hrr];
    const ch = clientHello(typeof spec === 'function' ? spec() : spec);
    this.raw.send(...extra, ...fragments(ch, 0x0303));
    this.transcript.push(ch);
    return this.readServerFlight(keys);
  }

  /**
   * `spec` with a pre_shared_key extension (last) offering `offers`, binders
   * computed over the transcript so far plus the truncated hello (§4.2.11.2).
   * `corrupt(i, binder)` may alter binder i after it was computed.
   */
  withPsk(spec: HelloSpec, offers: PskOffer[], hash: HashName, corrupt?: (i: number, binder: Uint8Array) => Uint8Array): HelloSpec {
    const hl = hashLen(hash);
    const ids = cat(...offers.map((o) => cat(vec(2, o.identity), u16(o.obfuscatedAge >>> 16), u16(o.obfuscatedAge & 0xffff))));
    const make = (binders: Uint8Array[]): HelloSpec => ({
      ...spec,
      extensions: [...(spec.extensions ?? []).filter((e) => e.type !== 41), { type: 41, data: cat(vec(2, ids), vec(2, cat(...binders.map((b) => vec(1, b))))) }],
    });
    const placeholder = make(offers.map(() => new Uint8Array(hl)));
    const ch = clientHello(placeholder);
    const bindersLen = 2 + offers.length * (1 + hl);
    const truncated = ch.subarray(0, ch.length - bindersLen);
    const th = digest(hash, cat(...this.transcript, truncated));
    const zeros = new Uint8Array(hl);
    const binders = offers.map((o, i) => {
      const early = hmac(hash, zeros, o.psk);
      const binderKey = expandLabel(hash, early, 'res binder', digest(hash, new Uint8Array(0)), hl);
      const fk = expandLabel(hash, binderKey, 'finished', new Uint8Array(0), hl);
      const b = hmac(hash, fk, th);
      return corrupt ? corrupt(i, b) : b;
    });
    this.offers = offers;
    return make(binders);
  }

  private async readServerFlight(keys: ClientKey[]): Promise<ServerFlight> {
    let ccs = false;
    let rec = await this.raw.nextRecord();
    // The compatibility CCS sent after a HelloRetryRequest.
    while (rec && rec.type === 20) rec = await this.raw.nextRecord();
    if (!rec) throw new Error('EOF instead of ServerHello');
    if (rec.type === 21) throw new Error(`plaintext alert ${rec.fragment[1]} instead of ServerHello`);
    if (rec.type !== 22 || rec.fragment[0] !== 2) throw new Error(`record type ${rec.type} instead of ServerHello`);
    const sh = rec.fragment;
    const body = sh.subarray(4);
    const random = body.subarray(2, 34);
    const sidLen = body[34]!;
    let p = 35 + sidLen;
    const suiteId = (body[p]! << 8) | body[p + 1]!;
    p += 3;
    const suite = SUITES[suiteId];
    if (!suite) throw new Error(`unknown suite ${suiteId}`);
    this.suite = suite;
    const extLen = (body[p]! << 8) | body[p + 1]!;
    p += 2;
    const end = p + extLen;
    let serverShare: { group: number; key: Uint8Array } | undefined;
    let selectedGroup: number | undefined;
    let selectedPsk: number | undefined;
    while (p < end) {
      const t = (body[p]! << 8) | body[p + 1]!;
      const l = (body[p + 2]! << 8) | body[p + 3]!;
      const d = body.subarray(p + 4, p + 4 + l);
      if (t === 41) selectedPsk = (d[0]! << 8) | d[1]!;
      if (t === 51) {
        if (l === 2) selectedGroup = (d[0]! << 8) | d[1]!;
        else serverShare = { group: (d[0]! << 8) | d[1]!, key: d.subarray(4, 4 + ((d[2]! << 8) | d[3]!)) };
      }
      p += 4 + l;
    }
    if (Buffer.from(random).equals(HRR_RANDOM)) {
      // The HelloRetryRequest; a CCS may follow.
      this.flight = { serverHello: sh, helloRetry: true, ccs: false, messages: [] };
      void selectedGroup;
      return this.flight;
    }
    this.transcript.push(sh);
    if (!serverShare) throw new Error('ServerHello without key_share');
    const key = keys.find((k) => k.group === serverShare!.group);
    if (!key) throw new Error(`server chose group ${serverShare.group} we have no key for`);
    const shared = key.derive(serverShare.key);

    const h = suite.hash;
    const hl = hashLen(h);
    const zeros = new Uint8Array(hl);
    const empty = digest(h, new Uint8Array(0));
    const psk = selectedPsk === undefined ? zeros : this.offers[selectedPsk]?.psk;
    if (!psk) throw new Error(`server selected PSK ${selectedPsk} that was not offered`);
    const early = hmac(h, zeros, psk);
    const derived = expandLabel(h, early, 'derived', empty, hl);
    this.hsSecret = hmac(h, derived, shared);
    const thSh = this.th();
    const cHs = expandLabel(h, this.hsSecret, 'c hs traffic', thSh, hl);
    const sHs = expandLabel(h, this.hsSecret, 's hs traffic', thSh, hl);
    this.cHs = new Direction(suite, cHs);
    this.read = new Direction(suite, sHs);

    const messages: { type: number; body: Uint8Array }[] = [];
    for (;;) {
      rec = await this.raw.nextRecord();
      if (!rec) throw new Error(`EOF in the server flight after ${messages.map((m) => m.type).join(',')}`);
      if (rec.type === 20) {
        ccs = true;
        continue;
      }
      const o = this.open(rec);
      if (o.type === 21) throw new Error(`alert ${o.content[1]} in the server flight`);
      if (o.type !== 22) throw new Error(`content type ${o.type} in the server flight`);
      this.hsBuf = cat(this.hsBuf, o.content);
      let fin = false;
      while (this.hsBuf.length >= 4) {
        const len = (this.hsBuf[1]! << 16) | (this.hsBuf[2]! << 8) | this.hsBuf[3]!;
        if (this.hsBuf.length < 4 + len) break;
        const msg = this.hsBuf.subarray(0, 4 + len);
        this.hsBuf = this.hsBuf.subarray(4 + len);
        if (msg[0] === 20) {
          const fk = expandLabel(h, sHs, 'finished', new Uint8Array(0), hl);
          const expect = hmac(h, fk, this.th());
          if (!Buffer.from(expect).equals(Buffer.from(msg.subarray(4)))) throw new Error('server Finished does not verify');
          fin = true;
        }
        this.transcript.push(msg);
        messages.push({ type: msg[0]!, body: msg.subarray(4) });
      }
      if (fin) break;
    }
    // Application secrets from the transcript through the server Finished.
    const thFin = this.th();
    const master = hmac(h, expandLabel(h, this.hsSecret, 'derived', empty, hl), zeros);
    this.master = master;
    this.cAp = new Direction(suite, expandLabel(h, master, 'c ap traffic', thFin, hl));
    this.sAp = new Direction(suite, expandLabel(h, master, 's ap traffic', thFin, hl));
    this.write = this.cHs;
    // Everything the server sends after its Finished is under its application key (§4.4.4, §7.2).
    this.read = this.sAp;
    this.flight = { serverHello: sh, helloRetry: false, ccs, messages, selectedPsk };
    return this.flight;
  }

  /** The correct client Finished message (with header). */
  finishedMessage(): Uint8Array {
    const h = this.suite.hash;
    const fk = expandLabel(h, this.cHs.secret, 'finished', new Uint8Array(0), hashLen(h));
    return handshakeMessage(20, hmac(h, fk, this.th()));
  }

  /** Send a handshake message (with header) under the current write key and add it to the transcript (a client Certificate before finish()). */
  sendHandshake(message: Uint8Array): void {
    this.sendProtected(22, message);
    this.transcript.push(message);
  }

  /** Send the client Finished (optionally preceded by a compatibility CCS) and switch to application keys. */
  finish(opts: { ccs?: boolean } = {}): void {
    if (opts.ccs) this.raw.send(record(20, Uint8Array.of(1)));
    const fin = this.finishedMessage();
    this.sendProtected(22, fin);
    this.transcript.push(fin);
    this.resumptionMaster = expandLabel(this.suite.hash, this.master!, 'res master', this.th(), hashLen(this.suite.hash));
    for (const body of this.ticketsBeforeFinished) this.tickets.push(this.parseTicket(body));
    this.switchToApplicationKeys();
  }

  switchToApplicationKeys(): void {
    this.write = this.cAp;
  }

  /** Seal one record under the current write key. */
  seal(type: number, content: Uint8Array, opts: { padding?: number; outerType?: number; version?: number; corrupt?: boolean } = {}): Uint8Array {
    if (!this.write) throw new Error('no write key yet');
    const inner = cat(content, u8(type), new Uint8Array(opts.padding ?? 0));
    const len = inner.length + 16;
    const header = cat(u8(opts.outerType ?? 23), u16(opts.version ?? 0x0303), u16(len));
    const c = createCipheriv(this.suite.cipher as 'aes-128-gcm', this.write.key, this.write.nonce(), { authTagLength: 16 });
    c.setAAD(header);
    const body = Buffer.concat([c.update(inner), c.final(), c.getAuthTag()]);
    if (opts.corrupt) body[0]! ^= 0x01;
    return cat(header, body);
  }

  sendProtected(type: number, content: Uint8Array, opts: { padding?: number; outerType?: number; version?: number; corrupt?: boolean } = {}): void {
    this.raw.send(this.seal(type, content, opts));
  }

  sendData(text: string | Uint8Array): void {
    this.sendProtected(23, typeof text === 'string' ? new TextEncoder().encode(text) : text);
  }

  /** Send KeyUpdate and switch our write key. */
  keyUpdate(requested: boolean): void {
    this.raw.send(this.sealKeyUpdate(requested));
  }

  /** Switch our write key as a KeyUpdate does (§4.6.3), for a KeyUpdate a test sealed in pieces. */
  nextWriteKey(): void {
    this.write = this.write!.next();
  }

  /** A sealed KeyUpdate record (not sent); our write key switches after it. */
  sealKeyUpdate(requested: boolean): Uint8Array {
    const rec = this.seal(22, handshakeMessage(24, u8(requested ? 1 : 0)));
    this.write = this.write!.next();
    return rec;
  }

  private parseTicket(b: Uint8Array): Ticket {
    const v = Buffer.from(b);
    const lifetime = v.readUInt32BE(0);
    const ageAdd = v.readUInt32BE(4);
    let p = 8;
    const nonce = Uint8Array.from(v.subarray(p + 1, p + 1 + v[p]!));
    p += 1 + nonce.length;
    const tl = v.readUInt16BE(p);
    const ticket = Uint8Array.from(v.subarray(p + 2, p + 2 + tl));
    p += 2 + tl;
    const el = v.readUInt16BE(p);
    const extensions = Uint8Array.from(v.subarray(p + 2, p + 2 + el));
    if (p + 2 + el !== v.length) throw new Error('NewSessionTicket: trailing bytes');
    if (!this.resumptionMaster) throw new Error('NewSessionTicket before our Finished');
    const h = this.suite.hash;
    const psk = expandLabel(h, this.resumptionMaster, 'resumption', nonce, hashLen(h));
    return { lifetime, ageAdd, nonce, ticket, extensions, receivedAt: Date.now(), psk, hash: h };
  }

  /** Read until a NewSessionTicket arrived (or throw). */
  async waitTicket(timeoutMs = 3000): Promise<Ticket> {
    const deadline = Date.now() + timeoutMs;
    while (!this.tickets.length) {
      const o = await this.next(Math.max(1, deadline - Date.now()), true);
      if (!o) throw new Error('EOF before a NewSessionTicket');
      if (o.type !== 23 && o.type !== 22) throw new Error(`record type ${o.type} while waiting for a ticket`);
    }
    return this.tickets[0]!;
  }

  open(rec: RawRecord): Opened {
    if (!this.read) throw new Error('no read key yet');
    if (rec.type !== 23) {
      if (rec.type === 21) return { type: 21, content: rec.fragment };
      throw new Error(`unprotected record type ${rec.type} after the keys changed`);
    }
    const d = createDecipheriv(this.suite.cipher as 'aes-128-gcm', this.read.key, this.read.nonce(), { authTagLength: 16 });
    d.setAAD(rec.header);
    d.setAuthTag(rec.fragment.subarray(rec.fragment.length - 16));
    const plain = Buffer.concat([d.update(rec.fragment.subarray(0, rec.fragment.length - 16)), d.final()]);
    let i = plain.length - 1;
    while (i >= 0 && plain[i] === 0) i--;
    return { type: plain[i]!, content: Uint8Array.from(plain.subarray(0, i)) };
  }

  /** Next record, decrypted; server KeyUpdates are followed transparently. null at EOF. */
  async next(timeoutMs = 3000, stopOnTicket = false): Promise<Opened | null> {
    for (;;) {
      const rec = await this.raw.nextRecord(timeoutMs);
      if (!rec) return null;
      const o = this.open(rec);
      if (o.type === 22 && o.content[0] === 24) {
        this.serverKeyUpdates++;
        this.read = this.read!.next();
        if (o.content[4] === 1) this.keyUpdate(false);
        continue;
      }
      if (o.type === 22 && o.content[0] === 4) {
        // A ticket sent with the server flight (RFC 8446 §4.6.1 note) arrives before our Finished:
        // its PSK needs the resumption secret, known once finish() ran.
        if (this.resumptionMaster) this.tickets.push(this.parseTicket(o.content.subarray(4)));
        else this.ticketsBeforeFinished.push(o.content.subarray(4));
        if (stopOnTicket) return o;
        continue;
      }
      return o;
    }
  }

  /** Read application data until `n` bytes arrived. */
  async readData(n: number, timeoutMs = 3000): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < n) {
      const o = await this.next(timeoutMs);
      if (!o) throw new Error(`EOF after ${have} of ${n} bytes`);
      if (o.type !== 23) throw new Error(`record type ${o.type} (${Buffer.from(o.content).toString('hex')}) while reading data`);
      parts.push(o.content);
      have += o.content.length;
    }
    return cat(...parts);
  }

  /**
   * Read until the server's alert: returns [level, description] and whether
   * the connection then closed. Skips application data.
   */
  async alert(timeoutMs = 3000): Promise<{ level: number; description: number; closed: boolean } | null> {
    for (;;) {
      const o = await this.next(timeoutMs);
      if (!o) return null;
      if (o.type === 21) {
        const rest = await this.raw.readToEnd(timeoutMs);
        return { level: o.content[0]!, description: o.content[1]!, closed: rest.eof && rest.data.length === 0 };
      }
    }
  }

  close(): void {
    this.raw.destroy();
  }
}
