/**
 * TLS 1.2 through the REAL daemon (bin/tlsproxy.js as a child process,
 * one process: master.cf maxproc 1) with real clients, data through to an
 * echo backend:
 *
 *  - openssl s_client -tls1_2: every TLS 1.2 suite, each ECDHE suite with
 *    every group (X25519, P-256, P-384); DHE-RSA with the default group
 *    (ffdhe2048) and with tlsproxy_tls_dh1024_param_file (the prime seen
 *    in the ServerKeyExchange is the file's);
 *  - node:tls pinned to TLS 1.2 (maxVersion) for a few suites;
 *  - the summary line for each connection.
 */

import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certMainCf, echoBackend, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, nodeTls, sClient, served, stopAllDaemons } from '../helpers/daemon-proc.js';

const fixture = (n: string) => new URL(`../fixtures/${n}`, import.meta.url).pathname;

const ECDHE_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
];
const DHE_SUITES = ['DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384'];
/**
 * -groups list → what s_client prints as "Server Temp Key". P-256 comes
 * second with X25519 and P-384: in TLS 1.2 the ECDSA certificate's curve
 * (P-256 here) must be one the client lists (RFC 8422 §5.1), and OpenSSL
 * aborts with "wrong curve" otherwise. (The engine does not check this:
 * see the skipped test at the end.)
 */
const GROUPS: [string, RegExp][] = [
  ['X25519:P-256', /Server Temp Key: X25519, 253 bits/],
  ['P-256', /Server Temp Key: ECDH, prime256v1, 256 bits/],
  ['P-384:P-256', /Server Temp Key: ECDH, secp384r1, 384 bits/],
];
const BITS: Record<string, string> = { AES128: '128/128', AES256: '256/256', CHACHA20: '256/256' };

let backend: TestBackend;
let ca: string;
let caPem: string;
let daemon: DaemonProc;
let dhDaemon: DaemonProc;

async function startDaemon(extra = ''): Promise<DaemonProc> {
  const dir = writeConfig(await certMainCf(`tlsproxy_tls_loglevel = 2\n${extra}`), `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`);
  return DaemonProc.start(dir);
}

