/**
 * Client certificates through the REAL daemon (child processes) with real
 * clients (openssl s_client -cert/-key/-cert_chain, node:tls cert/key), in
 * TLS 1.3 and 1.2: for each kind of certificate the exact log lines it
 * produces and the Trust word of the summary line, the strict option of
 * ours with the alert the client sees, resumption of an untrusted session,
 * the level-2 lines with fingerprints checked against openssl, the CA names
 * the client is shown, and start-up errors.
 *
 * Daemons (started once, in parallel):
 *   req     security_level = encrypt + req_ccert (asks; "untrusted" lines forced), CAfile + CApath, loglevel 1
 *   debug   ask_ccert, CAfile, ccert_verifydepth = 1, fingerprint_digest = sha256, loglevel "debug untrusted"
 *   strict  tlsproxy_tls_require_trusted_ccert = yes, CAfile, loglevel 1
 *   none    req_ccert without mandatory TLS: Postfix's warning, no request
 */

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certMainCf, echoBackend, tempDir, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, nodeTls, sClient, served, startFails, stopAllDaemons, type Served } from '../helpers/daemon-proc.js';
import { clientPki, type ClientKind } from '../helpers/client-pki.js';

const pki = clientPki();
let backend: TestBackend;
let serverCaPem: string;
let req: DaemonProc;
let debug: DaemonProc;
let strict: DaemonProc;
let none: DaemonProc;

async function config(lines: string[]): Promise<string> {
  return writeConfig(await certMainCf(lines.join('\n')), `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`);
}

