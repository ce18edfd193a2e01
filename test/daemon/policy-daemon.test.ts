/**
 * Cipher grades, exclusions, protocols, groups and preference through the
 * REAL daemon (a child process per configuration, one process each) with
 * openssl s_client as the peer:
 *
 *  - tlsproxy_tls_exclude_ciphers removes a suite: a client offering only
 *    it gets handshake_failure, other suites still work;
 *  - tlsproxy_tls_protocols = >=TLSv1.3: a TLS 1.2 client gets
 *    protocol_version;
 *  - tls_eecdh_auto_curves = prime256v1: a TLS 1.3 client that sends an
 *    X25519 key share gets a HelloRetryRequest for P-256; a client that
 *    supports only X25519 fails in TLS 1.3, and in TLS 1.2 when it offers
 *    only ECDHE suites (with DHE suites it gets DHE instead);
 *  - tls_preempt_cipherlist: the client's order wins by default, the
 *    server's with yes (TLS 1.2 and 1.3), and PRIORITIZE_CHACHA puts
 *    CHACHA20 first when the client prefers it;
 *  - the null grade: one warning at start, TLS 1.2 clients fail, TLS 1.3
 *    works (grades never touch TLS 1.3 suites);
 *  - security level encrypt selects the mandatory protocols, ciphers and
 *    exclusions;
 *  - bad values stop start-up with one fatal line naming the parameter.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonProc, FILE_LIFETIME_MS, sClient, served, startFails, stopAllDaemons, type Served } from '../helpers/daemon-proc.js';
import { certMainCf, echoBackend, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';

let backend: TestBackend;
let ca: string;
const d: Record<string, DaemonProc> = {};

const service = () => `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`;
const configDir = async (lines: readonly string[]) => writeConfig(await certMainCf(lines.join('\n')), service());

const CONFIGS: Record<string, readonly string[]> = {
  base: [],
  exclude: ['tlsproxy_tls_exclude_ciphers = ECDHE-RSA-AES256-GCM-SHA384'],
  tls13only: ['tlsproxy_tls_protocols = >=TLSv1.3'],
  p256: ['tls_eecdh_auto_curves = prime256v1'],
  preempt: ['tls_preempt_cipherlist = yes'],
  chacha: ['tls_preempt_cipherlist = yes', 'tls_ssl_options = PRIORITIZE_CHACHA'],
  nullGrade: ['tlsproxy_tls_ciphers = null'],
  encrypt: [
    'tlsproxy_tls_security_level = encrypt',
    'tlsproxy_tls_protocols = TLSv1.3',
    'tlsproxy_tls_mandatory_protocols = TLSv1.2',
    'tlsproxy_tls_ciphers = null',
    'tlsproxy_tls_mandatory_ciphers = high',
    'tlsproxy_tls_mandatory_exclude_ciphers = kEDH+aRSA, aECDSA',
  ],
};

test.before(async () => {
  backend = await echoBackend();
  ca = (await testPki()).ca;
  const started = await Promise.all(Object.entries(CONFIGS).map(async ([name, lines]) => [name, await DaemonProc.start(await configDir(lines), [], 30_000, { hardTimeoutMs: FILE_LIFETIME_MS })] as const));
  for (const [name, daemon] of started) d[name] = daemon;
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

async function connect(daemon: DaemonProc, args: readonly string[]): Promise<Served> {
  return served(daemon, () => sClient(daemon.port, [...args, '-CAfile', ca], 'ping\n', 2000));
}

const show = (s: Served) => `${s.out}\n--- daemon:\n${s.lines.map((l) => l.text).join('\n')}`;
/** The summary line's protocol and cipher, or undefined when no handshake completed. */
function established(s: Served): { protocol: string; cipher: string; line: string } | undefined {
  const l = s.lines.find((x) => /TLS connection established from/.test(x.text));
  const m = l && /: (TLSv1\.[23]) with cipher (\S+) /.exec(l.text);
  return m ? { protocol: m[1]!, cipher: m[2]!, line: l!.text } : undefined;
}
const serverHellos = (s: Served) => (s.out.match(/<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], ServerHello/g) ?? []).length;
function ok(s: Served, protocol: string, cipher: string): void {
  const e = established(s);
  assert.ok(e, show(s));
  assert.is(e!.protocol, protocol, show(s));
  assert.is(e!.cipher, cipher, show(s));
  assert.match(s.out, 'ping', show(s));
}
function refused(s: Served, alert: RegExp): void {
  assert.is(established(s), undefined, show(s));
  assert.match(s.out, alert, show(s));
}

