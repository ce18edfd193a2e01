/** The daemon on Bun (`bun bin/tlsproxy.js start -c DIR`): test/helpers/runtime-suite.ts. */
import path from 'node:path';
import { test } from 'uvu';
import { runtimeSuite, root } from '../helpers/runtime-suite.js';

runtimeSuite('bun', [path.join(root, 'node_modules/.bin/bun')], /^running on Bun \d+\.\d+\.\d+ through its Node API compatibility/, true);
test.run();
