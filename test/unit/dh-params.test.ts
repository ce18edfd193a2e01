/**
 * DH parameter files (tlsproxy_tls_dh1024_param_file): PKCS #3 parsing and
 * validation, with files made by openssl (test/fixtures: `openssl dhparam`
 * 2048 and 1024, `openssl dhparam -dsaparam` for the X9.42 form).
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CertificateError, parseDhParams, probablyPrime } from '../../certs/index.js';
import { FFDHE2048 } from '../../engine/ffdhe.js';
import { NamedGroup } from '../../engine/constants.js';

const fixture = (n: string) => readFileSync(new URL(`../fixtures/${n}`, import.meta.url), 'utf8');
const src = 'tlsproxy_tls_dh1024_param_file=/etc/dh.pem';

function refused(pem: string, re: RegExp, minBits?: number): void {
  try {
    parseDhParams(pem, src, minBits);
  } catch (e) {
    assert.instance(e, CertificateError);
    assert.ok((e as Error).message.startsWith(src), 'message names the parameter and file');
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('accepted');
}

test('a 2048-bit openssl dhparam file is accepted', () => {
  const dh = parseDhParams(fixture('dh2048.pem'), src);
  assert.is(dh.bits, 2048);
  assert.is(dh.g[0], 2);
  assert.is(dh.group, undefined);
});

test('the RFC 7919 ffdhe2048 group written by openssl is recognised', () => {
  const pem = execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048'], { encoding: 'utf8' });
  const dh = parseDhParams(pem, src);
  assert.is(dh.group, NamedGroup.ffdhe2048);
  assert.equal(dh.p, FFDHE2048.p);
});

test('a 1024-bit prime is refused unless the minimum is lowered', () => {
  refused(fixture('dh1024.pem'), /1024 bits is below the minimum of 2048/);
  assert.is(parseDhParams(fixture('dh1024.pem'), src, 1024).bits, 1024);
});

test('X9.42 parameters, a certificate instead, and garbage are refused clearly', () => {
  refused(fixture('dh2048-x942.pem'), /X9\.42 DH parameters are not supported/);
  refused('-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n', /no "BEGIN DH PARAMETERS" block found \(found: CERTIFICATE\)/);
  refused('hello', /no "BEGIN DH PARAMETERS"/);
  refused('-----BEGIN DH PARAMETERS-----\nMAMCAQI=\n-----END DH PARAMETERS-----\n', /DH/);
});

test('a composite "prime" and a bad generator are refused', () => {
  // Build DER by hand: SEQUENCE { INTEGER p, INTEGER g }
  const der = (p: Uint8Array, g: number) => {
    const pInt = [0x02, 0x82, (p.length + 1) >> 8, (p.length + 1) & 0xff, 0x00, ...p];
    const gInt = [0x02, 0x01, g];
    const body = [...pInt, ...gInt];
    return Uint8Array.from([0x30, 0x82, body.length >> 8, body.length & 0xff, ...body]);
  };
  const pem = (b: Uint8Array) => `-----BEGIN DH PARAMETERS-----\n${Buffer.from(b).toString('base64')}\n-----END DH PARAMETERS-----\n`;
  const composite = FFDHE2048.p.slice();
  composite[composite.length - 1] = 0xfd; // p - 2: odd, not prime
  refused(pem(der(composite, 2)), /not prime/);
  refused(pem(der(FFDHE2048.p, 1)), /generator/);
});

test('Miller-Rabin sanity', () => {
  assert.ok(probablyPrime(2n ** 127n - 1n));
  assert.not.ok(probablyPrime(2n ** 128n + 1n));
  assert.not.ok(probablyPrime(561n)); // Carmichael number
});

test.run();
