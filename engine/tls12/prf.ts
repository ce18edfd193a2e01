/**
 * The TLS 1.2 pseudorandom function and what is derived with it
 * (RFC 5246 §5, §6.3, §7.4.9, §8.1; RFC 7627 §4).
 *
 *   P_hash(secret, seed) = HMAC_hash(secret, A(1) + seed) + HMAC_hash(secret, A(2) + seed) + ...
 *   A(0) = seed, A(i) = HMAC_hash(secret, A(i-1))
 *   PRF(secret, label, seed) = P_<hash>(secret, label + seed)
 */

import { concat, utf8 } from '../codec.js';
import type { CryptoProvider, HashAlgorithm } from '../crypto/provider.js';

export function prf(
  p: CryptoProvider,
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  seed: Uint8Array,
  length: number,
): Uint8Array {
  const labelSeed = concat(utf8.encode(label), seed);
  const out = new Uint8Array(length);
  let a = labelSeed;
  let filled = 0;
  while (filled < length) {
    a = p.hmac(hash, secret, a);
    const block = p.hmac(hash, secret, concat(a, labelSeed));
    const take = Math.min(block.length, length - filled);
    out.set(block.subarray(0, take), filled);
    filled += take;
  }
  return out;
}

/** RFC 5246 §8.1: master_secret = PRF(pre_master_secret, "master secret", ClientHello.random + ServerHello.random)[0..47] */
export function masterSecret(
  p: CryptoProvider,
  hash: HashAlgorithm,
  preMaster: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): Uint8Array {
  return prf(p, hash, preMaster, 'master secret', concat(clientRandom, serverRandom), 48);
}

/** RFC 7627 §4: master_secret = PRF(pre_master_secret, "extended master secret", session_hash)[0..47] */
export function extendedMasterSecret(p: CryptoProvider, hash: HashAlgorithm, preMaster: Uint8Array, sessionHash: Uint8Array): Uint8Array {
  return prf(p, hash, preMaster, 'extended master secret', sessionHash, 48);
}

export interface Tls12KeyBlock {
  readonly clientKey: Uint8Array;
  readonly serverKey: Uint8Array;
  readonly clientIv: Uint8Array;
  readonly serverIv: Uint8Array;
}

/**
 * RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion", server_random + client_random);
 * AEAD suites have no MAC keys; the "IV" is the implicit nonce part
 * (4 bytes for AES-GCM, RFC 5288 §3; 12 bytes for ChaCha20-Poly1305, RFC 7905 §2).
 */
export function keyBlock(
  p: CryptoProvider,
  hash: HashAlgorithm,
  master: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  keyLength: number,
  ivLength: number,
): Tls12KeyBlock {
  const kb = prf(p, hash, master, 'key expansion', concat(serverRandom, clientRandom), 2 * (keyLength + ivLength));
  let o = 0;
  const take = (n: number) => kb.slice(o, (o += n));
  const clientKey = take(keyLength);
  const serverKey = take(keyLength);
  const clientIv = take(ivLength);
  const serverIv = take(ivLength);
  kb.fill(0);
  return { clientKey, serverKey, clientIv, serverIv };
}

/** RFC 5246 §7.4.9: verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11] */
export function finishedVerifyData(
  p: CryptoProvider,
  hash: HashAlgorithm,
  master: Uint8Array,
  label: 'client finished' | 'server finished',
  transcriptHash: Uint8Array,
): Uint8Array {
  return prf(p, hash, master, label, transcriptHash, 12);
}
