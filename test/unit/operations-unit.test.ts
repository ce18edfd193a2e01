/**
 * The operations pieces without processes: the growth policy, the
 * per-client counts, limit exceptions, the pid file (stale and live),
 * privileges resolution, the key log line and file, the heartbeat watch,
 * the configuration fingerprint, and reload in one process
 * (Daemon.reconfigure) with real sessions.
 */

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { loadConfiguration } from '../../proxy/config/configuration.js';
import { Daemon } from '../../proxy/supervisor/daemon.js';
import { keyLogLine, openKeyLog } from '../../proxy/tls/keylog.js';
import { MemorySink } from '../../proxy/log/log.js';
import { PID_FILE, acquirePidFile, isRunning, processStartTime, readPidFile, readStatus, writeStatus } from '../../proxy/supervisor/pidfile.js';
import { privilegePlan, resolvePrivileges } from '../../proxy/supervisor/privileges.js';
import { configurationFingerprint, operationsSettings } from '../../proxy/supervisor/settings.js';
import { Anvil, LocalCounter, clientLimits, isExempt, makeAdmission } from '../../proxy/supervisor/limits.js';
import { GROW_SETTLE_MS, GrowthPolicy, processBounds, type ProcessBounds } from '../../proxy/supervisor/policy.js';
import { HeartbeatWatch } from '../../proxy/supervisor/watchdog.js';
import { certMainCf, connectTls, echoBackend, tempDir, tlsproxyService, writeConfig } from '../helpers/proxy.js';

const params = (v: Record<string, string> = {}) => ParameterSet.defaults().withOverrides(Object.entries(v).map(([name, value]) => ({ name, value })), 'test');

test('processBounds(): maxproc is the maximum, tlsproxy_min_processes the minimum, tlsproxy_worker_processes fixes both', () => {
  assert.equal(processBounds(params(), 4), { min: 2, max: 4, growSessions: 100, growCpu: 0.75, idleMs: 100_000 });
  assert.is(processBounds(params({ tlsproxy_min_processes: '3' }), 2).min, 2, 'capped at the maximum');
  assert.is(processBounds(params({ tlsproxy_min_processes: '1' }), 8).min, 1);
  const fixed = processBounds(params({ tlsproxy_worker_processes: '3' }), 3);
  assert.equal([fixed.min, fixed.max], [3, 3]);
  assert.equal(processBounds(params({ tlsproxy_process_grow_sessions: '5', tlsproxy_process_grow_cpu: '50', max_idle: '2s' }), 2).growSessions, 5);
  assert.throws(() => processBounds(params({ tlsproxy_min_processes: '0' }), 2), /invalid tlsproxy_min_processes parameter value 0 < 1/);
});

