/**
 * X.509 path validation of a TLS client's certificate chain against a set of
 * trust anchors (Postfix CAfile / CApath), with OpenSSL's verdicts and
 * Postfix's words for them.
 *
 * Certificates are decoded once, by x509.ts over asn1js (to-be-signed bytes,
 * signature algorithm, extensions, names, validity, key usage, basic
 * constraints, key identifiers); signatures are checked with WebCrypto
 * (RSASSA-PKCS1-v1_5 and RSASSA-PSS with SHA-256/384/512, ECDSA P-256, P-384
 * and P-521, Ed25519). pkijs' chain engine is not used: it knows neither
 * Ed25519 nor extended key usage, and its errors are not OpenSSL's.
 *
 * The algorithm follows OpenSSL 3.0's X509_verify_cert() as Postfix drives
 * it (tls_verify.c), so that the verdict, the error depth and the logged
 * reason are those an operator knows:
 *
 *  0. the leaf's key (check_key_level before build_chain): an RSA key
 *     below `minRsaBits` (OpenSSL security level 2: 2048 bits;
 *     tlsproxy_tls_ccert_rsa_min_bits) is 66. An RSA key we will not use at
 *     all (public exponent even, below 3 or above 2^32; modulus above 8192
 *     bits) makes the certificate unusable: CertificateError, so the engine
 *     sends bad_certificate and never verifies CertificateVerify with it.
 *  1. build_chain: from the leaf, look for each issuer first among the
 *     trust anchors (X509_V_FLAG_TRUSTED_FIRST), then among the other
 *     certificates the client sent. Issuers are chosen from names, key
 *     identifiers, key type and key usage alone (OpenSSL check_issued and
 *     find_issuer: no signature is verified while building); among several,
 *     one that may sign certificates (cA, keyCertSign) and is valid now.
 *     Only several trust anchors of the same name are told apart by their
 *     signature, within MAX_ANCHOR_PROBES operations. The chain is built to
 *     verifyDepth + 2 certificates at most (anything deeper is 22 anyway).
 *     It is trusted when it ends in a self-signed anchor (or the self-signed
 *     leaf is itself an anchor; no partial chains). Otherwise: 18
 *     (self-signed leaf), 19 (self-signed certificate in chain), 2 (an
 *     anchor that is not self-signed and whose issuer is unknown) or 20
 *     (issuer unknown), at the top of the chain.
 *  2. check_extensions, leaf first: unhandled critical extension (34), a
 *     malformed nameConstraints or subjectAltName (41), CA certificates
 *     (basicConstraints cA, keyUsage keyCertSign: 79), the purpose "TLS
 *     client" (26: extKeyUsage clientAuth when present, here also at CAs as
 *     OpenSSL does; keyUsage digitalSignature for the leaf when present,
 *     stricter than OpenSSL which also takes keyAgreement),
 *     pathLenConstraint (25).
 *  2b. check_auth_level: a CA (anchors included) with an RSA key below
 *     `minRsaBits` is 67.
 *  3. internal_verify, top down: each signature with its issuer's key,
 *     once per link (7, 6; SHA-1 and MD5 signatures refused as 68; an RSA
 *     issuer key with an unusable exponent or size is 6 without any
 *     operation), then validity times against the injected clock (9 not yet
 *     valid, 10 expired), anchors included. Links deeper than verifyDepth
 *     are not verified (they are 22 already).
 *  4. check_name_constraints (RFC 5280 §4.2.1.10, name-constraints.ts):
 *     each certificate (self-issued CAs skipped) against the
 *     nameConstraints of every CA above it, anchors included: 47, 48, 49,
 *     51, 53, 1 (see name-constraints.ts).
 *
 * Public-key operations are therefore at most verifyDepth + 1 (one per
 * link) plus MAX_ANCHOR_PROBES, whatever the client sends; the count is in
 * ChainVerification.publicKeyOperations.
 *
 * Each report goes through an emulation of Postfix's verify callback: a
 * report at a depth beyond ccert_verifydepth becomes 22 "certificate chain
 * longer than limit(N)" (Postfix asks OpenSSL for verifydepth + 1 and flags
 * anything deeper), and the error kept is the one nearest the leaf (the first
 * at equal depth). The chain is trusted when no error was kept.
 *
 * Deliberate limits: no CRL/OCSP, no policy processing.
 *
 * Pure: no Node APIs. Fingerprints use @noble/hashes (MD5 and SHA-1 are not
 * in WebCrypto).
 */
import * as asn1js from 'asn1js';
import { md5, sha1 } from '@noble/hashes/legacy.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { decodeDer, elements, equalBytes, hex, isContext, isUniversal, oid, sequence, smallInteger, TAG } from './der.js';
import { CertificateError, withSource } from './errors.js';
import {
  type GeneralName, NameCheckBudget, type NameConstraints, OID_NAME_CONSTRAINTS, checkNameConstraints, parseNameConstraints,
  readGeneralNames,
} from './name-constraints.js';
import { type ReadName, readName } from './names.js';
import { OID, OID_BASIC_CONSTRAINTS, OID_COMMON_NAME, OID_KP_CLIENT_AUTH, OID_ORGANIZATION, OID_SUBJECT_ALT_NAME } from './oids.js';
import { webCrypto } from './webcrypto.js';
import { type CertificateInfo, parseCertificateChain, parseCertificateParts } from './x509.js';

// ---------------------------------------------------------------- fingerprints

/** Digests accepted for fingerprints (tlsproxy_tls_fingerprint_digest). */
export type FingerprintDigest = 'md5' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export const FINGERPRINT_DIGESTS: readonly FingerprintDigest[] = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