test.before(async () => {
  backend = await echoBackend();
  serverCaPem = (await testPki()).caPem;
  [req, debug, strict, none] = await Promise.all([
    config(['tlsproxy_tls_security_level = encrypt', 'tlsproxy_tls_req_ccert = yes', `tlsproxy_tls_CAfile = ${pki.caFile}`, `tlsproxy_tls_CApath = ${pki.caPath}`]),
    config(['tlsproxy_tls_ask_ccert = yes', `tlsproxy_tls_CAfile = ${pki.caFile}`, 'tlsproxy_tls_ccert_verifydepth = 1',
      'tlsproxy_tls_fingerprint_digest = sha256', 'tlsproxy_tls_loglevel = debug untrusted']),
    config(['tlsproxy_tls_require_trusted_ccert = yes', `tlsproxy_tls_CAfile = ${pki.caFile}`]),
    config(['tlsproxy_tls_req_ccert = yes', `tlsproxy_tls_CAfile = ${pki.caFile}`]),
  ].map(async (dir) => DaemonProc.start(await dir)));
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

type Version = '-tls1_3' | '-tls1_2';

/** The intermediates of a client (the chain file without the leaf), for -cert_chain. */
function intermediates(kind: ClientKind): string[] {
  const c = pki.clients[kind];
  if (c.chainDer.length < 2) return [];
  const f = path.join(tempDir('tlsproxy-cc-chain-'), `${kind}-inter.pem`);
  writeFileSync(f, c.chainPem.slice(c.certPem.length));
  return ['-cert_chain', f];
}

/** One s_client connection (with the client certificate `kind`, or none), its daemon lines. */
function connect(d: DaemonProc, version: Version, kind: ClientKind | undefined, extra: string[] = [], holdMs = 1500): Promise<Served> {
  const cert = kind ? ['-cert', pki.clients[kind].certPath, '-key', pki.clients[kind].keyPath, ...intermediates(kind)] : [];
  return served(d, () => sClient(d.port, [version, ...cert, ...extra], 'ping\n', holdMs));
}

const texts = (s: Served) => s.lines.map((l) => l.text);
const show = (s: Served) => `--- client:\n${s.out}\n--- daemon:\n${texts(s).join('\n')}`;
/** The endpoint of the connection, from its CONNECT line. */
const endpointOf = (s: Served) => /^CONNECT from (\[127\.0\.0\.1\]:\d+)$/.exec(texts(s).find((t) => t.startsWith('CONNECT from')) ?? '')?.[1] ?? '?';
const summaryOf = (s: Served) => texts(s).find((t) => / TLS connection established from /.test(t)) ?? '';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The lines a connection logged between CONNECT and the summary (the client-certificate lines, at level 1). */
function between(s: Served): string[] {
  const t = texts(s);
  const a = t.findIndex((x) => x.startsWith('CONNECT from'));
  const b = t.findIndex((x) => / TLS connection established from /.test(x));
  return t.slice(a + 1, b < 0 ? t.length : b);
}

const TLS13_SERVER = 'key-exchange x25519 server-signature ECDSA (prime256v1) server-digest SHA256';

// ---- Trusted, Untrusted, Anonymous with the exact lines (req daemon: untrusted lines forced by encrypt + req_ccert)

const TRUSTED: [ClientKind, string][] = [
  ['p256', 'client-signature ECDSA (prime256v1) client-digest SHA256'],
  ['p384', 'client-signature ECDSA (secp384r1) client-digest SHA384'],
  ['rsa', 'client-signature RSA-PSS (2048 bits) client-digest SHA256'],
  ['ed25519', 'client-signature ED25519'],
  ['deep', 'client-signature ECDSA (prime256v1) client-digest SHA256'],
  ['capath', 'client-signature ECDSA (prime256v1) client-digest SHA256'],
  ['capathPlain', 'client-signature ECDSA (prime256v1) client-digest SHA256'],
];

for (const [kind, clientSig] of TRUSTED) {
  test(`TLS 1.3 ${kind}: Trusted, client-signature in the summary, no verification line`, async () => {
    const s = await connect(req, '-tls1_3', kind);
    const e = endpointOf(s);
    assert.is(summaryOf(s), `Trusted TLS connection established from ${e}: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) ${TLS13_SERVER} ${clientSig}`, show(s));
    assert.equal(between(s), [], show(s));
    assert.match(s.out, 'ping');
  });
}

test('TLS 1.2 p256 and rsa: Trusted, no signature details in a TLS 1.2 summary', async () => {
  for (const kind of ['p256', 'rsa', 'deep', 'capathPlain'] as const) {
    const s = await connect(req, '-tls1_2', kind);
    assert.match(summaryOf(s), new RegExp(`^Trusted TLS connection established from ${esc(endpointOf(s))}: TLSv1\\.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 \\(256/256 bits\\)$`), show(s));
    assert.equal(between(s), [], show(s));
  }
});

const UNTRUSTED: [ClientKind, (e: string) => string][] = [
  ['untrusted', (e) => `certificate verification failed for ${e}: untrusted issuer /O=Elsewhere/CN=Unknown CA`],
  ['selfSigned', (e) => `certificate verification failed for ${e}: self-signed certificate`],
  ['expired', (e) => `client certificate verification failed for ${e}: certificate has expired`],
  ['notYetValid', (e) => `client certificate verification failed for ${e}: certificate not yet valid`],
  ['underExpiredCa', (e) => `CA certificate verification failed for ${e}: certificate has expired`],
  ['serverAuth', (e) => `certificate verification failed for ${e}: not designated for use as a client certificate`],
  ['keyEncipherment', (e) => `certificate verification failed for ${e}: not designated for use as a client certificate`],
];

for (const version of ['-tls1_3', '-tls1_2'] as const) {
  for (const [kind, line] of UNTRUSTED) {
    test(`${version} ${kind}: the verification line, then Untrusted (the handshake goes on, as in Postfix)`, async () => {
      const s = await connect(req, version, kind);
      const e = endpointOf(s);
      assert.equal(between(s), [line(e)], show(s));
      const sig = kind === 'keyEncipherment' ? 'RSA-PSS (2048 bits)' : 'ECDSA (prime256v1)';
      const expected = version === '-tls1_3'
        ? `Untrusted TLS connection established from ${e}: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) ${TLS13_SERVER} client-signature ${sig} client-digest SHA256`
        : `Untrusted TLS connection established from ${e}: TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)`;
      assert.is(summaryOf(s), expected, show(s));
      assert.match(s.out, 'ping');
    });
  }
}

test('no client certificate: Anonymous, no verification line (TLS 1.3 and 1.2)', async () => {
  for (const version of ['-tls1_3', '-tls1_2'] as const) {
    const s = await connect(req, version, undefined);
    assert.match(summaryOf(s), new RegExp(`^Anonymous TLS connection established from ${esc(endpointOf(s))}: TLSv1\\.${version === '-tls1_3' ? '3' : '2'} with cipher `), show(s));
    assert.not.match(summaryOf(s), /client-signature/);
    assert.equal(between(s), [], show(s));
  }
});

test('the client is shown the CAfile names, not the CApath ones (TLS 1.3 certificate_authorities, TLS 1.2 CertificateRequest)', async () => {
  for (const version of ['-tls1_3', '-tls1_2'] as const) {
    const s = await connect(req, version, 'p256');
    assert.match(s.out, /Acceptable client certificate CA names\r?\nO = tlsproxy test, CN = Client Root CA\r?\n/, show(s));
    assert.not.match(s.out, /CApath/);
  }
});

test('node:tls with cert/key: Trusted in TLS 1.3 and 1.2; an untrusted one is Untrusted', async () => {
  for (const [version, label] of [['TLSv1.3', '3'], ['TLSv1.2', '2']] as const) {
    for (const [kind, word] of [['p256', 'Trusted'], ['untrusted', 'Untrusted']] as const) {
      const c = pki.clients[kind];
      const s = await served(req, async () => {
        const r = await nodeTls(req.port, serverCaPem, { cert: c.certPem, key: c.keyPem, minVersion: version, maxVersion: version });
        return { out: `${r.protocol} ${r.cipher} ${r.out}`, code: r.code };
      });
      assert.match(s.out, `TLSv1.${label}`);
      assert.match(summaryOf(s), new RegExp(`^${word} TLS connection established from ${esc(endpointOf(s))}: TLSv1\\.${label} `), show(s));
    }
  }
});

test('resumption of an untrusted TLS 1.3 session: the reminder line, Untrusted, no signatures', async () => {
  const sess = path.join(tempDir('tlsproxy-cc-sess-'), 'sess.pem');
  const first = await connect(req, '-tls1_3', 'expired', ['-sess_out', sess]);
  assert.equal(between(first), [`client certificate verification failed for ${endpointOf(first)}: certificate has expired`], show(first));
  const again = await connect(req, '-tls1_3', 'expired', ['-sess_in', sess]);
  assert.match(again.out, /Reused, TLSv1\.3/, show(again));
  const e = endpointOf(again);
  assert.equal(between(again), [`${e}: re-using session with untrusted certificate, look for details earlier in the log`], show(again));
  assert.is(summaryOf(again), `Untrusted TLS connection established from ${e}: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519`, show(again));
});

test('resumption of a trusted TLS 1.2 session (ticket): Trusted, no reminder', async () => {
  const sess = path.join(tempDir('tlsproxy-cc-sess-'), 'sess.pem');
  await connect(req, '-tls1_2', 'p256', ['-sess_out', sess]);
  const again = await connect(req, '-tls1_2', 'p256', ['-sess_in', sess]);
  assert.match(again.out, /Reused, TLSv1\.2/, show(again));
  assert.equal(between(again), [], show(again));
  assert.match(summaryOf(again), /^Trusted TLS connection established from /, show(again));
});

test('summary golden through the daemon: TLS 1.3 suite x server certificate type, TLS 1.2 suites, with a trusted RSA client', async () => {
  const servers = [
    [[], 'server-signature ECDSA (prime256v1) server-digest SHA256'],
    [['-sigalgs', 'rsa_pss_rsae_sha256'], 'server-signature RSA-PSS (2048 bits) server-digest SHA256'],
  ] as const;
  for (const [suite, bits] of [['TLS_AES_256_GCM_SHA384', 256], ['TLS_CHACHA20_POLY1305_SHA256', 256], ['TLS_AES_128_GCM_SHA256', 128]] as const) {
    for (const [args, serverSig] of servers) {
      const s = await connect(req, '-tls1_3', 'rsa', ['-ciphersuites', suite, ...args, '-client_sigalgs', 'rsa_pss_rsae_sha256']);
      assert.is(summaryOf(s),
        `Trusted TLS connection established from ${endpointOf(s)}: TLSv1.3 with cipher ${suite} (${bits}/${bits} bits) key-exchange x25519 ${serverSig} client-signature RSA-PSS (2048 bits) client-digest SHA256`, show(s));
    }
  }
  for (const [suite, bits] of [
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 128], ['ECDHE-ECDSA-AES256-GCM-SHA384', 256], ['ECDHE-ECDSA-CHACHA20-POLY1305', 256],
    ['ECDHE-RSA-AES128-GCM-SHA256', 128], ['ECDHE-RSA-AES256-GCM-SHA384', 256], ['ECDHE-RSA-CHACHA20-POLY1305', 256],
  ] as const) {
    const s = await connect(req, '-tls1_2', 'rsa', ['-cipher', suite]);
    assert.is(summaryOf(s), `Trusted TLS connection established from ${endpointOf(s)}: TLSv1.2 with cipher ${suite} (${bits}/${bits} bits)`, show(s));
  }
});

// ---- level 2 (debug daemon: verifydepth 1, sha256 fingerprints)

test('level 2: depth lines, subject/issuer, the peer certificate line with fingerprints as openssl computes them', async () => {
  const c = pki.clients.p256;
  const s = await connect(debug, '-tls1_3', 'p256');
  const e = endpointOf(s);
  const certFp = pki.openssl(['x509', '-in', c.certPath, '-noout', '-fingerprint', '-sha256']).trim().replace(/^.*=/, '');
  const pub = path.join(tempDir('tlsproxy-cc-pub-'), 'pub');
  pki.openssl(['x509', '-in', c.certPath, '-noout', '-pubkey', '-out', `${pub}.pem`]);
  pki.openssl(['pkey', '-pubin', '-in', `${pub}.pem`, '-outform', 'DER', '-out', `${pub}.der`]);
  const pkeyFp = pki.openssl(['dgst', '-sha256', '-c', `${pub}.der`]).trim().replace(/^.*= /, '').toUpperCase();
  const t = texts(s);
  const want = [
    `${e}: depth=1 verify=1 subject=/O=tlsproxy test/CN=Client Root CA`,
    `${e}: depth=0 verify=1 subject=/CN=client-p256`,
    'subject=/CN=client-p256',
    'issuer=/O=tlsproxy test/CN=Client Root CA',
    `${e}: subject_CN=client-p256, issuer=Client Root CA, cert fingerprint=${certFp}, pkey fingerprint=${pkeyFp}`,
  ];
  // In this order, with other level-2 lines (state trace, tickets) in between.
  let at = -1;
  for (const w of want) {
    const i = t.indexOf(w, at + 1);
    assert.ok(i > at, `${w}\n${show(s)}`);
    at = i;
  }
  assert.ok(t.indexOf(summaryOf(s)) > at, 'the summary line comes last');
  assert.match(summaryOf(s), /^Trusted /);
});

test('ccert_verifydepth = 1: leaf + intermediate + root is too long (TLS 1.3 and 1.2); leaf + root is fine', async () => {
  for (const version of ['-tls1_3', '-tls1_2'] as const) {
    const s = await connect(debug, version, 'deep');
    const e = endpointOf(s);
    const t = texts(s);
    assert.ok(t.includes(`certificate verification failed for ${e}: certificate chain longer than limit(1)`), show(s));
    // The root is beyond the limit: no depth line for it (Postfix returns before logging).
    assert.not.ok(t.some((x) => x.includes('depth=2')), show(s));
    assert.ok(t.includes(`${e}: depth=1 verify=1 subject=/O=tlsproxy test/CN=Client Intermediate CA`), show(s));
    assert.match(summaryOf(s), /^Untrusted TLS connection established/, show(s));
  }
  const ok = await connect(debug, '-tls1_3', 'rsa');
  assert.match(summaryOf(ok), /^Trusted /, show(ok));
});

// ---- our strict option

const STRICT: [ClientKind | undefined, Version, RegExp, string | undefined][] = [
  [undefined, '-tls1_3', /alert certificate required/, undefined],
  [undefined, '-tls1_2', /alert handshake failure/, undefined],
  ['untrusted', '-tls1_3', /alert unknown ca/, 'certificate verification failed for E: untrusted issuer /O=Elsewhere/CN=Unknown CA'],
  ['untrusted', '-tls1_2', /alert unknown ca/, 'certificate verification failed for E: untrusted issuer /O=Elsewhere/CN=Unknown CA'],
  ['selfSigned', '-tls1_3', /alert unknown ca/, 'certificate verification failed for E: self-signed certificate'],
  ['expired', '-tls1_3', /alert certificate expired/, 'client certificate verification failed for E: certificate has expired'],
  ['expired', '-tls1_2', /alert certificate expired/, 'client certificate verification failed for E: certificate has expired'],
  ['notYetValid', '-tls1_3', /alert bad certificate/, 'client certificate verification failed for E: certificate not yet valid'],
  ['serverAuth', '-tls1_3', /alert unsupported certificate/, 'certificate verification failed for E: not designated for use as a client certificate'],
  ['serverAuth', '-tls1_2', /alert unsupported certificate/, 'certificate verification failed for E: not designated for use as a client certificate'],
];

for (const [kind, version, alert, line] of STRICT) {
  test(`strict ${version} ${kind ?? 'no certificate'}: the client sees ${alert.source}; the handshake fails`, async () => {
    const s = await connect(strict, version, kind, [], 1200);
    const e = endpointOf(s);
    assert.match(s.out, alert, show(s));
    assert.not.match(s.out, /^ping/m, show(s));
    const t = texts(s);
    if (line) assert.ok(t.includes(line.replace('E', e)), show(s));
    assert.ok(t.includes(`TLS handshake failed for service=127.0.0.1:0 peer=${e}`), show(s));
    assert.not.ok(t.some((x) => / TLS connection established /.test(x)), show(s));
  });
}

test('strict: a trusted certificate passes (TLS 1.3 and 1.2, openssl and node:tls); node:tls without one gets certificate_required', async () => {
  for (const version of ['-tls1_3', '-tls1_2'] as const) {
    const s = await connect(strict, version, 'p256');
    assert.match(summaryOf(s), /^Trusted TLS connection established /, show(s));
    assert.match(s.out, 'ping');
  }
  const c = pki.clients.rsa;
  const ok = await nodeTls(strict.port, serverCaPem, { cert: c.certPem, key: c.keyPem });
  assert.is(ok.protocol, 'TLSv1.3');
  assert.is(ok.out, 'ping\n');
  const err = await nodeTls(strict.port, serverCaPem, {}).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  assert.ok(err, 'node:tls without a certificate fails');
  assert.match(`${err!.code} ${err!.message}`, /CERTIFICATE_REQUIRED|certificate required/i);
});

// ---- not asked; start-up

test("req_ccert without mandatory TLS: Postfix's warning at start-up, no request, a certificate is not even sent", async () => {
  assert.ok(none.texts().includes("warning: Can't require client certs unless TLS is required"), none.tail());
  const s = await connect(none, '-tls1_3', 'p256');
  assert.match(summaryOf(s), /^Anonymous TLS connection established /, show(s));
  assert.not.match(s.out, /Acceptable client certificate CA names/);
});

test('start-up errors name the parameter (and file)', async () => {
  const cases: [string[], RegExp][] = [
    [['tlsproxy_tls_fingerprint_digest = whirlpool'], /fatal: tlsproxy_tls_fingerprint_digest: Digest algorithm "whirlpool" not found/],
    [['tlsproxy_tls_CAfile = /nonexistent/ca.pem'], /fatal: tlsproxy_tls_CAfile=\/nonexistent\/ca\.pem: cannot read the file: No such file or directory/],
    [['tlsproxy_tls_ask_ccert = yes', 'tlsproxy_tls_CApath = /nonexistent/certs'], /fatal: tlsproxy_tls_CApath=\/nonexistent\/certs: cannot read the directory: No such file or directory/],
    [['tlsproxy_tls_require_trusted_ccert = yes'], /fatal: tlsproxy_tls_require_trusted_ccert = yes needs trust anchors/],
  ];
  const results = await Promise.all(cases.map(async ([lines]) => startFails(await config(lines))));
  results.forEach((r, i) => {
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, cases[i]![1], r.stderr);
  });
});

test.run();
