#!/usr/bin/env node
// Runs test/**/*.test.ts under uvu (TypeScript through tsx) and ends with the
// plain closing line "N passed, N failed" that CI reads.
//   node test/run.mjs                 every test
//   node test/run.mjs unit            in-process unit tests (seconds)
//   node test/run.mjs engine          the engine against real peers (openssl, gnutls-cli, node:tls)
//   node test/run.mjs daemon          the daemon: front ends, workers, Postfix, operations
//   node test/run.mjs <pattern>       test files whose path matches the pattern, e.g. interop
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const GROUPS = new Set(['unit', 'engine', 'daemon', 'runtimes']);
const arg = process.argv[2];
const dir = arg && GROUPS.has(arg) ? `test/${arg}` : 'test';
const pattern = arg && !GROUPS.has(arg) ? `${arg}.*\\.test\\.ts$` : '\\.test\\.ts$';
const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'node_modules/uvu/bin.js'), dir, pattern],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0', TLSPROXY_FROM_SOURCES: process.env.TLSPROXY_FROM_SOURCES ?? '1' } });
let out = '';
// Per-file wall time: uvu prints each file's name when it starts running it (imports happen before).
const started = [];
let seen = 0;
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const lines = plain.split('\n');
  for (; seen < lines.length - 1; seen++) {
    const l = lines[seen].trim();
    if (/^\S+\.test\.ts$/.test(l) || /^Total:/.test(l)) started.push([l, Date.now()]);
  }
});
child.on('close', (code, signal) => {
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  let failed = Math.max(0, total - passed - skipped) + (code !== 0 && total === passed + skipped ? 1 : 0);
  // A test whose outside tool is missing prints `SKIP <what>: <why>` (test/helpers/skip.ts). Under CI
  // nothing may skip: .ci/run installs every tool, so a skip there is a broken install step.
  const skips = [...plain.matchAll(/(?:^|\s)(SKIP [^:\n]+: [^\n]*)/g)].map((m) => m[1]);
  const times = started.slice(0, -1).map(([f, t], i) => [f, started[i + 1][1] - t]).sort((a, b) => b[1] - a[1]);
  if (times.length > 1) console.log(`\nSlowest files (wall time):\n${times.slice(0, 10).map(([f, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${f}`).join('\n')}`);
  if (skips.length) console.log(`\nSkipped for a missing tool:\n${[...new Set(skips)].map((s) => `  ${s}`).join('\n')}`);
  const onCi = process.env.CI === 'true' || process.env.CI === '1';
  if (onCi && (skips.length || skipped)) {
    console.log(`CI=${process.env.CI}: nothing may be skipped here (.ci/run installs every tool the tests need): counted as failures`);
    failed += Math.max(skips.length, skipped);
  }
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(code !== 0 || signal || failed > 0 || total === 0 ? 1 : 0);
});
