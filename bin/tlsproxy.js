#!/usr/bin/env node
// Launcher for the package's `tlsproxy` command: registers tsx so the
// TypeScript sources run as they are, then hands over to proxy/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../proxy/cli/main.ts');
process.exit(await main(process.argv.slice(2)));
