/**
 * A PRIVATE Postfix instance (Debian's package) whose master.cf runs OUR
 * tlsproxy, built by the recipe of postfix-master-dropin.md §3: its own
 * config/queue/data/log directories under a temp root, postscreen on a
 * loopback port with the after-220 tests on (so it offers STARTTLS),
 * maillog_file through postlogd, tlsmgr, chroot n everywhere. The system
 * instance is never touched; stop() leaves no process of the instance.
 */

import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const POSTFIX = '/usr/sbin/postfix';
export const POSTCONF = '/usr/sbin/postconf';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TLSPROXY_BIN = path.join(ROOT, 'bin', 'tlsproxy.js');

/** Why a real-Postfix test cannot run here, or undefined when it can. */
export function postfixUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (master(8) must start as root)';
  for (const f of [POSTFIX, POSTCONF, '/usr/bin/swaks', '/usr/bin/openssl']) if (!existsSync(f)) return `${f} is not installed (.ci/run installs postfix, swaks and openssl)`;
  if (spawnSync('id', ['postfix'], { stdio: 'ignore' }).status !== 0) return 'no postfix user';
  return undefined;
}

export interface RunResult {
  readonly code: number | null;
  readonly out: string;
}

/** Run a command with a time limit; stdout and stderr together. */
export function run(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const instances = new Set<PostfixTlsproxyInstance>();
process.once('exit', () => {
  for (const i of instances) i.stopSync();
});

export interface InstanceOptions {
  /** Extra main.cf lines. */
  readonly mainCf?: readonly string[];
  /** Extra words after the tlsproxy command in master.cf (`-o name=value`...). */
  readonly tlsproxyArgs?: string;
  /** master.cf chroot column `y` for tlsproxy (Debian's default line). */
  readonly tlsproxyChroot?: boolean;
}

export class PostfixTlsproxyInstance {
  readonly etc: string;
  readonly spool: string;
  readonly data: string;
  readonly logFile: string;
  private started = false;

  private constructor(
    readonly root: string,
    readonly port: number,
    readonly daemonDirectory: string,
  ) {
    this.etc = path.join(root, 'etc');
    this.spool = path.join(root, 'spool');
    this.data = path.join(root, 'data');
    this.logFile = path.join(root, 'log', 'maillog');
  }

  static async start(root: string, options: InstanceOptions = {}): Promise<PostfixTlsproxyInstance> {
    const daemonDir = spawnSync(POSTCONF, ['-dh', 'daemon_directory'], { encoding: 'utf8' }).stdout.trim() || '/usr/lib/postfix/sbin';
    const p = new PostfixTlsproxyInstance(root, await freePort(), daemonDir);
    await p.setUp(options);
    return p;
  }

  /** master.cf's command for our daemon: relative to daemon_directory (absolute paths are not accepted). */
  get tlsproxyCommand(): string {
    return path.relative(this.daemonDirectory, TLSPROXY_BIN);
  }

  mainCf(extra: readonly string[] = []): string {
    return [
      'compatibility_level = 3.6',
      `queue_directory = ${this.spool}`,
      `data_directory = ${this.data}`,
      `daemon_directory = ${this.daemonDirectory}`,
      'command_directory = /usr/sbin',
      'meta_directory = /etc/postfix',
      'shlib_directory = /usr/lib/postfix',
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'myhostname = pfx-test.localdomain',
      'mydomain = localdomain',
      'mydestination =',
      'relayhost =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'alias_maps =',
      'alias_database =',
      'biff = no',
      `maillog_file = ${this.logFile}`,
      `maillog_file_prefixes = /var, /dev/stdout, ${path.dirname(this.logFile)}`,
      'smtpd_tls_security_level = may',
      `smtpd_tls_cert_file = ${this.etc}/cert.pem`,
      `smtpd_tls_key_file = ${this.etc}/key.pem`,
      'smtpd_tls_loglevel = 1',
      // Postscreen: no allowlist for loopback, the after-220 tests on (they offer STARTTLS), a short greet wait.
      'postscreen_access_list =',
      'postscreen_dnsbl_sites =',
      'postscreen_greet_action = enforce',
      'postscreen_greet_wait = 2s',
      'postscreen_pipelining_enable = yes',
      'postscreen_non_smtp_command_enable = yes',
      'postscreen_bare_newline_enable = yes',
      'disable_dns_lookups = yes',
      'smtp_dns_support_level = disabled',
      ...extra,
    ].join('\n');
  }

  masterCf(tlsproxyArgs = '', chroot = false): string {
    return [
      `127.0.0.1:${this.port} inet n  -       n       -       1       postscreen`,
      'smtpd     pass  -       -       n       -       -       smtpd',
      'dnsblog   unix  -       -       n       -       0       dnsblog',
      `tlsproxy  unix  -       -       ${chroot ? 'y' : 'n'}       -       0       ${this.tlsproxyCommand}${tlsproxyArgs ? ` ${tlsproxyArgs}` : ''}`,
      'pickup    unix  n       -       n       60      1       pickup',
      'cleanup   unix  n       -       n       -       0       cleanup',
      'qmgr      unix  n       -       n       300     1       qmgr',
      'tlsmgr    unix  -       -       n       1000?   1       tlsmgr',
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
  }

  private async setUp(o: InstanceOptions): Promise<void> {
    for (const d of [this.etc, this.spool, this.data, path.dirname(this.logFile)]) mkdirSync(d, { recursive: true });
    // mkdtemp makes 0700 directories: the postfix user must get through to the queue and data.
    chmodSync(this.root, 0o755);
    const cert = await run('/usr/bin/openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
      '-subj', '/CN=pfx-test.localdomain', '-keyout', path.join(this.etc, 'key.pem'), '-out', path.join(this.etc, 'cert.pem'),
    ]);
    if (cert.code !== 0) throw new Error(`openssl req: ${cert.out}`);
    chmodSync(path.join(this.etc, 'key.pem'), 0o600);
    writeFileSync(path.join(this.etc, 'main.cf'), `${this.mainCf(o.mainCf)}\n`);
    writeFileSync(path.join(this.etc, 'master.cf'), `${this.masterCf(o.tlsproxyArgs, o.tlsproxyChroot)}\n`);
    const steps: [string, string[]][] = [
      [POSTFIX, ['-c', this.etc, 'post-install', 'create-missing']],
      ['/bin/chown', ['-R', 'postfix:postfix', this.data]],
      ['/bin/chmod', ['700', this.data]],
      [POSTFIX, ['-c', this.etc, 'check']],
      [POSTFIX, ['-c', this.etc, 'start']],
    ];
    for (const [cmd, args] of steps) {
      const r = await run(cmd, args);
      if (args.includes('start')) {
        this.started = true;
        instances.add(this);
      }
      if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.out}\nlog:\n${this.log()}`);
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

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Log lines from `from` (a previous log().length) on. */
  linesSince(from = 0): string[] {
    return this.log().slice(from).split('\n').filter(Boolean);
  }

  /** Wait for a log line (after offset `from`) matching `re`. */
  async waitLog(re: RegExp, from = 0, timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.linesSince(from).find((l) => re.test(l));
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no log line matching ${re} within ${timeoutMs} ms; log since offset ${from}:\n${this.linesSince(from).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** pids of our tlsproxy processes (node running bin/tlsproxy.js or the worker entry) in this instance's process group. */
  tlsproxyPids(): number[] {
    const master = this.masterPid();
    if (!master) return [];
    const r = spawnSync('/bin/ps', ['-o', 'pid=,pgid=,args=', '-e'], { encoding: 'utf8' });
    return r.stdout
      .split('\n')
      .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => !!m && Number(m[2]) === master && /tlsproxy\.js|worker-entry\.mjs/.test(m[3]!))
      .map((m) => Number(m[1]));
  }

  masterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(this.spool, 'pid', 'master.pid'), 'utf8').trim());
      return pid > 1 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** `postfix reload`; with `extraMainCf`, main.cf is first rewritten with those extra lines (`[]`: the base file). */
  async reload(extraMainCf?: readonly string[]): Promise<void> {
    if (extraMainCf) writeFileSync(path.join(this.etc, 'main.cf'), `${this.mainCf(extraMainCf)}\n`);
    const r = await run(POSTFIX, ['-c', this.etc, 'reload']);
    if (r.code !== 0) throw new Error(`postfix reload: ${r.out}`);
  }

  async stop(): Promise<RunResult> {
    if (!this.started) return { code: 0, out: '' };
    this.started = false;
    instances.delete(this);
    const master = this.masterPid();
    const r = await run(POSTFIX, ['-c', this.etc, 'stop']);
    // postfix stop waits for master; make sure nothing of this instance is left.
    if (master) {
      try {
        process.kill(-master, 'SIGKILL');
      } catch {
        // gone
      }
    }
    return r;
  }

  /** `postfix stop` from an exit handler. */
  stopSync(): void {
    if (!this.started) return;
    this.started = false;
    instances.delete(this);
    const master = this.masterPid();
    spawnSync(POSTFIX, ['-c', this.etc, 'stop'], { timeout: 15_000, stdio: 'ignore' });
    if (master) {
      try {
        process.kill(-master, 'SIGKILL');
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
