/**
 * Preloaded (`node --import tsx --import bench/probe.ts ...`) into each proxy
 * under test, the real tlsproxy daemon included, so the bench can read the
 * proxy's own process.cpuUsage() and take a CPU profile of one phase
 * without touching proxy/ code. Does nothing unless started with an IPC
 * channel (child_process.fork).
 *
 *   cpu { gc? }    → { user, system, rss } (µs, bytes); gc: a full garbage collection first
 *   profile-start  { intervalUs }
 *   profile-stop   { file } → writes a .cpuprofile (Chrome DevTools format)
 */

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serve } from './ipc.js';

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

let gcFn: (() => void) | undefined;
/** global.gc without --expose-gc on the command line (the proxy is started as usual). */
function collect(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

if (process.send) {
  let session: Session | undefined;
  serve(
    {
      cpu: (args?: { gc?: boolean }) => {
        // { gc: true }: a full collection first, so that RSS is comparable between two readings.
        if (args?.gc) collect();
        const u = process.cpuUsage();
        return { user: u.user, system: u.system, rss: process.memoryUsage.rss() };
      },
      'profile-start': async (args: { intervalUs?: number }) => {
        if (session) throw new Error('a profile is already running');
        session = new Session();
        session.connect();
        await post(session, 'Profiler.enable');
        await post(session, 'Profiler.setSamplingInterval', { interval: args.intervalUs ?? 250 });
        await post(session, 'Profiler.start');
        return true;
      },
      'profile-stop': async (args: { file: string }) => {
        if (!session) throw new Error('no profile is running');
        const s = session;
        session = undefined;
        const { profile } = await post<{ profile: unknown }>(s, 'Profiler.stop');
        s.disconnect();
        writeFileSync(args.file, JSON.stringify(profile));
        return args.file;
      },
    },
    // The bench went away: stop the way an operator would (the daemon closes cleanly on SIGTERM).
    () => process.kill(process.pid, 'SIGTERM'),
  );
  // The channel must not keep a proxy alive on its own.
  process.channel?.unref();
}
