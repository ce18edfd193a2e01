// certs/ and proxy/certs-command.ts, judged by the openssl CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CertificateError, base64Decode, base64Encode, certificateFingerprint, certificateNames, formatIpv6, generateCa,
  generateClientCertificate, generateServerCertificate, generateTestPki, loadKeyPair, parseCertificate,
  parseCertificateChain, parseIpAddress, parsePem, parsePrivateKey, publicKeyFingerprint, toPem,
  type GeneratedCa, type TestPki,
} from '../../certs/index.js';
import { writeTestPki } from '../../proxy/cli/certs.js';

const root = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tlsproxy-certs-test-'));

function openssl(args: string[], input?: string | Uint8Array): string {
  return execFileSync('openssl', args, {
    cwd: tmp, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function write(name: string, data: string | Uint8Array): string {
  const file = path.join(tmp, name);
  writeFileSync(file, data);
  return file;
}

function read(name: string): string {
  return readFileSync(path.join(tmp, name), 'utf8');
}

/** Runs openssl to make a file in tmp and returns its text. */
function make(name: string, args: string[]): string {
  openssl([args[0]!, '-out', name, ...args.slice(1)]); // genrsa wants the size last
  return read(name);
}

/** The PEM public key openssl derives from a key file. */
function pubOf(keyFile: string, inform = 'PEM'): string {
  return openssl(['pkey', '-inform', inform, '-in', keyFile, '-pubout']);
}

/** Expects `fn` to throw a CertificateError starting with `source` and matching `re`. */
function refuses(fn: () => unknown, source: string, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CertificateError);
    const msg = (e as Error).message;
    assert.ok(msg.startsWith(`${source}: `), `message should start with the source: ${msg}`);
    assert.match(msg, re);
    return;
  }
  assert.unreachable(`expected a refusal matching ${re}`);
}

async function refusesAsync(fn: () => Promise<unknown>, source: string, re: RegExp): Promise<string> {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, CertificateError);
    const msg = (e as Error).message;
    assert.ok(msg.startsWith(`${source}: `), `message should start with the source: ${msg}`);
    assert.match(msg, re);
    return msg;
  }
  assert.unreachable(`expected a refusal matching ${re}`);
  return '';
}

let pkiPromise: Promise<TestPki> | undefined;
const pki = () => (pkiPromise ??= generateTestPki());

test.after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

// --- PEM ------------------------------------------------------------------------

