/**
 * TLS 1.3 parameter selection for a ClientHello (RFC 8446 §4.1.1):
 * cipher suite, key exchange group, certificate and signature scheme (ALPN,
 * the key-share check and the signature descriptions both versions use are
 * in ../common/negotiate.ts).
 * Pure functions: no state, no I/O, each failure names its alert.
 */

import type { CertifiedKey, ServerConfig } from '../config.js';
import { SignatureScheme } from '../constants.js';
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
