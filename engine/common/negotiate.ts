/**
 * Negotiation pieces both versions use (RFC 8446 §4.2.8.2 / RFC 8422 §5.7,
 * RFC 7301 §3.2, the summary line's signature names). Pure functions.
 */

import type { ServerConfig } from '../config.js';
import { NamedGroup, SignatureScheme } from '../constants.js';
import type { SigningKey } from '../crypto/provider.js';
import { fail } from '../errors.js';
import type { ClientHello, KeyShareEntry } from '../messages/client-hello.js';

/** ECDHE point length per curve (§4.2.8.2; the TLS 1.2 ClientKeyExchange uses it too, RFC 8422 §5.7). */
export function checkKeyShare(entry: KeyShareEntry): void {
  const len = entry.keyExchange.length;
  const ok =
    entry.group === NamedGroup.x25519 ? len === 32
    : entry.group === NamedGroup.secp256r1 ? len === 65 && entry.keyExchange[0] === 4
    : entry.group === NamedGroup.secp384r1 ? len === 97 && entry.keyExchange[0] === 4
    : false;
  // §4.2.8.2: peers MUST validate each other's public key; failure is illegal_parameter.
  if (!ok) fail('MalformedKeyShare', entry.group, len);
}

/** RFC 7301 §3.2: our preference order; no overlap is no_application_protocol. */
export function chooseAlpn(hello: ClientHello, config: ServerConfig): string | undefined {
  const ours = config.alpn ?? [];
  if (!hello.alpn || ours.length === 0) return undefined;
  for (const p of ours) if (hello.alpn.includes(p)) return p;
  return fail('NoSharedAlpn', hello.alpn);
}

/**
 * How OpenSSL 3 / Postfix name a signature in the summary line (spec §4.3):
 * "ECDSA (prime256v1)", "RSA-PSS (2048 bits)", "RSA (2048 bits)", "ED25519",
 * with the digest ("SHA256"...) except for EdDSA.
 */
export function describeKeySignature(
  algorithm: SigningKey['algorithm'] | 'other',
  bits: number,
  scheme: number,
): { signature: string; digest?: string } {
  const S = SignatureScheme;
  const digest =
    scheme === S.ed25519 ? undefined
    : scheme === S.ecdsa_secp384r1_sha384 || scheme === S.rsa_pss_rsae_sha384 || scheme === S.rsa_pkcs1_sha384 ? 'SHA384'
    : scheme === S.rsa_pss_rsae_sha512 || scheme === S.rsa_pkcs1_sha512 || scheme === S.ecdsa_secp521r1_sha512 ? 'SHA512'
    : scheme === S.ecdsa_sha224 ? 'SHA224'
    : 'SHA256';
  switch (algorithm) {
    case 'ecdsa-p256':
      return { signature: 'ECDSA (prime256v1)', digest };
    case 'ecdsa-p384':
      return { signature: 'ECDSA (secp384r1)', digest };
    case 'ed25519':
      return { signature: 'ED25519' };
    case 'rsa': {
      const pss = scheme >= S.rsa_pss_rsae_sha256 && scheme <= S.rsa_pss_rsae_sha512;
      return { signature: `${pss ? 'RSA-PSS' : 'RSA'} (${bits} bits)`, digest };
    }
    default:
      return { signature: 'unknown', digest };
  }
}

/** The server's CertificateVerify, described for the summary line. */
export function describeSignature(key: SigningKey, scheme: number): { signature: string; digest?: string } {
  return describeKeySignature(key.algorithm, key.bits, scheme);
}
