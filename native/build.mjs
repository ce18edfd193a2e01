#!/usr/bin/env node
// Builds the native addon (native/tlsproxy_native.c) with node-gyp.
//
// Run by `npm install` / `npm ci` (package.json "install" script) and by
// `npm run build:native`. It NEVER fails the install: where there is no
// compiler, no Node headers or no node-gyp, it prints why and exits 0; the
// reason is kept in native/build/UNAVAILABLE so that the Postfix service
// mode (the only user of the addon) can say why it cannot run.
//
//   node native/build.mjs            build (quietly; the output on failure)
//   node native/build.mjs --verbose  show node-gyp's output
//   node native/build.mjs --strict   exit 1 when the build fails
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const verbose = process.argv.includes('--verbose');
const strict = process.argv.includes('--strict');
const marker = path.join(dir, 'build', 'UNAVAILABLE');

function nodeGyp() {
  // npm tells its scripts where its bundled node-gyp is.
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  ];
  return candidates.find((c) => c && existsSync(c));
}

function fail(reason, output = '') {
  mkdirSync(path.dirname(marker), { recursive: true });
  writeFileSync(marker, `${reason}\n`);
  process.stderr.write(`tlsproxy: the native addon was not built: ${reason}\n`);
  process.stderr.write('tlsproxy: everything works without it except the Postfix service mode (README: "Running under Postfix"); the node crypto provider then uses node:crypto for AES-GCM, ChaCha20-Poly1305 and X25519 (slower per record).\n');
  if (output && !verbose) process.stderr.write(output.split('\n').slice(-25).join('\n') + '\n');
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') fail(`the addon is for Linux (this is ${process.platform})`);
const gyp = nodeGyp();
if (!gyp) fail('node-gyp not found (it comes with npm)');
const args = [gyp, 'rebuild', '--directory', dir];
// Headers installed with Node itself (Debian, NodeSource): no download needed.
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h') && process.execPath.startsWith('/usr/bin/')) {
  args.push('--nodedir=/usr');
}
const r = spawnSync(process.execPath, args, {
  cwd: dir,
  encoding: 'utf8',
  stdio: verbose ? 'inherit' : 'pipe',
  timeout: 300_000,
  env: { ...process.env, npm_config_loglevel: verbose ? process.env.npm_config_loglevel : 'error' },
});
const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
if (r.error) fail(`node-gyp could not run: ${r.error.message}`, output);
if (r.status !== 0) {
  const why = /not found: (make|g\+\+|cc|gcc|python3?)|gyp ERR! stack Error: (.*)/.exec(output);
  fail(`node-gyp failed (exit ${r.status}${why ? `: ${why[0].trim()}` : ''})`, output);
}
if (!existsSync(path.join(dir, 'build', 'Release', 'tlsproxy_native.node'))) fail('node-gyp ran but produced no build/Release/tlsproxy_native.node', output);
rmSync(marker, { force: true });
if (!verbose) process.stdout.write('tlsproxy: native addon built (native/build/Release/tlsproxy_native.node)\n');
