/**
 * OpenSSL cipher strings (ciphers(1), OpenSSL 3.0 ssl/ssl_ciph.c), parsed
 * and evaluated the way OpenSSL does it, over the full OpenSSL TLS <= 1.2
 * table (cipher-table.ts), then restricted to the suites the engine
 * implements (engine/suites.ts TLS12_SUITES).
 *
 * The model, as in OpenSSL:
 *  - every cipher sits in ONE ordered list, active or not; the list starts
 *    in OpenSSL's default preference order (the rules of
 *    ssl_create_cipher_list applied to the ciphers in descending id order,
 *    then all deactivated, order kept);
 *  - `X` (add) appends the inactive ciphers X matches to the end, active;
 *  - `-X` deactivates the active ones and moves them to the front (order
 *    kept), so that a later add re-appends them;
 *  - `+X` moves the active ones to the end;
 *  - `!X` removes them for good: nothing can add them again;
 *  - `@STRENGTH` sorts the active ciphers by strength bits, stably;
 *    `@SECLEVEL=n` (0..5) is accepted and ignored (noted);
 *  - `A+B` is a conjunction: the masks of A and B are intersected (an
 *    empty intersection matches nothing); a cipher name in a conjunction
 *    pins that one cipher;
 *  - elements are separated by `:`, `,`, `;` or space; `DEFAULT` at the very
 *    start stands for `ALL:!COMPLEMENTOFDEFAULT:!eNULL`;
 *  - unknown names are ignored (with the rest of their element); anything
 *    that is not a name character where a name is expected, an `@` command
 *    other than STRENGTH and SECLEVEL=0..5, makes the whole string invalid.
 * Names are case-sensitive, as in OpenSSL.
 *
 * Pure: no Node imports, Uint8Array only.
 */

import { TLS12_SUITES } from '../suites.js';
import { OPENSSL_CIPHER_ROWS } from './cipher-table.js';

// ---- OpenSSL's bit masks (names as in ssl_local.h)

const K = { kRSA: 0x1, kDHE: 0x2, kECDHE: 0x4, kPSK: 0x8, kGOST: 0x10, kSRP: 0x20, kRSAPSK: 0x40, kECDHEPSK: 0x80, kDHEPSK: 0x100 } as const;
const A = { aRSA: 0x1, aDSS: 0x2, aNULL: 0x4, aECDSA: 0x8, aPSK: 0x10, aGOST01: 0x20, aSRP: 0x40, aGOST12: 0x80 } as const;
const E = {
  DES: 0x1, '3DES': 0x2, RC4: 0x4, RC2: 0x8, IDEA: 0x10, eNULL: 0x20, AES128: 0x40, AES256: 0x80, CAMELLIA128: 0x100, CAMELLIA256: 0x200,
  GOST89: 0x400, SEED: 0x800, AES128GCM: 0x1000, AES256GCM: 0x2000, AES128CCM: 0x4000, AES256CCM: 0x8000, AES128CCM8: 0x10000,
  AES256CCM8: 0x20000, GOST8912: 0x40000, CHACHA20POLY1305: 0x80000, ARIA128GCM: 0x100000, ARIA256GCM: 0x200000,
} as const;
const M = { MD5: 0x1, SHA1: 0x2, GOST94: 0x4, GOST89MAC: 0x8, SHA256: 0x10, SHA384: 0x20, AEAD: 0x40, GOST12_256: 0x80, GOST89MAC12: 0x100 } as const;
/** algo_strength: SSL_STRONG_MASK bits, then SSL_DEFAULT_MASK. */
const S = { NONE: 0x1, LOW: 0x2, MEDIUM: 0x4, HIGH: 0x8, FIPS: 0x10 } as const;
const STRONG_MASK = 0x1f;
const NOT_DEFAULT = 0x20;
const DEFAULT_MASK = 0x20;

const AES = E.AES128 | E.AES256 | E.AES128GCM | E.AES256GCM | E.AES128CCM | E.AES256CCM | E.AES128CCM8 | E.AES256CCM8;
const AESGCM = E.AES128GCM | E.AES256GCM;
const AESCCM = E.AES128CCM | E.AES256CCM | E.AES128CCM8 | E.AES256CCM8;
const CAMELLIA = E.CAMELLIA128 | E.CAMELLIA256;
const ARIAGCM = E.ARIA128GCM | E.ARIA256GCM;
const CBC = E.DES | E['3DES'] | E.RC2 | E.IDEA | E.AES128 | E.AES256 | E.CAMELLIA128 | E.CAMELLIA256 | E.SEED;
const PSK = K.kPSK | K.kRSAPSK | K.kECDHEPSK | K.kDHEPSK;

