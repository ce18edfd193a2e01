/**
 * Issue 10, "behaviours that differ from the RFCs" (the engine's share),
 * with hand-made records and exact alerts, as test/negative.test.ts does,
 * against a node-provider server and a webcrypto one:
 *
 *  1. an Alert or Handshake record with empty content (with or without
 *     padding, under handshake or application keys, or in plaintext):
 *     unexpected_message (RFC 8446 §5.4), never decode_error;
 *  2. supported_versions offering TLS 1.3 with legacy_version below 0x0301:
 *     protocol_version (§4.1.2, §D);
 *  3. large but legal ClientHellos (one 65,400-byte extension, 4,000
 *     unassigned extensions, 32,000 signature schemes, 10,000 cipher
 *     suites, 64 KiB in 1-byte or in maximal records) are accepted in
 *     TLS 1.3, in TLS 1.2, and as ClientHello2 after a HelloRetryRequest;
 *     reassembly is linear (a 64 KiB hello in 1-byte records is timed);
 *  4. lengths past their container and messages over the bound (the
 *     longest legal ClientHello, 131,396 bytes): decode_error;
 *  6. TLS 1.2 ServerKeyExchange: ecdsa_sha224 when that is all the client
 *     offers (all three providers), never SHA-1 (RFC 9155);
 * and from the code review: one KeyUpdate answers a flight of
 * update_requested (§4.6.3); after a HelloRetryRequest a skipped early-data
 * record may be 2^14 + 256 bytes (§5.2).
 */

import { X509Certificate, verify as nodeVerify } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AlertDescription, ContentType, ExtensionType, HandshakeType } from '../../engine/constants.js';
import type { ServerConfig } from '../../engine/config.js';
import { ServerConnection } from '../../engine/connection.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { createJsCryptoProvider } from '../../engine/crypto/js.js';
import { createWebCryptoProvider } from '../../engine/crypto/webcrypto.js';
import type { ConnectionError } from '../../engine/events.js';
import { MAX_CLIENT_HELLO } from '../../engine/handshake-buffer.js';
import { parseEcdheServerKeyExchange } from '../../engine/messages/server-key-exchange.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { record as rec12, tls12Hello } from '../helpers/client-hello.js';
import { type EngineServer, type ProviderName, startEngineServer } from '../helpers/engine-server.js';
import {
  baseHello,
  cat,
  EXT,
  ext,
  type Ext,
  fatalAlertRecord,
  fragments,
  type HelloSpec,
  clientHello,
  handshakeMessage,
  hexBytes,
  record,
  u16,
  u24,
  u8,
  vec,
  withExt,
  x25519Key,
} from '../helpers/hello.js';
import { certifiedKeys, testPki } from '../helpers/pki.js';
import { rawHarness } from '../helpers/raw-harness.js';
import { RawConn, Tls13Client } from '../helpers/tls13-client.js';
import { idle, until } from '../helpers/wait.js';

const pki = testPki();
let srv: EngineServer;
let srv13: EngineServer;
const { open, hex, stillServes, session, expectPlainAlert, handshaken, connected, expectEncryptedAlert, closeAll } = rawHarness({
  caPem: pki.caPem,
  server: () => srv,
  sessionTimeoutMs: 10000,
});

test.after(async () => {
  closeAll();
  await srv?.close();
  await srv13?.close();
});

/** Complete a TLS 1.3 handshake with `spec` sent as `records` (default: maximal records), and echo data. */
async function completes(spec: HelloSpec, keys: ReturnType<typeof baseHello>['keys'], records?: Uint8Array[]): Promise<void> {
  const n = srv.sessions.length + 1;
  const c = await Tls13Client.connect(srv.port);
  open.add(c.raw);
  const f = await c.handshake(spec, keys, records);
  assert.not.ok(f.helloRetry);
  c.finish();
  c.sendData('large-hello');
  assert.is(Buffer.from(await c.readData(11, 10000)).toString(), 'large-hello');
  c.close();
  open.delete(c.raw);
  const s = await session(n);
  assert.ok(s.info, 'handshake completed');
}

