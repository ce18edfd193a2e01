/**
 * Ticket keys held by another process that is asked on demand (Postfix's
 * tlsmgr(8) in the Postfix service mode: proxy/postfix/tlsmgr-resumption.ts).
 *
 * A FetchingKeySource is a KeySource whose key set can grow by asking:
 * the current encryption key when none is in its encryption window, and
 * a key by name when a client presents a ticket sealed by a key this
 * process has not seen (another tlsproxy process sealed it). fetchingRing
 * wraps the follower ring so that both questions are asked only on a
 * miss, and only once at a time per question; a failed question costs
 * one resumption (no ticket issued, or a full handshake), never the
 * handshake: open() never rejects.
 */

import type { CryptoProvider, MaybePromise } from '../../engine/crypto/provider.js';
import { isPromise } from '../../engine/crypto/provider.js';
import type { TicketProtector } from '../../engine/session.js';
import type { TicketKeyRing } from '../../engine/tickets.js';
import { followerRing, type KeySource } from './ticket-keys.js';

const NAME = 16;

export interface FetchingKeySource extends KeySource {
  /** True when a key can encrypt now (else seal() must wait for currentKey()). */
  hasEncryptionKey(now?: number): boolean;
  /** Ask for the current encryption key; resolves true when one is in the set. */
  currentKey(): Promise<boolean>;
  /** Ask for the key of this name; resolves true when it is in the set and still decrypts. */
  keyByName(name: Uint8Array): Promise<boolean>;
}

export function isFetchingSource(s: KeySource): s is FetchingKeySource {
  return typeof (s as Partial<FetchingKeySource>).keyByName === 'function';
}

/** A TicketProtector over a follower ring that asks its source on a miss. */
export class FetchingRing implements TicketProtector {
  readonly ring: TicketKeyRing;
  private readonly byName = new Map<string, Promise<boolean>>();

  constructor(provider: CryptoProvider, private readonly source: FetchingKeySource) {
    this.ring = followerRing(provider, source);
  }

  get lifetime(): number {
    return this.ring.lifetime;
  }

  seal(session: Uint8Array, context?: Uint8Array): MaybePromise<Uint8Array> {
    if (this.source.hasEncryptionKey()) return this.ring.seal(session, context);
    return this.source.currentKey().then((ok) => {
      if (!ok) throw new Error('no ticket key from the key service');
      return this.ring.seal(session, context);
    });
  }

  open(ticket: Uint8Array, context?: Uint8Array): MaybePromise<Uint8Array | undefined> {
    if (ticket.length < NAME) return undefined;
    const name = ticket.subarray(0, NAME);
    const known = this.source.keys().some((k) => k.name.every((b, i) => b === name[i]));
    if (known) return this.ring.open(ticket, context);
    const id = Buffer.from(name).toString('hex');
    let asked = this.byName.get(id);
    if (!asked) {
      asked = this.source.keyByName(name.slice()).catch(() => false);
      this.byName.set(id, asked);
      void asked.finally(() => this.byName.delete(id));
    }
    return asked.then((ok) => {
      if (!ok) return undefined;
      const r = this.ring.open(ticket, context);
      return isPromise(r) ? r.catch(() => undefined) : r;
    });
  }
}
