/**
 * What every session holds for its whole life is built without per-session
 * closures (bench/README.md, idle connections): the native AEAD key and
 * the engine's state context keep their methods on a shared prototype. An
 * object literal of closures costs ~56 bytes per function per session; the
 * two objects below were ~30 functions per idle session before.
 */
import net from 'node:net';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ServerConnection } from '../../engine/connection.js';
import { nativeAeadKey } from '../../providers/native-aead.js';
import { engineConfig } from '../helpers/engine-server.js';
import { testPki } from '../helpers/pki.js';

const ownFunctions = (o: object) => Object.getOwnPropertyNames(o).filter((k) => typeof (o as Record<string, unknown>)[k] === 'function');

test('native AEAD keys: no function of their own, the same methods for every key', () => {
  const a = nativeAeadKey('AES-128-GCM', new Uint8Array(16));
  const b = nativeAeadKey('CHACHA20-POLY1305', new Uint8Array(32));
  if (!a || !b) {
    // Without the addon (TLSPROXY_NATIVE_AEAD=0, an unbuilt native/) node:crypto keys are used.
    assert.is(nativeAeadKey('AES-128-GCM', new Uint8Array(16)), undefined);
    return;
  }
  assert.equal(ownFunctions(a), []);
  assert.is(a.seal, b.seal);
  assert.is(a.openInto, b.openInto);
  // Still a working key: seal then open.
  const nonce = new Uint8Array(12);
  const sealed = a.seal(nonce, new Uint8Array(5), Uint8Array.of(1, 2, 3)) as Uint8Array;
  assert.equal([...(a.open(nonce, new Uint8Array(5), sealed) as Uint8Array)], [1, 2, 3]);
});

test('the engine state context: one object per connection, methods shared', async () => {
  const config = await engineConfig({ provider: 'node', certs: ['p256'] });
  const events = { write: () => undefined, handshake: () => undefined, data: () => undefined, peerClosed: () => undefined, failed: () => undefined };
  const one = (new ServerConnection(config, events) as unknown as { ctx: object }).ctx;
  const two = (new ServerConnection(config, events) as unknown as { ctx: object }).ctx;
  assert.ok(one !== two);
  assert.equal(ownFunctions(one), []);
  assert.is((one as { flush: unknown }).flush, (two as { flush: unknown }).flush);
});

test('an established TLS 1.3 session keeps its traffic secrets only; the key log saw the exporter secret', async () => {
  const config = await engineConfig({ provider: 'node', certs: ['p256'] });
  const logged = new Map<string, Uint8Array>();
  let conn!: ServerConnection;
  const established = new Promise<void>((resolve, reject) => {
    const server = net.createServer((socket) => {
      conn = new ServerConnection(config, {
        write: (b) => socket.write(b.slice()),
        handshake: () => {
          server.close();
          resolve();
        },
        data: () => undefined,
        peerClosed: () => undefined,
        failed: (e) => reject(new Error(e.reason)),
        // A key log copies what it is handed during the call.
        keylog: (label, _random, secret) => logged.set(label, secret.slice()),
      });
      socket.on('data', (d) => conn.receive(new Uint8Array(d)));
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: testPki().caPem, minVersion: 'TLSv1.3' });
      c.on('secureConnect', () => c.end());
      c.on('error', () => undefined);
    });
  });
  await established;
  const secrets = (conn as unknown as { secrets: Record<string, unknown> }).secrets;
  assert.equal(Object.keys(secrets).sort(), ['clientTrafficSecret', 'serverTrafficSecret', 'suite']);
  const exporter = logged.get('EXPORTER_SECRET');
  assert.ok(exporter && exporter.length >= 32 && exporter.some((b) => b !== 0), 'the key log got the real exporter secret');
});

test.run();
