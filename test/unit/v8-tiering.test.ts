/**
 * proxy/base/v8-tiering.ts: the serving processes' interrupt budget, and
 * that V8 honours it when it is set at run time (the flag is set after the
 * start, not on the command line).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BEFORE_FLAGS_CHANGE, SERVING_INTERRUPT_BUDGET, TURBOFAN_DEFERRED, armTieringForServing, deferTurbofanUntilServing, firstSessionTuner, tuneTieringForServing } from '../../proxy/base/v8-tiering.js';

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

test("deferTurbofanUntilServing: --no-turbofan on Node, and the marker; nothing on Deno or Bun, with TLSPROXY_V8_TIERING=0 or an optimiser option of the operator's", () => {
  const g = globalThis as Record<symbol, unknown>;
  const was = g[TURBOFAN_DEFERRED];
  try {
    const set: string[] = [];
    g[TURBOFAN_DEFERRED] = undefined;
    assert.is(deferTurbofanUntilServing((f) => set.push(f), {}, 'node', ['--max-old-space-size=512', '--allow-natives-syntax']), true);
    assert.equal(set, ['--no-turbofan']);
    assert.is(g[TURBOFAN_DEFERRED], true);
    g[TURBOFAN_DEFERRED] = undefined;
    for (const args of [['--jitless'], ['--no-opt'], ['--opt'], ['--turbofan'], ['--no-turbofan'], ['--turbofan=true']]) {
      assert.is(deferTurbofanUntilServing((f) => set.push(f), {}, 'node', args), false, args.join(' '));
    }
    assert.is(deferTurbofanUntilServing((f) => set.push(f), { TLSPROXY_V8_TIERING: '0' }, 'node', []), false);
    assert.is(deferTurbofanUntilServing((f) => set.push(f), {}, 'deno', []), false);
    assert.is(deferTurbofanUntilServing((f) => set.push(f), {}, 'bun', []), false);
    // NODE_OPTIONS counts by default (its words with the command line's).
    assert.is(deferTurbofanUntilServing((f) => set.push(f), { NODE_OPTIONS: '--max-old-space-size=64 --jitless' }, 'node'), false);
    assert.is(set.length, 1, 'nothing else was set');
    assert.is(g[TURBOFAN_DEFERRED], undefined);
  } finally {
    armTieringForServing(); // stops the long-start timer of the first call
    g[TURBOFAN_DEFERRED] = was;
  }
});

test('a start still running after the long-start time gets TurboFan back; one that listens first (armTieringForServing) keeps it off', async () => {
  const g = globalThis as Record<symbol, unknown>;
  const was = g[TURBOFAN_DEFERRED];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    const long: string[] = [];
    assert.is(deferTurbofanUntilServing((f) => long.push(f), {}, 'node', [], 20), true);
    await sleep(80);
    assert.equal(long, ['--no-turbofan', '--turbofan']);
    assert.is(g[TURBOFAN_DEFERRED], false, 'nothing left for the first session to turn on');
    const short: string[] = [];
    deferTurbofanUntilServing((f) => short.push(f), {}, 'node', [], 20);
    armTieringForServing(); // the process listens
    await sleep(80);
    assert.equal(short, ['--no-turbofan']);
    assert.is(g[TURBOFAN_DEFERRED], true, 'still off: the first session turns it on');
  } finally {
    g[TURBOFAN_DEFERRED] = was;
  }
});

test('TurboFan after the start: the launcher turns it off, the first session turns it back on with the budget, and each takes effect', () => {
  // The launcher's marker set (as bin/tlsproxy.js does): the serving flags turn TurboFan back on, once.
  const g = globalThis as Record<symbol, unknown>;
  const was = g[TURBOFAN_DEFERRED];
  g[TURBOFAN_DEFERRED] = true;
  let flags: string | undefined;
  try {
    flags = tuneTieringForServing(() => undefined, {}, 'node', () => undefined);
    assert.is(flags, `--interrupt-budget=${SERVING_INTERRUPT_BUDGET} --turbofan`);
    assert.is(g[TURBOFAN_DEFERRED], false);
    assert.is(tuneTieringForServing(() => undefined, {}, 'node', () => undefined), `--interrupt-budget=${SERVING_INTERRUPT_BUDGET}`, 'not twice');
  } finally {
    g[TURBOFAN_DEFERRED] = was;
  }
  // A child runs the real launcher (`tlsproxy --help`); where the launcher would exit, it runs a hot
  // function before and after those flags instead.
  const child = `
    const exit = process.exit.bind(process);
    process.exit = () => setImmediate(() => {
      const deferred = globalThis[Symbol.for('tlsproxy.turbofanDeferred')] === true;
      const TURBOFANNED = 1 << 6;
      function work(a) { let s = 0; for (let i = 0; i < 16; i++) s = (s + a * i) ^ (s >>> 3); return s; }
      const hot = () => { for (let n = 0; n < 300000; n++) work(n); return (%GetOptimizationStatus(work) & TURBOFANNED) !== 0; };
      const before = hot();
      require('node:v8').setFlagsFromString(${JSON.stringify(flags)});
      const after = hot();
      process.stdout.write('\\n' + JSON.stringify({ deferred, before, after }) + '\\n');
      exit(0);
    });
    process.argv = [process.argv[0], 'tlsproxy', '--help'];
    require(${JSON.stringify(new URL('../../bin/tlsproxy.js', import.meta.url).pathname)});
  `;
  const run = (execArgv: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', ...execArgv, '-e', child], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { deferred: boolean; before: boolean; after: boolean };
  };
  assert.equal(run([]), { deferred: true, before: false, after: true }, 'off until the flags, on after');
  // Without the launcher's say: optimised from the start.
  assert.equal(run([], { TLSPROXY_V8_TIERING: '0' }), { deferred: false, before: true, after: true }, 'TLSPROXY_V8_TIERING=0');
  // An operator's own optimiser flag is left alone.
  assert.is(run(['--no-opt']).deferred, false, 'node --no-opt');
  assert.is(run(['--turbofan']).deferred, false, 'node --turbofan');
});

test.run();
