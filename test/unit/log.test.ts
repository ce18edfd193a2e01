/**
 * The level 2-4 TLS log lines (tls-log.ts) and the log targets:
 *
 *  - golden tests of Postfix's hex dump layout (tls_dump_buffer) and the
 *    tls_bio_dump_cb header line for known input;
 *  - the SSL_accept state trace for real handshakes, from the engine's
 *    typed events: the engine behind a TlsServerStream with node:tls as the client (TLS 1.3, TLS 1.2, a
 *    resumed TLS 1.2 session, a failed handshake with its alert);
 *  - level 3 dumps stop after the handshake, level 4 dumps go on, and the
 *    dumped bytes are exactly the ciphertext on the wire;
 *  - maillog_file: FileSink appends, reopens (log rotation), the prefix
 *    check, the syslog datagram form.
 */

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ServerConfig } from '../../engine/config.js';
import { HandshakeType as H, ProtocolVersion } from '../../engine/constants.js';
import type { TlsEvent } from '../../engine/events.js';
import { parseMainCf, ParameterSet } from '../../proxy/config/main-cf.js';
import { FileSink, Logger } from '../../proxy/log/log.js';
import { openLogTarget, syslogDatagram } from '../../proxy/log/target.js';
import { TlsServerStream, TlsStreamError } from '../../proxy/tls/stream.js';
import { bioLine, hexDumpLines, TlsConnectionLog } from '../../proxy/tls/log.js';
import { tempDir } from '../helpers/proxy.js';
import { engineConfig } from '../helpers/engine-server.js';
import { testPki } from '../helpers/pki.js';

test('hex dump: Postfix layout (| after the 8th byte, text with a space after the 8th, trailing spaces/NULs summarized)', () => {
  const bytes = Uint8Array.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x7f, 0x20, 0x41, 0x42, 0x43, 0x44, 0x0a, 0x20, 0x00, 0x20]);
  assert.equal(hexDumpLines(bytes), [
    '0000 16 03 01 00 05 48 65 6c|6c 6f 00 7f 20 41 42 43  .....Hel lo.. ABC',
    `0010 44 0a ${' '.repeat(42)} D.`,
    '0012 - <SPACES/NULLS>',
  ]);
  // exactly 16 and 8 bytes; only spaces; empty
  assert.equal(hexDumpLines(new TextEncoder().encode('0123456789abcdef')), ['0000 30 31 32 33 34 35 36 37|38 39 61 62 63 64 65 66  01234567 89abcdef']);
  assert.equal(hexDumpLines(new TextEncoder().encode('ABCDEFGH')), [`0000 41 42 43 44 45 46 47 48|${' '.repeat(24)} ABCDEFGH `]);
  assert.equal(hexDumpLines(new Uint8Array([0x20, 0, 0])), ['0000 - <SPACES/NULLS>']);
  assert.equal(hexDumpLines(new Uint8Array(0)), []);
  const big = hexDumpLines(new Uint8Array(300).fill(0xab));
  assert.is(big.length, 19);
  assert.is(big[18], `0120 ab ab ab ab ab ab ab ab|ab ab ab ab ${' '.repeat(12)} ........ ....`);
});

test('bio dump header line (tls_bio_dump_cb format: %08lX, decimal counts, 0x%lX)', () => {
  assert.is(bioLine('read', 0x5a000100, 0x60010000, 5, 5), 'read from 5A000100 [60010000] (5 bytes => 5 (0x5))');
  assert.is(bioLine('write', 0xabc, 0x1f, 1234, 1234), 'write to 00000ABC [0000001F] (1234 bytes => 1234 (0x4D2))');
});

// ------------------------------------------------------------ real handshakes

interface Logged {
  readonly lines: string[];
  readonly events: TlsEvent[];
  readonly wire: { read: Buffer[]; write: Buffer[] };
}

