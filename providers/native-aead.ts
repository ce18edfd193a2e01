/**
 * AEAD over the native addon's EVP contexts (native/tlsproxy_aead.c): one
 * OpenSSL context per key and direction, kept for the key's lifetime, so a
 * record costs the cipher itself plus one call into C, instead of a new
 * node:crypto Cipheriv (context, key schedule, Buffers) per record.
 *
 * The same addon does X25519 (nativeX25519): the private key stays in an
 * OpenSSL EVP_PKEY, the peer's key is imported raw; and HMAC (nativeHmac)
 * and the transcript's running hashes (nativeHash).
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
import { AEAD_KEY_LENGTH, AEAD_TAG_LENGTH, type AeadAlgorithm, type AeadKey, type HashAlgorithm, type HashContext } from '../engine/crypto/provider.js';

interface AeadAddon {
  x25519Keygen?(publicOut: Uint8Array): object;
  x25519Derive?(privateKey: object, peer: Uint8Array, out: Uint8Array): boolean;
  aeadCreate(alg: number, key: Uint8Array, encrypt: boolean): object;
  aeadSeal(ctx: object, nonce: Uint8Array, aad: Uint8Array, content: Uint8Array, trailer: Uint8Array, out: Uint8Array, offset: number): void;
  aeadOpen(ctx: object, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): boolean;
  /** Newer builds only: the plaintext into out[offset..], data untouched. */
  aeadOpenInto?(ctx: object, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, out: Uint8Array, offset: number): boolean;
  /** Newer builds only: HMAC of scratch[keyLen..keyLen+dataLen) keyed by scratch[0..keyLen), written over scratch[0..]; its length. */
  hmac?(alg: number, keyLen: number, dataLen: number, scratch: Uint8Array): number;
  /** Newer builds only: running hashes (the transcript). */
  hashCreate?(alg: number): object;
  hashUpdate?(h: object, data: Uint8Array): void;
  /** The hash of everything so far into out[0..], h going on; its length. */
  hashDigest?(h: object, out: Uint8Array): number;
  hashClone?(h: object): object;
}

const ALG: Record<AeadAlgorithm, number> = { 'AES-128-GCM': 0, 'AES-256-GCM': 1, 'CHACHA20-POLY1305': 2 };
const EMPTY = new Uint8Array(0);

/**
 * Keys, X25519 values and HMAC inputs cross into C through this one
 * process-wide buffer, off V8's heap, and are copied out and wiped: a typed
 * array of 64 bytes or less lives on V8's heap, and handing one to native
 * code first moves it off (an allocation and a copy, ~1-2.5 µs measured
 * against aeadCreate and x25519Keygen), which a handshake would pay for
 * each of its keys and HMACs. Every use is synchronous, so one buffer
 * serves them all. Its size bounds one HMAC's key and data (the key
 * schedule's are a few dozen bytes; FFDHE-8192 secrets 1 KiB).
 */
const OFF_HEAP_SIZE = 4096;
const OFF_HEAP = new Uint8Array(new ArrayBuffer(OFF_HEAP_SIZE));
/** `bytes` as an off-heap view for one native call; wipe() after it. */
function offHeap(bytes: Uint8Array): Uint8Array {
  OFF_HEAP.set(bytes, 0);
  return OFF_HEAP.subarray(0, bytes.length);
}
/** Zero what a call put in the buffer: its first `used` bytes, at least the 64 results are written to. */
function wipe(used = 64): void {
  OFF_HEAP.fill(0, 0, Math.max(used, 64));
}

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

/** NativeAeadKey.alg of a forgotten key: no context is made from it again. */
const FORGOTTEN_ALG = -1;

/**
 * An AeadKey on the addon's contexts. A class rather than an object of
 * closures: a session holds two record keys for its whole life, and
 * methods on the prototype cost it nothing per key (the idle-connection
 * memory of bench/README.md; a closure-based key was ~8 functions and a
 * context per key).
 */
