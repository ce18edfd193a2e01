/**
 * The Postfix wire formats against the bytes observed from Debian's
 * Postfix 3.7.11 (postfix-master-dropin.md §1.5, §3.5; tlsproxy-postfix.md §2):
 * attribute lists, requests of each version, status replies, the context
 * list, master status messages, master's argv, syslog records.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HandshakeInfo } from '../../engine/events.js';
import { AttrError, AttrListReader, decodeAttrs, encodeAttrs } from '../../proxy/postfix/attr.js';
import { isMasterInvocation, MasterArgsError, parseMasterArgs } from '../../proxy/postfix/args.js';
import { syslogFacility, syslogRecord } from '../../proxy/log/sinks.js';
import { decodeStatus, encodeStatus, MasterStatus, parseGeneration } from '../../proxy/postfix/master-status.js';
import {
  connectLine,
  contextAttrs,
  expectsSecondList,
  GREETING,
  hasGreeting,
  keyExchange,
  parseMailVersion,
  parseRequest,
  roleOf,
  splitSignature,
  statusReply,
} from '../../proxy/postfix/protocol.js';

const v = (t: string) => parseMailVersion(t)!;
const nul = (s: string) => Buffer.from(s.replace(/◦/g, '\0'), 'latin1');

test('greeting: the 28 bytes of protocol◦tlsproxy_protocol◦◦', () => {
  assert.equal(GREETING, nul('protocol◦tlsproxy_protocol◦◦'));
  assert.is(GREETING.length, 28);
  assert.is(hasGreeting(v('3.7.11')), true);
  assert.is(hasGreeting(v('3.6.0')), true);
  assert.is(hasGreeting(v('3.5.25')), false);
  assert.is(hasGreeting(v('2.11.0')), false);
});

test('status: status◦1◦◦ (10 bytes) and status◦0◦◦', () => {
  assert.equal(statusReply(true), nul('status◦1◦◦'));
  assert.is(statusReply(true).length, 10);
  assert.equal(statusReply(false), nul('status◦0◦◦'));
});

test('3.4+ request: the 83 bytes postscreen 3.7.11 sent', () => {
  const wire = nul('remote_endpoint◦[127.0.0.12]:53791◦flags◦1◦timeout◦300◦timeout◦300◦serverid◦smtpd◦◦');
  assert.is(wire.length, 83);
  const attrs = decodeAttrs(wire);
  assert.equal(parseRequest(attrs), { endpoint: '[127.0.0.12]:53791', flags: 1, handshakeTimeout: 300, sessionTimeout: 300, serverId: 'smtpd', form: '3.4' });
  assert.equal(encodeAttrs(attrs), wire, 'encode(decode(x)) = x');
});

test('2.9-3.3 request (server_id) and 2.8 request (no id)', () => {
  const seed = decodeAttrs(nul('remote_endpoint◦[192.0.2.7]:41862◦flags◦1◦timeout◦300◦server_id◦smtpd◦◦'));
  assert.equal(parseRequest(seed), { endpoint: '[192.0.2.7]:41862', flags: 1, handshakeTimeout: 300, sessionTimeout: 300, serverId: 'smtpd', form: '2.9' });
  const old = decodeAttrs(nul('remote_endpoint◦[2001:DB8::25]:50112◦flags◦5◦timeout◦60◦◦'));
  assert.equal(parseRequest(old), { endpoint: '[2001:db8::25]:50112', flags: 5, handshakeTimeout: 60, sessionTimeout: 60, serverId: '', form: '2.8' }, 'endpoint lower-cased');
});

test('request errors: order, missing, unexpected, malformed numbers', () => {
  const bad = (s: string, re: RegExp) => {
    try {
      parseRequest(decodeAttrs(nul(s)));
      assert.unreachable(s);
    } catch (e) {
      assert.instance(e, AttrError);
      assert.match((e as Error).message, re);
    }
  };
  bad('flags◦1◦remote_endpoint◦x◦timeout◦1◦◦', /unexpected attribute name: flags/);
  bad('remote_endpoint◦x◦flags◦1◦◦', /missing attribute timeout/);
  bad('remote_endpoint◦x◦flags◦one◦timeout◦1◦◦', /malformed numerical data for attribute flags/);
  bad('remote_endpoint◦x◦flags◦1◦timeout◦1◦timeout◦2◦server_id◦s◦◦', /unexpected attribute name: server_id/);
  bad('remote_endpoint◦x◦flags◦1◦timeout◦1◦serverid◦s◦extra◦1◦◦', /unexpected attribute name: serverid/);
});

test('AttrListReader: byte by byte, stops at the terminator, leaves what follows', () => {
  const wire = Buffer.concat([nul('a◦1◦b◦◦◦'), Buffer.of(0x16, 0x03)]);
  const r = new AttrListReader();
  let used = 0;
  for (let i = 0; i < wire.length && !r.done; i++) used += r.feed(wire.subarray(i, i + 1));
  assert.is(r.done, true);
  assert.is(used, 8);
  assert.equal(r.attrs, [['a', '1'], ['b', '']]);
  const r2 = new AttrListReader();
  assert.is(r2.feed(wire), 8, 'one feed: stops after the terminator');
  assert.throws(() => decodeAttrs(nul('a◦1◦')), /premature end-of-input/);
  assert.throws(() => new AttrListReader().feed(Buffer.alloc(8193, 0x41)), /attribute name length > 8192/);
  assert.throws(() => encodeAttrs([['a\0', 'b']]), /NUL/);
});

test('flags: roles, CONNECT lines, second lists', () => {
  assert.is(roleOf(1), 'server');
  assert.is(roleOf(5), 'server');
  assert.is(roleOf(6), 'client');
  assert.is(roleOf(0), 'bogus');
  assert.is(roleOf(3), 'bogus');
  assert.is(connectLine('server', '[127.0.0.1]:37558'), 'CONNECT from [127.0.0.1]:37558');
  assert.is(connectLine('client', '[127.0.0.1]:42526'), 'CONNECT to [127.0.0.1]:42526');
  assert.is(connectLine('bogus', '[127.0.0.1]:1'), 'CONNECT (bogus_direction) [127.0.0.1]:1');
  const req = (flags: number, form: '2.9' | '3.4' = '3.4') => ({ endpoint: 'x', flags, handshakeTimeout: 1, sessionTimeout: 1, serverId: '', form });
  assert.is(expectsSecondList(req(6), v('3.7.11')), true, 'client role sends its settings');
  assert.is(expectsSecondList(req(1), v('3.7.11')), false);
  assert.is(expectsSecondList(req(1), v('3.12-20260821')), true, '3.12 server role too');
  assert.is(expectsSecondList(req(9), v('3.12-20260821')), false, 'unless PROBE_ONLY');
  assert.is(expectsSecondList(req(6, '2.9'), v('3.3.0')), false);
});

const info13: HandshakeInfo = {
  protocol: 'TLSv1.3',
  version: 0x0304,
  cipherSuite: 0x1302,
  cipherName: 'TLS_AES_256_GCM_SHA384',
  cipherBits: 256,
  group: 'x25519',
  serverSignature: 'ECDSA (prime256v1)',
  serverDigest: 'SHA256',
  serverNameMatched: false,
  helloRetry: false,
  resumed: false,
};

test('context list, 3.7: the observed field order and values (level, X25519, ECDSA prime256v1 SHA256, namaddr)', () => {
  const attrs = contextAttrs(info13, '[127.0.0.1]:42526', v('3.7.11'));
  assert.equal(attrs, [
    ['peer_CN', ''],
    ['issuer_CN', ''],
    ['peer_fingerprint', ''],
    ['peer_pubkey_fingerprint', ''],
    ['level', '0'],
    ['peer_status', '0'],
    ['cipher_protocol', 'TLSv1.3'],
    ['cipher_name', 'TLS_AES_256_GCM_SHA384'],
    ['cipher_usebits', '256'],
    ['cipher_algbits', '256'],
    ['key_exchange', 'X25519'],
    ['key_exchange_curve', ''],
    ['key_exchange_bits', '0'],
    ['clnt_signature', ''],
    ['clnt_signature_curve', ''],
    ['clnt_signature_bits', '0'],
    ['clnt_signature_digest', ''],
    ['srvr_signature', 'ECDSA'],
    ['srvr_signature_curve', 'prime256v1'],
    ['srvr_signature_bits', '0'],
    ['srvr_signature_digest', 'SHA256'],
    ['namaddr', '[127.0.0.1]:42526'],
  ]);
});

test('context list by version: 3.3 (nine fields), 3.4 (no level), 3.11 (rpk, rpt_reported, library group names)', () => {
  const names = (t: string) => contextAttrs(info13, 'e', v(t)).map(([n]) => n);
  assert.equal(names('3.3.4'), ['peer_CN', 'issuer_CN', 'peer_fingerprint', 'peer_pubkey_fingerprint', 'peer_status', 'cipher_protocol', 'cipher_name', 'cipher_usebits', 'cipher_algbits']);
  assert.equal(names('2.8.0'), ['peer_CN', 'issuer_CN', 'peer_fingerprint', 'peer_status', 'cipher_protocol', 'cipher_name', 'cipher_usebits', 'cipher_algbits']);
  assert.not.ok(names('3.4.0').includes('level'));
  const n311 = names('3.11.6');
  assert.ok(n311.includes('ctos_rpk') && n311.includes('rpt_reported') && !n311.includes('trace_size_limit'));
  assert.ok(names('3.12-20260821').includes('trace_size_limit'));
  const c311 = Object.fromEntries(contextAttrs({ ...info13, group: 'secp256r1' }, 'e', v('3.11.6')));
  assert.is(c311.key_exchange, 'secp256r1');
  assert.equal(keyExchange('secp256r1', v('3.7.11')), { name: 'ECDHE', curve: 'prime256v1', bits: 0 });
  assert.equal(keyExchange('ffdhe2048', v('3.7.11')), { name: 'DHE', curve: '', bits: 2048 });
  // OpenSSL 3.5's names, case kept (SSL_get0_group_name): X25519MLKEM768, not x25519mlkem768.
  assert.equal(keyExchange('X25519MLKEM768', v('3.11.6')), { name: 'X25519MLKEM768', curve: '', bits: 0 });
  assert.equal(keyExchange('X25519MLKEM768', v('3.7.11')), { name: 'X25519MLKEM768', curve: '', bits: 0 });
  assert.equal(keyExchange('ffdhe3072', v('3.11.6')), { name: 'ffdhe3072', curve: '', bits: 0 });
  assert.equal(splitSignature('RSA-PSS (2048 bits)'), { name: 'RSA-PSS', curve: '', bits: 2048 });
  assert.equal(splitSignature('ED25519'), { name: 'ED25519', curve: '', bits: 0 });
  const resumed = Object.fromEntries(contextAttrs({ ...info13, serverSignature: undefined, serverDigest: undefined, resumed: true }, 'e', v('3.7.11')));
  assert.is(resumed.srvr_signature, '');
  assert.is(resumed.srvr_signature_digest, '');
  const withCert = Object.fromEntries(
    contextAttrs({ ...info13, clientCertificate: { trusted: true, signature: 'ECDSA (prime256v1)', digest: 'SHA256', details: { subject: 'CN=client.example', issuer: 'CN=Test CA', subjectCN: 'client.example', issuerCN: 'Test CA', certFingerprint: 'AB:CD', pkeyFingerprint: 'EF:01', digest: 'sha256' } } }, 'e', v('3.7.11')),
  );
  assert.is(withCert.peer_status, '5');
  assert.is(withCert.peer_CN, 'client.example');
  assert.is(withCert.clnt_signature, 'ECDSA');
});

test('master status: 12 bytes, pid 20979 generation 0142 -> f3 51 00 00 62 00 00 00 then avail', () => {
  assert.is(parseGeneration('142'), 98);
  assert.is(parseGeneration(undefined), 0);
  assert.is(parseGeneration('9'), 0, 'not octal');
  assert.is(encodeStatus(20979, 98, 0, 'LE').toString('hex'), 'f351000062000000' + '00000000');
  assert.is(encodeStatus(20979, 98, 1, 'LE').toString('hex'), 'f351000062000000' + '01000000');
  assert.equal(decodeStatus(encodeStatus(20979, 98, 1)), { pid: 20979, generation: 98, avail: 1 });
  const writes: Buffer[] = [];
  const s = new MasterStatus(20979, 98, 5, (fd, b) => {
    assert.is(fd, 5);
    writes.push(Buffer.from(b));
    return b.length;
  });
  assert.is(s.taken(), 'ok');
  assert.is(s.available(), 'ok');
  assert.equal(writes.map((w) => decodeStatus(w).avail), [0, 1]);
  const epipe = new MasterStatus(1, 1, 5, () => {
    throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
  });
  assert.is(epipe.available(), 'master-gone');
  const eagain = new MasterStatus(1, 1, 5, () => {
    throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
  });
  assert.is(eagain.available(), 'lost');
});

test("master's argv: the observed command lines", () => {
  const a = parseMasterArgs(['-z', '-t', 'unix', '-u', '-c']);
  assert.is(a.zeroLimit, true);
  assert.is(a.transport, 'unix');
  assert.is(a.unprivileged, true);
  assert.is(a.chroot, true);
  assert.is(a.serviceName, 'tlsproxy');
  assert.is(a.serviceNameGiven, false);
  const b = parseMasterArgs(['-z', '-n', 'tlsproxy', '-t', 'unix', '-u', '-o', 'tlsproxy_watchdog_timeout=15s', '-o', 'syslog_name = postfix/$service_name'], 'tlsproxy.js');
  assert.is(b.serviceName, 'tlsproxy');
  assert.equal(b.overrides, [
    { name: 'tlsproxy_watchdog_timeout', value: '15s' },
    { name: 'syslog_name', value: 'postfix/$service_name' },
  ]);
  assert.is(parseMasterArgs([], '../../../../x/bin/tlsproxy.js').serviceName, 'tlsproxy.js');
  const c = parseMasterArgs(['-l', '-zuv', '-tunix', '-i', '5', '-m', '3', '-r', '60', '-vV', 'extra', '-x']);
  assert.equal([c.solitary, c.zeroLimit, c.unprivileged, c.verbose, c.stderrLog, c.transport, c.maxIdle, c.maxUse, c.retire], [true, true, true, 2, true, 'unix', 5, 3, 60]);
  assert.equal(c.extra, ['extra', '-x'], 'non-option arguments end the options');
  assert.throws(() => parseMasterArgs(['-q']), (e: Error) => e instanceof MasterArgsError && /invalid option -- 'q'/.test(e.message));
  assert.throws(() => parseMasterArgs(['-t']), /option requires an argument -- 't'/);
  assert.throws(() => parseMasterArgs(['-i', 'x']), /invalid -i argument/);
  assert.throws(() => parseMasterArgs(['-o', 'novalue']), /bad -o argument/);
});

test("master invocation recognised; the project's own commands are not", () => {
  assert.is(isMasterInvocation(['-z', '-t', 'unix', '-u'], {}), true);
  assert.is(isMasterInvocation(['-z', '-tunix'], {}), true);
  assert.is(isMasterInvocation(['-z'], { GENERATION: '16' }), true);
  assert.is(isMasterInvocation(['start', '-c', '/etc/tlsproxy'], { GENERATION: '16' }), false);
  assert.is(isMasterInvocation(['--help'], { GENERATION: '16' }), false);
  assert.is(isMasterInvocation(['-h'], {}), false);
  assert.is(isMasterInvocation([], {}), false);
  assert.is(isMasterInvocation(['-z'], {}), false);
});

test('syslog records: <PRI>, facility mail, severities', () => {
  const when = new Date(2025, 10, 5, 9, 3, 7);
  const rec = (severity: 'info' | 'warning' | 'fatal', text: string) => ({ severity, text, line: '' });
  assert.is(syslogFacility('mail'), 2);
  assert.is(syslogFacility('LOCAL3'), 19);
  assert.is(syslogFacility('nope'), undefined);
  assert.is(syslogRecord(rec('info', 'CONNECT from [127.0.0.1]:1'), 2, 'postfix/tlsproxy', 42, when), '<22>Nov 05 09:03:07 postfix/tlsproxy[42]: CONNECT from [127.0.0.1]:1');
  assert.is(syslogRecord(rec('warning', 'x'), 2, 'postfix/tlsproxy', 42, when), '<20>Nov 05 09:03:07 postfix/tlsproxy[42]: warning: x');
  assert.is(syslogRecord(rec('fatal', 'y'), 2, 'postfix/tlsproxy', 42, when), '<18>Nov 05 09:03:07 postfix/tlsproxy[42]: fatal: y');
});

test.run();
