/**
 * RSA signatures over BigInt for the pure-JavaScript provider (there is no
 * audited pure-JS RSA to depend on): RSASSA-PSS (RFC 8017 §8.1, EMSA-PSS
 * §9.1, MGF1 §B.2.1) and RSASSA-PKCS1-v1_5 (RFC 8017 §8.2, EMSA-PKCS1-v1_5
 * §9.2), signing with the Chinese Remainder Theorem and verification.
 * No encryption or decryption: TLS 1.3 and this engine's TLS 1.2 suites
 * have no RSA key exchange, so there is no padding oracle to defend.
 *
 * What is and is not constant-time (see also engine/crypto/bigint.ts):
 *  - Not constant-time: every BigInt operation. JavaScript gives no way to
 *    write constant-time multi-precision arithmetic over BigInt.
 *  - Mitigated, signing only (the only operation with a secret):
 *    1. base blinding (RFC 8017 §5.1.2 note, Kocher 1996): the CRT
 *       exponentiations run on m·r^e mod n for a fresh random r, so their
 *       inputs are uniformly random and unknown to an attacker, even one who
 *       chooses the message;
 *    2. exponent blinding: each signature uses dP + k1·(p−1) and
 *       dQ + k2·(q−1) with fresh random 64-bit k1, k2, so the exponent bits
 *       an exponentiation processes differ from one signature to the next
 *       and timing or cache traces do not accumulate over signatures;
 *    3. fixed-window exponentiation: the sequence of squarings and
 *       multiplications depends only on the exponent's length;
 *    4. the result is checked with the public exponent before it is
 *       released (s^e = m mod n), so a fault in one CRT half cannot leak a
 *       factor of n (Boneh-DeMillo-Lipton).
 *  - Still variable-time: the inverse of the blinding factor (extended
 *    Euclid on the random r), the window table lookups (cache), the CRT
 *    recombination, and BigInt <-> byte conversions. These operate on
 *    blinded or random values; an attacker on the same machine with a
 *    cache side channel is outside what this provider defends against.
 *    Deployments exposed to that use the node:crypto provider.
 *  - Verification and padding checks handle public data only; their timing
 *    does not matter.
 */

import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { bigIntToBytes, bitLength, bytesToBigInt, mod, modInverse, modPowPublic, modPowSecret } from './bigint.js';

export type RsaHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

const HASHES: Record<RsaHash, { fn: (m: Uint8Array) => Uint8Array; len: number; digestInfo: Uint8Array }> = {
  // RFC 8017 §9.2 note 1: the DER DigestInfo prefixes.
  'SHA-1': { fn: sha1, len: 20, digestInfo: hex('3021300906052b0e03021a05000414') },
  'SHA-256': { fn: sha256, len: 32, digestInfo: hex('3031300d060960864801650304020105000420') },
  'SHA-384': { fn: sha384, len: 48, digestInfo: hex('3041300d060960864801650304020205000430') },
  'SHA-512': { fn: sha512, len: 64, digestInfo: hex('3051300d060960864801650304020305000440') },
};

function hex(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
}

/** Smallest and largest modulus this code accepts (bounds the cost of a hostile key). */
export const RSA_MIN_BITS = 1024;
export const RSA_MAX_BITS = 16384;
/** Largest public exponent accepted: 2^32 + 1 (issue 10's bound; e = 65537 in practice). */
const RSA_MAX_E = (1n << 32n) + 1n;

export interface RsaPublic {
  readonly n: bigint;
  readonly e: bigint;
  /** Modulus bits. */
  readonly bits: number;
  /** Modulus bytes (k in RFC 8017). */
  readonly k: number;
}

/** Checks and sizes a public key; null if it is out of the accepted range. */
export function rsaPublic(n: bigint, e: bigint): RsaPublic | null {
  const bits = bitLength(n);
  if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS || !(n & 1n)) return null;
  if (e < 3n || !(e & 1n) || e > RSA_MAX_E) return null;
  return { n, e, bits, k: (bits + 7) >> 3 };
}

