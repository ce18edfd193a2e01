/**
 * Certificate (RFC 8446 §4.4.2):
 *
 *   struct { opaque cert_data<1..2^24-1>; Extension extensions<0..2^16-1>; } CertificateEntry;
 *   struct {
 *       opaque certificate_request_context<0..2^8-1>;
 *       CertificateEntry certificate_list<0..2^24-1>;
 *   } Certificate;
 */

import { Reader } from '../codec.js';
import { HandshakeType } from '../constants.js';
import { fail } from '../errors.js';
import { type Extension, parseExtensions, writeExtensions } from './extensions.js';
import { buildHandshake } from './handshake.js';

export interface CertificateEntry {
  readonly certData: Uint8Array;
  readonly extensions: readonly Extension[];
}

export interface CertificateMessage {
  readonly context: Uint8Array;
  readonly entries: readonly CertificateEntry[];
}

export function encodeCertificate(context: Uint8Array, chain: readonly Uint8Array[]): Uint8Array {
  let size = 8 + context.length;
  for (const c of chain) size += c.length + 5;
  return buildHandshake(
    HandshakeType.certificate,
    (w) => {
      w.vec(1, context).begin(3);
      for (const c of chain) {
        w.vec(3, c);
        writeExtensions(w, []);
      }
      w.close();
    },
    size,
  );
}

export function parseCertificate(body: Uint8Array, maxEntries: number): CertificateMessage {
  const r = new Reader(body);
  const context = r.vec(1, 0, 255, 'certificate_request_context');
  const list = r.sub(3, 0, 0xffffff, 'certificate_list');
  r.end('Certificate');
  const entries: CertificateEntry[] = [];
  while (list.remaining) {
    const certData = list.vec(3, 1, 0xffffff, 'cert_data');
    const extensions = parseExtensions(list.sub(2, 0, 0xffff, 'CertificateEntry extensions'), 16, 'CertificateEntry');
    entries.push({ certData, extensions });
    if (entries.length > maxEntries) fail('CertificateChainTooLong', maxEntries);
  }
  return { context, entries };
}
