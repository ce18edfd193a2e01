/**
 * Child processes for interop tests (openssl s_client): output captured,
 * waits with timeouts, and a hard kill so no test leaves a process behind.
 */

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

const live = new Set<Proc>();

export class Proc {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly outChunks: Buffer[] = [];
  private outLength = 0;
  /** stdout + stderr as text, interleaved in arrival order. */
  all = '';
  stderr = '';
  exitCode: number | null | undefined;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<number | null>;
  private readonly hardTimer: NodeJS.Timeout;
  private readonly listeners = new Set<() => void>();

  constructor(cmd: string, args: readonly string[], hardTimeoutMs = 15_000) {
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    this.child.stdout.on('data', (d: Buffer) => {
      this.outChunks.push(d);
      this.outLength += d.length;
      this.all += d.toString('latin1');
      this.changed();
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString('latin1');
      this.all += d.toString('latin1');
      this.changed();
    });
    // A peer that closed early makes writes to stdin fail with EPIPE: not our concern here.
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        live.delete(this);
        clearTimeout(this.hardTimer);
        this.changed();
        resolve(code);
      });
      this.child.on('error', () => {
        live.delete(this);
        resolve(null);
      });
    });
    this.hardTimer = setTimeout(() => this.kill(), hardTimeoutMs);
    this.hardTimer.unref();
  }

  get stdout(): Buffer {
    return Buffer.concat(this.outChunks, this.outLength);
  }

  get stdoutLength(): number {
    return this.outLength;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Wait until `cond` holds (checked on every output chunk and at exit). */
  waitFor(cond: string | RegExp | (() => boolean), timeoutMs = 5000, what?: string): Promise<void> {
    const check =
      typeof cond === 'function' ? cond
      : typeof cond === 'string' ? () => this.all.includes(cond)
      : () => cond.test(this.all);
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (err) reject(err);
        else resolve();
      };
      const listener = () => {
        if (check()) finish();
        else if (!this.running) finish(new Error(`process exited (${this.exitCode}) before ${what ?? String(cond)}\n--- output:\n${this.tail()}`));
      };
      const timer = setTimeout(() => finish(new Error(`timeout waiting for ${what ?? String(cond)}\n--- output:\n${this.tail()}`)), timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }

  tail(n = 3000): string {
    return this.all.length > n ? `...${this.all.slice(-n)}` : this.all;
  }

  write(data: string | Uint8Array): boolean {
    if (this.child.stdin.destroyed) return false;
    return this.child.stdin.write(data);
  }

  end(): void {
    if (!this.child.stdin.destroyed) this.child.stdin.end();
  }

  /** Wait for exit; kill after `timeoutMs`. */
  async wait(timeoutMs = 5000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([this.exited, t]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.kill();
      await this.exited;
      throw new Error(`process did not exit within ${timeoutMs} ms\n--- output:\n${this.tail()}`);
    }
    return r;
  }

  kill(): void {
    if (this.running) {
      try {
        this.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Kill every process still running (call from test.after). */
export async function killAll(): Promise<void> {
  const procs = [...live];
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.exited));
}
