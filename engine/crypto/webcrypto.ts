/**
 * A portable crypto provider on the W3C Web Cryptography API (Node, Deno,
 * Bun, browsers, workers), with pure-JS hashes and HMAC from @noble/hashes
 * (synchronous, as the provider interface requires) and ChaCha20-Poly1305
 * from @noble/ciphers (WebCrypto has no ChaCha).
 *
 * Portable on purpose: Uint8Array only, no runtime-specific imports.
 */

import { p256, p384 } from '@noble/curves/nist.js';
import { mlKem768 } from './mlkem.js';
import { sha224 } from '@noble/hashes/sha2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { parsePkcs8, readTlv } from './der-keys.js';
import { bigIntDhKeyShare } from './ffdh.js';
import { nobleAeadKey } from './noble-aead.js';
import { NobleHashContext, nobleHash } from './noble-hash.js';
import {
  AEAD_KEY_LENGTH,
  AEAD_NONCE_LENGTH,
  AEAD_TAG_LENGTH,
  type AeadAlgorithm,
  type AeadKey,
  type CryptoProvider,
  type HashAlgorithm,
  type KeyAlgorithm,
  type KeyShare,
  type SigningKey,
} from './provider.js';

// ---------------------------------------------------------------- helpers

/**
 * WebCrypto takes BufferSource backed by an ArrayBuffer; a view over a
 * SharedArrayBuffer is rejected by browsers, so copy in that (rare) case.
 */
function bs(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ------------------------------------------------------------ DER helpers

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  if (n < 0x100) return Uint8Array.of(0x81, n);
  if (n < 0x10000) return Uint8Array.of(0x82, n >> 8, n & 0xff);
  return Uint8Array.of(0x83, n >> 16, (n >> 8) & 0xff, n & 0xff);
}

function derTlv(tag: number, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let len = 0;
  for (const p of parts) len += p.length;
  const l = derLength(len);
  const out = new Uint8Array(1 + l.length + len);
  out[0] = tag;
  out.set(l, 1);
  let off = 1 + l.length;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** An unsigned big-endian integer as a DER INTEGER (X.690 §8.3: minimal, non-negative). */
function derUnsignedInteger(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v.subarray(i);
  return body[0]! & 0x80 ? derTlv(0x02, Uint8Array.of(0), body) : derTlv(0x02, body);
}

/**
 * WebCrypto's ECDSA signature r||s (IEEE P1363) to the DER
 * Ecdsa-Sig-Value SEQUENCE { r INTEGER, s INTEGER } that TLS carries
 * (RFC 8446 §4.2.3, RFC 4492 §5.4 / RFC 8422 §5.4).
 */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const n = raw.length >> 1;
  return derTlv(0x30, derUnsignedInteger(raw.subarray(0, n)), derUnsignedInteger(raw.subarray(n)));
}

/** Strict DER Ecdsa-Sig-Value to r||s, each left-padded to `n` bytes; null if malformed. */
export function ecdsaDerToRaw(der: Uint8Array, n: number): Uint8Array<ArrayBuffer> | null {
  const seq = readTlv(der, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== der.length) return null;
  const out = new Uint8Array(2 * n);
  let pos = seq.start;
  for (let k = 0; k < 2; k++) {
    const int = readTlv(der, pos, seq.end);
    if (!int || int.tag !== 0x02 || int.end === int.start) return null;
    let s = int.start;
    if (der[s]! & 0x80) return null; // negative
    if (der[s] === 0 && int.end - s > 1) {
      if (!(der[s + 1]! & 0x80)) return null; // non-minimal leading zero
      s++;
    }
    const len = int.end - s;
    if (len > n) return null;
    out.set(der.subarray(s, int.end), k * n + (n - len));
    pos = int.end;
  }
  if (pos !== seq.end) return null;
  return out;
}

