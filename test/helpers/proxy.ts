/**
 * Helpers for the proxy tests: a test PKI (once per process, via
 * writeTestPki), temp configuration directories, a daemon with captured
 * log lines, node:tls and openssl s_client clients, plaintext backends.
 * Everything started here is closed by the tests that start it; spawned
 * processes also die with a hard timeout.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { writeTestPki } from '../../proxy/cli/certs.js';
import { loadConfiguration } from '../../proxy/config/configuration.js';
import { Daemon } from '../../proxy/supervisor/daemon.js';
import { MemorySink } from '../../proxy/log/log.js';

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'tlsproxy-test-'): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

export interface Pki {
  readonly dir: string;
  readonly ca: string;
  readonly caPem: string;
  file(name: string): string;
}

let pki: Promise<Pki> | undefined;

/** ca.pem, server-ecdsa-p256.pem / -key.pem, server-rsa-2048*, server-ecdsa-p384*, server-ed25519*. */
export function testPki(): Promise<Pki> {
  pki ??= (async () => {
    const dir = tempDir('tlsproxy-pki-');
    await writeTestPki(dir);
    const ca = path.join(dir, 'ca.pem');
    return { dir, ca, caPem: readFileSync(ca, 'utf8'), file: (name: string) => path.join(dir, name) };
  })();
  return pki;
}

/** main.cf lines naming the P-256 and RSA pairs of the test PKI. */
export async function certMainCf(extra = ''): Promise<string> {
  const p = await testPki();
  return [
    `smtpd_tls_eccert_file = ${p.file('server-ecdsa-p256.pem')}`,
    `smtpd_tls_eckey_file = ${p.file('server-ecdsa-p256-key.pem')}`,
    `smtpd_tls_cert_file = ${p.file('server-rsa-2048.pem')}`,
    `smtpd_tls_key_file = ${p.file('server-rsa-2048-key.pem')}`,
    'tlsproxy_tls_loglevel = 1',
    'myhostname = testhost.example',
    // The tests run as root in CI: say that this is meant (otherwise tlsproxy_user is required, privileges.ts).
    'tlsproxy_allow_root = yes',
    extra,
  ].join('\n');
}

export function writeConfig(mainCf: string, masterCf: string): string {
  const dir = tempDir('tlsproxy-conf-');
  writeFileSync(path.join(dir, 'main.cf'), `${mainCf}\n`);
  writeFileSync(path.join(dir, 'master.cf'), `${masterCf}\n`);
  return dir;
}

export interface RunningDaemon {
  readonly daemon: Daemon;
  readonly log: MemorySink;
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

export async function startDaemon(mainCf: string, masterCf: string): Promise<RunningDaemon> {
  const dir = writeConfig(mainCf, masterCf);
  const log = new MemorySink(process.env.TLSPROXY_TEST_LOG ? (r) => process.stderr.write(`${r.line}\n`) : undefined);
  const daemon = await Daemon.start(loadConfiguration(dir), { sink: log.sink });
  const l = daemon.listening[0]!;
  return { daemon, log, port: l.port, host: l.address, close: () => daemon.close() };
}

/** A master.cf line for one tlsproxy service on an ephemeral loopback port. */
export function tlsproxyService(backend: string, extra = '', listen = '127.0.0.1:0'): string {
  return `${listen} inet n - n - - tlsproxy -o tlsproxy_backend=${backend} ${extra}`.trim();
}

// ------------------------------------------------------------------ clients

export interface TlsClient {
  readonly socket: tls.TLSSocket;
  readonly localPort: number;
  /** Everything received so far. */
  received(): string;
  /** Resolves when the received text matches. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Resolves when the connection closed (with everything received). */
  closed: Promise<string>;
}

export async function connectTls(port: number, options: tls.ConnectionOptions = {}, host = '127.0.0.1'): Promise<TlsClient> {
  const p = await testPki();
  return new Promise((resolve, reject) => {
    let text = '';
    const waiters: (() => void)[] = [];
    const socket = tls.connect({ host, port, ca: p.caPem, servername: 'localhost', ...options });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
      for (const w of [...waiters]) w();
    });
    const closed = new Promise<string>((r) => socket.once('close', () => {
      for (const w of [...waiters]) w();
      r(text);
    }));
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => undefined);
      resolve({
        socket,
        localPort: socket.localPort!,
        received: () => text,
        closed,
        waitFor(pattern, timeoutMs = 5000) {
          const test = () => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));
          if (test()) return Promise.resolve(text);
          return new Promise((res, rej) => {
            const timer = setTimeout(() => {
              waiters.splice(waiters.indexOf(check), 1);
              rej(new Error(`timeout waiting for ${pattern}; received: ${JSON.stringify(text)}`));
            }, timeoutMs);
            const check = () => {
              if (test()) {
                clearTimeout(timer);
                waiters.splice(waiters.indexOf(check), 1);
                res(text);
              } else if (socket.destroyed) {
                clearTimeout(timer);
                waiters.splice(waiters.indexOf(check), 1);
                rej(new Error(`connection closed while waiting for ${pattern}; received: ${JSON.stringify(text)}`));
              }
            };
            waiters.push(check);
          });
        },
      });
    });
    socket.once('error', reject);
  });
}

export interface ProcResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command with `input` on stdin (kept open `holdMs` after writing), killed after `timeoutMs`. */
export function run(cmd: string, args: readonly string[], input = '', holdMs = 0, timeoutMs = 15_000): Promise<ProcResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.write(input);
    if (holdMs) setTimeout(() => child.stdin.end(), holdMs);
    else child.stdin.end();
  });
}

/** A spawned long-running process whose output we watch. */
export class Spawned {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly hard: NodeJS.Timeout;

  constructor(cmd: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; detached?: boolean } = {}, hardTimeoutMs = 60_000) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env, cwd: options.cwd, detached: options.detached });
    this.child.stdout!.on('data', (d) => (this.stdout += d));
    this.child.stderr!.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((r) => this.child.on('close', (code) => r(code)));
    this.hard = setTimeout(() => this.kill('SIGKILL'), hardTimeoutMs);
    this.hard.unref();
    void this.exited.then(() => clearTimeout(this.hard));
  }

  /** Signal the process (its whole group when started detached). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, signal);
    } catch {
      // gone already
    }
  }

  async waitForStderr(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = this.stderr.match(pattern);
      if (m) return m;
      if (this.child.exitCode !== null || Date.now() > end) throw new Error(`no ${pattern} in stderr: ${this.stderr}`);
      await delay(50);
    }
  }
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ backends

export interface TestBackend {
  readonly address: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly sockets: net.Socket[];
  close(): Promise<void>;
}

/** A plaintext backend; `handler` gets every accepted socket (half-open allowed). */
export function startBackend(handler: (socket: net.Socket) => void, listen: { path?: string } = {}): Promise<TestBackend> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    handler(s);
  });
  return new Promise((resolve) => {
    const done = () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      resolve({
        address: listen.path ? `unix:${listen.path}` : `inet:127.0.0.1:${port}`,
        port,
        sockets,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    };
    if (listen.path) server.listen(listen.path, done);
    else server.listen(0, '127.0.0.1', done);
  });
}

/** Echoes bytes back; ends when the client ends. */
export function echoBackend(): Promise<TestBackend> {
  return startBackend((s) => s.pipe(s));
}

/** A loopback port with nothing listening. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
