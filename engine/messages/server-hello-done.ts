/** TLS 1.2 ServerHelloDone (RFC 5246 §7.4.5): struct { } ServerHelloDone; */

import { HandshakeType } from '../constants.js';
import { encodeHandshake } from './handshake.js';

export function encodeServerHelloDone(): Uint8Array {
  return encodeHandshake(HandshakeType.server_hello_done, new Uint8Array(0));
}
