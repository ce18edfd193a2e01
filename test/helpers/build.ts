/**
 * The compiled JavaScript in dist/ (scripts/build.mjs), for the tests that
 * run it (test/runtimes/): built once per test process, so that it matches
 * the sources under test.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
export const DIST = path.join(root, 'dist');
let built = false;

/** Build dist/ (JavaScript and declarations) unless this process already did. */
export function ensureBuilt(): void {
  if (built) return;
  const r = spawnSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed:\n${r.stdout}${r.stderr}`);
  built = true;
}

/** The environment for running the compiled daemon: no TLSPROXY_FROM_SOURCES (test/run.mjs sets it). */
export function compiledEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.TLSPROXY_FROM_SOURCES;
  return env;
}
