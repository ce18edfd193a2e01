/**
 * KeyUpdate (RFC 8446 §4.6.3):
 *   enum { update_not_requested(0), update_requested(1), (255) } KeyUpdateRequest;
 *   struct { KeyUpdateRequest request_update; } KeyUpdate;
 */

import { Reader } from '../codec.js';
import { HandshakeType, KeyUpdateRequest } from '../constants.js';
import { fail } from '../errors.js';
import { encodeHandshake } from './handshake.js';

export function encodeKeyUpdate(requestUpdate: boolean): Uint8Array {
  return encodeHandshake(
    HandshakeType.key_update,
    Uint8Array.of(requestUpdate ? KeyUpdateRequest.update_requested : KeyUpdateRequest.update_not_requested),
  );
}

export function parseKeyUpdate(body: Uint8Array): boolean {
  const r = new Reader(body);
  const v = r.u8('request_update');
  r.end('KeyUpdate');
  // §4.6.3: "If an implementation receives any other value, it MUST terminate the connection with an "illegal_parameter" alert."
  if (v !== KeyUpdateRequest.update_not_requested && v !== KeyUpdateRequest.update_requested) {
    fail('KeyUpdateBadRequest', v);
  }
  return v === KeyUpdateRequest.update_requested;
}
