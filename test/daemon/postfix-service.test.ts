/**
 * The Postfix service mode against an emulated master(8) and requester:
 * `bin/tlsproxy.js` spawned the way master spawns a daemon (its argv,
 * GENERATION in octal, MAIL_CONFIG, POSTLOG_SERVICE, no PATH; fd 5 = the
 * status socket, fd 6 = the listener), the test speaking postscreen's side
 * of the protocol and passing a TCP connection with SCM_RIGHTS, a node:tls
 * client on the other end. Log records are read from our own postlog
 * datagram socket, status messages from our end of fd 5.
 *
 * Skipped, with the reason printed, where the native addon is missing.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeTestPki } from '../../proxy/cli/certs.js';
import { AttrListReader, decodeAttrs, encodeAttrs } from '../../proxy/postfix/attr.js';
import { decodeStatus } from '../../proxy/postfix/master-status.js';
import { loadNative, type NativeAddon, type Poller } from '../../proxy/base/native.js';
import { clientPki } from '../helpers/client-pki.js';
import { skipped } from '../helpers/skip.js';

const loaded = loadNative();
if (!loaded.ok) skipped('Postfix service mode tests', loaded.reason);
const it = loaded.ok ? test : test.skip;
const n = (loaded.ok ? loaded.addon : undefined) as NativeAddon;

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const BIN = path.join(ROOT, 'bin', 'tlsproxy.js');
let pki: string;
const dirs: string[] = [];
const masters = new Set<FakeMaster>();

/** Reads everything that arrives on a descriptor (datagrams or stream bytes) through a Poller. */
class Collector {
  readonly chunks: Buffer[] = [];
  private poller: Poller;
  private waiters: (() => void)[] = [];
  eof = false;

  constructor(readonly fd: number) {
    this.poller = new n.Poller(fd, () => this.read());
    this.poller.start(true, false);
    this.poller.unref();
  }

  private read(): void {
    for (;;) {
      let r;
      try {
        r = n.recvFd(fd(this), 65536);
      } catch {
        this.stop();
        break;
      }
      if (!r) break;
      if (!r.data.length) {
        this.eof = true;
        this.stop();
        break;
      }
      this.chunks.push(r.data);
    }
    for (const w of this.waiters.splice(0)) w();
  }

  async until<T>(test: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = test();
      if (v !== undefined && v !== false) return v;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  stop(): void {
    this.poller.close();
  }
}
const fd = (c: Collector) => c.fd;

interface StartOptions {
  readonly args?: readonly string[];
  readonly mainCf?: string;
  readonly generation?: string;
}

class FakeMaster {
  readonly dir: string;
  readonly listenPath: string;
  readonly listenFd: number;
  readonly status: number;
  private readonly statusChild: number;
  readonly logs: Collector;
  readonly statusReader: Collector;
  child!: ChildProcess;
  exit!: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-pfx-'));
    dirs.push(this.dir);
    mkdirSync(path.join(this.dir, 'etc'));
    this.listenPath = path.join(this.dir, 'tlsproxy');
    this.listenFd = n.listenUnix(this.listenPath, 100);
    [this.status, this.statusChild] = n.socketpair();
    const postlog = n.dgramBind(path.join(this.dir, 'postlog'));
    this.logs = new Collector(postlog);
    this.statusReader = new Collector(this.status);
    masters.add(this);
  }

  start(o: StartOptions = {}): this {
    const mainCf = o.mainCf ?? baseMainCf(this.dir);
    writeFileSync(path.join(this.dir, 'etc', 'main.cf'), mainCf);
    this.child = spawn(process.execPath, [BIN, ...(o.args ?? ['-z', '-n', 'tlsproxy', '-t', 'unix'])], {
      stdio: ['ignore', 'ignore', 'pipe', 'ignore', 'ignore', this.statusChild, this.listenFd],
      env: { GENERATION: o.generation ?? '142', MAIL_CONFIG: path.join(this.dir, 'etc'), MAIL_LOGTAG: 'postfix', POSTLOG_SERVICE: path.join(this.dir, 'postlog'), LANG: 'C' },
      cwd: this.dir,
    });
    this.child.stderr!.on('data', (d) => (this.stderr += d));
    this.exit = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    return this;
  }

