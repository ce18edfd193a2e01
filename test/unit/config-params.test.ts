/**
 * The parameter table and its rules, table-driven:
 *
 *  - every tlsproxy_* parameter of tlsproxy-postfix.md §1.1 exists with
 *    `$smtpd_*` as its default, and the smtpd_* default is the 3.11 one;
 *  - setting the smtpd_* parameter changes the tlsproxy_* one, setting the
 *    tlsproxy_* one wins, a service's -o beats main.cf, the command line's
 *    -o beats both, and inheritance follows each layer;
 *  - the global tls_* defaults of §1.3/§1.5/§1.11 (3.8-3.11 column);
 *  - compatibility_level and the defaults that depend on it;
 *  - relational expansion (`<`, `<=`, `>=`, `>`, numeric or lexical, the
 *    `level` suffix) and its errors;
 *  - the start-up validation of every typed value, the digest and
 *    maillog_file, and loadConfiguration refusing them.
 */

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../proxy/config/errors.js';
import { compatLevel, expand } from '../../proxy/config/expand.js';
import { ParameterSet, parseMainCf, parseOverride } from '../../proxy/config/main-cf.js';
import { PARAMETERS } from '../../proxy/config/params.js';
import { serviceParameterProblems } from '../../proxy/config/validate.js';
import { loadConfiguration, serviceParameters } from '../../proxy/config/configuration.js';
import { tempDir } from '../helpers/proxy.js';

function fromText(text: string): ParameterSet {
  const { layer, warnings } = parseMainCf(text, '/etc/tlsproxy/main.cf');
  return ParameterSet.defaults().withLayer(layer, warnings);
}

/** §1.1: suffix after tlsproxy_/smtpd_, and the smtpd_* default (3.6-3.11 column; `postconf -d`). */
const INHERITED: [suffix: string, smtpdDefault: string, expanded: string][] = [
  ['tls_security_level', '', ''],
  ['use_tls', 'no', 'no'],
  ['enforce_tls', 'no', 'no'],
  ['tls_ciphers', 'medium', 'medium'],
  ['tls_mandatory_ciphers', 'medium', 'medium'],
  ['tls_exclude_ciphers', '', ''],
  ['tls_mandatory_exclude_ciphers', '', ''],
  ['tls_protocols', '>=TLSv1', '>=TLSv1'],
  ['tls_mandatory_protocols', '>=TLSv1', '>=TLSv1'],
  ['tls_eecdh_grade', 'auto', 'auto'],
  ['tls_dh1024_param_file', '', ''],
  ['tls_dh512_param_file', '', ''],
  ['tls_cert_file', '', ''],
  ['tls_key_file', '$smtpd_tls_cert_file', ''],
  ['tls_dcert_file', '', ''],
  ['tls_dkey_file', '$smtpd_tls_dcert_file', ''],
  ['tls_eccert_file', '', ''],
  ['tls_eckey_file', '$smtpd_tls_eccert_file', ''],
  ['tls_chain_files', '', ''],
  ['tls_CAfile', '', ''],
  ['tls_CApath', '', ''],
  ['tls_ask_ccert', 'no', 'no'],
  ['tls_req_ccert', 'no', 'no'],
  ['tls_ccert_verifydepth', '9', '9'],
  ['tls_fingerprint_digest', '${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}', 'md5'],
  ['tls_loglevel', '0', '0'],
  ['tls_always_issue_session_ids', 'yes', 'yes'],
  ['tls_enable_rpk', 'no', 'no'],
];

const sample = (suffix: string) => (/(use_tls|enforce_tls|ask_ccert|req_ccert|always_issue|enable_rpk)$/.test(suffix) ? 'yes' : /verifydepth$/.test(suffix) ? '5' : `/sample/${suffix}`);

test('every tlsproxy_* parameter of §1.1 defaults to $smtpd_*, and the smtpd_* default is Postfix 3.11s', () => {
  const d = ParameterSet.defaults();
  for (const [suffix, def, expanded] of INHERITED) {
    assert.is(d.raw(`tlsproxy_${suffix}`), `$smtpd_${suffix}`, `tlsproxy_${suffix}`);
    assert.is(d.raw(`smtpd_${suffix}`), def, `smtpd_${suffix}`);
    assert.is(d.get(`tlsproxy_${suffix}`), expanded, `tlsproxy_${suffix} expanded`);
  }
  assert.is(d.get('tlsproxy_watchdog_timeout'), '10s');
  assert.is(d.get('tlsproxy_service_name'), 'tlsproxy');
  assert.is(d.get('tlsmgr_service_name'), 'tlsmgr');
});

