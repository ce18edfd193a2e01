/**
 * Where session ticket keys come from, and how they reach the rings that
 * seal and open tickets (engine/tickets.ts).
 *
 * A KeySource owns a key set (oldest first) and tells its subscribers when
 * it changes; the TicketKeyRings that do the work are followers
 * (`autoRotate: false`) that only ever receive keys:
 *
 *  - GeneratedKeySource: keys made here, 48 bytes from the CSPRNG
 *    (node:crypto randomBytes), rotated as Postfix's tlsmgr does: a key
 *    encrypts for half the lifetime and decrypts until the full lifetime
 *    has passed. The rotation runs on a timer a few seconds AHEAD of the
 *    keys' use (ROTATE_AHEAD_MS), so that a follower, in this process or
 *    a worker reached over IPC, has the next key before the current one
 *    stops encrypting.
 *  - FileKeySource: keys from tlsproxy_tls_session_ticket_key_file, for a
 *    fleet of daemons that must open each other's tickets. Never rotated
 *    here: the operator rewrites the file; it is re-read on reload()
 *    (SIGHUP) and when its size or modification time changes.
 *  - RemoteKeySource: a worker's copy, set from the main process's messages.
 *
 * Key file format (text, at most MAX_FILE_KEYS keys):
 *
 *   # comments and blank lines are ignored
 *   <created: unix time in seconds> <base64 of 48 bytes: 16-byte key name + 32-byte AES-256-GCM key>
 *
 * one key per line, oldest first. The ring rules apply with the lifetime
 * smtpd_tls_session_cache_timeout (L): the newest key encrypts while it
 * is younger than L/2; every key decrypts until it is L old. A new line
 * is therefore due every L/2 at the latest, and lines older than L may be
 * removed:
 *
 *   printf '%s %s\n' "$(date +%s)" "$(openssl rand -base64 48)" >> ticket-keys
 *
 * The file must not be readable or writable by group or others. Key
 * material is never logged; messages name keys by line number.
 */

import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { TICKET_KEY_MATERIAL, TicketKeyRing, ticketKeyFromMaterial, type TicketKey } from '../../engine/tickets.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { ConfigError } from '../config/errors.js';
import { strerror } from '../base/errno.js';

export const KEY_FILE_PARAMETER = 'tlsproxy_tls_session_ticket_key_file';
/** Generated keys are made this long before they are needed (see above). */
export const ROTATE_AHEAD_MS = 5000;
export const MAX_FILE_KEYS = 100;
const MAX_FILE_BYTES = 64 * 1024;
/** A key file time may be this far ahead of our clock (clock skew in a fleet). */
const MAX_FUTURE_SKEW_S = 300;
/**
 * How far ahead a key's time may be: a STAGED key (`tlsproxy ticket-keys
 * rotate`) opens tickets at once and seals from its time on; at most half
 * the lifetime ahead (or the clock skew allowance, whichever is more).
 */
export function maxAheadSeconds(lifetime: number): number {
  return Math.max(MAX_FUTURE_SKEW_S, Math.floor(lifetime / 2));
}
/** Longest timer (setTimeout's limit is 2^31-1 ms). */
const MAX_TIMER_MS = 3600_000;

export type KeyListener = (keys: readonly TicketKey[]) => void;

export interface KeySource {
  /** Identifies the key set between processes: `<lifetime>` or `<lifetime>:<file>`. */
  readonly id: string;
  /** Key lifetime in seconds (smtpd_tls_session_cache_timeout, clamped). */
  readonly lifetime: number;
  /** The current keys, oldest first. */
  keys(): readonly TicketKey[];
  subscribe(listener: KeyListener): void;
  close(): void;
}

abstract class BaseSource implements KeySource {
  private readonly listeners: KeyListener[] = [];
  constructor(readonly id: string, readonly lifetime: number) {}
  abstract keys(): readonly TicketKey[];
  subscribe(listener: KeyListener): void {
    this.listeners.push(listener);
  }
  protected changed(): void {
    const keys = this.keys();
    for (const l of this.listeners) l(keys);
  }
  close(): void {
    this.listeners.length = 0;
  }
}

/** A ring that only receives keys, for sealing and opening. */
export function followerRing(provider: CryptoProvider, source: KeySource): TicketKeyRing {
  const ring = new TicketKeyRing(provider, { lifetime: source.lifetime, autoRotate: false, keys: source.keys() });
  source.subscribe((keys) => ring.setKeys(keys));
  return ring;
}

/** Keys made and rotated here (the main process, or the only process). */
export class GeneratedKeySource extends BaseSource {
  private readonly ring: TicketKeyRing;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private announced: string;