test('GrowthPolicy: grows on sessions or CPU one at a time, settles, retires after max_idle of low load (hysteresis)', () => {
  const b: ProcessBounds = { min: 1, max: 3, growSessions: 10, growCpu: 0.8, idleMs: 5000 };
  const p = new GrowthPolicy(0);
  const w = (sessions: number, cpu = 0) => ({ sessions, cpu });
  let t = 10_000;
  assert.is(p.decide(t, b, [w(9)], 0).kind, 'none', 'below the threshold');
  assert.is(p.decide(t, b, [w(10)], 0).kind, 'grow', 'sessions');
  assert.is(p.decide(t + 100, b, [w(30)], 0).kind, 'none', 'one is starting');
  assert.is(p.decide(t + 100, b, [w(30), w(0)], 0).kind, 'none', 'settling');
  t += GROW_SETTLE_MS;
  assert.is(p.decide(t, b, [w(30), w(0)], 0).kind, 'grow', 'average 15');
  t += GROW_SETTLE_MS;
  assert.is(p.decide(t, b, [w(30), w(30), w(30)], 0).kind, 'none', 'at the maximum');
  // Half the threshold with one fewer is "low": 3 workers, 8 sessions -> 4 per worker of 2 < 5.
  assert.is(p.decide(t, b, [w(3), w(3), w(2)], 0).kind, 'none', 'low, but not for max_idle yet');
  assert.is(p.decide(t + 4000, b, [w(3), w(3), w(2)], 0).kind, 'none');
  assert.is(p.decide(t + 4500, b, [w(6), w(3), w(2)], 0).kind, 'none', 'not low any more: the quiet time starts over');
  assert.is(p.decide(t + 5000, b, [w(3), w(3), w(2)], 0).kind, 'none');
  const d = p.decide(t + 10_000, b, [w(3), w(2), w(2)], 0);
  assert.equal(d.kind === 'retire' && d.index, 2, 'the fewest sessions, newest on a tie');
  assert.is(p.decide(t + 11_000, b, [w(0), w(0)], 0).kind, 'none', 'the next retirement waits another max_idle');
  assert.is(p.decide(t + 15_000, b, [w(0), w(0)], 0).kind, 'retire');
  assert.is(p.decide(t + 30_000, b, [w(0)], 0).kind, 'none', 'never below the minimum');
  // CPU alone grows; low CPU is needed to retire.
  const q = new GrowthPolicy(0);
  assert.is(q.decide(10_000, b, [w(0, 0.9)], 0).kind, 'grow');
  assert.is(q.decide(20_000, b, [w(0, 0.5), w(0, 0.5)], 0).kind, 'none', 'cpu 0.5 x 2 on one = 1.0 >= 0.4: not low');
  // Below the minimum (a worker went away): grow at once.
  assert.is(new GrowthPolicy(0).decide(0, { ...b, min: 2 }, [w(0)], 0).kind, 'grow');
});

test('Anvil: counts per service and address, refuses beyond the limit without counting, forgets a dead owner', () => {
  const a = new Anvil<string>();
  assert.equal(a.enter('w1', 's', '192.0.2.1', 2), { ok: true, count: 1 });
  assert.equal(a.enter('w2', 's', '192.0.2.1', 2), { ok: true, count: 2 });
  assert.equal(a.enter('w2', 's', '192.0.2.1', 2), { ok: false, count: 3 });
  assert.is(a.count('s', '192.0.2.1'), 2);
  assert.equal(a.enter('w2', 'other', '192.0.2.1', 2), { ok: true, count: 1 }, 'per service');
  a.leave('w1', 's', '192.0.2.1');
  a.leave('w1', 's', '192.0.2.1');
  assert.is(a.count('s', '192.0.2.1'), 1, 'a second leave of the same owner is ignored');
  a.dropOwner('w2');
  assert.is(a.count('s', '192.0.2.1'), 0);
  assert.is(a.size, 0);
  assert.equal(a.enter('w3', 's', '192.0.2.1', 0), { ok: true, count: 1 }, '0 = no limit');
});

test('client limits: exceptions (addresses, networks, IPv6 in brackets), bad values refused', () => {
  const l = clientLimits(params({ tlsproxy_client_connection_limit_exceptions: '192.0.2.0/24, [2001:db8::]/32 198.51.100.7 [::1]' }));
  assert.ok(isExempt(l, '192.0.2.200'));
  assert.ok(isExempt(l, '2001:db8::5'));
  assert.ok(isExempt(l, '198.51.100.7'));
  assert.ok(isExempt(l, '::1'));
  assert.not.ok(isExempt(l, '198.51.100.8'));
  assert.not.ok(isExempt(l, 'unknown'));
  // Answers are remembered per address (a native SocketAddress per check otherwise), at most 1024 of them.
  assert.is(l.exemptMemo.get('192.0.2.200'), true);
  assert.is(l.exemptMemo.get('198.51.100.8'), false);
  for (let i = 0; i < 1100; i++) isExempt(l, `10.${i >> 8}.${i & 255}.1`);
  assert.ok(l.exemptMemo.size <= 1024, `memo bounded: ${l.exemptMemo.size}`);
  assert.ok(isExempt(l, '192.0.2.200') && !isExempt(l, '198.51.100.8'), 'the same answers after the memo was emptied');
  const d = clientLimits(params());
  assert.is(d.clientLimit, 50);
  assert.ok(isExempt(d, '127.0.0.1') && isExempt(d, '::1'), 'loopback by default');
  assert.throws(() => clientLimits(params({ tlsproxy_client_connection_limit_exceptions: 'example.com' })), /tlsproxy_client_connection_limit_exceptions: bad address or network: example\.com/);
  assert.throws(() => clientLimits(params({ tlsproxy_client_connection_limit_exceptions: '10.0.0.0/33' })), /bad address or network: 10\.0\.0\.0\/33/);
  for (const bad of ['1.2.3', '1.2.3.256', '[1:2:3]', '[::1::2]', '01.2.3.4']) {
    assert.throws(() => clientLimits(params({ tlsproxy_client_connection_limit_exceptions: bad })), /bad address or network/, bad);
  }
});

