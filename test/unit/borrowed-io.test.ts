/**
 * Lent buffers (issue 9): ServerConnection.receiveBorrowed()/writeBorrowed()
 * read bytes that the caller overwrites as soon as the call returns (the
 * shared socket read buffer of proxy/tls/shared-reads.ts). Every test here
 * scribbles over the lent bytes (and the plaintext buffer) right after each
 * call: what the engine delivered or sent must not change.
 */

import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AeadAlgorithm, AeadKey } from '../../engine/crypto/provider.js';
import { nobleAeadKey } from '../../engine/crypto/noble-aead.js';
import { ServerConnection } from '../../engine/connection.js';
import type { ConnectionError } from '../../engine/events.js';
import { RecordReader, Tls12Protection, Tls13Protection } from '../../engine/record.js';
import { TLS13_SUITES } from '../../engine/suites.js';
import { nativeAeadKey } from '../../providers/native-aead.js';
import { engineConfig, type ProviderName } from '../helpers/engine-server.js';
import { baseHello, cat, handshakeMessage } from '../helpers/hello.js';
import { testPki } from '../helpers/pki.js';
import { Tls13Client } from '../helpers/tls13-client.js';

const caPem = () => testPki().caPem;

const ALGS: AeadAlgorithm[] = ['AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305'];
const keyLength = (a: AeadAlgorithm) => (a === 'AES-128-GCM' ? 16 : 32);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const openIntoKeys: [string, (alg: AeadAlgorithm, key: Uint8Array) => AeadKey | undefined][] = [
  ['native (addon)', (alg, key) => nativeAeadKey(alg, key)],
  ['js (noble ChaCha20-Poly1305)', (alg, key) => (alg === 'CHACHA20-POLY1305' ? nobleAeadKey(alg, key, 'js') : undefined)],
];

for (const [name, makeKey] of openIntoKeys) {
  test(`${name} openInto: same plaintext as open(), input untouched, bounds refused, nothing unauthenticated left`, () => {
    let tested = 0;
    for (const alg of ALGS) {
      const k = makeKey(alg, randomBytes(keyLength(alg)));
      if (!k?.openInto) continue; // no addon / no output buffers for this cipher
      tested++;
      assert.ok(k.synchronous);
      const nonce = randomBytes(12);
      const aad = randomBytes(13);
      const plain = randomBytes(1000);
      const sealed = k.seal(nonce, aad, plain) as Uint8Array;
      const before = sha(sealed);
      const out = new Uint8Array(1100).fill(0xee);
      assert.ok(k.openInto(nonce, aad, sealed, out, 50));
      assert.is(sha(sealed), before, 'the input is not written');
      assert.ok(Buffer.from(out.subarray(50, 1050)).equals(plain));
      assert.is(out[49], 0xee);
      assert.is(out[1050], 0xee);
      assert.ok(Buffer.from(k.open(nonce, aad, sealed) as Uint8Array).equals(plain));
      // In place, and sealRecordInto into a shared buffer: the same bytes.
      const copy = Uint8Array.from(sealed);
      assert.ok(Buffer.from(k.openInPlace!(nonce, aad, copy)!).equals(plain));
      const rec = new Uint8Array(1100);
      k.sealRecordInto!(nonce, aad, Uint8Array.of(23, 3, 3), plain.subarray(0, 999), plain.subarray(999), rec, 7);
      assert.ok(Buffer.from(rec.subarray(10, 10 + sealed.length)).equals(sealed));
      // One flipped bit: false, and no unauthenticated plaintext left behind.
      const bad = Uint8Array.from(sealed);
      bad[10]! ^= 1;
      out.fill(0xee);
      assert.is(k.openInto(nonce, aad, bad, out, 0), false);
      assert.ok(out.subarray(0, 1000).every((b) => b === 0 || b === 0xee));
      assert.not.ok(Buffer.from(out.subarray(0, 1000)).equals(plain));
      // The output must fit.
      assert.throws(() => k.openInto!(nonce, aad, sealed, new Uint8Array(999), 0), /too small/);
      assert.throws(() => k.openInto!(nonce, aad, sealed, out, 101), /too small/);
    }
    if (name.startsWith('js')) assert.is(tested, 1);
  });
}

