/**
 * The native AEAD contexts (native/tlsproxy_aead.c via providers/native-aead.ts)
 * against node:crypto's Cipheriv: same bytes for every suite and both TLS
 * versions, in-place opening of owned records, tampering refused, and the
 * connection's join of in-place plaintexts (one data event per socket read).
 * The addon's HMAC against createHmac and RFC 4231, its running hashes
 * against createHash.
 */

import { createCipheriv, createHash, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AeadAlgorithm, HashAlgorithm } from '../../engine/crypto/provider.js';
import { RecordReader, Tls12Protection, Tls13Protection } from '../../engine/record.js';
import { TLS13_SUITES } from '../../engine/suites.js';
import { nativeAead, nativeAeadKey, nativeHash, nativeHmac, nativeX25519 } from '../../providers/native-aead.js';
import { createNodeCryptoProvider } from '../../providers/node.js';

const available = nativeAead() !== undefined;
const ALGS: AeadAlgorithm[] = ['AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305'];
const NAME = { 'AES-128-GCM': 'aes-128-gcm', 'AES-256-GCM': 'aes-256-gcm', 'CHACHA20-POLY1305': 'chacha20-poly1305' } as const;

function reference(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const c = createCipheriv(NAME[alg] as 'chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: pt.length });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

test('native AEAD: seal equals node:crypto, open round-trips, any flipped bit is refused', () => {
  if (!available) return;
  for (const alg of ALGS) {
    const key = randomBytes(alg === 'AES-128-GCM' ? 16 : 32);
    const k = nativeAeadKey(alg, key)!;
    assert.ok(k.synchronous);
    for (const len of [0, 1, 15, 16, 17, 1000, 16384 + 1]) {
      const nonce = randomBytes(12);
      const aad = randomBytes(13);
      const pt = randomBytes(len);
      const want = reference(alg, key, nonce, aad, pt);
      const sealed = k.seal(nonce, aad, pt) as Uint8Array;
      assert.equal(Buffer.from(sealed).toString('hex'), Buffer.from(want).toString('hex'), `${alg} ${len}`);
      const trailer = Uint8Array.of(23, 0, 0);
      const rec = k.sealRecord!(nonce, aad, Uint8Array.of(1, 2, 3), pt, trailer) as Uint8Array;
      assert.equal(Buffer.from(rec.subarray(3)).toString('hex'), Buffer.from(reference(alg, key, nonce, aad, Buffer.concat([pt, trailer]))).toString('hex'));
      const opened = k.open(nonce, aad, sealed) as Uint8Array;
      assert.equal(Buffer.from(opened).toString('hex'), Buffer.from(pt).toString('hex'));
      // open() leaves its input alone; openInPlace() decrypts over it.
      assert.equal(Buffer.from(sealed).toString('hex'), Buffer.from(want).toString('hex'));
      const copy = sealed.slice();
      const inPlace = k.openInPlace!(nonce, aad, copy)!;
      assert.is(inPlace.buffer, copy.buffer);
      assert.equal(Buffer.from(inPlace).toString('hex'), Buffer.from(pt).toString('hex'));
      for (const bit of [0, Math.floor((sealed.length * 8) / 2), sealed.length * 8 - 1]) {
        const bad = sealed.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.is(k.open(nonce, aad, bad), null, `${alg} ${len} bit ${bit}`);
        assert.is(k.openInPlace!(nonce, aad, bad.slice()), null);
      }
      const badAad = aad.slice();
      badAad[0]! ^= 1;
      assert.is(k.open(nonce, badAad, sealed), null);
      assert.is(k.open(nonce.subarray(0, 11), aad, sealed), null);
      assert.is(k.open(nonce, aad, sealed.subarray(0, 15)), null);
    }
    assert.throws(() => nativeAeadKey(alg, key.subarray(1)));
    assert.throws(() => k.seal(new Uint8Array(8), new Uint8Array(0), new Uint8Array(1)));
  }
});

test('record layer: owned records opened in place give the same plaintext, TLS 1.3 and 1.2, every suite', () => {
  const provider = createNodeCryptoProvider();
  const content = randomBytes(16384);
  for (const suite of TLS13_SUITES.values()) {
    const key = randomBytes(suite.aead === 'AES-128-GCM' ? 16 : 32);
    const iv = randomBytes(12);
    const w = new Tls13Protection(provider, suite, key, iv);
    const r = new Tls13Protection(provider, suite, key, iv);
    const chunk = Buffer.concat([0, 1, 2, 3].map(() => w.seal(23, content) as Uint8Array));
    const reader = new RecordReader();
    reader.push(new Uint8Array(chunk), true);
    for (let rec = reader.next(16640); rec; rec = reader.next(16640)) {
      assert.ok(rec.owned);
      const inner = r.open(rec) as { type: number; content: Uint8Array };
      assert.is(inner.type, 23);
      assert.ok(Buffer.from(inner.content).equals(content));
      if (available) assert.is(inner.content.buffer, rec.fragment.buffer);
    }
    assert.is(r.sequence, 4);
  }
  for (const alg of ALGS) {
    const key = randomBytes(alg === 'AES-128-GCM' ? 16 : 32);
    const iv = randomBytes(alg === 'CHACHA20-POLY1305' ? 12 : 4);
    const w = new Tls12Protection(provider, alg, key, iv);
    const r = new Tls12Protection(provider, alg, key, iv);
    for (const owned of [true, false]) {
      const sealed = w.seal(23, content) as Uint8Array;
      const reader = new RecordReader();
      // split across two chunks: the reader copies the record together (owned)
      reader.push(sealed.subarray(0, 100), owned);
      reader.push(sealed.subarray(100), owned);
      const rec = reader.next(16640)!;
      assert.ok(rec.owned);
      const inner = r.open(rec) as { type: number; content: Uint8Array };
      assert.ok(Buffer.from(inner.content).equals(content));
    }
  }
});

test('record layer: sealInto (several records in one buffer) gives the bytes seal gives, TLS 1.3 and 1.2', () => {
  if (!available) return;
  const provider = createNodeCryptoProvider();
  const content = randomBytes(3000);
  const suite = TLS13_SUITES.values().next().value!;
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const a = new Tls13Protection(provider, suite, key, iv);
  const b = new Tls13Protection(provider, suite, key, iv);
  const len = a.sealedLength!(content.length, 3);
  const out = new Uint8Array(2 * len);
  a.sealInto!(23, content, 3, out, 0);
  a.sealInto!(22, content, 3, out, len);
  const want = Buffer.concat([b.seal(23, content, 3) as Uint8Array, b.seal(22, content, 3) as Uint8Array]);
  assert.ok(Buffer.from(out).equals(want));
  for (const alg of ALGS) {
    const k = randomBytes(alg === 'AES-128-GCM' ? 16 : 32);
    const iv12 = randomBytes(alg === 'CHACHA20-POLY1305' ? 12 : 4);
    const c = new Tls12Protection(provider, alg, k, iv12);
    const d = new Tls12Protection(provider, alg, k, iv12);
    const l = c.sealedLength!(content.length, 0);
    const o = new Uint8Array(2 * l);
    c.sealInto!(23, content, 0, o, 0);
    c.sealInto!(23, content, 0, o, l);
    assert.ok(Buffer.from(o).equals(Buffer.concat([d.seal(23, content) as Uint8Array, d.seal(23, content) as Uint8Array])), alg);
  }
});

test('record layer: a non-owned chunk is never written to', () => {
  const provider = createNodeCryptoProvider();
  const suite = TLS13_SUITES.values().next().value!;
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const w = new Tls13Protection(provider, suite, key, iv);
  const r = new Tls13Protection(provider, suite, key, iv);
  const sealed = w.seal(23, randomBytes(1000)) as Uint8Array;
  const before = Buffer.from(sealed).toString('hex');
  const reader = new RecordReader();
  reader.push(sealed);
  const rec = reader.next(16640)!;
  assert.not.ok(rec.owned);
  assert.ok(r.open(rec));
  assert.is(Buffer.from(sealed).toString('hex'), before);
});

test('native X25519: agrees with node:crypto, low-order and short peer keys refused', () => {
  const x = nativeX25519();
  if (!x) return;
  const provider = createNodeCryptoProvider();
  for (let i = 0; i < 20; i++) {
    const ours = x.keygen();
    const theirs = generateKeyPairSync('x25519', { publicKeyEncoding: { type: 'spki', format: 'der' } }) as unknown as { publicKey: Buffer; privateKey: import('node:crypto').KeyObject };
    const theirRaw = theirs.publicKey.subarray(theirs.publicKey.length - 32);
    const ourSecret = ours.derive(theirRaw)!;
    const pub = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(ours.publicKey).toString('base64url') }, format: 'jwk' });
    const theirSecret = diffieHellman({ privateKey: theirs.privateKey, publicKey: pub });
    assert.ok(Buffer.from(ourSecret).equals(theirSecret));
  }
  // RFC 7748 §6.1: low-order points give an all-zero secret, which must be refused.
  const share = provider.generateKeyShare(0x001d) as import('../../engine/crypto/provider.js').KeyShare;
  const one = new Uint8Array(32);
  one[0] = 1;
  for (const bad of [new Uint8Array(32), one]) assert.throws(() => share.deriveSecret(bad));
  assert.throws(() => share.deriveSecret(new Uint8Array(31)));
});

