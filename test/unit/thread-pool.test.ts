/**
 * bin/tlsproxy.js sizes libuv's thread pool before anything starts it:
 * UV_THREADPOOL_SIZE between 2 and 4 after the CPUs available, unless the
 * environment already sets it. The size must really take effect: an ES
 * module entry point would have started the pool's threads (4) before its
 * first line ran, so the count of the process's threads is checked too
 * (Linux: /proc/self/task). A scratch tree holds the real launcher with a
 * stub compiled entry point that keeps 8 jobs on the pool at once.
 */

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const STUB = `import { pbkdf2 } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
export async function main() {
  // 8 jobs at once: every thread the pool may have is started.
  await Promise.all(Array.from({ length: 8 }, () => new Promise((r) => pbkdf2('x', 's', 20000, 32, 'sha256', r))));
  const threads = existsSync('/proc/self/task') ? readdirSync('/proc/self/task').length : null;
  process.stdout.write(JSON.stringify({ size: process.env.UV_THREADPOOL_SIZE ?? null, threads }));
  return 0;
}
`;

let dir: string;

function tree(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'tlsproxy-pool-'));
  mkdirSync(path.join(d, 'bin'));
  mkdirSync(path.join(d, 'dist/run'), { recursive: true });
  writeFileSync(path.join(d, 'package.json'), '{ "type": "module" }\n');
  copyFileSync(path.join(root, 'bin/tlsproxy.js'), path.join(d, 'bin/tlsproxy.js'));
  copyFileSync(path.join(root, 'bin/package.json'), path.join(d, 'bin/package.json'));
  writeFileSync(path.join(d, 'dist/run/main.js'), STUB);
  return d;
}

function run(size?: string): { size: string | null; threads: number | null } {
  const env = { ...process.env };
  delete env.TLSPROXY_FROM_SOURCES;
  delete env.UV_THREADPOOL_SIZE;
  if (size !== undefined) env.UV_THREADPOOL_SIZE = size;
  const r = spawnSync(process.execPath, [path.join(dir, 'bin/tlsproxy.js'), 'start'], { encoding: 'utf8', env, timeout: 20_000 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
const expected = Math.min(4, Math.max(2, cpus));

test.before(() => {
  dir = tree();
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test(`unset: the launcher sets UV_THREADPOOL_SIZE to ${expected} (${cpus} CPUs, between 2 and 4)`, () => {
  assert.is(run().size, String(expected));
});

test('set in the environment: left as it is', () => {
  assert.is(run('3').size, '3');
  assert.is(run('7').size, '7');
});

test('the size takes effect: the pool has that many threads (counted in /proc/self/task)', () => {
  if (!existsSync('/proc/self/task')) {
    console.log('  (no /proc/self/task here: thread count not checked)');
    return;
  }
  const two = run('2').threads!;
  const four = run('4').threads!;
  const byDefault = run().threads!;
  // The process's other threads (V8's platform workers...) are the same in every run.
  assert.is(four - two, 2, `threads with 2: ${two}, with 4: ${four}`);
  assert.is(byDefault - two, expected - 2, `threads by default: ${byDefault}, with 2: ${two}`);
});

test.run();
