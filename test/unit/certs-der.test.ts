/**
 * certs/der.ts decodeDer: how asn1js is asked to read untrusted DER.
 *  - parseEmbedded off: a primitive OCTET STRING or BIT STRING keeps its
 *    contents as bytes even when they happen to be a valid encoding (asn1js
 *    would otherwise parse them on a guess and keep that tree); the callers
 *    decode each embedded value explicitly, as what it must be.
 *  - copyInput off: the tree views the caller's bytes (no second copy of a
 *    private key), while what the helpers hand out is copied.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contentsOf, decodeDer, elements, octetString, sequence } from '../../certs/der.js';

// SEQUENCE { OCTET STRING { SEQUENCE { INTEGER 5 } }, BIT STRING (0 unused) { SEQUENCE { INTEGER 7 } } }
const inner = (n: number) => [0x30, 0x03, 0x02, 0x01, n];
const DER = Uint8Array.from([0x30, 0x0f, 0x04, 0x05, ...inner(5), 0x03, 0x06, 0x00, ...inner(7)]);

test('an OCTET STRING or BIT STRING holding valid DER stays primitive bytes', () => {
  const [os, bs] = sequence(decodeDer(DER.slice(), 'test value'), 'test value', 2, 2);
  for (const n of [os!, bs!]) {
    assert.is(n.idBlock.isConstructed, false);
    // asn1js's guess, when on, puts the parsed SEQUENCE here.
    assert.equal((n.valueBlock as unknown as { value?: unknown[] }).value ?? [], []);
  }
  assert.equal([...octetString(os, 'os')], inner(5));
  // Decoded on purpose, it is the SEQUENCE it holds.
  const seq = decodeDer(octetString(os, 'os'), 'inner');
  assert.is(elements(seq, 'inner').length, 1);
});

test('the tree views the input; the bytes handed out are copies', () => {
  const der = DER.slice();
  const [os] = sequence(decodeDer(der, 'test value'), 'test value', 2, 2);
  assert.is(os!.valueBeforeDecodeView.buffer, der.buffer);
  const got = contentsOf(os, 'os');
  der.fill(0);
  assert.equal([...got], inner(5));
});

test.run();
