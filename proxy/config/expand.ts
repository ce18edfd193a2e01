/**
 * Postfix parameter expansion (mac_expand(3) restated):
 *
 *   $name, ${name}, $(name)         the value of name, empty if unknown
 *   ${name?text}, ${name?{text}}    text if name's value is non-empty
 *   ${name:text}, ${name:{text}}    text if name's value is empty or unknown
 *   ${name?{text1}:{text2}}         text1 if non-empty, else text2 (also ${name?{text1}:text2})
 *   ${{a} == {b} ? {t} : {f}}       relational expression: ==, !=, <, <=, >=, >
 *                                   (numeric when both sides are all digits,
 *                                   else by code points); with the suffix
 *                                   `level` (`<level`, `>=level`...) both sides
 *                                   are compatibility levels (major[.minor[.patch]])
 *   $$                              a literal $
 *
 * Whitespace around {text} operands is ignored; results are expanded in
 * turn. `lookup` returns the already expanded value of a name (undefined
 * for an unknown name), so loops are detected by the caller, which owns the
 * chain of names being expanded.
 */

import { ConfigError } from './errors.js';

export type ExpandLookup = (name: string) => string | undefined;

const NAME_CHAR = /[A-Za-z0-9_]/;
const WHITESPACE = ' \t\r\n';

export function expand(text: string, lookup: ExpandLookup): string {
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const d = text.indexOf('$', i);
    if (d < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, d);
    const c = text[d + 1];
    if (c === '$') {
      out += '$';
      i = d + 2;
    } else if (c === '{' || c === '(') {
      const close = c === '{' ? '}' : ')';
      let level = 1;
      let j = d + 2;
      for (; j < text.length; j++) {
        if (text[j] === c) level++;
        else if (text[j] === close && --level === 0) break;
      }
      if (j >= text.length) throw new ConfigError(`missing '${close}' in "${text}"`);
      out += expression(text.slice(d + 2, j), lookup);
      i = j + 1;
    } else if (c !== undefined && NAME_CHAR.test(c)) {
      let j = d + 1;
      while (j < text.length && NAME_CHAR.test(text[j]!)) j++;
      out += lookup(text.slice(d + 1, j)) ?? '';
      i = j;
    } else {
      out += '$';
      i = d + 1;
    }
  }
  return out;
}

/** The inside of ${...}. */
function expression(body: string, lookup: ExpandLookup): string {
  let value: string | undefined;
  let cp: number;
  const lead = skipWhitespace(body, 0);
  if (body[lead] === '{') {
    // Logical expression: {a} == {b} or {a} != {b}.
    const left = curly(body, lead);
    let k = left.next;
    const opStart = k;
    while (k < body.length && '<>!=?+-*/~&|%'.includes(body[k]!)) k++;
    const op = body.slice(opStart, k);
    if (!RELATIONAL_OPERATORS.includes(op)) {
      throw new ConfigError(`${OPERATORS_TEXT} expected at: "...${left.payload}}>>>${body.slice(opStart, opStart + 20)}"`);
    }
    // An operator suffix (Postfix registers one: `level`, compat_level.c).
    let suffixEnd = k;
    while (suffixEnd < body.length && /[A-Za-z0-9]/.test(body[suffixEnd]!)) suffixEnd++;
    const suffix = body.slice(k, suffixEnd);
    if (suffix && suffix !== 'level') throw new ConfigError(`bad operator suffix at: "...${op}>>>${suffix}"`);
    k = suffixEnd;
    const r = skipWhitespace(body, k);
    if (body[r] !== '{') throw new ConfigError(`"{expression}" expected at: "...{${left.payload}} ${op}${suffix}>>>${body.slice(k, k + 20)}"`);
    const right = curly(body, r);
    const a = expand(left.payload, lookup);
    const b = expand(right.payload, lookup);
    const delta = suffix === 'level' ? compatLevel(a) - compatLevel(b) : compare(a, b);
    value = relation(op, delta) ? 'true' : '';
    cp = right.next;
    if (cp >= body.length) return value;
    if (body[cp] !== '?' && body[cp] !== ':') throw new ConfigError(`"?" or ":" expected at: "...}>>>${body.slice(cp, cp + 20)}"`);
  } else {
    cp = 0;
    while (cp < body.length && body[cp] !== '?' && body[cp] !== ':') {
      if (!NAME_CHAR.test(body[cp]!)) {
        throw new ConfigError(`attribute name syntax error at: "...${body.slice(0, cp)}>>>${body.slice(cp, cp + 20)}"`);
      }
      cp++;
    }
    if (cp === 0) throw new ConfigError(`attribute name syntax error at: "...>>>${body.slice(0, 20)}"`);
    value = lookup(body.slice(0, cp));
    if (cp >= body.length) return value ?? '';
  }

  const nonEmpty = value !== undefined && value !== '';
  let out = '';
  if (body[cp] === '?') {
    cp++;
    const operand = optionalCurly(body, cp);
    if (nonEmpty) out += expand(operand.payload, lookup);
    cp = operand.next;
    if (cp >= body.length) return out;
    if (body[cp] !== ':') throw new ConfigError(`":" expected at: "...${operand.payload}}>>>${body.slice(cp, cp + 20)}"`);
  }
  // body[cp] === ':'
  cp++;
  const operand = optionalCurly(body, cp);
  if (!nonEmpty) out += expand(operand.payload, lookup);
  if (operand.next < body.length) {
    throw new ConfigError(`unexpected input at: "...${operand.payload}}>>>${body.slice(operand.next, operand.next + 20)}"`);
  }
  return out;
}

