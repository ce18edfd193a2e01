/**
 * Interop against a real TLS 1.3 client: `openssl s_client` (OpenSSL 3)
 * talking to the engine (test/helpers/engine-server.ts, echo mode).
 *
 * Covers every suite x every group (node and webcrypto providers),
 * HelloRetryRequest, each certificate type chosen by -sigalgs, SNI
 * (exact, wildcard, fallback), ALPN (match, none, no overlap), KeyUpdate
 * in both directions, bulk data, and middlebox compatibility mode.
 */

import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CipherSuite, NamedGroup } from '../../engine/constants.js';
import { type EngineServer, type EngineServerOptions, type ProviderName, startEngineServer } from '../helpers/engine-server.js';
import { testPki } from '../helpers/pki.js';
import { killAll, Proc } from '../helpers/proc.js';

const pki = testPki();
const servers: EngineServer[] = [];

async function server(opts: EngineServerOptions = {}): Promise<EngineServer> {
  const s = await startEngineServer({ echoPrefix: 'echo:', ...opts });
  servers.push(s);
  return s;
}

function sClient(port: number, extra: readonly string[], opts: { servername?: string | null; verify?: boolean } = {}): Proc {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-CAfile', pki.caPath];
  if (opts.verify !== false) args.push('-verify_return_error');
  const sn = opts.servername === undefined ? 'localhost' : opts.servername;
  if (sn === null) args.push('-noservername');
  else args.push('-servername', sn);
  return new Proc('openssl', [...args, ...extra]);
}

interface Run {
  readonly p: Proc;
  readonly out: string;
  readonly code: number | null;
}

/** Handshake, send one line, wait for its echo, then EOF (s_client sends close_notify) and wait for exit. */
async function echoRun(port: number, extra: readonly string[] = [], opts: { servername?: string | null; line?: string } = {}): Promise<Run> {
  const p = sClient(port, extra, opts);
  try {
    const line = opts.line ?? `ping-${Math.random().toString(36).slice(2)}`;
    await p.waitFor('Verify return code', 5000, 'handshake summary');
    p.write(`${line}\n`);
    await p.waitFor(`echo:${line}`, 5000, 'echo');
    p.end();
    const code = await p.wait(5000);
    return { p, out: p.all, code };
  } finally {
    p.kill();
  }
}

/** Run s_client until it exits on its own (a handshake that fails). */
async function failRun(port: number, extra: readonly string[] = [], opts: { servername?: string | null } = {}): Promise<Run> {
  const p = sClient(port, extra, opts);
  try {
    p.write('never-echoed\n');
    const code = await p.wait(5000);
    return { p, out: p.all, code };
  } finally {
    p.kill();
  }
}

const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;
const GROUPS = [
  { openssl: 'x25519', engine: 'x25519', tempKey: 'Server Temp Key: X25519, 253 bits' },
  { openssl: 'P-256', engine: 'secp256r1', tempKey: 'Server Temp Key: ECDH, prime256v1, 256 bits' },
  { openssl: 'P-384', engine: 'secp384r1', tempKey: 'Server Temp Key: ECDH, secp384r1, 384 bits' },
] as const;

test.after(async () => {
  await killAll();
  await Promise.all(servers.map((s) => s.close()));
});

// ------------------------------------------------------- suites x groups

for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
  let srv: EngineServer | undefined;
  for (const suite of SUITES) {
    for (const g of GROUPS) {
      test(`[${providerName}] ${suite} x ${g.openssl}`, async () => {
        srv ??= await server({ provider: providerName });
        const before = srv.sessions.length;
        const r = await echoRun(srv.port, ['-ciphersuites', suite, '-groups', g.openssl]);
        assert.is(r.code, 0, r.out);
        assert.ok(r.out.includes(`New, TLSv1.3, Cipher is ${suite}`), r.out);
        assert.ok(r.out.includes(g.tempKey), r.out);
        assert.ok(r.out.includes('Verify return code: 0 (ok)'), r.out);
        const s = await srv.sessionDone(before + 1);
        assert.is(s.failure, undefined, JSON.stringify(s.failure));
        assert.is(s.info?.cipherName, suite);
        assert.is(s.info?.group, g.engine);
        assert.is(s.info?.helloRetry, false);
        assert.ok(s.closedCleanly, 'close_notify exchanged both ways');
      });
    }
  }
}

