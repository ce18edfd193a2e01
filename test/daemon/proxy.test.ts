import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from '../../proxy/config/errors.js';
import { loadConfiguration } from '../../proxy/config/configuration.js';
import { Daemon } from '../../proxy/supervisor/daemon.js';
import { startDemoBackend } from '../../proxy/cli/demo-backend.js';
import { MemorySink } from '../../proxy/log/log.js';
import {
  certMainCf,
  closedPort,
  connectTls,
  delay,
  echoBackend,
  run,
  startBackend,
  startDaemon,
  tempDir,
  testPki,
  tlsproxyService,
  writeConfig,
} from '../helpers/proxy.js';

const SUMMARY_128 =
  'TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange x25519 server-signature ECDSA (prime256v1) server-digest SHA256';

test('node:tls client through the proxy to the demo backend: data, QUIT, exact log lines', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  try {
    const c = await connectTls(d.port, { ciphers: 'TLS_AES_128_GCM_SHA256' });
    await c.waitFor('220 tlsproxy demo backend ready: type a line and it is echoed back, QUIT to close\r\n');
    c.socket.write('hello through TLS\r\n');
    await c.waitFor('250 echo: hello through TLS\r\n');
    c.socket.write('QUIT\r\n');
    const all = await c.closed;
    assert.ok(all.endsWith('221 bye\r\n'), all);
    await d.log.waitFor(/^DISCONNECT/);
    const peer = `[127.0.0.1]:${c.localPort}`;
    assert.equal(d.log.messages.filter((m) => m.includes(peer)), [
      `CONNECT from ${peer}`,
      `Anonymous TLS connection established from ${peer}: ${SUMMARY_128}`,
      `DISCONNECT ${peer}`,
    ]);
    // the full line format: time stamp, first host label, syslog_name/tlsproxy[pid]
    const line = d.log.lines.find((l) => l.includes('CONNECT from'))!;
    assert.match(line, new RegExp(`^[A-Z][a-z]{2} \\d\\d \\d\\d:\\d\\d:\\d\\d testhost postfix/tlsproxy\\[${process.pid}\\]: CONNECT from \\[127\\.0\\.0\\.1\\]:${c.localPort}$`));
  } finally {
    await d.close();
    await demo.close();
  }
});

test('openssl s_client -tls1_3 exchanges data; summary line as Postfix 3.11 with OpenSSL 3 prints it', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  try {
    const pki = await testPki();
    const r = await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${d.port}`, '-tls1_3', '-quiet', '-ciphersuites', 'TLS_AES_128_GCM_SHA256', '-CAfile', pki.ca, '-verify_return_error', '-servername', 'localhost'],
      'first line\nsecond line\nQUIT\n',
      1500,
    );
    assert.match(r.stdout, /^220 tlsproxy demo backend ready.*\r\n250 echo: first line\r\n250 echo: second line\r\n221 bye\r\n$/);
    await d.log.waitFor(/^DISCONNECT/);
    const summary = d.log.messages.find((m) => m.startsWith('Anonymous'))!;
    assert.match(summary, new RegExp(`^Anonymous TLS connection established from \\[127\\.0\\.0\\.1\\]:\\d+: ${SUMMARY_128.replace(/[()]/g, '\\$&')}$`));
  } finally {
    await d.close();
    await demo.close();
  }
});

test('RSA certificate: summary shows RSA-PSS (2048 bits); TLS 1.2 client has no key-exchange part', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  try {
    const pki = await testPki();
    const r = await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${d.port}`, '-tls1_3', '-quiet', '-sigalgs', 'rsa_pss_rsae_sha256', '-CAfile', pki.ca, '-verify_return_error'],
      'QUIT\n',
      1000,
    );
    assert.match(r.stdout, /221 bye/);
    const rsa = await d.log.waitFor(/^Anonymous/);
    assert.match(rsa.text, / TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256\/256 bits\) key-exchange x25519 server-signature RSA-PSS \(2048 bits\) server-digest SHA256$/);
    d.log.clear();
    const r12 = await run('openssl', ['s_client', '-connect', `127.0.0.1:${d.port}`, '-tls1_2', '-quiet', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256', '-CAfile', pki.ca], 'QUIT\n', 1000);
    assert.match(r12.stdout, /221 bye/);
    const line = await d.log.waitFor(/^Anonymous/);
    assert.match(line.text, /^Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+: TLSv1\.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 \(128\/128 bits\)$/);
  } finally {
    await d.close();
    await demo.close();
  }
});

