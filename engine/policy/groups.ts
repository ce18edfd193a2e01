/**
 * Key exchange groups from Postfix's parameters (tlsproxy-postfix.md §1.5):
 *
 *  - tlsproxy_tls_eecdh_grade: since Postfix 3.6 the value is ignored and
 *    the server always behaves as `auto`; we accept every older value and
 *    say what happens: `none` gets 3.2-3.5's warning (`The "none" eecdh
 *    grade is no longer supported, using "auto" instead`), `strong` and
 *    `ultra` (whose single curves tls_eecdh_strong_curve /
 *    tls_eecdh_ultra_curve 3.6+ no longer uses) and unknown values a
 *    warning that they are ignored;
 *  - the groups are tls_eecdh_auto_curves then tls_ffdhe_auto_groups, in
 *    server preference order, in OpenSSL 3.5's group list syntax (which
 *    Postfix 3.11 hands to OpenSSL): names separated by comma, space or
 *    colon; `/` ends a tuple (below); a `?` prefix marks a name that may be
 *    unknown, `*` (a client's initial key share) is accepted and means
 *    nothing to a server, `-name` removes a group listed earlier; `DEFAULT`
 *    is OpenSSL 3.5's built-in list, `?*X25519MLKEM768 / ?*X25519:?secp256r1
 *    / ?X448:?secp384r1:?secp521r1 / ?ffdhe2048:?ffdhe3072`, put in place.
 *    Names the engine does not support (X448, secp521r1, brainpool...) are
 *    skipped silently and duplicates removed;
 *  - tuples (OpenSSL 3.5): the server takes the first tuple that has a
 *    group the client supports; within it, a group the client sent a key
 *    share for is used, else a HelloRetryRequest asks for the tuple's best
 *    group. A list without `/` (every Postfix list before 3.11) is one
 *    tuple: a usable key share is always taken, as OpenSSL < 3.5 does. So
 *    with Postfix 3.11's default `?X25519MLKEM768:DEFAULT`, X25519MLKEM768
 *    is a tuple alone, and a client that lists it but sent only an X25519
 *    share gets a HelloRetryRequest for it;
 *  - nothing usable: `none of the configured key exchange groups are
 *    supported`, then `using Postfix default key exchange groups instead`
 *    and the Postfix defaults; both lists empty: the library defaults.
 *
 * Pure: no node: imports.
 */

import { NamedGroup } from '../constants.js';

/** OpenSSL group names (and aliases) to IANA NamedGroup values. */
export const GROUP_NAMES: ReadonlyMap<string, number> = new Map([
  ['x25519', NamedGroup.x25519],
  ['x448', NamedGroup.x448],
  ['prime256v1', NamedGroup.secp256r1],
  ['secp256r1', NamedGroup.secp256r1],
  ['p-256', NamedGroup.secp256r1],
  ['secp384r1', NamedGroup.secp384r1],
  ['p-384', NamedGroup.secp384r1],
  ['secp521r1', NamedGroup.secp521r1],
  ['p-521', NamedGroup.secp521r1],
  ['ffdhe2048', NamedGroup.ffdhe2048],
  ['ffdhe3072', NamedGroup.ffdhe3072],
  ['ffdhe4096', NamedGroup.ffdhe4096],
  ['ffdhe6144', NamedGroup.ffdhe6144],
  ['ffdhe8192', NamedGroup.ffdhe8192],
  ['x25519mlkem768', NamedGroup.X25519MLKEM768],
  ['secp256r1mlkem768', NamedGroup.SecP256r1MLKEM768],
]);

/** Postfix 3.11 defaults with OpenSSL 3.5 or later (DEF_TLS_EECDH_AUTO, DEF_TLS_FFDHE_AUTO). */
export const POSTFIX_EECDH_AUTO_CURVES = '?X25519MLKEM768:DEFAULT';
export const POSTFIX_FFDHE_AUTO_GROUPS = '';
/** Postfix 3.8-3.10 (and 3.11 with OpenSSL < 3.5) defaults. */
export const POSTFIX_EECDH_AUTO_CURVES_LEGACY = 'X25519 X448 prime256v1 secp384r1 secp521r1';
export const POSTFIX_FFDHE_AUTO_GROUPS_LEGACY = 'ffdhe2048 ffdhe3072';

/** OpenSSL 3.5's DEFAULT pseudo group (ssl/t1_lib.c TLS_DEFAULT_GROUP_LIST). */
export const OPENSSL_DEFAULT_GROUPS = '?*X25519MLKEM768 / ?*X25519:?secp256r1 / ?X448:?secp384r1:?secp521r1 / ?ffdhe2048:?ffdhe3072';

