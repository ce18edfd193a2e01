// Entry point of the serving process of the Postfix service mode (launcher.ts
// spawns it): runs worker.ts with master's arguments. In dist/ (the compiled
// daemon, scripts/build.mjs) the bundled worker in dist/run/ runs, or else
// worker.js beside this file; in the sources, tsx is registered first (tests,
// development).
import { existsSync } from 'node:fs';

let worker;
const bundled = new URL('../../run/postfix-worker.js', import.meta.url);
if (import.meta.url.includes('/dist/') && existsSync(bundled)) {
  worker = await import(bundled.href);
} else if (existsSync(new URL('./worker.js', import.meta.url))) {
  worker = await import('./worker.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  worker = await import('./worker.ts');
}
await worker.runWorker(process.argv.slice(2));
