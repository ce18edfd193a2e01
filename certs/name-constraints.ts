/**
 * Name constraints (RFC 5280 §4.2.1.10), checked as OpenSSL 3.0's
 * NAME_CONSTRAINTS_check() and NAME_CONSTRAINTS_check_CN() do, so that the
 * verdict and error code are the ones an operator knows:
 *
 *  - the names of a certificate are its subject (a directoryName, when not
 *    empty), each emailAddress attribute of the subject (an rfc822Name; one
 *    that is not an IA5String is 53), every subjectAltName entry, and, for
 *    the end-entity certificate without a dNSName in subjectAltName, each
 *    subject commonName that looks like a host name (two labels or more,
 *    letters, digits, '_', '-' and '.').
 *  - for each name, the permitted subtrees of its type: when there are any,
 *    one must match (else 47, permitted subtree violation); then no excluded
 *    subtree of its type may match (else 48).
 *  - implemented forms: directoryName (RDN prefix, §7.1), dNSName (the
 *    constraint plus any labels on the left, §4.2.1.10), rfc822Name (a
 *    mailbox, a host, or ".domain" for any host below it), URI (the host
 *    part, ".domain" for hosts below), iPAddress (address and mask, IPv4 or
 *    IPv6). A name of any other type that meets a constraint of its own type
 *    (otherName, x400Address, ediPartyName, registeredID) refuses the chain
 *    with 51 (unsupported name constraint type); a name of a type with no
 *    constraint is not affected (§4.2.1.10: "constraints ... apply only to
 *    the specified name form").
 *  - minimum other than 0, or any maximum, in a subtree: 49 (§4.2.1.10: "the
 *    minimum MUST be zero, and maximum MUST be absent").
 *  - a malformed name or constraint (a dNSName, rfc822Name or URI that is
 *    not text, an address of the wrong length): 53.
 *  - the work is bounded: names x constraints over the whole chain at most
 *    NAME_CHECK_BUDGET, beyond which the chain is refused (1, as OpenSSL does
 *    for one certificate beyond 2^20).
 *
 * Pure: no Node APIs.
 */
import type * as asn1js from 'asn1js';
import { contentsOf, decodeDer, elements, isContext, oid, sequence, TAG } from './der.js';
import { CertificateError } from './errors.js';
import { type ReadName, readNameBlock } from './names.js';
import { OID_COMMON_NAME } from './oids.js';

/** X509_V_ERR_* results of a check (0 = ok). */
export const NC = {
  OK: 0,
  UNSPECIFIED: 1,
  PERMITTED_VIOLATION: 47,
  EXCLUDED_VIOLATION: 48,
  SUBTREE_MINMAX: 49,
  UNSUPPORTED_CONSTRAINT_TYPE: 51,
  UNSUPPORTED_CONSTRAINT_SYNTAX: 52,
  UNSUPPORTED_NAME_SYNTAX: 53,
} as const;

/** GeneralName tags (RFC 5280 §4.2.1.6). */
export const GN = {
  otherName: 0, rfc822Name: 1, dNSName: 2, x400Address: 3, directoryName: 4, ediPartyName: 5,
  uniformResourceIdentifier: 6, iPAddress: 7, registeredID: 8,
} as const;

export const OID_NAME_CONSTRAINTS = '2.5.29.30';
const OID_EMAIL_ADDRESS = '1.2.840.113549.1.9.1';

/** One GeneralName: its type and, for the forms we compare, its value. */
export interface GeneralName {
  readonly type: number;
  /** rfc822Name, dNSName, URI: the IA5String as one character per byte; iPAddress: the octets. */
  readonly text?: string;
  readonly octets?: Uint8Array;
  /** directoryName: canonical RDNs. */
  readonly rdns?: readonly string[];
  /** otherName: its type-id. */
  readonly otherType?: string;
}

export interface GeneralSubtree {
  readonly base: GeneralName;
  /** minimum is 0 and maximum absent. */
  readonly minMaxValid: boolean;
}

export interface NameConstraints {
  readonly permitted: readonly GeneralSubtree[];
  readonly excluded: readonly GeneralSubtree[];
}

/** What a certificate exposes to name constraints. */
export interface ConstrainedNames {
  readonly subject: ReadName;
  readonly altNames: readonly GeneralName[];
}

