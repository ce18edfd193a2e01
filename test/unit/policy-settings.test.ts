/**
 * Postfix policy parameters → what the engine is configured with, table
 * driven: cipher grades and exclusions (value → TLS 1.2 suite list,
 * checked against the real `openssl ciphers -V -s -tls1_2` of the string
 * Postfix would build), their warnings and start-up errors, security
 * levels (mandatory vs opportunistic selections), protocol lists, groups
 * and the eecdh grade, tls_ssl_options and the PRIORITIZE_CHACHA ordering.
 */

import { execFile } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NamedGroup, ProtocolVersion } from '../../engine/constants.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { cipherPolicy, DEFAULT_CIPHER_LISTS, exclusionElements, parseGrade, PolicyError } from '../../engine/policy/grades.js';
import { groupPolicy } from '../../engine/policy/groups.js';
import { parseSslOptions, prioritizeChacha } from '../../engine/policy/options.js';
import { TLS12_SUITES } from '../../engine/suites.js';
import { ConfigError } from '../../proxy/config/errors.js';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { isMandatory, parseProtocolList, selectVersions } from '../../proxy/tls/protocols.js';
import { checkSecurityLevel, selectCiphers, selectGroupPolicy, selectGroups } from '../../proxy/tls/settings.js';

const params = (o: Record<string, string>) => ParameterSet.defaults().withOverrides(Object.entries(o).map(([name, value]) => ({ name, value })), 'test');
const isConfigError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigError && pattern.test(e.message);
const suiteNames = (ids: readonly number[]) => ids.map((id) => TLS12_SUITES.get(id)!.name);

const ALL8 = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES128-GCM-SHA256',
];
const without = (...drop: string[]) => ALL8.filter((n) => !drop.includes(n));

function opensslTls12(cipherList: string): Promise<string[]> {
  return new Promise((resolve) => {
    execFile('openssl', ['ciphers', '-V', '-s', '-tls1_2', cipherList], { timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve([]);
      const ids = [...stdout.matchAll(/0x([0-9A-F]{2}),0x([0-9A-F]{2}) - /g)].map((m) => parseInt(m[1]! + m[2]!, 16));
      resolve(suiteNames(ids.filter((id) => TLS12_SUITES.has(id))));
    });
  });
}

