/**
 * Small helpers over asn1js for reading DER structures strictly (right tag,
 * right number of elements, no trailing bytes) and building them.
 * Internal to certs/.
 */
import * as asn1js from 'asn1js';
import { CertificateError } from './errors.js';

export type Asn1 = asn1js.BaseBlock;

export const CLASS_UNIVERSAL = 1;
export const CLASS_CONTEXT = 3;

export const TAG = {
  BOOLEAN: 1,
  INTEGER: 2,
  BIT_STRING: 3,
  OCTET_STRING: 4,
  NULL: 5,
  OID: 6,
  UTF8_STRING: 12,
  SEQUENCE: 16,
  SET: 17,
  NUMERIC_STRING: 18,
  PRINTABLE_STRING: 19,
  TELETEX_STRING: 20,
  IA5_STRING: 22,
  UTC_TIME: 23,
  GENERALIZED_TIME: 24,
  VISIBLE_STRING: 26,
  UNIVERSAL_STRING: 28,
  BMP_STRING: 30,
} as const;

function fail(detail: string): never {
  throw new CertificateError(undefined, detail);
}

/**
 * Parses one DER value that must span all of `der`.
 *
 * `parseEmbedded: false`: asn1js would otherwise try every primitive OCTET
 * STRING and BIT STRING's contents as a nested encoding and keep the tree
 * when it happens to parse: a guess about untrusted bytes that nothing here
 * uses (each extension value, key and signature is decoded explicitly, as
 * what it must be), and the largest part of a certificate's decoding work.
 * `copyInput: false`: the tree holds views of `der` instead of a copy, so no
 * second copy of a private key lingers; the callers do not change `der`
 * while they read the tree, and everything they keep is copied out
 * (contentsOf, encodingOf).
 */
export function decodeDer(der: Uint8Array, what: string): Asn1 {
  if (der.length === 0) fail(`${what} is empty`);
  let r: ReturnType<typeof asn1js.fromBER>;
  try {
    r = asn1js.fromBER(der, { maxDepth: 32, parseEmbedded: false, copyInput: false });
  } catch (e) {
    fail(`${what} is not valid DER (${(e as Error).message})`);
  }
  if (r.offset === -1) fail(`${what} is not valid DER (${r.result.error || 'decoding failed'})`);
  if (r.offset !== der.length) fail(`${what} is followed by ${der.length - r.offset} bytes of unexpected data`);
  return r.result as Asn1;
}

export function hasTag(n: Asn1 | undefined, tagClass: number, tagNumber: number): n is Asn1 {
  return n !== undefined && n.idBlock.tagClass === tagClass && n.idBlock.tagNumber === tagNumber;
}

export function isUniversal(n: Asn1 | undefined, tag: number): n is Asn1 {
  return hasTag(n, CLASS_UNIVERSAL, tag);
}

export function isContext(n: Asn1 | undefined, tag: number): n is Asn1 {
  return hasTag(n, CLASS_CONTEXT, tag);
}

/** The elements of a constructed value (any tag), e.g. an explicitly tagged [0]. */
export function elements(n: Asn1 | undefined, what: string): Asn1[] {
  if (n === undefined) fail(`${what} is missing`);
  if (!n.idBlock.isConstructed || !(n instanceof asn1js.Constructed)) fail(`${what} is not a constructed value`);
  return n.valueBlock.value as Asn1[];
}

/** The elements of a SEQUENCE, with a bound on their number. */
export function sequence(n: Asn1 | undefined, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): Asn1[] {
  if (!isUniversal(n, TAG.SEQUENCE)) fail(`${what} is not a SEQUENCE`);
  const items = elements(n, what);
  if (items.length < min || items.length > max) {
    fail(`${what} has ${items.length} elements, expected ${min === max ? min : `${min} to ${max}`}`);
  }
  return items;
}

export function setOf(n: Asn1 | undefined, what: string): Asn1[] {
  if (!isUniversal(n, TAG.SET)) fail(`${what} is not a SET`);
  return elements(n, what);
}

/** The complete encoding (tag, length, contents) of a parsed value, copied. */
export function encodingOf(n: Asn1): Uint8Array {
  return n.valueBeforeDecodeView.slice();
}

/** The contents octets of a primitive value (whatever its tag), copied. */
export function contentsOf(n: Asn1 | undefined, what: string): Uint8Array {
  if (n === undefined) fail(`${what} is missing`);
  if (n.idBlock.isConstructed) fail(`${what} must be primitive`);
  const all = n.valueBeforeDecodeView;
  const header = n.idBlock.blockLength + n.lenBlock.blockLength;
  if (header <= 0 || header + n.lenBlock.length !== all.length) fail(`${what} has an invalid length`);
  return all.slice(header);
}

