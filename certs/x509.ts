/**
 * X.509 certificates (RFC 5280): the fields a TLS server needs, read
 * strictly from DER with asn1js.
 */
import type { KeyAlgorithm } from '../engine/crypto/provider.js';
import {
  type Asn1, bitLength, bitString, boolean, contentsOf, decodeDer, elements, encodingOf, equalBytes, hex, isContext,
  isUniversal, octetBitString, octetString, oid, sequence, setOf, smallInteger, TAG, unsignedInteger,
} from './der.js';
import { CertificateError, withSource } from './errors.js';
import {
  DN_SHORT_NAMES, OID_AUTHORITY_KEY_IDENTIFIER, OID_BASIC_CONSTRAINTS, OID_COMMON_NAME, OID_DSA, OID_EC_PUBLIC_KEY,
  OID_ED25519, OID_EXT_KEY_USAGE, OID_KEY_USAGE, OID_RSA_ENCRYPTION, OID_SUBJECT_ALT_NAME, OID_SUBJECT_KEY_IDENTIFIER,
  OTHER_CURVES, SUPPORTED_CURVES, UNSUPPORTED_KEY_ALGORITHMS,
} from './oids.js';
import { type PemBlock, parsePem } from './pem.js';

export type CertificateKeyAlgorithm = KeyAlgorithm | 'dsa' | 'unknown';

export interface CertificateInfo {
  /** The certificate as given. */
  der: Uint8Array;
  /** 1, 2 or 3. */
  version: number;
  /** Serial number, lower-case hex. */
  serialNumber: string;
  /** OpenSSL one-line form, e.g. "/C=US/O=Example/CN=mail.example.org". */
  subject: string;
  issuer: string;
  /** The (last, most specific) commonName of the subject, if any. */
  subjectCN?: string;
  /** subjectAltName dNSName entries, lower case, in certificate order. */
  dnsNames: string[];
  /** subjectAltName iPAddress entries, in text form. */
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  /** The DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  keyAlgorithm: CertificateKeyAlgorithm;
  /** Human name of the key type for messages: "RSA", "ECDSA P-256", "DSA", "Ed448"... */
  keyAlgorithmName: string;
  /** RSA/DSA modulus size, or the curve size. 0 when unknown. */
  keyBits: number;
  /** EC curve: WebCrypto name for P-256/P-384, a descriptive name otherwise. */
  curveName?: string;
  /** RSA public exponent, unsigned big-endian without leading zeros (RSA keys only). */
  rsaPublicExponent?: Uint8Array;
  /** basicConstraints cA. */
  isCA: boolean;
  pathLength?: number;
  /** keyUsage bit names (RFC 5280 §4.2.1.3), when the extension is present. */
  keyUsage?: string[];
  /** extKeyUsage purpose OIDs, when the extension is present. */
  extKeyUsage?: string[];
  subjectKeyIdentifier?: Uint8Array;
  authorityKeyIdentifier?: Uint8Array;
  /** OID of the signature algorithm. */
  signatureAlgorithm: string;
  /** Issuer and subject names are identical (as bytes). */
  selfIssued: boolean;
}

function fail(detail: string): never {
  throw new CertificateError(undefined, detail);
}

const KEY_USAGE_NAMES = [
  'digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement',
  'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly',
];

/** The raw parts of a certificate that path validation needs (certs/verify.ts), from the same one decode. */
export interface CertificateParts {
  readonly info: CertificateInfo;
  /** DER of tbsCertificate: the signed bytes. */
  readonly tbs: Uint8Array;
  /** DER of the subject and issuer Names, exactly as encoded. */
  readonly subjectDer: Uint8Array;
  readonly issuerDer: Uint8Array;
  /** The signatureAlgorithm's parameters (e.g. RSASSA-PSS-params), when present. */
  readonly signatureParams: Asn1 | undefined;
  /** signatureValue's octets. */
  readonly signature: Uint8Array;
  /** Every extension, in certificate order. */
  readonly extensions: readonly { readonly id: string; readonly critical: boolean; readonly value: Uint8Array }[];
}

