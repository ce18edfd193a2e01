/**
 * TLS 1.3 parameter selection for a ClientHello (RFC 8446 §4.1.1):
 * cipher suite, key exchange group, certificate and signature scheme, ALPN.
 * Pure functions: no state, no I/O, each failure names its alert.
 */

import type { CertifiedKey, ServerConfig } from '../config.js';
import { NamedGroup, SignatureScheme } from '../constants.js';
import type { SigningKey } from '../crypto/provider.js';
import { fail } from '../errors.js';
import type { ClientHello, KeyShareEntry } from '../messages/client-hello.js';
import { prioritizeChacha } from '../policy/options.js';
import { type Tls13Suite, TLS13_SUITES } from '../suites.js';

export function chooseSuite(hello: ClientHello, config: ServerConfig): Tls13Suite {
  const enabled = config.cipherSuites.filter((s) => TLS13_SUITES.has(s));
  const theirs = hello.cipherSuites;
  const ours = config.prioritizeChacha ? prioritizeChacha(enabled, theirs) : enabled;
  const [first, second] = config.preferServerCiphers ? [ours, theirs] : [theirs, ours];
  for (const s of first) if (second.includes(s)) return TLS13_SUITES.get(s)!;
  // §4.1.1: no common cipher suite -> handshake_failure
  return fail('NoSharedTls13Suite');
}

export type GroupChoice = { share: KeyShareEntry } | { retry: number };

/**
 * §4.1.1 / §4.2.8 with OpenSSL 3.5's tuples (ServerConfig.groupTuples):
 * the first of our tuples with a group the client supports decides; a key
 * share the client sent for a group of that tuple is used (our order with
 * preferServerCiphers, else the client's), otherwise a HelloRetryRequest
 * asks for the tuple's most preferred group the client supports. One tuple
 * (the default) is RFC 8446's plain rule: any acceptable share is used.
 * `available`: the groups the engine can do with its provider
 * (key-exchange.ts tls13Groups).
 */
export function chooseGroup(hello: ClientHello, config: ServerConfig, available: readonly number[]): GroupChoice {
  const supported = hello.supportedGroups ?? [];
  const shares = hello.keyShares ?? [];
  // Sets and maps: a legal hello may list ~32,000 groups and ~6,000 shares (linear, not their product).
  const offered = new Set(supported);
  const byGroup = new Map(shares.map((s) => [s.group, s]));
  for (const s of shares) {
    // §4.2.8: "Clients MUST NOT offer any KeyShareEntrys for groups not listed in the client's supported_groups
    // extension. Servers MAY check for violations of these rules and abort the handshake with an
    // "illegal_parameter" alert if one is violated."
    if (!offered.has(s.group)) fail('KeyShareNotInSupportedGroups', s.group);
  }
  const usable = (g: number) => available.includes(g) && offered.has(g);
  for (const tuple of config.groupTuples ?? [config.groups]) {
    const ours = tuple.filter(usable);
    if (!ours.length) continue;
    // [...offered]: the client's order without repetitions.
    const order = config.preferServerCiphers ? ours : [...offered].filter((g) => ours.includes(g));
    for (const g of order) {
      const share = byGroup.get(g);
      if (share) return { share };
    }
    return { retry: ours[0]! };
  }
  return fail('NoSharedGroup');
}

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

/** The TLS 1.3 signature schemes a key can produce (§4.2.3; RSA only as rsa_pss_rsae_*). */
export function tls13SchemesFor(key: SigningKey): number[] {
  switch (key.algorithm) {
    case 'ecdsa-p256':
      return [SignatureScheme.ecdsa_secp256r1_sha256];
    case 'ecdsa-p384':
      return [SignatureScheme.ecdsa_secp384r1_sha384];
    case 'ed25519':
      return [SignatureScheme.ed25519];
    case 'rsa':
      return [SignatureScheme.rsa_pss_rsae_sha256, SignatureScheme.rsa_pss_rsae_sha384, SignatureScheme.rsa_pss_rsae_sha512];
  }
}

/**
 * Pick the certificate and CertificateVerify scheme: the client's first
 * listed scheme that one of the candidates can sign with (§4.4.2.2, §4.4.3).
 */
export function chooseCertificate(
  candidates: readonly CertifiedKey[],
  clientSchemes: readonly number[],
): { cert: CertifiedKey; scheme: number } {
  for (const scheme of clientSchemes) {
    for (const cert of candidates) if (tls13SchemesFor(cert.key).includes(scheme)) return { cert, scheme };
  }
  return fail('NoCertificateForSignatureSchemes');
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
