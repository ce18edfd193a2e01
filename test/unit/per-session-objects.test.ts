/**
 * What every session holds for its whole life is built without per-session
 * closures (bench/README.md, idle connections): the native AEAD key and
 * the engine's state context keep their methods on a shared prototype. An
 * object literal of closures costs ~56 bytes per function per session; the
 * two objects below were ~30 functions per idle session before.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ServerConnection } from '../../engine/connection.js';
import { nativeAeadKey } from '../../providers/native-aead.js';
import { engineConfig } from '../helpers/engine-server.js';

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

test.run();
