/**
 * The crypto provider interface: the only place the engine gets primitives.
 *
 * The TLS protocol (record layer, key schedule, state machines) is always
 * the engine's own code; a provider supplies AEAD, hashes, HMAC, key
 * exchange, signatures and randomness. Like rustls's CryptoProvider.
 *
 * Synchronous where it matters for speed and simplicity:
 *  - hashes and HMAC are synchronous (the transcript hash and the key
 *    schedule are computed inline; a WebCrypto provider does them in pure JS,
 *    which is faster than WebCrypto's promises anyway);
 *  - AEAD, key exchange and signatures may return a promise. The record
 *    layer checks for a promise and takes a synchronous fast path when the
 *    provider answers synchronously (node:crypto), so no promise is created
 *    per record there.
 *
 * Providers never see plaintext they are not asked to protect, and never
 * make protocol decisions. Input validation of peer key shares (lengths,
 * point format) is done by the engine before calling `deriveSecret`;
 * providers must still throw on anything they cannot use.
 */

export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

export type HashAlgorithm = 'SHA-256' | 'SHA-384' | 'SHA-512';

export const HASH_LENGTH: Record<HashAlgorithm, number> = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };

/** An incremental hash. `digest()` is a snapshot: the context stays usable. */
export interface HashContext {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
  clone(): HashContext;
}

export type AeadAlgorithm = 'AES-128-GCM' | 'AES-256-GCM' | 'CHACHA20-POLY1305';

export const AEAD_KEY_LENGTH: Record<AeadAlgorithm, number> = {
  'AES-128-GCM': 16,
  'AES-256-GCM': 32,
  'CHACHA20-POLY1305': 32,
};
/** All three AEADs use a 12-byte nonce and a 16-byte tag (RFC 5116, RFC 8439). */
export const AEAD_NONCE_LENGTH = 12;
export const AEAD_TAG_LENGTH = 16;

export interface AeadKey {
  readonly algorithm: AeadAlgorithm;
  /**
   * Every method answers synchronously and has consumed its arguments when
   * it returns: the record layer then reuses its nonce, AAD and header
   * buffers and creates no promise or closure per record.
   */
  readonly synchronous?: boolean;
  /** Returns ciphertext || 16-byte tag. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): MaybePromise<Uint8Array>;
  /**
   * Optional fast path for the record layer: seal `content || trailer` and
   * return `prefix || ciphertext || tag` in one buffer, saving two copies
   * per record. Must equal `prefix || seal(nonce, aad, content || trailer)`.
   */
  sealRecord?(nonce: Uint8Array, aad: Uint8Array, prefix: Uint8Array, content: Uint8Array, trailer: Uint8Array): MaybePromise<Uint8Array>;
  /**
   * Optional, synchronous keys only: as sealRecord, written into `out` at
   * `offset` (prefix.length + content.length + trailer.length + 16 bytes),
   * so that several records share one buffer and one socket write.
   */
  sealRecordInto?(nonce: Uint8Array, aad: Uint8Array, prefix: Uint8Array, content: Uint8Array, trailer: Uint8Array, out: Uint8Array, offset: number): void;
  /** Returns the plaintext, or null when authentication fails. Never throws on bad input. */
  open(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array): MaybePromise<Uint8Array | null>;
  /**
   * Optional fast path for the record layer: as open(), but the plaintext
   * may be written over `ciphertextAndTag` and returned as a view of it (no
   * allocation per record). On failure the buffer's content is undefined.
   * Synchronous providers only.
   */
  openInPlace?(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null;
  /**
   * Optional, synchronous providers only: as open(), the plaintext written
   * to `out` at `offset` (ciphertextAndTag.length - 16 bytes, which must
   * fit) and `ciphertextAndTag` left untouched, so that a caller can
   * decrypt from a buffer it does not own (a shared socket read buffer).
   * False when authentication fails, with no unauthenticated plaintext
   * left in `out` (zeroed, or never written: the tag checked first).
   */
  openInto?(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array, out: Uint8Array, offset: number): boolean;
  /**
   * Optional: the owner is done with this key (its connection is over):
   * zero and release the key material. Every later call throws. Keys
   * without it are dropped by the record layer instead (record.ts).
   */
  forget?(): void;
}

/**
 * An ephemeral key pair for one (EC)DHE exchange. `publicKey` is in TLS wire
 * format: 32 raw bytes for x25519 (RFC 7748), an uncompressed point
 * 0x04||X||Y for the NIST curves (RFC 8446 §4.2.8.2).
 */
export interface KeyShare {
  readonly group: number;
  readonly publicKey: Uint8Array;
  /** The shared secret: raw X25519 output, or the x-coordinate for NIST curves. Throws on an invalid peer key. */
  deriveSecret(peerPublicKey: Uint8Array): MaybePromise<Uint8Array>;
}

/**
 * A key encapsulation mechanism (FIPS 203 ML-KEM-768) as the hybrid TLS 1.3
 * groups use it (draft-ietf-tls-ecdhe-mlkem). The server only encapsulates
 * to the client's encapsulation key; keygen and decapsulate serve clients
 * and known-answer tests. Every provider can share engine/crypto/mlkem.ts.
 */
export interface Kem {
  readonly name: string;
  readonly encapsulationKeyLength: number;
  readonly ciphertextLength: number;
  readonly sharedSecretLength: number;
  /** FIPS 203 §7.2 input checks (length, modulus); false means refuse the key. */
  checkEncapsulationKey(ek: Uint8Array): boolean;
  /** `m`: the 32-byte randomness, for known-answer tests only. Throws on a key that fails the checks. */
  encapsulate(ek: Uint8Array, m?: Uint8Array): MaybePromise<{ ciphertext: Uint8Array; sharedSecret: Uint8Array }>;
  keygen(seed?: Uint8Array): MaybePromise<{ encapsulationKey: Uint8Array; decapsulationKey: Uint8Array }>;
  decapsulate(ciphertext: Uint8Array, dk: Uint8Array): MaybePromise<Uint8Array>;
}

export type KeyAlgorithm = 'rsa' | 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519';

/** A private key ready to sign. Signatures are in TLS wire format (DER for ECDSA). */
export interface SigningKey {
  readonly algorithm: KeyAlgorithm;
  /** Modulus size for RSA, curve size for EC keys. */
  readonly bits: number;
  /**
   * Sign with a TLS SignatureScheme. TLS 1.3 binds ECDSA schemes to curves;
   * `tls12: true` relaxes that as TLS 1.2 does (e.g. ecdsa_secp384r1_sha384 on a P-256 key).
   */
  sign(scheme: number, data: Uint8Array, options?: { tls12?: boolean }): MaybePromise<Uint8Array>;
}

export interface CryptoProvider {
  readonly name: string;

