import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, main, parseCommandLine } from '../../proxy/cli/main.js';
import { MemorySink } from '../../proxy/log/log.js';
import { Spawned, certMainCf, closedPort, run, tempDir, tlsproxyService, writeConfig } from '../helpers/proxy.js';

const root = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));

test('command line parsing', () => {
  assert.equal(parseCommandLine(['start']), { kind: 'start', configDir: undefined, overrides: [] });
  assert.equal(parseCommandLine(['start', '-c', '/etc/tlsproxy', '-o', 'a=1', '-ob = two words']), {
    kind: 'start',
    configDir: '/etc/tlsproxy',
    overrides: [
      { name: 'a', value: '1' },
      { name: 'b', value: 'two words' },
    ],
  });
  assert.equal(parseCommandLine(['start', '-c/x']), { kind: 'start', configDir: '/x', overrides: [] });
  assert.equal(parseCommandLine(['certs', 'dir']), { kind: 'certs', dir: 'dir' });
  assert.equal(parseCommandLine(['--help']), { kind: 'help' });
  assert.equal(parseCommandLine(['start', '--help']), { kind: 'help' });
  const usage = (argv: string[], pattern: RegExp) => assert.throws(() => parseCommandLine(argv), (e: unknown) => e instanceof UsageError && pattern.test((e as Error).message));
  usage([], /missing command/);
  usage(['halt'], /unknown command "halt"/);
  assert.equal(parseCommandLine(['reload', '-c', '/x']), { kind: 'reload', configDir: '/x', overrides: [] });
  assert.equal(parseCommandLine(['stop']), { kind: 'stop', configDir: undefined, overrides: [] });
  usage(['stop', 'now'], /unexpected argument "now"/);
  usage(['start', '-x'], /unknown option -x/);
  usage(['start', '-c'], /option -c needs a value/);
  usage(['start', '-c', 'a', '-c', 'b'], /-c given twice/);
  usage(['start', '-o', 'novalue'], /missing '=' after attribute name: "novalue"/);
  usage(['start', 'extra'], /unexpected argument "extra"/);
  usage(['certs'], /exactly one argument/);
  usage(['certs', 'a', 'b'], /exactly one argument/);
});

test('main(): usage errors exit 2 with one line; --help exits 0', async () => {
  let err = '';
  let out = '';
  const io = { stderr: (t: string) => (err += t), stdout: (t: string) => (out += t) };
  assert.is(await main(['start', '-x'], io), 2);
  assert.is(err, 'tlsproxy: unknown option -x (see tlsproxy --help)\n');
  assert.is(await main(['--help'], io), 0);
  assert.match(out, /^Usage:\n {2}tlsproxy start \[-c CONFIG_DIR\] \[-o name=value\]\.\.\./);
});

test('main(): configuration error is one fatal line, exit 1', async () => {
  const dir = writeConfig('smtpd_tls_cert_file = /nonexistent.pem', tlsproxyService('inet:127.0.0.1:9'));
  const log = new MemorySink();
  assert.is(await main(['start', '-c', dir], { sink: log.sink }), 1);
  assert.equal(log.messages, ['fatal: tlsproxy_tls_cert_file=/nonexistent.pem: cannot read the file: No such file or directory']);
  log.clear();
  assert.is(await main(['start', '-c', path.join(dir, 'nope')], { sink: log.sink }), 1);
  assert.match(log.messages[0]!, /^fatal: open \S+\/nope\/main\.cf: No such file or directory$/);
});

