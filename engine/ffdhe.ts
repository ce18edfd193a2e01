/**
 * Finite-field Diffie-Hellman groups of RFC 7919 appendix A, used by the
 * TLS 1.2 DHE_RSA suites (RFC 5288), and the checks RFC 7919 §5.1 asks of
 * peer values. The arithmetic is the provider's (CryptoProvider.dhKeyShare).
 */

import { fromHex } from './codec.js';
import { NamedGroup } from './constants.js';
import { fail } from './errors.js';

export interface DhParams {
  readonly p: Uint8Array;
  readonly g: Uint8Array;
  /** Named group when the parameters are an RFC 7919 group. */
  readonly group?: number;
  /** Prime size in bits. */
  readonly bits: number;
}

/** RFC 7919 §A.1 */
export const FFDHE2048: DhParams = {
  p: fromHex('FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA886B423861285C97FFFFFFFFFFFFFFFF'),
  g: Uint8Array.of(2),
  group: NamedGroup.ffdhe2048,
  bits: 2048,
};

/** RFC 7919 §A.2 */
export const FFDHE3072: DhParams = {
  p: fromHex('FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA886B4238611FCFDCDE355B3B6519035BBC34F4DEF99C023861B46FC9D6E6C9077AD91D2691F7F7EE598CB0FAC186D91CAEFE130985139270B4130C93BC437944F4FD4452E2D74DD364F2E21E71F54BFF5CAE82AB9C9DF69EE86D2BC522363A0DABC521979B0DEADA1DBF9A42D5C4484E0ABCD06BFA53DDEF3C1B20EE3FD59D7C25E41D2B66C62E37FFFFFFFFFFFFFFFF'),
  g: Uint8Array.of(2),
  group: NamedGroup.ffdhe3072,
  bits: 3072,
};

export const FFDHE_GROUPS: ReadonlyMap<number, DhParams> = new Map([
  [NamedGroup.ffdhe2048, FFDHE2048],
  [NamedGroup.ffdhe3072, FFDHE3072],
]);

function toBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/**
 * RFC 7919 §5.1 / RFC 5246 §8.1.2 hygiene: a peer's public value Y must
 * satisfy 1 < Y < p-1 (otherwise the shared secret is trivially 1 or ±1).
 */
export function checkDhPublic(params: DhParams, y: Uint8Array): void {
  const Y = toBigInt(y);
  const p = toBigInt(params.p);
  if (y.length > params.p.length || Y <= 1n || Y >= p - 1n) fail('illegal_parameter', 'DH public value out of range (1 < Y < p-1)');
}

/** RFC 5246 §8.1.2: leading zero bytes of Z are stripped before it is used as the pre-master secret. */
export function stripLeadingZeros(z: Uint8Array): Uint8Array {
  let i = 0;
  while (i < z.length - 1 && z[i] === 0) i++;
  return z.subarray(i);
}