  get lines(): string[] {
    return this.logs.chunks.map((c) => c.toString());
  }

  /** Messages after `tag[pid]: `. */
  get messages(): string[] {
    return this.lines.map((l) => l.replace(/^.*?postfix\/tlsproxy\[\d+\]: /, ''));
  }

  waitLog(re: RegExp, timeoutMs = 8000): Promise<string> {
    return this.logs.until(() => this.messages.find((m) => re.test(m)), timeoutMs, `a log line matching ${re}; have:\n${this.lines.join('\n')}\nstderr: ${this.stderr}`);
  }

  get statusMessages() {
    const all = Buffer.concat(this.statusReader.chunks);
    const out = [];
    for (let i = 0; i + 12 <= all.length; i += 12) out.push(decodeStatus(all.subarray(i, i + 12)));
    return out;
  }

  /** Close our end of the status socket, as master does on reload. */
  reload(): void {
    this.statusReader.stop();
    n.close(this.status);
    (this as { status: number }).status = -1;
  }

  async close(): Promise<void> {
    masters.delete(this);
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      // The serving process first (a child of the spawned one), then the spawned one.
      const r = spawnSync('/usr/bin/pgrep', ['-P', String(this.child.pid)], { encoding: 'utf8' });
      for (const pid of (r.stdout ?? '').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
      this.child.kill('SIGKILL');
    }
    this.logs.stop();
    this.statusReader.stop();
    for (const f of [this.listenFd, this.status, this.statusChild, this.logs.fd]) {
      try {
        if (f >= 0) n.close(f);
      } catch {
        // closed
      }
    }
  }
}

function baseMainCf(dir: string, extra = '', version = '3.7.11'): string {
  return `queue_directory = ${dir}
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
myhostname = pfx-test.localdomain
tlsproxy_postfix_version = ${version}
smtpd_tls_security_level = may
smtpd_tls_cert_file = ${pki}/server-ecdsa-p256.pem
smtpd_tls_key_file = ${pki}/server-ecdsa-p256-key.pem
smtpd_tls_loglevel = 1
${extra}`;
}