test('handshake failure: warning, TLS handshake failed for service=... peer=..., DISCONNECT; other sessions unaffected', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  try {
    // A healthy session stays open across the failure.
    const good = await connectTls(d.port);
    await good.waitFor('220 ');
    // Plaintext instead of a ClientHello.
    const raw = net.connect(d.port, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    const peer = `[127.0.0.1]:${raw.localPort}`;
    raw.write('EHLO plaintext.example\r\n');
    raw.on('error', () => undefined);
    const gotBack: Buffer[] = [];
    raw.on('data', (b) => gotBack.push(b));
    await new Promise((r) => raw.once('close', r));
    await d.log.waitFor(`DISCONNECT ${peer}`);
    const mine = d.log.messages.filter((m) => m.includes(peer) || m.startsWith('warning: TLS library problem'));
    assert.is(mine[0], `CONNECT from ${peer}`);
    assert.match(mine[1]!, /^warning: TLS library problem: .*\(sent \w+ alert\)$/);
    assert.is(mine[2], `TLS handshake failed for service=127.0.0.1:0 peer=${peer}`);
    assert.is(mine[3], `DISCONNECT ${peer}`);
    // we answered with a plaintext fatal alert record
    const alert = Buffer.concat(gotBack);
    assert.is(alert[0], 21);
    assert.is(alert[5], 2);

    good.socket.write('still here\n');
    await good.waitFor('250 echo: still here');
    good.socket.end();
    await good.closed;
  } finally {
    await d.close();
    await demo.close();
  }
});

