/**
 * The handshake summary line, Postfix 3.4+ format with OpenSSL 3 naming
 * (tlsproxy-postfix.md §4.3), server role:
 *
 *   Anonymous TLS connection established from [192.0.2.7]:41862: TLSv1.3 with cipher
 *   TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519 server-signature ECDSA (prime256v1)
 *   server-digest SHA256
 *
 *   Untrusted TLS connection established from [2001:db8::25]:50112: TLSv1.3 with cipher
 *   TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange secp256r1 server-signature RSA-PSS (2048 bits)
 *   server-digest SHA256 client-signature ECDSA (prime256v1) client-digest SHA256
 *
 * Trust word: Anonymous = the client presented no certificate (not an
 * anonymous cipher), Untrusted = presented but not verified against
 * CAfile/CApath, Trusted = verified (a resumed session keeps the word of the
 * session it resumes). ` to <sni>` only when the SNI name matched
 * tls_server_sni_maps (Postfix ignores SNI without them, so a certificate
 * chosen among the default ones by its names does not count: `sniMaps` says
 * whether maps are in use). key-exchange and the signature details only for
 * TLS 1.3; server-signature and client-signature only on full handshakes
 * (resumption has no signatures); no -digest for EdDSA.
 */

import type { HandshakeInfo } from '../../engine/events.js';

/** Anonymous / Untrusted / Trusted (Postfix's TLS_CERT_IS_PRESENT / _TRUSTED). */
export function trustWord(info: HandshakeInfo): 'Anonymous' | 'Untrusted' | 'Trusted' {
  const cc = info.clientCertificate;
  return !cc ? 'Anonymous' : cc.trusted ? 'Trusted' : 'Untrusted';
}

export function summaryLine(info: HandshakeInfo, endpoint: string, sniMaps = false): string {
  const sni = sniMaps && info.serverNameMatched && info.serverName ? ` to ${info.serverName}` : '';
  let line = `${trustWord(info)} TLS connection established from ${endpoint}${sni}: ${info.protocol} with cipher ${info.cipherName} (${info.cipherBits}/${info.cipherBits} bits)`;
  if (info.protocol === 'TLSv1.3') {
    if (info.group) line += ` key-exchange ${info.group}`;
    if (info.serverSignature) {
      line += ` server-signature ${info.serverSignature}`;
      if (info.serverDigest) line += ` server-digest ${info.serverDigest}`;
    }
    const cc = info.clientCertificate;
    if (cc && !cc.resumed && !info.resumed && cc.signature) {
      line += ` client-signature ${cc.signature}`;
      if (cc.digest) line += ` client-digest ${cc.digest}`;
    }
  }
  return line;
}