/** One engine server connection with a TlsConnectionLog at `loglevel`, a node:tls client. */
async function handshake(loglevel: number, clientOptions: tls.ConnectionOptions, configOverrides: Partial<ServerConfig> = {}, exchange = true): Promise<Logged & { session?: Buffer }> {
  const config = { ...(await engineConfig({ certs: ['p256', 'rsa'] })), ...configOverrides };
  const lines: string[] = [];
  const events: TlsEvent[] = [];
  const wire = { read: [] as Buffer[], write: [] as Buffer[] };
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const log = new TlsConnectionLog({ loglevel, info: (l) => lines.push(l), endpoint: '[127.0.0.1]:1' });
    // The wire as the socket sees it, independently of the engine's events.
    socket.on('data', (b: Buffer) => wire.read.push(Buffer.from(b)));
    const write = socket.write.bind(socket) as (b: Uint8Array) => boolean;
    socket.write = ((b: Uint8Array) => {
      wire.write.push(Buffer.from(b));
      return write(b);
    }) as typeof socket.write;
    const stream = new TlsServerStream(socket, config, {
      trace: (m) => log.trace(m),
      event: (e) => {
        events.push(e);
        log.event(e);
      },
    });
    stream.once('secure', (info) => log.secure(info));
    stream.on('error', (e) => {
      if (e instanceof TlsStreamError) log.failed(e.duringHandshake, e.tls);
    });
    stream.on('data', (d: Buffer) => stream.write(d));
    stream.on('end', () => stream.end());
    stream.once('close', done);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  let session: Buffer | undefined;
  await new Promise<void>((resolve) => {
    const c = tls.connect({ host: '127.0.0.1', port, ca: testPki().caPem, servername: 'localhost', ...clientOptions });
    c.on('session', (s: Buffer) => (session = s));
    c.on('error', () => resolve());
    c.on('secureConnect', () => {
      if (exchange) c.write('hello');
      else c.end();
    });
    c.on('data', () => setTimeout(() => c.end(), 50));
    c.on('close', () => resolve());
  });
  await Promise.race([finished, new Promise((r) => setTimeout(r, 3000))]);
  await new Promise((r) => server.close(r));
  return { lines, events, wire, session };
}

const states = (l: Logged) => l.lines.filter((x) => x.startsWith('SSL_accept:') || x.startsWith('SSL3 alert'));

test('level 2, TLS 1.3: OpenSSL state names in order', async () => {
  const r = await handshake(2, { minVersion: 'TLSv1.3' });
  assert.equal(states(r), [
    'SSL_accept:before SSL initialization',
    'SSL_accept:before SSL initialization',
    'SSL_accept:SSLv3/TLS read client hello',
    'SSL_accept:SSLv3/TLS write server hello',
    'SSL_accept:SSLv3/TLS write change cipher spec',
    'SSL_accept:TLSv1.3 write encrypted extensions',
    'SSL_accept:SSLv3/TLS write certificate',
    'SSL_accept:TLSv1.3 write server certificate verify',
    'SSL_accept:SSLv3/TLS write finished',
    'SSL_accept:TLSv1.3 early data',
    'SSL_accept:TLSv1.3 early data',
    'SSL_accept:SSLv3/TLS read finished',
  ]);
  assert.not.ok(r.lines.some((l) => /^(read from|write to) /.test(l)), 'no dumps at level 2');
});

test('engine events, TLS 1.3: messages with their type and protection, CCS, version, keys, decisions, the records as on the wire', async () => {
  const r = await handshake(2, { minVersion: 'TLSv1.3' });
  const steps = r.events
    .filter((e) => e.kind !== 'record')
    .map((e) => (e.kind === 'message' ? `${e.direction} ${e.type}${e.protected ? ' protected' : ''}` : e.kind === 'keys' ? `keys ${e.direction} ${e.phase}` : e.kind === 'resumption' ? `resumption ${e.resumed}` : e.kind === 'certificate' ? `certificate ${e.matchedServerName}` : e.kind === 'version' ? `version ${e.version.toString(16)}` : e.kind === 'alert' ? `alert ${e.direction} ${e.description}` : `${e.kind} ${'direction' in e ? e.direction : ''}`.trim()));
  const handshakeEnd = steps.indexOf(`received ${H.finished} protected`);
  assert.equal(steps.slice(0, handshakeEnd + 1), [
    `received ${H.client_hello}`,
    'version 304',
    'resumption false',
    'certificate true',
    `sent ${H.server_hello}`,
    'change-cipher-spec sent',
    'keys write handshake',
    'keys read handshake',
    `sent ${H.encrypted_extensions} protected`,
    `sent ${H.certificate} protected`,
    `sent ${H.certificate_verify} protected`,
    `sent ${H.finished} protected`,
    'keys write application',
    ...(steps.includes('change-cipher-spec received') ? ['change-cipher-spec received'] : []),
    `received ${H.finished} protected`,
  ]);
  assert.ok(steps.includes('keys read application'), steps.join('\n'));
  // The client's close_notify (and ours) as alert events.
  assert.ok(steps.includes('alert received 0'), steps.join('\n'));
  // Record events are the wire, both ways.
  const bytes = (d: 'sent' | 'received') => Buffer.concat(r.events.flatMap((e) => (e.kind === 'record' && e.direction === d ? [Buffer.from(e.header), Buffer.from(e.fragment)] : [])));
  assert.ok(bytes('received').equals(Buffer.concat(r.wire.read)), 'received records = bytes read');
  assert.ok(bytes('sent').equals(Buffer.concat(r.wire.write)), 'sent records = bytes written');
});

