/**
 * The drop-in under a REAL Postfix (Debian's package, a private instance on
 * loopback, test/helpers/postfix-instance.ts): master(8) starts our
 * bin/tlsproxy.js from master.cf, postscreen(8) uses it for STARTTLS.
 *
 *  - swaks --tls through postscreen: STARTTLS, TLS 1.3 with our engine,
 *    postscreen's 450 after RCPT; our CONNECT / Anonymous TLS ... / DISCONNECT
 *    lines in the maillog (through postlogd); master's argv, the privilege
 *    drop, the listener's backlog left as master made it;
 *  - openssl s_client -starttls smtp with TLS 1.2 and 1.3;
 *  - postfix reload during an open TLS session: the session continues, a new
 *    STARTTLS is served at once by a new process, the old one exits after;
 *  - our daemon killed: master restarts it on the next request;
 *  - smtpd_tls_loglevel = 2 and tlsproxy_tls_keylog_file: the SSL_accept
 *    states and the key log under the real master (the one TLS hand-over);
 *  - a bad main.cf value: postscreen answers 454, our daemon logs the reason;
 *  - postfix stop: nothing of ours is left.
 *
 * Every client uses a fresh 127.0.0.N (postscreen caches PASS NEW).
 * Skipped, with the reason printed, where Postfix or the addon is missing.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadNative } from '../../proxy/base/native.js';
import { PostfixTlsproxyInstance, postfixUnavailable, run } from '../helpers/postfix-instance.js';
import { skipped } from '../helpers/skip.js';

const native = loadNative();
const why = !native.ok ? native.reason : postfixUnavailable();
if (why) skipped('real-Postfix drop-in tests', why);
const it = why ? test.skip : test;

let pfx: PostfixTlsproxyInstance;
let nextHost = 10;
const host = () => `127.0.0.${nextHost++}`;
/**
 * How long the file's first swaks took: postscreen's greet wait (2 s) plus a cold start of our daemon by
 * master, on this machine at its current load (on a busy 2-core machine a cold start alone can take
 * several seconds). The reload test compares its new STARTTLS, which also needs a new process, with it.
 */
let coldStarttlsMs = 0;

function swaks(localAddress: string, timeoutSec = 30) {
  return run(
    '/usr/bin/swaks',
    ['--server', `127.0.0.1:${pfx.port}`, '--local-interface', localAddress, '--tls', '--to', 'test@example.com', '--from', 'sender@example.net', '--ehlo', 'client.example', '--timeout', String(timeoutSec)],
    (timeoutSec + 10) * 1000,
  );
}

