/**
 * certs/verify.ts against hostile chains (issue 10, code review findings):
 *  - a ~21 KB chain of many same-name candidate issuers costs at most one
 *    public-key operation per link (ChainVerification.publicKeyOperations),
 *    where the old builder verified every candidate (48 operations);
 *  - RSA public exponents above 2^32 are never used (leaf: unusable, the
 *    engine sends bad_certificate; CA: 6 without an operation), RSA keys
 *    under 2048 bits are 66 (leaf) / 67 (CA) as `openssl verify -auth_level 2`
 *    says, and minRsaBits 1024 accepts them;
 *  - nameConstraints (RFC 5280 §4.2.1.10), critical or not, in an
 *    intermediate or in the anchor: dNSName, rfc822Name, directoryName,
 *    iPAddress, URI permitted and excluded subtrees, the leaf's CN when it
 *    has no dNSName, with the verdict and error code of `openssl verify`;
 *    forms we do not implement (otherName, registeredID) refuse the chain.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TrustStore, X509_ERRORS, parseTrustAnchors, verifyClientChain, type ChainVerification } from '../../certs/index.js';
import { clientPki } from '../helpers/client-pki.js';

const pki = clientPki();
const file = (n: string) => path.join(pki.dir, n);

interface Made { certPath: string; keyPath: string; der: Uint8Array; pem: string }

const KEY = {
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  rsa1024: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
  rsaBigE: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-pkeyopt', 'rsa_keygen_pubexp:4294967297'],
};
const CA = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
const LEAF = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
let serial = 5000;

function make(name: string, opts: { key?: string[]; keyPath?: string; subject: string; issuer?: Made; ext: string[] }): Made {
  const key = opts.keyPath ?? file(`h-${name}.key`);
  const cert = file(`h-${name}.pem`);
  if (!opts.keyPath) pki.openssl(['genpkey', ...(opts.key ?? KEY.p256), '-out', key]);
  writeFileSync(file(`h-${name}.ext`), `${opts.ext.join('\n')}\n`);
  if (!opts.issuer) {
    pki.openssl(['req', '-x509', '-key', key, '-out', cert, '-days', '30', '-subj', opts.subject, '-set_serial', String(serial++),
      ...opts.ext.flatMap((e) => ['-addext', e])]);
  } else {
    pki.openssl(['req', '-new', '-key', key, '-subj', opts.subject, '-out', file(`h-${name}.csr`)]);
    pki.openssl(['x509', '-req', '-in', file(`h-${name}.csr`), '-CA', opts.issuer.certPath, '-CAkey', opts.issuer.keyPath,
      '-set_serial', String(serial++), '-days', '30', '-extfile', file(`h-${name}.ext`), '-out', cert]);
  }
  pki.openssl(['x509', '-in', cert, '-outform', 'DER', '-out', `${cert}.der`]);
  return { certPath: cert, keyPath: key, der: new Uint8Array(readFileSync(`${cert}.der`)), pem: readFileSync(cert, 'utf8') };
}

interface OpensslVerdict { ok: boolean; code?: number; depth?: number; out: string }

function opensslVerify(args: string[], leafPath: string): OpensslVerdict {
  let out: string;
  try {
    out = pki.openssl(['verify', '-purpose', 'sslclient', ...args, leafPath]);
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    out = `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  const m = /error (\d+) at (\d+) depth lookup: (.*)/.exec(out);
  return { ok: /: OK\s*$/.test(out), out, ...(m ? { code: Number(m[1]), depth: Number(m[2]) } : {}) };
}

function sameAsOpenssl(ours: ChainVerification, theirs: OpensslVerdict, what: string): void {
  const show = `${what}\n--- openssl:\n${theirs.out}\n--- ours: ${JSON.stringify(ours.error)}`;
  assert.is(ours.trusted, theirs.ok, show);
  if (!theirs.ok) {
    assert.is(ours.error?.code, theirs.code, show);
    assert.is(ours.error?.depth, theirs.depth, show);
    assert.ok(theirs.out.includes(X509_ERRORS[ours.error!.code]!), show);
  }
}

function untrustedFile(name: string, certs: Made[]): string {
  const f = file(`h-${name}-untrusted.pem`);
  writeFileSync(f, certs.map((c) => c.pem).join(''));
  return f;
}

// ------------------------------------------------------------------ bounded work

test('a ~21 KB chain of same-name candidate issuers: at most one public-key operation per link', async () => {
  const root = make('w-root', { subject: '/CN=work root', ext: CA });
  const inter = make('w-inter', { subject: '/O=work/CN=Same Name CA', issuer: root, ext: CA });
  const leaf = make('w-leaf', { subject: '/CN=work leaf', issuer: inter, ext: LEAF });
  // Decoys: the intermediate's name, their own (one shared) key, no key identifiers, valid CAs.
  pki.openssl(['genpkey', ...KEY.p256, '-out', file('h-w-decoy.key')]);
  const decoys: Uint8Array[] = [];
  for (let i = 0; i < 12; i++) decoys.push(make(`w-decoy-self-${i}`, { keyPath: file('h-w-decoy.key'), subject: '/O=work/CN=Same Name CA', ext: CA }).der);
  const lower = make('w-decoy-lower', { keyPath: file('h-w-decoy.key'), subject: '/O=work/CN=Same Name CA', issuer: root, ext: CA });
  for (let i = 0; i < 33; i++) decoys.push(make(`w-decoy-${i}`, { keyPath: file('h-w-decoy.key'), subject: '/O=work/CN=Same Name CA', issuer: lower, ext: CA }).der);
  const store = new TrustStore(parseTrustAnchors(root.pem, 'root'));

  const hostile = [leaf.der, ...decoys];
  const bytes = hostile.reduce((n, d) => n + d.length, 0);
  assert.ok(bytes > 18_000 && bytes < 30_000, `chain of ${bytes} bytes`);
  for (const verifyDepth of [9, 2, 0]) {
    const r = await verifyClientChain(hostile, { anchors: store, verifyDepth });
    assert.is(r.trusted, false);
    assert.ok(r.publicKeyOperations <= verifyDepth + 1, `depth ${verifyDepth}: ${r.publicKeyOperations} operations`);
    assert.ok(r.chain.length <= verifyDepth + 2);
  }
  // The genuine intermediate first, then the decoys: trusted, one operation per link (leaf, intermediate).
  const honest = await verifyClientChain([leaf.der, inter.der, ...decoys], { anchors: store });
  assert.is(honest.trusted, true, JSON.stringify(honest.error));
  assert.is(honest.publicKeyOperations, 2);
  // Sixteen copies of the intermediate: still two.
  const copies = await verifyClientChain([leaf.der, ...Array.from({ length: 15 }, () => inter.der)], { anchors: store });
  assert.is(copies.trusted, true);
  assert.is(copies.publicKeyOperations, 2);
});

test('several anchors with one name: told apart by signature, within a bounded number of probes', async () => {
  const a = make('a-root-1', { subject: '/CN=twin root', ext: CA });
  const b = make('a-root-2', { subject: '/CN=twin root', ext: CA });
  const leaf = make('a-leaf', { subject: '/CN=twin leaf', issuer: b, ext: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'] });
  const store = new TrustStore(parseTrustAnchors(a.pem + b.pem, 'twins'));
  const r = await verifyClientChain([leaf.der], { anchors: store });
  assert.is(r.trusted, true, JSON.stringify(r.error));
  assert.ok(r.publicKeyOperations <= 3, `${r.publicKeyOperations}`);
});

// ------------------------------------------------------------------ RSA keys

test('RSA: exponent above 2^32 is never used; under 2048 bits is 66 / 67 as openssl -auth_level 2 says', async () => {
  const root = make('r-root', { subject: '/CN=rsa root', ext: CA });
  const store = new TrustStore(parseTrustAnchors(root.pem, 'root'));

  const bigE = make('r-bige', { key: KEY.rsaBigE, subject: '/CN=big exponent', issuer: root, ext: LEAF });
  await verifyClientChain([bigE.der], { anchors: store }).then(
    () => assert.unreachable('a leaf with e > 2^32 must be unusable'),
    (e: Error) => assert.match(e.message, /^client certificate: RSA public exponent is larger than 2\^32/),
  );
  const bigECa = make('r-bige-ca', { key: KEY.rsaBigE, subject: '/CN=big exponent CA', issuer: root, ext: CA });
  const underBigE = make('r-under-bige', { subject: '/CN=under big exponent', issuer: bigECa, ext: LEAF });
  const r6 = await verifyClientChain([underBigE.der, bigECa.der], { anchors: store });
  assert.is(r6.trusted, false);
  assert.is(r6.error?.code, 6);
  assert.is(r6.error?.depth, 1);
  assert.is(r6.publicKeyOperations, 1, 'only the CA\'s own link (root key) is verified');

  const small = make('r-small', { key: KEY.rsa1024, subject: '/CN=rsa 1024 leaf', issuer: root, ext: LEAF });
  const r66 = await verifyClientChain([small.der], { anchors: store });
  sameAsOpenssl(r66, opensslVerify(['-auth_level', '2', '-CAfile', root.certPath], small.certPath), '66');
  assert.is(r66.error?.reason, 'num=66:EE certificate key too weak');
  assert.is(r66.error?.alert, 'bad_certificate');
  assert.is((await verifyClientChain([small.der], { anchors: store, minRsaBits: 1024 })).trusted, true);

  const smallCa = make('r-small-ca', { key: KEY.rsa1024, subject: '/CN=rsa 1024 CA', issuer: root, ext: CA });
  const underSmall = make('r-under-small', { subject: '/CN=under rsa 1024', issuer: smallCa, ext: LEAF });
  const r67 = await verifyClientChain([underSmall.der, smallCa.der], { anchors: store });
  sameAsOpenssl(r67, opensslVerify(['-auth_level', '2', '-CAfile', root.certPath, '-untrusted', smallCa.certPath], underSmall.certPath), '67');
  assert.is(r67.error?.reason, 'num=67:CA certificate key too weak');
  assert.is(r67.error?.purpose, 'CA');
  assert.is((await verifyClientChain([underSmall.der, smallCa.der], { anchors: store, minRsaBits: 1024 })).trusted, true);
});

// ------------------------------------------------------------------ name constraints

interface NcCase {
  label: string;
  /** nameConstraints of the intermediate (or of the anchor with `inAnchor`). */
  nc: string;
  subject?: string;
  san?: string;
  /** Expected: 0 = trusted, else the code (and openssl must agree unless `oursOnly`). */
  code: number;
  inAnchor?: boolean;
  oursOnly?: boolean;
}

