/**
 * The pid file, so that `tlsproxy reload` and `tlsproxy stop` find the
 * daemon, and the reload status file, so that `tlsproxy reload` can say
 * what became of its request.
 *
 *   <tlsproxy_pid_directory>/tlsproxy.pid     "<pid>\n<start time>\n"
 *   <tlsproxy_pid_directory>/tlsproxy.status  {"pid":..,"seq":..,"ok":..,"message":".."}
 *
 * tlsproxy_pid_directory defaults to $config_directory: the -c directory,
 * or the state directory of the built-in mode (one daemon per
 * configuration). The start time is the process's (from /proc/<pid>/stat,
 * in clock ticks since boot) so that a pid reused by another process after
 * a crash is recognized: a pid file whose process is gone, or is another
 * process now, is stale; start-up replaces it with a warning, and reload or
 * stop say so instead of signalling a stranger.
 *
 * Two daemons on the same configuration cannot both start, even at the
 * same instant: each starter takes the directory's lock (`tlsproxy.pid.lock`,
 * a directory made with mkdir(2), held for the few milliseconds of the
 * decision; one older than 10 s is a dead starter's and is broken), then
 * links its pid file, written completely under a private name (O_EXCL),
 * into place (link(2) fails when the name exists), so it is never seen
 * empty or half-written; a stale one is judged and replaced under the same
 * lock, so no two starters interleave (an earlier lock-free design let a
 * third starter slip in while a second one put back a file it had moved by
 * mistake). It is removed at exit when it is still this process's file
 * (same inode).
 * The status file is replaced the same careful way: its temporary file has
 * a random name and is created exclusively (O_EXCL, no symbolic link
 * followed), so nothing planted in the directory is truncated or written.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, constants, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { strerror } from '../base/errno.js';

export const PID_DIRECTORY_PARAMETER = 'tlsproxy_pid_directory';
export const PID_FILE = 'tlsproxy.pid';
export const STATUS_FILE = 'tlsproxy.status';

export function pidDirectory(params: ParameterSet): string {
  const dir = params.get(PID_DIRECTORY_PARAMETER).trim();
  if (!dir) throw new ConfigError(`${PID_DIRECTORY_PARAMETER} is empty`);
  return path.resolve(dir);
}

/** The start time of process `pid` (clock ticks since boot), undefined when unknown (no /proc, no such process). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ..." : comm may hold spaces and parentheses; field 22 is starttime.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface PidFileContents {
  readonly pid: number;
  readonly startTime?: string;
}

/** What the pid file says; undefined when there is none; throws ConfigError when unreadable or malformed. */
export function readPidFile(dir: string): PidFileContents | undefined {
  const file = path.join(dir, PID_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`open ${file}: ${strerror(e)}`);
  }
  const [pidText, startTime] = text.split('\n').map((l) => l.trim());
  if (!pidText || !/^\d+$/.test(pidText) || Number(pidText) < 1) throw new ConfigError(`${file}: not a pid file`);
  return { pid: Number(pidText), startTime: startTime || undefined };
}

