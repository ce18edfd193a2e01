/**
 * Codec tests: every message a TLS 1.3 server meets, decoded and encoded,
 * and the exact failure kind (and so alert) for malformed input.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writer, fromHex, hex } from '../../engine/codec.js';
import { AlertDescription, ExtensionType, HandshakeType } from '../../engine/constants.js';
import { TlsFailure } from '../../engine/errors.js';
import { HandshakeBuffer } from '../../engine/handshake-buffer.js';
import { parseAlert } from '../../engine/messages/alert.js';
import { encodeCertificate, parseCertificate } from '../../engine/messages/certificate.js';
import { encodeCertificateRequest, parseCertificateRequest } from '../../engine/messages/certificate-request.js';
import { encodeCertificateVerify, parseCertificateVerify } from '../../engine/messages/certificate-verify.js';
import { parseClientHello } from '../../engine/messages/client-hello.js';
import { alpnSelected, encodeEncryptedExtensions, parseEncryptedExtensions } from '../../engine/messages/encrypted-extensions.js';
import { encodeKeyUpdate, parseKeyUpdate } from '../../engine/messages/key-update.js';
import { encodeNewSessionTicket, parseNewSessionTicket } from '../../engine/messages/new-session-ticket.js';
import { encodeServerHello, keyShareServer, parseServerHello, supportedVersionsSelected } from '../../engine/messages/server-hello.js';

/** Expect a TlsFailure whose alert is `alert`. */
function failsWith(fn: () => unknown, alert: number, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, TlsFailure);
    assert.is((e as TlsFailure).alert, alert, `alert for: ${(e as Error).message}`);
    if (re) assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('no failure');
}

interface HelloOpts {
  extensions?: [number, Uint8Array][];
  compression?: number[];
  suites?: number[];
  sessionId?: Uint8Array;
}

function clientHelloBody(o: HelloOpts = {}): Uint8Array {
  const w = new Writer();
  w.u16(0x0303).bytes(new Uint8Array(32).fill(7)).vec(1, o.sessionId ?? new Uint8Array(0));
  w.begin(2);
  for (const s of o.suites ?? [0x1301]) w.u16(s);
  w.close();
  w.vec(1, Uint8Array.from(o.compression ?? [0]));
  w.begin(2);
  for (const [t, d] of o.extensions ?? []) w.u16(t).vec(2, d);
  w.close();
  return w.finish();
}

const sni = (name: string) => new Writer().begin(2).u8(0).vec(2, new TextEncoder().encode(name)).close().finish();

test('ClientHello: fields and known extensions are decoded, unknown ones kept', () => {
  const body = clientHelloBody({
    suites: [0x1301, 0x1302],
    extensions: [
      [ExtensionType.server_name, sni('Mail.Example.ORG')],
      [ExtensionType.supported_versions, fromHex('04 0304 0303')],
      [ExtensionType.supported_groups, fromHex('0004 001d 0017')],
      [ExtensionType.signature_algorithms, fromHex('0004 0403 0804')],
      [ExtensionType.key_share, new Writer().begin(2).u16(0x1d).vec(2, new Uint8Array(32).fill(9)).close().finish()],
      [ExtensionType.application_layer_protocol_negotiation, fromHex('000c 02 6832 08 687474702f312e31')],
      [0x1234, fromHex('abcd')],
    ],
  });
  const ch = parseClientHello(body, 64);
  assert.is(ch.legacyVersion, 0x0303);
  assert.equal(ch.cipherSuites, [0x1301, 0x1302]);
  assert.is(ch.serverName, 'mail.example.org');
  assert.equal(ch.supportedVersions, [0x0304, 0x0303]);
  assert.equal(ch.supportedGroups, [0x1d, 0x17]);
  assert.equal(ch.signatureAlgorithms, [0x0403, 0x0804]);
  assert.is(ch.keyShares!.length, 1);
  assert.equal(ch.alpn, ['h2', 'http/1.1']);
  assert.is(ch.extensions.length, 7);
  assert.is(hex(ch.extensions[6]!.data), 'abcd');
});

test('ClientHello: duplicate extension is illegal_parameter (§4.2)', () => {
  failsWith(
    () => parseClientHello(clientHelloBody({ extensions: [[0x1234, new Uint8Array(0)], [0x1234, new Uint8Array(0)]] }), 64),
    AlertDescription.illegal_parameter,
    /duplicate/,
  );
});