test.before(async () => {
  backend = await echoBackend();
  const pki = await testPki();
  ca = pki.ca;
  caPem = pki.caPem;
  [daemon, dhDaemon] = await Promise.all([startDaemon(), startDaemon(`tlsproxy_tls_dh1024_param_file = ${fixture('dh2048.pem')}`)]);
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

test('one process: no worker processes', () => {
  assert.equal(daemon.workerPids(), []);
  assert.ok(daemon.log.every((l) => l.pid === daemon.pid));
});

test('openssl s_client -tls1_2: every ECDHE suite with every group, data through to the backend', async () => {
  for (const suite of ECDHE_SUITES) {
    for (const [group, tempKey] of GROUPS) {
      const line = `ping ${suite} ${group}\n`;
      const r = await served(daemon, () => sClient(daemon.port, ['-tls1_2', '-cipher', suite, '-groups', group, '-CAfile', ca, '-verify_return_error'], line));
      const what = `${suite} ${group}:\n${r.out}`;
      assert.is(r.code, 0, what);
      assert.match(r.out, `New, TLSv1.2, Cipher is ${suite}`, what);
      assert.match(r.out, tempKey, what);
      assert.match(r.out, 'Verify return code: 0 (ok)', what);
      assert.match(r.out, line, what);
      const bits = BITS[suite.split('-')[2]!]!;
      assert.ok(
        r.lines.some((l) => new RegExp(`^Anonymous TLS connection established from \\[127\\.0\\.0\\.1\\]:\\d+: TLSv1\\.2 with cipher ${suite} \\(${bits} bits\\)$`).test(l.text)),
        `summary line for ${suite}: ${r.lines.map((l) => l.text).join('\n')}`,
      );
    }
  }
});

/** The DH prime in s_client -msg's ServerKeyExchange dump: the hex after the 4-byte header and the 2-byte length. */
function serverKeyExchangePrimeStart(out: string): string {
  const m = /ServerKeyExchange\n((?:\s{4}[0-9a-f ]+\n)+)/.exec(out);
  assert.ok(m, `no ServerKeyExchange dump:\n${out}`);
  const bytes = m![1]!.trim().split(/\s+/);
  return bytes.slice(6, 14).join('');
}

test('DHE-RSA suites: ffdhe2048 when no DH parameter file is set', async () => {
  for (const suite of DHE_SUITES) {
    const r = await served(daemon, () => sClient(daemon.port, ['-tls1_2', '-cipher', suite, '-CAfile', ca, '-verify_return_error', '-msg'], `ping ${suite}\n`));
    assert.is(r.code, 0, r.out);
    assert.match(r.out, `New, TLSv1.2, Cipher is ${suite}`);
    assert.match(r.out, 'Server Temp Key: DH, 2048 bits');
    assert.match(r.out, `ping ${suite}`);
    // RFC 7919 ffdhe2048 starts with 64 one bits.
    assert.is(serverKeyExchangePrimeStart(r.out), 'ffffffffffffffff');
    assert.ok(r.lines.some((l) => l.text.endsWith(`TLS 1.2 server flight: ${suite}, DHE 2048 bits`)), r.lines.map((l) => l.text).join('\n'));
  }
});

test('DHE-RSA suites: the prime of tlsproxy_tls_dh1024_param_file', async () => {
  // The fixture's prime (PKCS #3 DER: SEQUENCE, INTEGER of 257 bytes with a leading zero).
  const der = Buffer.from(readFileSync(fixture('dh2048.pem'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const expected = der.subarray(9, 17).toString('hex');
  assert.not.equal(expected, 'ffffffffffffffff');
  for (const suite of DHE_SUITES) {
    const r = await served(dhDaemon, () => sClient(dhDaemon.port, ['-tls1_2', '-cipher', suite, '-CAfile', ca, '-verify_return_error', '-msg'], `ping ${suite}\n`));
    assert.is(r.code, 0, r.out);
    assert.match(r.out, `New, TLSv1.2, Cipher is ${suite}`);
    assert.match(r.out, 'Server Temp Key: DH, 2048 bits');
    assert.match(r.out, `ping ${suite}`);
    assert.is(serverKeyExchangePrimeStart(r.out), expected);
  }
});

test('node:tls with maxVersion TLSv1.2: a few suites and curves', async () => {
  const cases: [string, string][] = [
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 'X25519:P-256'],
    ['ECDHE-RSA-AES256-GCM-SHA384', 'P-384'],
    ['ECDHE-ECDSA-CHACHA20-POLY1305', 'P-256'],
    ['ECDHE-RSA-CHACHA20-POLY1305', 'X25519'],
    ['DHE-RSA-AES128-GCM-SHA256', 'X25519'],
  ];
  for (const [suite, curve] of cases) {
    const line = `node ${suite}\n`;
    let res!: Awaited<ReturnType<typeof nodeTls>>;
    const r = await served(daemon, async () => {
      res = await nodeTls(daemon.port, caPem, { maxVersion: 'TLSv1.2', ciphers: suite, ecdhCurve: curve }, line);
      return { out: res.out, code: 0 };
    });
    assert.is(res.protocol, 'TLSv1.2');
    assert.is(res.cipher, suite);
    assert.is(res.out, line);
    assert.ok(r.lines.some((l) => l.text.includes(`TLSv1.2 with cipher ${suite}`)));
  }
});

// RFC 8422 §5.1: an ECDSA certificate whose curve the client does not list
// is not usable; the engine falls back to ECDHE-RSA.
test('TLS 1.2 client listing only X25519 gets ECDHE-RSA (the ECDSA P-256 certificate is not usable)', async () => {
  const r = await served(daemon, () => sClient(daemon.port, ['-tls1_2', '-groups', 'X25519', '-CAfile', ca, '-verify_return_error']));
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /New, TLSv1\.2, Cipher is ECDHE-RSA-/);
});

test('log lines are Postfix lines', () => {
  assert.equal(daemon.junk, []);
  assert.equal(dhDaemon.junk, []);
});

test.run();
