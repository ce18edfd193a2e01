/**
 * Object identifiers: the one table of certs/ and of the daemon (the
 * PROXY v2 signature-algorithm names come from here too).
 */

// Key algorithms (RFC 8017 A.1, RFC 5480 §2.1.1, RFC 8410 §3, RFC 3279 §2.3.2).
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
export const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_ED25519 = '1.3.101.112';
export const OID_DSA = '1.2.840.10040.4.1';

/** Names of key algorithms we recognise but do not support, for messages. */
export const UNSUPPORTED_KEY_ALGORITHMS: Record<string, string> = {
  [OID_RSASSA_PSS]: 'RSA-PSS (restricted RSA key)',
  '1.3.101.113': 'Ed448',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
  '1.2.840.113549.1.3.1': 'DH',
  '1.2.840.10046.2.1': 'X9.42 DH',
  '1.3.132.1.12': 'ECDH-only EC',
  '1.3.132.1.13': 'ECMQV-only EC',
  '1.2.156.10197.1.301': 'SM2',
  '1.2.643.7.1.1.1.1': 'GOST R 34.10-2012 (256)',
  '1.2.643.7.1.1.1.2': 'GOST R 34.10-2012 (512)',
};

/** Signature, digest and curve OIDs by name (RFC 8017 A.2, RFC 5758 §3.2, RFC 8410 §3, RFC 5480, NIST hashes). */
export const OID = {
  rsaEncryption: OID_RSA_ENCRYPTION,
  md5WithRSA: '1.2.840.113549.1.1.4',
  sha1WithRSA: '1.2.840.113549.1.1.5',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha384WithRSA: '1.2.840.113549.1.1.12',
  sha512WithRSA: '1.2.840.113549.1.1.13',
  rsassaPss: OID_RSASSA_PSS,
  ecdsaSha1: '1.2.840.10045.4.1',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  ecPublicKey: OID_EC_PUBLIC_KEY,
  ed25519: OID_ED25519,
  ed448: '1.3.101.113',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  p521: '1.3.132.0.35',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  mgf1: '1.2.840.113549.1.1.8',
} as const;

/** Signature algorithms as OpenSSL (and HAProxy's PP2_SUBTYPE_SSL_SIG_ALG) name them. */
export const SIGNATURE_ALGORITHM_NAMES: Record<string, string> = {
  [OID.sha1WithRSA]: 'RSA-SHA1',
  [OID.sha256WithRSA]: 'RSA-SHA256',
  [OID.sha384WithRSA]: 'RSA-SHA384',
  [OID.sha512WithRSA]: 'RSA-SHA512',
  [OID.rsassaPss]: 'RSASSA-PSS',
  [OID.ecdsaSha256]: 'ecdsa-with-SHA256',
  [OID.ecdsaSha384]: 'ecdsa-with-SHA384',
  [OID.ecdsaSha512]: 'ecdsa-with-SHA512',
  [OID.ed25519]: 'ED25519',
  [OID.ed448]: 'ED448',
};

// Named curves (RFC 5480 §2.1.1.1, SEC 2).
export const OID_P256 = OID.p256;
export const OID_P384 = OID.p384;

export interface CurveInfo {
  /** WebCrypto namedCurve. */
  name: 'P-256' | 'P-384';
  algorithm: 'ecdsa-p256' | 'ecdsa-p384';
  bits: number;
  /** Field element / scalar size in bytes. */
  size: number;
}

export const SUPPORTED_CURVES: Record<string, CurveInfo> = {
  [OID_P256]: { name: 'P-256', algorithm: 'ecdsa-p256', bits: 256, size: 32 },
  [OID_P384]: { name: 'P-384', algorithm: 'ecdsa-p384', bits: 384, size: 48 },
};

/** Curves we know by name but do not support, with their sizes. */
export const OTHER_CURVES: Record<string, { name: string; bits: number }> = {
  '1.3.132.0.35': { name: 'P-521 (secp521r1)', bits: 521 },
  '1.3.132.0.10': { name: 'secp256k1', bits: 256 },
  '1.3.132.0.33': { name: 'P-224 (secp224r1)', bits: 224 },
  '1.2.840.10045.3.1.1': { name: 'P-192 (prime192v1)', bits: 192 },
  '1.3.36.3.3.2.8.1.1.7': { name: 'brainpoolP256r1', bits: 256 },
  '1.3.36.3.3.2.8.1.1.11': { name: 'brainpoolP384r1', bits: 384 },
  '1.3.36.3.3.2.8.1.1.13': { name: 'brainpoolP512r1', bits: 512 },
  '1.2.156.10197.1.301': { name: 'SM2', bits: 256 },
};

export function curveDisplayName(curveOid: string): string {
  return SUPPORTED_CURVES[curveOid]?.name ?? OTHER_CURVES[curveOid]?.name ?? curveOid;
}

// Certificate extensions (RFC 5280 §4.2.1).
export const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14';
export const OID_KEY_USAGE = '2.5.29.15';
export const OID_SUBJECT_ALT_NAME = '2.5.29.17';
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';
export const OID_EXT_KEY_USAGE = '2.5.29.37';

// Extended key usages (RFC 5280 §4.2.1.12).
export const OID_KP_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_KP_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

// Attribute types (RFC 5280 Appendix A, RFC 4519).
export const OID_COMMON_NAME = '2.5.4.3';
export const OID_ORGANIZATION = '2.5.4.10';

/** OpenSSL short names of DN attribute types, as X509_NAME_oneline() prints them. */
export const DN_SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};