/** postscreen's side: connect, read the greeting, send the request, read the status. */
class Requester {
  readonly socket: net.Socket;
  private buffered = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(listenPath: string) {
    this.socket = net.connect(listenPath);
    this.socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** The next attribute list. */
  async list(timeoutMs = 8000): Promise<[string, string][]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = new AttrListReader();
      const used = r.feed(this.buffered);
      if (r.done) {
        const out = decodeAttrs(this.buffered.subarray(0, used)) as [string, string][];
        this.buffered = this.buffered.subarray(used);
        return out;
      }
      if (this.closed) throw new Error('requester socket closed');
      if (Date.now() > end) throw new Error('no attribute list');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async text(re: RegExp, timeoutMs = 8000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (!re.test(this.buffered.toString('latin1'))) {
      if (this.closed || Date.now() > end) throw new Error(`no ${re} in ${JSON.stringify(this.buffered.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const t = this.buffered.toString('latin1');
    this.buffered = Buffer.alloc(0);
    return t;
  }

  request(endpoint: string, flags = 1): void {
    this.socket.write(encodeAttrs([['remote_endpoint', endpoint], ['flags', String(flags)], ['timeout', '300'], ['timeout', '300'], ['serverid', 'smtpd']]));
  }

  /** Pass `client` (a TCP socket we accepted, paused) with one NUL byte, then close our copy, as postscreen does. */
  pass(client: net.Socket): void {
    const requesterFd = (this.socket as unknown as { _handle: { fd: number } })._handle.fd;
    const clientFd = (client as unknown as { _handle: { fd: number } })._handle.fd;
    n.sendFd(requesterFd, clientFd, Buffer.of(0));
    client.destroy();
  }
}

/** A TCP server whose accepted sockets are never read here (they are passed on), and a TLS client to it. */
async function remoteClient(options: tls.ConnectionOptions = {}): Promise<{ server: net.Server; accepted: Promise<net.Socket>; connect: () => tls.TLSSocket }> {
  const server = net.createServer({ pauseOnConnect: true });
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    accepted,
    connect: () => tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }),
  };
}

test.before(async () => {
  if (!loaded.ok) return;
  pki = mkdtempSync(path.join(tmpdir(), 'tlsproxy-pfx-pki-'));
  dirs.push(pki);
  await writeTestPki(pki);
});

test.after(async () => {
  for (const m of [...masters]) await m.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('greeting, request, status 1, descriptor, TLS 1.3 with our engine, plaintext relayed both ways, master status messages with the spawned pid and generation', async () => {
  const m = new FakeMaster().start();
  const r = new Requester(m.listenPath);
  const rc = await remoteClient();
  try {
    assert.equal(await r.list(), [['protocol', 'tlsproxy_protocol']]);
    const sock = rc.connect();
    const client = await rc.accepted;
    const endpoint = `[127.0.0.1]:${client.remotePort}`;
    r.request(endpoint);
    assert.equal(await r.list(), [['status', '1']]);
    r.pass(client);
    const secure = new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    await secure;
    assert.is(sock.getProtocol(), 'TLSv1.3');
    // postscreen -> client through TLS
    r.socket.write('250 after TLS\r\n');
    const got = await new Promise<string>((resolve) => sock.once('data', (d) => resolve(d.toString())));
    assert.is(got, '250 after TLS\r\n');
    // client -> postscreen
    sock.write('EHLO client.example\r\n');
    assert.match(await r.text(/EHLO client.example\r\n/), 'EHLO');
    await m.waitLog(/^Anonymous TLS connection established/);
    sock.end();
    await m.waitLog(/^DISCONNECT /);
    const msgs = m.messages;
    const i = msgs.indexOf(`CONNECT from ${endpoint}`);
    assert.ok(i >= 0, msgs.join('\n'));
    assert.match(msgs[i + 1]!, new RegExp(`^Anonymous TLS connection established from \\[127\\.0\\.0\\.1\\]:${client.remotePort}: TLSv1\\.3 with cipher TLS_AES_\\d+_GCM_SHA\\d+ \\(\\d+/\\d+ bits\\) key-exchange X25519 server-signature ECDSA \\(prime256v1\\) server-digest SHA256$`));
    assert.ok(msgs.includes(`DISCONNECT ${endpoint}`));
    assert.match(m.lines[0]!, /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d pfx-test postfix\/tlsproxy\[\d+\]: /);
    // status: TAKEN then AVAIL, pid = the process master spawned, generation 0142 = 98
    const st = await m.statusReader.until(() => (m.statusMessages.length >= 2 ? m.statusMessages : undefined), 5000, 'status messages');
    assert.equal(st.slice(0, 2), [
      { pid: m.child.pid, generation: 98, avail: 0 },
      { pid: m.child.pid, generation: 98, avail: 1 },
    ]);
  } finally {
    r.socket.destroy();
    rc.server.close();
    await m.close();
  }
});

/** One requester session to the end of the handshake: request, status 1, descriptor, TLS; the client and its endpoint. */
async function tlsSession(m: FakeMaster, options: tls.ConnectionOptions): Promise<{ r: Requester; sock: tls.TLSSocket; endpoint: string; server: net.Server }> {
  const r = new Requester(m.listenPath);
  const rc = await remoteClient(options);
  await r.list();
  const sock = rc.connect();
  const client = await rc.accepted;
  const endpoint = `[127.0.0.1]:${client.remotePort}`;
  r.request(endpoint);
  assert.equal(await r.list(), [['status', '1']]);
  r.pass(client);
  await new Promise<void>((resolve, reject) => {
    sock.once('secureConnect', () => resolve());
    sock.once('error', reject);
  });
  return { r, sock, endpoint, server: rc.server };
}

it('master mode through the one TLS hand-over: SNI map lines, client-certificate lines, level-2 states, the key log, tlsproxy_process_session_limit', async () => {
  const cp = clientPki();
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-pfx-sni-'));
  dirs.push(dir);
  const sniChain = path.join(dir, 'sni.pem');
  writeFileSync(sniChain, readFileSync(`${pki}/server-ecdsa-p384-key.pem`, 'utf8') + readFileSync(`${pki}/server-ecdsa-p384.pem`, 'utf8'));
  writeFileSync(path.join(dir, 'sni'), `sni.example.test ${sniChain}\n`);
  const keys = path.join(dir, 'keys.log');
  const m = new FakeMaster().start({
    mainCf: baseMainCf(
      dir,
      [
        'smtpd_tls_loglevel = 2',
        `tls_server_sni_maps = texthash:${path.join(dir, 'sni')}`,
        'smtpd_tls_ask_ccert = yes',
        `smtpd_tls_CAfile = ${cp.caFile}`,
        `tlsproxy_tls_keylog_file = ${keys}`,
        'tlsproxy_process_session_limit = 1',
        '',
      ].join('\n'),
      '3.11.1',
    ),
  });
  const open: { r: Requester; sock: tls.TLSSocket; server: net.Server }[] = [];
  try {
    await m.waitLog(/^warning: tlsproxy_tls_keylog_file = .*: TLS SESSION SECRETS ARE WRITTEN TO THIS FILE/);
    // 1. SNI that matches the map, a trusted client certificate; the session stays open.
    const one = await tlsSession(m, { servername: 'sni.example.test', cert: readFileSync(cp.clients.p256.certPath), key: readFileSync(cp.clients.p256.keyPath), minVersion: 'TLSv1.3' });
    open.push(one);
    const e = one.endpoint;
    const summary = await m.waitLog(/TLS connection established from/);
    assert.match(summary, new RegExp(`^Trusted TLS connection established from ${e.replace(/[[\].]/g, '\\$&')} to sni\\.example\\.test: TLSv1\\.3 with cipher \\S+ \\(\\d+/\\d+ bits\\) key-exchange x25519 server-signature ECDSA \\(secp384r1\\) server-digest SHA384 client-signature ECDSA \\(prime256v1\\) client-digest SHA256$`));
    let msgs = m.messages;
    const from = msgs.indexOf(`CONNECT from ${e}`);
    assert.ok(from >= 0, msgs.join('\n'));
    const session = msgs.slice(from, msgs.indexOf(summary) + 1);
    assert.is(session.filter((x) => x === `CONNECT from ${e}`).length, 1, 'one CONNECT line (the requester\'s)');
    assert.ok(session.includes(`setting up TLS connection from ${e}`), session.join('\n'));
    assert.ok(session.some((x) => x.startsWith(`${e}: TLS cipher list "`)), session.join('\n'));
    // (a session ticket only where tlsmgr provides ticket keys: not under this emulated master)
    assert.equal(session.filter((x) => x.startsWith('SSL_accept:') && x !== 'SSL_accept:SSLv3/TLS write session ticket'), [
      'SSL_accept:before SSL initialization',
      'SSL_accept:before SSL initialization',
      'SSL_accept:SSLv3/TLS read client hello',
      'SSL_accept:SSLv3/TLS write server hello',
      'SSL_accept:SSLv3/TLS write change cipher spec',
      'SSL_accept:TLSv1.3 write encrypted extensions',
      'SSL_accept:SSLv3/TLS write certificate request',
      'SSL_accept:SSLv3/TLS write certificate',
      'SSL_accept:TLSv1.3 write server certificate verify',
      'SSL_accept:SSLv3/TLS write finished',
      'SSL_accept:TLSv1.3 early data',
      'SSL_accept:TLSv1.3 early data',
      'SSL_accept:SSLv3/TLS read client certificate',
      'SSL_accept:SSLv3/TLS read certificate verify',
      'SSL_accept:SSLv3/TLS read finished',
    ]);
    assert.ok(session.some((x) => new RegExp(`^${e.replace(/[[\].]/g, '\\$&')}: subject_CN=client-p256, issuer=Client Root CA, cert fingerprint=[0-9A-F:]+, pkey fingerprint=[0-9A-F:]+$`).test(x)), session.join('\n'));
    assert.not.ok(session.some((x) => /TLS SNI/.test(x)), 'a matched name has no SNI line');
    // The key log: the five TLS 1.3 secrets of this session, one client random.
    const lines = readFileSync(keys, 'utf8').trim().split('\n');
    assert.equal(lines.map((l) => l.split(' ')[0]).sort(), ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'EXPORTER_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_TRAFFIC_SECRET_0']);
    assert.is(new Set(lines.map((l) => l.split(' ')[1])).size, 1);
    assert.ok(lines.every((l) => /^\S+ [0-9a-f]{64} [0-9a-f]{64,96}$/.test(l)), lines.join('\n'));

    // 2. The session limit: a second request while the first session runs gets status 0.
    const r2 = new Requester(m.listenPath);
    await r2.list();
    r2.request('[192.0.2.7]:25');
    assert.equal(await r2.list(), [['status', '0']]);
    await m.waitLog(/^warning: TLS server role is not available for \[192\.0\.2\.7\]:25: 1 TLS sessions in this process \(tlsproxy_process_session_limit = 1\)$/);
    r2.socket.destroy();
    await m.waitLog(/^DISCONNECT \[192\.0\.2\.7\]:25$/);
    msgs = m.messages;
    assert.is(msgs.filter((x) => x === 'DISCONNECT [192.0.2.7]:25').length, 1, 'one DISCONNECT line');

    // 3. After the first session ends, a name that is not in the map: the not-matched line, the default chain.
    one.sock.end();
    await m.waitLog(new RegExp(`^DISCONNECT ${e.replace(/[[\].]/g, '\\$&')}$`));
    const two = await tlsSession(m, { servername: 'other.example.test', minVersion: 'TLSv1.3' });
    open.push(two);
    await m.waitLog(new RegExp(`^TLS SNI other\\.example\\.test from ${two.endpoint.replace(/[[\].]/g, '\\$&')} not matched, using default chain$`));
    const s2 = await m.waitLog(new RegExp(`^Anonymous TLS connection established from ${two.endpoint.replace(/[[\].]/g, '\\$&')}: TLSv1\\.3 `));
    assert.match(s2, /server-signature ECDSA \(prime256v1\)/);
  } finally {
    for (const o of open) {
      o.sock.destroy();
      o.r.socket.destroy();
      o.server.close();
    }
    await m.close();
  }
});

it('SEND_CONTEXT: the context list comes before any plaintext', async () => {
  const m = new FakeMaster().start();
  const r = new Requester(m.listenPath);
  const rc = await remoteClient({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  try {
    await r.list();
    const sock = rc.connect();
    const client = await rc.accepted;
    r.request(`[127.0.0.1]:${client.remotePort}`, 1 | 4);
    assert.equal(await r.list(), [['status', '1']]);
    r.pass(client);
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    sock.write('hello');
    const ctx = Object.fromEntries(await r.list());
    assert.is(ctx.cipher_protocol, 'TLSv1.2');
    assert.is(ctx.cipher_name, 'ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.is(ctx.cipher_usebits, '128');
    assert.is(ctx.level, '0');
    assert.is(ctx.namaddr, `[127.0.0.1]:${client.remotePort}`);
    assert.is(await r.text(/hello/), 'hello');
    await m.waitLog(/^Anonymous TLS connection established from .*: TLSv1\.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 \(128\/128 bits\)$/);
    sock.destroy();
  } finally {
    r.socket.destroy();
    rc.server.close();
    await m.close();
  }
});

it('Postfix 3.3 requester: no greeting, the server_id request form, status 1, TLS', async () => {
  const m = new FakeMaster().start({ mainCf: baseMainCf(mkdtempSync(path.join(tmpdir(), 'x-')), '', '3.3.4') });
  const r = new Requester(m.listenPath);
  const rc = await remoteClient();
  try {
    let greeted = true;
    await r.list(1500).catch(() => (greeted = false));
    assert.is(greeted, false, 'no greeting before 3.6');
    const sock = rc.connect();
    const client = await rc.accepted;
    r.socket.write(encodeAttrs([['remote_endpoint', `[127.0.0.1]:${client.remotePort}`], ['flags', '1'], ['timeout', '300'], ['server_id', 'smtpd']]));
    assert.equal(await r.list(), [['status', '1']]);
    r.pass(client);
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    sock.write('ping');
    assert.is(await r.text(/ping/), 'ping');
    // 3.4-3.9 key exchange naming in the summary
    await m.waitLog(/^Anonymous TLS connection established from .* key-exchange X25519 /);
    sock.destroy();
    await m.waitLog(/^DISCONNECT /);
  } finally {
    r.socket.destroy();
    rc.server.close();
    await m.close();
  }
});

it('status 0: server role disabled (empty level, use_tls=no), client role, bad flags; the requester gets status 0 and the reason is logged', async () => {
  const m = new FakeMaster().start({ mainCf: baseMainCf(mkdtempSync(path.join(tmpdir(), 'x-')), 'smtpd_tls_security_level =\n') });
  try {
    await m.waitLog(/^warning: TLS server role is disabled with tlsproxy_tls_security_level or tlsproxy_use_tls$/);
    for (const [flags, line] of [
      [1, /^warning: TLS server role is disabled/],
      [6, /^warning: TLS client role is not available/],
      [0, /^warning: tlsp_get_request_event: bad request flags: 0x0$/],
    ] as const) {
      const r = new Requester(m.listenPath);
      await r.list();
      r.request('[192.0.2.7]:41862', flags);
      if (flags === 6) r.socket.write(encodeAttrs([['config_file', 'default'], ['tls_level', '2']]));
      assert.equal(await r.list(), [['status', '0']]);
      await m.waitLog(line);
      r.socket.end();
      await m.logs.until(() => m.messages.filter((x) => x === 'DISCONNECT [192.0.2.7]:41862').length >= (flags === 1 ? 1 : flags === 6 ? 2 : 3) || undefined, 5000, 'DISCONNECT');
    }
    assert.ok(m.messages.includes('CONNECT to [192.0.2.7]:41862'));
    assert.ok(m.messages.includes('CONNECT (bogus_direction) [192.0.2.7]:41862'));
  } finally {
    await m.close();
  }
});

it('a bad main.cf value: status 0 and the reason in the log; a missing certificate file too', async () => {
  const m = new FakeMaster().start({ mainCf: baseMainCf(mkdtempSync(path.join(tmpdir(), 'x-')), 'tlsproxy_tls_security_level = bogus\n') });
  try {
    await m.waitLog(/^warning: Invalid TLS level "bogus"$/);
    const r = new Requester(m.listenPath);
    await r.list();
    r.request('[192.0.2.8]:1');
    assert.equal(await r.list(), [['status', '0']]);
    await m.waitLog(/^warning: TLS server role is not available: Invalid TLS level "bogus"$/);
    r.socket.destroy();
  } finally {
    await m.close();
  }
});

it('stale backlog connection (requester already gone): EPIPE on the greeting is survived, the next request is served', async () => {
  const m = new FakeMaster();
  const stale = net.connect(m.listenPath);
  await new Promise<void>((r) => stale.once('connect', () => r()));
  stale.destroy();
  m.start();
  try {
    await m.waitLog(/^warning: write protocol attribute: (Broken pipe|Connection reset by peer)$/);
    const r = new Requester(m.listenPath);
    assert.equal(await r.list(), [['protocol', 'tlsproxy_protocol']]);
    r.socket.destroy();
  } finally {
    await m.close();
  }
});

it('reload (fd 5 closed): the spawned process exits 0 at once, the session in progress continues, then the server exits', async () => {
  const m = new FakeMaster().start();
  const r = new Requester(m.listenPath);
  const rc = await remoteClient();
  try {
    await r.list();
    const sock = rc.connect();
    const client = await rc.accepted;
    r.request(`[127.0.0.1]:${client.remotePort}`);
    await r.list();
    r.pass(client);
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    const workerPid = Number(/tlsproxy\[(\d+)\]/.exec(m.lines[0] ?? '')?.[1]);
    m.reload();
    const ex = await m.exit;
    assert.equal(ex, { code: 0, signal: null }, 'P exits 0');
    // The session goes on in the serving process.
    sock.write('still here');
    assert.is(await r.text(/still here/), 'still here');
    r.socket.write('answer');
    assert.is(await new Promise<string>((resolve) => sock.once('data', (d) => resolve(d.toString()))), 'answer');
    // It does not accept any more.
    const late = new Requester(m.listenPath);
    let greeted = true;
    await late.list(500).catch(() => (greeted = false));
    assert.is(greeted, false, 'nobody accepts after the drain');
    sock.end();
    r.socket.end();
    await m.waitLog(/^DISCONNECT /);
    // Then it exits.
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      try {
        process.kill(workerPid, 0);
      } catch {
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.throws(() => process.kill(workerPid, 0), 'the serving process is gone');
    late.socket.destroy();
  } finally {
    r.socket.destroy();
    rc.server.close();
    await m.close();
  }
});

it('max_idle (-i) ends an idle process with status 0; max_use (-m) after the last session', async () => {
  const m = new FakeMaster().start({ args: ['-z', '-t', 'unix', '-i', '1'] });
  try {
    const t0 = Date.now();
    assert.equal(await m.exit, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 6000);
  } finally {
    await m.close();
  }
  const m2 = new FakeMaster().start({ args: ['-z', '-t', 'unix', '-m', '1'] });
  try {
    const r = new Requester(m2.listenPath);
    await r.list();
    r.request('[192.0.2.9]:1', 2);
    r.socket.write(encodeAttrs([['x', 'y']]));
    await r.list();
    r.socket.end();
    assert.equal(await m2.exit, { code: 0, signal: null });
  } finally {
    await m2.close();
  }
});

it('refused like Postfix: a process limit other than 0, an argument, an unknown option (fatal, exit 1)', async () => {
  for (const [args, re] of [
    [['-l', '-n', 'tlsproxy', '-t', 'unix'], /^fatal: service tlsproxy requires a process limit of 0$/],
    [['-z', '-t', 'unix', 'extra'], /^fatal: unexpected command-line argument: extra$/],
    [['-z', '-t', 'unix', '-q'], /^fatal: invalid option -- 'q'$/],
  ] as const) {
    const m = new FakeMaster().start({ args });
    try {
      assert.equal(await m.exit, { code: 1, signal: null });
      await m.waitLog(re);
    } finally {
      await m.close();
    }
  }
});

it('a killed serving process: the spawned process dies of the same signal (master then sees it)', async () => {
  const m = new FakeMaster().start();
  try {
    const r = new Requester(m.listenPath);
    await r.list();
    await m.statusReader.until(() => m.statusMessages.length >= 2 || undefined, 5000, 'status');
    // Find W: the child of P.
    const { execFileSync } = await import('node:child_process');
    const w = Number(execFileSync('pgrep', ['-P', String(m.child.pid)]).toString().trim().split('\n')[0]);
    assert.ok(w > 0);
    process.kill(w, 'SIGKILL');
    assert.equal(await m.exit, { code: null, signal: 'SIGKILL' });
    r.socket.destroy();
  } finally {
    await m.close();
  }
});

test.run();