test('parsePem: CRLF, text between blocks, RFC 1421 headers, round trip with toPem', () => {
  const a = Uint8Array.from({ length: 100 }, (_, i) => i);
  const b = Uint8Array.of(1, 2, 3);
  const text = 'Bag Attributes\r\n    localKeyID: 01\r\n' + toPem('CERTIFICATE', a).replace(/\n/g, '\r\n')
    + '# a comment\n\n' + '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\n'
    + base64Encode(b) + '\n-----END RSA PRIVATE KEY-----\ntrailing text\n';
  const blocks = parsePem(text);
  assert.is(blocks.length, 2);
  assert.is(blocks[0]!.label, 'CERTIFICATE');
  assert.equal(blocks[0]!.der, a);
  assert.equal(blocks[0]!.headers, {});
  assert.is(blocks[1]!.label, 'RSA PRIVATE KEY');
  assert.equal(blocks[1]!.headers, { 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': 'AES-256-CBC,00' });
  assert.equal(blocks[1]!.der, b);
  assert.equal(parsePem(''), []);
  assert.equal(parsePem('no pem here'), []);
  for (const line of toPem('X', new Uint8Array(200)).split('\n')) assert.ok(line.length <= 64);
});

test('parsePem: refuses unterminated blocks, mismatched END labels and bad base64', () => {
  assert.throws(() => parsePem('-----BEGIN CERTIFICATE-----\nAAAA\n'), /has no "-----END CERTIFICATE-----" line/);
  assert.throws(() => parsePem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n'), /ends with "END PRIVATE KEY"/);
  assert.throws(() => parsePem('-----BEGIN CERTIFICATE-----\nAA*A\n-----END CERTIFICATE-----\n'), /invalid base64/);
  assert.throws(() => parsePem('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'), /empty/);
});

test('base64 codec agrees with the platform', () => {
  for (let n = 0; n < 40; n++) {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const expected = btoa(String.fromCharCode(...data));
    assert.is(base64Encode(data), expected);
    assert.equal(base64Decode(expected), data);
    assert.equal(base64Decode(expected.replace(/=+$/, '')), data);
  }
  assert.throws(() => base64Decode('A'), /truncated/);
  assert.throws(() => base64Decode('AA==AA'), /after "="/);
});

// --- generated PKI -----------------------------------------------------------------

test('generated CA and server certificates verify with openssl; SANs, serverAuth, keys match', async () => {
  const { ca, servers } = await pki();
  write('gen-ca.pem', ca.certPem);
  const caText = openssl(['x509', '-in', 'gen-ca.pem', '-noout', '-text']);
  assert.match(caText, /Basic Constraints: critical\s+CA:TRUE/);
  assert.match(caText, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(caText, /Subject Key Identifier/);
  assert.match(caText, /ecdsa-with-SHA256/);
  write('gen-ca-key.pem', ca.keyPem);
  assert.is(pubOf('gen-ca-key.pem'), openssl(['x509', '-in', 'gen-ca.pem', '-noout', '-pubkey']));

  const expectedKey: Record<string, RegExp> = {
    'ecdsa-p256': /Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/,
    'ecdsa-p384': /Public-Key: \(384 bit\)[\s\S]*NIST CURVE: P-384/,
    'rsa-2048': /Public-Key: \(2048 bit\)/,
    ed25519: /ED25519 Public-Key/,
  };
  for (const [alg, server] of Object.entries(servers)) {
    const leaf = write(`gen-${alg}.pem`, server.certPem);
    const key = write(`gen-${alg}-key.pem`, server.keyPem);
    assert.is(openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', 'gen-ca.pem', leaf]).trim(), `${leaf}: OK`);
    const text = openssl(['x509', '-in', leaf, '-noout', '-text']);
    assert.match(text, /DNS:localhost, IP Address:127\.0\.0\.1/, alg);
    assert.match(text, /Extended Key Usage:\s+TLS Web Server Authentication\n/, alg);
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/, alg);
    assert.match(text, alg === 'rsa-2048' ? /Key Usage: critical\s+Digital Signature, Key Encipherment/
      : /Key Usage: critical\s+Digital Signature\n/, alg);
    assert.match(text, /Authority Key Identifier/, alg);
    assert.match(text, expectedKey[alg]!, alg);
    assert.match(text, /Subject: CN = localhost/, alg);
    assert.ok(server.keyPem.startsWith('-----BEGIN PRIVATE KEY-----\n'), alg);
    assert.is(pubOf(key), openssl(['x509', '-in', leaf, '-noout', '-pubkey']), alg);
    assert.is(server.chainPem, server.certPem + ca.certPem);

    const serial = openssl(['x509', '-in', leaf, '-noout', '-serial']).trim().replace(/^serial=/, '');
    assert.is(serial.length, 32, `16-byte serial for ${alg}: ${serial}`);
    assert.ok(parseInt(serial[0]!, 16) < 8, 'positive serial');
    const info = parseCertificate(server.cert);
    const days = (info.notAfter.getTime() - info.notBefore.getTime()) / 86400_000;
    assert.ok(Math.abs(days - 825 - 1 / 24) < 0.001, `validity ${days} days`);
    assert.ok(info.notBefore.getTime() < Date.now() - 3500_000);

    const loaded = await loadKeyPair({ certPem: server.chainPem, certSource: 'cert', keyPem: server.keyPem, keySource: 'key' });
    assert.equal(loaded.names, ['localhost']);
    assert.is(loaded.chain.length, 2);
    assert.is(loaded.leaf.keyAlgorithm, alg === 'rsa-2048' ? 'rsa' : alg);
    assert.is(loaded.key.algorithm, loaded.leaf.keyAlgorithm);
    assert.is(loaded.source, 'cert, key');
  }
});

test('server certificate options: wildcard, IPv6, clientAuth, validity; client certificates', async () => {
  const ca = await generateCa({ commonName: 'Options CA' });
  write('opt-ca.pem', ca.certPem);
  const server = await generateServerCertificate(ca, {
    algorithm: 'ecdsa-p384', names: ['Mail.Example.org', '*.example.org', '::1', '2001:db8::7'], days: 30, clientAuth: true,
  });
  write('opt-server.pem', server.certPem);
  assert.match(openssl(['verify', '-CAfile', 'opt-ca.pem', 'opt-server.pem']), /OK/);
  const text = openssl(['x509', '-in', 'opt-server.pem', '-noout', '-text']);
  assert.match(text, /DNS:mail\.example\.org, DNS:\*\.example\.org, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:0:0:0:7/);
  assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(text, /Subject: CN = Mail\.Example\.org/);
  assert.match(text, /Issuer: O = tlsproxy, CN = Options CA/);
  const info = parseCertificate(server.cert);
  assert.equal(info.ipAddresses, ['::1', '2001:db8::7']);
  assert.equal(certificateNames(info), ['mail.example.org', '*.example.org']);
  const days = (info.notAfter.getTime() - info.notBefore.getTime()) / 86400_000;
  assert.ok(Math.abs(days - 30 - 1 / 24) < 0.001);

  const client = await generateClientCertificate(ca, { algorithm: 'ed25519', commonName: 'client one' });
  write('opt-client.pem', client.certPem);
  assert.match(openssl(['verify', '-purpose', 'sslclient', '-CAfile', 'opt-ca.pem', 'opt-client.pem']), /OK/);
  const ctext = openssl(['x509', '-in', 'opt-client.pem', '-noout', '-text']);
  assert.match(ctext, /TLS Web Client Authentication/);
  assert.not.match(ctext, /Subject Alternative Name/);
  assert.equal(certificateNames(parseCertificate(client.cert)), ['client one']);

  // Parsed once by content (x509.ts memo): the same bytes give the same result; the memo keeps a
  // copy, so the caller reusing its buffer changes nothing; one byte different is parsed anew.
  const view = client.cert.slice();
  const first = parseCertificate(view);
  assert.ok(parseCertificate(client.cert.slice()) === first, 'memoised by content');
  view.fill(0);
  assert.equal(certificateNames(parseCertificate(client.cert)), ['client one']);
  assert.ok(first.der.some((b) => b !== 0), "the memo holds its own copy of the caller's bytes");
  const tampered = client.cert.slice();
  tampered[tampered.length - 1] ^= 1;
  assert.ok(parseCertificate(tampered) !== first, 'different bytes, a different parse');

  try {
    await generateServerCertificate(ca, { algorithm: 'ecdsa-p256', names: ['bad name'] });
    assert.unreachable('accepted an invalid DNS name');
  } catch (e) {
    assert.instance(e, CertificateError);
    assert.match((e as Error).message, /invalid DNS name "bad name"/);
  }
});

test('parseIpAddress and formatIpv6', () => {
  assert.equal(parseIpAddress('192.0.2.1'), Uint8Array.of(192, 0, 2, 1));
  assert.is(parseIpAddress('256.0.0.1'), undefined);
  assert.is(parseIpAddress('localhost'), undefined);
  assert.is(parseIpAddress('1:2:3'), undefined);
  assert.is(parseIpAddress('1::2::3'), undefined);
  const v6 = (s: string) => formatIpv6(parseIpAddress(s)!);
  assert.is(v6('::1'), '::1');
  assert.is(v6('[::]'), '::');
  assert.is(v6('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.is(v6('::ffff:192.0.2.1'), '::ffff:c000:201');
  assert.is(v6('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8');
  assert.is(v6('1:0:3:4:5:6:7:8'), '1:0:3:4:5:6:7:8');
});

// --- private keys made by openssl ------------------------------------------------------

const accepted: { name: string; args: string[]; label: string; algorithm: string; bits: number }[] = [
  { name: 'pkcs8-p256', args: ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], label: 'PRIVATE KEY', algorithm: 'ecdsa-p256', bits: 256 },
  { name: 'pkcs8-p384', args: ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], label: 'PRIVATE KEY', algorithm: 'ecdsa-p384', bits: 384 },
  { name: 'pkcs8-rsa', args: ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], label: 'PRIVATE KEY', algorithm: 'rsa', bits: 2048 },
  { name: 'pkcs8-rsa3072', args: ['genrsa', '3072'], label: 'PRIVATE KEY', algorithm: 'rsa', bits: 3072 },
  { name: 'pkcs8-ed25519', args: ['genpkey', '-algorithm', 'ed25519'], label: 'PRIVATE KEY', algorithm: 'ed25519', bits: 256 },
  { name: 'sec1-p256', args: ['ecparam', '-genkey', '-name', 'prime256v1', '-noout'], label: 'EC PRIVATE KEY', algorithm: 'ecdsa-p256', bits: 256 },
  { name: 'sec1-p384-params', args: ['ecparam', '-genkey', '-name', 'secp384r1'], label: 'EC PARAMETERS', algorithm: 'ecdsa-p384', bits: 384 },
  { name: 'pkcs1-rsa', args: ['genrsa', '-traditional', '2048'], label: 'RSA PRIVATE KEY', algorithm: 'rsa', bits: 2048 },
];

for (const k of accepted) {
  test(`parsePrivateKey accepts openssl ${k.name}; openssl reads the PKCS#8 back; loadKeyPair matches an openssl certificate`, async () => {
    const pem = make(`${k.name}.pem`, k.args);
    assert.ok(pem.startsWith(`-----BEGIN ${k.label}-----`), pem.slice(0, 40));
    const key = parsePrivateKey(pem, `tlsproxy_tls_key_file=${k.name}.pem`);
    assert.is(key.algorithm, k.algorithm);
    assert.is(key.bits, k.bits);
    assert.is(key.curveName, k.algorithm.startsWith('ecdsa') ? (k.bits === 256 ? 'P-256' : 'P-384') : undefined);
    write(`${k.name}.der`, key.pkcs8);
    // openssl parses our PKCS#8 as a plain PrivateKeyInfo and finds the same public key.
    assert.is(pubOf(`${k.name}.der`, 'DER'), pubOf(`${k.name}.pem`));
    assert.match(openssl(['asn1parse', '-inform', 'DER', '-in', `${k.name}.der`]), /:00\s*\n[\s\S]*OBJECT/);

    openssl(['req', '-x509', '-new', '-key', `${k.name}.pem`, '-subj', `/CN=${k.name}.example`, '-days', '1', '-out', `${k.name}-cert.pem`]);
    const certPem = read(`${k.name}-cert.pem`);
    const loaded = await loadKeyPair({ certPem, certSource: 'c', keyPem: pem, keySource: 'k' });
    assert.equal(loaded.names, [`${k.name}.example`]);
    // Postfix allows the key and the certificate in one file.
    const both = pem + certPem;
    const one = await loadKeyPair({ certPem: both, certSource: 'f', keyPem: both, keySource: 'f' });
    assert.is(one.source, 'f');
    assert.is(one.chain.length, 1);
  });
}

// --- refusals ---------------------------------------------------------------------------

const SRC = 'tlsproxy_tls_key_file=/etc/x.pem';
const ENCRYPTED = /: encrypted private keys are not supported: decrypt it with openssl pkey$/;

test('refuses encrypted PKCS#8 and legacy encrypted PEM keys', () => {
  const p8 = make('enc-p8.pem', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', 'pass:x']);
  assert.ok(p8.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'));
  refuses(() => parsePrivateKey(p8, SRC), SRC, ENCRYPTED);
  const legacy = make('enc-legacy.pem', ['genrsa', '-traditional', '-aes256', '-passout', 'pass:x', '2048']);
  assert.match(legacy, /Proc-Type: 4,ENCRYPTED/);
  refuses(() => parsePrivateKey(legacy, SRC), SRC, ENCRYPTED);
});

test('refuses DSA keys and DSA certificates', async () => {
  openssl(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:2048', '-out', 'dsa-params.pem']);
  const dsa = make('dsa.pem', ['genpkey', '-paramfile', 'dsa-params.pem']);
  refuses(() => parsePrivateKey(dsa, SRC), SRC, /DSA keys are not supported/);
  const legacy = openssl(['pkey', '-in', 'dsa.pem', '-traditional']);
  assert.ok(legacy.startsWith('-----BEGIN DSA PRIVATE KEY-----'));
  refuses(() => parsePrivateKey(legacy, SRC), SRC, /DSA keys are not supported/);
  openssl(['req', '-x509', '-new', '-key', 'dsa.pem', '-subj', '/CN=dsa.example', '-days', '1', '-out', 'dsa-cert.pem']);
  const info = parseCertificate(parseCertificateChain(read('dsa-cert.pem'), 'x')[0]!);
  assert.is(info.keyAlgorithm, 'dsa');
  assert.is(info.keyBits, 2048);
  await refusesAsync(() => loadKeyPair({ certPem: read('dsa-cert.pem'), certSource: 'cert.pem', keyPem: dsa, keySource: 'key.pem' }),
    'cert.pem', /DSA certificates are not supported/);
});

test('refuses small RSA keys and unsupported curves, saying which', () => {
  const rsa1024 = make('rsa1024.pem', ['genrsa', '1024']);
  refuses(() => parsePrivateKey(rsa1024, SRC), SRC, /RSA key of 1024 bits is too small: at least 2048 bits/);
  const rsa1024t = make('rsa1024t.pem', ['genrsa', '-traditional', '1024']);
  refuses(() => parsePrivateKey(rsa1024t, SRC), SRC, /RSA key of 1024 bits is too small/);
  const p521 = make('p521.pem', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521']);
  refuses(() => parsePrivateKey(p521, SRC), SRC, /EC curve P-521 \(secp521r1\) is not supported: use P-256 or P-384/);
  const p521sec1 = make('p521sec1.pem', ['ecparam', '-genkey', '-name', 'secp521r1', '-noout']);
  refuses(() => parsePrivateKey(p521sec1, SRC), SRC, /P-521/);
  const k1 = make('k1.pem', ['ecparam', '-genkey', '-name', 'secp256k1', '-noout']);
  refuses(() => parsePrivateKey(k1, SRC), SRC, /EC curve secp256k1 is not supported/);
  const explicitParams = make('explicit.pem', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-param_enc', 'explicit']);
  refuses(() => parsePrivateKey(explicitParams, SRC), SRC, /explicit EC curve parameters are not supported/);
  const ed448 = make('ed448.pem', ['genpkey', '-algorithm', 'ed448']);
  refuses(() => parsePrivateKey(ed448, SRC), SRC, /Ed448 keys are not supported/);
  const x25519 = make('x25519.pem', ['genpkey', '-algorithm', 'x25519']);
  refuses(() => parsePrivateKey(x25519, SRC), SRC, /X25519 keys are not supported/);
});

test('refuses garbage, empty files, several keys and files without a key', async () => {
  refuses(() => parsePrivateKey('', SRC), SRC, /empty/);
  refuses(() => parsePrivateKey(' \n\n', SRC), SRC, /empty/);
  refuses(() => parsePrivateKey('this is not a key\n', SRC), SRC, /no PEM data found/);
  refuses(() => parsePrivateKey(toPem('PRIVATE KEY', Uint8Array.of(1, 2, 3, 4, 5)), SRC), SRC, /PKCS#8 PrivateKeyInfo is followed by 1 bytes of unexpected data/);
  refuses(() => parsePrivateKey(toPem('PRIVATE KEY', Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)), SRC), SRC, /PrivateKeyInfo has 1 elements/);
  const trunc = read('pkcs8-p256.pem').split('\n').slice(0, 3).join('\n');
  refuses(() => parsePrivateKey(trunc, SRC), SRC, /has no "-----END PRIVATE KEY-----" line/);
  const a = read('pkcs8-p256.pem');
  const b = read('pkcs8-ed25519.pem');
  refuses(() => parsePrivateKey(a + b, SRC), SRC, /found 2 private keys, expected exactly one/);
  refuses(() => parsePrivateKey(read('pkcs8-p256-cert.pem'), SRC), SRC, /no private key found \(the file holds: CERTIFICATE\)/);
  refuses(() => parseCertificateChain(a, 'tlsproxy_tls_cert_file=/etc/c.pem'), 'tlsproxy_tls_cert_file=/etc/c.pem',
    /no certificate found \(the file holds: PRIVATE KEY\)/);
  refuses(() => parseCertificateChain('', 'c'), 'c', /empty/);
  await refusesAsync(() => loadKeyPair({ certPem: toPem('CERTIFICATE', Uint8Array.of(0x30, 0)), certSource: 'c', keyPem: a, keySource: 'k' }),
    'c', /certificate 1 of 1 is invalid/);
});

test('loadKeyPair: a key from another pair is refused naming both files', async () => {
  const { servers } = await pki();
  const other = await generateServerCertificate((await pki()).ca, { algorithm: 'ecdsa-p256', names: ['other.example'] });
  const msg = await refusesAsync(() => loadKeyPair({
    certPem: servers['ecdsa-p256'].chainPem, certSource: 'tlsproxy_tls_cert_file=/etc/a.pem',
    keyPem: other.keyPem, keySource: 'tlsproxy_tls_key_file=/etc/b.pem',
  }), 'tlsproxy_tls_key_file=/etc/b.pem', /does not match the certificate in tlsproxy_tls_cert_file=\/etc\/a\.pem/);
  assert.match(msg, /test signature/);
  for (const [cert, key] of [['rsa-2048', 'ecdsa-p256'], ['ed25519', 'rsa-2048'], ['ecdsa-p384', 'ecdsa-p256']] as const) {
    await refusesAsync(() => loadKeyPair({
      certPem: servers[cert].chainPem, certSource: 'cert.pem', keyPem: servers[key].keyPem, keySource: 'key.pem',
    }), 'key.pem', /does not match the certificate in cert\.pem/);
  }
  // RSA: same size, different modulus.
  const rsa = await generateServerCertificate((await pki()).ca, { algorithm: 'rsa-2048', names: ['x.example'] });
  await refusesAsync(() => loadKeyPair({
    certPem: servers['rsa-2048'].chainPem, certSource: 'cert.pem', keyPem: rsa.keyPem, keySource: 'key.pem',
  }), 'key.pem', /does not match the certificate in cert\.pem/);
  // Ed25519 as well.
  const ed = await generateServerCertificate((await pki()).ca, { algorithm: 'ed25519', names: ['x.example'] });
  await refusesAsync(() => loadKeyPair({
    certPem: servers.ed25519.chainPem, certSource: 'cert.pem', keyPem: ed.keyPem, keySource: 'key.pem',
  }), 'key.pem', /does not match/);
});

test('loadKeyPair: chains longer than 10 certificates are refused', async () => {
  const { ca, servers } = await pki();
  const s = servers['ecdsa-p256'];
  const ok = await loadKeyPair({ certPem: s.certPem + ca.certPem.repeat(9), certSource: 'c', keyPem: s.keyPem, keySource: 'k' });
  assert.is(ok.chain.length, 10);
  await refusesAsync(() => loadKeyPair({ certPem: s.certPem + ca.certPem.repeat(10), certSource: 'c', keyPem: s.keyPem, keySource: 'k' }),
    'c', /11 certificates: at most 10 are supported/);
});

// --- certificates made by openssl ----------------------------------------------------------

test('parseCertificate: DNs, names, dates, key and fingerprint of an openssl certificate', async () => {
  openssl(['req', '-x509', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ossl-key.pem', '-out', 'ossl.pem', '-days', '7',
    '-subj', '/C=US/O=Example Org/CN=mail.example.org',
    '-addext', 'subjectAltName=DNS:mail.example.org,DNS:MX.Example.ORG,IP:192.0.2.1,email:x@example.org']);
  const chain = parseCertificateChain(read('ossl.pem'), 'ossl.pem');
  assert.is(chain.length, 1);
  const info = parseCertificate(chain[0]!);
  assert.is(info.subject, '/C=US/O=Example Org/CN=mail.example.org');
  assert.is(info.issuer, '/C=US/O=Example Org/CN=mail.example.org');
  assert.is(`subject=${info.subject}\n`, openssl(['x509', '-in', 'ossl.pem', '-noout', '-subject', '-nameopt', 'compat']));
  assert.is(info.subjectCN, 'mail.example.org');
  assert.equal(info.dnsNames, ['mail.example.org', 'mx.example.org']);
  assert.equal(info.ipAddresses, ['192.0.2.1']);
  assert.equal(certificateNames(info), ['mail.example.org', 'mx.example.org']);
  assert.is(info.keyAlgorithm, 'rsa');
  assert.is(info.keyBits, 2048);
  assert.is(info.version, 3);
  assert.ok(info.selfIssued);
  assert.ok(info.isCA); // openssl req -x509 adds CA:TRUE
  const dates = openssl(['x509', '-in', 'ossl.pem', '-noout', '-startdate', '-enddate']);
  assert.is(info.notBefore.getTime(), new Date(/notBefore=(.*)/.exec(dates)![1]!).getTime());
  assert.is(info.notAfter.getTime(), new Date(/notAfter=(.*)/.exec(dates)![1]!).getTime());
  assert.is(info.serialNumber, openssl(['x509', '-in', 'ossl.pem', '-noout', '-serial']).trim().replace('serial=', '').toLowerCase()
    .padStart(info.serialNumber.length, '0'));
  const spkiDer = execFileSync('openssl', ['pkey', '-in', path.join(tmp, 'ossl-key.pem'), '-pubout', '-outform', 'DER']);
  assert.equal(info.spki, new Uint8Array(spkiDer));
  const fp = openssl(['x509', '-in', 'ossl.pem', '-noout', '-fingerprint', '-sha256']).trim().split('=')[1];
  assert.is(await certificateFingerprint(info.der), fp);
  const pkfp = execFileSync('openssl', ['dgst', '-sha256', '-c'], { input: spkiDer, encoding: 'utf8' }).trim().split('= ')[1]!;
  assert.is(await publicKeyFingerprint(info.spki), pkfp.toUpperCase());
});

test('parseCertificate: multi-valued RDNs, UTF-8, several CNs, no SAN, EC key', () => {
  openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', 'utf-key.pem',
    '-out', 'utf.pem', '-days', '2', '-utf8', '-subj', '/C=DE/O=Example Org+OU=Mail/CN=Other.example/CN=Müller.Example',
    '-addext', 'basicConstraints=CA:FALSE']);
  const info = parseCertificate(parseCertificateChain(read('utf.pem'), 'utf.pem')[0]!);
  assert.is(`subject=${info.subject}\n`, openssl(['x509', '-in', 'utf.pem', '-noout', '-subject', '-nameopt', 'compat']));
  assert.match(info.subject, /\\xC3\\xBC/);
  assert.is(info.subjectCN, 'Müller.Example');
  assert.equal(info.dnsNames, []);
  assert.equal(certificateNames(info), ['müller.example']);
  assert.is(info.keyAlgorithm, 'ecdsa-p384');
  assert.is(info.curveName, 'P-384');
  assert.not.ok(info.isCA);
});

test('parseCertificate: P-521 and Ed448 certificates are described, and refused by loadKeyPair', async () => {
  openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521', '-nodes', '-keyout', 'p521c-key.pem',
    '-out', 'p521c.pem', '-days', '1', '-subj', '/CN=p521.example']);
  const info = parseCertificate(parseCertificateChain(read('p521c.pem'), 'x')[0]!);
  assert.is(info.keyAlgorithm, 'unknown');
  assert.is(info.keyBits, 521);
  assert.match(info.curveName ?? '', /P-521/);
  await refusesAsync(() => loadKeyPair({ certPem: read('p521c.pem'), certSource: 'c', keyPem: read('p521c-key.pem'), keySource: 'k' }),
    'c', /ECDSA P-521 \(secp521r1\) keys are not supported/);
});

// --- certs command ------------------------------------------------------------------------

test('writeTestPki writes the CA, four server chains and keys with the right modes', async () => {
  const dir = path.join(tmp, 'new', 'pki');
  const files = await writeTestPki(dir);
  const names = files.map((f) => path.basename(f));
  assert.equal(names, [
    'ca.pem', 'ca-key.pem',
    'server-ecdsa-p256.pem', 'server-ecdsa-p256-key.pem',
    'server-ecdsa-p384.pem', 'server-ecdsa-p384-key.pem',
    'server-rsa-2048.pem', 'server-rsa-2048-key.pem',
    'server-ed25519.pem', 'server-ed25519-key.pem',
  ]);
  assert.is(statSync(dir).mode & 0o777, 0o700);
  assert.equal(readdirSync(dir).sort(), [...names].sort());
  for (const f of files) {
    assert.is(path.dirname(f), dir);
    assert.is(statSync(f).mode & 0o777, f.endsWith('-key.pem') ? 0o600 : 0o644, f);
  }
  const ca = path.join(dir, 'ca.pem');
  for (const alg of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519']) {
    const chainFile = path.join(dir, `server-${alg}.pem`);
    const chain = parseCertificateChain(readFileSync(chainFile, 'utf8'), chainFile);
    assert.is(chain.length, 2);
    assert.equal(chain[1], parseCertificateChain(readFileSync(ca, 'utf8'), ca)[0]);
    assert.match(openssl(['verify', '-CAfile', ca, chainFile]), /OK/);
    assert.is(pubOf(path.join(dir, `server-${alg}-key.pem`)), openssl(['x509', '-in', chainFile, '-noout', '-pubkey']));
    const loaded = await loadKeyPair({
      certPem: readFileSync(chainFile, 'utf8'), certSource: chainFile,
      keyPem: readFileSync(path.join(dir, `server-${alg}-key.pem`), 'utf8'), keySource: 'key',
    });
    assert.equal(loaded.names, ['localhost']);
  }
  assert.is(pubOf(path.join(dir, 'ca-key.pem')), openssl(['x509', '-in', ca, '-noout', '-pubkey']));
  // Running again replaces the files and keeps the modes.
  const again = await writeTestPki(dir);
  assert.equal(again, files);
  for (const f of files) assert.is(statSync(f).mode & 0o777, f.endsWith('-key.pem') ? 0o600 : 0o644);
});

// --- purity -----------------------------------------------------------------------------------

test('certs/ uses no Node APIs: no node: imports, no Buffer', () => {
  const dir = path.join(root, 'certs');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 7);
  for (const f of files) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    assert.not.match(text, /['"]node:/, `${f} imports a node: module`);
    assert.not.match(text, /\bBuffer\b/, `${f} uses Buffer`);
    assert.not.match(text, /\brequire\(|\bprocess\./, `${f} uses require or process`);
    assert.not.match(text, /from ['"](fs|path|os|crypto|child_process)['"]/, `${f} imports a Node built-in`);
  }
});

test('generateTestPki with custom names; the CA is usable as an IssuingCa from PEM only', async () => {
  const { ca } = await pki();
  const pemOnly: GeneratedCa = { certPem: ca.certPem, keyPem: ca.keyPem, cert: parseCertificateChain(ca.certPem, 'ca')[0]! };
  const s = await generateServerCertificate({ certPem: pemOnly.certPem, keyPem: pemOnly.keyPem }, { algorithm: 'ecdsa-p256', names: ['a.example'] });
  assert.is(parseCertificate(s.cert).issuer, '/O=tlsproxy/CN=tlsproxy test CA');
  write('pemonly-ca.pem', ca.certPem);
  write('pemonly-leaf.pem', s.certPem);
  assert.match(openssl(['verify', '-CAfile', 'pemonly-ca.pem', 'pemonly-leaf.pem']), /OK/);
});


test('loadKeyPair with checkPair: the caller decides the pair test; false is a mismatch, a throw says signing failed', async () => {
  const ca = await generateCa({ commonName: 'Pair CA' });
  const server = await generateServerCertificate(ca, { algorithm: 'ecdsa-p256', names: ['localhost'] });
  const seen: string[] = [];
  const ok = await loadKeyPair({
    certPem: server.chainPem, certSource: 'cert', keyPem: server.keyPem, keySource: 'key',
    checkPair: async (key, spki) => (seen.push(`${key.algorithm} ${spki.length}`), true),
  });
  assert.equal(seen, ['ecdsa-p256 91'], 'called once with the key and the leaf SPKI');
  assert.is(ok.source, 'cert, key');
  await loadKeyPair({ certPem: server.chainPem, certSource: 'cert', keyPem: server.keyPem, keySource: 'key', checkPair: async () => false }).then(
    () => assert.unreachable('a failed pair test must refuse the pair'),
    (e: Error) => assert.match(e.message, /key: the private key does not match the certificate in cert \(a test signature made with the key does not verify/),
  );
  await loadKeyPair({ certPem: server.chainPem, certSource: 'cert', keyPem: server.keyPem, keySource: 'key', checkPair: async () => { throw new Error('no such scheme'); } }).then(
    () => assert.unreachable('a pair test that throws must refuse the pair'),
    (e: Error) => assert.match(e.message, /signing with the private key failed/),
  );
});

test.run();
