// Entry point of a worker process (workers.ts forks it through node:cluster).
// In dist/ (the compiled daemon, scripts/build.mjs) the bundled worker in
// dist/run/ runs, or else worker.js beside this file; in the sources, tsx is
// registered first so that worker.ts runs (tests, development).
import { existsSync } from 'node:fs';

const bundled = new URL('../../run/supervisor-worker.js', import.meta.url);
if (import.meta.url.includes('/dist/') && existsSync(bundled)) {
  await import(bundled.href);
} else if (existsSync(new URL('./worker.js', import.meta.url))) {
  await import('./worker.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./worker.ts');
}
