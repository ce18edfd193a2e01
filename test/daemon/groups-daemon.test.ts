/**
 * Key exchange groups through the REAL daemon with Postfix 3.11's defaults
 * (tls_eecdh_auto_curves = ?X25519MLKEM768:DEFAULT, tls_ffdhe_auto_groups
 * empty), and the summary line naming the group as Postfix 3.10+ with
 * OpenSSL 3.5 does (tls_misc.c tls_log_summary: "key-exchange" and the
 * library's group name, SSL_get0_group_name):
 *
 *  - Node 24 (OpenSSL 3.5, from .cache/node24 when installed) with
 *    ecdhCurve X25519MLKEM768:X25519: key-exchange X25519MLKEM768;
 *  - Node 24 with X25519:X25519MLKEM768 (an X25519 share only): a
 *    HelloRetryRequest for the hybrid, then key-exchange X25519MLKEM768;
 *  - openssl s_client 3.0 (no ML-KEM): key-exchange x25519; with
 *    -groups ffdhe2048 (TLS 1.3 FFDHE): key-exchange ffdhe2048;
 *  - gnutls-cli with FFDHE3072 only: key-exchange ffdhe3072;
 *  - TLS 1.2: no key-exchange detail, as in Postfix.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonProc, gnutlsCli, sClient, served, stopAllDaemons, type Served } from '../helpers/daemon-proc.js';
import { node24, node24Connect } from '../helpers/node24.js';
import { certMainCf, echoBackend, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';

let backend: TestBackend;
let daemon: DaemonProc;
let ca: string;
let caPem: string;

test.before(async () => {
  backend = await echoBackend();
  const pki = await testPki();
  ca = pki.ca;
  caPem = pki.caPem;
  daemon = await DaemonProc.start(writeConfig(await certMainCf(), `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`));
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

const show = (s: Served) => `${s.out}\n--- daemon:\n${s.lines.map((l) => l.text).join('\n')}`;
function summary(s: Served): string {
  const l = s.lines.find((x) => /TLS connection established from/.test(x.text));
  assert.ok(l, show(s));
  return l!.text;
}

test('Node 24 X25519MLKEM768:X25519: "key-exchange X25519MLKEM768" in the summary line', async () => {
  const bin = node24();
  if (!bin) return;
  let r: Awaited<ReturnType<typeof node24Connect>> | undefined;
  const s = await served(daemon, async () => {
    r = await node24Connect(bin, daemon.port, { ecdhCurve: 'X25519MLKEM768:X25519', ca: caPem });
    return { out: JSON.stringify(r), code: 0 };
  });
  assert.is(r!.error, undefined);
  assert.is(r!.hrr, false);
  assert.match(summary(s), /: TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256\/256 bits\) key-exchange X25519MLKEM768 server-signature /);
});

test('Node 24 X25519:X25519MLKEM768 (X25519 share only): HelloRetryRequest, then key-exchange X25519MLKEM768', async () => {
  const bin = node24();
  if (!bin) return;
  let r: Awaited<ReturnType<typeof node24Connect>> | undefined;
  const s = await served(daemon, async () => {
    r = await node24Connect(bin, daemon.port, { ecdhCurve: 'X25519:X25519MLKEM768', ca: caPem });
    return { out: JSON.stringify(r), code: 0 };
  });
  assert.is(r!.error, undefined);
  assert.is(r!.hrr, true, 'the client saw a HelloRetryRequest');
  assert.match(summary(s), / key-exchange X25519MLKEM768 server-signature /);
});

test('openssl s_client 3.0 (no ML-KEM): key-exchange x25519; -groups ffdhe2048: key-exchange ffdhe2048', async () => {
  const a = await served(daemon, () => sClient(daemon.port, ['-CAfile', ca, '-tls1_3']));
  assert.match(summary(a), / key-exchange x25519 server-signature /);
  const b = await served(daemon, () => sClient(daemon.port, ['-CAfile', ca, '-tls1_3', '-groups', 'ffdhe2048']));
  assert.match(b.out, /Server Temp Key: DH, 2048 bits/);
  assert.match(summary(b), / key-exchange ffdhe2048 server-signature /);
});

test('gnutls-cli with only FFDHE3072 in TLS 1.3: key-exchange ffdhe3072', async () => {
  const s = await served(daemon, () => gnutlsCli(daemon.port, ca, 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-FFDHE3072'));
  assert.match(s.out, /\(DHE-FFDHE3072\)/);
  assert.match(summary(s), / key-exchange ffdhe3072 server-signature /);
});

test('TLS 1.2: no key-exchange detail (Postfix logs it for TLS 1.3 only)', async () => {
  const s = await served(daemon, () => sClient(daemon.port, ['-CAfile', ca, '-tls1_2']));
  const line = summary(s);
  assert.match(line, /: TLSv1\.2 with cipher ECDHE-/);
  assert.not.match(line, /key-exchange/);
});

test.run();