/**
 * Parses a DER certificate. Throws a CertificateError (without source) when
 * the structure is not a valid X.509 certificate.
 */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  return parseCertificateParts(der).info;
}

/**
 * Certificates already parsed, by content: start-up reads each configured
 * certificate several times (chain checks, key match, PROXY TLVs, once per
 * service), and a client's chain is read by more than one check. Bounded
 * (MEMO_ENTRIES, oldest dropped first); failures are not kept. The results
 * are shared: callers treat them as read-only.
 */
const MEMO_ENTRIES = 64;
/** Larger certificates (a client's can be up to the 64 KiB message bound) are parsed, not kept. */
const MEMO_MAX_BYTES = 16 * 1024;
const memo = new Map<string, CertificateParts>();

function contentKey(der: Uint8Array): string {
  let k = '';
  for (let i = 0; i < der.length; i += 4096) k += String.fromCharCode.apply(null, der.subarray(i, i + 4096) as unknown as number[]);
  return k;
}

/** parseCertificate, with the raw parts kept (one DER decode of the certificate serves both). */
export function parseCertificateParts(der: Uint8Array): CertificateParts {
  if (der.length > MEMO_MAX_BYTES) return decodeCertificate(der.slice());
  const key = contentKey(der);
  const known = memo.get(key);
  if (known) return known;
  // A copy: the caller's bytes may be a view of a buffer that is reused (a handshake message).
  const parts = decodeCertificate(der.slice());
  if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value!);
  memo.set(key, parts);
  return parts;
}