// Object identifiers as DER TLVs.
/** rsaEncryption 1.2.840.113549.1.1.1 (RFC 8017 appendix C). */
const OID_RSA_ENCRYPTION = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01);
/** id-RSASSA-PSS 1.2.840.113549.1.1.10 (RFC 4055 §3.1). */
const OID_RSASSA_PSS = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a);
/** id-ecPublicKey 1.2.840.10045.2.1 (RFC 5480 §2.1.1). */
const OID_EC_PUBLIC_KEY = Uint8Array.of(0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);
/** secp256r1 1.2.840.10045.3.1.7 (RFC 5480 §2.1.1.1). */
const OID_P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
/** secp384r1 1.3.132.0.34 (RFC 5480 §2.1.1.1). */
const OID_P384 = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22);
/** id-Ed25519 1.3.101.112 (RFC 8410 §3). */
const OID_ED25519 = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
/** DER NULL. */
const DER_NULL = Uint8Array.of(0x05, 0x00);

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

type KeyKind = KeyAlgorithm | 'rsa-pss';

/**
 * The key type named by the AlgorithmIdentifier of a SubjectPublicKeyInfo
 * (RFC 5280 §4.1.2.7) or a PKCS#8 PrivateKeyInfo (RFC 5208 §5), or null.
 * Checked here rather than trusting the WebCrypto implementation to refuse
 * a key of the wrong type (some implementations do not).
 */
function keyKind(der: Uint8Array, pkcs8: boolean): KeyKind | null {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== 0x30 || outer.end !== der.length) return null;
  let pos = outer.start;
  if (pkcs8) {
    const version = readTlv(der, pos, outer.end);
    if (!version || version.tag !== 0x02) return null;
    pos = version.end;
  }
  const alg = readTlv(der, pos, outer.end);
  if (!alg || alg.tag !== 0x30) return null;
  const oid = readTlv(der, alg.start, alg.end);
  if (!oid || oid.tag !== 0x06) return null;
  const oidTlv = der.subarray(alg.start, oid.end);
  const params = der.subarray(oid.end, alg.end);
  if (bytesEqual(oidTlv, OID_RSA_ENCRYPTION)) {
    return params.length === 0 || bytesEqual(params, DER_NULL) ? 'rsa' : null;
  }
  if (bytesEqual(oidTlv, OID_RSASSA_PSS)) return 'rsa-pss';
  if (bytesEqual(oidTlv, OID_EC_PUBLIC_KEY)) {
    if (bytesEqual(params, OID_P256)) return 'ecdsa-p256';
    if (bytesEqual(params, OID_P384)) return 'ecdsa-p384';
    return null;
  }
  // RFC 8410 §3: the parameters MUST be absent.
  if (bytesEqual(oidTlv, OID_ED25519)) return params.length === 0 ? 'ed25519' : null;
  return null;
}

/**
 * WebCrypto only imports RSA keys labelled rsaEncryption. For the
 * rsa_pss_pss_* schemes (RFC 8446 §4.2.3) the certificate key is labelled
 * id-RSASSA-PSS; the RSAPublicKey inside is the same, so relabel the SPKI
 * as SEQUENCE { AlgorithmIdentifier { rsaEncryption, NULL }, BIT STRING }.
 * Returns null when the SPKI is not an id-RSASSA-PSS key.
 */
function relabelPssSpki(spki: Uint8Array): Uint8Array<ArrayBuffer> | null {
  if (keyKind(spki, false) !== 'rsa-pss') return null;
  const outer = readTlv(spki, 0)!;
  const alg = readTlv(spki, outer.start, outer.end)!;
  const bits = readTlv(spki, alg.end, outer.end);
  if (!bits || bits.tag !== 0x03 || bits.end !== outer.end) return null;
  return derTlv(0x30, derTlv(0x30, OID_RSA_ENCRYPTION, DER_NULL), spki.subarray(alg.end, bits.end));
}

// ----------------------------------------------------------- key exchange

interface GroupInfo {
  /** Algorithm for generateKey / importKey. */
  alg: EcKeyImportParams | { name: 'X25519' };
  /** Public key length on the wire. */
  publicLength: number;
  /** Shared secret length in bits. */
  bits: number;
}