/** Total names x constraints compared in one chain verification. */
export const NAME_CHECK_BUDGET = 1 << 20;

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** GeneralName ::= CHOICE { ... } (RFC 5280 §4.2.1.6); throws a CertificateError when malformed. */
export function readGeneralName(n: asn1js.BaseBlock, what: string): GeneralName {
  if (n.idBlock.tagClass !== 3) return { type: -1 };
  const type = n.idBlock.tagNumber;
  switch (type) {
    case GN.rfc822Name:
    case GN.dNSName:
    case GN.uniformResourceIdentifier:
      return { type, text: latin1(contentsOf(n, what)) };
    case GN.iPAddress:
      return { type, octets: contentsOf(n, what) };
    case GN.directoryName: {
      // [4] EXPLICIT Name (Name is a CHOICE, so the tag is explicit).
      const inner = elements(n, what);
      if (inner.length !== 1) throw new CertificateError(undefined, `${what} directoryName is malformed`);
      return { type, rdns: readNameBlock(inner[0]!, `${what} directoryName`).rdns };
    }
    case GN.otherName: {
      // AnotherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }, implicitly tagged [0].
      const parts = elements(n, what);
      return { type, otherType: oid(parts[0], `${what} otherName type-id`) };
    }
    default:
      return { type };
  }
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName (a subjectAltName extension value). */
export function readGeneralNames(der: Uint8Array, what: string): GeneralName[] {
  return sequence(decodeDer(der, what), what, 1).map((n) => readGeneralName(n, what));
}

/**
 * NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL, excludedSubtrees [1] GeneralSubtrees OPTIONAL }
 * GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] BaseDistance DEFAULT 0, maximum [1] BaseDistance OPTIONAL }
 * Throws a CertificateError when malformed.
 */
export function parseNameConstraints(der: Uint8Array): NameConstraints {
  const what = 'nameConstraints';
  const items = sequence(decodeDer(der, what), what, 0, 2);
  const permitted: GeneralSubtree[] = [];
  const excluded: GeneralSubtree[] = [];
  let i = 0;
  const subtrees = (n: asn1js.BaseBlock, into: GeneralSubtree[]) => {
    const list = elements(n, `${what} subtrees`);
    // §4.2.1.10: "Conforming CAs MUST NOT issue certificates where name constraints is an empty sequence": GeneralSubtrees is SIZE (1..MAX).
    if (list.length === 0) throw new CertificateError(undefined, 'nameConstraints has an empty GeneralSubtrees');
    for (const st of list) {
      const parts = sequence(st, `${what} GeneralSubtree`, 1, 3);
      const base = readGeneralName(parts[0]!, `${what} base`);
      let minMaxValid = true;
      for (const p of parts.slice(1)) {
        if (isContext(p, 0)) {
          // minimum [0] IMPLICIT INTEGER
          let v = 0;
          for (const b of contentsOf(p, `${what} minimum`)) v = v * 256 + b;
          if (v !== 0) minMaxValid = false;
        } else if (isContext(p, 1)) {
          minMaxValid = false;
        } else {
          throw new CertificateError(undefined, 'nameConstraints GeneralSubtree has an unexpected element');
        }
      }
      into.push({ base, minMaxValid });
    }
  };
  if (isContext(items[i], 0)) subtrees(items[i++]!, permitted);
  if (isContext(items[i], 1)) subtrees(items[i++]!, excluded);
  if (i !== items.length || (permitted.length === 0 && excluded.length === 0)) throw new CertificateError(undefined, 'nameConstraints is malformed');
  return { permitted, excluded };
}

/** A budget of comparisons shared by all the checks of one chain. */
export class NameCheckBudget {
  constructor(private left = NAME_CHECK_BUDGET) {}
  take(n: number): boolean {
    this.left -= n;
    return this.left >= 0;
  }
}

/**
 * NAME_CONSTRAINTS_check() (+ NAME_CONSTRAINTS_check_CN() for the
 * end-entity): 0 when every name of `cert` is within `nc`, else the
 * X509_V_ERR code.
 */
export function checkNameConstraints(cert: ConstrainedNames, nc: NameConstraints, endEntity: boolean, budget: NameCheckBudget): number {
  const names = cert.subject.attributes.length + cert.altNames.length;
  if (!budget.take(Math.max(1, names) * (nc.permitted.length + nc.excluded.length))) return NC.UNSPECIFIED;
  if (cert.subject.attributes.length > 0) {
    let r = ncMatch({ type: GN.directoryName, rdns: cert.subject.rdns }, nc);
    if (r !== NC.OK) return r;
    for (const a of cert.subject.attributes) {
      if (a.type !== OID_EMAIL_ADDRESS) continue;
      if (a.tag !== TAG.IA5_STRING || a.text === undefined) return NC.UNSUPPORTED_NAME_SYNTAX;
      r = ncMatch({ type: GN.rfc822Name, text: a.text }, nc);
      if (r !== NC.OK) return r;
    }
  }
  for (const gn of cert.altNames) {
    const r = ncMatch(gn, nc);
    if (r !== NC.OK) return r;
  }
  // check_name_constraints(): the end-entity's commonName, when subjectAltName has no dNSName.
  if (endEntity && !cert.altNames.some((g) => g.type === GN.dNSName)) {
    for (const a of cert.subject.attributes) {
      if (a.type !== OID_COMMON_NAME || a.text === undefined) continue;
      const id = cnToDnsId(a.text);
      if (typeof id === 'number') return id;
      if (id === undefined) continue;
      const r = ncMatch({ type: GN.dNSName, text: id }, nc);
      if (r !== NC.OK) return r;
    }
  }
  return NC.OK;
}

/** OpenSSL cn2dnsid(): the CN as a DNS-ID when it looks like a host name of two labels or more. */
function cnToDnsId(cn: string): string | number | undefined {
  let v = cn;
  while (v.endsWith('\0')) v = v.slice(0, -1);
  if (v.includes('\0')) return NC.UNSUPPORTED_NAME_SYNTAX;
  let dns = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (/[A-Za-z0-9_]/.test(c)) continue;
    if (i > 0 && i < v.length - 1) {
      if (c === '-') continue;
      if (c === '.' && v[i + 1] !== '.' && v[i - 1] !== '-' && v[i + 1] !== '-') {
        dns = true;
        continue;
      }
    }
    dns = false;
    break;
  }
  return dns ? v : undefined;
}

