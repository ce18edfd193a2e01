/**
 * ChaCha20-Poly1305 (RFC 8439 §2.8) for the pure-JavaScript provider:
 * ChaCha20 (RFC 8439 §2.3, §2.4), Poly1305 (§2.5) and the AEAD framing, all
 * here, because @noble/ciphers' versions (ChaCha20 through a keystream
 * buffer, Poly1305 with 13-bit limbs and 100 multiplications per block, an
 * AEAD wrapper that copies each record twice) run at about a third of this
 * speed in a TLS record layer. The tests compare every output with
 * @noble/ciphers and node:crypto, and run RFC 8439's and Wycheproof's vectors.
 *
 * ChaCha20 here XORs the keystream straight into the data as 32-bit words
 * (the record layer's buffers are 4-byte aligned; other buffers, or a
 * big-endian platform, go through @noble/ciphers' `chacha20`). It is
 * add-rotate-xor on 32-bit integers: no secret-dependent branch or index.
 *
 * Poly1305 arithmetic: the accumulator h and the key r are held in six
 * 22-bit limbs (radix 2^22, 132 bits) in IEEE doubles. Since
 * 2^132 = 4 * 2^130 ≡ 4 * 5 = 20 (mod 2^130 - 5), the product h*r needs 36
 * limb multiplications, the wrapped ones scaled by 20. Every intermediate
 * is an integer below 2^53, so double arithmetic is exact: h limbs enter a
 * block below 2^23, r limbs are below 2^22 so 20*r below 2^26.33, each
 * product below 2^49.33 and a sum of six below 2^51.92. The same
 * operations run for every block whatever the data (no data-dependent
 * branches or table lookups); the tag comparison is constant-time.
 */

import { chacha20 } from '@noble/ciphers/chacha.js';
import { AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH, type AeadKey } from './provider.js';

const M22 = 0x3fffff;
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * m[pos..end) as little-endian 32-bit words: a view when the bytes are
 * 4-byte aligned on a little-endian platform (the record layer's buffers
 * are), else a copy.
 */
function words(m: Uint8Array, pos: number, end: number): Int32Array {
  const off = m.byteOffset + pos;
  const n = (end - pos) >> 2;
  if (LITTLE_ENDIAN && (off & 3) === 0) return new Int32Array(m.buffer, off, n);
  const w = new Int32Array(n);
  for (let i = 0, p = pos; i < n; i++, p += 4) w[i] = m[p]! | (m[p + 1]! << 8) | (m[p + 2]! << 16) | (m[p + 3]! << 24);
  return w;
}
const TWO22 = 4194304;
const INV22 = 1 / TWO22; // exact: a power of two
const TWO32 = 4294967296;

