/**
 * Shape anchors (engine/common/shape-anchors.ts, proxy/base/shape-anchors.ts):
 * V8 keeps optimised code only while the maps it was specialised on live,
 * and the anchors keep one object of each short-lived class, holding no
 * secret, so that a full collection at idle does not throw that code away.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writer } from '../../engine/codec.js';
import { INERT, shapeAnchors } from '../../engine/common/shape-anchors.js';
import { ServerConnection } from '../../engine/connection.js';
import type { AeadKey, CryptoProvider } from '../../engine/crypto/provider.js';
import { Tls13Protection } from '../../engine/record.js';
import { tls13Suite } from '../../engine/suites.js';
import { Transcript } from '../../engine/common/transcript.js';
import { engineConfig } from '../helpers/engine-server.js';
import { KeySchedule } from '../../engine/tls13/key-schedule.js';
import { hkdfExpandLabel } from '../../engine/hkdf.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { anchoredSession, nodeShapeAnchors } from '../../proxy/base/shape-anchors.js';
import { startDemoBackend } from '../../proxy/cli/demo-backend.js';
import tls from 'node:tls';
import { certMainCf, connectTls, startDaemon, testPki, tlsproxyService, type RunningDaemon } from '../helpers/proxy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// A function specialised on Writer's map, optimised by TurboFan; then every
// Writer but the anchor is dropped and full collections run (a map that no
// object has is kept for a few of them: --retain-maps-for-n-gc).
const CHILD = `
(async () => {
  const { Writer } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'engine/codec.ts')).href)});
  const { shapeAnchors } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'engine/common/shape-anchors.ts')).href)});
  const TURBOFANNED = 1 << 6;
  function use(w) { w.u8(1); w.u16(2); return w.length; }
  %PrepareFunctionForOptimization(use);
  for (let i = 0; i < 20; i++) use(new Writer(16));
  %OptimizeFunctionOnNextCall(use);
  use(new Writer(16));
  const before = (%GetOptimizationStatus(use) & TURBOFANNED) !== 0;
  if (process.argv[1] === 'drop') shapeAnchors.standIns.length = 0;
  await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 6; i++) gc();
  const after = (%GetOptimizationStatus(use) & TURBOFANNED) !== 0;
  process.stdout.write(JSON.stringify({ before, after }));
})();
`;

/** Run one of the scripts below in a child with V8's natives and gc(); what it printed, as JSON. */
function runChild<T>(script: string, mode: 'keep' | 'drop' = 'keep'): T {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--allow-natives-syntax', '--expose-gc', '-e', script, mode], { encoding: 'utf8', cwd: ROOT });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

type Optimised = { before: boolean; after: boolean };

test('V8 keeps the optimised code of a Writer user through full collections at idle while the anchor lives, and drops it without', () => {
  assert.equal(runChild<Optimised>(CHILD, 'keep'), { before: true, after: true });
  assert.equal(runChild<Optimised>(CHILD, 'drop'), { before: true, after: false });
});

// The same question for the handshake states, which keep stand-ins (common/shape-anchors.ts keepStandIn):
// a function optimised on ExpectFinished objects, every real one dropped, full collections.
const STATES_CHILD = `
(async () => {
  const url = (p) => ${JSON.stringify(pathToFileURL(ROOT).href)} + '/' + p;
  const { ExpectFinished } = await import(url('engine/tls13/expect-finished.ts'));
  const { ExpectClientHello } = await import(url('engine/common/expect-client-hello.ts'));
  const { shapeAnchors } = await import(url('engine/common/shape-anchors.ts'));
  const TURBOFANNED = 1 << 6;
  // A context and an awaiting-Finished state stand-in for the real ones: only their being objects matters to the shape.
  const real = () => new ExpectFinished({ config: {} }, { schedule: {} });
  const sameMap = %HaveSameMap(real(), shapeAnchors.standIns.find((o) => o instanceof ExpectFinished))
    && %HaveSameMap(new ExpectClientHello({ config: {} }), shapeAnchors.standIns.find((o) => o instanceof ExpectClientHello));
  function use(st) { return st.name.length + (st.s ? 1 : 0); }
  %PrepareFunctionForOptimization(use);
  for (let i = 0; i < 20; i++) use(real());
  %OptimizeFunctionOnNextCall(use);
  use(real());
  const before = (%GetOptimizationStatus(use) & TURBOFANNED) !== 0;
  if (process.argv[1] === 'drop') shapeAnchors.standIns.length = 0;
  await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 6; i++) gc();
  const after = (%GetOptimizationStatus(use) & TURBOFANNED) !== 0;
  process.stdout.write(JSON.stringify({ sameMap, before, after }));
})();
`;

test('handshake states: a stand-in shares its map with real states, and keeps code optimised on them through full collections at idle', () => {
  assert.equal(runChild<Optimised & { sameMap: boolean }>(STATES_CHILD, 'keep'), { sameMap: true, before: true, after: true });
  assert.equal(runChild<Optimised & { sameMap: boolean }>(STATES_CHILD, 'drop'), { sameMap: true, before: true, after: false });
});

test('every handshake state class, both server flights, Reader and Writer keep a stand-in built from INERT arguments', async () => {
  // Loading the engine entry point loads every state module.
  await import('../../engine/index.js');
  const all = new Set(shapeAnchors.standIns.map((o) => o.constructor.name));
  for (const n of ['ExpectClientHello', 'ExpectClientHello2', 'ServerFlight13', 'ExpectClientCertificate', 'ExpectClientCertificateVerify', 'ExpectFinished', 'Connected',
    'ServerFlight12', 'ExpectClientCertificate12', 'ExpectCertificateVerify12', 'ExpectClientKeyExchange', 'ExpectChangeCipherSpec', 'ExpectFinished12', 'Tls12Connected',
    'ResumedExpectChangeCipherSpec', 'ResumedExpectFinished', 'Reader', 'Writer']) {
    assert.ok(all.has(n), `a stand-in for ${n}`);
  }
  // A stand-in refers to nothing but INERT (and what its own field initialisers made: empty lists, false, zeroed bytes).
  for (const o of shapeAnchors.standIns) {
    for (const v of Object.values(o)) {
      const ok = v === INERT || v === false || v === undefined || typeof v === 'string' || (Array.isArray(v) && v.length === 0) || (v instanceof Uint8Array && v.every((b) => b === 0)) || v === 0;
      assert.ok(ok, `${o.constructor.name} holds only INERT values`);
    }
  }
});

// One map for every ClientHello, whatever extensions the client sent and in which order
// (messages/client-hello.ts): code that reads a hello is specialised on a map the literal's
// boilerplate keeps, not on a transition only live hellos hold.
const HELLO_CHILD = `
(async () => {
  const url = (p) => ${JSON.stringify(pathToFileURL(ROOT).href)} + '/' + p;
  const { parseClientHello } = await import(url('engine/messages/client-hello.ts'));
  const { clientHello, tls12Hello } = await import(url('test/helpers/client-hello.ts'));
  const body = (m) => m.subarray(4);
  const a = parseClientHello(body(clientHello()), 64);
  const b = parseClientHello(body(tls12Hello({ extra: [[0, Uint8Array.of(0, 12, 0, 0, 9, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x68, 0x6f, 0x73, 0x74)]] })), 64);
  const c = parseClientHello(body(clientHello({ extensions: [] })), 64);
  process.stdout.write(JSON.stringify({ ab: %HaveSameMap(a, b), ac: %HaveSameMap(a, c), sni: b.serverName }));
})();
`;

test('every parsed ClientHello has one map, whatever its extensions and their order', () => {
  assert.equal(runChild(HELLO_CHILD), { ab: true, ac: true, sni: 'localhost' });
});

// Node's short-lived objects (proxy/base/shape-anchors.ts): code optimised on once() wrappers and on
// nextTick entries keeps its code through full collections while the anchors live.
const NODE_CHILD = `
(async () => {
  const { nodeShapeAnchors } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'proxy/base/shape-anchors.ts')).href)});
  const { EventEmitter } = await import('node:events');
  await new Promise((r) => setTimeout(r, 10)); // the tick anchor is taken on the next tick
  const TURBOFANNED = 1 << 6;
  const noop = () => {};
  function use() { const e = new EventEmitter(); e.once('x', noop); e.emit('x'); process.nextTick(noop); }
  %PrepareFunctionForOptimization(use);
  for (let i = 0; i < 20; i++) use();
  %OptimizeFunctionOnNextCall(use);
  use();
  const before = (%GetOptimizationStatus(use) & TURBOFANNED) !== 0;
  if (process.argv[1] === 'drop') { const a = nodeShapeAnchors(); a.once.removeAllListeners(); a.tick = undefined; }
  await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 6; i++) gc();
  const after = (%GetOptimizationStatus(use) & TURBOFANNED) !== 0;
  process.stdout.write(JSON.stringify({ before, after }));
})();
`;

test("Node's once() wrappers and nextTick entries: code optimised on them survives full collections at idle while the anchors live", () => {
  assert.equal(runChild<Optimised>(NODE_CHILD, 'keep'), { before: true, after: true });
  assert.equal(runChild<Optimised>(NODE_CHILD, 'drop'), { before: true, after: false });
});

/** The daemon in this process, one implicit-TLS service in front of the demo backend, for `fn`. */
async function withDaemon(fn: (d: RunningDaemon) => Promise<void>): Promise<void> {
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  try {
    await fn(d);
  } finally {
    await d.close();
    await demo.close();
  }
}

/** One session through `d`: the greeting, QUIT, and the daemon's DISCONNECT line. */
async function oneSession(d: RunningDaemon, options: tls.ConnectionOptions): Promise<void> {
  const c = await connectTls(d.port, options);
  await c.waitFor('220 ');
  c.socket.end('QUIT\r\n');
  await c.closed;
  await d.log.waitFor(/^DISCONNECT/);
}

test('the engine anchors: an unused Writer, the last Transcript, the last erased KeySchedule with its secret zeroed', async () => {
  const writer = shapeAnchors.standIns.find((o): o is Writer => o instanceof Writer);
  assert.ok(writer, 'a Writer stand-in');
  assert.is(writer.length, 0);
  await withDaemon(async (d) => {
    await oneSession(d, { minVersion: 'TLSv1.3' });
    assert.ok(shapeAnchors.transcript instanceof Transcript);
    assert.ok(shapeAnchors.schedule instanceof KeySchedule);
    const secret = (shapeAnchors.schedule as unknown as { secret: Uint8Array }).secret;
    assert.ok(secret.length >= 32);
    assert.ok(secret.every((b) => b === 0), 'the anchored key schedule holds a zeroed secret');
    assert.ok(anchoredSession() !== undefined, 'the finished session is kept');
    // Node's objects: a nextTick entry, a once() listener that never fires, net's normalised
    // arguments, and the backend's completed connect request (its address and port, no data).
    const n = nodeShapeAnchors();
    assert.ok(n.tick && typeof n.tick === 'object');
    assert.is(n.once.listenerCount('never'), 1);
    assert.ok(Array.isArray(n.normalizedArgs));
    assert.is(n.connectRequest?.constructor.name, 'TCPConnectWrap');
    assert.equal(Object.keys(n.connectRequest!).sort(), ['address', 'addressType', 'localAddress', 'localPort', 'oncomplete', 'port']);
  });
});

/** A TLS 1.3 client that collects the application traffic secrets from its key log (NSS lines), then lives until `QUIT`. */
async function clientWithSecrets(port: number, ciphers?: string): Promise<{ socket: tls.TLSSocket; secrets: Uint8Array[]; text: () => string; closed: Promise<void> }> {
  const pki = await testPki();
  const secrets: Uint8Array[] = [];
  let text = '';
  const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.caPem, servername: 'localhost', minVersion: 'TLSv1.3', ...(ciphers ? { ciphers } : {}) });
  socket.on('keylog', (line: Buffer) => {
    const [label, , hex] = line.toString('latin1').trim().split(' ');
    if (label?.endsWith('TRAFFIC_SECRET_0') && !label.includes('HANDSHAKE')) secrets.push(new Uint8Array(Buffer.from(hex!, 'hex')));
  });
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, secrets, text: () => text, closed };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