const DIGEST_FUNCTIONS: Record<FingerprintDigest, (data: Uint8Array) => Uint8Array> = {
  md5: (d) => md5(d),
  sha1: (d) => sha1(d),
  sha224: (d) => sha224(d),
  sha256: (d) => sha256(d),
  sha384: (d) => sha384(d),
  sha512: (d) => sha512(d),
};

/**
 * A digest name as OpenSSL's EVP_get_digestbyname() takes it, case
 * insensitive ("sha256", "SHA256", "SHA2-256", "sha-256", "md5"...), or
 * undefined when it is not one we provide.
 */
export function parseFingerprintDigest(name: string): FingerprintDigest | undefined {
  const n = name.trim().toLowerCase().replace(/^sha2-/, 'sha').replace(/^sha-/, 'sha');
  return (FINGERPRINT_DIGESTS as readonly string[]).includes(n) ? (n as FingerprintDigest) : undefined;
}

/** Postfix's text form of a digest: upper-case hex byte pairs joined by ':' (tls_digest_encode). */
export function digestText(data: Uint8Array, digest: FingerprintDigest): string {
  return hex(DIGEST_FUNCTIONS[digest](data), ':').toUpperCase();
}

// ---------------------------------------------------------------- certificates

/** A certificate prepared for path validation. */
export interface VerifiableCertificate {
  readonly der: Uint8Array;
  readonly info: CertificateInfo;
  /** DER of the subject and issuer Names, exactly as encoded. */
  readonly subjectDer: Uint8Array;
  readonly issuerDer: Uint8Array;
  /** Canonical (X509_NAME_cmp-like) forms, for issuer matching. */
  readonly subjectKey: string;
  readonly issuerKey: string;
  /** First commonName of the subject / issuer (tls_text_name), '' when none or unprintable. */
  readonly subjectCN: string;
  /** Issuer CN, else issuer O (tls_issuer_CN). */
  readonly issuerCN: string;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signatureParams: asn1js.BaseBlock | undefined;
  readonly signature: Uint8Array;
  /** OIDs of all extensions, and of the critical ones. */
  readonly extensions: readonly string[];
  readonly critical: readonly string[];
  /** The subject as read for name constraints. */
  readonly subjectName: ReadName;
  /** subjectAltName entries (all forms); 'invalid' when the extension does not decode as GeneralNames. */
  readonly altNames: readonly GeneralName[] | 'invalid';
  /** nameConstraints (RFC 5280 §4.2.1.10), when present; 'invalid' when it does not decode. */
  readonly nameConstraints?: NameConstraints | 'invalid';
}

/** Prepares a DER certificate; throws a CertificateError (without source) when it is malformed. */
export function prepareCertificate(der: Uint8Array): VerifiableCertificate {
  const parts = parseCertificateParts(der);
  const { subjectDer, issuerDer } = parts;
  const subject = readName(subjectDer, 'subject');
  const issuer = readName(issuerDer, 'issuer');
  const extValue = (id: string): Uint8Array | undefined => parts.extensions.find((x) => x.id === id)?.value;
  const san = extValue(OID_SUBJECT_ALT_NAME);
  const nc = extValue(OID_NAME_CONSTRAINTS);
  return {
    der,
    info: parts.info,
    subjectDer,
    issuerDer,
    subjectKey: subject.canonical,
    issuerKey: issuer.canonical,
    subjectCN: subject.first(OID_COMMON_NAME),
    issuerCN: issuer.first(OID_COMMON_NAME) || issuer.first(OID_ORGANIZATION),
    tbs: parts.tbs,
    signatureAlgorithm: parts.info.signatureAlgorithm,
    signatureParams: parts.signatureParams,
    signature: parts.signature,
    extensions: parts.extensions.map((e) => e.id),
    critical: parts.extensions.filter((e) => e.critical).map((e) => e.id),
    subjectName: subject,
    altNames: san ? attempt(() => readGeneralNames(san, 'subjectAltName')) : [],
    ...(nc ? { nameConstraints: attempt(() => parseNameConstraints(nc)) } : {}),
  };
}

function attempt<T>(f: () => T): T | 'invalid' {
  try {
    return f();
  } catch {
    return 'invalid';
  }
}

// ---------------------------------------------------------------- trust store

/** Trust anchors (CAfile and CApath certificates), looked up by subject. */
export class TrustStore {
  readonly anchors: readonly VerifiableCertificate[];
  private readonly bySubject = new Map<string, VerifiableCertificate[]>();

  constructor(anchors: readonly VerifiableCertificate[]) {
    const kept: VerifiableCertificate[] = [];
    for (const a of anchors) {
      if (kept.some((k) => equalBytes(k.der, a.der))) continue;
      kept.push(a);
      const list = this.bySubject.get(a.subjectKey) ?? [];
      list.push(a);
      this.bySubject.set(a.subjectKey, list);
    }
    this.anchors = kept;
  }

  /** Anchors whose subject is `name` (canonical form). */
  withSubject(name: string): readonly VerifiableCertificate[] {
    return this.bySubject.get(name) ?? [];
  }

  /** The anchor that is this very certificate (same bytes, or same subject and key). */
  find(cert: VerifiableCertificate): VerifiableCertificate | undefined {
    return this.withSubject(cert.subjectKey).find((a) => equalBytes(a.der, cert.der) || equalBytes(a.info.spki, cert.info.spki));
  }

  get size(): number {
    return this.anchors.length;
  }
}