function primitive(n: Asn1 | undefined, tag: number, name: string, what: string): Uint8Array {
  if (!isUniversal(n, tag)) fail(`${what} is not ${name}`);
  return contentsOf(n, what);
}

/** INTEGER contents: big-endian two's complement. */
export function integerBytes(n: Asn1 | undefined, what: string): Uint8Array {
  const v = primitive(n, TAG.INTEGER, 'an INTEGER', what);
  if (v.length === 0) fail(`${what} is an empty INTEGER`);
  return v;
}

/** A non-negative INTEGER as unsigned big-endian bytes without leading zeros. */
export function unsignedInteger(n: Asn1 | undefined, what: string): Uint8Array {
  const v = integerBytes(n, what);
  if (v[0]! & 0x80) fail(`${what} is negative`);
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  return v.slice(i);
}

/** A small non-negative INTEGER (versions, lengths). */
export function smallInteger(n: Asn1 | undefined, what: string): number {
  const v = unsignedInteger(n, what);
  if (v.length > 4) fail(`${what} is too large`);
  let x = 0;
  for (const b of v) x = x * 256 + b;
  return x;
}

/** Number of significant bits of an unsigned big-endian integer. */
export function bitLength(v: Uint8Array): number {
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  if (i === v.length) return 0;
  return (v.length - i - 1) * 8 + (32 - Math.clz32(v[i]!));
}

export function oid(n: Asn1 | undefined, what: string): string {
  if (!isUniversal(n, TAG.OID) || !(n instanceof asn1js.ObjectIdentifier)) fail(`${what} is not an OBJECT IDENTIFIER`);
  const s = n.getValue();
  if (!/^\d+(\.\d+)+$/.test(s)) fail(`${what} is not a valid OBJECT IDENTIFIER`);
  return s;
}

export function octetString(n: Asn1 | undefined, what: string): Uint8Array {
  return primitive(n, TAG.OCTET_STRING, 'an OCTET STRING', what);
}

export function bitString(n: Asn1 | undefined, what: string): { bytes: Uint8Array; unusedBits: number } {
  const v = primitive(n, TAG.BIT_STRING, 'a BIT STRING', what);
  if (v.length === 0 || v[0]! > 7 || (v.length === 1 && v[0] !== 0)) fail(`${what} is not a valid BIT STRING`);
  return { bytes: v.slice(1), unusedBits: v[0]! };
}

/** A BIT STRING that holds whole octets (keys, signatures). */
export function octetBitString(n: Asn1 | undefined, what: string): Uint8Array {
  const { bytes, unusedBits } = bitString(n, what);
  if (unusedBits !== 0) fail(`${what} is not a whole number of octets`);
  return bytes;
}

export function boolean(n: Asn1 | undefined, what: string): boolean {
  const v = primitive(n, TAG.BOOLEAN, 'a BOOLEAN', what);
  if (v.length !== 1) fail(`${what} is not a valid BOOLEAN`);
  return v[0] !== 0;
}

export function isNull(n: Asn1 | undefined): boolean {
  return isUniversal(n, TAG.NULL) && !n.idBlock.isConstructed && n.lenBlock.length === 0;
}

// --- building -------------------------------------------------------------

export function encode(block: asn1js.BaseBlock): Uint8Array {
  return new Uint8Array(block.toBER(false));
}

/** Re-creates a parsed value from its encoding, so it can be placed in a new structure. */
export function reparse(der: Uint8Array): asn1js.BaseBlock {
  return decodeDer(der, 'value');
}

/** An AlgorithmIdentifier (RFC 5280 §4.1.1.2) with optional parameters. */
export function algorithmIdentifier(algorithm: string, parameters?: asn1js.BaseBlock): asn1js.Sequence {
  const value: asn1js.BaseBlock[] = [new asn1js.ObjectIdentifier({ value: algorithm })];
  if (parameters) value.push(parameters);
  return new asn1js.Sequence({ value });
}

/** An INTEGER from unsigned big-endian bytes (a 0x00 is prepended when the top bit is set). */
export function unsignedIntegerBlock(v: Uint8Array): asn1js.Integer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const trimmed = v.subarray(i);
  const bytes = trimmed[0]! & 0x80 ? Uint8Array.of(0, ...trimmed) : trimmed.slice();
  return new asn1js.Integer({ valueHex: bytes });
}

/** An explicitly tagged [n] wrapping `inner` (context-specific, constructed). */
export function explicit(tagNumber: number, inner: asn1js.BaseBlock): asn1js.Constructed {
  return new asn1js.Constructed({ idBlock: { tagClass: CLASS_CONTEXT, tagNumber }, value: [inner] });
}

export function hex(bytes: Uint8Array, separator = ''): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(separator);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