const VERSION = { '3': 0x0300, '1.0': 0x0301, '1.2': 0x0303 } as const;

/** One row of OpenSSL's table, with its masks. */
export interface OpenSslCipher {
  readonly id: number;
  /** OpenSSL name (`ECDHE-RSA-AES128-GCM-SHA256`). */
  readonly name: string;
  /** IANA name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`). */
  readonly iana: string;
  readonly mkey: number;
  readonly auth: number;
  readonly enc: number;
  readonly mac: number;
  /** First protocol version (SSLv3 0x0300, TLSv1 0x0301, TLSv1.2 0x0303). */
  readonly minTls: number;
  readonly strength: number;
  readonly bits: number;
  /** Built by OpenSSL 3 only with enable-weak-ssl-ciphers (RC4, 3DES) or IDEA. */
  readonly legacy: boolean;
  /** True when the engine implements it (engine/suites.ts TLS12_SUITES). */
  readonly implemented: boolean;
}

function maskOf<T extends Record<string, number>>(table: T, word: string, what: string): number {
  const v = table[word];
  if (v === undefined) throw new Error(`cipher table: unknown ${what} "${word}"`);
  return v;
}

export const OPENSSL_CIPHERS: readonly OpenSslCipher[] = OPENSSL_CIPHER_ROWS.map(([id, name, iana, algorithms, minVersion, strength, bits, legacy]) => {
  const [kx, au, enc, mac] = algorithms.split(' ') as [string, string, string, string];
  let s = 0;
  for (const w of strength.split('|')) s |= w === 'ND' ? NOT_DEFAULT : maskOf(S, w, 'strength');
  return {
    id,
    name,
    iana,
    mkey: maskOf(K, kx, 'key exchange'),
    auth: maskOf(A, au, 'authentication'),
    enc: maskOf(E, enc, 'encryption'),
    mac: maskOf(M, mac, 'MAC'),
    minTls: VERSION[minVersion],
    strength: s,
    bits,
    legacy,
    implemented: TLS12_SUITES.has(id),
  };
});

export const OPENSSL_CIPHERS_BY_ID: ReadonlyMap<number, OpenSslCipher> = new Map(OPENSSL_CIPHERS.map((c) => [c.id, c]));
const BY_NAME: ReadonlyMap<string, OpenSslCipher> = new Map(OPENSSL_CIPHERS.map((c) => [c.name, c]));

/** True for CHACHA20-POLY1305 suites (TLS 1.3's 0x1303 included), for PRIORITIZE_CHACHA. */
export function isChachaSuite(id: number): boolean {
  return id === 0x1303 || OPENSSL_CIPHERS_BY_ID.get(id)?.enc === E.CHACHA20POLY1305;
}

// ---- aliases (OpenSSL 3.0 cipher_aliases[])

interface Alias {
  readonly mkey?: number;
  readonly auth?: number;
  readonly enc?: number;
  readonly mac?: number;
  readonly minTls?: number;
  readonly strength?: number;
}