/**
 * Every certificate in a PEM text (a CAfile, or one file of a CApath),
 * prepared as trust anchors. `source` labels errors ("tlsproxy_tls_CAfile=/etc/ca.pem").
 */
export function parseTrustAnchors(pemText: string, source: string): VerifiableCertificate[] {
  const ders = parseCertificateChain(pemText, source);
  return ders.map((der, i) => {
    try {
      return prepareCertificate(der);
    } catch (e) {
      throw withSource(e, source, `certificate ${i + 1} of ${ders.length} is invalid`);
    }
  });
}

// ---------------------------------------------------------------- verification

/** OpenSSL X509_V_ERR_* codes used here, with X509_verify_cert_error_string() texts (OpenSSL 3.0). */
export const X509_ERRORS: Readonly<Record<number, string>> = {
  1: 'unspecified certificate verification error',
  2: 'unable to get issuer certificate',
  6: 'unable to decode issuer public key',
  7: 'certificate signature failure',
  9: 'certificate is not yet valid',
  10: 'certificate has expired',
  18: 'self-signed certificate',
  19: 'self-signed certificate in certificate chain',
  20: 'unable to get local issuer certificate',
  21: 'unable to verify the first certificate',
  22: 'certificate chain too long',
  25: 'path length constraint exceeded',
  26: 'unsuitable certificate purpose',
  34: 'unhandled critical extension',
  41: 'invalid or inconsistent certificate extension',
  47: 'permitted subtree violation',
  48: 'excluded subtree violation',
  49: 'name constraints minimum and maximum not supported',
  51: 'unsupported name constraint type',
  52: 'unsupported or invalid name constraint syntax',
  53: 'unsupported or invalid name syntax',
  66: 'EE certificate key too weak',
  67: 'CA certificate key too weak',
  68: 'CA signature digest algorithm too weak',
  79: 'invalid CA certificate',
};

const E = {
  UNSPECIFIED: 1,
  UNABLE_TO_GET_ISSUER_CERT: 2,
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 6,
  CERT_SIGNATURE_FAILURE: 7,
  CERT_NOT_YET_VALID: 9,
  CERT_HAS_EXPIRED: 10,
  DEPTH_ZERO_SELF_SIGNED_CERT: 18,
  SELF_SIGNED_CERT_IN_CHAIN: 19,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 20,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 21,
  CERT_CHAIN_TOO_LONG: 22,
  PATH_LENGTH_EXCEEDED: 25,
  INVALID_PURPOSE: 26,
  UNHANDLED_CRITICAL_EXTENSION: 34,
  INVALID_EXTENSION: 41,
  PERMITTED_VIOLATION: 47,
  EXCLUDED_VIOLATION: 48,
  SUBTREE_MINMAX: 49,
  UNSUPPORTED_CONSTRAINT_TYPE: 51,
  UNSUPPORTED_CONSTRAINT_SYNTAX: 52,
  UNSUPPORTED_NAME_SYNTAX: 53,
  EE_KEY_TOO_SMALL: 66,
  CA_KEY_TOO_SMALL: 67,
  CA_MD_TOO_WEAK: 68,
  INVALID_CA: 79,
} as const;

/** The TLS alert a strict server sends for a verification error (OpenSSL's ssl_verify_alarm_type, within what the engine takes). */
export type VerifyAlert = 'bad_certificate' | 'unsupported_certificate' | 'certificate_expired' | 'certificate_unknown' | 'unknown_ca';

/** OpenSSL 3.0 ssl_x509err2alert() (statem_lib.c x509table), restricted to the codes we produce. */
function alertFor(code: number): VerifyAlert {
  switch (code) {
    case E.UNABLE_TO_GET_ISSUER_CERT:
    case E.UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case E.UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case E.DEPTH_ZERO_SELF_SIGNED_CERT:
    case E.SELF_SIGNED_CERT_IN_CHAIN:
    case E.CERT_CHAIN_TOO_LONG:
    case E.PATH_LENGTH_EXCEEDED:
    case E.INVALID_CA:
      return 'unknown_ca';
    case E.CERT_HAS_EXPIRED:
      return 'certificate_expired';
    case E.INVALID_PURPOSE:
      return 'unsupported_certificate';
    case E.CERT_NOT_YET_VALID:
    case E.UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    case E.CERT_SIGNATURE_FAILURE: // OpenSSL: decrypt_error
    case E.CA_MD_TOO_WEAK:
    case E.UNHANDLED_CRITICAL_EXTENSION:
    case E.PERMITTED_VIOLATION:
    case E.EXCLUDED_VIOLATION:
    case E.UNSUPPORTED_CONSTRAINT_TYPE:
    case E.UNSUPPORTED_CONSTRAINT_SYNTAX:
    case E.UNSUPPORTED_NAME_SYNTAX:
    case E.EE_KEY_TOO_SMALL:
    case E.CA_KEY_TOO_SMALL:
      return 'bad_certificate';
    default:
      return 'certificate_unknown';
  }
}

/** Why a chain is not trusted, as Postfix's tls_log_verify_error() words it. */
export interface VerifyError {
  /** OpenSSL X509_V_ERR_* code. */
  readonly code: number;
  /** OpenSSL's text for the code. */
  readonly text: string;
  /** Depth of the certificate at fault (0 = the client's own). */
  readonly depth: number;
  /** Subject of the certificate at fault. */
  readonly subject: string;
  /** Postfix's PURPOSE word: `client` for the leaf, `CA` above it. */
  readonly purpose: 'client' | 'CA';
  /** Whether Postfix starts the line with the purpose word ("client certificate verification failed ..."). */
  readonly prefixed: boolean;
  /** The text after "certificate verification failed for <endpt>: ". */
  readonly reason: string;
  readonly alert: VerifyAlert;
}

