/**
 * proxy/base/memory-reducer.ts: V8's young generation handed back once
 * after a burst of sessions and a quiet moment, never under steady load or
 * for a trickle; and the native tlsproxy_memory addon's call itself.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryReducer, loadMemoryPressure } from '../../proxy/base/memory-reducer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Two sessions, then `ms` without one. */
async function burst(r: MemoryReducer, ms = 50): Promise<void> {
  r.sessionStarted();
  r.sessionStarted();
  await sleep(ms);
}

test('one reduction after a burst of at least minSessions followed by quietMs without a session, relieved reliefMs later', async () => {
  let calls = 0;
  const levels: boolean[] = [];
  const r = new MemoryReducer((on) => (levels.push(on), on && calls++), 40, 5, 30, 0);
  for (let i = 0; i < 4; i++) r.sessionStarted();
  await sleep(80);
  assert.is(calls, 0, 'a trickle (4 < 5 sessions) never triggers it');
  r.sessionStarted();
  await sleep(80);
  assert.is(calls, 1, 'the fifth session and a quiet moment: one call');
  await sleep(80);
  assert.is(calls, 1, 'once per burst');
  assert.equal(levels, [true, false], 'moderate, then none again');
  assert.is(r.pressing, false);
  r.stop();
});

test('a session during the pressure sets it back to none at once', async () => {
  const levels: boolean[] = [];
  const r = new MemoryReducer((on) => levels.push(on), 20, 2, 10_000, 0);
  r.sessionStarted();
  r.sessionStarted();
  await sleep(60);
  assert.equal(levels, [true]);
  assert.is(r.pressing, true);
  r.sessionStarted();
  assert.equal(levels, [true, false]);
  assert.is(r.pressing, false);
  r.stop();
  assert.equal(levels, [true, false], 'stop() with no pressure on changes nothing');
});

test('steady load (a session every 10 ms for 300 ms) never triggers it; the quiet after it does', async () => {
  let calls = 0;
  const r = new MemoryReducer((on) => on && calls++, 40, 5, 30, 0);
  const end = Date.now() + 300;
  while (Date.now() < end) {
    r.sessionStarted();
    await sleep(10);
  }
  assert.is(calls, 0);
  await sleep(80);
  assert.is(calls, 1);
  assert.is(r.reductions, 1);
  r.stop();
});

test('at most one reduction per minIntervalMs', async () => {
  let calls = 0;
  let t = 0;
  const r = new MemoryReducer((on) => on && calls++, 20, 2, 5, 1000, () => t);
  await burst(r);
  assert.is(calls, 1);
  t = 999;
  await burst(r);
  assert.is(calls, 1, 'too soon after the last one');
  t = 1000;
  await burst(r);
  assert.is(calls, 2, 'the interval has passed');
  r.stop();
});

test('a burst too soon after a reduction gets its own once the interval has passed, with no session after it', async () => {
  let calls = 0;
  // The real clock: the re-armed check is a timer.
  const r = new MemoryReducer((on) => on && calls++, 20, 2, 5, 400);
  await burst(r);
  assert.is(calls, 1);
  await burst(r);
  assert.is(calls, 1, 'not yet: 100 ms after the last one');
  await sleep(450);
  assert.is(calls, 2, 'once the interval has passed, the process still quiet');
  await sleep(100);
  assert.is(calls, 2, 'and only once');
  r.stop();
});

test('stop() cancels a pending reduction', async () => {
  let calls = 0;
  const r = new MemoryReducer((on) => on && calls++, 30, 1, 30, 0);
  r.sessionStarted();
  r.stop();
  await sleep(60);
  assert.is(calls, 0);
});

test('the native memoryPressure() shrinks the heap V8 kept after a burst of allocation (a separate process)', () => {
  // A child grows its young generation with short-lived garbage, then calls the addon; heapTotal drops.
  const script = `
    const { loadMemoryPressure } = await import(${JSON.stringify(path.resolve('proxy/base/memory-reducer.ts'))});
    const pressure = loadMemoryPressure();
    if (!pressure) { console.log('absent'); process.exit(0); }
    let keep = [];
    for (let i = 0; i < 200000; i++) { keep.push({ a: new Array(16).fill(i) }); if (keep.length > 2000) keep = []; }
    keep = [];
    const before = process.memoryUsage().heapTotal;
    pressure(true);
    await new Promise((r) => setTimeout(r, 200));
    pressure(false);
    console.log(JSON.stringify({ before, after: process.memoryUsage().heapTotal }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const out = r.stdout.trim().split('\n').at(-1)!;
  // The addon is built by npm ci (native/build.mjs); CI has it.
  assert.is.not(out, 'absent', 'native/build/Release/tlsproxy_memory.node is built');
  const { before, after } = JSON.parse(out) as { before: number; after: number };
  assert.ok(after < before, `heapTotal ${before} -> ${after}`);
});

test('loadMemoryPressure(): none when TLSPROXY_MEMORY_REDUCER=0', () => {
  const was = process.env.TLSPROXY_MEMORY_REDUCER;
  process.env.TLSPROXY_MEMORY_REDUCER = '0';
  try {
    assert.is(loadMemoryPressure(), undefined);
  } finally {
    if (was === undefined) delete process.env.TLSPROXY_MEMORY_REDUCER;
    else process.env.TLSPROXY_MEMORY_REDUCER = was;
  }
});


test('afterStart: one reduction once serving, none if sessions came first, and the first burst still gets its own', async () => {
  const levels: boolean[] = [];
  // minIntervalMs 10 s: a start-up reduction that counted would block the burst's.
  const r = new MemoryReducer((on) => levels.push(on), 40, 3, 20, 10_000);
  r.afterStart(10);
  await sleep(60);
  assert.equal(levels, [true, false], 'moderate pressure once serving, then none');
  for (let i = 0; i < 3; i++) r.sessionStarted();
  await sleep(90);
  assert.equal(levels, [true, false, true, false], 'the first burst after the start is reduced too');
  r.stop();

  const busy: boolean[] = [];
  const r2 = new MemoryReducer((on) => busy.push(on), 40, 3, 20, 10_000);
  r2.afterStart(30);
  r2.sessionStarted();
  await sleep(60);
  assert.equal(busy, [], 'a session before the delay: no start-up reduction');
  r2.stop();

  const stopped: boolean[] = [];
  const r3 = new MemoryReducer((on) => stopped.push(on), 40, 3, 20, 0);
  r3.afterStart(20);
  r3.stop();
  await sleep(50);
  assert.equal(stopped, [], 'stop() cancels it');
});

test.run();
