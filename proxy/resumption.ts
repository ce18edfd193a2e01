/**
 * Session resumption as Postfix's tlsmgr arranges it for the smtpd cache
 * type that tlsproxy uses (tlsproxy-postfix.md §1.10):
 *
 *  - lifetime = smtpd_tls_session_cache_timeout (3600s), clamped to
 *    120s..100 days; 0 disables the cache and tickets;
 *  - tickets when tls_session_ticket_cipher is a usable cipher name and
 *    tls_ssl_options does not say NO_TICKET (the engine seals tickets with
 *    AES-256-GCM whatever the name; the name only switches them on);
 *  - a TLS 1.2 session-ID cache when smtpd_tls_session_cache_database is
 *    set (held in this process's memory instead of a tlsmgr database).
 *
 * One ticket key ring and one cache serve every service of the daemon, as
 * tlsmgr serves every tlsproxy process.
 */

import type { CryptoProvider } from '../engine/crypto/provider.js';
import { MemorySessionCache, type SessionCache, type TicketProtector } from '../engine/session.js';
import { TicketKeyRing } from '../engine/tickets.js';
import type { ParameterSet } from './config/main-cf.js';

export interface Resumption {
  readonly tickets?: TicketProtector;
  readonly sessionCache?: SessionCache;
  readonly sessionLifetime?: number;
}

const MIN_LIFETIME = 120;
const MAX_LIFETIME = 100 * 86400;
const TICKET_CIPHERS = new Set(['aes-256-cbc', 'aes-128-cbc', 'aes-192-cbc', 'camellia-256-cbc', 'camellia-128-cbc']);

/** Shared state across services: key rings per provider and lifetime, one session cache. */
export class ResumptionStore {
  private readonly rings = new Map<string, TicketKeyRing>();
  private cache: MemorySessionCache | undefined;

  ring(provider: CryptoProvider, lifetime: number): TicketKeyRing {
    const key = `${provider.name}/${lifetime}`;
    let ring = this.rings.get(key);
    if (!ring) {
      ring = new TicketKeyRing(provider, { lifetime });
      this.rings.set(key, ring);
    }
    return ring;
  }

  sessionCache(): MemorySessionCache {
    this.cache ??= new MemorySessionCache();
    return this.cache;
  }
}

export function resumptionSettings(params: ParameterSet, provider: CryptoProvider, store: ResumptionStore, warnings: string[]): Resumption {
  const timeout = params.getTime('smtpd_tls_session_cache_timeout');
  if (timeout <= 0) return {};
  const lifetime = Math.min(MAX_LIFETIME, Math.max(MIN_LIFETIME, timeout));
  const out: { -readonly [K in keyof Resumption]: Resumption[K] } = { sessionLifetime: lifetime };
  const cipher = params.get('tls_session_ticket_cipher').trim();
  const noTicket = /(^|[\s,:])no_ticket($|[\s,:])/i.test(params.get('tls_ssl_options'));
  if (cipher && !noTicket) {
    if (TICKET_CIPHERS.has(cipher.toLowerCase())) out.tickets = store.ring(provider, lifetime);
    else warnings.push(`tls_session_ticket_cipher: invalid value: ${cipher}; session tickets disabled`);
  }
  if (params.get('smtpd_tls_session_cache_database').trim()) out.sessionCache = store.sessionCache();
  return out;
}
