/**
 * The TLS 1.2 session-ID cache on a memcached server, shared by a fleet:
 *
 *   smtpd_tls_session_cache_database = memcache:/etc/tlsproxy/scache.cf
 *
 * with scache.cf in the syntax of Postfix's memcache_table(5):
 *
 *   memcache = inet:127.0.0.1:11211     (default inet:localhost:11211)
 *   ttl = 3600                          (seconds; never longer than the session's lifetime)
 *   key_format = tlsproxy-%s            (%s = hex of service name NUL session ID; default %s)
 *   timeout = 2                         (seconds: memcached I/O; the handshake waits less, below)
 *
 * Client: memjs (maintained, binary protocol). Each serving process has
 * its own connection.
 *
 * Sealing: a session never leaves the process in clear. Each value is
 * sealed with the key ring of tlsproxy_tls_session_ticket_key_file (the
 * same AES-256-GCM keys and rotation as tickets, engine/tickets.ts), with
 * the cache key (service and session ID) as the authenticated context: the
 * cache server holds no master secret, and a value moved to another key
 * does not open. Daemons that share the key file open each other's
 * sessions; a value sealed with a retired key is a miss.
 *
 * A cache that is down or slow never stalls or fails a handshake: a
 * look-up waits at most tlsproxy_session_cache_lookup_ms (200 ms), then
 * counts as a miss (a full handshake). A failure (error, time-out) marks
 * the server down for RETRY_MS, during which look-ups miss at once and
 * stores are skipped; the warning is logged at most once per WARN_EVERY_MS
 * (with how many were not logged).
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SessionCache, TicketProtector } from '../../engine/session.js';
import type { MaybePromise } from '../../engine/crypto/provider.js';
import { ConfigError } from '../config/errors.js';
import { strerror } from '../base/errno.js';

/** memjs ships no type declarations: the one function we call, typed here. */
type Memjs = { Client: { create(servers: string, options: Record<string, unknown>): unknown } };
let memjsModule: Memjs | undefined;
/** memjs, loaded the first time a client is made (not at start-up when no memcache is configured). */
function memjs(): Memjs {
  memjsModule ??= createRequire(import.meta.url)('memjs') as Memjs;
  return memjsModule;
}

export const RETRY_MS = 5000;
export const WARN_EVERY_MS = 60_000;
const MAX_PENDING = 1000;

export interface MemcacheConfig {
  readonly file: string;
  readonly host: string;
  readonly port: number;
  readonly ttl: number;
  readonly keyFormat: string;
  readonly timeoutS: number;
}

/** Parse a memcache_table(5) file; ConfigError names the file and line. */
export function parseMemcacheConfig(text: string, file: string, warnings: string[] = []): MemcacheConfig {
  const fail = (m: string): never => {
    throw new ConfigError(`memcache:${file}: ${m}`);
  };
  const values = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) fail(`line ${i + 1}: expected "name = value"`);
    values.set(m![1]!, m![2]!.trim());
  });
  for (const name of values.keys()) {
    if (!['memcache', 'ttl', 'key_format', 'timeout', 'max_try', 'retry_pause', 'flags', 'line_size_limit', 'data_size_limit', 'domain', 'backup', 'duplicate_key'].includes(name)) {
      warnings.push(`memcache:${file}: unknown parameter "${name}" ignored`);
    } else if (['backup', 'duplicate_key', 'domain'].includes(name) && values.get(name)) {
      warnings.push(`memcache:${file}: "${name}" is not supported here and is ignored`);
    }
  }
  const server = values.get('memcache') ?? 'inet:localhost:11211';
  const sm = /^(?:inet:)?(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(server);
  if (!sm || Number(sm[2]) > 65535) fail(`memcache = ${server}: expected inet:host:port (unix: sockets are not supported)`);
  const host = sm![1]!.replace(/^\[|\]$/g, '');
  const int = (name: string, def: number, min: number): number => {
    const v = values.get(name);
    if (v === undefined) return def;
    if (!/^\d{1,9}$/.test(v) || Number(v) < min) fail(`${name} = ${v}: expected a whole number of at least ${min}`);
    return Number(v);
  };
  const keyFormat = values.get('key_format') ?? '%s';
  if ((keyFormat.match(/%s/g) ?? []).length !== 1 || /%[^s]/.test(keyFormat.replace(/%%/g, '')) || /[\s\x00-\x1f]/.test(keyFormat)) {
    fail(`key_format = ${keyFormat}: expected a prefix and/or suffix around one %s, no spaces`);
  }
  if (keyFormat.length - 2 > 100) fail('key_format: more than 100 characters besides %s');
  return { file, host, port: Number(sm![2]), ttl: int('ttl', 3600, 1), keyFormat, timeoutS: int('timeout', 2, 1) };
}

