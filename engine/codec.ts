/**
 * Byte codec for TLS structures (RFC 8446 §3 "Presentation Language").
 *
 * Reader: a cursor over a Uint8Array. Every length-prefixed vector is read
 * through a bounded sub-reader, and `end()` rejects trailing bytes, so a
 * message that is shorter or longer than its own length fields claim is
 * always a decode_error, never an out-of-bounds read.
 *
 * Writer: an append-only growable buffer whose length prefixes are written
 * as placeholders and back-patched when the vector closes.
 */

import { fail } from './errors.js';
import { keepStandIn } from './common/shape-anchors.js';

export class Reader {
  private pos: number;
  private readonly limit: number;

  constructor(private readonly buf: Uint8Array, start = 0, end = buf.length) {
    this.pos = start;
    this.limit = end;
  }

  get remaining(): number {
    return this.limit - this.pos;
  }

  get offset(): number {
    return this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.limit - this.pos) fail('FieldOverrun', what);
  }

  u8(what = 'uint8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'uint16'): number {
    this.need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u24(what = 'uint24'): number {
    this.need(3, what);
    const v = (this.buf[this.pos]! << 16) | (this.buf[this.pos + 1]! << 8) | this.buf[this.pos + 2]!;
    this.pos += 3;
    return v;
  }

  u32(what = 'uint32'): number {
    this.need(4, what);
    const v =
      this.buf[this.pos]! * 0x1000000 +
      ((this.buf[this.pos + 1]! << 16) | (this.buf[this.pos + 2]! << 8) | this.buf[this.pos + 3]!);
    this.pos += 4;
    return v;
  }

  /** n raw bytes (a view, not a copy). */
  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** The rest of this reader. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** opaque v<min..max> with a `lenBytes`-byte length prefix. */
  vec(lenBytes: 1 | 2 | 3, min: number, max: number, what = 'vector'): Uint8Array {
    const n = this.len(lenBytes, what);
    if (n < min || n > max) fail('VectorLengthOutOfRange', what, n, min, max);
    return this.bytes(n, what);
  }

  /** A bounded sub-reader over a length-prefixed vector. */
  sub(lenBytes: 1 | 2 | 3, min: number, max: number, what = 'vector'): Reader {
    const n = this.len(lenBytes, what);
    if (n < min || n > max) fail('VectorLengthOutOfRange', what, n, min, max);
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  private len(lenBytes: 1 | 2 | 3, what: string): number {
    return lenBytes === 1 ? this.u8(what) : lenBytes === 2 ? this.u16(what) : this.u24(what);
  }

  /** Reject trailing bytes. */
  end(what = 'structure'): void {
    if (this.pos !== this.limit) fail('TrailingBytes', what, this.limit - this.pos);
  }
}

export class Writer {
  private buf: Uint8Array;
  private pos = 0;
  private readonly open: { at: number; lenBytes: number; max: number }[] = [];

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  get length(): number {
    return this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    this.reserve(3);
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.buf[this.pos++] = (v >>> 24) & 0xff;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Open a vector: writes a placeholder length, patched by close(). */
  begin(lenBytes: 1 | 2 | 3, max = (1 << (8 * lenBytes)) - 1): this {
    this.open.push({ at: this.pos, lenBytes, max });
    this.reserve(lenBytes);
    this.pos += lenBytes;
    return this;
  }

  /** Close the innermost vector and back-patch its length. */
  close(): this {
    const v = this.open.pop();
    if (!v) throw new Error('Writer.close() without begin()');
    const n = this.pos - v.at - v.lenBytes;
    if (n > v.max) throw new Error(`vector of ${n} bytes exceeds its maximum ${v.max}`);
    for (let i = v.lenBytes - 1, x = n; i >= 0; i--, x >>>= 8) this.buf[v.at + i] = x & 0xff;
    return this;
  }

  /** Shorthand: a vector holding `b`. */
  vec(lenBytes: 1 | 2 | 3, b: Uint8Array): this {
    return this.begin(lenBytes).bytes(b).close();
  }

  finish(): Uint8Array {
    if (this.open.length) throw new Error('Writer.finish() with an open vector');
    return this.buf.slice(0, this.pos);
  }
}

// A writer that is never written to and a reader of nothing, so that V8 keeps their shapes (common/shape-anchors.ts).
keepStandIn(new Writer(1));
keepStandIn(new Reader(new Uint8Array(0)));

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time comparison of two byte strings (length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s: string): Uint8Array {
  const clean = s.replace(/[^0-9a-fA-F]/g, '');
  if (clean.length % 2) throw new Error('odd-length hex string');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

export const utf8 = {
  encode: (s: string): Uint8Array => new TextEncoder().encode(s),
  decode: (b: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(b),
};
