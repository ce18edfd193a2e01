/**
 * TLS 1.2 ServerKeyExchange (RFC 5246 §7.4.3, RFC 8422 §5.4 for ECDHE):
 *
 *   struct { ECCurveType curve_type = named_curve(3); NamedCurve namedcurve; opaque point <1..2^8-1>; } ServerECDHParams;
 *   struct { opaque dh_p<1..2^16-1>; opaque dh_g<1..2^16-1>; opaque dh_Ys<1..2^16-1>; } ServerDHParams;
 *   struct { params; digitally-signed struct { client_random[32]; server_random[32]; params; } signed_params; } ServerKeyExchange;
 *   digitally-signed: SignatureAndHashAlgorithm algorithm; opaque signature<0..2^16-1>;
 */

import { Reader, Writer, concat } from '../codec.js';
import { HandshakeType } from '../constants.js';
import { encodeHandshake } from './handshake.js';

/** RFC 8422 §5.4: ECCurveType named_curve */
export const NAMED_CURVE = 3;

export function ecdheParams(group: number, point: Uint8Array): Uint8Array {
  return new Writer(4 + point.length).u8(NAMED_CURVE).u16(group).vec(1, point).finish();
}

export function dheParams(p: Uint8Array, g: Uint8Array, ys: Uint8Array): Uint8Array {
  return new Writer(6 + p.length + g.length + ys.length).vec(2, p).vec(2, g).vec(2, ys).finish();
}

/** The bytes the server signs: client_random + server_random + params. */
export function signedParams(clientRandom: Uint8Array, serverRandom: Uint8Array, params: Uint8Array): Uint8Array {
  return concat(clientRandom, serverRandom, params);
}

export function encodeServerKeyExchange(params: Uint8Array, scheme: number, signature: Uint8Array): Uint8Array {
  const body = new Writer(params.length + signature.length + 4).bytes(params).u16(scheme).vec(2, signature).finish();
  return encodeHandshake(HandshakeType.server_key_exchange, body);
}

/** Parse an ECDHE ServerKeyExchange (for tests). */
export function parseEcdheServerKeyExchange(body: Uint8Array): { group: number; point: Uint8Array; params: Uint8Array; scheme: number; signature: Uint8Array } {
  const r = new Reader(body);
  const start = r.offset;
  if (r.u8() !== NAMED_CURVE) throw new Error('not a named curve');
  const group = r.u16();
  const point = r.vec(1, 1, 255);
  const params = body.subarray(start, r.offset);
  const scheme = r.u16();
  const signature = r.vec(2, 0, 0xffff);
  r.end('ServerKeyExchange');
  return { group, point, params, scheme, signature };
}
