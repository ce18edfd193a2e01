/**
 * Protocol version negotiation (RFC 8446 §4.2.1, §D.2; RFC 7507).
 *
 * We speak TLS 1.3 only until the TLS 1.2 state machine lands: anything
 * else gets protocol_version, as §4.2.1 says for a client offering no
 * version the server supports. SSL 3.0, TLS 1.0 and TLS 1.1 are refused by
 * design (DEVELOPERS.md: TLS 1.2 and 1.3 only).
 */

import { CipherSuite, ProtocolVersion, versionName } from './constants.js';
import { fail } from './errors.js';
import type { ClientHello } from './messages/client-hello.js';

/** Versions this build can negotiate, highest first. */
export const IMPLEMENTED_VERSIONS: readonly number[] = [ProtocolVersion.TLS1_3];

export function negotiateVersion(hello: ClientHello, enabled: readonly number[] = IMPLEMENTED_VERSIONS): number {
  const ours = enabled.filter((v) => IMPLEMENTED_VERSIONS.includes(v));
  let offered: readonly number[];
  if (hello.supportedVersions) {
    // §4.2.1: "If this extension is present in the ClientHello, servers MUST NOT use the
    // ClientHello.legacy_version value for version negotiation and MUST use only the
    // "supported_versions" extension to determine client preferences."
    offered = hello.supportedVersions;
  } else {
    // A pre-1.3 client: it supports legacy_version and everything below.
    offered = [hello.legacyVersion];
  }
  for (const v of ours) {
    if (offered.includes(v)) return v;
  }
  const best = hello.supportedVersions
    ? Math.max(...hello.supportedVersions.filter((v) => (v >>> 8) === 3), 0)
    : hello.legacyVersion;
  // RFC 7507 §3: a fallback to below our highest version is refused with inappropriate_fallback.
  if (hello.cipherSuites.includes(CipherSuite.TLS_FALLBACK_SCSV) && best < Math.max(...ours)) {
    if (best >= ProtocolVersion.TLS1_2 && ours.includes(best)) fail('inappropriate_fallback', `fallback to ${versionName(best)}`);
  }
  return fail('protocol_version', `client offers ${best ? versionName(best) : 'no TLS version'}; we speak ${ours.map(versionName).join(', ')}`);
}