class NativeAeadKey implements AeadKey {
  readonly synchronous = true;
  // Contexts are made on first use: a record layer key seals or opens, rarely both.
  private enc: object | undefined;
  private dec: object | undefined;
  /** A copy (never Buffer#slice, which aliases), zeroed once both contexts hold the key. */
  private readonly key: Uint8Array;

  constructor(
    protected readonly n: AeadAddon,
    readonly algorithm: AeadAlgorithm,
    /** The addon's algorithm number; FORGOTTEN_ALG after forget(). */
    private alg: number,
    raw: Uint8Array,
  ) {
    this.key = new Uint8Array(raw);
  }

  /**
   * AeadKey.forget(): the key copy zeroed, the contexts let go (the addon's
   * finaliser frees them, and OpenSSL cleanses a context's key when it is
   * freed). A later call cannot make a context again from the zeroed copy:
   * create() refuses.
   */
  forget(): void {
    this.key.fill(0);
    this.enc = undefined;
    this.dec = undefined;
    this.alg = FORGOTTEN_ALG;
  }

  private create(encrypt: boolean): object {
    if (this.alg === FORGOTTEN_ALG) throw new Error('AEAD key used after its connection forgot it');
    try {
      return this.n.aeadCreate(this.alg, offHeap(this.key), encrypt);
    } finally {
      wipe();
    }
  }

  private encCtx(): object {
    if (!this.enc) this.enc = this.create(true);
    if (this.dec) this.key.fill(0);
    return this.enc;
  }

