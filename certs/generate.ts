/**
 * Test and bootstrap PKI generation with pkijs: a self-signed ECDSA P-256 CA
 * and server/client certificates it issues, for every key type the engine
 * serves (ECDSA P-256/P-384, RSA-2048, Ed25519).
 *
 * Profile (RFC 5280): v3 certificates, random positive 16-byte serial
 * numbers (§4.1.2.2), UTCTime before 2050 and GeneralizedTime after
 * (§4.1.2.5), subject/authority key identifiers (§4.2.1.1, §4.2.1.2),
 * critical basicConstraints and keyUsage, subjectAltName for every name
 * (§4.2.1.6) and extKeyUsage serverAuth/clientAuth (§4.2.1.12).
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  CLASS_CONTEXT, decodeDer, encode, equalBytes, octetBitString, sequence, unsignedIntegerBlock,
} from './der.js';
import { CertificateError } from './errors.js';
import { parsePrivateKey } from './keys.js';
import {
  OID_AUTHORITY_KEY_IDENTIFIER, OID_BASIC_CONSTRAINTS, OID_COMMON_NAME, OID_EXT_KEY_USAGE, OID_KEY_USAGE,
  OID_KP_CLIENT_AUTH, OID_KP_SERVER_AUTH, OID_ORGANIZATION, OID_SUBJECT_ALT_NAME, OID_SUBJECT_KEY_IDENTIFIER,
} from './oids.js';
import { parsePem, toPem } from './pem.js';
import { importPrivateKey, webCrypto } from './webcrypto.js';
import { parseCertificate } from './x509.js';

export type GeneratedKeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'ed25519';

export const GENERATED_KEY_ALGORITHMS: readonly GeneratedKeyAlgorithm[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'];

export interface GeneratedCa {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** DER certificate. */
  cert: Uint8Array;
}

/** A CA able to issue: its certificate and PKCS#8 (or SEC1/PKCS#1) private key, ECDSA or RSA. */
export interface IssuingCa {
  certPem?: string;
  keyPem: string;
  cert?: Uint8Array;
}

export interface GeneratedCertificate {
  /** The leaf alone. */
  certPem: string;
  /** The leaf followed by the CA certificate. */
  chainPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  cert: Uint8Array;
  algorithm: GeneratedKeyAlgorithm;
}

export interface ServerCertificateOptions {
  algorithm: GeneratedKeyAlgorithm;
  /** DNS names (wildcards allowed) and IP literals; the first one is the default CN. */
  names: string[];
  commonName?: string;
  /** Validity in days from now (default 825). */
  days?: number;
  /** Also allow the certificate for TLS client authentication. */
  clientAuth?: boolean;
}

export interface ClientCertificateOptions {
  algorithm: GeneratedKeyAlgorithm;
  commonName: string;
  /** Optional subjectAltName DNS names / IP literals. */
  names?: string[];
  days?: number;
}

