/**
 * Load and fault soak of the REAL daemon (child process, 2 worker
 * processes), loopback only, bounded in time and connections, stops by
 * itself:
 *
 *   npm run soak                          the full run (5,000 sessions, 1,000 hostile clients)
 *   npm run soak -- --sessions 500 ...    smaller (see DEFAULTS)
 *
 * test/daemon/soak.test.ts runs a small version of the same (< 60 s).
 *
 * Phase 1, integrity through a reload and a SIGKILL: `sessions` TLS
 * sessions, each streaming `bytes` both ways (to an echo backend) in 1 KiB
 * chunks with a running SHA-256 of what it sent and of what came back;
 * none sends its last chunk before all are open (so all are open at
 * once). Half are opened, then a `tlsproxy reload` with a changed
 * configuration (a new generation of workers; the old one drains with its
 * sessions), then the other half (on the new generation); with all of them
 * open, a SIGKILL of one current worker, then probe sessions. Expected:
 * every session not served by the killed worker ends with both digests
 * equal; the killed worker's sessions are counted (and the daemon logs
 * the death); right after the replacement is up, probe sessions all
 * succeed, some of them on the replacement.
 *
 * Phase 2, hostile clients beside well-behaved ones: `latency` sessions
 * doing 1 KiB request/echo round trips alone (baseline), then with
 * `hostile` clients at once, spread over five kinds: byte-by-byte
 * ClientHellos, half-open connections (nothing sent), 64 KiB ClientHellos
 * in 1-byte records (then silence), endless warning alerts, clients that
 * never read. Expected: each hostile connection is cut with its log line
 * (handshake timeout: `ciphertext read/write timeout` + `TLS handshake
 * failed`; the alerts: `too many warning alerts`; the reader that never
 * reads: `ciphertext read/write timeout` by tlsproxy_session_timeout); the
 * good sessions' p99 round trip stays within BOUND.
 *
 * RSS: the daemon's processes (main + workers) from /proc every 250 ms.
 */

import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { main } from '../proxy/cli/main.js';
import { clientHello, record } from '../test/helpers/client-hello.js';
import { DaemonProc } from '../test/helpers/daemon-proc.js';
import { certMainCf, echoBackend, testPki, writeConfig } from '../test/helpers/proxy.js';

export interface SoakOptions {
  readonly sessions: number;
  /** Bytes each session sends (and gets back). */
  readonly bytes: number;
  /** Phase 1 length (ms): sessions open over its first half and stream for about half of it. */
  readonly durationMs: number;
  readonly hostile: number;
  readonly latency: number;
  /** Phase 2: baseline and attack each this long (ms). */
  readonly phaseMs: number;
  /** tlsproxy_handshake_timeout, tlsproxy_session_timeout (s). */
  readonly handshakeTimeout: number;
  readonly sessionTimeout: number;
  /** Most handshakes in flight from the clients at once (ramp). */
  readonly openConcurrency: number;
  readonly log: (line: string) => void;
}

export const DEFAULTS: SoakOptions = {
  sessions: 5000,
  bytes: 16 * 1024,
  durationMs: 120_000,
  hostile: 1000,
  latency: 100,
  phaseMs: 30_000,
  handshakeTimeout: 10,
  sessionTimeout: 15,
  openConcurrency: 64,
  log: (l) => process.stdout.write(`${l}\n`),
};

/** The stated bound on the good sessions under attack (p99 round trip). */
export function latencyBound(baselineP99: number): number {
  return Math.max(4 * baselineP99, baselineP99 + 250);
}

