/** The daemon on Deno (`deno run -A bin/tlsproxy.js start -c DIR`): test/helpers/runtime-suite.ts. */
import path from 'node:path';
import { test } from 'uvu';
import { runtimeSuite, root } from '../helpers/runtime-suite.js';

runtimeSuite('deno', [path.join(root, 'node_modules/.bin/deno'), 'run', '-A'], /^running on Deno \d+\.\d+\.\d+ through its Node API compatibility/, false);
test.run();
