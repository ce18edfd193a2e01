#!/usr/bin/env node
// Compiles the TypeScript sources to JavaScript in dist/ (run by npm's
// `prepare` lifecycle step, so `npm ci` builds it; `npm run build` by hand).
//
//   dist/<same layout as the sources>/*.js   esbuild, one output file per source file
//   dist/**/*.d.ts                           tsc declaration emit, for the library entry points
//                                            (package.json "exports": engine, certs, providers)
//
// bin/tlsproxy.js runs dist/proxy/cli/main.js, and the daemon forks
// dist/proxy/supervisor/worker-entry.mjs: no TypeScript compiler or loader
// runs in a production start. Tests and the bench run the sources (tsx).
//
//   node scripts/build.mjs            JavaScript and declarations
//   node scripts/build.mjs --js       JavaScript only (what tests call: well under a second)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');
/** Source folders compiled; tests and the bench are not shipped. */
const SOURCES = ['engine', 'certs', 'providers', 'proxy'];
const jsOnly = process.argv.includes('--js');

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  // A production install (npm ci --omit=dev) has no esbuild: dist/ must come with the package then.
  if (existsSync(path.join(dist, 'proxy', 'cli', 'main.js'))) process.exit(0);
  process.stderr.write('tlsproxy build: esbuild is not installed (a development dependency) and dist/ is missing\n');
  process.exit(1);
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const files = SOURCES.flatMap((d) => walk(path.join(root, d)));
const ts = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
const mjs = files.filter((f) => f.endsWith('.mjs'));

