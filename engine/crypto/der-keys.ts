/**
 * Just enough DER (X.690) to read the keys the pure-JavaScript provider
 * needs: SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) and PKCS#8
 * PrivateKeyInfo / OneAsymmetricKey (RFC 5208 §5, RFC 5958 §2) for RSA
 * (RFC 8017 appendix A.1), EC (RFC 5480, RFC 5915) and Ed25519 (RFC 8410).
 * Strict: definite minimal lengths, no trailing bytes. Every function
 * returns null on anything it does not accept.
 */

import { bytesToBigInt } from './bigint.js';

export interface Tlv {
  readonly tag: number;
  /** Offset of the first content byte. */
  readonly start: number;
  /** Offset just past the content. */
  readonly end: number;
}

/** One DER TLV at `pos` (single-byte tags, lengths up to 2^24, minimal long form only). */
export function readTlv(b: Uint8Array, pos: number, limit = b.length): Tlv | null {
  if (pos + 2 > limit) return null;
  const tag = b[pos]!;
  let len = b[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || start + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | b[start + i]!;
    start += n;
    // X.690 §10.1: the long form only for lengths >= 128, without leading zeros.
    if (len < 0x80 || b[pos + 2] === 0) return null;
  }
  const end = start + len;
  if (end > limit) return null;
  return { tag, start, end };
}