  constructor(provider: CryptoProvider, lifetime: number, random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n))) {
    super(String(lifetime), lifetime);
    // The owner's clock runs ROTATE_AHEAD_MS early: new keys exist (and
    // reach followers) before they must encrypt.
    // The first key is made on the real clock: a key whose time is ahead is staged (it opens
    // tickets but seals only from its time on), and there is no older one to seal meanwhile.
    const first = random(TICKET_KEY_MATERIAL);
    const keys = [ticketKeyFromMaterial(first, Date.now())];
    this.ring = new TicketKeyRing(provider, { lifetime, random, keys, now: () => Date.now() + ROTATE_AHEAD_MS });
    this.announced = signature(this.ring.currentKeys());
    this.schedule();
  }

  keys(): readonly TicketKey[] {
    return this.ring.currentKeys();
  }

  private schedule(): void {
    if (this.closed) return;
    const keys = this.ring.currentKeys();
    const now = Date.now() + ROTATE_AHEAD_MS;
    const newest = keys[keys.length - 1]!;
    const oldest = keys[0]!;
    const next = Math.min(newest.created + this.lifetime * 500, oldest.created + this.lifetime * 1000);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - now) + 10);
    this.timer = setTimeout(() => {
      // currentKeys() may already have rotated (keys() called in between): compare with what was announced.
      const sig = signature(this.ring.currentKeys());
      if (sig !== this.announced) {
        this.announced = sig;
        this.changed();
      }
      this.schedule();
    }, delay);
    this.timer.unref();
  }

  override close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    super.close();
  }
}

/** A worker's key set: whatever the main process sent last. */
export class RemoteKeySource extends BaseSource {
  private current: readonly TicketKey[] = [];

  keys(): readonly TicketKey[] {
    return this.current;
  }

  set(keys: readonly TicketKey[]): void {
    this.current = keys;
    this.changed();
  }
}

export interface ParsedKeyFile {
  readonly keys: readonly TicketKey[];
  /** Line number of each key, same order. */
  readonly lines: readonly number[];
}

function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/**
 * Parse key file text. `source` (`parameter=file`) starts every message;
 * `now` (ms) and `lifetime` (s) decide which keys are still usable.
 */
export function parseTicketKeyFile(text: string, source: string, lifetime: number, now = Date.now(), allowExpired = false): ParsedKeyFile {
  const fail = (m: string): never => {
    throw new ConfigError(`${source}: ${m}`);
  };
  const keys: TicketKey[] = [];
  const lines: number[] = [];
  const names = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(\d{1,12})\s+(\S+)$/.exec(line);
    if (!m) fail(`line ${n}: expected "<unix time> <base64 of ${TICKET_KEY_MATERIAL} bytes>"`);
    const created = Number(m![1]) * 1000;
    const material = decodeBase64Strict(m![2]!);
    if (!material) fail(`line ${n}: the key is not valid base64`);
    if (material!.length !== TICKET_KEY_MATERIAL) fail(`line ${n}: the key is ${material!.length} bytes, not ${TICKET_KEY_MATERIAL} (16-byte name + 32-byte AES-256-GCM key)`);
    if (created > now + maxAheadSeconds(lifetime) * 1000) fail(`line ${n}: creation time ${m![1]} (${new Date(created).toISOString()}) is in the future`);
    const prev = keys[keys.length - 1];
    if (prev && created < prev.created) fail(`line ${n}: the key is older than the one on line ${lines[lines.length - 1]}: list keys oldest first`);
    const key = ticketKeyFromMaterial(material!, created);
    const hex = Buffer.from(key.name).toString('hex');
    if (names.has(hex)) fail(`line ${n}: the key name repeats the key on line ${names.get(hex)}`);
    names.set(hex, n);
    if (keys.length >= MAX_FILE_KEYS) fail(`more than ${MAX_FILE_KEYS} keys`);
    keys.push(key);
    lines.push(n);
  });
  if (!keys.length) fail(`no keys in the file (expected lines "<unix time> <base64 of ${TICKET_KEY_MATERIAL} bytes>")`);
  const live = keys.filter((k) => now - k.created < lifetime * 1000);
  if (!live.length && !allowExpired) {
    const newest = keys[keys.length - 1]!;
    fail(
      `every key has expired: the newest (line ${lines[lines.length - 1]}, created ${new Date(newest.created).toISOString()}) ` +
        `is older than smtpd_tls_session_cache_timeout (${lifetime}s); add a new key`,
    );
  }
  return { keys, lines };
}

