/**
 * The PROXY protocol (proxy/proxy-protocol.ts):
 *
 *  - v1 and v2 encode/parse round trips (TCP4, TCP6, IPv4-mapped, mixed
 *    families, UNIX, LOCAL), byte-exact headers against the HAProxy
 *    specification's layout, TLVs (ALPN, AUTHORITY, UNIQUE_ID, SSL with its
 *    sub-TLVs, unknown types kept, CRC32C checked);
 *  - strict parsing: every malformed form refused with a reason, byte by
 *    byte feeding reports 'incomplete' until the header is whole;
 *  - readProxyHeader on a socket: leftover bytes put back, time limit,
 *    lost connection;
 *  - a tiny parser-server as the backend of the implicit-TLS front end
 *    (tlsproxy_backend_proxy_protocol = v1 and v2, with the TLS TLVs);
 *  - an upstream load balancer (tlsproxy_upstream_proxy_protocol = haproxy):
 *    the real client reaches the log lines and the backend, for the
 *    implicit-TLS and postscreen front ends; bad header, LOCAL, timeout.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import {
  PP2_CLIENT_CERT_CONN,
  PP2_CLIENT_CERT_SESS,
  PP2_CLIENT_SSL,
  PP2_SUBTYPE_SSL_CIPHER,
  PP2_SUBTYPE_SSL_CN,
  PP2_SUBTYPE_SSL_KEY_ALG,
  PP2_SUBTYPE_SSL_SIG_ALG,
  PP2_SUBTYPE_SSL_VERSION,
  PP2_TYPE_ALPN,
  PP2_TYPE_AUTHORITY,
  PP2_TYPE_SSL,
  V2_SIGNATURE,
  crc32c,
  encodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  ipv6Bytes,
  parseProxyHeader,
  readProxyHeader,
  type ProxyHeader,
} from '../../proxy/front-ends/proxy-protocol.js';
import { TlsService } from '../../proxy/tls/service.js';
import { Logger } from '../../proxy/log/log.js';
import type { HandshakeInfo } from '../../engine/events.js';
import { certMainCf, connectTls, delay, startDaemon, tlsproxyService } from '../helpers/proxy.js';
import { FakeSmtpBackend, SmtpClient } from '../helpers/postfix-backend.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function ok(data: Uint8Array): ProxyHeader {
  const r = parseProxyHeader(data);
  if (r.status !== 'ok') throw new Error(`expected a header, got ${JSON.stringify(r)}`);
  return r.header;
}

function reason(data: Uint8Array): string {
  const r = parseProxyHeader(data);
  if (r.status !== 'error') throw new Error(`expected an error, got ${r.status}`);
  return r.reason;
}

// ------------------------------------------------------------------ v1

test('v1 encode: TCP4, TCP6, IPv4-mapped source with an IPv6 destination', () => {
  assert.is(new TextDecoder().decode(encodeProxyV1({ address: '192.0.2.7', port: 41862 }, { address: '198.51.100.1', port: 25 })), 'PROXY TCP4 192.0.2.7 198.51.100.1 41862 25\r\n');
  assert.is(new TextDecoder().decode(encodeProxyV1({ address: '2001:DB8::25', port: 50112 }, { address: '::1', port: 465 })), 'PROXY TCP6 2001:db8::25 ::1 50112 465\r\n');
  assert.is(new TextDecoder().decode(encodeProxyV1({ address: '::ffff:192.0.2.7', port: 1 }, { address: '198.51.100.1', port: 2 })), 'PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\n');
  assert.is(new TextDecoder().decode(encodeProxyV1({ address: '192.0.2.7', port: 1 }, { address: '2001:db8::1', port: 2 })), 'PROXY TCP6 ::ffff:192.0.2.7 2001:db8::1 1 2\r\n');
  assert.throws(() => encodeProxyV1({ address: 'localhost', port: 1 }, { address: '127.0.0.1', port: 2 }), /not an IP address/);
  assert.throws(() => encodeProxyV1({ address: '127.0.0.1', port: 65536 }, { address: '127.0.0.1', port: 2 }), /bad port/);
});

test('v1 parse: round trip, IPv4-mapped TCP6 shown as IPv4 (Postfix), the header length', () => {
  const h = ok(ascii('PROXY TCP4 192.0.2.7 198.51.100.1 41862 25\r\nEHLO x\r\n'));
  assert.equal(h.source, { address: '192.0.2.7', port: 41862 });
  assert.equal(h.destination, { address: '198.51.100.1', port: 25 });
  assert.is(h.version, 1);
  assert.is(h.family, 'tcp4');
  assert.is(h.length, 'PROXY TCP4 192.0.2.7 198.51.100.1 41862 25\r\n'.length);
  const h6 = ok(ascii('PROXY TCP6 FC:00:00:00:1:2:3:4 ::ffff:4.3.2.1 123 321\r\n'));
  assert.equal(h6.source, { address: 'fc::1:2:3:4', port: 123 });
  assert.equal(h6.destination, { address: '4.3.2.1', port: 321 });
  const maxLine = `PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n`;
  assert.is(maxLine.length, 104);
  assert.is(ok(ascii(maxLine)).length, 104);
});

test('v1 parse: strict (Postfix haproxy_srvr.c reasons), bounded, UNKNOWN refused', () => {
  const cases: [string, string][] = [
    ['PROXY TCP6 1.2.3.4 4.3.2.1 123 321\r\n', 'unexpected client address syntax'],
    ['PROXY TCP6 fc::1 4.3.2.1 123 321\r\n', 'unexpected server address syntax'],
    ['PROXY TCP4 ::ffff:1.2.3.4 4.3.2.1 123 321\r\n', 'unexpected client address syntax'],
    ['PROXY TCP4 01.02.03.04 4.3.2.1 123 321\r\n', 'unexpected client address syntax'],
    ['PROXY TCP4 1.2.3.4 4.3.2.1 123456 321\r\n', 'unexpected client port syntax'],
    ['PROXY TCP4 1.2.3.4 4.3.2.1 123 654321\r\n', 'unexpected server port syntax'],
    ['PROXY TCP4 1.2.3.4 4.3.2.1 0123 321\r\n', 'unexpected client port syntax'],
    ['PROXY TCP4 1.2.3.4 4.3.2.1 123 0321\r\n', 'unexpected server port syntax'],
    ['PROXY TCP4 1.2.3.4 4.3.2.1 123\r\n', 'unexpected server port syntax'],
    ['PROXY TCP4 1.2.3.4 4.3.2.1 1 2 3\r\n', 'unexpected protocol header'],
    ['PROXY TCP4  1.2.3.4 4.3.2.1 1 2\r\n', 'unexpected client address syntax'],
    ['PROXY UNKNOWN\r\n', 'unsupported protocol type'],
    ['PROXY BLAH\r\n', 'unsupported protocol type'],
    ['PROXY TCP4 1.2.3.4 4.3.2.1 1 2\n', 'line does not end in CRLF'],
    ['BLAH\r\n', 'unexpected protocol header'],
    ['PROXZ TCP4\r\n', 'unexpected protocol header'],
    ['EHLO client.example\r\n', 'unexpected protocol header'],
    ['PROXY TCP4 1.2.3.4\t4.3.2.1 1 2\r\n', 'unexpected protocol header'],
  ];
  for (const [line, why] of cases) assert.is(reason(ascii(line)), why, line);
  assert.is(reason(ascii(`PROXY TCP4 ${'1'.repeat(120)}`)), 'line too long');
  assert.is(reason(ascii(`PROXY TCP4 1.2.3.4 4.3.2.1 1 2${' '.repeat(80)}\r\n`)), 'line too long');
});

test('v1 and v2: byte-by-byte feeding says incomplete until the header is whole, and early garbage is refused early', () => {
  const v1 = ascii('PROXY TCP4 192.0.2.7 198.51.100.1 41862 25\r\n');
  const v2 = encodeProxyV2({ source: { address: '192.0.2.7', port: 1 }, destination: { address: '192.0.2.8', port: 2 }, authority: 'mail.example' });
  for (const h of [v1, v2]) {
    for (let i = 0; i < h.length; i++) assert.is(parseProxyHeader(h.subarray(0, i)).status, 'incomplete', `at ${i}`);
    assert.is(parseProxyHeader(h).status, 'ok');
  }
  assert.is(reason(ascii('PRX')), 'unexpected protocol header');
  assert.is(reason(Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0b)), 'unexpected protocol header');
  assert.is(reason(Uint8Array.of(0x16, 0x03, 0x01)), 'unexpected protocol header', 'a TLS ClientHello is not a PROXY header');
});

// ------------------------------------------------------------------ v2

test('v2 encode: exact bytes for TCP4 (signature, 0x21, 0x11, length, addresses, ports)', () => {
  const b = encodeProxyV2({ source: { address: '192.0.2.7', port: 41862 }, destination: { address: '198.51.100.1', port: 25 } });
  assert.is(hex(b), `${hex(V2_SIGNATURE)}2111000cc0000207c6336401a3860019`);
});

test('v2 encode: TCP6 (0x21), UNIX (0x31, 216 bytes), LOCAL (0x20, UNSPEC, no addresses)', () => {
  const b6 = encodeProxyV2({ source: { address: '2001:db8::25', port: 50112 }, destination: { address: '::1', port: 465 } });
  assert.is(hex(b6.subarray(12, 16)), '21210024');
  assert.is(hex(b6.subarray(16, 32)), '20010db8000000000000000000000025');
  assert.is(hex(b6.subarray(32, 48)), '00000000000000000000000000000001');
  assert.is(hex(b6.subarray(48, 52)), 'c3c001d1');
  const u = encodeProxyV2({ sourcePath: '/run/client.sock', destinationPath: '/run/server.sock' });
  assert.is(hex(u.subarray(12, 16)), '213100d8');
  assert.is(u.length, 16 + 216);
  const local = encodeProxyV2({ command: 'local' });
  assert.is(hex(local), `${hex(V2_SIGNATURE)}20000000`);
  assert.throws(() => encodeProxyV2({ source: { address: '1.2.3.4', port: 1 } }), /needs source and destination/);
});

test('v2 round trips: TCP4, TCP6 with mapped addresses, UNIX, LOCAL', () => {
  const a = ok(encodeProxyV2({ source: { address: '192.0.2.7', port: 41862 }, destination: { address: '198.51.100.1', port: 25 } }));
  assert.equal([a.version, a.command, a.family, a.transport], [2, 'proxy', 'tcp4', 'stream']);
  assert.equal(a.source, { address: '192.0.2.7', port: 41862 });
  assert.equal(a.destination, { address: '198.51.100.1', port: 25 });
  const m = ok(encodeProxyV2({ source: { address: '192.0.2.7', port: 1 }, destination: { address: '2001:db8::1', port: 2 } }));
  assert.is(m.family, 'tcp6');
  assert.equal(m.source, { address: '192.0.2.7', port: 1 }, 'mapped source back in IPv4 form');
  assert.equal(m.destination, { address: '2001:db8::1', port: 2 });
  const u = ok(encodeProxyV2({ sourcePath: '/run/c', destinationPath: '/run/s' }));
  assert.equal([u.family, u.sourcePath, u.destinationPath, u.source], ['unix', '/run/c', '/run/s', undefined]);
  const l = ok(encodeProxyV2({ command: 'local' }));
  assert.equal([l.command, l.family, l.source], ['local', 'unspec', undefined]);
  assert.is(l.length, 16);
});

test('v2 TLVs: ALPN, AUTHORITY, UNIQUE_ID, SSL with VERSION/CN/CIPHER/SIG_ALG/KEY_ALG, unknown types kept; layout per the specification', () => {
  const b = encodeProxyV2({
    source: { address: '192.0.2.7', port: 1 },
    destination: { address: '192.0.2.8', port: 2 },
    alpn: 'smtp',
    authority: 'mail.example',
    uniqueId: Uint8Array.of(1, 2, 3),
    ssl: { client: PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS, verify: 0, version: 'TLSv1.3', cn: 'client.example', cipher: 'TLS_AES_128_GCM_SHA256', sigAlg: 'ecdsa-with-SHA256', keyAlg: 'EC256' },
    tlvs: [{ type: 0xe0, value: Uint8Array.of(9, 9) }],
  });
  // The first TLV right after the 12 address bytes: type 0x01, length 4, "smtp".
  assert.is(hex(b.subarray(28, 35)), `010004${hex(ascii('smtp'))}`);
  const h = ok(b);
  assert.is(new TextDecoder().decode(h.alpn), 'smtp');
  assert.is(h.authority, 'mail.example');
  assert.equal(Array.from(h.uniqueId!), [1, 2, 3]);
  assert.equal(h.ssl && { ...h.ssl, subTlvs: undefined }, {
    client: 7,
    verify: 0,
    version: 'TLSv1.3',
    cn: 'client.example',
    cipher: 'TLS_AES_128_GCM_SHA256',
    sigAlg: 'ecdsa-with-SHA256',
    keyAlg: 'EC256',
    subTlvs: undefined,
  });
  assert.equal(h.ssl!.subTlvs!.map((t) => t.type), [PP2_SUBTYPE_SSL_VERSION, PP2_SUBTYPE_SSL_CN, PP2_SUBTYPE_SSL_CIPHER, PP2_SUBTYPE_SSL_SIG_ALG, PP2_SUBTYPE_SSL_KEY_ALG]);
  assert.equal(h.tlvs.map((t) => t.type), [PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, 0x05, PP2_TYPE_SSL, 0xe0]);
  // PP2_TYPE_SSL value: client byte, 32-bit verify, then sub-TLVs.
  const ssl = h.tlvs.find((t) => t.type === PP2_TYPE_SSL)!.value;
  assert.is(hex(ssl.subarray(0, 5)), '0700000000');
  assert.is(hex(ssl.subarray(5, 8)), `210007`);
});

test('v2 CRC32C: written and checked; a flipped byte is refused; the CRC32C check value', () => {
  assert.is(crc32c(ascii('123456789')), 0xe3069283);
  const b = encodeProxyV2({ source: { address: '192.0.2.7', port: 1 }, destination: { address: '192.0.2.8', port: 2 }, authority: 'x.example', crc32c: true });
  assert.is(ok(b).authority, 'x.example');
  const bad = Uint8Array.from(b);
  bad[20] ^= 1;
  assert.is(reason(bad), 'PP2_TYPE_CRC32C mismatch');
});

test('v2 parse: strict and bounded', () => {
  const good = encodeProxyV2({ source: { address: '192.0.2.7', port: 1 }, destination: { address: '192.0.2.8', port: 2 }, authority: 'a' });
  const edit = (f: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(good);
    f(b);
    return b;
  };
  assert.is(reason(edit((b) => (b[12] = 0x11))), 'unsupported protocol version 1');
  assert.is(reason(edit((b) => (b[12] = 0x22))), 'unsupported command 0x2');
  assert.is(reason(edit((b) => (b[13] = 0x41))), 'unsupported protocol type');
  assert.is(reason(edit((b) => (b[13] = 0x13))), 'unsupported protocol type');
  assert.is(reason(edit((b) => (b[13] = 0x21))), 'address block too short for the address family');
  // A TLV whose length runs past the header.
  assert.match(reason(edit((b) => (b[30] = 0x10))), /^malformed TLV 0x2: value runs past the header$/);
  // A header length that leaves 2 stray bytes: a truncated TLV header.
  const stray = Uint8Array.from([...good.subarray(0, 14), 0, 14, ...good.subarray(16, 28), 0x04, 0x00]);
  assert.is(reason(stray), 'malformed TLV: truncated header');
  // PP2_TYPE_SSL shorter than its 5-byte head; sub-TLV overrun.
  const shortSsl = encodeProxyV2({ source: { address: '1.1.1.1', port: 1 }, destination: { address: '1.1.1.2', port: 2 }, tlvs: [{ type: PP2_TYPE_SSL, value: Uint8Array.of(1, 0, 0) }] });
  assert.is(reason(shortSsl), 'malformed PP2_TYPE_SSL: shorter than 5 bytes');
  const badSub = encodeProxyV2({ source: { address: '1.1.1.1', port: 1 }, destination: { address: '1.1.1.2', port: 2 }, tlvs: [{ type: PP2_TYPE_SSL, value: Uint8Array.of(1, 0, 0, 0, 0, 0x21, 0, 9, 0x41) }] });
  assert.match(reason(badSub), /^malformed PP2_TYPE_SSL: malformed TLV 0x21/);
  const badUtf8 = encodeProxyV2({ source: { address: '1.1.1.1', port: 1 }, destination: { address: '1.1.1.2', port: 2 }, tlvs: [{ type: PP2_TYPE_AUTHORITY, value: Uint8Array.of(0xff) }] });
  assert.is(reason(badUtf8), 'PP2_TYPE_AUTHORITY is not UTF-8');
  // The largest possible header is fine; the encoder refuses a larger one.
  const big = encodeProxyV2({ command: 'local', tlvs: [{ type: 0xe1, value: new Uint8Array(0xffff - 3) }] });
  assert.is(big.length, 16 + 0xffff);
  assert.is(ok(big).length, 16 + 0xffff);
  assert.throws(() => encodeProxyV2({ command: 'local', tlvs: [{ type: 0xe1, value: new Uint8Array(0xffff - 2) }] }), /v2 header of/);
});

test('ipv6Bytes: forms the parser and the encoder accept', () => {
  assert.is(hex(ipv6Bytes('::')!), '0'.repeat(32));
  assert.is(hex(ipv6Bytes('1::')!), `0001${'0'.repeat(28)}`);
  assert.is(hex(ipv6Bytes('::ffff:1.2.3.4')!), '00000000000000000000ffff01020304');
  assert.is(hex(ipv6Bytes('1:2:3:4:5:6:7:8')!), '00010002000300040005000600070008');
  assert.is(ipv6Bytes('fe80::1%eth0'), undefined);
  assert.is(ipv6Bytes('1:2:3:4:5:6:7:8:9'), undefined);
  assert.is(ipv6Bytes('1.2.3.4'), undefined);
});

test('encodeProxyHeader per tlsproxy_backend_proxy_protocol: none is empty', () => {
  const s = { address: '127.0.0.2', port: 1 };
  const d = { address: '127.0.0.1', port: 2 };
  assert.is(encodeProxyHeader('none', s, d).length, 0);
  assert.is(new TextDecoder().decode(encodeProxyHeader('v1', s, d)), 'PROXY TCP4 127.0.0.2 127.0.0.1 1 2\r\n');
  assert.is(ok(encodeProxyHeader('v2', s, d, { alpn: 'h2' })).source!.address, '127.0.0.2');
});

test('TlsService.sslTlv: client flags and verify from the client certificate, CN from the verifier details', () => {
  const svc = new TlsService({ name: 'x', logger: new Logger({ sink: () => undefined }) });
  const base: HandshakeInfo = {
    protocol: 'TLSv1.2',
    version: 0x0303,
    cipherSuite: 0xc02b,
    cipherName: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    cipherBits: 128,
    group: 'x25519',
    serverNameMatched: false,
    helloRetry: false,
    resumed: false,
  };
  assert.equal(svc.sslTlv(base), { client: PP2_CLIENT_SSL, verify: 1, version: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  const withCert = svc.sslTlv({ ...base, clientCertificate: { trusted: true, signature: 'ECDSA (prime256v1)', details: { subject: 'CN=client.example', issuer: 'CN=Test CA', subjectCN: 'client.example', issuerCN: 'Test CA', certFingerprint: 'AB:CD', pkeyFingerprint: 'EF:01', digest: 'sha256' } } });
  assert.equal([withCert.client, withCert.verify, withCert.cn], [PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS, 0, 'client.example']);
  const resumed = svc.sslTlv({ ...base, resumed: true, clientCertificate: { trusted: false, resumed: true, signature: 'ECDSA (prime256v1)' } });
  assert.equal([resumed.client, resumed.verify], [PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS, 1]);
});

// ------------------------------------------------------------------ on sockets

/** A pair of connected sockets on loopback. */
async function socketPair(): Promise<{ client: net.Socket; server: net.Socket; close(): void }> {
  const listener = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => undefined);
  const server = await accepted;
  server.on('error', () => undefined);
  return {
    client,
    server,
    close: () => {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

test('readProxyHeader: header split over writes, the bytes after it are read next', async () => {
  const p = await socketPair();
  try {
    const header = encodeProxyV2({ source: { address: '192.0.2.7', port: 7 }, destination: { address: '192.0.2.8', port: 8 } });
    const reading = readProxyHeader(p.server, 2000);
    p.client.write(header.subarray(0, 10));
    await delay(30);
    p.client.write(Buffer.concat([header.subarray(10), Buffer.from('EHLO after\r\n')]));
    const h = await reading;
    assert.equal(h.source, { address: '192.0.2.7', port: 7 });
    const rest = await new Promise<string>((r) => {
      p.server.once('data', (d) => r(d.toString()));
      p.server.resume();
    });
    assert.is(rest, 'EHLO after\r\n');
  } finally {
    p.close();
  }
});

test('readProxyHeader: time limit exceeded, lost connection, parse errors with the escaped input', async () => {
  let p = await socketPair();
  try {
    const e = await readProxyHeader(p.server, 200).catch((x: Error) => x);
    assert.is((e as Error).message, 'time limit exceeded');
  } finally {
    p.close();
  }
  p = await socketPair();
  try {
    const reading = readProxyHeader(p.server, 2000).catch((x: Error) => x);
    p.client.end('PROXY TCP4 1.2');
    assert.is(((await reading) as Error).message, 'lost connection');
  } finally {
    p.close();
  }
  p = await socketPair();
  try {
    const reading = readProxyHeader(p.server, 2000).catch((x: Error) => x);
    p.client.write('EHLO client.example\r\n');
    assert.is(((await reading) as Error).message, 'unexpected protocol header: EHLO client.example\\r\\n');
  } finally {
    p.close();
  }
});

// ------------------------------------------------------------------ towards a backend: a tiny parser-server

interface ParsedConnection {
  header?: ProxyHeader;
  error?: string;
  data: string;
}

/** A backend that reads a PROXY header with readProxyHeader, then greets and echoes lines. */
async function parserServer(): Promise<{ address: string; connections: ParsedConnection[]; close(): Promise<void> }> {
  const connections: ParsedConnection[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    const c: ParsedConnection = { data: '' };
    connections.push(c);
    readProxyHeader(s, 2000).then(
      (h) => {
        c.header = h;
        s.write('220 parser ready\r\n');
        s.on('data', (d: Buffer) => {
          c.data += d.toString();
          s.write(`250 echo: ${d.toString().trim()}\r\n`);
        });
        s.on('end', () => s.end());
        s.resume();
      },
      (e: Error) => {
        c.error = e.message;
        s.destroy();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    address: `inet:127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

for (const version of ['v1', 'v2'] as const) {
  test(`implicit-TLS front end, tlsproxy_backend_proxy_protocol = ${version}: the parser-server learns the client${version === 'v2' ? ', SNI, ALPN and the TLS facts' : ''}`, async () => {
    const backend = await parserServer();
    const d = await startDaemon(await certMainCf(), tlsproxyService(backend.address, `-o tlsproxy_backend_proxy_protocol=${version}`));
    try {
      const socket = net.connect({ port: d.port, host: '127.0.0.1', localAddress: '127.0.0.4' });
      const c = await connectTls(d.port, { socket, servername: 'mail.example', checkServerIdentity: () => undefined, ALPNProtocols: ['smtp'], ciphers: 'TLS_AES_128_GCM_SHA256' });
      await c.waitFor('220 parser ready\r\n');
      c.socket.write('hello\r\n');
      await c.waitFor('250 echo: hello\r\n');
      const h = backend.connections[0]!.header!;
      assert.is(h.version, version === 'v1' ? 1 : 2);
      assert.equal(h.source, { address: '127.0.0.4', port: c.localPort });
      assert.equal(h.destination, { address: '127.0.0.1', port: d.port });
      if (version === 'v2') {
        assert.is(h.authority, 'mail.example');
        // ALPN: only when the engine negotiated one (no ALPN configured here: none).
        assert.ok(h.alpn === undefined || new TextDecoder().decode(h.alpn) === 'smtp');
        assert.equal({ ...h.ssl!, subTlvs: undefined }, {
          client: PP2_CLIENT_SSL,
          verify: 1,
          version: 'TLSv1.3',
          cipher: 'TLS_AES_128_GCM_SHA256',
          sigAlg: 'ecdsa-with-SHA256',
          keyAlg: 'EC256',
          subTlvs: undefined,
        });
      }
      c.socket.end();
      await c.closed;
    } finally {
      await d.close();
      await backend.close();
    }
  });
}

test('implicit-TLS front end with RSA: PP2_SUBTYPE_SSL_KEY_ALG RSA2048; SIG_ALG is how the certificate is signed (the test CA: ECDSA)', async () => {
  const backend = await parserServer();
  const d = await startDaemon(await certMainCf(), tlsproxyService(backend.address, '-o tlsproxy_backend_proxy_protocol=v2'));
  try {
    const c = await connectTls(d.port, { sigalgs: 'rsa_pss_rsae_sha256' });
    await c.waitFor('220 parser ready');
    const ssl = backend.connections[0]!.header!.ssl!;
    assert.equal([ssl.keyAlg, ssl.sigAlg], ['RSA2048', 'ecdsa-with-SHA256']);
    c.socket.destroy();
  } finally {
    await d.close();
    await backend.close();
  }
});

test('bad tlsproxy_backend_proxy_protocol / tlsproxy_upstream_proxy_protocol values stop the start', async () => {
  for (const [extra, message] of [
    ['-o tlsproxy_backend_proxy_protocol=v3', 'invalid tlsproxy_backend_proxy_protocol value: "v3" (expected none, v1 or v2)'],
    ['-o tlsproxy_upstream_proxy_protocol=nginx', 'unsupported tlsproxy_upstream_proxy_protocol value: "nginx" (expected empty or haproxy)'],
  ] as const) {
    let error: Error | undefined;
    try {
      const d = await startDaemon(await certMainCf(), tlsproxyService('inet:127.0.0.1:9', extra));
      await d.close();
    } catch (e) {
      error = e as Error;
    }
    assert.is(error?.message, message);
  }
});

// ------------------------------------------------------------------ from an upstream load balancer

test('upstream PROXY v1 on the implicit-TLS front end: the real client in the log lines and in the v2 header to the backend', async () => {
  const backend = await parserServer();
  const d = await startDaemon(await certMainCf(), tlsproxyService(backend.address, '-o tlsproxy_upstream_proxy_protocol=haproxy -o tlsproxy_backend_proxy_protocol=v2'));
  try {
    // The load balancer: writes the PROXY line, then relays the client's TLS bytes.
    const lb = net.connect(d.port, '127.0.0.1');
    await new Promise((r) => lb.once('connect', r));
    lb.write('PROXY TCP4 192.0.2.7 198.51.100.1 41862 465\r\n');
    const c = await connectTls(0, { socket: lb, servername: 'localhost' });
    await c.waitFor('220 parser ready');
    const h = backend.connections[0]!.header!;
    assert.equal(h.source, { address: '192.0.2.7', port: 41862 });
    assert.equal(h.destination, { address: '198.51.100.1', port: 465 });
    c.socket.end();
    await d.log.waitFor('DISCONNECT [192.0.2.7]:41862');
    assert.is(d.log.messages.filter((m) => m.includes('[192.0.2.7]:41862')).length, 3);
    assert.ok(d.log.messages.some((m) => /^Anonymous TLS connection established from \[192\.0\.2\.7\]:41862: /.test(m)));
  } finally {
    await d.close();
    await backend.close();
  }
});

test('upstream PROXY v2 on the postscreen front end (postscreen_upstream_proxy_protocol): CONNECT from the real client, v1 header to the backend', async () => {
  const backend = await FakeSmtpBackend.start({ proxy: true });
  const d = await startDaemon(
    await certMainCf('postscreen_tls_security_level = may'),
    `127.0.0.1:0 inet n - n - 1 postscreen -o tlsproxy_backend=${backend.address} -o postscreen_upstream_proxy_protocol=haproxy -o tlsproxy_backend_proxy_protocol=v1`,
  );
  try {
    const c = await SmtpClient.connect(d.port);
    c.write(encodeProxyV2({ source: { address: '2001:db8::25', port: 50112 }, destination: { address: '2001:db8::1', port: 25 } }));
    assert.is(await c.reply(), '220 testhost.example ESMTP Postfix\r\n');
    await c.command('EHLO lb-client.example');
    assert.is(await c.command('STARTTLS'), '220 2.0.0 Ready to start TLS\r\n');
    await c.tls({ servername: 'localhost' });
    await c.command('EHLO lb-client.example');
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    const h = backend.sessions[0]!.proxy!;
    assert.is(h.version, 1);
    assert.equal(h.source, { address: '2001:db8::25', port: 50112 });
    assert.equal(h.destination, { address: '2001:db8::1', port: 25 });
    await d.log.waitFor('DISCONNECT [2001:db8::25]:50112');
    assert.ok(d.log.messages.includes('CONNECT from [2001:db8::25]:50112 to [2001:db8::1]:25'));
    assert.ok(d.log.messages.includes('CONNECT from [2001:db8::25]:50112'), 'the TLS service names the real client too');
    c.destroy();
  } finally {
    await d.close();
    await backend.close();
  }
});

test('upstream PROXY: LOCAL (health check) uses the real endpoints; bad header, timeout and a UNIX family close the connection with a warning', async () => {
  const backend = await FakeSmtpBackend.start();
  const d = await startDaemon(
    await certMainCf('postscreen_tls_security_level = may\ntlsproxy_upstream_proxy_timeout = 1s'),
    `127.0.0.1:0 inet n - n - 1 postscreen -o tlsproxy_backend=${backend.address} -o tlsproxy_upstream_proxy_protocol=haproxy`,
  );
  try {
    const local = await SmtpClient.connect(d.port);
    local.write(encodeProxyV2({ command: 'local' }));
    assert.is(await local.reply(), '220 testhost.example ESMTP Postfix\r\n');
    assert.ok(d.log.messages.includes(`CONNECT from ${local.peer} to [127.0.0.1]:${d.port}`));
    local.destroy();

    const bad = await SmtpClient.connect(d.port);
    bad.write('EHLO not-a-proxy\r\n');
    await bad.closedPromise();
    assert.is(bad.all, '', 'nothing said to a client without a header');
    await d.log.waitFor(`warning: haproxy read: unexpected protocol header: EHLO not-a-proxy\\r\\n (from ${bad.peer})`);

    const unknown = await SmtpClient.connect(d.port);
    unknown.write('PROXY UNKNOWN\r\n');
    await unknown.closedPromise();
    await d.log.waitFor(`warning: haproxy read: unsupported protocol type: PROXY UNKNOWN\\r\\n (from ${unknown.peer})`);

    const unix = await SmtpClient.connect(d.port);
    unix.write(encodeProxyV2({ sourcePath: '/a', destinationPath: '/b' }));
    await unix.closedPromise();
    await d.log.waitFor(`warning: haproxy read: unsupported protocol type: unix (from ${unix.peer})`);

    const slow = await SmtpClient.connect(d.port);
    slow.write('PROXY TCP4 1.2');
    await slow.closedPromise(3000);
    await d.log.waitFor(`warning: haproxy read: time limit exceeded (from ${slow.peer})`);
    assert.is(backend.sessions.length, 0);
    await delay(50);
    assert.is(d.daemon.activeSessions, 0);
  } finally {
    await d.close();
    await backend.close();
  }
});

test.run();
