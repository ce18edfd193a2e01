/**
 * Raw public keys (RFC 7250) in TLS 1.3 and TLS 1.2: the
 * server_certificate_type and client_certificate_type extensions, and the
 * Certificate message forms that carry a SubjectPublicKeyInfo instead of
 * an X.509 chain.
 *
 *   CertificateType: X509(0), RawPublicKey(2)                    §3
 *   ClientHello:     CertificateType server_certificate_types<1..2^8-1>;
 *                    CertificateType client_certificate_types<1..2^8-1>;
 *   server's answer: CertificateType server_certificate_type;     (one byte)
 *                    CertificateType client_certificate_type;
 *   (TLS 1.3: in EncryptedExtensions, RFC 8446 §4.2; TLS 1.2: in ServerHello)
 *
 * What we choose, as the server (§4.2):
 *  - our own type: the first type of the client's list (its preference
 *    order, §4.1) that we can use: X.509 always, RawPublicKey when we may
 *    send it and the chosen certificate's key is known; no list means
 *    X.509; nothing usable ends the session with unsupported_certificate
 *    ("no certificate type in common").
 *  - the client's type, only when we send CertificateRequest: the first of
 *    its list that we accept (X.509 always, RawPublicKey when we accept raw
 *    keys); nothing usable: unsupported_certificate.
 *  - An X.509 choice is not announced (the default type, as OpenSSL does);
 *    a RawPublicKey choice is.
 *  - Nothing is negotiated on a resumed session (no Certificate is sent).
 */

import { Reader, Writer } from '../codec.js';
import { ExtensionType, HandshakeType } from '../constants.js';
import { fail } from '../errors.js';
import type { Extension } from '../messages/extensions.js';
import { buildHandshake } from '../messages/handshake.js';

export const CertificateType = { X509: 0, RawPublicKey: 2 } as const;
export type CertificateTypeValue = (typeof CertificateType)[keyof typeof CertificateType];

export type CertificateTypeName = 'x509' | 'raw-public-key';
export const certificateTypeName = (t: CertificateTypeValue): CertificateTypeName => (t === CertificateType.RawPublicKey ? 'raw-public-key' : 'x509');

/** The list a client sent in one of the two extensions, or undefined when absent. §4.1 */
export function offeredTypes(extensions: readonly Extension[], type: number, what: string): number[] | undefined {
  const e = extensions.find((x) => x.type === type);
  if (!e) return undefined;
  const r = new Reader(e.data);
  const list = r.vec(1, 1, 255, what);
  r.end(what);
  return [...list];
}

export interface CertificateTypeChoice {
  /** The type of our Certificate message. */
  readonly server: CertificateTypeValue;
  /** The type the client must use, when we ask for a certificate. */
  readonly client?: CertificateTypeValue;
  /** What to add to EncryptedExtensions (TLS 1.3) or ServerHello (TLS 1.2). */
  readonly extensions: readonly Extension[];
}

/** The client's most preferred type that we can use (§4.1: the list is in the client's order of preference). */
function pick(offered: readonly number[] | undefined, raw: boolean, what: 'server' | 'client'): CertificateTypeValue {
  if (offered === undefined) return CertificateType.X509;
  for (const t of offered) {
    if (t === CertificateType.X509) return CertificateType.X509;
    if (t === CertificateType.RawPublicKey && raw) return CertificateType.RawPublicKey;
  }
  // §4.2: "If the server does not have any certificate type in common with the client, then the
  // server terminates the session with a fatal alert of type 'unsupported_certificate'."
  return fail('NoCommonCertificateType', what, offered);
}

const typeExtension = (type: number, value: number): Extension => {
  const w = new Writer(1);
  w.u8(value);
  return { type, data: w.finish() };
};

/**
 * Choose both types for a full handshake. `sendRaw`: we may send our raw
 * key (configured, and the certificate's key is known); `acceptRaw`: we
 * accept a client's raw key; `requestingClientCertificate`: we send
 * CertificateRequest.
 */
export function chooseCertificateTypes(
  extensions: readonly Extension[],
  opts: { sendRaw: boolean; acceptRaw: boolean; requestingClientCertificate: boolean },
): CertificateTypeChoice {
  const serverOffer = offeredTypes(extensions, ExtensionType.server_certificate_type, 'server_certificate_type');
  const clientOffer = offeredTypes(extensions, ExtensionType.client_certificate_type, 'client_certificate_type');
  const server = pick(serverOffer, opts.sendRaw, 'server');
  const client = opts.requestingClientCertificate ? pick(clientOffer, opts.acceptRaw, 'client') : undefined;
  const out: Extension[] = [];
  if (server === CertificateType.RawPublicKey) out.push(typeExtension(ExtensionType.server_certificate_type, server));
  if (client === CertificateType.RawPublicKey) out.push(typeExtension(ExtensionType.client_certificate_type, client));
  return { server, client, extensions: out };
}

/**
 * TLS 1.2 Certificate carrying a raw key (RFC 7250 §3):
 *   struct { select(certificate_type) { case RawPublicKey: opaque ASN.1_subjectPublicKeyInfo<1..2^24-1>; ... } } Certificate;
 * one length-prefixed SubjectPublicKeyInfo, no certificate_list around it.
 * (TLS 1.3 puts the SubjectPublicKeyInfo in the cert_data of the one
 * CertificateEntry, RFC 8446 §4.4.2: messages/certificate.ts encodes that.)
 */
export function encodeRawKeyCertificate12(spki: Uint8Array): Uint8Array {
  return buildHandshake(HandshakeType.certificate, (w) => w.vec(3, spki), spki.length + 8);
}

/** The client's TLS 1.2 raw-key Certificate: the SubjectPublicKeyInfo, or undefined when it sent none (empty). */
export function parseRawKeyCertificate12(body: Uint8Array): Uint8Array | undefined {
  const r = new Reader(body);
  const spki = r.vec(3, 0, 0xffffff, 'ASN.1_subjectPublicKeyInfo');
  r.end('Certificate');
  return spki.length ? spki : undefined;
}
