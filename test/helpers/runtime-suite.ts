/**
 * The same daemon on another JavaScript runtime (test/runtimes/deno.test.ts,
 * bun.test.ts): `<runtime> bin/tlsproxy.js start -c DIR` on the compiled
 * JavaScript (dist/), with the webcrypto provider, an implicit-TLS service
 * with 2 worker processes and a postscreen service, checked with openssl
 * s_client and gnutls-cli: every TLS 1.3 suite and group, TLS 1.2 suites,
 * resumption (TLS 1.3 tickets, TLS 1.2 session IDs and tickets), SNI,
 * client certificates, STARTTLS through postscreen, the log lines in
 * Postfix's format, reload (SIGHUP) and stop (SIGTERM); then the js
 * provider in one process.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { echoBackend, run, tempDir, writeConfig, type TestBackend } from './proxy.js';
import { DaemonProc, FILE_LIFETIME_MS, alive, interactive, served, stopAllDaemons, type Launch, type Served } from './daemon-proc.js';
import { compiledEnv, ensureBuilt, root } from './build.js';
import { testPki, type TestPki } from './pki.js';
import { clientPki, type ClientPki } from './client-pki.js';
import { FakeSmtpBackend, freePort } from './postfix-backend.js';
import { until } from './wait.js';
import { skipped } from './skip.js';
import { node24, node24Connect } from './node24.js';

const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;
const GROUPS = [
  { openssl: 'x25519', log: 'x25519' },
  { openssl: 'P-256', log: 'secp256r1' },
  { openssl: 'P-384', log: 'secp384r1' },
  { openssl: 'ffdhe2048', log: 'ffdhe2048' },
] as const;
const TLS12 = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'DHE-RSA-AES128-GCM-SHA256'] as const;

/** `privilegeDrop`: the runtime has process.setgroups/setgid/setuid (Deno has no setgroups). */
export function runtimeSuite(name: string, command: readonly string[], label: RegExp, privilegeDrop: boolean): void {
  if (!existsSync(command[0]!)) {
    skipped(`${name} runtime tests`, `${command[0]} is missing (the ${name} npm package, a devDependency: npm ci installs it)`);
    return;
  }
  // The daemon serves the whole file (minutes on a loaded machine): not the default 90 s hard timeout.
  const launch: Launch = { command, env: compiledEnv(), hardTimeoutMs: FILE_LIFETIME_MS };
  let pki: TestPki;
  let cpki: ClientPki;
  let echo: TestBackend;
  let smtp: FakeSmtpBackend;
  let d: DaemonProc;
  let tlsPort = 0;
  let psPort = 0;
  let confDir = '';

  test.before(async () => {
    ensureBuilt();
    pki = testPki();
    cpki = clientPki();
    echo = await echoBackend();
    smtp = await FakeSmtpBackend.start();
    [tlsPort, psPort] = [await freePort(), await freePort()];
    const dir = tempDir(`tlsproxy-${name}-`);
    const sniFile = path.join(dir, 'sni-a.pem');
    writeFileSync(sniFile, pki.certs.sniA.keyPem + pki.certs.sniA.certPem);
    writeFileSync(path.join(dir, 'sni'), `a.example.test ${sniFile}\n`);
    confDir = writeConfig(
      [
        `smtpd_tls_eccert_file = ${pki.certs.p256.certPath}`,
        `smtpd_tls_eckey_file = ${pki.certs.p256.keyPath}`,
        `smtpd_tls_cert_file = ${pki.certs.rsa.certPath}`,
        `smtpd_tls_key_file = ${pki.certs.rsa.keyPath}`,
        `tls_server_sni_maps = texthash:${path.join(dir, 'sni')}`,
        'tls_ffdhe_auto_groups = ffdhe2048 ffdhe3072',
        'tlsproxy_crypto_provider = webcrypto',
        'tlsproxy_tls_ask_ccert = yes',
        `tlsproxy_tls_CAfile = ${cpki.caFile}`,
        'smtpd_tls_session_cache_database = internal:',
        'postscreen_tls_security_level = may',
        'tlsproxy_tls_loglevel = 1',
        'myhostname = testhost.example',
        'tlsproxy_allow_root = yes',
      ].join('\n'),
      [
        `127.0.0.1:${tlsPort} inet n - n - 2 tlsproxy -o tlsproxy_backend=${echo.address}`,
        `127.0.0.1:${psPort} inet n - n - 1 postscreen -o tlsproxy_backend=${smtp.address}`,
      ].join('\n'),
    );
    d = await DaemonProc.start(confDir, [], 60_000, launch);
    await d.waitFor(new RegExp(`^service 127\\.0\\.0\\.1:${psPort}: listening on `), { timeoutMs: 30_000 });
  });

  test.after(async () => {
    await stopAllDaemons();
    await echo?.close();
    await smtp?.close();
  });

  const ossl = (args: readonly string[], servername = 'localhost') => () =>
    interactive('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', servername, '-CAfile', pki.caPath, '-nocommands', ...args], 'ping\n');
  /** Worker pids of the implicit-TLS service, from its last `N worker processes, pids ...` line. */
  const tlsWorkers = () => {
    const re = new RegExp(`^service 127\\.0\\.0\\.1:${tlsPort}: \\d+ worker processes, pids `);
    const l = d.log.filter((x) => re.test(x.text)).at(-1);
    return l ? l.text.replace(/^.*pids /, '').split(' ').map(Number) : [];
  };
  const summary = (s: Served) => s.lines.find((l) => /TLS connection established from/.test(l.text))?.text ?? `(no summary line in: ${s.out.slice(-600)})`;
  const ok = (s: Served) => {
    assert.match(s.out, /ping/, s.out);
    assert.match(s.out, /Verify return code: 0 \(ok\)|Handshake was completed/, s.out);
  };

  test(`[${name}] start-up: the runtime is named, 2 worker processes, every line in Postfix's format`, () => {
    assert.ok(d.log.some((l) => label.test(l.text)), d.stderr);
    assert.is(tlsWorkers().length, 2, d.stderr);
    assert.ok(tlsWorkers().every((p) => p !== d.pid && alive(p)));
    assert.is(d.junk.length, 0, `lines not in Postfix's format:\n${d.junk.join('\n')}`);
  });

  test(`[${name}] X25519MLKEM768 (ML-KEM-768 in JavaScript) with a Node 24 / OpenSSL 3.5 client; SecP256r1MLKEM768, not in the default groups, refused`, async () => {
    const bin = node24();
    if (!bin) return;
    const ca = readFileSync(pki.caPath, 'utf8');
    const s = await served(d, async () => {
      const r = await node24Connect(bin, d.port, { ecdhCurve: 'X25519MLKEM768', ca, minVersion: 'TLSv1.3', servername: 'localhost' });
      return { out: JSON.stringify(r), code: r.error ? 1 : 0 };
    });
    assert.is(s.code, 0, s.out);
    assert.match(s.out, /"echoed":true/, s.out);
    assert.match(summary(s), /TLSv1\.3 with cipher \S+ .* key-exchange X25519MLKEM768 /);
    // tls_eecdh_auto_curves' default (Postfix 3.11) is ?X25519MLKEM768:DEFAULT: no common group, handshake_failure.
    const r = await node24Connect(bin, d.port, { ecdhCurve: 'SecP256r1MLKEM768', ca, minVersion: 'TLSv1.3', servername: 'localhost' });
    assert.match(r.error ?? '', /alert number 40/, JSON.stringify(r).slice(0, 300));
  });

  for (const suite of SUITES) {
    for (const g of GROUPS) {
      test(`[${name}] TLS 1.3 ${suite} x ${g.openssl}`, async () => {
        const s = await served(d, ossl(['-tls1_3', '-ciphersuites', suite, '-groups', g.openssl]));
        ok(s);
        assert.match(summary(s), new RegExp(`^Anonymous TLS connection established from \\[127\\.0\\.0\\.1\\]:\\d+: TLSv1\\.3 with cipher ${suite} .* key-exchange ${g.log} `));
        assert.ok(tlsWorkers().includes(s.pid), `served by a worker process (pid ${s.pid})`);
      });
    }
  }

  for (const cipher of TLS12) {
    test(`[${name}] TLS 1.2 ${cipher}`, async () => {
      const s = await served(d, ossl(['-tls1_2', '-cipher', cipher]));
      ok(s);
      assert.match(summary(s), new RegExp(`: TLSv1\\.2 with cipher ${cipher} `));
    });
  }

  test(`[${name}] resumption: TLS 1.3 ticket, TLS 1.2 session ID and ticket (openssl -sess_out / -sess_in)`, async () => {
    const dir = tempDir('tlsproxy-sess-');
    for (const [what, args] of [['TLSv1.3', ['-tls1_3']], ['TLSv1.2 session ID', ['-tls1_2', '-no_ticket']], ['TLSv1.2 ticket', ['-tls1_2']]] as const) {
      const file = path.join(dir, what.replace(/\W/g, '_'));
      const first = await served(d, ossl([...args, '-sess_out', file]));
      ok(first);
      assert.match(first.out, /New, TLSv1\.[23]/, first.out);
      const again = await served(d, ossl([...args, '-sess_in', file]));
      assert.match(again.out, /Reused, TLSv1\.[23]/, `${what}: ${again.out}`);
      assert.match(again.out, /ping/);
    }
  });

  test(`[${name}] SNI: a.example.test gets the map's certificate, localhost the default one`, async () => {
    const a = await served(d, ossl(['-tls1_3'], 'a.example.test'));
    ok(a);
    assert.match(a.out, /subject=\s*CN\s*=\s*sni-a/, a.out);
    assert.match(summary(a), / to a\.example\.test: TLSv1\.3 /);
    const dflt = await served(d, ossl(['-tls1_3']));
    assert.not.match(dflt.out, /CN\s*=\s*sni-a/);
  });

  test(`[${name}] client certificates: Trusted in TLS 1.3 and TLS 1.2 (tlsproxy_tls_ask_ccert, CAfile)`, async () => {
    const c = cpki.clients.p256;
    for (const v of ['-tls1_3', '-tls1_2']) {
      const s = await served(d, ossl([v, '-cert', c.certPath, '-key', c.keyPath]));
      ok(s);
      assert.match(summary(s), /^Trusted TLS connection established from /, summary(s));
    }
  });

  test(`[${name}] gnutls-cli: TLS 1.3, TLS 1.2, resumption`, async () => {
    const g13 = await served(d, () => interactive('gnutls-cli', ['--x509cafile', pki.caPath, '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.3', '-p', String(tlsPort), 'localhost'], 'ping\n'));
    assert.match(g13.out, /ping/, g13.out);
    assert.match(summary(g13), /TLSv1\.3 with cipher /);
    const g12 = await served(d, () => interactive('gnutls-cli', ['--x509cafile', pki.caPath, '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2', '-p', String(tlsPort), 'localhost'], 'ping\n'));
    assert.match(g12.out, /ping/, g12.out);
    assert.match(summary(g12), /TLSv1\.2 with cipher /);
    const r = await run('gnutls-cli', ['--x509cafile', pki.caPath, '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2', '--resume', '-p', String(tlsPort), 'localhost'], '', 0, 20_000);
    assert.match(r.stdout + r.stderr, /This is a resumed session/, r.stdout + r.stderr);
  });

  test(`[${name}] STARTTLS through the postscreen front end (openssl -starttls smtp), relayed to the SMTP backend`, async () => {
    const before = smtp.sessions.length;
    const r = await run('openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${psPort}`, '-quiet', '-CAfile', pki.caPath, '-verify_return_error', '-servername', 'localhost'], 'EHLO w.example\r\nQUIT\r\n', 1500, 20_000);
    assert.match(r.stdout, /^250-backend\.example\r\n/, r.stdout + r.stderr);
    assert.match(r.stdout, /221 2\.0\.0 Bye\r\n$/);
    await smtp.waitFor(() => smtp.sessions.length > before && smtp.sessions.at(-1)!.closed);
    const ps = await d.waitFor(/^CONNECT from \[127\.0\.0\.1\]:\d+ to \[127\.0\.0\.1\]:/);
    assert.match(ps.line, /postfix\/postscreen\[\d+\]: CONNECT from/);
    await d.waitFor(/^Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+: TLSv1\.3 /);
  });

  test(`[${name}] reload on SIGHUP (a changed main.cf), then a handshake; stop on SIGTERM: exit 0, workers gone`, async () => {
    const mark = d.mark();
    const before = tlsWorkers();
    const mainCf = path.join(confDir, 'main.cf');
    writeFileSync(mainCf, `${readFileSync(mainCf, 'utf8')}tlsproxy_tls_loglevel = 2\n`);
    process.kill(d.pid, 'SIGHUP');
    await d.waitFor(/^reload on signal SIGHUP/, { since: mark });
    await d.waitFor(/^reload: /, { since: mark, timeoutMs: 20_000 });
    await d.waitFor(new RegExp(`^service 127\\.0\\.0\\.1:${tlsPort}: \\d+ worker processes, pids `), { since: mark, timeoutMs: 20_000 });
    // The old workers are gone before the next connection: on Deno, a connection handed to a worker
    // in the moment it exits after a reload can be lost (docs/runtimes.md); Node hands it to another one.
    for (const pid of before) await d.waitFor(new RegExp(`: worker process pid ${pid} exited`), { since: mark, timeoutMs: 20_000 });
    const s = await served(d, ossl(['-tls1_3']));
    ok(s);
    const workers = [...tlsWorkers(), ...d.workerPids()];
    assert.is(await d.stop(20_000), 0, d.tail());
    await until(() => workers.every((p) => !alive(p)), () => `the workers to be gone: ${workers.filter(alive).join(' ')} still there`, 10_000);
    assert.is(d.junk.length, 0, d.junk.join('\n'));
  });

  test(`[${name}] the js provider (pure JavaScript) in one process: TLS 1.3 and TLS 1.2`, async () => {
    const conf = writeConfig(
      [
        `smtpd_tls_eccert_file = ${pki.certs.p256.certPath}`,
        `smtpd_tls_eckey_file = ${pki.certs.p256.keyPath}`,
        'tlsproxy_crypto_provider = js',
        'tlsproxy_tls_loglevel = 1',
        'tlsproxy_allow_root = yes',
      ].join('\n'),
      `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${echo.address}`,
    );
    const j = await DaemonProc.start(conf, [], 30_000, launch);
    try {
      for (const v of ['-tls1_3', '-tls1_2']) {
        const s = await served(j, () => interactive('openssl', ['s_client', '-connect', `127.0.0.1:${j.port}`, '-servername', 'localhost', '-CAfile', pki.caPath, '-nocommands', v], 'ping\n'));
        ok(s);
      }
    } finally {
      assert.is(await j.stop(), 0);
    }
  });

  test(`[${name}] tlsproxy_user = nobody: ${privilegeDrop ? 'the worker processes drop to it' : 'refused at start with a message that names the runtime'}`, async () => {
    const conf = writeConfig(
      [
        `smtpd_tls_eccert_file = ${pki.certs.p256.certPath}`,
        `smtpd_tls_eckey_file = ${pki.certs.p256.keyPath}`,
        'tlsproxy_crypto_provider = webcrypto',
        'tlsproxy_user = nobody',
      ].join('\n'),
      `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${echo.address}`,
    );
    if (process.geteuid?.() !== 0) return; // only root can drop privileges
    if (!privilegeDrop) {
      const [cmd, ...pre] = command;
      const r = await run(cmd!, [...pre, path.join(root, 'bin/tlsproxy.js'), 'start', '-c', conf], '', 0, 30_000);
      assert.is(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /fatal: tlsproxy_user = nobody: privileges cannot be dropped on this runtime \(Deno [\d.]+ has no process\.setgroups\(\)\)/, r.stderr);
      return;
    }
    const p = await DaemonProc.start(conf, [], 30_000, launch);
    try {
      const pids = p.workerPids();
      assert.is(pids.length, 1, p.stderr);
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pids[0]}/status`, 'utf8'))![1]);
      assert.is(uid, Number(/^nobody:[^:]*:(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))![1]));
      const s = await served(p, () => interactive('openssl', ['s_client', '-connect', `127.0.0.1:${p.port}`, '-servername', 'localhost', '-CAfile', pki.caPath, '-nocommands'], 'ping\n'));
      ok(s);
    } finally {
      assert.is(await p.stop(), 0);
    }
  });
}

export { root };
