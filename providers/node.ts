/**
 * The node:crypto (OpenSSL) provider: the daemon's fast path. Every method
 * answers synchronously, so the record layer never creates a promise per
 * record.
 *
 * Results are returned as plain Uint8Array views over the Buffers node
 * produces (no copy): a Buffer's `slice()` aliases and its `toString()`
 * differs, and the engine should see the same types from every provider.
 */

import { mlKem768 } from '../engine/crypto/mlkem.js';
import { wasmBackedMlKem768 } from './mlkem-wasm.js';
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createDiffieHellman,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPair,
  generateKeyPairSync,
  randomFillSync,
  sign as nodeSign,
  verify as nodeVerify,
  type CipherGCMTypes,
  type DiffieHellman,
  type Hash,
  type KeyObject,
} from 'node:crypto';
import {
  AEAD_KEY_LENGTH,
  AEAD_NONCE_LENGTH,
  AEAD_TAG_LENGTH,
  type AeadAlgorithm,
  type AeadKey,
  type CryptoProvider,
  type HashAlgorithm,
  type HashContext,
  type KeyAlgorithm,
  type KeyShare,
  type SigningKey,
} from '../engine/crypto/provider.js';
import { FFDHE_GROUPS } from '../engine/ffdhe.js';
import { nativeAeadKey, nativeHash, nativeHmac, nativeX25519 } from './native-aead.js';

