/**
 * A mutation engine for byte inputs, in the AFL/libFuzzer style: bit
 * flips, interesting byte/16-bit/24-bit values (TLS lengths are 8, 16 and
 * 24 bits, big-endian), inserted, deleted, duplicated and spliced ranges,
 * truncation; and, for TLS streams, re-fragmenting the handshake records
 * (reassembly across records of random sizes) and rewriting a record's or
 * a handshake message's length field.
 */
import type { Rng } from './rng.js';

const INTERESTING8 = [0, 1, 0x7f, 0x80, 0xff, 0x16, 0x17, 0x15, 0x14, 0x03, 0x04];
const INTERESTING16 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x4001, 0x4100, 0x4101, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x0303, 0x0304, 0x0301];

export type Mutator = (rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[]) => Uint8Array;

function clone(b: Uint8Array): Uint8Array {
  return b.slice();
}

const flipBit: Mutator = (rng, input) => {
  if (!input.length) return rng.bytes(1);
  const out = clone(input);
  const i = rng.below(out.length);
  out[i]! ^= 1 << rng.below(8);
  return out;
};

const setByte: Mutator = (rng, input) => {
  if (!input.length) return rng.bytes(1);
  const out = clone(input);
  out[rng.below(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING8) : rng.u32() & 0xff;
  return out;
};

const arith: Mutator = (rng, input) => {
  if (!input.length) return rng.bytes(1);
  const out = clone(input);
  const i = rng.below(out.length);
  out[i] = (out[i]! + (rng.below(70) - 35)) & 0xff;
  return out;
};

const set16: Mutator = (rng, input) => {
  if (input.length < 2) return rng.bytes(2);
  const out = clone(input);
  const i = rng.below(out.length - 1);
  let v = rng.chance(0.7) ? rng.pick(INTERESTING16) : rng.u32() & 0xffff;
  if (rng.chance(0.3)) v = (((out[i]! << 8) | out[i + 1]!) + rng.below(9) - 4) & 0xffff;
  out[i] = v >> 8;
  out[i + 1] = v & 0xff;
  return out;
};

const set24: Mutator = (rng, input) => {
  if (input.length < 3) return rng.bytes(3);
  const out = clone(input);
  const i = rng.below(out.length - 2);
  const cur = (out[i]! << 16) | (out[i + 1]! << 8) | out[i + 2]!;
  const v = rng.pick([0, 1, 0xffff, 0x10000, 0x1ffff, 0xffffff, cur + 1, cur - 1, cur * 2]) & 0xffffff;
  out[i] = v >> 16;
  out[i + 1] = (v >> 8) & 0xff;
  out[i + 2] = v & 0xff;
  return out;
};

const insert: Mutator = (rng, input) => {
  const at = rng.below(input.length + 1);
  const n = rng.chance(0.9) ? 1 + rng.below(16) : 1 + rng.below(2048);
  const fill = rng.chance(0.5) ? rng.bytes(n) : new Uint8Array(n).fill(rng.pick(INTERESTING8));
  const out = new Uint8Array(input.length + n);
  out.set(input.subarray(0, at));
  out.set(fill, at);
  out.set(input.subarray(at), at + n);
  return out;
};

const erase: Mutator = (rng, input) => {
  if (input.length < 2) return new Uint8Array(0);
  const at = rng.below(input.length);
  const n = 1 + rng.below(Math.min(input.length - at, rng.chance(0.8) ? 16 : 4096));
  const out = new Uint8Array(input.length - n);
  out.set(input.subarray(0, at));
  out.set(input.subarray(at + n), at);
  return out;
};

const duplicate: Mutator = (rng, input) => {
  if (!input.length) return rng.bytes(4);
  const at = rng.below(input.length);
  const n = 1 + rng.below(Math.min(input.length - at, 512));
  const to = rng.below(input.length + 1);
  const piece = input.slice(at, at + n);
  const times = rng.chance(0.1) ? 1 + rng.below(64) : 1;
  const out = new Uint8Array(input.length + n * times);
  out.set(input.subarray(0, to));
  for (let k = 0; k < times; k++) out.set(piece, to + k * n);
  out.set(input.subarray(to), to + n * times);
  return out;
};

const truncate: Mutator = (rng, input) => input.slice(0, rng.below(input.length + 1));

const splice: Mutator = (rng, input, corpus) => {
  const other = corpus.length ? rng.pick(corpus) : rng.bytes(32);
  const a = rng.below(input.length + 1);
  const b = rng.below(other.length + 1);
  const out = new Uint8Array(a + other.length - b);
  out.set(input.subarray(0, a));
  out.set(other.subarray(b), a);
  return out;
};

// ------------------------------------------------------------ TLS-aware

interface Rec {
  type: number;
  version: number;
  body: Uint8Array;
}

/** The records of a TLS byte stream (a trailing partial record is kept as raw bytes). */
export function splitRecords(stream: Uint8Array): { records: Rec[]; rest: Uint8Array } {
  const records: Rec[] = [];
  let i = 0;
  while (i + 5 <= stream.length) {
    const len = (stream[i + 3]! << 8) | stream[i + 4]!;
    if (i + 5 + len > stream.length) break;
    records.push({ type: stream[i]!, version: (stream[i + 1]! << 8) | stream[i + 2]!, body: stream.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return { records, rest: stream.subarray(i) };
}

export function joinRecords(records: readonly Rec[], rest: Uint8Array = new Uint8Array(0)): Uint8Array {
  const total = records.reduce((n, r) => n + 5 + r.body.length, 0) + rest.length;
  const out = new Uint8Array(total);
  let o = 0;
  for (const r of records) {
    out[o] = r.type;
    out[o + 1] = r.version >> 8;
    out[o + 2] = r.version & 0xff;
    out[o + 3] = r.body.length >> 8;
    out[o + 4] = r.body.length & 0xff;
    out.set(r.body, o + 5);
    o += 5 + r.body.length;
  }
  out.set(rest, o);
  return out;
}

/** Re-fragment the leading run of plaintext handshake records into records of random sizes (reassembly). */
const refragment: Mutator = (rng, input) => {
  const { records, rest } = splitRecords(input);
  let n = 0;
  while (n < records.length && records[n]!.type === 22) n++;
  if (n === 0) return flipBit(rng, input, []);
  const total = records.slice(0, n).reduce((s, r) => s + r.body.length, 0);
  const joined = new Uint8Array(total);
  let o = 0;
  for (const r of records.slice(0, n)) {
    joined.set(r.body, o);
    o += r.body.length;
  }
  const out: Rec[] = [];
  const version = records[0]!.version;
  const max = rng.pick([1, 2, 3, 7, 64, 500, 16384]);
  for (let i = 0; i < joined.length;) {
    const size = Math.min(joined.length - i, 1 + rng.below(max));
    out.push({ type: 22, version, body: joined.subarray(i, i + size) });
    i += size;
  }
  // Sometimes interleave an empty record, a CCS or a warning alert between fragments.
  if (rng.chance(0.2) && out.length > 1) {
    const at = 1 + rng.below(out.length - 1);
    out.splice(at, 0, rng.pick<Rec>([
      { type: 22, version, body: new Uint8Array(0) },
      { type: 20, version, body: Uint8Array.of(1) },
      { type: 21, version, body: Uint8Array.of(1, 0) },
      { type: 23, version, body: rng.bytes(20) },
    ]));
  }
  return joinRecords([...out, ...records.slice(n)], rest);
};

/** Rewrite the length of one record or of the first handshake message in it. */
const lengthField: Mutator = (rng, input) => {
  const { records, rest } = splitRecords(input);
  if (!records.length) return set16(rng, input, []);
  const r = rng.pick(records);
  const body = r.body.slice();
  if (r.type === 22 && body.length >= 4 && rng.chance(0.6)) {
    const cur = (body[1]! << 16) | (body[2]! << 8) | body[3]!;
    const v = rng.pick([0, 1, cur - 1, cur + 1, cur + 255, 0xffff, 0x10000, 0x20000, 0xffffff]) & 0xffffff;
    body[1] = v >> 16;
    body[2] = (v >> 8) & 0xff;
    body[3] = v & 0xff;
    r.body = body;
    return joinRecords(records, rest);
  }
  // The record header itself: joined, then its length bytes rewritten.
  const out = joinRecords(records, rest);
  let off = 0;
  for (const x of records) {
    if (x === r) break;
    off += 5 + x.body.length;
  }
  const v = rng.pick([0, 1, r.body.length - 1, r.body.length + 1, 0x4000, 0x4001, 0x4100, 0x4101, 0xffff]) & 0xffff;
  out[off + 3] = v >> 8;
  out[off + 4] = v & 0xff;
  return out;
};

export const GENERIC: readonly Mutator[] = [flipBit, setByte, arith, set16, set24, insert, erase, duplicate, truncate, splice];
export const TLS: readonly Mutator[] = [...GENERIC, set16, set24, refragment, lengthField, lengthField];

/** One to `stack` mutations in a row. */
export function mutate(rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[], mutators: readonly Mutator[], stack = 4, maxLength = 1 << 17): Uint8Array {
  let out = input;
  const n = 1 + rng.below(stack);
  for (let i = 0; i < n; i++) out = rng.pick(mutators)(rng, out, corpus);
  return out.length > maxLength ? out.subarray(0, maxLength) : out;
}