/** pid of the tlsproxy lines for `endpoint`. */
function tlsproxyPidFor(lines: string[], hostAddr: string): number | undefined {
  const l = lines.find((x) => new RegExp(`postfix/tlsproxy\\[\\d+\\]: CONNECT from \\[${hostAddr.replace(/\./g, '\\.')}\\]:`).test(x));
  return l ? Number(/tlsproxy\[(\d+)\]/.exec(l)![1]) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A raw SMTP session that switches to TLS, for holding a session open. */
class SmtpSession {
  private socket: net.Socket | tls.TLSSocket;
  private buf = '';
  private waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  private listen(s: net.Socket | tls.TLSSocket): void {
    s.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    s.on('error', () => undefined);
  }

  static async connect(port: number, localAddress: string): Promise<SmtpSession> {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    return new SmtpSession(s);
  }

  /** The next complete reply (last line `NNN `). */
  async reply(timeoutMs = 15_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      if (Date.now() > end) throw new Error(`no SMTP reply; have ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  async startTls(): Promise<tls.TLSSocket> {
    const plain = this.socket as net.Socket;
    plain.removeAllListeners('data');
    const t = tls.connect({ socket: plain, rejectUnauthorized: false, servername: 'pfx-test.localdomain' });
    await new Promise<void>((resolve, reject) => {
      t.once('secureConnect', () => resolve());
      t.once('error', reject);
    });
    this.socket = t;
    this.buf = '';
    this.listen(t);
    return t;
  }

  close(): void {
    this.socket.destroy();
  }
}

test.before(async () => {
  if (why) return;
  const root = mkdtempSync(path.join(tmpdir(), 'tlsproxy-postfix-'));
  pfx = await PostfixTlsproxyInstance.start(root);
});

test.after(async () => {
  if (pfx) await pfx.remove();
});

it('swaks --tls through postscreen and our tlsproxy: 450 after RCPT; CONNECT, Anonymous TLS ... TLSv1.3, DISCONNECT; argv, privileges, backlog', async () => {
  const from = pfx.log().length;
  const h = host();
  const t0 = Date.now();
  const r = await swaks(h);
  coldStarttlsMs = Date.now() - t0;
  assert.match(r.out, /<- {2}220 2\.0\.0 Ready to start TLS/, r.out);
  assert.match(r.out, /=== TLS started with cipher TLSv1\.3:TLS_AES_256_GCM_SHA384:256/);
  assert.match(r.out, /<~\* 450 4\.3\.2 Service currently unavailable/);
  assert.match(r.out, /<~ {2}221 2\.0\.0 Bye/);
  await pfx.waitLog(new RegExp(`postfix/tlsproxy\\[\\d+\\]: DISCONNECT \\[${h.replace(/\./g, '\\.')}\\]:\\d+$`), from);
  const lines = pfx.linesSince(from);
  const pid = tlsproxyPidFor(lines, h)!;
  const ours = lines.filter((l) => l.includes(`postfix/tlsproxy[${pid}]:`)).map((l) => l.replace(/^.*?: /, ''));
  assert.equal(ours.length, 3, lines.join('\n'));
  assert.match(ours[0]!, new RegExp(`^CONNECT from \\[${h.replace(/\./g, '\\.')}\\]:\\d+$`));
  assert.match(
    ours[1]!,
    new RegExp(`^Anonymous TLS connection established from \\[${h.replace(/\./g, '\\.')}\\]:\\d+: TLSv1\\.3 with cipher TLS_AES_256_GCM_SHA384 \\(256/256 bits\\) key-exchange X25519 server-signature ECDSA \\(prime256v1\\) server-digest SHA256$`),
  );
  assert.match(ours[2]!, /^DISCONNECT \[/);
  assert.ok(lines.some((l) => /postscreen\[\d+\]: NOQUEUE: reject: RCPT from .* 450 4\.3\.2 Service currently unavailable/.test(l)));
  assert.ok(!lines.some((l) => /warning|fatal|panic/.test(l) && /tlsproxy|master/.test(l)), lines.join('\n'));
  // The serving process: a child of the process master spawned, running as mail_owner.
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const postfixUid = Number((await run('/usr/bin/id', ['-u', 'postfix'])).out.trim());
  assert.match(status, new RegExp(`\\nUid:\\t${postfixUid}\\t${postfixUid}\\t${postfixUid}\\t${postfixUid}\\n`), 'privileges dropped to mail_owner');
  const ppid = Number(/\nPPid:\t(\d+)/.exec(status)![1]);
  const argv = readFileSync(`/proc/${ppid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  assert.ok(argv.join(' ').endsWith('-z -n tlsproxy -t unix -u'), `master's argv: ${argv.join(' ')}`);
  // master's backlog (100) is kept: we never listen() again on its socket.
  const ss = await run('/usr/bin/ss', ['-xlnH', 'src', path.join(pfx.spool, 'private', 'tlsproxy')]);
  if (ss.code === 0 && ss.out.trim()) assert.match(ss.out, /\s0\s+100\s/, ss.out);
});

it('openssl s_client -starttls smtp: TLS 1.2 and TLS 1.3', async () => {
  for (const [flag, re] of [
    ['-tls1_2', /TLSv1\.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 \(256\/256 bits\)$/],
    ['-tls1_3', /TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256\/256 bits\) key-exchange X25519 server-signature ECDSA \(prime256v1\) server-digest SHA256$/],
  ] as const) {
    const from = pfx.log().length;
    const h = host();
    const out = await new Promise<string>((resolve) => {
      const p = spawn('/usr/bin/openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${pfx.port}`, '-bind', `${h}:0`, flag, '-ign_eof', '-name', 'client.example'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.on('data', (d) => (text += d));
      p.stderr.on('data', (d) => (text += d));
      const kill = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.on('close', () => {
        clearTimeout(kill);
        resolve(text);
      });
      p.stdin.end('EHLO client.example\r\nQUIT\r\n');
    });
    assert.match(out, /221 2\.0\.0 Bye/, out);
    await pfx.waitLog(new RegExp(`postfix/tlsproxy\\[\\d+\\]: DISCONNECT \\[${h.replace(/\./g, '\\.')}\\]:`), from);
    const summary = pfx.linesSince(from).find((l) => /postfix\/tlsproxy\[\d+\]: Anonymous TLS connection established/.test(l));
    assert.ok(summary, pfx.linesSince(from).join('\n'));
    assert.match(summary!, re);
  }
});

it('postfix reload during an open TLS session: the session continues, a new STARTTLS is served at once, the old process exits after', async () => {
  const from = pfx.log().length;
  const hA = host();
  const a = await SmtpSession.connect(pfx.port, hA);
  try {
    assert.match(await a.reply(), /^220 /m);
    assert.match(await a.command('EHLO client.example'), /STARTTLS/);
    assert.match(await a.command('STARTTLS'), /^220 2\.0\.0 Ready to start TLS/);
    await a.startTls();
    assert.match(await a.command('EHLO client.example'), /^250-/);
    const oldPid = tlsproxyPidFor(pfx.linesSince(from), hA)!;
    assert.ok(oldPid && alive(oldPid));
    const reloadAt = pfx.log().length;
    await pfx.reload();
    await pfx.waitLog(/postfix\/master\[\d+\]: reload -- version/, reloadAt);
    // The old serving process keeps the session...
    await new Promise((r) => setTimeout(r, 500));
    assert.match(await a.command('NOOP'), /^250 /);
    assert.ok(alive(oldPid), 'the old process still serves its session');
    // ...while a new STARTTLS is served at once by a new process.
    const hC = host();
    const t0 = Date.now();
    const r = await swaks(hC);
    const took = Date.now() - t0;
    assert.match(r.out, /=== TLS started with cipher TLSv1\.3/, r.out);
    // "At once": not waiting for the old process or for any timeout, so about as fast as the first STARTTLS
    // of this file (greet wait + a cold start): at most twice that plus 4 s, and never less than 10 s.
    const bound = Math.max(10_000, 2 * coldStarttlsMs + 4000);
    assert.ok(took < bound, `the new STARTTLS took ${took} ms, the file's first (greet wait and a cold start) ${coldStarttlsMs} ms: limit ${bound} ms`);
    const newPid = tlsproxyPidFor(pfx.linesSince(reloadAt), hC)!;
    assert.ok(newPid && newPid !== oldPid, `new process ${newPid} (old ${oldPid})`);
    // The first session still works, then ends; the old process exits.
    assert.match(await a.command('NOOP'), /^250 /);
    assert.match(await a.command('QUIT'), /^221 /);
    await pfx.waitLog(new RegExp(`postfix/tlsproxy\\[${oldPid}\\]: DISCONNECT \\[${hA.replace(/\./g, '\\.')}\\]:`), from);
    await waitFor(() => !alive(oldPid), 5000, `old tlsproxy ${oldPid} to exit`);
    assert.ok(!pfx.linesSince(reloadAt).some((l) => /master.*warning/.test(l)), pfx.linesSince(reloadAt).join('\n'));
  } finally {
    a.close();
  }
});

it('our daemon killed: master notices, starts a new one on the next STARTTLS', async () => {
  const from = pfx.log().length;
  const before = pfx.tlsproxyPids();
  assert.ok(before.length > 0, 'a tlsproxy is running');
  for (const pid of before) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await pfx.waitLog(/postfix\/master\[\d+\]: warning: process .*tlsproxy\.js pid \d+ killed by signal 9/, from);
  const h = host();
  const r = await swaks(h);
  assert.match(r.out, /=== TLS started with cipher TLSv1\.3/, r.out);
  const pid = tlsproxyPidFor(pfx.linesSince(from), h)!;
  assert.ok(pid && !before.includes(pid), `served by a new process ${pid}`);
});

it('under the real master, the one TLS hand-over: level-2 states and the key log (smtpd_tls_loglevel = 2, tlsproxy_tls_keylog_file)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-postfix-keylog-'));
  const keys = path.join(dir, 'keys.log');
  const from = pfx.log().length;
  await pfx.reload(['smtpd_tls_loglevel = 2', `tlsproxy_tls_keylog_file = ${keys}`]);
  await pfx.waitLog(/postfix\/master\[\d+\]: reload -- version/, from);
  try {
    const h = host();
    const r = await swaks(h);
    assert.match(r.out, /=== TLS started with cipher TLSv1\.3/, r.out);
    await pfx.waitLog(new RegExp(`postfix/tlsproxy\\[\\d+\\]: DISCONNECT \\[${h.replace(/\./g, '\\.')}\\]:`), from);
    const lines = pfx.linesSince(from);
    const pid = tlsproxyPidFor(lines, h)!;
    const mine = lines.filter((l) => l.includes(`postfix/tlsproxy[${pid}]: `)).map((l) => l.replace(/^.*?postfix\/tlsproxy\[\d+\]: /, ''));
    assert.ok(mine.some((l) => /^warning: tlsproxy_tls_keylog_file = .*: TLS SESSION SECRETS ARE WRITTEN TO THIS FILE/.test(l)), mine.join('\n'));
    assert.ok(mine.some((l) => new RegExp(`^setting up TLS connection from \\[${h.replace(/\./g, '\\.')}\\]:\\d+$`).test(l)), mine.join('\n'));
    const states = mine.filter((l) => l.startsWith('SSL_accept:'));
    assert.equal(states.slice(0, 3), ['SSL_accept:before SSL initialization', 'SSL_accept:before SSL initialization', 'SSL_accept:SSLv3/TLS read client hello']);
    assert.ok(states.includes('SSL_accept:TLSv1.3 write encrypted extensions') && states.includes('SSL_accept:SSLv3/TLS read finished'), states.join('\n'));
    const keyLines = readFileSync(keys, 'utf8').trim().split('\n');
    assert.ok(keyLines.length >= 5 && keyLines.some((l) => l.startsWith('CLIENT_TRAFFIC_SECRET_0 ')), keyLines.join('\n'));
  } finally {
    const back = pfx.log().length;
    await pfx.reload([]);
    await pfx.waitLog(/postfix\/master\[\d+\]: reload -- version/, back);
  }
});