/** A plain Uint8Array over the same memory as `b` (no copy). */
function u8(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function hex16(n: number): string {
  return `0x${n.toString(16).padStart(4, '0')}`;
}

const NODE_HASH: Record<HashAlgorithm, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

function nodeHashName(algorithm: HashAlgorithm): string {
  const h = NODE_HASH[algorithm];
  if (!h) throw new Error(`node crypto: unsupported hash ${String(algorithm)}`);
  return h;
}

class NodeHashContext implements HashContext {
  constructor(private readonly h: Hash) {}
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  digest(): Uint8Array {
    // digest() finalises a node Hash: finalise a copy to keep this one usable.
    return u8(this.h.copy().digest());
  }
  clone(): HashContext {
    return new NodeHashContext(this.h.copy());
  }
}

// ------------------------------------------------------------------ AEAD

const NODE_AEAD: Record<AeadAlgorithm, CipherGCMTypes | 'chacha20-poly1305'> = {
  'AES-128-GCM': 'aes-128-gcm',
  'AES-256-GCM': 'aes-256-gcm',
  'CHACHA20-POLY1305': 'chacha20-poly1305',
};

const TAG_OPTS = { authTagLength: AEAD_TAG_LENGTH } as const;

function nodeAeadKey(algorithm: AeadAlgorithm, raw: Uint8Array): AeadKey {
  const cipherName = NODE_AEAD[algorithm];
  if (!cipherName) throw new Error(`node crypto: unsupported AEAD ${String(algorithm)}`);
  if (raw.length !== AEAD_KEY_LENGTH[algorithm]) {
    throw new Error(`node crypto: ${algorithm} key must be ${AEAD_KEY_LENGTH[algorithm]} bytes`);
  }
  // The addon's reusable OpenSSL contexts when it is built (native-aead.ts); node:crypto otherwise.
  const native = nativeAeadKey(algorithm, raw);
  if (native) return native;
  const key = createSecretKey(raw);
  // The overloads of createCipheriv are keyed on literal cipher names; all
  // three are AEADs taking the same options, so one signature serves.
  const name = cipherName as 'chacha20-poly1305';
  return {
    algorithm,
    synchronous: true,
    seal(nonce, aad, plaintext) {
      if (nonce.length !== AEAD_NONCE_LENGTH) throw new Error('node crypto: AEAD nonce must be 12 bytes');
      const c = createCipheriv(name, key, nonce, TAG_OPTS);
      c.setAAD(aad, { plaintextLength: plaintext.length });
      const ct = c.update(plaintext);
      c.final(); // GCM and ChaCha20-Poly1305 are stream modes: final() outputs nothing
      const tag = c.getAuthTag();
      // node cannot encrypt into a caller's buffer, so ct || tag costs one
      // copy of the record (~1.6 µs per 16 KiB here).
      const out = new Uint8Array(ct.length + AEAD_TAG_LENGTH);
      out.set(ct, 0);
      out.set(tag, ct.length);
      return out;
    },
    sealRecord(nonce, aad, prefix, content, trailer) {
      if (nonce.length !== AEAD_NONCE_LENGTH) throw new Error('node crypto: AEAD nonce must be 12 bytes');
      const c = createCipheriv(name, key, nonce, TAG_OPTS);
      c.setAAD(aad, { plaintextLength: content.length + trailer.length });
      // One allocation for the whole record: prefix, ciphertext pieces, tag.
      const out = Buffer.allocUnsafe(prefix.length + content.length + trailer.length + AEAD_TAG_LENGTH);
      out.set(prefix, 0);
      let o = prefix.length;
      const a = c.update(content);
      out.set(a, o);
      o += a.length;
      if (trailer.length) {
        const b = c.update(trailer);
        out.set(b, o);
        o += b.length;
      }
      c.final();
      c.getAuthTag().copy(out, o);
      return u8(out);
    },
    open(nonce, aad, ciphertextAndTag) {
      const ctLen = ciphertextAndTag.length - AEAD_TAG_LENGTH;
      if (nonce.length !== AEAD_NONCE_LENGTH || ctLen < 0) return null;
      try {
        const d = createDecipheriv(name, key, nonce, TAG_OPTS);
        d.setAuthTag(ciphertextAndTag.subarray(ctLen));
        d.setAAD(aad, { plaintextLength: ctLen });
        const pt = d.update(ciphertextAndTag.subarray(0, ctLen));
        d.final(); // throws when the tag does not verify
        return u8(pt);
      } catch {
        return null;
      }
    },
  };
}

// ----------------------------------------------------------- key exchange

/** PKCS#8 PrivateKeyInfo prefix for a raw 32-byte X25519 key (RFC 8410 §7, OID 1.3.101.110). */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

const NIST_CURVES: Record<number, { curve: string; publicLength: number }> = {
  0x0017: { curve: 'prime256v1', publicLength: 65 },
  0x0018: { curve: 'secp384r1', publicLength: 97 },
};

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

/**
 * Fresh X25519 key pairs made ahead of time on libuv's thread pool
 * (crypto.generateKeyPair), so that the event loop does not pay for key
 * generation during a handshake. Each pair is used once and dropped; the
 * pool is filled lazily on first use and falls back to synchronous
 * generation when empty.
 */
class X25519Pool {
  private readonly pairs: { publicKey: Buffer; privateKey: KeyObject }[] = [];
  private pending = 0;

  constructor(private readonly target: number) {}

  take(): { publicKey: Buffer; privateKey: KeyObject } | undefined {
    const pair = this.pairs.pop();
    this.refill();
    return pair;
  }

  private refill(): void {
    while (this.pairs.length + this.pending < this.target) {
      this.pending++;
      generateKeyPair('x25519', { publicKeyEncoding: { type: 'spki', format: 'der' } }, (err, publicKey, privateKey) => {
        this.pending--;
        if (!err) this.pairs.push({ publicKey: publicKey as unknown as Buffer, privateKey: privateKey as unknown as KeyObject });
      });
    }
  }
}

const x25519Pool = new X25519Pool(16);

function x25519Share(privateKey?: Uint8Array): KeyShare {
  const native = privateKey ? undefined : nativeX25519();
  if (native) {
    // The addon's EVP_PKEY: one scalar multiplication each for keygen and derive, no DER or JWK on the way.
    const pair = native.keygen();
    return {
      group: 0x001d,
      publicKey: pair.publicKey,
      deriveSecret(peer) {
        // RFC 7748 §5: an X25519 public key is 32 bytes.
        if (peer.length !== 32) throw new Error(`node crypto: x25519 peer key share has length ${peer.length}, expected 32`);
        const secret = pair.derive(peer);
        // RFC 8446 §7.4.2 / RFC 7748 §6.1: OpenSSL refuses an all-zero result; checked here too.
        if (!secret || isAllZero(secret)) throw new Error('node crypto: all-zero x25519 shared secret');
        return secret;
      },
    };
  }
  let priv: KeyObject;
  let spki: Buffer;
  const pooled = privateKey ? undefined : x25519Pool.take();
  if (pooled) {
    priv = pooled.privateKey;
    spki = pooled.publicKey;
  } else if (privateKey) {
    if (privateKey.length !== 32) throw new Error('node crypto: an x25519 private key is 32 bytes');
    priv = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
    spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  } else {
    // Never export x25519 keys as JWK: on Node 20 that deadlocks after a few
    // thousand calls. The SPKI DER ends with the 32 raw key bytes.
    // (@types/node has no overload for an encoded public key with a
    // KeyObject private key, which node supports: hence the casts.)
    const pair = generateKeyPairSync('x25519', { publicKeyEncoding: { type: 'spki', format: 'der' } }) as unknown as {
      publicKey: Buffer;
      privateKey: KeyObject;
    };
    priv = pair.privateKey;
    spki = pair.publicKey;
  }
  return {
    group: 0x001d,
    publicKey: u8(spki.subarray(spki.length - 32)),
    deriveSecret(peer) {
      // RFC 7748 §5: an X25519 public key is 32 bytes.
      if (peer.length !== 32) throw new Error(`node crypto: x25519 peer key share has length ${peer.length}, expected 32`);
      const x = Buffer.from(peer.buffer, peer.byteOffset, 32).toString('base64url');
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
      const secret = diffieHellman({ privateKey: priv, publicKey });
      // RFC 8446 §7.4.2 / RFC 7748 §6.1 (OpenSSL already refuses this).
      if (isAllZero(secret)) throw new Error('node crypto: all-zero x25519 shared secret');
      return u8(secret);
    },
  };
}

function nistShare(group: number, curve: string, publicLength: number): KeyShare {
  const ecdh = createECDH(curve);
  ecdh.generateKeys();
  return {
    group,
    publicKey: u8(ecdh.getPublicKey()), // uncompressed 0x04||X||Y
    deriveSecret(peer) {
      // RFC 8446 §4.2.8.2: only the uncompressed point form is allowed.
      if (peer.length !== publicLength) {
        throw new Error(`node crypto: peer key share for group ${hex16(group)} has length ${peer.length}, expected ${publicLength}`);
      }
      if (peer[0] !== 0x04) throw new Error('node crypto: peer EC key share is not an uncompressed point');
      // computeSecret throws on a point that is not on the curve.
      return u8(ecdh.computeSecret(peer));
    },
  };
}


// ------------------------------------------------ finite-field DH (TLS 1.2)

/** The smallest prime dhKeyShare accepts (Logjam: 512-bit export groups are broken). */
const DH_MIN_PRIME_BITS = 512;

function stripZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')}`);
}

