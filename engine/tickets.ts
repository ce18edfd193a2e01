/**
 * Session ticket keys (RFC 5077 §4's recommended construction, with an
 * AEAD instead of CBC+HMAC) and their rotation.
 *
 *   ticket = key_name[16] || nonce[12] || AES-256-GCM(key, nonce, aad = key_name || context, session_state)
 *
 * `context` is the service's ServerConfig.resumptionContext (its name and
 * client-certificate policy): it is not in the ticket, so a ticket opens
 * only where it was made, even when services share the keys.
 *
 * Rotation, as Postfix's tlsmgr does it: each key *encrypts* for half the
 * ticket key lifetime after it is made, and *decrypts* until the full
 * lifetime has passed. A new key is made when the newest one stops
 * encrypting; keys past their lifetime are forgotten. Tickets are therefore
 * announced with a lifetime of half the key lifetime, and every ticket
 * stays decryptable for all of it.
 *
 * Keys are plain bytes (name + secret + creation time) so that a daemon can
 * share one ring between its worker processes, or load it from a key file
 * shared by a fleet.
 */

import { concat } from './codec.js';
import type { AeadKey, CryptoProvider, MaybePromise } from './crypto/provider.js';
import { isPromise } from './crypto/provider.js';
import type { TicketProtector } from './session.js';

export interface TicketKey {
  /** 16 bytes, sent in the clear at the start of each ticket. */
  readonly name: Uint8Array;
  /** 32 bytes of AES-256-GCM key. */
  readonly secret: Uint8Array;
  /** Creation time, ms since the epoch. */
  readonly created: number;
}

const NAME = 16;
const NONCE = 12;
const TAG = 16;
export const TICKET_KEY_MATERIAL = NAME + 32;
/** Keys dated at most this far ahead seal at once (clock rounding); later ones are staged. */
export const STAGE_TOLERANCE_MS = 2000;

export interface TicketKeyRingOptions {
  /** Key lifetime in seconds (Postfix: smtpd_tls_session_cache_timeout, default 3600). */
  readonly lifetime?: number;
  readonly now?: () => number;
  readonly random?: (n: number) => Uint8Array;
  /** Start with these keys (e.g. from the parent process or a key file) instead of a fresh one. */
  readonly keys?: readonly TicketKey[];
  /** Make new keys as time passes (default true). A follower process that receives keys sets false. */
  readonly autoRotate?: boolean;
}

export class TicketKeyRing implements TicketProtector {
  private keys: TicketKey[] = [];
  private readonly aead = new Map<TicketKey, MaybePromise<AeadKey>>();
  private readonly keyLifetime: number;
  private readonly now: () => number;
  private readonly random: (n: number) => Uint8Array;
  private readonly autoRotate: boolean;

  constructor(private readonly provider: CryptoProvider, opts: TicketKeyRingOptions = {}) {
    this.keyLifetime = opts.lifetime ?? 3600;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? ((n) => provider.random(n));
    this.autoRotate = opts.autoRotate ?? true;
    if (opts.keys) this.setKeys(opts.keys);
    this.rotate();
  }

  /** Seconds a ticket issued now is announced (and guaranteed) to be valid. */
  get lifetime(): number {
    return Math.floor(this.keyLifetime / 2);
  }

  /** Replace the key set (newest last), e.g. with keys pushed by the parent process. */
  setKeys(keys: readonly TicketKey[]): void {
    for (const k of keys) {
      if (k.name.length !== NAME || k.secret.length !== 32) throw new Error('ticket key: name must be 16 bytes and secret 32 bytes');
    }
    this.keys = [...keys].sort((a, b) => a.created - b.created);
    this.aead.clear();
  }

  /** The current keys, oldest first (to hand to worker processes). */
  currentKeys(): readonly TicketKey[] {
    this.rotate();
    return this.keys;
  }

  /** Drop expired keys and, if the newest no longer encrypts, make a new one. Returns true if the set changed. */
  rotate(): boolean {
    const now = this.now();
    const before = this.keys.length;
    this.keys = this.keys.filter((k) => now - k.created < this.keyLifetime * 1000);
    let changed = this.keys.length !== before;
    const newest = this.keys[this.keys.length - 1];
    if (this.autoRotate && (!newest || now - newest.created >= (this.keyLifetime * 1000) / 2)) {
      this.keys.push({ name: this.random(NAME).slice(), secret: this.random(32).slice(), created: now });
      changed = true;
    }
    return changed;
  }

  private aeadFor(k: TicketKey): MaybePromise<AeadKey> {
    let a = this.aead.get(k);
    if (!a) {
      a = this.provider.aeadKey('AES-256-GCM', k.secret);
      this.aead.set(k, a);
    }
    return a;
  }

  /**
   * The newest key that exists already: a key whose creation time is still
   * ahead is STAGED (a key file prepared by `tlsproxy ticket-keys rotate`):
   * it opens tickets at once, so that every member of a fleet can open the
   * tickets of the first one to use it, and seals only from its time on.
   */
  private encryptionKey(): TicketKey | undefined {
    this.rotate();
    const now = this.now();
    let k: TicketKey | undefined;
    // A key less than STAGE_TOLERANCE_MS ahead is not staged but rounding: tlsmgr keys
    // (proxy/postfix/tlsmgr-resumption.ts) are dated up to a second ahead of our clock.
    for (let i = this.keys.length - 1; i >= 0 && !k; i--) if (this.keys[i]!.created <= now + STAGE_TOLERANCE_MS) k = this.keys[i];
    if (!k || now - k.created >= (this.keyLifetime * 1000) / 2) return undefined;
    return k;
  }

  seal(session: Uint8Array, context: Uint8Array = new Uint8Array(0)): MaybePromise<Uint8Array> {
    const k = this.encryptionKey();
    if (!k) throw new Error('no ticket key is in its encryption window');
    const nonce = this.random(NONCE).slice();
    const build = (a: AeadKey): MaybePromise<Uint8Array> => {
      const ct = a.seal(nonce, concat(k.name, context), session);
      return isPromise(ct) ? ct.then((c) => concat(k.name, nonce, c)) : concat(k.name, nonce, ct);
    };
    const a = this.aeadFor(k);
    return isPromise(a) ? a.then(build) : build(a);
  }

  open(ticket: Uint8Array, context: Uint8Array = new Uint8Array(0)): MaybePromise<Uint8Array | undefined> {
    if (ticket.length < NAME + NONCE + TAG) return undefined;
    const name = ticket.subarray(0, NAME);
    const now = this.now();
    const k = this.keys.find((x) => x.name.every((b, i) => b === name[i]) && now - x.created < this.keyLifetime * 1000);
    if (!k) return undefined;
    const nonce = ticket.subarray(NAME, NAME + NONCE);
    const body = ticket.subarray(NAME + NONCE);
    const done = (p: Uint8Array | null) => p ?? undefined;
    const go = (a: AeadKey): MaybePromise<Uint8Array | undefined> => {
      const p = a.open(nonce, concat(k.name, context), body);
      return isPromise(p) ? p.then(done) : done(p);
    };
    const a = this.aeadFor(k);
    return isPromise(a) ? a.then(go) : go(a);
  }
}

/** 48 bytes of key material (name || secret) as used in key files. */
export function ticketKeyFromMaterial(material: Uint8Array, created: number): TicketKey {
  if (material.length !== TICKET_KEY_MATERIAL) throw new Error(`ticket key material must be ${TICKET_KEY_MATERIAL} bytes`);
  return { name: material.slice(0, NAME), secret: material.slice(NAME), created };
}