test('ClientHello: too many extensions is refused', () => {
  const exts: [number, Uint8Array][] = Array.from({ length: 70 }, (_, i) => [0x4000 + i, new Uint8Array(0)]);
  failsWith(() => parseClientHello(clientHelloBody({ extensions: exts }), 64), AlertDescription.illegal_parameter, /more than 64/);
});

test('ClientHello: truncation, trailing bytes and bad vector lengths are decode_error', () => {
  const body = clientHelloBody({ extensions: [[ExtensionType.supported_versions, fromHex('02 0304')]] });
  for (let cut = 1; cut < body.length; cut += 7) failsWith(() => parseClientHello(body.subarray(0, cut), 64), AlertDescription.decode_error);
  const trailing = new Uint8Array(body.length + 1);
  trailing.set(body);
  failsWith(() => parseClientHello(trailing, 64), AlertDescription.decode_error);
  failsWith(() => parseClientHello(clientHelloBody({ suites: [] }), 64), AlertDescription.decode_error);
  failsWith(
    () => parseClientHello(clientHelloBody({ extensions: [[ExtensionType.supported_versions, fromHex('03 0304 03')]] }), 64),
    AlertDescription.decode_error,
  );
  failsWith(() => parseClientHello(clientHelloBody({ sessionId: new Uint8Array(33) }), 64), AlertDescription.decode_error);
});

test('ClientHello: pre_shared_key not last is illegal_parameter (§4.2.11)', () => {
  const psk = new Writer().begin(2).vec(2, fromHex('01')).u32(0).close().begin(2).vec(1, new Uint8Array(32)).close().finish();
  failsWith(
    () => parseClientHello(clientHelloBody({ extensions: [[ExtensionType.pre_shared_key, psk], [0x1234, new Uint8Array(0)]] }), 64),
    AlertDescription.illegal_parameter,
    /last/,
  );
  const ok = parseClientHello(clientHelloBody({ extensions: [[0x1234, new Uint8Array(0)], [ExtensionType.pre_shared_key, psk]] }), 64);
  assert.is(ok.preSharedKey!.identities.length, 1);
  assert.is(ok.preSharedKey!.bindersLength, 2 + 1 + 32);
});

test('ClientHello: two key shares for one group is illegal_parameter (§4.2.8)', () => {
  const ks = new Writer().begin(2).u16(0x1d).vec(2, new Uint8Array(32)).u16(0x1d).vec(2, new Uint8Array(32)).close().finish();
  failsWith(() => parseClientHello(clientHelloBody({ extensions: [[ExtensionType.key_share, ks]] }), 64), AlertDescription.illegal_parameter);
});

test('ClientHello: an invalid SNI host name is kept aside, not used', () => {
  const ch = parseClientHello(clientHelloBody({ extensions: [[ExtensionType.server_name, sni('bad name.example')]] }), 64);
  assert.is(ch.serverName, undefined);
  assert.is(ch.invalidServerName, 'bad name.example');
  const dot = parseClientHello(clientHelloBody({ extensions: [[ExtensionType.server_name, sni('trailing.dot.')]] }), 64);
  assert.is(dot.serverName, undefined);
});

test('ClientHello: record_size_limit below 64 is illegal_parameter (RFC 8449)', () => {
  failsWith(
    () => parseClientHello(clientHelloBody({ extensions: [[ExtensionType.record_size_limit, fromHex('003f')]] }), 64),
    AlertDescription.illegal_parameter,
  );
});

test('ServerHello encodes and parses back', () => {
  const sh = encodeServerHello({
    random: new Uint8Array(32).fill(1),
    sessionIdEcho: fromHex('aabb'),
    cipherSuite: 0x1302,
    extensions: [keyShareServer(0x17, new Uint8Array(65).fill(4)), supportedVersionsSelected(0x0304)],
  });
  assert.is(sh[0], HandshakeType.server_hello);
  const p = parseServerHello(sh.subarray(4));
  assert.is(p.legacyVersion, 0x0303);
  assert.is(p.cipherSuite, 0x1302);
  assert.is(hex(p.sessionIdEcho), 'aabb');
  assert.equal(p.extensions.map((e) => e.type), [ExtensionType.key_share, ExtensionType.supported_versions]);
});

test('EncryptedExtensions with ALPN round-trips', () => {
  const ee = encodeEncryptedExtensions([alpnSelected('http/1.1')]);
  const exts = parseEncryptedExtensions(ee.subarray(4));
  assert.is(exts[0]!.type, ExtensionType.application_layer_protocol_negotiation);
  assert.is(hex(exts[0]!.data), '0009' + '08' + hex(new TextEncoder().encode('http/1.1')));
});

