/**
 * The pure-JavaScript crypto provider (`tlsproxy_crypto_provider = js`):
 * every primitive is JavaScript you can read, nothing comes from OpenSSL
 * or WebCrypto. For runtimes without WebCrypto (embedded JS engines,
 * restricted sandboxes) and for auditors.
 *
 *  - hashes, HMAC (and so HKDF, engine/hkdf.ts): @noble/hashes
 *  - AES-GCM, ChaCha20-Poly1305: @noble/ciphers
 *  - ECDH and ECDSA on P-256 / P-384, Ed25519, X25519: @noble/curves
 *    (audited libraries, used as they are: we write no symmetric cipher,
 *    MAC or curve arithmetic of our own, DEVELOPERS.md; faster versions
 *    belong upstream)
 *  - RSA-PSS and RSASSA-PKCS1-v1_5 signing (CRT, blinded) and
 *    verification: engine/crypto/rsa.ts over BigInt (no audited pure-JS RSA
 *    exists to depend on; its constant-time statement is there)
 *  - finite-field DH (TLS 1.2 DHE): BigInt, below
 *  - randomness: the platform CSPRNG, `globalThis.crypto.getRandomValues`
 *    (W3C WebCrypto §10.1.1; only that function, never the SubtleCrypto interface), or a
 *    function passed to createJsCryptoProvider. Without one the provider
 *    refuses to be created: there is no fallback generator.
 *
 * Portable: Uint8Array only, no runtime-specific imports.
 */

import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { p256, p384 } from '@noble/curves/nist.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha224 } from '@noble/hashes/sha2.js';
import { mlKem768 } from './mlkem.js';
import { nobleAeadKey } from './noble-aead.js';
import { parsePkcs8, parseSpki, type EcCurve } from './der-keys.js';
import {
  AEAD_KEY_LENGTH,
  type AeadAlgorithm,
  type AeadKey,
  type CryptoProvider,
  type KeyAlgorithm,
  type KeyShare,
  type SigningKey,
} from './provider.js';
import { RsaPrivateKey, rsaPublic, rsaVerify, type RsaHash, type RsaPadding } from './rsa.js';
import { bigIntDhKeyShare } from './ffdh.js';
import { NOBLE_HASH, NobleHashContext, nobleHash } from './noble-hash.js';
import { ecdsaDerToRaw, ecdsaRawToDer } from './webcrypto.js';

// ---------------------------------------------------------------- hashes

/** ECDSA also knows SHA-224 (TLS 1.2 ecdsa_sha224). */
type SchemeHash = RsaHash | 'SHA-224';

function hashFn(hash: SchemeHash): (m: Uint8Array) => Uint8Array {
  return hash === 'SHA-1' ? sha1 : hash === 'SHA-224' ? sha224 : NOBLE_HASH[hash];
}

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

function hex16(n: number): string {
  return `0x${n.toString(16).padStart(4, '0')}`;
}

// ------------------------------------------------------------------ AEAD

function aeadKey(algorithm: AeadAlgorithm, raw: Uint8Array): AeadKey {
  const len = AEAD_KEY_LENGTH[algorithm];
  if (len === undefined) throw new Error(`js crypto: unsupported AEAD ${String(algorithm)}`);
  if (raw.length !== len) throw new Error(`js crypto: ${algorithm} key must be ${len} bytes`);
  return nobleAeadKey(algorithm, raw, 'js crypto');
}

// ----------------------------------------------------------- key exchange

/** X25519(k, 9) (RFC 7748 §6.1), @noble/curves. */
function x25519PublicKey(priv: Uint8Array): Uint8Array {
  return x25519.getPublicKey(priv);
}

type Weierstrass = typeof p256;

const NIST: Record<number, { curve: Weierstrass; size: number }> = {
  0x0017: { curve: p256, size: 32 },
  0x0018: { curve: p384, size: 48 },
};

const CURVE_OF: Record<EcCurve, { curve: Weierstrass; size: number; key: 'ecdsa-p256' | 'ecdsa-p384' }> = {
  'P-256': { curve: p256, size: 32, key: 'ecdsa-p256' },
  'P-384': { curve: p384, size: 48, key: 'ecdsa-p384' },
};

// ------------------------------------------------------------- signatures