// [parameters, mandatory?, expected TLS 1.2 suites in server order]
const GRADES: readonly [Record<string, string>, boolean, readonly string[]][] = [
  [{}, false, ALL8],
  [{}, true, ALL8],
  [{ tlsproxy_tls_ciphers: 'high' }, false, ALL8],
  [{ tlsproxy_tls_ciphers: 'HIGH' }, false, ALL8],
  [{ tlsproxy_tls_ciphers: 'low' }, false, ALL8],
  [{ tlsproxy_tls_ciphers: 'Export' }, false, ALL8],
  [{ tlsproxy_tls_ciphers: 'null' }, false, []],
  [{ tlsproxy_tls_exclude_ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' }, false, without('ECDHE-RSA-AES256-GCM-SHA384')],
  [{ tlsproxy_tls_exclude_ciphers: 'kEDH+aRSA' }, false, without('DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-AES128-GCM-SHA256')],
  [{ tlsproxy_tls_exclude_ciphers: 'aRSA, CHACHA20' }, false, ['ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-GCM-SHA256']],
  [{ tlsproxy_tls_exclude_ciphers: 'AES256:AES128' }, false, ['ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305']],
  [{ tlsproxy_tls_exclude_ciphers: 'RC4 3DES\tMD5\nSEED,CBC' }, false, ALL8],
  [{ tlsproxy_tls_exclude_ciphers: 'SHA256' }, false, ALL8],
  [{ tlsproxy_tls_exclude_ciphers: 'AESGCM+AES128' }, false, without('ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES128-GCM-SHA256')],
  // The mandatory exclusions apply only with mandatory TLS.
  [{ tlsproxy_tls_mandatory_exclude_ciphers: 'kEDH' }, false, ALL8],
  [{ tlsproxy_tls_mandatory_exclude_ciphers: 'kEDH' }, true, without('DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-AES128-GCM-SHA256')],
  [{ tlsproxy_tls_exclude_ciphers: 'aECDSA', tlsproxy_tls_mandatory_exclude_ciphers: 'kEDH' }, true, ['ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-RSA-AES128-GCM-SHA256']],
  // The mandatory grade only with mandatory TLS; the opportunistic one otherwise.
  [{ tlsproxy_tls_ciphers: 'null', tlsproxy_tls_mandatory_ciphers: 'high' }, true, ALL8],
  [{ tlsproxy_tls_ciphers: 'high', tlsproxy_tls_mandatory_ciphers: 'null' }, false, ALL8],
  // Inherited from smtpd_*.
  [{ smtpd_tls_exclude_ciphers: 'ECDSA' }, false, ['ECDHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES128-GCM-SHA256']],
  // The base lists are parameters too.
  [{ tls_medium_cipherlist: 'AES128:CHACHA20:AES256' }, false, ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-AES256-GCM-SHA384']],
  [{ tls_high_cipherlist: 'kDHE:kECDHE:@STRENGTH', tlsproxy_tls_ciphers: 'high' }, false, ['DHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305', 'DHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256']],
];

test('grades and exclusions: value → TLS 1.2 suites, = openssl -s -tls1_2 of the string Postfix builds', async () => {
  for (const [o, mandatory, expected] of GRADES) {
    const w: string[] = [];
    const p = selectCiphers(params(o), mandatory, w);
    const label = `${JSON.stringify(o)} mandatory=${mandatory}`;
    assert.equal(suiteNames(p.tls12Suites), expected, label);
    assert.equal(suiteNames(p.tls12Suites), await opensslTls12(p.cipherList), `${label}: ${p.cipherList}`);
    assert.is(p.mandatory, mandatory);
  }
});

test('the effective cipher list: base list then :!elem in Postfix order, aNULL when client certificates are requested', () => {
  const w: string[] = [];
  const m = selectCiphers(params({ tlsproxy_tls_exclude_ciphers: 'RC4, kEDH+aRSA', tlsproxy_tls_mandatory_exclude_ciphers: 'SEED', tlsproxy_tls_ask_ccert: 'yes' }), true, w);
  assert.is(m.cipherList, `${DEFAULT_CIPHER_LISTS.medium}:!RC4:!kEDH+aRSA:!SEED:!aNULL`);
  assert.is(selectCiphers(params({ tlsproxy_tls_req_ccert: 'yes' }), true, w).cipherList, `${DEFAULT_CIPHER_LISTS.medium}:!aNULL`);
  assert.is(selectCiphers(params({ tlsproxy_tls_req_ccert: 'yes' }), false, w).cipherList, DEFAULT_CIPHER_LISTS.medium);
  assert.is(selectCiphers(params({ tlsproxy_tls_ciphers: 'high' }), false, w).cipherList, DEFAULT_CIPHER_LISTS.high);
  assert.is(selectCiphers(params({ tlsproxy_tls_ciphers: 'null' }), false, []).cipherList, DEFAULT_CIPHER_LISTS.null);
  assert.equal(exclusionElements(' a, b:c\td\r\ne  '), ['a', 'b', 'c', 'd', 'e']);
  assert.equal(w, []);
  assert.is(parseGrade(' Medium '), 'medium');
  assert.is(parseGrade('EXPORT'), 'medium');
  assert.is(parseGrade('invalid'), undefined);
});

test('grade errors: invalid grade, unary exclusion, empty selection, bad base list (start-up errors naming the parameter)', () => {
  const w: string[] = [];
  assert.throws(() => selectCiphers(params({ tlsproxy_tls_ciphers: 'strong' }), false, w), isConfigError(/^tlsproxy_tls_ciphers: invalid cipher grade: "strong"$/));
  assert.throws(() => selectCiphers(params({ tlsproxy_tls_mandatory_ciphers: 'super' }), true, w), isConfigError(/^tlsproxy_tls_mandatory_ciphers: invalid cipher grade: "super"$/));
  for (const elem of ['!RC4', '+AES', '-aNULL', '@STRENGTH']) {
    assert.throws(
      () => selectCiphers(params({ tlsproxy_tls_exclude_ciphers: `MD5 ${elem}` }), false, w),
      isConfigError(new RegExp(`^tlsproxy_tls_exclude_ciphers: invalid unary '!\\+-@' in cipher exclusion: ${elem.replace(/[+]/g, '\\+')}$`)),
    );
  }
  assert.throws(() => selectCiphers(params({ tlsproxy_tls_mandatory_exclude_ciphers: '!x' }), true, w), isConfigError(/^tlsproxy_tls_mandatory_exclude_ciphers: invalid unary/));
  // Everything excluded: OpenSSL's "no cipher match".
  assert.throws(
    () => selectCiphers(params({ tlsproxy_tls_ciphers: 'high', tlsproxy_tls_exclude_ciphers: 'ALL' }), false, w),
    isConfigError(/^tlsproxy_tls_ciphers, tlsproxy_tls_exclude_ciphers: error setting cipher grade: "high" \(cipher list ".*:!ALL": no cipher match\)$/),
  );
  assert.throws(() => selectCiphers(params({ tls_medium_cipherlist: 'HIGH:@FOO' }), false, w), isConfigError(/^tlsproxy_tls_ciphers: error setting cipher grade: "medium" \(cipher list "HIGH:@FOO": invalid command "@FOO"\)$/));
  assert.throws(() => selectCiphers(params({ tls_high_cipherlist: '', tlsproxy_tls_ciphers: 'high' }), false, w), isConfigError(/^tlsproxy_tls_ciphers: empty "high" cipherlist/));
  assert.equal(w, []);
  // The pure layer throws PolicyError with the same words.
  assert.throws(() => cipherPolicy({ grade: 'x', gradeParameter: 'g', exclusions: [], excludeAnonymous: false }), (e: unknown) => e instanceof PolicyError && /invalid cipher grade: "x"/.test((e as Error).message));
});

test('a selection of only suites we deliberately lack: one warning, no TLS 1.2 suite (null grade, RC4/3DES-only lists)', () => {
  const w: string[] = [];
  const p = selectCiphers(params({ tlsproxy_tls_ciphers: 'null' }), false, w);
  assert.equal(p.tls12Suites, []);
  assert.ok(p.unimplemented.includes('NULL-SHA256'));
  assert.is(w.length, 1);
  assert.match(w[0]!, /^cipher grade "null" \(tlsproxy_tls_ciphers\) selects only TLS 1.2 suites this server deliberately does not implement \(NULL encryption: .*\): no TLS 1\.2 cipher suite is offered; TLS 1\.3 suites are not affected by grades$/);
  const w2: string[] = [];
  const q = selectCiphers(params({ tls_medium_cipherlist: 'RC4:3DES:AES128-SHA:ADH-AES128-GCM-SHA256' }), false, w2);
  assert.equal(q.tls12Suites, []);
  const kinds = /deliberately does not implement \(([^:]*):/.exec(w2[0]!)![1]!.split(', ').sort();
  assert.equal(kinds, ['3DES', 'RC4', 'RSA key exchange', 'anonymous']);
  // Selecting some of ours as well: no warning.
  const w3: string[] = [];
  selectCiphers(params({ tls_medium_cipherlist: 'RC4:AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256' }), false, w3);
  assert.equal(w3, []);
  // @SECLEVEL is accepted with a note.
  const w4: string[] = [];
  selectCiphers(params({ tls_medium_cipherlist: 'HIGH:@SECLEVEL=2' }), false, w4);
  assert.match(w4[0]!, /@SECLEVEL=2 is accepted and ignored/);
});

test('security levels: none/may/encrypt, unsupported levels, invalid, and which lists they select', () => {
  const w: string[] = [];
  assert.is(checkSecurityLevel(params({}), w), '');
  assert.is(checkSecurityLevel(params({ tlsproxy_tls_security_level: 'MAY' }), w), 'may');
  assert.is(checkSecurityLevel(params({ smtpd_tls_security_level: 'encrypt' }), w), 'encrypt');
  assert.equal(w, []);
  for (const l of ['fingerprint', 'verify', 'secure']) {
    const w2: string[] = [];
    assert.is(checkSecurityLevel(params({ tlsproxy_tls_security_level: l }), w2), 'encrypt');
    assert.equal(w2, [`tlsproxy_tls_security_level: unsupported TLS level "${l}", using "encrypt"`]);
  }
  assert.throws(() => checkSecurityLevel(params({ tlsproxy_tls_security_level: 'dane' }), w), isConfigError(/^Invalid TLS level "dane"$/));
  assert.throws(() => checkSecurityLevel(params({ tlsproxy_tls_security_level: 'none' }), w), isConfigError(/TLS server role is disabled by configuration/));
  // Mandatory: encrypt, or no level and the legacy enforce_tls.
  assert.is(isMandatory('encrypt', false), true);
  assert.is(isMandatory('may', true), false);
  assert.is(isMandatory('', true), true);
  assert.is(isMandatory('', false), false);
});

test('protocol lists: both syntaxes, hex bounds, clamped to TLS 1.2-1.3, mandatory vs opportunistic, invalid lists', () => {
  const n = { protocols: 'tlsproxy_tls_protocols', mandatory: 'tlsproxy_tls_mandatory_protocols' };
  const T12 = ProtocolVersion.TLS1_2;
  const T13 = ProtocolVersion.TLS1_3;
  const cases: [string, number[]][] = [
    ['', [T13, T12]],
    ['>=TLSv1', [T13, T12]],
    ['!SSLv2, !SSLv3', [T13, T12]],
    ['!SSLv2:!SSLv3:!TLSv1:!TLSv1.1', [T13, T12]],
    ['>=TLSv1.2', [T13, T12]],
    ['>=TLSv1.3', [T13]],
    ['<=TLSv1.2', [T12]],
    ['>=tlsv1.2, <=TLSV1.3', [T13, T12]],
    ['TLSv1.3', [T13]],
    ['TLSv1 TLSv1.2', [T12]],
    ['!TLSv1.3', [T12]],
    ['>=0x0303', [T13, T12]],
    ['>=304', [T13]],
    ['<=0303', [T12]],
    ['>=None <=None', [T13, T12]],
    ['>=TLSv1.1 !TLSv1.2', [T13]],
    ['>= <=0x304', [T13, T12]],
  ];
  for (const [list, expected] of cases) assert.equal(selectVersions('may', false, list, '', n), expected, list);
  assert.equal(selectVersions('encrypt', false, '>=TLSv1', 'TLSv1.3', n), [T13]);
  assert.equal(selectVersions('', true, 'TLSv1.3', '>=TLSv1.2 <=TLSv1.2', n), [T12]);
  assert.equal(selectVersions('', false, 'TLSv1.3', '<=TLSv1.2', n), [T13]);
  for (const bad of ['TLSv1.4', 'SSLv4', '!', '>=SSLv2', '>=0x', '>=TLSv9', 'tls1.2', '>=0303x', '<=-1']) {
    assert.throws(() => parseProtocolList(bad), isConfigError(new RegExp(`^Invalid TLS protocol list "${bad.replace(/[.+]/g, '\\$&')}": disabling TLS support$`)), bad);
    assert.throws(() => selectVersions('encrypt', false, '', bad, n), isConfigError(/^tlsproxy_tls_mandatory_protocols: Invalid TLS protocol list /), bad);
  }
  assert.throws(() => selectVersions('may', false, '<=TLSv1.1', '', n), isConfigError(/^tlsproxy_tls_protocols = <=TLSv1\.1: none of the supported protocols/));
  assert.throws(() => selectVersions('may', false, '>=TLSv1.3 <=TLSv1.2', '', n), isConfigError(/none of the supported protocols/));
});

test('groups: auto curves then ffdhe groups in server order, unknown skipped, eecdh grade values, Postfix fallback', () => {
  const provider = createNodeCryptoProvider();
  const G = NamedGroup;
  // Postfix 3.11's default ?X25519MLKEM768:DEFAULT (OpenSSL 3.5's DEFAULT, what the engine can do).
  const D = [G.X25519MLKEM768, G.x25519, G.secp256r1, G.secp384r1, G.ffdhe2048, G.ffdhe3072];
  const legacy = [G.x25519, G.secp256r1, G.secp384r1, G.ffdhe2048, G.ffdhe3072];
  const cases: [Record<string, string>, number[], string[]][] = [
    [{}, D, []],
    [{ tls_eecdh_auto_curves: 'X25519 X448 prime256v1 secp521r1 secp384r1', tls_ffdhe_auto_groups: 'ffdhe2048 ffdhe3072' }, legacy, []],
    [{ tls_eecdh_auto_curves: 'prime256v1', tls_ffdhe_auto_groups: '' }, [G.secp256r1], []],
    [{ tls_eecdh_auto_curves: 'secp384r1, P-256:x25519 secp384r1', tls_ffdhe_auto_groups: 'ffdhe3072 ffdhe4096 ffdhe2048' }, [G.secp384r1, G.secp256r1, G.x25519, G.ffdhe3072, G.ffdhe4096, G.ffdhe2048], []],
    [{ tls_eecdh_auto_curves: '?X25519MLKEM768:DEFAULT:?x25519:brainpoolP256r1' }, D, []],
    [{ tls_eecdh_auto_curves: 'DEFAULT:-X25519MLKEM768:-ffdhe3072 ?SecP256r1MLKEM768' }, [G.x25519, G.secp256r1, G.secp384r1, G.ffdhe2048, G.SecP256r1MLKEM768], []],
    [{ tls_eecdh_auto_curves: 'x25519mlkem768 / *x25519 secp256r1 / ffdhe8192', tls_ffdhe_auto_groups: 'ffdhe6144' }, [G.X25519MLKEM768, G.x25519, G.secp256r1, G.ffdhe8192, G.ffdhe6144], []],
    [{ tlsproxy_tls_eecdh_grade: 'auto' }, D, []],
    [{ tlsproxy_tls_eecdh_grade: 'none' }, D, ['The "none" eecdh grade is no longer supported, using "auto" instead']],
    [{ smtpd_tls_eecdh_grade: 'strong', tls_eecdh_strong_curve: 'secp384r1' }, D, ['tlsproxy_tls_eecdh_grade = strong is ignored, as in Postfix 3.6 and later: the groups are tls_eecdh_auto_curves and tls_ffdhe_auto_groups (tls_eecdh_strong_curve is not used)']],
    [{ tlsproxy_tls_eecdh_grade: 'ultra' }, D, ['tlsproxy_tls_eecdh_grade = ultra is ignored, as in Postfix 3.6 and later: the groups are tls_eecdh_auto_curves and tls_ffdhe_auto_groups (tls_eecdh_ultra_curve is not used)']],
    [{ tlsproxy_tls_eecdh_grade: 'bogus' }, D, ['Invalid TLS eecdh grade "bogus" in tlsproxy_tls_eecdh_grade: ignored, as in Postfix 3.6 and later, using "auto"']],
    [{ tls_eecdh_auto_curves: 'X448 secp521r1' }, D, ['none of the configured key exchange groups are supported', 'using Postfix default key exchange groups instead']],
    // TLS 1.3 FFDHE: an FFDHE-only list is usable (Postfix 3.8+ with OpenSSL 3).
    [{ tls_eecdh_auto_curves: '', tls_ffdhe_auto_groups: 'ffdhe2048' }, [G.ffdhe2048], []],
    // Both empty (Postfix 3.10+): the library's choice, OpenSSL 3.5's DEFAULT.
    [{ tls_eecdh_auto_curves: '', tls_ffdhe_auto_groups: '' }, D, []],
  ];
  for (const [o, expected, warnings] of cases) {
    const w: string[] = [];
    assert.equal(selectGroups(params(o), provider, w), expected, JSON.stringify(o));
    assert.equal(w, warnings, JSON.stringify(o));
  }
  // Tuples (OpenSSL 3.5): DEFAULT keeps its own; a list without / is one tuple; FFDHE groups join the last tuple.
  const tuples = (o: Record<string, string>) => selectGroupPolicy(params(o), provider, []).tuples;
  assert.equal(tuples({}), [[G.X25519MLKEM768], [G.x25519, G.secp256r1], [G.secp384r1], [G.ffdhe2048, G.ffdhe3072]]);
  assert.equal(tuples({ tls_eecdh_auto_curves: 'X25519MLKEM768 x25519', tls_ffdhe_auto_groups: 'ffdhe2048' }), [[G.X25519MLKEM768, G.x25519, G.ffdhe2048]]);
  assert.equal(tuples({ tls_eecdh_auto_curves: 'X25519MLKEM768 / x25519', tls_ffdhe_auto_groups: 'ffdhe2048' }), [[G.X25519MLKEM768], [G.x25519, G.ffdhe2048]]);
  // A provider without ML-KEM: the hybrids are skipped, the first DEFAULT tuple is then empty and dropped.
  const noKem: CryptoProvider = { ...provider, mlKem768: undefined };
  assert.equal(selectGroupPolicy(params({}), noKem, []).tuples, [[G.x25519, G.secp256r1], [G.secp384r1], [G.ffdhe2048, G.ffdhe3072]]);
  // The pure layer: what the engine cannot use is skipped.
  const p = groupPolicy({ eecdhGrade: '', eecdhGradeParameter: 'g', autoCurves: 'X25519 prime256v1', ffdheGroups: '', usable: (g) => g !== G.x25519, libraryDefaults: [G.secp384r1] });
  assert.equal(p.groups, [G.secp256r1]);
});

test('tls_ssl_options: names (any case), 0x masks, unknown names warned; PRIORITIZE_CHACHA as an ordering rule', () => {
  const o = parseSslOptions('no_ticket, PRIORITIZE_CHACHA|NO_RENEGOTIATION NO_COMPRESSION');
  assert.is(o.noTicket, true);
  assert.is(o.prioritizeChacha, true);
  assert.equal(o.warnings, []);
  assert.is(parseSslOptions('0x200000').prioritizeChacha, true);
  assert.is(parseSslOptions('0x4000').noTicket, true);
  assert.is(parseSslOptions('16384').noTicket, true);
  assert.is(parseSslOptions('ENABLE_MIDDLEBOX_COMPAT LEGACY_SERVER_CONNECT NO_SESSION_RESUMPTION_ON_RENEGOTIATION').mask, 0x100000 | 0x4 | 0x10000);
  assert.equal(parseSslOptions('NO_TICKET FROBNICATE').warnings, ['unknown tls_ssl_options value "FROBNICATE" in "NO_TICKET FROBNICATE"']);
  assert.equal(parseSslOptions('0xZZ').warnings, ['invalid tls_ssl_options value "0xZZ" in "0xZZ"']);
  assert.equal(parseSslOptions('').mask, 0);

  const C13 = 0x1303;
  const A256 = 0x1302;
  const A128 = 0x1301;
  const ours13 = [A256, C13, A128];
  // Client's first known suite is CHACHA20: ours moves CHACHA20 first.
  assert.equal(prioritizeChacha(ours13, [C13, A256, A128]), [C13, A256, A128]);
  // GREASE and SCSVs are skipped when finding the client's first suite.
  assert.equal(prioritizeChacha(ours13, [0x0a0a, 0x00ff, C13, A128]), [C13, A256, A128]);
  assert.equal(prioritizeChacha(ours13, [A128, C13]), ours13);
  assert.equal(prioritizeChacha([A256, A128], [C13, A128]), [A256, A128]);
  // TLS 1.2: a TLS 1.3 CHACHA20 suite first in the client's list counts, as in OpenSSL.
  const ours12 = [0xc030, 0xcca8, 0xc02f, 0xcca9];
  assert.equal(prioritizeChacha(ours12, [C13, 0xc02f, 0xcca8]), [0xcca8, 0xcca9, 0xc030, 0xc02f]);
  assert.equal(prioritizeChacha(ours12, [0xccaa, 0xc02f]), [0xcca8, 0xcca9, 0xc030, 0xc02f]);
  assert.equal(prioritizeChacha(ours12, [0xc02f, 0xcca8]), ours12);
});

test.run();
