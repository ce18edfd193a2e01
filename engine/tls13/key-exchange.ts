/**
 * TLS 1.3 key exchange (RFC 8446 §4.2.8, §7.4): which groups the engine can
 * do with a provider, the checks every client key share must pass, and the
 * server's half of the exchange for each kind of group:
 *
 *  - ECDHE: x25519, secp256r1, secp384r1 (§4.2.8.2, §7.4.2);
 *  - FFDHE: ffdhe2048 ... ffdhe8192 (RFC 7919, §4.2.8.1, §7.4.1);
 *  - hybrid ECDHE + ML-KEM-768: X25519MLKEM768 (0x11EC) and
 *    SecP256r1MLKEM768 (0x11EB), draft-ietf-tls-ecdhe-mlkem. TLS 1.3 only:
 *    the TLS 1.2 code never sees these groups.
 *
 * Every failure of a client share is illegal_parameter (§4.2.8.1, §4.2.8.2,
 * RFC 7919 §5.1, draft-ietf-tls-ecdhe-mlkem §4 / FIPS 203 §7.2).
 */

import { NamedGroup, groupName } from '../constants.js';
import { mlKem768KeyIsValid } from '../crypto/mlkem-key.js';
import { type CryptoProvider, isPromise, type MaybePromise } from '../crypto/provider.js';
import { TlsFailure, fail, failure } from '../errors.js';
import { FFDHE_GROUPS } from '../ffdhe.js';
import type { KeyShareEntry } from '../messages/client-hello.js';

const G = NamedGroup;

/** ECDHE key_exchange lengths (§4.2.8.2: X25519 32 bytes, uncompressed points 1 + 2·L). */
const EC_LENGTH: ReadonlyMap<number, number> = new Map([
  [G.x25519, 32],
  [G.secp256r1, 65],
  [G.secp384r1, 97],
]);

/** A hybrid group: the classical ECDHE group, its share length, and the order of the parts on the wire. */
interface Hybrid {
  readonly classical: number;
  readonly classicalLength: number;
  /** X25519MLKEM768 puts ML-KEM first; SecP256r1MLKEM768 puts the EC part first (draft-ietf-tls-ecdhe-mlkem §3). */
  readonly kemFirst: boolean;
}

export const HYBRID_GROUPS: ReadonlyMap<number, Hybrid> = new Map([
  [G.X25519MLKEM768, { classical: G.x25519, classicalLength: 32, kemFirst: true }],
  [G.SecP256r1MLKEM768, { classical: G.secp256r1, classicalLength: 65, kemFirst: false }],
]);

/** ML-KEM-768 sizes (FIPS 203 §8): encapsulation key, ciphertext. */
const MLKEM768_EK = 1184;
const MLKEM768_CT = 1088;

/**
 * NamedGroup values that are not TLS 1.3 groups (§4.2.7 obsolete_RESERVED
 * 0x0001-0x0016 and 0xFF01-0xFF02, and the TLS 1.2-only brainpool curves
 * 0x001A-0x001C of RFC 7027; TLS 1.3 brainpool is 0x001F-0x0021, RFC 8734).
 * A key share for one of them is illegal_parameter.
 */
export function isObsoleteGroup(g: number): boolean {
  return (g >= 0x0001 && g <= 0x0016) || (g >= 0x001a && g <= 0x001c) || g === 0xff01 || g === 0xff02;
}

/** key_exchange lengths of TLS 1.3 groups we know but do not implement: a malformed share for them is still refused. */
const FOREIGN_LENGTH: ReadonlyMap<number, number> = new Map([
  [G.x448, 56],
  [G.secp521r1, 133],
]);

/** The groups the engine can do in TLS 1.3 with `provider`, in no particular order. */
export function tls13Groups(provider: CryptoProvider): number[] {
  const out = provider.groups.filter((g) => EC_LENGTH.has(g));
  if (provider.dhKeyShare) out.push(...FFDHE_GROUPS.keys());
  if (provider.mlKem768) for (const [g, h] of HYBRID_GROUPS) if (provider.groups.includes(h.classical)) out.push(g);
  return out;
}

/** The wire length of a client share for `group`, or undefined for a group whose format we do not know. */
function clientShareLength(group: number): number | undefined {
  const ec = EC_LENGTH.get(group);
  if (ec !== undefined) return ec;
  const dh = FFDHE_GROUPS.get(group);
  if (dh) return dh.p.length;
  const h = HYBRID_GROUPS.get(group);
  if (h) return h.classicalLength + MLKEM768_EK;
  return FOREIGN_LENGTH.get(group);
}

function toBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function checkEcPoint(group: number, key: Uint8Array, what: string): void {
  // §4.2.8.2: only the uncompressed form (legacy_form = 4) is allowed for the NIST curves.
  if (group !== G.x25519 && group !== G.x448 && key[0] !== 0x04) fail('KeyShareNotUncompressedPoint', what);
}

/**
 * Format checks of one client KeyShareEntry (§4.2.8): a group that is not
 * a TLS 1.3 group, a wrong length (an empty share included), a compressed
 * point, an FFDHE value outside 1 < Y < p-1 (RFC 7919 §5.1), an ML-KEM
 * encapsulation key failing FIPS 203's modulus check. Shares for groups we
 * do not know (GREASE, RFC 8701, and newer groups) are left alone: §4.2.8
 * lets the server ignore them.
 */