const NC_CASES: NcCase[] = [
  { label: 'dNSName permitted, name below', nc: 'critical,permitted;DNS:example.com', san: 'DNS:mail.example.com', code: 0 },
  { label: 'dNSName permitted, the name itself', nc: 'critical,permitted;DNS:example.com', san: 'DNS:example.com', code: 0 },
  { label: 'dNSName permitted, other name', nc: 'critical,permitted;DNS:example.com', san: 'DNS:example.org', code: 47 },
  { label: 'dNSName permitted, suffix without dot', nc: 'critical,permitted;DNS:example.com', san: 'DNS:badexample.com', code: 47 },
  { label: 'dNSName permitted, one of two names outside', nc: 'critical,permitted;DNS:example.com', san: 'DNS:a.example.com,DNS:b.evil.net', code: 47 },
  { label: 'dNSName excluded', nc: 'critical,permitted;DNS:example.com,excluded;DNS:bad.example.com', san: 'DNS:x.bad.example.com', code: 48 },
  { label: 'dNSName permitted, not critical', nc: 'permitted;DNS:example.com', san: 'DNS:evil.org', code: 47 },
  { label: 'dNSName in the anchor', nc: 'critical,permitted;DNS:example.com', san: 'DNS:evil.org', code: 47, inAnchor: true },
  { label: 'leaf CN host name without dNSName', nc: 'critical,permitted;DNS:example.com', subject: '/CN=host.evil.org', code: 47 },
  { label: 'leaf CN of one label is not a host name', nc: 'critical,permitted;DNS:example.com', subject: '/CN=joe', code: 0 },
  { label: 'leaf CN ignored when there is a dNSName', nc: 'critical,permitted;DNS:example.com', subject: '/CN=host.evil.org', san: 'DNS:ok.example.com', code: 0 },
  { label: 'rfc822Name host', nc: 'critical,permitted;email:example.com', san: 'email:joe@example.com', code: 0 },
  { label: 'rfc822Name host, other host', nc: 'critical,permitted;email:example.com', san: 'email:joe@sub.example.com', code: 47 },
  { label: 'rfc822Name .domain', nc: 'critical,permitted;email:.example.com', san: 'email:joe@sub.example.com', code: 0 },
  { label: 'rfc822Name .domain, the domain itself', nc: 'critical,permitted;email:.example.com', san: 'email:joe@example.com', code: 47 },
  { label: 'rfc822Name mailbox', nc: 'critical,permitted;email:joe@example.com', san: 'email:jim@example.com', code: 47 },
  { label: 'rfc822Name excluded', nc: 'critical,excluded;email:evil.org', san: 'email:x@evil.org', code: 48 },
  { label: 'emailAddress in the subject', nc: 'critical,permitted;email:example.com', subject: '/CN=joe/emailAddress=joe@evil.org', code: 47 },
  { label: 'directoryName permitted', nc: 'critical,permitted;dirName:dir_good', subject: '/O=Good/CN=joe', code: 0 },
  { label: 'directoryName permitted, other O', nc: 'critical,permitted;dirName:dir_good', subject: '/O=Bad/CN=joe', code: 47 },
  { label: 'directoryName excluded', nc: 'critical,excluded;dirName:dir_good', subject: '/O=Good/CN=joe', code: 48 },
  { label: 'iPAddress IPv4 permitted', nc: 'critical,permitted;IP:10.0.0.0/255.0.0.0', san: 'IP:10.1.2.3', code: 0 },
  { label: 'iPAddress IPv4 outside', nc: 'critical,permitted;IP:10.0.0.0/255.0.0.0', san: 'IP:192.168.1.1', code: 47 },
  { label: 'iPAddress IPv6 excluded', nc: 'critical,excluded;IP:2001:db8::/ffff:ffff::', san: 'IP:2001:db8::1', code: 48 },
  { label: 'iPAddress IPv4 against an IPv6 subtree', nc: 'critical,permitted;IP:2001:db8::/ffff:ffff::', san: 'IP:10.0.0.1', code: 47 },
  { label: 'URI permitted .domain', nc: 'critical,permitted;URI:.example.com', san: 'URI:https://www.example.com/x', code: 0 },
  { label: 'URI outside', nc: 'critical,permitted;URI:.example.com', san: 'URI:https://evil.org:443/x', code: 47 },
  { label: 'a form with no constraint is free', nc: 'critical,permitted;DNS:example.com', san: 'email:joe@anywhere.org', code: 0 },
  { label: 'registeredID constraint and name: not implemented, refused', nc: 'critical,permitted;RID:1.2.3.4', san: 'RID:1.2.3.4', code: 51 },
  { label: 'otherName constraint and name: not implemented, refused', nc: 'critical,permitted;otherName:1.2.3.4;UTF8:x', san: 'otherName:1.2.3.4;UTF8:x', code: 51, oursOnly: true },
];