/** A TLS 1.2 ClientHello (as `spec` minus the TLS 1.3 extensions) gets a TLS 1.2 ServerHello. */
async function tls12ServerHello(spec: HelloSpec): Promise<void> {
  const h = {
    ...spec,
    cipherSuites: [...spec.cipherSuites, 0xc02b, 0xc02f],
    extensions: spec.extensions!.filter((e) => e.type !== EXT.supported_versions && e.type !== EXT.key_share && e.type !== EXT.psk_key_exchange_modes),
  };
  const n = srv.sessions.length + 1;
  const c = await RawConn.open(srv.port);
  open.add(c);
  try {
    c.send(...fragments(clientHello(h)));
    const r = await c.nextRecord(10000);
    assert.ok(r, 'a record');
    assert.is(r!.type, 22, `handshake record, not ${r!.type} ${hex(r!.fragment.subarray(0, 8))}`);
    assert.is(r!.fragment[0], HandshakeType.server_hello);
    assert.is(hex(r!.fragment.subarray(4, 6)), '03 03', 'TLS 1.2 ServerHello');
  } finally {
    c.destroy();
    open.delete(c);
  }
  const s = await session(n);
  assert.is(s.failure?.alert, undefined, s.failure?.reason);
}

/** HelloRetryRequest first (empty key_share), then `spec` with a share as ClientHello2; both carry the same large content. */
async function completesAfterRetry(spec: HelloSpec): Promise<void> {
  const spec1 = withExt(spec, EXT.key_share, vec(2, new Uint8Array(0)));
  const n = srv.sessions.length + 1;
  const c = await Tls13Client.connect(srv.port);
  open.add(c.raw);
  const f1 = await c.handshake(spec1, []);
  assert.ok(f1.helloRetry, 'HelloRetryRequest');
  const k = x25519Key();
  const f2 = await c.retry(withExt(spec1, EXT.key_share, ext.keyShare([{ group: k.group, key: k.publicKey }]).data), [k], f1.serverHello);
  assert.not.ok(f2.helloRetry);
  c.finish();
  c.sendData('after-retry');
  assert.is(Buffer.from(await c.readData(11, 10000)).toString(), 'after-retry');
  c.close();
  open.delete(c.raw);
  assert.ok((await session(n)).info);
}

/** Extension block size of `exts` on the wire. */
const extBytes = (exts: readonly Ext[]) => exts.reduce((n, e) => n + 4 + e.data.length, 0);

/** The large-but-legal hellos of issue 10 item 3, each built on a base hello; `first` puts the big part first. */
function largeHellos(): { name: string; make: (first: boolean) => ReturnType<typeof baseHello> }[] {
  const with_ = (f: (h: HelloSpec) => HelloSpec) => (first: boolean) => {
    const b = baseHello();
    const spec = f(b.spec);
    if (first && spec.extensions) {
      // The big extension(s) move to the front; the order stays the same in ClientHello2.
      const big = spec.extensions.filter((e) => e.data.length > 1000 || e.type >= 0x4000);
      spec.extensions = [...big, ...spec.extensions.filter((e) => !big.includes(e))];
    }
    return { spec, keys: b.keys };
  };
  const fill = (h: HelloSpec, add: Ext[]) => ({ ...h, extensions: [...h.extensions!, ...add] });
  return [
    {
      name: 'one unassigned extension filling the extensions block (65,400+ bytes)',
      make: with_((h) => {
        const room = 0xffff - extBytes(h.extensions!) - 4;
        assert.ok(room >= 65400, `${room}`);
        return fill(h, [ext.raw(0x4444, new Uint8Array(room).fill(0x61))]);
      }),
    },
    {
      name: '4,000 empty unassigned extensions',
      make: with_((h) => fill(h, Array.from({ length: 4000 }, (_, i) => ext.raw(0x4000 + i, new Uint8Array(0))))),
    },
    {
      name: '4,000 unassigned extensions with a payload',
      make: with_((h) => fill(h, Array.from({ length: 4000 }, (_, i) => ext.raw(0x4000 + i, new Uint8Array(10).fill(i & 0xff))))),
    },
    {
      name: '32,000 signature schemes (the real ones last)',
      make: with_((h) => withExt(h, EXT.signature_algorithms, ext.signatureAlgorithms([...Array.from({ length: 32000 }, (_, i) => 0x0900 + (i % 0x6000)), 0x0403, 0x0804]).data)),
    },
    {
      name: '32,000 schemes in signature_algorithms_cert',
      make: with_((h) => fill(h, [ext.raw(50, vec(2, cat(...Array.from({ length: 32000 }, (_, i) => u16(0x0900 + (i % 0x6000))), u16(0x0403))))])),
    },
    {
      name: '10,000 cipher suites (the real ones last)',
      make: with_((h) => ({ ...h, cipherSuites: [...Array.from({ length: 10000 }, (_, i) => 0x2000 + i), ...h.cipherSuites] })),
    },
  ];
}

