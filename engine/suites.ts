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

/** TLS 1.2 suites (RFC 5289, RFC 7905, RFC 5288): AEAD only, (EC)DHE only. */
export interface Tls12Suite {
  readonly id: number;
  /** OpenSSL name, as Postfix logs it. */
  readonly name: string;
  /** IANA name. */
  readonly iana: string;
  readonly kx: 'ECDHE' | 'DHE';
  readonly auth: 'ECDSA' | 'RSA';
  readonly aead: AeadAlgorithm;
  /** PRF and Finished hash (RFC 5246 §5: SHA-256 unless the suite says otherwise). */
  readonly hash: HashAlgorithm;
  readonly bits: number;
}

export const TLS12_SUITES: ReadonlyMap<number, Tls12Suite> = new Map(
  (
    [
      [0xc02c, 'ECDHE-ECDSA-AES256-GCM-SHA384', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE', 'ECDSA', 'AES-256-GCM', 'SHA-384', 256],
      [0xc030, 'ECDHE-RSA-AES256-GCM-SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE', 'RSA', 'AES-256-GCM', 'SHA-384', 256],
      [0x009f, 'DHE-RSA-AES256-GCM-SHA384', 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384', 'DHE', 'RSA', 'AES-256-GCM', 'SHA-384', 256],
      [0xcca9, 'ECDHE-ECDSA-CHACHA20-POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE', 'ECDSA', 'CHACHA20-POLY1305', 'SHA-256', 256],
      [0xcca8, 'ECDHE-RSA-CHACHA20-POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE', 'RSA', 'CHACHA20-POLY1305', 'SHA-256', 256],
      [0xc02b, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE', 'ECDSA', 'AES-128-GCM', 'SHA-256', 128],
      [0xc02f, 'ECDHE-RSA-AES128-GCM-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE', 'RSA', 'AES-128-GCM', 'SHA-256', 128],
      [0x009e, 'DHE-RSA-AES128-GCM-SHA256', 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256', 'DHE', 'RSA', 'AES-128-GCM', 'SHA-256', 128],
    ] as const
  ).map(([id, name, iana, kx, auth, aead, hash, bits]) => [id, { id, name, iana, kx, auth, aead, hash, bits } as Tls12Suite]),
);

/** Default TLS 1.2 order: strongest first, as OpenSSL's @STRENGTH sorts them. */
export const DEFAULT_TLS12_SUITES: readonly number[] = [...TLS12_SUITES.keys()];
