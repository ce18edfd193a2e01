/**
 * AEAD over the native addon's EVP contexts (native/tlsproxy_aead.c): one
 * OpenSSL context per key and direction, kept for the key's lifetime, so a
 * record costs the cipher itself plus one call into C, instead of a new
 * node:crypto Cipheriv (context, key schedule, Buffers) per record.
 *
 * The same addon does X25519 (nativeX25519): the private key stays in an
 * OpenSSL EVP_PKEY, the peer's key is imported raw.
 *
 * Optional: where the addon is missing (not built, or an older build
 * without the AEAD functions) or TLSPROXY_NATIVE_AEAD=0 is set, the node
 * provider uses node:crypto's Cipheriv as before. Both produce the same
 * bytes (test/unit/native-aead.test.ts).
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AEAD_KEY_LENGTH, AEAD_TAG_LENGTH, type AeadAlgorithm, type AeadKey } from '../engine/crypto/provider.js';

interface AeadAddon {
  x25519Keygen?(publicOut: Uint8Array): object;
  x25519Derive?(privateKey: object, peer: Uint8Array, out: Uint8Array): boolean;
  aeadCreate(alg: number, key: Uint8Array, encrypt: boolean): object;
  aeadSeal(ctx: object, nonce: Uint8Array, aad: Uint8Array, content: Uint8Array, trailer: Uint8Array, out: Uint8Array, offset: number): void;
  aeadOpen(ctx: object, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): boolean;
  /** Newer builds only: the plaintext into out[offset..], data untouched. */
  aeadOpenInto?(ctx: object, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, out: Uint8Array, offset: number): boolean;
}

const ALG: Record<AeadAlgorithm, number> = { 'AES-128-GCM': 0, 'AES-256-GCM': 1, 'CHACHA20-POLY1305': 2 };
const EMPTY = new Uint8Array(0);

function load(): AeadAddon | undefined {
  if (process.env.TLSPROXY_NATIVE_AEAD === '0') return undefined;
  const here = path.dirname(fileURLToPath(import.meta.url));
  // providers/ in the sources; one level deeper in a compiled tree.
  for (const up of [['..'], ['..', '..']]) {
    const file = path.resolve(here, ...up, 'native', 'build', 'Release', 'tlsproxy_native.node');
    if (!existsSync(file)) continue;
    try {
      const addon = createRequire(import.meta.url)(file) as Partial<AeadAddon>;
      if (typeof addon.aeadCreate === 'function' && typeof addon.aeadSeal === 'function' && typeof addon.aeadOpen === 'function') {
        // One context made and dropped: a runtime whose N-API lacks what the addon uses (type tags
        // on Externals) throws here, and node:crypto does the work instead.
        addon.aeadCreate(0, new Uint8Array(16), true);
        return addon as AeadAddon;
      }
    } catch {
      // unusable build: node:crypto it is
    }
    return undefined;
  }
  return undefined;
}

let addon: AeadAddon | undefined | null = null;

/** The addon's AEAD functions, or undefined (loaded once). */
export function nativeAead(): AeadAddon | undefined {
  if (addon === null) addon = load();
  return addon;
}

/** An AeadKey on native contexts; undefined when the addon is unavailable. */
export function nativeAeadKey(algorithm: AeadAlgorithm, raw: Uint8Array): AeadKey | undefined {
  const n = nativeAead();
  if (!n) return undefined;
  const alg = ALG[algorithm];
  // Contexts are made on first use: a record layer key seals or opens, rarely both.
  let enc: object | undefined;
  let dec: object | undefined;
  // A copy (never Buffer#slice, which aliases), zeroed once both contexts hold the key.
  const key = new Uint8Array(raw);
  const encCtx = () => {
    if (!enc) enc = n.aeadCreate(alg, key, true);
    if (dec) key.fill(0);
    return enc;
  };
  const decCtx = () => {
    if (!dec) dec = n.aeadCreate(alg, key, false);
    if (enc) key.fill(0);
    return dec;
  };
  if (raw.length !== AEAD_KEY_LENGTH[algorithm]) throw new Error(`node crypto: ${algorithm} key must be ${AEAD_KEY_LENGTH[algorithm]} bytes`);
  const openInPlace = (nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array | null => {
    if (nonce.length !== 12 || data.length < AEAD_TAG_LENGTH) return null;
    return n.aeadOpen(decCtx(), nonce, aad, data) ? data.subarray(0, data.length - AEAD_TAG_LENGTH) : null;
  };
  const into = n.aeadOpenInto;
  const openInto = into
    ? (nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, out: Uint8Array, offset: number): boolean => {
        if (nonce.length !== 12 || data.length < AEAD_TAG_LENGTH) return false;
        return into(decCtx(), nonce, aad, data, out, offset);
      }
    : undefined;
  return {
    algorithm,
    synchronous: true,
    seal(nonce, aad, plaintext) {
      if (nonce.length !== 12) throw new Error('node crypto: AEAD nonce must be 12 bytes');
      const out = new Uint8Array(plaintext.length + AEAD_TAG_LENGTH);
      n.aeadSeal(encCtx(), nonce, aad, plaintext, EMPTY, out, 0);
      return out;
    },
    sealRecord(nonce, aad, prefix, content, trailer) {
      if (nonce.length !== 12) throw new Error('node crypto: AEAD nonce must be 12 bytes');
      const out = Buffer.allocUnsafe(prefix.length + content.length + trailer.length + AEAD_TAG_LENGTH);
      out.set(prefix, 0);
      n.aeadSeal(encCtx(), nonce, aad, content, trailer, out, prefix.length);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    },
    sealRecordInto(nonce, aad, prefix, content, trailer, out, offset) {
      if (nonce.length !== 12) throw new Error('node crypto: AEAD nonce must be 12 bytes');
      out.set(prefix, offset);
      n.aeadSeal(encCtx(), nonce, aad, content, trailer, out, offset + prefix.length);
    },
    open(nonce, aad, ciphertextAndTag) {
      // The caller's buffer stays as it was: decrypt into a new one.
      if (!openInto) return openInPlace(nonce, aad, new Uint8Array(ciphertextAndTag));
      if (ciphertextAndTag.length < AEAD_TAG_LENGTH) return null;
      const out = new Uint8Array(ciphertextAndTag.length - AEAD_TAG_LENGTH);
      return openInto(nonce, aad, ciphertextAndTag, out, 0) ? out : null;
    },
    openInPlace,
    ...(openInto ? { openInto } : {}),
  };
}

/** X25519 on the addon: keygen() gives the public key and a handle for derive(); undefined when unavailable. */
export function nativeX25519():
  | { keygen(): { publicKey: Uint8Array; derive(peer: Uint8Array): Uint8Array | null } }
  | undefined {
  const n = nativeAead();
  const keygen = n?.x25519Keygen;
  const derive = n?.x25519Derive;
  if (!keygen || !derive) return undefined;
  return {
    keygen() {
      const publicKey = new Uint8Array(32);
      const priv = keygen(publicKey);
      return {
        publicKey,
        derive(peer) {
          const out = new Uint8Array(32);
          return derive(priv, peer, out) ? out : null;
        },
      };
    },
  };
}
