/**
 * Several instances behind a real load balancer (docs/operations.md,
 * "A fleet behind HAProxy"): Debian's haproxy in TCP mode, round-robin
 * over THREE tlsproxy daemons (each its own configuration directory and
 * port, as on three hosts), `send-proxy-v2` to them, and
 * tlsproxy_upstream_proxy_protocol = haproxy:
 *
 *  - the client's real address (the client binds 127.0.0.2; haproxy
 *    connects from 127.0.0.1) is in the CONNECT and summary lines and in
 *    the PROXY v2 header sent to the backend;
 *  - a TLS 1.3 ticket and a TLS 1.2 ticket issued by one instance resume
 *    on ANOTHER instance, through the key file shared by the three made
 *    with `tlsproxy ticket-keys create`;
 *  - `tlsproxy ticket-keys rotate` on the shared file: a staged key opens
 *    tickets at once but does not seal yet; tickets keep resuming across
 *    instances after the rotation.
 *
 * Skipped with a message when haproxy is not installed.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../proxy/cli/main.js';
import { readProxyHeader, type ProxyHeader } from '../../proxy/front-ends/proxy-protocol.js';
import { parseTicketKeyFile } from '../../proxy/tls/ticket-keys.js';
import { certMainCf, closedPort, delay, startBackend, tempDir, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, nodeTls, stopAllDaemons, type NodeTlsResult } from '../helpers/daemon-proc.js';
import { skipped } from '../helpers/skip.js';

const haveHaproxy = spawnSync('haproxy', ['-v']).status === 0;
const CLIENT = '127.0.0.2';

let backend: TestBackend;
const headers: ProxyHeader[] = [];
let daemons: DaemonProc[] = [];
let haproxy: ChildProcess | undefined;
let lbPort = 0;
let caPem = '';
let keyFile = '';
let keyDir = '';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

/** Which daemon (index) logged the CONNECT of the client port, and that daemon's lines for it. */
async function servedBy(localPort: number): Promise<{ index: number; lines: string[] }> {
  const connect = new RegExp(`^CONNECT from \\[${CLIENT.replace(/\./g, '\\.')}\\]:${localPort}$`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (let i = 0; i < daemons.length; i++) {
      const d = daemons[i]!;
      const at = d.log.findIndex((l) => connect.test(l.text));
      if (at >= 0) {
        const end = new RegExp(`^DISCONNECT \\[${CLIENT.replace(/\./g, '\\.')}\\]:${localPort}$`);
        await d.waitFor(end, { since: at, timeoutMs: 10_000 });
        const texts = d.texts(at);
        return { index: i, lines: texts.slice(0, texts.findIndex((t) => end.test(t)) + 1) };
      }
    }
    if (Date.now() > deadline) throw new Error(`no daemon logged ${connect}`);
    await delay(20);
  }
}

/** One client connection through haproxy from 127.0.0.2, with its local port. */
async function viaBalancer(options: Parameters<typeof nodeTls>[2] = {}): Promise<NodeTlsResult & { localPort: number }> {
  // Pick the client's port ourselves so that the log lines can be matched to it.
  const localPort = await freePort(CLIENT);
  const r = await nodeTls(lbPort, caPem, { localAddress: CLIENT, localPort, ...options } as Parameters<typeof nodeTls>[2]);
  return { ...r, localPort };
}

async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.before(async () => {
  if (!haveHaproxy) return;
  const pki = await testPki();
  caPem = pki.caPem;
  // The backend reads the PROXY v2 header each instance sends, then echoes.
  backend = await startBackend((s) => {
    readProxyHeader(s, 5000).then(
      (h) => {
        headers.push(h);
        s.resume();
        s.pipe(s);
      },
      () => s.destroy(),
    );
  });
  keyDir = tempDir('tlsproxy-fleet-keys-');
  keyFile = path.join(keyDir, 'ticket-keys');
  const created = await cli(['ticket-keys', 'create', keyFile]);
  assert.is(created.code, 0, created.err);
  const master = `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address} -o tlsproxy_backend_proxy_protocol=v2 -o tlsproxy_upstream_proxy_protocol=haproxy`;
  const main = await certMainCf(['tlsproxy_tls_loglevel = 2', `tlsproxy_tls_session_ticket_key_file = ${keyFile}`].join('\n'));
  daemons = await Promise.all([0, 1, 2].map(() => DaemonProc.start(writeConfig(main, master))));
  lbPort = await closedPort();
  const cfg = path.join(tempDir('tlsproxy-haproxy-'), 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      '  nbthread 1',
      '  log stderr format raw local0 info',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend tls',
      `  bind 127.0.0.1:${lbPort}`,
      '  default_backend tlsproxy',
      'backend tlsproxy',
      '  balance roundrobin',
      ...daemons.map((d, i) => `  server tlsproxy${i + 1} 127.0.0.1:${d.port} send-proxy-v2`),
      '',
    ].join('\n'),
  );
  const check = spawnSync('haproxy', ['-c', '-f', cfg], { encoding: 'utf8' });
  assert.is(check.status, 0, `haproxy -c: ${check.stdout}${check.stderr}`);
  haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  haproxy.stderr!.resume();
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(lbPort, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (up) break;
    await delay(50);
  }
});

