/**
 * tlsproxy_tls_keylog_file through the real daemon (two worker processes):
 * the file is created with mode 0600, the start-up warning is loud, and
 * the lines the workers write are those openssl s_client -keylogfile
 * writes for the same sessions (TLS 1.3: five secrets; TLS 1.2: the
 * master secret), so Wireshark can decrypt a capture with it. Off by
 * default: no file, no secrets.
 */

import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfiguration } from '../../proxy/config/configuration.js';
import { loadServices } from '../../proxy/supervisor/daemon.js';
import { ResumptionStore } from '../../proxy/tls/resumption.js';
import { DaemonProc, sClient, served, stopAllDaemons } from '../helpers/daemon-proc.js';
import { certMainCf, echoBackend, tempDir, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';

let backend: TestBackend;
let d: DaemonProc;
let dir: string;
let keyFile: string;
let ca: string;

test.before(async () => {
  backend = await echoBackend();
  ca = (await testPki()).ca;
  dir = tempDir('tlsproxy-keylog-d-');
  keyFile = path.join(dir, 'sslkeys.log');
  const conf = writeConfig(await certMainCf(`tlsproxy_tls_keylog_file = ${keyFile}`), `127.0.0.1:0 inet n - n - 2 tlsproxy -o tlsproxy_backend=${backend.address}`);
  d = await DaemonProc.start(conf);
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

/** NSS key log lines of a file, without comments, label upper case and hex lower case. */
function lines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [label, random, secret] = l.split(' ');
      return `${label!.toUpperCase()} ${random!.toLowerCase()} ${secret!.toLowerCase()}`;
    });
}

test('the file is created 0600 and the start-up warning says what it means', async () => {
  await d.waitFor(/^warning: tlsproxy_tls_keylog_file = \S+sslkeys\.log: TLS SESSION SECRETS ARE WRITTEN TO THIS FILE: whoever reads it can decrypt the traffic; for debugging only/);
  assert.ok(existsSync(keyFile));
  assert.is(statSync(keyFile).mode & 0o777, 0o600);
});

for (const [version, labels] of [
  ['-tls1_3', ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0', 'EXPORTER_SECRET']],
  ['-tls1_2', ['CLIENT_RANDOM']],
] as const) {
  test(`${version}: the lines match openssl s_client -keylogfile for the same session`, async () => {
    const theirs = path.join(dir, `openssl${version}.log`);
    const r = await served(d, () => sClient(d.port, [version, '-CAfile', ca, '-keylogfile', theirs], 'keylog\n'));
    assert.match(r.out, 'keylog');
    const their = lines(theirs);
    const random = their[0]!.split(' ')[1]!;
    const ours = lines(keyFile).filter((l) => l.split(' ')[1] === random);
    assert.equal(ours.map((l) => l.split(' ')[0]).sort(), [...labels].sort(), readFileSync(keyFile, 'utf8'));
    for (const l of ours) assert.ok(their.includes(l), `openssl has ${l.split(' ')[0]} identically`);
  });
}

test('off by default: the TLS service gets no key log hook (the engine exports nothing)', async () => {
  const conf = writeConfig(await certMainCf(), `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`);
  const store = new ResumptionStore();
  try {
    const [off] = await loadServices(loadConfiguration(conf), { resumption: store, logWarnings: false, logInit: false, sink: () => undefined });
    assert.is(off!.tlsService.keylog, undefined);
    const [on] = await loadServices(loadConfiguration(conf, [{ name: 'tlsproxy_tls_keylog_file', value: keyFile }]), { resumption: store, logWarnings: false, logInit: false, sink: () => undefined });
    assert.type(on!.tlsService.keylog, 'function');
  } finally {
    store.close();
  }
});

test.run();
