/**
 * certs/verify.ts against `openssl verify -purpose sslclient` on the same
 * chains: the verdict (trusted or not) and, when not, OpenSSL's error code,
 * depth and text; plus Postfix's wording of each reason, the depth limit
 * (ccert_verifydepth + 1, Postfix's callback), the injected clock against
 * `openssl verify -attime`, every signature algorithm we check (ECDSA
 * P-256/P-384, RSA PKCS#1 v1.5, RSA-PSS, Ed25519), a tampered signature,
 * unhandled critical extensions, a CA that is not a CA, pathLenConstraint,
 * CApath trust, and fingerprints against `openssl x509 -fingerprint`.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  TrustStore, X509_ERRORS, digestText, parseFingerprintDigest, parseTrustAnchors, verificationFailureText, verifyClientChain,
  type ChainVerification,
} from '../../certs/index.js';
import { clientPki, type ClientKind } from '../helpers/client-pki.js';

const pki = clientPki();
const file = (n: string) => path.join(pki.dir, n);
const rootStore = new TrustStore(parseTrustAnchors(pki.cas.root.pem, 'CAfile'));

interface OpensslVerdict {
  ok: boolean;
  code?: number;
  depth?: number;
  text?: string;
  out: string;
}

/** openssl verify; the first error it reports. */
function opensslVerify(args: string[], leafPath: string): OpensslVerdict {
  let out: string;
  try {
    out = pki.openssl(['verify', '-purpose', 'sslclient', ...args, leafPath]);
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    out = `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  const m = /error (\d+) at (\d+) depth lookup: (.*)/.exec(out);
  return { ok: /: OK\s*$/.test(out), out, ...(m ? { code: Number(m[1]), depth: Number(m[2]), text: m[3]!.trim() } : {}) };
}

function pemFile(name: string, pems: string[]): string {
  const f = file(name);
  writeFileSync(f, pems.join(''));
  return f;
}

function sameAsOpenssl(ours: ChainVerification, theirs: OpensslVerdict, what: string): void {
  const show = `${what}\n--- openssl:\n${theirs.out}\n--- ours: ${JSON.stringify(ours.error)}`;
  assert.is(ours.trusted, theirs.ok, show);
  if (!theirs.ok) {
    assert.is(ours.error?.code, theirs.code, show);
    assert.is(ours.error?.depth, theirs.depth, show);
    assert.is(X509_ERRORS[ours.error!.code], theirs.text, show);
  }
}

const CASES: [ClientKind, boolean][] = [
  ['p256', true], ['p384', true], ['rsa', true], ['ed25519', true], ['deep', true],
  ['untrusted', false], ['selfSigned', false], ['expired', false], ['notYetValid', false],
  ['underExpiredCa', false], ['serverAuth', false], ['keyEncipherment', false], ['capath', false],
];

for (const [kind, trusted] of CASES) {
  test(`${kind}: same verdict as openssl verify (CAfile = the root)`, async () => {
    const c = pki.clients[kind];
    const ours = await verifyClientChain(c.chainDer, { anchors: rootStore });
    const inter = c.chainDer.length > 1 ? ['-untrusted', pemFile(`u-${kind}-inter.pem`, [c.chainPem.slice(c.certPem.length)])] : [];
    sameAsOpenssl(ours, opensslVerify(['-CAfile', pki.caFile, ...inter], c.certPath), kind);
    assert.is(ours.trusted, trusted);
  });
}

test('Postfix wording of each reason, and the client/CA word', async () => {
  const expect: [ClientKind, string][] = [
    ['untrusted', 'certificate verification failed for [192.0.2.1]:25: untrusted issuer /O=Elsewhere/CN=Unknown CA'],
    ['selfSigned', 'certificate verification failed for [192.0.2.1]:25: self-signed certificate'],
    ['expired', 'client certificate verification failed for [192.0.2.1]:25: certificate has expired'],
    ['notYetValid', 'client certificate verification failed for [192.0.2.1]:25: certificate not yet valid'],
    ['underExpiredCa', 'CA certificate verification failed for [192.0.2.1]:25: certificate has expired'],
    ['serverAuth', 'certificate verification failed for [192.0.2.1]:25: not designated for use as a client certificate'],
    ['keyEncipherment', 'certificate verification failed for [192.0.2.1]:25: not designated for use as a client certificate'],
    ['capath', 'certificate verification failed for [192.0.2.1]:25: untrusted issuer /O=tlsproxy test/CN=CApath Root CA'],
  ];
  for (const [kind, line] of expect) {
    const r = await verifyClientChain(pki.clients[kind].chainDer, { anchors: rootStore });
    assert.is(verificationFailureText(r.error!, '[192.0.2.1]:25'), line, kind);
  }
});

test('alerts for a strict server', async () => {
  const expect: [ClientKind, string][] = [
    ['untrusted', 'unknown_ca'], ['selfSigned', 'unknown_ca'], ['expired', 'certificate_expired'], ['notYetValid', 'bad_certificate'],
    ['serverAuth', 'unsupported_certificate'], ['underExpiredCa', 'certificate_expired'],
  ];
  for (const [kind, alert] of expect) {
    const r = await verifyClientChain(pki.clients[kind].chainDer, { anchors: rootStore });
    assert.is(r.error?.alert, alert, kind);
  }
});

test('depth limit: ccert_verifydepth 1 refuses leaf + intermediate + root, 2 accepts it; 0 refuses leaf + root', async () => {
  const deep = pki.clients.deep.chainDer;
  const one = await verifyClientChain(deep, { anchors: rootStore, verifyDepth: 1 });
  assert.is(one.trusted, false);
  assert.is(one.error?.code, 22);
  assert.is(one.error?.depth, 2);
  assert.is(verificationFailureText(one.error!, '[::1]:1'), 'certificate verification failed for [::1]:1: certificate chain longer than limit(1)');
  // Nothing deeper than the limit is reported in depth lines (Postfix returns before logging).
  assert.equal(one.depthReports.map((d) => d.depth), [1, 0]);
  assert.is((await verifyClientChain(deep, { anchors: rootStore, verifyDepth: 2 })).trusted, true);
  const zero = await verifyClientChain(pki.clients.p256.chainDer, { anchors: rootStore, verifyDepth: 0 });
  assert.is(zero.error?.reason, 'certificate chain longer than limit(0)');
  assert.is((await verifyClientChain(pki.clients.p256.chainDer, { anchors: rootStore, verifyDepth: 1 })).trusted, true);
});

test('depth lines: one per certificate, top down, verify=1 when trusted', async () => {
  const r = await verifyClientChain(pki.clients.deep.chainDer, { anchors: rootStore });
  assert.equal(r.depthReports, [
    { depth: 2, ok: true, subject: '/O=tlsproxy test/CN=Client Root CA' },
    { depth: 1, ok: true, subject: '/O=tlsproxy test/CN=Client Intermediate CA' },
    { depth: 0, ok: true, subject: '/CN=client-deep' },
  ]);
  const bad = await verifyClientChain(pki.clients.expired.chainDer, { anchors: rootStore });
  assert.equal(bad.depthReports.at(-1), { depth: 0, ok: false, subject: '/CN=client-expired' });
});

test('the injected clock against openssl verify -attime', async () => {
  const c = pki.clients.p256;
  const notAfter = new Date(pki.openssl(['x509', '-in', c.certPath, '-noout', '-enddate']).trim().replace('notAfter=', ''));
  for (const [label, when] of [['after notAfter', new Date(notAfter.getTime() + 86400_000)], ['now', new Date()]] as const) {
    const ours = await verifyClientChain(c.chainDer, { anchors: rootStore, now: when });
    sameAsOpenssl(ours, opensslVerify(['-CAfile', pki.caFile, '-attime', String(Math.floor(when.getTime() / 1000))], c.certPath), label);
  }
  // Before both were made: openssl verify stops at the first error, the root's (depth 1); Postfix keeps
  // the error nearest the leaf, and so do we.
  const early = new Date(Date.now() - 3 * 86400_000);
  assert.is(opensslVerify(['-CAfile', pki.caFile, '-attime', String(Math.floor(early.getTime() / 1000))], c.certPath).depth, 1);
  const ours = await verifyClientChain(c.chainDer, { anchors: rootStore, now: early });
  assert.is(ours.error?.code, 9);
  assert.is(ours.error?.depth, 0);
  // In 2020 the expired certificate was valid, but the root (made today) was not yet.
  const e = await verifyClientChain(pki.clients.expired.chainDer, { anchors: rootStore, now: new Date('2020-06-01T00:00:00Z') });
  assert.is(verificationFailureText(e.error!, 'e'), 'CA certificate verification failed for e: certificate not yet valid');
});

test('CApath: hashed and plain file names are both anchors here; openssl only finds the hashed one', async () => {
  const store = new TrustStore([...parseTrustAnchors(pki.cas.capathRoot.pem, 'x'), ...parseTrustAnchors(pki.cas.capathPlain.pem, 'y')]);
  for (const kind of ['capath', 'capathPlain'] as const) {
    const ours = await verifyClientChain(pki.clients[kind].chainDer, { anchors: store });
    assert.is(ours.trusted, true, kind);
  }
  assert.ok(opensslVerify(['-CApath', pki.caPath], pki.clients.capath.certPath).ok);
  assert.is(opensslVerify(['-CApath', pki.caPath], pki.clients.capathPlain.certPath).code, 20);
});

test('chains with an untrusted or incomplete top: 19, 20 at the top, 2 for a non-self-signed anchor', async () => {
  const deep = pki.clients.deep;
  // Client sends leaf + intermediate + root, none trusted (CAfile = the unknown CA).
  const unknownStore = new TrustStore(parseTrustAnchors(pki.cas.unknown.pem, 'u'));
  const withRoot = [...deep.chainDer, pki.cas.root.der];
  const interAndRoot = pemFile('u-inter-root.pem', [pki.cas.inter.pem, pki.cas.root.pem]);
  sameAsOpenssl(await verifyClientChain(withRoot, { anchors: unknownStore }), opensslVerify(['-CAfile', pki.cas.unknown.certPath, '-untrusted', interAndRoot], deep.certPath), '19');
  const r19 = await verifyClientChain(withRoot, { anchors: unknownStore });
  assert.is(r19.error?.reason, 'untrusted issuer /O=tlsproxy test/CN=Client Root CA');
  // Leaf + intermediate, the root unknown.
  const onlyInter = pemFile('u-inter.pem', [pki.cas.inter.pem]);
  const r20 = await verifyClientChain(deep.chainDer, { anchors: unknownStore });
  sameAsOpenssl(r20, opensslVerify(['-CAfile', pki.cas.unknown.certPath, '-untrusted', onlyInter], deep.certPath), '20');
  assert.is(r20.error?.depth, 1);
  // The intermediate is an anchor but not self-signed, its issuer unknown: no partial chains.
  const interStore = new TrustStore(parseTrustAnchors(pki.cas.inter.pem, 'i'));
  const r2 = await verifyClientChain(deep.chainDer.slice(0, 1), { anchors: interStore });
  sameAsOpenssl(r2, opensslVerify(['-CAfile', pki.cas.inter.certPath], deep.certPath), '2');
  assert.is(r2.error?.reason, 'num=2:unable to get issuer certificate');
  assert.is(r2.error?.prefixed, true);
  assert.is(r2.error?.purpose, 'CA');
  // A self-signed leaf that is itself in the CAfile is trusted.
  const selfStore = new TrustStore(parseTrustAnchors(pki.clients.selfSigned.certPem, 's'));
  sameAsOpenssl(await verifyClientChain(pki.clients.selfSigned.chainDer, { anchors: selfStore }),
    opensslVerify(['-CAfile', pki.clients.selfSigned.certPath], pki.clients.selfSigned.certPath), 'self-signed anchor');
});

// ---- signature algorithms, tampering, extensions, CA checks: certificates made here with openssl x509 -req

interface Made {
  certPath: string;
  der: Uint8Array;
  pem: string;
}

function make(name: string, opts: { key: string[]; subject: string; issuer?: { cert: string; key: string }; ext: string[]; sigopt?: string[]; ca?: boolean }): Made & { keyPath: string } {
  const key = file(`u-${name}.key`);
  const cert = file(`u-${name}.pem`);
  pki.openssl(['genpkey', ...opts.key, '-out', key]);
  writeFileSync(file(`u-${name}.ext`), `${opts.ext.join('\n')}\n`);
  if (!opts.issuer) {
    pki.openssl(['req', '-x509', '-key', key, '-out', cert, '-days', '30', '-subj', opts.subject, ...opts.ext.flatMap((e) => ['-addext', e]), ...(opts.sigopt ?? [])]);
  } else {
    pki.openssl(['req', '-new', '-key', key, '-subj', opts.subject, '-out', file(`u-${name}.csr`)]);
    pki.openssl(['x509', '-req', '-in', file(`u-${name}.csr`), '-CA', opts.issuer.cert, '-CAkey', opts.issuer.key, '-set_serial', String(Date.now() % 1e9),
      '-days', '30', '-extfile', file(`u-${name}.ext`), '-out', cert, ...(opts.sigopt ?? [])]);
  }
  const der = pkiDer(cert);
  return { certPath: cert, keyPath: key, der, pem: readFileSync(cert, 'utf8') };
}

function pkiDer(pemPath: string): Uint8Array {
  const out = file(`${path.basename(pemPath)}.der`);
  pki.openssl(['x509', '-in', pemPath, '-outform', 'DER', '-out', out]);
  return new Uint8Array(readFileSync(out));
}

const CA = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
const LEAF = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
const KEY = {
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  p521: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  ed25519: ['-algorithm', 'ED25519'],
};

async function signedBy(label: string, caKey: string[], leafKey: string[], sigopt: string[] = [], digest: string[] = []) {
  const ca = make(`${label}-ca`, { key: caKey, subject: `/CN=${label} CA`, ext: CA, sigopt: digest });
  const leaf = make(`${label}-leaf`, { key: leafKey, subject: `/CN=${label} leaf`, issuer: { cert: ca.certPath, key: ca.keyPath }, ext: LEAF, sigopt: [...sigopt, ...digest] });
  return { ca, leaf };
}

const SIGNATURES: [string, string[], string[], string[], string[]][] = [
  ['rsa-pkcs1-sha256', KEY.rsa, KEY.p256, [], []],
  ['rsa-pkcs1-sha384', KEY.rsa, KEY.p256, [], ['-sha384']],
  ['rsa-pkcs1-sha512', KEY.rsa, KEY.p256, [], ['-sha512']],
  ['rsa-pss-sha256', KEY.rsa, KEY.rsa, ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest'], ['-sha256']],
  ['rsa-pss-sha384', KEY.rsa, KEY.p256, ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'], ['-sha384']],
  ['ecdsa-p384-sha384', KEY.p384, KEY.p384, [], ['-sha384']],
  ['ecdsa-p521-sha512', KEY.p521, KEY.p256, [], ['-sha512']],
  ['ed25519', KEY.ed25519, KEY.ed25519, [], []],
];

for (const [label, caKey, leafKey, sigopt, digest] of SIGNATURES) {
  test(`signature ${label}: verified, and a flipped bit is a certificate signature failure (7), as openssl says`, async () => {
    const { ca, leaf } = await signedBy(label, caKey, leafKey, sigopt, digest);
    const store = new TrustStore(parseTrustAnchors(ca.pem, label));
    const good = await verifyClientChain([leaf.der], { anchors: store });
    sameAsOpenssl(good, opensslVerify(['-CAfile', ca.certPath], leaf.certPath), label);
    assert.is(good.trusted, true);
    const bad = leaf.der.slice();
    bad[bad.length - 3] ^= 0x01;
    const badPath = file(`u-${label}-tampered.der`);
    writeFileSync(badPath, bad);
    const badPem = file(`u-${label}-tampered.pem`);
    pki.openssl(['x509', '-inform', 'DER', '-in', badPath, '-out', badPem]);
    sameAsOpenssl(await verifyClientChain([bad], { anchors: store }), opensslVerify(['-CAfile', ca.certPath], badPem), `${label} tampered`);
  });
}

test('RSA-PSS with an MGF1 hash unlike the signature hash: refused as a signature failure (7), a deliberate difference from openssl (WebCrypto has no such PSS)', async () => {
  const { ca, leaf } = await signedBy('pss-mgf1-mismatch', KEY.rsa, KEY.p256, ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sigopt', 'rsa_mgf1_md:sha1'], ['-sha256']);
  assert.is(opensslVerify(['-CAfile', ca.certPath], leaf.certPath).ok, true, 'openssl accepts it');
  const r = await verifyClientChain([leaf.der], { anchors: new TrustStore(parseTrustAnchors(ca.pem, 'pss')) });
  assert.is(r.trusted, false);
  assert.is(r.error?.reason, 'num=7:certificate signature failure');
});

test('unhandled critical extension (34), a CA without cA (79), pathLenConstraint (25): as openssl says', async () => {
  const root = make('x-root', { key: KEY.p256, subject: '/CN=x root', ext: CA });
  const store = new TrustStore(parseTrustAnchors(root.pem, 'x'));
  const rootSigner = { cert: root.certPath, key: root.keyPath };

  const critical = make('x-critical', { key: KEY.p256, subject: '/CN=x critical', issuer: rootSigner, ext: [...LEAF, '1.2.3.4.5=critical,ASN1:NULL'] });
  const r34 = await verifyClientChain([critical.der], { anchors: store });
  sameAsOpenssl(r34, opensslVerify(['-CAfile', root.certPath], critical.certPath), '34');
  assert.is(r34.error?.reason, 'num=34:unhandled critical extension');

  const notCa = make('x-notca', { key: KEY.p256, subject: '/CN=x not a CA', issuer: rootSigner, ext: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyCertSign'] });
  const underNotCa = make('x-under-notca', { key: KEY.p256, subject: '/CN=x under', issuer: { cert: notCa.certPath, key: notCa.keyPath }, ext: LEAF });
  const r79 = await verifyClientChain([underNotCa.der, notCa.der], { anchors: store });
  sameAsOpenssl(r79, opensslVerify(['-CAfile', root.certPath, '-untrusted', notCa.certPath], underNotCa.certPath), '79');
  assert.is(verificationFailureText(r79.error!, 'e'), 'CA certificate verification failed for e: num=79:invalid CA certificate');

  const tight = make('x-tight', { key: KEY.p256, subject: '/CN=x tight root', ext: ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign'] });
  const mid = make('x-mid', { key: KEY.p256, subject: '/CN=x mid', issuer: { cert: tight.certPath, key: tight.keyPath }, ext: CA });
  const low = make('x-low', { key: KEY.p256, subject: '/CN=x low', issuer: { cert: mid.certPath, key: mid.keyPath }, ext: LEAF });
  const r25 = await verifyClientChain([low.der, mid.der], { anchors: new TrustStore(parseTrustAnchors(tight.pem, 't')) });
  sameAsOpenssl(r25, opensslVerify(['-CAfile', tight.certPath, '-untrusted', mid.certPath], low.certPath), '25');
});

test('a chain padded with copies and strangers stays cheap (bounded signature checks)', async () => {
  const deep = pki.clients.deep.chainDer;
  const padded = [deep[0]!, ...Array.from({ length: 8 }, () => pki.cas.unknown.der), ...Array.from({ length: 7 }, () => deep[1]!)];
  const t0 = Date.now();
  const r = await verifyClientChain(padded, { anchors: rootStore });
  assert.is(r.trusted, true);
  assert.ok(Date.now() - t0 < 2000);
});

test('an undecodable client certificate throws (the engine sends bad_certificate)', async () => {
  await verifyClientChain([new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])], { anchors: rootStore }).then(
    () => assert.unreachable('should throw'),
    (e: Error) => assert.match(e.message, /^client certificate: /),
  );
});

test('fingerprints in every digest, as openssl x509 -fingerprint prints them; public key fingerprints', async () => {
  const c = pki.clients.rsa;
  for (const d of ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'] as const) {
    const theirs = pki.openssl(['x509', '-in', c.certPath, '-noout', '-fingerprint', `-${d}`]).trim().replace(/^.*Fingerprint=/, '');
    assert.is(digestText(c.chainDer[0]!, d), theirs, d);
  }
  pki.openssl(['x509', '-in', c.certPath, '-noout', '-pubkey', '-out', file('u-rsa-pub.pem')]);
  pki.openssl(['pkey', '-pubin', '-in', file('u-rsa-pub.pem'), '-outform', 'DER', '-out', file('u-rsa-pub.der')]);
  const spki = new Uint8Array(readFileSync(file('u-rsa-pub.der')));
  const r = await verifyClientChain(c.chainDer, { anchors: rootStore });
  assert.equal(r.leaf.info.spki, spki);
  assert.equal(parseFingerprintDigest('SHA256'), 'sha256');
  assert.equal(parseFingerprintDigest('sha2-512'), 'sha512');
  assert.equal(parseFingerprintDigest('MD5'), 'md5');
  assert.equal(parseFingerprintDigest('whirlpool'), undefined);
});

test('subject and issuer CN (issuer O when no CN), OpenSSL one-line DNs', async () => {
  const r = await verifyClientChain(pki.clients.deep.chainDer, { anchors: rootStore });
  assert.is(r.leaf.subjectCN, 'client-deep');
  assert.is(r.leaf.issuerCN, 'Client Intermediate CA');
  assert.is(r.leaf.info.issuer, '/O=tlsproxy test/CN=Client Intermediate CA');
  const noCn = make('x-nocn-ca', { key: KEY.p256, subject: '/O=Only Org', ext: CA });
  const leaf = make('x-nocn-leaf', { key: KEY.p256, subject: '/O=Leaf Org', issuer: { cert: noCn.certPath, key: noCn.keyPath }, ext: LEAF });
  const r2 = await verifyClientChain([leaf.der], { anchors: new TrustStore(parseTrustAnchors(noCn.pem, 'n')) });
  assert.is(r2.trusted, true);
  assert.is(r2.leaf.subjectCN, '');
  assert.is(r2.leaf.issuerCN, 'Only Org');
});

test.run();
