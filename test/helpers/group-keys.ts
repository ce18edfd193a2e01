/**
 * Client key shares for the scripted TLS 1.3 client beyond x25519/P-256/
 * P-384 (helpers/hello.ts): the hybrids X25519MLKEM768 and
 * SecP256r1MLKEM768 (draft-ietf-tls-ecdhe-mlkem: ML-KEM from
 * @noble/post-quantum directly, ECDH from node:crypto, not engine code) and
 * the RFC 7919 FFDHE groups (BigInt arithmetic).
 */

import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { FFDHE_GROUPS } from '../../engine/ffdhe.js';
import { type ClientKey, GROUP, nistKey, x25519Key } from './hello.js';

export const HYBRID = { X25519MLKEM768: 0x11ec, SecP256r1MLKEM768: 0x11eb } as const;
export const FFDHE = { ffdhe2048: 0x0100, ffdhe3072: 0x0101, ffdhe4096: 0x0102, ffdhe6144: 0x0103, ffdhe8192: 0x0104 } as const;

function cat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A hybrid client share; `mangleEk` may alter the encapsulation key before it is sent. */
export function hybridKey(group: number, mangleEk?: (ek: Uint8Array) => Uint8Array): ClientKey {
  const x25519 = group === HYBRID.X25519MLKEM768;
  const ec = x25519 ? x25519Key() : nistKey(GROUP.secp256r1);
  const { publicKey: ek0, secretKey: dk } = ml_kem768.keygen();
  const ek = mangleEk ? mangleEk(ek0) : ek0;
  return {
    group,
    // X25519MLKEM768: ek || x25519; SecP256r1MLKEM768: point || ek.
    publicKey: x25519 ? cat(ek, ec.publicKey) : cat(ec.publicKey, ek),
    derive(peer) {
      const ecLen = x25519 ? 32 : 65;
      if (peer.length !== ecLen + 1088) throw new Error(`hybrid server share of ${peer.length} bytes`);
      const ct = x25519 ? peer.subarray(0, 1088) : peer.subarray(ecLen);
      const ecPeer = x25519 ? peer.subarray(1088) : peer.subarray(0, ecLen);
      const k = ml_kem768.decapsulate(ct, dk);
      const z = ec.derive(ecPeer);
      return x25519 ? cat(k, z) : cat(z, k);
    },
  };
}

function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function toBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

/** An FFDHE client share (Y padded to the prime's length); `y` overrides the public value sent. */
export function ffdheKey(group: number, y?: Uint8Array): ClientKey & { readonly secretLength: number } {
  const params = FFDHE_GROUPS.get(group);
  if (!params) throw new Error(`not an FFDHE group: ${group}`);
  const p = toBig(params.p);
  const len = params.p.length;
  const x = toBig(crypto.getRandomValues(new Uint8Array(40))) | (1n << 319n);
  const Y = modPow(2n, x, p);
  return {
    group,
    publicKey: y ?? toBytes(Y, len),
    secretLength: len,
    // RFC 8446 §7.4.1: Z padded with leading zeros to the size of p.
    derive: (peer) => toBytes(modPow(toBig(peer), x, p), len),
  };
}