interface Scheme {
  /** Key type the scheme needs in TLS 1.3 (RFC 8446 §4.2.3); null when none of ours fits (P-521, SHA-1 ECDSA). */
  key: KeyAlgorithm | null;
  hash: SchemeHash | null;
  rsa?: RsaPadding;
  /** rsa_pss_pss_*: verify only, with a key labelled id-RSASSA-PSS. */
  pssKey?: boolean;
  ecdsa?: boolean;
  /** SHA-1 schemes: TLS 1.2 only. */
  tls12Only?: boolean;
}

const pss = (hash: 'SHA-256' | 'SHA-384' | 'SHA-512', pssKey = false): Scheme => ({
  key: 'rsa',
  hash,
  // RFC 8446 §4.2.3: the salt length MUST equal the digest length.
  rsa: { kind: 'pss', hash, saltLength: { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 }[hash] },
  pssKey,
});
const pkcs1 = (hash: RsaHash): Scheme => ({ key: 'rsa', hash, rsa: { kind: 'pkcs1', hash }, tls12Only: hash === 'SHA-1' });
const ecdsa = (key: 'ecdsa-p256' | 'ecdsa-p384' | null, hash: SchemeHash): Scheme => ({ key, hash, ecdsa: true, tls12Only: hash === 'SHA-1' || hash === 'SHA-224' });

/** RFC 8446 §4.2.3 SignatureScheme values this provider handles. */
const SCHEMES: Record<number, Scheme> = {
  0x0804: pss('SHA-256'),
  0x0805: pss('SHA-384'),
  0x0806: pss('SHA-512'),
  0x0809: pss('SHA-256', true),
  0x080a: pss('SHA-384', true),
  0x080b: pss('SHA-512', true),
  0x0401: pkcs1('SHA-256'),
  0x0501: pkcs1('SHA-384'),
  0x0601: pkcs1('SHA-512'),
  0x0201: pkcs1('SHA-1'),
  0x0403: ecdsa('ecdsa-p256', 'SHA-256'),
  0x0503: ecdsa('ecdsa-p384', 'SHA-384'),
  0x0603: ecdsa(null, 'SHA-512'),
  0x0203: ecdsa(null, 'SHA-1'),
  0x0303: ecdsa(null, 'SHA-224'),
  0x0807: { key: 'ed25519', hash: null },
};

type KeyKind = KeyAlgorithm | 'rsa-pss';

/**
 * Whether `scheme` may be used with a key of type `kind`. With `tls12`,
 * TLS 1.2's rules: the SHA-1 schemes are allowed and an ECDSA scheme's
 * curve is not binding (RFC 5246 §7.4.1.4.1, RFC 8422 §5.4).
 */
function schemeFor(scheme: number, kind: KeyKind | null, tls12: boolean): Scheme | null {
  const s = SCHEMES[scheme];
  if (!s || kind === null || (s.tls12Only && !tls12)) return null;
  if (s.pssKey) return kind === 'rsa-pss' ? s : null;
  if (s.ecdsa) {
    if (kind !== 'ecdsa-p256' && kind !== 'ecdsa-p384') return null;
    return kind === s.key || tls12 ? s : null;
  }
  return s.key === kind ? s : null;
}

// --------------------------------------------------------------- provider

let precomputed = false;
/**
 * Window-8 tables for the fixed base points (key generation, ECDSA and
 * Ed25519 signing, X25519 public keys), built once (~30 ms)
 * rather than on the first handshake.
 */
function precomputeBaseTables(): void {
  if (precomputed) return;
  precomputed = true;
  p256.Point.BASE.precompute(8);
  p384.Point.BASE.precompute(8);
  ed25519.Point.BASE.precompute(8);
}

export interface JsCryptoOptions {
  /**
   * The CSPRNG: fills its argument (at most 65536 bytes per call) with
   * cryptographically secure random bytes. Default: the platform's
   * `globalThis.crypto.getRandomValues`, captured when the provider is made.
   */
  getRandomValues?: (array: Uint8Array) => unknown;
}

/** Which CSPRNG a js provider uses, for the start-up log and the documentation. */
export const JS_CSPRNG = 'globalThis.crypto.getRandomValues';

/**
 * The pure-JavaScript provider. Throws when no CSPRNG is available (there
 * is no fallback).
 */