function sameForm(name: GeneralName, base: GeneralName): boolean {
  if (name.type !== base.type) return false;
  return name.type !== GN.otherName || name.otherType === base.otherType;
}

/** nc_match(): permitted subtrees of the name's form (one must match), then excluded ones (none may). */
function ncMatch(name: GeneralName, nc: NameConstraints): number {
  let match = 0; // 0: no permitted subtree of this form, 1: some but none matched yet, 2: matched
  for (const sub of nc.permitted) {
    if (!sameForm(name, sub.base)) continue;
    if (!sub.minMaxValid) return NC.SUBTREE_MINMAX;
    if (match === 2) continue;
    match = 1;
    const r = matchSingle(name, sub.base);
    if (r === NC.OK) match = 2;
    else if (r !== NC.PERMITTED_VIOLATION) return r;
  }
  if (match === 1) return NC.PERMITTED_VIOLATION;
  for (const sub of nc.excluded) {
    if (!sameForm(name, sub.base)) continue;
    if (!sub.minMaxValid) return NC.SUBTREE_MINMAX;
    const r = matchSingle(name, sub.base);
    if (r === NC.OK) return NC.EXCLUDED_VIOLATION;
    if (r !== NC.PERMITTED_VIOLATION) return r;
  }
  return NC.OK;
}

function matchSingle(name: GeneralName, base: GeneralName): number {
  switch (name.type) {
    case GN.directoryName:
      return matchDn(name, base);
    case GN.dNSName:
      return name.text === undefined || base.text === undefined ? NC.UNSUPPORTED_NAME_SYNTAX : matchDns(name.text, base.text);
    case GN.rfc822Name:
      return name.text === undefined || base.text === undefined ? NC.UNSUPPORTED_NAME_SYNTAX : matchEmail(name.text, base.text);
    case GN.uniformResourceIdentifier:
      return name.text === undefined || base.text === undefined ? NC.UNSUPPORTED_NAME_SYNTAX : matchUri(name.text, base.text);
    case GN.iPAddress:
      return name.octets === undefined || base.octets === undefined ? NC.UNSUPPORTED_NAME_SYNTAX : matchIp(name.octets, base.octets);
    default:
      // otherName (SmtpUTF8Mailbox...), x400Address, ediPartyName, registeredID: not implemented, so refused.
      return NC.UNSUPPORTED_CONSTRAINT_TYPE;
  }
}