test('openssl s_client offering only TLS 1.1: protocol_version, handshake failed line', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  try {
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${d.port}`, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], '', 0);
    assert.ok(r.code !== 0);
    await d.log.waitFor(/^DISCONNECT/);
    assert.ok(d.log.messages.some((m) => /^warning: TLS library problem: .*protocol_version/.test(m)), d.log.messages.join('\n'));
    assert.ok(d.log.messages.some((m) => /^TLS handshake failed for service=127\.0\.0\.1:0 peer=\[127\.0\.0\.1\]:\d+$/.test(m)));
  } finally {
    await d.close();
    await demo.close();
  }
});

test('backend down: warning names the backend, client gets close_notify, daemon keeps serving', async () => {
  const port = await closedPort();
  const d = await startDaemon(await certMainCf(), tlsproxyService(`inet:127.0.0.1:${port}`));
  try {
    for (let i = 0; i < 2; i++) {
      const c = await connectTls(d.port);
      let ended = false;
      c.socket.once('end', () => (ended = true));
      await c.closed;
      assert.ok(ended, 'TLS client saw an orderly end (close_notify)');
      const peer = `[127.0.0.1]:${c.localPort}`;
      await d.log.waitFor(`DISCONNECT ${peer}`);
      assert.ok(d.log.messages.includes(`warning: connect to backend inet:127.0.0.1:${port} for ${peer}: Connection refused`), d.log.messages.join('\n'));
    }
  } finally {
    await d.close();
  }
});

// The node provider seals and opens synchronously; the webcrypto provider's every record is a promise,
// so several reads are in flight at once (stream.ts: MAX_SEALING, the backlog) and must arrive in order.
for (const provider of ['node', 'webcrypto'] as const) test(`bulk relay both ways with backpressure, ${provider} provider: 8 MiB echoed intact`, async () => {
  const backend = await echoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(backend.address, `-o tlsproxy_crypto_provider=${provider}`));
  try {
    const c = await connectTls(d.port);
    c.socket.setEncoding('latin1' as BufferEncoding);
    const data = randomBytes(8 * 1024 * 1024);
    const chunks: Buffer[] = [];
    let got = 0;
    c.socket.removeAllListeners('data');
    const done = new Promise<void>((resolve) => {
      c.socket.on('data', (s: string) => {
        const b = Buffer.from(s, 'latin1');
        chunks.push(b);
        got += b.length;
        if (got >= data.length) resolve();
      });
    });
    // Stall the reader for a while so backpressure must kick in along the whole path.
    c.socket.pause();
    for (let off = 0; off < data.length; off += 65536) c.socket.write(data.subarray(off, off + 65536));
    await delay(300);
    c.socket.resume();
    await done;
    assert.ok(Buffer.concat(chunks).equals(data), 'echoed bytes differ');
    c.socket.end();
    await c.closed;
    await d.log.waitFor(/^DISCONNECT/);
  } finally {
    await d.close();
    await backend.close();
  }
});

test('client close_notify half-closes the backend; its late answer still arrives', async () => {
  const backend = await startBackend((s) => {
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (text += d));
    s.on('end', () => setTimeout(() => s.end(`got ${text.length} bytes, bye\n`), 50));
  });
  const d = await startDaemon(await certMainCf(), tlsproxyService(backend.address));
  try {
    const c = await connectTls(d.port, { allowHalfOpen: true } as never);
    c.socket.end('0123456789');
    const all = await c.closed;
    assert.is(all, 'got 10 bytes, bye\n');
    await d.log.waitFor(/^DISCONNECT/);
  } finally {
    await d.close();
    await backend.close();
  }
});

test('backend closing first: close_notify to the client, DISCONNECT', async () => {
  const backend = await startBackend((s) => s.end('short answer\n'));
  const d = await startDaemon(await certMainCf(), tlsproxyService(backend.address));
  try {
    const c = await connectTls(d.port);
    let ended = false;
    c.socket.once('end', () => (ended = true));
    assert.is(await c.closed, 'short answer\n');
    assert.ok(ended);
    await d.log.waitFor(`DISCONNECT [127.0.0.1]:${c.localPort}`);
  } finally {
    await d.close();
    await backend.close();
  }
});

test('unix: backend, IPv6 listener and endpoint format [::1]:port', async () => {
  const sock = path.join(tempDir('tlsproxy-sock-'), 'backend.sock');
  const backend = await startBackend((s) => s.end('from unix socket\n'), { path: sock });
  const d = await startDaemon(await certMainCf(), tlsproxyService(`unix:${sock}`, '', '[::1]:0'));
  try {
    assert.is(d.host, '::1');
    const c = await connectTls(d.port, {}, '::1');
    assert.is(await c.closed, 'from unix socket\n');
    await d.log.waitFor(`DISCONNECT [::1]:${c.localPort}`);
    assert.ok(d.log.messages.includes(`CONNECT from [::1]:${c.localPort}`));
    assert.ok(d.log.messages.some((m) => m.startsWith(`Anonymous TLS connection established from [::1]:${c.localPort}: TLSv1.3 `)));
  } finally {
    await d.close();
    await backend.close();
  }
});

test('tlsproxy_tls_protocols = >=TLSv1.3 refuses a TLS 1.2 client', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address, '-o { tlsproxy_tls_protocols = >=TLSv1.3 }'));
  try {
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${d.port}`, '-tls1_2'], '', 0);
    assert.ok(r.code !== 0);
    await d.log.waitFor(/^TLS handshake failed for service=127\.0\.0\.1:0 peer=/);
    assert.ok(d.log.messages.some((m) => /^warning: TLS library problem: .*protocol_version/.test(m)), d.log.messages.join('\n'));
  } finally {
    await d.close();
    await demo.close();
  }
});

