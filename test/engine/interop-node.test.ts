/**
 * Interop against node:tls (OpenSSL inside node) as the client:
 * suites x groups on both providers, HelloRetryRequest, certificate types
 * by sigalgs, SNI, ALPN, large transfers with backpressure, and many
 * concurrent handshakes. (node:tls has no KeyUpdate API: see the openssl tests.)
 */

import { createHash, randomBytes } from 'node:crypto';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NamedGroup } from '../../engine/constants.js';
import { type EngineServer, type EngineServerOptions, type ProviderName, startEngineServer } from '../helpers/engine-server.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const servers: EngineServer[] = [];
const clients = new Set<tls.TLSSocket>();

async function server(opts: EngineServerOptions = {}): Promise<EngineServer> {
  const s = await startEngineServer(opts);
  servers.push(s);
  return s;
}

test.after(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(servers.map((s) => s.close()));
});

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))),
  ]);
}

/** Connect and wait for secureConnect (rejects on error / timeout). */
export function connect(port: number, opts: tls.ConnectionOptions = {}, timeoutMs = 5000): Promise<tls.TLSSocket> {
  return withTimeout(
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', ca: pki.caPem, servername: 'localhost', ...opts });
      clients.add(s);
      s.once('close', () => clients.delete(s));
      s.once('secureConnect', () => resolve(s));
      s.once('error', (e) => {
        s.destroy();
        reject(e);
      });
    }),
    timeoutMs,
    'handshake',
  ).catch((e) => {
    throw e;
  });
}

/** Send `data`, read exactly data.length bytes back, compare; end the socket cleanly. */
async function echo(s: tls.TLSSocket, data: Buffer, timeoutMs = 10_000): Promise<void> {
  const got: Buffer[] = [];
  let n = 0;
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= data.length) resolve();
    });
    s.once('error', reject);
    s.once('end', () => (n < data.length ? reject(new Error(`EOF after ${n} of ${data.length} bytes`)) : resolve()));
  });
  // Respect backpressure on the client side too.
  for (let off = 0; off < data.length; off += 64 * 1024) {
    if (!s.write(data.subarray(off, off + 64 * 1024))) await new Promise<void>((r) => s.once('drain', () => r()));
  }
  await withTimeout(done, timeoutMs, `echo of ${data.length} bytes (got ${n})`);
  const back = Buffer.concat(got);
  assert.is(back.length, data.length);
  assert.ok(back.equals(data), 'echoed data differs');
}

/** Close our side (close_notify) and wait for the server's close. */
async function closeClean(s: tls.TLSSocket): Promise<void> {
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.end();
  await withTimeout(closed, 5000, 'close');
}

const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;
const GROUPS = [
  { node: 'X25519', engine: 'x25519', size: 253 },
  { node: 'P-256', engine: 'secp256r1', size: 256 },
  { node: 'P-384', engine: 'secp384r1', size: 384 },
] as const;

for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
  let srv: EngineServer | undefined;
  for (const suite of SUITES) {
    for (const g of GROUPS) {
      test(`[${providerName}] node:tls ${suite} x ${g.node}`, async () => {
        srv ??= await server({ provider: providerName });
        const before = srv.sessions.length;
        const s = await connect(srv.port, { ciphers: suite, ecdhCurve: g.node });
        assert.is(s.getProtocol(), 'TLSv1.3');
        assert.is(s.getCipher().standardName, suite);
        const eph = s.getEphemeralKeyInfo() as { type?: string; name?: string; size?: number };
        assert.is(eph.name, g.node === 'X25519' ? 'X25519' : g.node === 'P-256' ? 'prime256v1' : 'secp384r1');
        assert.is(eph.size, g.size);
        assert.ok(s.authorized, String(s.authorizationError));
        await echo(s, Buffer.from('hello from node:tls\n'));
        await closeClean(s);
        const sess = await srv.sessionDone(before + 1);
        assert.is(sess.failure, undefined, JSON.stringify(sess.failure));
        assert.is(sess.info?.cipherName, suite);
        assert.is(sess.info?.group, g.engine);
        assert.ok(sess.closedCleanly, 'close_notify both ways');
      });
    }
  }
}

