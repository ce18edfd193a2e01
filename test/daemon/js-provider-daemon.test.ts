/**
 * The real daemon (bin/tlsproxy.js, one process) with
 * `tlsproxy_crypto_provider = js` (docs/js-provider.md): ECDSA P-256 and
 * RSA-2048 certificates, openssl s_client in TLS 1.3 (ChaCha20-Poly1305,
 * RSA-PSS) and TLS 1.2 (ECDHE-RSA-CHACHA20-POLY1305, DHE-RSA over BigInt),
 * data through to the backend, Postfix's summary lines.
 * (test/engine/js-provider-isolated.test.ts runs the engine on this provider
 * with node:crypto and WebCrypto unreachable.)
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certMainCf, echoBackend, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, sClient, served, stopAllDaemons } from '../helpers/daemon-proc.js';

let backend: TestBackend;
let ca: string;
let daemon: DaemonProc;

test.before(async () => {
  backend = await echoBackend();
  ca = (await testPki()).ca;
  const dir = writeConfig(await certMainCf('tlsproxy_crypto_provider = js'), `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`);
  daemon = await DaemonProc.start(dir);
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

const CASES: [string, string[], RegExp[], RegExp][] = [
  [
    'TLS 1.3 ChaCha20-Poly1305, ECDSA P-256',
    ['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256', '-groups', 'X25519'],
    [/New, TLSv1\.3, Cipher is TLS_CHACHA20_POLY1305_SHA256/, /Peer signature type: ECDSA/],
    /TLSv1\.3 with cipher TLS_CHACHA20_POLY1305_SHA256 \(256\/256 bits\)/,
  ],
  [
    'TLS 1.3 AES-256-GCM, RSA-PSS, P-384',
    ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384', '-groups', 'P-384', '-sigalgs', 'rsa_pss_rsae_sha256'],
    [/Cipher is TLS_AES_256_GCM_SHA384/, /Peer signature type: RSA-PSS/, /Server Temp Key: ECDH, secp384r1/],
    /TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256\/256 bits\)/,
  ],
  [
    'TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305',
    ['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305'],
    [/New, TLSv1\.2, Cipher is ECDHE-RSA-CHACHA20-POLY1305/],
    /TLSv1\.2 with cipher ECDHE-RSA-CHACHA20-POLY1305 \(256\/256 bits\)/,
  ],
  [
    'TLS 1.2 DHE-RSA-AES128-GCM-SHA256 (ffdhe2048 over BigInt)',
    ['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256'],
    [/Cipher is DHE-RSA-AES128-GCM-SHA256/, /Server Temp Key: DH, 2048 bits/],
    /TLSv1\.2 with cipher DHE-RSA-AES128-GCM-SHA256 \(128\/128 bits\)/,
  ],
];

for (const [what, args, expect, summary] of CASES) {
  test(`tlsproxy_crypto_provider = js: ${what}`, async () => {
    const line = `ping ${what}\n`;
    const r = await served(daemon, () => sClient(daemon.port, [...args, '-CAfile', ca, '-verify_return_error'], line));
    assert.is(r.code, 0, r.out);
    for (const re of expect) assert.match(r.out, re, r.out);
    assert.match(r.out, 'Verify return code: 0 (ok)');
    assert.match(r.out, line);
    assert.ok(
      r.lines.some((l) => /^Anonymous TLS connection established from \[127\.0\.0\.1\]:\d+: /.test(l.text) && summary.test(l.text)),
      r.lines.map((l) => l.text).join('\n'),
    );
  });
}

test.run();