for (const c of NC_CASES) {
  test(`nameConstraints: ${c.label} -> ${c.code || 'trusted'}`, async () => {
    const id = c.label.replace(/[^a-z0-9]+/gi, '-');
    const ncExt = [`nameConstraints=${c.nc}`];
    const dirSection = '\n[ dir_good ]\nO = Good\n';
    const withDir = (ext: string[]) => (c.nc.includes('dir_good') ? [...ext, dirSection] : ext);
    const root = c.inAnchor
      ? makeWithConfig(`nc-root-${id}`, '/CN=nc root', undefined, withDir([...CA, ...ncExt]))
      : make(`nc-root-${id}`, { subject: '/CN=nc root', ext: CA });
    const inter = c.inAnchor ? undefined : makeWithConfig(`nc-inter-${id}`, '/CN=nc inter', root, withDir([...CA, ...ncExt]));
    const leafExt = [...LEAF, ...(c.san ? [`subjectAltName=${c.san}`] : [])];
    const leaf = make(`nc-leaf-${id}`, { subject: c.subject ?? '/CN=nc leaf', issuer: inter ?? root, ext: leafExt });
    const store = new TrustStore(parseTrustAnchors(root.pem, 'root'));
    const r = await verifyClientChain(inter ? [leaf.der, inter.der] : [leaf.der], { anchors: store });
    assert.is(r.error?.code ?? 0, c.code, JSON.stringify(r.error));
    assert.is(r.trusted, c.code === 0);
    if (c.code !== 0) {
      assert.is(r.error?.depth, 0);
      assert.is(r.error?.reason, `num=${c.code}:${X509_ERRORS[c.code]}`);
    }
    if (!c.oursOnly) {
      const args = ['-CAfile', root.certPath, ...(inter ? ['-untrusted', untrustedFile(id, [inter])] : [])];
      sameAsOpenssl(r, opensslVerify(args, leaf.certPath), c.label);
    }
  });
}

