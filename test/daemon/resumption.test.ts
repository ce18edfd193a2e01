/**
 * Session resumption through the REAL daemon (child processes, one
 * process each), with real clients:
 *
 *  - openssl s_client -sess_out / -sess_in: TLS 1.2 by session ID
 *    (-no_ticket), TLS 1.2 by ticket, TLS 1.3 by ticket: `Reused`, and the
 *    daemon's level-2 lines (looking up / reloaded / save session,
 *    Issuing / Decrypting session ticket with the key expiration, Reusing
 *    old session [(RFC 5077 session ticket)]);
 *  - node:tls session reuse (the 'session' event, then `session`) in TLS
 *    1.2 and 1.3;
 *  - tls_ssl_options = NO_TICKET, tlsproxy_tls_always_issue_session_ids;
 *  - tlsproxy_tls_session_ticket_key_file: two daemons with the same key
 *    file resume each other's tickets; a daemon with another key file does
 *    a full handshake (no error); refused files (group-readable, expired,
 *    malformed) stop start-up with a message naming the parameter and file;
 *  - tlsproxy_tls_dh1024_param_file problems at start-up.
 */

import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../proxy/cli/main.js';
import { ConfigError } from '../../proxy/config/errors.js';
import { MemorySink } from '../../proxy/log/log.js';
import { parseTicketKeyFile } from '../../proxy/tls/ticket-keys.js';
import { certMainCf, echoBackend, tempDir, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, nodeTls, sClient, served, startFails, stopAllDaemons, type Served } from '../helpers/daemon-proc.js';

const fixture = (n: string) => new URL(`../fixtures/${n}`, import.meta.url).pathname;

let backend: TestBackend;
let ca: string;
let caPem: string;
let daemon: DaemonProc;
let noTicket: DaemonProc;
let noIds: DaemonProc;
let fleet1: DaemonProc;
let fleet2: DaemonProc;
let other: DaemonProc;
const nowS = () => Math.floor(Date.now() / 1000);

const service = () => `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`;

async function config(extra: string[]): Promise<string> {
  return writeConfig(await certMainCf(['tlsproxy_tls_loglevel = 2', ...extra].join('\n')), service());
}

/** A key file line: `<unix time> <base64 of 48 bytes>`. */
function keyLine(created = nowS(), material: Buffer = randomBytes(48)): string {
  return `${created} ${material.toString('base64')}`;
}

function keyFile(lines: string[], mode = 0o600): string {
  const f = path.join(tempDir('tlsproxy-keys-'), 'ticket-keys');
  writeFileSync(f, `# tlsproxy ticket keys, oldest first\n${lines.join('\n')}\n`, { mode });
  chmodSync(f, mode);
  return f;
}

