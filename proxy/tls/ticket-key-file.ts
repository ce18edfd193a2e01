/**
 * Writing tlsproxy_tls_session_ticket_key_file: `tlsproxy ticket-keys
 * create|rotate|list FILE` (the reading side, and the format, are in
 * ticket-keys.ts).
 *
 * Rotation for a fleet (lifetime L = smtpd_tls_session_cache_timeout):
 *
 *  1. `rotate` appends a key STAGED for S seconds (its time is now + S,
 *     default min(300 s, L/4)): from the moment a daemon has the file it
 *     OPENS tickets sealed with the new key, but keeps SEALING with the
 *     previous one until the new key's time. Every member of the fleet
 *     thus has the key for decryption before any member encrypts with it,
 *     as long as the file reaches all of them within S (the daemons check
 *     the file every min(60 s, L/4), or at `tlsproxy reload`).
 *  2. keys whose lifetime is over (created L ago or more) are removed.
 *  3. The file is written atomically: a new file (mode 0600, exclusive
 *     create) in the same directory, fsync, rename over the old one, fsync
 *     of the directory. A reader sees the old file or the new one, never a
 *     part of either. The owner of the old file is kept when we may set it.
 *
 * Run `rotate` every L/2 or more often (a key seals for L/2): for L = 1h,
 * every 20 minutes from cron on ONE host, then copy the file to the others.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fchownSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { TICKET_KEY_MATERIAL, type TicketKey } from '../../engine/tickets.js';
import { ConfigError } from '../config/errors.js';
import { strerror } from '../base/errno.js';
import { KEY_FILE_PARAMETER, MAX_FILE_KEYS, maxAheadSeconds, readTicketKeyFile } from './ticket-keys.js';

const HEADER = '# tlsproxy session ticket keys, oldest first: <unix time> <base64 of 16-byte name + 32-byte AES-256-GCM key>\n# written by tlsproxy ticket-keys; keep private (mode 0600)\n';

/** Default staging time for a rotated key (seconds). */
export function defaultStageSeconds(lifetime: number): number {
  return Math.min(300, Math.floor(lifetime / 4));
}

export type KeyState = 'staged' | 'encrypting' | 'decrypting' | 'expired';

export interface KeyStatus {
  readonly line: number;
  /** Unix time (s). */
  readonly created: number;
  readonly state: KeyState;
  /** Hex of the first 4 bytes of the key name (public: it starts every ticket). */
  readonly name: string;
  /** staged: when it starts sealing; encrypting: when it stops; decrypting: when it stops opening. */
  readonly until: number;
}

/** What each key of a set does at `now` (ms), by the ring's rules (engine/tickets.ts). */
export function keyStates(keys: readonly TicketKey[], lines: readonly number[], lifetime: number, now = Date.now()): KeyStatus[] {
  let sealer = -1;
  for (let i = keys.length - 1; i >= 0 && sealer < 0; i--) if (keys[i]!.created <= now) sealer = i;
  return keys.map((k, i) => {
    const created = Math.floor(k.created / 1000);
    const name = Buffer.from(k.name.subarray(0, 4)).toString('hex');
    const end = created + lifetime;
    let state: KeyState;
    let until: number;
    if (now - k.created >= lifetime * 1000) [state, until] = ['expired', end];
    else if (k.created > now) [state, until] = ['staged', created];
    else if (i === sealer && now - k.created < (lifetime * 1000) / 2) {
      const next = keys[i + 1];
      [state, until] = ['encrypting', Math.min(created + Math.floor(lifetime / 2), next ? Math.floor(next.created / 1000) : Infinity)];
    } else [state, until] = ['decrypting', end];
    return { line: lines[i]!, created, state, name, until };
  });
}

function formatKeys(keys: readonly TicketKey[]): string {
  return HEADER + keys.map((k) => `${Math.floor(k.created / 1000)} ${Buffer.concat([k.name, k.secret]).toString('base64')}\n`).join('');
}

function newKey(created: number, random: (n: number) => Uint8Array): TicketKey {
  const m = random(TICKET_KEY_MATERIAL);
  return { name: m.slice(0, 16), secret: m.slice(16, TICKET_KEY_MATERIAL), created };
}