/** MGF1 (RFC 8017 §B.2.1). */
function mgf1(hash: RsaHash, seed: Uint8Array, length: number): Uint8Array {
  const h = HASHES[hash];
  const out = new Uint8Array(length);
  const input = new Uint8Array(seed.length + 4);
  input.set(seed, 0);
  for (let counter = 0, off = 0; off < length; counter++) {
    input[seed.length] = counter >>> 24;
    input[seed.length + 1] = (counter >>> 16) & 0xff;
    input[seed.length + 2] = (counter >>> 8) & 0xff;
    input[seed.length + 3] = counter & 0xff;
    const t = h.fn(input);
    const take = Math.min(t.length, length - off);
    out.set(t.subarray(0, take), off);
    off += take;
  }
  return out;
}

function pssHashInput(mHash: Uint8Array, salt: Uint8Array): Uint8Array {
  // M' = (0x)00 00 00 00 00 00 00 00 || mHash || salt (RFC 8017 §9.1.1 step 5)
  const m = new Uint8Array(8 + mHash.length + salt.length);
  m.set(mHash, 8);
  m.set(salt, 8 + mHash.length);
  return m;
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with emBits = modBits - 1. */
function emsaPssEncode(hash: RsaHash, message: Uint8Array, emBits: number, salt: Uint8Array): Uint8Array {
  const h = HASHES[hash];
  const emLen = (emBits + 7) >> 3;
  const sLen = salt.length;
  if (emLen < h.len + sLen + 2) throw new Error('js crypto: RSA key too small for PSS with this hash');
  const mHash = h.fn(message);
  const H = h.fn(pssHashInput(mHash, salt));
  const db = new Uint8Array(emLen - h.len - 1);
  db[emLen - sLen - h.len - 2] = 0x01;
  db.set(salt, emLen - sLen - h.len - 1);
  const mask = mgf1(hash, H, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = new Uint8Array(emLen);
  em.set(db, 0);
  em.set(H, db.length);
  em[emLen - 1] = 0xbc;
  return em;
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2), salt length fixed to sLen. */
function emsaPssVerify(hash: RsaHash, message: Uint8Array, em: Uint8Array, emBits: number, sLen: number): boolean {
  const h = HASHES[hash];
  const emLen = em.length;
  if (emLen < h.len + sLen + 2) return false; // step 3
  if (em[emLen - 1] !== 0xbc) return false; // step 4
  const maskedDb = em.subarray(0, emLen - h.len - 1);
  const H = em.subarray(emLen - h.len - 1, emLen - 1);
  const topBits = 8 * emLen - emBits;
  if (maskedDb[0]! & ~(0xff >> topBits) & 0xff) return false; // step 6
  const db = mgf1(hash, H, maskedDb.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= maskedDb[i]!;
  db[0]! &= 0xff >> topBits;
  const psLen = emLen - h.len - sLen - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false; // step 10
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - sLen);
  const H2 = h.fn(pssHashInput(h.fn(message), salt));
  return equal(H, H2);
}

/** EMSA-PKCS1-v1_5-ENCODE (RFC 8017 §9.2): 0x00 0x01 PS(0xff...) 0x00 DigestInfo. */
function emsaPkcs1Encode(hash: RsaHash, message: Uint8Array, emLen: number): Uint8Array {
  const h = HASHES[hash];
  const tLen = h.digestInfo.length + h.len;
  if (emLen < tLen + 11) throw new Error('js crypto: RSA key too small for PKCS#1 v1.5 with this hash');
  const em = new Uint8Array(emLen).fill(0xff);
  em[0] = 0x00;
  em[1] = 0x01;
  em[emLen - tLen - 1] = 0x00;
  em.set(h.digestInfo, emLen - tLen);
  em.set(h.fn(message), emLen - h.len);
  return em;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]! ^ b[i]!;
  return acc === 0;
}

export type RsaPadding = { kind: 'pss'; hash: RsaHash; saltLength: number } | { kind: 'pkcs1'; hash: RsaHash };

/**
 * RSASSA-PSS-VERIFY (§8.1.2) or RSASSA-PKCS1-V1_5-VERIFY (§8.2.2). The
 * PKCS#1 v1.5 check re-encodes and compares (§8.2.2 step 3), so no
 * alternative DigestInfo encoding is accepted.
 */
export function rsaVerify(key: RsaPublic, padding: RsaPadding, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== key.k) return false; // §8.1.2 step 1, §8.2.2 step 1
  const s = bytesToBigInt(signature);
  if (s >= key.n) return false; // RSAVP1 (§5.2.2) step 1
  const m = modPowPublic(s, key.e, key.n);
  if (padding.kind === 'pss') {
    const emBits = key.bits - 1;
    const emLen = (emBits + 7) >> 3;
    if (m >> BigInt(8 * emLen) !== 0n) return false; // I2OSP(m, emLen) fails (§8.1.2 step 2c)
    return emsaPssVerify(padding.hash, message, bigIntToBytes(m, emLen), emBits, padding.saltLength);
  }
  let expected: Uint8Array;
  try {
    expected = emsaPkcs1Encode(padding.hash, message, key.k);
  } catch {
    return false;
  }
  return equal(bigIntToBytes(m, key.k), expected);
}