/** One call of the verify callback, for the `depth=<n> verify=<0/1> subject=<DN>` lines. */
export interface DepthReport {
  readonly depth: number;
  readonly ok: boolean;
  readonly subject: string;
}

export interface ChainVerification {
  readonly trusted: boolean;
  readonly error?: VerifyError;
  /** The chain as built (leaf first), ending in the anchor when trusted. */
  readonly chain: readonly VerifiableCertificate[];
  /** Depth lines in callback order (reports deeper than the limit are not logged, as in Postfix). */
  readonly depthReports: readonly DepthReport[];
  readonly leaf: VerifiableCertificate;
  /** Public-key (signature verification) operations this verification made. */
  readonly publicKeyOperations: number;
}

/** OpenSSL security level 2 (112-bit security): the default of tlsproxy_tls_ccert_rsa_min_bits. */
export const DEFAULT_MIN_RSA_BITS = 2048;
/** Largest RSA modulus we verify with, in the chain or for CertificateVerify. */
export const MAX_VERIFY_RSA_BITS = 8192;
/** Largest RSA public exponent we verify with (a large exponent makes each operation as slow as a private one). */
export const MAX_RSA_EXPONENT = 2 ** 32;

export interface VerifyOptions {
  readonly anchors: TrustStore;
  /** Postfix ccert_verifydepth: certificates deeper than this (leaf = 0) make the chain too long. Default 9. */
  readonly verifyDepth?: number;
  /** Verification time (default: now). */
  readonly now?: Date;
  /** Smallest RSA modulus in the chain, in bits (default DEFAULT_MIN_RSA_BITS): 66 at the leaf, 67 at a CA below it. */
  readonly minRsaBits?: number;
}

/** Hard bound on the chain we build (client certificates + anchors), whatever the depth limit. */
const MAX_BUILT_CHAIN = 32;
/** Signature checks spent telling apart several trust anchors with the same name and key identifier, per verification. */
const MAX_ANCHOR_PROBES = 4;

/** Postfix's line for a verification error: "[client ]certificate verification failed for <endpt>: <reason>". */
export function verificationFailureText(error: VerifyError, endpoint: string): string {
  return `${error.prefixed ? `${error.purpose} ` : ''}certificate verification failed for ${endpoint}: ${error.reason}`;
}

function makeError(code: number, depth: number, cert: VerifiableCertificate | undefined, verifyDepth: number): VerifyError {
  const purpose = depth > 0 ? 'CA' : 'client';
  const text = X509_ERRORS[code] ?? `error number ${code}`;
  let reason: string;
  let prefixed = false;
  switch (code) {
    case E.DEPTH_ZERO_SELF_SIGNED_CERT:
      reason = 'self-signed certificate';
      break;
    case E.UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case E.SELF_SIGNED_CERT_IN_CHAIN:
      reason = `untrusted issuer ${printable(cert?.info.issuer ?? '<unknown>')}`;
      break;
    case E.CERT_NOT_YET_VALID:
      reason = 'certificate not yet valid';
      prefixed = true;
      break;
    case E.CERT_HAS_EXPIRED:
      reason = 'certificate has expired';
      prefixed = true;
      break;
    case E.INVALID_PURPOSE:
      reason = `not designated for use as a ${purpose} certificate`;
      break;
    case E.CERT_CHAIN_TOO_LONG:
      // Postfix prints depth - 1: the first depth beyond the limit is verifydepth + 1.
      reason = `certificate chain longer than limit(${Math.min(depth - 1, verifyDepth)})`;
      break;
    default:
      reason = `num=${code}:${text}`;
      prefixed = true;
  }
  return { code, text, depth, subject: cert?.info.subject ?? '', purpose, prefixed, reason, alert: alertFor(code) };
}

/** Postfix printable(buf, '?'): control characters become '?'. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, '?');
}

/**
 * Why an RSA key is not used at all (public exponent even, below 3 or
 * above 2^32, modulus above MAX_VERIFY_RSA_BITS), or undefined.
 */
export function unusableRsaKey(info: CertificateInfo): string | undefined {
  if (info.keyAlgorithm !== 'rsa') return undefined;
  if (info.keyBits > MAX_VERIFY_RSA_BITS) return `RSA key of ${info.keyBits} bits is larger than ${MAX_VERIFY_RSA_BITS} bits`;
  const e = info.rsaPublicExponent;
  if (!e || e.length === 0) return 'RSA key without a public exponent';
  if (e.length > 5) return 'RSA public exponent is larger than 2^32';
  let v = 0;
  for (const b of e) v = v * 256 + b;
  if (v > MAX_RSA_EXPONENT) return 'RSA public exponent is larger than 2^32';
  if (v < 3 || v % 2 === 0) return `RSA public exponent ${v} is not an odd number of 3 or more`;
  return undefined;
}

/**
 * Verifies a client chain (leaf first, DER). Throws a CertificateError when
 * a certificate cannot be decoded at all, or the leaf's key is one we will
 * not verify with (a TLS bad_certificate); any other problem is a verdict.
 */
