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
// the old code: once started, a TypeScript source newer than the compiled
// entry point gets one warning on stderr (off the start path; an installed
// package's files all carry npm's one timestamp and never warn).
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

const onNode = typeof globalThis.Deno === 'undefined' && !process.versions.bun;

// No optimising compiler until the process serves (proxy/base/v8-tiering.ts turns it back on at
// the first session): a start runs nothing worth optimising, and the first function V8 optimises
// pages in TurboFan's own code, ~4.7 MiB of the node binary, in a daemon that may then wait for
// hours. Set once the bundle's top level has run: V8 refuses a code cache made under other flags,
// Node's own for its built-in modules included, so the modules a start loads are compiled from
// those caches first; code-cache.js writes ours under the default flags. Left alone with
// TLSPROXY_V8_TIERING=0 and when Node was started with its own say on the optimiser (--jitless,
// --[no-]turbofan, --[no-]opt).
const TURBOFAN_DEFERRED = Symbol.for('tlsproxy.turbofanDeferred');
const optimiserFlag = (a) => /^--(jitless|(no-)?turbofan|(no-)?opt)(=|$)/.test(a);
function deferTurbofan() {
  if (!onNode || process.env.TLSPROXY_V8_TIERING === '0') return;
  if ([...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some(optimiserFlag)) return;
  require('node:v8').setFlagsFromString('--no-turbofan');
  globalThis[TURBOFAN_DEFERRED] = true;
}

const root = path.dirname(__dirname);
const bundled = path.join(root, 'dist/run/main.js');
const compiled = existsSync(bundled) ? bundled : path.join(root, 'dist/proxy/cli/main.js');
// On Node, the same bundle as one CommonJS script through V8's code cache (code-cache.js, kept
// beside it under the rules written there); Deno and Bun run the ES modules.
const script = path.join(root, 'dist/run/main.cjs');
const fromSources = !!process.env.TLSPROXY_FROM_SOURCES && process.env.TLSPROXY_FROM_SOURCES !== '0';

(async () => {
  let main;
  if (!fromSources && onNode && existsSync(script)) {
    ({ main } = require('./code-cache.js').runCached(script).exports);
    setTimeout(() => warnIfStale(script).catch(() => undefined), 50).unref();
  } else if (!fromSources && existsSync(compiled)) {
    // Not Node 22's module.enableCompileCache(): its cache is in the system's temporary directory,
    // where another user could leave code for this (root) process to run (code-cache.js).
    ({ main } = await import(pathToFileURL(compiled).href));
    setTimeout(() => warnIfStale(compiled).catch(() => undefined), 50).unref();
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    ({ main } = await import(pathToFileURL(path.join(root, 'proxy/cli/main.ts')).href));
  }
  deferTurbofan();
  process.exit(await main(process.argv.slice(2)));
})().catch((e) => {
  // As an uncaught error in an ES module entry point: the stack, exit status 1.
  process.stderr.write(`${e && e.stack ? e.stack : String(e)}\n`);
  process.exit(1);
});

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
