/**
 * engine/constants.ts: the names of alerts, handshake types, groups and
 * signature schemes (in log lines, events and traces), from tables built
 * once, and the forms for values the tables do not have.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alertName, groupName, handshakeTypeName, signatureSchemeName } from '../../engine/constants.js';

test('known values by their RFC names; unknown ones in the documented form', () => {
  assert.is(alertName(40), 'handshake_failure');
  assert.is(alertName(20), 'bad_record_mac');
  assert.is(alertName(200), 'unknown(200)');
  assert.is(handshakeTypeName(1), 'client_hello');
  assert.is(handshakeTypeName(24), 'key_update');
  assert.is(handshakeTypeName(99), 'unknown(99)');
  assert.is(groupName(0x001d), 'x25519');
  assert.is(groupName(0x0017), 'secp256r1');
  assert.is(groupName(0x1234), '0x1234');
  assert.is(signatureSchemeName(0x0804), 'rsa_pss_rsae_sha256');
  assert.is(signatureSchemeName(0x0403), 'ecdsa_secp256r1_sha256');
  assert.is(signatureSchemeName(0x0a0a), '0x0a0a');
});

test.run();
