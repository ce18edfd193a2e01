/**
 * engine/tls13/key-schedule.ts: the values derived from no secret at all
 * (RFC 8446 §7.1: the empty transcript's hash, the no-PSK Early Secret and
 * its "derived" salt) are computed once per provider and hash, the Early
 * Secret is RFC 8448's, and erasing one schedule leaves the next intact.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { TLS13_SUITES } from '../../engine/suites.js';
import { KeySchedule } from '../../engine/tls13/key-schedule.js';
import { createNodeCryptoProvider } from '../../providers/node.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
// RFC 8448 §3 (Simple 1-RTT Handshake), "extract secret early" (test/unit/rfc8448.test.ts checks the
// whole schedule, the derived salt included, against the RFC's trace).
const EARLY = '33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a';

function counting(): { p: CryptoProvider; calls: { hmac: number; hash: number } } {
  const base = createNodeCryptoProvider();
  const calls = { hmac: 0, hash: 0 };
  const p: CryptoProvider = {
    ...base,
    hmac: (a, k, d) => (calls.hmac++, base.hmac(a, k, d)),
    hash: (a) => (calls.hash++, base.hash(a)),
  };
  return { p, calls };
}

test('the no-PSK Early Secret and its derived salt: computed once per provider, the RFC 8448 values, intact after erase()', () => {
  const { p, calls } = counting();
  const suite = TLS13_SUITES.get(0x1301)!;
  const first = new KeySchedule(p, suite);
  assert.is(hex((first as unknown as { secret: Uint8Array }).secret), EARLY);
  const shared = new Uint8Array(32).fill(9);
  first.inputSharedSecret(shared);
  const firstCalls = { ...calls };
  // The constants: empty hash 1, early extract 1 HMAC, derived 1 HMAC; then the handshake extract.
  assert.equal(firstCalls, { hmac: 3, hash: 1 });
  first.toMasterSecret();
  first.erase();
  const before = { ...calls };

  const second = new KeySchedule(p, suite);
  assert.is(hex((second as unknown as { secret: Uint8Array }).secret), EARLY, 'not zeroed by the first schedule');
  second.inputSharedSecret(shared);
  assert.equal({ hmac: calls.hmac - before.hmac, hash: calls.hash - before.hash }, { hmac: 1, hash: 0 });
  // The same handshake secret either way.
  const a = new KeySchedule(createNodeCryptoProvider(), suite);
  a.inputSharedSecret(shared);
  assert.is(hex(second.derive('c hs traffic', new Uint8Array(32))), hex(a.derive('c hs traffic', new Uint8Array(32))));
});

test.run();
