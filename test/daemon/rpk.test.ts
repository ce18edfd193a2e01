/**
 * RFC 7250 raw public keys through the REAL daemon with gnutls-cli (GnuTLS
 * 3.7, `--priority ...:-CTYPE-ALL:+CTYPE-SRV-RAWPK` and `--rawpkkeyfile` /
 * `--rawpkfile`), TLS 1.3 and TLS 1.2:
 *
 *  - the server sends its raw public key to a client that prefers one
 *    (gnutls: "Certificate type: Raw Public Key"), X.509 otherwise;
 *  - with tlsproxy_tls_ask_ccert and tlsproxy_tls_enable_rpk, the client's
 *    raw key is asked for, its CertificateVerify checked, and its
 *    public-key fingerprint logged (`raw public key fingerprint=...`); it is
 *    Trusted when relay_clientcerts lists that fingerprint, else Untrusted;
 *  - without tlsproxy_tls_enable_rpk, a client that offers only a raw key
 *    is refused with unsupported_certificate.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certMainCf, echoBackend, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, gnutlsCli, served, stopAllDaemons } from '../helpers/daemon-proc.js';

let backend: TestBackend;
let ca: string;
const dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-rpk-'));
const keyFile = path.join(dir, 'client-key.pem');
const pubFile = path.join(dir, 'client-pub.pem');
const otherKey = path.join(dir, 'other-key.pem');
const otherPub = path.join(dir, 'other-pub.pem');
let fingerprint = '';

function makeKey(key: string, pub: string): string {
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', pub, '-outform', 'DER']);
  return execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der }).toString().trim().split(/\s+/).pop()!.toUpperCase().match(/../g)!.join(':');
}

async function daemonWith(extra: string[]): Promise<DaemonProc> {
  const main = await certMainCf(['tlsproxy_tls_loglevel = 1', 'tlsproxy_tls_fingerprint_digest = sha256', ...extra].join('\n'));
  return DaemonProc.start(writeConfig(main, `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`));
}

test.before(async () => {
  backend = await echoBackend();
  ca = (await testPki()).ca;
  fingerprint = makeKey(keyFile, pubFile);
  makeKey(otherKey, otherPub);
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

const V13 = 'NORMAL:-VERS-ALL:+VERS-TLS1.3';
const V12 = 'NORMAL:-VERS-ALL:+VERS-TLS1.2';

test('the server sends its raw public key to a client that prefers one (TLS 1.3, TLS 1.2), X.509 to one that prefers X.509', async () => {
  const d = await daemonWith([]);
  for (const v of [V13, V12]) {
    const r = await served(d, () => gnutlsCli(d.port, ca, `${v}:-CTYPE-ALL:+CTYPE-SRV-RAWPK:+CTYPE-CLI-X509`, ['--insecure']));
    const what = `${v}\n${r.out}\n${r.lines.map((l) => l.text).join('\n')}`;
    assert.match(r.out, '- Certificate type: Raw Public Key', what);
    assert.match(r.out, /- Description: \(TLS1\.[23]-X\.509-Raw Public Key\)/, what);
    assert.match(r.out, /^ping$/m, what);
    assert.ok(r.lines.some((l) => /^Anonymous TLS connection established from/.test(l.text)), what);
    const x = await served(d, () => gnutlsCli(d.port, ca, `${v}:-CTYPE-ALL:+CTYPE-SRV-X509:+CTYPE-SRV-RAWPK`));
    assert.match(x.out, '- Certificate type: X.509', x.out);
    assert.match(x.out, '- Status: The certificate is trusted.', x.out);
  }
  await d.stop();
});

test('a client raw public key: asked for, its signature checked, Trusted when relay_clientcerts lists its fingerprint', async () => {
  const table = path.join(dir, 'clientcerts');
  writeFileSync(table, `# trusted raw keys\n${fingerprint} client-a\n`);
  const d = await daemonWith(['tlsproxy_tls_ask_ccert = yes', 'tlsproxy_tls_enable_rpk = yes', `relay_clientcerts = texthash:${table}`, 'tlsproxy_tls_loglevel = 2']);
  for (const v of [V13, V12]) {
    const prio = `${v}:-CTYPE-ALL:+CTYPE-SRV-X509:+CTYPE-CLI-RAWPK`;
    const r = await served(d, () => gnutlsCli(d.port, ca, prio, ['--rawpkkeyfile', keyFile, '--rawpkfile', pubFile]));
    const what = `${v}\n${r.out}\n${r.lines.map((l) => l.text).join('\n')}`;
    assert.match(r.out, /- Description: \(TLS1\.[23]-Raw Public Key-X\.509\)/, what);
    assert.match(r.out, /^ping$/m, what);
    assert.ok(r.lines.some((l) => l.text.endsWith(`: raw public key fingerprint=${fingerprint}`)), what);
    assert.ok(r.lines.some((l) => /^Trusted TLS connection established from .*client-signature ECDSA \(prime256v1\)/.test(l.text) || (v === V12 && /^Trusted TLS connection established from/.test(l.text))), what);
    const u = await served(d, () => gnutlsCli(d.port, ca, prio, ['--rawpkkeyfile', otherKey, '--rawpkfile', otherPub]));
    assert.match(u.out, /^ping$/m, u.out);
    assert.ok(u.lines.some((l) => /^Untrusted TLS connection established from/.test(l.text)), u.lines.map((l) => l.text).join('\n'));
  }
  await d.stop();
});

test('without tlsproxy_tls_enable_rpk, a client that can only send a raw key gets unsupported_certificate', async () => {
  const d = await daemonWith(['tlsproxy_tls_ask_ccert = yes']);
  const r = await served(d, () => gnutlsCli(d.port, ca, `${V13}:-CTYPE-ALL:+CTYPE-SRV-X509:+CTYPE-CLI-RAWPK`, ['--rawpkkeyfile', keyFile, '--rawpkfile', pubFile]));
  const what = `${r.out}\n${r.lines.map((l) => l.text).join('\n')}`;
  assert.not.match(r.out, '- Handshake was completed', what);
  assert.ok(r.lines.some((l) => /unsupported.certificate|no client certificate type in common/.test(l.text)), what);
  await d.stop();
});

test.run();
