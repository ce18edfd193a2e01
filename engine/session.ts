/**
 * Resumable session state, and where it is kept.
 *
 * TLS 1.2 resumes a master secret (RFC 5246 §7.3, by session ID or by an
 * RFC 5077 ticket); TLS 1.3 resumes a PSK derived from the resumption
 * master secret (RFC 8446 §4.6.1). Both are serialized here into an opaque
 * blob that a session cache stores or a ticket seals. The engine never
 * trusts a blob it did not seal: tickets are AEAD-protected (tickets.ts)
 * and caches are ours; decoding is still fully bounds-checked.
 */

import { Reader, Writer, utf8 } from './codec.js';
import type { MaybePromise } from './crypto/provider.js';

export interface SessionState {
  readonly version: number;
  readonly cipherSuite: number;
  /** TLS 1.2: the master secret (48 bytes). TLS 1.3: the resumption PSK. */
  readonly secret: Uint8Array;
  /** TLS 1.2: the session used RFC 7627 extended master secret. */
  readonly extendedMasterSecret: boolean;
  /** Milliseconds since the epoch when the session (or ticket) was made. */
  readonly createdAt: number;
  /** Seconds the session may be resumed for. */
  readonly lifetime: number;
  /** TLS 1.3 ticket_age_add (RFC 8446 §4.6.1). */
  readonly ageAdd: number;
  readonly serverName?: string;
  readonly alpn?: string;
  /** Client certificate of the original handshake: none, untrusted, trusted. */
  readonly clientAuth: ClientAuthStatus;
  /** ServerConfig.resumptionContext of the service that made the session (empty when none). */
  readonly context?: Uint8Array;
}

/** Longest ServerConfig.resumptionContext. */
export const MAX_RESUMPTION_CONTEXT = 64;

const NO_CONTEXT = new Uint8Array(0);

/** A config's resumption context (empty when none). */
export function resumptionContext(config: { readonly resumptionContext?: Uint8Array }): Uint8Array {
  const c = config.resumptionContext ?? NO_CONTEXT;
  if (c.length > MAX_RESUMPTION_CONTEXT) throw new RangeError(`resumptionContext is longer than ${MAX_RESUMPTION_CONTEXT} bytes`);
  return c;
}

/** Was `s` made under `context`? (Both are ours: no secret, no need for a constant-time comparison.) */
export function sameResumptionContext(s: SessionState, context: Uint8Array): boolean {
  const c = s.context ?? NO_CONTEXT;
  return c.length === context.length && c.every((b, i) => b === context[i]);
}

export type ClientAuthStatus = 0 | 1 | 2;

const FORMAT = 3;

export function encodeSession(s: SessionState): Uint8Array {
  const w = new Writer(128)
    .u8(FORMAT)
    .u16(s.version)
    .u16(s.cipherSuite)
    .vec(1, s.secret)
    .u8(s.extendedMasterSecret ? 1 : 0)
    .u32(Math.floor(s.createdAt / 0x100000000))
    .u32(s.createdAt >>> 0)
    .u32(s.lifetime)
    .u32(s.ageAdd)
    .u8(s.clientAuth);
  w.vec(1, utf8.encode(s.serverName ?? ''));
  w.vec(1, utf8.encode(s.alpn ?? ''));
  w.vec(1, s.context ?? NO_CONTEXT);
  return w.finish();
}

/** Decode a session blob; undefined if it is not one of ours (never throws). */
export function decodeSession(b: Uint8Array): SessionState | undefined {
  try {
    const r = new Reader(b);
    if (r.u8() !== FORMAT) return undefined;
    const version = r.u16();
    const cipherSuite = r.u16();
    const secret = r.vec(1, 32, 64).slice();
    const extendedMasterSecret = r.u8() === 1;
    const createdAt = r.u32() * 0x100000000 + r.u32();
    const lifetime = r.u32();
    const ageAdd = r.u32();
    const clientAuth = r.u8();
    if (clientAuth > 2) return undefined;
    const serverName = utf8.decode(r.vec(1, 0, 255)) || undefined;
    const alpn = utf8.decode(r.vec(1, 0, 255)) || undefined;
    const context = r.vec(1, 0, MAX_RESUMPTION_CONTEXT).slice();
    r.end('session');
    return { version, cipherSuite, secret, extendedMasterSecret, createdAt, lifetime, ageAdd, serverName, alpn, clientAuth: clientAuth as ClientAuthStatus, context };
  } catch {
    return undefined;
  }
}

/** A TLS 1.2 session-ID cache (Postfix: the tlsmgr-managed smtpd session cache). */
export interface SessionCache {
  get(id: Uint8Array): MaybePromise<Uint8Array | undefined>;
  put(id: Uint8Array, session: Uint8Array, lifetimeSeconds: number): void;
  remove(id: Uint8Array): void;
}

/** Seals session state into tickets and opens them (engine/tickets.ts has the standard one). */
export interface TicketProtector {
  /** Seconds a ticket issued now stays decryptable. */
  readonly lifetime: number;
  /** `context` (ServerConfig.resumptionContext) is authenticated with the ticket: open() with another context fails. */
  seal(session: Uint8Array, context?: Uint8Array): MaybePromise<Uint8Array>;
  /** The session blob, or undefined for a ticket we cannot (or no longer) open, or that was sealed under another context. */
  open(ticket: Uint8Array, context?: Uint8Array): MaybePromise<Uint8Array | undefined>;
}

/** True while `s` may still be resumed at time `now` (ms). */
export function sessionFresh(s: SessionState, now: number): boolean {
  return now >= s.createdAt - 1000 && now <= sessionEnds(s);
}

/** When `s` may no longer be resumed (ms since the epoch). */
export function sessionEnds(s: SessionState): number {
  return s.createdAt + s.lifetime * 1000;
}

/** An in-process, bounded session cache (for a single process, and for tests). */
export class MemorySessionCache implements SessionCache {
  private readonly map = new Map<string, { data: Uint8Array; expires: number }>();

  constructor(private readonly maxEntries = 10000, private readonly now: () => number = Date.now) {}

  private key(id: Uint8Array): string {
    let s = '';
    for (const b of id) s += b.toString(16).padStart(2, '0');
    return s;
  }

  get(id: Uint8Array): Uint8Array | undefined {
    const k = this.key(id);
    const e = this.map.get(k);
    if (!e) return undefined;
    if (e.expires < this.now()) {
      this.map.delete(k);
      return undefined;
    }
    return e.data;
  }

  put(id: Uint8Array, data: Uint8Array, lifetimeSeconds: number): void {
    const k = this.key(id);
    this.map.delete(k);
    while (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value!);
    this.map.set(k, { data: data.slice(), expires: this.now() + lifetimeSeconds * 1000 });
  }

  remove(id: Uint8Array): void {
    this.map.delete(this.key(id));
  }

  get size(): number {
    return this.map.size;
  }
}

/** The client-authentication status to remember for a session. */
export function clientAuthStatus(cert: { trusted: boolean } | undefined): ClientAuthStatus {
  return cert === undefined ? 0 : cert.trusted ? 2 : 1;
}

/**
 * May a session be resumed under the current client-certificate policy?
 * Resumption skips the certificate request, so a policy that requires a
 * (trusted) certificate only resumes sessions that had one.
 */
export function resumableUnder(policy: { mode: string; requireTrusted?: boolean } | undefined, status: ClientAuthStatus): boolean {
  if (!policy) return true;
  if (policy.requireTrusted && status !== 2) return false;
  if (policy.mode === 'require' && status === 0) return false;
  return true;
}