function decodeCertificate(der: Uint8Array): CertificateParts {
  // RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
  const cert = sequence(decodeDer(der, 'certificate'), 'certificate', 3, 3);
  const sigAlg = sequence(cert[1], 'certificate signatureAlgorithm', 1, 2);
  const signatureAlgorithm = oid(sigAlg[0], 'certificate signatureAlgorithm');
  const signature = bitString(cert[2], 'certificate signatureValue').bytes;

  // RFC 5280 §4.1.2: TBSCertificate
  const tbs = sequence(cert[0], 'tbsCertificate', 6, 10);
  let i = 0;
  let version = 1;
  if (isContext(tbs[0], 0)) {
    const v = elements(tbs[0], 'certificate version');
    if (v.length !== 1) fail('certificate version is malformed');
    version = smallInteger(v[0], 'certificate version') + 1;
    if (version > 3) fail(`unknown certificate version ${version}`);
    i++;
  }
  const serial = integerHex(tbs[i++]);
  const innerAlg = sequence(tbs[i++], 'tbsCertificate signature', 1, 2);
  if (oid(innerAlg[0], 'tbsCertificate signature') !== signatureAlgorithm) {
    fail('certificate signature algorithms disagree (tbsCertificate signature and signatureAlgorithm)');
  }
  const issuerNode = tbs[i++];
  const issuer = parseName(issuerNode, 'issuer');
  const validity = sequence(tbs[i++], 'validity', 2, 2);
  const notBefore = parseTime(validity[0], 'notBefore');
  const notAfter = parseTime(validity[1], 'notAfter');
  const subjectNode = tbs[i++];
  const subject = parseName(subjectNode, 'subject');
  const spkiNode = tbs[i++];
  if (spkiNode === undefined) fail('certificate has no subjectPublicKeyInfo');
  const key = describePublicKey(spkiNode);

  // issuerUniqueID [1], subjectUniqueID [2]: skipped. extensions [3] (v3 only).
  if (isContext(tbs[i], 1)) i++;
  if (isContext(tbs[i], 2)) i++;
  const ext = new Map<string, { critical: boolean; value: Uint8Array }>();
  if (isContext(tbs[i], 3)) {
    if (version !== 3) fail('certificate has extensions but is not version 3');
    const wrapped = elements(tbs[i], 'extensions');
    if (wrapped.length !== 1) fail('extensions are malformed');
    for (const e of sequence(wrapped[0], 'extensions', 1)) {
      // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
      const parts = sequence(e, 'extension', 2, 3);
      const id = oid(parts[0], 'extension extnID');
      const critical = parts.length === 3 ? boolean(parts[1], `extension ${id} critical`) : false;
      const value = octetString(parts[parts.length - 1], `extension ${id} extnValue`);
      if (ext.has(id)) fail(`extension ${id} appears twice`);
      ext.set(id, { critical, value });
    }
    i++;
  }
  if (i !== tbs.length) fail('tbsCertificate has unexpected elements');

  const info: CertificateInfo = {
    der,
    version,
    serialNumber: serial,
    subject: subject.oneline,
    issuer: issuer.oneline,
    dnsNames: [],
    ipAddresses: [],
    notBefore,
    notAfter,
    spki: encodingOf(spkiNode),
    ...key,
    isCA: false,
    signatureAlgorithm,
    selfIssued: equalBytes(encodingOf(issuerNode!), encodingOf(subjectNode!)),
  };
  if (subject.commonName !== undefined) info.subjectCN = subject.commonName;

  const san = ext.get(OID_SUBJECT_ALT_NAME);
  if (san) parseSubjectAltName(san.value, info);
  const bc = ext.get(OID_BASIC_CONSTRAINTS);
  if (bc) {
    // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
    const items = sequence(decodeDer(bc.value, 'basicConstraints'), 'basicConstraints', 0, 2);
    let j = 0;
    if (isUniversal(items[j], TAG.BOOLEAN)) info.isCA = boolean(items[j++], 'basicConstraints cA');
    if (j < items.length) info.pathLength = smallInteger(items[j++], 'basicConstraints pathLenConstraint');
    if (j !== items.length) fail('basicConstraints is malformed');
  }
  const ku = ext.get(OID_KEY_USAGE);
  if (ku) {
    // KeyUsage ::= BIT STRING, bit 0 first (most significant bit of the first octet).
    const { bytes, unusedBits } = bitString(decodeDer(ku.value, 'keyUsage'), 'keyUsage');
    const total = bytes.length * 8 - unusedBits;
    info.keyUsage = [];
    for (let b = 0; b < total && b < KEY_USAGE_NAMES.length; b++) {
      if (bytes[b >> 3]! & (0x80 >> (b & 7))) info.keyUsage.push(KEY_USAGE_NAMES[b]!);
    }
  }
  const eku = ext.get(OID_EXT_KEY_USAGE);
  if (eku) {
    // ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
    info.extKeyUsage = sequence(decodeDer(eku.value, 'extKeyUsage'), 'extKeyUsage', 1)
      .map((n) => oid(n, 'extKeyUsage purpose'));
  }
  const ski = ext.get(OID_SUBJECT_KEY_IDENTIFIER);
  if (ski) info.subjectKeyIdentifier = octetString(decodeDer(ski.value, 'subjectKeyIdentifier'), 'subjectKeyIdentifier');
  const aki = ext.get(OID_AUTHORITY_KEY_IDENTIFIER);
  if (aki) {
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
    const items = sequence(decodeDer(aki.value, 'authorityKeyIdentifier'), 'authorityKeyIdentifier', 0, 3);
    if (isContext(items[0], 0)) info.authorityKeyIdentifier = contentsOf(items[0], 'authorityKeyIdentifier keyIdentifier');
  }
  return {
    info,
    tbs: encodingOf(cert[0]!),
    subjectDer: encodingOf(subjectNode!),
    issuerDer: encodingOf(issuerNode!),
    signatureParams: sigAlg[1],
    signature,
    extensions: [...ext].map(([id, e]) => ({ id, critical: e.critical, value: e.value })),
  };
}

/**
 * All certificates in `pemText`, leaf first (file order). "CERTIFICATE"
 * blocks and OpenSSL's "TRUSTED CERTIFICATE" (whose auxiliary trust data is
 * dropped) are taken; anything else, such as a private key, is skipped.
 */