test('makeAdmission(): within the limit a release, beyond it undefined and a warning; exempt addresses pass', async () => {
  const log = new MemorySink();
  const { Logger } = await import('../../proxy/log/log.js');
  const service = { name: 'svc', logger: new Logger({ sink: log.sink }), definition: { params: params({ tlsproxy_client_connection_count_limit: '1', tlsproxy_client_connection_limit_exceptions: '' }) } };
  const admit = makeAdmission(new LocalCounter());
  const sock = (addr: string) => ({ remoteAddress: addr, remotePort: 4000 }) as unknown as import('node:net').Socket;
  const r1 = admit(service, sock('192.0.2.1'));
  assert.type(r1, 'function');
  assert.is(admit(service, sock('192.0.2.1')), undefined);
  assert.equal(log.messages, ['warning: Connection concurrency limit exceeded: 2 from [192.0.2.1]:4000 for service svc (tlsproxy_client_connection_count_limit = 1)']);
  (r1 as () => void)();
  assert.type(admit(service, sock('::ffff:192.0.2.1')), 'function', 'released: admitted again (IPv4-mapped is the same client)');
});

test('pid file: created exclusively, a live daemon refuses a second start, a stale one is replaced, released at exit', async () => {
  const dir = path.join(tempDir('tlsproxy-pid-'), 'run');
  const warnings: string[] = [];
  const mine = acquirePidFile(dir, (m) => warnings.push(m));
  assert.equal(readPidFile(dir), { pid: process.pid, startTime: processStartTime(process.pid) });
  assert.ok(isRunning(readPidFile(dir)!));
  assert.throws(() => acquirePidFile(dir, () => undefined, process.pid + 100000), new RegExp(`the daemon is already running \\(pid ${process.pid}, pid file ${dir}/tlsproxy\\.pid\\)`));
  mine.release();
  assert.is(readPidFile(dir), undefined);
  // A dead process: stale.
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = child.pid!;
  await new Promise((r) => child.on('close', r));
  writeFileSync(path.join(dir, PID_FILE), `${deadPid}\n`);
  assert.not.ok(isRunning(readPidFile(dir)!));
  const again = acquirePidFile(dir, (m) => warnings.push(m));
  assert.equal(warnings, [`removing stale pid file ${dir}/tlsproxy.pid (pid ${deadPid} is not running)`]);
  // A live process that is not the one that wrote the file (pid reused): stale too.
  writeFileSync(path.join(dir, PID_FILE), `${process.pid}\n12345\n`);
  assert.not.ok(isRunning(readPidFile(dir)!));
  again.release();
  // Garbage: stale.
  writeFileSync(path.join(dir, PID_FILE), 'hello\n');
  warnings.length = 0;
  acquirePidFile(dir, (m) => warnings.push(m)).release();
  assert.equal(warnings, [`removing stale pid file ${dir}/tlsproxy.pid (unreadable)`]);
  // The reload status file.
  writeStatus(dir, { pid: 7, seq: 3, ok: false, message: 'why', time: 1 });
  assert.equal(readStatus(dir), { pid: 7, seq: 3, ok: false, message: 'why', time: 1 });
  // A group-writable directory is reported.
  const loose = path.join(tempDir('tlsproxy-pid-'), 'loose');
  mkdirSync(loose, { mode: 0o777 });
  const { chmodSync } = await import('node:fs');
  chmodSync(loose, 0o775);
  warnings.length = 0;
  acquirePidFile(loose, (m) => warnings.push(m)).release();
  assert.match(warnings[0] ?? '', /tlsproxy_pid_directory = \S+loose: the directory is writable by group or others \(mode 0775\)/);
});