it('a bad main.cf value: postscreen answers 454, our daemon logs the reason; fixed by the next reload', async () => {
  const from = pfx.log().length;
  await pfx.reload(['tlsproxy_tls_security_level = bogus']);
  await pfx.waitLog(/postfix\/master\[\d+\]: reload -- version/, from);
  const h = host();
  const r = await swaks(h);
  assert.match(r.out, /<\*\* 454 4\.7\.0 TLS not available due to local problem/, r.out);
  await pfx.waitLog(/postfix\/tlsproxy\[\d+\]: warning: Invalid TLS level "bogus"$/, from);
  await pfx.waitLog(/postfix\/tlsproxy\[\d+\]: warning: TLS server role is not available: Invalid TLS level "bogus"$/, from);
  const fixed = pfx.log().length;
  await pfx.reload([]);
  await pfx.waitLog(/postfix\/master\[\d+\]: reload -- version/, fixed);
  const r2 = await swaks(host());
  assert.match(r2.out, /=== TLS started with cipher TLSv1\.3/, r2.out);
});

it("chroot y (Debian's master.cf line) and -v: the serving process runs inside queue_directory and serves STARTTLS", async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tlsproxy-postfix-chroot-'));
  const jailed = await PostfixTlsproxyInstance.start(root, { tlsproxyChroot: true, tlsproxyArgs: '-v' });
  try {
    const h = host();
    const r = await run(
      '/usr/bin/swaks',
      ['--server', `127.0.0.1:${jailed.port}`, '--local-interface', h, '--tls', '--to', 'test@example.com', '--from', 'sender@example.net', '--ehlo', 'client.example', '--timeout', '30'],
      40_000,
    );
    assert.match(r.out, /=== TLS started with cipher TLSv1\.3/, r.out);
    await jailed.waitLog(/postfix\/tlsproxy\[\d+\]: DISCONNECT /);
    const lines = jailed.linesSince(0);
    assert.ok(lines.some((l) => /postfix\/tlsproxy\[\d+\]: speaking the tlsproxy protocol of Postfix 3\.\d+/.test(l)), lines.join('\n'));
    const pid = tlsproxyPidFor(lines, h)!;
    assert.is((await run('/bin/readlink', [`/proc/${pid}/root`])).out.trim(), jailed.spool);
  } finally {
    await jailed.remove();
  }
});

it('postfix stop: master and every tlsproxy process of the instance are gone', async () => {
  const master = pfx.masterPid()!;
  const ours = pfx.tlsproxyPids();
  assert.ok(ours.length > 0);
  const r = await pfx.stop();
  assert.is(r.code, 0, r.out);
  await waitFor(() => !alive(master) && ours.every((p) => !alive(p)), 10_000, 'the instance to stop');
});

test.run();
