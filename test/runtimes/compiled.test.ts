/**
 * The compiled daemon (scripts/build.mjs -> dist/, bin/tlsproxy.js): a
 * production start loads no TypeScript. A module-resolution hook preloaded
 * through NODE_OPTIONS (so the forked worker processes carry it too) throws
 * on any `tsx` import or any `.ts` module: the daemon with 2 worker
 * processes still starts, serves openssl s_client and stops. The same hook
 * records every module of dist/ loaded: the workers run the bundle in
 * dist/run/ (start-up time, issue 9), not the per-file tree; the CLI runs
 * dist/run/main.cjs through V8's code cache (bin/code-cache.js), which the
 * start writes beside it and the next start uses.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certMainCf, echoBackend, tempDir, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, sClient, served, stopAllDaemons } from '../helpers/daemon-proc.js';
import { compiledEnv, ensureBuilt, root } from '../helpers/build.js';
import { node24, node24Connect } from '../helpers/node24.js';

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
  // The CLI's bundle is a CommonJS script run through vm (no ES module resolution to record).
  assert.not.ok(files.includes('run/main.js'), files.join(' '));
  assert.ok(files.includes('run/supervisor-worker.js'), files.join(' '));
  assert.equal(files.filter((f) => !f.startsWith('run/') && f !== 'proxy/supervisor/worker-entry.mjs'), [], 'only the bundle');
  assert.is(d.junk.length, 0, d.junk.join('\n'));
  assert.is(await d.stop(), 0);
});

test('the CLI bundle writes its code cache once started, and the next start runs from it', async () => {
  const script = path.join(root, 'dist/run/main.cjs');
  const cache = `${script}.${process.version}-${process.arch}.cache`;
  rmSync(cache, { force: true });
  const conf = writeConfig(await certMainCf(), `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`);
  const first = await DaemonProc.start(conf, [], 30_000, { env: compiledEnv() });
  const until = Date.now() + 15_000;
  while (!existsSync(cache) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(cache), 'written by the first start');
  const header = readFileSync(cache).subarray(0, 200).toString('latin1');
  assert.match(header, new RegExp(`^tlsproxy-code-cache-1\\n${createHash('sha256').update(readFileSync(script)).digest('hex')}\\n[0-9a-f]{64}\\n`));
  assert.is(await first.stop(), 0);
  const written = statSync(cache).mtimeMs;
  // The second start reads it (the file's access is not observable; it is not rewritten, and serves).
  const second = await DaemonProc.start(conf, [], 30_000, { env: compiledEnv() });
  const s = await served(second, () => sClient(second.port, ['-tls1_3'], 'hello cached\n'));
  assert.match(s.out, /hello cached/);
  await new Promise((r) => setTimeout(r, 2500));
  assert.is(statSync(cache).mtimeMs, written, 'a start that used the cache writes none');
  assert.is(await second.stop(), 0);
});

test('the CLI bundle loads the ML-KEM-768 WebAssembly module at its first post-quantum handshake (Node 24 client) and says so once', async () => {
  const bin = node24();
  if (!bin) return;
  const conf = writeConfig(await certMainCf(), `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`);
  const d = await DaemonProc.start(conf, [], 30_000, { env: compiledEnv() });
  const ca = (await testPki()).caPem;
  for (let i = 0; i < 3; i++) {
    const r = await node24Connect(bin, d.port, { ecdhCurve: 'X25519MLKEM768:X25519', ca, minVersion: 'TLSv1.3' });
    assert.is(r.error, undefined, r.error);
  }
  await d.waitFor(/ML-KEM-768 encapsulation \(X25519MLKEM768, SecP256r1MLKEM768\): liboqs on WebAssembly \(@oqs\/liboqs-js\)/);
  const r = await node24Connect(bin, d.port, { ecdhCurve: 'X25519MLKEM768', ca, minVersion: 'TLSv1.3' });
  assert.is(r.error, undefined, r.error);
  assert.is(await d.stop(), 0);
  assert.is(d.texts().filter((t) => /ML-KEM-768/.test(t)).length, 1, d.texts().join('\n'));
  assert.is(d.junk.length, 0, d.junk.join('\n'));
});

test.run();