test('privileges: tlsproxy_user/group from passwd and group tables; root needs a user or tlsproxy_allow_root', () => {
  const dir = tempDir('tlsproxy-priv-');
  const passwd = path.join(dir, 'passwd');
  const group = path.join(dir, 'group');
  writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\nmail:x:8:8::/:/bin/false\n');
  writeFileSync(group, 'root:x:0:\nmail:x:8:\nnogroup:x:65534:\n');
  const t = { passwd, group };
  assert.equal(resolvePrivileges(params({ tlsproxy_user: 'nobody' }), t), { user: 'nobody', uid: 65534, group: 'nogroup', gid: 65534 });
  assert.equal(resolvePrivileges(params({ tlsproxy_user: 'nobody', tlsproxy_group: 'mail' }), t), { user: 'nobody', uid: 65534, group: 'mail', gid: 8 });
  assert.equal(resolvePrivileges(params({ tlsproxy_user: '1234', tlsproxy_group: '1234' }), t), { user: '1234', uid: 1234, group: '1234', gid: 1234 });
  assert.is(resolvePrivileges(params(), t), undefined);
  assert.throws(() => resolvePrivileges(params({ tlsproxy_user: 'ghost' }), t), /tlsproxy_user = ghost: unknown user/);
  assert.throws(() => resolvePrivileges(params({ tlsproxy_user: 'root' }), t), /tlsproxy_user = root: must not be root/);
  assert.throws(() => resolvePrivileges(params({ tlsproxy_user: 'nobody', tlsproxy_group: 'root' }), t), /the group must not be root/);
  assert.throws(() => resolvePrivileges(params({ tlsproxy_group: 'mail' }), t), /tlsproxy_group = mail needs tlsproxy_user/);
  // As root.
  assert.equal(privilegePlan(params({ tlsproxy_user: 'nobody' }), 0, t).drop?.uid, 65534);
  assert.throws(() => privilegePlan(params(), 0, t), /started as root without tlsproxy_user: set tlsproxy_user .* or set tlsproxy_allow_root = yes/);
  assert.match(privilegePlan(params({ tlsproxy_allow_root: 'yes' }), 0, t).warning ?? '', /^running as root: no tlsproxy_user is set and tlsproxy_allow_root = yes/);
  // Not root: nothing to drop.
  assert.equal(privilegePlan(params(), 1000, t), {});
  assert.match(privilegePlan(params({ tlsproxy_user: 'nobody' }), 1000, t).warning ?? '', /tlsproxy_user = nobody is ignored: not started as root/);
});

