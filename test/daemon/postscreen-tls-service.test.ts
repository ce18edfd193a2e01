/**
 * The TLS service every front end asks (proxy/tls-service.ts), on its own
 * and through the implicit-TLS front end:
 *
 *  - request → CONNECT; "not available" with the reason (not configured,
 *    disabled, session limit) → warning + DISCONNECT; decline() frees the
 *    reservation; one hand-over per answer;
 *  - the implicit-TLS (`tlsproxy`) front end under tlsproxy_process_session_limit:
 *    a client beyond the limit is closed at once with the service's lines,
 *    the next one after a session ended is served;
 *  - hand-over on a real socket: the plaintext Duplex works both ways, and
 *    DISCONNECT comes once the front end released it and TLS is closed.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import tls from 'node:tls';
import { Logger, MemorySink } from '../../proxy/log/log.js';
import { TlsService } from '../../proxy/tls/service.js';
import { certMainCf, connectTls, delay, echoBackend, startDaemon, testPki, tlsproxyService } from '../helpers/proxy.js';
import { loadConfiguration } from '../../proxy/config/configuration.js';
import { writeConfig } from '../helpers/proxy.js';
import { loadServices, localResumption } from '../../proxy/supervisor/daemon.js';

function service(options: Partial<ConstructorParameters<typeof TlsService>[0]> = {}): { svc: TlsService; log: MemorySink } {
  const log = new MemorySink();
  const svc = new TlsService({ name: 'svc', logger: new Logger({ sink: log.sink }), ...options });
  return { svc, log };
}

const REQ = { remote: '[192.0.2.7]:41862', role: 'server' as const, handshakeTimeout: 60, sessionTimeout: 300, serverId: 'smtpd' };

test('not configured: CONNECT, warning with the reason, DISCONNECT; the answer carries the reason', () => {
  const { svc, log } = service({ unavailable: "No server certs available. TLS can't be enabled" });
  const a = svc.request(REQ);
  assert.equal(a, { available: false, reason: "No server certs available. TLS can't be enabled" });
  assert.equal(log.messages, [
    'CONNECT from [192.0.2.7]:41862',
    "warning: TLS server role is not available: No server certs available. TLS can't be enabled",
    'DISCONNECT [192.0.2.7]:41862',
  ]);
});

test('disabled by the security level: Postfix 3.11 wording per request; endpoint lower-cased', () => {
  const { svc, log } = service({ unavailable: 'TLS server role is disabled by configuration (tlsproxy_tls_security_level = none)', disabled: true });
  assert.is(svc.request({ ...REQ, remote: '[2001:DB8::25]:50112' }).available, false);
  assert.equal(log.messages, ['CONNECT from [2001:db8::25]:50112', 'warning: TLS server role is disabled by configuration', 'DISCONNECT [2001:db8::25]:50112']);
});

async function loadedService(extraMainCf = ''): Promise<{ svc: TlsService; log: MemorySink }> {
  const dir = writeConfig(await certMainCf(extraMainCf), tlsproxyService('inet:127.0.0.1:9'));
  const log = new MemorySink();
  const configuration = loadConfiguration(dir);
  const store = localResumption(configuration, new Logger({ sink: () => undefined }));
  const [running] = await loadServices(configuration, { sink: log.sink, resumption: store, logWarnings: false, logInit: false });
  store.close();
  return { svc: running!.tlsService, log };
}

test('session limit: reservations count, decline() frees one, the refusal names the limit', async () => {
  const { svc: base } = await loadedService();
  const log = new MemorySink();
  const svc = new TlsService({ name: 'svc', logger: new Logger({ sink: log.sink }), settings: base.settings, sessionLimit: 2 });
  const a = svc.request(REQ);
  const b = svc.request({ ...REQ, remote: '[192.0.2.8]:1' });
  assert.ok(a.available && b.available);
  assert.is(svc.activeSessions, 2);
  const c = svc.request({ ...REQ, remote: '[192.0.2.9]:1' });
  assert.equal(c, { available: false, reason: '2 TLS sessions in this process (tlsproxy_process_session_limit = 2)' });
  if (a.available) a.decline();
  if (a.available) a.decline();
  assert.is(svc.activeSessions, 1, 'decline twice frees once');
  assert.ok(svc.request({ ...REQ, remote: '[192.0.2.10]:1' }).available);
  assert.equal(log.messages.filter((m) => m.startsWith('warning')), ['warning: TLS server role is not available for [192.0.2.9]:1: 2 TLS sessions in this process (tlsproxy_process_session_limit = 2)']);
  assert.ok(log.messages.includes('DISCONNECT [192.0.2.7]:41862'), 'decline logs DISCONNECT');
});

test('hand-over on a real socket: plaintext both ways, one hand-over per answer, DISCONNECT after release() and close', async () => {
  const { svc: loaded } = await loadedService('tlsproxy_tls_loglevel = 1');
  const log = new MemorySink();
  const svc = new TlsService({ name: 'svc', logger: new Logger({ sink: log.sink }), settings: loaded.settings });
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const pki = await testPki();
  const client = tls.connect({ port, host: '127.0.0.1', ca: pki.caPem, servername: 'localhost' });
  client.on('error', () => undefined);
  try {
    const socket = await accepted;
    const answer = svc.request({ ...REQ, remote: `[127.0.0.1]:${socket.remotePort}` });
    assert.ok(answer.available);
    if (!answer.available) return;
    const h = answer.handOver(socket);
    assert.throws(() => answer.handOver(socket), /hand-over after the answer was used/);
    await new Promise((r) => client.once('secureConnect', r));
    h.stream.write('hello from the front end\n');
    const got = await new Promise<string>((r) => client.once('data', (d: Buffer) => r(d.toString())));
    assert.is(got, 'hello from the front end\n');
    client.write('and back\n');
    const back = await new Promise<string>((r) => h.stream.once('data', (d: Buffer) => r(d.toString())));
    assert.is(back, 'and back\n');
    assert.ok(h.info?.protocol === 'TLSv1.3');
    client.end();
    await new Promise((r) => h.stream.once('end', r));
    assert.not.ok(log.messages.some((m) => m.startsWith('DISCONNECT')), 'not before release()');
    h.release();
    await new Promise((r) => (h.stream.destroyed ? r(undefined) : h.stream.once('close', r)));
    await delay(20);
    const mine = log.messages.filter((m) => m.includes(`]:${socket.remotePort}`));
    assert.is(mine[0], `CONNECT from [127.0.0.1]:${socket.remotePort}`);
    assert.match(mine[1]!, /^Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+: TLSv1\.3 /);
    assert.is(mine[2], `DISCONNECT [127.0.0.1]:${socket.remotePort}`);
    assert.is(svc.activeSessions, 0);
  } finally {
    client.destroy();
    server.close();
  }
});

test('implicit-TLS front end under tlsproxy_process_session_limit = 1: the second client is closed with the service lines, later ones are served', async () => {
  const backend = await echoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(backend.address, '-o tlsproxy_process_session_limit=1'));
  try {
    const first = await connectTls(d.port);
    first.socket.write('one\n');
    await first.waitFor('one\n');
    const raw = net.connect(d.port, '127.0.0.1');
    raw.on('error', () => undefined);
    await new Promise((r) => raw.once('connect', r));
    const peer = `[127.0.0.1]:${raw.localPort}`;
    await new Promise((r) => raw.once('close', r));
    assert.equal(d.log.messages.filter((m) => m.includes(peer)), [
      `CONNECT from ${peer}`,
      `warning: TLS server role is not available for ${peer}: 1 TLS sessions in this process (tlsproxy_process_session_limit = 1)`,
      `DISCONNECT ${peer}`,
    ]);
    first.socket.end();
    await first.closed;
    await d.log.waitFor(`DISCONNECT [127.0.0.1]:${first.localPort}`);
    const again = await connectTls(d.port);
    again.socket.write('two\n');
    await again.waitFor('two\n');
    again.socket.end();
    await again.closed;
    assert.is(d.daemon.activeSessions, 0);
  } finally {
    await d.close();
    await backend.close();
  }
});

test('implicit-TLS front end keeps refusing to start without certificates (TLS is its whole point)', async () => {
  let error: Error | undefined;
  try {
    const d = await startDaemon('myhostname = testhost.example', tlsproxyService('inet:127.0.0.1:9'));
    await d.close();
  } catch (e) {
    error = e as Error;
  }
  assert.match(error?.message ?? '', /No server certs available|certificate/);
});

test.run();
