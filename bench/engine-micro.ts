/**
 * In-process engine micro-benchmark: the server side of the work only, no
 * sockets, no client in the measured loop (bench/README.md, "Engine budget").
 *
 *   node --import tsx bench/engine-micro.ts [--n=2000] [--batches=1] [--profile=FILE] [--heap-profile=FILE] [--provider=node|js]
 *
 * - handshake: a ClientHello captured once from a node:tls client is fed to
 *   a fresh ServerConnection N times; the time is the server's whole first
 *   flight (key share, key schedule, Certificate, CertificateVerify,
 *   Finished, and the NewSessionTicket that now leaves with it), for an
 *   ECDSA P-256 and an RSA-2048 certificate; with the P-256 certificate also
 *   a PSK resumption (a ticket from an in-process engine server, the
 *   node:tls client's next ClientHello offering it, replayed against the
 *   same configuration and ticket keys; the line says how many resumed).
 * - records: Tls13Protection/Tls12Protection seal and open of 16 KiB
 *   records, and the RecordReader over 64 KiB socket-sized chunks.
 */

import net from 'node:net';
import tls from 'node:tls';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { DEFAULT_GROUPS, DEFAULT_TLS13_SUITES, type ServerConfig } from '../engine/config.js';
import { ServerConnection } from '../engine/connection.js';
import { RecordReader, Tls12Protection, Tls13Protection } from '../engine/record.js';
import { TLS13_SUITES } from '../engine/suites.js';
import { createJsCryptoProvider } from '../engine/crypto/js.js';
import { createNodeCryptoProvider } from '../providers/node.js';
import { certifiedKeys, testPki } from '../test/helpers/pki.js';
import { startEngineServer } from '../test/helpers/engine-server.js';
import { TicketKeyRing } from '../engine/tickets.js';
import { median } from './stats.js';

const args = new Map(process.argv.slice(2).map((a) => (/^--([^=]+)(?:=(.*))?$/.exec(a) ?? [a, a, '']).slice(1) as [string, string]));
const N = Number(args.get('n') ?? 2000);
const BATCHES = Math.max(1, Math.round(Number(args.get('batches') ?? 1)));
// The synchronous providers: node (default) or js (engine/crypto/js.ts, docs/js-provider.md).
const provider = args.get('provider') === 'js' ? createJsCryptoProvider() : createNodeCryptoProvider();

async function captureClientHello(opts: tls.ConnectionOptions): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => {
      s.once('data', (d) => {
        resolve(new Uint8Array(d));
        s.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ...opts });
      c.on('error', () => undefined);
    });
    server.on('error', reject);
  });
}

/** A ticket from an in-process engine server, and the next ClientHello of the node:tls client offering it. */
async function captureResumptionHello(certificates: ServerConfig['certificates'], caPem: string): Promise<{ hello: Uint8Array; config: ServerConfig; close: () => Promise<void> }> {
  const srv = await startEngineServer({ provider: 'node', certificates, config: { tickets: new TicketKeyRing(provider) } });
  const session = await new Promise<Buffer>((resolve, reject) => {
    const c = tls.connect({ port: srv.port, host: '127.0.0.1', servername: 'localhost', ca: caPem, minVersion: 'TLSv1.3', ecdhCurve: 'X25519' });
    c.once('session', (t: Buffer) => {
      resolve(t);
      c.end();
    });
    c.on('error', reject);
  });
  const hello = await captureClientHello({ ca: caPem, minVersion: 'TLSv1.3', ecdhCurve: 'X25519', session });
  return { hello, config: { ...srv.config, provider }, close: () => srv.close() };
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function handshakes(label: string, config: ServerConfig, hello: Uint8Array): Promise<void> {
  let out = 0;
  let resumed = 0;
  const once = () => {
    const conn = new ServerConnection(config, {
      event: (e) => {
        if (e.kind === 'resumption' && e.resumed) resumed++;
      },
      write: (b) => (out += b.length),
      handshake: () => undefined,
      data: () => undefined,
      peerClosed: () => undefined,
      failed: (e) => {
        throw new Error(e.reason);
      },
    });
    conn.receive(hello);
    return conn;
  };
  for (let i = 0; i < 200; i++) once();
  await new Promise((r) => setTimeout(r, 50));
  resumed = 0;
  // --batches=K: the N flights in K batches, each timed on its own; the line gives the median
  // batch and the spread (min-max). On a shared machine a few batches run while another guest
  // has the CPU: the median and the minimum are what an A/B of a small change can compare.
  const perBatch = Math.max(1, Math.floor(N / BATCHES));
  const cpuPer: number[] = [];
  const wallPer: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const c0 = cpuUs();
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i++) {
      once();
      if (i % 64 === 0) await new Promise((r) => setImmediate(r)); // let pools refill as in a daemon
    }
    // The last flights' asynchronous steps (promise jobs) finish before the clock is read.
    await new Promise((r) => setImmediate(r));
    wallPer.push(((performance.now() - t0) * 1000) / perBatch);
    cpuPer.push((cpuUs() - c0) / perBatch);
  }
  const spread = BATCHES > 1 ? ` (${BATCHES} batches: CPU min ${Math.min(...cpuPer).toFixed(0)}, max ${Math.max(...cpuPer).toFixed(0)})` : '';
  const total = perBatch * BATCHES;
  console.log(
    `${label.padEnd(40)} ${median(cpuPer).toFixed(0).padStart(6)} µs CPU  ${median(wallPer).toFixed(0).padStart(6)} µs wall per first flight${resumed ? ` (${resumed} of ${total} resumed)` : ''}${spread}`,
  );
}

