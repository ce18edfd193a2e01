/**
 * ML-KEM-768 encapsulation on WebAssembly (providers/mlkem-wasm.ts, liboqs
 * from @oqs/liboqs-js): what it encapsulates decapsulates to the same secret
 * with noble's independent implementation, keys are checked before the module
 * sees them, known-answer calls stay on noble, it loads only on demand, and a
 * real X25519MLKEM768 handshake (Node 24, OpenSSL 3.5) is served by it.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NamedGroup } from '../../engine/constants.js';
import { mlKem768 } from '../../engine/crypto/mlkem.js';
import { mlKemImplementation, wasmBackedMlKem768 } from '../../providers/mlkem-wasm.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { startEngineServer } from '../helpers/engine-server.js';
import { node24, node24Connect } from '../helpers/node24.js';
import { testPki } from '../helpers/pki.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const kem = wasmBackedMlKem768(mlKem768);

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

test('it loads on demand, passes its self-test and reports itself', async () => {
  assert.is(await kem.ready(), true, JSON.stringify(mlKemImplementation()));
  assert.is(mlKemImplementation().implementation, 'wasm');
});

test('its encapsulations decapsulate to the same secret with noble, and differ every time', async () => {
  const before = mlKemImplementation().wasmEncapsulations;
  for (let i = 0; i < 12; i++) {
    const { encapsulationKey, decapsulationKey } = await mlKem768.keygen();
    const a = await kem.encapsulate(encapsulationKey);
    const b = await kem.encapsulate(encapsulationKey);
    assert.is(a.ciphertext.length, 1088);
    assert.is(a.sharedSecret.length, 32);
    assert.ok(equal(await mlKem768.decapsulate(a.ciphertext, decapsulationKey), a.sharedSecret), `key ${i}`);
    assert.ok(equal(await mlKem768.decapsulate(b.ciphertext, decapsulationKey), b.sharedSecret), `key ${i}, second`);
    assert.not.ok(equal(a.ciphertext, b.ciphertext), 'fresh randomness per encapsulation');
    assert.not.ok(equal(a.sharedSecret, b.sharedSecret));
  }
  assert.is(mlKemImplementation().wasmEncapsulations - before, 24, 'all of them on the module');
});

test('FIPS 203 §7.2: a key with a coefficient >= q or of the wrong length is refused before the module sees it', async () => {
  const { encapsulationKey } = await mlKem768.keygen();
  const bad = Uint8Array.from(encapsulationKey);
  bad[0] = 0xff;
  bad[1] |= 0x0f; // the first 12-bit coefficient is 4095
  const before = mlKemImplementation().wasmEncapsulations;
  assert.throws(() => kem.encapsulate(bad), /modulus check/);
  assert.throws(() => kem.encapsulate(encapsulationKey.subarray(1)), /invalid encapsulation key/);
  assert.is(mlKemImplementation().wasmEncapsulations, before);
  assert.is(mlKemImplementation().implementation, 'wasm', 'a refused key does not turn the module off');
});

test('a known-answer call (m given) is noble\'s, byte for byte', async () => {
  const { encapsulationKey } = await mlKem768.keygen();
  const m = new Uint8Array(32).fill(7);
  const ours = await kem.encapsulate(encapsulationKey, m);
  const noble = await mlKem768.encapsulate(encapsulationKey, m);
  assert.ok(equal(ours.ciphertext, noble.ciphertext));
  assert.ok(equal(ours.sharedSecret, noble.sharedSecret));
});

test('TLSPROXY_MLKEM_WASM=0 keeps noble; a process that never encapsulates never loads the module', () => {
  const script = `
    import { mlKem768 } from './engine/crypto/mlkem.ts';
    import { mlKemImplementation, wasmBackedMlKem768 } from './providers/mlkem-wasm.ts';
    const k = wasmBackedMlKem768(mlKem768);
    const idle = mlKemImplementation();
    const { encapsulationKey, decapsulationKey } = mlKem768.keygen();
    const r = k.encapsulate(encapsulationKey);
    const same = Buffer.from(mlKem768.decapsulate(r.ciphertext, decapsulationKey)).equals(Buffer.from(r.sharedSecret));
    const ready = await k.ready();
    console.log(JSON.stringify({ idle, ready, same, after: mlKemImplementation() }));
  `;
  const run = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  const off = run({ TLSPROXY_MLKEM_WASM: '0' });
  assert.is(off.ready, false);
  assert.ok(off.same);
  assert.equal(off.after, { implementation: 'noble', why: 'TLSPROXY_MLKEM_WASM=0', wasmEncapsulations: 0 });
  const on = run({});
  assert.is(on.idle.why, 'not loaded yet (no encapsulation so far)');
  assert.ok(on.same, 'the first encapsulation is noble\'s while the module loads');
  assert.is(on.ready, true);
  assert.is(on.after.implementation, 'wasm');
});

test('a module that fails its self-test is not used: noble encapsulates, and the reporter hears why once', () => {
  // The self-test decapsulates with the fallback: one that answers wrongly makes the test fail.
  const script = `
    import { mlKem768 } from './engine/crypto/mlkem.ts';
    import { mlKemImplementation, reportMlKemTo, wasmBackedMlKem768 } from './providers/mlkem-wasm.ts';
    const heard = [];
    reportMlKemTo((inUse, detail) => heard.push([inUse, detail]));
    const liar = { ...mlKem768, decapsulate: (ct, dk) => new Uint8Array(32) };
    const k = wasmBackedMlKem768(liar);
    const ready = await k.ready();
    const { encapsulationKey, decapsulationKey } = mlKem768.keygen();
    const r = k.encapsulate(encapsulationKey);
    const same = Buffer.from(mlKem768.decapsulate(r.ciphertext, decapsulationKey)).equals(Buffer.from(r.sharedSecret));
    console.log(JSON.stringify({ ready, same, heard, after: mlKemImplementation() }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.is(out.ready, false);
  assert.ok(out.same, 'the encapsulation is still right (noble)');
  assert.equal(out.heard, [[false, '@oqs/liboqs-js: self-test failed: its encapsulation does not decapsulate to the same secret']]);
  assert.is(out.after.implementation, 'noble');
  assert.is(out.after.wasmEncapsulations, 0);
});

test('the node provider uses it: a Node 24 (OpenSSL 3.5) X25519MLKEM768 handshake is served by the module', async () => {
  const bin = node24();
  if (!bin) return;
  const provider = createNodeCryptoProvider();
  assert.ok(await (provider.mlKem768 as typeof kem).ready());
  const pki = testPki();
  const server = await startEngineServer({ provider: 'node', config: { groups: [NamedGroup.X25519MLKEM768, NamedGroup.x25519] } });
  try {
    const before = mlKemImplementation().wasmEncapsulations;
    const r = await node24Connect(bin, server.port, { ecdhCurve: 'X25519MLKEM768:X25519', ca: pki.caPem, minVersion: 'TLSv1.3' });
    assert.is(r.error, undefined, r.error);
    assert.is((await server.sessionDone(1, 5000)).info?.group, 'X25519MLKEM768');
    assert.is(mlKemImplementation().wasmEncapsulations - before, 1);
  } finally {
    await server.close();
  }
});

test.run();
