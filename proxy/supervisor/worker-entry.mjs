// Entry point of a worker process (workers.ts forks it through node:cluster):
// registers tsx so the TypeScript sources run as they are, then runs worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