function records(): void {
  const R = 16 * 1024;
  const content = new Uint8Array(R).fill(7);
  for (const suite of TLS13_SUITES.values()) {
    const key = new Uint8Array(suite.aead === 'AES-128-GCM' ? 16 : 32).fill(1);
    const iv = new Uint8Array(12).fill(2);
    const w = new Tls13Protection(provider, suite, key, iv);
    const r = new Tls13Protection(provider, suite, key, iv);
    const sealed: Uint8Array[] = [];
    const M = 20000;
    let c0 = cpuUs();
    for (let i = 0; i < M; i++) {
      const s = w.seal(23, content) as Uint8Array;
      if (i < 64) sealed.push(s);
    }
    const sealUs = (cpuUs() - c0) / M;
    // 4 records per 64 KiB chunk, as a socket read gives them.
    const chunk = new Uint8Array(sealed.slice(0, 4).reduce((a, b) => a + b.length, 0));
    let o = 0;
    for (const s of sealed.slice(0, 4)) (chunk.set(s, o), (o += s.length));
    const reader = new RecordReader();
    c0 = cpuUs();
    let n = 0;
    for (let i = 0; i < M / 4; i++) {
      reader.push(chunk);
      for (let rec = reader.next(16384 + 256); rec; rec = reader.next(16384 + 256)) n++;
    }
    const parseUs = (cpuUs() - c0) / n;
    // Owned records (as from a socket read) are opened in place; each gets a fresh copy, timed separately.
    const copies = sealed.map((x) => x.slice());
    c0 = cpuUs();
    for (let i = 0; i < M; i++) copies[i % 64]!.set(sealed[i % 64]!);
    const copyUs = (cpuUs() - c0) / M;
    c0 = cpuUs();
    for (let i = 0; i < M; i++) {
      const buf = copies[i % 64]!;
      buf.set(sealed[i % 64]!);
      const rec = { type: 23, version: 0x0303, header: buf.subarray(0, 5), fragment: buf.subarray(5), owned: true };
      (r as unknown as { seq: number }).seq = i % 64;
      if (!r.open(rec)) throw new Error('open failed');
    }
    const openUs = (cpuUs() - c0) / M - copyUs;
    console.log(`TLS 1.3 ${suite.name.padEnd(28)} seal ${sealUs.toFixed(2)} µs  open ${openUs.toFixed(2)} µs  frame ${parseUs.toFixed(2)} µs per 16 KiB record`);
  }
  for (const aead of ['AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305'] as const) {
    const key = new Uint8Array(aead === 'AES-128-GCM' ? 16 : 32).fill(1);
    const iv = new Uint8Array(aead === 'CHACHA20-POLY1305' ? 12 : 4).fill(2);
    const w = new Tls12Protection(provider, aead, key, iv);
    const M = 20000;
    const c0 = cpuUs();
    for (let i = 0; i < M; i++) w.seal(23, content);
    console.log(`TLS 1.2 ${aead.padEnd(28)} seal ${((cpuUs() - c0) / M).toFixed(2)} µs`);
  }
}

async function main(): Promise<void> {
  const pki = testPki();
  let session: Session | undefined;
  if (args.has('profile')) {
    session = new Session();
    session.connect();
    await new Promise((r) => session!.post('Profiler.enable', () => session!.post('Profiler.setSamplingInterval', { interval: 100 }, () => session!.post('Profiler.start', r))));
  }
  // --heap-profile=FILE: where the bytes are allocated (every allocation sampled about every
  // 4 KiB, the ones already collected included), for DevTools' Memory tab.
  if (args.has('heap-profile')) {
    if (!session) {
      session = new Session();
      session.connect();
    }
    const s = session;
    await new Promise((r) => s.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, r));
  }
  for (const kind of args.has('records') ? [] : args.has('p256') ? (['p256'] as const) : (['p256', 'rsa'] as const)) {
    const certificates = await certifiedKeys(provider, [kind]);
    const config: ServerConfig = {
      cipherSuites: [...DEFAULT_TLS13_SUITES],
      groups: [...DEFAULT_GROUPS],
      preferServerCiphers: false,
      provider,
      certificates,
    };
    const hello = await captureClientHello({ ca: pki.caPem, minVersion: 'TLSv1.3', ecdhCurve: 'X25519' });
    await handshakes(`TLS 1.3 x25519 ${kind} full`, config, hello);
    if (kind === 'p256') {
      // A PSK resumption: a ticket from an engine server, then the node:tls client's ClientHello
      // offering it (binder included), replayed against the same configuration and ticket keys.
      const { hello: resumeHello, config: resumeConfig, close } = await captureResumptionHello(certificates, pki.caPem);
      await handshakes(`TLS 1.3 x25519 PSK resumed`, resumeConfig, resumeHello);
      await close();
    }
  }
  if (!args.has('no-records')) records();
  if (session && args.has('profile')) {
    const s = session;
    const prof = await new Promise<unknown>((r) => s.post('Profiler.stop', (_e, res) => r((res as { profile: unknown }).profile)));
    writeFileSync(args.get('profile')!, JSON.stringify(prof));
  }
  if (session && args.has('heap-profile')) {
    const s = session;
    const prof = await new Promise<unknown>((r) => s.post('HeapProfiler.stopSampling', (_e, res) => r((res as { profile: unknown }).profile)));
    writeFileSync(args.get('heap-profile')!, JSON.stringify(prof));
  }
  process.exit(0);
}

void main();