const GROUPS: Record<number, GroupInfo> = {
  // RFC 8446 §4.2.7 NamedGroup values
  0x001d: { alg: { name: 'X25519' }, publicLength: 32, bits: 256 },
  0x0017: { alg: { name: 'ECDH', namedCurve: 'P-256' }, publicLength: 65, bits: 256 },
  0x0018: { alg: { name: 'ECDH', namedCurve: 'P-384' }, publicLength: 97, bits: 384 },
};

/** PKCS#8 PrivateKeyInfo prefix for a raw 32-byte X25519 key (RFC 8410 §7, OID 1.3.101.110). */
const X25519_PKCS8_PREFIX = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
);

/** The X25519 base point u = 9 (RFC 7748 §4.1), little-endian. */
const X25519_BASE_POINT = (() => {
  const u = new Uint8Array(32);
  u[0] = 9;
  return u;
})();


// ------------------------------------------------ finite-field DH (TLS 1.2)

// The arithmetic and the value checks: engine/crypto/ffdh.ts (shared with the js provider).
export { DH_MIN_PRIME_BITS, dhExponentBits, ffdheGroupOf } from './ffdh.js';

// ------------------------------------------------------------- signatures

/**
 * SHA-1 only for the TLS 1.2 schemes rsa_pkcs1_sha1 and ecdsa_sha1 (verification); SHA-224 only
 * for TLS 1.2 ecdsa_sha224, which WebCrypto cannot do: signed with @noble/curves instead.
 */
type SchemeHash = HashAlgorithm | 'SHA-1' | 'SHA-224';

interface SchemeInfo {
  /**
   * The key type the scheme needs in TLS 1.3 (RFC 8446 §4.2.3); null when
   * it fits no key this provider has (ecdsa_secp521r1_sha512, ecdsa_sha1).
   */
  key: KeyAlgorithm | null;
  hash: SchemeHash | null;
  /** Parameters for subtle.importKey. */
  importAlg: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  /** Parameters for subtle.sign / verify. */
  signAlg: RsaPssParams | EcdsaParams | Algorithm;
  /** Coordinate length for ECDSA (DER <-> raw), 0 otherwise. */
  ecLength: number;
  /** rsa_pss_pss_*: verify only, key labelled id-RSASSA-PSS. */
  pssKey?: boolean;
  /** ECDSA: in TLS 1.2 the scheme names only the hash, any curve will do (RFC 5246 §7.4.1.4.1, RFC 8422 §5.4). */
  ecdsa?: boolean;
  /** SHA-1 schemes: TLS 1.2 only (RFC 8446 §4.2.3 does not define them for handshake signatures). */
  tls12Only?: boolean;
}

function rsaPss(hash: 'SHA-256' | 'SHA-384' | 'SHA-512', pssKey = false): SchemeInfo {
  return {
    key: 'rsa',
    hash,
    importAlg: { name: 'RSA-PSS', hash },
    // RFC 8446 §4.2.3: the salt length MUST equal the digest length.
    signAlg: { name: 'RSA-PSS', saltLength: { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 }[hash] },
    ecLength: 0,
    pssKey,
  };
}

function rsaPkcs1(hash: SchemeHash): SchemeInfo {
  return {
    key: 'rsa',
    hash,
    importAlg: { name: 'RSASSA-PKCS1-v1_5', hash },
    signAlg: { name: 'RSASSA-PKCS1-v1_5' },
    ecLength: 0,
    tls12Only: hash === 'SHA-1',
  };
}

type EcKeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384';

const EC_CURVES: Record<EcKeyAlgorithm, { namedCurve: string; ecLength: number }> = {
  'ecdsa-p256': { namedCurve: 'P-256', ecLength: 32 },
  'ecdsa-p384': { namedCurve: 'P-384', ecLength: 48 },
};

function isEcKey(kind: KeyKind | null): kind is EcKeyAlgorithm {
  return kind === 'ecdsa-p256' || kind === 'ecdsa-p384';
}