// --------------------------------------------------------- HelloRetryRequest

for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
  test(`[${providerName}] HelloRetryRequest: client shares P-256, server only takes x25519`, async () => {
    const srv = await server({ provider: providerName, config: { groups: [NamedGroup.x25519] } });
    const r = await echoRun(srv.port, ['-groups', 'P-256:x25519', '-msg']);
    assert.is(r.code, 0, r.out);
    // s_client -msg shows two ServerHellos: the HelloRetryRequest and the real one.
    assert.is(r.out.match(/<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], ServerHello/g)?.length, 2, r.out);
    // ... and a second ClientHello.
    assert.is(r.out.match(/>>> TLS 1\.3, Handshake \[length [0-9a-f]+\], ClientHello/g)?.length, 2, r.out);
    assert.ok(r.out.includes('Server Temp Key: X25519, 253 bits'), r.out);
    const s = await srv.sessionDone(1);
    assert.is(s.info?.helloRetry, true);
    assert.is(s.info?.group, 'x25519');
    assert.ok(s.traces.some((t) => t.startsWith('HelloRetryRequest for x25519')), s.traces.join('\n'));
    // Middlebox compatibility: exactly one CCS from the server (after the HRR), none after ServerHello.
    assert.is(r.out.match(/<<< TLS 1\.2, RecordHeader \[length 0005\]\n\s+14 03 03 00 01/g)?.length, 1, r.out);
  });
}

test('HelloRetryRequest to P-384 (server groups [secp384r1], client -groups x25519:P-384)', async () => {
  const srv = await server({ config: { groups: [NamedGroup.secp384r1] } });
  const r = await echoRun(srv.port, ['-groups', 'x25519:P-384']);
  assert.is(r.code, 0, r.out);
  assert.ok(r.out.includes('Server Temp Key: ECDH, secp384r1, 384 bits'), r.out);
  const s = await srv.sessionDone(1);
  assert.is(s.info?.helloRetry, true);
  assert.is(s.info?.group, 'secp384r1');
});

test('HelloRetryRequest without middlebox compatibility: no CCS at all', async () => {
  const srv = await server({ config: { groups: [NamedGroup.x25519] } });
  const r = await echoRun(srv.port, ['-groups', 'P-256:x25519', '-no_middlebox', '-msg']);
  assert.is(r.code, 0, r.out);
  assert.not.match(r.out, /<<< TLS 1\.2, RecordHeader \[length 0005\]\n\s+14 03 03/);
  const s = await srv.sessionDone(1);
  assert.is(s.info?.helloRetry, true);
});

test('a share for an acceptable group is used without HRR, even if not the server favourite', async () => {
  const srv = await server({ config: { groups: [NamedGroup.x25519, NamedGroup.secp384r1], preferServerCiphers: true } });
  const r = await echoRun(srv.port, ['-groups', 'P-384:x25519']);
  assert.is(r.code, 0, r.out);
  const s = await srv.sessionDone(1);
  assert.is(s.info?.helloRetry, false);
  assert.is(s.info?.group, 'secp384r1');
});

test('no common group: handshake_failure (40)', async () => {
  const srv = await server({ config: { groups: [NamedGroup.x25519] } });
  const r = await failRun(srv.port, ['-groups', 'P-384']);
  assert.is.not(r.code, 0);
  assert.match(r.out, /alert handshake failure[\s\S]*alert number 40/);
  const s = await srv.sessionDone(1);
  assert.is(s.failure?.alertName, 'handshake_failure');
});

// ------------------------------------------------------- cipher suite choice

test('no common cipher suite: handshake_failure (40)', async () => {
  const srv = await server({ config: { cipherSuites: [CipherSuite.TLS_AES_128_GCM_SHA256] } });
  const r = await failRun(srv.port, ['-ciphersuites', 'TLS_AES_256_GCM_SHA384']);
  assert.is.not(r.code, 0);
  assert.match(r.out, /alert number 40/);
  const s = await srv.sessionDone(1);
  assert.is(s.failure?.alertName, 'handshake_failure');
});

