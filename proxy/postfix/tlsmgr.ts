/**
 * A client of Postfix's tlsmgr(8) (src/tls/tls_mgr.c is the reference
 * client): the service behind `private/tlsmgr` that holds, for every
 * smtpd-side TLS process of one Postfix instance,
 *
 *  - the RFC 5077 session ticket keys ("tktkey": the current encryption key
 *    when the key name is empty, else the key of that name while it still
 *    decrypts), and
 *  - the `smtpd` session cache ("lookup", "update", "delete"), enabled when
 *    tlsmgr's main.cf sets smtpd_tls_session_cache_database ("policy" says
 *    whether it is, and the cache timeout).
 *
 * The conversation is Postfix's attr0 encoding (attr.ts: name NUL value NUL
 * ... NUL; DATA values in base64, ints in decimal, status -1/-2 printed
 * unsigned). On connect tlsmgr greets with `protocol=tlsmgr_protocol`
 * (Postfix >= 3.4's attr_clnt handshake); then one request at a time on the
 * same UNIX stream connection, each answered by one list. Every request is bounded (REQUEST_TIMEOUT_MS,
 * counted from when it is made, so also the time queued behind others; at most MAX_QUEUED wait): a slow
 * or absent tlsmgr never stalls a handshake, it only costs a resumption,
 * as tls_mgr.c's callers treat any failure (TLS_MGR_STAT_FAIL) as "no
 * ticket / not cached". After a failure the client waits RETRY_AFTER_MS
 * before it connects again, and warns once per outage.
 */

import net from 'node:net';
import { AttrError, AttrListReader, encodeAttrs, type Attr } from './attr.js';

export const TLS_MGR_STAT_OK = 0;
export const TLS_MGR_STAT_ERR = -1;
export const TLS_MGR_STAT_FAIL = -2;

/** tls_mgr.h: TLS_TICKET_NAMELEN. */
export const TICKET_NAME_LENGTH = 16;

/** Longest a handshake waits for tlsmgr (ours; Postfix waits up to ipc_timeout). */
export const REQUEST_TIMEOUT_MS = 2000;
/** Quiet period after a failed request before the next connection attempt. */
export const RETRY_AFTER_MS = 5000;
/**
 * Requests waiting behind the one in flight. Each handshake can have one
 * request queued (a session-ID look-up, a ticket key by name), and a
 * client chooses the session ID and ticket name it presents: without a
 * bound, a slow tlsmgr would make clients queue work without limit. A
 * request beyond the bound fails at once (a full handshake).
 */
export const MAX_QUEUED = 256;

/** A TLS_TICKET_KEY as tlsmgr returns it (tls_scache.h). */
export interface TlsmgrTicketKey {
  readonly name: Uint8Array;
  /** TLS_TICKET_KEYLEN bytes of cipher key (32 in Postfix >= 3.5's AES-256 layout, 16 before). */
  readonly bits: Uint8Array;
  /** TLS_TICKET_MACLEN bytes of HMAC key. */
  readonly hmac: Uint8Array;
  /** Unix time (s) after which the key no longer encrypts; it decrypts for another half session timeout. */
  readonly tout: number;
}

/**
 * Decode the raw struct: name[16] bits[K] hmac[M] time_t tout, where
 * (K, M) is (32, 32) or (16, 16) and time_t is 8 bytes, little-endian on
 * the machines Postfix runs on here (x86-64, aarch64). 88 or 56 bytes.
 */
export function decodeTicketKey(buf: Uint8Array): TlsmgrTicketKey | undefined {
  const layout = buf.length === 88 ? 32 : buf.length === 56 ? 16 : 0;
  if (!layout) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const at = TICKET_NAME_LENGTH + 2 * layout;
  const tout = Number(view.getBigInt64(at, true));
  if (!Number.isSafeInteger(tout) || tout <= 0) return undefined;
  return {
    name: buf.slice(0, TICKET_NAME_LENGTH),
    bits: buf.slice(TICKET_NAME_LENGTH, TICKET_NAME_LENGTH + layout),
    hmac: buf.slice(TICKET_NAME_LENGTH + layout, at),
    tout,
  };
}

export interface TlsmgrClientOptions {
  /** Socket path, e.g. `private/tlsmgr` relative to queue_directory (the process's working directory). */
  readonly path: string;
  readonly timeoutMs?: number;
  readonly retryAfterMs?: number;
  /** Called once when tlsmgr stops answering (and again after it came back and failed again). */
  readonly warn?: (message: string) => void;
  readonly now?: () => number;
}

