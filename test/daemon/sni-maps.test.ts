/**
 * tls_server_sni_maps through the REAL daemon (a child process) with
 * openssl s_client -servername: exact names, `.parent` entries, several
 * key-and-chain files per entry (the client's signature algorithms pick
 * one), names no entry matches (default chain, Postfix's info line),
 * invalid names (Postfix's warning), the summary line's ` to <sni>` only
 * on a match; and, in-process, the lookup order, the table syntaxes and
 * the start-up errors, each naming the table, line and file.
 */

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMainCf, ParameterSet } from '../../proxy/config/main-cf.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { examineSniMaps, certificateSelector, splitMapList } from '../../proxy/tls/sni-maps.js';
import type { Findings } from '../../proxy/tls/chain-files.js';
import { echoBackend, tempDir, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, interactive, served, stopAllDaemons, type Served } from '../helpers/daemon-proc.js';
import { testPki, type TestPki } from '../helpers/pki.js';

/** writeConfig, allowing the daemon to run as root (as these tests may). */
const writeCfg = (mainCf: string, masterCf: string) => writeConfig(`tlsproxy_allow_root = yes\n${mainCf}`, masterCf);

let pki: TestPki;
let backend: TestBackend;
let dir: string;
let daemon: DaemonProc;

/** key then certificate: a chain_files / SNI map value file. */
function keyAndChain(name: string, ...kinds: (keyof TestPki['certs'])[]): string {
  const f = path.join(dir, name);
  writeFileSync(f, kinds.map((k) => pki.certs[k].keyPem + pki.certs[k].certPem).join(''));
  return f;
}

function params(text: string): ParameterSet {
  return ParameterSet.defaults().withLayer(parseMainCf(text, '/etc/tlsproxy/main.cf').layer);
}

