#!/usr/bin/env node
// Launcher for the package's `tlsproxy` command. It runs the compiled
// JavaScript in dist/ (built by `npm ci` through the `prepare` step, or
// `npm run build`): the bundled daemon dist/run/main.js (or, without it, the
// per-file dist/proxy/cli/main.js). No TypeScript compiler or loader runs in
// a production start; the daemon forks dist/proxy/supervisor/worker-entry.mjs,
// which runs the bundled worker.
//
// TLSPROXY_FROM_SOURCES=1 (test/run.mjs sets it), or a checkout where dist/
// was never built, runs the TypeScript sources through tsx instead.
// The same file runs under Deno (`deno run -A bin/tlsproxy.js`) and Bun
// (`bun bin/tlsproxy.js`): docs/runtimes.md.
import { existsSync } from 'node:fs';
import nodeModule from 'node:module';

// Node 22.1+: V8's code cache for the modules loaded (in the system's temporary directory, or
// NODE_COMPILE_CACHE), so that a start after the first skips compiling them. Absent on Node 20,
// Deno and Bun; a cache that cannot be written changes nothing.
nodeModule.enableCompileCache?.();

const bundled = new URL('../dist/run/main.js', import.meta.url);
const compiled = existsSync(bundled) ? bundled : new URL('../dist/proxy/cli/main.js', import.meta.url);
const fromSources = !!process.env.TLSPROXY_FROM_SOURCES && process.env.TLSPROXY_FROM_SOURCES !== '0';
let main;
if (!fromSources && existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../proxy/cli/main.ts'));
}
process.exit(await main(process.argv.slice(2)));