/** ECDSA with `hash` on a key of curve `curve` (its TLS 1.3 curve when it has one). */
function ecdsa(key: EcKeyAlgorithm | null, hash: SchemeHash, curve: EcKeyAlgorithm = key ?? 'ecdsa-p256'): SchemeInfo {
  const c = EC_CURVES[curve];
  return {
    key,
    hash,
    importAlg: { name: 'ECDSA', namedCurve: c.namedCurve },
    signAlg: { name: 'ECDSA', hash },
    ecLength: c.ecLength,
    ecdsa: true,
    tls12Only: hash === 'SHA-1' || hash === 'SHA-224',
  };
}

/** RFC 8446 §4.2.3 SignatureScheme values this provider handles. */
const SCHEMES: Record<number, SchemeInfo> = {
  0x0804: rsaPss('SHA-256'),
  0x0805: rsaPss('SHA-384'),
  0x0806: rsaPss('SHA-512'),
  0x0809: rsaPss('SHA-256', true),
  0x080a: rsaPss('SHA-384', true),
  0x080b: rsaPss('SHA-512', true),
  0x0401: rsaPkcs1('SHA-256'),
  0x0501: rsaPkcs1('SHA-384'),
  0x0601: rsaPkcs1('SHA-512'),
  0x0201: rsaPkcs1('SHA-1'),
  0x0403: ecdsa('ecdsa-p256', 'SHA-256'),
  0x0503: ecdsa('ecdsa-p384', 'SHA-384'),
  0x0603: ecdsa(null, 'SHA-512'),
  0x0203: ecdsa(null, 'SHA-1'),
  0x0303: ecdsa(null, 'SHA-224'),
  0x0807: { key: 'ed25519', hash: null, importAlg: { name: 'Ed25519' }, signAlg: { name: 'Ed25519' }, ecLength: 0 },
};

/**
 * How to use `scheme` with a key of type `kind`, or null when they do not
 * fit. `tls12` relaxes the rules to TLS 1.2's: the SHA-1 schemes are
 * allowed, and an ECDSA scheme's curve is not binding.
 */
function schemeFor(scheme: number, kind: KeyKind | null, tls12: boolean): SchemeInfo | null {
  const info = SCHEMES[scheme];
  if (!info || kind === null || (info.tls12Only && !tls12)) return null;
  if (info.pssKey) return kind === 'rsa-pss' ? info : null;
  if (info.ecdsa) {
    if (!isEcKey(kind)) return null;
    if (kind === info.key) return info;
    return tls12 ? ecdsa(info.key as EcKeyAlgorithm | null, info.hash!, kind) : null;
  }
  return info.key === kind ? info : null;
}

/** The scheme used to import (and so validate) a key of each type up front. */
const FIRST_SCHEME: Record<KeyAlgorithm, number> = {
  rsa: 0x0804,
  'ecdsa-p256': 0x0403,
  'ecdsa-p384': 0x0503,
  ed25519: 0x0807,
};

function schemeHex(s: number): string {
  return `0x${s.toString(16).padStart(4, '0')}`;
}

class WebSigningKey implements SigningKey {
  private readonly keys = new Map<number, Promise<CryptoKey>>();

  constructor(
    private readonly subtle: SubtleCrypto,
    private readonly pkcs8: Uint8Array<ArrayBuffer>,
    readonly algorithm: KeyAlgorithm,
    readonly bits: number,
    firstScheme: number,
    firstKey: CryptoKey,
    private readonly random: (n: number) => Uint8Array,
  ) {
    this.keys.set(firstScheme, Promise.resolve(firstKey));
  }

  private keyFor(scheme: number, info: SchemeInfo): Promise<CryptoKey> {
    // WebCrypto binds the RSA hash at import time: one CryptoKey per scheme.
    // The ECDSA and Ed25519 keys do not depend on the scheme.
    const slot = this.algorithm === 'rsa' ? scheme : FIRST_SCHEME[this.algorithm];
    let k = this.keys.get(slot);
    if (!k) {
      k = this.subtle.importKey('pkcs8', this.pkcs8, info.importAlg, false, ['sign']);
      this.keys.set(slot, k);
    }
    return k;
  }

