/**
 * The REAL daemon as a child process (`node bin/tlsproxy.js start -c DIR`),
 * for tests with real peers: its stderr parsed into Postfix log lines
 * (pid and text), waits with timeouts, and a hard kill so that no test
 * leaves a daemon (or, through it, a worker process) behind.
 *
 * Also clients that run one connection at a time and report which
 * process served it (from the log lines that appeared meanwhile).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { run, type ProcResult } from './proxy.js';

const root = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
export const BIN = path.join(root, 'bin/tlsproxy.js');

export interface LogLine {
  readonly pid: number;
  /** The message after `tag[pid]: ` (with `warning: ` etc.). */
  readonly text: string;
  readonly line: string;
  /** When this process read it (Date.now()). */
  readonly at: number;
}

const LINE = /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ \S+\/\S+\[(\d+)\]: (.*)$/;

const HARD_TIMEOUT_MS = 15 * 60_000; // FILE_LIFETIME_MS (declared below)

const live = new Set<DaemonProc>();
process.on('exit', () => {
  for (const d of live) d.kill('SIGKILL');
});

/**
 * How bin/tlsproxy.js is run: `command` is the runtime and its arguments before the script
 * (default: this node), e.g. ['deno', 'run', '-A'] or ['bun'] (test/runtimes/); `env` replaces the environment.
 */
export interface Launch {
  readonly command?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /**
   * The daemon is SIGKILLed this long after its start whatever happens (default FILE_LIFETIME_MS), so
   * a test that forgets it cannot keep the test process alive for ever. Every test file stops its
   * daemons (test.after(stopAllDaemons) or a finally), so this only matters for a leak or a hang.
   */
  readonly hardTimeoutMs?: number;
}

/**
 * A daemon started in test.before serves the whole file, and a file can take minutes on a loaded
 * machine: the former 90 s hard timeout killed such daemons in the middle of their file (the
 * operations file took 87 s at load 12; its watchdog test then got ECONNREFUSED).
 */
export const FILE_LIFETIME_MS = 15 * 60_000;

export class DaemonProc {
  readonly child: ChildProcess;
  stderr = '';
  readonly log: LogLine[] = [];
  /** Lines that do not look like Postfix log lines (should be none). */
  readonly junk: string[] = [];
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;
  port = 0;
  private partial = '';
  private readonly listeners = new Set<() => void>();
  private readonly hard: NodeJS.Timeout;
  /** Killed by the hard timeout (said in every later error). */
  hardKilled = false;

