/**
 * The HashContext of the providers whose hashes are @noble/hashes (the
 * webcrypto provider, whose SubtleCrypto has no incremental hash, and the
 * js provider). Portable.
 */

import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import type { HashAlgorithm, HashContext } from './provider.js';

/** The part of a @noble/hashes hash instance used here. */
interface NobleHash {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
  clone(): NobleHash;
}

export const NOBLE_HASH = { 'SHA-256': sha256, 'SHA-384': sha384, 'SHA-512': sha512 } as const;

export class NobleHashContext implements HashContext {
  constructor(private readonly h: NobleHash) {}
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  digest(): Uint8Array {
    // Finalising destroys a noble hash: finalise a copy so this one stays usable.
    return this.h.clone().digest();
  }
  clone(): HashContext {
    return new NobleHashContext(this.h.clone());
  }
}

/** The noble hash function for `algorithm`; `label` names the provider in the error. */
export function nobleHash(algorithm: HashAlgorithm, label: string) {
  const h = NOBLE_HASH[algorithm];
  if (!h) throw new Error(`${label}: unsupported hash ${String(algorithm)}`);
  return h;
}
