/**
 * The js provider with node:crypto and WebCrypto made unreachable, in a
 * separate process (the rest of the suite is unaffected):
 * test/helpers/no-native-crypto.mjs refuses every `node:crypto` / `crypto`
 * import and require, removes globalThis.crypto.subtle (only
 * getRandomValues, the CSPRNG, is kept) and logs each refused attempt. The
 * child (test/helpers/js-isolated-server.ts) serves the engine with the js
 * provider, and openssl s_client handshakes with it: every TLS 1.3 suite x
 * group, the RSA, P-384 and Ed25519 certificates, TLS 1.2 ECDHE-ECDSA,
 * ECDHE-RSA and DHE-RSA (BigInt finite-field DH), and TLS 1.3 resumption.
 *
 * Nothing falls back: in the same child the node provider and both forms
 * of the webcrypto provider fail, and the log holds exactly those refused
 * attempts and nothing else.
 */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { node24, node24Connect } from '../helpers/node24.js';
import { killAll, Proc } from '../helpers/proc.js';

const root = path.dirname(path.dirname(path.dirname(new URL(import.meta.url).pathname)));
const tmp = mkdtempSync(path.join(tmpdir(), 'tlsproxy-jsiso-'));
const logFile = path.join(tmp, 'refused.log');

interface Ready {
  port: number;
  caPath: string;
  attempts: Record<string, string>;
  provider: string;
  subtle: string;
}

let child: ChildProcessWithoutNullStreams;
let ready: Ready;
const handshakes: { provider: string; protocol: string; cipher: string; group: string; signature: string | null; resumed: boolean }[] = [];
let childOut = '';