test.before(async () => {
  backend = await echoBackend();
  const pki = await testPki();
  ca = pki.ca;
  caPem = pki.caPem;
  const shared = [keyLine(nowS() - 600), keyLine()];
  [daemon, noTicket, noIds, fleet1, fleet2, other] = await Promise.all([
    config(['smtpd_tls_session_cache_database = internal:', 'smtpd_tls_session_cache_timeout = 2h']).then((d) => DaemonProc.start(d)),
    config(['tls_ssl_options = NO_TICKET']).then((d) => DaemonProc.start(d)),
    config(['tls_ssl_options = 0x4000', 'tlsproxy_tls_always_issue_session_ids = no']).then((d) => DaemonProc.start(d)),
    config([`tlsproxy_tls_session_ticket_key_file = ${keyFile(shared)}`]).then((d) => DaemonProc.start(d)),
    config([`tlsproxy_tls_session_ticket_key_file = ${keyFile(shared)}`]).then((d) => DaemonProc.start(d)),
    config([`tlsproxy_tls_session_ticket_key_file = ${keyFile([keyLine()])}`]).then((d) => DaemonProc.start(d)),
  ]);
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

function sessFile(): string {
  return path.join(tempDir('tlsproxy-sess-'), 'session.pem');
}

const texts = (s: Served) => s.lines.map((l) => l.text);
const has = (s: Served, re: RegExp) => texts(s).some((t) => re.test(t));
const show = (s: Served) => `${s.out}\n--- daemon:\n${texts(s).join('\n')}`;

/** One full handshake saving the session, then `n` resumptions; returns all runs. */
async function openssl(d: DaemonProc, args: string[], n = 1): Promise<Served[]> {
  const f = sessFile();
  const runs = [await served(d, () => sClient(d.port, [...args, '-CAfile', ca, '-verify_return_error', '-sess_out', f], 'first\n'))];
  for (let i = 0; i < n; i++) runs.push(await served(d, () => sClient(d.port, [...args, '-CAfile', ca, '-verify_return_error', '-sess_in', f], `again ${i}\n`)));
  return runs;
}

test('openssl: TLS 1.2 by session ID (-no_ticket), with the cache lines', async () => {
  const [first, again] = await openssl(daemon, ['-tls1_2', '-no_ticket']);
  assert.match(first!.out, /New, TLSv1\.2, Cipher is /, show(first!));
  const id = /Session-ID: ([0-9A-F]{64})/.exec(first!.out)?.[1];
  assert.ok(id, show(first!));
  assert.ok(has(first!, new RegExp(`^\\[127\\.0\\.0\\.1\\]:\\d+: save session ${id}&s=127\\.0\\.0\\.1:0 to smtpd cache$`)), show(first!));
  assert.not.ok(has(first!, /Issuing session ticket/), show(first!));
  assert.match(again!.out, /Reused, TLSv1\.2, Cipher is /, show(again!));
  assert.match(again!.out, 'again 0');
  assert.ok(has(again!, new RegExp(`: looking up session ${id}&s=127\\.0\\.0\\.1:0 in smtpd cache$`)), show(again!));
  assert.ok(has(again!, new RegExp(`: reloaded session ${id}&s=127\\.0\\.0\\.1:0 from smtpd cache$`)), show(again!));
  assert.ok(has(again!, /^\[127\.0\.0\.1\]:\d+: Reusing old session$/), show(again!));
  // Reusing old session comes before the summary line, as in Postfix.
  const t = texts(again!);
  assert.ok(t.findIndex((x) => x.includes('Reusing old session')) < t.findIndex((x) => x.includes('TLS connection established')));
});

test('openssl: TLS 1.2 by ticket, key expiration from smtpd_tls_session_cache_timeout (2h)', async () => {
  const [first, again] = await openssl(daemon, ['-tls1_2']);
  assert.match(first!.out, /New, TLSv1\.2, Cipher is /, show(first!));
  // Tickets are announced for half the key lifetime.
  assert.match(first!.out, 'TLS session ticket lifetime hint: 3600 (seconds)', show(first!));
  const issued = texts(first!).map((x) => /: Issuing session ticket, key expiration: (\d+)$/.exec(x)?.[1]).find(Boolean);
  assert.ok(issued, show(first!));
  assert.ok(Math.abs(Number(issued) - (nowS() + 7200)) < 30, `key expiration ${issued} is not about now + 2h`);
  assert.match(again!.out, /Reused, TLSv1\.2, Cipher is /, show(again!));
  assert.ok(has(again!, new RegExp(`: Decrypting session ticket, key expiration: ${issued}$`)), show(again!));
  assert.ok(has(again!, /^\[127\.0\.0\.1\]:\d+: Reusing old session \(RFC 5077 session ticket\)$/), show(again!));
  assert.not.ok(has(again!, /looking up session/), 'a ticket needs no cache look-up');
});

test('openssl: TLS 1.3 by ticket', async () => {
  const [first, again, third] = await openssl(daemon, ['-tls1_3'], 2);
  assert.match(first!.out, /New, TLSv1\.3, Cipher is /, show(first!));
  assert.ok(has(first!, /: Issuing session ticket, key expiration: \d+$/), show(first!));
  for (const r of [again!, third!]) {
    assert.match(r.out, /Reused, TLSv1\.3, Cipher is /, show(r));
    assert.ok(has(r, /: Decrypting session ticket, key expiration: \d+$/), show(r));
    assert.ok(has(r, /^\[127\.0\.0\.1\]:\d+: Reusing old session \(RFC 5077 session ticket\)$/), show(r));
    // Resumed TLS 1.3: no server signature in the summary.
    assert.ok(has(r, /TLSv1\.3 with cipher \S+ \(\d+\/\d+ bits\) key-exchange \S+$/), show(r));
  }
});

async function nodeReuse(d: DaemonProc, version: 'TLSv1.2' | 'TLSv1.3'): Promise<Served[]> {
  let session: Buffer | undefined;
  const runs: Served[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await served(d, async () => {
      const res = await nodeTls(d.port, caPem, { minVersion: version, maxVersion: version, ...(session ? { session } : {}) }, `node ${version} ${i}\n`);
      if (i === 0) session = res.session;
      return { out: `${res.protocol} ${res.cipher} reused=${res.reused} ${res.out}`, code: 0 };
    });
    runs.push(r);
    if (i === 0) assert.ok(session, `no session from the first ${version} connection`);
  }
  return runs;
}

test('node:tls session reuse: TLS 1.2 and TLS 1.3', async () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const [first, ...again] = await nodeReuse(daemon, version);
    assert.match(first!.out, `${version} `);
    assert.match(first!.out, 'reused=false');
    for (const r of again) {
      assert.match(r.out, `${version} `, show(r));
      assert.match(r.out, 'reused=true', show(r));
      assert.ok(r.resumed, show(r));
    }
  }
});

