/**
 * The cipher suites the engine implements, with the facts the rest of the
 * engine and the logs need. TLS 1.3 suites: RFC 8446 §B.4.
 * Only AEAD suites exist here by construction (DEVELOPERS.md: no CBC, no RC4,
 * no NULL, no export, no RSA key exchange).
 */

import type { AeadAlgorithm, HashAlgorithm } from './crypto/provider.js';
import { CipherSuite } from './constants.js';

export interface Tls13Suite {
  readonly id: number;
  /** IANA name, which is also the name OpenSSL and Postfix log for TLS 1.3 suites. */
  readonly name: string;
  readonly aead: AeadAlgorithm;
  readonly hash: HashAlgorithm;
  /** Symmetric key bits, logged as "(bits/bits bits)". */
  readonly bits: number;
}

export const TLS13_SUITES: ReadonlyMap<number, Tls13Suite> = new Map(
  [
    { id: CipherSuite.TLS_AES_128_GCM_SHA256, name: 'TLS_AES_128_GCM_SHA256', aead: 'AES-128-GCM', hash: 'SHA-256', bits: 128 },
    { id: CipherSuite.TLS_AES_256_GCM_SHA384, name: 'TLS_AES_256_GCM_SHA384', aead: 'AES-256-GCM', hash: 'SHA-384', bits: 256 },
    { id: CipherSuite.TLS_CHACHA20_POLY1305_SHA256, name: 'TLS_CHACHA20_POLY1305_SHA256', aead: 'CHACHA20-POLY1305', hash: 'SHA-256', bits: 256 },
  ].map((s) => [s.id, s as Tls13Suite]),
);

/** Look up a TLS 1.3 suite by IANA value or name. */
export function tls13Suite(idOrName: number | string): Tls13Suite | undefined {
  if (typeof idOrName === 'number') return TLS13_SUITES.get(idOrName);
  for (const s of TLS13_SUITES.values()) if (s.name === idOrName) return s;
  return undefined;
}