export interface TestPki {
  ca: GeneratedCa;
  servers: Record<GeneratedKeyAlgorithm, GeneratedCertificate>;
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;

let engine: pkijs.ICryptoEngine | undefined;

/** A pkijs engine over the global WebCrypto (no reliance on pkijs's global engine). */
function pkiEngine(): pkijs.ICryptoEngine {
  engine ??= new pkijs.CryptoEngine({ name: 'webcrypto', crypto: webCrypto() });
  return engine;
}

/** Generates a self-signed ECDSA P-256 CA (10 years). */
export async function generateCa(opts: { commonName?: string; days?: number } = {}): Promise<GeneratedCa> {
  const subtle = webCrypto().subtle;
  const pair = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
  const spki = new Uint8Array(await subtle.exportKey('spki', pair.publicKey));
  const pkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
  const name = encodeName([[OID_ORGANIZATION, 'tlsproxy'], [OID_COMMON_NAME, opts.commonName ?? 'tlsproxy test CA']]);
  const ski = await keyIdentifier(spki);
  const cert = await buildCertificate({
    issuer: name,
    subject: name,
    spki,
    days: opts.days ?? 3650,
    extensions: [
      // RFC 5280 §4.2.1.9: CA:TRUE, critical.
      extension(OID_BASIC_CONSTRAINTS, true, new asn1js.Sequence({ value: [new asn1js.Boolean({ value: true })] })),
      extension(OID_KEY_USAGE, true, keyUsage(['keyCertSign', 'cRLSign'])),
      extension(OID_SUBJECT_KEY_IDENTIFIER, false, new asn1js.OctetString({ valueHex: ski })),
    ],
    signer: pair.privateKey,
    hash: 'SHA-256',
  });
  return { certPem: toPem('CERTIFICATE', cert), keyPem: toPem('PRIVATE KEY', pkcs8), cert };
}

/** Issues a TLS server certificate (serverAuth, optionally clientAuth) signed by `ca`. */
export async function generateServerCertificate(ca: IssuingCa, opts: ServerCertificateOptions): Promise<GeneratedCertificate> {
  if (opts.names.length === 0 && opts.commonName === undefined) {
    throw new CertificateError(undefined, 'a server certificate needs at least one name');
  }
  return issue(ca, {
    algorithm: opts.algorithm,
    names: opts.names,
    commonName: opts.commonName ?? opts.names[0]!,
    days: opts.days ?? 825,
    purposes: opts.clientAuth ? [OID_KP_SERVER_AUTH, OID_KP_CLIENT_AUTH] : [OID_KP_SERVER_AUTH],
  });
}

/** Issues a TLS client certificate (clientAuth) signed by `ca`. */
export async function generateClientCertificate(ca: IssuingCa, opts: ClientCertificateOptions): Promise<GeneratedCertificate> {
  return issue(ca, {
    algorithm: opts.algorithm,
    names: opts.names ?? [],
    commonName: opts.commonName,
    days: opts.days ?? 825,
    purposes: [OID_KP_CLIENT_AUTH],
  });
}

/** A CA and one server certificate per key algorithm, all for `names`. */
export async function generateTestPki(names: string[] = ['localhost', '127.0.0.1']): Promise<TestPki> {
  const ca = await generateCa();
  const issued = await Promise.all(GENERATED_KEY_ALGORITHMS.map((algorithm) => generateServerCertificate(ca, { algorithm, names })));
  const servers = {} as Record<GeneratedKeyAlgorithm, GeneratedCertificate>;
  for (const c of issued) servers[c.algorithm] = c;
  return { ca, servers };
}

// --- internals ----------------------------------------------------------------

interface IssueOptions {
  algorithm: GeneratedKeyAlgorithm;
  names: string[];
  commonName: string;
  days: number;
  purposes: string[];
}

async function issue(ca: IssuingCa, opts: IssueOptions): Promise<GeneratedCertificate> {
  const caDer = ca.cert ?? caCertificateFromPem(ca.certPem);
  const caInfo = parseCertificate(caDer);
  const caKey = parsePrivateKey(ca.keyPem, 'CA private key');
  if (caKey.algorithm === 'ed25519') {
    throw new CertificateError('CA private key', 'an Ed25519 CA cannot issue certificates here: use an ECDSA or RSA CA');
  }
  const signer = await importPrivateKey(caKey, ['sign']);
  const hash = caKey.algorithm === 'ecdsa-p384' ? 'SHA-384' : 'SHA-256';

  const { spki, pkcs8 } = await generateKeyPair(opts.algorithm);
  const san = subjectAltName(opts.names);
  const usage: KeyUsageName[] = opts.algorithm === 'rsa-2048' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
  const authorityKeyId = caInfo.subjectKeyIdentifier ?? await keyIdentifier(caInfo.spki);
  const extensions = [
    extension(OID_BASIC_CONSTRAINTS, true, new asn1js.Sequence({ value: [] })),
    extension(OID_KEY_USAGE, true, keyUsage(usage)),
    extension(OID_EXT_KEY_USAGE, false,
      new asn1js.Sequence({ value: opts.purposes.map((p) => new asn1js.ObjectIdentifier({ value: p })) })),
    extension(OID_SUBJECT_KEY_IDENTIFIER, false, new asn1js.OctetString({ valueHex: await keyIdentifier(spki) })),
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT KeyIdentifier OPTIONAL, ... }
    extension(OID_AUTHORITY_KEY_IDENTIFIER, false, new asn1js.Sequence({
      value: [new asn1js.Primitive({ idBlock: { tagClass: CLASS_CONTEXT, tagNumber: 0 }, valueHex: authorityKeyId })],
    })),
  ];
  if (san) extensions.push(extension(OID_SUBJECT_ALT_NAME, false, san));