test('node:tls HelloRetryRequest (client P-256:X25519, server [x25519])', async () => {
  for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
    const srv = await server({ provider: providerName, config: { groups: [NamedGroup.x25519] } });
    const s = await connect(srv.port, { ecdhCurve: 'P-256:X25519' });
    assert.is((s.getEphemeralKeyInfo() as { name?: string }).name, 'X25519');
    await echo(s, Buffer.from('after retry'));
    await closeClean(s);
    const sess = await srv.sessionDone(1);
    assert.is(sess.info?.helloRetry, true, providerName);
  }
});

const SIGALGS = [
  { sigalgs: 'ecdsa_secp256r1_sha256', cn: 'test-p256', sig: 'ECDSA (prime256v1)' },
  { sigalgs: 'ecdsa_secp384r1_sha384', cn: 'test-p384', sig: 'ECDSA (secp384r1)' },
  { sigalgs: 'rsa_pss_rsae_sha256', cn: 'test-rsa', sig: 'RSA-PSS (2048 bits)' },
  { sigalgs: 'ed25519', cn: 'test-ed25519', sig: 'ED25519' },
] as const;

for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
  test(`[${providerName}] node:tls certificate type by sigalgs`, async () => {
    const srv = await server({ provider: providerName, certs: ['p256', 'p384', 'rsa', 'ed25519'] });
    let n = 0;
    for (const c of SIGALGS) {
      const s = await connect(srv.port, { sigalgs: c.sigalgs });
      assert.is(s.getPeerCertificate().subject.CN, c.cn);
      assert.ok(s.authorized);
      await closeClean(s);
      const sess = await srv.sessionDone(++n);
      assert.is(sess.info?.serverSignature, c.sig);
    }
  });
}

test('node:tls SNI: exact, wildcard, unknown (fallback, checkServerIdentity off)', async () => {
  const srv = await server({ certs: ['sniDefault', 'sniA', 'sniWild'] });
  const cases = [
    { servername: 'a.example.test', cn: 'sni-a' },
    { servername: 'q.wild.test', cn: 'sni-wild' },
    { servername: 'localhost', cn: 'sni-default' },
  ];
  for (const c of cases) {
    const s = await connect(srv.port, { servername: c.servername });
    assert.is(s.getPeerCertificate().subject.CN, c.cn, c.servername);
    assert.ok(s.authorized);
    await closeClean(s);
  }
  const s = await connect(srv.port, { servername: 'nobody.test', checkServerIdentity: () => undefined });
  assert.is(s.getPeerCertificate().subject.CN, 'sni-default');
  await closeClean(s);
  // A name that does not match the certificate fails verification on the client, as it should.
  await connect(srv.port, { servername: 'nobody.test' }).then(
    () => assert.unreachable('hostname mismatch accepted'),
    (e: NodeJS.ErrnoException) => assert.is(e.code, 'ERR_TLS_CERT_ALTNAME_INVALID'),
  );
});

test('node:tls ALPN: match, no ALPN, no overlap (no_application_protocol)', async () => {
  const srv = await server({ config: { alpn: ['http/1.1'] } });
  const a = await connect(srv.port, { ALPNProtocols: ['h2', 'http/1.1'] });
  assert.is(a.alpnProtocol, 'http/1.1');
  await closeClean(a);
  const b = await connect(srv.port);
  assert.is(b.alpnProtocol, false);
  await closeClean(b);
  await connect(srv.port, { ALPNProtocols: ['h2'] }).then(
    () => assert.unreachable('no overlap accepted'),
    (e: NodeJS.ErrnoException) => assert.match(String(e.code), /NO_APPLICATION_PROTOCOL/),
  );
  const sess = await srv.sessionDone(3);
  assert.is(sess.failure?.alertName, 'no_application_protocol');
});

// ------------------------------------------------------ large transfers