/** `b` left-padded with zeros to `length` bytes, as a plain Uint8Array. */
function leftPad(b: Uint8Array, length: number): Uint8Array {
  if (b.length === length) return u8(b);
  if (b.length > length) throw new Error('node crypto: DH value longer than p');
  const out = new Uint8Array(length);
  out.set(b, length - b.length);
  return out;
}

function ffdheGroupOf(p: Uint8Array, g: Uint8Array): number {
  const gs = stripZeros(g);
  if (gs.length !== 1 || gs[0] !== 2) return 0;
  for (const [group, params] of FFDHE_GROUPS) if (Buffer.compare(params.p, p) === 0) return group;
  return 0;
}

/**
 * One DiffieHellman object per parameter set, reused for every key share:
 * node's constructor runs OpenSSL's DH_check, which for parameters it does
 * not recognise tests p and (p-1)/2 for primality (~230 ms for 2048 bits).
 * Each operation sets its own private key first, and everything here is
 * synchronous, so the shared object never mixes two shares' keys.
 */
class DhContext {
  readonly group: number;
  readonly length: number;
  private readonly p: bigint;
  private readonly dh: DiffieHellman;
  /** Private key length in bytes (RFC 7919 §5.2 short exponent). */
  private readonly exponentBytes: number;

  constructor(p: Uint8Array, g: Uint8Array) {
    this.length = p.length;
    const bits = (p.length - 1) * 8 + (32 - Math.clz32(p[0]!));
    this.p = toBigInt(p);
    if (bits < DH_MIN_PRIME_BITS || !(this.p & 1n)) {
      throw new Error(`node crypto: DH prime must be odd and at least ${DH_MIN_PRIME_BITS} bits (got ${bits} bits)`);
    }
    const gv = toBigInt(g);
    if (gv <= 1n || gv >= this.p - 1n) throw new Error('node crypto: DH generator out of range (1 < g < p-1)');
    this.group = ffdheGroupOf(p, g);
    this.dh = createDiffieHellman(p, g);
    // At least twice the security level: 225 bits for ffdhe2048, 275 for
    // ffdhe3072, 325 for ffdhe4096 (RFC 7919 §5.2): 320 bits up to 3072-bit
    // primes, 400 above.
    this.exponentBytes = bits <= 3072 ? 40 : 50;
  }