  // ub-common-name is 64 (RFC 5280 Appendix A): leave a longer name to the SAN alone.
  const subject = encodeName(opts.commonName.length <= 64 ? [[OID_COMMON_NAME, opts.commonName]] : []);
  const cert = await buildCertificate({
    issuer: caNameOf(caDer),
    subject,
    spki,
    days: opts.days,
    extensions,
    signer,
    hash,
  });
  const certPem = toPem('CERTIFICATE', cert);
  return {
    certPem,
    chainPem: certPem + toPem('CERTIFICATE', caDer),
    keyPem: toPem('PRIVATE KEY', pkcs8),
    cert,
    algorithm: opts.algorithm,
  };
}

function caCertificateFromPem(pem: string | undefined): Uint8Array {
  const block = pem === undefined ? undefined : parsePem(pem).find((b) => b.label === 'CERTIFICATE');
  if (!block) throw new CertificateError('CA certificate', 'no CA certificate given');
  return block.der;
}

/** The subject Name of a DER certificate, exactly as encoded (it becomes the issuer Name). */
function caNameOf(caDer: Uint8Array): Uint8Array {
  const cert = pkijs.Certificate.fromBER(caDer.slice());
  return new Uint8Array(cert.subject.valueBeforeDecode);
}

async function generateKeyPair(algorithm: GeneratedKeyAlgorithm): Promise<{ spki: Uint8Array; pkcs8: Uint8Array }> {
  const subtle = webCrypto().subtle;
  let params: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm;
  switch (algorithm) {
    case 'ecdsa-p256':
      params = { name: 'ECDSA', namedCurve: 'P-256' };
      break;
    case 'ecdsa-p384':
      params = { name: 'ECDSA', namedCurve: 'P-384' };
      break;
    case 'rsa-2048':
      params = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
      break;
    case 'ed25519':
      params = { name: 'Ed25519' };
      break;
    default:
      throw new CertificateError(undefined, `unknown key algorithm ${String(algorithm)}`);
  }
  const pair = await subtle.generateKey(params, true, ['sign', 'verify']) as CryptoKeyPair;
  // The SPKI goes into the certificate as WebCrypto exported it: pkijs need
  // not understand the key type (it does not know Ed25519).
  return {
    spki: new Uint8Array(await subtle.exportKey('spki', pair.publicKey)),
    pkcs8: new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey)),
  };
}

interface BuildOptions {
  issuer: Uint8Array;
  subject: Uint8Array;
  spki: Uint8Array;
  days: number;
  extensions: pkijs.Extension[];
  signer: CryptoKey;
  hash: 'SHA-256' | 'SHA-384';
}

async function buildCertificate(o: BuildOptions): Promise<Uint8Array> {
  if (!Number.isFinite(o.days) || o.days <= 0) throw new CertificateError(undefined, `invalid validity of ${o.days} days`);
  const now = Math.floor(Date.now() / 1000) * 1000;
  const cert = new pkijs.Certificate();
  cert.version = 2; // v3
  cert.serialNumber = unsignedIntegerBlock(randomSerial());
  cert.issuer = pkijs.RelativeDistinguishedNames.fromBER(o.issuer.slice());
  cert.subject = pkijs.RelativeDistinguishedNames.fromBER(o.subject.slice());
  cert.notBefore = time(new Date(now - HOUR));
  cert.notAfter = time(new Date(now + Math.round(o.days * DAY)));
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(o.spki.slice());
  cert.extensions = o.extensions;
  await cert.sign(o.signer, o.hash, pkiEngine());
  const der = encode(cert.toSchema(false));
  // The certificate must carry the key exactly as generated.
  if (!equalBytes(parseCertificate(der).spki, o.spki)) {
    throw new CertificateError(undefined, 'internal error: the certificate public key was re-encoded');
  }
  return der;
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(d: Date): pkijs.Time {
  return new pkijs.Time({ type: d.getUTCFullYear() < 2050 ? 0 : 1, value: d });
}

/** RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random octets with the top bit clear. */
function randomSerial(): Uint8Array {
  const serial = webCrypto().getRandomValues(new Uint8Array(16));
  serial[0] = serial[0]! & 0x7f;
  if (serial[0] === 0) serial[0] = 1; // keep 16 significant octets
  return serial;
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
async function keyIdentifier(spki: Uint8Array): Promise<Uint8Array> {
  const items = sequence(decodeDer(spki, 'subjectPublicKeyInfo'), 'subjectPublicKeyInfo', 2, 2);
  const key = octetBitString(items[1], 'subjectPublicKey');
  return new Uint8Array(await webCrypto().subtle.digest('SHA-1', key.slice()));
}

function extension(extnID: string, critical: boolean, value: asn1js.BaseBlock): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: encode(value).buffer as ArrayBuffer });
}

