/**
 * SMTP backends and clients for the postscreen tests:
 *
 *  - FakeSmtpBackend: a small SMTP server of our own (optionally reading a
 *    PROXY header first), recording what it was sent;
 *  - SmtpClient: a raw SMTP client over a socket that can switch to TLS
 *    (node:tls on the same socket), reading whole replies;
 *  - PostfixInstance: a PRIVATE Postfix (Debian's package) on loopback
 *    ports, in a temp directory: smtpd with smtpd_upstream_proxy_protocol
 *    = haproxy as the backend, messages held in its queue (never the
 *    system instance; stopped and removed afterwards).
 */

import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { parseProxyHeader, type ProxyHeader } from '../../proxy/front-ends/proxy-protocol.js';

// ------------------------------------------------------------------ fake backend

export interface BackendSession {
  readonly socket: net.Socket;
  proxy?: ProxyHeader;
  /** Command lines received (DATA content not included). */
  readonly commands: string[];
  /** Messages received with DATA. */
  readonly messages: string[];
  closed: boolean;
}

export interface FakeBackendOptions {
  /** Expect a PROXY header (v1 or v2) before anything else. */
  readonly proxy?: boolean;
  /** The greeting line (default `220 backend.example ESMTP fake`). */
  readonly greeting?: string;
  /** EHLO keywords after the host line (default PIPELINING, STARTTLS, 8BITMIME). */
  readonly ehlo?: readonly string[];
}

export class FakeSmtpBackend {
  readonly sessions: BackendSession[] = [];
  private readonly server: net.Server;
  private waiters: (() => void)[] = [];
  port = 0;

  private constructor(private readonly options: FakeBackendOptions) {
    this.server = net.createServer({ allowHalfOpen: false }, (s) => this.accept(s));
  }

  static async start(options: FakeBackendOptions = {}): Promise<FakeSmtpBackend> {
    const b = new FakeSmtpBackend(options);
    await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', () => r()));
    b.port = (b.server.address() as net.AddressInfo).port;
    return b;
  }

  get address(): string {
    return `inet:127.0.0.1:${this.port}`;
  }