export function parseCertificateChain(pemText: string, source: string): Uint8Array[] {
  let blocks: PemBlock[];
  try {
    blocks = parsePem(pemText);
  } catch (e) {
    throw withSource(e, source);
  }
  const chain: Uint8Array[] = [];
  for (const b of blocks) {
    if (b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE' || b.label === 'X.509 CERTIFICATE') {
      chain.push(b.der);
    } else if (b.label === 'TRUSTED CERTIFICATE') {
      chain.push(firstElement(b.der, source));
    }
  }
  if (chain.length === 0) {
    if (pemText.trim() === '') throw new CertificateError(source, 'the file is empty: no certificate found');
    if (blocks.length === 0) {
      throw new CertificateError(source, 'no PEM data found: expected a "-----BEGIN CERTIFICATE-----" block');
    }
    const labels = [...new Set(blocks.map((b) => b.label))].join(', ');
    throw new CertificateError(source, `no certificate found (the file holds: ${labels})`);
  }
  return chain;
}

/** The names a certificate is valid for: SAN dNSNames, or the subject CN (lower case) when there are none. */
export function certificateNames(info: CertificateInfo): string[] {
  if (info.dnsNames.length > 0) return [...info.dnsNames];
  return info.subjectCN !== undefined && info.subjectCN !== '' ? [info.subjectCN.toLowerCase()] : [];
}

/** Digest of the DER certificate as colon-separated upper-case hex ("AB:CD:..."), as Postfix logs fingerprints. */
export async function certificateFingerprint(der: Uint8Array, hash: 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512' = 'SHA-256'): Promise<string> {
  return fingerprint(der, hash);
}

/** Digest of the DER SubjectPublicKeyInfo, same format (Postfix's public-key fingerprint). */
export async function publicKeyFingerprint(spki: Uint8Array, hash: 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512' = 'SHA-256'): Promise<string> {
  return fingerprint(spki, hash);
}

async function fingerprint(data: Uint8Array, hash: string): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new CertificateError(undefined, 'WebCrypto (globalThis.crypto.subtle) is not available');
  const digest = new Uint8Array(await subtle.digest(hash, data.slice()));
  return hex(digest, ':').toUpperCase();
}

function integerHex(n: Asn1 | undefined): string {
  if (!isUniversal(n, TAG.INTEGER)) fail('certificate serialNumber is not an INTEGER');
  // Serial numbers are positive (RFC 5280 §4.1.2.2) but negative ones exist in the wild: keep the bytes.
  return hex(contentsOf(n, 'certificate serialNumber'));
}

function firstElement(der: Uint8Array, source: string): Uint8Array {
  // A TRUSTED CERTIFICATE is a Certificate followed by X509_CERT_AUX; take the Certificate.
  let len = 0;
  try {
    if (der[0] !== 0x30 || der.length < 2) throw new Error();
    const l = der[1]!;
    if (l < 0x80) len = 2 + l;
    else {
      const n = l & 0x7f;
      if (n === 0 || n > 4 || der.length < 2 + n) throw new Error();
      let v = 0;
      for (let k = 0; k < n; k++) v = v * 256 + der[2 + k]!;
      len = 2 + n + v;
    }
    if (len > der.length) throw new Error();
  } catch {
    throw new CertificateError(source, 'malformed TRUSTED CERTIFICATE block');
  }
  return der.slice(0, len);
}

// --- names ------------------------------------------------------------------

/**
 * RFC 5280 §4.1.2.4 Name ::= SEQUENCE OF RelativeDistinguishedName,
 * RDN ::= SET OF AttributeTypeAndValue. Formatted like OpenSSL's
 * X509_NAME_oneline(): "/type=value" per attribute, "+" between attributes
 * of one multi-valued RDN, OpenSSL short names (else the dotted OID), bytes
 * outside printable ASCII escaped as \xHH (UTF-8 for non-ASCII text).
 */