export interface SoakReport {
  readonly sessions: number;
  readonly intact: number;
  readonly failedOnKilled: number;
  readonly failedElsewhere: number;
  readonly killedPid: number;
  readonly sessionsPerSecond: number;
  readonly peakConcurrent: number;
  readonly concurrentAtRelease: number;
  readonly rssAllOpenMb: number;
  readonly peakRssMb: number;
  readonly baselineRssMb: number;
  readonly rssPerSessionKb: number;
  readonly probesOk: number;
  readonly probesOnReplacement: number;
  readonly baselineP99Ms: number;
  readonly attackP99Ms: number;
  readonly baselineThroughput: number;
  readonly attackThroughput: number;
  readonly hostile: Record<string, { clients: number; cut: number; logged: number }>;
  readonly hostilePeakRssMb: number;
  readonly problems: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function p99(values: number[]): number {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

interface Session {
  port: number;
  ok: boolean;
  error?: string;
  /** When the handshake completed (ms). */
  secureAt?: number;
}

/** Set once every session of phase 1 is open: until then no session sends its last chunk (so all are open at once). */
let released = true;

/**
 * One streaming session with running digests; resolves when it is over
 * either way. `bytes` in 1 KiB chunks spread over `spreadMs`; with `hold`,
 * the last chunk waits for the release, and meanwhile 16-byte keep-alive
 * chunks (part of the stream and of the digests) go every second so that
 * tlsproxy_session_timeout does not end the waiting session.
 */
function streamSession(port: number, ca: string, bytes: number, spreadMs: number, hold = true): Promise<Session> {
  return new Promise((resolve) => {
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let received = 0;
    let written = 0;
    let allWritten = false;
    let done = false;
    const s: Session = { port: 0, ok: false };
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      clearTimeout(hard);
      s.error = error;
      s.ok = !error && allWritten && received === written && sent.digest('hex') === got.digest('hex');
      if (!error && !s.ok) s.error = `checksum: received ${received} of ${written}`;
      socket.destroy();
      resolve(s);
    };
    const chunk = 1024;
    const chunks = Math.ceil(bytes / chunk);
    let payload = 0;
    let timer: NodeJS.Timeout | undefined;
    const hard = setTimeout(() => finish('timeout'), spreadMs + 600_000);
    const send = (b: Buffer) => {
      sent.update(b);
      written += b.length;
      socket.write(b);
    };
    socket.once('secureConnect', () => {
      s.port = socket.localPort ?? 0;
      s.secureAt = Date.now();
      const every = Math.max(5, Math.min(1000, Math.floor(spreadMs / chunks)));
      timer = setInterval(() => {
        const n = Math.min(chunk, bytes - payload);
        if (payload + n >= bytes && hold && !released) {
          send(randomBytes(16)); // keep-alive while the last chunk waits
          return;
        }
        payload += n;
        send(randomBytes(n));
        if (payload >= bytes) {
          allWritten = true;
          clearInterval(timer);
        }
      }, every);
    });
    socket.on('data', (d: Buffer) => {
      got.update(d);
      received += d.length;
      if (allWritten && received >= written) finish();
    });
    socket.on('error', (e) => finish(e.message));
    socket.on('close', () => finish(allWritten && received >= written ? undefined : 'closed'));
  });
}

/** Ping-pong: 1 KiB out, wait for it back; round-trip times. */
async function pingPong(port: number, ca: string, untilMs: number, rtts: number[], counter: { bytes: number }): Promise<void> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  socket.on('error', () => undefined);
  await new Promise<void>((r, j) => {
    socket.once('secureConnect', () => r());
    socket.once('error', j);
  }).catch(() => undefined);
  const payload = randomBytes(1024);
  let pending = 0;
  let resolveOne: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    pending -= d.length;
    if (pending <= 0) resolveOne?.();
  });
  while (Date.now() < untilMs && !socket.destroyed) {
    const t0 = performance.now();
    pending = payload.length;
    const back = new Promise<void>((r) => (resolveOne = r));
    socket.write(payload);
    const ok = await Promise.race([back.then(() => true), sleep(10_000).then(() => false)]);
    if (!ok) break;
    rtts.push(performance.now() - t0);
    counter.bytes += payload.length;
    await sleep(20);
  }
  socket.destroy();
}

/** Made once: the hostile payloads (building them per client would stall the clients' own event loop). */
let payloads: { hello: Uint8Array; bigHello1: Buffer; alert: Buffer } | undefined;
function hostilePayloads(): { hello: Uint8Array; bigHello1: Buffer; alert: Buffer } {
  if (!payloads) {
    const big = clientHello({ extra: [[21, new Uint8Array(64 * 1024 - 400)]] });
    const parts: Buffer[] = [];
    for (const b of big) parts.push(Buffer.from(record(22, Uint8Array.of(b), 0x0301)));
    payloads = { hello: record(22, clientHello()), bigHello1: Buffer.concat(parts), alert: Buffer.from(record(21, Uint8Array.of(1, 90), 0x0301)) };
  }
  return payloads;
}