  /** Resolves when `cond` holds (checked on every event). */
  waitFor(cond: () => boolean, timeoutMs = 5000, what = 'backend condition'): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timeout waiting for ${what}; sessions: ${JSON.stringify(this.sessions.map((s) => ({ commands: s.commands, proxy: !!s.proxy, closed: s.closed })))}`));
      }, timeoutMs);
      const check = () => {
        if (!cond()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  private accept(socket: net.Socket): void {
    const session: BackendSession = { socket, commands: [], messages: [], closed: false };
    this.sessions.push(session);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      session.closed = true;
      this.changed();
    });
    let buffer = Buffer.alloc(0);
    let greeted = false;
    let data: string[] | undefined;
    const greet = () => {
      greeted = true;
      socket.write(`${this.options.greeting ?? '220 backend.example ESMTP fake'}\r\n`);
    };
    const line = (l: string) => {
      if (data) {
        if (l === '.') {
          session.messages.push(data.join('\r\n'));
          data = undefined;
          socket.write('250 2.0.0 Ok: queued as FAKE1\r\n');
        } else data.push(l.startsWith('..') ? l.slice(1) : l);
        return;
      }
      session.commands.push(l);
      const verb = l.split(' ')[0]!.toUpperCase();
      switch (verb) {
        case 'EHLO': {
          const words = ['backend.example', ...(this.options.ehlo ?? ['PIPELINING', 'STARTTLS', '8BITMIME'])];
          socket.write(words.map((w, i) => `250${i === words.length - 1 ? ' ' : '-'}${w}\r\n`).join(''));
          break;
        }
        case 'HELO':
          socket.write('250 backend.example\r\n');
          break;
        case 'MAIL':
          socket.write('250 2.1.0 Ok\r\n');
          break;
        case 'RCPT':
          socket.write('250 2.1.5 Ok\r\n');
          break;
        case 'DATA':
          data = [];
          socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
          break;
        case 'RSET':
        case 'NOOP':
          socket.write('250 2.0.0 Ok\r\n');
          break;
        case 'QUIT':
          socket.end('221 2.0.0 Bye\r\n');
          break;
        default:
          socket.write('502 5.5.2 Error: command not recognized\r\n');
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!greeted) {
        if (this.options.proxy) {
          const r = parseProxyHeader(buffer);
          if (r.status === 'incomplete') return;
          if (r.status === 'error') {
            socket.destroy();
            return;
          }
          session.proxy = r.header;
          buffer = buffer.subarray(r.header.length);
        }
        greet();
      }
      for (;;) {
        const lf = buffer.indexOf(0x0a);
        if (lf < 0) break;
        const l = buffer.toString('latin1', 0, lf).replace(/\r$/, '');
        buffer = buffer.subarray(lf + 1);
        line(l);
      }
      this.changed();
    });
    if (!this.options.proxy) greet();
    this.changed();
  }

  close(): Promise<void> {
    for (const s of this.sessions) s.socket.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

// ------------------------------------------------------------------ client

/** A raw SMTP client; `tls()` continues over TLS on the same connection. */
export class SmtpClient {
  private stream: net.Socket | tls.TLSSocket;
  private text = '';
  /** Everything received, plaintext and TLS. */
  all = '';
  closed = false;
  private waiters: (() => void)[] = [];

  /** Our end, kept from the start (a closed socket forgets it). */
  readonly localPort: number;
  readonly localAddress: string;

  private constructor(readonly socket: net.Socket) {
    this.localPort = socket.localPort!;
    this.localAddress = socket.localAddress!;
    this.stream = socket;
    this.listen(socket);
    socket.on('close', () => {
      this.closed = true;
      this.changed();
    });
  }

  static connect(port: number, options: { localAddress?: string; host?: string } = {}): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: options.host ?? '127.0.0.1', localAddress: options.localAddress });
      s.once('connect', () => {
        s.removeListener('error', reject);
        s.on('error', () => undefined);
        resolve(new SmtpClient(s));
      });
      s.once('error', reject);
    });
  }

  /** How the server's log lines name us: `[addr]:port`. */
  get peer(): string {
    return `[${this.localAddress}]:${this.localPort}`;
  }

  private listen(s: net.Socket | tls.TLSSocket): void {
    s.on('data', (d: Buffer) => {
      const t = d.toString('latin1');
      this.text += t;
      this.all += t;
      this.changed();
    });
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  write(text: string | Uint8Array): void {
    this.stream.write(text);
  }

  /** Unread text so far (not consumed). */
  pending(): string {
    return this.text;
  }

  /** The next complete reply (all its lines, CRLF kept), consumed. */
  reply(timeoutMs = 5000): Promise<string> {
    const take = (): string | undefined => {
      let offset = 0;
      for (;;) {
        const lf = this.text.indexOf('\n', offset);
        if (lf < 0) return undefined;
        const l = this.text.slice(offset, lf);
        offset = lf + 1;
        if (!/^\d{3}-/.test(l)) {
          const r = this.text.slice(0, offset);
          this.text = this.text.slice(offset);
          return r;
        }
      }
    };
    return this.until(take, timeoutMs, 'a reply');
  }

  /** Send a command and return its reply. */
  async command(line: string, timeoutMs = 5000): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  private until<T>(take: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const now = take();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`timeout waiting for ${what}; received: ${JSON.stringify(this.all)}`)), timeoutMs);
      const done = (e?: Error, v?: T) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        if (e) reject(e);
        else resolve(v as T);
      };
      const check = () => {
        const v = take();
        if (v !== undefined) done(undefined, v);
        else if (this.closed) done(new Error(`connection closed while waiting for ${what}; received: ${JSON.stringify(this.all)}`));
      };
      this.waiters.push(check);
    });
  }

  /** Resolves when the connection closed. */
  closedPromise(timeoutMs = 5000): Promise<void> {
    return this.until(() => (this.closed ? true : undefined), timeoutMs, 'close').then(() => undefined);
  }

  /** TLS handshake on the same connection (after `220 2.0.0 Ready to start TLS`). */
  tls(options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const t = tls.connect({ socket: this.socket, rejectUnauthorized: false, ...options });
      this.stream = t;
      this.text = '';
      this.listen(t);
      t.once('secureConnect', () => {
        t.removeListener('error', reject);
        t.on('error', () => undefined);
        t.on('close', () => {
          this.closed = true;
          this.changed();
        });
        resolve(t);
      });
      t.once('error', reject);
    });
  }

  end(): void {
    this.stream.end();
  }

  destroy(): void {
    this.stream.destroy();
    this.socket.destroy();
  }
}

// ------------------------------------------------------------------ a private Postfix

const POSTFIX = '/usr/sbin/postfix';
const POSTCONF = '/usr/sbin/postconf';

/** Instances still running: stopped even when the test process exits early. */
const running = new Set<PostfixInstance>();
process.on('exit', () => {
  for (const p of running) p.stopSync();
});

/** Why a private Postfix cannot run here, or undefined when it can. */
export function postfixUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (!existsSync(POSTFIX) || !existsSync(POSTCONF)) return 'Debian package postfix is not installed (apt-get install postfix)';
  if (process.getuid?.() !== 0) return 'a private Postfix instance needs root (postfix start)';
  const r = spawnSync('id', ['postfix'], { encoding: 'utf8' });
  if (r.status !== 0) return 'no postfix user';
  const daemonDir = spawnSync(POSTCONF, ['-dh', 'daemon_directory'], { encoding: 'utf8' }).stdout.trim();
  if (!daemonDir || !existsSync(path.join(daemonDir, 'smtpd'))) return `no smtpd in ${daemonDir || 'daemon_directory'}`;
  return undefined;
}

function run(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException).code === 'number' ? ((error as unknown as { code: number }).code) : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

export interface PostfixOptions {
  /** Loopback port for smtpd (0: pick a free one). */
  readonly port?: number;
  readonly myhostname?: string;
}

/**
 * A private Postfix: config_directory, queue_directory and data_directory
 * in `root`, smtpd on 127.0.0.1:port with smtpd_upstream_proxy_protocol =
 * haproxy, mail from 127.0.0.0/8 accepted and put on HOLD (so it stays in
 * the queue to be inspected), log in root/log/maillog.
 */
export class PostfixInstance {
  readonly etc: string;
  readonly spool: string;
  readonly data: string;
  readonly logFile: string;
  private started = false;

  private constructor(
    readonly root: string,
    readonly port: number,
    readonly myhostname: string,
  ) {
    this.etc = path.join(root, 'etc');
    this.spool = path.join(root, 'spool');
    this.data = path.join(root, 'data');
    this.logFile = path.join(root, 'log', 'maillog');
  }

  static async start(root: string, options: PostfixOptions = {}): Promise<PostfixInstance> {
    const port = options.port || (await freePort());
    const p = new PostfixInstance(root, port, options.myhostname ?? 'pfx-backend.localdomain');
    await p.setUp();
    return p;
  }

  private async setUp(): Promise<void> {
    for (const d of [this.etc, this.spool, this.data, path.dirname(this.logFile)]) mkdirSync(d, { recursive: true });
    // mkdtemp makes 0700 directories: the postfix user must get through to data/ and the queue.
    chmodSync(this.root, 0o755);
    const daemonDir = spawnSync(POSTCONF, ['-dh', 'daemon_directory'], { encoding: 'utf8' }).stdout.trim();
    const mainCf = [
      'compatibility_level = 3.6',
      `queue_directory = ${this.spool}`,
      `data_directory = ${this.data}`,
      `daemon_directory = ${daemonDir}`,
      'command_directory = /usr/sbin',
      'meta_directory = /etc/postfix',
      'shlib_directory = /usr/lib/postfix',
      'mail_owner = postfix',
      'setgid_group = postdrop',
      `myhostname = ${this.myhostname}`,
      'mydomain = localdomain',
      'mydestination =',
      'relayhost =',
      'relay_domains =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'alias_maps =',
      'alias_database =',
      'mynetworks = 127.0.0.0/8',
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      // Keep every message in the hold queue: nothing is ever delivered anywhere.
      'smtpd_recipient_restrictions = check_client_access inline:{127=HOLD}, permit_mynetworks, reject',
      'smtpd_tls_security_level = none',
      'smtpd_client_connection_count_limit = 0',
      'smtpd_client_connection_rate_limit = 0',
      'smtpd_peername_lookup = no',
      'smtpd_upstream_proxy_timeout = 5s',
      'smtputf8_enable = no',
      'biff = no',
      `maillog_file = ${this.logFile}`,
      `maillog_file_prefixes = ${path.dirname(this.logFile)}`,
      // Held messages are never delivered; should one be released, smtp deliveries are deferred.
      'defer_transports = smtp',
      'disable_dns_lookups = yes',
      'smtp_dns_support_level = disabled',
    ].join('\n');
    const masterCf = [
      `127.0.0.1:${this.port} inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy`,
      'pickup    unix  n       -       n       60      1       pickup',
      'cleanup   unix  n       -       n       -       0       cleanup',
      'qmgr      unix  n       -       n       300     1       qmgr',
      'rewrite   unix  -       -       n       -       -       trivial-rewrite',
      'bounce    unix  -       -       n       -       0       bounce',
      'defer     unix  -       -       n       -       0       bounce',
      'trace     unix  -       -       n       -       0       bounce',
      'verify    unix  -       -       n       -       1       verify',
      'flush     unix  n       -       n       1000?   0       flush',
      'proxymap  unix  -       -       n       -       -       proxymap',
      'showq     unix  n       -       n       -       -       showq',
      'error     unix  -       -       n       -       -       error',
      'retry     unix  -       -       n       -       -       error',
      'discard   unix  -       -       n       -       -       discard',
      'anvil     unix  -       -       n       -       1       anvil',
      'scache    unix  -       -       n       -       1       scache',
      'postlog   unix-dgram n  -       n       -       1       postlogd',
    ].join('\n');
    writeFileSync(path.join(this.etc, 'main.cf'), `${mainCf}\n`);
    writeFileSync(path.join(this.etc, 'master.cf'), `${masterCf}\n`);
    const steps: [string, string[]][] = [
      [POSTFIX, ['-c', this.etc, 'post-install', 'create-missing']],
      ['chown', ['-R', 'postfix:postfix', this.data]],
      ['chmod', ['700', this.data]],
      [POSTFIX, ['-c', this.etc, 'check']],
      [POSTFIX, ['-c', this.etc, 'start']],
    ];
    for (const [cmd, args] of steps) {
      const r = await run(cmd, args);
      if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.out}`);
      if (args.includes('start')) {
        this.started = true;
        running.add(this);
      }
    }
    await this.waitForPort();
  }

  private async waitForPort(timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(this.port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      if (Date.now() > end) throw new Error(`private Postfix does not listen on 127.0.0.1:${this.port}; log:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get backendAddress(): string {
    return `inet:127.0.0.1:${this.port}`;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Queue ids of held messages (postqueue -p marks them with `!`). */
  async heldQueueIds(): Promise<string[]> {
    const hold = path.join(this.spool, 'hold');
    try {
      return readdirSync(hold).filter((f) => /^[0-9A-Za-z]+$/.test(f));
    } catch {
      return [];
    }
  }

  /** The queue listing (postqueue -c DIR -p). */
  async queue(): Promise<string> {
    return (await run('/usr/sbin/postqueue', ['-c', this.etc, '-p'])).out;
  }

  /** The message as postcat prints it (envelope, headers, body). */
  async postcat(queueId: string): Promise<string> {
    return (await run('/usr/sbin/postcat', ['-c', this.etc, '-q', queueId])).out;
  }

  /** Wait until `n` messages are held. */
  async waitForHeld(n: number, timeoutMs = 15_000): Promise<string[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ids = await this.heldQueueIds();
      if (ids.length >= n) return ids;
      if (Date.now() > end) throw new Error(`no ${n} held message(s) in ${timeoutMs} ms; queue:\n${await this.queue()}\nlog:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** `postfix stop` from an exit handler. */
  stopSync(): void {
    if (!this.started) return;
    this.started = false;
    running.delete(this);
    spawnSync(POSTFIX, ['-c', this.etc, 'stop'], { timeout: 15_000, stdio: 'ignore' });
  }

  async stop(): Promise<void> {
    if (this.started) {
      this.started = false;
      running.delete(this);
      await run(POSTFIX, ['-c', this.etc, 'stop']);
      // postfix stop waits for master; make sure nothing of this instance is left.
      const pidFile = path.join(this.spool, 'pid', 'master.pid');
      try {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        if (pid > 1) process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