/** Like make(), with the extensions in a config section (dirName constraints need a section of their own). */
function makeWithConfig(name: string, subject: string, issuer: Made | undefined, ext: string[]): Made {
  const key = file(`h-${name}.key`);
  const cert = file(`h-${name}.pem`);
  pki.openssl(['genpkey', ...KEY.p256, '-out', key]);
  const [lines, extra] = [ext.filter((e) => !e.startsWith('\n')), ext.filter((e) => e.startsWith('\n')).join('')];
  const cnf = file(`h-${name}.cnf`);
  writeFileSync(cnf, `[ req ]\ndistinguished_name = dn\n[ dn ]\n[ v3 ]\n${lines.join('\n')}\n${extra}`);
  if (!issuer) {
    pki.openssl(['req', '-x509', '-key', key, '-out', cert, '-days', '30', '-subj', subject, '-config', cnf, '-extensions', 'v3', '-set_serial', String(serial++)]);
  } else {
    pki.openssl(['req', '-new', '-key', key, '-subj', subject, '-out', file(`h-${name}.csr`), '-config', cnf]);
    pki.openssl(['x509', '-req', '-in', file(`h-${name}.csr`), '-CA', issuer.certPath, '-CAkey', issuer.keyPath, '-set_serial', String(serial++),
      '-days', '30', '-extfile', cnf, '-extensions', 'v3', '-out', cert]);
  }
  pki.openssl(['x509', '-in', cert, '-outform', 'DER', '-out', `${cert}.der`]);
  return { certPath: cert, keyPath: key, der: new Uint8Array(readFileSync(`${cert}.der`)), pem: readFileSync(cert, 'utf8') };
}

