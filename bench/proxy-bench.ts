/**
 * npm run bench [-- options]: tlsproxy (the real daemon, per crypto provider)
 * against a node:tls proxy doing the same job, on 127.0.0.1, in one run.
 * See bench/README.md for what is measured and how to read it.
 *
 * Processes: this orchestrator (measures nothing CPU-heavy itself), one
 * process per proxy under test (bench/probe.ts preloaded to read its
 * cpuUsage), one TLS client process (bench/client.ts), one plaintext
 * backend process (bench/backend.ts). Every child is killed at the end,
 * also on error or Ctrl-C.
 *
 * Options (or environment variables):
 *   --mb=N              MiB per bulk run for node:tls and tlsproxy(node)     BENCH_MB (128)
 *   --webcrypto-mb=N    MiB per bulk run for tlsproxy(webcrypto) and (js)    BENCH_WEBCRYPTO_MB (64)
 *   --runs=N            measured runs per metric (median reported)           BENCH_RUNS (5)
 *   --hs-ms=N           duration of one handshake run                       BENCH_HS_MS (1000)
 *   --hs-warmup-ms=N    duration of the warm-up before each handshake row   BENCH_HS_WARMUP_MS (3000)
 *   --providers=LIST    tlsproxy crypto providers: node,webcrypto,js        BENCH_PROVIDERS (node,webcrypto,js)
 *   --only=LIST         run only the metrics whose name contains one of these words
 *                       (e.g. --only=ChaCha,handshakes)                     BENCH_ONLY
 *   --no-tls12          skip the TLS 1.2 bulk run                           BENCH_TLS12=0
 *   --no-download       skip the backend → client bulk run                  BENCH_DOWNLOAD=0
 *   --profile[=DIR]     afterwards, CPU-profile each tlsproxy during one upload, one download
 *                       and one handshake run; write .cpuprofile files to DIR and print the top functions
 *   --keep              keep the temporary directory (configuration, certificates, daemon logs)
 *   --quick             small sizes, short runs, one run each, fewer rows (for iterating; ~1 min)
 *   --check             exit 1 when a ratio misses its target (issue 9's table; a tool, not a CI test)
 *   --idle=N            idle connections for the RSS-per-connection row                BENCH_IDLE (1000)
 *   --from-sources      run both proxies from the TypeScript sources (tsx), not compiled JavaScript
 */

import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeTestPki } from '../proxy/cli/certs.js';
import type { ProfileName } from './client.js';
import { Rpc } from './ipc.js';
import { median } from './stats.js';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const MiB = 1024 * 1024;
const RECORD = 16 * 1024;
const CHUNK = 64 * 1024;

// ------------------------------------------------------------------ options

interface Options {
  mb: number;
  webcryptoMb: number;
  runs: number;
  hsMs: number;
  hsWarmupMs: number;
  providers: ('node' | 'webcrypto' | 'js')[];
  only: string[];
  tls12: boolean;
  download: boolean;
  profileDir: string | undefined;
  keep: boolean;
  quick: boolean;
  check: boolean;
  /** Idle connections held for the RSS-per-connection row. */
  idle: number;
  /** Run the daemon and the node:tls proxy from the TypeScript sources (tsx) instead of compiled JavaScript. */
  fromSources: boolean;
}

function parseOptions(argv: string[]): Options {
  const env = process.env;
  const flags = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a} (see the head of bench/proxy-bench.ts)`);
    flags.set(m[1]!, m[2] ?? '');
  }
  const known = ['mb', 'webcrypto-mb', 'runs', 'hs-ms', 'providers', 'only', 'no-tls12', 'no-download', 'profile', 'keep', 'quick', 'check', 'idle', 'from-sources'];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}`);
  const quick = flags.has('quick');
  const num = (flag: string, envName: string, def: number, min: number): number => {
    const text = flags.get(flag) ?? env[envName];
    if (text === undefined || text === '') return def;
    const v = Number(text);
    if (!Number.isFinite(v) || v < min) throw new Error(`bad --${flag} / ${envName}: ${text}`);
    return v;
  };
  const providers = (flags.get('providers') ?? env.BENCH_PROVIDERS ?? 'node,webcrypto,js')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const p of providers) if (p !== 'node' && p !== 'webcrypto' && p !== 'js') throw new Error(`unknown provider ${p}`);
  const only = (flags.get('only') ?? env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  let profileDir: string | undefined;
  if (flags.has('profile')) profileDir = path.resolve(flags.get('profile') || path.join(os.tmpdir(), `tlsproxy-bench-profiles-${Date.now()}`));
  return {
    mb: num('mb', 'BENCH_MB', quick ? 16 : 128, 1),
    webcryptoMb: num('webcrypto-mb', 'BENCH_WEBCRYPTO_MB', quick ? 4 : 64, 1),
    runs: Math.round(num('runs', 'BENCH_RUNS', quick ? 1 : 5, 1)),
    hsMs: num('hs-ms', 'BENCH_HS_MS', quick ? 300 : 1000, 50),
    // Long enough for the daemon's JavaScript to reach steady state (bench/README.md, "Warm-up"):
    // a long-running daemon's figure, not its first thousand handshakes'.
    hsWarmupMs: num('hs-warmup-ms', 'BENCH_HS_WARMUP_MS', quick ? 300 : 3000, 50),
    providers: providers as Options['providers'],
    only,
    tls12: !flags.has('no-tls12') && env.BENCH_TLS12 !== '0',
    download: !flags.has('no-download') && env.BENCH_DOWNLOAD !== '0',
    profileDir,
    keep: flags.has('keep'),
    quick,
    check: flags.has('check'),
    idle: Math.round(num('idle', 'BENCH_IDLE', quick ? 200 : 1000, 10)),
    fromSources: flags.has('from-sources') || env.BENCH_FROM_SOURCES === '1',
  };
}

// ------------------------------------------------------------------ child processes

const children: ChildProcess[] = [];

/** Set in main(): compiled JavaScript for the measured processes (see prepareCompiled). */
let compiled: { probe: string; nodeProxy: string; tcpRelay: string; daemon: string } | undefined;