/** The TLVs directly inside a constructed TLV, which they must fill exactly. */
function children(b: Uint8Array, parent: Tlv): Tlv[] | null {
  const out: Tlv[] = [];
  let pos = parent.start;
  while (pos < parent.end) {
    const t = readTlv(b, pos, parent.end);
    if (!t) return null;
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** A non-negative DER INTEGER (X.690 §8.3: minimal two's complement). */
function unsignedInteger(b: Uint8Array, t: Tlv | undefined): bigint | null {
  if (!t || t.tag !== 0x02 || t.end === t.start) return null;
  if (b[t.start]! & 0x80) return null;
  if (b[t.start] === 0 && t.end - t.start > 1 && !(b[t.start + 1]! & 0x80)) return null;
  return bytesToBigInt(b.subarray(t.start, t.end));
}

function content(b: Uint8Array, t: Tlv): Uint8Array {
  return b.subarray(t.start, t.end);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const hexOid = (h: string) => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
/** rsaEncryption 1.2.840.113549.1.1.1 (RFC 8017 appendix C). */
const OID_RSA_ENCRYPTION = hexOid('2a864886f70d010101');
/** id-RSASSA-PSS 1.2.840.113549.1.1.10 (RFC 4055 §3.1). */
const OID_RSASSA_PSS = hexOid('2a864886f70d01010a');
/** id-ecPublicKey 1.2.840.10045.2.1 (RFC 5480 §2.1.1). */
const OID_EC_PUBLIC_KEY = hexOid('2a8648ce3d0201');
/** secp256r1 1.2.840.10045.3.1.7 and secp384r1 1.3.132.0.34 (RFC 5480 §2.1.1.1). */
const OID_P256 = hexOid('2a8648ce3d030107');
const OID_P384 = hexOid('2b81040022');
/** id-Ed25519 1.3.101.112 (RFC 8410 §3). */
const OID_ED25519 = hexOid('2b6570');

export type EcCurve = 'P-256' | 'P-384';

export interface RsaPublicKeyInfo {
  readonly kind: 'rsa' | 'rsa-pss';
  readonly n: bigint;
  readonly e: bigint;
}
export interface EcPublicKeyInfo {
  readonly kind: 'ec';
  readonly curve: EcCurve;
  /** The SEC 1 point as in the BIT STRING. */
  readonly point: Uint8Array;
}
export interface Ed25519PublicKeyInfo {
  readonly kind: 'ed25519';
  readonly key: Uint8Array;
}
export type PublicKeyInfo = RsaPublicKeyInfo | EcPublicKeyInfo | Ed25519PublicKeyInfo;

type AlgId = { kind: 'rsa' | 'rsa-pss' | 'ed25519' } | { kind: 'ec'; curve: EcCurve };

/** AlgorithmIdentifier (RFC 5280 §4.1.1.2) of a key type this provider knows. */
function algorithmId(b: Uint8Array, t: Tlv | undefined): AlgId | null {
  if (!t || t.tag !== 0x30) return null;
  const parts = children(b, t);
  if (!parts || parts.length < 1 || parts.length > 2 || parts[0]!.tag !== 0x06) return null;
  const oid = content(b, parts[0]!);
  const params = parts[1];
  if (bytesEqual(oid, OID_RSA_ENCRYPTION)) {
    // RFC 3279 §2.3.1: parameters NULL (absent is tolerated, as OpenSSL does).
    if (params && !(params.tag === 0x05 && params.end === params.start)) return null;
    return { kind: 'rsa' };
  }
  // RFC 4055 §3.1: the parameters, if present, restrict the key's use; the
  // TLS scheme fixes hash and salt (RFC 8446 §4.2.3), as the other providers do.
  if (bytesEqual(oid, OID_RSASSA_PSS)) return { kind: 'rsa-pss' };
  if (bytesEqual(oid, OID_EC_PUBLIC_KEY)) {
    if (!params || params.tag !== 0x06) return null; // RFC 5480 §2.1.1: namedCurve only
    const curve = content(b, params);
    if (bytesEqual(curve, OID_P256)) return { kind: 'ec', curve: 'P-256' };
    if (bytesEqual(curve, OID_P384)) return { kind: 'ec', curve: 'P-384' };
    return null;
  }
  // RFC 8410 §3: the parameters MUST be absent.
  if (bytesEqual(oid, OID_ED25519)) return params ? null : { kind: 'ed25519' };
  return null;
}

/** RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 appendix A.1.1). */
function rsaPublicKey(b: Uint8Array): { n: bigint; e: bigint } | null {
  const seq = readTlv(b, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== b.length) return null;
  const parts = children(b, seq);
  if (!parts || parts.length !== 2) return null;
  const n = unsignedInteger(b, parts[0]);
  const e = unsignedInteger(b, parts[1]);
  return n === null || e === null ? null : { n, e };
}

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }. */
export function parseSpki(der: Uint8Array): PublicKeyInfo | null {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== 0x30 || outer.end !== der.length) return null;
  const parts = children(der, outer);
  if (!parts || parts.length !== 2) return null;
  const alg = algorithmId(der, parts[0]);
  const bits = parts[1]!;
  if (!alg || bits.tag !== 0x03 || bits.end === bits.start || der[bits.start] !== 0) return null; // no unused bits
  const key = der.subarray(bits.start + 1, bits.end);
  switch (alg.kind) {
    case 'rsa':
    case 'rsa-pss': {
      const k = rsaPublicKey(key);
      return k && { kind: alg.kind, ...k };
    }
    case 'ec':
      return { kind: 'ec', curve: alg.curve, point: key };
    case 'ed25519':
      return key.length === 32 ? { kind: 'ed25519', key } : null;
  }
}

export interface RsaPrivateKeyInfo {
  readonly kind: 'rsa';
  readonly n: bigint;
  readonly e: bigint;
  readonly d: bigint;
  readonly p: bigint;
  readonly q: bigint;
  readonly dP: bigint;
  readonly dQ: bigint;
  readonly qInv: bigint;
}
export interface EcPrivateKeyInfo {
  readonly kind: 'ec';
  readonly curve: EcCurve;
  /** The scalar, big-endian, as in ECPrivateKey (RFC 5915 §3), left-padded to the curve size. */
  readonly scalar: Uint8Array;
  /** The public point when the key carries it. */
  readonly point?: Uint8Array;
}
export interface Ed25519PrivateKeyInfo {
  readonly kind: 'ed25519';
  /** The 32-byte seed (RFC 8410 §7 CurvePrivateKey). */
  readonly seed: Uint8Array;
}
export type PrivateKeyInfo = RsaPrivateKeyInfo | EcPrivateKeyInfo | Ed25519PrivateKeyInfo;

/**
 * RSAPrivateKey (RFC 8017 appendix A.1.2), two-prime (version 0) only.
 */
function rsaPrivateKey(b: Uint8Array): RsaPrivateKeyInfo | null {
  const seq = readTlv(b, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== b.length) return null;
  const parts = children(b, seq);
  if (!parts || parts.length !== 9) return null;
  const v = parts.map((t) => unsignedInteger(b, t));
  if (v.some((x) => x === null) || v[0] !== 0n) return null;
  const [, n, e, d, p, q, dP, dQ, qInv] = v as bigint[];
  return { kind: 'rsa', n: n!, e: e!, d: d!, p: p!, q: q!, dP: dP!, dQ: dQ!, qInv: qInv! };
}

/** ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters, [1] publicKey } (RFC 5915 §3). */
function ecPrivateKey(b: Uint8Array, curve: EcCurve): EcPrivateKeyInfo | null {
  const size = curve === 'P-256' ? 32 : 48;
  const seq = readTlv(b, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== b.length) return null;
  const parts = children(b, seq);
  if (!parts || parts.length < 2 || parts.length > 4) return null;
  if (unsignedInteger(b, parts[0]) !== 1n || parts[1]!.tag !== 0x04) return null;
  const raw = content(b, parts[1]!);
  if (raw.length === 0 || raw.length > size) return null;
  const scalar = new Uint8Array(size);
  scalar.set(raw, size - raw.length);
  let point: Uint8Array | undefined;
  for (const t of parts.slice(2)) {
    if (t.tag === 0xa0) {
      // [0] ECParameters: must name the same curve as the PKCS#8 AlgorithmIdentifier.
      const oid = readTlv(b, t.start, t.end);
      if (!oid || oid.tag !== 0x06 || oid.end !== t.end) return null;
      if (!bytesEqual(content(b, oid), curve === 'P-256' ? OID_P256 : OID_P384)) return null;
    } else if (t.tag === 0xa1) {
      const bits = readTlv(b, t.start, t.end);
      if (!bits || bits.tag !== 0x03 || bits.end !== t.end || bits.end === bits.start || b[bits.start] !== 0) return null;
      point = b.subarray(bits.start + 1, bits.end);
    } else {
      return null;
    }
  }
  return { kind: 'ec', curve, scalar, point };
}

/**
 * PKCS#8 PrivateKeyInfo (RFC 5208 §5) or OneAsymmetricKey v2 (RFC 5958 §2):
 * SEQUENCE { version, privateKeyAlgorithm, privateKey OCTET STRING, [0] attributes, [1] publicKey }.
 */
export function parsePkcs8(der: Uint8Array): PrivateKeyInfo | null {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== 0x30 || outer.end !== der.length) return null;
  const parts = children(der, outer);
  if (!parts || parts.length < 3) return null;
  const version = unsignedInteger(der, parts[0]);
  if (version !== 0n && version !== 1n) return null;
  const alg = algorithmId(der, parts[1]);
  const key = parts[2]!;
  if (!alg || key.tag !== 0x04) return null;
  for (const t of parts.slice(3)) if (t.tag !== 0xa0 && t.tag !== 0x81 && t.tag !== 0xa1) return null;
  const inner = content(der, key);
  switch (alg.kind) {
    case 'rsa':
      return rsaPrivateKey(inner);
    case 'rsa-pss':
      return null; // as the other providers: the engine signs with rsaEncryption keys
    case 'ec':
      return ecPrivateKey(inner, alg.curve);
    case 'ed25519': {
      // CurvePrivateKey ::= OCTET STRING (RFC 8410 §7)
      const seed = readTlv(inner, 0);
      if (!seed || seed.tag !== 0x04 || seed.end !== inner.length || seed.end - seed.start !== 32) return null;
      return { kind: 'ed25519', seed: inner.subarray(seed.start, seed.end) };
    }
  }
}