test('suite preference: server order with preferServerCiphers, client order without', async () => {
  const clientOrder = ['-ciphersuites', 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256'];
  const serverOrder = [CipherSuite.TLS_CHACHA20_POLY1305_SHA256, CipherSuite.TLS_AES_128_GCM_SHA256];
  const a = await server({ config: { cipherSuites: serverOrder, preferServerCiphers: true } });
  const ra = await echoRun(a.port, clientOrder);
  assert.ok(ra.out.includes('Cipher is TLS_CHACHA20_POLY1305_SHA256'), ra.out);
  const b = await server({ config: { cipherSuites: serverOrder, preferServerCiphers: false } });
  const rb = await echoRun(b.port, clientOrder);
  assert.ok(rb.out.includes('Cipher is TLS_AES_128_GCM_SHA256'), rb.out);
});

// ------------------------------------------------------- certificate types

const SIGALG_CASES = [
  { sigalgs: 'ecdsa_secp256r1_sha256', type: 'ECDSA', digest: 'SHA256', bits: 256, cn: 'test-p256' },
  { sigalgs: 'ecdsa_secp384r1_sha384', type: 'ECDSA', digest: 'SHA384', bits: 384, cn: 'test-p384' },
  { sigalgs: 'rsa_pss_rsae_sha256', type: 'RSA-PSS', digest: 'SHA256', bits: 2048, cn: 'test-rsa' },
  { sigalgs: 'rsa_pss_rsae_sha384', type: 'RSA-PSS', digest: 'SHA384', bits: 2048, cn: 'test-rsa' },
  { sigalgs: 'rsa_pss_rsae_sha512', type: 'RSA-PSS', digest: 'SHA512', bits: 2048, cn: 'test-rsa' },
  { sigalgs: 'ed25519', type: 'ed25519', digest: undefined, bits: 256, cn: 'test-ed25519' },
] as const;

for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
  let srv: EngineServer | undefined;
  for (const c of SIGALG_CASES) {
    test(`[${providerName}] certificate by -sigalgs ${c.sigalgs}`, async () => {
      srv ??= await server({ provider: providerName, certs: ['p256', 'p384', 'rsa', 'ed25519'] });
      const r = await echoRun(srv.port, ['-sigalgs', c.sigalgs]);
      assert.is(r.code, 0, r.out);
      assert.ok(r.out.includes(`Peer signature type: ${c.type}`), r.out);
      if (c.digest) assert.ok(r.out.includes(`Peer signing digest: ${c.digest}`), r.out);
      assert.ok(r.out.includes(`Server public key is ${c.bits} bit`), r.out);
      assert.ok(r.out.includes(`subject=CN = ${c.cn}`), r.out);
      assert.ok(r.out.includes('Verify return code: 0 (ok)'), r.out);
    });
  }
}

test('default signature algorithms pick the P-256 certificate (client order: ecdsa_secp256r1_sha256 first)', async () => {
  const srv = await server({ certs: ['rsa', 'ed25519', 'p384', 'p256'] });
  const r = await echoRun(srv.port);
  assert.ok(r.out.includes('subject=CN = test-p256'), r.out);
});

test('RSA-only server with an ECDSA-only client: handshake_failure (40)', async () => {
  const srv = await server({ certs: ['rsa'] });
  const r = await failRun(srv.port, ['-sigalgs', 'ecdsa_secp256r1_sha256']);
  assert.is.not(r.code, 0);
  assert.match(r.out, /alert number 40/);
  const s = await srv.sessionDone(1);
  assert.is(s.failure?.alertName, 'handshake_failure');
});

// -------------------------------------------------------------------- SNI