test('session resumption with a TLS 1.3 ticket: Reused, summary without server-signature', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  try {
    const pki = await testPki();
    const sess = path.join(tempDir(), 'session.pem');
    const base = ['s_client', '-connect', `127.0.0.1:${d.port}`, '-tls1_3', '-CAfile', pki.ca];
    const first = await run('openssl', [...base, '-sess_out', sess], 'quit\n', 1000); // 'Q' would be an s_client command
    assert.match(first.stdout, /^New, TLSv1\.3/m);
    const second = await run('openssl', [...base, '-sess_in', sess], 'quit\n', 1000);
    assert.match(second.stdout, /^Reused, TLSv1\.3/m);
    assert.match(second.stdout, /221 bye/);
    while (d.log.messages.filter((m) => m.startsWith('DISCONNECT')).length < 2) await delay(20);
    const summaries = d.log.messages.filter((m) => m.startsWith('Anonymous'));
    assert.match(summaries[0]!, / key-exchange x25519 server-signature ECDSA \(prime256v1\) server-digest SHA256$/);
    assert.match(summaries[1]!, /: TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256\/256 bits\) key-exchange x25519$/);
  } finally {
    await d.close();
    await demo.close();
  }
});

test('handshake timeout: warning, handshake failed, DISCONNECT', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address, '-o tlsproxy_handshake_timeout=1'));
  try {
    const raw = net.connect(d.port, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    const peer = `[127.0.0.1]:${raw.localPort}`;
    await new Promise((r) => raw.once('close', r));
    await d.log.waitFor(`DISCONNECT ${peer}`);
    assert.equal(d.log.messages.slice(-3), [`warning: ciphertext read/write timeout for ${peer}`, `TLS handshake failed for service=127.0.0.1:0 peer=${peer}`, `DISCONNECT ${peer}`]);
  } finally {
    await d.close();
    await demo.close();
  }
});

test('tlsproxy_crypto_provider = webcrypto works end to end; loglevel 0 logs no summary', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address, '-o tlsproxy_crypto_provider=webcrypto -o tlsproxy_tls_loglevel=0'));
  try {
    const c = await connectTls(d.port);
    await c.waitFor('220 ');
    c.socket.write('via webcrypto\n');
    await c.waitFor('250 echo: via webcrypto');
    c.socket.write('QUIT\n');
    await c.closed;
    await d.log.waitFor(/^DISCONNECT/);
    assert.not.ok(d.log.messages.some((m) => m.startsWith('Anonymous')));
  } finally {
    await d.close();
    await demo.close();
  }
});

