/**
 * Reassembles handshake messages from record fragments (RFC 8446 §5.1):
 * a message may span several records, and one record may hold several
 * messages. The announced length is checked against our limit as soon as
 * the 4-byte header is in, so a peer cannot make us buffer more.
 */

import { fail } from './errors.js';
import type { HandshakeMessage } from './messages/handshake.js';

export class HandshakeBuffer {
  private buf = new Uint8Array(0);

  constructor(private readonly maxMessage: number) {}

  /** True when part of a message is waiting for more records. */
  get hasPartial(): boolean {
    return this.buf.length > 0;
  }

  push(fragment: Uint8Array): void {
    // §5.1: "Implementations MUST NOT send zero-length fragments of Handshake types."
    if (fragment.length === 0) fail('EmptyHandshakeRecord');
    if (this.buf.length === 0) {
      this.buf = fragment.slice();
    } else {
      const next = new Uint8Array(this.buf.length + fragment.length);
      next.set(this.buf, 0);
      next.set(fragment, this.buf.length);
      this.buf = next;
    }
    if (this.buf.length >= 4) this.checkLength();
  }

  private checkLength(): void {
    const len = (this.buf[1]! << 16) | (this.buf[2]! << 8) | this.buf[3]!;
    if (len > this.maxMessage) {
      fail('HandshakeMessageTooLong', this.buf[0]!, len, this.maxMessage);
    }
  }

  /** The next complete message, or undefined. */
  pop(): HandshakeMessage | undefined {
    if (this.buf.length < 4) return undefined;
    this.checkLength();
    const len = (this.buf[1]! << 16) | (this.buf[2]! << 8) | this.buf[3]!;
    if (this.buf.length < 4 + len) return undefined;
    const raw = this.buf.subarray(0, 4 + len);
    this.buf = this.buf.subarray(4 + len);
    return { type: raw[0]!, body: raw.subarray(4), raw };
  }
}