test('native X25519 from contexts prepared once: every key pair is new, each AEAD cipher takes its key length, an unknown one refused', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const a = nativeAead() as any;
  const x = nativeX25519();
  if (!a || !x) return;
  // The keygen context is reused (tlsproxy_aead.c, addon_state): it must still draw a fresh private key each time.
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(Buffer.from(x.keygen().publicKey).toString('hex'));
  assert.is(seen.size, 200);
  // The peer-key import context is reused too: two peers in a row, each secret the one node:crypto computes.
  const ours = x.keygen();
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(ours.publicKey).toString('base64url') }, format: 'jwk' });
  for (let i = 0; i < 2; i++) {
    const theirs = generateKeyPairSync('x25519', { publicKeyEncoding: { type: 'spki', format: 'der' } }) as unknown as { publicKey: Buffer; privateKey: import('node:crypto').KeyObject };
    const mine = ours.derive(theirs.publicKey.subarray(theirs.publicKey.length - 32))!;
    assert.ok(Buffer.from(mine).equals(diffieHellman({ privateKey: theirs.privateKey, publicKey: pub })));
  }
  // The ciphers: each algorithm takes its key length only; algorithm 3 does not exist.
  for (const [alg, len] of [[0, 16], [1, 32], [2, 32]] as const) {
    assert.ok(a.aeadCreate(alg, new Uint8Array(len), true));
    assert.throws(() => a.aeadCreate(alg, new Uint8Array(len + 1), true), /wrong key length/);
  }
  assert.throws(() => a.aeadCreate(3, new Uint8Array(16), true), /unknown algorithm/);
  assert.throws(() => a.aeadCreate(-1, new Uint8Array(16), true), /unknown algorithm/);
});


