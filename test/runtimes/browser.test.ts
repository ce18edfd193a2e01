/**
 * The neutral engine bundle (dist/bundle/engine.js, scripts/build.mjs) in
 * headless Chromium (Debian's chromium package, driven by playwright-core):
 * a page served from 127.0.0.1 (a secure context, so crypto.subtle exists)
 * imports the bundle and replays the RFC 8448 §3 handshake against
 * ServerConnection on the browser's WebCrypto (test/runtimes/browser/page.ts);
 * the test reads the outcome from the page.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium, type BrowserContext } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureBuilt, root, DIST } from '../helpers/build.js';
import { tempDir } from '../helpers/proxy.js';
import { skipped } from '../helpers/skip.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let server: http.Server;
let context: BrowserContext | undefined;

test.after(async () => {
  await context?.close();
  await new Promise((r) => server?.close(r));
});

const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; .ci/run does)`;
if (missing) skipped('headless Chromium test', missing);

(missing ? test.skip : test)('RFC 8448 §3 replayed byte for byte in headless Chromium on its WebCrypto, from the neutral bundle', async () => {
  ensureBuilt();
  const page = await esbuild.build({
    entryPoints: [path.join(root, 'test/runtimes/browser/page.ts')], bundle: true, platform: 'browser', format: 'esm',
    target: 'es2022', write: false, logLevel: 'warning',
  });
  const files: Record<string, [string, string | Uint8Array]> = {
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><title>tlsproxy engine: RFC 8448</title><script type="module" src="/page.js"></script>'],
    '/page.js': ['text/javascript', page.outputFiles[0]!.contents],
    '/engine.js': ['text/javascript', readFileSync(path.join(DIST, 'bundle/engine.js'))],
  };
  server = http.createServer((req, res) => {
    const f = files[req.url ?? ''];
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f[0], 'cache-control': 'no-store' }).end(f[1]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;

  context = await chromium.launchPersistentContext(tempDir('tlsproxy-chromium-'), {
    executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000,
  });
  const tab = context.pages()[0] ?? (await context.newPage());
  const console: string[] = [];
  tab.on('console', (m) => console.push(m.text()));
  tab.on('pageerror', (e) => console.push(String(e)));
  await tab.goto(`http://127.0.0.1:${port}/`);
  await tab.waitForFunction(() => (window as { rfc8448?: unknown }).rfc8448 !== undefined, undefined, { timeout: 30_000 });
  const outcome = await tab.evaluate(() => (window as { rfc8448?: unknown }).rfc8448) as { ok: boolean; steps: string[]; error?: string };
  const env = await tab.evaluate(() => ({ secure: window.isSecureContext, subtle: typeof crypto.subtle, agent: navigator.userAgent }));
  assert.ok(env.secure && env.subtle === 'object', JSON.stringify(env));
  assert.match(env.agent, /HeadlessChrome|Chrome/);
  assert.is(outcome.error, undefined, `${outcome.error}\n${console.join('\n')}`);
  assert.ok(outcome.ok);
  assert.equal(outcome.steps, ['ServerHello record', 'encrypted server flight record', 'handshake info', 'client application data decrypted']);
});

test.run();