test('tlsproxy_tls_exclude_ciphers: the excluded suite gets handshake_failure, the others still work', async () => {
  refused(await connect(d.exclude!, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384']), /alert handshake failure/);
  ok(await connect(d.exclude!, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']), 'TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256');
  ok(await connect(d.exclude!, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384']), 'TLSv1.2', 'DHE-RSA-AES256-GCM-SHA384');
  // The same suite is fine on a daemon without the exclusion; TLS 1.3 is never affected.
  ok(await connect(d.base!, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384']), 'TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384');
  ok(await connect(d.exclude!, ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384']), 'TLSv1.3', 'TLS_AES_256_GCM_SHA384');
});

test('tlsproxy_tls_protocols = >=TLSv1.3: TLS 1.2 refused with protocol_version, TLS 1.3 works', async () => {
  refused(await connect(d.tls13only!, ['-tls1_2']), /alert protocol version/);
  ok(await connect(d.tls13only!, ['-tls1_3']), 'TLSv1.3', 'TLS_AES_256_GCM_SHA384');
});

test('tls_eecdh_auto_curves = prime256v1: HelloRetryRequest to P-256 in TLS 1.3, X25519-only clients fail, TLS 1.2 ECDHE on P-256', async () => {
  const hrr = await connect(d.p256!, ['-tls1_3', '-groups', 'X25519:P-256', '-msg']);
  ok(hrr, 'TLSv1.3', 'TLS_AES_256_GCM_SHA384');
  // openssl -msg shows the HelloRetryRequest as a first ServerHello.
  assert.is(serverHellos(hrr), 2, show(hrr));
  assert.match(established(hrr)!.line, /key-exchange secp256r1 /);
  // The base daemon takes X25519 directly, no retry.
  const direct = await connect(d.base!, ['-tls1_3', '-groups', 'X25519:P-256', '-msg']);
  assert.is(serverHellos(direct), 1, show(direct));
  assert.match(established(direct)!.line, /key-exchange x25519 /);
  refused(await connect(d.p256!, ['-tls1_3', '-groups', 'X25519']), /alert handshake failure/);
  refused(await connect(d.p256!, ['-tls1_2', '-groups', 'X25519', '-cipher', 'ECDHE']), /alert handshake failure/);
  // With DHE suites offered as well, TLS 1.2 falls back to DHE (ffdhe2048 from tls_ffdhe_auto_groups).
  ok(await connect(d.p256!, ['-tls1_2', '-groups', 'X25519:ffdhe2048', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256']), 'TLSv1.2', 'DHE-RSA-AES128-GCM-SHA256');
  const p = await connect(d.p256!, ['-tls1_2', '-groups', 'X25519:P-256', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
  ok(p, 'TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256');
  assert.match(p.out, /Server Temp Key: ECDH, prime256v1/, show(p));
});

test("tls_preempt_cipherlist: the client's order by default, the server's with yes (TLS 1.2 and 1.3)", async () => {
  const c12 = ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384'];
  const c13 = ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384'];
  ok(await connect(d.base!, c12), 'TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256');
  ok(await connect(d.preempt!, c12), 'TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384');
  ok(await connect(d.base!, c13), 'TLSv1.3', 'TLS_AES_128_GCM_SHA256');
  ok(await connect(d.preempt!, c13), 'TLSv1.3', 'TLS_AES_256_GCM_SHA384');
});

test('tls_ssl_options = PRIORITIZE_CHACHA with server preference: CHACHA20 first when the client prefers it', async () => {
  const chachaFirst12 = ['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384'];
  const chachaFirst13 = ['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384'];
  ok(await connect(d.preempt!, chachaFirst12), 'TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384');
  ok(await connect(d.chacha!, chachaFirst12), 'TLSv1.2', 'ECDHE-RSA-CHACHA20-POLY1305');
  ok(await connect(d.preempt!, chachaFirst13), 'TLSv1.3', 'TLS_AES_256_GCM_SHA384');
  ok(await connect(d.chacha!, chachaFirst13), 'TLSv1.3', 'TLS_CHACHA20_POLY1305_SHA256');
  // A client that prefers AES keeps the server's order.
  ok(await connect(d.chacha!, ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256']), 'TLSv1.3', 'TLS_CHACHA20_POLY1305_SHA256');
  ok(await connect(d.chacha!, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305']), 'TLSv1.2', 'ECDHE-RSA-CHACHA20-POLY1305');
  ok(await connect(d.chacha!, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305']), 'TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384');
});

test('the null grade: one warning at start-up; TLS 1.2 clients get handshake_failure, TLS 1.3 is unaffected', async () => {
  const warnings = d.nullGrade!.log.filter((l) => /cipher grade "null"/.test(l.text));
  assert.is(warnings.length, 1, d.nullGrade!.tail());
  assert.match(warnings[0]!.text, /^warning: cipher grade "null" \(tlsproxy_tls_ciphers\) selects only TLS 1\.2 suites this server deliberately does not implement \(NULL encryption: /);
  refused(await connect(d.nullGrade!, ['-tls1_2']), /alert handshake failure/);
  ok(await connect(d.nullGrade!, ['-tls1_3']), 'TLSv1.3', 'TLS_AES_256_GCM_SHA384');
  // The defaults give no policy warning.
  assert.is(d.base!.log.filter((l) => /^warning: .*(cipher|group|protocol|eecdh|tls_ssl_options|SECLEVEL)/.test(l.text)).length, 0, d.base!.tail());
});

test('security level encrypt: the mandatory protocols, grade and exclusions (not the opportunistic ones)', async () => {
  refused(await connect(d.encrypt!, ['-tls1_3']), /alert protocol version/);
  ok(await connect(d.encrypt!, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']), 'TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256');
  refused(await connect(d.encrypt!, ['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256']), /alert handshake failure/);
  refused(await connect(d.encrypt!, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']), /alert handshake failure/);
});

const FATAL = /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ postfix\/tlsproxy\[\d+\]: fatal: /;

test('bad values stop start-up with one fatal line naming the parameter', async () => {
  const cases: [readonly string[], RegExp][] = [
    [['tlsproxy_tls_ciphers = strong'], /fatal: tlsproxy_tls_ciphers: invalid cipher grade: "strong"$/],
    [['tlsproxy_tls_exclude_ciphers = !RC4'], /fatal: tlsproxy_tls_exclude_ciphers: invalid unary '!\+-@' in cipher exclusion: !RC4$/],
    [['tlsproxy_tls_ciphers = high', 'tlsproxy_tls_exclude_ciphers = ALL'], /fatal: tlsproxy_tls_ciphers, tlsproxy_tls_exclude_ciphers: error setting cipher grade: "high" \(cipher list ".*:!ALL": no cipher match\)$/],
    [['tlsproxy_tls_protocols = TLSv1.2 TLSv1.4'], /fatal: tlsproxy_tls_protocols: Invalid TLS protocol list "TLSv1\.2 TLSv1\.4": disabling TLS support$/],
    [['tlsproxy_tls_security_level = dane'], /fatal: Invalid TLS level "dane"$/],
    // An implicit-TLS listener with TLS disabled could serve nobody: start-up stops.
    [['smtpd_tls_security_level = none'], /fatal: TLS server role is disabled by configuration \(tlsproxy_tls_security_level = none\)$/],
    [['tlsproxy_tls_protocols = TLSv1.2', 'tlsproxy_tls_ciphers = null'], /fatal: TLS 1\.2 is the only protocol enabled, and the cipher grade selects none of its suites/],
  ];
  const results = await Promise.all(cases.map(async ([lines]) => startFails(await configDir(lines))));
  cases.forEach(([lines, expected], i) => {
    const r = results[i]!;
    assert.is(r.code, 1, `${lines.join('; ')}\n${r.stderr}`);
    const fatal = r.stderr.trim().split('\n').filter((l) => /fatal: /.test(l));
    assert.is(fatal.length, 1, r.stderr);
    assert.match(fatal[0]!, FATAL);
    assert.match(fatal[0]!, expected);
  });
});

test.run();
