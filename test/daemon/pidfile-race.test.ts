/**
 * Two daemons started at the same instant on one configuration (issue 10):
 * exactly one serves, the other stops with "the daemon is already running"
 * naming the first one's pid; with a stale pid file left by a crash, the
 * same.
 */

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonProc, stopAllDaemons } from '../helpers/daemon-proc.js';
import { certMainCf, echoBackend, writeConfig, type TestBackend } from '../helpers/proxy.js';

let backend: TestBackend;

test.before(async () => {
  backend = await echoBackend();
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

for (const stale of [false, true]) {
  test(`two daemons at once${stale ? ' over a stale pid file' : ''}: one serves, the other is refused`, async () => {
    const dir = writeConfig(await certMainCf(), `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`);
    if (stale) writeFileSync(path.join(dir, 'tlsproxy.pid'), '999999999\n');
    const a = new DaemonProc(['start', '-c', dir]);
    const b = new DaemonProc(['start', '-c', dir]);
    // Whichever serves says so; the other exits 1.
    const outcome = (d: DaemonProc) => d.waitFor(/^service \S+: listening on 127\.0\.0\.1:\d+, /, { timeoutMs: 30_000 }).then(
      () => 'serving',
      async () => `exited ${await d.exited}`,
    );
    const [ra, rb] = await Promise.all([outcome(a), outcome(b)]);
    const results = [ra, rb].sort();
    assert.equal(results, ['exited 1', 'serving'], `${a.stderr}\n---\n${b.stderr}`);
    const [winner, loser] = ra === 'serving' ? [a, b] : [b, a];
    assert.match(loser.stderr, new RegExp(`fatal: the daemon is already running \\(pid ${winner.pid}, pid file \\S+/tlsproxy\\.pid\\)`));
    assert.ok(winner.running);
    await winner.stop();
  });
}

test.run();