export async function verifyClientChain(chainDer: readonly Uint8Array[], options: VerifyOptions): Promise<ChainVerification> {
  if (chainDer.length === 0) throw new CertificateError(undefined, 'empty certificate chain');
  const presented = chainDer.map((der, i) => {
    try {
      return prepareCertificate(der);
    } catch (e) {
      const m = e instanceof CertificateError ? e.detail : (e as Error).message;
      throw new CertificateError(undefined, `${i === 0 ? 'client certificate' : `certificate ${i + 1} of the client chain`}: ${m}`);
    }
  });
  const verifyDepth = options.verifyDepth ?? 9;
  const now = options.now ?? new Date();
  const minRsaBits = options.minRsaBits ?? DEFAULT_MIN_RSA_BITS;
  const store = options.anchors;
  const sig = new SignatureChecker();
  const leaf = presented[0]!;
  const unusable = unusableRsaKey(leaf.info);
  if (unusable) throw new CertificateError(undefined, `client certificate: ${unusable}`);

  const chain: VerifiableCertificate[] = [leaf];

  // ---- reports through Postfix's callback
  let kept: VerifyError | undefined;
  const depthReports: DepthReport[] = [];
  const record = (code: number, depth: number, cert: VerifiableCertificate | undefined) => {
    if (kept && kept.depth <= depth) return;
    kept = makeError(code, depth, cert, verifyDepth);
  };
  const report = (depth: number, code: number) => {
    const cert = chain[depth];
    if (depth > verifyDepth) {
      // tls_verify_certificate_callback: "depth > max_depth" -> chain too long, nothing logged.
      record(E.CERT_CHAIN_TOO_LONG, depth, cert);
      return;
    }
    if (code !== 0) record(code, depth, cert);
    let ok = code === 0;
    if (depth === 0) ok = kept === undefined;
    depthReports.push({ depth, ok, subject: printable(cert?.info.subject ?? '<unknown>') });
  };

  // ---- 0. the leaf's key (X509_verify_cert: check_key_level(ctx->cert) before build_chain)
  if (leaf.info.keyAlgorithm === 'rsa' && leaf.info.keyBits < minRsaBits) report(0, E.EE_KEY_TOO_SMALL);

  // ---- 1. build_chain, without signatures
  /** Index in `chain` of the first certificate that came from the trust store (chain.length if none). */
  let firstTrusted = Number.POSITIVE_INFINITY;
  let trusted = false;
  const untrusted = presented.slice(1);
  const maxLength = Math.min(MAX_BUILT_CHAIN, verifyDepth + 2);
  for (;;) {
    const cur = chain[chain.length - 1]!;
    if (isSelfSigned(cur)) {
      if (chain.length - 1 >= firstTrusted) {
        trusted = true;
      } else {
        const anchor = store.find(cur);
        if (anchor) {
          chain[chain.length - 1] = anchor;
          firstTrusted = Math.min(firstTrusted, chain.length - 1);
          trusted = true;
        }
      }
      break;
    }
    if (chain.length >= maxLength) break;
    const fromStore = await pickIssuer(cur, store.withSubject(cur.issuerKey), now, sig);
    if (fromStore) {
      chain.push(fromStore);
      firstTrusted = Math.min(firstTrusted, chain.length - 1);
      continue;
    }
    // Once in the trust store, the chain continues there only.
    if (chain.length - 1 >= firstTrusted) break;
    const candidates = untrusted.filter((c) => c.subjectKey === cur.issuerKey && !chain.includes(c));
    const fromPeer = await pickIssuer(cur, candidates, now);
    if (!fromPeer) break;
    chain.push(fromPeer);
  }

  const top = chain.length - 1;
  if (!trusted) {
    const topSelfSigned = isSelfSigned(chain[top]!);
    const code = topSelfSigned ? (top === 0 ? E.DEPTH_ZERO_SELF_SIGNED_CERT : E.SELF_SIGNED_CERT_IN_CHAIN)
      : top >= firstTrusted ? E.UNABLE_TO_GET_ISSUER_CERT
      : E.UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
    report(top, code);
  }

  // ---- 2. check_extensions (leaf first)
  let plen = 0;
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    const unhandled = c.critical.find((o) => !HANDLED_CRITICAL.has(o));
    if (unhandled !== undefined) report(i, E.UNHANDLED_CRITICAL_EXTENSION);
    if (c.nameConstraints === 'invalid' || c.altNames === 'invalid') report(i, E.INVALID_EXTENSION);
    if (i > 0) {
      const ca = checkCa(c, isSelfSigned(c));
      // OpenSSL: X509_V_FLAG_X509_STRICT is implicit for intermediate CAs.
      if (ca === 0 || (i + 1 < chain.length && ca !== 1)) report(i, E.INVALID_CA);
    }
    if (!purposeOk(c, i > 0, isSelfSigned(c))) report(i, E.INVALID_PURPOSE);
    if (i > 1 && c.info.isCA && c.info.pathLength !== undefined && plen > c.info.pathLength) report(i, E.PATH_LENGTH_EXCEEDED);
    if (i > 0 && !c.info.selfIssued) plen++;
  }

  // ---- 2b. check_auth_level: issuer keys (the leaf's was checked first)
  for (let i = 1; i < chain.length; i++) {
    const c = chain[i]!;
    if (c.info.keyAlgorithm === 'rsa' && c.info.keyBits < minRsaBits) report(i, E.CA_KEY_TOO_SMALL);
  }

  // ---- 3. internal_verify (top down): signatures, then times
  let n = top;
  let issuer = chain[n]!;
  let subject: VerifiableCertificate;
  if (isSelfSigned(issuer)) {
    subject = issuer;
  } else if (n === 0) {
    // An incomplete chain of one: nothing to check the leaf's signature with.
    report(0, E.UNABLE_TO_VERIFY_LEAF_SIGNATURE);
    subject = issuer;
  } else {
    n--;
    subject = chain[n]!;
  }
  while (n >= 0) {
    // A link deeper than the limit is reported as too long whatever its signature: not worth an operation.
    if (subject !== issuer && n <= verifyDepth) {
      const r = await sig.check(subject, issuer);
      if (r === 'bad-key') report(n + 1, E.UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY);
      else if (r === 'weak') report(n, E.CA_MD_TOO_WEAK);
      else if (r !== 'ok') report(n, E.CERT_SIGNATURE_FAILURE);
    }
    if (now.getTime() < subject.info.notBefore.getTime()) report(n, E.CERT_NOT_YET_VALID);
    if (now.getTime() > subject.info.notAfter.getTime()) report(n, E.CERT_HAS_EXPIRED);
    report(n, 0);
    n--;
    if (n >= 0) {
      issuer = subject;
      subject = chain[n]!;
    }
  }

  // ---- 4. check_name_constraints (RFC 5280 §4.2.1.10), top down
  const budget = new NameCheckBudget();
  for (let i = top; i >= 0; i--) {
    const x = chain[i]!;
    // Self-issued CA certificates are not subject to the constraints (§6.1.3 (b)), unless last.
    if (i !== 0 && x.info.selfIssued) continue;
    if (x.altNames === 'invalid') continue; // reported as 41
    for (let j = top; j > i; j--) {
      const nc = chain[j]!.nameConstraints;
      if (nc === undefined || nc === 'invalid') continue; // 'invalid': reported as 41 at j
      const rv = checkNameConstraints({ subject: x.subjectName, altNames: x.altNames }, nc, i === 0, budget);
      if (rv !== 0) {
        report(i, rv);
        break;
      }
    }
  }

  const error = kept as VerifyError | undefined;
  return {
    trusted: trusted && error === undefined,
    ...(error ? { error } : {}),
    chain,
    depthReports,
    leaf,
    publicKeyOperations: sig.operations,
  };
}

