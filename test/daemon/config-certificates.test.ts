/**
 * Server certificates from Postfix parameters through the REAL daemon:
 *
 *  - tlsproxy_tls_chain_files with two algorithms in two files (key, leaf,
 *    intermediate CA): openssl s_client -sigalgs picks the chain, which
 *    verifies against the root only because the intermediate is sent;
 *    Postfix's warning (double spaces included) when a legacy file is set too;
 *  - tlsproxy_tls_dcert_file: DSA refused with a warning, the others serve;
 *  - start-up errors naming the parameter and the file (a directory where
 *    a file is expected, a key that does not match, cert_file = none
 *    alone, a chain file that starts with a certificate, two keys of one
 *    algorithm), and the same through `tlsproxy check`.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../proxy/cli/main.js';
import { echoBackend, tempDir, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, interactive, served, startFails, stopAllDaemons, type Served } from '../helpers/daemon-proc.js';
import { testPki, type TestPki } from '../helpers/pki.js';

/** writeConfig, allowing the daemon to run as root (as these tests may). */
const writeCfg = (mainCf: string, masterCf: string) => writeConfig(`tlsproxy_allow_root = yes\n${mainCf}`, masterCf);

let pki: TestPki;
let backend: TestBackend;
let dir: string;
/** key, leaf (issued by an intermediate CA), intermediate. */
let ecChain: string;
let rsaChain: string;
let dsaCert: string;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');

function service(): string {
  return `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`;
}

function sClient(port: number, extra: string[]): Promise<{ out: string; code: number | null }> {
  return interactive('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', pki.caPath, '-verify_return_error', '-nocommands', ...extra], 'ping\n');
}

const servedCn = (s: Served) => /subject=\s*CN\s*=\s*([\w.-]+)/.exec(s.out)?.[1];