test('native openInto: an output that partly overlaps the input is refused', () => {
  const k = nativeAeadKey('AES-128-GCM', randomBytes(16));
  if (!k?.openInto) return;
  const nonce = randomBytes(12);
  const sealed = k.seal(nonce, new Uint8Array(0), randomBytes(1000)) as Uint8Array;
  const both = new Uint8Array(2000);
  both.set(sealed, 100);
  assert.throws(() => k.openInto!(nonce, new Uint8Array(0), both.subarray(100, 100 + sealed.length), both, 50), /overlaps/);
});

test('native sealRecordInto: sealed in place or apart alike; a partly overlapping content or trailer is refused', () => {
  const k = nativeAeadKey('AES-128-GCM', randomBytes(16));
  if (!k?.sealRecordInto) return;
  const nonce = randomBytes(12);
  const aad = randomBytes(5);
  const content = randomBytes(1000);
  const trailer = Uint8Array.of(23);
  const apart = new Uint8Array(1200);
  k.sealRecordInto(nonce, aad, aad, content, trailer, apart, 100);
  const want = Buffer.from(apart.subarray(100, 100 + 5 + 1000 + 1 + 16)).toString('hex');
  // Exactly in place: the content already where its ciphertext goes, the trailer right after it.
  const inPlace = new Uint8Array(1200);
  inPlace.set(content, 105);
  inPlace.set(trailer, 1105);
  k.sealRecordInto(nonce, aad, aad, inPlace.subarray(105, 1105), inPlace.subarray(1105, 1106), inPlace, 100);
  assert.is(Buffer.from(inPlace.subarray(100, 1122)).toString('hex'), want);
  // Shifted by a byte: the content would be read after part of it was overwritten.
  const shifted = new Uint8Array(1200);
  shifted.set(content, 106);
  assert.throws(() => k.sealRecordInto!(nonce, aad, aad, shifted.subarray(106, 1106), trailer, shifted, 100), /overlaps/);
  // A trailer inside the content's ciphertext (or the tag) is refused too.
  const clash = new Uint8Array(1200);
  assert.throws(() => k.sealRecordInto!(nonce, aad, aad, content, clash.subarray(500, 501), clash, 100), /overlaps/);
  assert.throws(() => k.sealRecordInto!(nonce, aad, aad, content, clash.subarray(1110, 1111), clash, 100), /overlaps/);
});

test('RecordReader: lent records are marked borrowed; the partial rest is copied by ownBorrowed()', () => {
  const suite = TLS13_SUITES.get(0x1301)!;
  const provider = { aeadKey: (alg: AeadAlgorithm, key: Uint8Array) => nativeAeadKey(alg, key)! } as never;
  if (!nativeAeadKey('AES-128-GCM', new Uint8Array(16))) return;
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const w = new Tls13Protection(provider, suite, key, iv);
  const r = new Tls13Protection(provider, suite, key, iv);
  const contents = [randomBytes(700), randomBytes(900)];
  const wire = Buffer.concat(contents.map((c) => w.seal(23, c) as Uint8Array));
  const lent = new Uint8Array(wire.length);
  lent.set(wire);
  const cut = wire.length - 300;
  const reader = new RecordReader();
  reader.pushBorrowed(lent.subarray(0, cut));
  const first = reader.next(16640)!;
  assert.ok(first.borrowed);
  assert.is(first.owned, false);
  const out = new Uint8Array(2000);
  const inner = r.openInto(first, out, 0)!;
  assert.ok(Buffer.from(inner.content).equals(contents[0]!));
  assert.is(reader.next(16640), undefined);
  reader.ownBorrowed();
  lent.fill(0x55, 0, cut); // the caller reuses its buffer
  reader.push(lent.subarray(cut).slice());
  const second = reader.next(16640)!;
  assert.not.ok(second.borrowed);
  assert.ok(Buffer.from((r.open(second) as { content: Uint8Array }).content).equals(contents[1]!));
  assert.throws(() => {
    const again = new RecordReader();
    again.pushBorrowed(Uint8Array.of(23));
    again.push(Uint8Array.of(3));
  }, /ownBorrowed/);
});