test('tls_ssl_options = NO_TICKET: no tickets (TLS 1.2 and 1.3), session IDs still issued without a cache, never resumed', async () => {
  const [first12, again12] = await openssl(noTicket, ['-tls1_2']);
  assert.match(first12!.out, /New, TLSv1\.2/, show(first12!));
  assert.not.match(first12!.out, 'TLS session ticket:');
  assert.match(first12!.out, /Session-ID: [0-9A-F]{64}\n/, 'tlsproxy_tls_always_issue_session_ids = yes');
  assert.match(again12!.out, /New, TLSv1\.2/, show(again12!));
  assert.not.ok(again12!.resumed);
  // TLS 1.3: no NewSessionTicket, so nothing to resume with (s_client writes no session).
  const first13 = await served(noTicket, () => sClient(noTicket.port, ['-tls1_3', '-CAfile', ca, '-msg'], 'no ticket\n'));
  assert.match(first13.out, /New, TLSv1\.3/, show(first13));
  assert.match(first13.out, 'no ticket');
  assert.not.match(first13.out, 'NewSessionTicket', show(first13));
  for (const r of [first12!, again12!, first13]) assert.not.ok(has(r, /Issuing session ticket|smtpd cache/), show(r));
});

test('tls_ssl_options 0x4000 (NO_TICKET) and tlsproxy_tls_always_issue_session_ids = no: no session ID', async () => {
  const [first] = await openssl(noIds, ['-tls1_2'], 0);
  assert.match(first!.out, /New, TLSv1\.2/, show(first!));
  assert.match(first!.out, /Session-ID: \n/, show(first!));
  assert.not.match(first!.out, 'TLS session ticket:');
});

test('key file: two daemons with the same keys resume each other\'s tickets (TLS 1.2 and 1.3)', async () => {
  for (const version of ['-tls1_2', '-tls1_3']) {
    const f = sessFile();
    const first = await served(fleet1, () => sClient(fleet1.port, [version, '-CAfile', ca, '-sess_out', f], 'fleet\n'));
    assert.match(first.out, /New, TLSv1\.[23]/, show(first));
    const again = await served(fleet2, () => sClient(fleet2.port, [version, '-CAfile', ca, '-sess_in', f], 'fleet again\n'));
    assert.match(again.out, /Reused, TLSv1\.[23]/, show(again));
    assert.ok(has(again, /Reusing old session \(RFC 5077 session ticket\)$/), show(again));
    assert.match(again.out, 'fleet again');
  }
});