  hash(algorithm: HashAlgorithm): HashContext;
  hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array;

  aeadKey(algorithm: AeadAlgorithm, key: Uint8Array): MaybePromise<AeadKey>;

  /** Groups this provider can do, as NamedGroup values. */
  readonly groups: readonly number[];
  /**
   * A fresh key share for `group`. `privateKey` (raw scalar / 32-byte x25519
   * key) is for deterministic tests such as the RFC 8448 traces only.
   */
  generateKeyShare(group: number, privateKey?: Uint8Array): MaybePromise<KeyShare>;

  /**
   * Finite-field Diffie-Hellman over explicit parameters (RFC 7919 groups or
   * a configured DH parameter file) for the TLS 1.2 DHE suites. `publicKey`
   * is Y as a big-endian integer padded to the length of p; deriveSecret
   * returns Z padded to the length of p (the engine strips leading zeros as
   * RFC 5246 §8.1.2 says). Optional: without it, DHE suites are not offered.
   */
  dhKeyShare?(p: Uint8Array, g: Uint8Array): MaybePromise<KeyShare>;

  /**
   * ML-KEM-768 for the hybrid groups X25519MLKEM768 and SecP256r1MLKEM768
   * (TLS 1.3 only). Optional: without it those groups are not offered.
   * Plug the portable one: `mlKem768` from engine/crypto/mlkem.ts.
   */
  readonly mlKem768?: Kem;

  /** Import a PKCS#8 DER private key. */
  importSigningKey(pkcs8: Uint8Array, algorithm: KeyAlgorithm): MaybePromise<SigningKey>;
  /**
   * Verify a TLS signature (`scheme`, wire format) by the key in a DER
   * SubjectPublicKeyInfo. Returns false for any failure, never throws.
   * With `tls12`, TLS 1.2's rules as for SigningKey.sign: any ECDSA scheme
   * with any EC key, and rsa_pkcs1_sha1 / ecdsa_sha1.
   */
  verify(
    spki: Uint8Array,
    scheme: number,
    data: Uint8Array,
    signature: Uint8Array,
    options?: { tls12?: boolean },
  ): MaybePromise<boolean>;

  /** Cryptographically secure random bytes. */
  random(length: number): Uint8Array;
}
