/**
 * Session resumption through Postfix's tlsmgr(8), as Postfix's own
 * tlsproxy(8) does it (src/tls/tls_server.c, tls_mgr.c): every tlsproxy
 * process of the instance seals tickets with the keys tlsmgr hands out and
 * keeps TLS 1.2 sessions in tlsmgr's `smtpd` cache, so a client that comes
 * back to another process (master(8) starts new ones as old ones retire,
 * die or are busy) resumes.
 *
 * Keys: tlsmgr's TLS_TICKET_KEY {name, bits, hmac, tout}: the key encrypts
 * until `tout` and decrypts for another half session timeout (tlsmgr.c:
 * each key's encrypt and decrypt-only periods are half the
 * smtpd_tls_session_cache_timeout). Our tickets are AES-256-GCM
 * (engine/tickets.ts), not Postfix's AES-CBC + HMAC, so the 32-byte
 * AES-256-GCM key is derived from the whole key record:
 * SHA-256("tlsproxy tlsmgr ticket key" NUL || bits || hmac). The 16-byte
 * name is tlsmgr's, so any process can ask tlsmgr for the key of a ticket
 * by its name. (Tickets of Postfix's own tlsproxy and ours are not
 * interchangeable: the ciphers differ. Running both against one tlsmgr is
 * harmless; each opens only its own.)
 *
 * Session cache: TLS 1.2 session state is sealed with the same keys (the
 * ticket format) before it goes to tlsmgr, so tlsmgr's database never holds
 * a master secret in clear (Postfix stores OpenSSL's plain session there).
 * The cache ID is the hex of the service-prefixed session ID, which is also
 * the AEAD context of the sealed entry (an entry opens only under its ID).
 *
 * Failures (tlsmgr absent, slow, or answering garbage) cost resumptions,
 * never handshakes: the client's requests are bounded (tlsmgr.ts). When
 * tlsmgr does not answer the start-up policy request, resumption is off for
 * the life of the process, as tls_server_init does when tls_mgr_policy
 * fails (scache_timeout = 0: no cache, no tickets).
 */

import { createHash } from 'node:crypto';
import type { SessionCache, TicketProtector } from '../../engine/session.js';
import type { TicketKey } from '../../engine/tickets.js';
import type { KeyListener } from '../tls/ticket-keys.js';
import type { FetchingKeySource } from '../tls/fetching-keys.js';
import { isPromise, type MaybePromise } from '../../engine/crypto/provider.js';
import type { TlsmgrClient, TlsmgrTicketKey } from './tlsmgr.js';

/** The cache type tlsproxy's server role uses (tlsproxy-postfix.md §1.10). */
export const SMTPD_CACHE = 'smtpd';

const LABEL = Buffer.from('tlsproxy tlsmgr ticket key\0', 'latin1');

/** Our TicketKey for a tlsmgr key: derived AES-256-GCM key; created so that the ring's windows match tlsmgr's. */
export function ticketKeyFromTlsmgr(k: TlsmgrTicketKey, lifetime: number): TicketKey {
  const secret = new Uint8Array(createHash('sha256').update(LABEL).update(k.bits).update(k.hmac).digest());
  // The ring encrypts while age < lifetime/2 and decrypts while age < lifetime;
  // tlsmgr's key encrypts until tout (inclusive) and decrypts lifetime/2 longer.
  const created = (k.tout + 1) * 1000 - Math.floor(lifetime / 2) * 1000;
  return { name: new Uint8Array(k.name), secret, created };
}

export class TlsmgrKeySource implements FetchingKeySource {
  readonly id: string;
  private current: TicketKey[] = [];
  private readonly listeners: KeyListener[] = [];
  private asking: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly client: TlsmgrClient, readonly lifetime: number, private readonly now: () => number = Date.now) {
    this.id = `tlsmgr:${lifetime}`;
  }

  keys(): readonly TicketKey[] {
    return this.current;
  }

  subscribe(listener: KeyListener): void {
    this.listeners.push(listener);
  }

  hasEncryptionKey(now = this.now()): boolean {
    const k = this.current[this.current.length - 1];
    return !!k && now - k.created < Math.floor(this.lifetime / 2) * 1000;
  }

  currentKey(): Promise<boolean> {
    this.asking ??= this.client.ticketKey().then((k) => {
      this.asking = undefined;
      if (k) this.add(k);
      return this.hasEncryptionKey();
    });
    return this.asking;
  }

  async keyByName(name: Uint8Array): Promise<boolean> {
    const k = await this.client.ticketKey(name);
    if (!k || !k.name.every((b, i) => b === name[i])) return false;
    this.add(k);
    return this.current.some((x) => x.name.every((b, i) => b === name[i]));
  }

  /** Ask for the current key now (start-up), so that the first handshake seals without waiting. */
  start(): Promise<boolean> {
    return this.currentKey();
  }

  private add(k: TlsmgrTicketKey): void {
    const key = ticketKeyFromTlsmgr(k, this.lifetime);
    const now = this.now();
    const kept = this.current.filter((x) => now - x.created < this.lifetime * 1000 && !x.name.every((b, i) => b === key.name[i]));
    if (now - key.created >= this.lifetime * 1000) return;
    this.current = [...kept, key].sort((a, b) => a.created - b.created);
    for (const l of this.listeners) l(this.current);
    this.schedule();
  }

  /** When the newest key stops encrypting, ask for its successor (tlsmgr makes it on that request). */
  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const newest = this.current[this.current.length - 1];
    if (!newest) return;
    const end = newest.created + Math.floor(this.lifetime / 2) * 1000;
    const delay = Math.min(3600_000, Math.max(1000, end - this.now() + 1000));
    this.timer = setTimeout(() => void this.currentKey(), delay);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.listeners.length = 0;
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * The smtpd session cache in tlsmgr, entries sealed with the tlsmgr keys and
 * the cache key (service and session ID) as the authenticated context, as
 * memcache-cache.ts does: an entry moved to another cache ID in tlsmgr's
 * database does not open there.
 */
export class TlsmgrSessionCache implements SessionCache {
  constructor(private readonly client: TlsmgrClient, private readonly seal: TicketProtector) {}

  get(id: Uint8Array): MaybePromise<Uint8Array | undefined> {
    return this.client.lookup(SMTPD_CACHE, hex(id)).then(async (sealed) => {
      if (!sealed) return undefined;
      try {
        const o = this.seal.open(sealed, new Uint8Array(id));
        return (isPromise(o) ? await o : o) ?? undefined;
      } catch {
        return undefined;
      }
    });
  }

  put(id: Uint8Array, session: Uint8Array): void {
    void (async () => {
      try {
        const s = this.seal.seal(session, new Uint8Array(id));
        await this.client.update(SMTPD_CACHE, hex(id), isPromise(s) ? await s : s);
      } catch {
        // No key from tlsmgr: the session is simply not cached (Postfix: update failed, ignored).
      }
    })();
  }

  remove(id: Uint8Array): void {
    void this.client.delete(SMTPD_CACHE, hex(id));
  }
}
