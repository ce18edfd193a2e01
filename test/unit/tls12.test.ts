/**
 * TLS 1.2 engine tests without sockets: PRF vectors, the first flight, and
 * the state machine's refusal of out-of-order messages (the SMACK/SKIP
 * class), each with the exact alert.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { Writer, fromHex, hex } from '../../engine/codec.js';
import { AlertDescription, CipherSuite, ContentType, ExtensionType, HandshakeType } from '../../engine/constants.js';
import { ServerConnection } from '../../engine/connection.js';
import type { ServerConfig } from '../../engine/config.js';
import type { ConnectionError } from '../../engine/events.js';
import { parseServerHello } from '../../engine/messages/server-hello.js';
import { parseEcdheServerKeyExchange } from '../../engine/messages/server-key-exchange.js';
import { prf } from '../../engine/tls12/prf.js';
import { DOWNGRADE_TLS12 } from '../../engine/tls12/start.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { record, tls12Hello } from '../helpers/client-hello.js';
import { certifiedKeys } from '../helpers/pki.js';
import { idle } from '../helpers/wait.js';

const provider = createNodeCryptoProvider();

test('TLS 1.2 PRF, SHA-256 (the widely used test vector)', () => {
  const out = prf(provider, 'SHA-256', fromHex('9bbe436ba940f017b17652849a71db35'), 'test label', fromHex('a0ba9f936cda311827a6f796ffd5198c'), 100);
  assert.is(
    hex(out),
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
  );
});

test('TLS 1.2 PRF, SHA-384', () => {
  const out = prf(provider, 'SHA-384', fromHex('b80b733d6ceefcdc71566ea48e5567df'), 'test label', fromHex('cd665cf6a8447dd6ff8b27555edb7465'), 148);
  assert.is(
    hex(out),
    '7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e0990703d73e56f',
  );
});

interface Run {
  conn: ServerConnection;
  written: Uint8Array[];
  failure?: ConnectionError;
  warnings: string[];
}

async function server(overrides: Partial<ServerConfig> = {}): Promise<Run> {
  const certificates = await certifiedKeys(provider, ['p256', 'rsa']);
  const run: Run = { written: [], warnings: [] } as unknown as Run;
  run.conn = new ServerConnection(
    { provider, certificates, cipherSuites: [0x1301, 0x1302, 0x1303], groups: [0x1d, 0x17, 0x18], preferServerCiphers: false, ...overrides },
    {
      write: (b) => run.written.push(b),
      handshake: () => undefined,
      data: () => undefined,
      peerClosed: () => undefined,
      failed: (e) => (run.failure = e),
      warning: (w) => run.warnings.push(w),
    },
  );
  return run;
}

/** Everything fed so far processed (the node provider may sign or generate keys on the thread pool). */
const settle = (run: Run) => idle(run.conn);