/** The greeting tlsmgr sends on every new connection. */
export const TLSMGR_PROTOCOL = 'tlsmgr_protocol';

/** One decoded reply: attribute name -> value text. */
export class Reply {
  private readonly values = new Map<string, string>();
  constructor(attrs: readonly Attr[]) {
    for (const [n, v] of attrs) {
      if (this.values.has(n)) throw new AttrError(`duplicate attribute ${n}`);
      this.values.set(n, v);
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** An int attribute as the signed 32-bit value Postfix scanned it into (%u of -1 is 4294967295). */
  int(name: string): number {
    const v = this.values.get(name);
    if (v === undefined) throw new AttrError(`missing attribute ${name}`);
    if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) throw new AttrError(`malformed numerical data for attribute ${name}`);
    return Number(v) | 0;
  }

  /** A DATA attribute (base64 on the wire). */
  data(name: string): Uint8Array {
    const v = this.values.get(name);
    if (v === undefined) throw new AttrError(`missing attribute ${name}`);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw new AttrError(`malformed base64 data for attribute ${name}`);
    return new Uint8Array(Buffer.from(v, 'base64'));
  }
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

interface Pending {
  readonly request: Buffer;
  readonly resolve: (a: Reply | undefined) => void;
  /** When the request stops being worth sending (now + the request timeout when queued). */
  readonly deadline: number;
}

export class TlsmgrClient {
  private socket: net.Socket | undefined;
  private readonly queue: Pending[] = [];
  private active: Pending | undefined;
  private reader: AttrListReader | undefined;
  /** The current connection has delivered its protocol greeting. */
  private greeted = false;
  private timer: NodeJS.Timeout | undefined;
  private downUntil = 0;
  private warned = false;
  private closed = false;
  /** Requests answered / failed, for tests and `tlsproxy status`-like reporting. */
  readonly counts = { ok: 0, failed: 0 };

  constructor(private readonly options: TlsmgrClientOptions) {}

  private get now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** tls_mgr_policy: is the cache type enabled in tlsmgr, and its timeout (s). */
  async policy(cacheType: string): Promise<{ status: number; cachable: boolean; timeout: number }> {
    const r = await this.request([['request', 'policy'], ['cache_type', cacheType]]);
    const fail = { status: TLS_MGR_STAT_FAIL, cachable: false, timeout: 0 };
    return this.parse(r, fail, (x) => ({ status: x.int('status'), cachable: x.has('cachable') && x.int('cachable') !== 0, timeout: x.has('timeout') ? x.int('timeout') : 0 }));
  }

  /** tls_mgr_key: the current encryption key (no name) or the named decryption key. */
  async ticketKey(name?: Uint8Array): Promise<TlsmgrTicketKey | undefined> {
    if (name && name.length !== TICKET_NAME_LENGTH) return undefined;
    const r = await this.request([['request', 'tktkey'], ['keyname', b64(name ?? new Uint8Array(0))]]);
    return this.parse(r, undefined, (x) => (x.int('status') === TLS_MGR_STAT_OK && x.has('keybuf') ? decodeTicketKey(x.data('keybuf')) : undefined));
  }

  /** tls_mgr_lookup: the cached session, or undefined (not found, cache off, tlsmgr down). */
  async lookup(cacheType: string, cacheId: string): Promise<Uint8Array | undefined> {
    const r = await this.request([['request', 'lookup'], ['cache_type', cacheType], ['cache_id', cacheId]]);
    return this.parse(r, undefined, (x) => {
      if (x.int('status') !== TLS_MGR_STAT_OK || !x.has('session')) return undefined;
      const s = x.data('session');
      return s.length ? s : undefined;
    });
  }

  /** tls_mgr_update: store a session (status returned; callers ignore failures, as Postfix does). */
  async update(cacheType: string, cacheId: string, session: Uint8Array): Promise<number> {
    const r = await this.request([['request', 'update'], ['cache_type', cacheType], ['cache_id', cacheId], ['session', b64(session)]]);
    return this.parse(r, TLS_MGR_STAT_FAIL, (x) => x.int('status'));
  }

  /** tls_mgr_delete. */
  async delete(cacheType: string, cacheId: string): Promise<number> {
    const r = await this.request([['request', 'delete'], ['cache_type', cacheType], ['cache_id', cacheId]]);
    return this.parse(r, TLS_MGR_STAT_FAIL, (x) => x.int('status'));
  }

  /** Read a reply; one that lacks what the request needs is a failure (logged once), never an exception. */
  private parse<T>(r: Reply | undefined, failure: T, read: (r: Reply) => T): T {
    if (!r) return failure;
    try {
      return read(r);
    } catch (e) {
      this.counts.failed++;
      if (!this.warned) {
        this.warned = true;
        this.options.warn?.(`bad reply from tlsmgr (${this.options.path}): ${(e as Error).message}`);
      }
      return failure;
    }
  }

  close(): void {
    this.closed = true;
    this.fail('closed', false);
    for (const p of this.queue.splice(0)) p.resolve(undefined);
  }

  /** One request; undefined when tlsmgr could not answer (TLS_MGR_STAT_FAIL). Never rejects. */
  private request(attrs: readonly Attr[]): Promise<Reply | undefined> {
    if (this.closed || this.now < this.downUntil || this.queue.length >= MAX_QUEUED) {
      this.counts.failed++;
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      this.queue.push({ request: encodeAttrs(attrs), resolve, deadline: this.now + (this.options.timeoutMs ?? REQUEST_TIMEOUT_MS) });
      this.next();
    });
  }

  private next(): void {
    if (this.active || this.closed) return;
    const p = this.queue.shift();
    if (!p) return;
    // The bound is on the whole wait, not only on the answer: a request that waited its
    // timeout in the queue (behind a slow tlsmgr) fails without being sent.
    if (this.now < this.downUntil || this.now >= p.deadline) {
      this.counts.failed++;
      p.resolve(undefined);
      this.next();
      return;
    }
    this.active = p;
    this.reader = new AttrListReader();
    this.timer = setTimeout(() => this.fail(`timeout after ${this.options.timeoutMs ?? REQUEST_TIMEOUT_MS} ms`), Math.max(1, p.deadline - this.now));
    this.timer.unref();
    const s = this.connection();
    // Referenced while a request is out (a reply is awaited), unreferenced when idle.
    s.ref();
    s.write(p.request);
  }

  private connection(): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const s = net.connect({ path: this.options.path });
    s.unref();
    this.greeted = false;
    this.reader = new AttrListReader();
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('error', (e) => this.fail(`${this.options.path}: ${(e as Error).message}`));
    s.on('close', () => {
      if (this.socket === s) this.socket = undefined;
      if (this.active) this.fail(`${this.options.path}: connection closed by tlsmgr`);
    });
    this.socket = s;
    return s;
  }