{
  let srv: EngineServer | undefined;
  const sni = async () => (srv ??= await server({ certs: ['sniDefault', 'sniA', 'sniWild'] }));
  const cases: { name: string | null; cn: string; matched: boolean }[] = [
    { name: 'a.example.test', cn: 'sni-a', matched: true },
    { name: 'A.Example.TEST', cn: 'sni-a', matched: true },
    { name: 'x.wild.test', cn: 'sni-wild', matched: true },
    { name: 'localhost', cn: 'sni-default', matched: true },
    { name: 'a.b.wild.test', cn: 'sni-default', matched: false },
    { name: 'unknown.test', cn: 'sni-default', matched: false },
    { name: null, cn: 'sni-default', matched: false },
  ];
  for (const c of cases) {
    test(`SNI ${c.name ?? '(none)'} -> ${c.cn}`, async () => {
      const s0 = await sni();
      const before = s0.sessions.length;
      const r = await echoRun(s0.port, [], { servername: c.name });
      assert.is(r.code, 0, r.out);
      assert.ok(r.out.includes(`subject=CN = ${c.cn}`), r.out);
      const s = await s0.sessionDone(before + 1);
      assert.is(s.info?.serverNameMatched, c.matched);
      assert.is(s.info?.serverName, c.name?.toLowerCase());
      assert.is(s.info?.certificateLabel, c.cn);
    });
  }
  test('SNI: hostname verification passes for the certificate served', async () => {
    const s0 = await sni();
    const r = await echoRun(s0.port, ['-verify_hostname', 'x.wild.test'], { servername: 'x.wild.test' });
    assert.is(r.code, 0, r.out);
    assert.ok(r.out.includes('Verify return code: 0 (ok)'), r.out);
  });
}

// ------------------------------------------------------------------- ALPN

test('ALPN: h2,http/1.1 against server [http/1.1] selects http/1.1', async () => {
  const srv = await server({ config: { alpn: ['http/1.1'] } });
  const r = await echoRun(srv.port, ['-alpn', 'h2,http/1.1']);
  assert.ok(r.out.includes('ALPN protocol: http/1.1'), r.out);
  const s = await srv.sessionDone(1);
  assert.is(s.info?.alpn, 'http/1.1');
});

test('ALPN: server preference order wins', async () => {
  const srv = await server({ config: { alpn: ['h2', 'http/1.1'] } });
  const r = await echoRun(srv.port, ['-alpn', 'http/1.1,h2']);
  assert.ok(r.out.includes('ALPN protocol: h2'), r.out);
});

test('ALPN: client without ALPN gets none', async () => {
  const srv = await server({ config: { alpn: ['http/1.1'] } });
  const r = await echoRun(srv.port);
  assert.ok(r.out.includes('No ALPN negotiated'), r.out);
});

test('ALPN: no overlap -> no_application_protocol (120)', async () => {
  const srv = await server({ config: { alpn: ['http/1.1'] } });
  const r = await failRun(srv.port, ['-alpn', 'h2']);
  assert.is.not(r.code, 0);
  assert.match(r.out, /alert number 120/);
  const s = await srv.sessionDone(1);
  assert.is(s.failure?.alertName, 'no_application_protocol');
  assert.is(s.failure?.direction, 'sent');
});

// -------------------------------------------------------------- KeyUpdate

/** Interactive s_client (command letters on): lines go out one by one. */
async function interactive(port: number, fn: (p: Proc) => Promise<void>, extra: readonly string[] = []): Promise<Proc> {
  const p = sClient(port, ['-msg', ...extra]);
  try {
    await p.waitFor('Verify return code', 5000, 'handshake');
    await fn(p);
    p.end();
    await p.wait(5000);
    return p;
  } finally {
    p.kill();
  }
}

async function say(p: Proc, line: string): Promise<void> {
  p.write(`${line}\n`);
  await p.waitFor(`echo:${line}`, 5000, `echo of ${line}`);
}

