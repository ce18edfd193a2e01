/**
 * AEAD record protection over @noble/ciphers (RFC 5116 interface, RFC 8446
 * §5.2 use): the js provider's AES-GCM and ChaCha20-Poly1305, and the
 * webcrypto provider's ChaCha20-Poly1305 (WebCrypto has none). One copy of
 * the nonce and tag checks for both.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH, type AeadAlgorithm, type AeadKey } from './provider.js';

/**
 * The same bytes as a plain Uint8Array (a view, no copy). A host runtime's
 * Uint8Array subclass (socket data on Node) mixed with plain arrays makes
 * noble's block loops polymorphic: measured 2.7x slower Poly1305 in the
 * daemon (bench/README.md).
 */
function plain(x: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(x) === Uint8Array.prototype ? x : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

/** An AeadKey on a copy of `raw` (whose length the caller has checked); `who` prefixes error messages. */
export function nobleAeadKey(algorithm: AeadAlgorithm, raw: Uint8Array, who: string): AeadKey {
  const key = new Uint8Array(raw);
  const make = algorithm === 'CHACHA20-POLY1305' ? chacha20poly1305 : gcm;
  return {
    algorithm,
    seal(nonce, aad, plaintext) {
      if (nonce.length !== AEAD_NONCE_LENGTH) throw new Error(`${who}: AEAD nonce must be 12 bytes`);
      return make(key, plain(nonce), plain(aad)).encrypt(plain(plaintext));
    },
    open(nonce, aad, ciphertextAndTag) {
      // RFC 5116 §2.2: a failed open returns nothing but the failure (the caller sends bad_record_mac).
      if (nonce.length !== AEAD_NONCE_LENGTH || ciphertextAndTag.length < AEAD_TAG_LENGTH) return null;
      try {
        return make(key, plain(nonce), plain(aad)).decrypt(plain(ciphertextAndTag));
      } catch {
        return null;
      }
    },
  };
}