function forkChild(name: string, script: string, args: string[], opts: { probe?: boolean; logFd?: number; measured?: boolean; execPath?: string } = {}): Rpc {
  const out = opts.logFd ?? 'inherit';
  let execArgv: string[];
  let file = path.join(ROOT, script);
  if (opts.measured && compiled) {
    // The proxies under test run plain `node` on compiled JavaScript, as in production: no tsx.
    // The probe is preloaded with --require, not --import: an --import makes Node load the entry
    // point itself through its ES module loader, which runs the CommonJS lexer over our CommonJS
    // launcher (bin/tlsproxy.js) first, something a production start never does (bench/README.md,
    // "The probe's preload"). Neither proxy changes how it loads with --require.
    execArgv = opts.probe ? ['--require', compiled.probe] : [];
    file = { 'bench/node-proxy.ts': compiled.nodeProxy, 'bench/tcp-relay.ts': compiled.tcpRelay, 'bin/tlsproxy.js': compiled.daemon }[script] ?? file;
  } else {
    execArgv = ['--import', 'tsx'];
    if (opts.probe) execArgv.push('--import', pathToFileURL(path.join(ROOT, 'bench/probe.ts')).href);
    if (script === 'bin/tlsproxy.js') file = path.join(ROOT, 'proxy/cli/main.ts');
  }
  const child = fork(file, args, { cwd: ROOT, execArgv, execPath: opts.execPath, stdio: ['ignore', out, out, 'ipc'], env: { ...process.env, TLSPROXY_FROM_SOURCES: compiled ? '0' : '1' } });
  children.push(child);
  return new Rpc(name, child);
}

/**
 * Build dist/ (scripts/build.mjs, as npm ci does) and bundle the probe and
 * the node:tls proxy with esbuild, so that both proxies start the same way:
 * `node [--require probe.cjs] file.js`.
 */
