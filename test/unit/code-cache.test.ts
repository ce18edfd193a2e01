/**
 * bin/code-cache.js: the daemon's CommonJS bundle runs through V8's code
 * cache, kept beside it and trusted exactly as far as the script: used when
 * the cache, the script and their directory belong to one user and nobody
 * else may write them, and when the cache was made from these very bytes
 * (its SHA-256, not V8's length check); written only by that user, after
 * the start. A scratch directory holds a small script in each test. Each
 * run is a fresh process (`fresh()`): within one process V8's own
 * compilation cache would serve the second compile of the same source and
 * hide whether the cached data was taken.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const require = createRequire(import.meta.url);
const { runCached, cachePath } = require('../../bin/code-cache.js') as {
  runCached: (file: string, options?: { enabled?: boolean; saveAfterMs?: number }) => { exports: Record<string, unknown>; state: { used: boolean; save: () => boolean } };
  cachePath: (file: string) => string;
};

const LOADER = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bin/code-cache.js');

/**
 * runCached(file) in a new process: whether the cache was used, the script's value, save() when
 * asked, and what its export `call` resolves to when named.
 */
function fresh(file: string, opts: { save?: boolean; call?: string; env?: NodeJS.ProcessEnv; execArgv?: string[] } = {}): { used: boolean; value: unknown; saved?: boolean; called?: unknown } {
  const code = `const r = require(${JSON.stringify(LOADER)}).runCached(${JSON.stringify(file)}, { saveAfterMs: 600000 });
const out = { used: r.state.used, value: r.exports.value };
if (${!!opts.save}) out.saved = r.state.save();
const call = ${JSON.stringify(opts.call ?? null)};
Promise.resolve(call && r.exports[call]()).then((v) => {
  if (call) out.called = v;
  process.stdout.write(JSON.stringify(out));
});`;
  const r = spawnSync(process.execPath, [...(opts.execArgv ?? []), '-e', code], { encoding: 'utf8', env: { ...process.env, ...opts.env } });
  if (r.status !== 0) throw new Error(`the loader's process failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A script with enough functions for V8 to cache, returning `value`. */
function script(value: string): string {
  const fns = Array.from({ length: 50 }, (_, i) => `function f${i}(x) { return x * ${i} + ${i}; }`).join('\n');
  return `${fns}\nlet sum = 0; for (let i = 0; i < 50; i++) sum += eval('f' + i)(1);\nmodule.exports = { value: ${JSON.stringify(value)}, sum, dir: __dirname, load: __tlsproxyImport };\n`;
}

/** Runs `fn` with a fresh scratch directory holding the script (scratch()), removed afterwards. */
async function inScratch(fn: (s: { dir: string; file: string }) => void | Promise<void>): Promise<void> {
  const s = scratch();
  try {
    await fn(s);
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
}

function scratch(value = 'one'): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-cc-'));
  chmodSync(dir, 0o755);
  const file = path.join(dir, 'main.cjs');
  writeFileSync(file, script(value), { mode: 0o644 });
  return { dir, file };
}

test('first run compiles, save() writes the cache, the next run uses it and runs the same code', async () => {
  await inScratch(async ({ dir, file }) => {
    const a = runCached(file, { saveAfterMs: 60_000 });
    assert.is(a.exports.value, 'one');
    assert.is(a.exports.dir, dir);
    assert.type(a.exports.load, 'function');
    assert.is(a.state.used, false);
    assert.is(a.state.save(), true);
    const cache = cachePath(file);
    assert.ok(cache.startsWith(`${file}.${process.version}-${process.arch}`), cache);
    const bytes = readFileSync(cache);
    assert.match(bytes.subarray(0, 100).toString('latin1'), /^tlsproxy-code-cache-1\n[0-9a-f]{64}\n/);
    assert.is(statSync(cache).mode & 0o777, 0o644);
    const b = runCached(file);
    assert.is(b.state.used, true);
    assert.is(b.exports.value, 'one');
    assert.is(b.exports.sum, 2450);
    assert.equal(fresh(file), { used: true, value: 'one' });
  });
});

test('the script changed with its length unchanged: the cache is not used (V8 alone would take it) and the new code runs', async () => {
  await inScratch(async ({ file }) => {
      assert.equal(fresh(file, { save: true }), { used: false, value: 'one', saved: true });
      assert.equal(fresh(file), { used: true, value: 'one' });
      writeFileSync(file, script('two'));
      assert.equal(fresh(file, { save: true }), { used: false, value: 'two', saved: true }, 'the new bytes run, and get their cache');
      assert.equal(fresh(file), { used: true, value: 'two' });
  });
});

test('a cache or a directory others may write, a symbolic link, a corrupt body: not used, the script still runs', async () => {
  await inScratch(async ({ dir, file }) => {
    runCached(file, { saveAfterMs: 60_000 }).state.save();
    const cache = cachePath(file);
    chmodSync(cache, 0o664);
    assert.equal(fresh(file), { used: false, value: 'one' }, 'group-writable cache');
    chmodSync(cache, 0o644);
    chmodSync(dir, 0o777);
    assert.equal(fresh(file), { used: false, value: 'one' }, 'world-writable directory');
    chmodSync(dir, 0o755);
    chmodSync(file, 0o666);
    assert.equal(fresh(file), { used: false, value: 'one' }, 'world-writable script');
    chmodSync(file, 0o644);
    assert.equal(fresh(file), { used: true, value: 'one' }, 'trusted again');

    const real = readFileSync(cache);
    rmSync(cache);
    writeFileSync(path.join(dir, 'elsewhere'), real, { mode: 0o644 });
    symlinkSync(path.join(dir, 'elsewhere'), cache);
    assert.equal(fresh(file), { used: false, value: 'one' }, 'symbolic link');
    rmSync(cache);

    // A damaged body under an intact header: V8 would abort in its deserialiser; the data's SHA-256 keeps it out.
    const header = 'tlsproxy-code-cache-1\n'.length + 2 * 65;
    const damaged = Buffer.from(real);
    for (let i = header + 64; i < damaged.length; i++) damaged[i] ^= 0x5a;
    writeFileSync(cache, damaged, { mode: 0o644 });
    assert.equal(fresh(file), { used: false, value: 'one' }, 'damaged data');
    writeFileSync(cache, real.subarray(0, real.length - 100), { mode: 0o644 });
    assert.equal(fresh(file), { used: false, value: 'one' }, 'truncated');
    writeFileSync(cache, real, { mode: 0o644 });
    assert.equal(fresh(file), { used: true, value: 'one' }, 'whole again');
  });
});

test('a cache owned by another user than the script is not used (root only: chown)', async () => {
  if (process.getuid?.() !== 0) return;
  await inScratch(async ({ file }) => {
    runCached(file, { saveAfterMs: 60_000 }).state.save();
    assert.equal(fresh(file), { used: true, value: 'one' });
    chownSync(cachePath(file), 65534, 65534);
    assert.equal(fresh(file), { used: false, value: 'one' }, 'cache of another user');
    // A script owned by someone else: this process neither writes a cache for it nor uses root's.
    chownSync(cachePath(file), 0, 0);
    chownSync(file, 65534, 65534);
    assert.equal(fresh(file, { save: true }), { used: false, value: 'one', saved: false });
  });
});

test('off (TLSPROXY_CODE_CACHE=0 or enabled: false): no cache read or written', async () => {
  await inScratch(async ({ file }) => {
    runCached(file, { saveAfterMs: 60_000 }).state.save();
    const r = runCached(file, { enabled: false });
    assert.is(r.state.used, false);
    assert.is(r.state.save(), false);
    assert.equal(fresh(file, { save: true, env: { TLSPROXY_CODE_CACHE: '0' } }), { used: false, value: 'one', saved: false });
    assert.equal(fresh(file), { used: true, value: 'one' });
  });
});

test('without a cache, the timer writes one after saveAfterMs (and not at once)', async () => {
  await inScratch(async ({ file }) => {
    runCached(file, { saveAfterMs: 30 });
    assert.is(existsSync(cachePath(file)), false);
    const until = Date.now() + 5000;
    while (!existsSync(cachePath(file)) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.ok(existsSync(cachePath(file)));
    assert.equal(fresh(file), { used: true, value: 'one' });
  });
});

/** In a new process: runCached (no cache yet), then a V8 flag set at run time, the hook called first or not. */
function flagChange(file: string, hookFirst: boolean): { hookGone: boolean } {
  const code = `const { runCached, BEFORE_FLAGS_CHANGE } = require(${JSON.stringify(LOADER)});
const r = runCached(${JSON.stringify(file)}, { saveAfterMs: 600000 });
if (${hookFirst}) globalThis[BEFORE_FLAGS_CHANGE]();
require('node:v8').setFlagsFromString('--interrupt-budget=16384');
if (!${hookFirst}) r.state.save();
process.stdout.write(JSON.stringify({ hookGone: globalThis[BEFORE_FLAGS_CHANGE] === undefined }));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the loader's process failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('a V8 flag set at run time (proxy/base/v8-tiering.ts): the hook writes the pending cache first, which a start with the default flags uses', async () => {
  await inScratch(async ({ file }) => {
    assert.equal(flagChange(file, true), { hookGone: true }, 'the hook ran once and unregistered itself');
    assert.ok(existsSync(cachePath(file)));
    assert.equal(fresh(file), { used: true, value: 'one' });
  });
  await inScratch(async ({ file }) => {
    // Why the hook: a cache written after the change is refused by V8 in a default start.
    flagChange(file, false);
    assert.ok(existsSync(cachePath(file)));
    assert.equal(fresh(file), { used: false, value: 'one' });
  });
});

