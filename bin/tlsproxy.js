#!/usr/bin/env node
// Launcher for the package's `tlsproxy` command. It runs the compiled
// JavaScript in dist/ (built by `npm ci` through the `prepare` step, or
// `npm run build`): on Node the bundled daemon dist/run/main.cjs through V8's
// code cache (code-cache.js), elsewhere dist/run/main.js (or, without it,
// the per-file dist/proxy/cli/main.js). No TypeScript compiler or loader runs in
// a production start; the daemon forks dist/proxy/supervisor/worker-entry.mjs,
// which runs the bundled worker.
//
// TLSPROXY_FROM_SOURCES=1 (test/run.mjs sets it), or a checkout where dist/
// was never built, runs the TypeScript sources through tsx instead.
// The same file runs under Deno (`deno run -A bin/tlsproxy.js`) and Bun
// (`bun bin/tlsproxy.js`): docs/runtimes.md.
//
// This file is CommonJS (bin/package.json), the rest of the package ES
// modules: Node reads an ES module entry point through libuv's thread pool,
// which starts the pool's threads before the entry's first line runs, so
// only a CommonJS entry can still size the pool (below).
//
// A checkout whose sources changed after the last build would silently run
// the old code: a TypeScript source newer than the compiled entry point gets
// one warning on stderr, looked for a second after the start (a start takes
// 100-200 ms: the walk over the sources stays off its path). An installed
// package (a path under node_modules/) is not looked at: its files all carry
// npm's one timestamp and would never warn.
'use strict';
const { existsSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

// libuv's thread pool runs the asynchronous crypto jobs (every WebCrypto call of the webcrypto
// provider, the node provider's X25519 key pairs made ahead), getaddrinfo and asynchronous file
// access. libuv starts 4 threads whatever the machine; more threads than CPUs only add wake-ups
// and lock contention to that CPU-bound work: with 2 CPUs, 2 threads cut the webcrypto provider's
// CPU per 16 KiB record by 20-30 % (bench/README.md). Between 2 (a slow name lookup does not
// stop the crypto jobs) and libuv's 4; UV_THREADPOOL_SIZE set in the environment wins.
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  try {
    const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    process.env.UV_THREADPOOL_SIZE = String(Math.min(4, Math.max(2, cpus)));
  } catch {
    // A runtime without writable environment variables (Deno without --allow-env): its own defaults.
  }
}

const root = path.dirname(__dirname);
const bundled = path.join(root, 'dist/run/main.js');
const compiled = existsSync(bundled) ? bundled : path.join(root, 'dist/proxy/cli/main.js');
// On Node, the same bundle as one CommonJS script through V8's code cache (code-cache.js, kept
// beside it under the rules written there); Deno and Bun run the ES modules.
const script = path.join(root, 'dist/run/main.cjs');
const onNode = typeof globalThis.Deno === 'undefined' && !process.versions.bun;
const fromSources = !!process.env.TLSPROXY_FROM_SOURCES && process.env.TLSPROXY_FROM_SOURCES !== '0';

(async () => {
  let main;
  let deferTurbofanUntilServing;
  if (!fromSources && onNode && existsSync(script)) {
    ({ main, deferTurbofanUntilServing } = require('./code-cache.js').runCached(script).exports);
    checkLater(script);
  } else if (!fromSources && existsSync(compiled)) {
    // Not Node 22's module.enableCompileCache(): its cache is in the system's temporary directory,
    // where another user could leave code for this (root) process to run (code-cache.js).
    ({ main, deferTurbofanUntilServing } = await import(pathToFileURL(compiled).href));
    checkLater(compiled);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    ({ main, deferTurbofanUntilServing } = await import(pathToFileURL(path.join(root, 'proxy/cli/main.ts')).href));
  }
  // No optimising compiler until the process serves (proxy/base/v8-tiering.ts, "TurboFan after the
  // start"), from here and not before: V8 refuses a code cache made under other flags, Node's own
  // for its built-in modules included, so the modules the bundle's top level loaded came from
  // those caches (code-cache.js writes ours under the default flags).
  deferTurbofanUntilServing?.();
  process.exit(await main(process.argv.slice(2)));
})().catch((e) => {
  // As an uncaught error in an ES module entry point: the stack, exit status 1.
  process.stderr.write(`${e && e.stack ? e.stack : String(e)}\n`);
  process.exit(1);
});

/** In a checkout, warnIfStale() a second after the start (a shorter command ends before: no look). */
function checkLater(compiled) {
  if (root.split(path.sep).includes('node_modules')) return;
  setTimeout(() => warnIfStale(compiled).catch(() => undefined), 1000).unref();
}

/** The first .ts file under the source directories newer than `compiled`, if any: say so once. */
async function warnIfStale(compiled) {
  const { readdir, stat } = require('node:fs/promises');
  const built = (await stat(compiled)).mtimeMs;
  async function newer(dir) {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const e of entries) {
      const file = path.join(dir, e.name);
      if (e.isDirectory()) {
        const found = await newer(file);
        if (found) return found;
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && (await stat(file)).mtimeMs > built) {
        return file;
      }
    }
    return undefined;
  }
  for (const d of ['engine', 'certs', 'providers', 'proxy']) {
    const found = await newer(path.join(root, d));
    if (found) {
      const rel = (f) => path.relative(root, f).split(path.sep).join('/');
      process.stderr.write(`tlsproxy: warning: ${rel(found)} is newer than the compiled ${rel(compiled)}: this runs the previous build (npm run build)\n`);
      return;
    }
  }
}
