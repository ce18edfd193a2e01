/**
 * A small hand-written ClientHello builder for tests that talk to the
 * engine directly (no sockets): a valid base hello, and knobs to mutate it.
 */

import { generateKeyPairSync } from 'node:crypto';
import { Writer } from '../../engine/codec.js';
import { ExtensionType } from '../../engine/constants.js';

export interface HelloOptions {
  version?: number;
  random?: Uint8Array;
  sessionId?: Uint8Array;
  suites?: number[];
  compression?: number[];
  /** Extensions in order; replaces the defaults when given. */
  extensions?: [number, Uint8Array][];
  /** Added after the defaults. */
  extra?: [number, Uint8Array][];
  /** Leave out these default extensions. */
  omit?: number[];
  supportedVersions?: number[];
  groups?: number[];
  sigalgs?: number[];
  keyShares?: [number, Uint8Array][];
}

export function x25519Public(): Uint8Array {
  const { publicKey } = generateKeyPairSync('x25519', { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } });
  return new Uint8Array(publicKey.subarray(publicKey.length - 32));
}

const u16s = (xs: number[]) => {
  const w = new Writer().begin(2);
  for (const x of xs) w.u16(x);
  return w.close().finish();
};

export function defaultExtensions(o: HelloOptions = {}): [number, Uint8Array][] {
  const sv = new Writer().begin(1);
  for (const v of o.supportedVersions ?? [0x0304, 0x0303]) sv.u16(v);
  const ks = new Writer().begin(2);
  for (const [g, k] of o.keyShares ?? [[0x001d, x25519Public()]]) ks.u16(g).vec(2, k);
  return [
    [ExtensionType.supported_versions, sv.close().finish()],
    [ExtensionType.supported_groups, u16s(o.groups ?? [0x001d, 0x0017, 0x0018])],
    [ExtensionType.signature_algorithms, u16s(o.sigalgs ?? [0x0403, 0x0804, 0x0807, 0x0401])],
    [ExtensionType.key_share, ks.close().finish()],
    [ExtensionType.extended_master_secret, new Uint8Array(0)],
    [ExtensionType.renegotiation_info, Uint8Array.of(0)],
    [ExtensionType.ec_point_formats, Uint8Array.of(1, 0)],
  ];
}

/** The ClientHello handshake message (with its 4-byte header). */
export function clientHello(o: HelloOptions = {}): Uint8Array {
  let exts = o.extensions ?? defaultExtensions(o);
  if (o.omit) exts = exts.filter(([t]) => !o.omit!.includes(t));
  if (o.extra) exts = [...exts, ...o.extra];
  const w = new Writer(512);
  w.u8(1).begin(3);
  w.u16(o.version ?? 0x0303).bytes(o.random ?? new Uint8Array(32).fill(0x42)).vec(1, o.sessionId ?? new Uint8Array(0));
  w.begin(2);
  for (const s of o.suites ?? [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f]) w.u16(s);
  w.close();
  w.vec(1, Uint8Array.from(o.compression ?? [0]));
  w.begin(2);
  for (const [t, d] of exts) w.u16(t).vec(2, d);
  w.close();
  w.close();
  return w.finish();
}

/** Wrap handshake bytes (or anything) in one plaintext record. */
export function record(type: number, body: Uint8Array, version = 0x0303): Uint8Array {
  return new Writer(body.length + 5).u8(type).u16(version).vec(2, body).finish();
}

/** A TLS 1.2-only ClientHello (no supported_versions, no key_share). */
export function tls12Hello(o: HelloOptions = {}): Uint8Array {
  return clientHello({
    suites: [0xc02b, 0xc02f, 0xc02c, 0xc030],
    ...o,
    omit: [ExtensionType.supported_versions, ExtensionType.key_share, ...(o.omit ?? [])],
  });
}
