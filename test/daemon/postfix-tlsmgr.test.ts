/**
 * Resumption through Postfix's own tlsmgr(8) under a real master(8)
 * (Debian's Postfix, a private instance): a session made by one tlsproxy
 * process is resumed by another one (the first was killed, so master
 * started a new one), for TLS 1.3 tickets, TLS 1.2 tickets and TLS 1.2
 * session IDs (smtpd_tls_session_cache_database set), as with Postfix's own
 * tlsproxy. After `postfix reload`, tlsmgr starts again with new keys and an
 * empty cache: nothing resumes, as with Postfix's own tlsproxy.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadNative } from '../../proxy/base/native.js';
import { PostfixTlsproxyInstance, postfixUnavailable } from '../helpers/postfix-instance.js';
import { skipped } from '../helpers/skip.js';
import { until } from '../helpers/wait.js';

const native = loadNative();
const why = !native.ok ? native.reason : postfixUnavailable();
if (why) skipped('real-Postfix tlsmgr tests', why);
const it = why ? test.skip : test;

let pfx: PostfixTlsproxyInstance;
let root: string;
let nextHost = 60;
const host = () => `127.0.0.${nextHost++}`;

/** openssl s_client -starttls smtp through postscreen and our tlsproxy; its output. */
function sClient(args: readonly string[]): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('/usr/bin/openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${pfx.port}`, '-bind', `${host()}:0`, '-ign_eof', '-name', 'client.example', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.stderr.on('data', (d) => (text += d));
    const kill = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', () => {
      clearTimeout(kill);
      resolve(text);
    });
    // A pause before QUIT so that the TLS 1.3 NewSessionTicket arrives before the session ends.
    p.stdin.write('EHLO client.example\r\n');
    setTimeout(() => p.stdin.end('QUIT\r\n'), 700);
  });
}

/**
 * SIGKILL every tlsproxy process and wait until master has reaped them all. Not master's "killed
 * by signal 9" line: right after a reload a process may be exiting on its own (master told it
 * to), and then master logs nothing of the kind (a CI run waited 20 s for that line).
 */
async function killTlsproxies(): Promise<number[]> {
  const pids = pfx.tlsproxyPids();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await until(() => !pids.some(alive), () => `tlsproxy processes still there: ${pids.filter(alive).join(' ')}`, 20_000, 20);
  return pids;
}

const servingPid = (from: number) => {
  const l = pfx.linesSince(from).find((x) => /postfix\/tlsproxy\[\d+\]: CONNECT from/.test(x));
  return l ? Number(/tlsproxy\[(\d+)\]/.exec(l)![1]) : undefined;
};

test.before(async () => {
  if (why) return;
  root = mkdtempSync(path.join(tmpdir(), 'tlsproxy-tlsmgr-'));
  pfx = await PostfixTlsproxyInstance.start(root, {
    mainCf: [`smtpd_tls_session_cache_database = btree:${path.join(root, 'data', 'smtpd_scache')}`, 'smtpd_tls_loglevel = 2'],
  });
});

test.after(async () => {
  if (why) return;
  await pfx?.stop();
  rmSync(root, { recursive: true, force: true });
});

for (const [label, flags, reused] of [
  ['TLS 1.3 ticket', ['-tls1_3'], /Reused, TLSv1\.3, Cipher is TLS_AES_256_GCM_SHA384/],
  ['TLS 1.2 ticket', ['-tls1_2'], /Reused, TLSv1\.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384/],
  ['TLS 1.2 session ID (tlsmgr smtpd cache)', ['-tls1_2', '-no_ticket'], /Reused, TLSv1\.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384/],
] as const) {
  it(`${label}: made by one tlsproxy process, resumed by the next one master starts`, async () => {
    const sess = path.join(root, `sess-${label.replace(/\W+/g, '-')}.pem`);
    const from1 = pfx.log().length;
    const first = await sClient([...flags, '-sess_out', sess]);
    assert.match(first, /New, TLSv1\.[23]/, first);
    assert.match(first, /221 2\.0\.0 Bye/, first);
    await pfx.waitLog(/postfix\/tlsproxy\[\d+\]: DISCONNECT /, from1);
    const pid1 = servingPid(from1);
    const killed = await killTlsproxies();
    assert.ok(pid1 && killed.includes(pid1), `the first process ${pid1} was killed (${killed})`);
    const from2 = pfx.log().length;
    const second = await sClient([...flags, '-sess_in', sess]);
    assert.match(second, reused, second);
    await pfx.waitLog(/postfix\/tlsproxy\[\d+\]: DISCONNECT /, from2);
    const pid2 = servingPid(from2);
    assert.ok(pid2 && pid2 !== pid1, `resumed by another process (${pid1} then ${pid2})`);
    // Our summary line says the session was resumed (Postfix's "Reusing" line at loglevel 2).
    assert.ok(pfx.linesSince(from2).some((l) => /postfix\/tlsproxy\[\d+\]: .*(Reusing|reused|resumed)/i.test(l)), pfx.linesSince(from2).join('\n'));
    assert.ok(!pfx.linesSince(from1).some((l) => /tlsproxy\[\d+\]: warning: .*tlsmgr/.test(l)), pfx.linesSince(from1).join('\n'));
  });
}

it('after postfix reload, tlsmgr has new keys and an empty cache: no resumption (as with Postfix\'s own tlsproxy)', async () => {
  const t13 = path.join(root, 'reload-13.pem');
  const t12 = path.join(root, 'reload-12.pem');
  assert.match(await sClient(['-tls1_3', '-sess_out', t13]), /New, TLSv1\.3/);
  assert.match(await sClient(['-tls1_2', '-no_ticket', '-sess_out', t12]), /New, TLSv1\.2/);
  const from = pfx.log().length;
  await pfx.reload();
  await pfx.waitLog(/postfix\/master\[\d+\]: reload -- version/, from);
  await killTlsproxies();
  // tlsmgr is restarted by the reload (new keys, cache truncated when it opens it again).
  const again13 = await sClient(['-tls1_3', '-sess_in', t13]);
  assert.match(again13, /New, TLSv1\.3/, again13);
  const again12 = await sClient(['-tls1_2', '-no_ticket', '-sess_in', t12]);
  assert.match(again12, /New, TLSv1\.2/, again12);
});

test.run();