test('TLS 1.2 openInto: explicit nonce (AES-GCM) and implicit (ChaCha20) give the plaintext open() gives', () => {
  for (const alg of ALGS) {
    if (!nativeAeadKey(alg, new Uint8Array(keyLength(alg)))?.openInto) return;
    const provider = { aeadKey: (a: AeadAlgorithm, key: Uint8Array) => nativeAeadKey(a, key)! } as never;
    const key = randomBytes(keyLength(alg));
    const iv = randomBytes(alg === 'CHACHA20-POLY1305' ? 12 : 4);
    const w = new Tls12Protection(provider, alg, key, iv);
    const r = new Tls12Protection(provider, alg, key, iv);
    assert.ok(r.opensInto);
    const content = randomBytes(5000);
    const reader = new RecordReader();
    reader.pushBorrowed(new Uint8Array(Buffer.concat([w.seal(23, content) as Uint8Array, w.seal(23, content) as Uint8Array])));
    const out = new Uint8Array(12000);
    const a = r.openInto(reader.next(16640)!, out, 0)!;
    const b = r.openInto(reader.next(16640)!, out, a.content.length)!;
    assert.ok(Buffer.from(a.content).equals(content));
    assert.ok(Buffer.from(b.content).equals(content));
    assert.is(b.content.byteOffset, 5000);
    assert.is(r.sequence, 2);
  }
});

interface Lending {
  received: Buffer[];
  failure?: ConnectionError;
  lentCalls: number;
  usedOut: number;
  done: Promise<void>;
}

/**
 * A loopback server running the engine on lent buffers: every socket read is
 * copied into one reused buffer and passed to receiveBorrowed() (with one
 * reused plaintext buffer), then both are overwritten; data is echoed back
 * with writeBorrowed() from another reused buffer, overwritten after.
 */
async function lendingServer(providerName: ProviderName): Promise<{ port: number; state: Lending; close(): void }> {
  const config = await engineConfig({ provider: providerName, certs: ['p256'] });
  const state = { received: [], lentCalls: 0, usedOut: 0 } as unknown as Lending;
  let finish!: () => void;
  state.done = new Promise((r) => (finish = r));
  const lent = new Uint8Array(256 * 1024);
  const out = new Uint8Array(256 * 1024);
  const echo = new Uint8Array(256 * 1024);
  // Half-open: the client's FIN must not end our side before the (asynchronously sealed) echo is out.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const conn = new ServerConnection(config, {
      write: (b) => socket.write(b.slice()),
      handshake: () => undefined,
      data: (p) => {
        state.received.push(Buffer.from(p));
        echo.set(p);
        conn.writeBorrowed(echo.subarray(0, p.length));
        echo.fill(0x33, 0, p.length);
      },
      peerClosed: () => conn.close(() => socket.end()),
      failed: (e) => {
        state.failure = e;
        socket.end();
      },
    });
    socket.on('data', (chunk: Buffer) => {
      if (!conn.receivesBorrowed) {
        conn.receive(chunk);
        return;
      }
      state.lentCalls++;
      const view = lent.subarray(0, chunk.length);
      view.set(chunk);
      state.usedOut += conn.receiveBorrowed(view, out);
      view.fill(0x44);
      out.fill(0x66);
    });
    // Done once the socket closed and the engine processed all it had (an asynchronous provider may still be at it).
    socket.on('close', () => conn.whenIdle(finish));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, state, close: () => server.close() };
}