/** Critical extensions we process (OpenSSL's X509_supported_extension() list). */
const HANDLED_CRITICAL = new Set([
  '2.16.840.1.113730.1.1', // netscape-cert-type
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  OID_NAME_CONSTRAINTS, // nameConstraints, RFC 5280 §4.2.1.10 (name-constraints.ts)
  '2.5.29.32', // certificatePolicies (not processed: no policy checking requested, as in Postfix)
  '2.5.29.37', // extKeyUsage
  '2.5.29.33', // policyMappings
  '2.5.29.36', // policyConstraints
  '2.5.29.54', // inhibitAnyPolicy
  '1.3.6.1.5.5.7.1.14', // proxyCertInfo (proxy certificates are refused by purpose/CA checks anyway)
]);

/**
 * X509_check_ca(): 1 = a CA by basicConstraints, 3 = a v1 self-signed root,
 * 4 = keyUsage keyCertSign without basicConstraints, 0 = not a CA.
 */
function checkCa(c: VerifiableCertificate, selfSigned: boolean): number {
  const info = c.info;
  if (info.keyUsage && !info.keyUsage.includes('keyCertSign')) return 0;
  if (c.extensions.includes(OID_BASIC_CONSTRAINTS)) return info.isCA ? 1 : 0;
  if (info.version === 1 && selfSigned) return 3;
  if (info.keyUsage) return 4;
  return 0;
}

/** X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, ca). */
function purposeOk(c: VerifiableCertificate, ca: boolean, selfSigned: boolean): boolean {
  const info = c.info;
  if (info.extKeyUsage && !info.extKeyUsage.includes(OID_KP_CLIENT_AUTH)) return false;
  if (ca) return checkCa(c, selfSigned) !== 0;
  // The client signs CertificateVerify: keyUsage, when present, must allow signatures.
  if (info.keyUsage && !info.keyUsage.includes('digitalSignature')) return false;
  return true;
}

/** Key identifier check (X509_check_akid, key identifier part). */
function akidMatches(child: VerifiableCertificate, issuer: VerifiableCertificate): boolean {
  const aki = child.info.authorityKeyIdentifier;
  const ski = issuer.info.subjectKeyIdentifier;
  return !aki || !ski || equalBytes(aki, ski);
}

/** Names, key identifiers and the key type say `issuer` may have issued `child` (OpenSSL x509_likely_issued). */
function likelyIssued(child: VerifiableCertificate, issuer: VerifiableCertificate): boolean {
  if (child.issuerKey !== issuer.subjectKey) return false;
  if (!akidMatches(child, issuer)) return false;
  return signatureFitsKey(child.signatureAlgorithm, issuer.info.spki);
}

/**
 * OpenSSL's EXFLAG_SS: self-issued (names equal), its own key identifiers
 * agree, it may sign certificates (keyUsage), and its key fits its signature
 * algorithm. The signature itself is not checked (OpenSSL does not either:
 * it adds nothing for a trust anchor, and an untrusted one fails anyway).
 */
function isSelfSigned(c: VerifiableCertificate): boolean {
  return likelyIssued(c, c) && (!c.info.keyUsage || c.info.keyUsage.includes('keyCertSign'));
}

/** A candidate that may sign certificates: keyUsage (when present) has keyCertSign, basicConstraints (when present) says cA. */
function maySignCertificates(c: VerifiableCertificate): boolean {
  if (c.info.keyUsage && !c.info.keyUsage.includes('keyCertSign')) return false;
  return !c.extensions.includes(OID_BASIC_CONSTRAINTS) || c.info.isCA;
}

/**
 * The issuer of `child` among `candidates`, from names, key identifiers,
 * key type and key usage (no signature): those that may sign certificates
 * first, then OpenSSL's find_issuer() rule (the first valid now, else the
 * one that expires last). With `sig` (trust anchors only, whose number the
 * operator controls), several remaining candidates are told apart by their
 * signature on `child`, within MAX_ANCHOR_PROBES operations per verification.
 */
