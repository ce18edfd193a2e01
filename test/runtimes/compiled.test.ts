/**
 * The compiled daemon (scripts/build.mjs -> dist/, bin/tlsproxy.js): a
 * production start loads no TypeScript. A module-resolution hook preloaded
 * through NODE_OPTIONS (so the forked worker processes carry it too) throws
 * on any `tsx` import or any `.ts` module: the daemon with 2 worker
 * processes still starts, serves openssl s_client and stops. The same hook
 * records every module of dist/ loaded: the CLI and the workers run the
 * bundle in dist/run/ (start-up time, issue 9), not the per-file tree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certMainCf, echoBackend, tempDir, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, sClient, served, stopAllDaemons } from '../helpers/daemon-proc.js';
import { compiledEnv, ensureBuilt, root } from '../helpers/build.js';

let backend: TestBackend;

test.before(async () => {
  ensureBuilt();
  backend = await echoBackend();
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

test('bin/tlsproxy.js runs dist/ with 2 worker processes and never loads tsx or a .ts file', async () => {
  const dir = tempDir('tlsproxy-nots-');
  const hooks = path.join(dir, 'hooks.mjs');
  const refused = path.join(dir, 'refused.log');
  const loaded = path.join(dir, 'loaded.log');
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (/(^|\\/)tsx(\\/|$)|\\.[cm]?ts$/.test(specifier)) {
    appendFileSync(${JSON.stringify(refused)}, process.pid + ' ' + specifier + '\\n');
    throw new Error('refused by the test: ' + specifier);
  }
  const r = await next(specifier, context);
  if (r.url.includes('/dist/')) appendFileSync(${JSON.stringify(loaded)}, process.pid + ' ' + r.url + '\\n');
  return r;
}
`);
  const preload = path.join(dir, 'preload.mjs');
  writeFileSync(preload, `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)});\n`);
  const conf = writeConfig(await certMainCf(), `127.0.0.1:0 inet n - n - 2 tlsproxy -o tlsproxy_backend=${backend.address}`);
  const d = await DaemonProc.start(conf, [], 30_000, { env: compiledEnv({ NODE_OPTIONS: `--import ${preload}` }) });
  await d.waitFor(/^service \S+: 2 worker processes, pids /);
  const s = await served(d, () => sClient(d.port, ['-tls1_3'], 'hello compiled\n'));
  assert.match(s.out, /hello compiled/);
  assert.ok(s.lines.some((l) => /TLS connection established from .*TLSv1\.3/.test(l.text)), s.out);
  for (const pid of d.workerPids()) {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.ok(argv.some((a) => a === path.join(root, 'dist/proxy/supervisor/worker-entry.mjs')), argv.join(' '));
  }
  let seen = '';
  try {
    seen = readFileSync(refused, 'utf8');
  } catch {
    // nothing refused
  }
  assert.is(seen, '', 'no TypeScript loaded');
  // Every process ran the bundle: dist/run/ files, plus only the worker entry point of the per-file tree.
  const dist = `file://${path.join(root, 'dist')}/`;
  const files = readFileSync(loaded, 'utf8').trim().split('\n').map((l) => l.split(' ')[1].slice(dist.length));
  assert.ok(files.includes('run/main.js'), files.join(' '));
  assert.ok(files.includes('run/supervisor-worker.js'), files.join(' '));
  assert.equal(files.filter((f) => !f.startsWith('run/') && f !== 'proxy/supervisor/worker-entry.mjs'), [], 'only the bundle');
  assert.is(d.junk.length, 0, d.junk.join('\n'));
  assert.is(await d.stop(), 0);
});

test.run();