test('main(): start -c runs until the stop signal', async () => {
  const port = await closedPort();
  const dir = writeConfig(await certMainCf(), tlsproxyService(`inet:127.0.0.1:${port}`));
  const log = new MemorySink();
  let stop!: (s: string) => void;
  const stopped = new Promise<string>((r) => (stop = r));
  const done = main(['start', '-c', dir, '-o', 'syslog_name=cli-test'], { sink: log.sink, stopSignal: () => stopped });
  await log.waitFor(/^service 127\.0\.0\.1:0: listening on 127\.0\.0\.1:\d+, backend inet:127\.0\.0\.1:\d+$/);
  stop('SIGTERM');
  assert.is(await done, 0);
  assert.is(log.messages.at(-1), 'terminating on signal SIGTERM');
  assert.ok(log.lines.every((l) => l.includes(' cli-test/tlsproxy[')));
});

test('bin/tlsproxy.js certs DIR writes and lists the test PKI', async () => {
  const dir = path.join(tempDir(), 'pki');
  const r = await run(process.execPath, [path.join(root, 'bin/tlsproxy.js'), 'certs', dir]);
  assert.is(r.code, 0, r.stderr);
  const listed = r.stdout.trim().split('\n');
  assert.ok(listed.includes(path.join(dir, 'ca.pem')));
  assert.ok(listed.includes(path.join(dir, 'server-ecdsa-p256-key.pem')));
  assert.equal(listed.map((f) => path.basename(f)).sort(), readdirSync(dir).sort());
});

test('bin/tlsproxy.js start with a missing certificate: fatal line naming the parameter, exit 1', async () => {
  const dir = writeConfig('smtpd_tls_eccert_file = /nonexistent/ec.pem', tlsproxyService('inet:127.0.0.1:9'));
  const r = await run(process.execPath, [path.join(root, 'bin/tlsproxy.js'), 'start', '-c', dir]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ postfix\/tlsproxy\[\d+\]: fatal: tlsproxy_tls_eccert_file=\/nonexistent\/ec\.pem: cannot read the file: No such file or directory\n$/);
});

test('npm start: built-in defaults create the state, serve TLS, relay to the demo backend, stop on SIGTERM', async () => {
  const state = path.join(tempDir(), 'state');
  const env = { ...process.env, TLSPROXY_STATE_DIR: state, TLSPROXY_LISTEN: '127.0.0.1:0' };
  // detached: npm runs the script in a shell; signalling the group reaches node too.
  const npm = new Spawned('npm', ['start', '--silent'], { env, cwd: root, detached: true });
  try {
    const m = await npm.waitForStderr(/service \S+: listening on 127\.0\.0\.1:(\d+), backend inet:127\.0\.0\.1:\d+\n/);
    const port = m[1]!;
    assert.ok(existsSync(path.join(state, 'ca.pem')));
    assert.match(npm.stderr, /created a test CA and server certificates in /);
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-quiet', '-CAfile', path.join(state, 'ca.pem'), '-verify_return_error'], 'hello npm\nQUIT\n', 1500);
    assert.match(r.stdout, /^220 tlsproxy demo backend ready.*\r\n250 echo: hello npm\r\n221 bye\r\n$/);
    await npm.waitForStderr(/DISCONNECT \[127\.0\.0\.1\]:\d+\n/);
    assert.match(npm.stderr, /postfix\/tlsproxy\[\d+\]: Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+: TLSv1\.3 with cipher \S+ \(\d+\/\d+ bits\) key-exchange x25519 server-signature ECDSA \(prime256v1\) server-digest SHA256\n/);
    process.kill(-npm.child.pid!, 'SIGTERM');
    await npm.exited;
    assert.match(npm.stderr, /terminating on signal SIGTERM/);
  } finally {
    if (npm.child.exitCode === null) {
      try {
        process.kill(-npm.child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  // A second start reuses the certificates.
  const again = new Spawned(process.execPath, ['--import', 'tsx', path.join(root, 'proxy/cli/main.ts'), 'start'], { env, cwd: root });
  try {
    await again.waitForStderr(/listening on 127\.0\.0\.1:\d+/);
    assert.not.match(again.stderr, /created a test CA/);
  } finally {
    again.kill('SIGTERM');
    assert.is(await again.exited, 0);
  }
});

test.run();