test('the addon refuses a handle of the wrong kind (type-tagged Externals): an AEAD context is no X25519 key, nor the reverse', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const a = nativeAead() as any;
  if (!a) return; // no addon built: nothing to check (native.test.ts says why)
  const aead = a.aeadCreate(0, new Uint8Array(16), true);
  const pub = new Uint8Array(32);
  const x = a.x25519Keygen(pub);
  assert.throws(() => a.x25519Derive(aead, pub, new Uint8Array(32)), /x25519Derive: bad arguments/);
  assert.throws(() => a.aeadSeal(x, new Uint8Array(12), new Uint8Array(0), new Uint8Array(4), new Uint8Array(0), new Uint8Array(64), 0), /aeadSeal: bad arguments/);
  assert.throws(() => a.aeadOpen(x, new Uint8Array(12), new Uint8Array(0), new Uint8Array(32)), /aeadOpen: bad arguments/);
  assert.throws(() => a.aeadSeal({}, new Uint8Array(12), new Uint8Array(0), new Uint8Array(4), new Uint8Array(0), new Uint8Array(64), 0), /aeadSeal: bad arguments/);
  // The right handles still work.
  a.aeadSeal(aead, new Uint8Array(12), new Uint8Array(0), new Uint8Array(4), new Uint8Array(0), new Uint8Array(64), 0);
  assert.is(a.x25519Derive(x, pub, new Uint8Array(32)), true);
});

