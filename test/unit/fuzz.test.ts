/**
 * The fuzzer in `npm test` (issue 10): every target replays its corpus
 * (fuzz/corpus/<target>/: recorded real handshakes, inputs found earlier)
 * and every crash ever found (fuzz/crashes/<target>/: regression cases),
 * then runs a short bounded mutation pass with a fixed seed. Any broken
 * invariant (see fuzz/targets/*.ts) fails the test with its message.
 * `npm run fuzz -- --time=N` runs the same targets for longer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzz } from '../../fuzz/run.js';
import { TARGETS } from '../../fuzz/targets/index.js';
import { filesOf } from '../../fuzz/lib/target.js';

/** Mutated executions per target in the bounded pass (a few seconds in all). */
const EXECS: Record<string, number> = { engine: 400, 'engine-tls13': 40, x509: 150, 'postscreen-session': 150 };

test('the engine corpus holds recorded handshakes of openssl, gnutls and node, TLS 1.3 and 1.2', () => {
  const names = filesOf('corpus', 'engine').map((f) => f.name);
  for (const who of ['openssl-tls13', 'openssl-tls12', 'gnutls-tls13', 'gnutls-tls12', 'node-tls13', 'node-tls12']) {
    assert.ok(names.some((n) => n.startsWith(who)), `${who} in ${names.join(' ')}`);
  }
});

test('the oracle catches what it must: an untyped exception inside the engine is a finding, not a pass', async () => {
  const { EngineProbe } = await import('../../fuzz/targets/engine.js');
  const { baseConfig } = await import('../../fuzz/lib/engine-setup.js');
  const { Rng } = await import('../../fuzz/lib/rng.js');
  const { Finding } = await import('../../fuzz/lib/target.js');
  const base = await baseConfig();
  // A provider whose key-share generation has a bug (a TypeError): the engine turns it into internal_error...
  const broken = { ...base, provider: { ...base.provider, generateKeyShare: () => { throw new TypeError('bug'); } } };
  const probe = new EngineProbe(broken as typeof base, new Rng(1));
  probe.receive(filesOf('corpus', 'engine').find((f) => f.name === 'openssl-tls13.bin')!.data);
  // ... which the invariants refuse.
  await probe.verdict().then(
    (label) => assert.unreachable(`no finding: ${label}`),
    (e) => assert.ok(e instanceof Finding && /internal_error on hostile input/.test(e.message), String(e)),
  );
  // Regression (found by this very test): our own key-share failure was blamed on the client as illegal_parameter.
  assert.is(probe.failure?.alertName, 'internal_error');
  assert.match(probe.failure?.reason ?? '', /^key share generation failed: bug$/);
});

for (const target of TARGETS) {
  test(`fuzz ${target.name}: corpus and crashes replay, then a bounded pass, without a finding`, async () => {
    const [report] = await fuzz({ targets: [target.name], execsPerTarget: EXECS[target.name] ?? 250, seed: 20261204, save: false });
    assert.ok(report!.replayed > 0, 'something to replay');
    assert.is(report!.executions, EXECS[target.name] ?? 250);
    assert.equal(report!.findings, [], report!.findings.map((f) => `${f.kind}: ${f.message}`).join('\n'));
  });
}

test.run();