// =============================================================== in-process (TLS 1.2, all providers)

const PROVIDERS: Record<string, () => CryptoProvider> = {
  node: () => createNodeCryptoProvider(),
  webcrypto: () => createWebCryptoProvider(),
  js: () => createJsCryptoProvider(),
};

interface Run {
  conn: ServerConnection;
  written: Uint8Array[];
  failure?: ConnectionError;
}

async function engine(provider: CryptoProvider, overrides: Partial<ServerConfig> = {}): Promise<Run> {
  const certificates = await certifiedKeys(provider, ['p256', 'rsa']);
  const run = { written: [] } as unknown as Run;
  run.conn = new ServerConnection(
    { provider, certificates, cipherSuites: [0x1301, 0x1302, 0x1303], groups: [0x1d, 0x17, 0x18], preferServerCiphers: false, ...overrides },
    { write: (b) => run.written.push(b), handshake: () => undefined, data: () => undefined, peerClosed: () => undefined, failed: (e) => (run.failure = e) },
  );
  return run;
}

/** Everything fed so far processed (asynchronous providers sign and derive later): output or a failure, then idle. */
const settle = async (run: Run) => {
  await until(() => run.failure || run.written.length, 'the server to answer');
  await idle(run.conn);
};

function handshakeMessages(written: Uint8Array[]): { type: number; body: Uint8Array }[] {
  const all = Buffer.concat(written);
  const hs: Buffer[] = [];
  for (let i = 0; i + 5 <= all.length; ) {
    const len = all.readUInt16BE(i + 3);
    if (all[i] === ContentType.handshake) hs.push(all.subarray(i + 5, i + 5 + len));
    i += 5 + len;
  }
  const bytes = Buffer.concat(hs);
  const out: { type: number; body: Uint8Array }[] = [];
  for (let i = 0; i + 4 <= bytes.length; ) {
    const len = bytes.readUIntBE(i + 1, 3);
    out.push({ type: bytes[i]!, body: bytes.subarray(i + 4, i + 4 + len) });
    i += 4 + len;
  }
  return out;
}

function wireAlert(written: Uint8Array[]): number | undefined {
  const all = Buffer.concat(written);
  let last: number | undefined;
  for (let i = 0; i + 5 <= all.length; ) {
    const len = all.readUInt16BE(i + 3);
    if (all[i] === ContentType.alert && len === 2) last = all[i + 6];
    i += 5 + len;
  }
  return last;
}

