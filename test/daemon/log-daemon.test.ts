/**
 * The log levels through the REAL daemon (a child process), with openssl
 * s_client as the client:
 *
 *  - level 2: `setting up TLS connection from`, `TLS cipher list "..."`,
 *    the SSL_accept state trace, in that order before the summary line;
 *  - level 3: ciphertext dumps (tls_bio_dump_cb header + dump lines)
 *    during the handshake only; level 4: also after it;
 *  - keywords (ssl-expert) equal their number;
 *  - maillog_file: the lines go to the file, SIGHUP reopens it (rotation),
 *    syslog_name shows in the tag.
 */

import { existsSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certMainCf, delay, echoBackend, tempDir, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, interactive, served, stopAllDaemons, type LogLine } from '../helpers/daemon-proc.js';

let backend: TestBackend;

const service = () => `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`;

async function daemonAt(loglevel: string, extra = ''): Promise<DaemonProc> {
  return DaemonProc.start(writeConfig(await certMainCf(`tlsproxy_allow_root = yes\ntlsproxy_tls_loglevel = ${loglevel}\n${extra}`), service()));
}

function sClient(port: number, extra: string[] = []): Promise<{ out: string; code: number | null }> {
  return interactive('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-nocommands', ...extra], 'ping\n');
}

const texts = (lines: readonly LogLine[]) => lines.map((l) => l.text);
const isDumpHeader = (t: string) => /^(read from|write to) [0-9A-F]{8} \[[0-9A-F]{8}\] \(\d+ bytes => \d+ \(0x[0-9A-F]+\)\)$/.test(t);
const isDumpLine = (t: string) => /^[0-9a-f]{4} ([0-9a-f]{2}[ |]){1,16}/.test(t) || /^[0-9a-f]{4} - <SPACES\/NULLS>$/.test(t);

