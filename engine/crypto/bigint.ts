/**
 * Big-endian byte strings <-> BigInt, and the modular arithmetic the
 * pure-JavaScript provider needs for RSA (engine/crypto/rsa.ts) and
 * finite-field Diffie-Hellman (engine/crypto/js.ts).
 *
 * Timing: JavaScript BigInt arithmetic is NOT constant-time. The engines
 * (V8, JavaScriptCore, SpiderMonkey) size and normalise BigInts by their
 * value, and multiplication and division take time that depends on the
 * operands. `modPowSecret` makes the *sequence* of operations depend only
 * on the exponent's length (fixed 4-bit windows, one multiplication per
 * window even for a zero window), but the window value indexes a table
 * (a cache-timing channel) and each multiplication's time depends on its
 * operands. The RSA code blinds what goes in (see rsa.ts); the DH code uses
 * each exponent for one ephemeral exchange only.
 */

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A big-endian unsigned integer (empty = 0). RFC 8017 §4.2 OS2IP. */
export function bytesToBigInt(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  let s = '0x';
  for (let i = 0; i < b.length; i++) s += HEX_BYTE[b[i]!];
  return BigInt(s);
}

/** `v` big-endian, left-padded with zeros to `length` bytes. RFC 8017 §4.1 I2OSP; throws when v >= 256^length. */
export function bigIntToBytes(v: bigint, length: number): Uint8Array {
  if (v < 0n) throw new Error('js crypto: negative integer');
  const s = v.toString(16);
  if (s.length > length * 2) throw new Error('js crypto: integer too large');
  const padded = s.padStart(length * 2, '0');
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = parseInt(padded.substr(i * 2, 2), 16);
  return out;
}

/** Number of significant bits (0 for 0). */
export function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/** Non-negative `a mod m`. */
export function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/**
 * base^exp mod m for a SECRET exponent: fixed 4-bit windows, so the number
 * and order of squarings and multiplications depends only on the number of
 * hex digits of `exp` (a zero window multiplies by table[0] = 1 too). Not
 * constant-time in the values (see the file comment).
 */
export function modPowSecret(base: bigint, exp: bigint, m: bigint): bigint {
  if (m === 1n) return 0n;
  const b = mod(base, m);
  const table: bigint[] = [1n, b];
  for (let i = 2; i < 16; i++) table.push((table[i - 1]! * b) % m);
  const nibbles = exp.toString(16);
  let r = table[parseInt(nibbles[0]!, 16)]!;
  for (let i = 1; i < nibbles.length; i++) {
    r = (r * r) % m;
    r = (r * r) % m;
    r = (r * r) % m;
    r = (r * r) % m;
    r = (r * table[parseInt(nibbles[i]!, 16)]!) % m;
  }
  return r;
}

/** base^exp mod m for a PUBLIC exponent (RSA e, verification): plain left-to-right square-and-multiply. */
export function modPowPublic(base: bigint, exp: bigint, m: bigint): bigint {
  if (m === 1n) return 0n;
  const b = mod(base, m);
  const bits = exp.toString(2);
  let r = 1n;
  for (let i = 0; i < bits.length; i++) {
    r = (r * r) % m;
    if (bits[i] === '1') r = (r * b) % m;
  }
  return r;
}

/** a^-1 mod m by the extended Euclidean algorithm (variable time); throws when gcd(a, m) != 1. */
export function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [mod(a, m), m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new Error('js crypto: not invertible');
  return mod(s0, m);
}