for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
  test(`[${providerName}] 8 MiB both ways with backpressure`, async () => {
    const srv = await server({ provider: providerName, highWater: 64 * 1024 });
    const s = await connect(srv.port);
    const data = randomBytes(8 << 20);
    await echo(s, data, 30_000);
    await closeClean(s);
    const sess = await srv.sessionDone(1);
    assert.is(sess.failure, undefined, JSON.stringify(sess.failure));
    assert.is(sess.bytesIn, data.length);
  });
}

test('slow reader: server stops reading while the client does not read, nothing lost', async () => {
  const srv = await server({ highWater: 64 * 1024 });
  const s = await connect(srv.port);
  const size = 6 << 20;
  const data = randomBytes(size);
  s.pause();
  let written = 0;
  // Write without waiting for drain until node's own buffer holds a lot: the server must push back.
  const writer = (async () => {
    for (let off = 0; off < size; off += 64 * 1024) {
      written += Math.min(64 * 1024, size - off);
      if (!s.write(data.subarray(off, off + 64 * 1024))) await new Promise<void>((r) => s.once('drain', () => r()));
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  const sess = srv.sessions[0]!;
  // While we do not read, the server must not have swallowed everything we wrote.
  assert.ok(sess.bytesIn < size, `server read ${sess.bytesIn} of ${size} while the client was not reading`);
  assert.ok(sess.socket.writableLength < 4 << 20, `server buffered ${sess.socket.writableLength} bytes of output`);
  const hash = createHash('sha256');
  let n = 0;
  const done = new Promise<void>((resolve) =>
    s.on('data', (d: Buffer) => {
      hash.update(d);
      n += d.length;
      if (n >= size) resolve();
    }),
  );
  s.resume();
  await withTimeout(Promise.all([writer, done]), 30_000, `slow reader echo (${n} of ${size}, wrote ${written})`);
  assert.is(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  await closeClean(s);
});

test('server writes first after the handshake completes, client half-close then close_notify answered', async () => {
  const srv = await server({ mode: 'sink', onHandshake: (sess) => sess.conn.write(new TextEncoder().encode('banner\r\n')) });
  const s = await connect(srv.port);
  const banner = await withTimeout(new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString()))), 3000, 'banner');
  assert.is(banner, 'banner\r\n');
  await closeClean(s);
  const sess = await srv.sessionDone(1);
  assert.ok(sess.closedCleanly);
});

test('server closes first (close_notify after a banner): client sees the data, then end', async () => {
  const srv = await server({
    mode: 'sink',
    onHandshake: (sess) => {
      sess.conn.write(new TextEncoder().encode('bye\r\n'));
      sess.conn.close();
    },
  });
  const s = await connect(srv.port);
  const got = await withTimeout(
    new Promise<string>((resolve) => {
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.once('end', () => resolve(text));
    }),
    3000,
    'end after banner',
  );
  assert.is(got, 'bye\r\n');
  s.end();
  const sess = await srv.sessionDone(1);
  assert.is(sess.failure, undefined, JSON.stringify(sess.failure));
});

// ------------------------------------------------------ concurrency

for (const [providerName, count] of [['node', 50], ['webcrypto', 20]] as [ProviderName, number][]) {
  test(`[${providerName}] ${count} concurrent handshakes with mixed suites and groups`, async () => {
    const srv = await server({ provider: providerName });
    const runs = Array.from({ length: count }, async (_, i) => {
      const s = await connect(srv.port, { ciphers: SUITES[i % 3], ecdhCurve: GROUPS[Math.floor(i / 3) % 3]!.node }, 15_000);
      await echo(s, Buffer.from(`client ${i}`), 15_000);
      await closeClean(s);
    });
    await withTimeout(Promise.all(runs), 30_000, 'concurrent handshakes');
    const sessions = await srv.allDone(count, 10_000);
    assert.is(sessions.length, count);
    assert.is(srv.failures.length, 0, JSON.stringify(srv.failures));
    assert.ok(sessions.every((s) => s.closedCleanly));
  });
}

test.run();