test('key file: a ticket sealed with another key is not resumed (full handshake, no error)', async () => {
  for (const version of ['-tls1_2', '-tls1_3']) {
    const f = sessFile();
    await served(fleet1, () => sClient(fleet1.port, [version, '-CAfile', ca, '-sess_out', f], 'mine\n'));
    const r = await served(other, () => sClient(other.port, [version, '-CAfile', ca, '-verify_return_error', '-sess_in', f], 'theirs\n'));
    assert.is(r.code, 0, show(r));
    assert.match(r.out, /New, TLSv1\.[23]/, show(r));
    assert.match(r.out, 'theirs', show(r));
    assert.not.ok(r.resumed);
    assert.not.ok(has(r, /Decrypting session ticket|^warning: |failed/), show(r));
    assert.ok(has(r, /Issuing session ticket/), 'a new ticket under our own key');
  }
});

test('key file: start-up log names the file and the number of keys, never the keys', () => {
  const line = fleet1.log.find((l) => /session ticket keys? loaded/.test(l.text));
  assert.ok(line, fleet1.stderr);
  assert.match(line!.text, /^tlsproxy_tls_session_ticket_key_file=\/\S+: 2 session ticket keys loaded$/);
});

async function refused(extra: string[], expected: RegExp): Promise<void> {
  const dir = await config(extra);
  const r = await startFails(dir);
  assert.is(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ postfix\/tlsproxy\[\d+\]: fatal: /);
  assert.match(lines[0]!, expected);
}

test('key file: group-readable or expired: the daemon refuses to start, naming the parameter and the file', async () => {
  const readable = keyFile([keyLine()], 0o640);
  await refused(
    [`tlsproxy_tls_session_ticket_key_file = ${readable}`],
    new RegExp(`fatal: tlsproxy_tls_session_ticket_key_file=${readable}: the file is readable or writable by group or others \\(mode 0640\\): ticket keys must be private \\(chmod 600\\)$`),
  );
  const expired = keyFile([keyLine(nowS() - 9000), keyLine(nowS() - 4000)]);
  await refused(
    [`tlsproxy_tls_session_ticket_key_file = ${expired}`],
    new RegExp(`fatal: tlsproxy_tls_session_ticket_key_file=${expired}: every key has expired: the newest \\(line 3, created \\S+\\) is older than smtpd_tls_session_cache_timeout \\(3600s\\); add a new key$`),
  );
});

/** main() in this process: the fatal message, or undefined if it started (then stopped at once). */
async function startMessage(extra: string[]): Promise<string | undefined> {
  const dir = await config(extra);
  const log = new MemorySink();
  const code = await main(['start', '-c', dir], { sink: log.sink, stopSignal: async () => 'SIGTERM' });
  return code === 0 ? undefined : log.messages.find((m) => m.startsWith('fatal: '));
}

test('key file: every kind of bad file is a clear start-up error', async () => {
  const bad = async (lines: string[], re: RegExp) => {
    const f = keyFile(lines);
    const m = await startMessage([`tlsproxy_tls_session_ticket_key_file = ${f}`]);
    assert.ok(m, `accepted: ${lines.join(' | ')}`);
    assert.ok(m!.startsWith(`fatal: tlsproxy_tls_session_ticket_key_file=${f}: `), m);
    assert.match(m!, re);
  };
  await bad([], /: no keys in the file/);
  await bad([`${nowS()} two words`], /: line 2: expected "<unix time> <base64 of 48 bytes>"$/);
  await bad([`${nowS()} not-base64!`], /: line 2: the key is not valid base64$/);
  await bad([`${nowS()} ${randomBytes(32).toString('base64')}`], /: line 2: the key is 32 bytes, not 48 /);
  await bad([`${nowS()} ${randomBytes(48).toString('base64').slice(0, -2)}`], /: line 2: the key is not valid base64$/);
  await bad([randomBytes(48).toString('base64')], /: line 2: expected /);
  await bad([keyLine(nowS() + 3600)], /: line 2: creation time \d+ \(\S+\) is in the future$/);
  await bad([keyLine(nowS()), keyLine(nowS() - 60)], /: line 3: the key is older than the one on line 2: list keys oldest first$/);
  const same = randomBytes(48);
  await bad([keyLine(nowS() - 1, same), keyLine(nowS(), same)], /: line 3: the key name repeats the key on line 2$/);
  const missing = path.join(tempDir(), 'none');
  assert.is(await startMessage([`tlsproxy_tls_session_ticket_key_file = ${missing}`]), `fatal: tlsproxy_tls_session_ticket_key_file=${missing}: cannot read the file: No such file or directory`);
});

