/**
 * Protocol version negotiation (RFC 8446 §4.2.1, §D.2; RFC 5246 appendix E;
 * RFC 7507).
 *
 * We speak TLS 1.3 and TLS 1.2. SSL 3.0, TLS 1.0 and TLS 1.1 are refused by
 * design (DEVELOPERS.md: TLS 1.2 and 1.3 only) with protocol_version, as
 * §4.2.1 says for a client offering no version the server supports.
 */

import { CipherSuite, ProtocolVersion } from './constants.js';
import { fail } from './errors.js';
import type { ClientHello } from './messages/client-hello.js';

/** Versions this build can negotiate, highest first. */
export const IMPLEMENTED_VERSIONS: readonly number[] = [ProtocolVersion.TLS1_3, ProtocolVersion.TLS1_2];

export function negotiateVersion(hello: ClientHello, enabled: readonly number[] = IMPLEMENTED_VERSIONS): number {
  const ours = IMPLEMENTED_VERSIONS.filter((v) => enabled.includes(v));
  let chosen: number | undefined;
  // §4.1.2 / §D: a TLS ClientHello has a legacy_version of at least TLS 1.0 (0x0301); below that it is
  // SSL (or garbage) wearing a supported_versions extension, refused with protocol_version as OpenSSL
  // and node:tls do. (Without supported_versions such a hello offers no version we speak anyway.)
  if (hello.supportedVersions && hello.legacyVersion < ProtocolVersion.TLS1_0) fail('LegacyVersionTooLow', hello.legacyVersion);
  if (hello.supportedVersions) {
    // §4.2.1: "If this extension is present in the ClientHello, servers MUST NOT use the
    // ClientHello.legacy_version value for version negotiation and MUST use only the
    // "supported_versions" extension to determine client preferences."
    chosen = ours.find((v) => hello.supportedVersions!.includes(v));
  } else if (hello.legacyVersion >= ProtocolVersion.TLS1_2) {
    // RFC 5246 appendix E.1: a client supports legacy_version and everything below it.
    chosen = ours.find((v) => v <= ProtocolVersion.TLS1_2);
  }
  const offered = hello.supportedVersions
    ? Math.max(0, ...hello.supportedVersions.filter((v) => v >>> 8 === 3))
    : hello.legacyVersion;
  if (chosen === undefined) {
    return fail('NoSharedVersion', offered, ours);
  }
  // RFC 7507 §3: TLS_FALLBACK_SCSV from a client below our highest version is a downgrade.
  if (hello.cipherSuites.includes(CipherSuite.TLS_FALLBACK_SCSV) && chosen < ours[0]!) {
    fail('InappropriateFallback', chosen, ours[0]!);
  }
  return chosen;
}