test("TurboFan off after the start (bin/tlsproxy.js deferTurbofan): the cache is still written under the default flags, and stays off", async () => {
  const write = (file: string, marker: boolean) => {
    const code = `const r = require(${JSON.stringify(LOADER)}).runCached(${JSON.stringify(file)}, { saveAfterMs: 600000 });
require('node:v8').setFlagsFromString('--no-turbofan');
if (${marker}) globalThis[Symbol.for('tlsproxy.turbofanDeferred')] = true;
const saved = r.state.save();
function work(a) { let s = 0; for (let i = 0; i < 16; i++) s = (s + a * i) ^ (s >>> 3); return s; }
for (let n = 0; n < 300000; n++) work(n);
process.stdout.write(JSON.stringify({ saved, turbofanned: (%GetOptimizationStatus(work) & (1 << 6)) !== 0 }));`;
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', code], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`the loader's process failed (${r.status ?? r.signal}): ${r.stderr}`);
    return JSON.parse(r.stdout) as { saved: boolean; turbofanned: boolean };
  };
  await inScratch(async ({ file }) => {
    assert.equal(write(file, true), { saved: true, turbofanned: false }, 'written, and TurboFan still off afterwards');
    // (--allow-natives-syntax, which the writer needs to look at TurboFan, is a flag too.)
    assert.equal(fresh(file, { execArgv: ['--allow-natives-syntax'] }), { used: true, value: 'one' }, 'a start (default flags while it compiles) takes it');
  });
  await inScratch(async ({ file }) => {
    // Why: written under --no-turbofan as it is, the next start refuses it.
    write(file, false);
    assert.equal(fresh(file, { execArgv: ['--allow-natives-syntax'] }), { used: false, value: 'one' });
  });
});

test('the script imports ES modules through the loader (__tlsproxyImport), also when run from the cache', async () => {
  await inScratch(async ({ dir, file }) => {
    writeFileSync(path.join(dir, 'esm.mjs'), 'export const answer = 42;\n');
    writeFileSync(file, `${script('one')}\nmodule.exports.answer = () => __tlsproxyImport(require('node:url').pathToFileURL(${JSON.stringify(path.join(dir, 'esm.mjs'))}).href).then((m) => m.answer);\n`);
    const a = runCached(file, { saveAfterMs: 60_000 });
    assert.is(await (a.exports.answer as () => Promise<number>)(), 42);
    a.state.save();
    assert.equal(fresh(file, { call: 'answer' }), { used: true, value: 'one', called: 42 });
  });
});

test.run();