test.before(async () => {
  backend = await echoBackend();
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

test('level 2: set-up lines, cipher list, SSL_accept states before the summary; no dumps', async () => {
  const d = await daemonAt('2');
  try {
    const s = await served(d, () => sClient(d.port));
    const t = texts(s.lines);
    const at = (re: RegExp) => t.findIndex((x) => re.test(x));
    const connect = at(/^CONNECT from \[127\.0\.0\.1\]:\d+$/);
    const setup = at(/^setting up TLS connection from \[127\.0\.0\.1\]:\d+$/);
    const list = at(/^\[127\.0\.0\.1\]:\d+: TLS cipher list "aNULL:-aNULL:HIGH:MEDIUM:.*"$/);
    const before = at(/^SSL_accept:before SSL initialization$/);
    const hello = at(/^SSL_accept:SSLv3\/TLS read client hello$/);
    const finished = at(/^SSL_accept:SSLv3\/TLS read finished$/);
    const summary = at(/^Anonymous TLS connection established from /);
    assert.ok(connect >= 0 && connect < setup && setup < list && list < before && before < hello && hello < finished && finished < summary, t.join('\n'));
    assert.equal(t.filter((x) => x.startsWith('SSL_accept:')).slice(2), [
      'SSL_accept:SSLv3/TLS read client hello',
      'SSL_accept:SSLv3/TLS write server hello',
      'SSL_accept:SSLv3/TLS write change cipher spec',
      'SSL_accept:TLSv1.3 write encrypted extensions',
      'SSL_accept:SSLv3/TLS write certificate',
      'SSL_accept:TLSv1.3 write server certificate verify',
      'SSL_accept:SSLv3/TLS write finished',
      'SSL_accept:TLSv1.3 early data',
      'SSL_accept:TLSv1.3 early data',
      // Our ticket leaves with the server flight (RFC 8446 §4.6.1 note; OpenSSL writes it after "read finished").
      'SSL_accept:SSLv3/TLS write session ticket',
      'SSL_accept:SSLv3/TLS read finished',
    ]);
    assert.not.ok(t.some(isDumpHeader));
    // TLS 1.2 with an alert: the client refuses our certificate (no CA given, verify required).
    const bad = await served(d, () => sClient(d.port, ['-tls1_2', '-verify_return_error']));
    const b = texts(bad.lines);
    assert.ok(b.includes('SSL_accept:SSLv3/TLS write server done'), b.join('\n'));
    assert.ok(b.includes('SSL3 alert read:fatal:unknown CA'), b.join('\n'));
    assert.ok(b.some((x) => /^SSL_accept:error in /.test(x)), b.join('\n'));
    assert.ok(b.some((x) => /^TLS handshake failed for service=/.test(x)), b.join('\n'));
  } finally {
    await d.stop();
  }
});

test('level 3 (and ssl-expert): dumps during the handshake only; level 4 (ssl-developer): after it too', async () => {
  for (const level of ['3', 'ssl-expert']) {
    const d = await daemonAt(level);
    try {
      const t = texts((await served(d, () => sClient(d.port))).lines);
      const summary = t.findIndex((x) => /^Anonymous TLS connection established from /.test(x));
      const headers = t.map((x, i) => (isDumpHeader(x) ? i : -1)).filter((i) => i >= 0);
      assert.ok(headers.length >= 4, t.join('\n'));
      assert.match(t[headers[0]!]!, /^read from \w{8} \[\w{8}\] \(5 bytes => 5 \(0x5\)\)$/);
      assert.ok(t[headers[0]! + 1]!.startsWith('0000 16 03 01 '), 'a ClientHello record header');
      assert.ok(headers.every((i) => i < summary), `${level}: nothing dumped after the handshake\n${t.join('\n')}`);
      assert.ok(t.slice(headers[0]!).filter((x) => !isDumpHeader(x) && !isDumpLine(x) && !x.startsWith('SSL_accept:')).length >= 1);
    } finally {
      await d.stop();
    }
  }
  const d4 = await daemonAt('ssl-developer');
  try {
    const t = texts((await served(d4, () => sClient(d4.port))).lines);
    const summary = t.findIndex((x) => /^Anonymous TLS connection established from /.test(x));
    assert.ok(t.slice(summary).some(isDumpHeader), `level 4 dumps after the handshake\n${t.join('\n')}`);
  } finally {
    await d4.stop();
  }
});

test('maillog_file: lines in the file with syslog_name, reopened on SIGHUP after rotation', async () => {
  const dir = tempDir('tlsproxy-maillog-');
  const file = path.join(dir, 'tlsproxy.log');
  const conf = writeConfig(
    await certMainCf(`tlsproxy_allow_root = yes\nmaillog_file = ${file}\nmaillog_file_prefixes = /var, ${dir}\nsyslog_name = postfix-in\n`),
    service(),
  );
  const d = new DaemonProc(['start', '-c', conf]);
  const waitInFile = async (f: string, re: RegExp, ms = 15_000): Promise<string> => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
      const m = text.split('\n').find((l) => re.test(l));
      if (m) return m;
      if (!d.running) throw new Error(`daemon exited: ${d.stderr}`);
      await delay(50);
    }
    throw new Error(`no line matching ${re} in ${f}:\n${existsSync(f) ? readFileSync(f, 'utf8') : '(missing)'}\nstderr:\n${d.stderr}`);
  };
  try {
    const listening = await waitInFile(file, /postfix-in\/tlsproxy\[\d+\]: service \S+: listening on 127\.0\.0\.1:\d+/);
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(listening)![1]);
    assert.not.match(d.stderr, /listening on/, 'nothing on stderr');
    await sClient(port);
    await waitInFile(file, /postfix-in\/tlsproxy\[\d+\]: Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+: TLSv1\.3 /);
    renameSync(file, `${file}.1`);
    d.kill('SIGHUP');
    await waitInFile(file, /reopened maillog_file /);
    await sClient(port);
    await waitInFile(file, /Anonymous TLS connection established from/);
    assert.match(readFileSync(`${file}.1`, 'utf8'), /DISCONNECT \[127\.0\.0\.1\]:\d+/);
  } finally {
    await d.stop();
  }
});

test.run();
