/**
 * The X25519 function (RFC 7748 §5) for the pure-JavaScript provider's
 * shared secrets: the Montgomery ladder of RFC 7748 §5 over BigInt, with a
 * reduction specialised to p = 2^255 - 19 (fold the bits above 2^255 back
 * as *19) instead of a generic BigInt division: about twice as fast as
 * @noble/curves' `x25519.getSharedSecret`, which the tests compare it
 * with (and the Wycheproof x25519 vectors check it).
 *
 * Like noble's, it is "algorithmic constant time": the ladder does the same
 * operations for every scalar bit and swaps with masks, not branches; BigInt
 * arithmetic itself is not constant-time (docs/js-provider.md).
 */

const P = (1n << 255n) - 19n;
const MASK255 = (1n << 255n) - 1n;
const TWO_P = 2n * P;
/** (486662 - 2) / 4 (RFC 7748 §5). */
const A24 = 121665n;

/**
 * A value congruent to x mod p and below 2^256 (for 0 <= x < 2^520): two
 * folds of 2^255 ≡ 19. Inputs to the ladder's products stay below 2^258,
 * so every product is below 2^516.
 */
function red(x: bigint): bigint {
  x = (x & MASK255) + 19n * (x >> 255n);
  return (x & MASK255) + 19n * (x >> 255n);
}

/** x^(2^k) mod p (lazily reduced). */
function sqr(x: bigint, k: number): bigint {
  for (let i = 0; i < k; i++) x = red(x * x);
  return x;
}

/** z^(p-2) = z^-1 mod p (Fermat), with the usual addition chain: 254 squarings, 11 multiplications. */
function invert(z: bigint): bigint {
  const z2 = sqr(z, 1);
  const z9 = red(sqr(z2, 2) * z);
  const z11 = red(z9 * z2);
  const z5_0 = red(sqr(z11, 1) * z9); // z^(2^5 - 1)
  const z10_0 = red(sqr(z5_0, 5) * z5_0);
  const z20_0 = red(sqr(z10_0, 10) * z10_0);
  const z40_0 = red(sqr(z20_0, 20) * z20_0);
  const z50_0 = red(sqr(z40_0, 10) * z10_0);
  const z100_0 = red(sqr(z50_0, 50) * z50_0);
  const z200_0 = red(sqr(z100_0, 100) * z100_0);
  const z250_0 = red(sqr(z200_0, 50) * z50_0);
  return red(sqr(z250_0, 5) * z11); // z^(2^255 - 21)
}

function decodeLE(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}

/**
 * X25519(k, u) (RFC 7748 §5): `scalar` and `u` are 32 bytes; the scalar is
 * clamped (decodeScalar25519), the top bit of u is masked and a
 * non-canonical u (>= p) is reduced (decodeUCoordinate). The caller checks
 * the all-zero output (RFC 7748 §6.1, RFC 8446 §7.4.2).
 */
export function x25519(scalar: Uint8Array, u: Uint8Array): Uint8Array {
  if (scalar.length !== 32 || u.length !== 32) throw new Error('js crypto: X25519 inputs are 32 bytes');
  const kb = new Uint8Array(scalar);
  kb[0]! &= 248;
  kb[31]! &= 127;
  kb[31]! |= 64;
  const k = decodeLE(kb);
  kb.fill(0);
  const ub = new Uint8Array(u);
  ub[31]! &= 127;
  const x1 = decodeLE(ub) % P;

  let x2 = 1n;
  let z2 = 0n;
  let x3 = x1;
  let z3 = 1n;
  let swap = 0n;
  for (let t = 254; t >= 0; t--) {
    const kt = (k >> BigInt(t)) & 1n;
    swap ^= kt;
    // cswap with a mask (-1n or 0n), no branch on the key bit
    const mask = -swap;
    let d = mask & (x2 ^ x3);
    x2 ^= d;
    x3 ^= d;
    d = mask & (z2 ^ z3);
    z2 ^= d;
    z3 ^= d;
    swap = kt;
    // RFC 7748 §5; subtractions add 2p to stay non-negative (operands < 2^256 < 2p + 2^11).
    const A = x2 + z2;
    const AA = red(A * A);
    const B = x2 - z2 + TWO_P;
    const BB = red(B * B);
    const E = AA - BB + TWO_P;
    const C = x3 + z3;
    const D = x3 - z3 + TWO_P;
    const DA = red(D * A);
    const CB = red(C * B);
    const s = DA + CB;
    const m = DA - CB + TWO_P;
    x3 = red(s * s);
    z3 = red(x1 * red(m * m));
    x2 = red(AA * BB);
    z2 = red(E * (AA + red(A24 * E)));
  }
  const mask = -swap;
  x2 ^= mask & (x2 ^ x3);
  z2 ^= mask & (z2 ^ z3);
  let r = red(x2 * invert(z2)) % P;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(r & 0xffn);
    r >>= 8n;
  }
  return out;
}