async function pickIssuer(child: VerifiableCertificate, candidates: readonly VerifiableCertificate[], now: Date, sig?: SignatureChecker): Promise<VerifiableCertificate | undefined> {
  const likely = candidates.filter((c) => c !== child && likelyIssued(child, c));
  if (likely.length === 0) return undefined;
  let pool = likely.filter(maySignCertificates);
  if (pool.length === 0) pool = likely;
  if (sig && pool.length > 1) {
    const verifying: VerifiableCertificate[] = [];
    for (const c of pool) {
      if (!sig.probe()) break;
      if ((await sig.check(child, c)) === 'ok') verifying.push(c);
    }
    if (verifying.length > 0) pool = verifying;
  }
  const valid = (c: VerifiableCertificate) => now >= c.info.notBefore && now <= c.info.notAfter;
  return pool.find(valid) ?? pool.reduce((a, b) => (b.info.notAfter > a.info.notAfter ? b : a));
}

// ---------------------------------------------------------------- signatures

const HASH_BY_OID: Record<string, string> = { [OID.sha1]: 'SHA-1', [OID.sha256]: 'SHA-256', [OID.sha384]: 'SHA-384', [OID.sha512]: 'SHA-512' };
const CURVES: Record<string, { name: string; size: number }> = {
  [OID.p256]: { name: 'P-256', size: 32 },
  [OID.p384]: { name: 'P-384', size: 48 },
  [OID.p521]: { name: 'P-521', size: 66 },
};

type SignatureResult = 'ok' | 'bad' | 'bad-key' | 'weak';

const RSA_SIGNATURES = new Set<string>([OID.md5WithRSA, OID.sha1WithRSA, OID.sha256WithRSA, OID.sha384WithRSA, OID.sha512WithRSA, OID.rsassaPss]);
const ECDSA_SIGNATURES = new Set<string>([OID.ecdsaSha1, OID.ecdsaSha256, OID.ecdsaSha384, OID.ecdsaSha512]);

/** The key in `spki` is of the kind the signature algorithm uses (OpenSSL check_sig_alg_match). */
function signatureFitsKey(signatureAlgorithm: string, spki: Uint8Array): boolean {
  let key: SpkiParts;
  try {
    key = spkiParts(spki);
  } catch {
    return false;
  }
  if (RSA_SIGNATURES.has(signatureAlgorithm)) return key.algorithm === OID.rsaEncryption || key.algorithm === OID.rsassaPss;
  if (ECDSA_SIGNATURES.has(signatureAlgorithm)) return key.algorithm === OID.ecPublicKey;
  if (signatureAlgorithm === OID.ed25519) return key.algorithm === OID.ed25519;
  return false;
}

/**
 * Signature checks with a per-verification memo (a link is verified once,
 * however often it is asked about) and a count of the public-key operations
 * made. RSA issuer keys we will not use (unusableRsaKey) cost nothing: 'bad-key'.
 */
class SignatureChecker {
  private readonly memo = new Map<string, Promise<SignatureResult>>();
  private readonly ids = new WeakMap<VerifiableCertificate, number>();
  private next = 0;
  private probes = 0;
  /** Public-key operations made. */
  operations = 0;

  /** Whether one more anchor may be told apart by its signature (MAX_ANCHOR_PROBES). */
  probe(): boolean {
    return ++this.probes <= MAX_ANCHOR_PROBES;
  }

  check(child: VerifiableCertificate, issuer: VerifiableCertificate): Promise<SignatureResult> {
    const key = `${this.id(child)}/${this.id(issuer)}`;
    let r = this.memo.get(key);
    if (!r) {
      if (unusableRsaKey(issuer.info)) {
        r = Promise.resolve('bad-key' as const);
      } else {
        r = verifySignature(child, issuer.info.spki, () => this.operations++).catch(() => 'bad' as const);
      }
      this.memo.set(key, r);
    }
    return r;
  }

  private id(c: VerifiableCertificate): number {
    let v = this.ids.get(c);
    if (v === undefined) {
      v = this.next++;
      this.ids.set(c, v);
    }
    return v;
  }
}

interface SpkiParts {
  algorithm: string;
  curve?: string;
}

function spkiParts(spki: Uint8Array): SpkiParts {
  const items = sequence(decodeDer(spki, 'subjectPublicKeyInfo'), 'subjectPublicKeyInfo', 2, 2);
  const alg = sequence(items[0], 'subjectPublicKeyInfo algorithm', 1, 2);
  const algorithm = oid(alg[0], 'subjectPublicKeyInfo algorithm');
  const params = alg[1];
  return isUniversal(params, TAG.OID) ? { algorithm, curve: oid(params, 'namedCurve') } : { algorithm };
}

