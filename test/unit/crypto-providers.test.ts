import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as nodeCrypto from 'node:crypto';
import { Crypto as PeculiarCrypto } from '@peculiar/webcrypto';
import { fromHex, hex } from '../../engine/codec.js';
import { isPromise, type AeadAlgorithm, type CryptoProvider, type KeyAlgorithm } from '../../engine/crypto/provider.js';
import { createWebCryptoProvider, loadWebCryptoProvider } from '../../engine/crypto/webcrypto.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { createJsCryptoProvider } from '../../engine/crypto/js.js';
import { chacha20poly1305 as nobleChaCha } from '@noble/ciphers/chacha.js';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { createProvider } from '../../proxy/tls/settings.js';
import { FFDHE2048, FFDHE3072 } from '../../engine/ffdhe.js';

const enc = (s: string) => new TextEncoder().encode(s);

const node = createNodeCryptoProvider();
const web = createWebCryptoProvider();
// The fallback loadWebCryptoProvider uses where there is no global WebCrypto.
const peculiar = createWebCryptoProvider(new PeculiarCrypto() as unknown as Crypto);
const js = createJsCryptoProvider();

const PROVIDERS: [string, CryptoProvider][] = [
  ['node', node],
  ['webcrypto', web],
  ['webcrypto/peculiar', peculiar],
  ['js', js],
];

async function rejects(f: () => unknown, what: string): Promise<void> {
  let threw = false;
  try {
    await f();
  } catch (e) {
    threw = true;
    assert.ok(e instanceof Error, `${what}: not an Error`);
  }
  assert.ok(threw, `${what}: did not throw`);
}

// ------------------------------------------------------------------ vectors

/** FIPS 180-2 appendix B.1 / C.1 / D.1: "abc". */
const ABC = {
  'SHA-256': 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  'SHA-384':
    'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
  'SHA-512':
    'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
} as const;

/** RFC 4231 §4.2 (test case 1) and §4.3 (test case 2). */
const HMAC_VECTORS = [
  {
    key: fromHex('0b'.repeat(20)),
    data: enc('Hi There'),
    'SHA-256': 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    'SHA-384':
      'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
    'SHA-512':
      '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
  },
  {
    key: enc('Jefe'),
    data: enc('what do ya want for nothing?'),
    'SHA-256': '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    'SHA-384':
      'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
    'SHA-512':
      '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
  },
] as const;

/**
 * McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", revised
 * 2005, appendix B: test case 4 (AES-128) and test case 16 (AES-256), the
 * cases with a 96-bit IV and additional data.
 */
