// Entry point of the serving process of the Postfix service mode (launcher.ts
// spawns it): runs worker.ts with master's arguments. In dist/ (the compiled
// daemon, scripts/build.mjs) worker.js is beside this file and runs as it is;
// in the sources, tsx is registered first (tests, development).
import { existsSync } from 'node:fs';

let worker;
if (existsSync(new URL('./worker.js', import.meta.url))) {
  worker = await import('./worker.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  worker = await import('./worker.ts');
}
await worker.runWorker(process.argv.slice(2));
