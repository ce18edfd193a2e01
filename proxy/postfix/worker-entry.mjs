// Entry point of the serving process of the Postfix service mode (launcher.ts
// spawns it): registers tsx so the TypeScript sources run as they are, then
// runs worker.ts with master's arguments.
import { register } from 'tsx/esm/api';

register();
const { runWorker } = await import('./worker.ts');
await runWorker(process.argv.slice(2));
