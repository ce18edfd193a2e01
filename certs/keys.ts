/**
 * Private keys: PEM in, normalised PKCS#8 out.
 *
 * Accepted: PKCS#8 PrivateKeyInfo / OneAsymmetricKey ("PRIVATE KEY",
 * RFC 5208, RFC 5958), SEC1 ECPrivateKey ("EC PRIVATE KEY", RFC 5915) and
 * PKCS#1 RSAPrivateKey ("RSA PRIVATE KEY", RFC 8017 A.1.2), for RSA
 * (2048 bits and up), ECDSA on P-256/P-384 and Ed25519 (RFC 8410).
 * Whatever the input, the output is a DER PKCS#8 v1 structure that
 * WebCrypto's importKey('pkcs8') takes.
 */
import * as asn1js from 'asn1js';
import type { KeyAlgorithm } from '../engine/crypto/provider.js';
import {
  type Asn1, algorithmIdentifier, bitLength, decodeDer, encode, encodingOf, explicit, isContext, isNull, isUniversal,
  octetBitString, octetString, oid, sequence, smallInteger, TAG, unsignedInteger,
} from './der.js';
import { CertificateError, withSource } from './errors.js';
import {
  type CurveInfo, curveDisplayName, OID_DSA, OID_EC_PUBLIC_KEY, OID_ED25519, OID_RSA_ENCRYPTION, SUPPORTED_CURVES,
  UNSUPPORTED_KEY_ALGORITHMS,
} from './oids.js';
import { type PemBlock, parsePem } from './pem.js';

export interface ParsedPrivateKey {
  algorithm: KeyAlgorithm;
  /** RSA modulus size, or the curve size (256 for Ed25519). */
  bits: number;
  /** DER PKCS#8 PrivateKeyInfo (RFC 5208), version 0, no attributes. */
  pkcs8: Uint8Array;
  /** WebCrypto namedCurve ('P-256' | 'P-384') for ECDSA keys. */
  curveName?: string;
}

export const MIN_RSA_BITS = 2048;
/** The largest modulus WebCrypto implementations accept. */
export const MAX_RSA_BITS = 16384;

const ENCRYPTED = 'encrypted private keys are not supported: decrypt it with openssl pkey';

function fail(detail: string): never {
  throw new CertificateError(undefined, detail);
}

/**
 * Finds the one private key in `pemText` and returns it as PKCS#8. Other
 * blocks (certificates, "EC PARAMETERS") are ignored, so a file holding a
 * key and its certificate chain is fine. Errors are CertificateErrors whose
 * message starts with `source`.
 */
export function parsePrivateKey(pemText: string, source: string): ParsedPrivateKey {
  let blocks: PemBlock[];
  try {
    blocks = parsePem(pemText);
  } catch (e) {
    throw withSource(e, source);
  }
  if (blocks.length === 0) {
    throw new CertificateError(source, pemText.trim() === '' ? 'the file is empty: no private key found'
      : 'no PEM data found: expected a "-----BEGIN PRIVATE KEY-----" block');
  }
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  // Refuse encrypted keys before anything else: the message says what to do.
  for (const b of keys) {
    if (b.label === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/i.test(b.headers['Proc-Type'] ?? '')) {
      throw new CertificateError(source, ENCRYPTED);
    }
  }
  if (keys.length === 0) {
    const labels = [...new Set(blocks.map((b) => b.label))].join(', ');
    throw new CertificateError(source, `no private key found (the file holds: ${labels})`);
  }
  if (keys.length > 1) {
    throw new CertificateError(source, `found ${keys.length} private keys, expected exactly one`);
  }
  const block = keys[0]!;
  try {
    switch (block.label) {
      case 'PRIVATE KEY':
      case 'ANY PRIVATE KEY':
        return fromPkcs8(block.der);
      case 'RSA PRIVATE KEY':
        return fromRsaPrivateKey(block.der);
      case 'EC PRIVATE KEY':
        return fromEcPrivateKey(block.der, undefined);
      case 'DSA PRIVATE KEY':
        return fail('DSA keys are not supported: use an ECDSA, RSA or Ed25519 key');
      case 'OPENSSH PRIVATE KEY':
        return fail('OpenSSH private keys are not supported: convert it with ssh-keygen -p -m PKCS8');
      default:
        return fail(`unsupported private key type "${block.label}": expected "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY"`);
    }
  } catch (e) {
    throw labelled(e, source);
  }
}

/** Parses a DER PKCS#8 private key (as found in a "PRIVATE KEY" block). */
export function parsePrivateKeyDer(der: Uint8Array, source: string): ParsedPrivateKey {
  try {
    return fromPkcs8(der);
  } catch (e) {
    throw labelled(e, source);
  }
}

