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
import { shapeAnchors } from '../../engine/common/shape-anchors.js';
import { Transcript } from '../../engine/common/transcript.js';
import { KeySchedule } from '../../engine/tls13/key-schedule.js';
import { anchoredSessionShapes } from '../../proxy/base/shape-anchors.js';
import { startDemoBackend } from '../../proxy/cli/demo-backend.js';
import { certMainCf, connectTls, startDaemon, tlsproxyService } from '../helpers/proxy.js';

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
  if (process.argv[1] === 'drop') shapeAnchors.writer = undefined;
  await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 6; i++) gc();
  const after = (%GetOptimizationStatus(use) & TURBOFANNED) !== 0;
  process.stdout.write(JSON.stringify({ before, after }));
})();
`;

function optimisedAcrossCollections(mode: 'keep' | 'drop'): { before: boolean; after: boolean } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--allow-natives-syntax', '--expose-gc', '-e', CHILD, mode], { encoding: 'utf8', cwd: ROOT });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { before: boolean; after: boolean };
}

test('V8 keeps the optimised code of a Writer user through full collections at idle while the anchor lives, and drops it without', () => {
  assert.equal(optimisedAcrossCollections('keep'), { before: true, after: true });
  assert.equal(optimisedAcrossCollections('drop'), { before: true, after: false });
});

test('the engine anchors: an unused Writer, the last Transcript, the last erased KeySchedule with its secret zeroed', async () => {
  assert.ok(shapeAnchors.writer instanceof Writer);
  assert.is((shapeAnchors.writer as Writer).length, 0);
  const demo = await startDemoBackend();
  const d = await startDaemon(await certMainCf(), tlsproxyService(demo.address));
  try {
    const c = await connectTls(d.port, { minVersion: 'TLSv1.3' });
    await c.waitFor('220 ');
    c.socket.end('QUIT\r\n');
    await c.closed;
    await d.log.waitFor(/^DISCONNECT/);
    assert.ok(shapeAnchors.transcript instanceof Transcript);
    assert.ok(shapeAnchors.schedule instanceof KeySchedule);
    const secret = (shapeAnchors.schedule as unknown as { secret: Uint8Array }).secret;
    assert.ok(secret.length >= 32);
    assert.ok(secret.every((b) => b === 0), 'the anchored key schedule holds a zeroed secret');
    // The proxy's anchors: that session's two sockets, closed, and nothing else.
    const kept = anchoredSessionShapes();
    assert.equal(Object.keys(kept).sort(), ['backend', 'client']);
    const client = kept.client as { destroyed: boolean } | undefined;
    const backend = kept.backend as { destroyed: boolean } | undefined;
    assert.ok(client && client.destroyed, 'the client socket of the finished session');
    assert.ok(backend && backend.destroyed, 'the backend socket of the finished session');
  } finally {
    await d.close();
    await demo.close();
  }
});

test.run();