test('nameConstraints: a self-issued intermediate is not itself constrained, the leaf below it is', async () => {
  const root = makeWithConfig('si-root', '/CN=si root', undefined, [...CA, 'nameConstraints=critical,permitted;DNS:example.com']);
  const rekey = makeWithConfig('si-rekey', '/CN=si root', root, [...CA, 'subjectAltName=DNS:evil.org']);
  const leaf = make('si-leaf', { subject: '/CN=si leaf', issuer: rekey, ext: [...LEAF, 'subjectAltName=DNS:ok.example.com'] });
  const store = new TrustStore(parseTrustAnchors(root.pem, 'root'));
  const ok = await verifyClientChain([leaf.der, rekey.der], { anchors: store });
  assert.is(ok.trusted, true, JSON.stringify(ok.error));
  sameAsOpenssl(ok, opensslVerify(['-CAfile', root.certPath, '-untrusted', untrustedFile('si', [rekey])], leaf.certPath), 'self-issued');
});

test('nameConstraints: minimum or maximum in a subtree is 49 (hand-made DER)', async () => {
  const { parseNameConstraints, checkNameConstraints, NameCheckBudget } = await import('../../certs/name-constraints.js');
  const { readName } = await import('../../certs/names.js');
  // SEQUENCE { [0] { SEQUENCE { [2] "example.com", [1] 3 } } }: maximum present.
  const base = [0x82, 11, ...new TextEncoder().encode('example.com')];
  const subtree = [0x30, base.length + 3, ...base, 0x81, 1, 3];
  const der = Uint8Array.from([0x30, subtree.length + 2, 0xa0, subtree.length, ...subtree]);
  const nc = parseNameConstraints(der);
  assert.is(nc.permitted.length, 1);
  assert.is(nc.permitted[0]!.minMaxValid, false);
  const subject = readName(Uint8Array.from([0x30, 0]), 'subject');
  const code = checkNameConstraints({ subject, altNames: [{ type: 2, text: 'a.example.com' }] }, nc, true, new NameCheckBudget());
  assert.is(code, 49);
  // The budget: a name x constraint product beyond it is refused (1).
  assert.is(checkNameConstraints({ subject, altNames: [{ type: 2, text: 'a.example.com' }] }, nc, true, new NameCheckBudget(0)), 1);
});

test('tlsproxy_tls_ccert_rsa_min_bits reaches the verifier: default 2048 (66), 1024 accepts a 1024-bit client key; below 1024 stops start-up', async () => {
  const { clientAuthConfig } = await import('../../proxy/tls/client-auth.js');
  const { ParameterSet } = await import('../../proxy/config/main-cf.js');
  const params = (o: Record<string, string>) => ParameterSet.defaults().withOverrides(Object.entries(o).map(([name, value]) => ({ name, value })), 'test');
  const root = make('p-root', { subject: '/CN=param root', ext: CA });
  const small = make('p-small', { key: KEY.rsa1024, subject: '/CN=param 1024', issuer: root, ext: LEAF });
  const base = { tlsproxy_tls_ask_ccert: 'yes', tlsproxy_tls_CAfile: root.certPath };
  const strict = (await clientAuthConfig(params(base), [])).clientAuth!;
  const v1 = await strict.verify([small.der]);
  assert.is(v1.trusted, false);
  assert.is(v1.reason, 'num=66:EE certificate key too weak');
  const lax = (await clientAuthConfig(params({ ...base, tlsproxy_tls_ccert_rsa_min_bits: '1024' }), [])).clientAuth!;
  assert.is((await lax.verify([small.der])).trusted, true);
  await clientAuthConfig(params({ ...base, tlsproxy_tls_ccert_rsa_min_bits: '512' }), []).then(
    () => assert.unreachable('512 must be refused'),
    (e: Error) => assert.match(e.message, /tlsproxy_tls_ccert_rsa_min_bits/),
  );
});

test.run();