async function prepareCompiled(tmp: string): Promise<typeof compiled> {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed:\n${r.stdout}${r.stderr}`);
  const daemon = path.join(ROOT, 'bin/tlsproxy.js');
  if (!existsSync(path.join(ROOT, 'dist/proxy/cli/main.js'))) throw new Error('scripts/build.mjs produced no dist/proxy/cli/main.js');
  const esbuild = await import('esbuild');
  const out = path.join(tmp, 'compiled');
  mkdirSync(out);
  const bundle = async (entry: string, name: string, format: 'esm' | 'cjs' = 'esm') => {
    const outfile = path.join(out, name);
    await esbuild.build({ entryPoints: [path.join(ROOT, entry)], bundle: true, platform: 'node', format, target: 'node20', outfile, logLevel: 'error' });
    return outfile;
  };
  return {
    probe: await bundle('bench/probe.ts', 'probe.cjs', 'cjs'),
    nodeProxy: await bundle('bench/node-proxy.ts', 'node-proxy.mjs'),
    tcpRelay: await bundle('bench/tcp-relay.ts', 'tcp-relay.mjs'),
    daemon,
  };
}

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

/** SIGTERM every child still running, SIGKILL what is left after 3 s. */
async function killChildren(): Promise<void> {
  const running = children.filter(alive);
  for (const c of running) c.kill('SIGTERM');
  await Promise.all(
    running.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (!alive(c)) return resolve();
          const t = setTimeout(() => {
            if (alive(c)) c.kill('SIGKILL');
            resolve();
          }, 3000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
}

process.on('exit', () => {
  for (const c of children) if (alive(c)) c.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ subjects

interface Cpu {
  user: number;
  system: number;
  rss: number;
}

interface Subject {
  readonly label: string;
  /** node:tls, or the tlsproxy crypto provider. */
  readonly kind: 'node:tls' | 'node' | 'webcrypto' | 'js';
  readonly rpc: Rpc;
  /** Main service: ECDSA P-256 and RSA-2048 certificates, tickets on. */
  readonly port: number;
  /** Tickets off, session-ID cache on (TLS 1.2 session-ID resumption). */
  readonly sessionIdPort: number;
  readonly bulkBytes: number;
  readonly logFile?: string;
  /** ms from the process start to listening. */
  readonly startMs: number;
}

/** The node:tls proxy, under this Node or (`execPath`, `label`) another one, e.g. Node 24 for X25519MLKEM768. */
async function startNodeTlsProxy(pki: string, backendPort: number, bulkBytes: number, execPath?: string, label = 'node:tls'): Promise<Subject> {
  const t0 = performance.now();
  const rpc = forkChild(
    `${label} proxy`,
    'bench/node-proxy.ts',
    [
      path.join(pki, 'server-ecdsa-p256.pem'),
      path.join(pki, 'server-ecdsa-p256-key.pem'),
      String(backendPort),
      path.join(pki, 'server-rsa-2048.pem'),
      path.join(pki, 'server-rsa-2048-key.pem'),
    ],
    { probe: true, measured: true, execPath },
  );
  const { port, sessionIdPort } = await rpc.waitEvent<{ port: number; sessionIdPort: number }>('listening', 30_000);
  return { label, kind: 'node:tls', rpc, port, sessionIdPort, bulkBytes, startMs: performance.now() - t0 };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

let daemonSerial = 0;

async function startTlsproxy(tmp: string, pki: string, provider: Subject['kind'], backendPort: number, bulkBytes: number): Promise<Subject> {
  const dir = path.join(tmp, `tlsproxy-${provider}-${++daemonSerial}`);
  mkdirSync(dir);
  writeFileSync(
    path.join(dir, 'main.cf'),
    [
      '# written by bench/proxy-bench.ts',
      `smtpd_tls_eccert_file = ${path.join(pki, 'server-ecdsa-p256.pem')}`,
      `smtpd_tls_eckey_file = ${path.join(pki, 'server-ecdsa-p256-key.pem')}`,
      `smtpd_tls_cert_file = ${path.join(pki, 'server-rsa-2048.pem')}`,
      `smtpd_tls_key_file = ${path.join(pki, 'server-rsa-2048-key.pem')}`,
      // The TLS 1.2 session-ID cache (in memory; the value is not used), for the session-ID service.
      'smtpd_tls_session_cache_database = btree:bench-cache',
      'tlsproxy_tls_loglevel = 0',
      `tlsproxy_crypto_provider = ${provider}`,
      // The node:tls proxy runs as whoever starts the bench; so does this one.
      'tlsproxy_allow_root = yes',
      '',
    ].join('\n'),
  );
  const [p1, p2] = [await freePort(), await freePort()];
  // maxproc 1: one process, like the node:tls proxy, so that its CPU counters cover all the work.
  writeFileSync(
    path.join(dir, 'master.cf'),
    `127.0.0.1:${p1}  inet  n  -  n  -  1  tlsproxy -o tlsproxy_backend=inet:127.0.0.1:${backendPort}\n` +
      `127.0.0.1:${p2}  inet  n  -  n  -  1  tlsproxy -o tlsproxy_backend=inet:127.0.0.1:${backendPort} -o tls_ssl_options=NO_TICKET\n`,
  );
  const logFile = path.join(dir, 'tlsproxy.log');
  const fd = openSync(logFile, 'a');
  const label = `tlsproxy(${provider})`;
  let rpc: Rpc;
  const t0 = performance.now();
  try {
    rpc = forkChild(label, 'bin/tlsproxy.js', ['start', '-c', dir], { probe: true, logFd: fd, measured: true });
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const log = readFileSync(logFile, 'utf8');
    const ports = [...log.matchAll(/listening on 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    if (ports.includes(p1) && ports.includes(p2)) return { label, kind: provider, rpc, port: p1, sessionIdPort: p2, bulkBytes, logFile, startMs: performance.now() - t0 };
    if (/fatal:/.test(log) || rpc.exitReason || Date.now() > deadline) {
      throw new Error(`${label} did not start (${rpc.exitReason ?? 'no "listening" line'}):\n${log}`);
    }
    await sleep(2);
  }
}

// ------------------------------------------------------------------ measurements

interface ConnInfo {
  sid: number;
  protocol: string;
  cipher: string;
  group?: string;
  cert: 'EC' | 'RSA';
}

interface BulkResult {
  mibps: number;
  cpuPerRecordUs: number;
  /** Proxy CPU time / wall time of the transfer (1 = one core busy). */
  cores: number;
}

interface HandshakeResult {
  /** Sessions resumed / sessions (resumption runs). */
  reusedShare: number;
  rate: number;
  cpuPerHsUs: number;
  clientCpuPerHsUs: number;
  count: number;
  errors: number;
}

const EXPECTED: Record<ProfileName, { protocol: string; cipher: string; group: string; cert?: 'EC' | 'RSA' }> = {
  'tls13-aes128': { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', group: 'X25519', cert: 'EC' },
  'tls13-aes256': { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', group: 'X25519', cert: 'EC' },
  'tls13-chacha20': { protocol: 'TLSv1.3', cipher: 'TLS_CHACHA20_POLY1305_SHA256', group: 'X25519', cert: 'EC' },
  'tls13-rsa': { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', group: 'X25519', cert: 'RSA' },
  'tls12-ecdhe-ecdsa-aes128': { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', group: 'X25519', cert: 'EC' },
  'tls12-ecdhe-ecdsa-aes256': { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', group: 'X25519', cert: 'EC' },
  'tls12-ecdhe-ecdsa-chacha20': { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', group: 'X25519', cert: 'EC' },
  'tls13-x25519mlkem768': { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', group: 'X25519MLKEM768' },
};

const checked = new Set<string>();
function checkNegotiated(s: Subject, profile: ProfileName, info: ConnInfo): void {
  const key = `${s.label} ${profile}`;
  if (checked.has(key)) return;
  const want = EXPECTED[profile];
  if (info.protocol !== want.protocol || info.cipher !== want.cipher || info.group !== want.group || (want.cert && info.cert !== want.cert)) {
    throw new Error(`${s.label} negotiated ${info.protocol} ${info.cipher} ${info.group} ${info.cert}, expected ${want.protocol} ${want.cipher} ${want.group} ${want.cert ?? ''}`);
  }
  checked.add(key);
}

function cpuDelta(a: Cpu, b: Cpu): number {
  return b.user + b.system - (a.user + a.system);
}

function bulkTimeout(bytes: number): number {
  return 60_000 + (bytes / MiB) * 1000;
}

class Bench {
  constructor(
    readonly client: Rpc,
    readonly backend: Rpc,
    readonly backendPort = 0,
  ) {}

  private async open(s: Subject, profile: ProfileName): Promise<{ info: ConnInfo; cid: number }> {
    this.backend.clearEvents();
    const info = await this.client.call<ConnInfo>('connect', { port: s.port, profile }, 30_000);
    checkNegotiated(s, profile, info);
    // The proxy connects to the backend once the handshake is done.
    const { cid } = await this.backend.waitEvent<{ cid: number }>('accepted', 30_000);
    await sleep(20);
    return { info, cid };
  }

  private async shut(sid: number, cid: number): Promise<void> {
    await this.client.call('close', { sid }, 30_000);
    await this.backend.waitEvent('closed', 10_000, (d: { cid: number }) => d.cid === cid).catch(() => undefined);
  }

  /** Client → proxy → backend: MiB/s from the first to the last byte at the backend. */
  async upload(s: Subject, profile: ProfileName, bytes: number): Promise<BulkResult> {
    await this.backend.call('mode', { kind: 'sink', bytes });
    const { info, cid } = await this.open(s, profile);
    const done = this.backend.waitEvent<{ cid: number; ms: number }>('sink-done', bulkTimeout(bytes), (d) => d.cid === cid);
    done.catch(() => undefined);
    const cpu0 = await s.rpc.call<Cpu>('cpu');
    await this.client.call('upload', { sid: info.sid, bytes, chunk: CHUNK }, bulkTimeout(bytes));
    const r = await done;
    const cpu1 = await s.rpc.call<Cpu>('cpu');
    await this.shut(info.sid, cid);
    const cpu = cpuDelta(cpu0, cpu1);
    return { mibps: bytes / MiB / (r.ms / 1000), cpuPerRecordUs: cpu / (bytes / RECORD), cores: cpu / (r.ms * 1000) };
  }

  /** Backend → proxy → client: MiB/s from the first to the last byte at the client. */
  async download(s: Subject, profile: ProfileName, bytes: number): Promise<BulkResult> {
    await this.backend.call('mode', { kind: 'source' });
    const { info, cid } = await this.open(s, profile);
    const cpu0 = await s.rpc.call<Cpu>('cpu');
    const got = this.client.call<{ ms: number }>('download', { sid: info.sid, bytes }, bulkTimeout(bytes));
    got.catch(() => undefined);
    await this.backend.call('source', { cid, bytes, chunk: CHUNK }, bulkTimeout(bytes));
    const r = await got;
    const cpu1 = await s.rpc.call<Cpu>('cpu');
    await this.shut(info.sid, cid);
    const cpu = cpuDelta(cpu0, cpu1);
    return { mibps: bytes / MiB / (r.ms / 1000), cpuPerRecordUs: cpu / (bytes / RECORD), cores: cpu / (r.ms * 1000) };
  }

  /**
   * Handshakes (+ backend connect + greeting relayed) per second, and server
   * CPU per session. `resume`: each session resumes the previous one
   * (`sessionIds`: on the service without tickets).
   */
  async handshakes(s: Subject, profile: ProfileName, concurrency: number, durationMs: number, resume?: 'ticket' | 'session-id'): Promise<HandshakeResult> {
    await this.backend.call('mode', { kind: 'greet' });
    await sleep(100); // let the previous run's connections finish closing
    const port = resume === 'session-id' ? s.sessionIdPort : s.port;
    const cpu0 = await s.rpc.call<Cpu>('cpu');
    const r = await this.client.call<{ count: number; reused: number; ms: number; errors: number; lastError: string; cpuUs: number }>(
      'handshakes',
      { port, profile, concurrency, durationMs, resume: resume !== undefined },
      durationMs + 60_000,
    );
    await sleep(150); // teardown of the last sessions belongs to this run
    const cpu1 = await s.rpc.call<Cpu>('cpu');
    if (!r.count) throw new Error(`${s.label}: no session completed (${r.errors} errors, the last: ${r.lastError})`);
    if (r.errors) process.stderr.write(`  note: ${s.label}: ${r.errors} failed sessions (${r.lastError})\n`);
    if (resume && r.reused < r.count * 0.9) throw new Error(`${s.label}: only ${r.reused} of ${r.count} sessions resumed (${profile}, ${resume})`);
    return {
      reusedShare: r.reused / r.count,
      rate: r.count / (r.ms / 1000),
      cpuPerHsUs: cpuDelta(cpu0, cpu1) / r.count,
      clientCpuPerHsUs: r.cpuUs / r.count,
      count: r.count,
      errors: r.errors,
    };
  }

  /** 1 KiB ping-pong through the proxy and straight to the echo backend, interleaved: added latency. */
  async pingpong(s: Subject, count: number): Promise<LatencyResult> {
    await this.backend.call('mode', { kind: 'echo' });
    // Round trips alternate between the proxied and the direct connection (client.ts pingpair).
    const { proxied, direct } = await this.client.call<{ proxied: number[]; direct: number[] }>(
      'pingpair',
      { proxyPort: s.port, directPort: this.backendPort, profile: 'tls13-aes128', count, size: 1024 },
      300_000,
    );
    const q = (xs: number[], f: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * f))]!;
    return { p50: q(proxied, 0.5) - q(direct, 0.5), p99: q(proxied, 0.99) - q(direct, 0.99), directP50: q(direct, 0.5) };
  }

  /** RSS per idle established connection: `n` sessions held open (handshake done, backend connected). */
  async idle(s: Subject, n: number): Promise<IdleResult> {
    await this.backend.call('mode', { kind: 'greet' });
    // Ten connections first, held and released: what the first connections compile and allocate once
    // (handshake code, lazily loaded modules, pools) is not per connection. Both subjects get the same.
    await this.client.call<number>('hold', { port: s.port, profile: 'tls13-aes128', n: 10 }, 60_000);
    await this.client.call('release', {}, 60_000);
    await sleep(300);
    const before = await s.rpc.call<Cpu>('cpu', { gc: true });
    const held = await this.client.call<number>('hold', { port: s.port, profile: 'tls13-aes128', n }, 300_000);
    await sleep(1000);
    const after = await s.rpc.call<Cpu>('cpu', { gc: true });
    await this.client.call('release', {}, 120_000);
    await sleep(500);
    return { kibPerConn: (after.rss - before.rss) / 1024 / held };
  }
}

interface LatencyResult {
  /** Added µs at the median and the 99th percentile: proxied minus direct plaintext. */
  p50: number;
  p99: number;
  directP50: number;
}

interface IdleResult {
  kibPerConn: number;
}

interface StartResult {
  ms: number;
  rssMiB: number;
}

// ------------------------------------------------------------------ statistics and output

function fmt(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

/**
 * A ratio target of issue 9's table: tlsproxy / node:tls must be >= or <= `value`.
 * `jsTarget`s (issue 12) are absolute instead: the js provider's own figure (MiB/s, handshakes/s).
 */
interface Target {
  readonly op: '>=' | '<=';
  readonly value: number;
  /** Short name in the ratio line. */
  readonly name: string;
}

/** A metric: how to run it once, and which numbers of its result make table rows. */
interface Metric<R = any> {
  readonly key: string;
  readonly run: (s: Subject, warmup: boolean) => Promise<R>;
  readonly rows: { label: string; value: (r: R) => number; better: 'higher' | 'lower'; target?: Target; webcryptoTarget?: Target; jsTarget?: Target }[];
  readonly describe: (r: R) => string;
  /** Which subjects run it (default: all). */
  readonly subjects?: (s: Subject) => boolean;
  /** Runs (default --runs) and whether a warm-up run comes first (default yes). */
  readonly runs?: number;
  readonly warmup?: boolean;
}

// ------------------------------------------------------------------ profile summary

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

function summarizeProfile(file: string, top = 18): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
  const total = prof.samples.length || 1;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  const short = (url: string) => {
    if (!url) return '';
    let u = url.replace(/^file:\/\//, '');
    if (u.startsWith(ROOT + '/')) u = u.slice(ROOT.length + 1);
    return u.replace(/^.*\/node_modules\//, 'node_modules/');
  };
  for (const n of prof.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const f = n.callFrame;
    const file = short(f.url) || '(native/vm)';
    // Modules loaded through tsx often report every function on line 1: the line is then left out.
    const where = !f.url ? '' : f.lineNumber > 0 ? `${file}:${f.lineNumber + 1}` : file;
    const fnKey = `${f.functionName || '(anonymous)'}  ${where}`.trim();
    byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + hits);
    byFile.set(file, (byFile.get(file) ?? 0) + hits);
  }
  const ms = (prof.endTime - prof.startTime) / 1000;
  const list = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, hits]) => `    ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  return `  ${file}\n  ${total} samples over ${ms.toFixed(0)} ms; self time, top functions:\n${list(byFn, top)}\n  self time by file:\n${list(byFile, 10)}`;
}