test.after(async () => {
  haproxy?.kill('SIGKILL');
  await stopAllDaemons();
  await backend?.close();
});

const skip = (name: string) => skipped(`haproxy fleet test (${name})`, 'haproxy is not installed (apt-get install haproxy)');

test('round-robin over three instances: the real client address in CONNECT, the summary line and the PROXY v2 header to the backend', async () => {
  if (!haveHaproxy) return skip('fleet');
  const seen = new Set<number>();
  for (let i = 0; i < 3; i++) {
    const before = headers.length;
    const r = await viaBalancer({ maxVersion: 'TLSv1.3' });
    assert.is(r.out, 'ping\n');
    const s = await servedBy(r.localPort);
    seen.add(s.index);
    assert.ok(
      s.lines.some((t) => new RegExp(`^Trusted TLS connection established from \\[127\\.0\\.0\\.2\\]:${r.localPort}: TLSv1\\.3 with cipher `).test(t) || new RegExp(`TLS connection established from \\[127\\.0\\.0\\.2\\]:${r.localPort}: TLSv1\\.3`).test(t)),
      s.lines.join('\n'),
    );
    assert.not.ok(s.lines.some((t) => /127\.0\.0\.1/.test(t) && /CONNECT|established/.test(t)), s.lines.join('\n'));
    const h = headers[before];
    assert.ok(h, 'the backend got a PROXY header');
    assert.is(h!.version, 2);
    assert.is(h!.source?.address, CLIENT);
    assert.is(h!.source?.port, r.localPort);
    assert.is(h!.destination?.port, lbPort, 'the address the client connected to: the balancer');
  }
  assert.is(seen.size, 3, 'each of the three instances served one connection');
});

async function resumeElsewhere(version: 'TLSv1.2' | 'TLSv1.3'): Promise<void> {
  const first = await viaBalancer({ maxVersion: version, minVersion: version });
  assert.is(first.protocol, version);
  assert.ok(first.session, 'a session to resume');
  const a = await servedBy(first.localPort);
  assert.ok(a.lines.some((t) => /Issuing session ticket, key expiration: \d+/.test(t)), a.lines.join('\n'));
  const second = await viaBalancer({ maxVersion: version, minVersion: version, session: first.session });
  const b = await servedBy(second.localPort);
  assert.is.not(b.index, a.index, 'round-robin sent the resumption to another instance');
  assert.ok(second.reused, `resumed on instance ${b.index + 1} after instance ${a.index + 1} issued the ticket:\n${b.lines.join('\n')}`);
  assert.ok(b.lines.some((t) => /Decrypting session ticket, key expiration: \d+/.test(t)), b.lines.join('\n'));
  assert.ok(b.lines.some((t) => new RegExp(`^\\[127\\.0\\.0\\.2\\]:${second.localPort}: Reusing old session`).test(t)), b.lines.join('\n'));
}

test('TLS 1.3 ticket from one instance resumes on another (shared key file)', async () => {
  if (!haveHaproxy) return skip('TLS 1.3 tickets');
  await resumeElsewhere('TLSv1.3');
});

test('TLS 1.2 ticket from one instance resumes on another (shared key file)', async () => {
  if (!haveHaproxy) return skip('TLS 1.2 tickets');
  await resumeElsewhere('TLSv1.2');
});

test('ticket-keys rotate: the staged key is loaded by every instance, sealing goes on with the old key, resumption across instances still works', async () => {
  if (!haveHaproxy) return skip('rotation');
  const before = parseTicketKeyFile(readFileSync(keyFile, 'utf8'), 'k', 3600);
  const marks = daemons.map((d) => d.mark());
  const r = await cli(['ticket-keys', 'rotate', keyFile]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /staged a new key: .* seals from .* \(in 300s\)/);
  assert.is((statSync(keyFile).mode & 0o777).toString(8), '600');
  const after = parseTicketKeyFile(readFileSync(keyFile, 'utf8'), 'k', 3600);
  assert.is(after.keys.length, before.keys.length + 1);
  assert.ok(after.keys[after.keys.length - 1]!.created > Date.now() + 290_000, 'staged 300 s ahead');
  // Every instance re-reads the file at reload (here: SIGHUP).
  for (const d of daemons) d.kill('SIGHUP');
  for (let i = 0; i < daemons.length; i++) await daemons[i]!.waitFor(/ticket_key_file=.*: (reload|SIGHUP): 2 session ticket keys loaded/, { since: marks[i] });
  // The old key still seals: the ticket names it.
  const first = await viaBalancer({ maxVersion: 'TLSv1.3' });
  const oldName = Buffer.from(before.keys[0]!.name);
  const ticket = first.session!;
  assert.ok(ticket.includes(oldName), 'the ticket was sealed with the old key, not the staged one');
  await resumeElsewhere('TLSv1.3');
  // A second rotation while a key is staged is refused.
  const again = await cli(['ticket-keys', 'rotate', keyFile]);
  assert.is(again.code, 1);
  assert.match(again.err, /a key is staged already/);
  // The list shows it.
  const list = await cli(['ticket-keys', 'list', keyFile]);
  assert.match(list.out, /seals and opens, seals until/);
  assert.match(list.out, /staged, seals from/);
  chmodSync(keyFile, 0o600);
});

test.run();