/** Our own messages are complete; anything else (from asn1js) gets a context. */
function labelled(e: unknown, source: string): CertificateError {
  return e instanceof CertificateError ? withSource(e, source) : withSource(e, source, 'invalid private key');
}

/** RFC 5208 §5 PrivateKeyInfo / RFC 5958 §2 OneAsymmetricKey. */
function fromPkcs8(der: Uint8Array): ParsedPrivateKey {
  const items = sequence(decodeDer(der, 'PKCS#8 PrivateKeyInfo'), 'PKCS#8 PrivateKeyInfo', 3, 5);
  const version = smallInteger(items[0], 'PKCS#8 version');
  if (version > 1) fail(`unknown PKCS#8 version ${version}`);
  const alg = sequence(items[1], 'PKCS#8 privateKeyAlgorithm', 1, 2);
  const algorithm = oid(alg[0], 'PKCS#8 privateKeyAlgorithm');
  const params = alg[1];
  const inner = octetString(items[2], 'PKCS#8 privateKey');
  // items[3..4]: attributes [0] and publicKey [1] (RFC 5958); not needed.
  switch (algorithm) {
    case OID_RSA_ENCRYPTION:
      // RFC 8017 A.1: the parameters are NULL (absent is tolerated).
      if (params !== undefined && !isNull(params)) fail('rsaEncryption parameters must be NULL');
      return fromRsaPrivateKey(inner);
    case OID_EC_PUBLIC_KEY:
      // RFC 5480 §2.1.1: ECParameters, of which we take namedCurve only.
      if (params === undefined) fail('EC private key does not name its curve');
      return fromEcPrivateKey(inner, curveOid(params));
    case OID_ED25519: {
      // RFC 8410 §7: parameters absent, privateKey holds CurvePrivateKey ::= OCTET STRING (32 bytes).
      if (params !== undefined) fail('Ed25519 algorithm identifier must not have parameters');
      const seed = octetString(decodeDer(inner, 'Ed25519 CurvePrivateKey'), 'Ed25519 CurvePrivateKey');
      if (seed.length !== 32) fail(`Ed25519 private key has ${seed.length} bytes, expected 32`);
      const pkcs8 = encodePkcs8(algorithmIdentifier(OID_ED25519), encode(new asn1js.OctetString({ valueHex: seed })));
      return { algorithm: 'ed25519', bits: 256, pkcs8 };
    }
    case OID_DSA:
      return fail('DSA keys are not supported: use an ECDSA, RSA or Ed25519 key');
    default: {
      const name = UNSUPPORTED_KEY_ALGORITHMS[algorithm];
      return fail(name ? `${name} keys are not supported: use an ECDSA (P-256, P-384), RSA or Ed25519 key`
        : `unsupported private key algorithm ${algorithm}: use an ECDSA (P-256, P-384), RSA or Ed25519 key`);
    }
  }
}

/** RFC 8017 A.1.2 RSAPrivateKey. */
function fromRsaPrivateKey(der: Uint8Array): ParsedPrivateKey {
  const root = decodeDer(der, 'RSAPrivateKey');
  const items = sequence(root, 'RSAPrivateKey', 9, 10);
  const version = smallInteger(items[0], 'RSAPrivateKey version');
  if (version !== 0 || items.length !== 9) fail('multi-prime RSA keys are not supported');
  const names = ['modulus', 'publicExponent', 'privateExponent', 'prime1', 'prime2', 'exponent1', 'exponent2', 'coefficient'];
  const values = names.map((n, i) => unsignedInteger(items[i + 1], `RSAPrivateKey ${n}`));
  const bits = bitLength(values[0]!);
  checkRsaBits(bits);
  const e = values[1]!;
  if (bitLength(e) < 2 || (e[e.length - 1]! & 1) === 0) fail('RSA public exponent is invalid');
  const pkcs8 = encodePkcs8(algorithmIdentifier(OID_RSA_ENCRYPTION, new asn1js.Null()), encodingOf(root));
  return { algorithm: 'rsa', bits, pkcs8 };
}

export function checkRsaBits(bits: number): void {
  if (bits < MIN_RSA_BITS) fail(`RSA key of ${bits} bits is too small: at least ${MIN_RSA_BITS} bits are required`);
  if (bits > MAX_RSA_BITS) fail(`RSA key of ${bits} bits is too large: at most ${MAX_RSA_BITS} bits are supported`);
}

