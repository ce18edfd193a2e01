import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProtocolVersion, NamedGroup } from '../../engine/constants.js';
import { ConfigError } from '../../proxy/config/errors.js';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { formatEndpoint } from '../../proxy/base/endpoint.js';
import { parseBackend } from '../../proxy/front-ends/backend.js';
import { parseProtocolList, selectVersions } from '../../proxy/tls/protocols.js';
import { ResumptionStore, resumptionSettings } from '../../proxy/tls/resumption.js';
import { summaryLine } from '../../proxy/tls/summary.js';
import { parseLogLevel, selectGroups } from '../../proxy/tls/settings.js';
import type { HandshakeInfo } from '../../engine/events.js';

const isConfigError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigError && pattern.test(e.message);
const params = (o: Record<string, string>) => ParameterSet.defaults().withOverrides(Object.entries(o).map(([name, value]) => ({ name, value })), 'test');
const names = (vs: number[]) => vs.map((v) => `0x${v.toString(16)}`);

test('protocol lists: exclusions, inclusions, bounds, hex, errors', () => {
  assert.equal(names(parseProtocolList('')), ['0x200', '0x300', '0x301', '0x302', '0x303', '0x304']);
  assert.equal(names(parseProtocolList('>=TLSv1')), ['0x301', '0x302', '0x303', '0x304']);
  assert.equal(names(parseProtocolList('!SSLv2, !SSLv3')), ['0x301', '0x302', '0x303', '0x304']);
  assert.equal(names(parseProtocolList('TLSv1.2 tlsv1.3')), ['0x303', '0x304']);
  assert.equal(names(parseProtocolList('>=TLSv1.2, <=TLSv1.2')), ['0x303']);
  assert.equal(names(parseProtocolList('>=0x0303:<=304')), ['0x303', '0x304']);
  assert.equal(names(parseProtocolList('>=None !TLSv1.3')), ['0x200', '0x300', '0x301', '0x302', '0x303']);
  assert.throws(() => parseProtocolList('TLSv9'), isConfigError(/^Invalid TLS protocol list "TLSv9": disabling TLS support$/));
  assert.throws(() => parseProtocolList('>=0303x'), isConfigError(/Invalid TLS protocol list/));
  const n = { protocols: 'tlsproxy_tls_protocols', mandatory: 'tlsproxy_tls_mandatory_protocols' };
  assert.equal(selectVersions('', false, '>=TLSv1', '>=TLSv1.3', n), [ProtocolVersion.TLS1_3, ProtocolVersion.TLS1_2]);
  assert.equal(selectVersions('encrypt', false, '>=TLSv1', '>=TLSv1.3', n), [ProtocolVersion.TLS1_3]);
  assert.equal(selectVersions('', true, '>=TLSv1', 'TLSv1.2', n), [ProtocolVersion.TLS1_2]);
  assert.throws(() => selectVersions('may', false, '<=TLSv1.1', '', n), isConfigError(/^tlsproxy_tls_protocols = <=TLSv1\.1: none of the supported protocols/));
  assert.throws(() => selectVersions('may', false, 'bogus', '', n), isConfigError(/^tlsproxy_tls_protocols: Invalid TLS protocol list "bogus"/));
});

test('log levels: numbers and keywords', () => {
  assert.is(parseLogLevel('0', 'x'), 0);
  assert.is(parseLogLevel(' 2 ', 'x'), 2);
  assert.is(parseLogLevel('routine', 'x'), 1);
  assert.is(parseLogLevel('summary, untrusted', 'x'), 1);
  assert.is(parseLogLevel('routine ssl-expert', 'x'), 3);
  assert.throws(() => parseLogLevel('loud', 'tlsproxy_tls_loglevel'), isConfigError(/^invalid tlsproxy_tls_loglevel value: "loud": unknown keyword "loud"$/));
});

test('groups from tls_eecdh_auto_curves and tls_ffdhe_auto_groups, Postfix fallback', () => {
  const provider = createNodeCryptoProvider();
  const w: string[] = [];
  assert.equal(selectGroups(params({}), provider, w), [NamedGroup.X25519MLKEM768, NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1, NamedGroup.ffdhe2048, NamedGroup.ffdhe3072]);
  assert.equal(selectGroups(params({ tls_eecdh_auto_curves: 'secp384r1 prime256v1 secp384r1 X448', tls_ffdhe_auto_groups: '' }), provider, w), [NamedGroup.secp384r1, NamedGroup.secp256r1]);
  assert.equal(selectGroups(params({ tls_eecdh_auto_curves: '?X25519MLKEM768:DEFAULT:?x25519' }), provider, w)[0], NamedGroup.X25519MLKEM768);
  assert.equal(w, []);
  const fallback = selectGroups(params({ tls_eecdh_auto_curves: 'X448 brainpoolP256r1' }), provider, w);
  assert.equal(w, ['none of the configured key exchange groups are supported', 'using Postfix default key exchange groups instead']);
  assert.ok(fallback.includes(NamedGroup.x25519));
});