for (const [name, make] of Object.entries(PROVIDERS)) {
  const provider = make();
  const random = new Uint8Array(32).fill(0x42);

  test(`[${name}] 6. TLS 1.2: a client offering only ecdsa_sha224 gets an ECDSA-SHA224 ServerKeyExchange that verifies`, async () => {
    const run = await engine(provider);
    run.conn.receive(rec12(ContentType.handshake, tls12Hello({ suites: [0xc02b], sigalgs: [0x0303], random })));
    await settle(run);
    assert.is(run.failure, undefined, run.failure?.reason);
    const msgs = handshakeMessages(run.written);
    const serverRandom = msgs[0]!.body.subarray(2, 34);
    const ske = parseEcdheServerKeyExchange(msgs[2]!.body);
    assert.is(ske.scheme, 0x0303);
    const leaf = new X509Certificate(Buffer.from(pki.certs.p256.certDer));
    const signed = Buffer.concat([random, serverRandom, ske.params]);
    assert.ok(nodeVerify('sha224', signed, { key: leaf.publicKey, dsaEncoding: 'der' }, ske.signature), 'ECDSA-SHA224 signature verifies');
  });

  test(`[${name}] 6. TLS 1.2: ecdsa_sha1 listed first is skipped for the next scheme (RFC 9155)`, async () => {
    const run = await engine(provider);
    run.conn.receive(rec12(ContentType.handshake, tls12Hello({ suites: [0xc02b, 0xc02f], sigalgs: [0x0203, 0x0201, 0x0403], random })));
    await settle(run);
    assert.is(run.failure, undefined, run.failure?.reason);
    assert.is(parseEcdheServerKeyExchange(handshakeMessages(run.written)[2]!.body).scheme, 0x0403);
  });

  test(`[${name}] 6. TLS 1.2: only SHA-1 schemes, or no signature_algorithms at all -> handshake_failure (40) (RFC 9155)`, async () => {
    for (const hello of [tls12Hello({ sigalgs: [0x0203, 0x0201] }), tls12Hello({ omit: [ExtensionType.signature_algorithms] })]) {
      const run = await engine(provider);
      run.conn.receive(rec12(ContentType.handshake, hello));
      await settle(run);
      assert.is(run.failure?.alert, AlertDescription.handshake_failure, run.failure?.reason);
      assert.is(wireAlert(run.written), AlertDescription.handshake_failure);
      assert.is(handshakeMessages(run.written).length, 0, 'no ServerHello');
    }
  });

  test(`[${name}] 1. TLS 1.2: an empty plaintext alert record after the ClientHello -> unexpected_message (10)`, async () => {
    const run = await engine(provider);
    run.conn.receive(rec12(ContentType.handshake, tls12Hello()));
    await settle(run);
    run.conn.receive(hexBytes('15 03 03 00 00'));
    await settle(run);
    assert.is(run.failure?.alert, AlertDescription.unexpected_message, run.failure?.reason);
    assert.is(wireAlert(run.written), AlertDescription.unexpected_message);
  });

  test(`[${name}] 4. TLS 1.2: the longest possible ClientHello (131,396 bytes) is accepted; one byte more is decode_error (50)`, async () => {
    // Every field at its maximum: 32-byte session id, 32,767 cipher suites, 255 compression methods, 65,535 bytes of extensions.
    const suites = [0xc02b, ...Array.from({ length: 32767 }, (_, i) => 0x3000 + i).filter((s) => s !== 0x5600)]; // not TLS_FALLBACK_SCSV
    const base: [number, Uint8Array][] = [
      [ExtensionType.supported_groups, vec(2, cat(u16(0x1d), u16(0x17)))],
      [ExtensionType.signature_algorithms, vec(2, cat(u16(0x0403), u16(0x0804)))],
      [ExtensionType.ec_point_formats, Uint8Array.of(1, 0)],
    ];
    const used = base.reduce((n, [, d]) => n + 4 + d.length, 0);
    const exts: [number, Uint8Array][] = [...base, [0x4444, new Uint8Array(0xffff - used - 4)]];
    const compression = [0, ...Array.from({ length: 254 }, (_, i) => i + 1)];
    const hello = tls12Hello({ suites, extensions: exts, compression, sessionId: new Uint8Array(32).fill(7), random });
    assert.is(hello.length - 4, MAX_CLIENT_HELLO);
    const run = await engine(provider);
    for (let off = 0; off < hello.length; off += 1 << 14) run.conn.receive(rec12(ContentType.handshake, hello.subarray(off, off + (1 << 14))));
    await settle(run);
    assert.is(run.failure, undefined, run.failure?.reason);
    assert.is(handshakeMessages(run.written)[0]!.type, HandshakeType.server_hello);

    const over = await engine(provider);
    over.conn.receive(rec12(ContentType.handshake, cat(u8(1), u24(MAX_CLIENT_HELLO + 1), hello.subarray(4, 1000))));
    await settle(over);
    assert.is(over.failure?.alert, AlertDescription.decode_error, over.failure?.reason);
    assert.is(wireAlert(over.written), AlertDescription.decode_error);
  });
}

// =============================================================== over TCP, node and webcrypto servers

