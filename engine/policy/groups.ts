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
 *    server preference order, separated by comma, space or colon; names
 *    the engine does not support (X448, secp521r1, ffdhe4096, brainpool,
 *    ML-KEM hybrids, OpenSSL's DEFAULT keyword...) are skipped silently and
 *    duplicates removed; a leading `?` (OpenSSL 3.5: optional) is allowed;
 *  - nothing usable: `none of the configured key exchange groups are
 *    supported`, then `using Postfix default key exchange groups instead`
 *    and the Postfix defaults; both lists empty: the library defaults.
 *
 * Deliberate difference: a list with FFDHE groups but no elliptic curve we
 * support is treated as "nothing usable" too, because the engine has no
 * TLS 1.3 FFDHE key exchange: with OpenSSL such a list still works.
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
]);

const FFDHE = new Set<number>([NamedGroup.ffdhe2048, NamedGroup.ffdhe3072, NamedGroup.ffdhe4096]);

/** Postfix 3.8-3.11 defaults (DEF_TLS_EECDH_AUTO with OpenSSL < 3.5, DEF_TLS_FFDHE_AUTO). */
export const POSTFIX_EECDH_AUTO_CURVES = 'X25519 X448 prime256v1 secp384r1 secp521r1';
export const POSTFIX_FFDHE_AUTO_GROUPS = 'ffdhe2048 ffdhe3072';

export interface GroupPolicyInput {
  readonly eecdhGrade: string;
  readonly eecdhGradeParameter: string;
  readonly autoCurves: string;
  readonly ffdheGroups: string;
  /** Groups the engine and its crypto provider can use. */
  readonly usable: (group: number) => boolean;
  /** The engine's own defaults ("library defaults"). */
  readonly libraryDefaults: readonly number[];
}

export interface GroupPolicy {
  readonly groups: readonly number[];
  readonly warnings: readonly string[];
}

function parseGroups(list: string, usable: (g: number) => boolean, out: number[]): void {
  for (const word of list.split(/[\s,:]+/)) {
    if (!word) continue;
    const g = GROUP_NAMES.get(word.replace(/^\?/, '').toLowerCase());
    if (g !== undefined && usable(g) && !out.includes(g)) out.push(g);
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
  if (!input.autoCurves.trim() && !input.ffdheGroups.trim()) return { groups: [...input.libraryDefaults].filter(input.usable), warnings };
  const out: number[] = [];
  parseGroups(input.autoCurves, input.usable, out);
  parseGroups(input.ffdheGroups, input.usable, out);
  if (out.some((g) => !FFDHE.has(g))) return { groups: out, warnings };
  warnings.push('none of the configured key exchange groups are supported');
  warnings.push('using Postfix default key exchange groups instead');
  const fallback: number[] = [];
  parseGroups(POSTFIX_EECDH_AUTO_CURVES, input.usable, fallback);
  parseGroups(POSTFIX_FFDHE_AUTO_GROUPS, input.usable, fallback);
  return { groups: fallback.length ? fallback : [...input.libraryDefaults].filter(input.usable), warnings };
}
