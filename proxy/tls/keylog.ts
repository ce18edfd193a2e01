/**
 * An SSLKEYLOGFILE (NSS key log format) for debugging with Wireshark:
 * tlsproxy_tls_keylog_file names the file, empty (the default) means none.
 *
 *   CLIENT_RANDOM <client random hex> <TLS 1.2 master secret hex>
 *   CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random hex> <secret hex>   (TLS 1.3, and
 *   SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0,
 *   EXPORTER_SECRET)
 *
 * The secrets come from the engine's `keylog` event (engine/events.ts),
 * which exists only when this file is configured. Anyone who can read the
 * file can decrypt every session it covers: the file is created with mode
 * 0600 (an existing one is set to 0600, and refused when that fails or it
 * is not a regular file; symbolic links are not followed). An existing file
 * is also refused when it is not owned by the daemon's user (the effective
 * uid that opens it: its owner could read the secrets or hand the file to
 * someone) or has more than one hard link (another name, perhaps in a
 * directory others can read, would see every line). The main process logs
 * a warning at every start and reload while it is on.
 *
 * Each serving process opens the file once (append mode, before it drops
 * privileges) and writes whole lines with one write each, so the lines of
 * several worker processes do not mix.
 */

import { closeSync, constants, fchmodSync, fstatSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { strerror } from '../base/errno.js';

export const KEYLOG_PARAMETER = 'tlsproxy_tls_keylog_file';

/** The engine's event signature (engine/events.ts ConnectionEvents.keylog). */
export type KeyLogFn = (label: string, clientRandom: Uint8Array, secret: Uint8Array) => void;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}

/** One key log line (with its newline). */
export function keyLogLine(label: string, clientRandom: Uint8Array, secret: Uint8Array): string {
  return `${label} ${hex(clientRandom)} ${hex(secret)}\n`;
}

/** The warning the main process logs while a key log is on. */
export function keyLogWarning(file: string): string {
  return `${KEYLOG_PARAMETER} = ${file}: TLS SESSION SECRETS ARE WRITTEN TO THIS FILE: whoever reads it can decrypt the traffic; for debugging only, turn it off after use`;
}

/** Files this process has open, by absolute path. */
const open = new Map<string, { fd: number; write: KeyLogFn }>();

/** Open (or reuse) the key log `file`; throws ConfigError naming the parameter. */
export function openKeyLog(file: string): KeyLogFn {
  const abs = path.resolve(file);
  const known = open.get(abs);
  if (known) return known.write;
  let fd: number;
  try {
    fd = openSync(abs, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw new ConfigError(`${KEYLOG_PARAMETER}=${file}: cannot open the file: ${strerror(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`${KEYLOG_PARAMETER}=${file}: not a regular file`);
    const euid = typeof process.geteuid === 'function' ? process.geteuid() : undefined;
    if (euid !== undefined && st.uid !== euid) {
      throw new ConfigError(`${KEYLOG_PARAMETER}=${file}: the file is owned by uid ${st.uid}, not by the daemon's user (uid ${euid}); remove it or give it to that user`);
    }
    if (st.nlink > 1) {
      throw new ConfigError(`${KEYLOG_PARAMETER}=${file}: the file has ${st.nlink} hard links; the secrets would be readable under another name: use a file with one link`);
    }
    if (st.mode & 0o077) {
      try {
        fchmodSync(fd, 0o600);
      } catch (e) {
        throw new ConfigError(`${KEYLOG_PARAMETER}=${file}: the file is accessible by group or others (mode 0${(st.mode & 0o777).toString(8)}) and chmod failed: ${strerror(e)}`);
      }
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  const write: KeyLogFn = (label, clientRandom, secret) => {
    try {
      writeSync(fd, keyLogLine(label, clientRandom, secret));
    } catch {
      // a full disk must not end the session; the file is for debugging
    }
  };
  open.set(abs, { fd, write });
  return write;
}

/** The key log of a service, or undefined when tlsproxy_tls_keylog_file is empty. */
export function keyLogFor(params: ParameterSet): KeyLogFn | undefined {
  const file = params.get(KEYLOG_PARAMETER).trim();
  return file ? openKeyLog(file) : undefined;
}

/** The key log files a configuration turns on (for the start-up warning). */
export function keyLogFiles(services: readonly { readonly params: ParameterSet }[]): string[] {
  return [...new Set(services.map((s) => s.params.get(KEYLOG_PARAMETER).trim()).filter(Boolean))];
}
