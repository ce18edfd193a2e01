/**
 * TLS 1.2 Certificate (RFC 5246 §7.4.2):
 *   opaque ASN.1Cert<1..2^24-1>;
 *   struct { ASN.1Cert certificate_list<0..2^24-1>; } Certificate;
 */

import { Reader } from '../codec.js';
import { HandshakeType } from '../constants.js';
import { fail } from '../errors.js';
import { buildHandshake } from './handshake.js';

export function encodeCertificate12(chain: readonly Uint8Array[]): Uint8Array {
  let size = 8;
  for (const c of chain) size += c.length + 3;
  return buildHandshake(
    HandshakeType.certificate,
    (w) => {
      w.begin(3);
      for (const c of chain) w.vec(3, c);
      w.close();
    },
    size,
  );
}

export function parseCertificate12(body: Uint8Array, maxEntries: number): Uint8Array[] {
  const r = new Reader(body);
  const list = r.sub(3, 0, 0xffffff, 'certificate_list');
  r.end('Certificate');
  const out: Uint8Array[] = [];
  while (list.remaining) {
    out.push(list.vec(3, 1, 0xffffff, 'ASN.1Cert'));
    if (out.length > maxEntries) fail('CertificateChainTooLong', maxEntries);
  }
  return out;
}