  /**
   * Throws (synchronously) when `scheme` does not fit the key; with
   * `tls12`, TLS 1.2's looser rules apply (see schemeFor).
   */
  sign(scheme: number, data: Uint8Array, options?: { tls12?: boolean }): Promise<Uint8Array> {
    const info = schemeFor(scheme, this.algorithm, options?.tls12 === true);
    if (!info || info.pssKey) {
      throw new Error(`webcrypto: signature scheme ${schemeHex(scheme)} does not fit a ${this.algorithm} key${options?.tls12 ? ' (TLS 1.2)' : ''}`);
    }
    if (info.hash === 'SHA-224') return Promise.resolve().then(() => this.signSha224(data));
    return this.keyFor(scheme, info)
      .then((key) => this.subtle.sign(info.signAlg, key, bs(data)))
      .then((sig) => {
        const raw = new Uint8Array(sig);
        return info.ecLength ? ecdsaRawToDer(raw) : raw;
      });
  }

  /** ECDSA with SHA-224 (WebCrypto has no SHA-224): @noble/curves, RFC 6979 nonces hedged with fresh randomness. */
  private signSha224(data: Uint8Array): Uint8Array {
    const k = parsePkcs8(this.pkcs8);
    if (!k || k.kind !== 'ec') throw new Error(`webcrypto: ecdsa_sha224 needs an EC key, not ${this.algorithm}`);
    const curve = k.curve === 'P-256' ? p256 : p384;
    return ecdsaRawToDer(curve.sign(sha224(data), k.scalar, { prehash: false, extraEntropy: this.random(32), format: 'compact' }));
  }
}

// --------------------------------------------------------------- provider

/** AES-GCM with a 16-byte tag: WebCrypto's output is ciphertext || tag (RFC 5116's form). */
function gcmParams(nonce: Uint8Array, aad: Uint8Array): AesGcmParams {
  return { name: 'AES-GCM', iv: bs(nonce), additionalData: bs(aad), tagLength: 128 };
}

/** A full TLSInnerPlaintext: 2^14 bytes of content, the type byte and up to 255 bytes of padding (RFC 8446 §5.2, §5.4). */
const SCRATCH_SIZE = 16384 + 1 + 255;

