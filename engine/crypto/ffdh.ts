/**
 * Finite-field Diffie-Hellman over BigInt, for the providers that have no
 * platform DH (WebCrypto has none; the js provider uses no platform crypto):
 * TLS 1.2 DHE (RFC 5246 §8.1.2, RFC 7919 §4) and TLS 1.3 FFDHE key shares
 * (RFC 8446 §4.2.8.1, §7.4.1). One implementation, so that the value checks
 * are the same in every provider.
 *
 * Y = g^x mod p with a short random x (RFC 7919 §5.2), Z = peerY^x mod p,
 * both padded to the length of p. Each x serves one exchange (an ephemeral
 * key share); the exponentiation is fixed-window but not constant-time
 * (engine/crypto/bigint.ts).
 *
 * Portable: Uint8Array and BigInt only.
 */

import { FFDHE_GROUPS } from '../ffdhe.js';
import { bigIntToBytes, bitLength, bytesToBigInt, modPowSecret } from './bigint.js';
import type { KeyShare } from './provider.js';

/**
 * The private exponent length: RFC 7919 §5.2 allows a short exponent of at
 * least twice the group's security level (225 bits for ffdhe2048, 275 for
 * ffdhe3072, 325 for ffdhe4096); 320 bits up to 3072-bit primes, 400 above.
 */
export function dhExponentBits(pBits: number): number {
  return pBits <= 3072 ? 320 : 400;
}

/** The smallest prime the DH key shares accept (Logjam: 512-bit export groups are broken). */
export const DH_MIN_PRIME_BITS = 512;

/** Leading zero bytes removed (a DER INTEGER's sign byte, say). */
export function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The RFC 7919 NamedGroup of (p, g), or 0 for custom parameters. */
export function ffdheGroupOf(p: Uint8Array, g: Uint8Array): number {
  const gs = stripLeadingZeros(g);
  if (gs.length !== 1 || gs[0] !== 2) return 0;
  for (const [group, params] of FFDHE_GROUPS) if (bytesEqual(params.p, p)) return group;
  return 0;
}

/**
 * A DH key share for (p, g): `random` is the provider's CSPRNG, `label` the
 * provider's name for error messages. Throws for a prime that is even or
 * shorter than DH_MIN_PRIME_BITS, or g outside 1 < g < p-1.
 */
export function bigIntDhKeyShare(pIn: Uint8Array, gIn: Uint8Array, random: (length: number) => Uint8Array, label: string): KeyShare {
  const pb = stripLeadingZeros(pIn);
  const len = pb.length;
  const p = bytesToBigInt(pb);
  const pBits = bitLength(p);
  if (pBits < DH_MIN_PRIME_BITS || !(p & 1n)) {
    throw new Error(`${label}: DH prime must be odd and at least ${DH_MIN_PRIME_BITS} bits (got ${pBits} bits)`);
  }
  const g = bytesToBigInt(gIn);
  if (g <= 1n || g >= p - 1n) throw new Error(`${label}: DH generator out of range (1 < g < p-1)`);
  const xb = random(dhExponentBits(pBits) / 8);
  xb[0]! |= 0x80; // exactly the chosen length
  const x = bytesToBigInt(xb);
  xb.fill(0);
  const pMinus1 = p - 1n;
  return {
    group: ffdheGroupOf(pb, gIn),
    publicKey: bigIntToBytes(modPowSecret(g, x, p), len),
    deriveSecret(peer: Uint8Array): Uint8Array {
      // RFC 7919 §5.1, RFC 5246 §8.1.2: 1 < Y < p-1, no longer than p.
      if (peer.length > len) throw new Error(`${label}: DH peer value is ${peer.length} bytes, longer than p (${len})`);
      const y = bytesToBigInt(peer);
      if (y <= 1n || y >= pMinus1) throw new Error(`${label}: DH peer value out of range (1 < Y < p-1)`);
      const z = modPowSecret(y, x, p);
      if (z <= 1n || z === pMinus1) throw new Error(`${label}: degenerate DH shared secret`);
      return bigIntToBytes(z, len);
    },
  };
}