test('key file: ignored with a warning when tickets are off', async () => {
  const f = keyFile([keyLine()]);
  const dir = await config([`tlsproxy_tls_session_ticket_key_file = ${f}`, 'tls_ssl_options = NO_TICKET']);
  const log = new MemorySink();
  assert.is(await main(['start', '-c', dir, '-o', 'tlsproxy_worker_processes=1'], { sink: log.sink, stopSignal: async () => 'SIGTERM' }), 0);
  assert.ok(log.messages.includes('warning: tlsproxy_tls_session_ticket_key_file is ignored: session tickets are disabled (tls_ssl_options NO_TICKET)'), log.messages.join('\n'));
});

test('parseTicketKeyFile: keys oldest first, times, expired keys kept until the ring drops them', () => {
  const now = 1_800_000_000_000;
  const a = randomBytes(48);
  const b = randomBytes(48);
  const text = `# c\n\n${Math.floor(now / 1000) - 5000} ${a.toString('base64')}\r\n  ${Math.floor(now / 1000) - 10} ${b.toString('base64')}  \n`;
  const parsed = parseTicketKeyFile(text, 'p=f', 3600, now);
  assert.equal(parsed.lines, [3, 4]);
  assert.equal([...parsed.keys[0]!.name], [...a.subarray(0, 16)]);
  assert.equal([...parsed.keys[1]!.secret], [...b.subarray(16)]);
  assert.is(parsed.keys[1]!.created, now - 10_000);
  assert.throws(() => parseTicketKeyFile(text, 'p=f', 3600, now + 4000_000), (e: unknown) => e instanceof ConfigError && /^p=f: every key has expired/.test(e.message));
});

test('tlsproxy_tls_dh1024_param_file: too small, missing, lowered minimum', async () => {
  const small = fixture('dh1024.pem');
  assert.is(await startMessage([`tlsproxy_tls_dh1024_param_file = ${small}`]), `fatal: tlsproxy_tls_dh1024_param_file=${small}: DH prime of 1024 bits is below the minimum of 2048 bits`);
  assert.is(await startMessage([`tlsproxy_tls_dh1024_param_file = ${small}`, 'tlsproxy_tls_dh_min_bits = 1024']), undefined);
  assert.is(await startMessage(['tlsproxy_tls_dh1024_param_file = /nonexistent/dh.pem']), 'fatal: tlsproxy_tls_dh1024_param_file=/nonexistent/dh.pem: cannot read the file: No such file or directory');
  const x942 = fixture('dh2048-x942.pem');
  assert.match((await startMessage([`tlsproxy_tls_dh1024_param_file = ${x942}`]))!, /^fatal: tlsproxy_tls_dh1024_param_file=\S+: X9\.42 DH parameters are not supported/);
  assert.is(await startMessage(['tlsproxy_tls_dh1024_param_file = auto']), undefined);
  assert.is(await startMessage(['tlsproxy_tls_dh_min_bits = 512']), 'fatal: invalid tlsproxy_tls_dh_min_bits parameter value 512 < 1024');
});

test('daemon logs are Postfix lines', () => {
  for (const d of [daemon, noTicket, noIds, fleet1, fleet2, other]) assert.equal(d.junk, []);
});

test.run();
