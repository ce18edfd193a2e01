/**
 * The session-cache and ticket lines Postfix logs at tlsproxy_tls_loglevel
 * >= 2 (tlsproxy-postfix.md §4.2), derived by wrapping one connection's
 * session cache and ticket protector:
 *
 *   <endpt>: looking up session <ID>&s=<service> in smtpd cache
 *   <endpt>: reloaded session <ID>&s=<service> from smtpd cache
 *   <endpt>: save session <ID>&s=<service> to smtpd cache
 *   <endpt>: remove session <ID>&s=<service> from smtpd cache
 *   <endpt>: Issuing session ticket, key expiration: <unix time>
 *   <endpt>: Decrypting session ticket, key expiration: <unix time>
 *   <endpt>: Reusing old session[ (RFC 5077 session ticket)]
 *
 * <ID> is the session ID in upper-case hex as Postfix's cache key (which
 * also carries `&l=<OpenSSL version>`; we have none). The key expiration
 * is when the key stops opening tickets (created + key lifetime). "Reusing
 * old session" is logged from the HandshakeInfo (resumed, and resumedVia
 * for whether a ticket did it).
 */

import type { ServerConfig } from '../../engine/config.js';
import type { HandshakeInfo } from '../../engine/events.js';
import { isPromise, type MaybePromise } from '../../engine/crypto/provider.js';
import type { SessionCache, TicketProtector } from '../../engine/session.js';
import { ServiceSessionCache, type ResumptionStore } from './resumption.js';

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').toUpperCase();

function after<T>(v: MaybePromise<T>, f: (x: T) => void): MaybePromise<T> {
  if (isPromise(v)) {
    return v.then((x) => {
      f(x);
      return x;
    });
  }
  f(v);
  return v;
}

export class ResumptionLog {
  constructor(
    private readonly log: (text: string) => void,
    private readonly endpoint: string,
    private readonly store: ResumptionStore | undefined,
  ) {}

  /** `config` with the cache and ticket protector wrapped for this connection. */
  wrap(config: ServerConfig): ServerConfig {
    const tickets = config.tickets && this.tickets(config.tickets);
    const sessionCache = config.sessionCache instanceof ServiceSessionCache ? this.cache(config.sessionCache) : config.sessionCache;
    return { ...config, tickets, sessionCache };
  }

  /** The line for a resumed handshake (the engine says how: HandshakeInfo.resumedVia). */
  reusing(info: HandshakeInfo): string {
    return `${this.endpoint}: Reusing old session${info.resumedVia === 'ticket' ? ' (RFC 5077 session ticket)' : ''}`;
  }

  private tickets(inner: TicketProtector): TicketProtector {
    const expiry = (ticket: Uint8Array) => this.store?.keyExpiry(inner, ticket) ?? 'unknown';
    return {
      get lifetime() {
        return inner.lifetime;
      },
      seal: (session) => after(inner.seal(session), (ticket) => this.log(`${this.endpoint}: Issuing session ticket, key expiration: ${expiry(ticket)}`)),
      open: (ticket) => {
        const known = this.store?.keyExpiry(inner, ticket);
        if (known !== undefined) this.log(`${this.endpoint}: Decrypting session ticket, key expiration: ${known}`);
        return inner.open(ticket);
      },
    };
  }

  private cache(inner: ServiceSessionCache): SessionCache {
    const id = (b: Uint8Array) => `${hex(b)}&s=${inner.service}`;
    return {
      get: (sid) => {
        this.log(`${this.endpoint}: looking up session ${id(sid)} in smtpd cache`);
        return after(inner.get(sid), (session) => {
          if (session) this.log(`${this.endpoint}: reloaded session ${id(sid)} from smtpd cache`);
        });
      },
      put: (sid, session, lifetime) => {
        this.log(`${this.endpoint}: save session ${id(sid)} to smtpd cache`);
        inner.put(sid, session, lifetime);
      },
      remove: (sid) => {
        this.log(`${this.endpoint}: remove session ${id(sid)} from smtpd cache`);
        inner.remove(sid);
      },
    };
  }
}
