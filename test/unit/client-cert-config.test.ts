/**
 * proxy/client-auth.ts in-process: parameters to the engine's
 * ClientAuthPolicy (when certificates are asked for, CA names, depth,
 * digest, our strict option), start-up errors and warnings, the
 * per-connection log lines (ClientCertificateLog with a memory log), and
 * the summary line's Trust word and client-signature/-digest (golden lines
 * built from HandshakeInfo; the daemon tests check real ones).
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ServerConfig } from '../../engine/config.js';
import type { HandshakeInfo } from '../../engine/events.js';
import { ClientCertificateLog, clientAuthConfig, peerCertificateLine, type ClientCertificateDetails } from '../../proxy/tls/client-auth.js';
import { ConfigError } from '../../proxy/config/errors.js';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { Logger, MemorySink } from '../../proxy/log/log.js';
import { summaryLine, trustWord } from '../../proxy/tls/summary.js';
import { clientPki } from '../helpers/client-pki.js';

const pki = clientPki();
const params = (o: Record<string, string>) => ParameterSet.defaults().withOverrides(Object.entries(o).map(([name, value]) => ({ name, value })), 'test');
const isConfigError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigError && pattern.test(e.message);
const rejects = async (p: Promise<unknown>, pattern: RegExp) => {
  try {
    await p;
  } catch (e) {
    assert.ok(isConfigError(pattern)(e), `${(e as Error).message} !~ ${pattern}`);
    return;
  }
  assert.unreachable(`expected a ConfigError matching ${pattern}`);
};

test('no client certificates unless asked: ask_ccert, or req_ccert with mandatory TLS, or ours', async () => {
  const w: string[] = [];
  assert.equal(await clientAuthConfig(params({}), w), {});
  assert.equal(await clientAuthConfig(params({ tlsproxy_tls_CAfile: pki.caFile }), w), {});
  assert.equal(w, []);
  const ask = (await clientAuthConfig(params({ tlsproxy_tls_ask_ccert: 'yes' }), w)).clientAuth!;
  assert.is(ask.mode, 'request');
  assert.is(ask.requireTrusted, false);
  assert.is(ask.certificateAuthorities, undefined);
  // smtpd_* inheritance.
  assert.ok((await clientAuthConfig(params({ smtpd_tls_ask_ccert: 'yes' }), w)).clientAuth);
  const enforced = (await clientAuthConfig(params({ tlsproxy_tls_security_level: 'encrypt', tlsproxy_tls_req_ccert: 'yes' }), w)).clientAuth!;
  assert.is(enforced.mode, 'request', 'tlsproxy never enforces req_ccert');
  assert.ok((await clientAuthConfig(params({ tlsproxy_enforce_tls: 'yes', tlsproxy_tls_req_ccert: 'yes' }), w)).clientAuth);
  assert.equal(w, []);
});

test("req_ccert without mandatory TLS: Postfix's warning, and no request", async () => {
  for (const extra of [{}, { tlsproxy_tls_security_level: 'may' }, { tlsproxy_use_tls: 'yes' }] as Record<string, string>[]) {
    const w: string[] = [];
    assert.equal(await clientAuthConfig(params({ tlsproxy_tls_req_ccert: 'yes', ...extra }), w), {});
    assert.equal(w, ["Can't require client certs unless TLS is required"]);
  }
  const w: string[] = [];
  assert.ok((await clientAuthConfig(params({ tlsproxy_tls_req_ccert: 'yes', tlsproxy_tls_ask_ccert: 'yes' }), w)).clientAuth);
  assert.equal(w, ["Can't require client certs unless TLS is required"]);
});

test('CAfile subject names become certificate_authorities (file order, no duplicates); CApath names are not sent', async () => {
  const dir = path.join(pki.dir, 'cfg-cafile');
  mkdirSync(dir, { recursive: true });
  const bundle = path.join(dir, 'bundle.pem');
  writeFileSync(bundle, `# comment\n${pki.cas.root.pem}${pki.cas.unknown.pem}${pki.cas.root.pem}`);
  const w: string[] = [];
  const p = (await clientAuthConfig(params({ tlsproxy_tls_ask_ccert: 'yes', tlsproxy_tls_CAfile: bundle, tlsproxy_tls_CApath: pki.caPath }), w)).clientAuth!;
  const dn = (pem: string) => pki.openssl(['x509', '-noout', '-subject', '-nameopt', 'compat'], pem).trim();
  assert.is(p.certificateAuthorities!.length, 2);
  assert.equal(dn(pki.cas.root.pem), 'subject=/O=tlsproxy test/CN=Client Root CA');
  // The DER Names are those of the certificates (compare via the one-line forms openssl prints).
  const names = p.certificateAuthorities!.map((n) => Buffer.from(n).toString('hex'));
  const subjectHex = (pem: string) => {
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    return der.toString('hex');
  };
  assert.ok(subjectHex(pki.cas.root.pem).includes(names[0]!));
  assert.ok(subjectHex(pki.cas.unknown.pem).includes(names[1]!));
  const pathOnly = (await clientAuthConfig(params({ tlsproxy_tls_ask_ccert: 'yes', tlsproxy_tls_CApath: pki.caPath }), w)).clientAuth!;
  assert.is(pathOnly.certificateAuthorities, undefined);
  assert.equal(w, []);
});

test('the verifier: CAfile and CApath anchors (hashed and plain names), depth, fingerprints in the chosen digest', async () => {
  const w: string[] = [];
  const p = (await clientAuthConfig(params({
    tlsproxy_tls_ask_ccert: 'yes', tlsproxy_tls_CAfile: pki.caFile, tlsproxy_tls_CApath: pki.caPath, tlsproxy_tls_fingerprint_digest: 'SHA1',
  }), w)).clientAuth!;
  for (const kind of ['p256', 'rsa', 'ed25519', 'capath', 'capathPlain', 'deep'] as const) {
    const v = await p.verify(pki.clients[kind].chainDer);
    assert.is(v.trusted, true, kind);
  }
  const v = await p.verify(pki.clients.rsa.chainDer);
  assert.is(v.keyAlgorithm, 'rsa');
  assert.is(v.keyBits, 2048);
  const d = v.details as ClientCertificateDetails;
  const fp = pki.openssl(['x509', '-in', pki.clients.rsa.certPath, '-noout', '-fingerprint', '-sha1']).trim().replace(/^.*=/, '');
  assert.is(d.certFingerprint, fp);
  assert.is(d.digest, 'sha1');
  assert.is(d.subjectCN, 'client-rsa');
  assert.is(d.issuerCN, 'Client Root CA');
  const bad = await p.verify(pki.clients.untrusted.chainDer);
  assert.is(bad.trusted, false);
  assert.is(bad.alert, 'unknown_ca');
  assert.is(bad.reason, 'untrusted issuer /O=Elsewhere/CN=Unknown CA');
  assert.is((await p.verify(pki.clients.ed25519.chainDer)).keyAlgorithm, 'ed25519');
  assert.is((await p.verify(pki.clients.p384.chainDer)).keyAlgorithm, 'ecdsa-p384');
  const shallow = (await clientAuthConfig(params({ tlsproxy_tls_ask_ccert: 'yes', tlsproxy_tls_CAfile: pki.caFile, tlsproxy_tls_ccert_verifydepth: '1' }), w)).clientAuth!;
  assert.is((await shallow.verify(pki.clients.deep.chainDer)).reason, 'certificate chain longer than limit(1)');
  assert.equal(w, []);
});

test('our strict option: require + requireTrusted, needs anchors', async () => {
  const w: string[] = [];
  const p = (await clientAuthConfig(params({ tlsproxy_tls_require_trusted_ccert: 'yes', tlsproxy_tls_CAfile: pki.caFile }), w)).clientAuth!;
  assert.is(p.mode, 'require');
  assert.is(p.requireTrusted, true);
  await rejects(clientAuthConfig(params({ tlsproxy_tls_require_trusted_ccert: 'yes' }), w),
    /^tlsproxy_tls_require_trusted_ccert = yes needs trust anchors: tlsproxy_tls_CAfile and tlsproxy_tls_CApath are both empty$/);
});

test('start-up errors name the parameter (and file)', async () => {
  const w: string[] = [];
  await rejects(clientAuthConfig(params({ tlsproxy_tls_fingerprint_digest: 'whirlpool' }), w),
    /^tlsproxy_tls_fingerprint_digest: Digest algorithm "whirlpool" not found: TLS can't be enabled/);
  await rejects(clientAuthConfig(params({ smtpd_tls_fingerprint_digest: 'sha3-256' }), w), /Digest algorithm "sha3-256" not found/);
  await rejects(clientAuthConfig(params({ tlsproxy_tls_CAfile: '/nonexistent/ca.pem' }), w),
    /^tlsproxy_tls_CAfile=\/nonexistent\/ca\.pem: cannot read the file: No such file or directory$/);
  await rejects(clientAuthConfig(params({ tlsproxy_tls_CAfile: pki.caPath }), w), /^tlsproxy_tls_CAfile=.*: cannot read the file: Is a directory$/);
  const keyOnly = path.join(pki.dir, 'cfg-keyonly.pem');
  writeFileSync(keyOnly, pki.clients.p256.keyPem);
  await rejects(clientAuthConfig(params({ tlsproxy_tls_CAfile: keyOnly }), w), /^tlsproxy_tls_CAfile=.*cfg-keyonly\.pem: no certificate found \(the file holds: PRIVATE KEY\)$/);
  await rejects(clientAuthConfig(params({ tlsproxy_tls_CApath: '/nonexistent/certs' }), w),
    /^tlsproxy_tls_CApath=\/nonexistent\/certs: cannot read the directory: No such file or directory$/);
  await rejects(clientAuthConfig(params({ tlsproxy_tls_CApath: pki.caFile }), w), /^tlsproxy_tls_CApath=.*: cannot read the directory: Not a directory$/);
  await rejects(clientAuthConfig(params({ tlsproxy_tls_ccert_verifydepth: 'x' }), w), /bad numerical configuration: tlsproxy_tls_ccert_verifydepth = x/);
  assert.equal(w, []);
});

test('CApath: a broken certificate file is skipped with a warning; other files are ignored', async () => {
  const dir = path.join(pki.dir, 'cfg-capath');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'good.pem'), pki.cas.capathRoot.pem);
  writeFileSync(path.join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  writeFileSync(path.join(dir, 'crl.r0'), '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
  mkdirSync(path.join(dir, 'subdir'), { recursive: true });
  const w: string[] = [];
  const p = (await clientAuthConfig(params({ tlsproxy_tls_ask_ccert: 'yes', tlsproxy_tls_CApath: dir }), w)).clientAuth!;
  assert.is(w.length, 1);
  assert.match(w[0]!, /^tlsproxy_tls_CApath=.*cfg-capath: skipping .*broken\.pem: /);
  assert.is((await p.verify(pki.clients.capath.chainDer)).trusted, true);
});

// ---- per-connection lines

async function connectionLog(extra: Record<string, string>, loglevel: number) {
  const sink = new MemorySink();
  const logger = new Logger({ sink: sink.sink, hostname: 'h', pid: 1 });
  const { clientAuth } = await clientAuthConfig(params({ tlsproxy_tls_ask_ccert: 'yes', tlsproxy_tls_CAfile: pki.caFile, ...extra }), []);
  const config = { clientAuth } as ServerConfig;
  const log = new ClientCertificateLog(config, logger, '[192.0.2.7]:41862', loglevel);
  const texts = () => sink.records.map((r) => r.text);
  return { log, texts };
}

const HS: HandshakeInfo = {
  protocol: 'TLSv1.3', version: 0x0304, cipherSuite: 0x1302, cipherName: 'TLS_AES_256_GCM_SHA384', cipherBits: 256, group: 'x25519',
  serverSignature: 'ECDSA (prime256v1)', serverDigest: 'SHA256', serverNameMatched: false, helloRetry: false, resumed: false,
};

test('level 1: nothing but the summary for a trusted certificate; the untrusted line only with the keyword or forced', async () => {
  for (const [extra, expectLine] of [
    [{ tlsproxy_tls_loglevel: '1' }, false],
    [{ tlsproxy_tls_loglevel: 'routine, untrusted' }, true],
    [{ tlsproxy_tls_loglevel: '1', tlsproxy_tls_security_level: 'encrypt', tlsproxy_tls_req_ccert: 'yes' }, true],
    [{ tlsproxy_tls_loglevel: '1', tlsproxy_tls_require_trusted_ccert: 'yes' }, true],
  ] as const) {
    const { log, texts } = await connectionLog(extra, 1);
    const good = await log.config.clientAuth!.verify(pki.clients.p256.chainDer);
    log.secure({ ...HS, clientCertificate: { trusted: true, signature: 'ECDSA (prime256v1)', digest: 'SHA256', details: good.details } });
    await log.config.clientAuth!.verify(pki.clients.expired.chainDer);
    assert.equal(texts(), expectLine ? ['client certificate verification failed for [192.0.2.7]:41862: certificate has expired'] : [], JSON.stringify(extra));
  }
});

test('level 2: depth lines, subject/issuer, the peer certificate line with fingerprints', async () => {
  const { log, texts } = await connectionLog({ tlsproxy_tls_fingerprint_digest: 'md5' }, 2);
  const v = await log.config.clientAuth!.verify(pki.clients.deep.chainDer);
  const d = v.details as ClientCertificateDetails;
  log.secure({ ...HS, clientCertificate: { trusted: true, signature: 'ECDSA (prime256v1)', digest: 'SHA256', details: d } });
  const fp = pki.openssl(['x509', '-in', pki.clients.deep.certPath, '-noout', '-fingerprint', '-md5']).trim().replace(/^.*=/, '');
  assert.equal(texts(), [
    '[192.0.2.7]:41862: depth=2 verify=1 subject=/O=tlsproxy test/CN=Client Root CA',
    '[192.0.2.7]:41862: depth=1 verify=1 subject=/O=tlsproxy test/CN=Client Intermediate CA',
    '[192.0.2.7]:41862: depth=0 verify=1 subject=/CN=client-deep',
    'subject=/CN=client-deep',
    'issuer=/O=tlsproxy test/CN=Client Intermediate CA',
    `[192.0.2.7]:41862: subject_CN=client-deep, issuer=Client Intermediate CA, cert fingerprint=${fp}, pkey fingerprint=${d.pkeyFingerprint}`,
  ]);
  assert.match(d.pkeyFingerprint, /^([0-9A-F]{2}:){15}[0-9A-F]{2}$/);
});

test('peercert keyword at level 1: the peer certificate line alone', async () => {
  // compatibility_level 0 (the default here): md5, as Postfix before 3.6.
  const { log, texts } = await connectionLog({ tlsproxy_tls_loglevel: '1 peercert' }, 1);
  const v = await log.config.clientAuth!.verify(pki.clients.p256.chainDer);
  log.secure({ ...HS, clientCertificate: { trusted: true, signature: 'ECDSA (prime256v1)', digest: 'SHA256', details: v.details } });
  assert.equal(texts().length, 1);
  assert.match(texts()[0]!, /^\[192\.0\.2\.7\]:41862: subject_CN=client-p256, issuer=Client Root CA, cert fingerprint=([0-9A-F]{2}:){15}[0-9A-F]{2}, pkey fingerprint=/);
  assert.is(peerCertificateLine('e', { subject: '/O=x', issuer: '/O=y', subjectCN: '', issuerCN: 'y', certFingerprint: 'AA', pkeyFingerprint: 'BB', digest: 'sha256' }),
    'e: issuer=y, cert fingerprint=AA, pkey fingerprint=BB');
});

test('resumption of an untrusted session: the reminder with the untrusted lines on, nothing for a trusted one', async () => {
  const { log, texts } = await connectionLog({ tlsproxy_tls_loglevel: 'untrusted' }, 1);
  log.secure({ ...HS, resumed: true, clientCertificate: { trusted: false, resumed: true, signature: '' } });
  log.secure({ ...HS, resumed: true, clientCertificate: { trusted: true, resumed: true, signature: '' } });
  assert.equal(texts(), ['[192.0.2.7]:41862: re-using session with untrusted certificate, look for details earlier in the log']);
  const quiet = await connectionLog({}, 2);
  quiet.log.secure({ ...HS, resumed: true, clientCertificate: { trusted: false, resumed: true, signature: '' } });
  assert.equal(quiet.texts(), []);
});

test('without client certificates the connection config is unchanged', async () => {
  const config = { versions: [0x0304] } as unknown as ServerConfig;
  const log = new ClientCertificateLog(config, new Logger({ sink: () => undefined }), 'e', 2);
  assert.is(log.config, config);
  log.secure(HS);
});

// ---- the summary line (golden)

const TLS13_SUITES = [['TLS_AES_256_GCM_SHA384', 256], ['TLS_CHACHA20_POLY1305_SHA256', 256], ['TLS_AES_128_GCM_SHA256', 128]] as const;
const SERVER_SIGS = [['ECDSA (prime256v1)', 'SHA256'], ['ECDSA (secp384r1)', 'SHA384'], ['RSA-PSS (2048 bits)', 'SHA256'], ['ED25519', undefined]] as const;
const CLIENTS = [
  [undefined, ''],
  [{ trusted: true, signature: 'ECDSA (prime256v1)', digest: 'SHA256' }, ' client-signature ECDSA (prime256v1) client-digest SHA256'],
  [{ trusted: false, signature: 'RSA-PSS (2048 bits)', digest: 'SHA256' }, ' client-signature RSA-PSS (2048 bits) client-digest SHA256'],
  [{ trusted: true, signature: 'ED25519' }, ' client-signature ED25519'],
  [{ trusted: true, signature: 'ECDSA (secp384r1)', digest: 'SHA384' }, ' client-signature ECDSA (secp384r1) client-digest SHA384'],
] as const;

test('summary line golden: TLS 1.3, every suite x server signature x client certificate', () => {
  for (const [suite, bits] of TLS13_SUITES) {
    for (const [sig, dgst] of SERVER_SIGS) {
      for (const [cc, tail] of CLIENTS) {
        const info: HandshakeInfo = { ...HS, cipherName: suite, cipherBits: bits, serverSignature: sig, serverDigest: dgst, ...(cc ? { clientCertificate: cc } : {}) };
        const word = !cc ? 'Anonymous' : cc.trusted ? 'Trusted' : 'Untrusted';
        assert.is(trustWord(info), word);
        assert.is(summaryLine(info, '[192.0.2.7]:41862'),
          `${word} TLS connection established from [192.0.2.7]:41862: TLSv1.3 with cipher ${suite} (${bits}/${bits} bits) key-exchange x25519 server-signature ${sig}${dgst ? ` server-digest ${dgst}` : ''}${tail}`);
      }
    }
  }
});

test('summary line golden: TLS 1.2 (no key-exchange, no signatures), resumption (no signatures, trust kept)', () => {
  const suites = [
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 128], ['ECDHE-ECDSA-AES256-GCM-SHA384', 256], ['ECDHE-ECDSA-CHACHA20-POLY1305', 256],
    ['ECDHE-RSA-AES128-GCM-SHA256', 128], ['ECDHE-RSA-AES256-GCM-SHA384', 256], ['ECDHE-RSA-CHACHA20-POLY1305', 256],
    ['DHE-RSA-AES128-GCM-SHA256', 128], ['DHE-RSA-AES256-GCM-SHA384', 256], ['DHE-RSA-CHACHA20-POLY1305', 256],
  ] as const;
  for (const [suite, bits] of suites) {
    for (const [cc] of CLIENTS) {
      const info: HandshakeInfo = { ...HS, protocol: 'TLSv1.2', version: 0x0303, cipherName: suite, cipherBits: bits, ...(cc ? { clientCertificate: cc } : {}) };
      assert.is(summaryLine(info, '[::1]:25'), `${trustWord(info)} TLS connection established from [::1]:25: TLSv1.2 with cipher ${suite} (${bits}/${bits} bits)`);
    }
  }
  const resumed: HandshakeInfo = { ...HS, resumed: true, serverSignature: undefined, serverDigest: undefined, clientCertificate: { trusted: false, resumed: true, signature: '' } };
  assert.is(summaryLine(resumed, '[::1]:25'), 'Untrusted TLS connection established from [::1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519');
});

test.run();
