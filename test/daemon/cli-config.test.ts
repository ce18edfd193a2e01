/**
 * `tlsproxy config` (postconf) and `tlsproxy check`, in-process through
 * main() with captured output: option parsing; -n / -d / -x / -h / -P and
 * names; postconf's warnings (unknown parameter, unused and deprecated
 * main.cf parameters, missing master.cf); the same lines as the real
 * postconf(1) prints for the same main.cf where this machine has one; and
 * check reporting several problems at once, one line each, exit 1.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main, parseCommandLine, UsageError } from '../../proxy/cli/main.js';
import { tempDir, testPki } from '../helpers/proxy.js';
import { skipped } from '../helpers/skip.js';

const fixture = (n: string) => path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', n);

interface Ran {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

async function tlsproxy(...argv: string[]): Promise<Ran> {
  let out = '';
  let err = '';
  const code = await main(argv, { env: {}, stdout: (t) => (out += t), stderr: (t) => (err += t) });
  const lines = (t: string) => t.split('\n').filter((l) => l !== '');
  return { code, out: lines(out), err: lines(err) };
}

const POSTCONF = ['/usr/sbin/postconf', '/usr/local/sbin/postconf'].find((p) => existsSync(p));

/** The real postconf(1): stdout and stderr lines (undefined when not installed). */
function postconf(...args: string[]): { out: string[]; err: string[] } | undefined {
  if (!POSTCONF) return undefined;
  const r = spawnSync(POSTCONF, args, { argv0: 'postconf', encoding: 'utf8', timeout: 10_000 });
  return { out: (r.stdout ?? '').split('\n').filter(Boolean), err: (r.stderr ?? '').split('\n').filter(Boolean) };
}

const MAIN_CF = [
  '# a main.cf as an operator writes it',
  'compatibility_level = 3.6',
  'smtpd_tls_cert_file = /etc/ssl/rsa.pem',
  'smtpd_tls_security_level   =   may',
  'my_var = x',
  'smtpd_tls_CAfile = ${my_var}/ca.pem',
  'foo = bar',
  'smtpd_tls_loglevel =   1   ',
  'tlsproxy_tls_protocols = >=TLSv1.2,',
  '    <=TLSv1.3',
  '',
].join('\n');

let conf: string;

test.before(() => {
  conf = tempDir('tlsproxy-postconf-');
  writeFileSync(path.join(conf, 'main.cf'), MAIN_CF);
  writeFileSync(path.join(conf, 'master.cf'), '127.0.0.1:10465 inet n - n - - tlsproxy -o tlsproxy_backend=inet:127.0.0.1:25\n  -o { tlsproxy_tls_loglevel = 2 }\n');
});

test('command line: config and check options (getopt style, combined flags)', () => {
  assert.equal(parseCommandLine(['config', '-c', '/d', '-nx', 'a', 'b']), {
    kind: 'config', configDir: '/d', overrides: [], mode: 'nondefault', expand: true, valueOnly: false, services: false, names: ['a', 'b'],
  });
  assert.equal(parseCommandLine(['config', '-dh', '-oa=1']), {
    kind: 'config', configDir: undefined, overrides: [{ name: 'a', value: '1' }], mode: 'defaults', expand: false, valueOnly: true, services: false, names: [],
  });
  assert.equal(parseCommandLine(['config', '-P', '-c/d']).kind, 'config');
  assert.equal(parseCommandLine(['check', '-c', '/d', '-o', 'x = y']), { kind: 'check', configDir: '/d', overrides: [{ name: 'x', value: 'y' }] });
  const usage = (argv: string[], re: RegExp) => assert.throws(() => parseCommandLine(argv), (e: unknown) => e instanceof UsageError && re.test((e as Error).message));
  usage(['config', '-n', '-d'], /specify one of -n or -d/);
  usage(['config', '-z'], /unknown option -z/);
  usage(['config', '-c'], /-c needs a value/);
  usage(['check', 'extra'], /unexpected argument "extra"/);
  usage(['check', '-n'], /unknown option -n/);
});

test('config -n: the main.cf settings (and config_directory), whitespace folded, sorted', async () => {
  const r = await tlsproxy('config', '-c', conf, '-n');
  assert.is(r.code, 0);
  assert.equal(r.out, [
    'compatibility_level = 3.6',
    `config_directory = ${conf}`,
    'my_var = x',
    'smtpd_tls_CAfile = ${my_var}/ca.pem',
    'smtpd_tls_cert_file = /etc/ssl/rsa.pem',
    'smtpd_tls_loglevel = 1',
    'smtpd_tls_security_level = may',
    'tlsproxy_tls_protocols = >=TLSv1.2, <=TLSv1.3',
  ]);
  // foo is not known and nothing refers to it: postconf's warning after the output.
  assert.equal(r.err, [`postconf: warning: ${conf}/main.cf: unused parameter: foo=bar`]);
});