export interface GroupPolicyInput {
  readonly eecdhGrade: string;
  readonly eecdhGradeParameter: string;
  readonly autoCurves: string;
  readonly ffdheGroups: string;
  /** Groups the engine and its crypto provider can use. */
  readonly usable: (group: number) => boolean;
  /** The library defaults (both lists empty): groups, or a list in the syntax above (OPENSSL_DEFAULT_GROUPS). */
  readonly libraryDefaults: readonly number[] | string;
}

export interface GroupPolicy {
  /** Every group, in server preference order. */
  readonly groups: readonly number[];
  /** The same groups cut into OpenSSL 3.5 tuples (one tuple when the lists have no `/`). */
  readonly tuples: readonly (readonly number[])[];
  readonly warnings: readonly string[];
}

/** Groups being collected, tuple by tuple; the last tuple is open. */
class GroupList {
  readonly tuples: number[][] = [[]];
  has(g: number): boolean {
    return this.tuples.some((t) => t.includes(g));
  }
  add(g: number): void {
    if (!this.has(g)) this.tuples.at(-1)!.push(g);
  }
  remove(g: number): void {
    for (const t of this.tuples) {
      const i = t.indexOf(g);
      if (i >= 0) t.splice(i, 1);
    }
  }
  endTuple(): void {
    if (this.tuples.at(-1)!.length) this.tuples.push([]);
  }
  result(): { groups: number[]; tuples: number[][] } {
    const tuples = this.tuples.filter((t) => t.length);
    return { groups: tuples.flat(), tuples };
  }
}

/** One Postfix/OpenSSL group list into `out` (DEFAULT expanded in place, §1.5). */
function parseGroups(list: string, usable: (g: number) => boolean, out: GroupList, depth = 0): void {
  for (const [i, tuple] of list.split('/').entries()) {
    if (i > 0) out.endTuple();
    for (const word of tuple.split(/[\s,:]+/)) {
      if (!word) continue;
      const m = /^([?*-]*)(.*)$/.exec(word)!;
      const prefixes = m[1]!;
      const name = m[2]!.toLowerCase();
      if (name === 'default' && depth === 0 && !prefixes.includes('-')) {
        parseGroups(OPENSSL_DEFAULT_GROUPS, usable, out, depth + 1);
        continue;
      }
      const g = GROUP_NAMES.get(name);
      if (g === undefined || !usable(g)) continue;
      if (prefixes.includes('-')) out.remove(g);
      else out.add(g);
    }
  }
}

export function groupPolicy(input: GroupPolicyInput): GroupPolicy {
  const warnings: string[] = [];
  const grade = input.eecdhGrade.trim();
  switch (grade.toLowerCase()) {
    case '':
    case 'auto':
      break;
    case 'none':
      warnings.push('The "none" eecdh grade is no longer supported, using "auto" instead');
      break;
    case 'strong':
    case 'ultra':
      warnings.push(
        `${input.eecdhGradeParameter} = ${grade} is ignored, as in Postfix 3.6 and later: the groups are tls_eecdh_auto_curves and tls_ffdhe_auto_groups (tls_eecdh_${grade.toLowerCase()}_curve is not used)`,
      );
      break;
    default:
      warnings.push(`Invalid TLS eecdh grade "${grade}" in ${input.eecdhGradeParameter}: ignored, as in Postfix 3.6 and later, using "auto"`);
  }
  const parse = (curves: string, ffdhe: string) => {
    const out = new GroupList();
    parseGroups(curves, input.usable, out);
    // The FFDHE groups continue the last tuple of the curves (Postfix joins the two lists).
    parseGroups(ffdhe, input.usable, out);
    return out.result();
  };
  const library = () => {
    if (typeof input.libraryDefaults === 'string') return { ...parse(input.libraryDefaults, ''), warnings };
    const groups = [...input.libraryDefaults].filter(input.usable);
    return { groups, tuples: [groups], warnings };
  };
  if (!input.autoCurves.trim() && !input.ffdheGroups.trim()) return library();
  const configured = parse(input.autoCurves, input.ffdheGroups);
  if (configured.groups.length) return { ...configured, warnings };
  warnings.push('none of the configured key exchange groups are supported');
  warnings.push('using Postfix default key exchange groups instead');
  const fallback = parse(POSTFIX_EECDH_AUTO_CURVES, POSTFIX_FFDHE_AUTO_GROUPS);
  return fallback.groups.length ? { ...fallback, warnings } : library();
}
