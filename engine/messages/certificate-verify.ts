/**
 * CertificateVerify (RFC 8446 §4.4.3):
 *   struct { SignatureScheme algorithm; opaque signature<0..2^16-1>; } CertificateVerify;
 *
 * The signed content is 64 bytes of 0x20, a context string, a zero byte,
 * and the transcript hash.
 */

import { Reader, utf8 } from '../codec.js';
import { HandshakeType } from '../constants.js';
import { buildHandshake } from './handshake.js';

export const SERVER_CV_CONTEXT = 'TLS 1.3, server CertificateVerify';
export const CLIENT_CV_CONTEXT = 'TLS 1.3, client CertificateVerify';

export function signedContent(context: string, transcriptHash: Uint8Array): Uint8Array {
  const ctx = utf8.encode(context);
  const out = new Uint8Array(64 + ctx.length + 1 + transcriptHash.length);
  out.fill(0x20, 0, 64);
  out.set(ctx, 64);
  out[64 + ctx.length] = 0;
  out.set(transcriptHash, 65 + ctx.length);
  return out;
}

export function encodeCertificateVerify(scheme: number, signature: Uint8Array): Uint8Array {
  return buildHandshake(HandshakeType.certificate_verify, (w) => w.u16(scheme).vec(2, signature), signature.length + 8);
}

export function parseCertificateVerify(body: Uint8Array): { scheme: number; signature: Uint8Array } {
  const r = new Reader(body);
  const scheme = r.u16('signature scheme');
  const signature = r.vec(2, 0, 0xffff, 'signature');
  r.end('CertificateVerify');
  return { scheme, signature };
}