test('level 2, TLS 1.3 with a HelloRetryRequest: two client hellos, two server hellos', async () => {
  const r = await handshake(2, { minVersion: 'TLSv1.3', ecdhCurve: 'P-384:X25519' }, { groups: [0x001d] });
  assert.equal(states(r).slice(2, 7), [
    'SSL_accept:SSLv3/TLS read client hello',
    'SSL_accept:SSLv3/TLS write server hello',
    'SSL_accept:SSLv3/TLS write change cipher spec',
    'SSL_accept:SSLv3/TLS read client hello',
    'SSL_accept:SSLv3/TLS write server hello',
  ]);
  assert.ok(r.lines.includes('SSL_accept:SSLv3/TLS read finished'), r.lines.join('\n'));
  assert.ok(r.lines.some((l) => /^\[127\.0\.0\.1\]:1: HelloRetryRequest for x25519$/.test(l)), r.lines.join('\n'));
});

test('level 2, TLS 1.2 full handshake, then resumed by session ID', async () => {
  const cache = new Map<string, Uint8Array>();
  const sessionCache = {
    get: (id: Uint8Array) => cache.get(Buffer.from(id).toString('hex')),
    put: (id: Uint8Array, s: Uint8Array) => void cache.set(Buffer.from(id).toString('hex'), s),
    remove: (id: Uint8Array) => void cache.delete(Buffer.from(id).toString('hex')),
  };
  const full = await handshake(2, { maxVersion: 'TLSv1.2' }, { versions: [ProtocolVersion.TLS1_2], sessionCache } as Partial<ServerConfig>);
  assert.equal(states(full).slice(2), [
    'SSL_accept:SSLv3/TLS read client hello',
    'SSL_accept:SSLv3/TLS write server hello',
    'SSL_accept:SSLv3/TLS write certificate',
    'SSL_accept:SSLv3/TLS write key exchange',
    'SSL_accept:SSLv3/TLS write server done',
    'SSL_accept:SSLv3/TLS read client key exchange',
    'SSL_accept:SSLv3/TLS read change cipher spec',
    'SSL_accept:SSLv3/TLS read finished',
    'SSL_accept:SSLv3/TLS write change cipher spec',
    'SSL_accept:SSLv3/TLS write finished',
  ]);
  assert.ok(full.session, 'a session to resume');
  const resumed = await handshake(2, { maxVersion: 'TLSv1.2', session: full.session }, { versions: [ProtocolVersion.TLS1_2], sessionCache } as Partial<ServerConfig>);
  assert.equal(states(resumed).slice(2), [
    'SSL_accept:SSLv3/TLS read client hello',
    'SSL_accept:SSLv3/TLS write server hello',
    'SSL_accept:SSLv3/TLS write change cipher spec',
    'SSL_accept:SSLv3/TLS write finished',
    'SSL_accept:SSLv3/TLS read change cipher spec',
    'SSL_accept:SSLv3/TLS read finished',
  ]);
});

test('level 2, a failed handshake: the alert we send, then SSL_accept:error in error', async () => {
  // The client offers only TLS 1.2 suites we do not have enabled here.
  const r = await handshake(2, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }, { versions: [ProtocolVersion.TLS1_2], tls12CipherSuites: [0xc02b] } as Partial<ServerConfig>);
  assert.equal(states(r).slice(2), ['SSL_accept:SSLv3/TLS read client hello', 'SSL3 alert write:fatal:handshake failure', 'SSL_accept:error in error']);
});

