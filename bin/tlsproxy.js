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
//
// A checkout whose sources changed after the last build would silently run
// the old code: once started, a TypeScript source newer than the compiled
// entry point gets one warning on stderr (off the start path; an installed
// package's files all carry npm's one timestamp and never warn).
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
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
  setTimeout(() => warnIfStale(compiled).catch(() => undefined), 50).unref();
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../proxy/cli/main.ts'));
}
process.exit(await main(process.argv.slice(2)));

/** The first .ts file under the source directories newer than `compiled`, if any: say so once. */
async function warnIfStale(compiled) {
  const built = (await stat(compiled)).mtimeMs;
  const root = new URL('../', import.meta.url);
  async function newer(dir) {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const e of entries) {
      const url = new URL(e.name + (e.isDirectory() ? '/' : ''), dir);
      if (e.isDirectory()) {
        const found = await newer(url);
        if (found) return found;
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && (await stat(url)).mtimeMs > built) {
        return url;
      }
    }
    return undefined;
  }
  for (const d of ['engine/', 'certs/', 'providers/', 'proxy/']) {
    const found = await newer(new URL(d, root));
    if (found) {
      const rel = found.pathname.slice(root.pathname.length);
      process.stderr.write(`tlsproxy: warning: ${rel} is newer than the compiled ${compiled.pathname.slice(root.pathname.length)}: this runs the previous build (npm run build)\n`);
      return;
    }
  }
}
