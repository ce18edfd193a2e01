/**
 * CertificateRequest (RFC 8446 §4.3.2):
 *   struct {
 *       opaque certificate_request_context<0..2^8-1>;
 *       Extension extensions<2..2^16-1>;     (signature_algorithms is mandatory)
 *   } CertificateRequest;
 */

import { Reader, Writer } from '../codec.js';
import { ExtensionType, HandshakeType } from '../constants.js';
import { type Extension, parseExtensions, writeExtensions } from './extensions.js';
import { buildHandshake } from './handshake.js';

export function encodeCertificateRequest(
  context: Uint8Array,
  signatureSchemes: readonly number[],
  certificateAuthorities: readonly Uint8Array[] = [],
): Uint8Array {
  const exts: Extension[] = [];
  const sa = new Writer().begin(2);
  for (const s of signatureSchemes) sa.u16(s);
  exts.push({ type: ExtensionType.signature_algorithms, data: sa.close().finish() });
  if (certificateAuthorities.length) {
    // §4.2.4: DistinguishedName authorities<3..2^16-1>; opaque DistinguishedName<1..2^16-1>;
    const ca = new Writer().begin(2);
    for (const dn of certificateAuthorities) ca.vec(2, dn);
    exts.push({ type: ExtensionType.certificate_authorities, data: ca.close().finish() });
  }
  return buildHandshake(HandshakeType.certificate_request, (w) => {
    w.vec(1, context);
    writeExtensions(w, exts);
  });
}

export function parseCertificateRequest(body: Uint8Array): { context: Uint8Array; extensions: Extension[] } {
  const r = new Reader(body);
  const context = r.vec(1, 0, 255, 'certificate_request_context');
  const extensions = parseExtensions(r.sub(2, 2, 0xffff, 'CertificateRequest extensions'), 32, 'CertificateRequest');
  r.end('CertificateRequest');
  return { context, extensions };
}

/**
 * TLS 1.2 CertificateRequest (RFC 5246 §7.4.4, RFC 8422 §5.5):
 *   struct {
 *       ClientCertificateType certificate_types<1..2^8-1>;      rsa_sign(1), ecdsa_sign(64)
 *       SignatureAndHashAlgorithm supported_signature_algorithms<2..2^16-2>;
 *       DistinguishedName certificate_authorities<0..2^16-1>;
 *   } CertificateRequest;
 */
export function encodeCertificateRequest12(signatureSchemes: readonly number[], certificateAuthorities: readonly Uint8Array[] = []): Uint8Array {
  return buildHandshake(HandshakeType.certificate_request, (w) => {
    w.vec(1, Uint8Array.of(1, 64));
    w.begin(2);
    for (const s of signatureSchemes) w.u16(s);
    w.close();
    w.begin(2);
    for (const dn of certificateAuthorities) w.vec(2, dn);
    w.close();
  });
}