const ALIASES: ReadonlyMap<string, Alias> = new Map<string, Alias>([
  ['ALL', { enc: ~E.eNULL }],
  ['COMPLEMENTOFALL', { enc: E.eNULL }],
  ['COMPLEMENTOFDEFAULT', { strength: NOT_DEFAULT }],
  ['kRSA', { mkey: K.kRSA }],
  ['kEDH', { mkey: K.kDHE }],
  ['kDHE', { mkey: K.kDHE }],
  ['DH', { mkey: K.kDHE }],
  ['kEECDH', { mkey: K.kECDHE }],
  ['kECDHE', { mkey: K.kECDHE }],
  ['ECDH', { mkey: K.kECDHE }],
  ['kPSK', { mkey: K.kPSK }],
  ['kRSAPSK', { mkey: K.kRSAPSK }],
  ['kECDHEPSK', { mkey: K.kECDHEPSK }],
  ['kDHEPSK', { mkey: K.kDHEPSK }],
  ['kSRP', { mkey: K.kSRP }],
  ['kGOST', { mkey: K.kGOST }],
  ['aRSA', { auth: A.aRSA }],
  ['aDSS', { auth: A.aDSS }],
  ['DSS', { auth: A.aDSS }],
  ['aNULL', { auth: A.aNULL }],
  ['aECDSA', { auth: A.aECDSA }],
  ['ECDSA', { auth: A.aECDSA }],
  ['aPSK', { auth: A.aPSK }],
  ['aGOST01', { auth: A.aGOST01 }],
  ['aGOST12', { auth: A.aGOST12 }],
  ['aGOST', { auth: A.aGOST01 | A.aGOST12 }],
  ['aSRP', { auth: A.aSRP }],
  ['EDH', { mkey: K.kDHE, auth: ~A.aNULL }],
  ['DHE', { mkey: K.kDHE, auth: ~A.aNULL }],
  ['EECDH', { mkey: K.kECDHE, auth: ~A.aNULL }],
  ['ECDHE', { mkey: K.kECDHE, auth: ~A.aNULL }],
  ['NULL', { enc: E.eNULL }],
  ['RSA', { mkey: K.kRSA, auth: A.aRSA }],
  ['ADH', { mkey: K.kDHE, auth: A.aNULL }],
  ['AECDH', { mkey: K.kECDHE, auth: A.aNULL }],
  ['PSK', { mkey: PSK }],
  ['SRP', { mkey: K.kSRP }],
  ['3DES', { enc: E['3DES'] }],
  ['RC4', { enc: E.RC4 }],
  ['RC2', { enc: E.RC2 }],
  ['IDEA', { enc: E.IDEA }],
  ['SEED', { enc: E.SEED }],
  ['eNULL', { enc: E.eNULL }],
  ['GOST89', { enc: E.GOST89 | E.GOST8912 }],
  ['AES128', { enc: E.AES128 | E.AES128GCM | E.AES128CCM | E.AES128CCM8 }],
  ['AES256', { enc: E.AES256 | E.AES256GCM | E.AES256CCM | E.AES256CCM8 }],
  ['AES', { enc: AES }],
  ['AESGCM', { enc: AESGCM }],
  ['AESCCM', { enc: AESCCM }],
  ['AESCCM8', { enc: E.AES128CCM8 | E.AES256CCM8 }],
  ['CAMELLIA128', { enc: E.CAMELLIA128 }],
  ['CAMELLIA256', { enc: E.CAMELLIA256 }],
  ['CAMELLIA', { enc: CAMELLIA }],
  ['CHACHA20', { enc: E.CHACHA20POLY1305 }],
  ['GOST2012-GOST8912-GOST8912', { enc: E.GOST8912 }],
  ['ARIA', { enc: ARIAGCM }],
  ['ARIAGCM', { enc: ARIAGCM }],
  ['ARIA128', { enc: E.ARIA128GCM }],
  ['ARIA256', { enc: E.ARIA256GCM }],
  ['CBC', { enc: CBC }],
  ['MD5', { mac: M.MD5 }],
  ['SHA1', { mac: M.SHA1 }],
  ['SHA', { mac: M.SHA1 }],
  ['GOST94', { mac: M.GOST94 }],
  ['GOST89MAC', { mac: M.GOST89MAC | M.GOST89MAC12 }],
  ['SHA256', { mac: M.SHA256 }],
  ['SHA384', { mac: M.SHA384 }],
  ['GOST12', { mac: M.GOST12_256 }],
  ['SSLv3', { minTls: 0x0300 }],
  ['TLSv1', { minTls: 0x0301 }],
  ['TLSv1.0', { minTls: 0x0301 }],
  ['TLSv1.2', { minTls: 0x0303 }],
  ['LOW', { strength: S.LOW }],
  ['MEDIUM', { strength: S.MEDIUM }],
  ['HIGH', { strength: S.HIGH }],
  ['FIPS', { enc: ~E.eNULL, strength: S.FIPS }],
  ['EDH-DSS-DES-CBC3-SHA', { mkey: K.kDHE, auth: A.aDSS, enc: E['3DES'], mac: M.SHA1, strength: S.HIGH | S.FIPS }],
  ['EDH-RSA-DES-CBC3-SHA', { mkey: K.kDHE, auth: A.aRSA, enc: E['3DES'], mac: M.SHA1, strength: S.HIGH | S.FIPS }],
]);

/** Every name the cipher-string language knows: cipher names, then aliases. */
export function knownCipherStringName(name: string): boolean {
  return BY_NAME.has(name) || ALIASES.has(name);
}

