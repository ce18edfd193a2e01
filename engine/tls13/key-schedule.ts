/**
 * The TLS 1.3 key schedule, RFC 8446 §7.1, as one small object that walks
 * Early Secret -> Handshake Secret -> Master Secret.
 *
 *             0
 *             |
 *   PSK ->  HKDF-Extract = Early Secret
 *             |
 *       Derive-Secret(., "derived", "")
 *             |
 *   (EC)DHE -> HKDF-Extract = Handshake Secret --> c/s hs traffic
 *             |
 *       Derive-Secret(., "derived", "")
 *             |
 *   0 -> HKDF-Extract = Master Secret --> c/s ap traffic, exp master, res master
 */

import type { CryptoProvider, HashAlgorithm } from '../crypto/provider.js';
import { AEAD_KEY_LENGTH, AEAD_NONCE_LENGTH, HASH_LENGTH } from '../crypto/provider.js';
import { deriveSecret, hkdfExpandLabel, hkdfExtract } from '../hkdf.js';
import { shapeAnchors } from '../common/shape-anchors.js';
import type { Tls13Suite } from '../suites.js';

export interface TrafficKeys {
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
}

/**
 * Per provider and hash, what the schedule derives from no secret at all
 * (§7.1): the digest of the empty string, and without a PSK the Early
 * Secret HKDF-Extract(0, 0) and its Derive-Secret(., "derived", ""). They
 * are public constants: computed once instead of in every full handshake.
 */
interface Constants {
  readonly emptyHash: Uint8Array;
  readonly noPskEarly: Uint8Array;
  readonly noPskDerived: Uint8Array;
}
const CONSTANTS = new WeakMap<CryptoProvider, Map<HashAlgorithm, Constants>>();

function constants(p: CryptoProvider, hash: HashAlgorithm): Constants {
  let byHash = CONSTANTS.get(p);
  if (!byHash) CONSTANTS.set(p, (byHash = new Map()));
  let c = byHash.get(hash);
  if (!c) {
    const emptyHash = p.hash(hash).digest();
    const noPskEarly = hkdfExtract(p, hash, new Uint8Array(0), new Uint8Array(HASH_LENGTH[hash]));
    c = { emptyHash, noPskEarly, noPskDerived: deriveSecret(p, hash, noPskEarly, 'derived', emptyHash) };
    byHash.set(hash, c);
  }
  return c;
}

export class KeySchedule {
  private readonly hash: HashAlgorithm;
  private readonly hashLen: number;
  /** The secret of the current stage (early, then handshake, then master). */
  private secret: Uint8Array;
  private stage: 'early' | 'handshake' | 'master' = 'early';
  private readonly constants: Constants;
  private readonly withPsk: boolean;

  constructor(private readonly p: CryptoProvider, readonly suite: Tls13Suite, psk?: Uint8Array) {
    this.hash = suite.hash;
    this.hashLen = HASH_LENGTH[suite.hash];
    this.constants = constants(p, this.hash);
    this.withPsk = psk !== undefined;
    // §7.1: if no PSK is selected, a string of Hash.length zero bytes (the constant Early Secret; a
    // copy, since erase() zeroes the current secret).
    this.secret = psk ? hkdfExtract(p, this.hash, new Uint8Array(0), psk) : this.constants.noPskEarly.slice();
  }

  private emptyHash(): Uint8Array {
    return this.constants.emptyHash;
  }

  /** Early Secret -> Handshake Secret, mixing in the (EC)DHE shared secret. */
  inputSharedSecret(sharedSecret: Uint8Array): void {
    if (this.stage !== 'early') throw new Error('key schedule: handshake secret already derived');
    const salt = this.withPsk ? deriveSecret(this.p, this.hash, this.secret, 'derived', this.emptyHash()) : this.constants.noPskDerived;
    this.secret = hkdfExtract(this.p, this.hash, salt, sharedSecret);
    this.stage = 'handshake';
  }

  /** Handshake Secret -> Master Secret. */
  toMasterSecret(): void {
    if (this.stage !== 'handshake') throw new Error('key schedule: not at the handshake secret');
    const salt = deriveSecret(this.p, this.hash, this.secret, 'derived', this.emptyHash());
    this.secret = hkdfExtract(this.p, this.hash, salt, new Uint8Array(this.hashLen));
    this.stage = 'master';
  }

  /** Derive-Secret from the current stage's secret (labels of §7.1). */
  derive(label: string, transcriptHash: Uint8Array): Uint8Array {
    return deriveSecret(this.p, this.hash, this.secret, label, transcriptHash);
  }

  /** §7.3: write key and IV from a traffic secret. */
  trafficKeys(trafficSecret: Uint8Array): TrafficKeys {
    return trafficKeys(this.p, this.suite, trafficSecret);
  }

  /** §4.4.4: verify_data = HMAC(finished_key, Transcript-Hash(...)). */
  finishedVerifyData(baseKey: Uint8Array, transcriptHash: Uint8Array): Uint8Array {
    const finishedKey = hkdfExpandLabel(this.p, this.hash, baseKey, 'finished', new Uint8Array(0), this.hashLen);
    return this.p.hmac(this.hash, finishedKey, transcriptHash);
  }

  /** §7.2: application_traffic_secret_N+1. */
  nextTrafficSecret(secret: Uint8Array): Uint8Array {
    return nextTrafficSecret(this.p, this.suite, secret);
  }

  /** §4.6.1: the PSK for a ticket: HKDF-Expand-Label(resumption_master_secret, "resumption", ticket_nonce, Hash.length). */
  resumptionPsk(resumptionMasterSecret: Uint8Array, ticketNonce: Uint8Array): Uint8Array {
    return hkdfExpandLabel(this.p, this.hash, resumptionMasterSecret, 'resumption', ticketNonce, this.hashLen);
  }

  /** Forget the current stage secret (after the master secret's children were derived). */
  erase(): void {
    this.secret.fill(0);
    shapeAnchors.schedule = this; // zeroed: the anchor holds no secret (common/shape-anchors.ts)
  }
}

/** §7.3: [sender]_write_key = HKDF-Expand-Label(Secret, "key", "", key_length); [sender]_write_iv likewise with "iv". */
export function trafficKeys(p: CryptoProvider, suite: Tls13Suite, trafficSecret: Uint8Array): TrafficKeys {
  return {
    key: hkdfExpandLabel(p, suite.hash, trafficSecret, 'key', new Uint8Array(0), AEAD_KEY_LENGTH[suite.aead]),
    iv: hkdfExpandLabel(p, suite.hash, trafficSecret, 'iv', new Uint8Array(0), AEAD_NONCE_LENGTH),
  };
}

/** §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length). */
export function nextTrafficSecret(p: CryptoProvider, suite: Tls13Suite, secret: Uint8Array): Uint8Array {
  return hkdfExpandLabel(p, suite.hash, secret, 'traffic upd', new Uint8Array(0), HASH_LENGTH[suite.hash]);
}
