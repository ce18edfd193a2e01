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
  const checkNonce = (nonce: Uint8Array) => {
    if (nonce.length !== AEAD_NONCE_LENGTH) throw new Error(`${who}: AEAD nonce must be 12 bytes`);
  };
  const base: AeadKey = {
    algorithm,
    // noble computes in the call and keeps nothing: the record layer may reuse its nonce, AAD and header buffers.
    synchronous: true,
    seal(nonce, aad, plaintext) {
      checkNonce(nonce);
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
  if (algorithm !== 'CHACHA20-POLY1305') return base;
  // ChaCha20-Poly1305 takes an output buffer (noble's AES-GCM does not): records are sealed into
  // and opened from the record buffers themselves, without a new array per record. noble checks
  // the tag before it writes any plaintext (RFC 8439 §2.8), so a failed open leaves `out` as it was.
  const openTo = (nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, out: Uint8Array): boolean => {
    if (nonce.length !== AEAD_NONCE_LENGTH || data.length < AEAD_TAG_LENGTH) return false;
    try {
      chacha20poly1305(key, plain(nonce), plain(aad)).decrypt(plain(data), out);
      return true;
    } catch {
      return false;
    }
  };
  const sealTo = (nonce: Uint8Array, aad: Uint8Array, content: Uint8Array, trailer: Uint8Array, out: Uint8Array, at: number): void => {
    checkNonce(nonce);
    const n = content.length + trailer.length;
    const region = plain(out).subarray(at, at + n + AEAD_TAG_LENGTH);
    if (region.length !== n + AEAD_TAG_LENGTH) throw new Error(`${who}: AEAD output too small`);
    region.set(content, 0);
    region.set(trailer, content.length);
    chacha20poly1305(key, plain(nonce), plain(aad)).encrypt(region.subarray(0, n), region);
  };
  return {
    ...base,
    sealRecord(nonce, aad, prefix, content, trailer) {
      const out = new Uint8Array(prefix.length + content.length + trailer.length + AEAD_TAG_LENGTH);
      out.set(prefix, 0);
      sealTo(nonce, aad, content, trailer, out, prefix.length);
      return out;
    },
    sealRecordInto(nonce, aad, prefix, content, trailer, out, offset) {
      plain(out).set(prefix, offset);
      sealTo(nonce, aad, content, trailer, out, offset + prefix.length);
    },
    openInPlace(nonce, aad, data) {
      if (data.length < AEAD_TAG_LENGTH) return null;
      const out = plain(data).subarray(0, data.length - AEAD_TAG_LENGTH);
      return openTo(nonce, aad, data, out) ? out : null;
    },
    openInto(nonce, aad, data, out, offset) {
      if (data.length < AEAD_TAG_LENGTH) return false;
      const len = data.length - AEAD_TAG_LENGTH;
      const region = plain(out).subarray(offset, offset + len);
      if (region.length !== len) throw new Error(`${who}: AEAD output too small`);
      return openTo(nonce, aad, data, region);
    },
  };
}