test('native HMAC: RFC 4231 test cases 1 and 6, equal to createHmac for keys and data around the block sizes, node:crypto past its buffer', () => {
  if (!available) return;
  const mac = nativeHmac();
  assert.ok(mac, 'this build of the addon has hmac()');
  const hex = (b: Uint8Array | undefined) => Buffer.from(b!).toString('hex');
  // RFC 4231 §4.2 (case 1): Key = 0x0b x 20, Data = "Hi There". §4.7 (case 6): a 131-byte key,
  // longer than every block, is hashed first (RFC 2104 §2).
  const key = new Uint8Array(20).fill(0x0b);
  const cases: [Uint8Array, string, Record<'SHA-256' | 'SHA-384' | 'SHA-512', string>][] = [
    [
      key,
      'Hi There',
      {
        'SHA-256': 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
        'SHA-384': 'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
        'SHA-512': '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
      },
    ],
    [
      new Uint8Array(131).fill(0xaa),
      'Test Using Larger Than Block-Size Key - Hash Key First',
      {
        'SHA-256': '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
        'SHA-384': '4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952',
        'SHA-512': '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598',
      },
    ],
  ];
  for (const [k, text, want] of cases) {
    for (const [h, expected] of Object.entries(want) as [HashAlgorithm, string][]) assert.is(hex(mac(h, k, new TextEncoder().encode(text))), expected, `${h} ${text}`);
  }
  const NODE = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' } as const;
  for (const h of Object.keys(NODE) as HashAlgorithm[]) {
    for (const kl of [0, 1, 32, 48, 64, 127, 128, 129, 300]) {
      for (const dl of [0, 1, 32, 100, 1000]) {
        const k = randomBytes(kl);
        const d = randomBytes(dl);
        assert.is(hex(mac(h, k, d)), createHmac(NODE[h], k).update(d).digest('hex'), `${h} key ${kl} data ${dl}`);
      }
    }
  }
  // Past the 4 KiB buffer: not done here; the provider falls back to createHmac with the same answer.
  const big = randomBytes(5000);
  assert.is(mac('SHA-256', key, big), undefined);
  assert.is(hex(createNodeCryptoProvider().hmac('SHA-256', key, big)), createHmac('sha256', key).update(big).digest('hex'));
  // The addon checks the lengths against the buffer it is given.
  const scratch = new Uint8Array(new ArrayBuffer(128));
  assert.throws(() => nativeAead()!.hmac!(0, 100, 100, scratch), /outside the scratch buffer/);
  assert.throws(() => nativeAead()!.hmac!(7, 1, 1, scratch), /unknown hash/);
});

test('native running hash: equal to createHash read at every step, clones independent, the node provider uses it', () => {
  if (!available) return;
  const make = nativeHash();
  assert.ok(make, 'this build of the addon has the hash functions');
  const NODE = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' } as const;
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  for (const h of Object.keys(NODE) as HashAlgorithm[]) {
    // FIPS 180-2's "abc", then messages of the sizes that cross the off-heap buffer or not (64) and a block.
    const abc = make(h);
    abc.update(new TextEncoder().encode('abc'));
    assert.is(hex(abc.digest()), createHash(NODE[h]).update('abc').digest('hex'));
    const ours = make(h);
    const ref = createHash(NODE[h]);
    assert.is(hex(ours.digest()), ref.copy().digest('hex'), `${h} empty`);
    for (const len of [0, 1, 63, 64, 65, 127, 128, 129, 5000]) {
      const m = randomBytes(len);
      // A view into a larger buffer, as handshake messages are.
      const view = new Uint8Array(len + 7);
      view.set(m, 3);
      ours.update(view.subarray(3, 3 + len));
      ref.update(m);
      assert.is(hex(ours.digest()), ref.copy().digest('hex'), `${h} after ${len}`);
      // Reading twice changes nothing.
      assert.is(hex(ours.digest()), ref.copy().digest('hex'), `${h} read again after ${len}`);
    }
    const fork = ours.clone();
    const refFork = ref.copy();
    fork.update(Uint8Array.of(1, 2, 3));
    refFork.update(Uint8Array.of(1, 2, 3));
    assert.is(hex(fork.digest()), refFork.digest('hex'), `${h} clone`);
    assert.is(hex(ours.digest()), ref.digest('hex'), `${h} the original is untouched by its clone`);
  }
  // The provider's hash() is this one where the addon has it.
  const p = createNodeCryptoProvider().hash('SHA-384');
  p.update(Uint8Array.of(9));
  assert.is(hex(p.digest()), createHash('sha384').update(Uint8Array.of(9)).digest('hex'));
  // Handles are typed: an AEAD context is not a hash, a short output is refused.
  const a = nativeAead()!;
  const aead = a.aeadCreate(0, new Uint8Array(16), true);
  assert.throws(() => a.hashUpdate!(aead, new Uint8Array(1)), /hashUpdate: bad arguments/);
  assert.throws(() => a.hashDigest!(a.hashCreate!(2), new Uint8Array(new ArrayBuffer(128)).subarray(0, 32)), /output too short/);
  assert.throws(() => a.hashCreate!(3), /unknown hash/);
});

test.run();