test('key log: NSS lines, file created 0600 (an existing looser one tightened), appended', () => {
  assert.is(keyLogLine('CLIENT_RANDOM', Uint8Array.of(0, 1, 0xab), Uint8Array.of(0xff)), 'CLIENT_RANDOM 0001ab ff\n');
  const dir = tempDir('tlsproxy-keylog-');
  const file = path.join(dir, 'keys.log');
  writeFileSync(file, '# earlier\n', { mode: 0o644 });
  const log = openKeyLog(file);
  assert.is(openKeyLog(file), log, 'one open per file and process');
  log('SERVER_TRAFFIC_SECRET_0', new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(readFileSync(file, 'utf8'), `# earlier\nSERVER_TRAFFIC_SECRET_0 ${'01'.repeat(32)} ${'02'.repeat(32)}\n`);
  assert.throws(() => openKeyLog(dir), /tlsproxy_tls_keylog_file=\S+: (cannot open the file|not a regular file)/);
});

test('HeartbeatWatch: overdue after the timeout; a late check forgives everyone', () => {
  const w = new HeartbeatWatch<string>(1000);
  w.beat('a', 0);
  w.beat('b', 5000);
  assert.equal(w.overdue(() => 10_000, 1000), []);
  assert.equal(w.overdue(() => 10_000, 2000), []);
  // The check ran late (the main process stalled): nobody is blamed, the clock restarts.
  assert.equal(w.overdue(() => 10_000, 11_500), []);
  assert.equal(w.overdue(() => 10_000, 12_000), []);
  assert.equal(w.overdue(() => 10_000, 13_000), []);
  w.beat('b', 13_000);
  for (let t = 14_000; t <= 21_000; t += 1000) assert.equal(w.overdue(() => 10_000, t), []);
  assert.equal(w.overdue(() => 10_000, 22_000), ['a'], 'a: silent since 11.5 s');
  w.forget('a');
  assert.is(w.silentFor('b', 22_000), 9000);
  assert.is(w.silentFor('a', 22_000), undefined);
});

for (const kind of ['native', 'worker_threads'] as const) {
  test(`one process: the watchdog thread (${kind}) kills a process whose event loop is stuck, with \`fatal: watchdog timeout\``, async () => {
    // native: the addon's POSIX thread (the default where the addon loads); worker_threads: the fallback (Deno, Bun).
    const script = `
      const { startThreadWatchdog } = await import(${JSON.stringify(path.resolve('proxy/supervisor/watchdog.ts'))});
      const { loadNative } = await import(${JSON.stringify(path.resolve('proxy/base/native.ts'))});
      const native = ${kind === 'native' ? 'loadNative()' : "{ ok: false, reason: 'the test' }"};
      if (${kind === 'native'} && !native.ok) throw new Error(native.reason);
      startThreadWatchdog(1, 'testhost postfix/tlsproxy[' + process.pid + ']: ', native);
      setTimeout(() => { const end = Date.now() + 20000; while (Date.now() < end); }, 200);
    `;
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const hard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('close', (c, sig) => r([c, sig])));
    clearTimeout(hard);
    const took = Date.now() - t0;
    assert.equal([code, signal], [null, 'SIGKILL'], stderr);
    assert.ok(took < 10_000, `killed after ${took} ms`);
    assert.match(stderr, new RegExp(`^[A-Z][a-z]{2} \\d\\d \\d\\d:\\d\\d:\\d\\d testhost postfix/tlsproxy\\[${child.pid}\\]: fatal: watchdog timeout\\n$`));
  });
}