// ---- the ordered list and OpenSSL's rule operations

interface Entry {
  readonly cipher: OpenSslCipher;
  active: boolean;
}

type Rule = 'add' | 'kill' | 'del' | 'ord' | 'bump';

interface Selector {
  readonly cipherId: number;
  readonly mkey: number;
  readonly auth: number;
  readonly enc: number;
  readonly mac: number;
  readonly minTls: number;
  readonly strength: number;
}

const ANY: Selector = { cipherId: 0, mkey: 0, auth: 0, enc: 0, mac: 0, minTls: 0, strength: 0 };
const sel = (s: Partial<Selector>): Selector => ({ ...ANY, ...s });

/** ssl_cipher_apply_rule's selection criteria. */
function matches(c: OpenSslCipher, s: Selector): boolean {
  if (s.cipherId && s.cipherId !== c.id) return false;
  if (s.mkey && !(s.mkey & c.mkey)) return false;
  if (s.auth && !(s.auth & c.auth)) return false;
  if (s.enc && !(s.enc & c.enc)) return false;
  if (s.mac && !(s.mac & c.mac)) return false;
  if (s.minTls && s.minTls !== c.minTls) return false;
  if (s.strength & STRONG_MASK && !(s.strength & STRONG_MASK & c.strength)) return false;
  if (s.strength & DEFAULT_MASK && !(s.strength & DEFAULT_MASK & c.strength)) return false;
  return true;
}

/**
 * One rule over the list. Each of OpenSSL's linked-list walks is a stable
 * partition: add / ord append the chosen entries at the end in list order,
 * del / bump put them at the front in list order, kill drops them.
 * The list is rearranged in place and returned (every caller owns its list
 * and replaces it with the result): a cipher string is dozens of rules over
 * ~150 entries, and an evaluation that made new arrays for each rule was a
 * measurable part of the daemon's start (bench/README.md, start-up).
 */
function apply(list: Entry[], rule: Rule, pick: (c: OpenSslCipher) => boolean): Entry[] {
  const chosen = CHOSEN;
  // The entries not chosen move up to the front, in order.
  let kept = 0;
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    const hit = pick(e.cipher) && (rule === 'kill' || (rule === 'add' ? !e.active : e.active));
    if (hit) chosen.push(e);
    else list[kept++] = e;
  }
  if (rule === 'add' || rule === 'del') for (const e of chosen) e.active = rule === 'add';
  if (rule === 'add' || rule === 'ord') {
    list.length = kept;
    for (const e of chosen) list.push(e);
  } else if (rule === 'del' || rule === 'bump') {
    list.length = kept + chosen.length;
    list.copyWithin(chosen.length, 0, kept);
    for (let i = 0; i < chosen.length; i++) list[i] = chosen[i]!;
  } else {
    list.length = kept;
  }
  chosen.length = 0;
  return list;
}

/** apply()'s chosen entries, one array for the process (rules run one at a time, and it is emptied after each). */
const CHOSEN: Entry[] = [];

function applyRule(list: Entry[], rule: Rule, s: Selector): Entry[] {
  return apply(list, rule, (c) => matches(c, s));
}

/** ssl_cipher_strength_sort: the active ciphers by strength bits, highest first, stably. */
function strengthSort(list: Entry[]): Entry[] {
  const used = [...new Set(list.filter((e) => e.active).map((e) => e.cipher.bits))].sort((a, b) => b - a);
  for (const bits of used) list = apply(list, 'ord', (c) => c.bits === bits);
  return list;
}

