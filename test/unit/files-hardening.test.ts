/**
 * Files the daemon writes, against a hostile or racing environment (issue 10):
 *  - the key log file: an existing one owned by another user, or with more
 *    than one hard link, is refused with an error naming the parameter;
 *  - the pid file: many processes acquiring it at the same instant (no pid
 *    file, a stale one, an unreadable one): exactly one succeeds, every other
 *    one is refused "already running";
 *  - the status file's temporary file is created exclusively under a fresh
 *    name: links planted at the old predictable name are not followed or
 *    truncated, and nothing is left behind.
 */

import { spawn } from 'node:child_process';
import { chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PID_FILE, STATUS_FILE, acquirePidFile, readStatus, writeStatus } from '../../proxy/supervisor/pidfile.js';
import { openKeyLog } from '../../proxy/tls/keylog.js';
import { until } from '../helpers/wait.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dirs: string[] = [];
const tempDir = (p: string) => {
  const d = mkdtempSync(path.join(tmpdir(), p));
  dirs.push(d);
  return d;
};
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('key log: an existing file with two hard links is refused, naming the parameter', () => {
  const dir = tempDir('tlsproxy-keylog-');
  const file = path.join(dir, 'keys.log');
  writeFileSync(file, '', { mode: 0o600 });
  linkSync(file, path.join(dir, 'other-name'));
  assert.throws(() => openKeyLog(file), /^tlsproxy_tls_keylog_file=\S+keys\.log: the file has 2 hard links; the secrets would be readable under another name/);
});

test('key log: an existing file owned by another user is refused, naming the parameter (as root)', () => {
  if (process.geteuid?.() !== 0) return; // chown needs root (CI runs as root)
  const dir = tempDir('tlsproxy-keylog-');
  const file = path.join(dir, 'keys.log');
  writeFileSync(file, '', { mode: 0o600 });
  chownSync(file, 65534, 65534);
  assert.throws(() => openKeyLog(file), /^tlsproxy_tls_keylog_file=\S+keys\.log: the file is owned by uid 65534, not by the daemon's user \(uid 0\)/);
});

test('key log: a file of ours with one link is taken (and a new one is created)', () => {
  const dir = tempDir('tlsproxy-keylog-');
  const existing = path.join(dir, 'existing.log');
  writeFileSync(existing, '', { mode: 0o600 });
  openKeyLog(existing)('CLIENT_RANDOM', new Uint8Array(32), new Uint8Array(48));
  assert.match(readFileSync(existing, 'utf8'), /^CLIENT_RANDOM 0{64} 0{96}\n$/);
  const fresh = path.join(dir, 'fresh.log');
  openKeyLog(fresh);
  assert.ok(existsSync(fresh));
});

/**
 * Start `n` processes that each try acquirePidFile(dir) at the same instant; the winner holds it until every
 * process has answered. On a loaded machine the processes start seconds apart: each says READY once its
 * modules are loaded, and only when all are ready does the parent name the instant (GO <ms>), a little ahead.
 */
async function race(dir: string, n: number): Promise<string[]> {
  const script = `
    import { acquirePidFile } from ${JSON.stringify(path.join(root, 'proxy/supervisor/pidfile.ts'))};
    import { createInterface } from 'node:readline';
    let held;
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (l) => {
      const at = Number(/^GO (\\d+)$/.exec(l)?.[1]);
      if (!at) return;
      while (Date.now() < at) {}
      try {
        held = acquirePidFile(${JSON.stringify(dir)}, () => {});
        console.log('ACQUIRED');
      } catch (e) {
        console.log('REFUSED ' + e.message);
      }
    });
    lines.on('close', () => held?.release());
    console.log('READY');
  `;
  const children = Array.from({ length: n }, () => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    const r = { out: '', ready: false, answered: false, closed: undefined as unknown as Promise<void> };
    c.stdout.setEncoding('utf8').on('data', (d: string) => {
      r.out += d;
      r.ready ||= /^READY$/m.test(r.out);
      r.answered ||= /^(ACQUIRED|REFUSED .*)$/m.test(r.out);
    });
    c.stderr.setEncoding('utf8').on('data', (d: string) => (r.out += d));
    r.closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
    return { c, r };
  });
  try {
    await until(() => children.every(({ r }) => r.ready), () => `all ${n} processes ready: ${children.map(({ r }) => JSON.stringify(r.out)).join(' ')}`, 60_000, 20);
    const at = Date.now() + 300;
    for (const { c } of children) c.stdin.write(`GO ${at}\n`);
    await until(() => children.every(({ r }) => r.answered), () => `all ${n} answers: ${children.map(({ r }) => JSON.stringify(r.out)).join(' ')}`, 30_000, 20);
  } finally {
    for (const { c } of children) c.stdin.end();
  }
  await Promise.all(children.map(({ r }) => r.closed));
  return children.map(({ r }) => r.out.replace(/^READY\n/m, '').trim());
}

for (const start of ['no pid file', 'a stale pid file', 'an unreadable pid file'] as const) {
  test(`pid file: 6 processes at the same instant with ${start}: exactly one runs, the others are refused`, async () => {
    const dir = tempDir('tlsproxy-pidrace-');
    if (start === 'a stale pid file') writeFileSync(path.join(dir, PID_FILE), '999999999\n');
    if (start === 'an unreadable pid file') writeFileSync(path.join(dir, PID_FILE), 'garbage\n');
    const outs = await race(dir, 6);
    const won = outs.filter((o) => o === 'ACQUIRED');
    const refused = outs.filter((o) => /^REFUSED the daemon is already running \(pid \d+, pid file \S+\/tlsproxy\.pid\)$/.test(o));
    assert.is(won.length, 1, outs.join('\n'));
    assert.is(refused.length, 5, outs.join('\n'));
    // Released at exit, and no temporary names left.
    assert.equal(readdirSync(dir), []);
  });
}

test('pid file lock: a lock left by a starter that died (older than 10 s) is broken; the lock is gone afterwards', () => {
  const dir = tempDir('tlsproxy-pidlock-');
  const lock = path.join(dir, `${PID_FILE}.lock`);
  mkdirSync(lock);
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  const warnings: string[] = [];
  const held = acquirePidFile(dir, (m) => warnings.push(m));
  assert.ok(existsSync(path.join(dir, PID_FILE)));
  assert.not.ok(existsSync(lock), 'released after the decision');
  held.release();
  assert.equal(readdirSync(dir), []);
});

test('status file: written through a fresh exclusive temporary file; links at the old predictable name are left alone', () => {
  const dir = tempDir('tlsproxy-status-');
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'precious\n');
  const file = path.join(dir, STATUS_FILE);
  linkSync(victim, `${file}.4242.tmp`);
  symlinkSync(victim, `${file}.4243.tmp`);
  writeStatus(dir, { pid: 4242, seq: 1, ok: true, message: 'ok', time: 1 });
  writeStatus(dir, { pid: 4243, seq: 2, ok: true, message: 'ok', time: 2 });
  assert.is(readFileSync(victim, 'utf8'), 'precious\n');
  assert.equal(readStatus(dir), { pid: 4243, seq: 2, ok: true, message: 'ok', time: 2 });
  assert.equal(readdirSync(dir).sort(), [STATUS_FILE, `${STATUS_FILE}.4242.tmp`, `${STATUS_FILE}.4243.tmp`, 'victim'].sort());
});

test.run();
