/**
 * The small version of `npm run soak` (bench/soak.ts), under a minute:
 * 100 streaming TLS sessions with running SHA-256 digests on a daemon with
 * 2 worker processes, through a `tlsproxy reload` and a SIGKILL of one
 * worker; then 40 hostile clients (byte-by-byte hellos, half-open
 * connections, 64 KiB hellos in 1-byte records, endless warning alerts,
 * clients that never read) beside 10 well-behaved round-trip sessions.
 *
 *  - every session not on the killed worker ends with both digests equal,
 *    the killed worker's sessions are the only failures (and there are
 *    some), its death is logged, 10 probe sessions right after the
 *    replacement is up all succeed, some on the replacement;
 *  - every hostile connection is cut and has its log line;
 *  - the good sessions' p99 round trip stays within latencyBound() of
 *    their baseline (or 1 s, for a shared CI machine); the daemon's RSS
 *    stays below 1.5 GB.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { latencyBound, runSoak } from '../../bench/soak.js';

test('soak (small): integrity through reload and SIGKILL, hostile clients cut, latency and memory bounded', async () => {
  const lines: string[] = [];
  const r = await runSoak({
    sessions: 100,
    bytes: 8192,
    durationMs: 8000,
    hostile: 40,
    latency: 10,
    phaseMs: 2500,
    handshakeTimeout: 2,
    sessionTimeout: 3,
    log: (l) => lines.push(l),
  });
  const why = `${lines.join('\n')}\n${r.problems.join('\n')}`;
  assert.is(r.sessions, 100);
  assert.is(r.failedElsewhere, 0, why);
  assert.ok(r.failedOnKilled > 0, `some sessions were on the killed worker: ${why}`);
  assert.is(r.intact + r.failedOnKilled, 100, why);
  assert.is(r.probesOk, 10, why);
  assert.ok(r.probesOnReplacement >= 1, why);
  for (const [kind, e] of Object.entries(r.hostile)) {
    assert.is(e.cut, e.clients, `${kind}: ${why}`);
    assert.is(e.logged, e.clients, `${kind}: ${why}`);
  }
  assert.is(Object.keys(r.hostile).length, 5);
  assert.ok(r.attackP99Ms <= Math.max(latencyBound(r.baselineP99Ms), 1000), why);
  assert.ok(r.peakRssMb < 1500, why);
  assert.ok(r.hostilePeakRssMb < 1500, why);
  assert.not.ok(r.problems.some((p) => !/^p99 round trip/.test(p)), why);
});

test.run();
