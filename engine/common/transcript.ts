/**
 * The transcript hash (RFC 8446 §4.4.1): the running hash of every
 * handshake message, with the HelloRetryRequest special case: ClientHello1
 * is replaced by a synthetic message_hash message.
 */

import type { CryptoProvider, HashAlgorithm, HashContext } from '../crypto/provider.js';
import { HASH_LENGTH } from '../crypto/provider.js';
import { HandshakeType } from '../constants.js';
import { concat } from '../codec.js';
import { shapeAnchors } from './shape-anchors.js';

export class Transcript {
  private ctx: HashContext;

  constructor(private readonly provider: CryptoProvider, readonly hash: HashAlgorithm) {
    this.ctx = provider.hash(hash);
    shapeAnchors.transcript = this; // handshake messages only: no secret (shape-anchors.ts)
  }

  private raw: Uint8Array[] | undefined;

  /**
   * Also keep the messages themselves (TLS 1.2 client CertificateVerify
   * signs the handshake messages, not their hash: RFC 5246 §7.4.8).
   * Call before the first add().
   */
  keepMessages(): void {
    this.raw = [];
  }

  /** Everything added so far, when keepMessages() was called. */
  messages(): Uint8Array {
    if (!this.raw) throw new Error('transcript: messages were not kept');
    return concat(...this.raw);
  }

  add(message: Uint8Array): void {
    this.ctx.update(message);
    this.raw?.push(message.slice());
  }

  /** Transcript-Hash of everything added so far followed by `extra`, without adding it. */
  currentWith(extra: Uint8Array): Uint8Array {
    const c = this.ctx.clone();
    c.update(extra);
    return c.digest();
  }

  /** Transcript-Hash of everything added so far. */
  current(): Uint8Array {
    return this.ctx.digest();
  }

  /**
   * §4.4.1: Transcript-Hash(ClientHello1, HelloRetryRequest, ...) =
   *   Hash(message_hash || 00 00 Hash.length || Hash(ClientHello1) || HelloRetryRequest || ...)
   * Call with only ClientHello1 added so far.
   */
  replaceWithMessageHash(): void {
    const h1 = this.ctx.digest();
    this.ctx = this.provider.hash(this.hash);
    this.ctx.update(Uint8Array.of(HandshakeType.message_hash, 0, 0, HASH_LENGTH[this.hash]));
    this.ctx.update(h1);
  }
}