/** The curve OID of ECParameters (RFC 5480 §2.1.1; only namedCurve is allowed). */
function curveOid(params: Asn1): string {
  if (isUniversal(params, TAG.OID)) return oid(params, 'EC namedCurve');
  if (isUniversal(params, TAG.SEQUENCE)) {
    fail('explicit EC curve parameters are not supported: use a named curve (openssl ec -param_enc named_curve)');
  }
  if (isNull(params)) fail('implicitly-defined EC curves are not supported');
  return fail('invalid EC parameters');
}

export function supportedCurve(curve: string): CurveInfo {
  const info = SUPPORTED_CURVES[curve];
  if (!info) fail(`EC curve ${curveDisplayName(curve)} is not supported: use P-256 or P-384`);
  return info;
}

/**
 * RFC 5915 §3 ECPrivateKey ::= SEQUENCE { version INTEGER (1), privateKey
 * OCTET STRING, parameters [0] ECParameters OPTIONAL, publicKey [1] BIT
 * STRING OPTIONAL }. `outerCurve` is the curve from the PKCS#8
 * AlgorithmIdentifier when there is one.
 */
function fromEcPrivateKey(der: Uint8Array, outerCurve: string | undefined): ParsedPrivateKey {
  const items = sequence(decodeDer(der, 'ECPrivateKey'), 'ECPrivateKey', 2, 4);
  if (smallInteger(items[0], 'ECPrivateKey version') !== 1) fail('unknown ECPrivateKey version');
  let scalar = octetString(items[1], 'ECPrivateKey privateKey');
  let innerCurve: string | undefined;
  let publicKey: Uint8Array | undefined;
  for (const item of items.slice(2)) {
    if (isContext(item, 0) && innerCurve === undefined && publicKey === undefined) {
      const inner = sequenceOfOne(item, 'ECPrivateKey parameters');
      innerCurve = curveOid(inner);
    } else if (isContext(item, 1) && publicKey === undefined) {
      publicKey = octetBitString(sequenceOfOne(item, 'ECPrivateKey publicKey'), 'ECPrivateKey publicKey');
    } else {
      fail('ECPrivateKey has an unexpected element');
    }
  }
  if (outerCurve !== undefined && innerCurve !== undefined && outerCurve !== innerCurve) {
    fail('EC private key names two different curves');
  }
  const curve = outerCurve ?? innerCurve;
  if (curve === undefined) fail('EC private key does not name its curve');
  const info = supportedCurve(curve);
  // SEC1 §2.3.7: the scalar is a fixed-length octet string; some encoders drop leading zeros.
  if (scalar.length > info.size) fail(`EC private key is ${scalar.length} bytes, more than ${info.size} for ${info.name}`);
  if (scalar.length < info.size) {
    const padded = new Uint8Array(info.size);
    padded.set(scalar, info.size - scalar.length);
    scalar = padded;
  }
  if (scalar.every((b) => b === 0)) fail('EC private key is zero');
  // Keep the public key only in the uncompressed form every WebCrypto takes;
  // without it the implementation recomputes it from the scalar.
  const keep = publicKey !== undefined && publicKey.length === 2 * info.size + 1 && publicKey[0] === 4;
  const ecPrivateKey = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 1 }),
      new asn1js.OctetString({ valueHex: scalar }),
      // parameters [0] omitted: PKCS#8 carries the curve in its AlgorithmIdentifier (as OpenSSL writes it).
      ...(keep ? [explicit(1, new asn1js.BitString({ valueHex: publicKey!, unusedBits: 0 }))] : []),
    ],
  });
  const pkcs8 = encodePkcs8(
    algorithmIdentifier(OID_EC_PUBLIC_KEY, new asn1js.ObjectIdentifier({ value: curve })),
    encode(ecPrivateKey));
  return { algorithm: info.algorithm, bits: info.bits, pkcs8, curveName: info.name };
}

function sequenceOfOne(tagged: Asn1, what: string): Asn1 {
  if (!tagged.idBlock.isConstructed || !(tagged instanceof asn1js.Constructed) || tagged.valueBlock.value.length !== 1) {
    fail(`${what} is malformed`);
  }
  return tagged.valueBlock.value[0] as Asn1;
}

/** RFC 5208 §5: PrivateKeyInfo ::= SEQUENCE { version 0, privateKeyAlgorithm, privateKey OCTET STRING }. */
function encodePkcs8(algorithm: asn1js.Sequence, privateKey: Uint8Array): Uint8Array {
  return encode(new asn1js.Sequence({
    value: [new asn1js.Integer({ value: 0 }), algorithm, new asn1js.OctetString({ valueHex: privateKey })],
  }));
}