/** Split the server's output into records. */
function records(written: Uint8Array[]): { type: number; body: Uint8Array }[] {
  const all = new Uint8Array(written.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of written) {
    all.set(b, o);
    o += b.length;
  }
  const out: { type: number; body: Uint8Array }[] = [];
  for (let i = 0; i + 5 <= all.length; ) {
    const len = (all[i + 3]! << 8) | all[i + 4]!;
    out.push({ type: all[i]!, body: all.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return out;
}

/** Handshake messages in the server's plaintext records. */
function messages(written: Uint8Array[]): { type: number; body: Uint8Array }[] {
  const hs = records(written).filter((r) => r.type === ContentType.handshake);
  const bytes = new Uint8Array(hs.reduce((n, r) => n + r.body.length, 0));
  let o = 0;
  for (const r of hs) {
    bytes.set(r.body, o);
    o += r.body.length;
  }
  const out: { type: number; body: Uint8Array }[] = [];
  for (let i = 0; i + 4 <= bytes.length; ) {
    const len = (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!;
    out.push({ type: bytes[i]!, body: bytes.subarray(i + 4, i + 4 + len) });
    i += 4 + len;
  }
  return out;
}

function lastAlert(written: Uint8Array[]): number | undefined {
  const a = records(written).filter((r) => r.type === ContentType.alert);
  return a.length ? a[a.length - 1]!.body[1] : undefined;
}

async function expectAlert(inputs: Uint8Array[], alert: number, overrides: Partial<ServerConfig> = {}): Promise<Run> {
  const run = await server(overrides);
  for (const i of inputs) {
    run.conn.receive(i);
    await settle(run);
  }
  assert.ok(run.failure, 'session failed');
  assert.is(run.failure!.alert, alert, `alert (reason: ${run.failure!.reason})`);
  assert.is(lastAlert(run.written), alert, 'alert on the wire');
  return run;
}

test('TLS 1.2 first flight: ServerHello with sentinel, RI, EMS; Certificate; ECDHE ServerKeyExchange; ServerHelloDone', async () => {
  const run = await server();
  run.conn.receive(record(ContentType.handshake, tls12Hello()));
  await settle(run);
  assert.is(run.failure, undefined);
  const msgs = messages(run.written);
  assert.equal(
    msgs.map((m) => m.type),
    [HandshakeType.server_hello, HandshakeType.certificate, HandshakeType.server_key_exchange, HandshakeType.server_hello_done],
  );
  const sh = parseServerHello(msgs[0]!.body);
  assert.is(sh.legacyVersion, 0x0303);
  assert.is(hex(sh.random.subarray(24)), hex(DOWNGRADE_TLS12), 'RFC 8446 §4.1.3 downgrade sentinel');
  assert.is(sh.cipherSuite, 0xc02b);
  const types = sh.extensions.map((e) => e.type);
  assert.ok(types.includes(ExtensionType.renegotiation_info));
  assert.ok(types.includes(ExtensionType.extended_master_secret));
  const ske = parseEcdheServerKeyExchange(msgs[2]!.body);
  assert.is(ske.group, 0x1d);
  assert.is(ske.point.length, 32);
  assert.is(ske.scheme, 0x0403);
});

test('TLS 1.2 only server: no downgrade sentinel', async () => {
  const run = await server({ versions: [0x0303] });
  run.conn.receive(record(ContentType.handshake, tls12Hello()));
  await settle(run);
  const sh = parseServerHello(messages(run.written)[0]!.body);
  assert.is.not(hex(sh.random.subarray(24)), hex(DOWNGRADE_TLS12));
});

test('TLS 1.2: RSA certificate chosen for ECDHE_RSA, scheme from the client list', async () => {
  const run = await server();
  run.conn.receive(record(ContentType.handshake, tls12Hello({ suites: [0xc030], sigalgs: [0x0401, 0x0804] })));
  await settle(run);
  const msgs = messages(run.written);
  assert.is(parseServerHello(msgs[0]!.body).cipherSuite, 0xc030);
  assert.is(parseEcdheServerKeyExchange(msgs[2]!.body).scheme, 0x0401);
});

test('TLS 1.2: no signature_algorithms (the SHA-1 defaults of RFC 5246 §7.4.1.4.1) is handshake_failure (RFC 9155 §5)', async () => {
  await expectAlert([record(ContentType.handshake, tls12Hello({ omit: [ExtensionType.signature_algorithms] }))], AlertDescription.handshake_failure);
});

test('SMACK: ChangeCipherSpec right after ClientHello is unexpected_message', async () => {
  await expectAlert([record(ContentType.handshake, tls12Hello()), record(ContentType.change_cipher_spec, Uint8Array.of(1))], AlertDescription.unexpected_message);
});

test('SKIP: Finished instead of ClientKeyExchange is unexpected_message', async () => {
  const fin = new Writer().u8(HandshakeType.finished).vec(3, new Uint8Array(12)).finish();
  await expectAlert([record(ContentType.handshake, tls12Hello()), record(ContentType.handshake, fin)], AlertDescription.unexpected_message);
});

test('an unrequested client Certificate is unexpected_message', async () => {
  const cert = new Writer().u8(HandshakeType.certificate).vec(3, fromHex('000000')).finish();
  await expectAlert([record(ContentType.handshake, tls12Hello()), record(ContentType.handshake, cert)], AlertDescription.unexpected_message);
});

function cke(): Uint8Array {
  const { publicKey } = generateKeyPairSync('x25519', { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } });
  return new Writer().u8(HandshakeType.client_key_exchange).begin(3).vec(1, publicKey.subarray(publicKey.length - 32)).close().finish();
}

test('SKIP: Finished without ChangeCipherSpec after ClientKeyExchange is unexpected_message', async () => {
  const fin = new Writer().u8(HandshakeType.finished).vec(3, new Uint8Array(12)).finish();
  await expectAlert(
    [record(ContentType.handshake, tls12Hello()), record(ContentType.handshake, cke()), record(ContentType.handshake, fin)],
    AlertDescription.unexpected_message,
  );
});

test('a malformed ChangeCipherSpec is unexpected_message', async () => {
  await expectAlert(
    [record(ContentType.handshake, tls12Hello()), record(ContentType.handshake, cke()), record(ContentType.change_cipher_spec, Uint8Array.of(2))],
    AlertDescription.unexpected_message,
  );
});

test('a client Finished that does not verify: bad_record_mac (encrypted with the wrong key)', async () => {
  const fin = new Writer().u8(HandshakeType.finished).vec(3, new Uint8Array(12)).finish();
  await expectAlert(
    [
      record(ContentType.handshake, tls12Hello()),
      record(ContentType.handshake, cke()),
      record(ContentType.change_cipher_spec, Uint8Array.of(1)),
      record(ContentType.handshake, new Uint8Array([...new Uint8Array(8), ...fin, ...new Uint8Array(16)])),
    ],
    AlertDescription.bad_record_mac,
  );
});

test('an X25519 ClientKeyExchange of the wrong length is illegal_parameter', async () => {
  const bad = new Writer().u8(HandshakeType.client_key_exchange).begin(3).vec(1, new Uint8Array(31).fill(9)).close().finish();
  await expectAlert([record(ContentType.handshake, tls12Hello()), record(ContentType.handshake, bad)], AlertDescription.illegal_parameter);
});

test('RFC 7507: TLS_FALLBACK_SCSV in a TLS 1.2 hello to a TLS 1.3 server is inappropriate_fallback', async () => {
  await expectAlert(
    [record(ContentType.handshake, tls12Hello({ suites: [0xc02b, CipherSuite.TLS_FALLBACK_SCSV] }))],
    AlertDescription.inappropriate_fallback,
  );
});

test('TLS 1.1 and TLS 1.0 hellos get protocol_version', async () => {
  await expectAlert([record(ContentType.handshake, tls12Hello({ version: 0x0302 }))], AlertDescription.protocol_version);
  await expectAlert([record(ContentType.handshake, tls12Hello({ version: 0x0301 }), 0x0301)], AlertDescription.protocol_version);
});

test('RFC 5746 §3.6: a non-empty renegotiation_info on an initial handshake is handshake_failure', async () => {
  const hello = tls12Hello({ omit: [ExtensionType.renegotiation_info], extra: [[ExtensionType.renegotiation_info, fromHex('0c' + '00'.repeat(12))]] });
  await expectAlert([record(ContentType.handshake, hello)], AlertDescription.handshake_failure);
});

test('a TLS 1.2 hello without the null compression method is illegal_parameter', async () => {
  await expectAlert([record(ContentType.handshake, tls12Hello({ compression: [1] }))], AlertDescription.illegal_parameter);
});

test('RFC 8422 §5.1.2: ec_point_formats without uncompressed is illegal_parameter', async () => {
  const hello = tls12Hello({ omit: [ExtensionType.ec_point_formats], extra: [[ExtensionType.ec_point_formats, Uint8Array.of(1, 1)]] });
  await expectAlert([record(ContentType.handshake, hello)], AlertDescription.illegal_parameter);
});

test('no shared TLS 1.2 suite is handshake_failure', async () => {
  await expectAlert([record(ContentType.handshake, tls12Hello({ suites: [0x002f, 0x0035] }))], AlertDescription.handshake_failure);
});

test('a failed resumed session is removed from the session cache (as OpenSSL does)', async () => {
  const { MemorySessionCache, encodeSession } = await import('../../engine/session.js');
  const cache = new MemorySessionCache();
  const id = new Uint8Array(32).fill(7);
  cache.put(
    id,
    encodeSession({
      version: 0x0303,
      cipherSuite: 0xc02b,
      secret: new Uint8Array(48).fill(1),
      extendedMasterSecret: true,
      createdAt: Date.now(),
      lifetime: 3600,
      ageAdd: 0,
      clientAuth: 0,
    }),
    3600,
  );
  const run = await server({ sessionCache: cache });
  run.conn.receive(record(ContentType.handshake, tls12Hello({ sessionId: id })));
  await settle(run);
  assert.is(run.failure, undefined);
  const sh = parseServerHello(messages(run.written)[0]!.body);
  assert.is(hex(sh.sessionIdEcho), hex(id), 'abbreviated handshake: the session ID is echoed');
  assert.ok(cache.get(id), 'still cached while the handshake is going on');
  run.conn.receive(record(ContentType.handshake, fromHex('14000000')));
  await settle(run);
  assert.is(run.failure?.alertName, 'unexpected_message');
  assert.is(cache.get(id), undefined, 'removed after the failure');
});

test.run();
