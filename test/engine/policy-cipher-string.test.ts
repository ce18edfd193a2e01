/**
 * The OpenSSL cipher-string evaluator (engine/policy/cipher-string.ts)
 * against the REAL `openssl ciphers` on this machine, string by string:
 *
 *  - the oracle of what we offer: `openssl ciphers -V -s -tls1_2 STR`,
 *    the suites it lists restricted to the ones the engine implements, in
 *    OpenSSL's order, must equal our TLS 1.2 selection;
 *  - the oracle of the evaluator itself: `openssl ciphers STR` (with the
 *    legacy provider when it loads, so that SEED is there too), compared
 *    over every suite this OpenSSL build has (ours and the ones we do not
 *    implement), so that order, `-`, `+`, `!` and @STRENGTH are checked
 *    on ~160 suites, not just our eight;
 *  - strings OpenSSL rejects (invalid command) are rejected too.
 */

import { execFile } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CipherStringError, evaluateCipherString, OPENSSL_CIPHERS, tls12Selection } from '../../engine/policy/cipher-string.js';
import { DEFAULT_CIPHER_LISTS } from '../../engine/policy/grades.js';
import { TLS12_SUITES } from '../../engine/suites.js';

interface OpensslResult {
  readonly ok: boolean;
  readonly out: string;
}

