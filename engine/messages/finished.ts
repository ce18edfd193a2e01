/**
 * Finished (RFC 8446 §4.4.4): struct { opaque verify_data[Hash.length]; } Finished;
 */

import { HandshakeType } from '../constants.js';
import { encodeHandshake } from './handshake.js';

export function encodeFinished(verifyData: Uint8Array): Uint8Array {
  return encodeHandshake(HandshakeType.finished, verifyData);
}