function sClient(port: number, servername: string | undefined, extra: string[] = []): Promise<{ out: string; code: number | null }> {
  const sni = servername === undefined ? ['-noservername'] : ['-servername', servername];
  return interactive('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...sni, '-CAfile', pki.caPath, '-nocommands', ...extra], 'ping\n');
}

/** The served leaf's CN, from s_client's output. */
function servedCn(s: Served): string {
  return /subject=\s*CN\s*=\s*([\w.-]+)/.exec(s.out)?.[1] ?? `(none in: ${s.out.slice(0, 400)})`;
}

const summary = (s: Served) => s.lines.find((l) => /TLS connection established/.test(l.text))?.text ?? '(no summary line)';

test.before(async () => {
  pki = testPki();
  backend = await echoBackend();
  dir = tempDir('tlsproxy-sni-');
  const a = keyAndChain('a.pem', 'sniA');
  const wild = keyAndChain('wild.pem', 'sniWild');
  // Two algorithms for one name, in two files: the client's signature algorithms choose.
  const twoEc = keyAndChain('two-ec.pem', 'p384');
  const twoRsa = keyAndChain('two-rsa.pem', 'rsa');
  writeFileSync(
    path.join(dir, 'sni'),
    [
      '# name                 key-and-chain files',
      `A.Example.Test         ${a}`,
      `.wild.test             ${wild}`,
      `two.example.test       ${twoEc},`,
      `                       ${twoRsa}`,
      '',
    ].join('\n'),
  );
  const conf = writeCfg(
    [
      `smtpd_tls_eccert_file = ${pki.certs.p256.certPath}`,
      `smtpd_tls_eckey_file = ${pki.certs.p256.keyPath}`,
      `tls_server_sni_maps = texthash:${path.join(dir, 'sni')}`,
      'tlsproxy_tls_loglevel = 1',
      'myhostname = testhost.example',
    ].join('\n'),
    `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`,
  );
  daemon = await DaemonProc.start(conf);
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

test('exact name: the map entry chain, ` to <sni>` in the summary, no not-matched line', async () => {
  const s = await served(daemon, () => sClient(daemon.port, 'a.example.test'));
  assert.is(servedCn(s), 'sni-a');
  assert.match(summary(s), /^Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+ to a\.example\.test: TLSv1\.3 with cipher /);
  assert.not.ok(s.lines.some((l) => /not matched/.test(l.text)));
  assert.match(s.out, /Verify return code: 0 \(ok\)/);
});

test('parent domain: `.wild.test` serves x.y.wild.test and wild.test is not its own parent', async () => {
  const s = await served(daemon, () => sClient(daemon.port, 'x.y.wild.test'));
  assert.is(servedCn(s), 'sni-wild');
  assert.match(summary(s), / to x\.y\.wild\.test: TLSv1\.3 /);
  const bare = await served(daemon, () => sClient(daemon.port, 'wild.test'));
  assert.is(servedCn(bare), 'test-p256');
  assert.ok(bare.lines.some((l) => /^TLS SNI wild\.test from \[127\.0\.0\.1\]:\d+ not matched, using default chain$/.test(l.text)), bare.lines.map((l) => l.text).join('\n'));
});

test('unmatched name: default chain, Postfix info line, no ` to ` in the summary', async () => {
  const s = await served(daemon, () => sClient(daemon.port, 'other.example'));
  assert.is(servedCn(s), 'test-p256');
  const texts = s.lines.map((l) => l.text);
  const i = texts.findIndex((t) => /^TLS SNI other\.example from \[127\.0\.0\.1\]:\d+ not matched, using default chain$/.test(t));
  const j = texts.findIndex((t) => /TLS connection established/.test(t));
  assert.ok(i >= 0 && j > i, texts.join('\n'));
  assert.match(summary(s), /^Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+: TLSv1\.3 /);
});

test('no SNI at all: default chain, nothing about SNI logged', async () => {
  const s = await served(daemon, () => sClient(daemon.port, undefined));
  assert.is(servedCn(s), 'test-p256');
  assert.not.ok(s.lines.some((l) => /TLS SNI/.test(l.text)));
});

test('invalid name: Postfix warning, default chain', async () => {
  const s = await served(daemon, () => sClient(daemon.port, 'bad..name'));
  assert.is(servedCn(s), 'test-p256');
  assert.ok(s.lines.some((l) => /^warning: TLS SNI from \[127\.0\.0\.1\]:\d+ is invalid: bad\.\.name$/.test(l.text)), s.lines.map((l) => l.text).join('\n'));
  assert.match(summary(s), /established from \[127\.0\.0\.1\]:\d+: /);
});

test('one entry, two algorithms: the client signature algorithms pick the chain (TLS 1.3 and 1.2)', async () => {
  const ec = await served(daemon, () => sClient(daemon.port, 'two.example.test', ['-sigalgs', 'ECDSA+SHA384:rsa_pss_rsae_sha256']));
  assert.is(servedCn(ec), 'test-p384');
  const rsa = await served(daemon, () => sClient(daemon.port, 'two.example.test', ['-sigalgs', 'rsa_pss_rsae_sha256:ECDSA+SHA384']));
  assert.is(servedCn(rsa), 'test-rsa');
  assert.match(summary(rsa), / to two\.example\.test: TLSv1\.3 .* server-signature RSA-PSS \(2048 bits\)/);
  const tls12 = await served(daemon, () => sClient(daemon.port, 'two.example.test', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']));
  assert.is(servedCn(tls12), 'test-rsa');
  assert.match(summary(tls12), / to two\.example\.test: TLSv1\.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 /);
});

test('lookup order: exact, then .parent labels; several tables per key; inline: tables', async () => {
  const provider = createNodeCryptoProvider();
  const a = keyAndChain('l-a.pem', 'sniA');
  const w = keyAndChain('l-w.pem', 'sniWild');
  const d = keyAndChain('l-d.pem', 'sniDefault');
  writeFileSync(path.join(dir, 't1'), `.example.test ${w}\n`);
  const p = params(`tls_server_sni_maps = texthash:${path.join(dir, 't1')}, inline:{ a.b.example.test = ${a}, { .b.example.test = ${d} } }\n`);
  const findings: Findings = { problems: [], warnings: [] };
  const maps = (await examineSniMaps(p, provider, findings))!;
  assert.equal(findings, { problems: [], warnings: [] });
  assert.is(maps.lookup('a.b.example.test')?.key, 'a.b.example.test');
  assert.is(maps.lookup('x.b.example.test')?.key, '.b.example.test');
  assert.is(maps.lookup('z.example.test')?.key, '.example.test');
  assert.is(maps.lookup('example.test'), undefined);
  assert.is(maps.lookup('b.example.test')?.key, '.example.test');
  const select = certificateSelector([], maps);
  const hello = { serverName: 'q.example.test', signatureSchemes: [0x0403], alpn: [], cipherSuites: [], groups: [] };
  assert.is(select(hello).matched, true);
  assert.is(select({ ...hello, serverName: 'nowhere.test' }).matched, false);
  assert.equal(splitMapList('texthash:/a, inline:{ x = 1, y = 2 } hash:/b'), ['texthash:/a', 'inline:{ x = 1, y = 2 }', 'hash:/b']);
});

test('start-up problems name the table, line and file; Postfix table warnings', async () => {
  const provider = createNodeCryptoProvider();
  const good = keyAndChain('p-good.pem', 'sniA');
  const certOnly = path.join(dir, 'cert-only.pem');
  writeFileSync(certOnly, pki.certs.sniA.certPem);
  const mismatch = path.join(dir, 'mismatch.pem');
  writeFileSync(mismatch, pki.certs.sniWild.keyPem + pki.certs.sniA.certPem);
  writeFileSync(
    path.join(dir, 'bad'),
    [`ok.test ${good}`, `ok.test ${good}`, 'lonely', `missing.test ${path.join(dir, 'nope.pem')}`, `dir.test ${dir}`, `certonly.test ${certOnly}`, `mismatch.test ${mismatch}`, ''].join('\n'),
  );
  const t = path.join(dir, 'bad');
  const findings: Findings = { problems: [], warnings: [] };
  await examineSniMaps(params(`tls_server_sni_maps = hash:${t} pcre:/x.pcre\n`), provider, findings);
  assert.equal(findings.warnings, [
    `tls_server_sni_maps: hash:${t}: indexed tables are not supported: reading the source file ${t} as texthash:${t}`,
    `${t}, line 3: expected format: key whitespace value -- ignoring this line`,
    `hash:${t}, line 2: duplicate entry: "ok.test"`,
  ]);
  const expected = [
    `tls_server_sni_maps hash:${t}, line 4 (missing.test)=${path.join(dir, 'nope.pem')}: cannot read the file: No such file or directory`,
    `tls_server_sni_maps hash:${t}, line 5 (dir.test)=${dir}: cannot read the file: Is a directory`,
    `tls_server_sni_maps hash:${t}, line 6 (certonly.test)=${certOnly}: a certificate comes before any private key`,
    `tls_server_sni_maps hash:${t}, line 7 (mismatch.test)=${mismatch}: the private key does not match the certificate`,
    'tls_server_sni_maps: pcre:/x.pcre: unsupported lookup table type "pcre"',
  ];
  assert.is(findings.problems.length, expected.length, findings.problems.join('\n'));
  expected.forEach((e, i) => assert.ok(findings.problems[i]!.startsWith(e), `${findings.problems[i]}\n  expected to start with\n${e}`));
});

test.run();