/** A provider on `crypto` (WebCrypto), or on `globalThis.crypto` when omitted. */
export function createWebCryptoProvider(crypto?: Crypto): CryptoProvider {
  const c = crypto ?? globalThis.crypto;
  if (!c || !c.subtle) throw new Error('webcrypto: no WebCrypto implementation (crypto.subtle) available');
  const subtle = c.subtle;

  async function aesGcmKey(algorithm: AeadAlgorithm, raw: Uint8Array): Promise<AeadKey> {
    const key = await subtle.importKey('raw', bs(raw), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
    // sealRecord's TLSInnerPlaintext (content || type || padding), reused by every record of this key:
    // encrypt() copies its data, iv and additionalData before it returns (SubtleCrypto.encrypt(), step 2,
    // and "normalize an algorithm", which copies every BufferSource member), so the next record may
    // overwrite it while the previous one is still being encrypted.
    let scratch: Uint8Array<ArrayBuffer> | undefined;
    return {
      algorithm,
      seal(nonce, aad, plaintext) {
        if (nonce.length !== AEAD_NONCE_LENGTH) throw new Error('webcrypto: AEAD nonce must be 12 bytes');
        // AES-GCM output is ciphertext || tag already (WebCrypto §27.3).
        return subtle
          .encrypt(gcmParams(nonce, aad), key, bs(plaintext))
          .then((ct) => new Uint8Array(ct));
      },
      sealRecord(nonce, aad, prefix, content, trailer) {
        if (nonce.length !== AEAD_NONCE_LENGTH) throw new Error('webcrypto: AEAD nonce must be 12 bytes');
        let data: Uint8Array<ArrayBuffer>;
        if (trailer.length === 0) data = bs(content);
        else {
          const n = content.length + trailer.length;
          if (!scratch || scratch.length < n) scratch = new Uint8Array(Math.max(n, SCRATCH_SIZE));
          scratch.set(content, 0);
          scratch.set(trailer, content.length);
          data = scratch.subarray(0, n);
        }
        const head = prefix.slice();
        return subtle.encrypt(gcmParams(nonce, aad), key, data).then((ct) => {
          const out = new Uint8Array(head.length + ct.byteLength);
          out.set(head, 0);
          out.set(new Uint8Array(ct), head.length);
          return out;
        });
      },
      open(nonce, aad, ciphertextAndTag) {
        if (nonce.length !== AEAD_NONCE_LENGTH || ciphertextAndTag.length < AEAD_TAG_LENGTH) {
          return Promise.resolve(null);
        }
        try {
          return subtle
            .decrypt(
              gcmParams(nonce, aad),
              key,
              bs(ciphertextAndTag),
            )
            .then(
              (pt) => new Uint8Array(pt),
              () => null,
            );
        } catch {
          return Promise.resolve(null);
        }
      },
    };
  }

  function chachaKey(raw: Uint8Array): AeadKey {
    return nobleAeadKey('CHACHA20-POLY1305', raw, 'webcrypto');
  }

  function makeKeyShare(group: number, info: GroupInfo, privateKey: CryptoKey, publicKey: Uint8Array): KeyShare {
    return {
      group,
      publicKey,
      async deriveSecret(peer: Uint8Array): Promise<Uint8Array> {
        // Wire format checks: RFC 7748 §5 (32 bytes), RFC 8446 §4.2.8.2 (uncompressed point).
        if (peer.length !== info.publicLength) {
          throw new Error(`webcrypto: peer key share for group ${schemeHex(group)} has length ${peer.length}, expected ${info.publicLength}`);
        }
        if (info.alg.name === 'ECDH' && peer[0] !== 0x04) {
          throw new Error('webcrypto: peer EC key share is not an uncompressed point');
        }
        let secret: Uint8Array;
        try {
          const pub = await subtle.importKey('raw', bs(peer), info.alg, false, []);
          secret = new Uint8Array(
            await subtle.deriveBits({ name: info.alg.name, public: pub } as EcdhKeyDeriveParams, privateKey, info.bits),
          );
        } catch (e) {
          throw new Error(`webcrypto: invalid peer key share for group ${schemeHex(group)}: ${errMessage(e)}`);
        }
        // RFC 8446 §7.4.2 / RFC 7748 §6.1: an all-zero X25519 output must be rejected.
        if (isAllZero(secret)) throw new Error('webcrypto: all-zero shared secret');
        return secret;
      },
    };
  }

  async function generateKeyShare(group: number, privateKey?: Uint8Array): Promise<KeyShare> {
    const info = GROUPS[group];
    if (!info) throw new Error(`webcrypto: unsupported group ${schemeHex(group)}`);
    if (privateKey) {
      if (group !== 0x001d) throw new Error('webcrypto: a fixed private key is only supported for x25519');
      if (privateKey.length !== 32) throw new Error('webcrypto: an x25519 private key is 32 bytes');
      const priv = await subtle.importKey('pkcs8', concat(X25519_PKCS8_PREFIX, privateKey), info.alg, false, [
        'deriveBits',
      ]);
      // The public key is X25519(k, 9) (RFC 7748 §6.1): no key export needed.
      const base = await subtle.importKey('raw', X25519_BASE_POINT, info.alg, false, []);
      const pub = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: base } as EcdhKeyDeriveParams, priv, 256));
      return makeKeyShare(group, info, priv, pub);
    }
    const pair = (await subtle.generateKey(info.alg, false, ['deriveBits'])) as CryptoKeyPair;
    const pub = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
    return makeKeyShare(group, info, pair.privateKey, pub);
  }

  function randomBytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    // getRandomValues fills at most 65536 bytes per call (WebCrypto §10.1.1).
    for (let i = 0; i < length; i += 65536) c.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
    return out;
  }

  /** Finite-field DH in pure JS (WebCrypto has none): engine/crypto/ffdh.ts. ~3 ms for keygen + derive at 2048 bits. */
  function dhKeyShare(pIn: Uint8Array, gIn: Uint8Array): KeyShare {
    return bigIntDhKeyShare(pIn, gIn, randomBytes, 'webcrypto');
  }

  async function importSigningKey(pkcs8: Uint8Array, algorithm: KeyAlgorithm): Promise<SigningKey> {
    const first = FIRST_SCHEME[algorithm];
    if (first === undefined) throw new Error(`webcrypto: unsupported key algorithm ${String(algorithm)}`);
    const info = SCHEMES[first]!;
    const der = new Uint8Array(pkcs8); // private copy for later lazy imports
    const kind = keyKind(der, true);
    if (kind !== algorithm) throw new Error(`webcrypto: PKCS#8 key is ${kind ?? 'not a supported key'}, not ${algorithm}`);
    let key: CryptoKey;
    try {
      key = await subtle.importKey('pkcs8', der, info.importAlg, false, ['sign']);
    } catch (e) {
      throw new Error(`webcrypto: cannot import PKCS#8 key as ${algorithm}: ${errMessage(e)}`);
    }
    let bits: number;
    if (algorithm === 'rsa') bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
    else if (algorithm === 'ecdsa-p384') bits = 384;
    else bits = 256;
    return new WebSigningKey(subtle, der, algorithm, bits, first, key, randomBytes);
  }

  async function verifyInner(
    spki: Uint8Array,
    scheme: number,
    data: Uint8Array,
    signature: Uint8Array,
    tls12: boolean,
  ): Promise<boolean> {
    const info = schemeFor(scheme, keyKind(spki, false), tls12);
    // ecdsa_sha224 is for our ServerKeyExchange only: we never ask a client for it.
    if (!info || info.hash === 'SHA-224') return false;
    const keyDer = info.pssKey ? relabelPssSpki(spki) : bs(spki);
    if (!keyDer) return false;
    let sig: Uint8Array<ArrayBuffer> | null = bs(signature);
    if (info.ecLength) sig = ecdsaDerToRaw(signature, info.ecLength);
    if (!sig) return false;
    const key = await subtle.importKey('spki', keyDer, info.importAlg, false, ['verify']);
    return await subtle.verify(info.signAlg, key, sig, bs(data));
  }

  return {
    name: 'webcrypto',
    groups: [0x001d, 0x0017, 0x0018],

    hash(algorithm) {
      return new NobleHashContext(nobleHash(algorithm, 'webcrypto').create());
    },

    hmac(algorithm, key, data) {
      return nobleHmac(nobleHash(algorithm, 'webcrypto'), key, data);
    },

    aeadKey(algorithm, key) {
      const len = AEAD_KEY_LENGTH[algorithm];
      if (len === undefined) throw new Error(`webcrypto: unsupported AEAD ${String(algorithm)}`);
      if (key.length !== len) throw new Error(`webcrypto: ${algorithm} key must be ${len} bytes`);
      return algorithm === 'CHACHA20-POLY1305' ? chachaKey(key) : aesGcmKey(algorithm, key);
    },

    generateKeyShare,
    dhKeyShare,
    // FIPS 203 ML-KEM-768 for X25519MLKEM768 / SecP256r1MLKEM768 (pure JS, shared by every provider).
    mlKem768,
    importSigningKey,

    verify(spki, scheme, data, signature, options) {
      try {
        return verifyInner(spki, scheme, data, signature, options?.tls12 === true).catch(() => false);
      } catch {
        return false;
      }
    },

    random: randomBytes,
  };
}

/**
 * The platform's WebCrypto when it has one, else @peculiar/webcrypto
 * (loaded only when needed).
 */
export async function loadWebCryptoProvider(): Promise<CryptoProvider> {
  const g = globalThis.crypto as Crypto | undefined;
  if (g && g.subtle) return createWebCryptoProvider(g);
  const mod = await import('@peculiar/webcrypto');
  return createWebCryptoProvider(new mod.Crypto() as unknown as Crypto);
}