test('client KeyUpdate (k): server switches read keys, data keeps flowing both ways', async () => {
  const srv = await server();
  const p = await interactive(srv.port, async (p) => {
    await say(p, 'before');
    p.write('k\n');
    await p.waitFor('KEYUPDATE', 3000);
    await say(p, 'after-one');
    p.write('k\n');
    await p.waitFor(() => (p.all.match(/KEYUPDATE/g)?.length ?? 0) >= 2, 3000, 'second KEYUPDATE');
    await say(p, 'after-two');
  });
  assert.is(p.exitCode, 0, p.all);
  const s = await srv.sessionDone(1);
  assert.is(s.failure, undefined, JSON.stringify(s.failure));
  assert.is(s.traces.filter((t) => t === 'received KeyUpdate').length, 2, s.traces.join('\n'));
  assert.not.ok(s.traces.includes('sent KeyUpdate'), 'update_not_requested needs no answer');
  assert.ok(s.closedCleanly);
});

test('client KeyUpdate with update_requested (K): server answers with its own KeyUpdate', async () => {
  const srv = await server();
  const p = await interactive(srv.port, async (p) => {
    await say(p, 'before');
    p.write('K\n');
    await p.waitFor('KEYUPDATE', 3000);
    await say(p, 'after');
    await say(p, 'after-again');
  });
  assert.is(p.exitCode, 0, p.all);
  // s_client saw the server's KeyUpdate.
  assert.match(p.all, /<<< TLS 1\.3, Handshake \[length 0005\], KeyUpdate/);
  const s = await srv.sessionDone(1);
  assert.is(s.failure, undefined, JSON.stringify(s.failure));
  const iReq = s.traces.indexOf('received KeyUpdate (update_requested)');
  const iSent = s.traces.indexOf('sent KeyUpdate');
  assert.ok(iReq >= 0 && iSent > iReq, s.traces.join('\n'));
});

test('server-initiated KeyUpdate(update_requested): client answers, data keeps flowing', async () => {
  const srv = await server({ keyUpdateAfter: 1 });
  const p = await interactive(srv.port, async (p) => {
    await say(p, 'first');
    await say(p, 'second');
    await say(p, 'third');
  });
  assert.is(p.exitCode, 0, p.all);
  assert.match(p.all, /<<< TLS 1\.3, Handshake \[length 0005\], KeyUpdate/);
  // OpenSSL answers update_requested with its own KeyUpdate.
  assert.match(p.all, />>> TLS 1\.3, Handshake \[length 0005\], KeyUpdate/);
  const s = await srv.sessionDone(1);
  assert.is(s.failure, undefined, JSON.stringify(s.failure));
  const iSent = s.traces.indexOf('sent KeyUpdate (update_requested)');
  const iRecv = s.traces.indexOf('received KeyUpdate');
  assert.ok(iSent >= 0 && iRecv > iSent, s.traces.join('\n'));
});

test('many client KeyUpdates in a row with data in between (webcrypto)', async () => {
  const srv = await server({ provider: 'webcrypto' });
  const p = await interactive(srv.port, async (p) => {
    for (let i = 0; i < 10; i++) {
      // s_client drops the rest of a stdin read that starts with a command letter: wait for it.
      p.write(i % 2 ? 'K\n' : 'k\n');
      await p.waitFor(() => (p.all.match(/KEYUPDATE/g)?.length ?? 0) > i, 3000, `KEYUPDATE #${i + 1}`);
      await say(p, `round${i}`);
    }
  });
  assert.is(p.exitCode, 0, p.all);
  const s = await srv.sessionDone(1);
  assert.is(s.failure, undefined, JSON.stringify(s.failure));
  assert.is(s.traces.filter((t) => t.startsWith('received KeyUpdate')).length, 10);
});

// -------------------------------------------------------------- bulk data

async function bulk(providerName: ProviderName, size: number, extra: readonly string[] = []): Promise<void> {
  const srv = await server({ provider: providerName, echoPrefix: undefined });
  const data = randomBytes(size);
  const p = sClient(srv.port, ['-quiet', '-no_ign_eof', '-nocommands', ...extra]);
  try {
    // -quiet prints nothing but the data; write in pieces as the pipe accepts them.
    for (let off = 0; off < data.length; off += 64 * 1024) {
      if (!p.write(data.subarray(off, off + 64 * 1024))) {
        await new Promise<void>((r) => p.child.stdin.once('drain', () => r()));
      }
    }
    await p.waitFor(() => p.stdoutLength >= size, 20_000, `${size} bytes echoed (have ${p.stdoutLength})`);
    p.end();
    await p.wait(5000);
    assert.is(p.stdoutLength, size);
    assert.ok(p.stdout.equals(data), 'echoed bytes differ');
  } finally {
    p.kill();
  }
  const s = await srv.sessionDone(1);
  assert.is(s.failure, undefined, JSON.stringify(s.failure));
  assert.is(s.bytesIn, size);
}

