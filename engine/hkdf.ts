/**
 * HKDF (RFC 5869) and the TLS 1.3 labelled forms (RFC 8446 §7.1), built on
 * the provider's synchronous HMAC.
 */

import type { CryptoProvider, HashAlgorithm } from './crypto/provider.js';
import { HASH_LENGTH } from './crypto/provider.js';
import { Writer, utf8 } from './codec.js';

export function hkdfExtract(p: CryptoProvider, hash: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  // RFC 5869 §2.2: a missing salt is HashLen zero bytes.
  return p.hmac(hash, salt.length ? salt : new Uint8Array(HASH_LENGTH[hash]), ikm);
}

export function hkdfExpand(p: CryptoProvider, hash: HashAlgorithm, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const hashLen = HASH_LENGTH[hash];
  // RFC 5869 §2.3: L <= 255*HashLen
  if (length > 255 * hashLen) throw new Error('HKDF-Expand: output too long');
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  let filled = 0;
  for (let i = 1; filled < length; i++) {
    const input = new Uint8Array(t.length + info.length + 1);
    input.set(t, 0);
    input.set(info, t.length);
    input[input.length - 1] = i;
    t = p.hmac(hash, prk, input);
    const take = Math.min(t.length, length - filled);
    out.set(t.subarray(0, take), filled);
    filled += take;
  }
  return out;
}

/**
 * RFC 8446 §7.1:
 *   HKDF-Expand-Label(Secret, Label, Context, Length) =
 *        HKDF-Expand(Secret, HkdfLabel, Length)
 *   struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; } HkdfLabel;
 */
export function hkdfExpandLabel(
  p: CryptoProvider,
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const info = new Writer(64)
    .u16(length)
    .vec(1, utf8.encode('tls13 ' + label))
    .vec(1, context)
    .finish();
  return hkdfExpand(p, hash, secret, info, length);
}

/** RFC 8446 §7.1: Derive-Secret(Secret, Label, Messages) with Messages already hashed. */
export function deriveSecret(
  p: CryptoProvider,
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Uint8Array {
  return hkdfExpandLabel(p, hash, secret, label, transcriptHash, HASH_LENGTH[hash]);
}
