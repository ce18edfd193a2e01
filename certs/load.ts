/**
 * A certificate chain and its private key, checked against each other.
 */
import { CertificateError, withSource } from './errors.js';
import { type ParsedPrivateKey, checkRsaBits, parsePrivateKey } from './keys.js';
import { type CertificateInfo, certificateNames, parseCertificate, parseCertificateChain } from './x509.js';
import { importPrivateKey, importPublicKey, signatureParams, webCrypto } from './webcrypto.js';

export interface LoadedKeyPair {
  /** DER certificates, leaf first. */
  chain: Uint8Array[];
  key: ParsedPrivateKey;
  /** Names the leaf is valid for (certificateNames), lower case. */
  names: string[];
  leaf: CertificateInfo;
  /** Label for logs: the certificate source, and the key source when different. */
  source: string;
}

/** The most certificates accepted in one chain (leaf included). */
export const MAX_CHAIN_LENGTH = 10;

export interface LoadKeyPairOptions {
  certPem: string;
  certSource: string;
  keyPem: string;
  keySource: string;
  /**
   * The key-pair test with the caller's own crypto (the daemon passes its
   * engine provider's): true when a signature by `key` verifies with the
   * leaf's SubjectPublicKeyInfo; throws when the key cannot sign. Absent:
   * WebCrypto does the test (which then has to be loaded: ~0.4 MiB and 5 ms
   * of a start, bench/README.md "Start-up").
   */
  checkPair?: (key: ParsedPrivateKey, spki: Uint8Array) => Promise<boolean>;
}

/**
 * Parses the certificate chain and the private key, and checks that the key
 * belongs to the leaf certificate by signing a random challenge with the
 * private key and verifying it with the certificate's public key.
 */
export async function loadKeyPair(opts: LoadKeyPairOptions): Promise<LoadedKeyPair> {
  const { certSource, keySource } = opts;
  const chain = parseCertificateChain(opts.certPem, certSource);
  if (chain.length > MAX_CHAIN_LENGTH) {
    throw new CertificateError(certSource,
      `the certificate chain has ${chain.length} certificates: at most ${MAX_CHAIN_LENGTH} are supported`);
  }
  const infos = chain.map((der, i) => {
    try {
      return parseCertificate(der);
    } catch (e) {
      throw withSource(e, certSource, `certificate ${i + 1} of ${chain.length} is invalid`);
    }
  });
  const leaf = infos[0]!;
  switch (leaf.keyAlgorithm) {
    case 'dsa':
      throw new CertificateError(certSource, 'DSA certificates are not supported: use an ECDSA, RSA or Ed25519 certificate');
    case 'unknown':
      throw new CertificateError(certSource,
        `certificates with ${leaf.keyAlgorithmName} keys are not supported: use an ECDSA (P-256, P-384), RSA or Ed25519 certificate`);
    case 'rsa':
      try {
        checkRsaBits(leaf.keyBits);
      } catch (e) {
        throw withSource(e, certSource);
      }
      break;
    default:
      break;
  }

  const key = parsePrivateKey(opts.keyPem, keySource);
  const mismatch = (why: string) => new CertificateError(keySource,
    `the private key does not match the certificate in ${certSource} (${why})`);
  if (key.algorithm !== leaf.keyAlgorithm) {
    throw mismatch(`${key.algorithm} key, ${leaf.keyAlgorithm} certificate`);
  }
  if (key.bits !== leaf.keyBits) throw mismatch(`${key.bits}-bit key, ${leaf.keyBits}-bit certificate`);

  let ok: boolean;
  if (opts.checkPair) {
    try {
      ok = await opts.checkPair(key, leaf.spki);
    } catch (e) {
      throw withSource(e, keySource, 'signing with the private key failed');
    }
  } else {
    ok = await webCryptoPairTest(key, leaf.spki, certSource, keySource);
  }
  if (!ok) throw mismatch('a test signature made with the key does not verify with the certificate');

  return {
    chain,
    key,
    names: certificateNames(leaf),
    leaf,
    source: certSource === keySource ? certSource : `${certSource}, ${keySource}`,
  };
}

/** The pair test with WebCrypto: sign a random challenge with `key`, verify it with `spki`. */
async function webCryptoPairTest(key: ParsedPrivateKey, spki: Uint8Array, certSource: string, keySource: string): Promise<boolean> {
  const subtle = webCrypto().subtle;
  let privateKey: CryptoKey;
  let publicKey: CryptoKey;
  try {
    privateKey = await importPrivateKey(key, ['sign']);
  } catch (e) {
    throw withSource(e, keySource, 'the private key cannot be used');
  }
  try {
    publicKey = await importPublicKey(spki, key.algorithm, ['verify']);
  } catch (e) {
    throw withSource(e, certSource, "the certificate's public key cannot be used");
  }
  const challenge = webCrypto().getRandomValues(new Uint8Array(32));
  const params = signatureParams(key.algorithm);
  try {
    const signature = await subtle.sign(params, privateKey, challenge);
    return await subtle.verify(params, publicKey, signature, challenge);
  } catch (e) {
    throw withSource(e, keySource, 'signing with the private key failed');
  }
}