/** The process the pid file names still runs (the same process: the start time matches when both are known; not a zombie). */
export function isRunning(c: PidFileContents): boolean {
  if (!exists(c.pid)) return false;
  try {
    const stat = readFileSync(`/proc/${c.pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
  } catch {
    // no /proc: kill(0) said it exists
  }
  const now = processStartTime(c.pid);
  return c.startTime === undefined || now === undefined || now === c.startTime;
}

export interface PidFile {
  readonly file: string;
  readonly dir: string;
  /** Remove the pid and status files if they are still ours. */
  release(): void;
}

/** A lock older than this was left by a starter that died inside the few-millisecond critical section. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The pid directory's mutex: `<pid file>.lock`, a directory made with
 * mkdir(2), which is atomic. Held only while the pid file is created or a
 * stale one replaced. Returns the release function.
 */
function lockDirectory(dir: string, file: string): () => void {
  const lock = `${file}.lock`;
  const end = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(lock, { mode: 0o700 });
      return () => {
        try {
          rmdirSync(lock);
        } catch {
          // removed as stale by another starter after a very long pause: nothing to do
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`${PID_DIRECTORY_PARAMETER}: lock ${lock}: ${strerror(e)}`);
    }
    try {
      if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) {
        rmdirSync(lock);
        continue;
      }
    } catch {
      continue; // released meanwhile
    }
    if (Date.now() > end) throw new ConfigError(`create pid file ${file}: ${lock} is held by another starting daemon`);
    sleepSync(10 + Math.floor(Math.random() * 10));
  }
}

/**
 * Create the pid file for this process. Throws ConfigError when another
 * daemon runs with it; a stale one is replaced (`warn` says so). Warns
 * about a directory others can write (they could make `tlsproxy stop`
 * signal any process).
 */
export function acquirePidFile(dir: string, warn: (m: string) => void, pid = process.pid): PidFile {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new ConfigError(`${PID_DIRECTORY_PARAMETER}: mkdir ${dir}: ${strerror(e)}`);
  }
  try {
    const st = statSync(dir);
    if (st.mode & 0o022 && !(st.mode & 0o1000)) warn(`${PID_DIRECTORY_PARAMETER} = ${dir}: the directory is writable by group or others (mode 0${(st.mode & 0o777).toString(8)}); use one only the daemon's owner can write`);
  } catch {
    // reported by the open below
  }
  const file = path.join(dir, PID_FILE);
  const contents = `${pid}\n${processStartTime(pid) ?? ''}\n`;
  // The complete contents under a private name first: linked into place, the pid file is never empty.
  const tmp = path.join(dir, `${PID_FILE}.${pid}.${randomBytes(6).toString('hex')}.new`);
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      writeSync(fd, contents);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new ConfigError(`create pid file ${file}: ${strerror(e)}`);
  }
  let ino: number | undefined;
  // Every daemon that starts takes the directory's lock for the whole
  // decision (create, or judge and replace a stale file): two starters
  // never interleave, so the one that wins is the only one running.
  const unlock = lockDirectory(dir, file);
  try {
    try {
      linkSync(tmp, file);
      ino = statSync(tmp).ino;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`create pid file ${file}: ${strerror(e)}`);
      let old: PidFileContents | undefined;
      try {
        old = readPidFile(dir);
      } catch {
        old = undefined;
      }
      if (old && old.pid !== pid && isRunning(old)) throw new ConfigError(`the daemon is already running (pid ${old.pid}, pid file ${file})`);
      // Stale (its process is gone, or unreadable): replaced under the lock.
      try {
        unlinkSync(file);
      } catch (u) {
        if ((u as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`remove stale pid file ${file}: ${strerror(u)}`);
      }
      warn(`removing stale pid file ${file}${old ? ` (pid ${old.pid} is not running)` : ' (unreadable)'}`);
      try {
        linkSync(tmp, file);
        ino = statSync(tmp).ino;
      } catch (l) {
        throw new ConfigError(`create pid file ${file}: ${strerror(l)}`);
      }
    }
  } finally {
    unlock();
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
  if (ino === undefined) throw new ConfigError(`create pid file ${file}: other processes keep replacing it`);
  const ours = ino;
  return {
    file,
    dir,
    release() {
      try {
        if (lstatSync(file).ino === ours) unlinkSync(file);
      } catch {
        // gone already, or never ours
      }
      try {
        if (readStatus(dir)?.pid === pid) unlinkSync(path.join(dir, STATUS_FILE));
      } catch {
        // same
      }
    },
  };
}

export interface ReloadStatus {
  readonly pid: number;
  /** Counts reload attempts of this daemon. */
  readonly seq: number;
  readonly ok: boolean;
  readonly message: string;
  readonly time: number;
}

export function writeStatus(dir: string, status: ReloadStatus): void {
  const file = path.join(dir, STATUS_FILE);
  // A fresh random name, created exclusively: a file or link planted in the directory is never opened.
  const tmp = `${file}.${status.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let created = false;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    created = true;
    try {
      writeSync(fd, `${JSON.stringify(status)}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    created = false;
  } catch {
    // the log has the outcome too
  } finally {
    if (created) {
      try {
        unlinkSync(tmp);
      } catch {
        // gone
      }
    }
  }
}

export function readStatus(dir: string): ReloadStatus | undefined {
  try {
    const s = JSON.parse(readFileSync(path.join(dir, STATUS_FILE), 'utf8')) as Partial<ReloadStatus>;
    if (typeof s.pid !== 'number' || typeof s.seq !== 'number' || typeof s.ok !== 'boolean' || typeof s.message !== 'string') return undefined;
    return { pid: s.pid, seq: s.seq, ok: s.ok, message: s.message, time: Number(s.time) || 0 };
  } catch {
    return undefined;
  }
}