for (const [version, ciphers] of [
  ['TLSv1.3', 'TLS_AES_128_GCM_SHA256'],
  ['TLSv1.3', 'TLS_CHACHA20_POLY1305_SHA256'],
  ['TLSv1.2', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
  ['TLSv1.2', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
] as const) {
  test(`receiveBorrowed/writeBorrowed: 3 MiB echoed intact over ${version} ${ciphers}, lent buffers overwritten after every call`, async () => {
    const srv = await lendingServer('node');
    try {
      const data = randomBytes(3 * 1024 * 1024);
      const client = tls.connect({ port: srv.port, host: '127.0.0.1', ca: caPem(), servername: 'localhost', minVersion: version, maxVersion: version,
        ...(version === 'TLSv1.3' ? { ciphersuites: ciphers } : { ciphers }) });
      const back: Buffer[] = [];
      client.on('data', (d: Buffer) => back.push(d));
      await new Promise<void>((r, j) => client.once('secureConnect', r).once('error', j));
      // Writes of every size: records split across reads, several records per read.
      for (let off = 0, i = 0; off < data.length; i++) {
        const n = Math.min(data.length - off, [1, 700, 16384, 16385, 65536, 100000][i % 6]!);
        client.write(data.subarray(off, off + n));
        off += n;
      }
      client.end();
      await new Promise<void>((r) => client.once('close', () => r()));
      await srv.state.done;
      assert.is(srv.state.failure, undefined);
      assert.is(sha(Buffer.concat(srv.state.received)), sha(data), 'the server read what was sent');
      assert.is(sha(Buffer.concat(back)), sha(data), 'the echo sealed from lent bytes arrived intact');
      assert.ok(srv.state.lentCalls > 10);
      if (nativeAeadKey('AES-128-GCM', new Uint8Array(16))?.openInto) assert.ok(srv.state.usedOut > 0, 'records were opened out of place');
    } finally {
      srv.close();
    }
  });
}

test('receiveBorrowed: a tampered record among lent ones is bad_record_mac (20), the good one before it delivered', async () => {
  const srv = await lendingServer('node');
  try {
    const raw = net.connect(srv.port, '127.0.0.1');
    await new Promise<void>((r) => raw.once('connect', r));
    const client = tls.connect({ socket: raw, ca: caPem(), servername: 'localhost', minVersion: 'TLSv1.3' });
    await new Promise<void>((r, j) => client.once('secureConnect', r).once('error', j));
    client.on('error', () => undefined);
    client.resume(); // read the echo, and then the alert
    client.write('hello');
    await new Promise((r) => setTimeout(r, 100));
    // A well-formed application_data record that cannot authenticate.
    const body = randomBytes(100);
    raw.write(Buffer.concat([Buffer.from([23, 3, 3, 0, body.length]), body]));
    await srv.state.done;
    assert.is(Buffer.concat(srv.state.received).toString(), 'hello');
    assert.is(srv.state.failure?.direction, 'sent');
    assert.is(srv.state.failure?.alert, 20);
    client.destroy();
  } finally {
    srv.close();
  }
});

test('receiveBorrowed: a KeyUpdate split over two lent reads, then data in the same read as its end (the engine goes asynchronous mid-read)', async () => {
  const srv = await lendingServer('node');
  try {
    const c = await Tls13Client.connect(srv.port);
    const { spec, keys } = baseHello();
    await c.handshake(spec, keys);
    c.finish();
    c.sendData('up');
    assert.is(Buffer.from(await c.readData(2)).toString(), 'up');
    // KeyUpdate(update_not_requested) as two records: its first 3 bytes wait in the engine while the
    // lent buffer is overwritten; the second part and two data records (under the new key) come in one read.
    const ku = handshakeMessage(24, Uint8Array.of(0));
    c.raw.send(c.seal(22, ku.subarray(0, 3)));
    await new Promise((r) => setTimeout(r, 50));
    const tail = c.seal(22, ku.subarray(3));
    c.nextWriteKey();
    const enc = new TextEncoder();
    c.raw.send(cat(tail, c.seal(23, enc.encode('after-')), c.seal(23, enc.encode('update'))));
    assert.is(Buffer.from(await c.readData(12)).toString(), 'after-update');
    c.sendProtected(21, Uint8Array.of(1, 0)); // close_notify: the server closes in turn
    await c.raw.readToEnd();
    c.close();
    await srv.state.done;
    assert.is(srv.state.failure, undefined, JSON.stringify(srv.state.failure));
    assert.is(Buffer.concat(srv.state.received).toString(), 'upafter-update');
    assert.ok(srv.state.lentCalls >= 2);
  } finally {
    srv.close();
  }
});

test('receiveBorrowed with a provider that cannot lend (webcrypto): copies, and the data still arrives', async () => {
  const srv = await lendingServer('webcrypto');
  try {
    const data = randomBytes(200_000);
    const client = tls.connect({ port: srv.port, host: '127.0.0.1', ca: caPem(), servername: 'localhost' });
    const back: Buffer[] = [];
    client.on('data', (d: Buffer) => back.push(d));
    await new Promise<void>((r, j) => client.once('secureConnect', r).once('error', j));
    client.end(data);
    await new Promise<void>((r) => client.once('close', () => r()));
    await srv.state.done;
    assert.is(srv.state.failure, undefined);
    assert.is(sha(Buffer.concat(srv.state.received)), sha(data));
    assert.is(sha(Buffer.concat(back)), sha(data));
    assert.is(srv.state.usedOut, 0);
  } finally {
    srv.close();
  }
});

test.run();