  private onData(d: Buffer): void {
    try {
      let rest: Uint8Array = d;
      while (rest.length) {
        if (!this.reader) throw new AttrError('unexpected data from tlsmgr');
        const used = this.reader.feed(rest);
        rest = rest.subarray(used);
        if (!this.reader.done) return;
        const attrs = this.reader.attrs;
        if (!this.greeted) {
          // attr_clnt's handshake: the server names its protocol first.
          const proto = attrs.find(([n]) => n === 'protocol')?.[1];
          if (proto !== TLSMGR_PROTOCOL) throw new AttrError(`unexpected protocol greeting ${JSON.stringify(proto ?? '')}`);
          this.greeted = true;
          this.reader = this.active ? new AttrListReader() : undefined;
          continue;
        }
        const p = this.active;
        if (!p) throw new AttrError('unexpected data from tlsmgr');
        const result = new Reply(attrs);
        if (rest.length) throw new AttrError('data after the reply');
        clearTimeout(this.timer);
        this.active = undefined;
        this.reader = undefined;
        this.counts.ok++;
        this.socket?.unref();
        if (this.warned) {
          this.warned = false;
          this.options.warn?.('tlsmgr is answering again');
        }
        p.resolve(result);
        this.next();
        return;
      }
    } catch (e) {
      this.fail(`bad reply from tlsmgr: ${(e as Error).message}`);
    }
  }

  private fail(why: string, backoff = true): void {
    clearTimeout(this.timer);
    const p = this.active;
    this.active = undefined;
    this.reader = undefined;
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
    if (!p) return;
    this.counts.failed++;
    if (backoff && !this.closed) {
      this.downUntil = this.now + (this.options.retryAfterMs ?? RETRY_AFTER_MS);
      if (!this.warned) {
        this.warned = true;
        this.options.warn?.(`problem talking to service ${this.options.path}: ${why}; TLS session resumption through tlsmgr is unavailable until it answers`);
      }
    }
    p.resolve(undefined);
    this.next();
  }
}