  share(): KeyShare {
    const x = new Uint8Array(this.exponentBytes);
    randomFillSync(x);
    x[0]! |= 0x80; // exactly the chosen length
    this.dh.setPrivateKey(x);
    // generateKeys keeps a private key that is set and computes Y = g^x mod p.
    this.dh.generateKeys();
    const publicKey = leftPad(this.dh.getPublicKey(), this.length);
    return {
      group: this.group,
      publicKey,
      deriveSecret: (peer) => {
        // RFC 7919 §5.1, RFC 5246 §8.1.2: 1 < Y < p-1, no longer than p.
        if (peer.length > this.length) {
          throw new Error(`node crypto: DH peer value is ${peer.length} bytes, longer than p (${this.length})`);
        }
        const y = toBigInt(peer);
        if (y <= 1n || y >= this.p - 1n) throw new Error('node crypto: DH peer value out of range (1 < Y < p-1)');
        this.dh.setPrivateKey(x);
        const z = leftPad(this.dh.computeSecret(peer), this.length);
        const zv = toBigInt(z);
        if (zv <= 1n || zv === this.p - 1n) throw new Error('node crypto: degenerate DH shared secret');
        return z;
      },
    };
  }
}

// ------------------------------------------------------------- signatures

interface SchemeInfo {
  /**
   * The key type the scheme needs in TLS 1.3 (RFC 8446 §4.2.3); null when
   * it fits no key this provider has (ecdsa_secp521r1_sha512, ecdsa_sha1).
   */
  key: KeyAlgorithm | null;
  /** Digest name for crypto.sign, null for Ed25519. */
  hash: string | null;
  pss: boolean;
  /** rsa_pss_pss_*: verify only, key must be an id-RSASSA-PSS key. */
  pssKey?: boolean;
  /** Node's namedCurve for ECDSA keys in TLS 1.3. */
  curve?: string;
  /** ECDSA: in TLS 1.2 the scheme names only the hash, any curve will do (RFC 5246 §7.4.1.4.1, RFC 8422 §5.4). */
  ecdsa?: boolean;
  /** SHA-1 and SHA-224 schemes: TLS 1.2 only (RFC 8446 §4.2.3 does not define them for handshake signatures). */
  tls12Only?: boolean;
}