/** Every object reachable from `root` through data properties, array elements and Map/Set entries (no getters run). */
function reachable(root: object): Set<object> {
  const seen = new Set<object>();
  const todo: unknown[] = [root];
  while (todo.length) {
    const o = todo.pop();
    if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) continue;
    seen.add(o);
    if (ArrayBuffer.isView(o)) continue;
    if (o instanceof Map) for (const [k, v] of o) todo.push(k, v);
    if (o instanceof Set) for (const v of o) todo.push(v);
    for (const key of Reflect.ownKeys(o)) {
      const desc = Object.getOwnPropertyDescriptor(o, key);
      if (desc && 'value' in desc) todo.push(desc.value);
    }
  }
  return seen;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

test('the kept session holds none of its keys: traffic secrets, AEAD keys and IVs zeroed or gone, the engine closed', async () => {
  await withDaemon(async (d) => {
    const c = await clientWithSecrets(d.port, 'TLS_AES_128_GCM_SHA256');
    const secrets = c.secrets;
    await until(() => c.text().includes('220 '), 'the greeting');
    c.socket.write('hello\r\n');
    await until(() => c.text().includes('250 '), 'the echo');
    c.socket.end('QUIT\r\n');
    await c.closed;
    await d.log.waitFor(/^DISCONNECT/);
    assert.is(secrets.length, 2, 'client and server application traffic secrets');
    // §7.3: each direction's AEAD key and IV, from its traffic secret.
    const p = createNodeCryptoProvider();
    const derived = secrets.flatMap((s) => [hkdfExpandLabel(p, 'SHA-256', s, 'key', new Uint8Array(0), 16), hkdfExpandLabel(p, 'SHA-256', s, 'iv', new Uint8Array(0), 12)]);
    const kept = anchoredSession() as { handOver?: { stream: { conn: Record<string, unknown> } } };
    assert.ok(kept?.handOver, 'the kept object is the finished session');
    const conn = kept.handOver!.stream.conn;
    assert.is(conn.state, 'closed');
    assert.is(conn.secrets, undefined);
    // The handshake completed: its last state holds only the context, and stays (an unfinished one is dropped).
    assert.is((conn.hsState as { name: string }).name, 'Connected');
    const arrays = [...reachable(kept)].filter((o): o is Uint8Array => o instanceof Uint8Array);
    assert.ok(arrays.length > 10, `walked ${arrays.length} byte arrays`);
    for (const needle of [...secrets, ...derived]) {
      assert.not.ok(arrays.some((a) => contains(a, needle)), 'a key of the finished session is still reachable from the kept session');
    }
    // A forgotten protection refuses to work rather than seal under a zeroed key.
    const prot = conn.writeProt as { seal(type: number, content: Uint8Array): unknown };
    assert.throws(() => prot.seal(23, new Uint8Array(1)), /forgot/);
  });
});