type HostileKind = 'byte-by-byte' | 'half-open' | 'big-hello-1-byte-records' | 'warning-alerts' | 'never-reads';
const ALL_KINDS: HostileKind[] = ['byte-by-byte', 'half-open', 'big-hello-1-byte-records', 'warning-alerts', 'never-reads'];
/** SOAK_KINDS=never-reads,half-open runs only those (to see which kind costs what). */
const KINDS: HostileKind[] = process.env.SOAK_KINDS ? (process.env.SOAK_KINDS.split(',') as HostileKind[]).filter((k) => ALL_KINDS.includes(k)) : ALL_KINDS;

/** A hostile client; resolves with its local port and whether the daemon cut it (the connection closed). */
function hostileClient(kind: HostileKind, port: number, ca: string, maxMs: number, readAfterMs: number): Promise<{ port: number; cut: boolean }> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let localPort = 0;
    const end = (cut: boolean, s: net.Socket) => {
      clearInterval(timer);
      clearTimeout(hard);
      s.destroy();
      resolve({ port: localPort, cut });
    };
    let hard: NodeJS.Timeout;
    if (kind === 'never-reads') {
      const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
      hard = setTimeout(() => end(false, s), maxMs);
      s.on('error', () => undefined);
      s.once('secureConnect', () => {
        localPort = s.localPort ?? 0;
        s.pause(); // never read: the echo piles up
        // Only long after the daemon should have cut it, read what is there: a cut connection then
        // ends at once; one still open goes on until maxMs (not cut).
        setTimeout(() => s.resume(), readAfterMs);
        const junk = randomBytes(64 * 1024);
        let total = 0;
        timer = setInterval(() => {
          if (total < 1 << 20) s.write(junk);
          total += junk.length;
        }, 200);
      });
      s.on('close', () => end(true, s));
      return;
    }
    const s = net.connect(port, '127.0.0.1');
    hard = setTimeout(() => end(false, s), maxMs);
    s.on('error', () => undefined);
    s.on('close', () => end(true, s));
    s.resume();
    s.once('connect', () => {
      localPort = s.localPort ?? 0;
      if (kind === 'half-open') return;
      const pl = hostilePayloads();
      if (kind === 'byte-by-byte') {
        const hello = pl.hello;
        let i = 0;
        timer = setInterval(() => {
          if (i < hello.length) s.write(hello.subarray(i, ++i));
        }, 100);
      } else if (kind === 'big-hello-1-byte-records') {
        s.write(pl.bigHello1);
      } else if (kind === 'warning-alerts') {
        const alert = pl.alert; // warning user_canceled, again and again
        timer = setInterval(() => {
          if (!s.destroyed) s.write(alert);
        }, 50);
      }
    });
  });
}