/** OpenSSL's default preference order (ssl_create_cipher_list), every entry inactive. */
function defaultOrder(): OpenSslCipher[] {
  // ssl_sort_cipher_list sorts the table by id; ssl3_get_cipher hands it out from the end.
  let list: Entry[] = [...OPENSSL_CIPHERS].sort((a, b) => b.id - a.id).map((cipher) => ({ cipher, active: false }));
  const r = (rule: Rule, s: Partial<Selector>) => (list = applyRule(list, rule, sel(s)));
  // Everything else being equal, prefer ephemeral ECDH, and ECDSA over RSA.
  r('add', { mkey: K.kECDHE, auth: A.aECDSA });
  r('add', { mkey: K.kECDHE });
  r('del', { mkey: K.kECDHE });
  // Within each strength group, GCM over CHACHA, and generally AES.
  r('add', { enc: AESGCM });
  r('add', { enc: E.CHACHA20POLY1305 });
  r('add', { enc: AES ^ AESGCM });
  // Temporarily enable everything else for sorting.
  r('add', {});
  // Low priority for MD5, anonymous suites, RSA and PSK key exchange, RC4.
  r('ord', { mac: M.MD5 });
  r('ord', { auth: A.aNULL });
  r('ord', { mkey: K.kRSA });
  r('ord', { mkey: K.kPSK });
  r('ord', { enc: E.RC4 });
  list = strengthSort(list);
  // Partially overrule the strength sort to prefer TLS 1.2 suites, then
  // (EC)DHE + AEAD > (EC)DHE > rest of AEAD > rest.
  r('bump', { minTls: 0x0303 });
  r('bump', { mac: M.AEAD });
  r('bump', { mkey: K.kDHE | K.kECDHE });
  r('bump', { mkey: K.kDHE | K.kECDHE, mac: M.AEAD });
  // Now disable everything, keeping the order.
  r('del', {});
  return list.map((e) => e.cipher);
}

const DEFAULT_ORDER: readonly OpenSslCipher[] = defaultOrder();

/** OSSL_default_cipher_list() in OpenSSL 3.0. */
export const OPENSSL_DEFAULT_CIPHER_LIST = 'ALL:!COMPLEMENTOFDEFAULT:!eNULL';

export class CipherStringError extends Error {
  override readonly name = 'CipherStringError';
}

export interface CipherStringResult {
  /** The selected ciphers in preference order (what `openssl ciphers -V` lists after the TLS 1.3 suites). */
  readonly ciphers: readonly OpenSslCipher[];
  /** Names OpenSSL does not know (ignored, as OpenSSL ignores them). */
  readonly unknown: readonly string[];
  /** Things accepted but without effect here (`@SECLEVEL=n`). */
  readonly notes: readonly string[];
}

const isSep = (ch: string | undefined) => ch === ':' || ch === ' ' || ch === ';' || ch === ',';
const isNameChar = (ch: string | undefined) => ch !== undefined && /[A-Za-z0-9\-_.=]/.test(ch);

/**
 * Evaluate a cipher string; throws CipherStringError where OpenSSL reports "invalid command".
 * The result depends on the text alone: it is kept (frozen) for the next evaluation of the same
 * text, which a start makes several times (each grade, each service, the check before the start).
 */
export function evaluateCipherString(text: string): CipherStringResult {
  let result = EVALUATED.get(text);
  if (!result) {
    const r = evaluate(text);
    result = Object.freeze({ ciphers: Object.freeze(r.ciphers), unknown: Object.freeze(r.unknown), notes: Object.freeze(r.notes) });
    if (EVALUATED.size >= EVALUATED_ENTRIES) EVALUATED.delete(EVALUATED.keys().next().value!);
    EVALUATED.set(text, result);
  }
  return result;
}

/** Bounded: a configuration names a handful of cipher strings. */
const EVALUATED_ENTRIES = 32;
const EVALUATED = new Map<string, CipherStringResult>();