test('start-up errors name the parameter and the file', async () => {
  const pki = await testPki();
  const master = tlsproxyService('inet:127.0.0.1:9');
  const attempt = async (mainCf: string, masterCf = master) => {
    const dir = writeConfig(mainCf, masterCf);
    const log = new MemorySink();
    try {
      const daemon = await Daemon.start(loadConfiguration(dir), { sink: log.sink });
      await daemon.close();
      return 'started';
    } catch (e) {
      assert.instance(e, ConfigError);
      return (e as Error).message;
    }
  };
  assert.is(await attempt('smtpd_tls_cert_file = /nonexistent/cert.pem'), 'tlsproxy_tls_cert_file=/nonexistent/cert.pem: cannot read the file: No such file or directory');
  assert.is(
    await attempt(`smtpd_tls_eccert_file = ${pki.file('server-ecdsa-p256.pem')}\nsmtpd_tls_eckey_file = /nonexistent/key.pem`),
    'tlsproxy_tls_eckey_file=/nonexistent/key.pem: cannot read the file: No such file or directory',
  );
  const mismatch = await attempt(`tlsproxy_tls_eccert_file = ${pki.file('server-ecdsa-p256.pem')}\ntlsproxy_tls_eckey_file = ${pki.file('server-ecdsa-p384-key.pem')}`);
  assert.match(mismatch, /^tlsproxy_tls_eckey_file=\S+server-ecdsa-p384-key\.pem: the private key does not match the certificate in tlsproxy_tls_eccert_file=/);
  assert.is(await attempt(''), "No server certs available. TLS can't be enabled");
  assert.is(await attempt('smtpd_tls_cert_file = none'), "No server certs available. TLS can't be enabled");
  assert.match(await attempt(await certMainCf(), '127.0.0.1:0 inet n - n - - tlsproxy'), /line 1: service 127\.0\.0\.1:0: tlsproxy_backend is not set/);
  assert.match(await attempt(await certMainCf(), tlsproxyService('bogus')), /^invalid tlsproxy_backend value "bogus": missing port/);
  assert.match(await attempt(await certMainCf('tlsproxy_tls_loglevel = loud')), /^invalid tlsproxy_tls_loglevel value: "loud"/);
  assert.match(await attempt(await certMainCf('tlsproxy_tls_security_level = dane')), /^Invalid TLS level "dane"$/);
  assert.match(await attempt(await certMainCf('tlsproxy_crypto_provider = openssl')), /^invalid tlsproxy_crypto_provider value: "openssl"/);
  assert.match(await attempt(await certMainCf(), 'smtp inet n - n - - smtpd'), /master\.cf: no inet service runs the tlsproxy command$/);
  assert.match(await attempt(await certMainCf(), `${master} extra`), /unexpected command-line argument: extra$/);
  // A port in use is a start-up error too, and nothing stays open.
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const busy = (blocker.address() as net.AddressInfo).port;
  try {
    assert.is(await attempt(await certMainCf(), tlsproxyService('inet:127.0.0.1:9', '', `127.0.0.1:${busy}`)), `bind 127.0.0.1 port ${busy}: Address already in use`);
  } finally {
    blocker.close();
  }
});

test('two services with their own -o settings; command-line -o wins', async () => {
  const a = await startBackend((s) => s.end('backend A\n'));
  const b = await startBackend((s) => s.end('backend B\n'));
  const dir = writeConfig(await certMainCf(), [tlsproxyService(a.address, '-o syslog_name=postfix-a'), tlsproxyService(b.address, '-o syslog_name=postfix-b', '127.0.0.2:0')].join('\n'));
  const log = new MemorySink();
  const daemon = await Daemon.start(loadConfiguration(dir, [{ name: 'tlsproxy_tls_loglevel', value: '0' }]), { sink: log.sink });
  try {
    const [la, lb] = daemon.listening;
    assert.is(await (await connectTls(la!.port, {}, '127.0.0.1')).closed, 'backend A\n');
    assert.is(await (await connectTls(lb!.port, {}, '127.0.0.2')).closed, 'backend B\n');
    while (log.messages.filter((m) => m.startsWith('DISCONNECT')).length < 2) await delay(20);
    assert.ok(log.lines.some((l) => / postfix-a\/tlsproxy\[\d+\]: CONNECT from \[127\.0\.0\.1\]/.test(l)));
    assert.ok(log.lines.some((l) => / postfix-b\/tlsproxy\[\d+\]: CONNECT from \[127\.0\.0\.1\]/.test(l)));
    assert.not.ok(log.messages.some((m) => m.startsWith('Anonymous')));
  } finally {
    await daemon.close();
    await a.close();
    await b.close();
  }
});

test('daemon.close() ends open sessions and stops listening', async () => {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  const c = await connectTls(d.port);
  await c.waitFor('220 ');
  assert.is(d.daemon.activeSessions, 1);
  await d.close();
  await c.closed;
  assert.is(d.daemon.activeSessions, 0);
  await new Promise<void>((resolve) => {
    const s = net.connect(d.port, '127.0.0.1');
    s.on('error', () => resolve());
    s.on('connect', () => {
      s.destroy();
      assert.unreachable('still listening');
    });
  });
  await demo.close();
});

test.run();