/** Checks `child`'s signature with the public key `issuerSpki`. */
export async function verifySignature(child: VerifiableCertificate, issuerSpki: Uint8Array, counted: () => void = () => {}): Promise<SignatureResult> {
  const subtle = webCrypto().subtle;
  let key: SpkiParts;
  try {
    key = spkiParts(issuerSpki);
  } catch {
    return 'bad-key';
  }
  const data = child.tbs.slice();
  const signature = child.signature;
  const importKey = async (params: Algorithm | RsaHashedImportParams | EcKeyImportParams): Promise<CryptoKey | undefined> => {
    try {
      return await subtle.importKey('spki', issuerSpki.slice(), params, false, ['verify']);
    } catch {
      return undefined;
    }
  };
  switch (child.signatureAlgorithm) {
    case OID.md5WithRSA:
    case OID.sha1WithRSA:
    case OID.ecdsaSha1:
      return 'weak';
    case OID.sha256WithRSA:
    case OID.sha384WithRSA:
    case OID.sha512WithRSA: {
      if (key.algorithm !== OID.rsaEncryption) return 'bad';
      const hash = { [OID.sha256WithRSA]: 'SHA-256', [OID.sha384WithRSA]: 'SHA-384', [OID.sha512WithRSA]: 'SHA-512' }[child.signatureAlgorithm];
      const k = await importKey({ name: 'RSASSA-PKCS1-v1_5', hash });
      if (!k) return 'bad-key';
      counted();
      return (await subtle.verify({ name: 'RSASSA-PKCS1-v1_5' }, k, signature.slice(), data)) ? 'ok' : 'bad';
    }
    case OID.rsassaPss: {
      if (key.algorithm !== OID.rsaEncryption && key.algorithm !== OID.rsassaPss) return 'bad';
      const pss = pssParams(child.signatureParams);
      if (!pss) return 'bad';
      if (pss.hash === 'SHA-1') return 'weak';
      const k = await importKey({ name: 'RSA-PSS', hash: pss.hash });
      if (!k) return 'bad-key';
      counted();
      return (await subtle.verify({ name: 'RSA-PSS', saltLength: pss.saltLength }, k, signature.slice(), data)) ? 'ok' : 'bad';
    }
    case OID.ecdsaSha256:
    case OID.ecdsaSha384:
    case OID.ecdsaSha512: {
      if (key.algorithm !== OID.ecPublicKey) return 'bad';
      const curve = key.curve ? CURVES[key.curve] : undefined;
      if (!curve) return 'bad-key';
      const hash = { [OID.ecdsaSha256]: 'SHA-256', [OID.ecdsaSha384]: 'SHA-384', [OID.ecdsaSha512]: 'SHA-512' }[child.signatureAlgorithm];
      const raw = ecdsaRaw(signature, curve.size);
      if (!raw) return 'bad';
      const k = await importKey({ name: 'ECDSA', namedCurve: curve.name });
      if (!k) return 'bad-key';
      counted();
      return (await subtle.verify({ name: 'ECDSA', hash }, k, raw, data)) ? 'ok' : 'bad';
    }
    case OID.ed25519: {
      if (key.algorithm !== OID.ed25519) return 'bad';
      const k = await importKey({ name: 'Ed25519' });
      if (!k) return 'bad-key';
      counted();
      return (await subtle.verify({ name: 'Ed25519' }, k, signature.slice(), data)) ? 'ok' : 'bad';
    }
    default:
      return 'bad';
  }
}

/**
 * RSASSA-PSS-params (RFC 4055 §3.1); WebCrypto needs MGF1 with the same hash and trailerField 1.
 *   SEQUENCE { hashAlgorithm [0] DEFAULT sha1, maskGenAlgorithm [1] DEFAULT mgf1SHA1,
 *              saltLength [2] INTEGER DEFAULT 20, trailerField [3] INTEGER DEFAULT 1 }
 * Anything malformed, out of order or unsupported: undefined (the signature is then 'bad').
 */
function pssParams(params: asn1js.BaseBlock | undefined): { hash: string; saltLength: number } | undefined {
  if (!params) return undefined;
  try {
    const fields = sequence(params, 'RSASSA-PSS-params', 0, 4);
    let hashOid: string = OID.sha1;
    let mgfHashOid: string = OID.sha1;
    let saltLength = 20;
    let trailerField = 1;
    let last = -1;
    for (const f of fields) {
      const tag = [0, 1, 2, 3].find((t) => isContext(f, t));
      if (tag === undefined || tag <= last) return undefined;
      last = tag;
      const inner = elements(f, 'RSASSA-PSS-params field');
      if (inner.length !== 1) return undefined;
      if (tag === 0) hashOid = oid(sequence(inner[0], 'hashAlgorithm', 1, 2)[0], 'hashAlgorithm');
      else if (tag === 1) {
        const mgf = sequence(inner[0], 'maskGenAlgorithm', 2, 2);
        if (oid(mgf[0], 'maskGenAlgorithm') !== OID.mgf1) return undefined;
        mgfHashOid = oid(sequence(mgf[1], 'MGF1 hash', 1, 2)[0], 'MGF1 hash');
      } else if (tag === 2) saltLength = smallInteger(inner[0], 'saltLength');
      else trailerField = smallInteger(inner[0], 'trailerField');
    }
    const hash = HASH_BY_OID[hashOid];
    if (!hash || HASH_BY_OID[mgfHashOid] !== hash || trailerField !== 1) return undefined;
    return { hash, saltLength };
  } catch {
    return undefined;
  }
}

/** ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } to r || s of `size` bytes each. */
function ecdsaRaw(der: Uint8Array, size: number): Uint8Array<ArrayBuffer> | undefined {
  try {
    const [r, s] = sequence(decodeDer(der, 'ECDSA signature'), 'ECDSA signature', 2, 2);
    const out = new Uint8Array(2 * size);
    for (const [k, n] of [[0, r], [1, s]] as const) {
      if (!isUniversal(n, TAG.INTEGER)) return undefined;
      let v = new Uint8Array((n as asn1js.Integer).valueBlock.valueHexView);
      while (v.length > 1 && v[0] === 0) v = v.subarray(1);
      if (v.length > size) return undefined;
      out.set(v, k * size + size - v.length);
    }
    return out;
  } catch {
    return undefined;
  }
}