export function readMemcacheConfig(file: string, warnings: string[] = []): MemcacheConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`smtpd_tls_session_cache_database = memcache:${file}: cannot read the file: ${strerror(e)}`);
  }
  return parseMemcacheConfig(text, file, warnings);
}

/** The minimal client surface we use (memjs; a test may pass another). */
export interface MemcacheClient {
  get(key: string): Promise<{ value: Buffer | null }>;
  set(key: string, value: Buffer, options: { expires: number }): Promise<unknown>;
  delete(key: string): Promise<unknown>;
  close(): void;
}

export interface SealedCacheOptions {
  /** Longest wait of a handshake for a look-up (ms). */
  readonly lookupMs: number;
  readonly warn: (message: string) => void;
  readonly client?: () => MemcacheClient;
  readonly now?: () => number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const after = <T, U>(v: MaybePromise<T>, f: (t: T) => U): MaybePromise<U> => (v instanceof Promise ? v.then(f) : f(v as T));

export class SealedMemcacheCache implements SessionCache {
  private client: MemcacheClient | undefined;
  private downUntil = 0;
  private lastWarn = -Infinity;
  private suppressed = 0;
  private pending = 0;
  private readonly now: () => number;

  constructor(
    readonly config: MemcacheConfig,
    private readonly sealer: TicketProtector,
    private readonly options: SealedCacheOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  get description(): string {
    return `memcache:${this.config.file} (server ${this.config.host}:${this.config.port})`;
  }

  private connection(): MemcacheClient {
    this.client ??=
      this.options.client?.() ??
      (memjs().Client.create(`${this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host}:${this.config.port}`, {
        timeout: this.config.timeoutS,
        conntimeout: this.config.timeoutS,
        retries: 1,
        keepAlive: true,
        logger: { log: () => undefined },
      }) as unknown as MemcacheClient);
    return this.client;
  }

  key(id: Uint8Array): string {
    return this.config.keyFormat.replace('%s', hex(id));
  }

  private failed(what: string): void {
    const now = this.now();
    this.downUntil = now + RETRY_MS;
    if (now - this.lastWarn < WARN_EVERY_MS) {
      this.suppressed++;
      return;
    }
    const more = this.suppressed ? ` (${this.suppressed} more problem${this.suppressed === 1 ? '' : 's'} since the last warning)` : '';
    this.suppressed = 0;
    this.lastWarn = now;
    this.options.warn(`${this.description}: ${what}${more}; TLS session look-ups miss (full handshakes) and stores are skipped for ${RETRY_MS / 1000}s`);
  }

  private get down(): boolean {
    return this.now() < this.downUntil;
  }

  get(id: Uint8Array): Promise<Uint8Array | undefined> | undefined {
    if (this.down || this.pending >= MAX_PENDING) return undefined;
    const key = this.key(id);
    const context = new Uint8Array(id);
    this.pending++;
    return new Promise((resolve) => {
      let done = false;
      const finish = (v: Uint8Array | undefined) => {
        if (done) return;
        done = true;
        this.pending--;
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.failed(`look-up took more than ${this.options.lookupMs}ms (tlsproxy_session_cache_lookup_ms)`);
        finish(undefined);
      }, this.options.lookupMs);
      let request: Promise<{ value: Buffer | null }>;
      try {
        request = this.connection().get(key);
      } catch (e) {
        this.failed(`look-up failed: ${(e as Error).message}`);
        finish(undefined);
        return;
      }
      request.then(
        (r) => {
          if (done) return;
          if (!r.value) return finish(undefined);
          try {
            const opened = this.sealer.open(new Uint8Array(r.value), context);
            if (opened instanceof Promise) opened.then(finish, () => finish(undefined));
            else finish(opened);
          } catch {
            finish(undefined);
          }
        },
        (e: Error) => {
          if (!done) this.failed(`look-up failed: ${e.message}`);
          finish(undefined);
        },
      );
    });
  }

  put(id: Uint8Array, session: Uint8Array, lifetimeSeconds: number): void {
    if (this.down) return;
    const key = this.key(id);
    let sealed: MaybePromise<Uint8Array>;
    try {
      sealed = this.sealer.seal(session, new Uint8Array(id));
    } catch {
      return; // no key in its encryption window: nothing is stored
    }
    const expires = Math.max(1, Math.min(this.config.ttl, lifetimeSeconds));
    void Promise.resolve(after(sealed, (v) => this.connection().set(key, Buffer.from(v), { expires }))).then(
      () => undefined,
      (e: Error) => this.failed(`store failed: ${e.message}`),
    );
  }

  remove(id: Uint8Array): void {
    if (this.down) return;
    try {
      this.connection()
        .delete(this.key(id))
        .catch(() => undefined);
    } catch {
      // nothing to do
    }
  }

  close(): void {
    try {
      this.client?.close();
    } catch {
      // closed
    }
    this.client = undefined;
  }
}