/**
 * Replace `file` with `text` atomically, mode 0600 (see the file comment).
 * `exclusive`: fail if the file exists (create).
 */
export function writeKeyFileAtomic(file: string, text: string, exclusive = false): void {
  const dir = path.dirname(path.resolve(file));
  let owner: { uid: number; gid: number } | undefined;
  if (existsSync(file)) {
    if (exclusive) throw new ConfigError(`${file}: the file exists already (use rotate)`);
    const st = statSync(file);
    owner = { uid: st.uid, gid: st.gid };
  }
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
  } catch (e) {
    throw new ConfigError(`${file}: cannot create ${tmp}: ${strerror(e)}`);
  }
  try {
    if (owner && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) {
      try {
        fchownSync(fd, owner.uid, owner.gid);
      } catch {
        // not ours to give: the new file belongs to us
      }
    }
    writeSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // closed
    }
    unlinkSync(tmp);
    throw new ConfigError(`${file}: cannot write ${tmp}: ${strerror(e)}`);
  }
  try {
    if (exclusive && existsSync(file)) throw new Error('the file appeared meanwhile');
    renameSync(tmp, file);
  } catch (e) {
    unlinkSync(tmp);
    throw new ConfigError(`${file}: cannot replace the file: ${(e as NodeJS.ErrnoException).code ? strerror(e) : (e as Error).message}`);
  }
  try {
    const dfd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // some file systems cannot fsync a directory; the rename is done
  }
}

export interface KeyFileOptions {
  readonly now?: number;
  readonly random?: (n: number) => Uint8Array;
}

/** A new key file with one key that seals at once. */
export function createKeyFile(file: string, options: KeyFileOptions = {}): TicketKey {
  const now = options.now ?? Date.now();
  const key = newKey(Math.floor(now / 1000) * 1000, options.random ?? ((n) => new Uint8Array(randomBytes(n))));
  writeKeyFileAtomic(file, formatKeys([key]), true);
  return key;
}

export interface RotateResult {
  readonly added: TicketKey;
  readonly removed: number;
  readonly kept: number;
  /** The file had no live key: the new one seals at once instead of being staged. */
  readonly immediate: boolean;
}

/**
 * Stage a new key `stage` seconds ahead and retire keys past their
 * lifetime. Refuses (ConfigError) when a staged key is waiting already,
 * when the stage is out of bounds, or when the file is bad.
 */
export function rotateKeyFile(file: string, lifetime: number, stage = defaultStageSeconds(lifetime), options: KeyFileOptions = {}): RotateResult {
  const now = options.now ?? Date.now();
  const source = `${KEY_FILE_PARAMETER}=${file}`;
  if (!Number.isInteger(stage) || stage < 0 || stage > maxAheadSeconds(lifetime)) {
    throw new ConfigError(`stage time ${stage}s: must be 0..${maxAheadSeconds(lifetime)}s (half of smtpd_tls_session_cache_timeout = ${lifetime}s)`);
  }
  const { parsed } = readTicketKeyFile(file, lifetime, now, true);
  const waiting = parsed.keys.findIndex((k) => k.created > now);
  if (waiting >= 0) {
    throw new ConfigError(
      `${source}: line ${parsed.lines[waiting]}: a key is staged already (it seals from ${new Date(parsed.keys[waiting]!.created).toISOString()}); rotate again after that`,
    );
  }
  const live = parsed.keys.filter((k) => now - k.created < lifetime * 1000);
  const immediate = !live.some((k) => now - k.created < (lifetime * 1000) / 2);
  if (live.length >= MAX_FILE_KEYS) throw new ConfigError(`${source}: ${live.length} keys are still live: no room for another (at most ${MAX_FILE_KEYS})`);
  const created = (Math.floor(now / 1000) + (immediate ? 0 : stage)) * 1000;
  const added = newKey(created, options.random ?? ((n) => new Uint8Array(randomBytes(n))));
  writeKeyFileAtomic(file, formatKeys([...live, added]));
  return { added, removed: parsed.keys.length - live.length, kept: live.length, immediate };
}
