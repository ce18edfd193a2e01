/**
 * certs/: certificates and private keys, PEM text in, structures out.
 * Pure WebCrypto + pkijs/asn1js: no Node APIs, no file access.
 */
export { CertificateError } from './errors.js';
export { type PemBlock, base64Decode, base64Encode, parsePem, toPem } from './pem.js';
export { MAX_RSA_BITS, MIN_RSA_BITS, type ParsedPrivateKey, parsePrivateKey, parsePrivateKeyDer } from './keys.js';
export {
  type CertificateInfo, type CertificateKeyAlgorithm, certificateFingerprint, certificateNames, describeSpki, formatIpv6,
  parseCertificate, parseCertificateChain, publicKeyFingerprint,
} from './x509.js';
export { type LoadKeyPairOptions, type LoadedKeyPair, loadKeyPair, MAX_CHAIN_LENGTH } from './load.js';
export {
  type ClientCertificateOptions, GENERATED_KEY_ALGORITHMS, type GeneratedCa, type GeneratedCertificate,
  type GeneratedKeyAlgorithm, type IssuingCa, type ServerCertificateOptions, type TestPki, generateCa,
  generateClientCertificate, generateServerCertificate, generateTestPki, parseIpAddress,
} from './generate.js';
export { parseDhParams, probablyPrime } from './dh.js';
export { importParams, importPrivateKey, importPublicKey, signatureParams } from './webcrypto.js';
export {
  type ChainVerification, type DepthReport, FINGERPRINT_DIGESTS, type FingerprintDigest, type VerifiableCertificate,
  type VerifyAlert, type VerifyError, type VerifyOptions, TrustStore, X509_ERRORS, digestText, parseFingerprintDigest,
  parseTrustAnchors, prepareCertificate, verificationFailureText, verifyClientChain, DEFAULT_MIN_RSA_BITS, MAX_VERIFY_RSA_BITS,
  unusableRsaKey,
} from './verify.js';
