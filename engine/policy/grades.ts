/**
 * Postfix cipher grades and exclusions (tlsproxy-postfix.md §1.3, Postfix
 * 3.8-3.11 tls_set_ciphers):
 *
 *  - the grade (case-insensitive) names a base list: high, medium, null;
 *    low and export are treated as medium (3.8+); anything else is
 *    `invalid cipher grade: "X"`;
 *  - each exclusion element (separated by comma, space, tab, CR, LF or
 *    colon) is appended as `:!elem`, in the order exclude_ciphers, then
 *    (mandatory TLS) mandatory_exclude_ciphers, then `aNULL` when client
 *    certificates are requested; an element starting with one of `!+-@`
 *    is `invalid unary '!+-@' in cipher exclusion: X`;
 *  - the resulting OpenSSL cipher string is evaluated (cipher-string.ts);
 *    a string OpenSSL rejects, or one that selects nothing, is
 *    `error setting cipher grade: "G"`.
 *
 * Grades restrict TLS 1.2 suites only; TLS 1.3 suites are never filtered.
 * The selection is then restricted to the suites the engine implements;
 * when OpenSSL would have selected only suites we deliberately lack (CBC,
 * RC4, 3DES, export, RSA key exchange, anonymous, NULL...), the result
 * carries a warning saying so, and no TLS 1.2 suite.
 *
 * Pure: no node: imports. Failures throw PolicyError with Postfix's words.
 */

import { CipherStringError, evaluateCipherString, tls12Selection } from './cipher-string.js';

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

export type Grade = 'high' | 'medium' | 'null';

/** The tls_*_cipherlist base lists (Postfix 3.8-3.11 defaults in DEFAULT_CIPHER_LISTS). */
export interface CipherLists {
  readonly high: string;
  readonly medium: string;
  readonly null: string;
}

export const DEFAULT_CIPHER_LISTS: CipherLists = {
  high: 'aNULL:-aNULL:HIGH:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:@STRENGTH',
  medium: 'aNULL:-aNULL:HIGH:MEDIUM:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:+RC4:@STRENGTH',
  null: 'eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL',
};

/** Postfix 3.8+ tls_cipher_grade_table: low and export are medium. */
export function parseGrade(value: string): Grade | undefined {
  switch (value.trim().toLowerCase()) {
    case 'high':
      return 'high';
    case 'medium':
    case 'low':
    case 'export':
      return 'medium';
    case 'null':
      return 'null';
    default:
      return undefined;
  }
}

/** Postfix's CHARS_COMMA_SP ":" separators for exclusion lists. */
export function exclusionElements(list: string): string[] {
  return list.split(/[, \t\r\n:]+/).filter(Boolean);
}

export interface CipherPolicyInput {
  /** The grade parameter's value (`medium`). */
  readonly grade: string;
  /** Its name, for messages (`tlsproxy_tls_ciphers`). */
  readonly gradeParameter: string;
  /** Exclusion lists in Postfix's order, with their parameter names. */
  readonly exclusions: readonly { readonly parameter: string; readonly value: string }[];
  /** Client certificates are requested: `aNULL` is excluded too. */
  readonly excludeAnonymous: boolean;
  readonly lists?: CipherLists;
}

export interface CipherPolicy {
  readonly grade: Grade;
  /** The OpenSSL cipher string Postfix would hand to the library (logged at level 2 as `TLS cipher list`). */
  readonly cipherList: string;
  /** Implemented TLS 1.2 suites in the list's order (ServerConfig.tls12CipherSuites). */
  readonly tls12Suites: readonly number[];
  /** Selected suites the engine does not implement (OpenSSL names). */
  readonly unimplemented: readonly string[];
  /** Start-up warnings (one-time). */
  readonly warnings: readonly string[];
  /** Informational notes (@SECLEVEL ignored...). */
  readonly notes: readonly string[];
}

export function cipherPolicy(input: CipherPolicyInput): CipherPolicy {
  const lists = input.lists ?? DEFAULT_CIPHER_LISTS;
  const grade = parseGrade(input.grade);
  if (!grade) throw new PolicyError(`${input.gradeParameter}: invalid cipher grade: "${input.grade.trim()}"`);
  const base = lists[grade];
  if (!base.trim()) throw new PolicyError(`${input.gradeParameter}: empty "${grade}" cipherlist (tls_${grade}_cipherlist)`);
  let cipherList = base;
  const add = (parameter: string, elem: string) => {
    if ('!+-@'.includes(elem[0]!)) throw new PolicyError(`${parameter}: invalid unary '!+-@' in cipher exclusion: ${elem}`);
    cipherList += `:!${elem}`;
  };
  for (const { parameter, value } of input.exclusions) for (const e of exclusionElements(value)) add(parameter, e);
  if (input.excludeAnonymous) add('client certificates', 'aNULL');
  const where = [input.gradeParameter, ...input.exclusions.filter((x) => x.value.trim()).map((x) => x.parameter)].join(', ');
  const failed = (why: string) => new PolicyError(`${where}: error setting cipher grade: "${input.grade.trim()}" (cipher list "${cipherList}": ${why})`);
  let result;
  try {
    result = evaluateCipherString(cipherList);
  } catch (e) {
    if (e instanceof CipherStringError) throw failed(e.message);
    throw e;
  }
  if (!result.ciphers.length) throw failed('no cipher match');
  const selection = tls12Selection(result);
  const warnings: string[] = [];
  if (!selection.suites.length) {
    const kinds = selection.lacking.join(', ');
    const shown = selection.unimplemented.slice(0, 6).join(', ') + (selection.unimplemented.length > 6 ? `, ... (${selection.unimplemented.length} in all)` : '');
    warnings.push(
      `cipher grade "${input.grade.trim()}" (${where}) selects only TLS 1.2 suites this server deliberately does not implement (${kinds}: ${shown}): ` +
        'no TLS 1.2 cipher suite is offered; TLS 1.3 suites are not affected by grades',
    );
  }
  return { grade, cipherList, tls12Suites: selection.suites, unimplemented: selection.unimplemented, warnings, notes: result.notes };
}