test('one process: the native watchdog stops watching when stopped, and a beating loop is never killed', async () => {
  const script = `
    const { startThreadWatchdog } = await import(${JSON.stringify(path.resolve('proxy/supervisor/watchdog.ts'))});
    const { loadNative } = await import(${JSON.stringify(path.resolve('proxy/base/native.ts'))});
    const native = loadNative();
    if (!native.ok) throw new Error(native.reason);
    // Beating: 3.5 s with a 1 s timeout and a free event loop.
    const w = startThreadWatchdog(1, 'x: ', native);
    await new Promise((r) => setTimeout(r, 3500));
    w.stop();
    // Stopped: a stuck loop for 3 s is not killed.
    const end = Date.now() + 3000; while (Date.now() < end);
    process.stdout.write('survived');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('close', (c, sig) => r([c, sig])));
  assert.equal([code, signal, out], [0, null, 'survived']);
});

test('operations settings and the configuration fingerprint (certificate contents count, the ticket key file does not)', async () => {
  const backend = 'inet:127.0.0.1:9';
  const dir = writeConfig(await certMainCf('tlsproxy_drain_timeout = 7s'), tlsproxyService(backend));
  const c1 = loadConfiguration(dir);
  const ops = operationsSettings(c1, 1000);
  assert.equal([ops.pidDirectory, ops.drainTimeoutMs, ops.keyLogFiles], [dir, 7000, []]);
  assert.throws(() => operationsSettings(loadConfiguration(dir, [{ name: 'tlsproxy_min_processes', value: 'x' }]), 1000), /bad numerical configuration: tlsproxy_min_processes = x/);
  assert.throws(() => operationsSettings(loadConfiguration(dir, [{ name: 'tlsproxy_watchdog_timeout', value: '5s' }]), 1000), /invalid tlsproxy_watchdog_timeout: 5s \(min 10s\)/);
  const f1 = configurationFingerprint(c1);
  assert.is(configurationFingerprint(loadConfiguration(dir)), f1, 'same files, same fingerprint');
  assert.is.not(configurationFingerprint(loadConfiguration(dir, [{ name: 'tlsproxy_tls_loglevel', value: '2' }])), f1);
  // Same parameters, another certificate file content.
  const certDir = tempDir('tlsproxy-fp-');
  const cert = path.join(certDir, 'c.pem');
  const mainCf = readFileSync(path.join(dir, 'main.cf'), 'utf8');
  const ecFile = /smtpd_tls_eccert_file = (\S+)/.exec(mainCf)![1]!;
  writeFileSync(cert, readFileSync(ecFile));
  writeFileSync(path.join(dir, 'main.cf'), mainCf.replace(ecFile, cert));
  const f2 = configurationFingerprint(loadConfiguration(dir));
  writeFileSync(cert, `${readFileSync(ecFile, 'utf8')}\n`);
  assert.is.not(configurationFingerprint(loadConfiguration(dir)), f2, 'the certificate file changed');
  const keys = path.join(certDir, 'ticket-keys');
  writeFileSync(keys, 'a\n');
  const f3 = configurationFingerprint(loadConfiguration(dir, [{ name: 'tlsproxy_tls_session_ticket_key_file', value: keys }]));
  writeFileSync(keys, 'b\n');
  assert.is(configurationFingerprint(loadConfiguration(dir, [{ name: 'tlsproxy_tls_session_ticket_key_file', value: keys }])), f3);
});

test('reload in one process (Daemon.reconfigure): new sessions get the new configuration, a session in progress keeps going', async () => {
  const backend = await echoBackend();
  const dir = writeConfig(await certMainCf(), tlsproxyService(backend.address).replace(' - - tlsproxy', ' - 1 tlsproxy'));
  const log = new MemorySink();
  const daemon = await Daemon.start(loadConfiguration(dir), { sink: log.sink });
  try {
    const port = daemon.listening[0]!.port;
    const old = await connectTls(port);
    old.socket.write('before\n');
    await old.waitFor('before\n');
    // A bad configuration changes nothing.
    const refused = await daemon.reconfigure(loadConfiguration(dir, [{ name: 'smtpd_tls_eccert_file', value: '/nonexistent.pem' }]), log.sink).then(() => '', (e: Error) => e.message);
    assert.match(refused, /tlsproxy_tls_eccert_file=\/nonexistent\.pem: cannot read the file/);
    const mark = log.messages.length;
    await daemon.reconfigure(loadConfiguration(dir, [{ name: 'tlsproxy_tls_loglevel', value: '2' }]), log.sink);
    assert.is(daemon.listening[0]!.port, port, 'the same listening socket');
    const fresh = await connectTls(port);
    fresh.socket.write('after\n');
    await fresh.waitFor('after\n');
    assert.ok(log.messages.slice(mark).some((m) => /^setting up TLS connection from \[127\.0\.0\.1\]:\d+$/.test(m)), 'level 2 for the new session');
    old.socket.write('still\n');
    await old.waitFor('before\nstill\n');
    old.socket.end();
    fresh.socket.end();
    await Promise.all([old.closed, fresh.closed]);
  } finally {
    await daemon.close();
    await backend.close();
  }
});

test.run();
