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
 *   --mb=N              MiB per bulk run for node:tls and tlsproxy(node)     BENCH_MB (256)
 *   --webcrypto-mb=N    MiB per bulk run for tlsproxy(webcrypto) and (js)    BENCH_WEBCRYPTO_MB (64)
 *   --runs=N            measured runs per metric (median reported)           BENCH_RUNS (5)
 *   --hs-ms=N           duration of one handshake run                       BENCH_HS_MS (1000)
 *   --providers=LIST    tlsproxy crypto providers: node,webcrypto,js        BENCH_PROVIDERS (node,webcrypto,js)
 *   --only=LIST         run only the metrics whose name contains one of these words
 *                       (e.g. --only=ChaCha,handshakes)                     BENCH_ONLY
 *   --no-tls12          skip the TLS 1.2 bulk run                           BENCH_TLS12=0
 *   --no-download       skip the backend → client bulk run                  BENCH_DOWNLOAD=0
 *   --profile[=DIR]     afterwards, CPU-profile each tlsproxy during one upload, one download
 *                       and one handshake run; write .cpuprofile files to DIR and print the top functions
 *   --keep              keep the temporary directory (configuration, certificates, daemon logs)
 *   --quick             small sizes and short runs (a smoke test)
 */

import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeTestPki } from '../proxy/cli/certs.js';
import type { ProfileName } from './client.js';
import { Rpc } from './ipc.js';

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
  providers: ('node' | 'webcrypto' | 'js')[];
  only: string[];
  tls12: boolean;
  download: boolean;
  profileDir: string | undefined;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const env = process.env;
  const flags = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a} (see the head of bench/proxy-bench.ts)`);
    flags.set(m[1]!, m[2] ?? '');
  }
  const known = ['mb', 'webcrypto-mb', 'runs', 'hs-ms', 'providers', 'only', 'no-tls12', 'no-download', 'profile', 'keep', 'quick'];
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
    mb: num('mb', 'BENCH_MB', quick ? 16 : 256, 1),
    webcryptoMb: num('webcrypto-mb', 'BENCH_WEBCRYPTO_MB', quick ? 4 : 64, 1),
    runs: Math.round(num('runs', 'BENCH_RUNS', quick ? 1 : 5, 1)),
    hsMs: num('hs-ms', 'BENCH_HS_MS', quick ? 300 : 1000, 50),
    providers: providers as Options['providers'],
    only,
    tls12: !flags.has('no-tls12') && env.BENCH_TLS12 !== '0',
    download: !flags.has('no-download') && env.BENCH_DOWNLOAD !== '0',
    profileDir,
    keep: flags.has('keep'),
  };
}

// ------------------------------------------------------------------ child processes

const children: ChildProcess[] = [];

function forkChild(name: string, script: string, args: string[], opts: { probe?: boolean; logFd?: number } = {}): Rpc {
  const execArgv = ['--import', 'tsx'];
  if (opts.probe) execArgv.push('--import', pathToFileURL(path.join(ROOT, 'bench/probe.ts')).href);
  const out = opts.logFd ?? 'inherit';
  const child = fork(path.join(ROOT, script), args, { cwd: ROOT, execArgv, stdio: ['ignore', out, out, 'ipc'] });
  children.push(child);
  return new Rpc(name, child);
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
  readonly rpc: Rpc;
  readonly port: number;
  readonly bulkBytes: number;
  readonly logFile?: string;
}

async function startNodeTlsProxy(pki: string, backendPort: number, bulkBytes: number): Promise<Subject> {
  const rpc = forkChild('node:tls proxy', 'bench/node-proxy.ts', [path.join(pki, 'server-ecdsa-p256.pem'), path.join(pki, 'server-ecdsa-p256-key.pem'), String(backendPort)], {
    probe: true,
  });
  const { port } = await rpc.waitEvent<{ port: number }>('listening', 30_000);
  return { label: 'node:tls', rpc, port, bulkBytes };
}

async function startTlsproxy(tmp: string, pki: string, provider: string, backendPort: number, bulkBytes: number): Promise<Subject> {
  const dir = path.join(tmp, `tlsproxy-${provider}`);
  mkdirSync(dir);
  writeFileSync(
    path.join(dir, 'main.cf'),
    [
      '# written by bench/proxy-bench.ts',
      `smtpd_tls_eccert_file = ${path.join(pki, 'server-ecdsa-p256.pem')}`,
      `smtpd_tls_eckey_file = ${path.join(pki, 'server-ecdsa-p256-key.pem')}`,
      'tlsproxy_tls_loglevel = 0',
      `tlsproxy_crypto_provider = ${provider}`,
      // The node:tls proxy runs as whoever starts the bench; so does this one.
      'tlsproxy_allow_root = yes',
      '',
    ].join('\n'),
  );
  // maxproc 1: one process, like the node:tls proxy, so that its CPU counters cover all the work.
  writeFileSync(path.join(dir, 'master.cf'), `127.0.0.1:0  inet  n  -  n  -  1  tlsproxy -o tlsproxy_backend=inet:127.0.0.1:${backendPort}\n`);
  const logFile = path.join(dir, 'tlsproxy.log');
  const fd = openSync(logFile, 'a');
  const label = `tlsproxy(${provider})`;
  let rpc: Rpc;
  try {
    rpc = forkChild(label, 'proxy/cli/main.ts', ['start', '-c', dir], { probe: true, logFd: fd });
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const log = readFileSync(logFile, 'utf8');
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
    if (m) return { label, rpc, port: Number(m[1]), bulkBytes, logFile };
    if (/fatal:/.test(log) || rpc.exitReason || Date.now() > deadline) {
      throw new Error(`${label} did not start (${rpc.exitReason ?? 'no "listening" line'}):\n${log}`);
    }
    await sleep(50);
  }
}

// ------------------------------------------------------------------ measurements

interface ConnInfo {
  sid: number;
  protocol: string;
  cipher: string;
  group?: string;
}

interface BulkResult {
  mibps: number;
  cpuPerRecordUs: number;
  /** Proxy CPU time / wall time of the transfer (1 = one core busy). */
  cores: number;
}

interface HandshakeResult {
  rate: number;
  cpuPerHsUs: number;
  clientCpuPerHsUs: number;
  count: number;
  errors: number;
}

const EXPECTED: Record<ProfileName, { protocol: string; cipher: string; group: string }> = {
  'tls13-aes128': { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', group: 'X25519' },
  'tls13-chacha20': { protocol: 'TLSv1.3', cipher: 'TLS_CHACHA20_POLY1305_SHA256', group: 'X25519' },
  'tls12-ecdhe-ecdsa-aes128': { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', group: 'X25519' },
  'tls13-x25519mlkem768': { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', group: 'X25519MLKEM768' },
};

const checked = new Set<string>();
function checkNegotiated(s: Subject, profile: ProfileName, info: ConnInfo): void {
  const key = `${s.label} ${profile}`;
  if (checked.has(key)) return;
  const want = EXPECTED[profile];
  if (info.protocol !== want.protocol || info.cipher !== want.cipher || info.group !== want.group) {
    throw new Error(`${s.label} negotiated ${info.protocol} ${info.cipher} ${info.group}, expected ${want.protocol} ${want.cipher} ${want.group}`);
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

  /** Full handshakes (+ backend connect + greeting relayed) per second, and server CPU per session. */
  async handshakes(s: Subject, profile: ProfileName, concurrency: number, durationMs: number): Promise<HandshakeResult> {
    await this.backend.call('mode', { kind: 'greet' });
    await sleep(100); // let the previous run's connections finish closing
    const cpu0 = await s.rpc.call<Cpu>('cpu');
    const r = await this.client.call<{ count: number; ms: number; errors: number; lastError: string; cpuUs: number }>(
      'handshakes',
      { port: s.port, profile, concurrency, durationMs },
      durationMs + 60_000,
    );
    await sleep(150); // teardown of the last sessions belongs to this run
    const cpu1 = await s.rpc.call<Cpu>('cpu');
    if (!r.count) throw new Error(`${s.label}: no session completed (${r.errors} errors, the last: ${r.lastError})`);
    if (r.errors) process.stderr.write(`  note: ${s.label}: ${r.errors} failed sessions (${r.lastError})\n`);
    return {
      rate: r.count / (r.ms / 1000),
      cpuPerHsUs: cpuDelta(cpu0, cpu1) / r.count,
      clientCpuPerHsUs: r.cpuUs / r.count,
      count: r.count,
      errors: r.errors,
    };
  }
}

// ------------------------------------------------------------------ statistics and output

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

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

/** A metric: how to run it once, and which numbers of its result make table rows. */
interface Metric<R> {
  readonly key: string;
  readonly run: (s: Subject, warmup: boolean) => Promise<R>;
  readonly rows: { label: string; value: (r: R) => number; better: 'higher' | 'lower' }[];
  readonly describe: (r: R) => string;
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
async function hybridHandshakes(tlsproxies: readonly Subject[], backend: Rpc, caFile: string, opts: Options): Promise<void> {
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
  for (const s of tlsproxies) {
    const rows: string[][] = [];
    for (const c of [1, 16]) {
      const runs = new Map<ProfileName, HandshakeResult[]>(profiles.map(([, p]) => [p, []]));
      for (const [, p] of profiles) await bench.handshakes(s, p, c, Math.min(400, opts.hsMs)); // warm-up
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
    }
    printTable(`${s.label}: full TLS 1.3 handshakes, X25519MLKEM768 vs x25519 (Node 24 / OpenSSL 3.5 client; ratio = X25519MLKEM768 / x25519)`, ['metric', 'x25519', 'X25519MLKEM768', 'ratio'], rows);
  }
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
      `handshakes: ${opts.hsMs} ms per run; median of ${opts.runs} run(s) after one warm-up run each, subjects interleaved`,
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

    subjects.push(await startNodeTlsProxy(pki, backendPort, opts.mb * MiB));
    for (const p of opts.providers) {
      subjects.push(await startTlsproxy(tmp, pki, p, backendPort, (p === 'node' ? opts.mb : opts.webcryptoMb) * MiB));
    }
    for (const s of subjects) console.log(`  ${s.label}: pid ${s.rpc.child.pid}, 127.0.0.1:${s.port}`);
    const bench = new Bench(client, backend);

    const warmBytes = (s: Subject) => Math.min(s.bulkBytes, Math.max(4 * MiB, s.bulkBytes / 4));
    const bulkRows = (what: string): Metric<BulkResult>['rows'] => [
      { label: `${what}, MiB/s`, value: (r) => r.mibps, better: 'higher' },
      { label: '  proxy CPU per 16 KiB record, µs', value: (r) => r.cpuPerRecordUs, better: 'lower' },
      { label: '  proxy cores busy', value: (r) => r.cores, better: 'lower' },
    ];
    const bulkDescribe = (r: BulkResult) => `${fmt(r.mibps)} MiB/s ${fmt(r.cpuPerRecordUs)} µs/rec ${fmt(r.cores)} cores`;
    const hsRows = (c: number): Metric<HandshakeResult>['rows'] => [
      { label: `handshakes/s, concurrency ${c}`, value: (r) => r.rate, better: 'higher' },
      { label: '  server CPU per handshake, µs', value: (r) => r.cpuPerHsUs, better: 'lower' },
    ];
    const hsDescribe = (r: HandshakeResult) =>
      `${fmt(r.rate)}/s ${fmt(r.cpuPerHsUs)} µs/hs (${r.count} sessions, client ${fmt(r.clientCpuPerHsUs)} µs/hs)`;

    const metrics: Metric<BulkResult | HandshakeResult>[] = [];
    const add = <R extends BulkResult | HandshakeResult>(m: Metric<R>) => {
      if (opts.only.length && !opts.only.some((w) => m.key.toLowerCase().includes(w))) return;
      metrics.push(m as unknown as Metric<BulkResult | HandshakeResult>);
    };
    add<BulkResult>({
      key: 'TLS 1.3 upload',
      run: (s, w) => bench.upload(s, 'tls13-aes128', w ? warmBytes(s) : s.bulkBytes),
      rows: bulkRows('TLS 1.3 AES-128-GCM upload (client→backend)'),
      describe: bulkDescribe,
    });
    if (opts.download) {
      add<BulkResult>({
        key: 'TLS 1.3 download',
        run: (s, w) => bench.download(s, 'tls13-aes128', w ? warmBytes(s) : s.bulkBytes),
        rows: bulkRows('TLS 1.3 AES-128-GCM download (backend→client)'),
        describe: bulkDescribe,
      });
    }
    add<BulkResult>({
      key: 'TLS 1.3 ChaCha20-Poly1305 upload',
      run: (s, w) => bench.upload(s, 'tls13-chacha20', w ? warmBytes(s) : s.bulkBytes),
      rows: bulkRows('TLS 1.3 ChaCha20-Poly1305 upload (client→backend)'),
      describe: bulkDescribe,
    });
    if (opts.tls12) {
      add<BulkResult>({
        key: 'TLS 1.2 upload',
        run: (s, w) => bench.upload(s, 'tls12-ecdhe-ecdsa-aes128', w ? warmBytes(s) : s.bulkBytes),
        rows: bulkRows('TLS 1.2 ECDHE-ECDSA-AES128-GCM upload'),
        describe: bulkDescribe,
      });
    }
    for (const c of [1, 32]) {
      add<HandshakeResult>({
        key: `TLS 1.3 handshakes c=${c}`,
        run: (s, w) => bench.handshakes(s, 'tls13-aes128', c, w ? Math.min(400, opts.hsMs) : opts.hsMs),
        rows: hsRows(c),
        describe: hsDescribe,
      });
    }

    // results[metric][subject] = runs
    const results = new Map<string, Map<string, (BulkResult | HandshakeResult)[]>>();
    for (const m of metrics) {
      const perSubject = new Map<string, (BulkResult | HandshakeResult)[]>();
      results.set(m.key, perSubject);
      process.stderr.write(`${m.key}:`);
      for (const s of subjects) await m.run(s, true);
      for (let round = 0; round < opts.runs; round++) {
        // Rotate the order each round so that drift on a shared machine hits every subject alike.
        const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]!);
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
    const med = (m: Metric<BulkResult | HandshakeResult>, s: Subject, row: Metric<BulkResult | HandshakeResult>['rows'][number]) =>
      median(results.get(m.key)!.get(s.label)!.map(row.value));
    for (const s of subjects.slice(1)) {
      const rows: string[][] = [];
      for (const m of metrics) {
        for (const row of m.rows) {
          const a = med(m, s, row);
          const b = med(m, base, row);
          rows.push([row.label, fmt(a), fmt(b), fmt(a / b)]);
        }
      }
      printTable(
        `${s.label}: ratio = tlsproxy / node:tls (MiB/s, handshakes/s: higher is better; µs: lower is better; cores busy = proxy CPU time / transfer time)` +
          (s.bulkBytes !== base.bulkBytes ? `; bulk ${s.bulkBytes / MiB} MiB vs ${base.bulkBytes / MiB} MiB per run` : ''),
        ['metric', s.label, base.label, 'ratio'],
        rows,
      );
    }

    console.log('\nall runs (medians above):');
    for (const m of metrics) {
      for (const s of subjects) {
        const rs = results.get(m.key)!.get(s.label)!;
        console.log(`  ${m.key.padEnd(24)} ${s.label.padEnd(20)} ${rs.map(m.describe).join('; ')}`);
      }
    }

    await hybridHandshakes(subjects.slice(1), backend, path.join(pki, 'ca.pem'), opts);

    // ---- optional profiles of the tlsproxy daemons
    if (opts.profileDir) {
      mkdirSync(opts.profileDir, { recursive: true });
      console.log(`\nCPU profiles (inspector sampling in the proxy process; the profiler slows it down, figures above are without it):`);
      for (const s of subjects.slice(1)) {
        const tag = s.label.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '');
        const phases: [string, () => Promise<unknown>][] = [
          ['upload', () => bench.upload(s, 'tls13-aes128', s.bulkBytes)],
          ['download', () => bench.download(s, 'tls13-aes128', s.bulkBytes)],
          ['handshakes-c32', () => bench.handshakes(s, 'tls13-aes128', 32, opts.hsMs)],
        ];
        for (const [phase, run] of phases) {
          const file = path.join(opts.profileDir, `${tag}-${phase}.cpuprofile`);
          await s.rpc.call('profile-start', { intervalUs: 250 });
          await run();
          await s.rpc.call('profile-stop', { file });
          console.log(`\n${s.label}, ${phase}:\n${summarizeProfile(file)}`);
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
  } finally {
    await killChildren();
    if (opts.keep) console.log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  async (e) => {
    process.stderr.write(`\nbench failed: ${(e as Error)?.stack ?? e}\n`);
    await killChildren();
    process.exit(1);
  },
);