test('Certificate, CertificateRequest, CertificateVerify, NewSessionTicket round-trip', () => {
  const certs = [fromHex('3003020101'), fromHex('3003020102')];
  const c = parseCertificate(encodeCertificate(new Uint8Array(0), certs).subarray(4), 10);
  assert.equal(c.entries.map((e) => hex(e.certData)), ['3003020101', '3003020102']);
  failsWith(() => parseCertificate(encodeCertificate(new Uint8Array(0), certs).subarray(4), 1), AlertDescription.illegal_parameter);
  const cr = parseCertificateRequest(encodeCertificateRequest(fromHex('01'), [0x0403]).subarray(4));
  assert.is(hex(cr.context), '01');
  assert.is(cr.extensions[0]!.type, ExtensionType.signature_algorithms);
  const cv = parseCertificateVerify(encodeCertificateVerify(0x0804, fromHex('0102')).subarray(4));
  assert.equal(cv, { scheme: 0x0804, signature: fromHex('0102') });
  const t = { lifetime: 7200, ageAdd: 0xdeadbeef, nonce: fromHex('00'), ticket: fromHex('aa'), extensions: [] };
  const nst = parseNewSessionTicket(encodeNewSessionTicket(t).subarray(4));
  assert.is(nst.ageAdd, 0xdeadbeef);
  assert.throws(() => encodeNewSessionTicket({ ...t, lifetime: 604801 }), /7 days/);
});

test('KeyUpdate: only 0 and 1 are valid (§4.6.3)', () => {
  assert.is(parseKeyUpdate(encodeKeyUpdate(true).subarray(4)), true);
  assert.is(parseKeyUpdate(encodeKeyUpdate(false).subarray(4)), false);
  failsWith(() => parseKeyUpdate(fromHex('02')), AlertDescription.illegal_parameter);
  failsWith(() => parseKeyUpdate(fromHex('0100')), AlertDescription.decode_error);
});

test('Alert records hold exactly one alert (§5.1)', () => {
  assert.equal(parseAlert(fromHex('0228')), { level: 2, description: 40 });
  failsWith(() => parseAlert(fromHex('02')), AlertDescription.decode_error);
  failsWith(() => parseAlert(fromHex('02280100')), AlertDescription.decode_error);
});

test('HandshakeBuffer: reassembly across fragments, several per record, size limit', () => {
  const b = new HandshakeBuffer(100);
  const m1 = fromHex('14 000003 aabbcc');
  const m2 = fromHex('18 000001 00');
  b.push(m1.subarray(0, 2));
  assert.is(b.pop(), undefined);
  assert.ok(b.hasPartial);
  const rest = new Uint8Array(m1.length - 2 + m2.length);
  rest.set(m1.subarray(2));
  rest.set(m2, m1.length - 2);
  b.push(rest);
  assert.is(hex(b.pop()!.raw), hex(m1));
  assert.is(b.pop()!.type, 0x18);
  assert.not.ok(b.hasPartial);
  failsWith(() => new HandshakeBuffer(100).push(fromHex('01 000065')), AlertDescription.decode_error, /exceeds/);
  failsWith(() => new HandshakeBuffer(100).push(new Uint8Array(0)), AlertDescription.unexpected_message);
});

test('HandshakeBuffer: a message in 1-byte fragments, followed by one whole in the same fragment as the last byte', () => {
  const b = new HandshakeBuffer(100_000);
  const big = new Uint8Array(4 + 70_000);
  big.set(fromHex('01 011170'));
  for (let i = 4; i < big.length; i++) big[i] = i & 0xff;
  const small = fromHex('18 000001 01');
  for (let i = 0; i < big.length - 1; i++) {
    b.push(big.subarray(i, i + 1));
    assert.is(b.pop(), undefined);
  }
  const last = new Uint8Array(1 + small.length);
  last[0] = big[big.length - 1]!;
  last.set(small, 1);
  b.push(last);
  assert.ok(b.hasPartial);
  const m = b.pop()!;
  assert.is(m.body.length, 70_000);
  assert.ok(m.raw.every((x, i) => x === big[i]));
  assert.ok(b.hasPartial, 'the KeyUpdate is still waiting');
  assert.is(hex(b.pop()!.raw), hex(small));
  assert.not.ok(b.hasPartial);
  assert.is(b.pop(), undefined);
});

test.run();
