/**
 * The handshake summary line, Postfix 3.4+ format with OpenSSL 3 naming
 * (tlsproxy-postfix.md §4.3), server role:
 *
 *   Anonymous TLS connection established from [192.0.2.7]:41862: TLSv1.3 with cipher
 *   TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519 server-signature ECDSA (prime256v1)
 *   server-digest SHA256
 *
 * ` to <sni>` only when the SNI name matched tls_server_sni_maps (Postfix
 * ignores SNI without them, so a certificate chosen among the default ones
 * by its names does not count: `sniMaps` says whether maps are in use);
 * key-exchange and the
 * signature details only for TLS 1.3; server-signature omitted on
 * resumption, server-digest for EdDSA. Clients never authenticate with a
 * certificate here (no CertificateRequest), so the trust word is Anonymous.
 */

import type { HandshakeInfo } from '../engine/events.js';

export function summaryLine(info: HandshakeInfo, endpoint: string, sniMaps = false): string {
  const sni = sniMaps && info.serverNameMatched && info.serverName ? ` to ${info.serverName}` : '';
  let line = `Anonymous TLS connection established from ${endpoint}${sni}: ${info.protocol} with cipher ${info.cipherName} (${info.cipherBits}/${info.cipherBits} bits)`;
  if (info.protocol === 'TLSv1.3') {
    if (info.group) line += ` key-exchange ${info.group}`;
    if (info.serverSignature) {
      line += ` server-signature ${info.serverSignature}`;
      if (info.serverDigest) line += ` server-digest ${info.serverDigest}`;
    }
  }
  return line;
}
