/**
 * The Postfix service mode's entry: the process master(8) spawned (P).
 *
 * Node cannot fork, yet Postfix's tlsproxy must keep serving accepted
 * sessions after `postfix reload` while the process master knows exits
 * (postfix-master-dropin.md §1.7, §2.5). So P is a placeholder parent:
 * it spawns the serving process W (worker.ts) with master's status
 * channel (fd 5) and listener (fd 6) and an IPC channel, and then only
 * waits:
 *
 *   W says "drain"      (reload / master gone / retirement)  -> P exits 0 at
 *                       once; master reaps it and can start a new
 *                       generation while W finishes its sessions (W stays
 *                       in master's process group: `postfix stop` reaches it)
 *   W exits             -> P exits with W's status, or dies of W's signal,
 *                       so master's throttling sees what happened
 *   W dropped privileges -> P does the same
 *   SIGTERM (postfix stop, to the whole process group) ends both.
 *
 * W writes the status messages with P's pid. fds 3 and 4 (flow control)
 * are never read or written: they are only marked close-on-exec so that W
 * does not inherit them.
 *
 * Where the addon is missing, the reason is logged (into maillog_file
 * directly, and to stderr) and P exits 1.
 */

import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMainCf } from '../config/main-cf.js';
import { Logger, stderrSink } from '../log/log.js';
import { appendFileSink, teeSink } from '../log/sinks.js';
import { LISTEN_FD, STATUS_FD } from './master-status.js';
import { loadNative } from '../base/native.js';
import { configDirectory } from './settings.js';
import { ENV_COMMAND, ENV_PARENT_PID, type WorkerMessage } from './process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WORKER_ENTRY = path.join(here, 'worker-entry.mjs');

/** Say why the service mode cannot run, where an administrator will look. */
function unavailable(reason: string, env: NodeJS.ProcessEnv): number {
  let file = '';
  let syslogName = env.MAIL_LOGTAG || 'postfix';
  let hostname: string | undefined;
  try {
    const p = loadMainCf(configDirectory(env));
    file = p.get('maillog_file').trim();
    syslogName = p.get('syslog_name');
    hostname = p.get('myhostname');
  } catch {
    // no main.cf: stderr only
  }
  const sink = file && file !== '/dev/stdout' ? teeSink(appendFileSink(file), stderrSink) : stderrSink;
  new Logger({ syslogName, hostname, sink }).fatal(reason);
  return 1;
}

/** Run as master's child; resolves with P's exit status. */
export function runUnderMaster(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const native = loadNative();
  if (!native.ok) return Promise.resolve(unavailable(`Postfix service mode unavailable: ${native.reason}`, env));
  const n = native.addon;
  // W must not inherit the flow-control pipe (it is not read or written here either).
  for (const fd of [3, 4]) {
    try {
      n.setCloexec(fd, true);
    } catch {
      // not open: fine
    }
  }
  const command = process.argv[1] ? path.basename(process.argv[1]) : 'tlsproxy';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER_ENTRY, ...argv], {
      // W's fds 5 and 6 are ours (master's); 3 and 4 stay closed; the IPC channel lands on 7.
      stdio: ['inherit', 'inherit', 'inherit', 'ignore', 'ignore', STATUS_FD, LISTEN_FD, 'ipc'],
      env: { ...env, [ENV_PARENT_PID]: String(process.pid), [ENV_COMMAND]: command },
    });
    // Our copies of master's descriptors are W's business now.
    for (const fd of [STATUS_FD, LISTEN_FD]) {
      try {
        closeSync(fd);
      } catch {
        // not open
      }
    }
    let settled = false;
    const done = (code: number) => {
      if (settled) return;
      settled = true;
      resolve(code);
    };
    child.on('message', (m: WorkerMessage) => {
      if (m?.type === 'drain') {
        // Master may start a new generation now; W finishes without us.
        child.removeAllListeners('exit');
        child.disconnect();
        child.unref();
        done(0);
      } else if (m?.type === 'privileges' && process.getuid?.() === 0) {
        try {
          process.setgid!(m.gid);
          process.setgroups?.([m.gid]);
          process.setuid!(m.uid);
        } catch {
          // stays as it is: it does nothing but wait
        }
      }
    });
    child.on('error', (e) => done(unavailable(`cannot start the serving process: ${e.message}`, env)));
    child.on('exit', (code, signal) => {
      if (signal) {
        // Die the same way, so that master sees a signal (and throttles a crash at start-up).
        process.removeAllListeners(signal);
        process.kill(process.pid, signal);
        setTimeout(() => done(1), 1000).unref();
        return;
      }
      done(code ?? 1);
    });
  });
}
