/**
 * Reassembles handshake messages from record fragments (RFC 8446 §5.1):
 * a message may span several records, and one record may hold several
 * messages. The announced length is checked against our bound as soon as
 * the 4-byte header is in, so a peer cannot make us buffer more.
 *
 * Linear in the bytes received: a fragment is copied once when it arrives,
 * and a message spanning records is copied once more into a buffer of its
 * announced size (allocated when its header is complete); a message that
 * lies within one fragment is handed out as a view. A 64 KiB ClientHello in
 * one-byte records costs 2 copies of 64 KiB, not 2^31 bytes of re-copying.
 *
 * The bound (Limits.maxHandshakeMessage, default MAX_CLIENT_HELLO) is the
 * longest ClientHello the wire format allows, ~128 KiB like OpenSSL's; a
 * message announcing more is a decode_error (engine/errors.ts
 * HandshakeMessageTooLong), and so is one of the small messages of
 * MAX_BY_TYPE announcing more than its own bound.
 */

import { fail } from './errors.js';
import type { HandshakeMessage } from './messages/handshake.js';

/**
 * The longest possible ClientHello body (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2):
 * legacy_version 2 + random 32 + legacy_session_id 1+32 + cipher_suites 2+65,534
 * + legacy_compression_methods 1+255 + extensions 2+65,535 = 131,396 bytes.
 */
export const MAX_CLIENT_HELLO = 2 + 32 + (1 + 32) + (2 + 65534) + (1 + 255) + (2 + 65535);

/**
 * Messages the RFCs give a small fixed or bounded size (RFC 8446 §4.4.4
 * Finished: Hash.length, at most 48 here; §4.6.3 KeyUpdate: 1 byte; §4.5
 * EndOfEarlyData: empty; §4.4.3 CertificateVerify: 2 + 2 + 65,535; RFC 5246
 * §7.4.7 ClientKeyExchange: an (EC)DH public value, at most 2 + 1,024 for
 * ffdhe8192, bounded like OpenSSL's CLIENT_KEY_EXCH_MAX_LENGTH). A header
 * announcing more is malformed at once (decode_error), instead of being
 * buffered up to the ClientHello bound first. Other types: maxMessage.
 *
 * Certificate (a client's chain: RFC 8446 §4.4.2, RFC 5246 §7.4.6) is ours:
 * at most 64 KiB (OpenSSL's max_cert_list is 100 KiB). Parsing costs about
 * 3 µs of CPU per byte of chain and needs no valid signature, so this bound
 * is what keeps an unauthenticated client's certificate to a few hundred
 * milliseconds of CPU at worst; real client chains are a few KiB.
 */
export const MAX_CLIENT_CERTIFICATE_MESSAGE = 65536;

/** Per-type bounds, explained above. */
const MAX_BY_TYPE: ReadonlyMap<number, number> = new Map([
  [20, 64], // finished (OpenSSL FINISHED_MAX_LENGTH)
  [24, 1], // key_update
  [5, 0], // end_of_early_data
  [15, 2 + 2 + 65535], // certificate_verify
  [16, 2048], // client_key_exchange
  [11, MAX_CLIENT_CERTIFICATE_MESSAGE], // certificate (ours, see above)
]);

export class HandshakeBuffer {
  /** Received fragments not yet consumed (copies we own), and the read offset in the first. */
  private chunks: Uint8Array[] = [];
  private offset = 0;
  private buffered = 0;
  /** A message spanning fragments: its buffer (header included) and how much of it is filled. */
  private partial: { raw: Uint8Array; filled: number } | undefined;

  constructor(private readonly maxMessage: number) {}

  /** True when part of a message (or a whole one not yet taken) is waiting. */
  get hasPartial(): boolean {
    return this.buffered > 0 || this.partial !== undefined;
  }

  push(fragment: Uint8Array): void {
    // §5.1: "Implementations MUST NOT send zero-length fragments of Handshake types."
    if (fragment.length === 0) fail('EmptyHandshakeRecord');
    this.chunks.push(fragment.slice());
    this.buffered += fragment.length;
    if (!this.partial && this.buffered >= 4) this.checkLength(this.headerLength());
  }

  /** Byte `i` of the unconsumed input. */
  private peek(i: number): number {
    let k = 0;
    let at = this.offset + i;
    while (at >= this.chunks[k]!.length) at -= this.chunks[k++]!.length;
    return this.chunks[k]![at]!;
  }

  private headerLength(): number {
    return (this.peek(1) << 16) | (this.peek(2) << 8) | this.peek(3);
  }

  private checkLength(len: number): void {
    // RFC 8446 §6.2 decode_error: no legal ClientHello is longer, and we hold no other message to more.
    const type = this.peek(0);
    const max = Math.min(this.maxMessage, MAX_BY_TYPE.get(type) ?? this.maxMessage);
    if (len > max) fail('HandshakeMessageTooLong', type, len, max);
  }

  /** Move up to `n` bytes of input into `dst` at `at`; returns how many were moved. */
  private drain(dst: Uint8Array, at: number, n: number): number {
    let moved = 0;
    while (moved < n && this.chunks.length) {
      const c = this.chunks[0]!;
      const take = Math.min(n - moved, c.length - this.offset);
      dst.set(c.subarray(this.offset, this.offset + take), at + moved);
      moved += take;
      this.offset += take;
      if (this.offset === c.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    this.buffered -= moved;
    return moved;
  }

  /** The next complete message, or undefined. */
  pop(): HandshakeMessage | undefined {
    if (!this.partial) {
      if (this.buffered < 4) return undefined;
      const len = this.headerLength();
      this.checkLength(len);
      const first = this.chunks[0]!;
      if (first.length - this.offset >= 4 + len) {
        // The whole message is in one fragment: a view, no copy.
        const raw = first.subarray(this.offset, this.offset + 4 + len);
        this.offset += 4 + len;
        this.buffered -= 4 + len;
        if (this.offset === first.length) {
          this.chunks.shift();
          this.offset = 0;
        }
        return { type: raw[0]!, body: raw.subarray(4), raw };
      }
      this.partial = { raw: new Uint8Array(4 + len), filled: 0 };
    }
    const p = this.partial;
    p.filled += this.drain(p.raw, p.filled, p.raw.length - p.filled);
    if (p.filled < p.raw.length) return undefined;
    this.partial = undefined;
    return { type: p.raw[0]!, body: p.raw.subarray(4), raw: p.raw };
  }
}
