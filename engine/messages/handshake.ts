/**
 * Handshake message framing (RFC 8446 §4):
 *   struct { HandshakeType msg_type; uint24 length; select (msg_type) {...} body; } Handshake;
 */

import { Writer } from '../codec.js';

export interface HandshakeMessage {
  readonly type: number;
  readonly body: Uint8Array;
  /** The whole message including its 4-byte header, as it enters the transcript. */
  readonly raw: Uint8Array;
}

export function encodeHandshake(type: number, body: Uint8Array): Uint8Array {
  return new Writer(body.length + 4).u8(type).u24(body.length).bytes(body).finish();
}

/** Build a handshake message with a body writer callback. */
export function buildHandshake(type: number, fill: (w: Writer) => void, sizeHint = 256): Uint8Array {
  const w = new Writer(sizeHint);
  w.u8(type).begin(3);
  fill(w);
  w.close();
  return w.finish();
}