rmSync(dist, { recursive: true, force: true });
const started = Date.now();
await esbuild.build({
  entryPoints: ts,
  outdir: dist,
  outbase: root,
  bundle: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
// The worker entry points (.mjs) find worker.js beside them in dist/ and need no loader there.
for (const f of mjs) {
  const to = path.join(dist, path.relative(root, f));
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(f, to);
}

// dist/bundle/engine.js: engine/ in one ES module for the neutral platform (browsers, workers,
// embedded runtimes): the engine API, the webcrypto and js providers, and the @noble code they use.
// No Node built-in may end up in it (test/runtimes/library.test.ts checks dist/bundle/engine.meta.json).
// @peculiar/webcrypto (the webcrypto provider's fallback where globalThis.crypto is missing, for Node)
// is replaced by a stub that says so.
const noNodeFallback = {
  name: 'no-node-webcrypto-fallback',
  setup(b) {
    b.onResolve({ filter: /^@peculiar\/webcrypto$/ }, () => ({ path: 'peculiar-webcrypto', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export class Crypto { constructor() { throw new Error("tlsproxy engine bundle: this platform has no WebCrypto (globalThis.crypto.subtle): use createJsCryptoProvider()"); } }',
      loader: 'js',
    }));
  },
};
const bundle = await esbuild.build({
  stdin: {
    contents: [
      "export * from './engine/index.ts';",
      "export { createWebCryptoProvider, loadWebCryptoProvider } from './engine/crypto/webcrypto.ts';",
      "export { createJsCryptoProvider } from './engine/crypto/js.ts';",
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'engine-bundle.ts',
    loader: 'ts',
  },
  bundle: true,
  platform: 'neutral',
  mainFields: ['module', 'main'],
  format: 'esm',
  target: 'es2022',
  outfile: path.join(dist, 'bundle', 'engine.js'),
  metafile: true,
  plugins: [noNodeFallback],
  logLevel: 'warning',
});
writeFileSync(path.join(dist, 'bundle', 'engine.d.ts'), [
  "export * from '../engine/index.js';",
  "export { createWebCryptoProvider, loadWebCryptoProvider } from '../engine/crypto/webcrypto.js';",
  "export { createJsCryptoProvider } from '../engine/crypto/js.js';",
  '',
].join('\n'));
writeFileSync(path.join(dist, 'bundle', 'engine.meta.json'), JSON.stringify(bundle.metafile, null, 1));

// dist/run/: the daemon as bin/tlsproxy.js runs it, bundled (issue 9, start-up): the CLI, the
// supervisor's worker and the Postfix service's worker as three entry points sharing chunks, with
// their npm dependencies inside, and a chunk per module loaded only on demand (the webcrypto and
// js providers, the Postfix service mode...). One file read and compiled instead of ~230 resolved,
// read and linked: start-up time and RSS measured in bench/README.md.
// Each module keeps the import.meta.url it has in the per-file tree (dist/<its path>.js), so every
// path it computes from it (the worker entry points beside it, native/ above it) is the same as
// there; the worker-entry.mjs files run dist/run/ when it is present.
/**
 * An esbuild plugin that gives each source module the import.meta.url it has in the per-file tree,
 * resolved against `base` (an expression for the bundle's own URL), then applies `rewrite`.
 */
function perFileUrl(name, base, rewrite = (src) => src) {
  return {
    name,
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        const rel = path.relative(root, args.path);
        if (rel.startsWith('..') || !SOURCES.includes(rel.split(path.sep)[0])) return undefined;
        const src = await import('node:fs/promises').then((fs) => fs.readFile(args.path, 'utf8'));
        const asJs = rel.split(path.sep).join('/').replace(/\.ts$/, '.js');
        return { contents: rewrite(src.replaceAll('import.meta.url', `new URL(${JSON.stringify(`../${asJs}`)}, ${base}).href`)), loader: 'ts' };
      });
    },
  };
}
const ownUrl = perFileUrl('per-file-import-meta-url', 'import.meta.url');
const run = await esbuild.build({
  entryPoints: {
    main: path.join(root, 'proxy/cli/main.ts'),
    'supervisor-worker': path.join(root, 'proxy/supervisor/worker.ts'),
    'postfix-worker': path.join(root, 'proxy/postfix/worker.ts'),
  },
  outdir: path.join(dist, 'run'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The bundled CommonJS packages (prom-client, pkijs' helpers...) call require() for Node built-ins.
  banner: { js: "import { createRequire as __tlsproxyCreateRequire } from 'node:module'; const require = __tlsproxyCreateRequire(import.meta.url);" },
  // memjs is required at run time through createRequire, when memcache is configured; the
  // tsx fallbacks of the entry points never run from here.
  external: ['memjs', 'tsx', 'tsx/*'],
  // Whitespace and syntax minified, names kept (stack traces, profiles and log lines read as the
  // sources do): the start reads, parses and keeps in memory less source (bench/README.md "Start-up").
  minifyWhitespace: true,
  minifySyntax: true,
  // Linked source maps without the sources (the package ships them): `node --enable-source-maps`
  // and DevTools show the TypeScript file and line of a stack trace or profile frame.
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
  plugins: [ownUrl],
  logLevel: 'warning',
});
writeFileSync(path.join(dist, 'run', 'meta.json'), JSON.stringify(run.metafile, null, 1));

// dist/run/main.cjs: the same CLI entry point as one CommonJS script, which bin/tlsproxy.js runs on
// Node through V8's code cache (bin/code-cache.js): a start after the first deserialises the
// bytecode the previous start compiled instead of parsing and compiling it again (Node 20 has no
// compile cache for ES modules; bench/README.md "Start-up"). esbuild splits chunks only for ES
// modules, so every module a start may load is in this one file; those loaded on demand (the
// webcrypto and js providers, the Postfix service mode, metrics) stay lazily initialised inside it.
// Four parts are left out and loaded at run time instead: prom-client (CommonJS, from
// node_modules), @peculiar/webcrypto (its ES module build, from node_modules), the CLI's
// certificate commands with pkijs (an ES-module-only package: the per-file dist/proxy/cli/certs.js)
// and liboqs' ML-KEM-768 module (providers/mlkem-wasm.ts, from node_modules/@oqs/liboqs-js).
// The ES modules loaded at run time go through the loader's import() (bin/code-cache.js; an
// import() compiled by vm.Script from a code cache has no module loader on Node 20).
const cjsOwnUrl = perFileUrl('per-file-url-cjs', '__tlsproxyBundleUrl', (src) =>
  src
    .replaceAll("import('./certs.js')", "__tlsproxyLoad(new URL('../proxy/cli/certs.js', __tlsproxyBundleUrl).href)")
    .replaceAll("import('@peculiar/webcrypto')", "__tlsproxyLoad('@peculiar/webcrypto')")
    .replaceAll('import(wasmModuleUrl)', '__tlsproxyLoad(wasmModuleUrl)'),
);
const cjs = await esbuild.build({
  entryPoints: { main: path.join(root, 'proxy/cli/main.ts') },
  outdir: path.join(dist, 'run'),
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // ASCII only (esbuild's default, said here because bin/code-cache.js reads the file as latin1).
  charset: 'ascii',
  banner: {
    js:
      "'use strict'; const __tlsproxyBundleUrl = require('node:url').pathToFileURL(__filename).href; " +
      "const __tlsproxyLoad = typeof __tlsproxyImport === 'function' ? __tlsproxyImport : (s) => import(s);",
  },
  external: ['memjs', 'tsx', 'tsx/*', 'prom-client', '@peculiar/webcrypto', 'pkijs'],
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
  plugins: [cjsOwnUrl],
  logLevel: 'warning',
});
if (Object.keys(cjs.metafile.inputs).some((i) => i.includes('node_modules/pkijs/'))) {
  process.stderr.write('tlsproxy build: pkijs ended up in dist/run/main.cjs (it must stay in dist/proxy/cli/certs.js)\n');
  process.exit(1);
}
{
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(path.join(dist, 'run', 'main.cjs'), 'latin1');
  // The banner's fallback (a plain require() of the file) is the one import() allowed.
  if (text.split(/\bimport\(/).length - 1 > 1) {
    process.stderr.write('tlsproxy build: dist/run/main.cjs calls import(): route it through __tlsproxyLoad (scripts/build.mjs)\n');
    process.exit(1);
  }
  if (/[^\x00-\x7f]/.test(text)) {
    process.stderr.write('tlsproxy build: dist/run/main.cjs is not ASCII (bin/code-cache.js reads it as latin1)\n');
    process.exit(1);
  }
}
writeFileSync(path.join(dist, 'run', 'main.cjs.meta.json'), JSON.stringify(cjs.metafile, null, 1));
const jsMs = Date.now() - started;

if (!jsOnly) {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    process.stderr.write('tlsproxy build: typescript is not installed: no type declarations in dist/\n');
  } else {
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      process.stderr.write('tlsproxy build: declaration emit failed\n');
      process.exit(1);
    }
  }
}
if (process.argv.includes('--verbose')) {
  process.stderr.write(`tlsproxy build: ${ts.length} files to dist/ in ${jsMs} ms${jsOnly ? '' : `, declarations in ${Date.now() - started - jsMs} ms`}\n`);
}