test('level 3: dumps of the handshake bytes only, exactly what was on the wire; level 4: also after', async () => {
  const three = await handshake(3, { minVersion: 'TLSv1.3' });
  // Rebuild the bytes of each dump block and check them against the wire at the block's offset.
  // A block's trailing spaces/NULs may be summarized (`<offset> - <SPACES/NULLS>`): those wire
  // bytes must then be 0x20 or 0x00. Returns how many wire bytes the dumps cover.
  const dumped = (l: Logged, d: 'read' | 'write', wire: Buffer) => {
    let off = 0;
    let block: number[] | undefined;
    let got = 0;
    const close = () => {
      if (!block) return;
      const expected = wire.subarray(off, off + got);
      assert.ok(expected.subarray(0, block.length).equals(Buffer.from(block)), `dump block at ${off} matches the wire`);
      assert.ok(expected.subarray(block.length).every((b) => b === 0 || b === 0x20), `summarized tail at ${off} is spaces or NULs`);
      off += got;
      block = undefined;
    };
    for (const x of l.lines) {
      const h = /^(read from|write to) \w{8} \[\w{8}\] \(\d+ bytes => (\d+) /.exec(x);
      if (h) {
        close();
        if (h[1]!.startsWith(d === 'read' ? 'read' : 'write')) {
          block = [];
          got = Number(h[2]);
        }
      } else if (block && /^[0-9a-f]{4} [0-9a-f]{2}/.test(x)) {
        block.push(...x.slice(5, 53).replace(/\|/g, ' ').trim().split(/ +/).map((hx) => parseInt(hx, 16)));
      }
    }
    close();
    return off;
  };
  const headers = three.lines.filter((l) => /^(read from|write to) [0-9A-F]{8} \[[0-9A-F]{8}\] \(\d+ bytes => \d+ \(0x[0-9A-F]+\)\)$/.test(l));
  assert.ok(headers.length >= 4, three.lines.join('\n'));
  // Reads come as OpenSSL makes them: a 5-byte record header, then the record body.
  assert.match(headers[0]!, /^read from \w{8} \[\w{8}\] \(5 bytes => 5 \(0x5\)\)$/);
  const inBytes = Buffer.concat(three.wire.read);
  const outBytes = Buffer.concat(three.wire.write);
  // Level 3 stops at the end of the handshake: a prefix of each direction.
  const r3 = dumped(three, 'read', inBytes);
  const w3 = dumped(three, 'write', outBytes);
  assert.ok(r3 > 0 && w3 > 0);
  assert.ok(r3 < inBytes.length && w3 < outBytes.length, 'application data is not dumped at level 3');
  const four = await handshake(4, { minVersion: 'TLSv1.3' });
  const in4 = Buffer.concat(four.wire.read);
  const out4 = Buffer.concat(four.wire.write);
  const r4 = dumped(four, 'read', in4);
  const w4 = dumped(four, 'write', out4);
  assert.ok(r4 >= in4.length - 32, `level 4 dumps all reads (${r4} of ${in4.length})`);
  assert.ok(w4 >= out4.length - 32, `level 4 dumps all writes (${w4} of ${out4.length})`);
});

// ------------------------------------------------------------ targets

function params(text: string): ParameterSet {
  return ParameterSet.defaults().withLayer(parseMainCf(text, 'main.cf').layer);
}

test('maillog_file: lines appended, reopened after rotation, prefix enforced; /dev/stdout; syslog datagram form', () => {
  const dir = tempDir('tlsproxy-maillog-');
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, 'existing line\n');
  const sink = new FileSink(file);
  const log = new Logger({ hostname: 'mx.example', pid: 9, sink: sink.sink, clock: () => new Date(2026, 0, 2, 3, 4, 5) });
  log.info('one');
  renameSync(file, `${file}.1`);
  log.warning('two (still into the renamed file)');
  sink.reopen();
  log.info('three');
  sink.close();
  assert.is(readFileSync(`${file}.1`, 'utf8'), 'existing line\nJan 02 03:04:05 mx postfix/tlsproxy[9]: one\nJan 02 03:04:05 mx postfix/tlsproxy[9]: warning: two (still into the renamed file)\n');
  assert.is(readFileSync(file, 'utf8'), 'Jan 02 03:04:05 mx postfix/tlsproxy[9]: three\n');

  assert.throws(() => openLogTarget(params(`maillog_file = ${file}\n`)), (e: Error) => e.message === `maillog_file value '${file}' does not match any prefix in maillog_file_prefixes`);
  const t = openLogTarget(params(`maillog_file = ${file}\nmaillog_file_prefixes = /var, ${dir}\n`));
  assert.is(t.description, `maillog_file ${file}`);
  t.close();
  mkdirSync(path.join(dir, 'sub'));
  assert.throws(() => openLogTarget(params(`maillog_file = ${path.join(dir, 'sub')}\nmaillog_file_prefixes = ${dir}\n`)), (e: Error) => /^open maillog_file .*sub: (Is a directory|EISDIR)/.test(e.message));
  assert.is(openLogTarget(params('')).description, 'stderr');
  assert.throws(() => openLogTarget(params('tlsproxy_syslog_enable = yes\nsyslog_facility = nosuch\n')), (e: Error) => /unknown syslog facility "nosuch"/.test(e.message));
  assert.is(syslogDatagram('Jan 02 03:04:05 mx postfix/tlsproxy[9]: warning: two', 'warning', 2), '<20>Jan 02 03:04:05 postfix/tlsproxy[9]: warning: two');
  assert.is(syslogDatagram('Jan 02 03:04:05 mx postfix-in/tlsproxy[9]: hi', 'info', 16), '<134>Jan 02 03:04:05 postfix-in/tlsproxy[9]: hi');
});

test.run();