export async function runSoak(options: Partial<SoakOptions> = {}): Promise<SoakReport> {
  const o = { ...DEFAULTS, ...options };
  const log = o.log;
  const problems: string[] = [];
  const backend = await echoBackend();
  const pki = await testPki();
  const ca = pki.caPem;
  const mainCf = await certMainCf(
    [
      'tlsproxy_worker_processes = 2',
      `tlsproxy_handshake_timeout = ${o.handshakeTimeout}s`,
      `tlsproxy_session_timeout = ${o.sessionTimeout}s`,
      'tlsproxy_tls_loglevel = 0',
      'tlsproxy_client_connection_count_limit = 0',
      'tlsproxy_drain_timeout = 5s',
      // Run niced on a shared machine, a worker can be starved of CPU for longer than the default 10 s:
      // the soak's own SIGKILL is the fault it tests, not a watchdog kill.
      'tlsproxy_watchdog_timeout = 60s',
    ].join('\n'),
  );
  const dir = writeConfig(mainCf, `127.0.0.1:0 inet n - n - 2 tlsproxy -o tlsproxy_backend=${backend.address}`);
  const daemon = new DaemonProc(['start', '-c', dir], o.durationMs + 4 * o.phaseMs + 300_000);
  const listening = await daemon.waitFor(/^service \S+: listening on 127\.0\.0\.1:(\d+), /, { timeoutMs: 60_000 });
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(listening.text)![1]);
  daemon.port = port;
  const sample = () => {
    const pids = [daemon.pid, ...childPids(daemon.pid)];
    return pids.reduce((n, p) => n + rssKb(p), 0) / 1024;
  };
  await sleep(500);
  const baselineRss = sample();
  let peakRss = baselineRss;
  let active = 0;
  let peakConcurrent = 0;
  const sampler = setInterval(() => {
    const r = sample();
    if (r > peakRss) peakRss = r;
  }, 250);
  log(`soak: daemon pid ${daemon.pid} on 127.0.0.1:${port}, 2 worker processes; baseline RSS ${baselineRss.toFixed(0)} MB`);

  // ---------------------------------------------------------------- phase 1
  const t0 = Date.now();
  const sessions: Promise<Session>[] = [];
  let inFlight = 0;
  /** Open `count` sessions spread over `spanMs`; resolves when all are opened. */
  const open = async (count: number, spanMs: number) => {
    const start = Date.now();
    for (let i = 0; i < count; i++) {
      const due = start + (spanMs * i) / count;
      if (Date.now() < due) await sleep(due - Date.now());
      while (inFlight >= o.openConcurrency) await sleep(2);
      inFlight++;
      active++;
      peakConcurrent = Math.max(peakConcurrent, active);
      const p = streamSession(port, ca, o.bytes, o.durationMs * 0.6);
      let counted = false;
      const settle = () => {
        if (!counted) {
          counted = true;
          inFlight--;
        }
      };
      // A session counts as "opening" until its first byte comes back or it ends.
      setTimeout(settle, 2000);
      sessions.push(
        p.then((s) => {
          settle();
          active--;
          return s;
        }),
      );
    }
  };
  // Half of the sessions on the first generation, the other half on the second (after the reload);
  // with all of them open, the kill; then probes (new sessions) on the survivors and the replacement.
  released = false;
  const first = Math.floor(o.sessions * 0.5);
  const second = o.sessions - first;
  await open(first, o.durationMs * 0.25);
  // RSS per session: one generation of workers, before the reload doubles them.
  const rssPreReload = sample();
  const activePreReload = active;
  appendFileSync(path.join(dir, 'main.cf'), 'tlsproxy_session_cache_size = 10001\n');
  let out = '';
  const rc = await main(['reload', '-c', dir], { stdout: (t) => (out += t), stderr: (t) => (out += t) });
  log(`soak: reload at ${((Date.now() - t0) / 1000).toFixed(1)}s: ${out.trim()} (exit ${rc})`);
  if (rc !== 0) problems.push(`reload failed: ${out}`);
  // The kill: once every session is open (half of them on the new generation).
  await open(second, o.durationMs * 0.25);
  await sleep(1000);
  const rssAllOpen = sample();
  const activeAllOpen = active;
  log(`soak: all ${o.sessions} sessions opened at ${((Date.now() - t0) / 1000).toFixed(1)}s: ${activeAllOpen} open at once, daemon RSS ${rssAllOpen.toFixed(0)} MB (main + old and new generation)`);
  const current = daemon.workerPids();
  const killedPid = current[0] ?? 0;
  const mark = daemon.mark();
  if (killedPid) process.kill(killedPid, 'SIGKILL');
  log(`soak: SIGKILL worker pid ${killedPid} at ${((Date.now() - t0) / 1000).toFixed(1)}s (${active} sessions open)`);
  const replaced = await daemon.waitFor(new RegExp(`worker process pid (\\d+) started \\(replacing pid ${killedPid}\\)`), { since: mark, timeoutMs: 30_000 }).catch(() => undefined);
  const replacement = replaced ? Number(/pid (\d+) started/.exec(replaced.text)![1]) : 0;
  if (!replacement) problems.push('no replacement worker');
  // The replacement serves at once: probe sessions right after it is up.
  const probeMark = daemon.mark();
  const probeCount = Math.max(10, Math.floor(o.sessions / 100));
  const probes = await Promise.all(Array.from({ length: probeCount }, () => streamSession(port, ca, 4096, 200, false)));
  released = true;
  const results = await Promise.all(sessions);
  const elapsed = (Date.now() - t0) / 1000;
  const secured = results.map((r) => r.secureAt).filter((x): x is number => x !== undefined);
  const handshakeSpan = secured.length > 1 ? (Math.max(...secured) - Math.min(...secured)) / 1000 : elapsed;
  // Which process served each session: its CONNECT line's pid, by client port.
  const pidByPort = new Map<number, number[]>();
  for (const l of daemon.log) {
    const m = /^CONNECT from \[127\.0\.0\.1\]:(\d+)$/.exec(l.text);
    if (m) {
      const list = pidByPort.get(Number(m[1])) ?? [];
      list.push(l.pid);
      pidByPort.set(Number(m[1]), list);
    }
  }
  let intact = 0;
  let failedOnKilled = 0;
  let failedElsewhere = 0;
  for (const s of results) {
    if (s.ok) intact++;
    else if (s.port && pidByPort.get(s.port)?.includes(killedPid)) failedOnKilled++;
    else {
      failedElsewhere++;
      if (failedElsewhere <= 5) problems.push(`session from port ${s.port} (pids ${pidByPort.get(s.port)?.join(',') ?? '?'}) failed: ${s.error}`);
    }
  }
  const probesOk = probes.filter((p) => p.ok).length;
  const probesOnReplacement = probes.filter((p) => daemon.since(probeMark).some((l) => l.pid === replacement && l.text === `CONNECT from [127.0.0.1]:${p.port}`)).length;
  if (probesOk !== probes.length) problems.push(`${probes.length - probesOk} probe sessions after the kill failed`);
  const deathLogged = daemon.since(mark).some((l) => l.text === `warning: process tlsproxy pid ${killedPid} killed by signal SIGKILL`);
  if (!deathLogged) problems.push('the killed worker was not logged');
  log(
    `soak: phase 1: ${results.length} sessions in ${elapsed.toFixed(1)}s (handshakes: ${(secured.length / handshakeSpan).toFixed(0)} sessions/s), ${intact} intact, ` +
      `${failedOnKilled} on the killed worker, ${failedElsewhere} failed elsewhere; probes ${probesOk}/${probes.length} ok, ${probesOnReplacement} on the replacement pid ${replacement}; ` +
      `peak ${peakConcurrent} concurrent, peak RSS ${peakRss.toFixed(0)} MB, ${(((rssPreReload - baselineRss) * 1024) / Math.max(1, activePreReload)).toFixed(0)} KiB per session (${activePreReload} sessions before the reload)`,
  );

  // ---------------------------------------------------------------- phase 2
  await sleep(1000);
  const baseRtts: number[] = [];
  const baseBytes = { bytes: 0 };
  let until = Date.now() + o.phaseMs;
  await Promise.all(Array.from({ length: o.latency }, () => pingPong(port, ca, until, baseRtts, baseBytes)));
  const baseP99 = p99(baseRtts);
  const baseThroughput = baseBytes.bytes / (o.phaseMs / 1000);
  hostilePayloads();
  const hostileMark = daemon.mark();
  const rssBefore = sample();
  let hostilePeak = rssBefore;
  const hs = setInterval(() => (hostilePeak = Math.max(hostilePeak, sample())), 250);
  const attackRtts: number[] = [];
  const attackBytes = { bytes: 0 };
  // The reader that never reads looks (reads) only at 2 x tlsproxy_session_timeout + 5 s: by then the
  // daemon must have cut it (filling the buffers on the way takes a while on a loaded machine).
  const readAfter = 2 * o.sessionTimeout * 1000 + 5000;
  const maxCut = Math.max(o.handshakeTimeout * 1000 + 20_000, readAfter + 30_000);
  const hostile = Array.from({ length: o.hostile }, (_, i) => KINDS[i % KINDS.length]!).map((k) => hostileClient(k, port, ca, maxCut, readAfter).then((r) => ({ kind: k, ...r })));
  await sleep(500);
  until = Date.now() + o.phaseMs;
  await Promise.all(Array.from({ length: o.latency }, () => pingPong(port, ca, until, attackRtts, attackBytes)));
  const attackP99 = p99(attackRtts);
  const attackThroughput = attackBytes.bytes / (o.phaseMs / 1000);
  const cut = await Promise.all(hostile);
  await sleep(1500);
  clearInterval(hs);
  const lines = daemon.since(hostileMark).map((l) => l.text);
  const has = (re: RegExp) => lines.some((t) => re.test(t));
  const byKind: Record<string, { clients: number; cut: number; logged: number }> = {};
  const tooMany = lines.filter((t) => /too many warning alerts/.test(t)).length;
  let alertsLogged = 0;
  for (const c of cut) {
    const e = (byKind[c.kind] ??= { clients: 0, cut: 0, logged: 0 });
    e.clients++;
    if (c.cut) e.cut++;
    const peer = `\\[127\\.0\\.0\\.1\\]:${c.port}`;
    let logged = false;
    if (c.kind === 'warning-alerts') logged = has(new RegExp(`^TLS handshake failed for service=\\S+ peer=${peer}$`)) && alertsLogged++ < tooMany;
    else if (c.kind === 'never-reads') logged = has(new RegExp(`^warning: ciphertext read/write timeout for ${peer}$`));
    else logged = has(new RegExp(`^warning: ciphertext read/write timeout for ${peer}$`)) && has(new RegExp(`^TLS handshake failed for service=\\S+ peer=${peer}$`));
    if (logged) e.logged++;
  }
  for (const [k, e] of Object.entries(byKind)) if (e.cut !== e.clients || e.logged !== e.clients) problems.push(`hostile ${k}: ${e.clients} clients, ${e.cut} cut, ${e.logged} with the right log line`);
  const bound = latencyBound(baseP99);
  if (attackP99 > bound) problems.push(`p99 round trip under attack ${attackP99.toFixed(1)} ms > bound ${bound.toFixed(1)} ms (baseline ${baseP99.toFixed(1)} ms)`);
  log(
    `soak: phase 2: ${o.latency} good sessions: p99 round trip ${baseP99.toFixed(1)} ms alone, ${attackP99.toFixed(1)} ms beside ${o.hostile} hostile clients (bound ${bound.toFixed(1)} ms); ` +
      `throughput ${(baseThroughput / 1024).toFixed(0)} -> ${(attackThroughput / 1024).toFixed(0)} KiB/s; RSS ${rssBefore.toFixed(0)} -> peak ${hostilePeak.toFixed(0)} MB; ` +
      Object.entries(byKind)
        .map(([k, e]) => `${k} ${e.cut}/${e.clients} cut, ${e.logged} logged`)
        .join('; '),
  );
  clearInterval(sampler);
  const stopped = await daemon.stop(20_000);
  if (stopped !== 0) problems.push(`daemon exit ${stopped}`);
  await backend.close();
  // What the daemon said about its processes (a watchdog kill or an unexpected death explains failed sessions).
  const notable = daemon.log.filter((l) => /watchdog timeout|killed by signal|exit status|dying too fast|drain_timeout/.test(l.text)).map((l) => l.text);
  log(`soak: daemon process events: ${notable.length ? notable.join(' | ') : 'none'}`);
  if (daemon.junk.length) problems.push(`daemon wrote non-log lines: ${daemon.junk.slice(0, 3).join(' | ')}`);
  return {
    sessions: results.length,
    intact,
    failedOnKilled,
    failedElsewhere,
    killedPid,
    sessionsPerSecond: secured.length / handshakeSpan,
    peakConcurrent,
    concurrentAtRelease: activeAllOpen,
    rssAllOpenMb: rssAllOpen,
    peakRssMb: peakRss,
    baselineRssMb: baselineRss,
    rssPerSessionKb: activePreReload ? ((rssPreReload - baselineRss) * 1024) / activePreReload : 0,
    probesOk,
    probesOnReplacement,
    baselineP99Ms: baseP99,
    attackP99Ms: attackP99,
    baselineThroughput: baseThroughput,
    attackThroughput,
    hostile: byKind,
    hostilePeakRssMb: hostilePeak,
    problems,
  };
}

function parseArgs(argv: string[]): Partial<SoakOptions> {
  const out: Record<string, number> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-zA-Z]+)$/.exec(argv[i]!);
    if (!m || argv[i + 1] === undefined || !Object.hasOwn(DEFAULTS, m[1]!)) throw new Error(`usage: npm run soak -- [--${Object.keys(DEFAULTS).filter((k) => k !== 'log').join(' N] [--')} N]`);
    out[m[1]!] = Number(argv[++i]);
  }
  return out as Partial<SoakOptions>;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const opts = parseArgs(process.argv.slice(2));
  runSoak(opts).then(
    (r) => {
      process.stdout.write(`${JSON.stringify({ ...r }, null, 2)}\n`);
      if (r.problems.length) process.stdout.write(`soak: PROBLEMS:\n  ${r.problems.join('\n  ')}\n`);
      process.exit(r.problems.length ? 1 : 0);
    },
    (e) => {
      process.stderr.write(`soak: ${(e as Error)?.stack ?? e}\n`);
      process.exit(2);
    },
  );
}