const RELATIONAL_OPERATORS = ['==', '!=', '<', '<=', '>=', '>'];
const OPERATORS_TEXT = RELATIONAL_OPERATORS.map((o) => `"${o}"`).join(' or ');

function relation(op: string, delta: number): boolean {
  switch (op) {
    case '==':
      return delta === 0;
    case '!=':
      return delta !== 0;
    case '<':
      return delta < 0;
    case '<=':
      return delta <= 0;
    case '>=':
      return delta >= 0;
    default:
      return delta > 0;
  }
}

/** mac_exp_eval: numerical when both operands are all digits, else strcmp. */
function compare(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const d = BigInt(a) - BigInt(b);
    return d === 0n ? 0 : d < 0n ? -1 : 1;
  }
  return a === b ? 0 : a < b ? -1 : 1;
}

/**
 * A compatibility level `major[.minor[.patch]]` as one comparable number
 * (compat_level_from_string: minor and patch below 1024).
 */
export function compatLevel(text: string): number {
  const m = /^(\d+)(?:\.(\d+)(?:\.(\d+))?)?$/.exec(text);
  const major = m ? Number(m[1]) : NaN;
  const minor = m?.[2] !== undefined ? Number(m[2]) : 0;
  const patch = m?.[3] !== undefined ? Number(m[3]) : 0;
  if (!m || major > 2 ** 20 || minor > 1023 || patch > 1023) throw new ConfigError(`malformed compatibility level syntax: "${text}"`);
  return major * 2 ** 20 + minor * 1024 + patch;
}

/** `{payload}` at (or after whitespace at) `from`, else the rest of the text as in Postfix 2.2-2.11. */
function optionalCurly(body: string, from: number): { payload: string; next: number } {
  const k = skipWhitespace(body, from);
  if (body[k] === '{') return curly(body, k);
  return { payload: body.slice(from), next: body.length };
}

/** Balanced `{...}` starting at `open`; `next` is past the trailing whitespace. */
function curly(body: string, open: number): { payload: string; next: number } {
  let level = 1;
  let j = open + 1;
  for (; j < body.length; j++) {
    if (body[j] === '{') level++;
    else if (body[j] === '}' && --level === 0) break;
  }
  if (j >= body.length) throw new ConfigError(`unbalanced {} in attribute expression: "${body.slice(open)}"`);
  return { payload: body.slice(open + 1, j), next: skipWhitespace(body, j + 1) };
}

function skipWhitespace(text: string, from: number): number {
  while (from < text.length && WHITESPACE.includes(text[from]!)) from++;
  return from;
}
