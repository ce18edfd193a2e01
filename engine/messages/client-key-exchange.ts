/**
 * TLS 1.2 ClientKeyExchange (RFC 5246 §7.4.7, RFC 8422 §5.7):
 *   ECDHE: struct { opaque point <1..2^8-1>; } ClientECDiffieHellmanPublic;
 *   DHE:   struct { opaque dh_Yc<1..2^16-1>; } ClientDiffieHellmanPublic;   (explicit encoding)
 */

import { Reader } from '../codec.js';

export function parseEcdheClientKeyExchange(body: Uint8Array): Uint8Array {
  const r = new Reader(body);
  const point = r.vec(1, 1, 255, 'ECDH client public');
  r.end('ClientKeyExchange');
  return point;
}

export function parseDheClientKeyExchange(body: Uint8Array): Uint8Array {
  const r = new Reader(body);
  const y = r.vec(2, 1, 0xffff, 'DH client public');
  r.end('ClientKeyExchange');
  return y;
}