// ------------------------------------------------------------------ main

// ------------------------------------------------------------------ X25519MLKEM768

const NODE24 = path.join(ROOT, '.cache/node24/node_modules/.bin/node');

/**
 * Full TLS 1.3 handshakes with X25519MLKEM768 beside x25519, against each
 * tlsproxy daemon: the client is Node 24 (OpenSSL 3.5; the system node's
 * OpenSSL has no ML-KEM, hence no node:tls column), installed outside
 * node_modules as .ci/run does. Concurrency 1 (the cost of one handshake)
 * and 16 (throughput). BENCH_MLKEM=0 skips it.
 */
async function hybridHandshakes(tlsproxies: readonly Subject[], backend: Rpc, pki: string, backendPort: number, opts: Options): Promise<void> {
  const caFile = path.join(pki, 'ca.pem');
  if (process.env.BENCH_MLKEM === '0') return;
  if (!existsSync(NODE24)) {
    console.log('\nX25519MLKEM768 handshakes: skipped (no Node 24: npm install --prefix .cache/node24 --no-save node@24)');
    return;
  }
  const child = fork(path.join(ROOT, 'bench/client.ts'), [], { cwd: ROOT, execPath: NODE24, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const client = new Rpc('client (Node 24)', child);
  await client.call('init', { ca: caFile });
  const bench = new Bench(client, backend);
  const profiles: [string, ProfileName][] = [
    ['x25519', 'tls13-aes128'],
    ['X25519MLKEM768', 'tls13-x25519mlkem768'],
  ];
  // The same node:tls proxy under Node 24, whose OpenSSL 3.5 does X25519MLKEM768 itself: the
  // side-by-side for the hybrid that the system Node cannot give.
  let nodeTls24: Subject | undefined;
  try {
    nodeTls24 = await startNodeTlsProxy(pki, backendPort, 0, NODE24, 'node:tls (Node 24)');
  } catch (e) {
    console.log(`\nnode:tls under Node 24: not started (${(e as Error).message})`);
  }
  const hybridCpu = new Map<string, Map<number, number>>();
  for (const s of nodeTls24 ? [nodeTls24, ...tlsproxies] : tlsproxies) {
    const rows: string[][] = [];
    for (const c of [1, 16]) {
      const runs = new Map<ProfileName, HandshakeResult[]>(profiles.map(([, p]) => [p, []]));
      for (const [, p] of profiles) await bench.handshakes(s, p, c, opts.hsWarmupMs); // warm-up
      for (let i = 0; i < opts.runs; i++) for (const [, p] of profiles) runs.get(p)!.push(await bench.handshakes(s, p, c, opts.hsMs));
      const med = (p: ProfileName, f: (r: HandshakeResult) => number) => median(runs.get(p)!.map(f));
      for (const [label, f] of [
        [`handshakes/s, concurrency ${c}`, (r: HandshakeResult) => r.rate],
        ['  server CPU per handshake, µs', (r: HandshakeResult) => r.cpuPerHsUs],
      ] as const) {
        const a = med('tls13-aes128', f);
        const b = med('tls13-x25519mlkem768', f);
        rows.push([label, fmt(a), fmt(b), fmt(b / a)]);
      }
      if (!hybridCpu.has(s.label)) hybridCpu.set(s.label, new Map());
      hybridCpu.get(s.label)!.set(c, med('tls13-x25519mlkem768', (r) => r.cpuPerHsUs));
    }
    printTable(`${s.label}: full TLS 1.3 handshakes, X25519MLKEM768 vs x25519 (Node 24 / OpenSSL 3.5 client; ratio = X25519MLKEM768 / x25519)`, ['metric', 'x25519', 'X25519MLKEM768', 'ratio'], rows);
  }
  if (nodeTls24) {
    const base = hybridCpu.get(nodeTls24.label)!;
    for (const s of tlsproxies) {
      const ours = hybridCpu.get(s.label)!;
      printTable(
        `${s.label} against node:tls under Node 24 (OpenSSL 3.5): server CPU per full X25519MLKEM768 handshake, µs (ratio = ${s.label} / node:tls; no target)`,
        ['concurrency', s.label, 'node:tls (Node 24)', 'ratio'],
        [1, 16].map((c) => [String(c), fmt(ours.get(c)!), fmt(base.get(c)!), fmt(ours.get(c)! / base.get(c)!)]),
      );
    }
    nodeTls24.rpc.child.kill('SIGTERM');
  }
}

/**
 * The floor (bench/README.md): a plain TCP relay (bench/tcp-relay.ts: accept,
 * connect, pipe, close; no TLS) in front of the node:tls proxy. The
 * client's handshakes pass through it, and its CPU per session is what any
 * proxy on node:net pays per connection before any TLS work. Measured
 * interleaved with node:tls alone, and set against the issue's targets in µs.
 */
async function floorTable(nodeTls: Subject, bench: Bench, opts: Options): Promise<void> {
  const t0 = performance.now();
  const rpc = forkChild('tcp relay', 'bench/tcp-relay.ts', [String(nodeTls.port), String(nodeTls.sessionIdPort)], { probe: true, measured: true });
  const { port, sessionIdPort } = await rpc.waitEvent<{ port: number; sessionIdPort: number }>('listening', 30_000);
  const relay: Subject = { label: 'tcp relay', kind: 'node:tls', rpc, port, sessionIdPort, bulkBytes: 0, startMs: performance.now() - t0 };
  const cases: [string, ProfileName, number, 'ticket' | 'session-id' | undefined, number][] = [
    ['full TLS 1.3 handshake, ECDSA P-256, c=32', 'tls13-aes128', 32, undefined, 0.6],
    ['full TLS 1.3 handshake, ECDSA P-256, c=1', 'tls13-aes128', 1, undefined, 0.6],
    ['TLS 1.3 PSK (ticket) resumed, c=4', 'tls13-aes128', 4, 'ticket', 0.5],
    ['TLS 1.2 ticket resumed, c=4', 'tls12-ecdhe-ecdsa-aes128', 4, 'ticket', 0.5],
    ['TLS 1.2 session-ID resumed, c=4', 'tls12-ecdhe-ecdsa-aes128', 4, 'session-id', 0.5],
  ];
  const rows: string[][] = [];
  try {
    for (const [label, profile, c, resume, target] of cases) {
      for (const s of [relay, nodeTls]) await bench.handshakes(s, profile, c, opts.hsWarmupMs, resume); // warm-up
      const floor: number[] = [];
      const base: number[] = [];
      for (let i = 0; i < opts.runs; i++) {
        floor.push((await bench.handshakes(relay, profile, c, opts.hsMs, resume)).cpuPerHsUs);
        base.push((await bench.handshakes(nodeTls, profile, c, opts.hsMs, resume)).cpuPerHsUs);
      }
      const f = median(floor);
      const b = median(base);
      rows.push([label, fmt(f), fmt(b), fmt(f / b), `${fmt(target * b)} (${target}x)`]);
    }
  } finally {
    rpc.child.kill('SIGTERM');
  }
  printTable(
    'The floor: CPU per session of a plain TCP relay (node:net: accept, connect, pipe, close; no TLS) in front of node:tls, against node:tls alone (µs; ratio = relay / node:tls; a target below the relay is below what node:net costs)',
    ['session', 'tcp relay µs', 'node:tls µs', 'ratio', 'target µs'],
    rows,
  );
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const cpus = os.cpus();
  console.log('tlsproxy bench: tlsproxy daemon vs a node:tls proxy, same job, 127.0.0.1');
  console.log(
    `node ${process.version}, OpenSSL ${process.versions.openssl}, ${os.type()} ${os.release()} ${os.arch()}, ` +
      `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  console.log(
    `bulk: ${opts.mb} MiB per run (tlsproxy(webcrypto), tlsproxy(js): ${opts.webcryptoMb} MiB) in ${CHUNK / 1024} KiB writes; ` +
      `handshakes: ${opts.hsMs} ms per run; median of ${opts.runs} run(s) after a ${opts.hsWarmupMs} ms warm-up each, subjects interleaved`,
  );

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tlsproxy-bench-'));
  const stop = (sig: NodeJS.Signals) => {
    process.stderr.write(`\nbench: ${sig}, stopping the child processes\n`);
    void killChildren().finally(() => {
      rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const started = Date.now();
  const subjects: Subject[] = [];
  try {
    const pki = path.join(tmp, 'pki');
    await writeTestPki(pki);
    const backend = forkChild('backend', 'bench/backend.ts', []);
    const client = forkChild('client', 'bench/client.ts', []);
    const backendPort = await backend.call<number>('listen');
    await client.call('init', { ca: path.join(pki, 'ca.pem') });
    if (!opts.fromSources) compiled = await prepareCompiled(tmp);
    console.log(compiled ? 'both proxies run compiled JavaScript (dist/, bundled probe and node:tls proxy), no tsx' : 'both proxies run from the TypeScript sources (tsx)');

    subjects.push(await startNodeTlsProxy(pki, backendPort, opts.mb * MiB));
    for (const p of opts.providers) {
      subjects.push(await startTlsproxy(tmp, pki, p, backendPort, (p === 'node' ? opts.mb : opts.webcryptoMb) * MiB));
    }
    for (const s of subjects) console.log(`  ${s.label}: pid ${s.rpc.child.pid}, 127.0.0.1:${s.port} (session IDs: ${s.sessionIdPort}), listening after ${fmt(s.startMs)} ms`);
    const bench = new Bench(client, backend, backendPort);

    const warmBytes = (s: Subject) => Math.min(s.bulkBytes, Math.max(4 * MiB, s.bulkBytes / 4));
    const nodeOnly = (s: Subject) => s.kind === 'node:tls' || s.kind === 'node';
    const bulkRows = (what: string, tag: string, core: boolean): Metric<BulkResult>['rows'] => [
      {
        label: `${what}, MiB/s`,
        value: (r) => r.mibps,
        better: 'higher',
        target: { op: '>=', value: 1.2, name: `${tag} MiB/s` },
        ...(core ? { webcryptoTarget: { op: '>=', value: 0.5, name: `webcrypto ${tag} MiB/s` } as Target } : {}),
      },
      { label: '  proxy CPU per 16 KiB record, µs', value: (r) => r.cpuPerRecordUs, better: 'lower', target: { op: '<=', value: 0.8, name: `${tag} µs/rec` } },
      { label: '  proxy cores busy', value: (r) => r.cores, better: 'lower' },
    ];
    const bulkDescribe = (r: BulkResult) => `${fmt(r.mibps)} MiB/s ${fmt(r.cpuPerRecordUs)} µs/rec ${fmt(r.cores)} cores`;
    const hsDescribe = (r: HandshakeResult) =>
      `${fmt(r.rate)}/s ${fmt(r.cpuPerHsUs)} µs/hs (${r.count} sessions${r.reusedShare ? `, ${Math.round(r.reusedShare * 100)}% resumed` : ''}, client ${fmt(r.clientCpuPerHsUs)} µs/hs)`;

    const metrics: Metric[] = [];
    const add = <R>(m: Metric<R>) => {
      if (opts.only.length && !opts.only.some((w) => m.key.toLowerCase().includes(w))) return;
      metrics.push(m as Metric);
    };
    // ---- bulk: both versions, the three AEADs, both directions
    const suites: [string, string, ProfileName, ProfileName][] = [
      ['AES-128-GCM', 'aes128', 'tls13-aes128', 'tls12-ecdhe-ecdsa-aes128'],
      ['AES-256-GCM', 'aes256', 'tls13-aes256', 'tls12-ecdhe-ecdsa-aes256'],
      ['ChaCha20-Poly1305', 'chacha', 'tls13-chacha20', 'tls12-ecdhe-ecdsa-chacha20'],
    ];
    for (const [version, v] of [['1.3', '13'], ['1.2', '12']] as const) {
      if (version === '1.2' && !opts.tls12) continue;
      for (const [suite, tag, p13, p12] of suites) {
        if (opts.quick && tag === 'aes256') continue;
        for (const dir of ['upload', 'download'] as const) {
          if (dir === 'download' && !opts.download) continue;
          const profile = version === '1.3' ? p13 : p12;
          // The other providers run the AES-128-GCM rows (their own table; webcrypto has targets there).
          const core = tag === 'aes128';
          add<BulkResult>({
            key: `TLS ${version} ${suite} ${dir}`,
            run: (s, w) => (dir === 'upload' ? bench.upload(s, profile, w ? warmBytes(s) : s.bulkBytes) : bench.download(s, profile, w ? warmBytes(s) : s.bulkBytes)),
            rows: bulkRows(`TLS ${version} ${suite} ${dir === 'upload' ? 'upload (client→backend)' : 'download (backend→client)'}`, `${v}-${tag}-${dir === 'upload' ? 'up' : 'down'}`, core && version === '1.3').map((r, i) =>
              i === 0 && tag === 'chacha' && version === '1.3' ? { ...r, jsTarget: { op: '>=', value: 95.4, name: `js 13-chacha-${dir === 'upload' ? 'up' : 'down'} MiB/s (absolute)` } as Target } : r,
            ),
            describe: bulkDescribe,
            // ChaCha20-Poly1305 TLS 1.3, both directions: every provider (issue 12's js target, >= 100 MB/s = 95.4 MiB/s).
            subjects: (core && (version === '1.3' || dir === 'upload')) || (tag === 'chacha' && version === '1.3') ? undefined : nodeOnly,
          });
        }
      }
    }
    // ---- full handshakes: ECDSA P-256 and RSA-2048, concurrency 1 and 32
    for (const [cert, profile] of [['ECDSA P-256', 'tls13-aes128'], ['RSA-2048', 'tls13-rsa']] as const) {
      for (const c of [1, 32]) {
        const tag = `hs-${cert.startsWith('RSA') ? 'rsa' : 'ecdsa'}-c${c}`;
        add<HandshakeResult>({
          key: `TLS 1.3 full handshakes ${cert} c=${c}`,
          run: (s, w) => bench.handshakes(s, profile, c, w ? opts.hsWarmupMs : opts.hsMs),
          rows: [
            {
              label: `full TLS 1.3 handshakes/s, ${cert}, x25519, concurrency ${c}`,
              value: (r) => r.rate,
              better: 'higher',
              ...(cert.startsWith('ECDSA')
                ? { webcryptoTarget: { op: '>=', value: 0.5, name: `webcrypto ${tag}/s` } as Target, jsTarget: { op: '>=', value: 100, name: `js ${tag}/s (absolute)` } as Target }
                : {}),
            },
            { label: '  server CPU per handshake, µs', value: (r) => r.cpuPerHsUs, better: 'lower', target: { op: '<=', value: 0.6, name: `${tag} µs` } },
          ],
          describe: hsDescribe,
          subjects: cert.startsWith('RSA') ? nodeOnly : undefined,
        });
      }
    }
    // ---- resumed handshakes
    for (const [what, profile, mode, tag] of [
      ['TLS 1.3 PSK (ticket) resumed', 'tls13-aes128', 'ticket', 'resume-13-psk'],
      ['TLS 1.2 ticket resumed', 'tls12-ecdhe-ecdsa-aes128', 'ticket', 'resume-12-ticket'],
      ['TLS 1.2 session-ID resumed', 'tls12-ecdhe-ecdsa-aes128', 'session-id', 'resume-12-id'],
    ] as const) {
      add<HandshakeResult>({
        key: `${what} handshakes`,
        run: (s, w) => bench.handshakes(s, profile, 4, w ? opts.hsWarmupMs : opts.hsMs, mode),
        rows: [
          { label: `${what} handshakes/s, concurrency 4`, value: (r) => r.rate, better: 'higher' },
          { label: '  server CPU per handshake, µs', value: (r) => r.cpuPerHsUs, better: 'lower', target: { op: '<=', value: 0.5, name: `${tag} µs` } },
        ],
        describe: hsDescribe,
        subjects: nodeOnly,
      });
    }
    // ---- latency, idle memory
    const pings = opts.quick ? 300 : 2000;
    add<LatencyResult>({
      key: 'ping-pong 1 KiB latency',
      run: (s) => bench.pingpong(s, pings),
      rows: [
        { label: `added latency, 1 KiB ping-pong (TLS 1.3), p50 µs`, value: (r) => r.p50, better: 'lower', target: { op: '<=', value: 0.8, name: 'latency p50' } },
        { label: '  p99 µs', value: (r) => r.p99, better: 'lower', target: { op: '<=', value: 0.8, name: 'latency p99' } },
      ],
      describe: (r) => `+${fmt(r.p50)} µs p50, +${fmt(r.p99)} µs p99 (direct p50 ${fmt(r.directP50)} µs)`,
      subjects: nodeOnly,
    });
    add<IdleResult>({
      key: `idle connections x${opts.idle}`,
      // A fresh process each run: one that already ran bulk transfers keeps freed memory resident and hides new allocations.
      run: async (s) => {
        const fresh = s.kind === 'node:tls' ? await startNodeTlsProxy(pki, backendPort, 0) : await startTlsproxy(tmp, pki, s.kind, backendPort, 0);
        try {
          return await bench.idle(fresh, opts.idle);
        } finally {
          fresh.rpc.child.kill('SIGTERM');
          await new Promise((r) => (alive(fresh.rpc.child) ? fresh.rpc.child.once('exit', r) : r(undefined)));
        }
      },
      rows: [{ label: `RSS per idle TLS connection (${opts.idle} connections), KiB`, value: (r) => r.kibPerConn, better: 'lower', target: { op: '<=', value: 0.5, name: 'idle RSS/conn' } }],
      describe: (r) => `${fmt(r.kibPerConn)} KiB/conn`,
      subjects: nodeOnly,
      runs: Math.min(opts.runs, 3),
      warmup: false,
    });
    // ---- start-up: a fresh process each run, started the way the subject was
    add<StartResult>({
      key: 'start-up',
      run: async (s) => {
        const fresh = s.kind === 'node:tls' ? await startNodeTlsProxy(pki, backendPort, 0) : await startTlsproxy(tmp, pki, s.kind, backendPort, 0);
        await sleep(500);
        const { rss } = await fresh.rpc.call<Cpu>('cpu');
        fresh.rpc.child.kill('SIGTERM');
        await new Promise((r) => (alive(fresh.rpc.child) ? fresh.rpc.child.once('exit', r) : r(undefined)));
        return { ms: fresh.startMs, rssMiB: rss / MiB };
      },
      rows: [
        { label: 'start to listening, ms (process start → listening)', value: (r) => r.ms, better: 'lower', target: { op: '<=', value: 1.2, name: 'start ms' } },
        { label: '  RSS once listening (+0.5 s), MiB', value: (r) => r.rssMiB, better: 'lower', target: { op: '<=', value: 1.2, name: 'start RSS' } },
      ],
      describe: (r) => `${fmt(r.ms)} ms ${fmt(r.rssMiB)} MiB`,
      subjects: nodeOnly,
      warmup: false,
    });

    // results[metric][subject] = runs
    const results = new Map<string, Map<string, unknown[]>>();
    for (const m of metrics) {
      const perSubject = new Map<string, unknown[]>();
      results.set(m.key, perSubject);
      const who = subjects.filter(m.subjects ?? (() => true));
      process.stderr.write(`${m.key}:`);
      if (m.warmup !== false) for (const s of who) await m.run(s, true);
      for (let round = 0; round < (m.runs ?? opts.runs); round++) {
        // Rotate the order each round so that drift on a shared machine hits every subject alike.
        const order = who.map((_, i) => who[(i + round) % who.length]!);
        for (const s of order) {
          const r = await m.run(s, false);
          if (!perSubject.has(s.label)) perSubject.set(s.label, []);
          perSubject.get(s.label)!.push(r);
          process.stderr.write('.');
        }
      }
      process.stderr.write('\n');
    }

    // ---- tables: one per provider, node:tls measured in the same run
    const base = subjects[0]!;
    const med = (m: Metric, s: Subject, row: Metric['rows'][number]) => {
      const rs = results.get(m.key)!.get(s.label);
      return rs ? median(rs.map(row.value)) : NaN;
    };
    const verdicts: { name: string; ratio: number; target: Target; ok: boolean }[] = [];
    for (const s of subjects.slice(1)) {
      const rows: string[][] = [];
      for (const m of metrics) {
        if (!results.get(m.key)!.has(s.label)) continue;
        for (const row of m.rows) {
          const a = med(m, s, row);
          const b = med(m, base, row);
          const ratio = a / b;
          const target = s.kind === 'node' ? row.target : s.kind === 'webcrypto' ? row.webcryptoTarget : s.kind === 'js' ? row.jsTarget : undefined;
          let mark = '';
          // js targets are absolute figures, the others ratios to node:tls.
          const judged = s.kind === 'js' ? a : ratio;
          if (target && Number.isFinite(judged)) {
            const ok = target.op === '>=' ? judged >= target.value : judged <= target.value;
            verdicts.push({ name: target.name, ratio: judged, target, ok });
            mark = ` ${target.op}${target.value}${s.kind === 'js' ? ' abs' : ''} ${ok ? 'ok' : 'MISS'}`;
          }
          rows.push([row.label, fmt(a), fmt(b), fmt(ratio), mark.trim()]);
        }
      }
      printTable(
        `${s.label}: ratio = tlsproxy / node:tls (MiB/s, handshakes/s: higher is better; µs, KiB, MiB, ms: lower is better; cores busy = proxy CPU time / transfer time)` +
          (s.bulkBytes !== base.bulkBytes ? `; bulk ${s.bulkBytes / MiB} MiB vs ${base.bulkBytes / MiB} MiB per run` : ''),
        ['metric', s.label, base.label, 'ratio', 'target'],
        rows,
      );
    }

    console.log('\nall runs (medians above):');
    for (const m of metrics) {
      for (const s of subjects) {
        const rs = results.get(m.key)!.get(s.label);
        if (rs) console.log(`  ${m.key.padEnd(36)} ${s.label.padEnd(20)} ${rs.map(m.describe).join('; ')}`);
      }
    }
    const missed = verdicts.filter((v) => !v.ok);
    ratioLine = `ratios (tlsproxy / node:tls, target in brackets, * = missed): ${verdicts.map((v) => `${v.name} ${fmt(v.ratio)}(${v.target.op}${v.target.value})${v.ok ? '' : '*'}`).join('; ')}`;
    ratioSummary = `${verdicts.length - missed.length} of ${verdicts.length} targets met`;
    if (opts.check && missed.length) checkFailed = true;

    await hybridHandshakes(subjects.slice(1), backend, pki, backendPort, opts);
    // BENCH_FLOOR=0 skips it; with --only, it runs when "floor" or "handshakes" is asked for.
    if (process.env.BENCH_FLOOR !== '0' && !opts.quick && (!opts.only.length || opts.only.some((w) => 'floor handshakes'.includes(w)))) await floorTable(base, bench, opts);

    // ---- optional profiles of the tlsproxy daemons
    if (opts.profileDir) {
      mkdirSync(opts.profileDir, { recursive: true });
      console.log(`\nCPU profiles (inspector sampling in the proxy process; the profiler slows it down, figures above are without it):`);
      // node:tls too: its profile is the floor of what a Node proxy pays per connection outside TLS.
      for (const s of subjects) {
        const tag = s.label.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '');
        // BENCH_PROFILE_SUITE=tls13-chacha20 (any client profile name) profiles another suite's bulk runs.
        const suite = (process.env.BENCH_PROFILE_SUITE ?? 'tls13-aes128') as ProfileName;
        const phases: [string, () => Promise<unknown>][] = [
          ['upload', () => bench.upload(s, suite, s.bulkBytes)],
          ['download', () => bench.download(s, suite, s.bulkBytes)],
          ['handshakes-c32', () => bench.handshakes(s, 'tls13-aes128', 32, opts.hsMs)],
          ['resumed-psk-c4', () => bench.handshakes(s, 'tls13-aes128', 4, opts.hsMs, 'ticket')],
          // Only when asked (BENCH_PROFILE_PHASES=pingpong): the 1 KiB round trips of the latency rows.
          ['pingpong', () => bench.pingpong(s, pings)],
        ];
        // BENCH_PROFILE_PHASES=resumed-psk-c4,upload profiles only those phases.
        const only = process.env.BENCH_PROFILE_PHASES?.split(',');
        for (const [phase, run] of phases) {
          if (only ? !only.includes(phase) : phase === 'pingpong') continue;
          const file = path.join(opts.profileDir, `${tag}-${phase}.cpuprofile`);
          await s.rpc.call('profile-start', { intervalUs: 250 });
          const r = (await run()) as { count?: number };
          await s.rpc.call('profile-stop', { file });
          const sessions = typeof r?.count === 'number' ? ` (${r.count} sessions)` : '';
          console.log(`\n${s.label}, ${phase}${sessions}:\n${summarizeProfile(file)}`);
        }
      }
    }

    // ---- anything odd in the daemons' logs
    for (const s of subjects) {
      if (!s.logFile || !existsSync(s.logFile)) continue;
      const odd = readFileSync(s.logFile, 'utf8')
        .split('\n')
        .filter((l) => /warning:|error:|fatal:|panic:/.test(l));
      if (odd.length) console.log(`\n${s.label} logged ${odd.length} warning(s), the first: ${odd.slice(0, 3).join('\n  ')}`);
    }
    for (const s of subjects) {
      const cpu = await s.rpc.call<Cpu>('cpu');
      console.log(`${s.label}: RSS at the end ${(cpu.rss / MiB).toFixed(0)} MiB`);
    }
    console.log(`\nbench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (ratioLine) console.log(`\n${ratioSummary}\n${ratioLine}`);
  } finally {
    await killChildren();
    if (opts.keep) console.log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

let ratioLine = '';
let ratioSummary = '';
let checkFailed = false;

main().then(
  () => process.exit(checkFailed ? 1 : 0),
  async (e) => {
    process.stderr.write(`\nbench failed: ${(e as Error)?.stack ?? e}\n`);
    await killChildren();
    process.exit(1);
  },
);