function u32le(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** Poly1305 state for one message: r (clamped, RFC 8439 §2.5.1) and s from the 32-byte one-time key. */
class Poly1305 {
  private readonly r: Float64Array;
  private readonly s: Uint32Array;
  private readonly h = new Float64Array(6);

  constructor(key: Uint8Array) {
    // r &= 0x0ffffffc0ffffffc0ffffffc0fffffff (RFC 8439 §2.5.1 clamp)
    const w0 = u32le(key, 0) & 0x0fffffff;
    const w1 = u32le(key, 4) & 0x0ffffffc;
    const w2 = u32le(key, 8) & 0x0ffffffc;
    const w3 = u32le(key, 12) & 0x0ffffffc;
    this.r = Float64Array.of(
      w0 & M22,
      ((w0 >>> 22) | (w1 << 10)) & M22,
      ((w1 >>> 12) | (w2 << 20)) & M22,
      (w2 >>> 2) & M22,
      ((w2 >>> 24) | (w3 << 8)) & M22,
      w3 >>> 14,
    );
    this.s = Uint32Array.of(u32le(key, 16), u32le(key, 20), u32le(key, 24), u32le(key, 28));
  }

  /**
   * Absorb the full 16-byte blocks of m[pos..end) ((end - pos) a multiple
   * of 16), each with the 2^128 bit set (RFC 8439 §2.5.1: "add one bit
   * beyond the number of octets"; every block of the AEAD input is full).
   */
  blocks(m: Uint8Array, pos: number, end: number): void {
    const r = this.r;
    const r0 = r[0]!, r1 = r[1]!, r2 = r[2]!, r3 = r[3]!, r4 = r[4]!, r5 = r[5]!;
    const s1 = 20 * r1, s2 = 20 * r2, s3 = 20 * r3, s4 = 20 * r4, s5 = 20 * r5;
    const h = this.h;
    let h0 = h[0]!, h1 = h[1]!, h2 = h[2]!, h3 = h[3]!, h4 = h[4]!, h5 = h[5]!;
    const w = words(m, pos, end);
    for (let i = 0; i < w.length; i += 4) {
      const w0 = w[i]!, w1 = w[i + 1]!, w2 = w[i + 2]!, w3 = w[i + 3]!;
      // h += m (limbs of the block, bit 128 = bit 18 of limb 5)
      h0 += w0 & M22;
      h1 += ((w0 >>> 22) | (w1 << 10)) & M22;
      h2 += ((w1 >>> 12) | (w2 << 20)) & M22;
      h3 += (w2 >>> 2) & M22;
      h4 += ((w2 >>> 24) | (w3 << 8)) & M22;
      h5 += (w3 >>> 14) | 0x40000;
      // h *= r (mod 2^130 - 5), limbs i + j >= 6 scaled by 20
      let d0 = h0 * r0 + h1 * s5 + h2 * s4 + h3 * s3 + h4 * s2 + h5 * s1;
      let d1 = h0 * r1 + h1 * r0 + h2 * s5 + h3 * s4 + h4 * s3 + h5 * s2;
      let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s5 + h4 * s4 + h5 * s3;
      let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s5 + h5 * s4;
      let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s5;
      let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0;
      // carry: each limb back below 2^22 (limb 1 slightly above after the last step)
      let c = Math.floor(d0 * INV22);
      h0 = d0 - c * TWO22;
      d1 += c;
      c = Math.floor(d1 * INV22);
      h1 = d1 - c * TWO22;
      d2 += c;
      c = Math.floor(d2 * INV22);
      h2 = d2 - c * TWO22;
      d3 += c;
      c = Math.floor(d3 * INV22);
      h3 = d3 - c * TWO22;
      d4 += c;
      c = Math.floor(d4 * INV22);
      h4 = d4 - c * TWO22;
      d5 += c;
      c = Math.floor(d5 * INV22);
      h5 = d5 - c * TWO22;
      h0 += c * 20;
      c = Math.floor(h0 * INV22);
      h0 -= c * TWO22;
      h1 += c;
    }
    h[0] = h0;
    h[1] = h1;
    h[2] = h2;
    h[3] = h3;
    h[4] = h4;
    h[5] = h5;
  }

  /** Absorb `m` zero-padded to a multiple of 16 bytes (RFC 8439 §2.8: pad16). */
  padded(m: Uint8Array): void {
    const full = m.length & ~15;
    if (full) this.blocks(m, 0, full);
    if (full !== m.length) {
      const last = new Uint8Array(16);
      last.set(m.subarray(full));
      this.blocks(last, 0, 16);
    }
  }

  /** The tag: h mod 2^130 - 5, plus s, mod 2^128 (RFC 8439 §2.5.1), little-endian into out[off..off+16). */
  finish(out: Uint8Array, off: number): void {
    const h = this.h;
    // Full carry, then fold the bits at and above 2^130 (limb 5 keeps 20 bits) back as *5.
    let h0 = h[0]!, h1 = h[1]!, h2 = h[2]!, h3 = h[3]!, h4 = h[4]!, h5 = h[5]!;
    for (let round = 0; round < 2; round++) {
      let c = Math.floor(h0 * INV22);
      h0 -= c * TWO22;
      h1 += c;
      c = Math.floor(h1 * INV22);
      h1 -= c * TWO22;
      h2 += c;
      c = Math.floor(h2 * INV22);
      h2 -= c * TWO22;
      h3 += c;
      c = Math.floor(h3 * INV22);
      h3 -= c * TWO22;
      h4 += c;
      c = Math.floor(h4 * INV22);
      h4 -= c * TWO22;
      h5 += c;
      c = Math.floor(h5 / 1048576);
      h5 -= c * 1048576;
      h0 += c * 5;
    }
    // Now h < 2^130 + 5*small; one more carry of limb 0 keeps every limb below its radix.
    let c = Math.floor(h0 * INV22);
    h0 -= c * TWO22;
    h1 += c;
    // g = h + 5 - 2^130; use g when it is non-negative (h >= p), without branching on secrets.
    let g0 = h0 + 5;
    c = Math.floor(g0 * INV22);
    g0 -= c * TWO22;
    let g1 = h1 + c;
    c = Math.floor(g1 * INV22);
    g1 -= c * TWO22;
    let g2 = h2 + c;
    c = Math.floor(g2 * INV22);
    g2 -= c * TWO22;
    let g3 = h3 + c;
    c = Math.floor(g3 * INV22);
    g3 -= c * TWO22;
    let g4 = h4 + c;
    c = Math.floor(g4 * INV22);
    g4 -= c * TWO22;
    let g5 = h5 + c;
    const ge = Math.floor(g5 / 1048576); // 1 when h + 5 >= 2^130
    g5 -= ge * 1048576;
    const mask = -ge | 0; // all ones when g is the result
    const nmask = ~mask;
    const l0 = ((g0 & mask) | (h0 & nmask)) >>> 0;
    const l1 = ((g1 & mask) | (h1 & nmask)) >>> 0;
    const l2 = ((g2 & mask) | (h2 & nmask)) >>> 0;
    const l3 = ((g3 & mask) | (h3 & nmask)) >>> 0;
    const l4 = ((g4 & mask) | (h4 & nmask)) >>> 0;
    const l5 = ((g5 & mask) | (h5 & nmask)) >>> 0;
    // To 32-bit words (bits 0..127; bits 128, 129 drop out mod 2^128), plus s.
    const w = [
      (l0 | (l1 << 22)) >>> 0,
      ((l1 >>> 10) | (l2 << 12)) >>> 0,
      ((l2 >>> 20) | (l3 << 2) | (l4 << 24)) >>> 0,
      ((l4 >>> 8) | (l5 << 14)) >>> 0,
    ];
    let carry = 0;
    for (let i = 0; i < 4; i++) {
      const f = w[i]! + this.s[i]! + carry;
      carry = Math.floor(f / TWO32);
      const v = f - carry * TWO32;
      out[off + 4 * i] = v & 0xff;
      out[off + 4 * i + 1] = (v >>> 8) & 0xff;
      out[off + 4 * i + 2] = (v >>> 16) & 0xff;
      out[off + 4 * i + 3] = v >>> 24;
    }
    h.fill(0);
  }
}

/** Poly1305 over AAD || pad16 || ciphertext || pad16 || le64(len AAD) || le64(len ciphertext) (RFC 8439 §2.8). */
function aeadTag(otk: Uint8Array, aad: Uint8Array, ct: Uint8Array, out: Uint8Array, off: number): void {
  const p = new Poly1305(otk);
  p.padded(aad);
  p.padded(ct);
  const lengths = new Uint8Array(16);
  const view = new DataView(lengths.buffer);
  view.setUint32(0, aad.length % TWO32, true);
  view.setUint32(4, Math.floor(aad.length / TWO32), true);
  view.setUint32(8, ct.length % TWO32, true);
  view.setUint32(12, Math.floor(ct.length / TWO32), true);
  p.blocks(lengths, 0, 16);
  p.finish(out, off);
}


// ------------------------------------------------------------ ChaCha20

/**
 * XOR `blocks` 64-byte ChaCha20 keystream blocks (RFC 8439 §2.3, 20 rounds,
 * 32-bit block counter, 96-bit nonce) into w[0 .. 16*blocks), starting at
 * block `counter`. `k` is the key as 8 little-endian words, `n` the nonce as 3.
 */
function chachaBlocks(k: Int32Array, n: Int32Array, w: Int32Array, blocks: number, counter: number): void {
  const k0 = k[0]!, k1 = k[1]!, k2 = k[2]!, k3 = k[3]!, k4 = k[4]!, k5 = k[5]!, k6 = k[6]!, k7 = k[7]!;
  const n0 = n[0]!, n1 = n[1]!, n2 = n[2]!;
  // "expand 32-byte k" (RFC 8439 §2.3)
  const c0 = 0x61707865, c1 = 0x3320646e, c2 = 0x79622d32, c3 = 0x6b206574;
  for (let b = 0; b < blocks; b++, counter++) {
    let x0 = c0, x1 = c1, x2 = c2, x3 = c3, x4 = k0, x5 = k1, x6 = k2, x7 = k3;
    let x8 = k4, x9 = k5, x10 = k6, x11 = k7, x12 = counter | 0, x13 = n0, x14 = n1, x15 = n2;
    for (let r = 0; r < 10; r++) {
      // column rounds: QUARTERROUND(0,4,8,12) (1,5,9,13) (2,6,10,14) (3,7,11,15) (RFC 8439 §2.1, §2.3.1)
      x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
      x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
      x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
      x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
      x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
      x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
      x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
      x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
      x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
      x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
      x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
      x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
      x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
      x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
      x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
      x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
      // diagonal rounds: QUARTERROUND(0,5,10,15) (1,6,11,12) (2,7,8,13) (3,4,9,14)
      x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
      x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
      x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
      x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
      x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
      x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
      x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
      x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
      x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
      x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
      x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
      x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
      x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
      x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
      x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
      x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
    }
    // keystream = state after the rounds + the initial state (§2.3); XOR into the data
    const o = b << 4;
    w[o] ^= (x0 + c0) | 0;
    w[o + 1] ^= (x1 + c1) | 0;
    w[o + 2] ^= (x2 + c2) | 0;
    w[o + 3] ^= (x3 + c3) | 0;
    w[o + 4] ^= (x4 + k0) | 0;
    w[o + 5] ^= (x5 + k1) | 0;
    w[o + 6] ^= (x6 + k2) | 0;
    w[o + 7] ^= (x7 + k3) | 0;
    w[o + 8] ^= (x8 + k4) | 0;
    w[o + 9] ^= (x9 + k5) | 0;
    w[o + 10] ^= (x10 + k6) | 0;
    w[o + 11] ^= (x11 + k7) | 0;
    w[o + 12] ^= (x12 + counter) | 0;
    w[o + 13] ^= (x13 + n0) | 0;
    w[o + 14] ^= (x14 + n1) | 0;
    w[o + 15] ^= (x15 + n2) | 0;
  }
}

function leWords(b: Uint8Array, count: number): Int32Array {
  const w = new Int32Array(count);
  for (let i = 0; i < count; i++) w[i] = u32le(b, 4 * i);
  return w;
}

/** ChaCha20 encryption in place (RFC 8439 §2.4), from block `counter`. */
function chacha20Xor(key: Uint8Array, nonce: Uint8Array, data: Uint8Array, counter: number): void {
  if (!LITTLE_ENDIAN || (data.byteOffset & 3) !== 0) {
    chacha20(key, nonce, data, data, counter);
    return;
  }
  const k = leWords(key, 8);
  const n = leWords(nonce, 3);
  const full = data.length >> 6;
  if (counter + full + 1 > 0xffffffff) throw new Error('js crypto: ChaCha20 block counter overflow');
  if (full) chachaBlocks(k, n, new Int32Array(data.buffer, data.byteOffset, full << 4), full, counter);
  const rest = data.length - (full << 6);
  if (rest) {
    const block = new Int32Array(16); // zeros: becomes the keystream block
    chachaBlocks(k, n, block, 1, counter + full);
    const ks = new Uint8Array(block.buffer);
    for (let i = 0, p = full << 6; i < rest; i++, p++) data[p]! ^= ks[i]!;
  }
  k.fill(0);
}

/** The Poly1305 one-time key: the first 32 bytes of ChaCha20 block 0 (RFC 8439 §2.6). */
function oneTimeKey(key: Uint8Array, nonce: Uint8Array): Uint8Array {
  const otk = new Uint8Array(32);
  chacha20Xor(key, nonce, otk, 0);
  return otk;
}

/**
 * A buffer of `length` bytes whose byte `at` is 4-byte aligned, so that
 * noble's ChaCha20 takes its 32-bit path over the data that starts there.
 */
function alignedBuffer(length: number, at: number): Uint8Array {
  const shift = (4 - (at & 3)) & 3;
  return new Uint8Array(new ArrayBuffer(length + shift), shift, length);
}

function constantTimeEqual16(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < 16; i++) acc |= a[aOff + i]! ^ b[i]!;
  return acc === 0;
}

