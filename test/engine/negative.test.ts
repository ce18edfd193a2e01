/**
 * Hostile input against the engine over raw TCP. Before the handshake
 * keys exist, every test asserts the EXACT bytes the server writes back
 * (a plaintext fatal alert record, 15 03 03 00 02 02 <desc>, and then
 * the close); after the keys changed, the scripted client
 * (helpers/tls13-client.ts, node:crypto only) decrypts the alert. After
 * each test the same server must still complete a normal node:tls session.
 *
 * Alerts (RFC 8446 §6): 10 unexpected_message, 20 bad_record_mac,
 * 22 record_overflow, 40 handshake_failure, 47 illegal_parameter,
 * 50 decode_error, 51 decrypt_error, 70 protocol_version, 109 missing_extension.
 */

import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ServerConnection } from '../../engine/connection.js';
import { type EngineServer, engineConfig, type ProviderName, startEngineServer } from '../helpers/engine-server.js';
import {
  baseHello,
  cat,
  clientHello,
  DEFAULT_SIGALGS,
  EXT,
  ext,
  fatalAlertRecord,
  GROUP,
  type HelloSpec,
  handshakeMessage,
  helloBody,
  helloRecord,
  hexBytes,
  legacyHello,
  nistKey,
  record,
  SUITE,
  u16,
  u24,
  u8,
  vec,
  withExt,
  x25519Key,
} from '../helpers/hello.js';
import { testPki } from '../helpers/pki.js';
import { killAll, Proc } from '../helpers/proc.js';
import { rawHarness } from '../helpers/raw-harness.js';
import { HRR_RANDOM, Tls13Client } from '../helpers/tls13-client.js';

const pki = testPki();
/** The server under attack: default versions (TLS 1.3 and TLS 1.2). */
let srv: EngineServer;
/** A TLS 1.3-only server (versions [TLS 1.3]) for the version tests. */
let srv13: EngineServer;
const { open, hex, stillServes, raw, session, expectPlainAlert, handshaken, connected, expectEncryptedAlert, closeAll } = rawHarness({
  caPem: pki.caPem,
  server: () => srv,
});

test.after(async () => {
  closeAll();
  await killAll();
  await srv?.close();
  await srv13?.close();
});

/** The hello as one record, mutated by `f`. */
function mutated(f: (h: HelloSpec) => HelloSpec): Uint8Array {
  return helloRecord(f(baseHello().spec));
}

/** Raw body bytes with a patch: the record and handshake lengths follow the body. */
function bodyRecord(body: Uint8Array): Uint8Array {
  return record(22, handshakeMessage(1, body), 0x0301);
}