type KeyUsageName = 'digitalSignature' | 'keyEncipherment' | 'keyCertSign' | 'cRLSign';
const KEY_USAGE_BITS: Record<KeyUsageName, number> = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 };

/** RFC 5280 §4.2.1.3 KeyUsage BIT STRING, DER (X.690 §11.2.2: no trailing zero bits). */
function keyUsage(names: KeyUsageName[]): asn1js.BitString {
  let byte = 0;
  let last = 0;
  for (const n of names) {
    const bit = KEY_USAGE_BITS[n];
    byte |= 0x80 >> bit;
    last = Math.max(last, bit);
  }
  return new asn1js.BitString({ valueHex: Uint8Array.of(byte), unusedBits: 7 - last });
}

/**
 * RFC 5280 §4.1.2.4 Name: one single-valued RDN per attribute, UTF8String
 * values (§4.1.2.6 requires UTF8String for new certificates).
 */
function encodeName(attributes: [string, string][]): Uint8Array {
  return encode(new asn1js.Sequence({
    value: attributes.map(([type, value]) => new asn1js.Set({
      value: [new asn1js.Sequence({
        value: [new asn1js.ObjectIdentifier({ value: type }), new asn1js.Utf8String({ value })],
      })],
    })),
  }));
}

/** GeneralNames for `names`: iPAddress [7] for IP literals, dNSName [2] otherwise (RFC 5280 §4.2.1.6). */
function subjectAltName(names: string[]): asn1js.Sequence | undefined {
  if (names.length === 0) return undefined;
  const value = names.map((name) => {
    const ip = parseIpAddress(name);
    if (ip) return new asn1js.Primitive({ idBlock: { tagClass: CLASS_CONTEXT, tagNumber: 7 }, valueHex: ip });
    const dns = name.toLowerCase();
    if (!isDnsName(dns)) throw new CertificateError(undefined, `invalid DNS name ${JSON.stringify(name)}`);
    const bytes = Uint8Array.from(dns, (c) => c.charCodeAt(0));
    return new asn1js.Primitive({ idBlock: { tagClass: CLASS_CONTEXT, tagNumber: 2 }, valueHex: bytes });
  });
  return new asn1js.Sequence({ value });
}

function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((l, i) => (l === '*' && i === 0 && labels.length > 1)
    || /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l));
}

/** The bytes of an IPv4 or IPv6 literal (brackets allowed around IPv6), or undefined. */
export function parseIpAddress(text: string): Uint8Array | undefined {
  const v4 = parseIpv4(text);
  if (v4) return v4;
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (!s.includes(':') || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const lastColon = s.lastIndexOf(':');
  const tail4 = s.slice(lastColon + 1);
  if (tail4.includes('.')) {
    const b = parseIpv4(tail4);
    if (!b) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const group = (part: string) => (part === '' ? [] : part.split(':'));
  const head = group(halves[0]!);
  const tail = halves.length === 2 ? group(halves[1]!) : [];
  const words = [...head, ...tail];
  if (!words.every((w) => /^[0-9a-fA-F]{1,4}$/.test(w))) return undefined;
  if (halves.length === 1 ? words.length !== 8 : words.length > 7) return undefined;
  const all = [...head, ...Array<string>(8 - words.length).fill('0'), ...tail].map((w) => parseInt(w, 16));
  const out = new Uint8Array(16);
  all.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  return out;
}

function parseIpv4(s: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const bytes = m.slice(1).map(Number);
  return bytes.every((b) => b <= 255) ? Uint8Array.from(bytes) : undefined;
}