test.before(async () => {
  child = spawn(
    process.execPath,
    // tsx first: it is test tooling (the TypeScript loader) and loads its own
    // modules before the refusal is in place; everything after it is refused.
    ['--import', 'tsx', '--import', './test/helpers/no-native-crypto.mjs', 'test/helpers/js-isolated-server.ts'],
    { cwd: root, env: { ...process.env, NO_NATIVE_CRYPTO_LOG: logFile }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child not ready: ${childOut}`)), 30_000);
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      childOut += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('READY ')) {
          clearTimeout(timer);
          resolve(JSON.parse(line.slice(6)) as Ready);
        } else if (line.startsWith('HANDSHAKE ')) {
          handshakes.push(JSON.parse(line.slice(10)));
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (childOut += d.toString()));
    child.on('exit', (code) => reject(new Error(`child exited (${code}): ${childOut}`)));
  });
});

test.after(async () => {
  await killAll();
  child?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

async function run(args: readonly string[], expect: RegExp[]): Promise<string> {
  const line = `ping-${Math.random().toString(36).slice(2)}`;
  const p = new Proc('openssl', ['s_client', '-connect', `127.0.0.1:${ready.port}`, '-CAfile', ready.caPath, '-verify_return_error', '-servername', 'localhost', ...args]);
  try {
    await p.waitFor('Verify return code', 10_000, 'handshake');
    p.write(`${line}\n`);
    await p.waitFor(`echo:${line}`, 10_000, 'echo');
    p.end();
    await p.wait(10_000);
    for (const re of expect) assert.match(p.all, re);
    assert.match(p.all, /Verify return code: 0 \(ok\)/);
    return p.all;
  } finally {
    p.kill();
  }
}

test('the child runs with node:crypto and WebCrypto unreachable, and nothing else serves', () => {
  assert.is(ready.provider, 'js');
  assert.is(ready.subtle, 'undefined', 'globalThis.crypto.subtle removed');
  assert.match(ready.attempts.webcrypto!, /^failed: webcrypto: no WebCrypto implementation/);
  // loadWebCryptoProvider falls back to @peculiar/webcrypto, which needs node:crypto: refused.
  assert.match(ready.attempts.peculiar!, /^failed: .*no-native-crypto/);
  // The node provider in the same harness: its module cannot load node:crypto, no server starts.
  assert.match(ready.attempts.node!, /^failed: the node provider is unavailable: no-native-crypto: import of "node:crypto" refused \(from .*providers\/node\.ts\)/);
});

const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const GROUPS: [string, RegExp][] = [
  ['X25519', /Server Temp Key: X25519, 253 bits/],
  ['P-256', /Server Temp Key: ECDH, prime256v1, 256 bits/],
  ['P-384', /Server Temp Key: ECDH, secp384r1, 384 bits/],
];

for (const suite of SUITES) {
  for (const [group, tempKey] of GROUPS) {
    test(`TLS 1.3 ${suite} ${group} (ECDSA P-256) with the js provider`, async () => {
      await run(['-tls1_3', '-ciphersuites', suite, '-groups', group], [new RegExp(`Cipher is ${suite}`), tempKey, /Peer signature type: ECDSA/, /Peer signing digest: SHA256/]);
    });
  }
}

for (const [sigalg, type, cn] of [
  ['rsa_pss_rsae_sha256', 'RSA-PSS', 'test-rsa'],
  ['rsa_pss_rsae_sha512', 'RSA-PSS', 'test-rsa'],
  ['ecdsa_secp384r1_sha384', 'ECDSA', 'test-p384'],
  ['ed25519', 'ed25519', 'test-ed25519'],
] as const) {
  test(`TLS 1.3 certificate chosen by -sigalgs ${sigalg} with the js provider`, async () => {
    await run(['-tls1_3', '-sigalgs', sigalg], [new RegExp(`Peer signature type: ${type}`), new RegExp(`subject=CN = ${cn}`)]);
  });
}

for (const [cipher, groups, re] of [
  ['ECDHE-ECDSA-AES128-GCM-SHA256', 'X25519:P-256', /Server Temp Key: X25519/],
  ['ECDHE-ECDSA-CHACHA20-POLY1305', 'P-256', /Server Temp Key: ECDH, prime256v1/],
  ['ECDHE-ECDSA-AES256-GCM-SHA384', 'P-384:P-256', /Server Temp Key: ECDH, secp384r1/],
  ['ECDHE-RSA-AES256-GCM-SHA384', 'X25519', /Server Temp Key: X25519/],
  ['ECDHE-RSA-CHACHA20-POLY1305', 'P-256', /Server Temp Key: ECDH, prime256v1/],
  ['DHE-RSA-AES128-GCM-SHA256', 'ffdhe2048', /Server Temp Key: DH, 2048 bits/],
] as const) {
  test(`TLS 1.2 ${cipher} (${groups}) with the js provider`, async () => {
    const cn = cipher.includes('ECDSA') ? 'test-p256' : 'test-rsa';
    await run(['-tls1_2', '-cipher', cipher, '-groups', groups], [new RegExp(`Cipher is ${cipher}`), /Protocol *: TLSv1\.2/, re, new RegExp(`subject=CN = ${cn}`)]);
  });
}

test('TLS 1.3 FFDHE ffdhe2048 and ffdhe3072 (BigInt DH) with the js provider', async () => {
  await run(['-tls1_3', '-groups', 'ffdhe2048'], [/Server Temp Key: DH, 2048 bits/]);
  await run(['-tls1_3', '-groups', 'ffdhe3072'], [/Server Temp Key: DH, 3072 bits/]);
});

test('TLS 1.3 X25519MLKEM768 and SecP256r1MLKEM768 with the js provider (Node 24 client, OpenSSL 3.5)', async () => {
  const bin = node24();
  if (!bin) return;
  const ca = readFileSync(ready.caPath, 'utf8');
  for (const curve of ['X25519MLKEM768', 'SecP256r1MLKEM768']) {
    const r = await node24Connect(bin, ready.port, { ecdhCurve: curve, ca, minVersion: 'TLSv1.3', servername: 'localhost' });
    assert.is(r.error, undefined, `${curve}: ${r.error}`);
    assert.is(r.protocol, 'TLSv1.3');
    assert.ok(r.echoed, `${curve}: echoed`);
  }
  await waitFor(() => handshakes.some((h) => h.group === 'SecP256r1MLKEM768'), 'the hybrid handshakes reported');
  assert.ok(handshakes.some((h) => h.group === 'X25519MLKEM768'));
});

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), what);
}

test('TLS 1.3 resumption with a ticket sealed by the js provider', async () => {
  const sess = path.join(tmp, 'sess.pem');
  await run(['-tls1_3', '-sess_out', sess], [/Cipher is TLS_AES/]);
  const out = await run(['-tls1_3', '-sess_in', sess], []);
  assert.match(out, /Reused, TLSv1\.3/);
});

test('every handshake was served by the js provider; the only refused attempts are the deliberate ones', () => {
  assert.ok(handshakes.length >= SUITES.length * GROUPS.length + 4 + 6 + 2 + 2, `handshakes seen: ${handshakes.length}`);
  assert.ok(handshakes.some((h) => h.group === 'ffdhe3072'), 'TLS 1.3 FFDHE reported');
  for (const h of handshakes) assert.is(h.provider, 'js');
  assert.ok(handshakes.some((h) => h.resumed), 'a resumed handshake');
  const lines = readFileSync(logFile, 'utf8').trim().split('\n');
  const expected = [
    /^import node:crypto from file:\/\/.*\/providers\/node\.ts$/, // the node provider (engine-server.ts)
    /^import (node:)?crypto from file:\/\/.*node_modules\/@peculiar\/webcrypto\//, // loadWebCryptoProvider's fallback
  ];
  const unexpected = lines.filter((l) => !expected.some((re) => re.test(l)));
  assert.equal(unexpected, [], 'refused attempts other than the deliberate ones');
  for (const re of expected) assert.ok(lines.some((l) => re.test(l)), `attempt logged: ${re}`);
});

test.run();
