/**
 * Finished (RFC 8446 §4.4.4): struct { opaque verify_data[Hash.length]; } Finished;
 */

import { HandshakeType } from '../constants.js';
import { fail } from '../errors.js';
import { encodeHandshake } from './handshake.js';

export function encodeFinished(verifyData: Uint8Array): Uint8Array {
  return encodeHandshake(HandshakeType.finished, verifyData);
}

/** The body is verify_data itself; its length is checked against Hash.length by the caller (§4.4.4). */
export function parseFinished(body: Uint8Array, hashLength: number): Uint8Array {
  if (body.length !== hashLength) fail('FinishedWrongLength', body.length, hashLength);
  return body;
}