  constructor(args: readonly string[], hardTimeoutMs = HARD_TIMEOUT_MS, launch: Launch = {}) {
    const [cmd, ...pre] = launch.command ?? [process.execPath];
    this.child = spawn(cmd!, [...pre, BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: launch.env ?? process.env });
    live.add(this);
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderr += d;
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop()!;
      const at = Date.now();
      for (const l of parts) {
        const m = LINE.exec(l);
        if (m) this.log.push({ pid: Number(m[1]), text: m[2]!, line: l, at });
        else if (l.trim()) this.junk.push(l);
      }
      this.changed();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code) => {
        this.exitCode = code;
        live.delete(this);
        clearTimeout(this.hard);
        this.changed();
        resolve(code);
      });
    });
    const hardMs = launch.hardTimeoutMs ?? hardTimeoutMs;
    this.hard = setTimeout(() => {
      if (!this.running) return;
      this.hardKilled = true;
      this.kill('SIGKILL');
    }, hardMs);
    this.hard.unref();
  }

  /** Start on CONFIG_DIR and wait for the `listening on` line (its port is kept). */
  static async start(configDir: string, extra: readonly string[] = [], timeoutMs = 30_000, launch: Launch = {}): Promise<DaemonProc> {
    const d = new DaemonProc(['start', '-c', configDir, ...extra], HARD_TIMEOUT_MS, launch);
    try {
      const l = await d.waitFor(/^service \S+: listening on 127\.0\.0\.1:(\d+), /, { timeoutMs });
      d.port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(l.text)![1]);
      return d;
    } catch (e) {
      d.kill('SIGKILL');
      throw e;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /**
   * Pids of the worker processes that accept connections now: from the
   * last `service S: N worker processes, pids ...` (start, reload), then
   * each `worker process pid Y started (replacing pid X)` or `started
   * (load: ...)` (growth), minus those that stop accepting (`retiring`,
   * `stops accepting`).
   */
  workerPids(): number[] {
    let i = -1;
    for (let j = this.log.length - 1; j >= 0 && i < 0; j--) if (/^service \S+: \d+ worker processes, pids /.test(this.log[j]!.text)) i = j;
    if (i < 0) return [];
    const pids = this.log[i]!.text.replace(/^.*pids /, '').split(' ').filter(Boolean).map(Number);
    for (const l of this.log.slice(i + 1)) {
      let m = /^service \S+: worker process pid (\d+) started \(replacing pid (\d+)\)$/.exec(l.text);
      if (m) {
        const at = pids.indexOf(Number(m[2]));
        if (at >= 0) pids[at] = Number(m[1]);
        else pids.push(Number(m[1]));
        continue;
      }
      m = /^service \S+: worker process pid (\d+) started \(/.exec(l.text);
      if (m) {
        pids.push(Number(m[1]));
        continue;
      }
      m = /^service \S+: worker process pid (\d+) (retiring|stops accepting)/.exec(l.text);
      if (m && pids.includes(Number(m[1]))) pids.splice(pids.indexOf(Number(m[1])), 1);
    }
    return pids;
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Current position in the log, for since()/waitFor({ since }). */
  mark(): number {
    return this.log.length;
  }

  since(mark: number): LogLine[] {
    return this.log.slice(mark);
  }

  texts(mark = 0): string[] {
    return this.since(mark).map((l) => l.text);
  }

  /** The first line (from `since`) whose text matches. */
  waitFor(re: RegExp, opts: { since?: number; timeoutMs?: number } = {}): Promise<LogLine> {
    const from = opts.since ?? 0;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const find = () => this.log.slice(from).find((l) => re.test(l.text));
    return new Promise((resolve, reject) => {
      const done = (err?: Error, l?: LogLine) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (err) reject(err);
        else resolve(l!);
      };
      const check = () => {
        const l = find();
        if (l) done(undefined, l);
        else if (!this.running) done(new Error(`daemon exited (${this.exitCode}${this.hardKilled ? ', killed by the test\'s hard timeout' : ''}) before a line matching ${re}\n${this.tail()}`));
      };
      const timer = setTimeout(() => done(new Error(`no log line matching ${re} within ${timeoutMs} ms\n${this.tail()}`)), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  tail(n = 4000): string {
    return this.stderr.length > n ? `...${this.stderr.slice(-n)}` : this.stderr;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.running) return;
    try {
      this.child.kill(signal);
    } catch {
      // gone
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. Resolves with the exit code. */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** Kill every daemon still running (call from test.after). */
export async function stopAllDaemons(): Promise<void> {
  await Promise.all([...live].map((d) => d.stop()));
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `tlsproxy start` expected to fail: exit code and stderr. */
export function startFails(configDir: string, extra: readonly string[] = []): Promise<ProcResult> {
  return run(process.execPath, [BIN, 'start', '-c', configDir, ...extra], '', 0, 30_000);
}

export interface Served {
  /** Client output (openssl/gnutls stdout+stderr) or node:tls details. */
  readonly out: string;
  readonly code: number | null;
  /** The process that served the connection (from its log lines). */
  readonly pid: number;
  /** The daemon's log lines for this connection. */
  readonly lines: readonly LogLine[];
  readonly resumed: boolean;
}

/**
 * Run one client connection to completion, then collect the daemon's lines
 * for it (everything logged between start and its DISCONNECT: connections
 * must not overlap).
 */
export async function served(d: DaemonProc, client: () => Promise<{ out: string; code: number | null }>): Promise<Served> {
  const mark = d.mark();
  const r = await client();
  await d.waitFor(/^DISCONNECT \[127\.0\.0\.1\]:\d+$/, { since: mark, timeoutMs: 10_000 });
  const lines = d.since(mark);
  const established = lines.find((l) => /TLS connection established from/.test(l.text));
  const pid = established?.pid ?? lines.find((l) => /^CONNECT from/.test(l.text))?.pid ?? 0;
  return { ...r, pid, lines, resumed: lines.some((l) => /: Reusing old session/.test(l.text)) };
}

/**
 * Run a TLS client that sends its stdin: `input` is written at once and
 * stdin stays open until the output shows `input` echoed back (then the
 * handshake, and a TLS 1.3 ticket, are done) or `maxHoldMs` passed; then
 * stdin is closed and the client ends. Killed after 15 s in any case.
 */
export function interactive(cmd: string, args: readonly string[], input: string, maxHoldMs = 3000): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(hold);
      // A little slack so the client reads anything that follows the echo.
      setTimeout(() => child.stdin.end(), 50);
    };
    const onData = (d: Buffer) => {
      out += d.toString('latin1');
      if (input && out.includes(input.trimEnd())) end();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.stdin.on('error', () => undefined);
    const hold = setTimeout(end, maxHoldMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (code) => {
      clearTimeout(hold);
      clearTimeout(hard);
      resolve({ out, code });
    });
    child.stdin.write(input);
    if (!input) end();
  });
}

/** openssl s_client to 127.0.0.1:port with SNI localhost, no command letters (a line "k..." would be a KeyUpdate); see interactive(). */
export function sClient(port: number, args: readonly string[], input = 'ping\n', maxHoldMs?: number): Promise<{ out: string; code: number | null }> {
  return interactive('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-nocommands', ...args], input, maxHoldMs);
}

/** gnutls-cli with a priority string (see interactive()). */
export function gnutlsCli(port: number, caFile: string, priority: string, extra: readonly string[] = [], input = 'ping\n', maxHoldMs?: number): Promise<{ out: string; code: number | null }> {
  return interactive('gnutls-cli', ['--x509cafile', caFile, '--priority', priority, '-p', String(port), ...extra, 'localhost'], input, maxHoldMs);
}

export interface NodeTlsResult {
  readonly out: string;
  readonly code: number | null;
  readonly protocol: string | null;
  /** OpenSSL name (ECDHE-RSA-AES128-GCM-SHA256, TLS_AES_256_GCM_SHA384). */
  readonly cipher: string;
  readonly reused: boolean;
  readonly session: Buffer | undefined;
}

/** node:tls: send `input`, wait for it echoed, keep the (last) session for reuse. */
export function nodeTls(port: number, caPem: string, options: tls.ConnectionOptions = {}, input = 'ping\n', timeoutMs = 10_000): Promise<NodeTlsResult> {
  return new Promise((resolve, reject) => {
    let text = '';
    let session: Buffer | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port, ca: caPem, servername: 'localhost', ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`node:tls: timeout; received ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('session', (s: Buffer) => (session = s));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    let protocol: string | null = null;
    let cipher = '';
    let reused = false;
    socket.once('secureConnect', () => {
      protocol = socket.getProtocol();
      cipher = socket.getCipher()?.name ?? '';
      reused = socket.isSessionReused();
      socket.write(input);
    });
    socket.on('data', (d: string) => {
      text += d;
      if (text.includes(input)) {
        // Give a TLS 1.3 NewSessionTicket (sent after the handshake) time to arrive.
        setTimeout(() => socket.end(), 100);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({
        out: text,
        code: 0,
        protocol,
        cipher,
        reused,
        session,
      });
    });
  });
}
