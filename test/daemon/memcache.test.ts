/**
 * TLS 1.2 session-ID resumption ACROSS instances through memcached
 * (Debian's memcached, started here on a free loopback port), configured
 * as Postfix's memcache_table(5):
 *
 *   smtpd_tls_session_cache_database = memcache:DIR/scache.cf
 *   scache.cf: memcache = inet:127.0.0.1:PORT, ttl, key_format = prefix-%s
 *
 *  - a session made on daemon A (openssl s_client -no_ticket -sess_out)
 *    resumes on daemon B (-sess_in): `Reused`, B's `Reusing old session`;
 *  - the value in memcached is sealed: it is not the session in clear
 *    (the master secret openssl printed is not in it) and its key has the
 *    configured prefix;
 *  - slow cache (memcached stopped with SIGSTOP): the handshake waits at
 *    most tlsproxy_session_cache_lookup_ms, then completes in full; one
 *    warning;
 *  - cache down (memcached killed): handshakes complete in full, the
 *    warning is logged once per process (rate-limited), not per
 *    connection (B runs two worker processes: the session made on A
 *    resumes in one of B's workers, each with its own connection);
 *  - start-up refuses memcache: without a ticket key file, and a bad file.
 *
 * Skipped with a message when memcached is not installed.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../proxy/cli/main.js';
import { certMainCf, closedPort, delay, echoBackend, tempDir, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, sClient, served, startFails, stopAllDaemons } from '../helpers/daemon-proc.js';
import { skipped } from '../helpers/skip.js';

const haveMemcached = !spawnSync('memcached', ['-h']).error;
let memcached: ChildProcess | undefined;
let mcPort = 0;
let backend: TestBackend;
let ca = '';
let a: DaemonProc;
let b: DaemonProc;
let keyFile = '';
let scache = '';
const PREFIX = 'tlsproxy-test-';

async function startMemcached(port: number): Promise<ChildProcess> {
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', '-t', '1'];
  if (process.getuid?.() === 0) args.push('-u', 'nobody');
  const child = spawn('memcached', args, { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await text(port, 'version\r\n').then((r) => r.startsWith('VERSION'), () => false)) return child;
    await delay(50);
  }
  child.kill('SIGKILL');
  throw new Error('memcached did not start');
}

/** One request on memcached's text protocol; the answer up to END / a VERSION line. */
function text(port: number, request: string, until = /(^|\r\n)(END|VERSION [^\r]*)\r\n$/): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let out = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('memcached: no answer'));
    }, 2000);
    s.on('data', (d: Buffer) => {
      out = Buffer.concat([out, d]);
      if (until.test(out.toString('latin1'))) {
        clearTimeout(timer);
        s.end();
        resolve(out.toString('latin1'));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function cli(args: string[]): Promise<number> {
  return main(args, { stdout: () => undefined, stderr: () => undefined });
}

const service = () => `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`;

async function daemonConfig(extra: string[] = []): Promise<string> {
  return writeConfig(
    await certMainCf(
      [
        'tlsproxy_tls_loglevel = 2',
        'tls_ssl_options = NO_TICKET',
        `smtpd_tls_session_cache_database = memcache:${scache}`,
        `tlsproxy_tls_session_ticket_key_file = ${keyFile}`,
        'tlsproxy_session_cache_lookup_ms = 200',
        ...extra,
      ].join('\n'),
    ),
    service(),
  );
}

test.before(async () => {
  if (!haveMemcached) return;
  backend = await echoBackend();
  ca = (await testPki()).ca;
  mcPort = await closedPort();
  memcached = await startMemcached(mcPort);
  const dir = tempDir('tlsproxy-memcache-');
  keyFile = path.join(dir, 'ticket-keys');
  assert.is(await cli(['ticket-keys', 'create', keyFile]), 0);
  scache = path.join(dir, 'scache.cf');
  writeFileSync(scache, `# memcache_table(5)\nmemcache = inet:127.0.0.1:${mcPort}\nttl = 600\nkey_format = ${PREFIX}%s\n`);
  // A serves in one process, B in two worker processes (each with its own memcached connection).
  [a, b] = await Promise.all([daemonConfig().then((d) => DaemonProc.start(d)), daemonConfig(['tlsproxy_worker_processes = 2']).then((d) => DaemonProc.start(d))]);
});

test.after(async () => {
  memcached?.kill('SIGCONT');
  memcached?.kill('SIGKILL');
  await stopAllDaemons();
  await backend?.close();
});

const skip = () => skipped('memcached session cache test', 'memcached is not installed (apt-get install memcached)');

let sessionFile = '';

test('a TLS 1.2 session made on one instance resumes on another through memcached; the stored value is sealed', async () => {
  if (!haveMemcached) return skip();
  sessionFile = path.join(tempDir('tlsproxy-sess-'), 'sess.pem');
  const first = await served(a, () => sClient(a.port, ['-tls1_2', '-no_ticket', '-CAfile', ca, '-sess_out', sessionFile]));
  assert.match(first.out, /New, TLSv1\.2/);
  const id = /Session-ID: ([0-9A-F]{64})/.exec(first.out)?.[1];
  const master = /Master-Key: ([0-9A-F]{96})/.exec(first.out)?.[1];
  assert.ok(id && master, first.out);
  // The store is fire-and-forget: give it a moment.
  let dump = '';
  for (let i = 0; i < 40 && !dump.includes(id!.toLowerCase()); i++) {
    await delay(50);
    dump = await text(mcPort, 'lru_crawler metadump all\r\n', /(^|\n)END\r\n$/);
  }
  const key = new RegExp(`key=(${PREFIX}[0-9a-f]+${id!.toLowerCase()})`).exec(dump)?.[1];
  assert.ok(key, `a key with the prefix and the session ID in memcached:\n${dump}`);
  const value = await text(mcPort, `get ${key}\r\n`);
  const m = /^VALUE \S+ \d+ (\d+)\r\n/.exec(value);
  assert.ok(m, value);
  const raw = Buffer.from(value.slice(m![0].length, m![0].length + Number(m![1])), 'latin1');
  assert.not.ok(raw.includes(Buffer.from(master!, 'hex')), 'the master secret is not in memcached in clear');
  assert.ok(raw.length >= 16 + 12 + 16 + 48, 'key name, nonce, tag around the session');

  const second = await served(b, () => sClient(b.port, ['-tls1_2', '-no_ticket', '-CAfile', ca, '-sess_in', sessionFile]));
  assert.match(second.out, /Reused, TLSv1\.2/);
  assert.ok(second.lines.some((l) => /^\[127\.0\.0\.1\]:\d+: Reusing old session$/.test(l.text)), second.lines.map((l) => l.text).join('\n'));
});

test('slow cache (memcached stopped): the handshake waits at most the look-up time, then completes in full', async () => {
  if (!haveMemcached) return skip();
  memcached!.kill('SIGSTOP');
  try {
    const mark = a.mark();
    const t0 = Date.now();
    const r = await served(a, () => sClient(a.port, ['-tls1_2', '-no_ticket', '-CAfile', ca, '-sess_in', sessionFile]));
    const ms = Date.now() - t0;
    assert.match(r.out, /New, TLSv1\.2/, 'a full handshake');
    assert.match(r.out, /ping/);
    assert.ok(ms < 3000, `took ${ms} ms`);
    const w = a.texts(mark).filter((t) => /^warning: memcache:.*: look-up took more than 200ms \(tlsproxy_session_cache_lookup_ms\); TLS session look-ups miss \(full handshakes\)/.test(t));
    assert.is(w.length, 1, a.texts(mark).join('\n'));
  } finally {
    memcached!.kill('SIGCONT');
  }
});

test('cache down (memcached gone): full handshakes, one rate-limited warning per process', async () => {
  if (!haveMemcached) return skip();
  memcached!.kill('SIGKILL');
  await new Promise((r) => memcached!.once('exit', r));
  const mark = b.mark();
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const r = await served(b, () => sClient(b.port, ['-tls1_2', '-no_ticket', '-CAfile', ca, '-sess_in', sessionFile]));
    assert.match(r.out, /New, TLSv1\.2/);
    assert.match(r.out, /ping/);
    assert.ok(Date.now() - t0 < 3000);
    await delay(i === 0 ? 5500 : 0); // past the 5 s back-off once: the next failure is not logged again (60 s)
  }
  const w = b.since(mark).filter((l) => /^warning: memcache:/.test(l.text));
  assert.ok(w.length >= 1, b.texts(mark).join('\n'));
  assert.is(new Set(w.map((l) => l.pid)).size, w.length, `at most one warning per worker process:\n${b.texts(mark).join('\n')}`);
  assert.match(w[0]!.text, /(look-up|store) (failed|took more than)/);
});

test('start-up refuses memcache: without a ticket key file, and a malformed file', async () => {
  if (!haveMemcached) return skip();
  const noKeys = writeConfig(await certMainCf([`smtpd_tls_session_cache_database = memcache:${scache}`].join('\n')), service());
  let r = await startFails(noKeys);
  assert.is(r.code, 1);
  assert.match(r.stderr, /fatal: smtpd_tls_session_cache_database = memcache:.*: needs tlsproxy_tls_session_ticket_key_file/);
  const bad = path.join(tempDir('tlsproxy-scache-'), 'scache.cf');
  writeFileSync(bad, 'memcache = unix:/run/memcached.sock\n');
  r = await startFails(writeConfig(await certMainCf([`smtpd_tls_session_cache_database = memcache:${bad}`, `tlsproxy_tls_session_ticket_key_file = ${keyFile}`].join('\n')), service()));
  assert.is(r.code, 1);
  assert.match(r.stderr, /memcache:.*scache\.cf: memcache = unix:\/run\/memcached\.sock: expected inet:host:port/);
});

test.run();
