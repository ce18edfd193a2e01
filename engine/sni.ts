/**
 * Certificate choice by server name (RFC 6066 §3) with RFC 6125 §6.4.3
 * wildcards: "*.example.org" matches exactly one left-most label.
 */

import type { CertifiedKey, ClientHelloSummary, SniChoice } from './config.js';

export function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p === n) return true;
  if (!p.startsWith('*.')) return false;
  const suffix = p.slice(1); // ".example.org"
  if (!n.endsWith(suffix)) return false;
  const label = n.slice(0, n.length - suffix.length);
  return label.length > 0 && !label.includes('.');
}

/** Default SNI policy: certificates whose names match, else all of them (unmatched). */
export function defaultCertificateChoice(certificates: readonly CertifiedKey[]) {
  return (hello: ClientHelloSummary): SniChoice => {
    const name = hello.serverName;
    if (name !== undefined) {
      const exact = certificates.filter((c) => c.names.some((n) => n.toLowerCase() === name));
      const wild = certificates.filter((c) => !exact.includes(c) && c.names.some((n) => nameMatches(n, name)));
      if (exact.length || wild.length) return { certificates: [...exact, ...wild], matched: true };
    }
    return { certificates, matched: false };
  };
}
