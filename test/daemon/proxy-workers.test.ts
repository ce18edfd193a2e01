/**
 * Worker processes (proxy/workers.ts): the REAL daemon as a child process
 * with 2 workers (master.cf maxproc 2), real clients:
 *
 *  - start-up lines, worker pids, log lines formatted by each worker with
 *    its own pid;
 *  - connections spread over both workers;
 *  - resumption ACROSS workers: a session made on one worker is resumed
 *    on the other, for TLS 1.2 by session ID (the one cache in the main
 *    process, over IPC), TLS 1.2 by ticket and TLS 1.3 by ticket (the key
 *    set the main process pushes to every worker);
 *  - a killed worker is replaced; the replacement gets the keys and the
 *    cache (old sessions resume on it); workers that keep dying are
 *    throttled;
 *  - SIGHUP re-reads the ticket key file and every worker gets the new
 *    set; a bad file keeps the old keys;
 *  - SIGTERM stops the main process and every worker.
 */

import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { workerProcesses } from '../../proxy/config/configuration.js';
import { IpcSessionCache, MAX_PENDING_GETS, type FromWorker } from '../../proxy/supervisor/ipc.js';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { certMainCf, echoBackend, tempDir, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import net from 'node:net';
import { DaemonProc, alive, sClient, served, startFails, stopAllDaemons, type Served } from '../helpers/daemon-proc.js';

let backend: TestBackend;
let ca: string;
let daemon: DaemonProc;
let keyed: DaemonProc;
let keyFilePath: string;
const nowS = () => Math.floor(Date.now() / 1000);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function keyLine(created: number, material = randomBytes(48)): string {
  return `${created} ${material.toString('base64')}`;
}

/** Replace the key file atomically (a reader never sees half a file). */
function writeKeys(file: string, lines: string[], mode = 0o600): void {
  const tmp = `${file}.new`;
  writeFileSync(tmp, `${lines.join('\n')}\n`, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

async function workerConfig(extra: string[], maxproc = '2'): Promise<string> {
  const main = await certMainCf(['tlsproxy_tls_loglevel = 2', ...extra].join('\n'));
  return writeConfig(main, `127.0.0.1:0 inet n - n - ${maxproc} tlsproxy -o tlsproxy_backend=${backend.address}`);
}

const K1 = randomBytes(48);
const K1_CREATED = nowS() - 100;

test.before(async () => {
  backend = await echoBackend();
  ca = (await testPki()).ca;
  keyFilePath = path.join(tempDir('tlsproxy-keys-'), 'ticket-keys');
  writeKeys(keyFilePath, [keyLine(K1_CREATED, K1)]);
  [daemon, keyed] = await Promise.all([
    workerConfig(['smtpd_tls_session_cache_database = internal:']).then((d) => DaemonProc.start(d)),
    workerConfig([`tlsproxy_tls_session_ticket_key_file = ${keyFilePath}`]).then((d) => DaemonProc.start(d)),
  ]);
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

const texts = (s: Served) => s.lines.map((l) => l.text);
const show = (s: Served) => `${s.out}\n--- daemon:\n${s.lines.map((l) => l.line).join('\n')}`;

test('workerProcesses(): maxproc column, "-", 0, tlsproxy_worker_processes', () => {
  const params = (v: Record<string, string> = {}) => ParameterSet.defaults().withOverrides(Object.entries(v).map(([name, value]) => ({ name, value })), 'test');
  assert.is(workerProcesses(params(), undefined, 8), 8);
  assert.is(workerProcesses(params(), undefined, 1), 2, 'at least 2');
  assert.is(workerProcesses(params({ default_process_limit: '3' }), undefined, 8), 3);
  assert.is(workerProcesses(params({ default_process_limit: '1' }), undefined, 8), 1);
  assert.is(workerProcesses(params(), 0, 4), 4);
  assert.is(workerProcesses(params(), 0, 1), 2);
  assert.is(workerProcesses(params(), 1, 8), 1);
  assert.is(workerProcesses(params(), 7, 2), 7);
  assert.is(workerProcesses(params({ tlsproxy_worker_processes: '3' }), 1, 2), 3);
  assert.throws(() => workerProcesses(params({ tlsproxy_worker_processes: 'two' }), 1, 2), /bad numerical configuration: tlsproxy_worker_processes = two/);
  assert.throws(() => workerProcesses(params({ tlsproxy_worker_processes: '0' }), 1, 2), /invalid tlsproxy_worker_processes parameter value 0 < 1/);
  assert.throws(() => workerProcesses(params(), 5000, 2), /5000 worker processes is more than 1024/);
});

test('IpcSessionCache: get is a numbered request; an answer, a timeout or a closed channel', async () => {
  const sent: FromWorker[] = [];
  let open = true;
  const cache = new IpcSessionCache((m) => {
    if (open) sent.push(m);
    return open;
  }, 100);
  const id = Uint8Array.of(1, 2, 3);
  const answered = cache.get(id)!;
  const q = (sent[0] as { q: number }).q;
  assert.equal(sent[0], { t: 'cache-get', q, id });
  cache.answer(q, Uint8Array.of(9));
  assert.equal([...(await answered)!], [9]);
  // No answer: a miss after the timeout; a late answer is ignored.
  const t0 = Date.now();
  const late = cache.get(id)!;
  assert.is(await late, undefined);
  assert.ok(Date.now() - t0 >= 90);
  cache.answer((sent[1] as { q: number }).q, Uint8Array.of(1));
  assert.is(cache.inFlight, 0);
  // put/remove: fire and forget, copies of the bytes.
  const blob = new Uint8Array(new ArrayBuffer(64), 8, 4);
  cache.put(id, blob, 3600);
  cache.remove(id);
  assert.equal(sent.slice(2).map((m) => m.t), ['cache-put', 'cache-remove']);
  assert.is((sent[2] as { blob: Uint8Array }).blob.buffer.byteLength, 4);
  // The channel gone: an immediate miss.
  open = false;
  assert.is(await cache.get(id), undefined);
  // Too many look-ups in flight: a miss without a request.
  open = true;
  const many = new IpcSessionCache(() => true, 10_000);
  for (let i = 0; i < MAX_PENDING_GETS; i++) void many.get(id);
  assert.is(many.get(id), undefined);
  many.drop();
  assert.is(many.inFlight, 0);
});

test('start-up: two worker processes, each logging with its own pid', async () => {
  const pids = daemon.workerPids();
  assert.is(pids.length, 2, daemon.stderr);
  assert.ok(pids.every(alive));
  assert.ok(!pids.includes(daemon.pid));
  const started = daemon.log.find((l) => l.text.startsWith('daemon started -- configuration '));
  assert.is(started?.pid, daemon.pid);
  // One `initializing the server-side TLS engine` per worker, with the worker's pid.
  const init = daemon.log.filter((l) => l.text === 'initializing the server-side TLS engine').map((l) => l.pid);
  assert.equal([...init].sort(), [...pids].sort());
  assert.is(daemon.log.filter((l) => /listening on/.test(l.text)).length, 1);
  assert.equal(daemon.junk, []);
});

test('connections are spread over both workers', async () => {
  const seen = new Set<number>();
  for (let i = 0; i < 4; i++) {
    const r = await served(daemon, () => sClient(daemon.port, ['-CAfile', ca, '-verify_return_error'], `spread ${i}\n`));
    assert.match(r.out, `spread ${i}`);
    seen.add(r.pid);
    // Every line of a connection comes from the worker that serves it.
    assert.ok(r.lines.every((l) => l.pid === r.pid), show(r));
  }
  assert.equal([...seen].sort(), daemon.workerPids().sort());
});

/** Make a session on one worker, then reconnect until ANOTHER worker resumes it. */
async function acrossWorkers(d: DaemonProc, args: string[], tag: string): Promise<{ first: Served; resumed: Served }> {
  const f = path.join(tempDir('tlsproxy-sess-'), 'session.pem');
  const first = await served(d, () => sClient(d.port, [...args, '-CAfile', ca, '-verify_return_error', '-sess_out', f], `${tag} first\n`));
  assert.match(first.out, /New, TLSv1\.[23]/, show(first));
  for (let i = 0; i < 8; i++) {
    const r = await served(d, () => sClient(d.port, [...args, '-CAfile', ca, '-verify_return_error', '-sess_in', f], `${tag} ${i}\n`));
    assert.match(r.out, /Reused, TLSv1\.[23]/, show(r));
    assert.ok(r.resumed, show(r));
    assert.match(r.out, `${tag} ${i}`);
    if (r.pid !== first.pid) return { first, resumed: r };
  }
  throw new Error(`${tag}: never resumed on another worker than ${first.pid}`);
}

test('resumption across workers: TLS 1.2 by session ID (the shared cache)', async () => {
  const { first, resumed } = await acrossWorkers(daemon, ['-tls1_2', '-no_ticket'], 'id');
  const id = /Session-ID: ([0-9A-F]{64})/.exec(first.out)![1];
  assert.ok(texts(first).some((t) => t.includes(`save session ${id}&s=`)), show(first));
  assert.ok(texts(resumed).some((t) => t.includes(`reloaded session ${id}&s=`)), show(resumed));
  assert.ok(texts(resumed).some((t) => /: Reusing old session$/.test(t)), show(resumed));
});

test('resumption across workers: TLS 1.2 by ticket', async () => {
  const { first, resumed } = await acrossWorkers(daemon, ['-tls1_2'], 't12');
  const issued = texts(first).map((t) => /Issuing session ticket, key expiration: (\d+)/.exec(t)?.[1]).find(Boolean);
  assert.ok(issued, show(first));
  assert.ok(texts(resumed).some((t) => t.endsWith(`Decrypting session ticket, key expiration: ${issued}`)), show(resumed));
  assert.ok(texts(resumed).some((t) => /: Reusing old session \(RFC 5077 session ticket\)$/.test(t)), show(resumed));
});

test('resumption across workers: TLS 1.3 by ticket', async () => {
  const { resumed } = await acrossWorkers(daemon, ['-tls1_3'], 't13');
  assert.ok(texts(resumed).some((t) => /: Reusing old session \(RFC 5077 session ticket\)$/.test(t)), show(resumed));
});

test('a killed worker is replaced; the replacement has the keys and reaches the cache', async () => {
  // Sessions made before the kill.
  const f12 = path.join(tempDir('tlsproxy-sess-'), 'id.pem');
  const f13 = path.join(tempDir('tlsproxy-sess-'), 't13.pem');
  await served(daemon, () => sClient(daemon.port, ['-tls1_2', '-no_ticket', '-CAfile', ca, '-sess_out', f12], 'before 12\n'));
  await served(daemon, () => sClient(daemon.port, ['-tls1_3', '-CAfile', ca, '-sess_out', f13], 'before 13\n'));
  const [victim, survivor] = daemon.workerPids();
  const mark = daemon.mark();
  process.kill(victim!, 'SIGKILL');
  await daemon.waitFor(new RegExp(`^warning: process tlsproxy pid ${victim} killed by signal SIGKILL$`), { since: mark });
  const started = await daemon.waitFor(new RegExp(`^service \\S+: worker process pid (\\d+) started \\(replacing pid ${victim}\\)$`), { since: mark, timeoutMs: 20_000 });
  assert.is(started.pid, daemon.pid);
  const replacement = Number(/pid (\d+) started/.exec(started.text)![1]);
  assert.ok(alive(replacement));
  assert.not.ok(alive(victim!));
  // Both old sessions resume on the replacement.
  for (const [f, args] of [[f12, ['-tls1_2', '-no_ticket']], [f13, ['-tls1_3']]] as const) {
    let onReplacement: Served | undefined;
    for (let i = 0; i < 8 && !onReplacement; i++) {
      const r = await served(daemon, () => sClient(daemon.port, [...args, '-CAfile', ca, '-sess_in', f], `after ${i}\n`));
      assert.match(r.out, /Reused, TLSv1\.[23]/, show(r));
      assert.ok([replacement, survivor].includes(r.pid), show(r));
      if (r.pid === replacement) onReplacement = r;
    }
    assert.ok(onReplacement, `no connection reached the replacement ${replacement}`);
  }
});

/** Connect until every worker has served one; the served runs. */
async function onEveryWorker(d: DaemonProc, args: string[], tag: string): Promise<Served[]> {
  const want = new Set(d.workerPids());
  const runs: Served[] = [];
  for (let i = 0; i < 10 && want.size; i++) {
    const r = await served(d, () => sClient(d.port, [...args, '-CAfile', ca], `${tag} ${i}\n`));
    assert.match(r.out, `${tag} ${i}\n`, show(r));
    runs.push(r);
    want.delete(r.pid);
  }
  assert.is(want.size, 0, `workers ${[...want]} never served`);
  return runs;
}

const expiryIn = (s: Served, what: 'Issuing' | 'Decrypting') => s.lines.map((l) => new RegExp(`${what} session ticket, key expiration: (\\d+)$`).exec(l.text)?.[1]).find(Boolean);

test('SIGHUP re-reads the key file and every worker gets the new keys; a bad file keeps the old ones', async () => {
  const d = keyed;
  assert.match(d.texts().join('\n'), /tlsproxy_tls_session_ticket_key_file=\S+: 1 session ticket key loaded/);
  const e1 = String(K1_CREATED + 3600);
  // A ticket under K1.
  const f = path.join(tempDir('tlsproxy-sess-'), 'k1.pem');
  const first = await served(d, () => sClient(d.port, ['-tls1_3', '-CAfile', ca, '-sess_out', f], 'k1\n'));
  assert.is(expiryIn(first, 'Issuing'), e1, show(first));

  // Add K2: after SIGHUP every worker issues under K2 and still opens K1 tickets.
  const k2Created = nowS();
  writeKeys(keyFilePath, [keyLine(K1_CREATED, K1), keyLine(k2Created)]);
  let mark = d.mark();
  d.kill('SIGHUP');
  await d.waitFor(/^tlsproxy_tls_session_ticket_key_file=\S+: SIGHUP: 2 session ticket keys loaded$/, { since: mark });
  for (const r of await onEveryWorker(d, ['-tls1_3', '-sess_in', f], 'k2')) {
    assert.match(r.out, /Reused, TLSv1\.3/, show(r));
    assert.is(expiryIn(r, 'Decrypting'), e1, show(r));
    assert.is(expiryIn(r, 'Issuing'), String(k2Created + 3600), show(r));
  }

  // A group-readable file is refused: the previous keys stay.
  writeKeys(keyFilePath, [keyLine(nowS())], 0o644);
  mark = d.mark();
  d.kill('SIGHUP');
  await d.waitFor(/^warning: tlsproxy_tls_session_ticket_key_file=\S+: the file is readable or writable by group or others \(mode 0644\).*; keeping the previous keys$/, { since: mark });
  for (const r of await onEveryWorker(d, ['-tls1_3', '-sess_in', f], 'kept')) {
    assert.match(r.out, /Reused, TLSv1\.3/, show(r));
    assert.is(expiryIn(r, 'Issuing'), String(k2Created + 3600), show(r));
  }

  // K1 removed: its tickets no longer resume anywhere (full handshake, no error).
  writeKeys(keyFilePath, [keyLine(k2Created - 1), keyLine(k2Created + 1)]);
  mark = d.mark();
  d.kill('SIGHUP');
  await d.waitFor(/SIGHUP: 2 session ticket keys loaded$/, { since: mark });
  for (const r of await onEveryWorker(d, ['-tls1_3', '-sess_in', f], 'gone')) {
    assert.match(r.out, /New, TLSv1\.3/, show(r));
    assert.is(r.code, 0, show(r));
    assert.not.ok(r.resumed, show(r));
  }
  assert.equal(d.junk, []);
});

test('workers that keep dying are throttled, then replaced once the configuration works again', async () => {
  const dir = await workerConfig([]);
  const d = await DaemonProc.start(dir);
  const p = await testPki();
  const ecFile = p.file('server-ecdsa-p256.pem');
  // Break the configuration under the running daemon: replacements cannot start.
  const mainCf = path.join(dir, 'main.cf');
  const saved = `${mainCf}.saved`;
  copyFileSync(mainCf, saved);
  writeFileSync(mainCf, (await certMainCf('tlsproxy_tls_loglevel = 2')).replace(ecFile, '/nonexistent/ec.pem'));
  const mark = d.mark();
  const [victim] = d.workerPids();
  process.kill(victim!, 'SIGKILL');
  await d.waitFor(/^warning: worker process pid \d+: tlsproxy_tls_eccert_file=\/nonexistent\/ec\.pem: cannot read the file: No such file or directory$/, { since: mark, timeoutMs: 20_000 });
  await d.waitFor(/^warning: service \S+: worker processes are dying too fast -- throttling$/, { since: mark, timeoutMs: 30_000 });
  const deaths = d.texts(mark).filter((t) => /^warning: process tlsproxy pid \d+ (exit status 1|killed by signal SIGKILL)$/.test(t)).length;
  assert.ok(deaths >= 5, d.texts(mark).join('\n'));
  // Repair: the next (throttled) attempt starts a worker that serves.
  copyFileSync(saved, mainCf);
  const started = await d.waitFor(/^service \S+: worker process pid \d+ started \(replacing pid \d+\)$/, { since: mark, timeoutMs: 30_000 });
  assert.ok(started);
  const r = await served(d, () => sClient(d.port, ['-CAfile', ca, '-verify_return_error'], 'repaired\n'));
  assert.match(r.out, 'repaired');
  assert.is(await d.stop(), 0);
});

test('a worker that cannot listen stops the start: one fatal line from the main process, exit 1', async () => {
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    const dir = writeConfig(await certMainCf(), `127.0.0.1:${port} inet n - n - 2 tlsproxy -o tlsproxy_backend=${backend.address}`);
    const r = await startFails(dir);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^[A-Z][a-z]{2} \\d\\d \\d\\d:\\d\\d:\\d\\d \\S+ postfix/tlsproxy\\[\\d+\\]: fatal: bind 127\\.0\\.0\\.1 port ${port}: Address already in use\n$`));
  } finally {
    busy.close();
  }
});

test('SIGTERM stops the main process and every worker', async () => {
  const pids = daemon.workerPids();
  assert.ok(pids.length === 2 && pids.every(alive));
  assert.is(await daemon.stop(), 0);
  assert.ok(daemon.texts().includes('terminating on signal SIGTERM'));
  const end = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < end) await delay(50);
  assert.equal(pids.filter(alive), []);
});

test('the main process killed outright: the workers notice and exit', async () => {
  const pids = keyed.workerPids();
  assert.ok(pids.every(alive));
  keyed.kill('SIGKILL');
  await keyed.exited;
  const end = Date.now() + 10_000;
  while (pids.some(alive) && Date.now() < end) await delay(50);
  assert.equal(pids.filter(alive), []);
});

test.run();