test('1 MiB both ways through echo (node)', () => bulk('node', 1 << 20));
test('1 MiB both ways through echo (webcrypto)', () => bulk('webcrypto', 1 << 20));
test('256 KiB with ChaCha20-Poly1305 and P-384', () => bulk('node', 256 * 1024, ['-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256', '-groups', 'P-384']));
test('client pads every record to 1000 bytes (-record_padding): padding stripped (§5.4)', () =>
  bulk('node', 128 * 1024, ['-record_padding', '1000']));
test('client pads records with webcrypto', () => bulk('webcrypto', 64 * 1024, ['-record_padding', '4096']));
test('client sends 512-byte fragments (-max_send_frag 512)', () => bulk('node', 128 * 1024, ['-max_send_frag', '512']));
test('server record padding (config.padding) and advertised groups: openssl strips padding, data intact', async () => {
  const srv = await server({
    echoPrefix: undefined,
    config: { padding: (_type, length) => (length < 1000 ? 200 : 17), advertiseGroups: [NamedGroup.x25519, NamedGroup.secp256r1] },
  });
  const data = randomBytes(100_000);
  const p = sClient(srv.port, ['-quiet', '-no_ign_eof', '-nocommands']);
  try {
    p.write(data);
    await p.waitFor(() => p.stdoutLength >= data.length, 10_000, 'echo');
    p.end();
    await p.wait(5000);
  } finally {
    p.kill();
  }
  assert.ok(p.stdout.equals(data));
  const s = await srv.sessionDone(1);
  assert.is(s.failure, undefined, JSON.stringify(s.failure));
});

test('client max_fragment_length 512 (ignored by the server, records stay full-size) still works', () =>
  bulk('node', 64 * 1024, ['-maxfraglen', '512']));

// --------------------------------------------- compatibility mode, odd offers

test('middlebox compatibility: session id echoed and one CCS after ServerHello', async () => {
  const srv = await server();
  const r = await echoRun(srv.port, ['-msg']);
  assert.is(r.code, 0, r.out);
  assert.is(r.out.match(/<<< TLS 1\.2, RecordHeader \[length 0005\]\n\s+14 03 03 00 01/g)?.length, 1, r.out);
});

test('no middlebox compatibility (-no_middlebox): no CCS from the server', async () => {
  const srv = await server();
  const r = await echoRun(srv.port, ['-msg', '-no_middlebox']);
  assert.is(r.code, 0, r.out);
  assert.not.match(r.out, /<<< TLS 1\.2, RecordHeader \[length 0005\]\n\s+14 03 03/);
});

test('external PSK offered (-psk): server ignores pre_shared_key and authenticates with its certificate', async () => {
  const srv = await server();
  const r = await echoRun(srv.port, ['-psk', '0123456789abcdef0123456789abcdef', '-psk_identity', 'client1']);
  assert.is(r.code, 0, r.out);
  assert.ok(r.out.includes('subject=CN = test-p256'), r.out);
  const s = await srv.sessionDone(1);
  assert.is(s.info?.resumed, false);
});

test('post-handshake auth offered (-enable_pha) is ignored', async () => {
  const srv = await server();
  const r = await echoRun(srv.port, ['-enable_pha']);
  assert.is(r.code, 0, r.out);
});

test('server keeps serving after many sequential sessions (no leaked state)', async () => {
  const srv = await server();
  for (let i = 0; i < 5; i++) {
    const r = await echoRun(srv.port, ['-groups', GROUPS[i % 3]!.openssl]);
    assert.is(r.code, 0, r.out);
  }
  await srv.allDone(5);
  assert.is(srv.failures.length, 0);
});

test.run();