export function createJsCryptoProvider(options: JsCryptoOptions = {}): CryptoProvider {
  let fill = options.getRandomValues;
  if (!fill) {
    const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => unknown } }).crypto;
    const g = c?.getRandomValues;
    if (typeof g !== 'function') {
      throw new Error(`js crypto: no CSPRNG: ${JS_CSPRNG} is not available on this platform`);
    }
    fill = (a) => g.call(c, a);
  }
  const getRandomValues = fill;

  function random(length: number): Uint8Array {
    const out = new Uint8Array(length);
    // getRandomValues fills at most 65536 bytes per call (WebCrypto §10.1.1).
    for (let i = 0; i < length; i += 65536) getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
    return out;
  }
  // A CSPRNG that returns without writing (a stub) must not go unnoticed.
  if (isAllZero(random(32))) throw new Error(`js crypto: ${JS_CSPRNG} returned all-zero bytes`);
  precomputeBaseTables();

  function nistShare(group: number, curve: Weierstrass, size: number): KeyShare {
    // A scalar in [1, n-1] (SEC 1 §3.2.1) from size + size/2 random bytes
    // reduced mod n-1, plus 1 (FIPS 186-5 A.2.1: negligible bias).
    const priv = curve.utils.randomSecretKey(random(curve.lengths.seed!));
    const publicKey = curve.getPublicKey(priv, false);
    return {
      group,
      publicKey,
      deriveSecret(peer) {
        // RFC 8446 §4.2.8.2: only the uncompressed form, 0x04 || X || Y.
        if (peer.length !== 1 + 2 * size || peer[0] !== 0x04) {
          throw new Error(`js crypto: peer key share for group ${hex16(group)} is not an uncompressed point of length ${1 + 2 * size}`);
        }
        let shared: Uint8Array;
        try {
          // Point decoding checks 0 <= x, y < p and the curve equation (SEC 1 §3.2.2.1, RFC 8446 §4.2.8.2).
          shared = curve.getSharedSecret(priv, peer, true);
        } catch (e) {
          throw new Error(`js crypto: invalid peer key share for group ${hex16(group)}: ${e instanceof Error ? e.message : String(e)}`);
        }
        // The shared secret is the x-coordinate (RFC 8446 §7.4.2).
        return shared.slice(1);
      },
    };
  }

  function x25519Share(privateKey?: Uint8Array): KeyShare {
    if (privateKey && privateKey.length !== 32) throw new Error('js crypto: an x25519 private key is 32 bytes');
    const priv = privateKey ? new Uint8Array(privateKey) : random(32);
    return {
      group: 0x001d,
      publicKey: x25519PublicKey(priv),
      deriveSecret(peer) {
        if (peer.length !== 32) throw new Error(`js crypto: x25519 peer key share has length ${peer.length}, expected 32`);
        let secret: Uint8Array;
        try {
          secret = x25519.getSharedSecret(priv, peer);
        } catch (e) {
          throw new Error(`js crypto: invalid x25519 peer key share: ${e instanceof Error ? e.message : String(e)}`);
        }
        // RFC 8446 §7.4.2 / RFC 7748 §6.1: an all-zero X25519 output must be rejected.
        if (isAllZero(secret)) throw new Error('js crypto: all-zero x25519 shared secret');
        return secret;
      },
    };
  }

  /** Finite-field DH (TLS 1.2 DHE, TLS 1.3 FFDHE): engine/crypto/ffdh.ts over this provider's CSPRNG. */
  function dhKeyShare(pIn: Uint8Array, gIn: Uint8Array): KeyShare {
    return bigIntDhKeyShare(pIn, gIn, random, 'js crypto');
  }

  function importSigningKey(pkcs8: Uint8Array, algorithm: KeyAlgorithm): SigningKey {
    const info = parsePkcs8(pkcs8);
    const kind: KeyAlgorithm | null =
      info?.kind === 'rsa' ? 'rsa' : info?.kind === 'ed25519' ? 'ed25519' : info?.kind === 'ec' ? CURVE_OF[info.curve].key : null;
    if (!info || kind !== algorithm) throw new Error(`js crypto: PKCS#8 key is ${kind ?? 'not a supported key'}, not ${algorithm}`);

    if (info.kind === 'rsa') {
      const key = new RsaPrivateKey(info, random);
      return {
        algorithm,
        bits: key.pub.bits,
        sign(scheme, data, options) {
          const s = schemeFor(scheme, 'rsa', options?.tls12 === true);
          if (!s || !s.rsa || s.pssKey) throw new Error(`js crypto: signature scheme ${hex16(scheme)} does not fit an rsa key`);
          return key.sign(s.rsa, data);
        },
      };
    }
    if (info.kind === 'ed25519') {
      const seed = new Uint8Array(info.seed);
      ed25519.getPublicKey(seed); // precompute, and fail early on a bad key
      return {
        algorithm,
        bits: 256,
        sign(scheme, data) {
          if (scheme !== 0x0807) throw new Error(`js crypto: signature scheme ${hex16(scheme)} does not fit an ed25519 key`);
          return ed25519.sign(data, seed);
        },
      };
    }
    const c = CURVE_OF[info.curve];
    const scalar = new Uint8Array(info.scalar);
    if (!c.curve.utils.isValidSecretKey(scalar)) throw new Error(`js crypto: ${algorithm} private key out of range`);
    const pub = c.curve.getPublicKey(scalar, false);
    if (info.point && !(info.point.length === pub.length && info.point.every((b, i) => b === pub[i]))) {
      throw new Error(`js crypto: ${algorithm} PKCS#8 public key does not match the private key`);
    }
    return {
      algorithm,
      bits: c.size * 8,
      sign(scheme, data, options) {
        const s = schemeFor(scheme, c.key, options?.tls12 === true);
        if (!s || !s.ecdsa) throw new Error(`js crypto: signature scheme ${hex16(scheme)} does not fit an ${algorithm} key`);
        // RFC 6979 nonces hedged with fresh randomness (RFC 6979 §3.6): no
        // repeated nonce even with a broken CSPRNG, no determinism for fault attacks.
        const sig = c.curve.sign(hashFn(s.hash!)(data), scalar, {
          prehash: false,
          extraEntropy: random(32),
          format: 'compact',
        });
        return ecdsaRawToDer(sig);
      },
    };
  }

  function verify(spki: Uint8Array, scheme: number, data: Uint8Array, signature: Uint8Array, tls12: boolean): boolean {
    const info = parseSpki(spki);
    if (!info) return false;
    const kind: KeyKind = info.kind === 'ec' ? CURVE_OF[info.curve].key : info.kind;
    const s = schemeFor(scheme, kind, tls12);
    if (!s) return false;
    if (info.kind === 'rsa' || info.kind === 'rsa-pss') {
      const key = rsaPublic(info.n, info.e);
      return key !== null && rsaVerify(key, s.rsa!, data, signature);
    }
    if (info.kind === 'ed25519') {
      // RFC 8032 §5.1.7 strict: canonical encodings only, S < L (not ZIP-215).
      return ed25519.verify(signature, data, info.key, { zip215: false });
    }
    if (info.kind !== 'ec') return false;
    const c = CURVE_OF[info.curve];
    const raw = ecdsaDerToRaw(signature, c.size); // strict DER (X.690 §10)
    if (!raw) return false;
    // High-S signatures are valid ECDSA (FIPS 186-5 §6.4.2): lowS off.
    return c.curve.verify(raw, hashFn(s.hash!)(data), info.point, { prehash: false, lowS: false, format: 'compact' });
  }

  return {
    name: 'js',
    groups: [0x001d, 0x0017, 0x0018],

    hash(algorithm) {
      return new NobleHashContext(nobleHash(algorithm, 'js crypto').create());
    },

    hmac(algorithm, key, data) {
      return nobleHmac(nobleHash(algorithm, 'js crypto'), key, data);
    },

    aeadKey,

    generateKeyShare(group, privateKey) {
      if (group === 0x001d) return x25519Share(privateKey);
      const nist = NIST[group];
      if (!nist) throw new Error(`js crypto: unsupported group ${hex16(group)}`);
      if (privateKey) throw new Error('js crypto: a fixed private key is only supported for x25519');
      return nistShare(group, nist.curve, nist.size);
    },

    dhKeyShare,
    // FIPS 203 ML-KEM-768 for X25519MLKEM768 / SecP256r1MLKEM768 (pure JS, shared by every provider).
    mlKem768,
    importSigningKey,

    verify(spki, scheme, data, signature, options) {
      try {
        return verify(spki, scheme, data, signature, options?.tls12 === true);
      } catch {
        return false;
      }
    },

    random,
  };
}
