/**
 * proxy/base/v8-tiering.ts: the serving processes' interrupt budget, and
 * that V8 honours it when it is set at run time (the flag is set after the
 * start, not on the command line).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BEFORE_FLAGS_CHANGE, SERVING_INTERRUPT_BUDGET, firstSessionTuner, tuneTieringForServing } from '../../proxy/base/v8-tiering.js';

test("sets a quarter of V8's default interrupt budget on Node, nothing with TLSPROXY_V8_TIERING=0 or on Deno and Bun", () => {
  const set: string[] = [];
  assert.is(tuneTieringForServing((f) => set.push(f), {}, 'node', () => undefined), '--interrupt-budget=16384');
  assert.equal(set, ['--interrupt-budget=16384']);
  assert.is(SERVING_INTERRUPT_BUDGET * 4, 65536);
  assert.is(tuneTieringForServing((f) => set.push(f), { TLSPROXY_V8_TIERING: '0' }, 'node'), undefined);
  assert.is(tuneTieringForServing((f) => set.push(f), {}, 'deno'), undefined);
  assert.is(tuneTieringForServing((f) => set.push(f), {}, 'bun'), undefined);
  assert.is(set.length, 1, 'nothing else was set');
});

test('once armed (a serving process), the first session sets it and later ones do not; unarmed, sessions change nothing', () => {
  let calls = 0;
  const t = firstSessionTuner(() => calls++);
  t.sessionStarted();
  assert.is(calls, 0, 'not a serving process yet');
  t.arm();
  t.sessionStarted();
  t.sessionStarted();
  assert.is(calls, 1);
});

test('the hook is looked up under the symbol bin/code-cache.js registers it with (two module systems, one Symbol.for key)', () => {
  const { BEFORE_FLAGS_CHANGE: launchers } = createRequire(import.meta.url)('../../bin/code-cache.js') as { BEFORE_FLAGS_CHANGE: symbol };
  assert.is(BEFORE_FLAGS_CHANGE, launchers);
});

test('the code cache hook runs before the flag is set', () => {
  const order: string[] = [];
  tuneTieringForServing((f) => order.push(`set ${f}`), {}, 'node', () => order.push('hook'));
  assert.equal(order, ['hook', 'set --interrupt-budget=16384']);
  tuneTieringForServing((f) => order.push(`set ${f}`), { TLSPROXY_V8_TIERING: '0' }, 'node', () => order.push('hook'));
  assert.is(order.length, 2, 'switched off: no hook, no flag');
});

// A function with a short loop, called until V8 marks it for TurboFan (or has optimised it).
const CHILD = `
const flag = process.argv[1];
if (flag) require('node:v8').setFlagsFromString(flag);
function work(a) { let s = 0; for (let i = 0; i < 16; i++) s = (s + a * i) ^ (s >>> 3); return s; }
const MARKED_OR_OPTIMISED = (1 << 4) | (1 << 8) | (1 << 9) | (1 << 10);
let n = 0;
for (; n < 200000; n++) { work(n); if (%GetOptimizationStatus(work) & MARKED_OR_OPTIMISED) break; }
process.stdout.write(String(n));
`;

function callsUntilOptimised(flag: string): number {
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', CHILD, flag], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return Number(r.stdout);
}

test('set at run time, the budget takes effect: the same function reaches TurboFan in well under half the calls', () => {
  const flag = tuneTieringForServing(() => undefined, {}, 'node', () => undefined)!;
  const tuned = callsUntilOptimised(flag);
  const stock = callsUntilOptimised('');
  assert.ok(stock < 200000, `never optimised with the default budget (${stock} calls)`);
  assert.ok(tuned > 0 && tuned * 2 < stock, `${tuned} calls with ${flag} against ${stock} with the default`);
});

test.run();
