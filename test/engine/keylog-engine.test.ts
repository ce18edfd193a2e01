/**
 * The engine's key log hook (NSS SSLKEYLOGFILE format) against openssl
 * s_client -keylogfile: both ends must log the same secrets for the same
 * client random, in TLS 1.3 and TLS 1.2.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hex } from '../../engine/codec.js';
import { ServerConnection } from '../../engine/connection.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { certifiedKeys } from '../helpers/pki.js';

const provider = createNodeCryptoProvider();
const dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-keylog-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

async function run(version: '-tls1_3' | '-tls1_2'): Promise<{ ours: string[]; theirs: string[] }> {
  const certificates = await certifiedKeys(provider, ['p256']);
  const ours: string[] = [];
  const server = net.createServer((sock) => {
    const conn = new ServerConnection(
      { provider, certificates, cipherSuites: [0x1301], groups: [0x1d], preferServerCiphers: false },
      {
        write: (b) => sock.write(b),
        handshake: () => undefined,
        data: (d) => conn.write(d),
        peerClosed: () => {
          conn.close();
          sock.end();
        },
        failed: () => sock.destroy(),
        keylog: (label, random, secret) => ours.push(`${label} ${hex(random)} ${hex(secret)}`),
      },
    );
    sock.on('data', (d) => conn.receive(d));
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const file = path.join(dir, `${version}.log`);
  await new Promise<void>((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, version, '-keylogfile', file, '-nocommands'], { timeout: 8000 }, () => resolve());
    child.stdin!.write('hello\n');
    setTimeout(() => child.stdin!.end(), 300);
  });
  server.close();
  const theirs = readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.toLowerCase().replace(/^[a-z_0-9]+/, (m) => m.toUpperCase()));
  return { ours, theirs };
}

test('TLS 1.3: the five NSS key log secrets match openssl s_client -keylogfile', async () => {
  const { ours, theirs } = await run('-tls1_3');
  assert.equal(ours.map((l) => l.split(' ')[0]), [
    'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
    'SERVER_HANDSHAKE_TRAFFIC_SECRET',
    'CLIENT_TRAFFIC_SECRET_0',
    'SERVER_TRAFFIC_SECRET_0',
    'EXPORTER_SECRET',
  ]);
  for (const line of ours) assert.ok(theirs.includes(line), `openssl logged ${line.split(' ')[0]} identically`);
});

test('TLS 1.2: CLIENT_RANDOM with the master secret matches openssl', async () => {
  const { ours, theirs } = await run('-tls1_2');
  assert.is(ours.length, 1);
  assert.ok(ours[0]!.startsWith('CLIENT_RANDOM '));
  assert.ok(theirs.includes(ours[0]!), 'same line in openssl key log');
});

test.run();