// Every test below runs against a node-provider server, then against a webcrypto one
// (asynchronous crypto: input processed while earlier records are still being opened).
for (const P of ['node', 'webcrypto'] as ProviderName[]) {
  const t = (name: string, fn: () => unknown) => test(`[${P}] ${name}`, async () => void (await fn()));
  test(`[${P}] servers start`, async () => {
    await srv?.close();
    await srv13?.close();
    srv = await startEngineServer({ provider: P });
    srv13 = await startEngineServer({ provider: P, config: { versions: [0x0304] } });
  });

  // =========================================================== versions

  t('TLS 1.3-only server: TLS 1.2-only ClientHello -> protocol_version (70)', () =>
    expectPlainAlert([helloRecord(legacyHello(0x0303))], 70, { server: srv13 }));
  t('TLS 1.3-only server: supported_versions [TLS 1.2] -> protocol_version (70)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.supported_versions, vec(1, u16(0x0303))))], 70, { server: srv13 }));
  t('TLS 1.1 ClientHello -> protocol_version (70)', () => expectPlainAlert([helloRecord(legacyHello(0x0302))], 70));
  t('TLS 1.0 ClientHello -> protocol_version (70)', () => expectPlainAlert([helloRecord(legacyHello(0x0301))], 70));
  t('SSL 3.0 ClientHello -> protocol_version (70)', () => expectPlainAlert([helloRecord(legacyHello(0x0300))], 70));
  t('supported_versions [TLS 1.1, TLS 1.0] -> protocol_version (70)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.supported_versions, vec(1, cat(u16(0x0302), u16(0x0301)))))], 70));
  t('supported_versions with only a draft version (0x7f1c) -> protocol_version (70)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.supported_versions, vec(1, u16(0x7f1c))))], 70));
  t('TLS 1.2 ClientHello with TLS_FALLBACK_SCSV to a TLS 1.3 server -> inappropriate_fallback (86) (RFC 7507)', () =>
    expectPlainAlert([helloRecord({ ...legacyHello(0x0303), cipherSuites: [...legacyHello(0x0303).cipherSuites, 0x5600] })], 86));
  t('TLS 1.2 ClientHello to the default server gets a TLS 1.2 ServerHello', async () => {
    const { c } = await raw();
    c.send(helloRecord(legacyHello(0x0303)));
    const r = await c.nextRecord(3000);
    assert.ok(r);
    assert.is(r!.type, 22);
    assert.is(r!.fragment[0], 2, 'ServerHello');
    assert.is(hex(r!.fragment.subarray(4, 6)), '03 03');
    c.destroy();
  });
  t('supported_versions is used, legacy_version ignored (legacy_version 0x0301 still negotiates 1.3)', async () => {
    const { spec, keys } = baseHello();
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake({ ...spec, legacyVersion: 0x0301 }, keys);
    c.finish();
    c.sendData('legacy-version-ok');
    assert.is(Buffer.from(await c.readData(17)).toString(), 'legacy-version-ok');
    c.close();
  });

  t('TLS 1.3-only server: openssl s_client -tls1_2 -> protocol_version (70) seen by the client', async () => {
    const n = srv13.sessions.length + 1;
    const p = new Proc('openssl', ['s_client', '-connect', `127.0.0.1:${srv13.port}`, '-tls1_2', '-servername', 'localhost']);
    try {
      p.end();
      await p.wait(5000);
      assert.match(p.all, /alert protocol version[\s\S]*alert number 70/);
    } finally {
      p.kill();
    }
    const s = await session(n, srv13);
    assert.is(s.failure?.alert, 70);
    await stillServes(srv13);
  });

  t('TLS 1.3-only server: node:tls with maxVersion TLSv1.2 -> protocol_version alert', async () => {
    const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: srv13.port, maxVersion: 'TLSv1.2', ca: pki.caPem, servername: 'localhost' });
      open.add(s);
      const timer = setTimeout(() => reject(new Error('timeout')), 5000);
      s.once('secureConnect', () => reject(new Error('TLS 1.2 accepted')));
      s.once('error', (e) => {
        clearTimeout(timer);
        s.destroy();
        resolve(e);
      });
    });
    assert.is(err.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    await stillServes(srv13);
  });

  // =========================================================== not TLS at all

  t('HTTP request instead of TLS -> unexpected_message (10)', () =>
    expectPlainAlert([new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n')], 10));
  t('SSLv2-format ClientHello -> unexpected_message (10)', () =>
    expectPlainAlert([hexBytes('80 2e 01 0303 0015 0000 0010 c02f c02b 009c 002f 00ff 0a0a0a 0123456789abcdef0123456789abcdef')], 10));
  t('unknown record content type 0x63 -> unexpected_message (10)', () => expectPlainAlert([hexBytes('63 03 03 00 02 00 00')], 10));

  t('truncated ClientHello then FIN: no crash, nothing sent, connection closed', async () => {
    const { c, n } = await raw();
    const full = mutated((h) => h);
    c.send(full.subarray(0, 60));
    c.endWrite();
    const { data, eof } = await c.readToEnd(3000);
    assert.ok(eof, 'server closes');
    assert.is(hex(data), '', 'nothing is sent for a hello that never completed');
    const s = await session(n);
    assert.is(s.info, undefined);
    c.destroy();
    await stillServes();
  });

  t('truncated record header then FIN: no crash', async () => {
    const { c, n } = await raw();
    c.send(hexBytes('16 03'));
    c.endWrite();
    const { eof } = await c.readToEnd(3000);
    assert.ok(eof);
    await session(n);
    c.destroy();
    await stillServes();
  });

  // =========================================================== record layer

  t('plaintext record of 2^14+1 bytes (header alone) -> record_overflow (22)', () =>
    expectPlainAlert([hexBytes('16 03 01 40 01')], 22));
  t('plaintext record of 2^14+1 bytes (complete) -> record_overflow (22)', () =>
    expectPlainAlert([cat(hexBytes('16 03 01 40 01'), new Uint8Array(0x4001))], 22));
  t('plaintext record of exactly 2^14 bytes is accepted (a big padded hello)', async () => {
    const { spec, keys } = baseHello();
    // Pad the hello so its record is exactly 2^14 bytes.
    const base = clientHello(spec).length;
    const padLen = 0x4000 - base - 4;
    const padded = { ...spec, extensions: [ext.raw(EXT.padding, new Uint8Array(padLen)), ...spec.extensions!] };
    assert.is(clientHello(padded).length, 0x4000);
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake(padded, keys);
    c.finish();
    c.sendData('big-hello');
    assert.is(Buffer.from(await c.readData(9)).toString(), 'big-hello');
    c.close();
  });
  t('zero-length handshake record -> unexpected_message (10)', () => expectPlainAlert([hexBytes('16 03 01 00 00')], 10));
  t('application_data record before the handshake -> unexpected_message (10)', () =>
    expectPlainAlert([hexBytes('17 03 03 00 05 01 02 03 04 05')], 10));
  t('change_cipher_spec before ClientHello -> unexpected_message (10)', () => expectPlainAlert([hexBytes('14 03 03 00 01 01')], 10));
  t('close_notify before ClientHello: nothing sent back, connection closed', async () => {
    const { c, n } = await raw();
    c.send(hexBytes('15 03 03 00 02 01 00'));
    const { data, eof } = await c.readToEnd(3000);
    assert.is(hex(data), '');
    assert.ok(eof);
    const s = await session(n);
    assert.is(s.failure?.direction, 'received');
    c.destroy();
    await stillServes();
  });
  t('fatal alert before ClientHello: nothing sent back', async () => {
    const { c, n } = await raw();
    c.send(hexBytes('15 03 03 00 02 02 28'));
    const { data, eof } = await c.readToEnd(3000);
    assert.is(hex(data), '');
    assert.ok(eof);
    const s = await session(n);
    assert.is(s.failure?.alertName, 'handshake_failure');
    assert.is(s.failure?.direction, 'received');
    c.destroy();
    await stillServes();
  });
  t('alert record of 3 bytes -> decode_error (50)', () => expectPlainAlert([hexBytes('15 03 03 00 03 02 28 00')], 50));
  t('record version 0x0399 on the ClientHello is ignored (§5.1)', async () => {
    const { spec, keys } = baseHello();
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake(spec, keys, [record(22, clientHello(spec), 0x0399)]);
    c.finish();
    c.sendData('v');
    assert.is(Buffer.from(await c.readData(1)).toString(), 'v');
    c.close();
  });

  // =========================================================== handshake framing

  t('Finished as the first handshake message -> unexpected_message (10)', () =>
    expectPlainAlert([record(22, handshakeMessage(20, new Uint8Array(32)), 0x0301)], 10));
  t('KeyUpdate as the first handshake message -> unexpected_message (10)', () =>
    expectPlainAlert([record(22, handshakeMessage(24, u8(0)), 0x0301)], 10));
  t('ServerHello sent by the client -> unexpected_message (10)', () =>
    expectPlainAlert([record(22, handshakeMessage(2, helloBody(baseHello().spec)), 0x0301)], 10));
  t('unknown handshake type 99 first -> unexpected_message (10)', () =>
    expectPlainAlert([record(22, handshakeMessage(99, new Uint8Array(4)), 0x0301)], 10));
  t('handshake message announcing more than the longest legal ClientHello -> decode_error (50), before buffering it', () =>
    expectPlainAlert([record(22, cat(u8(1), u24(0x100000), new Uint8Array(16)), 0x0301)], 50));

  t('ClientHello fragmented into 1-byte records completes', async () => {
    const { spec, keys } = baseHello();
    const ch = clientHello(spec);
    const recs = Array.from(ch, (b) => record(22, Uint8Array.of(b), 0x0301));
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake(spec, keys, [cat(...recs)]);
    c.finish();
    c.sendData('fragmented');
    assert.is(Buffer.from(await c.readData(10)).toString(), 'fragmented');
    c.close();
  });
  t('change_cipher_spec between two fragments of the ClientHello -> unexpected_message (10)', () => {
    const ch = clientHello(baseHello().spec);
    return expectPlainAlert([record(22, ch.subarray(0, 40), 0x0301), record(20, u8(1)), record(22, ch.subarray(40), 0x0301)], 10);
  });
  t('alert between two fragments of the ClientHello -> unexpected_message (10)', () => {
    const ch = clientHello(baseHello().spec);
    return expectPlainAlert([record(22, ch.subarray(0, 40), 0x0301), hexBytes('15 03 03 00 02 01 5a'), record(22, ch.subarray(40), 0x0301)], 10);
  });
  t('ClientHello followed by more handshake bytes in the same record -> unexpected_message (10) (§5.1 key change)', async () => {
    const { spec, keys } = baseHello();
    const n = srv.sessions.length + 1;
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    const err = await c.handshake(spec, keys, [record(22, cat(clientHello(spec), handshakeMessage(20, new Uint8Array(32))), 0x0301)]).then(
      () => undefined,
      (e: Error) => e.message,
    );
    assert.match(String(err), /alert 10\b/);
    const s = await session(n);
    assert.is(s.failure?.alert, 10);
    c.close();
    await stillServes();
  });

  // =========================================================== ClientHello syntax (decode_error)

  t('cipher_suites length beyond the hello -> decode_error (50)', () => {
    const body = helloBody(baseHello().spec);
    const b = body.slice();
    // legacy_version(2) random(32) session_id(1+0) -> cipher_suites length at 35
    b[35] = 0x7f;
    return expectPlainAlert([bodyRecord(b)], 50);
  });
  t('extensions block length beyond the hello -> decode_error (50)', () => {
    const { spec } = baseHello();
    const body = helloBody(spec);
    const extOff = helloBody({ ...spec, extensions: null }).length;
    const b = body.slice();
    const len = (b[extOff]! << 8) | b[extOff + 1]!;
    b[extOff] = ((len + 10) >> 8) & 0xff;
    b[extOff + 1] = (len + 10) & 0xff;
    return expectPlainAlert([bodyRecord(b)], 50);
  });
  t('one extension overrunning the extensions block -> decode_error (50)', () => {
    const { spec } = baseHello();
    // The last extension claims 4 more bytes than it has: patch its length field.
    const last = spec.extensions![spec.extensions!.length - 1]!;
    const body = helloBody(spec).slice();
    const lenOff = body.length - last.data.length - 2;
    body[lenOff + 1] = (body[lenOff + 1]! + 4) & 0xff;
    return expectPlainAlert([bodyRecord(body)], 50);
  });
  t('trailing bytes after the extensions block -> decode_error (50)', () =>
    expectPlainAlert([bodyRecord(cat(helloBody(baseHello().spec), Uint8Array.of(0, 0)))], 50));
  t('handshake length longer than its body (rest never comes), then FIN: no alert needed, no crash', async () => {
    const { c, n } = await raw();
    const body = helloBody(baseHello().spec);
    c.send(record(22, cat(u8(1), u24(body.length + 10), body), 0x0301));
    c.endWrite();
    const { eof } = await c.readToEnd(3000);
    assert.ok(eof);
    await session(n);
    c.destroy();
    await stillServes();
  });
  t('legacy_session_id of 33 bytes -> decode_error (50)', () => expectPlainAlert([mutated((h) => ({ ...h, sessionId: new Uint8Array(33) }))], 50));
  t('empty cipher_suites -> decode_error (50)', () => expectPlainAlert([mutated((h) => ({ ...h, cipherSuites: [] }))], 50));
  t('odd-length cipher_suites -> decode_error (50)', () => {
    const { spec } = baseHello();
    const body = helloBody({ ...spec, cipherSuites: [SUITE.aes128] });
    // cipher_suites: 00 02 13 01 -> 00 03 13 01 00 (one extra byte; the rest shifts)
    const b = cat(body.subarray(0, 35), hexBytes('00 03 13 01 00'), body.subarray(39));
    return expectPlainAlert([bodyRecord(b)], 50);
  });
  t('empty legacy_compression_methods -> decode_error (50)', () => expectPlainAlert([mutated((h) => ({ ...h, compression: [] }))], 50));
  t('supported_versions with an odd length -> decode_error (50)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.supported_versions, hexBytes('03 03 04 03')))], 50));
  t('key_share entry with an empty key_exchange -> illegal_parameter (47) (a bad x25519 share, issue 10 item 5)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.key_share, vec(2, cat(u16(GROUP.x25519), u16(0)))))], 47));
  t('signature_algorithms with an empty list -> decode_error (50)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.signature_algorithms, u16(0)))], 50));
  t('server_name list with trailing garbage -> decode_error (50)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.server_name, cat(vec(2, cat(u8(0), vec(2, new TextEncoder().encode('localhost')))), u8(7))))], 50));

  // =========================================================== ClientHello semantics

  t('duplicate extension (supported_groups twice) -> illegal_parameter (47)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, extensions: [...h.extensions!, ext.supportedGroups([GROUP.x25519])] }))], 47));
  t('compression methods [1, 0] in a TLS 1.3 hello -> illegal_parameter (47)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, compression: [1, 0] }))], 47));
  t('compression methods [1] in a TLS 1.3 hello -> illegal_parameter (47)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, compression: [1] }))], 47));
  t('missing signature_algorithms -> missing_extension (109)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.signature_algorithms, null))], 109));
  t('missing key_share (supported_groups present) -> missing_extension (109)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.key_share, null))], 109));
  t('missing supported_groups (key_share present) -> missing_extension (109)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.supported_groups, null))], 109));
  t('pre_shared_key without psk_key_exchange_modes -> missing_extension (109)', () =>
    expectPlainAlert([mutated((h) => ({ ...withExt(h, EXT.psk_key_exchange_modes, null), extensions: [...withExt(h, EXT.psk_key_exchange_modes, null).extensions!, ext.preSharedKey()] }))], 109));
  t('pre_shared_key not the last extension -> illegal_parameter (47)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, extensions: [ext.preSharedKey(), ...h.extensions!] }))], 47));
  t('x25519 key share of 31 bytes -> illegal_parameter (47)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.key_share, ext.keyShare([{ group: GROUP.x25519, key: new Uint8Array(31).fill(9) }]).data))], 47));
  t('x25519 key share of 33 bytes -> illegal_parameter (47)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.key_share, ext.keyShare([{ group: GROUP.x25519, key: new Uint8Array(33).fill(9) }]).data))], 47));
  t('x25519 all-zero public key (shared secret all zeros) -> illegal_parameter (47)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.key_share, ext.keyShare([{ group: GROUP.x25519, key: new Uint8Array(32) }]).data))], 47));
  t('P-256 compressed point -> illegal_parameter (47)', () =>
    expectPlainAlert(
      [helloRecord(withExt(baseHello({ groups: [GROUP.secp256r1] }).spec, EXT.key_share, ext.keyShare([{ group: GROUP.secp256r1, key: cat(u8(2), nistKey(GROUP.secp256r1).publicKey.subarray(1, 33)) }]).data))],
      47,
    ));
  t('P-256 point not on the curve -> illegal_parameter (47)', () => {
    const bad = nistKey(GROUP.secp256r1).publicKey.slice();
    bad[64] ^= 1;
    return expectPlainAlert([helloRecord(withExt(baseHello({ groups: [GROUP.secp256r1] }).spec, EXT.key_share, ext.keyShare([{ group: GROUP.secp256r1, key: bad }]).data))], 47);
  });
  t('P-384 key share of P-256 size -> illegal_parameter (47)', () =>
    expectPlainAlert(
      [helloRecord(withExt(baseHello({ groups: [GROUP.secp384r1] }).spec, EXT.key_share, ext.keyShare([{ group: GROUP.secp384r1, key: nistKey(GROUP.secp256r1).publicKey }]).data))],
      47,
    ));
  t('key share for a group not in supported_groups -> illegal_parameter (47)', () =>
    expectPlainAlert([helloRecord(baseHello({ groups: [GROUP.secp256r1], shareGroups: [GROUP.x25519] }).spec)], 47));
  t('two key shares for the same group -> illegal_parameter (47)', () => {
    const a = x25519Key();
    const b = x25519Key();
    return expectPlainAlert([mutated((h) => withExt(h, EXT.key_share, ext.keyShare([{ group: a.group, key: a.publicKey }, { group: b.group, key: b.publicKey }]).data))], 47);
  });
  t('record_size_limit below 64 -> illegal_parameter (47)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, extensions: [...h.extensions!, ext.recordSizeLimit(63)] }))], 47));
  t('only TLS 1.2 cipher suites -> handshake_failure (40)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, cipherSuites: [0xc02f, 0xc030, 0x009c] }))], 40));
  t('only rsa_pkcs1_sha256 signatures (not usable in TLS 1.3) -> handshake_failure (40)', () =>
    expectPlainAlert([helloRecord(baseHello({ sigalgs: [0x0401, 0x0201] }).spec)], 40));
  t('only unsupported groups (secp521r1, x448) and no shares -> handshake_failure (40)', () =>
    expectPlainAlert([helloRecord({ ...withExt(baseHello({ groups: [0x0019, 0x001e] }).spec, EXT.key_share, vec(2, new Uint8Array(0))) })], 40));
  t('unknown extensions and GREASE values are ignored', async () => {
    const { spec, keys } = baseHello({ suites: [0x0a0a, SUITE.aes128], groups: [0x1a1a, GROUP.x25519], shareGroups: [GROUP.x25519], sigalgs: [0x2a2a, ...DEFAULT_SIGALGS] });
    spec.extensions!.unshift(ext.raw(0x3a3a, new Uint8Array(0)), ext.raw(0xfe0d, new Uint8Array(40)));
    spec.extensions = withExt(spec, EXT.supported_versions, vec(1, cat(u16(0x4a4a), u16(0x0304), u16(0x0303)))).extensions;
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake(spec, keys);
    c.finish();
    c.sendData('grease');
    assert.is(Buffer.from(await c.readData(6)).toString(), 'grease');
    c.close();
  });

  // =========================================================== HelloRetryRequest

  async function toRetry(): Promise<{ c: Tls13Client; spec: HelloSpec; hrr: Uint8Array; n: number }> {
    const { spec } = baseHello();
    const spec1 = withExt(spec, EXT.key_share, vec(2, new Uint8Array(0)));
    const n = srv.sessions.length + 1;
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    const f = await c.handshake(spec1, []);
    assert.ok(f.helloRetry, 'HelloRetryRequest expected for an empty key_share');
    return { c, spec: spec1, hrr: f.serverHello, n };
  }

  t('HRR: empty key_share -> well-formed HelloRetryRequest, ClientHello2 completes', async () => {
    const { c, spec, hrr } = await toRetry();
    // 02 len 0303 random(HRR) 00(session id) 1301 00 exts: supported_versions 0304, key_share x25519
    assert.is(hrr[0], 2);
    assert.is(hex(hrr.subarray(4, 6)), '03 03');
    assert.ok(Buffer.from(hrr.subarray(6, 38)).equals(HRR_RANDOM));
    assert.is(hrr[38], 0, 'empty session id echoed');
    assert.is(hex(hrr.subarray(39, 41)), '13 01', 'client order: TLS_AES_128_GCM_SHA256');
    assert.is(hrr[41], 0, 'legacy_compression_method 0');
    const exts = hex(hrr.subarray(44));
    assert.ok(exts.includes('00 2b 00 02 03 04'), exts);
    assert.ok(exts.includes('00 33 00 02 00 1d'), exts);
    const k = x25519Key();
    const f = await c.retry(withExt(spec, EXT.key_share, ext.keyShare([{ group: k.group, key: k.publicKey }]).data), [k], hrr);
    assert.not.ok(f.helloRetry);
    c.finish();
    c.sendData('after-hrr');
    assert.is(Buffer.from(await c.readData(9)).toString(), 'after-hrr');
    c.close();
  });

  t('HRR: CCS between HelloRetryRequest and ClientHello2 is accepted', async () => {
    const { c, spec, hrr } = await toRetry();
    const k = x25519Key();
    await c.retry(withExt(spec, EXT.key_share, ext.keyShare([{ group: k.group, key: k.publicKey }]).data), [k], hrr, [record(20, u8(1))]);
    c.finish();
    c.sendData('ccs-ok');
    assert.is(Buffer.from(await c.readData(6)).toString(), 'ccs-ok');
    c.close();
  });

  async function retryExpectAlert(change: (spec: HelloSpec) => HelloSpec, desc: number): Promise<void> {
    const { c, spec, n } = await toRetry();
    c.raw.send(helloRecord(change(spec)));
    const { data, eof } = await c.raw.readToEnd(3000);
    assert.is(hex(data), hex(fatalAlertRecord(desc)));
    assert.ok(eof);
    const s = await session(n);
    assert.is(s.failure?.alert, desc, s.failure?.reason);
    c.close();
    await stillServes();
  }

  const share = (g: number) => {
    const k = g === GROUP.x25519 ? x25519Key() : nistKey(g);
    return ext.keyShare([{ group: k.group, key: k.publicKey }]).data;
  };

  t('HRR: ClientHello2 still without a key share -> illegal_parameter (47)', () => retryExpectAlert((s) => s, 47));
  t('HRR: ClientHello2 with a share for another group than requested -> illegal_parameter (47)', () =>
    retryExpectAlert((s) => withExt(s, EXT.key_share, share(GROUP.secp256r1)), 47));
  t('HRR: ClientHello2 with two shares -> illegal_parameter (47)', () => {
    const a = x25519Key();
    const b = nistKey(GROUP.secp256r1);
    return retryExpectAlert((s) => withExt(s, EXT.key_share, ext.keyShare([{ group: a.group, key: a.publicKey }, { group: b.group, key: b.publicKey }]).data), 47);
  });
  t('HRR: ClientHello2 with a new random -> illegal_parameter (47)', () =>
    retryExpectAlert((s) => ({ ...withExt(s, EXT.key_share, share(GROUP.x25519)), random: new Uint8Array(32).fill(7) }), 47));
  t('HRR: ClientHello2 with other cipher suites -> illegal_parameter (47)', () =>
    retryExpectAlert((s) => ({ ...withExt(s, EXT.key_share, share(GROUP.x25519)), cipherSuites: [SUITE.aes128] }), 47));
  t('HRR: ClientHello2 adding an extension (ALPN) -> illegal_parameter (47)', () =>
    retryExpectAlert((s) => {
      const t = withExt(s, EXT.key_share, share(GROUP.x25519));
      return { ...t, extensions: [...t.extensions!, ext.alpn(['h2'])] };
    }, 47));
  t('HRR: ClientHello2 with early_data -> illegal_parameter (47)', () =>
    retryExpectAlert((s) => {
      const t = withExt(s, EXT.key_share, share(GROUP.x25519));
      return { ...t, extensions: [...t.extensions!, ext.earlyData()] };
    }, 47));
  t('HRR: a Finished instead of ClientHello2 -> unexpected_message (10)', async () => {
    const { c, n } = await toRetry();
    c.raw.send(record(22, handshakeMessage(20, new Uint8Array(32))));
    const { data } = await c.raw.readToEnd(3000);
    assert.is(hex(data), hex(fatalAlertRecord(10)));
    assert.is((await session(n)).failure?.alert, 10);
    c.close();
    await stillServes();
  });

  // =========================================================== PSK / early data offers

  t('pre_shared_key offer (unknown ticket) is ignored: full handshake', async () => {
    const { spec, keys } = baseHello();
    spec.extensions!.push(ext.preSharedKey());
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    const f = await c.handshake(spec, keys);
    assert.ok(f.messages.some((m) => m.type === 11), 'a Certificate was sent');
    c.finish();
    c.sendData('psk-ignored');
    assert.is(Buffer.from(await c.readData(11)).toString(), 'psk-ignored');
    c.close();
  });

  t('early_data offered with 0-RTT records: skipped (§4.2.10), handshake completes', async () => {
    const { spec, keys } = baseHello();
    spec.extensions!.splice(spec.extensions!.length - 1, 0, ext.earlyData());
    spec.extensions!.push(ext.preSharedKey());
    const early = [record(23, new Uint8Array(100).fill(1)), record(23, new Uint8Array(2000).fill(2))];
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake(spec, keys, [helloRecord(spec), ...early]);
    c.finish();
    c.sendData('zero-rtt-skipped');
    assert.is(Buffer.from(await c.readData(16)).toString(), 'zero-rtt-skipped');
    c.close();
  });

  t('early data sent with ClientHello1 is skipped across a HelloRetryRequest', async () => {
    const { spec } = baseHello();
    const spec1 = withExt(spec, EXT.key_share, vec(2, new Uint8Array(0)));
    spec1.extensions!.push(ext.earlyData(), ext.preSharedKey());
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    const early = [record(23, new Uint8Array(300).fill(5)), record(23, new Uint8Array(300).fill(6))];
    const f1 = await c.handshake(spec1, [], [helloRecord(spec1), ...early]);
    assert.ok(f1.helloRetry);
    const k = x25519Key();
    const spec2 = withExt(withExt(spec1, EXT.early_data, null), EXT.key_share, ext.keyShare([{ group: k.group, key: k.publicKey }]).data);
    await c.retry(spec2, [k], f1.serverHello);
    c.finish();
    c.sendData('after-0rtt-hrr');
    assert.is(Buffer.from(await c.readData(14)).toString(), 'after-0rtt-hrr');
    c.close();
  });

  // =========================================================== client flight (encrypted alerts)



  t('wrong client Finished -> decrypt_error (51)', async () => {
    const { c, n } = await handshaken();
    const fin = c.finishedMessage().slice();
    fin[10] ^= 0xff;
    c.sendProtected(22, fin);
    await expectEncryptedAlert(c, n, 51);
  });
  t('client Finished of the wrong length -> decode_error (50)', async () => {
    const { c, n } = await handshaken();
    const fin = c.finishedMessage();
    c.sendProtected(22, handshakeMessage(20, fin.subarray(4, fin.length - 1)));
    await expectEncryptedAlert(c, n, 50);
  });
  t('client Finished announcing 100,000 bytes -> decode_error (50) at the header, nothing buffered', async () => {
    // RFC 8446 §4.4.4: verify_data is Hash.length bytes; §6.2 decode_error. Only the 4-byte header is sent:
    // the refusal must not wait for the 100,000 bytes (it did: the bound was the ClientHello's 131,396).
    const { c, n } = await handshaken();
    c.sendProtected(22, cat(u8(20), u24(100_000)));
    await expectEncryptedAlert(c, n, 50);
  });
  t('client Certificate announcing 65,537 bytes -> decode_error (50) at the header (ours: 64 KiB, OpenSSL 100 KiB)', async () => {
    // Parsing a chain costs CPU per byte without any valid signature: the bound keeps it to what real chains need.
    const { c, n } = await handshaken();
    c.sendProtected(22, cat(u8(11), u24(65_537)));
    await expectEncryptedAlert(c, n, 50);
  });
  t('KeyUpdate announcing 2 bytes -> decode_error (50) at the header', async () => {
    const { c, n } = await handshaken();
    c.sendProtected(22, cat(u8(24), u24(2)));
    await expectEncryptedAlert(c, n, 50);
  });
  t('client Certificate that was never requested -> unexpected_message (10)', async () => {
    const { c, n } = await handshaken();
    c.sendProtected(22, handshakeMessage(11, hexBytes('00 00 00 00')));
    await expectEncryptedAlert(c, n, 10);
  });
  t('EndOfEarlyData without accepted early data -> unexpected_message (10)', async () => {
    const { c, n } = await handshaken();
    c.sendProtected(22, handshakeMessage(5, new Uint8Array(0)));
    await expectEncryptedAlert(c, n, 10);
  });
  t('application data before the client Finished -> unexpected_message (10)', async () => {
    const { c, n } = await handshaken();
    c.sendProtected(23, new TextEncoder().encode('too early'));
    await expectEncryptedAlert(c, n, 10);
  });
  t('KeyUpdate before the client Finished -> unexpected_message (10)', async () => {
    const { c, n } = await handshaken();
    c.sendProtected(22, handshakeMessage(24, u8(0)));
    await expectEncryptedAlert(c, n, 10);
  });
  t('client Finished failing authentication -> bad_record_mac (20)', async () => {
    const { c, n } = await handshaken();
    c.sendProtected(22, c.finishedMessage(), { corrupt: true });
    await expectEncryptedAlert(c, n, 20);
  });
  t('plaintext handshake record after ServerHello -> unexpected_message (10)', async () => {
    const { c, n } = await handshaken();
    c.raw.send(record(22, c.finishedMessage()));
    await expectEncryptedAlert(c, n, 10);
  });
  t('two compatibility CCS records -> unexpected_message (10)', async () => {
    const { c, n } = await handshaken();
    c.raw.send(record(20, u8(1)), record(20, u8(1)));
    await expectEncryptedAlert(c, n, 10);
  });
  t('CCS with content 02 -> unexpected_message (10)', async () => {
    const { c, n } = await handshaken();
    c.raw.send(record(20, u8(2)));
    await expectEncryptedAlert(c, n, 10);
  });
  t('client Finished split over two protected records completes', async () => {
    const { c } = await handshaken();
    const fin = c.finishedMessage();
    c.raw.send(record(20, u8(1)));
    c.sendProtected(22, fin.subarray(0, 10));
    c.sendProtected(22, fin.subarray(10));
    c.switchToApplicationKeys();
    c.sendData('split-fin');
    assert.is(Buffer.from(await c.readData(9)).toString(), 'split-fin');
    c.close();
  });
  t('client Finished with padding and an empty-content record before it completes', async () => {
    const { c } = await handshaken();
    c.sendProtected(22, c.finishedMessage(), { padding: 200 });
    c.switchToApplicationKeys();
    c.sendData('padded');
    assert.is(Buffer.from(await c.readData(6)).toString(), 'padded');
    c.close();
  });

  // =========================================================== after the handshake


  t('record failing authentication -> bad_record_mac (20)', async () => {
    const { c, n } = await connected();
    c.sendProtected(23, new TextEncoder().encode('tampered'), { corrupt: true });
    await expectEncryptedAlert(c, n, 20);
  });
  t('protected change_cipher_spec -> unexpected_message (10)', async () => {
    const { c, n } = await connected();
    c.sendProtected(20, u8(1));
    await expectEncryptedAlert(c, n, 10);
  });
  t('plaintext change_cipher_spec after the handshake -> unexpected_message (10)', async () => {
    const { c, n } = await connected();
    c.raw.send(record(20, u8(1)));
    await expectEncryptedAlert(c, n, 10);
  });
  t('KeyUpdate with request_update 2 -> illegal_parameter (47)', async () => {
    const { c, n } = await connected();
    c.sendProtected(22, handshakeMessage(24, u8(2)));
    await expectEncryptedAlert(c, n, 47);
  });
  t('KeyUpdate with a 2-byte body -> decode_error (50)', async () => {
    const { c, n } = await connected();
    c.sendProtected(22, handshakeMessage(24, hexBytes('00 00')));
    await expectEncryptedAlert(c, n, 50);
  });
  t('KeyUpdate followed by more handshake data in the same record -> unexpected_message (10)', async () => {
    const { c, n } = await connected();
    c.sendProtected(22, cat(handshakeMessage(24, u8(0)), handshakeMessage(24, u8(0)).subarray(0, 2)));
    await expectEncryptedAlert(c, n, 10);
  });
  t('ClientHello after the handshake (renegotiation) -> unexpected_message (10)', async () => {
    const { c, n } = await connected();
    c.sendProtected(22, clientHello(baseHello().spec));
    await expectEncryptedAlert(c, n, 10);
  });
  t('inner plaintext of zeros only (no content type) -> unexpected_message (10)', async () => {
    const { c, n } = await connected();
    // content type 0 + padding: every byte zero.
    c.sendProtected(0, new Uint8Array(0), { padding: 10 });
    await expectEncryptedAlert(c, n, 10);
  });
  t('unknown inner content type 99 -> unexpected_message (10)', async () => {
    const { c, n } = await connected();
    c.sendProtected(99, new Uint8Array(5));
    await expectEncryptedAlert(c, n, 10);
  });
  t('inner plaintext of 2^14 + 2 bytes -> record_overflow (22)', async () => {
    const { c, n } = await connected();
    c.sendProtected(23, new Uint8Array(1 << 14), { padding: 1 });
    await expectEncryptedAlert(c, n, 22);
  });
  t('protected record longer than 2^14 + 256 -> record_overflow (22)', async () => {
    const { c, n } = await connected();
    c.sendProtected(23, new Uint8Array(1 << 14), { padding: 256 });
    await expectEncryptedAlert(c, n, 22);
  });
  t('protected handshake message of zero length -> unexpected_message (10)', async () => {
    const { c, n } = await connected();
    c.sendProtected(22, new Uint8Array(0));
    await expectEncryptedAlert(c, n, 10);
  });
  t('protected alert of 1 byte -> decode_error (50)', async () => {
    const { c, n } = await connected();
    c.sendProtected(21, u8(2));
    await expectEncryptedAlert(c, n, 50);
  });
  t('plaintext alert after the handshake -> unexpected_message (10)', async () => {
    const { c, n } = await connected();
    c.raw.send(hexBytes('15 03 03 00 02 01 00'));
    await expectEncryptedAlert(c, n, 10);
  });

  t('full-size records, maximum padding and empty data records are accepted', async () => {
    const { c } = await connected();
    const big = new Uint8Array(1 << 14).fill(0x41);
    c.sendProtected(23, big);
    c.sendProtected(23, new Uint8Array(0));
    c.sendProtected(23, new Uint8Array(0), { padding: 100 });
    c.sendProtected(23, u8(0x42), { padding: (1 << 14) - 1 });
    const got = await c.readData((1 << 14) + 1);
    assert.is(got.length, (1 << 14) + 1);
    assert.is(got[got.length - 1], 0x42);
    c.close();
  });
  t('legacy_record_version 0x0301 on a protected record is ignored (§5.1)', async () => {
    const { c } = await connected();
    c.sendProtected(23, new TextEncoder().encode('v0301'), { version: 0x0301 });
    assert.is(Buffer.from(await c.readData(5)).toString(), 'v0301');
    c.close();
  });
  t('client KeyUpdates (with and without update_requested) keep the session going', async () => {
    const { c, n } = await connected();
    for (let i = 0; i < 5; i++) {
      c.keyUpdate(i % 2 === 1);
      c.sendData(`ku${i}`);
      assert.is(Buffer.from(await c.readData(3)).toString(), `ku${i}`);
    }
    c.close();
    const s = await session(n);
    assert.is(s.failure, undefined, JSON.stringify(s.failure));
    assert.is(s.traces.filter((t) => t === 'sent KeyUpdate').length, 2, s.traces.join('\n'));
  });
  t('close_notify: server answers with close_notify; data after it is ignored', async () => {
    const { c, n } = await connected();
    c.sendProtected(21, hexBytes('01 00'));
    c.sendData('ignored');
    const a = await c.alert(3000);
    assert.equal(a && { level: a.level, description: a.description }, { level: 1, description: 0 });
    const s = await session(n);
    assert.ok(s.closedCleanly);
    assert.is(s.bytesIn, 2, 'only the data before close_notify');
    c.close();
  });
  t('user_canceled warning then close_notify closes cleanly', async () => {
    const { c, n } = await connected();
    c.sendProtected(21, hexBytes('01 5a'));
    c.sendProtected(21, hexBytes('01 00'));
    const a = await c.alert(3000);
    assert.is(a?.description, 0);
    const s = await session(n);
    assert.ok(s.closedCleanly);
    c.close();
  });
  t('fatal alert from the client: server sends nothing and closes', async () => {
    const { c, n } = await connected();
    c.sendProtected(21, hexBytes('02 50'));
    const { data, eof } = await c.raw.readToEnd(3000);
    assert.is(data.length, 0);
    assert.ok(eof);
    const s = await session(n);
    assert.is(s.failure?.direction, 'received');
    assert.is(s.failure?.alertName, 'internal_error');
    c.close();
    await stillServes();
  });
  t('transport EOF without close_notify (truncation): no crash', async () => {
    const { c, n } = await connected();
    c.sendData('x');
    c.raw.endWrite();
    await c.raw.readToEnd(3000);
    await session(n);
    c.close();
    await stillServes();
  });

  // =========================================================== more syntax and semantics

  t('server_name with two host_name entries -> illegal_parameter (47) (RFC 6066 §3)', () => {
    const name = (n: string) => cat(u8(0), vec(2, new TextEncoder().encode(n)));
    return expectPlainAlert([mutated((h) => withExt(h, EXT.server_name, vec(2, cat(name('a.example.test'), name('localhost')))))], 47);
  });
  t('server_name that is not a host name is ignored (handshake completes, unmatched)', async () => {
    const { spec, keys } = baseHello({ serverName: 'bad name!' });
    const n = srv.sessions.length + 1;
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake(spec, keys);
    c.finish();
    c.sendData('sni?');
    assert.is(Buffer.from(await c.readData(4)).toString(), 'sni?');
    c.close();
    const s = await session(n);
    assert.is(s.info?.serverName, undefined);
    assert.is(s.info?.invalidServerName, 'bad name!');
  });
  t('ALPN list with an empty protocol name -> decode_error (50)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, extensions: [...h.extensions!, ext.raw(EXT.alpn, vec(2, cat(vec(1, new TextEncoder().encode('h2')), u8(0))))] }))], 50));
  t('ALPN with an empty list -> decode_error (50)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, extensions: [...h.extensions!, ext.raw(EXT.alpn, u16(0))] }))], 50));
  t('supported_groups with an odd length -> decode_error (50)', () =>
    expectPlainAlert([mutated((h) => withExt(h, EXT.supported_groups, cat(u16(3), u16(GROUP.x25519), u8(0))))], 50));
  t('key_share list longer than its extension -> decode_error (50)', () => {
    const k = x25519Key();
    return expectPlainAlert([mutated((h) => withExt(h, EXT.key_share, cat(u16(40), u16(k.group), vec(2, k.publicKey))))], 50);
  });
  t('early_data extension with a body -> decode_error (50)', () =>
    expectPlainAlert([mutated((h) => ({ ...h, extensions: [...h.extensions!, ext.raw(EXT.early_data, u8(0))] }))], 50));
  t('legacy_version 0x0304 with supported_versions: negotiated by the extension (§4.2.1)', async () => {
    const { spec, keys } = baseHello();
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake({ ...spec, legacyVersion: 0x0304 }, keys);
    c.finish();
    c.sendData('v4');
    assert.is(Buffer.from(await c.readData(2)).toString(), 'v4');
    c.close();
  });
  t('a 40 KB ClientHello over three records completes', async () => {
    const { spec, keys } = baseHello();
    spec.extensions!.unshift(ext.raw(EXT.padding, new Uint8Array(40_000)));
    const ch = clientHello(spec);
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake(spec, keys, [record(22, ch.subarray(0, 16384), 0x0301), record(22, ch.subarray(16384, 32768)), record(22, ch.subarray(32768))]);
    c.finish();
    c.sendData('big');
    assert.is(Buffer.from(await c.readData(3)).toString(), 'big');
    c.close();
  });
  t('record_size_limit 64: every protected server record holds at most 64 bytes of inner plaintext (RFC 8449)', async () => {
    const { spec, keys } = baseHello();
    spec.extensions!.push(ext.recordSizeLimit(64));
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    // Read the flight record by record to check sizes: reuse the client, but watch the socket bytes.
    const sizes: number[] = [];
    let buf = Buffer.alloc(0);
    c.raw.socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
        if (buf[0] === 23) sizes.push(buf.readUInt16BE(3));
        buf = buf.subarray(5 + buf.readUInt16BE(3));
      }
    });
    await c.handshake(spec, keys);
    c.finish();
    const data = new Uint8Array(1000).fill(0x61);
    c.sendData(data);
    assert.is((await c.readData(1000)).length, 1000);
    c.close();
    assert.ok(sizes.length > 16, `${sizes.length} protected records`);
    const over = sizes.filter((n) => n > 64 + 16);
    assert.equal(over, [], `records longer than 64 + 16 bytes: ${over.join(',')}`);
  });
  t('server application records never exceed 2^14 bytes of content', async () => {
    const { c } = await connected();
    const sizes: number[] = [];
    const data = new Uint8Array(100_000).fill(0x62);
    c.sendData(data.subarray(0, 16384));
    c.sendData(data.subarray(16384, 32768));
    c.sendData(data.subarray(32768, 49152));
    let got = 0;
    while (got < 49152) {
      const o = await c.next(3000);
      assert.ok(o && o.type === 23);
      sizes.push(o!.content.length);
      got += o!.content.length;
    }
    assert.ok(sizes.every((n) => n <= 16384), sizes.join(','));
    c.close();
  });
  t('pipelined: Finished, data, KeyUpdate, data, close_notify in one TCP write', async () => {
    const { c, n } = await handshaken();
    const parts: Uint8Array[] = [record(20, u8(1)), c.seal(22, c.finishedMessage())];
    c.switchToApplicationKeys();
    parts.push(c.seal(23, new TextEncoder().encode('one.')));
    parts.push(c.sealKeyUpdate(true));
    parts.push(c.seal(23, new TextEncoder().encode('two.')));
    parts.push(c.seal(21, hexBytes('01 00')));
    c.raw.send(cat(...parts));
    const got = await c.readData(8);
    assert.is(Buffer.from(got).toString(), 'one.two.');
    const a = await c.alert(3000);
    assert.is(a?.description, 0, 'close_notify back');
    const s = await session(n);
    assert.ok(s.closedCleanly, JSON.stringify(s.failure));
    assert.ok(s.traces.includes('sent KeyUpdate'), s.traces.join('\n'));
    c.close();
  });
  t('1000 one-byte application records are all echoed in order', async () => {
    const { c } = await connected();
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) parts.push(c.seal(23, u8(0x30 + (i % 10))));
    c.raw.send(cat(...parts));
    const got = await c.readData(1000, 5000);
    assert.is(Buffer.from(got).toString(), '0123456789'.repeat(100));
    c.close();
  });
  t('client fatal alert during the handshake (under the handshake key): server sends nothing', async () => {
    const { c, n } = await handshaken();
    c.sendProtected(21, hexBytes('02 2a'));
    const { data, eof } = await c.raw.readToEnd(3000);
    assert.is(data.length, 0);
    assert.ok(eof);
    const s = await session(n);
    assert.is(s.failure?.direction, 'received');
    assert.is(s.failure?.alertName, 'bad_certificate');
    c.close();
    await stillServes();
  });
  t('plaintext alert from a client that cannot read ServerHello: server sends nothing', async () => {
    const { c, n } = await handshaken();
    c.raw.send(hexBytes('15 03 03 00 02 02 2f'));
    const { data, eof } = await c.raw.readToEnd(3000);
    assert.is(data.length, 0);
    assert.ok(eof);
    const s = await session(n);
    assert.is(s.failure?.alertName, 'illegal_parameter');
    assert.is(s.failure?.direction, 'received');
    c.close();
  });
  t('more than 64 KiB of skipped early data -> unexpected_message (10) (§4.2.10)', async () => {
    const { spec, keys } = baseHello();
    spec.extensions!.push(ext.earlyData(), ext.preSharedKey());
    const early = Array.from({ length: 5 }, () => record(23, new Uint8Array(16000).fill(3)));
    const n = srv.sessions.length + 1;
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    await c.handshake(spec, keys, [helloRecord(spec), ...early]);
    await expectEncryptedAlert(c, n, 10);
  });
  t('33 KeyUpdates without data in between -> unexpected_message (10) (bounded)', async () => {
    const { c, n } = await connected();
    for (let i = 0; i < 33; i++) c.keyUpdate(false);
    await expectEncryptedAlert(c, n, 10);
  });
  t('33 empty application records in a row -> unexpected_message (10) (bounded)', async () => {
    const { c, n } = await connected();
    for (let i = 0; i < 33; i++) c.sendProtected(23, new Uint8Array(0));
    await expectEncryptedAlert(c, n, 10);
  });
  t('record of 2^14 + 256 + 1 ciphertext bytes (header alone) -> record_overflow (22)', async () => {
    const { c, n } = await connected();
    c.raw.send(hexBytes('17 03 03 41 01'));
    await expectEncryptedAlert(c, n, 22);
  });

  t('50 pipelined KeyUpdate(update_requested) + data rounds: every echo arrives, one server KeyUpdate per flight at most', async () => {
    const { c, n } = await connected();
    const parts: Uint8Array[] = [];
    let expect = '';
    for (let i = 0; i < 50; i++) {
      parts.push(c.sealKeyUpdate(true));
      const msg = `r${String(i).padStart(2, '0')};`;
      expect += msg;
      parts.push(c.seal(23, new TextEncoder().encode(msg)));
    }
    c.raw.send(cat(...parts));
    const got = await c.readData(expect.length, 5000);
    assert.is(Buffer.from(got).toString(), expect);
    c.close();
    const s = await session(n);
    assert.is(s.failure, undefined, JSON.stringify(s.failure));
    // §4.6.3: each of our writes is preceded by one KeyUpdate answering the requests received before it.
    const sent = s.traces.filter((x) => x === 'sent KeyUpdate').length;
    assert.ok(sent >= 1 && sent <= 50, `${sent} KeyUpdates sent`);
    assert.is(c.serverKeyUpdates, sent);
  });
  t('server-initiated KeyUpdate while the client pipelines data', async () => {
    const { c, n } = await connected();
    const s0 = srv.sessions[n - 1]!;
    s0.conn.keyUpdate(true);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) parts.push(c.seal(23, new Uint8Array(1000).fill(65 + i)));
    c.raw.send(cat(...parts));
    const got = await c.readData(20_000, 5000);
    assert.is(got.length, 20_000);
    for (let i = 0; i < 20; i++) assert.is(got[i * 1000], 65 + i);
    c.sendData('z');
    assert.is(Buffer.from(await c.readData(1)).toString(), 'z');
    c.close();
    const s = await session(n);
    assert.is(s.failure, undefined, JSON.stringify(s.failure));
    assert.ok(s.traces.includes('received KeyUpdate'), s.traces.join('\n'));
  });

  t('EncryptedExtensions answers only what was asked: empty without SNI/ALPN (§4.2)', async () => {
    const { spec, keys } = baseHello({ serverName: null });
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    const f = await c.handshake(spec, keys);
    const ee = f.messages.find((m) => m.type === 8);
    assert.is(hex(ee!.body), '00 00');
    c.close();
  });
  t('EncryptedExtensions acknowledges a matched server_name with an empty extension', async () => {
    const { spec, keys } = baseHello({ serverName: 'localhost' });
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    const f = await c.handshake(spec, keys);
    const ee = f.messages.find((m) => m.type === 8);
    assert.is(hex(ee!.body), '00 04 00 00 00 00');
    c.close();
  });
  t('ServerHello echoes the legacy_session_id and sends one CCS after it (§4.1.3, §D.4)', async () => {
    const sid = new Uint8Array(32).fill(0xab);
    const { spec, keys } = baseHello({ sessionId: sid });
    const c = await Tls13Client.connect(srv.port);
    open.add(c.raw);
    const f = await c.handshake(spec, keys);
    assert.is(f.serverHello[38], 32);
    assert.is(hex(f.serverHello.subarray(39, 71)), hex(sid));
    assert.ok(f.ccs, 'compatibility CCS');
    assert.not.ok(Buffer.from(f.serverHello.subarray(6, 38)).subarray(24).toString('latin1').startsWith('DOWNGRD'), 'no downgrade sentinel in a TLS 1.3 ServerHello');
    c.close();
  });
  t('TLS 1.2 negotiated by a TLS 1.3 server: ServerHello.random ends with DOWNGRD\\x01 (§4.1.3)', async () => {
    for (const hello of [legacyHello(0x0303), { ...legacyHello(0x0303), extensions: [...legacyHello(0x0303).extensions!, ext.supportedVersions([0x0303])] }]) {
      const { c } = await raw();
      c.send(helloRecord(hello));
      const r = await c.nextRecord(3000);
      assert.ok(r && r.type === 22 && r.fragment[0] === 2, 'ServerHello');
      assert.is(hex(r!.fragment.subarray(4, 6)), '03 03');
      assert.is(hex(r!.fragment.subarray(6 + 24, 6 + 32)), '44 4f 57 4e 47 52 44 01');
      c.destroy();
    }
  });

  // =========================================================== bounded fuzzing

  t('fuzz: 1500 mutated ClientHellos in-process: never a throw, never internal_error, only expected alerts', async () => {
    const config = await engineConfig({ provider: P, config: { alpn: ['h2', 'http/1.1'] } });
    let seed = 20261125;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => rnd(256));
    const TYPES = [0, 5, 10, 11, 13, 16, 18, 21, 23, 28, 35, 41, 42, 43, 44, 45, 47, 49, 50, 51, 0xff01];
    const allowed = new Set([10, 40, 47, 50, 70, 86, 109, 120]);
    const bad: string[] = [];
    for (let i = 0; i < 1500; i++) {
      const { spec } = baseHello({ alpn: ['h2'], shareGroups: rnd(2) ? [GROUP.x25519] : [GROUP.secp256r1, GROUP.x25519] });
      let input: Uint8Array;
      if (i % 2) {
        const exts = spec.extensions!;
        for (let k = 0, ops = 1 + rnd(3); k < ops; k++) {
          const op = rnd(6);
          const j = rnd(exts.length);
          const e = exts[j]!;
          if (op === 0) exts[j] = { type: e.type, data: bytes(rnd(12)) };
          else if (op === 1) exts[j] = { type: e.type, data: e.data.subarray(0, rnd(e.data.length + 1)) };
          else if (op === 2) {
            const d = e.data.slice();
            if (d.length) d[rnd(d.length)] = rnd(256);
            exts[j] = { type: e.type, data: d };
          } else if (op === 3) exts.splice(rnd(exts.length + 1), 0, { type: TYPES[rnd(TYPES.length)]!, data: bytes(rnd(40)) });
          else if (op === 4) exts.splice(j, 1);
          else exts.push(exts[j]!);
        }
        if (rnd(10) === 0) spec.cipherSuites = Array.from({ length: rnd(5) }, () => (rnd(2) ? 0x1300 + rnd(6) : rnd(65536)));
        input = helloRecord(spec);
      } else {
        input = helloRecord(spec);
        for (let k = 0, n = 1 + rnd(4); k < n; k++) input[5 + rnd(input.length - 5)] = rnd(256);
      }
      const out: Uint8Array[] = [];
      let failure: { alert?: number; alertName?: string; reason: string } | undefined;
      const conn = new ServerConnection(config, { write: (x) => out.push(x), handshake() {}, data() {}, peerClosed() {}, failed: (e) => (failure = e) });
      try {
        conn.receive(input);
      } catch (e) {
        bad.push(`#${i} receive() threw ${String(e)}`);
        continue;
      }
      await new Promise<void>((r) => conn.whenIdle(() => r()));
      for (let k = 0; k < 3; k++) await new Promise((r) => setImmediate(r));
      if (failure) {
        if (!allowed.has(failure.alert!)) bad.push(`#${i} ${failure.alertName}: ${failure.reason} ${hex(input.subarray(0, 48))}`);
        const last = out[out.length - 1]!;
        // Before any key: the failure is a plaintext alert record, and the last thing written.
        if (last[0] === 0x15 && hex(last) !== hex(fatalAlertRecord(failure.alert!))) bad.push(`#${i} alert bytes ${hex(last)}`);
      }
    }
    assert.equal(bad, []);
  });

  t('fuzz: 60 random protected records after the handshake: only expected alerts, server keeps serving', async () => {
    let seed = 4242;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const allowed = new Set([10, 20, 22, 47, 50]);
    const bad: string[] = [];
    for (let i = 0; i < 60; i++) {
      const { c, n } = await connected();
      const type = [20, 21, 22, 23, 0, 24, 99][rnd(7)]!;
      const content = Uint8Array.from({ length: rnd(type === 22 ? 12 : 4) }, () => rnd(256));
      if (type === 22 && content.length >= 4 && rnd(2)) {
        // A plausible handshake header sometimes.
        content[0] = [1, 2, 4, 5, 8, 11, 13, 15, 20, 24][rnd(10)]!;
        content[1] = 0;
        content[2] = 0;
        content[3] = content.length - 4;
      }
      c.sendProtected(type, content, { padding: rnd(3) === 0 ? rnd(50) : 0 });
      c.sendData('?');
      const o = await c.next(3000).catch((e: Error) => ({ type: -1, content: new TextEncoder().encode(e.message) }));
      const s = srv.sessions[n - 1]!;
      if (o && o.type === 21) {
        const a = o.content[1]!;
        if (!allowed.has(a)) bad.push(`type ${type} ${hex(content)} -> alert ${a} (${s.failure?.reason})`);
      } else if (o && o.type === 23) {
        // Accepted (e.g. an empty data record, a benign alert): the echo of '?' must follow.
      } else if (o && o.type === -1) bad.push(`type ${type} ${hex(content)} -> ${Buffer.from(o.content).toString()}`);
      c.close();
      await session(n);
    }
    assert.equal(bad, []);
    await stillServes();
  });

  t('after all of the above the server still serves openssl s_client', async () => {
    const p = new Proc('openssl', ['s_client', '-connect', `127.0.0.1:${srv.port}`, '-tls1_3', '-CAfile', pki.caPath, '-servername', 'localhost', '-verify_return_error']);
    try {
      await p.waitFor('Verify return code: 0 (ok)', 5000);
      p.write('final\n');
      await p.waitFor(/\nfinal\n/, 5000);
      p.end();
      assert.is(await p.wait(5000), 0);
    } finally {
      p.kill();
    }
    assert.ok(srv.sessions.every((s) => s.thrown === undefined));
  });
}

test.run();
