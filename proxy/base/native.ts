/**
 * The native addon (native/tlsproxy_native.c), loaded on demand.
 *
 * Only the Postfix service mode needs it: receiving the client's socket
 * with SCM_RIGHTS and sending UNIX datagrams (postlogd, syslog) are out of
 * Node's reach. The node crypto provider also uses its AEAD and X25519
 * functions when present (providers/native-aead.ts, which loads it on its
 * own: providers/ sits below proxy/), and node:crypto otherwise. It is built at install time (native/build.mjs, never fails
 * the install); where it is missing, loadNative() says why and everything
 * else in the project runs as usual.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RecvResult {
  /** Bytes read; empty = end of file. */
  readonly data: Buffer;
  /** A descriptor that came with them (SCM_RIGHTS), else -1. Close-on-exec. */
  readonly fd: number;
  /** MSG_CTRUNC: descriptors were lost. */
  readonly truncated: boolean;
}

export interface Poller {
  /** Watch for readability (including hang-up) and/or writability. */
  start(readable: boolean, writable: boolean): void;
  stop(): void;
  /** Stop for good (the descriptor itself stays open). */
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeAddon {
  /** recvmsg(MSG_DONTWAIT): null when nothing is there (EAGAIN). */
  recvFd(fd: number, max: number): RecvResult | null;
  sendFd(fd: number, passFd: number, data: Buffer): number;
  /** send(MSG_NOSIGNAL|MSG_DONTWAIT): bytes sent, -1 on EAGAIN; throws other errors. */
  send(fd: number, data: Buffer): number;
  /** accept4(SOCK_NONBLOCK|SOCK_CLOEXEC): the new descriptor, -1 when none is pending. */
  accept(fd: number): number;
  close(fd: number): void;
  socketpair(): [number, number];
  dgramConnect(path: string): number;
  dgramBind(path: string): number;
  listenUnix(path: string, backlog: number): number;
  socketInfo(fd: number): { type: 'stream' | 'dgram' | 'other' | 'none'; listening: boolean; unix: boolean };
  setCloexec(fd: number, on: boolean): void;
  isCloexec(fd: number): boolean;
  setNonblock(fd: number, on: boolean): void;
  isNonblock(fd: number): boolean;
  getpwnam(name: string): { uid: number; gid: number; dir: string } | null;
  chroot(dir: string): void;
  /** alarm(2): the previous alarm's remaining seconds. */
  alarm(seconds: number): number;
  /** The one-process watchdog thread (supervisor/watchdog.ts): start (or restart) it, beat, stop it. */
  watchdogStart(timeoutS: number, prefix: string): void;
  watchdogBeat(): void;
  watchdogStop(): void;
  Poller: new (fd: number, callback: (status: number, readable: boolean, writable: boolean) => void, keepFlags?: boolean) => Poller;
}

export type NativeLoad = { readonly ok: true; readonly addon: NativeAddon } | { readonly ok: false; readonly reason: string };

const here = path.dirname(fileURLToPath(import.meta.url));
/** native/ of this checkout: two levels up from proxy/base/, three from the compiled dist/proxy/base/. */
export const NATIVE_DIR = [path.resolve(here, '..', '..', 'native'), path.resolve(here, '..', '..', '..', 'native')]
  .find((d) => existsSync(path.join(d, 'binding.gyp'))) ?? path.resolve(here, '..', '..', 'native');
export const ADDON_FILE = path.join(NATIVE_DIR, 'build', 'Release', 'tlsproxy_native.node');

let cached: NativeLoad | undefined;

/** Load the addon once; never throws. */
export function loadNative(): NativeLoad {
  if (cached) return cached;
  cached = load();
  return cached;
}

function load(): NativeLoad {
  const marker = path.join(NATIVE_DIR, 'build', 'UNAVAILABLE');
  if (!existsSync(ADDON_FILE)) {
    let why = 'it was not built';
    try {
      why = `its build failed: ${readFileSync(marker, 'utf8').trim()}`;
    } catch {
      // no marker: the install script did not run
    }
    return { ok: false, reason: `the native addon ${ADDON_FILE} is missing (${why}); build it with "npm run build:native" (needs python3, make, a C compiler and Node's headers)` };
  }
  try {
    const require = createRequire(import.meta.url);
    return { ok: true, addon: require(ADDON_FILE) as NativeAddon };
  } catch (e) {
    return { ok: false, reason: `the native addon ${ADDON_FILE} cannot be loaded: ${(e as Error)?.message ?? e}; rebuild it with "npm run build:native"` };
  }
}

/** The addon, or an Error that says why it is unavailable. */
export function requireNative(): NativeAddon {
  const n = loadNative();
  if (!n.ok) throw new Error(`Postfix service mode unavailable: ${n.reason}`);
  return n.addon;
}