function parseName(n: Asn1 | undefined, what: string): { oneline: string; commonName?: string } {
  let oneline = '';
  let commonName: string | undefined;
  for (const rdn of sequence(n, what)) {
    const attrs = setOf(rdn, `${what} RDN`);
    if (attrs.length === 0) fail(`${what} has an empty RDN`);
    attrs.forEach((atv, k) => {
      const parts = sequence(atv, `${what} attribute`, 2, 2);
      const type = oid(parts[0], `${what} attribute type`);
      const value = directoryString(parts[1]!, `${what} attribute ${type}`);
      oneline += `${k === 0 ? '/' : '+'}${DN_SHORT_NAMES[type] ?? type}=${escapeOneline(value)}`;
      if (type === OID_COMMON_NAME) commonName = value; // the last CN is the most specific
    });
  }
  return commonName === undefined ? { oneline } : { oneline, commonName };
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Decodes the string types used in names (RFC 5280 DirectoryString and friends) to a JS string. */
function directoryString(n: Asn1, what: string): string {
  const tag = n.idBlock.tagClass === 1 ? n.idBlock.tagNumber : -1;
  if (n.idBlock.isConstructed) return '#' + hex(encodingOf(n));
  const bytes = contentsOf(n, what);
  switch (tag) {
    case TAG.UTF8_STRING:
      return utf8.decode(bytes);
    case TAG.BMP_STRING: {
      let s = '';
      for (let k = 0; k + 1 < bytes.length; k += 2) s += String.fromCharCode((bytes[k]! << 8) | bytes[k + 1]!);
      return s;
    }
    case TAG.UNIVERSAL_STRING: {
      let s = '';
      for (let k = 0; k + 3 < bytes.length; k += 4) {
        const cp = ((bytes[k]! << 24) | (bytes[k + 1]! << 16) | (bytes[k + 2]! << 8) | bytes[k + 3]!) >>> 0;
        s += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
      }
      return s;
    }
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.VISIBLE_STRING:
    case TAG.NUMERIC_STRING:
    case TAG.TELETEX_STRING:
    default:
      return latin1(bytes); // one byte per character (T.61 read as Latin-1)
  }
}

const utf8Encoder = new TextEncoder();

/** One character per byte (no argument spreading: values can be long). */
function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function escapeOneline(value: string): string {
  let out = '';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x20 && cp <= 0x7e) {
      out += ch;
    } else {
      for (const b of utf8Encoder.encode(ch)) out += '\\x' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

// --- time -------------------------------------------------------------------

/** RFC 5280 §4.1.2.5: UTCTime (YYMMDDHHMMSSZ, 1950..2049) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
function parseTime(n: Asn1 | undefined, what: string): Date {
  let m: RegExpExecArray | null = null;
  let year: number;
  if (isUniversal(n, TAG.UTC_TIME)) {
    const text = latin1(contentsOf(n, what));
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(text);
    if (!m) fail(`${what} is not a valid UTCTime: ${JSON.stringify(text)}`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (isUniversal(n, TAG.GENERALIZED_TIME)) {
    const text = latin1(contentsOf(n, what));
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(text);
    if (!m) fail(`${what} is not a valid GeneralizedTime: ${JSON.stringify(text)}`);
    year = Number(m[1]);
  } else {
    return fail(`${what} is not a time`);
  }
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as
    [number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    fail(`${what} is not a valid date`);
  }
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59)));
  if (date.getUTCDate() !== day) fail(`${what} is not a valid date`);
  return date;
}

// --- subjectAltName -----------------------------------------------------------

/** RFC 5280 §4.2.1.6: GeneralNames ::= SEQUENCE OF GeneralName; dNSName [2] IA5String, iPAddress [7] OCTET STRING. */
function parseSubjectAltName(value: Uint8Array, info: CertificateInfo): void {
  for (const gn of sequence(decodeDer(value, 'subjectAltName'), 'subjectAltName', 1)) {
    if (isContext(gn, 2)) {
      const bytes = contentsOf(gn, 'subjectAltName dNSName');
      if (bytes.some((b) => b < 0x20 || b > 0x7e)) fail('subjectAltName dNSName is not printable ASCII');
      info.dnsNames.push(latin1(bytes).toLowerCase());
    } else if (isContext(gn, 7)) {
      const bytes = contentsOf(gn, 'subjectAltName iPAddress');
      if (bytes.length === 4) info.ipAddresses.push(Array.from(bytes).join('.'));
      else if (bytes.length === 16) info.ipAddresses.push(formatIpv6(bytes));
      else fail(`subjectAltName iPAddress has ${bytes.length} bytes`);
    }
  }
}

/** RFC 5952 text form of an IPv6 address. */
export function formatIpv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let k = 0; k < 16; k += 2) words.push((bytes[k]! << 8) | bytes[k + 1]!);
  // Longest run (at least two) of zero words becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let k = 0; k < 8;) {
    if (words[k] !== 0) { k++; continue; }
    let e = k;
    while (e < 8 && words[e] === 0) e++;
    if (e - k > bestLen) { best = k; bestLen = e - k; }
    k = e;
  }
  const part = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (best < 0) return part(words);
  return `${part(words.slice(0, best))}::${part(words.slice(best + bestLen))}`;
}

