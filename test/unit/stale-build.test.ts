/**
 * bin/tlsproxy.js warns once when a TypeScript source is newer than the
 * compiled daemon it is about to run (a checkout changed after its last
 * build), and says nothing when the build is current. A scratch tree holds
 * the real launcher with a stub compiled entry point.
 */

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** How long the stub daemons run: past the launcher's look at the sources, 1 s after the start. */
const STUB_MS = 1400;

function tree(dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-stale-'))): string {
  mkdirSync(path.join(dir, 'bin'));
  mkdirSync(path.join(dir, 'dist/run'), { recursive: true });
  mkdirSync(path.join(dir, 'engine/tls13'), { recursive: true });
  copyFileSync(path.join(root, 'bin/tlsproxy.js'), path.join(dir, 'bin/tlsproxy.js'));
  // The stub "daemon" stays up long enough for the check (a second after the start) to run, like `start`.
  writeFileSync(path.join(dir, 'dist/run/main.js'), `export async function main() { await new Promise((r) => setTimeout(r, ${STUB_MS})); return 0; }\n`);
  writeFileSync(path.join(dir, 'engine/tls13/server.ts'), '// source\n');
  writeFileSync(path.join(dir, 'engine/types.d.ts'), '// declarations are not sources\n');
  return dir;
}

function run(dir: string): { status: number | null; stderr: string } {
  const env = { ...process.env };
  delete env.TLSPROXY_FROM_SOURCES;
  const r = spawnSync(process.execPath, [path.join(dir, 'bin/tlsproxy.js'), 'start'], { encoding: 'utf8', env, timeout: 10_000 });
  return { status: r.status, stderr: r.stderr };
}

test('a source newer than dist/: one warning naming the file and the fix, and the build still runs', () => {
  const dir = tree();
  try {
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'dist/run/main.js'), old, old);
    const r = run(dir);
    assert.is(r.status, 0);
    assert.match(r.stderr, /tlsproxy: warning: engine\/tls13\/server\.ts is newer than the compiled dist\/run\/main\.js: this runs the previous build \(npm run build\)/);
    assert.is(r.stderr.split('warning').length - 1, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a current build (or npm one timestamp for all files): no warning', () => {
  const dir = tree();
  try {
    const same = new Date('1985-10-26T08:15:00Z');
    for (const f of ['dist/run/main.js', 'engine/tls13/server.ts']) utimesSync(path.join(dir, f), same, same);
    const newer = new Date(Date.now() + 1000);
    utimesSync(path.join(dir, 'engine/types.d.ts'), newer, newer);
    const r = run(dir);
    assert.is(r.status, 0);
    assert.is(r.stderr, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the CommonJS bundle (dist/run/main.cjs, run through bin/code-cache.js on Node): the warning names it', () => {
  const dir = tree();
  try {
    copyFileSync(path.join(root, 'bin/code-cache.js'), path.join(dir, 'bin/code-cache.js'));
    writeFileSync(path.join(dir, 'dist/run/main.cjs'), `module.exports = { main: async () => { await new Promise((r) => setTimeout(r, ${STUB_MS})); return 0; } };\n`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'dist/run/main.cjs'), old, old);
    const r = run(dir);
    assert.is(r.status, 0);
    assert.match(r.stderr, /tlsproxy: warning: engine\/tls13\/server\.ts is newer than the compiled dist\/run\/main\.cjs: this runs the previous build \(npm run build\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an installed package (under node_modules/): its sources are not looked at, newer or not', () => {
  const top = mkdtempSync(path.join(tmpdir(), 'tlsproxy-stale-'));
  const dir = path.join(top, 'node_modules', 'tlsproxy');
  mkdirSync(dir, { recursive: true });
  tree(dir);
  try {
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'dist/run/main.js'), old, old);
    const r = run(dir);
    assert.is(r.status, 0);
    assert.is(r.stderr, '');
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

test.run();
