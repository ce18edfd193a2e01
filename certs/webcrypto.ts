/**
 * WebCrypto access for certs/ (internal): the global `crypto`, and the
 * import/sign parameters for each key algorithm.
 */
import type { KeyAlgorithm } from '../engine/crypto/provider.js';
import { CertificateError } from './errors.js';
import type { ParsedPrivateKey } from './keys.js';

export function webCrypto(): Crypto {
  const c = globalThis.crypto;
  if (!c?.subtle) throw new CertificateError(undefined, 'WebCrypto (globalThis.crypto.subtle) is not available');
  return c;
}

const CURVES: Partial<Record<KeyAlgorithm, string>> = { 'ecdsa-p256': 'P-256', 'ecdsa-p384': 'P-384' };

/** importKey algorithm for a key type (RSA keys are imported for RSASSA-PKCS1-v1_5 with SHA-256). */
export function importParams(algorithm: KeyAlgorithm): RsaHashedImportParams | EcKeyImportParams | Algorithm {
  switch (algorithm) {
    case 'rsa':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    case 'ecdsa-p256':
    case 'ecdsa-p384':
      return { name: 'ECDSA', namedCurve: CURVES[algorithm]! };
    case 'ed25519':
      return { name: 'Ed25519' };
  }
}

/** sign()/verify() parameters matching importParams. */
export function signatureParams(algorithm: KeyAlgorithm): Algorithm | EcdsaParams {
  switch (algorithm) {
    case 'rsa':
      return { name: 'RSASSA-PKCS1-v1_5' };
    case 'ecdsa-p256':
      return { name: 'ECDSA', hash: 'SHA-256' };
    case 'ecdsa-p384':
      return { name: 'ECDSA', hash: 'SHA-384' };
    case 'ed25519':
      return { name: 'Ed25519' };
  }
}

export async function importPrivateKey(key: ParsedPrivateKey, usages: KeyUsage[], extractable = false): Promise<CryptoKey> {
  return webCrypto().subtle.importKey('pkcs8', key.pkcs8.slice(), importParams(key.algorithm), extractable, usages);
}

export async function importPublicKey(spki: Uint8Array, algorithm: KeyAlgorithm, usages: KeyUsage[]): Promise<CryptoKey> {
  return webCrypto().subtle.importKey('spki', spki.slice(), importParams(algorithm), true, usages);
}