/** RFC 8446 §4.2.3 SignatureScheme values this provider handles. */
const SCHEMES: Record<number, SchemeInfo> = {
  0x0804: { key: 'rsa', hash: 'sha256', pss: true },
  0x0805: { key: 'rsa', hash: 'sha384', pss: true },
  0x0806: { key: 'rsa', hash: 'sha512', pss: true },
  0x0809: { key: 'rsa', hash: 'sha256', pss: true, pssKey: true },
  0x080a: { key: 'rsa', hash: 'sha384', pss: true, pssKey: true },
  0x080b: { key: 'rsa', hash: 'sha512', pss: true, pssKey: true },
  0x0401: { key: 'rsa', hash: 'sha256', pss: false },
  0x0501: { key: 'rsa', hash: 'sha384', pss: false },
  0x0601: { key: 'rsa', hash: 'sha512', pss: false },
  0x0201: { key: 'rsa', hash: 'sha1', pss: false, tls12Only: true },
  0x0403: { key: 'ecdsa-p256', hash: 'sha256', pss: false, curve: 'prime256v1', ecdsa: true },
  0x0503: { key: 'ecdsa-p384', hash: 'sha384', pss: false, curve: 'secp384r1', ecdsa: true },
  0x0603: { key: null, hash: 'sha512', pss: false, curve: 'secp521r1', ecdsa: true },
  0x0203: { key: null, hash: 'sha1', pss: false, ecdsa: true, tls12Only: true },
  // ecdsa_sha224: TLS 1.2 only (RFC 5246 §7.4.1.4.1 HashAlgorithm sha224); OpenSSL signs with it.
  0x0303: { key: null, hash: 'sha224', pss: false, ecdsa: true, tls12Only: true },
  0x0807: { key: 'ed25519', hash: null, pss: false },
};

/** Options for crypto.sign / crypto.verify. */
function signOptions(key: KeyObject, info: SchemeInfo) {
  if (info.key === 'rsa') {
    return info.pss
      ? // RFC 8446 §4.2.3: PSS salt length = digest length.
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : { key, padding: constants.RSA_PKCS1_PADDING };
  }
  if (info.ecdsa) return { key, dsaEncoding: 'der' as const };
  return key;
}

/** The EC curves this provider signs with, as node names them. */
const EC_KEY_CURVES: ReadonlySet<string> = new Set(['prime256v1', 'secp384r1']);

/**
 * Does `key` (private or public) have the type `scheme` needs? `tls12`
 * relaxes the rules to TLS 1.2's: the SHA-1 schemes are allowed, and an
 * ECDSA scheme's curve is not binding.
 */
function schemeFor(scheme: number, key: KeyObject, tls12: boolean): SchemeInfo | null {
  const info = SCHEMES[scheme];
  if (!info || (info.tls12Only && !tls12)) return null;
  if (info.ecdsa) {
    const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
    if (!curve || !EC_KEY_CURVES.has(curve)) return null;
    return curve === info.curve || tls12 ? info : null;
  }
  switch (info.key) {
    case 'rsa':
      return key.asymmetricKeyType === (info.pssKey ? 'rsa-pss' : 'rsa') ? info : null;
    case 'ed25519':
      return key.asymmetricKeyType === 'ed25519' ? info : null;
    default:
      return null;
  }
}

const KEY_CHECK: Record<KeyAlgorithm, number> = { rsa: 0x0804, 'ecdsa-p256': 0x0403, 'ecdsa-p384': 0x0503, ed25519: 0x0807 };

function importSigningKey(pkcs8: Uint8Array, algorithm: KeyAlgorithm): SigningKey {
  const check = KEY_CHECK[algorithm];
  if (check === undefined) throw new Error(`node crypto: unsupported key algorithm ${String(algorithm)}`);
  const key = createPrivateKey({ key: Buffer.from(pkcs8.buffer, pkcs8.byteOffset, pkcs8.length), format: 'der', type: 'pkcs8' });
  if (!schemeFor(check, key, false)) {
    throw new Error(`node crypto: PKCS#8 key is ${key.asymmetricKeyType ?? 'unknown'}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}, not ${algorithm}`);
  }
  const bits = algorithm === 'rsa' ? key.asymmetricKeyDetails!.modulusLength! : algorithm === 'ecdsa-p384' ? 384 : 256;
  return {
    algorithm,
    bits,
    sign(scheme, data, options) {
      const info = schemeFor(scheme, key, options?.tls12 === true);
      if (!info || info.pssKey) {
        throw new Error(`node crypto: signature scheme ${hex16(scheme)} does not fit a ${algorithm} key${options?.tls12 ? ' (TLS 1.2)' : ''}`);
      }
      return u8(nodeSign(info.hash, data, signOptions(key, info)));
    },
  };
}