test('config NAME...: unexpanded values, inheritance as written, unknown names warned (exit 0)', async () => {
  const r = await tlsproxy('config', '-c', conf, 'tlsproxy_tls_cert_file', 'tlsproxy_tls_key_file', 'nosuch', 'smtpd_tls_fingerprint_digest', 'tlsproxy_tls_fingerprint_digest', 'tlsproxy_tls_ciphers', 'smtpd_tls_dcert_file');
  assert.is(r.code, 0);
  assert.equal(r.out, [
    'tlsproxy_tls_cert_file = $smtpd_tls_cert_file',
    'tlsproxy_tls_key_file = $smtpd_tls_key_file',
    'smtpd_tls_fingerprint_digest = ${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}',
    'tlsproxy_tls_fingerprint_digest = $smtpd_tls_fingerprint_digest',
    'tlsproxy_tls_ciphers = $smtpd_tls_ciphers',
    'smtpd_tls_dcert_file =',
  ]);
  assert.equal(r.err, ['postconf: warning: nosuch: unknown parameter', `postconf: warning: ${conf}/main.cf: unused parameter: foo=bar`]);
});

test('config -x expands; -d shows defaults (-dx against defaults only); -h values only', async () => {
  const x = await tlsproxy('config', '-c', conf, '-x', 'tlsproxy_tls_key_file', 'tlsproxy_tls_fingerprint_digest', 'smtpd_tls_CAfile', 'tlsproxy_tls_security_level');
  assert.equal(x.out, ['tlsproxy_tls_key_file = /etc/ssl/rsa.pem', 'tlsproxy_tls_fingerprint_digest = sha256', 'smtpd_tls_CAfile = x/ca.pem', 'tlsproxy_tls_security_level = may']);
  const d = await tlsproxy('config', '-c', conf, '-d', 'smtpd_tls_cert_file', 'compatibility_level', 'tlsproxy_tls_security_level', 'syslog_name');
  assert.equal(d.out, ['smtpd_tls_cert_file =', 'compatibility_level = 0', 'tlsproxy_tls_security_level = $smtpd_tls_security_level', 'syslog_name = ${multi_instance_name?{$multi_instance_name}:{postfix}}']);
  assert.equal(d.err, [], '-d ignores main.cf: no unused-parameter warning');
  const dx = await tlsproxy('config', '-dx', 'smtpd_tls_fingerprint_digest', 'syslog_name', 'tlsproxy_client_security_level', 'tls_ffdhe_auto_groups', 'tls_eecdh_auto_curves');
  // Postfix 3.11 built with OpenSSL 3.5: the hybrid first, then OpenSSL's DEFAULT; FFDHE is in DEFAULT.
  assert.equal(dx.out, ['smtpd_tls_fingerprint_digest = md5', 'syslog_name = postfix', 'tlsproxy_client_security_level =', 'tls_ffdhe_auto_groups =', 'tls_eecdh_auto_curves = ?X25519MLKEM768:DEFAULT']);
  const h = await tlsproxy('config', '-c', conf, '-h', 'tlsproxy_tls_cert_file', 'tlsproxy_tls_protocols');
  assert.equal(h.out, ['$smtpd_tls_cert_file', '>=TLSv1.2, <=TLSv1.3']);
  const o = await tlsproxy('config', '-c', conf, '-x', '-o', 'smtpd_tls_cert_file=/other.pem', 'tlsproxy_tls_key_file');
  assert.equal(o.out, ['tlsproxy_tls_key_file = /other.pem'], '-o beats main.cf and inheritance follows');
});