test('inheritance table: smtpd_* sets tlsproxy_*, tlsproxy_* wins, -o beats main.cf, the command line beats -o', () => {
  for (const [suffix] of INHERITED) {
    const v = sample(suffix);
    const viaSmtpd = fromText(`smtpd_${suffix} = ${v}\n`);
    assert.is(viaSmtpd.get(`tlsproxy_${suffix}`), v, `smtpd_${suffix} -> tlsproxy_${suffix}`);
    const both = fromText(`smtpd_${suffix} = ${v}\ntlsproxy_${suffix} = own\n`);
    assert.is(both.get(`tlsproxy_${suffix}`), 'own');
    assert.is(both.get(`smtpd_${suffix}`), v);
    // master.cf -o smtpd_X=... for this service only, then the command line -o.
    const svc = serviceParameters(viaSmtpd, 'svc', [parseOverride(`smtpd_${suffix}=from-o`, 'x')], 'master.cf, line 1', []);
    assert.is(svc.get(`tlsproxy_${suffix}`), 'from-o', `-o beats main.cf for ${suffix}`);
    const cli = serviceParameters(viaSmtpd, 'svc', [parseOverride(`tlsproxy_${suffix}=from-o`, 'x')], 'master.cf, line 1', [parseOverride(`tlsproxy_${suffix}=from-cli`, 'cli')]);
    assert.is(cli.get(`tlsproxy_${suffix}`), 'from-cli');
    assert.is(viaSmtpd.get(`tlsproxy_${suffix}`), v, 'layers do not leak into the base');
  }
  // key files follow the certificate file through two levels of inheritance
  const p = fromText('smtpd_tls_cert_file = /c.pem\nsmtpd_tls_eccert_file = /e.pem\nsmtpd_tls_dcert_file = /d.pem\n');
  assert.equal(['tlsproxy_tls_key_file', 'tlsproxy_tls_eckey_file', 'tlsproxy_tls_dkey_file'].map((n) => p.get(n)), ['/c.pem', '/e.pem', '/d.pem']);
  assert.is(fromText('smtpd_tls_cert_file = /c.pem\nsmtpd_tls_key_file = /k.pem\n').get('tlsproxy_tls_key_file'), '/k.pem');
  assert.is(fromText('smtpd_tls_cert_file = /c.pem\ntlsproxy_tls_cert_file = /t.pem\n').get('tlsproxy_tls_key_file'), '/c.pem', 'key follows smtpd_tls_cert_file, as in Postfix');
});

test('global tls_* defaults (3.8-3.11) and client-role inheritance', () => {
  const d = ParameterSet.defaults();
  const expected: Record<string, string> = {
    tls_high_cipherlist: 'aNULL:-aNULL:HIGH:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:@STRENGTH',
    tls_medium_cipherlist: 'aNULL:-aNULL:HIGH:MEDIUM:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:+RC4:@STRENGTH',
    tls_low_cipherlist: '',
    tls_export_cipherlist: '',
    tls_null_cipherlist: 'eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL',
    tls_eecdh_auto_curves: '?X25519MLKEM768:DEFAULT',
    tls_eecdh_strong_curve: 'prime256v1',
    tls_eecdh_ultra_curve: 'secp384r1',
    tls_ffdhe_auto_groups: '',
    tls_preempt_cipherlist: 'no',
    tls_disable_workarounds: '',
    tls_ssl_options: '',
    tls_session_ticket_cipher: 'aes-256-cbc',
    tls_server_sni_maps: '',
    tls_daemon_random_bytes: '32',
    tls_append_default_CA: 'no',
    tls_config_file: 'default',
    tls_config_name: '',
    tls_fast_shutdown_enable: 'yes',
    tls_legacy_public_key_fingerprints: 'no',
    tls_random_exchange_name: '/var/lib/postfix/prng_exch',
    compatibility_level: '0',
    syslog_name: 'postfix',
    maillog_file: '',
    maillog_file_prefixes: '/var, /dev/stdout',
  };
  for (const [name, value] of Object.entries(expected)) assert.is(d.get(name), value, name);
  const c = fromText('smtp_tls_CAfile = /ca.pem\nsmtp_tls_cert_file = /cc.pem\n');
  assert.is(c.get('tlsproxy_client_CAfile'), '/ca.pem');
  assert.is(c.get('tlsproxy_client_key_file'), '/cc.pem');
  assert.is(c.get('tlsproxy_client_loglevel_parameter'), 'smtp_tls_loglevel');
  // every table entry is unique and expands without error with the defaults
  assert.is(new Set(PARAMETERS.map((x) => x.name)).size, PARAMETERS.length);
  assert.equal(serviceParameterProblems(d), []);
});

test('compatibility_level: md5 below 3.6, sha256 from 3.6; client TLS level "may" from 3.11; levels compare by number', () => {
  const cases: [level: string, digest: string, clientLevel: string][] = [
    ['0', 'md5', ''],
    ['2', 'md5', ''],
    ['3.5', 'md5', ''],
    ['3.6', 'sha256', ''],
    ['3.10', 'sha256', ''],
    ['3.11', 'sha256', 'may'],
    ['3.11.1', 'sha256', 'may'],
    ['4', 'sha256', 'may'],
  ];
  for (const [level, digest, clientLevel] of cases) {
    const p = fromText(`compatibility_level = ${level}\n`);
    assert.is(p.get('tlsproxy_tls_fingerprint_digest'), digest, level);
    assert.is(p.get('tlsproxy_client_security_level'), clientLevel, level);
  }
  assert.is(fromText('compatibility_level = 3.6\nsmtpd_tls_fingerprint_digest = sha1\n').get('tlsproxy_tls_fingerprint_digest'), 'sha1');
  assert.ok(compatLevel('3.10') > compatLevel('3.9'));
  assert.ok(compatLevel('3.6') === compatLevel('3.6.0'));
  assert.throws(() => fromText('compatibility_level = 3.x\n').get('tlsproxy_tls_fingerprint_digest'), (e: unknown) => e instanceof ConfigError && /malformed compatibility level syntax: "3\.x"/.test(e.message));
});