// --- public keys --------------------------------------------------------------

type KeyDescription = Pick<CertificateInfo, 'keyAlgorithm' | 'keyAlgorithmName' | 'keyBits'> & { curveName?: string; rsaPublicExponent?: Uint8Array };

/** RFC 5280 §4.1.2.7 SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }. */
export function describePublicKey(spki: Asn1): KeyDescription {
  const items = sequence(spki, 'subjectPublicKeyInfo', 2, 2);
  const alg = sequence(items[0], 'subjectPublicKeyInfo algorithm', 1, 2);
  const algorithm = oid(alg[0], 'subjectPublicKeyInfo algorithm');
  const params = alg[1];
  const key = octetBitString(items[1], 'subjectPublicKey');
  switch (algorithm) {
    case OID_RSA_ENCRYPTION: {
      // RFC 8017 A.1.1 RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
      const rsa = sequence(decodeDer(key, 'RSAPublicKey'), 'RSAPublicKey', 2, 2);
      const modulus = unsignedInteger(rsa[0], 'RSA modulus');
      const rsaPublicExponent = unsignedInteger(rsa[1], 'RSA publicExponent');
      return { keyAlgorithm: 'rsa', keyAlgorithmName: 'RSA', keyBits: bitLength(modulus), rsaPublicExponent };
    }
    case OID_EC_PUBLIC_KEY: {
      // RFC 5480 §2.1.1: namedCurve parameters; ECPoint in the BIT STRING.
      if (!isUniversal(params, TAG.OID)) {
        return { keyAlgorithm: 'unknown', keyAlgorithmName: 'ECDSA with explicit curve parameters', keyBits: 0 };
      }
      const curve = oid(params, 'EC namedCurve');
      const supported = SUPPORTED_CURVES[curve];
      if (supported) {
        if (key.length !== 2 * supported.size + 1 || key[0] !== 4) {
          if (!(key.length === supported.size + 1 && (key[0] === 2 || key[0] === 3))) {
            fail(`invalid ${supported.name} public key`);
          }
        }
        return {
          keyAlgorithm: supported.algorithm, keyAlgorithmName: `ECDSA ${supported.name}`, keyBits: supported.bits,
          curveName: supported.name,
        };
      }
      const other = OTHER_CURVES[curve];
      return {
        keyAlgorithm: 'unknown', keyAlgorithmName: `ECDSA ${other?.name ?? curve}`, keyBits: other?.bits ?? 0,
        curveName: other?.name ?? curve,
      };
    }
    case OID_ED25519:
      // RFC 8410 §4: the BIT STRING holds the 32-byte public key.
      if (key.length !== 32) fail('invalid Ed25519 public key');
      return { keyAlgorithm: 'ed25519', keyAlgorithmName: 'Ed25519', keyBits: 256 };
    case OID_DSA: {
      // RFC 3279 §2.3.2: Dss-Parms ::= SEQUENCE { p, q, g }
      let bits = 0;
      if (isUniversal(params, TAG.SEQUENCE)) bits = bitLength(unsignedInteger(sequence(params, 'Dss-Parms', 3, 3)[0], 'DSA p'));
      return { keyAlgorithm: 'dsa', keyAlgorithmName: 'DSA', keyBits: bits };
    }
    default:
      return { keyAlgorithm: 'unknown', keyAlgorithmName: UNSUPPORTED_KEY_ALGORITHMS[algorithm] ?? algorithm, keyBits: 0 };
  }
}

/** Parses a DER SubjectPublicKeyInfo on its own. */
export function describeSpki(spki: Uint8Array): KeyDescription {
  return describePublicKey(decodeDer(spki, 'subjectPublicKeyInfo'));
}