  protected decCtx(): object {
    if (!this.dec) this.dec = this.create(false);
    if (this.enc) this.key.fill(0);
    return this.dec;
  }

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (nonce.length !== 12) throw new Error('node crypto: AEAD nonce must be 12 bytes');
    const out = new Uint8Array(plaintext.length + AEAD_TAG_LENGTH);
    this.n.aeadSeal(this.encCtx(), nonce, aad, plaintext, EMPTY, out, 0);
    return out;
  }

  sealRecord(nonce: Uint8Array, aad: Uint8Array, prefix: Uint8Array, content: Uint8Array, trailer: Uint8Array): Uint8Array {
    if (nonce.length !== 12) throw new Error('node crypto: AEAD nonce must be 12 bytes');
    const out = Buffer.allocUnsafe(prefix.length + content.length + trailer.length + AEAD_TAG_LENGTH);
    out.set(prefix, 0);
    this.n.aeadSeal(this.encCtx(), nonce, aad, content, trailer, out, prefix.length);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  sealRecordInto(nonce: Uint8Array, aad: Uint8Array, prefix: Uint8Array, content: Uint8Array, trailer: Uint8Array, out: Uint8Array, offset: number): void {
    if (nonce.length !== 12) throw new Error('node crypto: AEAD nonce must be 12 bytes');
    out.set(prefix, offset);
    this.n.aeadSeal(this.encCtx(), nonce, aad, content, trailer, out, offset + prefix.length);
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null {
    // The caller's buffer stays as it was: decrypt into a new one.
    return this.openInPlace(nonce, aad, new Uint8Array(ciphertextAndTag));
  }

  openInPlace(nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array | null {
    if (nonce.length !== 12 || data.length < AEAD_TAG_LENGTH) return null;
    return this.n.aeadOpen(this.decCtx(), nonce, aad, data) ? data.subarray(0, data.length - AEAD_TAG_LENGTH) : null;
  }
}

/** With a build of the addon that decrypts out of place (aeadOpenInto): openInto, and open() without a copy. */
class NativeAeadKeyInto extends NativeAeadKey {
  override open(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null {
    if (ciphertextAndTag.length < AEAD_TAG_LENGTH) return null;
    const out = new Uint8Array(ciphertextAndTag.length - AEAD_TAG_LENGTH);
    return this.openInto(nonce, aad, ciphertextAndTag, out, 0) ? out : null;
  }

  openInto(nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, out: Uint8Array, offset: number): boolean {
    if (nonce.length !== 12 || data.length < AEAD_TAG_LENGTH) return false;
    return this.n.aeadOpenInto!(this.decCtx(), nonce, aad, data, out, offset);
  }
}

/** An AeadKey on native contexts; undefined when the addon is unavailable. */
export function nativeAeadKey(algorithm: AeadAlgorithm, raw: Uint8Array): AeadKey | undefined {
  const n = nativeAead();
  if (!n) return undefined;
  if (raw.length !== AEAD_KEY_LENGTH[algorithm]) throw new Error(`node crypto: ${algorithm} key must be ${AEAD_KEY_LENGTH[algorithm]} bytes`);
  return n.aeadOpenInto ? new NativeAeadKeyInto(n, algorithm, ALG[algorithm], raw) : new NativeAeadKey(n, algorithm, ALG[algorithm], raw);
}

const HMAC_ALG: Record<HashAlgorithm, number> = { 'SHA-256': 0, 'SHA-384': 1, 'SHA-512': 2 };

/**
 * HMAC on the addon (native/tlsproxy_aead.c): ~0.7 µs against createHmac's
 * ~3.5 µs for the key schedule's sizes, and no Hmac object or Buffer per
 * call. Key and data are copied into the off-heap buffer (OFF_HEAP), which
 * is wiped after each call.
 * undefined when the addon lacks it; the function returns undefined for
 * inputs larger than the buffer (the caller uses node:crypto then).
 */
export function nativeHmac(): ((algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array) => Uint8Array | undefined) | undefined {
  const n = nativeAead();
  const hmac = n?.hmac;
  if (!hmac) return undefined;
  return (algorithm, key, data) => {
    const used = key.length + data.length;
    const alg = HMAC_ALG[algorithm];
    if (used > OFF_HEAP_SIZE || alg === undefined) return undefined;
    OFF_HEAP.set(key, 0);
    OFF_HEAP.set(data, key.length);
    try {
      return OFF_HEAP.slice(0, hmac(alg, key.length, data.length, OFF_HEAP));
    } finally {
      wipe(used);
    }
  };
}

/**
 * A running hash on the addon (the handshake transcript): an OpenSSL digest
 * context each, read without ending it at one native call per reading,
 * where node:crypto's Hash needs copy() and digest() (a JS object, a context
 * and a Buffer each time). Inputs of 64 bytes or less, which may live on
 * V8's heap, cross through the off-heap buffer; results come back through
 * it. undefined when the addon lacks it.
 */
export function nativeHash(): ((algorithm: HashAlgorithm) => HashContext) | undefined {
  const n = nativeAead();
  if (!n?.hashCreate || !n.hashUpdate || !n.hashDigest || !n.hashClone) return undefined;
  const { hashCreate, hashUpdate, hashDigest, hashClone } = n as Required<AeadAddon>;
  class NativeHashContext implements HashContext {
    constructor(private readonly h: object) {}
    update(data: Uint8Array): void {
      if (data.length > 64) return hashUpdate(this.h, data);
      try {
        hashUpdate(this.h, offHeap(data));
      } finally {
        wipe();
      }
    }
    digest(): Uint8Array {
      try {
        return OFF_HEAP.slice(0, hashDigest(this.h, OFF_HEAP.subarray(0, 64)));
      } finally {
        wipe();
      }
    }
    clone(): HashContext {
      return new NativeHashContext(hashClone(this.h));
    }
  }
  return (algorithm) => {
    const alg = HMAC_ALG[algorithm];
    if (alg === undefined) throw new Error(`node crypto: unsupported hash ${String(algorithm)}`);
    return new NativeHashContext(hashCreate(alg));
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
      // Both results through the off-heap buffer (OFF_HEAP), copied out.
      const priv = keygen(OFF_HEAP.subarray(0, 32));
      const publicKey = OFF_HEAP.slice(0, 32);
      wipe();
      return {
        publicKey,
        derive(peer) {
          try {
            return derive(priv, peer.length <= 32 ? offHeap(peer) : peer, OFF_HEAP.subarray(32, 64)) ? OFF_HEAP.slice(32, 64) : null;
          } finally {
            wipe();
          }
        },
      };
    },
  };
}
