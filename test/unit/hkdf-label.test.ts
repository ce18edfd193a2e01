/**
 * engine/hkdf.ts, HKDF-Expand-Label (RFC 8446 §7.1): RFC 8448's traffic
 * key and IV from its server handshake traffic secret, the one HMAC input
 * (HkdfLabel || 0x01) for a one-block output, and T(1)'s unused rest
 * zeroed when the output is cut from it (test/unit/rfc8448.test.ts checks
 * the whole schedule).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { hkdfExpandLabel } from '../../engine/hkdf.js';
import { createNodeCryptoProvider } from '../../providers/node.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
// RFC 8448 §3, "derive write traffic keys for handshake data" (server).
const SERVER_HS_SECRET = 'b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38';

test('HKDF-Expand-Label: RFC 8448 key and iv; one HMAC over HkdfLabel || 0x01; the cut T(1) is zeroed', () => {
  const base = createNodeCryptoProvider();
  const seen: { input: string; output: Uint8Array }[] = [];
  const p: CryptoProvider = {
    ...base,
    hmac: (a, k, d) => {
      const output = base.hmac(a, k, d);
      seen.push({ input: hex(d), output });
      return output;
    },
  };
  const secret = bytes(SERVER_HS_SECRET);
  const key = hkdfExpandLabel(p, 'SHA-256', secret, 'key', new Uint8Array(0), 16);
  const iv = hkdfExpandLabel(p, 'SHA-256', secret, 'iv', new Uint8Array(0), 12);
  assert.is(hex(key), '3fce516009c21727d0f2e4e86ee403bc');
  assert.is(hex(iv), '5d313eb2671276ee13000b30');
  assert.is(seen.length, 2);
  // struct { uint16 length = 16; opaque label<7..255> = "tls13 key"; opaque context<0..255> = ""; } || 0x01
  assert.is(seen[0]!.input, '0010' + '09' + Buffer.from('tls13 key').toString('hex') + '00' + '01');
  // The HMAC's own output (32 bytes) holds nothing any more: the key is a copy of its first 16.
  for (const s of seen) assert.ok(s.output.every((b) => b === 0), 'T(1) zeroed after the cut');
  // A full-length output is T(1) itself, returned as is.
  const whole = hkdfExpandLabel(p, 'SHA-256', secret, 'finished', new Uint8Array(0), 32);
  assert.is(seen[2]!.output, whole);
  assert.ok(whole.some((b) => b !== 0));
});

test.run();