test('config (all): every known parameter once, sorted by byte order, user-defined ones included', async () => {
  const r = await tlsproxy('config', '-c', conf);
  const names = r.out.map((l) => l.split(' =')[0]!);
  assert.equal(names, [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  assert.is(new Set(names).size, names.length);
  for (const n of ['tlsproxy_tls_cert_file', 'smtpd_tls_cert_file', 'tls_high_cipherlist', 'tls_server_sni_maps', 'compatibility_level', 'maillog_file', 'tlsproxy_client_CAfile', 'my_var']) {
    assert.ok(names.includes(n), n);
  }
  assert.not.ok(names.includes('foo'));
  assert.ok(r.out.includes('tlsproxy_tls_loglevel = $smtpd_tls_loglevel'));
});

test('config: deprecated parameters (3.9+ warnings), missing master.cf, bad expansion is fatal', async () => {
  const dir = tempDir('tlsproxy-postconf-');
  writeFileSync(path.join(dir, 'main.cf'), 'tlsproxy_use_tls = yes\nsmtpd_enforce_tls = no\nx = ${broken\n');
  const r = await tlsproxy('config', '-c', dir, '-n');
  assert.equal(r.out, [`config_directory = ${dir}`, 'smtpd_enforce_tls = no', 'tlsproxy_use_tls = yes']);
  assert.equal(r.err, [
    `postconf: warning: open ${dir}/master.cf: No such file or directory`,
    `postconf: warning: ${dir}/main.cf: unused parameter: x=\${broken`,
    `postconf: warning: ${dir}/main.cf: support for parameter smtpd_enforce_tls will be removed; instead, specify smtpd_tls_security_level`,
    `postconf: warning: ${dir}/main.cf: support for parameter tlsproxy_use_tls will be removed; instead, specify tlsproxy_tls_security_level`,
  ].sort((a, b) => r.err.indexOf(a) - r.err.indexOf(b)));
  writeFileSync(path.join(dir, 'main.cf'), 'smtpd_tls_cert_file = ${broken\n');
  const bad = await tlsproxy('config', '-c', dir, '-x', 'tlsproxy_tls_cert_file');
  assert.is(bad.code, 1);
  assert.match(bad.err.at(-1)!, /^postconf: fatal: parameter smtpd_tls_cert_file: missing '}' in "\$\{broken"; macro processing error$/);
  const none = await tlsproxy('config', '-n');
  assert.is(none.code, 1);
  assert.match(none.err[0]!, /no configuration directory: use -c CONFIG_DIR/);
});

test('config -P: master.cf -o settings as service/type/name = value', async () => {
  const r = await tlsproxy('config', '-c', conf, '-P');
  assert.equal(r.out, ['127.0.0.1:10465/inet/tlsproxy_backend = inet:127.0.0.1:25', '127.0.0.1:10465/inet/tlsproxy_tls_loglevel = 2']);
  const one = await tlsproxy('config', '-c', conf, '-Ph', 'tlsproxy_tls_loglevel');
  assert.equal(one.out, ['2']);
});

test('config prints what the real postconf(1) prints for the same main.cf (where installed)', async () => {
  const ours = async (...a: string[]) => (await tlsproxy('config', '-c', conf, ...a));
  const theirs = (...a: string[]) => postconf('-c', conf, ...a);
  if (!theirs('-n')) {
    skipped('the comparison with postconf(1)', 'postconf is not installed (apt-get install postfix)');
    return;
  }
  // Explicit settings, named parameters whose defaults are the same in 3.7 and 3.11, -x, -h.
  assert.equal((await ours('-n')).out, theirs('-n')!.out);
  const names = ['tlsproxy_tls_cert_file', 'tlsproxy_tls_key_file', 'tlsproxy_tls_eccert_file', 'smtpd_tls_fingerprint_digest', 'tlsproxy_tls_fingerprint_digest', 'tlsproxy_tls_loglevel', 'tlsproxy_tls_CAfile', 'smtpd_tls_ciphers', 'tlsproxy_tls_protocols', 'syslog_name', 'tls_preempt_cipherlist', 'tls_server_sni_maps', 'smtpd_tls_eckey_file'];
  assert.equal((await ours(...names)).out, theirs(...names)!.out);
  assert.equal((await ours('-x', ...names)).out, theirs('-x', ...names)!.out);
  assert.equal((await ours('-h', ...names)).out, theirs('-h', ...names)!.out);
  assert.equal((await ours('-dx', 'smtpd_tls_fingerprint_digest', 'syslog_name')).out, theirs('-dx', 'smtpd_tls_fingerprint_digest', 'syslog_name')!.out);
  // Warnings: unknown name, unused parameter.
  const err = theirs('nosuch_parameter')!.err;
  const ourErr = (await ours('nosuch_parameter')).err;
  for (const l of ['postconf: warning: nosuch_parameter: unknown parameter', `postconf: warning: ${conf}/main.cf: unused parameter: foo=bar`]) {
    assert.ok(err.includes(l), `postconf printed ${JSON.stringify(err)}`);
    assert.ok(ourErr.includes(l), `we printed ${JSON.stringify(ourErr)}`);
  }
});

test('check: a good configuration exits 0 with one line on stdout', async () => {
  const pki = await testPki();
  const dir = tempDir('tlsproxy-check-');
  writeFileSync(path.join(dir, 'main.cf'), `smtpd_tls_eccert_file = ${pki.file('server-ecdsa-p256.pem')}\nsmtpd_tls_eckey_file = ${pki.file('server-ecdsa-p256-key.pem')}\ntlsproxy_allow_root = yes\n`);
  writeFileSync(path.join(dir, 'master.cf'), '127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=inet:127.0.0.1:25\n');
  const r = await tlsproxy('check', '-c', dir);
  // As root (tests may run so), start would warn that it keeps root privileges: so does check.
  assert.equal(r.err.filter((l) => !/^tlsproxy: warning: running as root: /.test(l)), []);
  assert.is(r.code, 0);
  assert.equal(r.out, [`${dir}: 1 tlsproxy service checked, no problems`]);
});

test('check: several problems at once, one line each, exit 1', async () => {
  const pki = await testPki();
  const dir = tempDir('tlsproxy-check-');
  const sub = path.join(dir, 'keys');
  mkdirSync(sub);
  const mismatched = path.join(dir, 'mismatch.pem');
  // an RSA key followed by the ECDSA certificate
  writeFileSync(mismatched, `${execFileSync('cat', [pki.file('server-rsa-2048-key.pem')], { encoding: 'utf8' })}${execFileSync('cat', [pki.file('server-ecdsa-p256.pem')], { encoding: 'utf8' })}`);
  copyFileSync(fixture('dh2048.pem'), path.join(dir, 'dh.pem'));
  writeFileSync(path.join(dir, 'sni'), `mail.example.test ${path.join(dir, 'no-such-chain.pem')}\n`);
  writeFileSync(
    path.join(dir, 'main.cf'),
    [
      'this line is not a parameter',
      `smtpd_tls_eccert_file = ${pki.file('server-ecdsa-p256.pem')}`,
      `smtpd_tls_eckey_file = ${sub}`,
      `smtpd_tls_cert_file = ${path.join(dir, 'missing.pem')}`,
      `tlsproxy_tls_dh1024_param_file = ${pki.file('server-ecdsa-p256.pem')}`,
      'tlsproxy_tls_fingerprint_digest = sha3',
      'tlsproxy_tls_loglevel = chatty',
      'tlsproxy_tls_enable_rpk = perhaps',
      'tlsproxy_tls_protocols = TLSv1.2 TLSv9',
      `tls_server_sni_maps = texthash:${path.join(dir, 'sni')}`,
      'smtpd_tls_session_cache_timeout = 1 fortnight',
      'tlsproxy_tls_ciphers = bogus',
      'tlsproxy_tls_exclude_ciphers = !RC4',
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dir, 'master.cf'), '127.0.0.1:0 inet n - n - 1 tlsproxy\n');
  const r = await tlsproxy('check', '-c', dir, '-o', `tlsproxy_allow_root = ${process.getuid?.() === 0 ? 'perhaps' : 'no'}`);
  assert.is(r.code, 1);
  assert.equal(r.out, []);
  const expected: RegExp[] = [
    /main\.cf, line 1: missing '=' after attribute name: "this"$/,
    /^tlsproxy: error: bad boolean configuration: tlsproxy_tls_enable_rpk = perhaps$/,
    ...(process.getuid?.() === 0 ? [/^tlsproxy: error: bad boolean configuration: tlsproxy_allow_root = perhaps$/] : []),
    /^tlsproxy: error: parameter smtpd_tls_session_cache_timeout: bad time value or unit: 1 fortnight$/,
    /^tlsproxy: error: tlsproxy_tls_fingerprint_digest: Digest algorithm "sha3" not found/,
    /^tlsproxy: error: invalid tlsproxy_tls_loglevel value: "chatty"/,
    /^tlsproxy: error: tlsproxy_tls_protocols: Invalid TLS protocol list "TLSv1\.2 TLSv9": disabling TLS support$/,
    /^tlsproxy: error: tlsproxy_tls_ciphers: invalid cipher grade: "bogus"$/,
    /^tlsproxy: error: tlsproxy_tls_exclude_ciphers: invalid unary '!\+-@' in cipher exclusion: !RC4$/,
    new RegExp(`^tlsproxy: error: tlsproxy_tls_eckey_file=${sub}: cannot read the file: Is a directory$`),
    new RegExp(`^tlsproxy: error: tlsproxy_tls_cert_file=${dir}/missing\\.pem: cannot read the file: No such file or directory$`),
    new RegExp(`^tlsproxy: error: tls_server_sni_maps texthash:${dir}/sni, line 1 \\(mail\\.example\\.test\\)=${dir}/no-such-chain\\.pem: cannot read the file: No such file or directory$`),
    /^tlsproxy: error: tlsproxy_tls_dh1024_param_file=.*server-ecdsa-p256\.pem: /,
    /^tlsproxy: error: .*service 127\.0\.0\.1:0: tlsproxy_backend is not set/,
  ];
  const errors = r.err.filter((l) => l.startsWith('tlsproxy: error: '));
  for (const re of expected) assert.is(errors.filter((l) => re.test(l)).length, 1, `${re}\nin:\n${r.err.join('\n')}`);
  assert.is(errors.length, expected.length, r.err.join('\n'));
});

test.run();
