/**
 * HKDF (RFC 5869) and the TLS 1.3 labelled forms (RFC 8446 §7.1), built on
 * the provider's synchronous HMAC.
 */

import type { CryptoProvider, HashAlgorithm } from './crypto/provider.js';
import { HASH_LENGTH } from './crypto/provider.js';
import { utf8 } from './codec.js';

export function hkdfExtract(p: CryptoProvider, hash: HashAlgorithm, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  // RFC 5869 §2.2: a missing salt is HashLen zero bytes.
  return p.hmac(hash, salt.length ? salt : new Uint8Array(HASH_LENGTH[hash]), ikm);
}

export function hkdfExpand(p: CryptoProvider, hash: HashAlgorithm, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const hashLen = HASH_LENGTH[hash];
  // RFC 5869 §2.3: L <= 255*HashLen
  if (length > 255 * hashLen) throw new Error('HKDF-Expand: output too long');
  if (length <= hashLen) {
    // One block, the TLS 1.3 case (secrets, keys, IVs, Finished keys): T(1) = HMAC(PRK, info || 0x01).
    const input = new Uint8Array(info.length + 1);
    input.set(info, 0);
    input[info.length] = 1;
    return firstBlock(p, hash, prk, input, length);
  }
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
  const full = labelBytes(label);
  // opaque label<7..255>, opaque context<0..255>: the lengths fit one byte each.
  if (full.length > 255 || context.length > 255) throw new Error('HKDF-Expand-Label: label or context too long');
  const infoLength = 4 + full.length + context.length;
  // Every TLS 1.3 use is one block: the HkdfLabel is written with T(1)'s counter byte after it,
  // so HMAC gets it as is (hkdfExpand's one-block case without its copy of the info).
  const oneBlock = length <= HASH_LENGTH[hash];
  const info = new Uint8Array(oneBlock ? infoLength + 1 : infoLength);
  info[0] = length >> 8;
  info[1] = length & 0xff;
  info[2] = full.length;
  info.set(full, 3);
  info[3 + full.length] = context.length;
  info.set(context, 4 + full.length);
  if (!oneBlock) return hkdfExpand(p, hash, secret, info, length);
  info[infoLength] = 1;
  return firstBlock(p, hash, secret, info, length);
}

/** T(1) = HMAC(PRK, info || 0x01) (`input` already ends with the 0x01), cut to `length`; the rest of T(1) is zeroed. */
function firstBlock(p: CryptoProvider, hash: HashAlgorithm, prk: Uint8Array, input: Uint8Array, length: number): Uint8Array {
  const t = p.hmac(hash, prk, input);
  if (t.length === length) return t;
  const out = t.slice(0, length);
  t.fill(0);
  return out;
}

/** "tls13 " + label, UTF-8, encoded once per label (the engine's labels are a fixed set; exporter labels are bounded out). */
const labels = new Map<string, Uint8Array>();
function labelBytes(label: string): Uint8Array {
  let b = labels.get(label);
  if (!b) {
    b = utf8.encode('tls13 ' + label);
    if (labels.size < 64) labels.set(label, b);
  }
  return b;
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
