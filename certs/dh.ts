/**
 * DH parameter files (Postfix tlsproxy_tls_dh1024_param_file): PEM
 * "DH PARAMETERS" holding PKCS #3 DHParameter (RFC 2631 / PKCS #3 §9):
 *
 *   DHParameter ::= SEQUENCE { prime INTEGER, base INTEGER, privateValueLength INTEGER OPTIONAL }
 *
 * Validated: a prime of at least `minBits` bits (2048 unless configured
 * otherwise) that passes a probabilistic primality test, and a generator
 * with 1 < g < p-1. OpenSSL's "X9.42 DH PARAMETERS" form is refused with a
 * clear message.
 */

import type { DhParams } from '../engine/ffdhe.js';
import { FFDHE_GROUPS } from '../engine/ffdhe.js';
import { decodeDer, equalBytes, sequence, unsignedInteger } from './der.js';
import { CertificateError, withSource } from './errors.js';
import { parsePem } from './pem.js';

function toBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return r;
}

/** Miller-Rabin with fixed small-prime bases (enough to reject every non-prime an operator could paste by mistake). */
export function probablyPrime(n: bigint, rounds = 8): boolean {
  if (n < 2n) return false;
  for (const p of [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n]) {
    if (n === p) return true;
    if (n % p === 0n) return false;
  }
  let d = n - 1n;
  let s = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    s++;
  }
  const bases = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n].slice(0, rounds);
  outer: for (const a of bases) {
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    for (let i = 1; i < s; i++) {
      x = (x * x) % n;
      if (x === n - 1n) continue outer;
    }
    return false;
  }
  return true;
}

export function parseDhParams(pemText: string, source: string, minBits = 2048): DhParams {
  const blocks = parsePem(pemText);
  const x942 = blocks.find((b) => b.label === 'X9.42 DH PARAMETERS');
  const block = blocks.find((b) => b.label === 'DH PARAMETERS');
  if (!block) {
    if (x942) throw new CertificateError(source, 'X9.42 DH parameters are not supported: use PKCS #3 "DH PARAMETERS" (openssl dhparam)');
    const labels = blocks.map((b) => b.label).join(', ');
    throw new CertificateError(source, `no "BEGIN DH PARAMETERS" block found${labels ? ` (found: ${labels})` : ''}`);
  }
  let p: Uint8Array;
  let g: Uint8Array;
  try {
    const seq = sequence(decodeDer(block.der, 'DH parameters'), 'DHParameter', 2, 3);
    p = unsignedInteger(seq[0], 'DH prime');
    g = unsignedInteger(seq[1], 'DH generator');
  } catch (e) {
    throw withSource(e, source);
  }
  const bits = p.length * 8 - Math.clz32(p[0]!) + 24;
  if (bits < minBits) throw new CertificateError(source, `DH prime of ${bits} bits is below the minimum of ${minBits} bits`);
  if (bits > 8192) throw new CertificateError(source, `DH prime of ${bits} bits is larger than 8192 bits`);
  const P = toBigInt(p);
  const G = toBigInt(g);
  if ((P & 1n) === 0n || !probablyPrime(P)) throw new CertificateError(source, 'the DH "prime" is not prime');
  if (G <= 1n || G >= P - 1n) throw new CertificateError(source, 'the DH generator is not in the range 1 < g < p-1');
  for (const [group, named] of FFDHE_GROUPS) {
    if (equalBytes(named.p, p) && equalBytes(named.g, g)) return { p, g, bits, group };
  }
  return { p, g, bits };
}
