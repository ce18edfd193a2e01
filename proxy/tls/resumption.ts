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
 *    set (held in the daemon's memory instead of a tlsmgr database); with
 *    none, tlsproxy_tls_always_issue_session_ids (yes) still makes us send
 *    session IDs, which then never resume (tls-settings.ts).
 *
 * One ResumptionStore serves every service of the daemon, as tlsmgr serves
 * every tlsproxy process. Its role says where keys and the cache live:
 *
 *  - 'local' (one process serves everything): ticket keys made here (or
 *    read from tlsproxy_tls_session_ticket_key_file), the cache in memory;
 *  - 'primary' (the main process of a daemon with worker processes): the
 *    same sources and cache, which the main process hands out over IPC
 *    (workers.ts); its rings are never used;
 *  - 'worker': keys arrive from the main process (setRemoteKeys), cache
 *    look-ups go to it (ipc.ts IpcSessionCache).
 *
 * Cache entries are kept per service (the ID is prefixed with the service
 * name, as Postfix's cache key carries `&s=<service>`): a session made on
 * one service is not resumed on another. Tickets, like Postfix's, are
 * opened by every service that shares the key set.
 */

import { ConfigError } from '../config/errors.js';
import { SealedMemcacheCache, readMemcacheConfig } from './memcache-cache.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { MemorySessionCache, type SessionCache, type TicketProtector } from '../../engine/session.js';
import type { TicketKey } from '../../engine/tickets.js';
import type { MaybePromise } from '../../engine/crypto/provider.js';
import type { ParameterSet } from '../config/main-cf.js';
import { FetchingRing, isFetchingSource } from './fetching-keys.js';
import { FileKeySource, GeneratedKeySource, KEY_FILE_PARAMETER, RemoteKeySource, followerRing, type KeySource } from './ticket-keys.js';

export interface Resumption {
  readonly tickets?: TicketProtector;
  readonly sessionCache?: SessionCache;
  readonly sessionLifetime?: number;
}

export const MIN_LIFETIME = 120;
export const MAX_LIFETIME = 100 * 86400;
const TICKET_CIPHERS = new Set(['aes-256-cbc', 'aes-128-cbc', 'aes-192-cbc', 'camellia-256-cbc', 'camellia-128-cbc']);
/** OpenSSL's SSL_OP_NO_TICKET, for tls_ssl_options given as a 0x mask. */
const SSL_OP_NO_TICKET = 0x4000;

export type ResumptionRole = 'local' | 'primary' | 'worker';

export interface ResumptionStoreOptions {
  readonly role?: ResumptionRole;
  /** Most entries in the session-ID cache (tlsproxy_session_cache_size). */
  readonly cacheSize?: number;
  /** Worker role: the cache in the main process, reached over IPC. */
  readonly remoteCache?: SessionCache;
  /**
   * Where keys come from when no key file is set (the Postfix service mode:
   * tlsmgr(8)); default: made here. Not used in the worker role.
   */
  readonly keySource?: (provider: CryptoProvider, lifetime: number) => KeySource;
  /** No resumption at all (the Postfix service mode when tlsmgr does not answer at start-up, as Postfix does). */
  readonly disabled?: boolean;
  /** Messages from key sources after start-up (key file reloads, stale keys). */
  readonly warn?: (message: string) => void;
  readonly info?: (message: string) => void;
}

/** Shared state across services: key sources and rings, one session cache. */
export class ResumptionStore {
  readonly role: ResumptionRole;
  private readonly sources = new Map<string, KeySource>();
  /** smtpd_tls_session_cache_database = memcache:FILE, one connection per file (memcache-cache.ts). */
  private readonly memcaches = new Map<string, SealedMemcacheCache>();
  private readonly rings = new Map<string, TicketProtector>();
  private readonly ringSources = new WeakMap<TicketProtector, KeySource>();
  private readonly changeListeners: ((id: string, keys: readonly TicketKey[]) => void)[] = [];
  private cache: SessionCache | undefined;

  constructor(private readonly options: ResumptionStoreOptions = {}) {
    this.role = options.role ?? 'local';
  }

  get disabled(): boolean {
    return !!this.options.disabled;
  }

  /** The key source for a lifetime and key file (made on first use; a bad key file throws ConfigError). */
  source(provider: CryptoProvider, lifetime: number, keyFile?: string): KeySource {
    const id = keyFile ? `${lifetime}:${keyFile}` : String(lifetime);
    let source = this.sources.get(id);
    if (!source) {
      if (this.role === 'worker') source = new RemoteKeySource(id, lifetime);
      else if (keyFile) source = new FileKeySource(keyFile, lifetime, { warn: this.options.warn, info: this.options.info });
      else if (this.options.keySource) source = this.options.keySource(provider, lifetime);
      else source = new GeneratedKeySource(provider, lifetime);
      this.sources.set(id, source);
      const s = source;
      s.subscribe((keys) => {
        for (const l of this.changeListeners) l(s.id, keys);
      });
    }
    return source;
  }

  /** The ring that seals and opens tickets for this provider, lifetime and key file. */
  ring(provider: CryptoProvider, lifetime: number, keyFile?: string): TicketProtector {
    const source = this.source(provider, lifetime, keyFile);
    const key = `${provider.name}|${source.id}`;
    let ring = this.rings.get(key);
    if (!ring) {
      // A source that is asked on demand (tlsmgr) gets a ring that asks on a miss.
      ring = isFetchingSource(source) ? new FetchingRing(provider, source) : followerRing(provider, source);
      this.rings.set(key, ring);
      this.ringSources.set(ring, source);
    }
    return ring;
  }

  /** The daemon-wide TLS 1.2 session-ID cache. */
  sessionCache(): SessionCache {
    this.cache ??= this.options.remoteCache ?? new MemorySessionCache(this.options.cacheSize ?? 10000);
    return this.cache;
  }

  /** Every key set by id (the main process sends these to each new worker). */
  keySets(): [string, readonly TicketKey[]][] {
    return [...this.sources.values()].map((s) => [s.id, s.keys()]);
  }

  /** Called whenever a key set changes (rotation, key file reload). */
  onKeysChanged(listener: (id: string, keys: readonly TicketKey[]) => void): void {
    this.changeListeners.push(listener);
  }

  /** Worker role: keys from the main process. */
  setRemoteKeys(id: string, keys: readonly TicketKey[]): void {
    let source = this.sources.get(id);
    if (!source) {
      const lifetime = Number(/^\d+/.exec(id)?.[0] ?? 0);
      source = new RemoteKeySource(id, lifetime);
      this.sources.set(id, source);
    }
    if (source instanceof RemoteKeySource) source.set(keys);
  }

  /** Re-read every key file (SIGHUP); returns how many files there are. */
  reloadKeyFiles(why = 'reload'): number {
    let n = 0;
    for (const s of this.sources.values()) {
      if (s instanceof FileKeySource) {
        s.reload(why);
        n++;
      }
    }
    return n;
  }

  /**
   * The memcached session cache of `file`, its values sealed with the ring of `keyFile` (required:
   * the fleet shares it). ConfigError for a bad file or no key file.
   */
  memcache(provider: CryptoProvider, lifetime: number, keyFile: string, file: string, lookupMs: number, warnings: string[]): SealedMemcacheCache {
    if (!keyFile) throw new ConfigError(`smtpd_tls_session_cache_database = memcache:${file}: needs ${KEY_FILE_PARAMETER} (sessions are sealed with its keys before they leave the process)`);
    let c = this.memcaches.get(file);
    if (!c) {
      const config = readMemcacheConfig(file, warnings);
      c = new SealedMemcacheCache(config, this.ring(provider, lifetime, keyFile), { lookupMs, warn: (m) => (this.options.warn ?? ((x: string) => process.stderr.write(`${x}\n`)))(m) });
      this.memcaches.set(file, c);
    }
    return c;
  }

  /** Unix time (s) after which the key that sealed `ticket` no longer opens anything; undefined if unknown. */
  keyExpiry(tickets: TicketProtector, ticket: Uint8Array): number | undefined {
    const source = this.ringSources.get(tickets);
    if (!source || ticket.length < 16) return undefined;
    const k = source.keys().find((x) => x.name.every((b, i) => b === ticket[i]));
    return k && Math.floor(k.created / 1000) + source.lifetime;
  }

  close(): void {
    for (const s of this.sources.values()) s.close();
    for (const c of this.memcaches.values()) c.close();
    this.changeListeners.length = 0;
  }
}

/** True when tls_ssl_options turns tickets off (NO_TICKET by name or in a 0x mask). */
export function noTicketOption(value: string): boolean {
  for (const word of value.split(/[\s,:]+/).filter(Boolean)) {
    if (/^no_ticket$/i.test(word)) return true;
    if (/^0x[0-9a-f]+$/i.test(word) && (Number.parseInt(word, 16) & SSL_OP_NO_TICKET) !== 0) return true;
  }
  return false;
}

/** Session lifetime in seconds from smtpd_tls_session_cache_timeout; 0 = no resumption. */
export function sessionLifetime(params: ParameterSet): number {
  const timeout = params.getTime('smtpd_tls_session_cache_timeout');
  if (timeout <= 0) return 0;
  return Math.min(MAX_LIFETIME, Math.max(MIN_LIFETIME, timeout));
}

export function resumptionSettings(params: ParameterSet, provider: CryptoProvider, store: ResumptionStore, warnings: string[]): Resumption {
  const lifetime = store.disabled ? 0 : sessionLifetime(params);
  const keyFile = params.get(KEY_FILE_PARAMETER).trim();
  if (store.disabled) return {};
  if (lifetime <= 0) {
    if (keyFile) warnings.push(`${KEY_FILE_PARAMETER} is ignored: smtpd_tls_session_cache_timeout = 0 disables session resumption`);
    return {};
  }
  const out: { -readonly [K in keyof Resumption]: Resumption[K] } = { sessionLifetime: lifetime };
  const cipher = params.get('tls_session_ticket_cipher').trim();
  const noTicket = noTicketOption(params.get('tls_ssl_options'));
  if (cipher && !noTicket) {
    if (TICKET_CIPHERS.has(cipher.toLowerCase())) out.tickets = store.ring(provider, lifetime, keyFile || undefined);
    else warnings.push(`tls_session_ticket_cipher: invalid value: ${cipher}; session tickets disabled`);
  } else if (keyFile) {
    warnings.push(`${KEY_FILE_PARAMETER} is ignored: session tickets are disabled (${noTicket ? 'tls_ssl_options NO_TICKET' : 'empty tls_session_ticket_cipher'})`);
  }
  const database = params.get('smtpd_tls_session_cache_database').trim();
  if (database) {
    const inner = database.startsWith('memcache:')
      ? store.memcache(provider, lifetime, keyFile, database.slice('memcache:'.length), params.getInt('tlsproxy_session_cache_lookup_ms'), warnings)
      : store.sessionCache();
    out.sessionCache = new ServiceSessionCache(inner, params.get('service_name') || 'tlsproxy');
  }
  return out;
}

const utf8 = new TextEncoder();

/** One service's view of the shared cache: IDs prefixed with `<service>\0`. */
export class ServiceSessionCache implements SessionCache {
  private readonly prefix: Uint8Array;

  constructor(readonly inner: SessionCache, readonly service: string) {
    this.prefix = utf8.encode(`${service}\0`);
  }

  private key(id: Uint8Array): Uint8Array {
    const k = new Uint8Array(this.prefix.length + id.length);
    k.set(this.prefix);
    k.set(id, this.prefix.length);
    return k;
  }

  get(id: Uint8Array): MaybePromise<Uint8Array | undefined> {
    return this.inner.get(this.key(id));
  }

  put(id: Uint8Array, session: Uint8Array, lifetimeSeconds: number): void {
    this.inner.put(this.key(id), session, lifetimeSeconds);
  }

  remove(id: Uint8Array): void {
    this.inner.remove(this.key(id));
  }
}

/** Issues session IDs but keeps nothing (tlsproxy_tls_always_issue_session_ids without a cache). */
export const NO_SESSION_CACHE: SessionCache = {
  get: () => undefined,
  put: () => undefined,
  remove: () => undefined,
};
