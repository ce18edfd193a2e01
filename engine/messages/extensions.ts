/**
 * Extension blocks (RFC 8446 §4.2):
 *   struct { ExtensionType extension_type; opaque extension_data<0..2^16-1>; } Extension;
 *
 * §4.2: "There MUST NOT be more than one extension of the same type in a
 * given extension block." Duplicates are an illegal_parameter (what OpenSSL
 * and Go send), and the number of extensions is bounded.
 */

import { Reader, Writer } from '../codec.js';
import { fail } from '../errors.js';

export interface Extension {
  readonly type: number;
  readonly data: Uint8Array;
}

export function parseExtensions(r: Reader, maxCount: number, what: string): Extension[] {
  const out: Extension[] = [];
  const seen = new Set<number>();
  while (r.remaining > 0) {
    const type = r.u16(`${what} extension type`);
    const data = r.vec(2, 0, 0xffff, `${what} extension data`);
    if (seen.has(type)) fail('DuplicateExtension', what, type);
    seen.add(type);
    out.push({ type, data });
    if (out.length > maxCount) fail('TooManyExtensions', what, maxCount);
  }
  return out;
}

export function writeExtensions(w: Writer, exts: readonly Extension[]): void {
  w.begin(2);
  for (const e of exts) w.u16(e.type).vec(2, e.data);
  w.close();
}

export function findExtension(exts: readonly Extension[], type: number): Uint8Array | undefined {
  for (const e of exts) if (e.type === type) return e.data;
  return undefined;
}
