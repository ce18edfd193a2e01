/**
 * engine/errors.ts is the one table of "which input gets which alert":
 *  - every cause has an alert (a real TLS alert, never close_notify) and an RFC reference;
 *  - every cause is thrown somewhere in engine/ (no dead entries), and every
 *    verifier refusal maps to a cause;
 *  - nothing else in engine/ chooses an alert: no alert name as a string
 *    literal, no AlertDescription.<name> except the closure alerts that are
 *    recognised on receipt, no TlsFailure built by hand.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlertDescription } from '../../engine/constants.js';
import { CAUSES, type Cause, REFUSAL_CAUSES, TlsFailure, alertFor, failure } from '../../engine/errors.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const engineDir = path.join(root, 'engine');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const TABLE = path.join(engineDir, 'errors.ts');
const CONSTANTS = path.join(engineDir, 'constants.ts');
const files = sources(engineDir).filter((f) => f !== TABLE && f !== CONSTANTS);
/** Sources without comments (a comment may cite an alert: that chooses nothing). */
const code = new Map(files.map((f) => [f, readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1')]));
const causes = Object.keys(CAUSES) as Cause[];

test('every cause has an alert and an RFC reference', () => {
  assert.ok(causes.length >= 90, `${causes.length} causes`);
  for (const c of causes) {
    const spec = CAUSES[c];
    const alert = alertFor(c);
    assert.type(alert, 'number', c);
    assert.ok(alert !== AlertDescription.close_notify && alert !== AlertDescription.user_canceled, `${c}: a failure needs an error alert`);
    assert.is(AlertDescription[spec.alert], alert, c);
    assert.match(spec.rfc, /RFC \d{4} §[\dA-Z]/, `${c}: RFC reference "${spec.rfc}"`);
    assert.type(spec.text, 'function', c);
  }
});

test('a failure carries its cause, the alert of the table and the text derived from the cause', () => {
  const f = failure('EmptyAlertRecord');
  assert.instance(f, TlsFailure);
  assert.is(f.code, 'EmptyAlertRecord');
  assert.is(f.alert, AlertDescription.unexpected_message);
  assert.is(f.message, 'alert record with empty content');
  const g = failure('HandshakeMessageTooLong', 1, 200000, 131396);
  assert.is(g.alert, AlertDescription.decode_error);
  assert.is(g.message, 'client_hello message of 200000 bytes exceeds the limit of 131396');
  assert.is(failure('LegacyVersionTooLow', 0x0200).alert, AlertDescription.protocol_version);
});

test('every verifier refusal maps to a cause with that very alert', () => {
  for (const [alert, c] of Object.entries(REFUSAL_CAUSES)) assert.is(alertFor(c), AlertDescription[alert as keyof typeof AlertDescription], alert);
});

test('every cause is thrown somewhere in engine/', () => {
  const all = [...code.values()].join('\n');
  const viaTable = new Set<string>(Object.values(REFUSAL_CAUSES));
  const unused = causes.filter((c) => !viaTable.has(c) && !all.includes(`'${c}'`));
  assert.equal(unused, [], `causes never thrown: ${unused.join(', ')}`);
});

test('the table is the only place in engine/ where alerts are chosen', () => {
  const names = Object.keys(AlertDescription).join('|');
  const literal = new RegExp(`['"\`](${names})['"\`]`);
  // Closure alerts are recognised when received (RFC 8446 §6.1); close_notify is also sent by close().
  const member = /AlertDescription\.(\w+)/g;
  const bad: string[] = [];
  for (const [f, text] of code) {
    const rel = path.relative(root, f);
    text.split('\n').forEach((line, i) => {
      if (literal.test(line)) bad.push(`${rel}:${i + 1}: alert name literal: ${line.trim()}`);
      for (const m of line.matchAll(member)) {
        if (m[1] !== 'close_notify' && m[1] !== 'user_canceled') bad.push(`${rel}:${i + 1}: AlertDescription.${m[1]}: ${line.trim()}`);
      }
      if (/new TlsFailure\(/.test(line)) bad.push(`${rel}:${i + 1}: TlsFailure built outside the table: ${line.trim()}`);
    });
  }
  assert.equal(bad, []);
});

test('the state context has no way to send an alert', () => {
  const state = [...code.entries()].find(([, t]) => /export interface ServerContext\b/.test(t));
  assert.ok(state, 'ServerContext found');
  const body = state![1].slice(state![1].indexOf('export interface ServerContext'));
  assert.not.match(body.slice(0, body.indexOf('\n}')), /sendAlert/);
});

test.run();