test('relational expansion: == != < <= >= > (numeric when both are digits), the level suffix, errors', () => {
  const vars: Record<string, string> = { n: '10', m: '9', s: 'abc' };
  const x = (t: string) => expand(t, (k) => vars[k]);
  const table: [string, string][] = [
    ['${{$n} > {$m} ? {y} : {n}}', 'y'], // numeric: 10 > 9
    ['${{$n} > {9x} ? {y} : {n}}', 'n'], // lexical: "10" < "9x"
    ['${{$s} < {abd} ? {y} : {n}}', 'y'],
    ['${{$s} <= {abc} ? {y} : {n}}', 'y'],
    ['${{$s} >= {abd} ? {y} : {n}}', 'n'],
    ['${{$s} == {abc}}', 'true'],
    ['${{$s} != {abc}}', ''],
    ['${{3.10} >level {3.9} ? {y} : {n}}', 'y'],
    ['${{3.10} > {3.9} ? {y} : {n}}', 'n'], // lexical without the suffix
    ['${{2} <=level {2.0.0} ? {y} : {n}}', 'y'],
    ['${{$n}>{$m}?{y}:{n}}', 'y'],
  ];
  for (const [text, want] of table) assert.is(x(text), want, text);
  const bad: [string, RegExp][] = [
    ['${{a} =~ {b}}', /"==" or "!=" or "<" or "<=" or ">=" or ">" expected at: "\.\.\.a}>>>=~ \{b\}"/],
    ['${{a} <lvl {b}}', /bad operator suffix at: "\.\.\.<>>>lvl"/],
    ['${{a} < b}', /"\{expression\}" expected at/],
    ['${{a} == {b} x}', /"\?" or ":" expected at/],
  ];
  for (const [text, re] of bad) assert.throws(() => x(text), (e: unknown) => e instanceof ConfigError && re.test(e.message), text);
});

test('start-up validation: every typed value, the digest, maillog_file; loadConfiguration refuses the first', () => {
  const p = fromText(
    [
      'tlsproxy_tls_ask_ccert = sometimes',
      'tlsproxy_tls_ccert_verifydepth = deep',
      'tlsproxy_watchdog_timeout = 3s',
      'smtpd_tls_session_cache_timeout = 1y',
      'tlsproxy_tls_fingerprint_digest = sha3-256',
      'maillog_file = /tmp/x.log',
      'loop = $loop',
    ].join('\n'),
  );
  assert.equal(serviceParameterProblems(p), [
    'parameter loop: recursive expansion: $loop -> $loop',
    'parameter smtpd_tls_session_cache_timeout: bad time value or unit: 1y',
    'bad boolean configuration: tlsproxy_tls_ask_ccert = sometimes',
    'bad numerical configuration: tlsproxy_tls_ccert_verifydepth = deep',
    'invalid tlsproxy_watchdog_timeout: 3s (min 10s)',
    'tlsproxy_tls_fingerprint_digest: Digest algorithm "sha3-256" not found: TLS can\'t be enabled (use md5, sha1, sha224, sha256, sha384 or sha512)',
    "maillog_file value '/tmp/x.log' does not match any prefix in maillog_file_prefixes",
  ]);
  for (const digest of ['md5', 'SHA1', 'sha224', 'sha256', 'Sha384', 'sha512']) assert.equal(serviceParameterProblems(fromText(`tlsproxy_tls_fingerprint_digest = ${digest}\n`)), [], digest);

  const dir = tempDir('tlsproxy-params-');
  writeFileSync(path.join(dir, 'main.cf'), 'tlsproxy_tls_fingerprint_digest = whirlpool\n');
  writeFileSync(path.join(dir, 'master.cf'), '127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=inet:127.0.0.1:25\n');
  assert.throws(() => loadConfiguration(dir), (e: unknown) => e instanceof ConfigError && /^tlsproxy_tls_fingerprint_digest: Digest algorithm "whirlpool" not found/.test(e.message));
  // A service's -o is checked too.
  writeFileSync(path.join(dir, 'main.cf'), '\n');
  writeFileSync(path.join(dir, 'master.cf'), '127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=inet:127.0.0.1:25 -o tlsproxy_tls_req_ccert=maybe\n');
  assert.throws(() => loadConfiguration(dir), (e: unknown) => e instanceof ConfigError && e.message === 'bad boolean configuration: tlsproxy_tls_req_ccert = maybe');
});

test.run();
