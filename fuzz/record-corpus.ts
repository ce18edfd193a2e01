/**
 * Records the seed corpus of the engine targets: real clients (openssl
 * s_client, gnutls-cli, node:tls; TLS 1.3 and 1.2, with client
 * certificates, resumption, HelloRetryRequest, DHE) talk to the engine
 * through a tap that saves every byte the client sent, one file per
 * connection, in fuzz/corpus/engine/. Also (re)makes fuzz/fixtures the
 * first time. Run: node --import tsx fuzz/record-corpus.ts
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { clientPki } from '../test/helpers/client-pki.js';
import { startEngineServer } from '../test/helpers/engine-server.js';
import { baseConfig, FIXTURES, FUZZ_DIR } from './lib/engine-setup.js';

const out = path.join(FUZZ_DIR, 'corpus', 'engine');
mkdirSync(out, { recursive: true });
mkdirSync(FIXTURES, { recursive: true });
const cpki = clientPki();

if (!existsSync(path.join(FIXTURES, 'server-p256.pem'))) {
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: FIXTURES, stdio: 'pipe' });
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server-p256.key', '-out', 'server-p256.pem', '-days', '36500', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost']);
  o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server-rsa.key', '-out', 'server-rsa.pem', '-days', '36500', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost']);
  copyFileSync(cpki.caFile, path.join(FIXTURES, 'client-ca.pem'));
  for (const k of ['p256', 'rsa'] as const) {
    copyFileSync(cpki.clients[k].certPath, path.join(FIXTURES, `client-${k}.pem`));
    copyFileSync(cpki.clients[k].keyPath, path.join(FIXTURES, `client-${k}.key`));
  }
}
const fx = (n: string) => path.join(FIXTURES, n);

const base = await baseConfig();
const engine = await startEngineServer({ certificates: base.certificates, config: { ...base } });

let captured: Buffer[] = [];
const tap = net.createServer((c) => {
  const chunks: Buffer[] = [];
  captured = chunks;
  const up = net.connect(engine.port, '127.0.0.1');
  c.on('data', (d) => {
    chunks.push(d);
    up.write(d);
  });
  up.on('data', (d) => c.write(d));
  c.on('end', () => up.end());
  up.on('end', () => c.end());
  c.on('error', () => up.destroy());
  up.on('error', () => c.destroy());
});
await new Promise<void>((r) => tap.listen(0, '127.0.0.1', r));
const port = (tap.address() as net.AddressInfo).port;

function save(name: string): void {
  const data = Buffer.concat(captured);
  writeFileSync(path.join(out, `${name}.bin`), data);
  console.log(`${name}: ${data.length} bytes`);
  captured = [];
}

function runClient(cmd: string, args: string[], holdMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let all = '';
    p.stdout.on('data', (d) => (all += d));
    p.stderr.on('data', (d) => (all += d));
    setTimeout(() => p.stdin.write('ping\n'), holdMs / 2);
    setTimeout(() => p.stdin.end(), holdMs);
    const t = setTimeout(() => p.kill('SIGKILL'), holdMs + 4000);
    p.on('close', () => {
      clearTimeout(t);
      resolve(all);
    });
  });
}

const sc = (extra: string[]) => ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...extra];
const sess = path.join(FIXTURES, '..', '.sess.pem');
const cases: [string, () => Promise<unknown>][] = [
  ['openssl-tls13', () => runClient('openssl', sc(['-tls1_3', '-cert', fx('client-p256.pem'), '-key', fx('client-p256.key'), '-sess_out', sess]))],
  ['openssl-tls13-psk', () => runClient('openssl', sc(['-tls1_3', '-sess_in', sess]))],
  ['openssl-tls13-p256-rsacert', () => runClient('openssl', sc(['-tls1_3', '-groups', 'P-256', '-cert', fx('client-rsa.pem'), '-key', fx('client-rsa.key')]))],
  ['openssl-tls13-hrr', () => runClient('openssl', sc(['-tls1_3', '-groups', 'x448:P-384']))],
  ['openssl-tls12-ecdsa', () => runClient('openssl', sc(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256', '-cert', fx('client-p256.pem'), '-key', fx('client-p256.key'), '-sess_out', sess]))],
  ['openssl-tls12-ticket', () => runClient('openssl', sc(['-tls1_2', '-sess_in', sess]))],
  ['openssl-tls12-rsa', () => runClient('openssl', sc(['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384', '-cert', fx('client-rsa.pem'), '-key', fx('client-rsa.key')]))],
  ['openssl-tls12-dhe', () => runClient('openssl', sc(['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256', '-cert', fx('client-rsa.pem'), '-key', fx('client-rsa.key')]))],
  ['openssl-tls12-chacha', () => runClient('openssl', sc(['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305', '-no_ticket']))],
  ['gnutls-tls13', () => runClient('gnutls-cli', ['-p', String(port), '127.0.0.1', '--insecure', '--sni-hostname', 'localhost', '--x509certfile', fx('client-p256.pem'), '--x509keyfile', fx('client-p256.key'), '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.3'])],
  ['gnutls-tls12', () => runClient('gnutls-cli', ['-p', String(port), '127.0.0.1', '--insecure', '--sni-hostname', 'localhost', '--x509certfile', fx('client-rsa.pem'), '--x509keyfile', fx('client-rsa.key'), '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2'])],
  ...(['TLSv1.3', 'TLSv1.2'] as const).map((v): [string, () => Promise<unknown>] => [`node-${v === 'TLSv1.3' ? 'tls13' : 'tls12'}`, () => new Promise<void>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, minVersion: v, maxVersion: v,
      cert: readFileSync(fx('client-p256.pem')), key: readFileSync(fx('client-p256.key')) });
    s.on('secureConnect', () => s.write('ping\n'));
    s.on('data', () => s.end());
    s.on('close', () => resolve());
    s.on('error', () => resolve());
    setTimeout(() => s.destroy(), 3000);
  })]),
];

for (const [name, run] of cases) {
  await run();
  await new Promise((r) => setTimeout(r, 300));
  save(name);
}
tap.close();
await engine.close();
process.exit(0);