/** ASCII-only case folding (ia5ncasecmp). */
function fold(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** RFC 5280 §7.1: the constraint's RDNs are the first RDNs of the name. */
function matchDn(name: GeneralName, base: GeneralName): number {
  if (!name.rdns || !base.rdns) return NC.UNSUPPORTED_NAME_SYNTAX;
  if (base.rdns.length > name.rdns.length) return NC.PERMITTED_VIOLATION;
  for (let i = 0; i < base.rdns.length; i++) if (base.rdns[i] !== name.rdns[i]) return NC.PERMITTED_VIOLATION;
  return NC.OK;
}

/** §4.2.1.10 dNSName: "any DNS name that can be constructed by simply adding zero or more labels to the left-hand side". */
function matchDns(dns: string, base: string): number {
  if (base.length === 0) return NC.OK;
  if (dns.length < base.length) return NC.PERMITTED_VIOLATION;
  const tail = dns.slice(dns.length - base.length);
  if (dns.length > base.length && base[0] !== '.' && dns[dns.length - base.length - 1] !== '.') return NC.PERMITTED_VIOLATION;
  return fold(tail) === fold(base) ? NC.OK : NC.PERMITTED_VIOLATION;
}

/** §4.2.1.10 rfc822Name: a mailbox (local part case-sensitive), all mailboxes of a host, or (".host") of the hosts below. */
function matchEmail(eml: string, base: string): number {
  const emlAt = eml.lastIndexOf('@');
  const baseAt = base.lastIndexOf('@');
  if (emlAt < 0) return NC.UNSUPPORTED_NAME_SYNTAX;
  if (baseAt < 0 && base.startsWith('.')) {
    return eml.length > base.length && fold(eml.slice(eml.length - base.length)) === fold(base) ? NC.OK : NC.PERMITTED_VIOLATION;
  }
  let baseHost = base;
  if (baseAt >= 0) {
    if (baseAt > 0) {
      if (baseAt !== emlAt) return NC.PERMITTED_VIOLATION;
      if (base.slice(0, baseAt).includes('\0') || eml.slice(0, emlAt).includes('\0')) return NC.UNSUPPORTED_NAME_SYNTAX;
      if (base.slice(0, baseAt) !== eml.slice(0, emlAt)) return NC.PERMITTED_VIOLATION;
    }
    baseHost = base.slice(baseAt + 1);
  }
  return fold(baseHost) === fold(eml.slice(emlAt + 1)) ? NC.OK : NC.PERMITTED_VIOLATION;
}

/** §4.2.1.10 URI: the host part of the URI; ".domain" for the hosts below it. */
function matchUri(uri: string, base: string): number {
  const colon = uri.indexOf(':');
  if (colon < 0 || uri.slice(colon + 1, colon + 3) !== '//') return NC.UNSUPPORTED_NAME_SYNTAX;
  const rest = uri.slice(colon + 3);
  let end = rest.indexOf(':');
  if (end < 0) end = rest.indexOf('/');
  const host = end < 0 ? rest : rest.slice(0, end);
  if (host.length === 0) return NC.UNSUPPORTED_NAME_SYNTAX;
  if (base.startsWith('.')) {
    return host.length > base.length && fold(host.slice(host.length - base.length)) === fold(base) ? NC.OK : NC.PERMITTED_VIOLATION;
  }
  return fold(host) === fold(base) ? NC.OK : NC.PERMITTED_VIOLATION;
}

/** §4.2.1.10 iPAddress: address then mask, 8 octets for IPv4 and 32 for IPv6. */
function matchIp(ip: Uint8Array, base: Uint8Array): number {
  if (ip.length !== 4 && ip.length !== 16) return NC.UNSUPPORTED_NAME_SYNTAX;
  if (base.length !== 8 && base.length !== 32) return NC.UNSUPPORTED_NAME_SYNTAX;
  if (ip.length * 2 !== base.length) return NC.PERMITTED_VIOLATION;
  for (let i = 0; i < ip.length; i++) {
    const m = base[ip.length + i]!;
    if ((ip[i]! & m) !== (base[i]! & m)) return NC.PERMITTED_VIOLATION;
  }
  return NC.OK;
}