/** A ChaCha20-Poly1305 AeadKey (RFC 8439 §2.8; TLS nonces are 12 bytes, RFC 8446 §5.3). */
export function chacha20Poly1305Key(raw: Uint8Array): AeadKey {
  if (raw.length !== 32) throw new Error('js crypto: CHACHA20-POLY1305 key must be 32 bytes');
  const key = new Uint8Array(raw);
  return {
    algorithm: 'CHACHA20-POLY1305',
    seal(nonce, aad, plaintext) {
      if (nonce.length !== AEAD_NONCE_LENGTH) throw new Error('js crypto: AEAD nonce must be 12 bytes');
      const out = new Uint8Array(plaintext.length + AEAD_TAG_LENGTH);
      const ct = out.subarray(0, plaintext.length);
      ct.set(plaintext);
      chacha20Xor(key, nonce, ct, 1); // in place, counter 1 (RFC 8439 §2.8)
      aeadTag(oneTimeKey(key, nonce), aad, ct, out, plaintext.length);
      return out;
    },
    sealRecord(nonce, aad, prefix, content, trailer) {
      if (nonce.length !== AEAD_NONCE_LENGTH) throw new Error('js crypto: AEAD nonce must be 12 bytes');
      const n = content.length + trailer.length;
      const out = alignedBuffer(prefix.length + n + AEAD_TAG_LENGTH, prefix.length);
      out.set(prefix, 0);
      out.set(content, prefix.length);
      out.set(trailer, prefix.length + content.length);
      const ct = out.subarray(prefix.length, prefix.length + n);
      chacha20Xor(key, nonce, ct, 1);
      aeadTag(oneTimeKey(key, nonce), aad, ct, out, prefix.length + n);
      return out;
    },
    open(nonce, aad, sealed) {
      if (nonce.length !== AEAD_NONCE_LENGTH || sealed.length < AEAD_TAG_LENGTH) return null;
      const n = sealed.length - AEAD_TAG_LENGTH;
      // One copy into an aligned buffer (the record is at any offset of the
      // socket's chunk): Poly1305 reads it as words, ChaCha20 decrypts it in place.
      const pt = new Uint8Array(n);
      pt.set(sealed.subarray(0, n));
      // Authenticate before decrypting (RFC 8439 §2.8: the tag is checked first).
      const tag = new Uint8Array(16);
      aeadTag(oneTimeKey(key, nonce), aad, pt, tag, 0);
      if (!constantTimeEqual16(sealed, n, tag)) return null;
      chacha20Xor(key, nonce, pt, 1);
      return pt;
    },
  };
}
