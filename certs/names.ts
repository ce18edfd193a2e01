/**
 * Distinguished names read for path validation (RFC 5280 §4.1.2.4,
 * §7.1): each attribute's type, tag and text, and a canonical form per RDN
 * close to OpenSSL's x509_name_canon() (string values case-folded in ASCII,
 * leading and trailing spaces removed, inner white space collapsed; other
 * values kept as their DER), used both for issuer matching (X509_NAME_cmp)
 * and for directoryName name constraints (RDN prefix, RFC 5280 §7.1).
 * Internal to certs/.
 */
import type * as asn1js from 'asn1js';
import { decodeDer, hex, oid, sequence, setOf, TAG } from './der.js';

export interface NameAttribute {
  readonly type: string;
  /** Universal tag number of the value (-1 when not universal). */
  readonly tag: number;
  /** The value as text for string types, undefined otherwise. */
  readonly text: string | undefined;
}

export interface ReadName {
  /** Canonical form of the whole name ("/"-joined RDNs). */
  readonly canonical: string;
  /** Canonical form of each RDN, in order. */
  readonly rdns: readonly string[];
  readonly attributes: readonly NameAttribute[];
  /** The first value of `type`, '' when none or with control characters (tls_text_name()). */
  first(type: string): string;
}

const STRING_TAGS = new Set<number>([
  TAG.UTF8_STRING, TAG.PRINTABLE_STRING, TAG.TELETEX_STRING, TAG.IA5_STRING, TAG.VISIBLE_STRING,
  TAG.UNIVERSAL_STRING, TAG.BMP_STRING, TAG.NUMERIC_STRING,
]);

/** Reads a DER Name; throws a CertificateError when it is malformed. */
export function readName(der: Uint8Array, what: string): ReadName {
  return readNameBlock(decodeDer(der, what), what);
}

export function readNameBlock(block: asn1js.BaseBlock, what: string): ReadName {
  const attributes: NameAttribute[] = [];
  const rdns: string[] = [];
  for (const rdn of sequence(block, what)) {
    const parts: string[] = [];
    for (const atv of setOf(rdn, `${what} RDN`)) {
      const [t, v] = sequence(atv, `${what} attribute`, 2, 2) as [asn1js.BaseBlock, asn1js.BaseBlock];
      const type = oid(t, `${what} attribute type`);
      const text = stringValue(v);
      attributes.push({ type, tag: v.idBlock.tagClass === 1 ? v.idBlock.tagNumber : -1, text });
      const canon = text === undefined
        ? `#${hex(new Uint8Array(v.toBER(false)))}`
        : text.trim().replace(/\s+/g, ' ').replace(/[A-Z]/g, (c) => c.toLowerCase());
      parts.push(`${type}=${JSON.stringify(canon)}`);
    }
    rdns.push(parts.sort().join('+'));
  }
  return {
    canonical: rdns.join('/'),
    rdns,
    attributes,
    first(type) {
      const v = attributes.find((a) => a.type === type)?.text;
      // tls_text_name(): no value, or non-printable ASCII in it, gives no name.
      // eslint-disable-next-line no-control-regex
      if (v === undefined || /[\x00-\x1f\x7f]/.test(v)) return '';
      return v;
    },
  };
}

function stringValue(v: asn1js.BaseBlock): string | undefined {
  if (v.idBlock.tagClass !== 1 || v.idBlock.isConstructed || !STRING_TAGS.has(v.idBlock.tagNumber)) return undefined;
  const value = (v.valueBlock as unknown as { value?: unknown }).value;
  return typeof value === 'string' ? value : undefined;
}