export function checkClientShare(entry: KeyShareEntry): void {
  const { group, keyExchange: key } = entry;
  const name = groupName(group);
  if (isObsoleteGroup(group)) fail('KeyShareForObsoleteGroup', name);
  const expected = clientShareLength(group);
  if (expected === undefined) return;
  if (key.length !== expected) fail('KeyShareWrongLength', name, key.length, expected);
  const dh = FFDHE_GROUPS.get(group);
  if (dh) {
    // RFC 7919 §5.1 / RFC 8446 §4.2.8.1: 1 < Y < p-1.
    const y = toBigInt(key);
    if (y <= 1n || y >= toBigInt(dh.p) - 1n) fail('FfdheKeyShareOutOfRange', name);
    return;
  }
  const h = HYBRID_GROUPS.get(group);
  if (h) {
    const { classical, kem } = splitHybrid(h, key);
    checkEcPoint(h.classical, classical, name);
    // draft-ietf-tls-ecdhe-mlkem §4: the server MUST check the encapsulation key as FIPS 203 §7.2 says
    // (also when this provider has no ML-KEM and the share would be ignored: every share is checked).
    if (!mlKem768KeyIsValid(kem)) fail('MlKemEncapsulationKeyInvalid', name);
    return;
  }
  checkEcPoint(group, key, name);
}

function splitHybrid(h: Hybrid, key: Uint8Array): { classical: Uint8Array; kem: Uint8Array } {
  return h.kemFirst
    ? { kem: key.subarray(0, key.length - h.classicalLength), classical: key.subarray(key.length - h.classicalLength) }
    : { classical: key.subarray(0, h.classicalLength), kem: key.subarray(h.classicalLength) };
}

function settle<T>(v: MaybePromise<T>): Promise<T> {
  return isPromise(v) ? v : Promise.resolve(v);
}

/**
 * Our own key pair: its failure is ours (a provider failure, internal_error),
 * never blamed on the peer's value as illegal_parameter would.
 */
async function ourKeyShare<T>(make: () => MaybePromise<T>): Promise<T> {
  try {
    return await settle(make());
  } catch (e) {
    throw failure('KeyShareGenerationFailed', (e as Error)?.message ?? String(e));
  }
}

function zeroPad(b: Uint8Array, length: number): Uint8Array {
  if (b.length === length) return b;
  if (b.length > length) throw new Error(`value of ${b.length} bytes, longer than ${length}`);
  const out = new Uint8Array(length);
  out.set(b, length - b.length);
  return out;
}

/** ECDHE with one client share: our public key and the shared secret (§7.4.2). */
async function ecdhe(provider: CryptoProvider, group: number, peer: Uint8Array): Promise<{ share: Uint8Array; secret: Uint8Array }> {
  const ours = await ourKeyShare(() => provider.generateKeyShare(group));
  const secret = await settle(ours.deriveSecret(peer));
  // §7.4.2: for X25519, "implementations MUST check whether the computed Diffie-Hellman shared secret is
  // the all-zero value and abort if so".
  if (secret.every((b) => b === 0)) fail('AllZeroSharedSecret', groupName(group));
  return { share: ours.publicKey, secret };
}

/**
 * The server's half of the exchange for the client share `entry` (already
 * checked by checkClientShare): the key_exchange for ServerHello and the
 * shared secret for the key schedule. Any failure of the peer's value is
 * illegal_parameter (§4.2.8.2); a failure to make our own key pair is
 * KeyShareGenerationFailed (internal_error), not the peer's fault.
 */
export async function serverKeyExchange(provider: CryptoProvider, entry: KeyShareEntry): Promise<{ share: Uint8Array; secret: Uint8Array }> {
  const { group, keyExchange: peer } = entry;
  try {
    const dh = FFDHE_GROUPS.get(group);
    if (dh) {
      if (!provider.dhKeyShare) fail('InternalError', `${groupName(group)} chosen without a DH provider`);
      const ours = await ourKeyShare(() => provider.dhKeyShare!(dh.p, dh.g));
      // §4.2.8.1: Y padded to the size of p; §7.4.1: Z padded to the size of p, leading zeros kept.
      const share = zeroPad(ours.publicKey, dh.p.length);
      const secret = zeroPad(await settle(ours.deriveSecret(peer)), dh.p.length);
      return { share, secret };
    }
    const h = HYBRID_GROUPS.get(group);
    if (h) {
      const kem = provider.mlKem768;
      if (!kem) fail('InternalError', `${groupName(group)} chosen without ML-KEM`);
      const parts = splitHybrid(h, peer);
      const ec = await ecdhe(provider, h.classical, parts.classical);
      const { ciphertext, sharedSecret } = await settle(kem.encapsulate(parts.kem));
      if (ciphertext.length !== MLKEM768_CT) fail('InternalError', `ML-KEM-768 ciphertext of ${ciphertext.length} bytes`);
      // draft-ietf-tls-ecdhe-mlkem §3: the shares and the secrets are concatenated in the same order.
      const share = h.kemFirst ? concat(ciphertext, ec.share) : concat(ec.share, ciphertext);
      const secret = h.kemFirst ? concat(sharedSecret, ec.secret) : concat(ec.secret, sharedSecret);
      sharedSecret.fill(0);
      ec.secret.fill(0);
      return { share, secret };
    }
    return await ecdhe(provider, group, peer);
  } catch (e) {
    if (e instanceof TlsFailure) throw e;
    // §4.2.8.2: an invalid peer public value is an illegal_parameter.
    throw failure('InvalidKeyShare', groupName(group), (e as Error).message);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