/** Read and check the key file: a private regular file, then parseTicketKeyFile(). */
export function readTicketKeyFile(file: string, lifetime: number, now = Date.now(), allowExpired = false): { parsed: ParsedKeyFile; stats: Stats } {
  const source = `${KEY_FILE_PARAMETER}=${file}`;
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch (e) {
    throw new ConfigError(`${source}: cannot read the file: ${strerror(e)}`);
  }
  if (!stats.isFile()) throw new ConfigError(`${source}: not a regular file`);
  if (stats.mode & 0o066) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
    throw new ConfigError(`${source}: the file is readable or writable by group or others (mode ${mode}): ticket keys must be private (chmod 600)`);
  }
  if (stats.size > MAX_FILE_BYTES) throw new ConfigError(`${source}: the file is larger than ${MAX_FILE_BYTES} bytes`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${source}: cannot read the file: ${strerror(e)}`);
  }
  return { parsed: parseTicketKeyFile(text, source, lifetime, now, allowExpired), stats };
}

export interface FileKeySourceOptions {
  /** Problems found later (reload failures, no key young enough to encrypt). */
  readonly warn?: (message: string) => void;
  readonly info?: (message: string) => void;
  /** How often the file's size and mtime are checked (ms); default min(60 s, lifetime/4). */
  readonly pollMs?: number;
}

/** Keys from tlsproxy_tls_session_ticket_key_file. The constructor throws ConfigError for a bad file. */
export class FileKeySource extends BaseSource {
  private current: readonly TicketKey[];
  private lines: readonly number[];
  private stamp: string;
  private timer: NodeJS.Timeout | undefined;
  private warnedStale = false;

  constructor(readonly file: string, lifetime: number, private readonly options: FileKeySourceOptions = {}) {
    super(`${lifetime}:${file}`, lifetime);
    const { parsed, stats } = readTicketKeyFile(file, lifetime);
    this.current = parsed.keys;
    this.lines = parsed.lines;
    this.stamp = stampOf(stats);
    options.info?.(`${this.source}: ${this.current.length} session ticket key${this.current.length === 1 ? '' : 's'} loaded`);
    this.checkFresh();
    const poll = options.pollMs ?? Math.min(60_000, (lifetime * 1000) / 4);
    this.timer = setInterval(() => this.poll(), poll);
    this.timer.unref();
  }

  get source(): string {
    return `${KEY_FILE_PARAMETER}=${this.file}`;
  }

  keys(): readonly TicketKey[] {
    return this.current;
  }

  /** Re-read the file. On a problem the previous keys stay and a warning says why. Returns true when keys were loaded. */
  reload(why = 'reload'): boolean {
    let loaded;
    try {
      loaded = readTicketKeyFile(this.file, this.lifetime);
    } catch (e) {
      this.options.warn?.(`${(e as Error).message}; keeping the previous keys`);
      return false;
    }
    this.stamp = stampOf(loaded.stats);
    this.current = loaded.parsed.keys;
    this.lines = loaded.parsed.lines;
    this.warnedStale = false;
    this.options.info?.(`${this.source}: ${why}: ${this.current.length} session ticket key${this.current.length === 1 ? '' : 's'} loaded`);
    this.checkFresh();
    this.changed();
    return true;
  }

  private poll(): void {
    let stats: Stats | undefined;
    try {
      stats = statSync(this.file);
    } catch {
      stats = undefined;
    }
    if (stats && stampOf(stats) !== this.stamp) this.reload('file changed');
    else this.checkFresh();
  }

  /** Warn (once) when no key may encrypt any more: tickets then stop until the file has a new key. */
  private checkFresh(): void {
    // The key that seals is the newest one whose time has come (a staged key waits).
    const now = Date.now();
    let at = this.current.length - 1;
    while (at > 0 && this.current[at]!.created > now) at--;
    const newest = this.current[at]!;
    const stale = newest.created > now || now - newest.created >= (this.lifetime * 1000) / 2;
    if (stale && !this.warnedStale) {
      this.warnedStale = true;
      this.options.warn?.(
        `${this.source}: the newest key in use (line ${this.lines[at]}) is older than half of smtpd_tls_session_cache_timeout (${Math.floor(this.lifetime / 2)}s): ` +
          'no new session tickets are issued until the file has a new key',
      );
    }
  }

  override close(): void {
    clearInterval(this.timer);
    super.close();
  }
}

function signature(keys: readonly TicketKey[]): string {
  return keys.map((k) => `${Buffer.from(k.name).toString('hex')}@${k.created}`).join(',');
}

function stampOf(s: Stats): string {
  return `${s.ino}/${s.size}/${s.mtimeMs}`;
}

/** Keys as they cross the IPC channel (structured clone keeps Uint8Array). */
export interface WireKey {
  readonly name: Uint8Array;
  readonly secret: Uint8Array;
  readonly created: number;
}

/** Check keys received over IPC; undefined if malformed. */
export function keysFromWire(v: unknown): TicketKey[] | undefined {
  if (!Array.isArray(v) || v.length > MAX_FILE_KEYS + 4) return undefined;
  const out: TicketKey[] = [];
  for (const k of v as WireKey[]) {
    if (!k || !(k.name instanceof Uint8Array) || !(k.secret instanceof Uint8Array) || typeof k.created !== 'number') return undefined;
    if (k.name.length !== 16 || k.secret.length !== 32 || !Number.isFinite(k.created)) return undefined;
    out.push({ name: k.name, secret: k.secret, created: k.created });
  }
  return out;
}