function verify(spki: Uint8Array, scheme: number, data: Uint8Array, signature: Uint8Array, options?: { tls12?: boolean }): boolean {
  try {
    if (!SCHEMES[scheme]) return false;
    const key = createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.length), format: 'der', type: 'spki' });
    const info = schemeFor(scheme, key, options?.tls12 === true);
    if (!info) return false;
    return nodeVerify(info.hash, data, signOptions(key, info), signature);
  } catch {
    return false;
  }
}

// --------------------------------------------------------------- provider

/**
 * Random bytes from OpenSSL's CSPRNG (randomFillSync), drawn from a 4 KiB
 * pool refilled in one call: a randomFillSync costs about 7 µs whatever its
 * size (a RandomBytesJob per call), and a handshake asks for small pieces
 * four to six times (server random, ticket nonce and age_add, session ID).
 * Bytes handed out are copied and wiped from the pool, so the pool only
 * ever holds bytes nobody has seen yet (the same exposure as the DRBG state
 * OpenSSL itself keeps in memory). Requests above 256 bytes bypass it. The
 * daemon's processes are started with spawn/fork+exec (never a bare fork),
 * so no two processes share a pool.
 */
const RANDOM_POOL = 4096;
const randomPool = new Uint8Array(RANDOM_POOL);
let randomUsed = RANDOM_POOL;
function pooledRandom(length: number): Uint8Array {
  if (length > 256) {
    const out = new Uint8Array(length);
    randomFillSync(out);
    return out;
  }
  if (randomUsed + length > RANDOM_POOL) {
    randomFillSync(randomPool);
    randomUsed = 0;
  }
  const out = randomPool.slice(randomUsed, randomUsed + length);
  randomPool.fill(0, randomUsed, randomUsed + length);
  randomUsed += length;
  return out;
}

/** One for every node provider: the WebAssembly module behind it is loaded once per process. */
const nodeMlKem768 = wasmBackedMlKem768(mlKem768);

export function createNodeCryptoProvider(): CryptoProvider {
  /** DhContext per (p, g); a configuration has one or two parameter sets. */
  const dhContexts = new Map<string, DhContext>();
  function dhKeyShare(pIn: Uint8Array, gIn: Uint8Array): KeyShare {
    const p = stripZeros(pIn); // a DER INTEGER's sign byte, say
    const g = stripZeros(gIn);
    const id = `${Buffer.from(p.buffer, p.byteOffset, p.length).toString('base64')}/${Buffer.from(g.buffer, g.byteOffset, g.length).toString('base64')}`;
    let ctx = dhContexts.get(id);
    if (!ctx) {
      ctx = new DhContext(p, g);
      if (dhContexts.size >= 16) dhContexts.clear();
      dhContexts.set(id, ctx);
    }
    return ctx.share();
  }
  // HMAC and running hashes on the addon where it is built (native-aead.ts nativeHmac, nativeHash), node:crypto otherwise.
  const nativeMac = nativeHmac();
  const nativeHashContext = nativeHash();

  return {
    name: 'node',
    groups: [0x001d, 0x0017, 0x0018],

    hash(algorithm) {
      return nativeHashContext ? nativeHashContext(algorithm) : new NodeHashContext(createHash(nodeHashName(algorithm)));
    },

    hmac(algorithm, key, data) {
      return nativeMac?.(algorithm, key, data) ?? u8(createHmac(nodeHashName(algorithm), key).update(data).digest());
    },

    aeadKey: nodeAeadKey,

    generateKeyShare(group, privateKey) {
      if (group === 0x001d) return x25519Share(privateKey);
      const nist = NIST_CURVES[group];
      if (!nist) throw new Error(`node crypto: unsupported group ${hex16(group)}`);
      if (privateKey) throw new Error('node crypto: a fixed private key is only supported for x25519');
      return nistShare(group, nist.curve, nist.publicLength);
    },

    dhKeyShare,
    // FIPS 203 ML-KEM-768 for X25519MLKEM768 / SecP256r1MLKEM768: liboqs on WebAssembly once loaded,
    // noble's JavaScript (shared by every provider) before that and for what a server does not do
    // (providers/mlkem-wasm.ts).
    mlKem768: nodeMlKem768,
    importSigningKey,
    verify,

    random: pooledRandom,
  };
}