const GCM_P =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39';
const GCM_A = 'feedfacedeadbeeffeedfacedeadbeefabaddad2';
const GCM_IV = 'cafebabefacedbaddecaf888';
const GCM_VECTORS: { alg: AeadAlgorithm; key: string; ct: string; tag: string }[] = [
  {
    alg: 'AES-128-GCM',
    key: 'feffe9928665731c6d6a8f9467308308',
    ct: '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
    tag: '5bc94fbc3221a5db94fae95ae7121a47',
  },
  {
    alg: 'AES-256-GCM',
    key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
    ct: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

/** RFC 8439 §2.8.2: ChaCha20-Poly1305 AEAD example. */
const CHACHA = {
  key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
  nonce: '070000004041424344454647',
  aad: '50515253c0c1c2c3c4c5c6c7',
  pt: "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ct:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
    '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
};

/** RFC 7748 §6.1: X25519 Diffie-Hellman example. */
const X25519_VECTOR = {
  alicePriv: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePub: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPriv: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  bobPub: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
};

// --------------------------------------------------------------- test keys

const der = (k: nodeCrypto.KeyObject, type: 'pkcs8' | 'spki') =>
  new Uint8Array(k.export({ type, format: 'der' } as nodeCrypto.KeyExportOptions<'der'>));

interface TestKey {
  algorithm: KeyAlgorithm;
  bits: number;
  pkcs8: Uint8Array;
  spki: Uint8Array;
  schemes: number[];
}

function makeKey(algorithm: KeyAlgorithm, bits: number, schemes: number[]): TestKey {
  const pair =
    algorithm === 'rsa'
      ? nodeCrypto.generateKeyPairSync('rsa', { modulusLength: bits })
      : algorithm === 'ed25519'
        ? nodeCrypto.generateKeyPairSync('ed25519')
        : nodeCrypto.generateKeyPairSync('ec', { namedCurve: algorithm === 'ecdsa-p256' ? 'P-256' : 'P-384' });
  return { algorithm, bits, pkcs8: der(pair.privateKey, 'pkcs8'), spki: der(pair.publicKey, 'spki'), schemes };
}

// RFC 8446 §4.2.3 SignatureScheme values.
const KEYS: TestKey[] = [
  makeKey('rsa', 2048, [0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601]),
  makeKey('ecdsa-p256', 256, [0x0403]),
  makeKey('ecdsa-p384', 384, [0x0503]),
  makeKey('ed25519', 256, [0x0807]),
];
// With the TLS 1.2-only rsa_pkcs1_sha1 (0x0201) and ecdsa_sha1 (0x0203), and
// ecdsa_secp521r1_sha512 (0x0603, no P-521 keys here): no key signs or
// verifies these without the tls12 option.
const ALL_SCHEMES = [
  0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0807, 0x0809, 0x080a, 0x080b, 0x0201, 0x0203, 0x0603,
];

const NODE_SCHEME: Record<number, { hash: string | null; opts: object }> = {
  0x0804: { hash: 'sha256', opts: { padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  0x0805: { hash: 'sha384', opts: { padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 } },
  0x0806: { hash: 'sha512', opts: { padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 } },
  0x0401: { hash: 'sha256', opts: { padding: nodeCrypto.constants.RSA_PKCS1_PADDING } },
  0x0501: { hash: 'sha384', opts: { padding: nodeCrypto.constants.RSA_PKCS1_PADDING } },
  0x0601: { hash: 'sha512', opts: { padding: nodeCrypto.constants.RSA_PKCS1_PADDING } },
  0x0403: { hash: 'sha256', opts: { dsaEncoding: 'der' } },
  0x0503: { hash: 'sha384', opts: { dsaEncoding: 'der' } },
  0x0807: { hash: null, opts: {} },
  0x0201: { hash: 'sha1', opts: { padding: nodeCrypto.constants.RSA_PKCS1_PADDING } },
  0x0203: { hash: 'sha1', opts: { dsaEncoding: 'der' } },
  0x0603: { hash: 'sha512', opts: { dsaEncoding: 'der' } },
};

/** An independent check with node:crypto itself (OpenSSL, strict DER for ECDSA). */
function opensslVerify(key: TestKey, scheme: number, data: Uint8Array, sig: Uint8Array): boolean {
  const s = NODE_SCHEME[scheme]!;
  const pub = nodeCrypto.createPublicKey({ key: Buffer.from(key.spki), format: 'der', type: 'spki' });
  return nodeCrypto.verify(s.hash, data, { key: pub, ...s.opts } as nodeCrypto.VerifyKeyObjectInput, sig);
}

/** Strict DER SEQUENCE { INTEGER r, INTEGER s } check (X.690 §8.3, §10.1). */
function isDerEcdsaSig(sig: Uint8Array, n: number): boolean {
  let pos = 0;
  const tlv = () => {
    const tag = sig[pos++];
    let len = sig[pos++]!;
    if (len === 0x81) {
      len = sig[pos++]!;
      if (len < 0x80) return null;
    } else if (len > 0x80) return null;
    const start = pos;
    pos += len;
    return pos <= sig.length ? { tag, start, len } : null;
  };
  const seq = tlv();
  if (!seq || seq.tag !== 0x30 || pos !== sig.length) return false;
  pos = seq.start;
  for (let i = 0; i < 2; i++) {
    const int = tlv();
    if (!int || int.tag !== 0x02 || int.len === 0) return false;
    const first = sig[int.start]!;
    if (first & 0x80) return false;
    if (first === 0 && int.len > 1 && !(sig[int.start + 1]! & 0x80)) return false;
    if (int.len > n + 1 || (int.len === n + 1 && first !== 0)) return false;
  }
  return pos === sig.length;
}

// ---------------------------------------------------------------- DH groups

const pHex = (h: string) => fromHex(h.replace(/\s+/g, ''));

/**
 * A custom 2048-bit safe-prime group from `openssl dhparam 2048`
 * (OpenSSL 3.0), g = 2: the kind of parameters a "DH PARAMETERS" file holds.
 */
const CUSTOM2048 = {
  p: pHex(`
    AF53AF7CD0F4599CAF952039AF0A6B3A2DC93C219AFF45749AB47A2DDBA0DCFE59E8DCEE7643421BE0A3EA2D43DFBA7D
    A68E515DBDF2018387A712A78A689B6E2334F20CB398A7B190A6624E16AD9FE472CDE6A56C35CA9B64101C195A6C3632
    8FA639842A587472B95DC072A8A140E4DBFBCAAD4DA4E7E145775A01F00FCEE1844F3E201DA1A745F789FBA425506BC6
    0F3190B23B210C05805A3F8223A025A69E18F0CDAD448FB1D4B91A3AEED7E830B82CDB80679B5246118C822DA29C1F4D
    061345D64252287DC33FD6204A2F16518A2C66010E827F3AF67C70441AE3F3EA4311833AE669D6577399DBA9ED49964D
    85B43834F4384B2720D93765EA8EF44F`),
  g: Uint8Array.of(2),
};

/**
 * The Mersenne prime 2^521 - 1 with g = 3: 66 bytes with a top byte of
 * 0x01, so about half of all public values and secrets have a leading zero
 * byte — for the padding checks only (p-1 is smooth: not a group to use).
 */
const M521 = { p: fromHex('01' + 'ff'.repeat(65)), g: Uint8Array.of(3) };

const DH_GROUPS: [string, { p: Uint8Array; g: Uint8Array }, number][] = [
  ['ffdhe2048', FFDHE2048, 0x0100],
  ['ffdhe3072', FFDHE3072, 0x0101],
  ['custom 2048', CUSTOM2048, 0],
];

function bigOf(b: Uint8Array): bigint {
  return b.length ? BigInt('0x' + hex(b)) : 0n;
}

function bytesOf(v: bigint, length: number): Uint8Array {
  return fromHex(v.toString(16).padStart(length * 2, '0'));
}

// -------------------------------------------------------------------- tests

test('webcrypto.ts is portable: no node: imports, no Buffer', () => {
  const src = readFileSync(new URL('../../engine/crypto/webcrypto.ts', import.meta.url), 'utf8');
  assert.not.match(src, /['"]node:/);
  assert.not.match(src, /\bBuffer\b/);
  assert.not.match(src, /\b(process|require|__dirname)\b/);
});

test('the js provider is portable: no node: imports, no Buffer, no WebCrypto', () => {
  for (const f of ['js.ts', 'rsa.ts', 'bigint.ts', 'der-keys.ts', 'noble-aead.ts', 'noble-hash.ts']) {
    const src = readFileSync(new URL(`../../engine/crypto/${f}`, import.meta.url), 'utf8');
    assert.not.match(src, /['"]node:/, f);
    assert.not.match(src, /\bBuffer\b/, f);
    assert.not.match(src, /\b(process|require|__dirname)\b/, f);
    assert.not.match(src, /\.subtle\b/, f);
  }
});

test('the js provider refuses to start without a CSPRNG, and uses the one it is given', () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
  try {
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
    assert.throws(() => createJsCryptoProvider(), /no CSPRNG: globalThis\.crypto\.getRandomValues is not available/);
    Object.defineProperty(globalThis, 'crypto', { value: { subtle: undefined }, configurable: true, writable: true });
    assert.throws(() => createJsCryptoProvider(), /no CSPRNG/);
    // Without crypto.subtle, but with getRandomValues: fine (the isolation test runs this way).
    Object.defineProperty(globalThis, 'crypto', {
      value: { getRandomValues: (a: Uint8Array) => nodeCrypto.randomFillSync(a) },
      configurable: true,
      writable: true,
    });
    assert.is(createJsCryptoProvider().random(16).length, 16);
  } finally {
    Object.defineProperty(globalThis, 'crypto', saved);
  }
  // A stub that writes nothing is refused.
  assert.throws(() => createJsCryptoProvider({ getRandomValues: () => undefined }), /all-zero/);
  let calls = 0;
  const p = createJsCryptoProvider({
    getRandomValues: (a) => {
      calls++;
      nodeCrypto.randomFillSync(a);
    },
  });
  const before = calls;
  p.random(70_000);
  assert.is(calls - before, 2, 'two chunks of at most 65536 bytes');
});

test('js ChaCha20-Poly1305 equals node:crypto: lengths 0-300 and up to 20 KB, unaligned buffers, tampering refused', async () => {
  for (let iter = 0; iter < 400; iter++) {
    const key = nodeCrypto.randomBytes(32);
    const nonce = nodeCrypto.randomBytes(12);
    const len = iter < 300 ? iter : Math.floor(Math.random() * 20_000);
    const off = iter % 7;
    const pt = new Uint8Array(nodeCrypto.randomBytes(len + off)).subarray(off);
    if (iter % 5 === 0) pt.fill(0xff); // carries everywhere in the accumulator
    const aad = nodeCrypto.randomBytes(iter % 40);
    const ref = nobleChaCha(key, nonce, aad).encrypt(pt);
    const k = js.aeadKey('CHACHA20-POLY1305', key) as import('../../engine/crypto/provider.js').AeadKey;
    const nodeKey = node.aeadKey('CHACHA20-POLY1305', key) as import('../../engine/crypto/provider.js').AeadKey;
    assert.is(hex((await k.seal(nonce, aad, pt)) as Uint8Array), hex(ref), `seal ${len}`);
    assert.is(hex((await nodeKey.seal(nonce, aad, pt)) as Uint8Array), hex(ref), `node ${len}`);
    const sealed = new Uint8Array(ref.length + off);
    sealed.set(ref, off);
    assert.is(hex((await k.open(nonce, aad, sealed.subarray(off)))!), hex(pt), `open ${len}`);
    const bad = ref.slice();
    bad[iter % bad.length]! ^= 1 << (iter % 8);
    assert.is(await k.open(nonce, aad, bad), null, `tampered ${len}`);
  }
});

test('tlsproxy_crypto_provider = js selects it; without a CSPRNG the start-up error names the parameter', async () => {
  const params = (value: string) => ParameterSet.defaults().withOverrides([{ name: 'tlsproxy_crypto_provider', value }], 'test');
  // First, before this process has a js provider (one per kind and process, below).
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
  let error = '';
  try {
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
    try {
      await createProvider(params('js'));
    } catch (e) {
      error = (e as Error).message;
    }
  } finally {
    Object.defineProperty(globalThis, 'crypto', saved);
  }
  assert.is(
    error,
    "tlsproxy_crypto_provider = js: js crypto: no CSPRNG: globalThis.crypto.getRandomValues is not available on this platform; the js provider needs the platform's CSPRNG and has no fallback",
  );
  // A provider that could not be made is not kept: with the CSPRNG back, the same value works.
  assert.is((await createProvider(params('js'))).name, 'js');
  assert.is((await createProvider(params(' JS '))).name, 'js');
  error = '';
  try {
    await createProvider(params('openssl'));
  } catch (e) {
    error = (e as Error).message;
  }
  assert.is(error, 'invalid tlsproxy_crypto_provider value: "openssl" (expected node, webcrypto or js)');
});

test('one provider of each kind per process: the start check, the start and reloads share it (keys imported once)', async () => {
  const params = (value: string) => ParameterSet.defaults().withOverrides([{ name: 'tlsproxy_crypto_provider', value }], 'test');
  const a = await createProvider(params('node'));
  assert.is(await createProvider(params(' Node ')), a);
  assert.is(await createProvider(ParameterSet.defaults()), a, 'the default is node');
  const w = await createProvider(params('webcrypto'));
  assert.is(w.name, 'webcrypto');
  assert.is.not(w, a);
  assert.is(await createProvider(params('webcrypto')), w);
});

test('the js provider answers synchronously (no promise per record)', () => {
  const k = js.aeadKey('CHACHA20-POLY1305', new Uint8Array(32));
  assert.not.ok(isPromise(k));
  const share = js.generateKeyShare(0x0017);
  assert.not.ok(isPromise(share));
  for (const key of KEYS) {
    const sk = js.importSigningKey(key.pkcs8, key.algorithm);
    assert.not.ok(isPromise(sk), key.algorithm);
    if (isPromise(sk)) return;
    const sig = sk.sign(key.schemes[0]!, enc('x'));
    assert.not.ok(isPromise(sig), key.algorithm);
    assert.is(js.verify(key.spki, key.schemes[0]!, enc('x'), sig as Uint8Array), true, key.algorithm);
  }
});

test('js RSA: CRT signing matches a plain RSASP1 with d; PKCS#1 v1.5 equals OpenSSL byte for byte', async () => {
  const k = KEYS[0]!;
  const sk = js.importSigningKey(k.pkcs8, 'rsa') as Awaited<ReturnType<typeof js.importSigningKey>>;
  const data = enc('deterministic');
  for (const [scheme, hash] of [[0x0401, 'sha256'], [0x0501, 'sha384'], [0x0601, 'sha512']] as const) {
    const ours = await sk.sign(scheme, data);
    const ref = nodeCrypto.sign(hash, data, { key: nodeCrypto.createPrivateKey({ key: Buffer.from(k.pkcs8), format: 'der', type: 'pkcs8' }) });
    assert.is(hex(ours), ref.toString('hex'), `0x${scheme.toString(16)}`);
  }
  // A PKCS#8 key whose CRT values are inconsistent is refused.
  const jwk = nodeCrypto.createPrivateKey({ key: Buffer.from(k.pkcs8), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
  const bad = { ...jwk, dp: jwk.dq };
  const badDer = new Uint8Array(nodeCrypto.createPrivateKey({ key: bad, format: 'jwk' }).export({ type: 'pkcs8', format: 'der' }));
  assert.throws(() => js.importSigningKey(badDer, 'rsa'), /inconsistent CRT/);
});

test('loadWebCryptoProvider uses the global WebCrypto', async () => {
  const p = await loadWebCryptoProvider();
  assert.is(p.name, 'webcrypto');
  assert.is(hex(p.hash('SHA-256').digest()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('node provider answers synchronously', () => {
  const h = node.hash('SHA-256');
  h.update(enc('x'));
  assert.ok(h.digest() instanceof Uint8Array);
  const k = node.aeadKey('AES-128-GCM', new Uint8Array(16));
  assert.not.ok(isPromise(k));
  if (isPromise(k)) return;
  const sealed = k.seal(new Uint8Array(12), new Uint8Array(0), enc('hi'));
  assert.not.ok(isPromise(sealed));
  assert.not.ok(isPromise(k.open(new Uint8Array(12), new Uint8Array(0), sealed as Uint8Array)));
  const share = node.generateKeyShare(0x001d);
  assert.not.ok(isPromise(share));
  const sk = node.importSigningKey(KEYS[1]!.pkcs8, 'ecdsa-p256');
  assert.not.ok(isPromise(sk));
  if (isPromise(sk)) return;
  const sig = sk.sign(0x0403, enc('x'));
  assert.not.ok(isPromise(sig));
  assert.is(node.verify(KEYS[1]!.spki, 0x0403, enc('x'), sig as Uint8Array), true);
  // Plain Uint8Arrays, not Buffers (Buffer.slice aliases, Buffer.toString differs).
  assert.is((sig as Uint8Array).constructor, Uint8Array);
  assert.is(node.hmac('SHA-256', new Uint8Array(32), new Uint8Array(1)).constructor, Uint8Array);
});

for (const [name, p] of PROVIDERS) {
  test(`${name}: hash vectors (FIPS 180-2 "abc")`, () => {
    for (const alg of ['SHA-256', 'SHA-384', 'SHA-512'] as const) {
      const h = p.hash(alg);
      h.update(enc('a'));
      h.update(enc('bc'));
      assert.is(hex(h.digest()), ABC[alg], alg);
    }
  });

  test(`${name}: digest() is a snapshot, clone() is independent`, () => {
    for (const alg of ['SHA-256', 'SHA-384', 'SHA-512'] as const) {
      const h = p.hash(alg);
      h.update(enc('ab'));
      const ab = hex(h.digest());
      assert.is(hex(h.digest()), ab, 'digest twice');
      const c = h.clone();
      h.update(enc('c'));
      assert.is(hex(h.digest()), ABC[alg], 'original continues after digest');
      assert.is(hex(c.digest()), ab, 'clone unaffected by the original');
      c.update(enc('c'));
      assert.is(hex(c.digest()), ABC[alg], 'clone continues');
      const c2 = c.clone();
      c2.update(enc('d'));
      assert.is(hex(c.digest()), ABC[alg], 'original unaffected by its clone');
      const ref = p.hash(alg);
      ref.update(enc('ab'));
      assert.is(hex(ref.digest()), ab);
    }
  });

  test(`${name}: HMAC RFC 4231 test cases 1 and 2`, () => {
    for (const v of HMAC_VECTORS) {
      for (const alg of ['SHA-256', 'SHA-384', 'SHA-512'] as const) {
        assert.is(hex(p.hmac(alg, v.key, v.data)), v[alg], alg);
      }
    }
  });

  test(`${name}: AES-GCM vectors (GCM spec test cases 4 and 16)`, async () => {
    for (const v of GCM_VECTORS) {
      const k = await p.aeadKey(v.alg, fromHex(v.key));
      assert.is(k.algorithm, v.alg);
      const sealed = await k.seal(fromHex(GCM_IV), fromHex(GCM_A), fromHex(GCM_P));
      assert.is(hex(sealed), v.ct + v.tag, v.alg);
      const opened = await k.open(fromHex(GCM_IV), fromHex(GCM_A), fromHex(v.ct + v.tag));
      assert.ok(opened);
      assert.is(hex(opened!), GCM_P);
    }
  });

  test(`${name}: ChaCha20-Poly1305 vector (RFC 8439 §2.8.2)`, async () => {
    const k = await p.aeadKey('CHACHA20-POLY1305', fromHex(CHACHA.key));
    const sealed = await k.seal(fromHex(CHACHA.nonce), fromHex(CHACHA.aad), enc(CHACHA.pt));
    assert.is(hex(sealed), CHACHA.ct + CHACHA.tag);
    const opened = await k.open(fromHex(CHACHA.nonce), fromHex(CHACHA.aad), fromHex(CHACHA.ct + CHACHA.tag));
    assert.is(new TextDecoder().decode(opened!), CHACHA.pt);
  });

  test(`${name}: AEAD open returns null on tampering and bad input`, async () => {
    for (const alg of ['AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305'] as const) {
      const key = p.random(alg === 'AES-128-GCM' ? 16 : 32);
      const k = await p.aeadKey(alg, key);
      const nonce = p.random(12);
      const aad = enc('aad bytes');
      const pt = p.random(1000);
      const sealed = await k.seal(nonce, aad, pt);
      assert.is(sealed.length, pt.length + 16);
      assert.is(hex((await k.open(nonce, aad, sealed))!), hex(pt), alg);
      const flip = (b: Uint8Array, i: number) => {
        const c = b.slice();
        c[i]! ^= 1;
        return c;
      };
      assert.is(await k.open(nonce, aad, flip(sealed, sealed.length - 1)), null, `${alg} tag bit`);
      assert.is(await k.open(nonce, flip(aad, 3), sealed), null, `${alg} AAD bit`);
      assert.is(await k.open(nonce, aad, flip(sealed, 0)), null, `${alg} ciphertext bit`);
      assert.is(await k.open(flip(nonce, 11), aad, sealed), null, `${alg} nonce bit`);
      assert.is(await k.open(nonce, aad, sealed.subarray(0, 15)), null, `${alg} shorter than a tag`);
      assert.is(await k.open(nonce.subarray(0, 8), aad, sealed), null, `${alg} short nonce`);
      // Empty plaintext: a bare tag.
      const empty = await k.seal(nonce, aad, new Uint8Array(0));
      assert.is(empty.length, 16);
      assert.is((await k.open(nonce, aad, empty))!.length, 0);
      // The input buffers are not modified.
      assert.is(hex((await k.open(nonce, aad, sealed))!), hex(pt));
    }
  });

  test(`${name}: aeadKey rejects a wrong key length`, async () => {
    await rejects(() => p.aeadKey('AES-128-GCM', new Uint8Array(32)), 'AES-128 with 32 bytes');
    await rejects(() => p.aeadKey('CHACHA20-POLY1305', new Uint8Array(16)), 'ChaCha with 16 bytes');
  });

  test(`${name}: X25519 vector (RFC 7748 §6.1)`, async () => {
    const alice = await p.generateKeyShare(0x001d, fromHex(X25519_VECTOR.alicePriv));
    assert.is(alice.group, 0x001d);
    assert.is(hex(alice.publicKey), X25519_VECTOR.alicePub);
    assert.is(hex(await alice.deriveSecret(fromHex(X25519_VECTOR.bobPub))), X25519_VECTOR.shared);
    const bob = await p.generateKeyShare(0x001d, fromHex(X25519_VECTOR.bobPriv));
    assert.is(hex(bob.publicKey), X25519_VECTOR.bobPub);
    assert.is(hex(await bob.deriveSecret(fromHex(X25519_VECTOR.alicePub))), X25519_VECTOR.shared);
  });

  test(`${name}: a fixed private key is refused for NIST groups; unknown groups throw`, async () => {
    await rejects(() => p.generateKeyShare(0x0017, new Uint8Array(32)), 'secp256r1 with privateKey');
    await rejects(() => p.generateKeyShare(0x0018, new Uint8Array(48)), 'secp384r1 with privateKey');
    await rejects(() => p.generateKeyShare(0x001e), 'x448');
  });

  test(`${name}: invalid peer key shares make deriveSecret throw`, async () => {
    const x = await p.generateKeyShare(0x001d);
    await rejects(() => x.deriveSecret(new Uint8Array(31).fill(9)), 'x25519 31 bytes');
    await rejects(() => x.deriveSecret(new Uint8Array(33).fill(9)), 'x25519 33 bytes');
    // u = 0 is a point of small order: the output is all zero (RFC 7748 §6.1, RFC 8446 §7.4.2).
    await rejects(() => x.deriveSecret(new Uint8Array(32)), 'x25519 zero point');
    for (const group of [0x0017, 0x0018]) {
      const s = await p.generateKeyShare(group);
      const other = await p.generateKeyShare(group);
      const good = other.publicKey;
      assert.is(hex(await s.deriveSecret(good)).length > 0, true);
      await rejects(() => s.deriveSecret(good.subarray(0, good.length - 1)), `${group} short`);
      await rejects(() => s.deriveSecret(new Uint8Array([...good, 0])), `${group} long`);
      // The compressed form (0x02/0x03 || X) is not allowed in TLS 1.3.
      const compressed = new Uint8Array(1 + (good.length - 1) / 2);
      compressed[0] = 0x02 | (good[good.length - 1]! & 1);
      compressed.set(good.subarray(1, 1 + (good.length - 1) / 2), 1);
      await rejects(() => s.deriveSecret(compressed), `${group} compressed`);
      const noPrefix = good.slice();
      noPrefix[0] = 0x05;
      await rejects(() => s.deriveSecret(noPrefix), `${group} 0x04 missing`);
      const offCurve = good.slice();
      offCurve[offCurve.length - 1]! ^= 1;
      await rejects(() => s.deriveSecret(offCurve), `${group} not on curve`);
      await rejects(() => s.deriveSecret(new Uint8Array(good.length).fill(0).fill(4, 0, 1)), `${group} (0, 0)`);
    }
  });

  test(`${name}: random`, () => {
    assert.is(p.random(0).length, 0);
    const a = p.random(32);
    const b = p.random(32);
    assert.is(a.length, 32);
    assert.is.not(hex(a), hex(b));
    const big = p.random(200_000); // more than one getRandomValues chunk
    assert.is(big.length, 200_000);
    assert.is.not(hex(big.subarray(199_900)), '00'.repeat(100));
  });

  test(`${name}: importSigningKey checks the key and reports bits`, async () => {
    for (const k of KEYS) {
      const sk = await p.importSigningKey(k.pkcs8, k.algorithm);
      assert.is(sk.algorithm, k.algorithm);
      assert.is(sk.bits, k.bits, k.algorithm);
      // A scheme of another key type is refused by throwing.
      for (const scheme of ALL_SCHEMES) {
        if (k.schemes.includes(scheme)) continue;
        await rejects(() => sk.sign(scheme, enc('x')), `${k.algorithm} with ${scheme.toString(16)}`);
      }
    }
    await rejects(() => p.importSigningKey(KEYS[1]!.pkcs8, 'ecdsa-p384'), 'P-256 key as ecdsa-p384');
    await rejects(() => p.importSigningKey(KEYS[0]!.pkcs8, 'ed25519'), 'RSA key as ed25519');
    await rejects(() => p.importSigningKey(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), 'rsa'), 'garbage');
  });

  test(`${name}: DH key shares: sizes, group values, fresh keys, invalid peer values throw`, async () => {
    assert.ok(p.dhKeyShare, 'dhKeyShare implemented');
    for (const [gname, params, group] of DH_GROUPS) {
      const len = params.p.length;
      const a = await p.dhKeyShare!(params.p, params.g);
      const b = await p.dhKeyShare!(params.p, params.g);
      assert.is(a.group, group, `${gname} group`);
      assert.is(a.publicKey.length, len, `${gname} publicKey padded to p`);
      assert.is.not(hex(a.publicKey), hex(b.publicKey), `${gname} fresh keys`);
      const P = bigOf(params.p);
      for (const y of [bigOf(a.publicKey), bigOf(b.publicKey)]) assert.ok(y > 1n && y < P - 1n, `${gname} 1 < Y < p-1`);
      const z = await a.deriveSecret(b.publicKey);
      assert.is(z.length, len, `${gname} Z padded to p`);
      assert.is(hex(await b.deriveSecret(a.publicKey)), hex(z), `${gname} agreement`);
      // Deriving twice, interleaved with other shares, gives the same secret.
      await p.dhKeyShare!(params.p, params.g);
      assert.is(hex(await a.deriveSecret(b.publicKey)), hex(z), `${gname} derive again`);
      // A leading 0x00 on p (a DER INTEGER's sign byte) changes nothing.
      const signed = await p.dhKeyShare!(new Uint8Array([0, ...params.p]), params.g);
      assert.is(signed.group, group);
      assert.is(signed.publicKey.length, len);
      assert.is(hex(await signed.deriveSecret(a.publicKey)), hex(await a.deriveSecret(signed.publicKey)), `${gname} with 0x00||p`);

      const bad: [string, Uint8Array][] = [
        ['empty', new Uint8Array(0)],
        ['0', Uint8Array.of(0)],
        ['0 padded', new Uint8Array(len)],
        ['1', Uint8Array.of(1)],
        ['1 padded', bytesOf(1n, len)],
        ['p-1', bytesOf(P - 1n, len)],
        ['p', params.p],
        ['p+1', bytesOf(P + 1n, len)],
        ['all ones', new Uint8Array(len).fill(0xff)],
        ['longer than p (valid value, leading zero)', new Uint8Array([0, ...b.publicKey])],
        ['longer than p', bytesOf(P + 2n, len + 1)],
      ];
      for (const [what, y] of bad) await rejects(() => a.deriveSecret(y), `${gname} peer ${what}`);
    }
  });

  test(`${name}: DH parameters are checked`, async () => {
    await rejects(() => p.dhKeyShare!(fromHex('00'), Uint8Array.of(2)), 'p = 0');
    await rejects(() => p.dhKeyShare!(fromHex('ffffffffffffffffffffffffffffff61'), Uint8Array.of(2)), '128-bit p');
    const even = FFDHE2048.p.slice();
    even[even.length - 1]! ^= 1;
    await rejects(() => p.dhKeyShare!(even, Uint8Array.of(2)), 'even p');
    for (const g of [new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(1), bytesOf(bigOf(FFDHE2048.p) - 1n, 256), FFDHE2048.p]) {
      await rejects(() => p.dhKeyShare!(FFDHE2048.p, g), `g = ${hex(g).slice(0, 8)}`);
    }
    // An RFC 7919 prime with another generator is a custom group.
    assert.is((await p.dhKeyShare!(FFDHE2048.p, Uint8Array.of(5))).group, 0);
    // g = 2 given as a padded integer is still the RFC 7919 group.
    assert.is((await p.dhKeyShare!(FFDHE2048.p, Uint8Array.of(0, 2))).group, 0x0100);
  });

  test(`${name}: DH values with leading zero bytes are padded (2^521 - 1, g = 3)`, async () => {
    const len = M521.p.length;
    let zeroY = 0;
    let zeroZ = 0;
    for (let i = 0; i < 40 && (zeroY < 2 || zeroZ < 2); i++) {
      const a = await p.dhKeyShare!(M521.p, M521.g);
      const b = await p.dhKeyShare!(M521.p, M521.g);
      assert.is(a.publicKey.length, len);
      assert.is(a.group, 0);
      // g^x from the peer value g is the share's own public value.
      assert.is(hex(await a.deriveSecret(M521.g)), hex(a.publicKey));
      const z = await a.deriveSecret(b.publicKey);
      assert.is(z.length, len);
      assert.is(hex(await b.deriveSecret(a.publicKey)), hex(z));
      if (a.publicKey[0] === 0) {
        zeroY++;
        // The peer value without its leading zero bytes is accepted too.
        let k = 0;
        while (a.publicKey[k] === 0) k++;
        assert.is(hex(await b.deriveSecret(a.publicKey.subarray(k))), hex(z), 'unpadded peer value');
      }
      if (z[0] === 0) zeroZ++;
    }
    assert.ok(zeroY >= 2 && zeroZ >= 2, `saw leading zeros: Y ${zeroY}, Z ${zeroZ}`);
  });

  test(`${name}: TLS 1.2 signature schemes with {tls12: true}`, async () => {
    const [rsa, p256, p384, ed] = KEYS as [TestKey, TestKey, TestKey, TestKey];
    const data = enc('TLS 1.2 ServerKeyExchange params');
    // Schemes a key signs only with tls12 (RFC 5246 §7.4.1.4.1, RFC 8422 §5.4).
    const cases: [TestKey, number[]][] = [
      [rsa, [0x0201]],
      [p256, [0x0503, 0x0603, 0x0203]],
      [p384, [0x0403, 0x0603, 0x0203]],
    ];
    for (const [k, schemes] of cases) {
      const sk = await p.importSigningKey(k.pkcs8, k.algorithm);
      for (const scheme of schemes) {
        const what = `${name} ${k.algorithm} 0x${scheme.toString(16)}`;
        await rejects(() => sk.sign(scheme, data), `${what} without tls12`);
        await rejects(() => sk.sign(scheme, data, {}), `${what} with tls12 absent`);
        await rejects(() => sk.sign(scheme, data, { tls12: false }), `${what} with tls12: false`);
        const sig = await sk.sign(scheme, data, { tls12: true });
        if (k.algorithm === 'rsa') assert.is(sig.length, k.bits / 8, what);
        else assert.ok(isDerEcdsaSig(sig, k.bits / 8), `${what}: DER for the key's curve`);
        assert.ok(opensslVerify(k, scheme, data, sig), `${what}: OpenSSL`);
        for (const [vn, verifier] of PROVIDERS) {
          assert.is(await verifier.verify(k.spki, scheme, data, sig, { tls12: true }), true, `${what} verified by ${vn}`);
          assert.is(await verifier.verify(k.spki, scheme, data, sig), false, `${what} strict, ${vn}`);
          assert.is(await verifier.verify(k.spki, scheme, enc('other'), sig, { tls12: true }), false, `${what} other data, ${vn}`);
          // The hash is part of the scheme.
          for (const other of [0x0201, 0x0401, 0x0403, 0x0503, 0x0603, 0x0203]) {
            if (other === scheme) continue;
            assert.is(await verifier.verify(k.spki, other, data, sig, { tls12: true }), false, `${what} as 0x${other.toString(16)}, ${vn}`);
          }
        }
      }
      // The TLS 1.3 schemes still work with tls12.
      for (const scheme of k.schemes) {
        const sig = await sk.sign(scheme, data, { tls12: true });
        assert.ok(opensslVerify(k, scheme, data, sig), `${name} ${k.algorithm} 0x${scheme.toString(16)} with tls12`);
        assert.is(await p.verify(k.spki, scheme, data, sig, { tls12: true }), true);
      }
    }
    // tls12 does not make a scheme fit another key type.
    const refusals: [TestKey, number[]][] = [
      [rsa, [0x0403, 0x0503, 0x0603, 0x0203, 0x0807, 0x0809, 0x080a, 0x080b]],
      [p256, [0x0201, 0x0401, 0x0804, 0x0807]],
      [p384, [0x0201, 0x0601, 0x0806, 0x0807]],
      [ed, [0x0201, 0x0203, 0x0403, 0x0503, 0x0603, 0x0804]],
    ];
    for (const [k, schemes] of refusals) {
      const sk = await p.importSigningKey(k.pkcs8, k.algorithm);
      for (const scheme of schemes) {
        await rejects(() => sk.sign(scheme, data, { tls12: true }), `${name} ${k.algorithm} 0x${scheme.toString(16)} tls12`);
      }
    }
    // Nor does it make verify accept a signature by a key of another type.
    const rsaSig = await (await p.importSigningKey(rsa.pkcs8, 'rsa')).sign(0x0201, data, { tls12: true });
    const ecSig = await (await p.importSigningKey(p256.pkcs8, 'ecdsa-p256')).sign(0x0203, data, { tls12: true });
    assert.is(await p.verify(p256.spki, 0x0201, data, rsaSig, { tls12: true }), false);
    assert.is(await p.verify(rsa.spki, 0x0203, data, ecSig, { tls12: true }), false);
    assert.is(await p.verify(ed.spki, 0x0203, data, ecSig, { tls12: true }), false);
    assert.is(await p.verify(p384.spki, 0x0203, data, ecSig, { tls12: true }), false, 'P-256 signature, P-384 key');
  });
}

test('cross-provider ECDH agreement for x25519, secp256r1, secp384r1', async () => {
  const LENGTHS: Record<number, [number, number]> = { 0x001d: [32, 32], 0x0017: [65, 32], 0x0018: [97, 48] };
  for (const [an, a] of PROVIDERS) {
    for (const [bn, b] of PROVIDERS) {
      for (const group of [0x001d, 0x0017, 0x0018]) {
        assert.ok(a.groups.includes(group));
        const sa = await a.generateKeyShare(group);
        const sb = await b.generateKeyShare(group);
        const [pubLen, secretLen] = LENGTHS[group]!;
        assert.is(sa.publicKey.length, pubLen);
        if (group !== 0x001d) assert.is(sa.publicKey[0], 0x04);
        const k1 = await sa.deriveSecret(sb.publicKey);
        const k2 = await sb.deriveSecret(sa.publicKey);
        assert.is(k1.length, secretLen);
        assert.is(hex(k1), hex(k2), `${an} x ${bn} group ${group}`);
      }
    }
  }
});

test('cross-provider DH agreement for ffdhe2048, ffdhe3072 and a custom group', async () => {
  for (const [gname, params, group] of DH_GROUPS) {
    for (const [an, a] of PROVIDERS) {
      for (const [bn, b] of PROVIDERS) {
        const sa = await a.dhKeyShare!(params.p, params.g);
        const sb = await b.dhKeyShare!(params.p, params.g);
        assert.is(sa.group, group);
        assert.is(sb.group, group);
        const k1 = await sa.deriveSecret(sb.publicKey);
        const k2 = await sb.deriveSecret(sa.publicKey);
        assert.is(k1.length, params.p.length);
        assert.is(hex(k1), hex(k2), `${an} x ${bn} ${gname}`);
      }
    }
  }
  // Against OpenSSL's own DiffieHellman, independent of the providers.
  for (const [gname, params] of DH_GROUPS) {
    const ref = nodeCrypto.createDiffieHellman(params.p, params.g);
    ref.generateKeys();
    for (const [name, p] of PROVIDERS) {
      const s = await p.dhKeyShare!(params.p, params.g);
      const z = await s.deriveSecret(ref.getPublicKey());
      assert.is(hex(z), ref.computeSecret(s.publicKey).toString('hex').padStart(params.p.length * 2, '0'), `${name} ${gname} vs OpenSSL`);
    }
  }
});

test('node, webcrypto and js DH keygen is synchronous', () => {
  for (const [name, p] of [['node', node], ['webcrypto', web], ['js', js]] as const) {
    const s = p.dhKeyShare!(FFDHE2048.p, FFDHE2048.g);
    assert.not.ok(isPromise(s), name);
    if (isPromise(s)) return;
    const t = p.dhKeyShare!(FFDHE2048.p, FFDHE2048.g);
    if (isPromise(t)) return;
    const z = s.deriveSecret(t.publicKey);
    assert.not.ok(isPromise(z), name);
    assert.is((z as Uint8Array).constructor, Uint8Array, name);
    assert.is(s.publicKey.constructor, Uint8Array, name);
  }
});

test('sign with each provider, verify with every other (and with OpenSSL)', async () => {
  const data = enc('TLS 1.3, server CertificateVerify' + '\x00'.repeat(64));
  for (const k of KEYS) {
    for (const [sn, signer] of PROVIDERS) {
      const sk = await signer.importSigningKey(k.pkcs8, k.algorithm);
      for (const scheme of k.schemes) {
        const what = `${sn} ${k.algorithm} 0x${scheme.toString(16)}`;
        const sig = await sk.sign(scheme, data);
        if (k.algorithm === 'rsa') assert.is(sig.length, k.bits / 8, what);
        if (k.algorithm === 'ed25519') assert.is(sig.length, 64, what);
        if (k.algorithm.startsWith('ecdsa')) assert.ok(isDerEcdsaSig(sig, k.bits / 8), `${what}: DER`);
        assert.ok(opensslVerify(k, scheme, data, sig), `${what}: OpenSSL`);
        for (const [vn, verifier] of PROVIDERS) {
          assert.is(await verifier.verify(k.spki, scheme, data, sig), true, `${what} verified by ${vn}`);
          const bad = sig.slice();
          bad[bad.length >> 1]! ^= 0x10;
          assert.is(await verifier.verify(k.spki, scheme, data, bad), false, `${what} bad sig, ${vn}`);
          assert.is(await verifier.verify(k.spki, scheme, enc('other data'), sig), false, `${what} other data, ${vn}`);
          // Another scheme with the same signature never verifies (and never throws).
          for (const other of ALL_SCHEMES) {
            if (other === scheme) continue;
            assert.is(await verifier.verify(k.spki, other, data, sig), false, `${what} as 0x${other.toString(16)}, ${vn}`);
          }
        }
      }
    }
  }
});

test('ECDSA verification accepts only strict DER', async () => {
  const k = KEYS[1]!;
  const data = enc('hello');
  const sig = await node.importSigningKey(k.pkcs8, k.algorithm);
  const good = (await sig.sign(0x0403, data)) as Uint8Array;
  // Re-encode r with a redundant leading zero byte: BER, not DER.
  const rLen = good[3]!;
  const r = good.subarray(4, 4 + rLen);
  const rest = good.subarray(4 + rLen);
  const padded = new Uint8Array([0x30, good[1]! + 1, 0x02, rLen + 1, 0x00, ...r, ...rest]);
  for (const [name, p] of PROVIDERS) {
    assert.is(await p.verify(k.spki, 0x0403, data, good), true, name);
    assert.is(await p.verify(k.spki, 0x0403, data, padded), false, `${name}: non-minimal INTEGER`);
    assert.is(await p.verify(k.spki, 0x0403, data, new Uint8Array([...good, 0])), false, `${name}: trailing byte`);
    assert.is(await p.verify(k.spki, 0x0403, data, good.subarray(0, good.length - 1)), false, `${name}: truncated`);
    assert.is(await p.verify(k.spki, 0x0403, data, new Uint8Array(64)), false, `${name}: raw r||s`);
  }
});

test('verify never throws on garbage', async () => {
  for (const [name, p] of PROVIDERS) {
    for (const scheme of [...ALL_SCHEMES, 0x0000, 0x0808, 0xffff]) {
      assert.is(await p.verify(new Uint8Array(0), scheme, enc('x'), new Uint8Array(0)), false, name);
      assert.is(await p.verify(new Uint8Array([0x30, 0x82, 0xff]), scheme, enc('x'), new Uint8Array(8)), false, name);
      assert.is(await p.verify(KEYS[0]!.spki, scheme, enc('x'), new Uint8Array(0)), false, name);
    }
  }
});

test('rsa_pss_pss_* verification with an id-RSASSA-PSS key', async () => {
  const pair = nodeCrypto.generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
  const spki = der(pair.publicKey, 'spki');
  const data = enc('pss-pss');
  const cases: [number, string, number][] = [
    [0x0809, 'sha256', 32],
    [0x080a, 'sha384', 48],
    [0x080b, 'sha512', 64],
  ];
  for (const [scheme, hash, saltLength] of cases) {
    const sig = nodeCrypto.sign(hash, data, {
      key: pair.privateKey,
      padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength,
    });
    for (const [name, p] of PROVIDERS) {
      assert.is(await p.verify(spki, scheme, data, sig), true, `${name} 0x${scheme.toString(16)}`);
      // The rsae scheme needs an rsaEncryption key (RFC 8446 §4.2.3).
      assert.is(await p.verify(spki, scheme - 5, data, sig), false, `${name} as rsae`);
    }
  }
  // And an rsaEncryption key does not verify under rsa_pss_pss_*.
  const sk = node.importSigningKey(KEYS[0]!.pkcs8, 'rsa');
  const sig = await (await sk).sign(0x0804, data);
  for (const [name, p] of PROVIDERS) assert.is(await p.verify(KEYS[0]!.spki, 0x0809, data, sig), false, name);
});


test('node random(): pooled small requests are fresh copies, never repeat across pool refills; large ones bypass the pool', () => {
  const seen = new Set<string>();
  const outs: Uint8Array[] = [];
  // 4 KiB pool: 600 requests of 32 bytes cross four refills.
  for (let i = 0; i < 600; i++) {
    const r = node.random(32);
    assert.is(r.length, 32);
    assert.is(r.byteOffset, 0, 'its own buffer, not a view of the pool');
    assert.is(r.buffer.byteLength, 32);
    const h = hex(r);
    assert.not.ok(seen.has(h), `request ${i} repeated an earlier value`);
    seen.add(h);
    outs.push(r);
  }
  // What was handed out does not change afterwards (the pool's copy was wiped, not the caller's).
  const first = hex(outs[0]!);
  for (let i = 0; i < 200; i++) node.random(24);
  assert.is(hex(outs[0]!), first);
  const odd = [1, 4, 7, 255, 256].map((n) => node.random(n));
  assert.equal(odd.map((r) => r.length), [1, 4, 7, 255, 256]);
  const big = node.random(100_000);
  assert.is(big.length, 100_000);
  assert.ok(big.some((b) => b !== 0) && big.subarray(99_900).some((b) => b !== 0), 'filled to the end');
});

test.run();
