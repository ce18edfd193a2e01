/**
 * RFC 7250 raw public keys, the engine's refusals, with hand-made
 * ClientHellos and exact alerts (the positive paths run against gnutls-cli
 * in test/daemon/rpk.test.ts):
 *
 *  - server_certificate_type listing no type we can send (OpenPGP only):
 *    unsupported_certificate before ServerHello, TLS 1.3 and TLS 1.2 (§4.2);
 *  - client_certificate_type listing only RawPublicKey while we ask for a
 *    certificate but accept no raw keys: unsupported_certificate;
 *  - a malformed list (empty, or a length past the extension): decode_error.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AlertDescription } from '../../engine/constants.js';
import { chooseCertificateTypes, CertificateType, encodeRawKeyCertificate12, parseRawKeyCertificate12 } from '../../engine/common/certificate-types.js';
import { TlsFailure } from '../../engine/errors.js';
import { type EngineServer, startEngineServer } from '../helpers/engine-server.js';
import { baseHello, fatalAlertRecord, helloRecord, legacyHello, u8, vec, type HelloSpec } from '../helpers/hello.js';
import { RawConn } from '../helpers/tls13-client.js';

const SERVER_CT = 20;
const CLIENT_CT = 19;
let srv: EngineServer;
let withClientAuth: EngineServer;

test.before(async () => {
  srv = await startEngineServer({ config: { rawPublicKey: true } });
  withClientAuth = await startEngineServer({
    config: { rawPublicKey: true, clientAuth: { mode: 'request', verify: () => { throw new Error('no chain expected'); } } },
  });
});
test.after(async () => {
  await srv?.close();
  await withClientAuth?.close();
});

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function expectAlert(server: EngineServer, record: Uint8Array, desc: number): Promise<void> {
  const c = await RawConn.open(server.port);
  try {
    c.send(record);
    const { data, eof } = await c.readToEnd(5000);
    assert.is(hex(data), hex(fatalAlertRecord(desc)));
    assert.ok(eof);
  } finally {
    c.destroy();
  }
}

const types = (...t: number[]) => vec(1, Uint8Array.from(t));
const withExt = (h: HelloSpec, type: number, data: Uint8Array): HelloSpec => ({ ...h, extensions: [...(h.extensions ?? []), { type, data }] });

test('server_certificate_type with OpenPGP only: unsupported_certificate (TLS 1.3 and TLS 1.2)', async () => {
  await expectAlert(srv, helloRecord(withExt(baseHello().spec, SERVER_CT, types(1))), AlertDescription.unsupported_certificate);
  const h12 = legacyHello(0x0303);
  await expectAlert(srv, helloRecord({ ...h12, extensions: [...h12.extensions!, { type: SERVER_CT, data: types(1) }] }), AlertDescription.unsupported_certificate);
});

test('client_certificate_type RawPublicKey only, when we ask for certificates but accept no raw key: unsupported_certificate', async () => {
  await expectAlert(withClientAuth, helloRecord(withExt(baseHello().spec, CLIENT_CT, types(2))), AlertDescription.unsupported_certificate);
  // Not asking for a client certificate: the client's list does not matter.
  const c = await RawConn.open(srv.port);
  try {
    c.send(helloRecord(withExt(baseHello().spec, CLIENT_CT, types(2))));
    const { data } = await c.readToEnd(1500);
    assert.is(data[0], 22, 'a ServerHello, not an alert');
  } finally {
    c.destroy();
  }
});

test('malformed certificate type lists: decode_error', async () => {
  await expectAlert(srv, helloRecord(withExt(baseHello().spec, SERVER_CT, u8(0))), AlertDescription.decode_error);
  await expectAlert(srv, helloRecord(withExt(baseHello().spec, SERVER_CT, Uint8Array.of(3, 2))), AlertDescription.decode_error);
});

test('the choice follows the client\'s order and what we may use; X.509 is not announced', () => {
  const ext = (type: number, ...t: number[]) => ({ type, data: types(...t) });
  const both = { sendRaw: true, acceptRaw: true, requestingClientCertificate: true };
  let c = chooseCertificateTypes([ext(SERVER_CT, 2, 0), ext(CLIENT_CT, 2, 0)], both);
  assert.equal([c.server, c.client, c.extensions.map((e) => [e.type, hex(e.data)])], [2, 2, [[SERVER_CT, '02'], [CLIENT_CT, '02']]]);
  c = chooseCertificateTypes([ext(SERVER_CT, 0, 2)], both);
  assert.equal([c.server, c.client, c.extensions.length], [0, 0, 0], 'X.509 first: X.509, nothing announced');
  c = chooseCertificateTypes([ext(SERVER_CT, 2, 0)], { ...both, sendRaw: false });
  assert.is(c.server, CertificateType.X509, 'no key to send raw: X.509');
  assert.throws(() => chooseCertificateTypes([ext(SERVER_CT, 2)], { ...both, sendRaw: false }), (e: unknown) => e instanceof TlsFailure && e.alert === AlertDescription.unsupported_certificate);
  assert.is(chooseCertificateTypes([ext(CLIENT_CT, 2)], { ...both, requestingClientCertificate: false }).client, undefined);
});

test('TLS 1.2 raw key Certificate: one SubjectPublicKeyInfo, no certificate_list (RFC 7250 §3)', () => {
  const spki = Uint8Array.of(0x30, 3, 1, 2, 3);
  const m = encodeRawKeyCertificate12(spki);
  assert.is(hex(m), '0b000008' + '000005' + '3003010203');
  assert.equal(parseRawKeyCertificate12(m.subarray(4)), spki);
  assert.is(parseRawKeyCertificate12(Uint8Array.of(0, 0, 0)), undefined, 'empty: no key');
  assert.throws(() => parseRawKeyCertificate12(Uint8Array.of(0, 0, 9, 1)), (e: unknown) => e instanceof TlsFailure && e.alert === AlertDescription.decode_error);
});

test.run();