test('resumption: lifetime, tickets, session cache, shared keys', () => {
  const provider = createNodeCryptoProvider();
  const store = new ResumptionStore();
  const w: string[] = [];
  const def = resumptionSettings(params({}), provider, store, w);
  assert.is(def.sessionLifetime, 3600);
  assert.ok(def.tickets);
  assert.is(def.tickets!.lifetime > 0, true);
  assert.is(def.sessionCache, undefined);
  assert.is(resumptionSettings(params({}), provider, store, w).tickets, def.tickets, 'one key ring per lifetime');
  assert.equal(resumptionSettings(params({ smtpd_tls_session_cache_timeout: '0' }), provider, store, w), {});
  assert.is(resumptionSettings(params({ smtpd_tls_session_cache_timeout: '10s' }), provider, store, w).sessionLifetime, 120);
  assert.is(resumptionSettings(params({ tls_ssl_options: 'NO_COMPRESSION, no_ticket' }), provider, store, w).tickets, undefined);
  assert.is(resumptionSettings(params({ tls_session_ticket_cipher: '' }), provider, store, w).tickets, undefined);
  assert.ok(resumptionSettings(params({ smtpd_tls_session_cache_database: 'btree:/var/lib/postfix/smtpd_scache' }), provider, store, w).sessionCache);
  assert.equal(w, []);
  assert.is(resumptionSettings(params({ tls_session_ticket_cipher: 'rot13' }), provider, store, w).tickets, undefined);
  assert.equal(w, ['tls_session_ticket_cipher: invalid value: rot13; session tickets disabled']);
});

test('backend addresses', () => {
  assert.equal(parseBackend('inet:127.0.0.1:25'), { kind: 'inet', host: '127.0.0.1', port: 25, text: 'inet:127.0.0.1:25' });
  assert.equal(parseBackend('inet:[::1]:2525'), { kind: 'inet', host: '::1', port: 2525, text: 'inet:[::1]:2525' });
  assert.equal(parseBackend('localhost:80'), { kind: 'inet', host: 'localhost', port: 80, text: 'localhost:80' });
  assert.equal(parseBackend('unix:/run/app.sock'), { kind: 'unix', path: '/run/app.sock', text: 'unix:/run/app.sock' });
  assert.equal(parseBackend('/run/app.sock'), { kind: 'unix', path: '/run/app.sock', text: '/run/app.sock' });
  assert.throws(() => parseBackend('inet:host:0'), isConfigError(/^invalid tlsproxy_backend value "inet:host:0": bad port "0"/));
  assert.throws(() => parseBackend('unix:'), isConfigError(/missing path/));
  assert.throws(() => parseBackend('inet::25'), isConfigError(/missing host/));
});

test('endpoints and the summary line', () => {
  assert.is(formatEndpoint('::ffff:192.0.2.7', 41862), '[192.0.2.7]:41862');
  assert.is(formatEndpoint('2001:DB8::25', 50112), '[2001:db8::25]:50112');
  const info: HandshakeInfo = {
    protocol: 'TLSv1.3',
    version: 0x0304,
    cipherSuite: 0x1302,
    cipherName: 'TLS_AES_256_GCM_SHA384',
    cipherBits: 256,
    group: 'x25519',
    serverSignature: 'ECDSA (prime256v1)',
    serverDigest: 'SHA256',
    serverName: 'mx.example',
    serverNameMatched: true,
    helloRetry: false,
    resumed: false,
  };
  assert.is(
    summaryLine(info, '[192.0.2.7]:41862'),
    'Anonymous TLS connection established from [192.0.2.7]:41862: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519 server-signature ECDSA (prime256v1) server-digest SHA256',
  );
  assert.match(summaryLine(info, '[192.0.2.7]:41862', true), /^Anonymous TLS connection established from \[192\.0\.2\.7\]:41862 to mx\.example: TLSv1\.3 /);
  assert.is(
    summaryLine({ ...info, serverSignature: 'ED25519', serverDigest: undefined }, '[::1]:1'),
    'Anonymous TLS connection established from [::1]:1: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519 server-signature ED25519',
  );
  assert.is(
    summaryLine({ ...info, serverSignature: undefined, serverDigest: undefined, resumed: true }, '[::1]:1'),
    'Anonymous TLS connection established from [::1]:1: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519',
  );
  assert.is(
    summaryLine({ ...info, protocol: 'TLSv1.2', version: 0x0303, cipherName: 'ECDHE-RSA-AES256-GCM-SHA384' }, '[::1]:1'),
    'Anonymous TLS connection established from [::1]:1: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)',
  );
});

test.run();