for (const P of ['node', 'webcrypto'] as ProviderName[]) {
  const t = (name: string, fn: () => unknown) => test(`[${P}] ${name}`, async () => void (await fn()));
  test(`[${P}] servers start`, async () => {
    await srv?.close();
    await srv13?.close();
    srv = await startEngineServer({ provider: P });
    srv13 = await startEngineServer({ provider: P, config: { versions: [0x0304] } });
  });

  // ----------------------------------------------------------- 1. empty content
  t('1. empty plaintext alert record before the ClientHello -> unexpected_message (10)', () => expectPlainAlert([hexBytes('15 03 03 00 00')], 10));
  for (const [what, padding] of [['', 0], [' with 100 bytes of padding', 100]] as const) {
    t(`1. protected alert with empty content${what}, handshake keys -> unexpected_message (10)`, async () => {
      const { c, n } = await handshaken();
      c.sendProtected(21, new Uint8Array(0), { padding });
      await expectEncryptedAlert(c, n, 10);
    });
    t(`1. protected alert with empty content${what}, application keys -> unexpected_message (10)`, async () => {
      const { c, n } = await connected();
      c.sendProtected(21, new Uint8Array(0), { padding });
      await expectEncryptedAlert(c, n, 10);
    });
    t(`1. protected handshake record with empty content${what}, handshake keys -> unexpected_message (10)`, async () => {
      const { c, n } = await handshaken();
      c.sendProtected(22, new Uint8Array(0), { padding });
      await expectEncryptedAlert(c, n, 10);
    });
    t(`1. protected handshake record with empty content${what}, application keys -> unexpected_message (10)`, async () => {
      const { c, n } = await connected();
      c.sendProtected(22, new Uint8Array(0), { padding });
      await expectEncryptedAlert(c, n, 10);
    });
  }

  // ----------------------------------------------------------- 2. legacy_version
  for (const v of [0x0000, 0x0001, 0x0002, 0x0100, 0x0102, 0x0103, 0x0200, 0x0300]) {
    t(`2. supported_versions [TLS 1.3] with legacy_version 0x${v.toString(16).padStart(4, '0')} -> protocol_version (70)`, async () => {
      const spec = { ...baseHello().spec, legacyVersion: v };
      await expectPlainAlert(fragments(clientHello(spec)), 70);
      await expectPlainAlert(fragments(clientHello(spec)), 70, { server: srv13 });
    });
  }
  t('2. legacy_version 0x0301 and 0x0302 with supported_versions [TLS 1.3] still negotiate TLS 1.3', async () => {
    for (const v of [0x0301, 0x0302]) {
      const b = baseHello();
      await completes({ ...b.spec, legacyVersion: v }, b.keys);
    }
  });

  // ----------------------------------------------------------- 3. large but legal hellos
  for (const h of largeHellos()) {
    t(`3. TLS 1.3: ${h.name}: accepted`, async () => {
      const { spec, keys } = h.make(false);
      await completes(spec, keys);
    });
    t(`3. TLS 1.2: ${h.name}: accepted`, () => tls12ServerHello(h.make(true).spec));
    t(`3. after HelloRetryRequest: ${h.name} (first and last): accepted`, async () => {
      await completesAfterRetry(h.make(false).spec);
      await completesAfterRetry(h.make(true).spec);
    });
  }
  t('3. a 64 KiB ClientHello in 1-byte records completes; reassembly stays linear', async () => {
    const b = baseHello();
    const room = 0xffff - extBytes(b.spec.extensions!) - 4;
    const spec = { ...b.spec, extensions: [...b.spec.extensions!, ext.raw(0x4444, new Uint8Array(room))] };
    const ch = clientHello(spec);
    assert.ok(ch.length > 65536);
    const started = process.cpuUsage();
    await completes(spec, b.keys, fragments(ch, 0x0301, 1));
    const used = process.cpuUsage(started);
    // Both sides of the test run in this process: the bound is generous, the old quadratic copy alone took ~0.5 s.
    assert.ok(used.user + used.system < 4_000_000, `${(used.user + used.system) / 1000} ms of CPU`);
  });
  t('3. a 64 KiB ClientHello in maximal (2^14-byte) records completes', async () => {
    const b = baseHello();
    const room = 0xffff - extBytes(b.spec.extensions!) - 4;
    const spec = { ...b.spec, extensions: [...b.spec.extensions!, ext.raw(0x4444, new Uint8Array(room))] };
    await completes(spec, b.keys, fragments(clientHello(spec), 0x0301, 1 << 14));
  });

  // ----------------------------------------------------------- 4. lengths and the bound
  t('4. ClientHello announcing 131,584 bytes -> decode_error (50), before buffering it', () =>
    expectPlainAlert([hexBytes('16 03 01 00 04 01 02 02 00')], 50));
  t('4. ClientHello announcing 16,777,021 bytes -> decode_error (50)', () => expectPlainAlert([hexBytes('16 03 01 00 04 01 ff ff 3d')], 50));
  t('4. padding extension whose length (65,535) runs past the extensions block -> decode_error (50)', () => {
    const body = clientHello(baseHello().spec).subarray(4);
    // Append a padding extension header claiming 65,535 bytes, none of which follow; fix the extensions block length.
    const extStart = 2 + 32 + 1 + body[34]!;
    const suitesLen = (body[extStart]! << 8) | body[extStart + 1]!;
    const compStart = extStart + 2 + suitesLen;
    const extsAt = compStart + 1 + body[compStart]!;
    const exts = body.subarray(extsAt + 2);
    const patched = cat(body.subarray(0, extsAt), u16(exts.length + 4), exts, u16(EXT.padding), u16(0xffff));
    return expectPlainAlert([record(22, handshakeMessage(1, patched), 0x0301)], 50);
  });
  t('4. any handshake message announcing more than the bound (a Finished of 16,777,215 bytes) -> decode_error (50)', () =>
    expectPlainAlert([hexBytes('16 03 01 00 04 14 ff ff ff')], 50));

  // ----------------------------------------------------------- KeyUpdate (RFC 8446 §4.6.3)
  t('KeyUpdate: 32 update_requested in one flight, then data: exactly one KeyUpdate answers them', async () => {
    const { c, n } = await connected();
    const parts = Array.from({ length: 32 }, () => c.sealKeyUpdate(true));
    parts.push(c.seal(23, new TextEncoder().encode('flight')));
    c.raw.send(cat(...parts));
    assert.is(Buffer.from(await c.readData(6, 5000)).toString(), 'flight');
    assert.is(c.serverKeyUpdates, 1);
    c.close();
    const s = await session(n);
    assert.is(s.failure, undefined, JSON.stringify(s.failure));
  });
  t('KeyUpdate: 640 update_requested in 32 flights with data: at most one KeyUpdate per flight, every echo arrives', async () => {
    const { c, n } = await connected();
    const parts: Uint8Array[] = [];
    let expect = '';
    for (let i = 0; i < 640; i++) {
      parts.push(c.sealKeyUpdate(true));
      if (i % 20 === 19) {
        const msg = `f${String(i).padStart(3, '0')};`;
        expect += msg;
        parts.push(c.seal(23, new TextEncoder().encode(msg)));
      }
    }
    c.raw.send(cat(...parts));
    assert.is(Buffer.from(await c.readData(expect.length, 10000)).toString(), expect);
    assert.ok(c.serverKeyUpdates >= 1 && c.serverKeyUpdates <= 32, `${c.serverKeyUpdates} KeyUpdates for 640 requests`);
    c.close();
    const s = await session(n);
    assert.is(s.failure, undefined, JSON.stringify(s.failure));
  });

  // ----------------------------------------------------------- early data after HelloRetryRequest (RFC 8446 §5.2)
  for (const [size, ok] of [[(1 << 14) + 256, true], [(1 << 14) + 257, false]] as const) {
    t(`early data after HelloRetryRequest: a skipped record of ${size} bytes ${ok ? 'is accepted' : '-> record_overflow (22)'}`, async () => {
      const { spec } = baseHello();
      const spec1 = withExt(spec, EXT.key_share, vec(2, new Uint8Array(0)));
      spec1.extensions!.push(ext.earlyData(), ext.preSharedKey());
      const n = srv.sessions.length + 1;
      const c = await Tls13Client.connect(srv.port);
      open.add(c.raw);
      const early = record(23, new Uint8Array(size).fill(5));
      if (!ok) {
        c.raw.send(...fragments(clientHello(spec1)), early);
        const r = await c.raw.readToEnd(3000);
        // The HelloRetryRequest, then the plaintext alert.
        assert.is(hex(r.data.subarray(r.data.length - 7)), hex(fatalAlertRecord(22)));
        assert.is((await session(n)).failure?.alert, 22);
        c.close();
        return;
      }
      const f1 = await c.handshake(spec1, [], [...fragments(clientHello(spec1)), early]);
      assert.ok(f1.helloRetry);
      const k = x25519Key();
      const spec2 = withExt(withExt(spec1, EXT.early_data, null), EXT.key_share, ext.keyShare([{ group: k.group, key: k.publicKey }]).data);
      await c.retry(spec2, [k], f1.serverHello);
      c.finish();
      c.sendData('big-0rtt');
      assert.is(Buffer.from(await c.readData(8)).toString(), 'big-0rtt');
      c.close();
    });
  }

  t('after all of the above the server still serves', async () => {
    await stillServes();
    await stillServes(srv13);
    assert.ok(srv.sessions.every((s) => s.thrown === undefined));
  });
}

test.run();
