/**
 * The test files themselves: uvu runs the tests registered before
 * `test.run()` and silently drops any registered after it (five tests in
 * four files were never run that way). Every *.test.ts calls test.run()
 * once, after its last test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function testFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== 'fixtures' && e.name !== 'node_modules') testFiles(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

test('every test file runs all its tests: one test.run(), after the last test()', () => {
  const files = testFiles(root);
  assert.ok(files.length > 50, `found ${files.length} test files`);
  const bad: string[] = [];
  for (const f of files) {
    const lines = readFileSync(f, 'utf8').split('\n');
    const runs = lines.flatMap((l, i) => (/^\s*test\.run\(\);/.test(l) ? [i] : []));
    const lastTest = lines.reduce((at, l, i) => (/^\s*test(\.only|\.skip)?\(/.test(l) ? i : at), -1);
    if (runs.length !== 1 || runs[0]! < lastTest) bad.push(`${path.relative(root, f)}: test.run() at line ${runs.map((r) => r + 1).join(', ') || 'none'}, last test() at line ${lastTest + 1}`);
  }
  assert.equal(bad, []);
});

test.run();