/** An RSA private key for CRT signing, checked at import. */
export class RsaPrivateKey {
  readonly pub: RsaPublic;
  private readonly p: bigint;
  private readonly q: bigint;
  private readonly dP: bigint;
  private readonly dQ: bigint;
  private readonly qInv: bigint;

  /**
   * `random(n)` is the provider's CSPRNG. Throws when the key is not a
   * consistent two-prime key (n = p·q, e·dP ≡ 1 mod p−1, e·dQ ≡ 1 mod q−1,
   * q·qInv ≡ 1 mod p) or its size is out of range.
   */
  constructor(
    v: { n: bigint; e: bigint; p: bigint; q: bigint; dP: bigint; dQ: bigint; qInv: bigint },
    private readonly random: (length: number) => Uint8Array,
  ) {
    const pub = rsaPublic(v.n, v.e);
    if (!pub) throw new Error('js crypto: RSA key size or public exponent out of range');
    if (v.p * v.q !== v.n || v.p < 3n || v.q < 3n) throw new Error('js crypto: RSA key: n != p*q');
    if ((v.e * v.dP) % (v.p - 1n) !== 1n || (v.e * v.dQ) % (v.q - 1n) !== 1n) throw new Error('js crypto: RSA key: inconsistent CRT exponents');
    if ((v.q * v.qInv) % v.p !== 1n) throw new Error('js crypto: RSA key: inconsistent CRT coefficient');
    this.pub = pub;
    this.p = v.p;
    this.q = v.q;
    this.dP = v.dP;
    this.dQ = v.dQ;
    this.qInv = v.qInv;
  }

  /** A uniformly random integer in [1, m) from the CSPRNG (rejection sampling). */
  private randomBelow(m: bigint): bigint {
    const bytes = (bitLength(m) + 7) >> 3;
    const excess = BigInt(bytes * 8 - bitLength(m));
    for (;;) {
      const r = bytesToBigInt(this.random(bytes)) >> excess;
      if (r >= 1n && r < m) return r;
    }
  }

  /** RSASP1 (RFC 8017 §5.2.1) with CRT, blinding and the fault check described at the top of this file. */
  private rsasp1(m: bigint): bigint {
    const { n, e } = this.pub;
    let r: bigint;
    let rInv: bigint;
    for (;;) {
      r = this.randomBelow(n);
      try {
        rInv = modInverse(r, n);
        break;
      } catch {
        // gcd(r, n) != 1: r shares a factor with n (probability ~2^-1023); draw again.
      }
    }
    const blinded = (m * modPowPublic(r, e, n)) % n;
    const k1 = bytesToBigInt(this.random(8));
    const k2 = bytesToBigInt(this.random(8));
    const m1 = modPowSecret(blinded % this.p, this.dP + k1 * (this.p - 1n), this.p);
    const m2 = modPowSecret(blinded % this.q, this.dQ + k2 * (this.q - 1n), this.q);
    const h = mod(this.qInv * (m1 - m2), this.p);
    const sBlinded = m2 + h * this.q;
    const s = (sBlinded * rInv) % n;
    if (modPowPublic(s, e, n) !== m) throw new Error('js crypto: RSA signature failed its own check (fault)');
    return s;
  }

  sign(padding: RsaPadding, message: Uint8Array): Uint8Array {
    const { bits, k } = this.pub;
    let em: Uint8Array;
    if (padding.kind === 'pss') {
      em = emsaPssEncode(padding.hash, message, bits - 1, this.random(padding.saltLength));
    } else {
      em = emsaPkcs1Encode(padding.hash, message, k);
    }
    return bigIntToBytes(this.rsasp1(bytesToBigInt(em)), k);
  }
}
