/**
 * Record layer: framing across arbitrary chunk boundaries, limits checked
 * on the header, protection round trips for both versions, and the ordered
 * output queue with out-of-order asynchronous seals.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromHex, hex } from '../../engine/codec.js';
import { AlertDescription, ContentType } from '../../engine/constants.js';
import { TlsFailure } from '../../engine/errors.js';
import { OutputQueue, RecordReader, Tls12Protection, Tls13Protection, recordNonce } from '../../engine/record.js';
import { tls13Suite } from '../../engine/suites.js';
import { createNodeCryptoProvider } from '../../providers/node.js';

const provider = createNodeCryptoProvider();
const rec = (type: number, body: Uint8Array) => Uint8Array.from([type, 3, 3, body.length >> 8, body.length & 0xff, ...body]);

test('RecordReader: records fed one byte at a time, and several in one chunk', () => {
  const a = rec(22, fromHex('0102030405'));
  const b = rec(23, new Uint8Array(300).fill(7));
  const c = rec(21, fromHex('0100'));
  const all = Uint8Array.from([...a, ...b, ...c]);
  const r = new RecordReader();
  const got: string[] = [];
  for (const byte of all) {
    r.push(Uint8Array.of(byte));
    for (let x = r.next(1 << 14); x; x = r.next(1 << 14)) got.push(`${x.type}:${x.fragment.length}:${hex(x.header)}`);
  }
  assert.equal(got, ['22:5:1603030005', '23:300:170303012c', '21:2:1503030002']);
  assert.is(r.buffered, 0);
  const r2 = new RecordReader();
  r2.push(all);
  assert.is(r2.next(1 << 14)!.type, 22);
  assert.is(r2.next(1 << 14)!.type, 23);
  assert.is(r2.next(1 << 14)!.type, 21);
  assert.is(r2.next(1 << 14), undefined);
});

test('RecordReader: an oversized length is refused from the header alone (record_overflow)', () => {
  const r = new RecordReader();
  r.push(fromHex('1703034101'));
  try {
    r.next((1 << 14) + 256);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, TlsFailure);
    assert.is((e as TlsFailure).alert, AlertDescription.record_overflow);
  }
});

test('RecordReader: unknown content type and non-TLS bytes are unexpected_message', () => {
  for (const bad of ['1803030001', '474554202f']) {
    const r = new RecordReader();
    r.push(fromHex(bad));
    try {
      r.next(1 << 14);
      assert.unreachable();
    } catch (e) {
      assert.is((e as TlsFailure).alert, AlertDescription.unexpected_message);
    }
  }
});

test('RFC 8446 §5.3 nonce: IV XOR the padded sequence number', () => {
  const iv = fromHex('000102030405060708090a0b');
  assert.is(hex(recordNonce(iv, 0)), '000102030405060708090a0b');
  assert.is(hex(recordNonce(iv, 1)), '000102030405060708090a0a');
  assert.is(hex(recordNonce(iv, 0x1_0000_0000)), '000102030405060608090a0b');
  assert.is(hex(recordNonce(iv, 0x0102_0304_0506)), '00010203040507050b0d0f0d');
});

test('TLS 1.3 protection: seal with padding, open strips it and finds the type', async () => {
  const suite = tls13Suite('TLS_CHACHA20_POLY1305_SHA256')!;
  const key = new Uint8Array(32).fill(1);
  const iv = new Uint8Array(12).fill(2);
  const w = new Tls13Protection(provider, suite, key, iv);
  const r = new Tls13Protection(provider, suite, key, iv);
  for (let i = 0; i < 3; i++) {
    const sealed = await w.seal(ContentType.application_data, fromHex('68656c6c6f'), 10);
    assert.is(sealed[0], ContentType.application_data, 'outer type is always application_data');
    assert.is((sealed[3]! << 8) | sealed[4]!, 5 + 1 + 10 + 16);
    const reader = new RecordReader();
    reader.push(sealed);
    const opened = await r.open(reader.next(1 << 15)!);
    assert.is(opened!.type, ContentType.application_data);
    assert.is(hex(opened!.content), '68656c6c6f');
  }
  assert.is(w.sequence, 3);
  assert.is(r.sequence, 3);
});

test('TLS 1.2 protection: AES-GCM explicit nonce and ChaCha20 implicit nonce round trips; tampering fails', async () => {
  for (const [aead, ivLen, overhead] of [['AES-128-GCM', 4, 24], ['CHACHA20-POLY1305', 12, 16]] as const) {
    const key = new Uint8Array(aead === 'AES-128-GCM' ? 16 : 32).fill(3);
    const iv = new Uint8Array(ivLen).fill(4);
    const w = new Tls12Protection(provider, aead, key, iv);
    const r = new Tls12Protection(provider, aead, key, iv);
    const sealed = await w.seal(ContentType.handshake, fromHex('14000000'));
    assert.is(sealed[0], ContentType.handshake, 'TLS 1.2 keeps the real type outside');
    assert.is(sealed.length, 5 + 4 + overhead);
    const reader = new RecordReader();
    reader.push(sealed);
    const raw = reader.next(1 << 15)!;
    const opened = await r.open(raw);
    assert.is(hex(opened!.content), '14000000');
    const bad = sealed.slice();
    bad[bad.length - 1]! ^= 1;
    const r2 = new Tls12Protection(provider, aead, key, iv);
    const reader2 = new RecordReader();
    reader2.push(bad);
    assert.is(await r2.open(reader2.next(1 << 15)!), null);
  }
});

test('OutputQueue: asynchronous seals resolving out of order still leave in order', async () => {
  const out: string[] = [];
  const q = new OutputQueue((b) => out.push(hex(b)), (e) => assert.unreachable(String(e)));
  const resolvers: ((b: Uint8Array) => void)[] = [];
  for (let i = 0; i < 4; i++) q.push(new Promise<Uint8Array>((res) => resolvers.push(res)));
  q.push(Uint8Array.of(4));
  let done = false;
  q.whenWritten(() => (done = true));
  resolvers[2]!(Uint8Array.of(2));
  resolvers[1]!(Uint8Array.of(1));
  await Promise.resolve();
  assert.equal(out, []);
  resolvers[0]!(Uint8Array.of(0));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(out, ['00', '01', '02']);
  assert.not.ok(done);
  resolvers[3]!(Uint8Array.of(3));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(out, ['00', '01', '02', '03', '04']);
  assert.ok(done);
});

test('node provider sealRecord equals prefix || seal(content || trailer) for every AEAD', async () => {
  for (const alg of ['AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305'] as const) {
    const key = await provider.aeadKey(alg, new Uint8Array(alg === 'AES-128-GCM' ? 16 : 32).fill(9));
    const nonce = new Uint8Array(12).fill(1);
    const aad = fromHex('1703030020');
    const content = new Uint8Array(16385 - 1 - 3).map((_, i) => i & 0xff);
    const trailer = fromHex('17000000');
    const whole = new Uint8Array(content.length + trailer.length);
    whole.set(content);
    whole.set(trailer, content.length);
    const a = await key.sealRecord!(nonce, aad, aad, content, trailer);
    const b = await key.seal(nonce, aad, whole);
    assert.is(hex(a.subarray(0, 5)), hex(aad));
    assert.is(hex(a.subarray(5)), hex(b), alg);
  }
});

test.run();