test('without forgetKeys the same walk finds the keys (the walk can see them)', async () => {
  await withDaemon(async (d) => {
    const c = await clientWithSecrets(d.port);
    const secrets = c.secrets;
    await until(() => c.text().includes('220 '), 'the greeting');
    // The live session: its engine still holds the traffic secrets.
    const live = [...d.daemon['sessions' as keyof typeof d.daemon] as unknown as Set<object>][0]!;
    const arrays = [...reachable(live)].filter((o): o is Uint8Array => o instanceof Uint8Array);
    assert.is(secrets.length, 2);
    assert.ok(secrets.every((s) => arrays.some((a) => contains(a, s))), 'the live session holds its traffic secrets');
    c.socket.end('QUIT\r\n');
    await c.closed;
  });
});

test('TLS 1.2: the kept session\'s record protections are emptied too (IVs zeroed, keys refuse to work)', async () => {
  await withDaemon(async (d) => {
    await oneSession(d, { maxVersion: 'TLSv1.2' });
    const conn = (anchoredSession() as { handOver: { stream: { conn: Record<string, unknown> } } }).handOver.stream.conn;
    assert.is(conn.version, 0x0303);
    for (const side of ['readProt', 'writeProt']) {
      const prot = conn[side] as { iv: Uint8Array; seal(type: number, content: Uint8Array): unknown };
      assert.ok(prot.iv.length > 0 && prot.iv.every((b) => b === 0), `${side}: IV zeroed`);
      assert.throws(() => prot.seal(23, new Uint8Array(1)), /forgot/);
    }
  });
});