function evaluate(text: string): CipherStringResult {
  let list: Entry[] = DEFAULT_ORDER.map((cipher) => ({ cipher, active: false }));
  const unknown: string[] = [];
  const notes: string[] = [];
  const process = (str: string) => {
    let i = 0;
    while (i < str.length) {
      const first = str[i];
      let rule: Rule | 'special' = 'add';
      if (first === '-') rule = 'del';
      else if (first === '+') rule = 'ord';
      else if (first === '!') rule = 'kill';
      else if (first === '@') rule = 'special';
      if (rule !== 'add') i++;
      else if (isSep(first)) {
        i++;
        continue;
      }
      // One element: name[+name...].
      let s: { -readonly [K in keyof Selector]: Selector[K] } = { ...ANY };
      let found = false;
      let word = '';
      for (;;) {
        const start = i;
        while (isNameChar(str[i])) i++;
        word = str.slice(start, i);
        if (!word) throw new CipherStringError(`invalid command at "${str.slice(start) || '(end)'}"`);
        if (rule === 'special') break;
        const multi = str[i] === '+';
        if (multi) i++;
        found = false;
        const cipher = BY_NAME.get(word);
        const alias: Alias | undefined = cipher ? { mkey: cipher.mkey, auth: cipher.auth, enc: cipher.enc, mac: cipher.mac, strength: cipher.strength } : ALIASES.get(word);
        if (!alias) {
          unknown.push(word);
          break;
        }
        if (!combine(s, alias)) break;
        // OpenSSL resets the pinned cipher for every part: only the last part's name pins.
        s.cipherId = cipher ? cipher.id : 0;
        if (!cipher && alias.minTls) {
          if (s.minTls && s.minTls !== alias.minTls) break;
          s.minTls = alias.minTls;
        }
        found = true;
        if (!multi) break;
      }
      if (rule === 'special') {
        if (word === 'STRENGTH') list = strengthSort(list);
        else if (/^SECLEVEL=[0-5]$/.test(word)) notes.push(`@${word} is accepted and ignored: the engine has no OpenSSL security levels (its TLS 1.2 suites are all AEAD with (EC)DHE)`);
        else throw new CipherStringError(`invalid command "@${word}"`);
        while (i < str.length && !isSep(str[i])) i++;
      } else if (found) {
        list = applyRule(list, rule, s);
      } else {
        while (i < str.length && !isSep(str[i])) i++;
      }
    }
  };
  let rest = text;
  if (rest.startsWith('DEFAULT')) {
    process(OPENSSL_DEFAULT_CIPHER_LIST);
    rest = rest.slice(7);
    if (rest.startsWith(':')) rest = rest.slice(1);
  }
  process(rest);
  return { ciphers: list.filter((e) => e.active).map((e) => e.cipher), unknown, notes };
}

/** The mask intersection of ssl_cipher_process_rulestr; false when a part becomes empty. */
function combine(s: { mkey: number; auth: number; enc: number; mac: number; strength: number }, a: Alias): boolean {
  for (const k of ['mkey', 'auth', 'enc', 'mac'] as const) {
    const v = a[k];
    if (!v) continue;
    if (s[k]) {
      s[k] &= v;
      if (!s[k]) return false;
    } else s[k] = v;
  }
  const strong = (a.strength ?? 0) & STRONG_MASK;
  if (strong) {
    if (s.strength & STRONG_MASK) {
      s.strength &= strong | ~STRONG_MASK;
      if (!(s.strength & STRONG_MASK)) return false;
    } else s.strength |= strong;
  }
  const def = (a.strength ?? 0) & DEFAULT_MASK;
  if (def) {
    if (s.strength & DEFAULT_MASK) {
      s.strength &= def | ~DEFAULT_MASK;
      if (!(s.strength & DEFAULT_MASK)) return false;
    } else s.strength |= def;
  }
  return true;
}

/** Why the engine lacks a suite, in words for the warning (it implements only AEAD with (EC)DHE and a certificate). */
export function lackKind(c: OpenSslCipher): string {
  if (c.enc & E.eNULL) return 'NULL encryption';
  if (c.auth & A.aNULL) return 'anonymous';
  if (c.enc & E.RC4) return 'RC4';
  if (c.enc & E['3DES']) return '3DES';
  if (c.mkey & (PSK | K.kSRP)) return 'PSK/SRP';
  if (c.mkey & K.kRSA) return 'RSA key exchange';
  if (c.enc & CBC) return 'CBC';
  if (c.auth & A.aDSS) return 'DSS';
  if (c.enc & AESCCM) return 'CCM';
  if (c.enc & ARIAGCM) return 'ARIA';
  if (c.enc & E.CHACHA20POLY1305) return 'DHE-RSA-CHACHA20';
  return 'other';
}

export interface Tls12Selection {
  /** Implemented TLS 1.2 suites (engine/suites.ts ids) in the string's preference order. */
  readonly suites: readonly number[];
  /** Selected suites the engine does not implement (OpenSSL names), in order. */
  readonly unimplemented: readonly string[];
  /** Why they are not implemented (lackKind), each kind once, in order of appearance. */
  readonly lacking: readonly string[];
  /** Everything selected (OpenSSL names), in order. */
  readonly all: readonly string[];
}

/** The string's selection split into what the engine implements and what it does not. */
export function tls12Selection(result: CipherStringResult): Tls12Selection {
  return {
    suites: result.ciphers.filter((c) => c.implemented).map((c) => c.id),
    unimplemented: result.ciphers.filter((c) => !c.implemented).map((c) => c.name),
    lacking: [...new Set(result.ciphers.filter((c) => !c.implemented).map(lackKind))],
    all: result.ciphers.map((c) => c.name),
  };
}