function openssl(args: readonly string[]): Promise<OpensslResult> {
  return new Promise((resolve) => {
    execFile('openssl', ['ciphers', ...args], { timeout: 10_000 }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}` }));
  });
}

/** Run many openssl invocations, a few at a time. */
async function all<T, R>(items: readonly T[], f: (t: T) => Promise<R>, width = 8): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

let legacy: string[] = [];
/** Every TLS <= 1.2 suite name this OpenSSL build has (with `legacy` providers). */
let available = new Set<string>();

const names = (r: OpensslResult) =>
  r.out
    .trim()
    .split(':')
    .filter((n) => n && !n.startsWith('TLS_'));

/** `openssl ciphers -V` lines: "0xC0,0x2F - NAME ..." → ids. */
const ids = (r: OpensslResult) => [...r.out.matchAll(/0x([0-9A-F]{2}),0x([0-9A-F]{2}) - /g)].map((m) => parseInt(m[1]! + m[2]!, 16));

test.before(async () => {
  const withLegacy = await openssl(['-provider', 'legacy', '-provider', 'default', 'ALL:COMPLEMENTOFALL']);
  legacy = withLegacy.ok ? ['-provider', 'legacy', '-provider', 'default'] : [];
  const r = withLegacy.ok ? withLegacy : await openssl(['ALL:COMPLEMENTOFALL']);
  assert.ok(r.ok, r.out);
  available = new Set(names(r));
});

// Postfix's base lists of every era, their exclusions, and strings that
// exercise each operator and alias.
const STRINGS: readonly string[] = [
  DEFAULT_CIPHER_LISTS.high,
  DEFAULT_CIPHER_LISTS.medium,
  DEFAULT_CIPHER_LISTS.null,
  `${DEFAULT_CIPHER_LISTS.medium}:!ECDHE-RSA-AES256-GCM-SHA384`,
  `${DEFAULT_CIPHER_LISTS.medium}:!kEDH+aRSA:!aNULL`,
  `${DEFAULT_CIPHER_LISTS.high}:!CHACHA20:!AES256`,
  'aNULL:-aNULL:HIGH:@STRENGTH',
  'aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH',
  'aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH',
  'aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH',
  'aNULL:-aNULL:ALL:!EXPORT:!LOW:!MEDIUM:+RC4:@STRENGTH',
  'aNULL:-aNULL:ALL:!EXPORT:!LOW:+RC4:@STRENGTH',
  'aNULL:-aNULL:ALL:+RC4:@STRENGTH',
  'eNULL:!aNULL',
  'ALL:COMPLEMENTOFALL',
  'ALL',
  'DEFAULT',
  'DEFAULT:!aRSA',
  'DEFAULT:+AES128',
  'COMPLEMENTOFDEFAULT',
  'HIGH:!aNULL:!MD5',
  'HIGH:MEDIUM',
  'MEDIUM:HIGH',
  'HIGH:+kDHE',
  'HIGH:-kECDHE:kECDHE',
  'HIGH:!kECDHE:kECDHE',
  'HIGH:+AES128:+SHA1:@STRENGTH',
  'HIGH:@SECLEVEL=2',
  'HIGH!aECDSA',
  'ECDHE+AESGCM:DHE+AESGCM',
  'EECDH+aRSA+AESGCM:EDH+aRSA+AESGCM',
  'kEECDH:kEDH:!aNULL',
  'kECDHE+aECDSA:kECDHE+aRSA:kDHE',
  'kEDH+aRSA:ECDHE',
  'ECDH+HIGH',
  'DH:ECDH',
  'AES128:AES256:+AESGCM',
  'AES256:AES128',
  'AES:!AESGCM',
  'AESGCM:CHACHA20',
  'CHACHA20:AESGCM:-AES128:AES',
  'AESGCM:@STRENGTH:+CHACHA20',
  'CHACHA20:+aECDSA',
  'aRSA:aECDSA:!aNULL',
  'aECDSA:aRSA',
  'ECDSA:RSA',
  'RSA:ECDSA',
  'kRSA:!kRSA:HIGH',
  'SHA256:SHA384',
  'SHA384:SHA256:AESGCM',
  'SHA1:SHA',
  'AES256+SHA384:AES128+AEAD',
  'TLSv1.2+AES',
  'TLSv1.2:!TLSv1.2+CHACHA20',
  'TLSv1:SSLv3',
  'CAMELLIA:ARIA:AESCCM:CBC',
  'CAMELLIA256:ARIA128:AESCCM8',
  'PSK:SRP:HIGH',
  'ALL:!ECDHE-RSA-AES256-GCM-SHA384',
  'ALL:-DHE:DHE',
  'ALL:!DHE:DHE',
  'ALL,!aNULL;!eNULL DHE',
  'ECDHE-RSA-AES128-GCM-SHA256+AESGCM',
  'ECDHE-RSA-AES128-GCM-SHA256+AES256:AES128',
  'DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:@STRENGTH',
  'FOO!AESGCM:AES256-SHA:ECDHE-ECDSA-AES256-GCM-SHA384',
  'kECDHE+FOO:AES128',
  'HIGH+FIPS:AES128',
  'FIPS:!aNULL',
  'EDH-RSA-DES-CBC3-SHA:AESGCM',
  'SEED:IDEA:AES128-SHA',
  'HIGH:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5',
];

test('every string: our TLS 1.2 selection = `openssl ciphers -V -s -tls1_2` restricted to our suites, in OpenSSL order', async () => {
  const results = await all(STRINGS, (s) => openssl(['-V', '-s', '-tls1_2', s]));
  const failures: string[] = [];
  STRINGS.forEach((s, i) => {
    const r = results[i]!;
    const ours = tls12Selection(evaluateCipherString(s)).suites;
    const theirs = r.ok ? ids(r).filter((id) => TLS12_SUITES.has(id)) : [];
    const show = (l: readonly number[]) => l.map((id) => TLS12_SUITES.get(id)!.name).join(':');
    if (show(ours) !== show(theirs)) failures.push(`${s}\n   ours:    ${show(ours)}\n   openssl: ${show(theirs)}`);
  });
  assert.equal(failures, [], failures.join('\n'));
});

test('every string: the whole selection = `openssl ciphers` over every suite of this OpenSSL build (order included)', async () => {
  const results = await all(STRINGS, (s) => openssl([...legacy, s]));
  const failures: string[] = [];
  STRINGS.forEach((s, i) => {
    const r = results[i]!;
    const ours = evaluateCipherString(s)
      .ciphers.map((c) => c.name)
      .filter((n) => available.has(n));
    const theirs = r.ok ? names(r) : [];
    if (ours.join(':') !== theirs.join(':')) failures.push(`${s}\n   ours:    ${ours.join(':')}\n   openssl: ${theirs.join(':')}`);
  });
  assert.equal(failures, [], failures.join('\n'));
});

test("the table: OpenSSL's default order of every suite it builds, and our eight suites are in it", async () => {
  const ours = evaluateCipherString('ALL:COMPLEMENTOFALL')
    .ciphers.map((c) => c.name)
    .filter((n) => available.has(n));
  assert.equal(ours.length, available.size);
  for (const s of TLS12_SUITES.values()) assert.ok(OPENSSL_CIPHERS.some((c) => c.id === s.id && c.name === s.name && c.implemented), s.name);
  // The suites OpenSSL 3 builds only with enable-weak-ssl-ciphers are there, marked.
  for (const n of ['RC4-SHA', 'DES-CBC3-SHA', 'ECDHE-RSA-DES-CBC3-SHA', 'IDEA-CBC-SHA']) assert.ok(OPENSSL_CIPHERS.find((c) => c.name === n)?.legacy, n);
});

test('unimplemented selections are reported by name; TLS 1.3 names are not TLS 1.2 cipher-string names', () => {
  const rc4 = tls12Selection(evaluateCipherString('RC4:3DES'));
  assert.equal(rc4.suites, []);
  assert.ok(rc4.unimplemented.includes('RC4-SHA') && rc4.unimplemented.includes('ECDHE-RSA-DES-CBC3-SHA'));
  const nul = tls12Selection(evaluateCipherString(DEFAULT_CIPHER_LISTS.null));
  assert.equal(nul.suites, []);
  assert.ok(nul.unimplemented.includes('NULL-SHA256'));
  const mixed = tls12Selection(evaluateCipherString('AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256'));
  assert.equal(mixed.unimplemented, ['AES128-SHA']);
  assert.equal(mixed.suites, [0xc02f]);
  const r = evaluateCipherString('TLS_AES_128_GCM_SHA256:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:LOW:EXPORT:DES');
  assert.equal(r.ciphers, []);
  assert.equal(r.unknown, ['TLS_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'EXPORT', 'DES']);
});

test('@SECLEVEL=n is accepted with a note; bad commands are rejected as OpenSSL rejects them', async () => {
  assert.equal(evaluateCipherString('HIGH:@SECLEVEL=0').notes.length, 1);
  const bad = ['HIGH:@strength', 'HIGH:@SECLEVEL=9', 'HIGH:@FOO', 'ALL\tAES', 'HIGH:!:AES', 'HIGH++AES', 'HIGH:!!aNULL', 'HIGH:(AES)'];
  const results = await all(bad, (s) => openssl([s]));
  bad.forEach((s, i) => {
    assert.throws(() => evaluateCipherString(s), (e: unknown) => e instanceof CipherStringError, s);
    assert.not.ok(results[i]!.ok, `openssl accepted ${s}`);
    assert.match(results[i]!.out, /invalid command/, s);
  });
  // Names are case-sensitive: "high" is an unknown name (ignored), as in OpenSSL.
  assert.equal(evaluateCipherString('high').ciphers, []);
  assert.equal(evaluateCipherString('high').unknown, ['high']);
});

test('the same text evaluates once: the kept result is the same frozen object, another text its own', () => {
  const a = evaluateCipherString('HIGH:!aNULL:@STRENGTH');
  assert.is(evaluateCipherString('HIGH:!aNULL:@STRENGTH'), a);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.ciphers) && Object.isFrozen(a.unknown) && Object.isFrozen(a.notes));
  assert.throws(() => (a.ciphers as unknown as unknown[]).push(a.ciphers[0]));
  const b = evaluateCipherString('HIGH:!aNULL');
  assert.is.not(b, a);
  assert.equal(b.ciphers.map((c) => c.name).sort(), a.ciphers.map((c) => c.name).sort(), 'the same suites, another order');
  // An invalid string throws each time (nothing kept).
  assert.throws(() => evaluateCipherString('HIGH:@NOPE'), /invalid command "@NOPE"/);
  assert.throws(() => evaluateCipherString('HIGH:@NOPE'), /invalid command "@NOPE"/);
});

test.run();
