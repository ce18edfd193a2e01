// relay_clientcerts as tlsproxy reads it (proxy/tls/fingerprint-table.ts):
// inline: and texthash: tables of fingerprints, canonical upper-case
// colon form, anything else refused at start-up naming the parameter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../proxy/config/errors.js';
import { ParameterSet, parseMainCf } from '../../proxy/config/main-cf.js';
import { canonicalFingerprint, loadFingerprintTables } from '../../proxy/tls/fingerprint-table.js';

const params = (value: string) => ParameterSet.defaults().withLayer(parseMainCf(`relay_clientcerts = ${value}\n`, 'main.cf').layer);

test('canonical form: upper case, colons between bytes, with or without colons given', () => {
  assert.is(canonicalFingerprint('ab:cd:ef'), 'AB:CD:EF');
  assert.is(canonicalFingerprint('abcdef'), 'AB:CD:EF');
});

test('inline: and texthash: tables; comments and values ignored', () => {
  const files: Record<string, string> = { '/etc/fp': '# comment\nAA:BB:CC client-a\n  continues the line above\n\ndd:ee:ff\n' };
  const set = loadFingerprintTables(params('inline:{ 01:02, { 0a0b = x } }, texthash:/etc/fp'), (f) => files[f]!);
  assert.equal([...set].sort(), ['01:02', '0A:0B', 'AA:BB:CC', 'DD:EE:FF']);
  assert.is(loadFingerprintTables(params('')).size, 0);
});

test('unsupported types and unreadable files stop start-up with the parameter named', () => {
  assert.throws(() => loadFingerprintTables(params('hash:/etc/postfix/relay_clientcerts')), (e: unknown) => e instanceof ConfigError && /^relay_clientcerts: unsupported table type "hash"/.test(e.message));
  assert.throws(() => loadFingerprintTables(params('texthash:/nope'), () => { throw Object.assign(new Error('x'), { code: 'ENOENT' }); }), (e: unknown) => e instanceof ConfigError && /^relay_clientcerts: texthash:\/nope: cannot read the file/.test(e.message));
});

test.run();