test.before(async () => {
  pki = testPki();
  backend = await echoBackend();
  dir = tempDir('tlsproxy-chains-');
  // An intermediate CA under the test root, and two leaves under it.
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'int.key']);
  openssl(['req', '-new', '-key', 'int.key', '-subj', '/CN=tlsproxy test intermediate', '-out', 'int.csr']);
  writeFileSync(path.join(dir, 'int.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['x509', '-req', '-in', 'int.csr', '-CA', pki.caPath, '-CAkey', path.join(pki.dir, 'ca.key'), '-set_serial', '77', '-days', '30', '-extfile', 'int.ext', '-out', 'int.pem']);
  writeFileSync(path.join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  const leaf = (name: string, keyArgs: string[]) => {
    openssl(['genpkey', ...keyArgs, '-out', `${name}.key`]);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`]);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'int.pem', '-CAkey', 'int.key', '-set_serial', String(name.length * 1000 + 5), '-days', '30', '-extfile', 'leaf.ext', '-out', `${name}.pem`]);
  };
  leaf('chain-ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  leaf('chain-rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
  ecChain = path.join(dir, 'ec-chain.pem');
  rsaChain = path.join(dir, 'rsa-chain.pem');
  writeFileSync(ecChain, read('chain-ec.key') + read('chain-ec.pem') + read('int.pem'));
  writeFileSync(rsaChain, read('chain-rsa.key') + read('chain-rsa.pem') + read('int.pem'));
  // A DSA certificate (self-signed is enough: it must be refused before anyone verifies it).
  openssl(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:1024', '-out', 'dsa.param']);
  openssl(['genpkey', '-paramfile', 'dsa.param', '-out', 'dsa.key']);
  openssl(['req', '-new', '-x509', '-key', 'dsa.key', '-subj', '/CN=dsa', '-days', '30', '-out', 'dsa.pem']);
  dsaCert = path.join(dir, 'dsa-both.pem');
  writeFileSync(dsaCert, read('dsa.key') + read('dsa.pem'));
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

test('chain_files with two algorithms: the client signature algorithms pick the chain, the intermediate is sent; legacy files warned about', async () => {
  const conf = writeCfg(
    [`tlsproxy_tls_chain_files = ${ecChain},`, `    ${rsaChain}`, `smtpd_tls_cert_file = ${pki.certs.p384.certPath}`, `smtpd_tls_key_file = ${pki.certs.p384.keyPath}`, 'tlsproxy_tls_loglevel = 1'].join('\n'),
    service(),
  );
  const d = await DaemonProc.start(conf);
  try {
    assert.ok(
      d.log.some((l) => l.text === 'warning: Both tlsproxy_tls_chain_files and one or more of the legacy  tlsproxy_tls_cert_file, tlsproxy_tls_eccert_file or tlsproxy_tls_dcert_file are non-empty; the legacy  parameters will be ignored'),
      d.log.map((l) => l.text).join('\n'),
    );
    const ec = await served(d, () => sClient(d.port, ['-sigalgs', 'ECDSA+SHA256:rsa_pss_rsae_sha256']));
    assert.is(servedCn(ec), 'chain-ec');
    assert.match(ec.out, /Verify return code: 0 \(ok\)/);
    assert.match(ec.out, /1 s:\s*CN\s*=\s*tlsproxy test intermediate/);
    const rsa = await served(d, () => sClient(d.port, ['-sigalgs', 'rsa_pss_rsae_sha256:ECDSA+SHA256']));
    assert.is(servedCn(rsa), 'chain-rsa');
    assert.match(rsa.out, /Verify return code: 0 \(ok\)/);
    assert.ok(rsa.lines.some((l) => /server-signature RSA-PSS \(2048 bits\)/.test(l.text)));
    const rsa12 = await served(d, () => sClient(d.port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384']));
    assert.is(servedCn(rsa12), 'chain-rsa');
    // A client that can only verify ECDSA-signed chains still gets one (the intermediate signs with ECDSA).
    const any = await served(d, () => sClient(d.port, []));
    assert.match(any.out, /Verify return code: 0 \(ok\)/);
  } finally {
    await d.stop();
  }
});

test('dcert_file: DSA is refused with a clear warning, the other certificates serve', async () => {
  const conf = writeCfg([`smtpd_tls_dcert_file = ${dsaCert}`, `smtpd_tls_eccert_file = ${pki.certs.p256.certPath}`, `smtpd_tls_eckey_file = ${pki.certs.p256.keyPath}`].join('\n'), service());
  const d = await DaemonProc.start(conf);
  try {
    assert.ok(
      d.log.some((l) => l.text === `warning: tlsproxy_tls_dcert_file=${dsaCert}: DSA certificates are not supported (an obsolete algorithm that TLS 1.3 does not allow): ignoring tlsproxy_tls_dcert_file and tlsproxy_tls_dkey_file; use an ECDSA, RSA or Ed25519 certificate`),
      d.log.map((l) => l.text).join('\n'),
    );
    const s = await served(d, () => sClient(d.port, []));
    assert.is(servedCn(s), 'test-p256');
  } finally {
    await d.stop();
  }
  // Only DSA: nothing to serve.
  const only = await startFails(writeCfg(`smtpd_tls_dcert_file = ${dsaCert}`, service()));
  assert.is(only.code, 1);
  assert.match(only.stderr, /fatal: No server certs available\. TLS can't be enabled/);
});

test('start-up errors name the parameter and the file; check reports them all at once', async () => {
  const certFirst = path.join(dir, 'cert-first.pem');
  writeFileSync(certFirst, read('chain-ec.pem') + read('chain-ec.key'));
  const twoEc = path.join(dir, 'two-ec.pem');
  writeFileSync(twoEc, readFileSync(ecChain, 'utf8') + pki.certs.p256.keyPem + pki.certs.p256.certPem);
  const mismatch = path.join(dir, 'mismatch.pem');
  writeFileSync(mismatch, read('chain-rsa.key') + read('chain-ec.pem'));
  const dsaInChain = path.join(dir, 'dsa-chain.pem');
  writeFileSync(dsaInChain, readFileSync(dsaCert, 'utf8') + readFileSync(ecChain, 'utf8'));
  const cases: [string, RegExp][] = [
    [`smtpd_tls_eccert_file = ${pki.certs.p256.certPath}\nsmtpd_tls_eckey_file = ${dir}`, new RegExp(`fatal: tlsproxy_tls_eckey_file=${dir}: cannot read the file: Is a directory`)],
    [`smtpd_tls_cert_file = ${mismatch}`, new RegExp(`fatal: tlsproxy_tls_key_file=${mismatch}: the private key does not match the certificate in tlsproxy_tls_cert_file=${mismatch} \\(rsa key, ecdsa-p256 certificate\\)`)],
    ['smtpd_tls_cert_file = none', /fatal: No server certs available\. TLS can't be enabled/],
    [`tlsproxy_tls_chain_files = ${certFirst}`, new RegExp(`fatal: tlsproxy_tls_chain_files=${certFirst}: a certificate comes before any private key`)],
    [`tlsproxy_tls_chain_files = ${twoEc}`, new RegExp(`fatal: tlsproxy_tls_chain_files=${twoEc}: a second ECDSA P-256 key \\(the first is in ${twoEc}\\): at most one key per algorithm`)],
  ];
  for (const [mainCf, re] of cases) {
    const r = await startFails(writeCfg(mainCf, service()));
    assert.is(r.code, 1, mainCf);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // A DSA pair inside chain_files is skipped with a warning; the ECDSA pair after it serves.
  const d = await DaemonProc.start(writeCfg(`tlsproxy_tls_chain_files = ${dsaInChain}`, service()));
  try {
    assert.ok(d.log.some((l) => new RegExp(`^warning: tlsproxy_tls_chain_files=${dsaInChain}: DSA .* not supported.*: ignoring this key and its certificate$`).test(l.text)), d.log.map((l) => l.text).join('\n'));
    assert.is(servedCn(await served(d, () => sClient(d.port, []))), 'chain-ec');
  } finally {
    await d.stop();
  }
  // check says why `none` alone cannot work.
  let why = '';
  assert.is(await main(['check', '-c', writeCfg('smtpd_tls_cert_file = none', service())], { env: {}, stdout: () => undefined, stderr: (t) => (why += t) }), 1);
  assert.match(why, /tlsproxy: warning: tlsproxy_tls_cert_file = none: certificate-less TLS needs anonymous cipher suites, which this engine does not implement/);
  assert.match(why, /tlsproxy: error: No server certs available\. TLS can't be enabled/);
  // check: all of them in one run (main.cf for one service with every problem).
  const conf = writeCfg(
    [`smtpd_tls_eccert_file = ${pki.certs.p256.certPath}`, `smtpd_tls_eckey_file = ${dir}`, `smtpd_tls_cert_file = ${mismatch}`, `smtpd_tls_dcert_file = ${dsaCert}`].join('\n'),
    service(),
  );
  let err = '';
  const code = await main(['check', '-c', conf], { env: {}, stdout: () => undefined, stderr: (t) => (err += t) });
  assert.is(code, 1);
  const lines = err.trim().split('\n');
  assert.ok(lines.some((l) => l.startsWith(`tlsproxy: error: tlsproxy_tls_eckey_file=${dir}: cannot read the file: Is a directory`)), err);
  assert.ok(lines.some((l) => l.startsWith(`tlsproxy: error: tlsproxy_tls_key_file=${mismatch}: the private key does not match`)), err);
  assert.ok(lines.some((l) => l.startsWith(`tlsproxy: warning: tlsproxy_tls_dcert_file=${dsaCert}: DSA certificates are not supported`)), err);
  assert.is(lines.filter((l) => l.startsWith('tlsproxy: error:')).length, 2, err);
});

test.run();
