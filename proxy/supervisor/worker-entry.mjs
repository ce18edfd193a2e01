// Entry point of a worker process (workers.ts forks it through node:cluster).
// In dist/ (the compiled daemon, scripts/build.mjs) worker.js is beside this
// file and runs as it is; in the sources, tsx is registered first so that
// worker.ts runs (tests, development).
import { existsSync } from 'node:fs';

if (existsSync(new URL('./worker.js', import.meta.url))) {
  await import('./worker.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./worker.ts');
}