/** A protection whose key is still being imported when it forgets; `key` then arrives. */
async function forgetBeforeArrival(key: AeadKey): Promise<{ kept: unknown; iv: Uint8Array }> {
  let arrive!: (k: AeadKey) => void;
  const provider = { aeadKey: () => new Promise<AeadKey>((r) => (arrive = r)) } as unknown as CryptoProvider;
  const prot = new Tls13Protection(provider, tls13Suite('TLS_AES_128_GCM_SHA256')!, new Uint8Array(16), new Uint8Array(12).fill(7));
  prot.forget();
  arrive(key);
  await new Promise((r) => setTimeout(r, 0));
  const view = prot as unknown as { key: unknown; iv: Uint8Array };
  return { kept: view.key, iv: view.iv };
}

test('a record key still being imported when its protection forgets it is not put back (a provider without forget) or is told to forget', async () => {
  // A provider without AeadKey.forget (webcrypto's keys): the key must not come back into the protection.
  const plain: AeadKey = { algorithm: 'AES-128-GCM', seal: () => new Uint8Array(0), open: () => null };
  const a = await forgetBeforeArrival(plain);
  assert.ok(a.kept !== plain, 'the key that arrived after forget() was put back into the protection');
  assert.ok(a.iv.every((b) => b === 0));
  // With forget(): the key is told to forget once.
  let forgot = 0;
  await forgetBeforeArrival({ ...plain, forget: () => void forgot++ });
  assert.is(forgot, 1);
});

test('forgetKeys() on a connection whose handshake never completed drops its handshake state and closes it', async () => {
  const config = await engineConfig({ provider: 'node', certs: ['p256'] });
  const events = { write: () => undefined, handshake: () => undefined, data: () => undefined, peerClosed: () => undefined, failed: () => undefined };
  const conn = new ServerConnection(config, events);
  const view = conn as unknown as { hsState: { name: string } };
  assert.is(view.hsState.name, 'ExpectClientHello');
  conn.forgetKeys();
  assert.is(view.hsState.name, 'Forgotten');
  assert.is(conn.state, 'closed');
  assert.not.ok(conn.writable);
});

test.run();
