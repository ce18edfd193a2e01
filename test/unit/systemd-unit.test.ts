/**
 * contrib/tlsproxy.service: `systemd-analyze verify` accepts it (with
 * ExecStart pointing at this checkout's launcher) and does report a
 * broken copy (so that silence means something); KillMode=mixed for the
 * drain, ExecReload through `tlsproxy reload`, TimeoutStopSec beyond the
 * default tlsproxy_drain_timeout, no MemoryDenyWriteExecute (V8's JIT).
 * Skipped with a message where systemd-analyze is not installed.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PARAMETER_TABLE } from '../../proxy/config/params.js';
import { tempDir } from '../helpers/proxy.js';
import { skipped } from '../helpers/skip.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNIT = path.join(root, 'contrib/tlsproxy.service');
const unit = readFileSync(UNIT, 'utf8');
const directive = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(unit)?.[1];
const haveAnalyze = !spawnSync('systemd-analyze', ['--version']).error;

function verify(text: string): string {
  const dir = tempDir('tlsproxy-unit-');
  const f = path.join(dir, 'tlsproxy.service');
  writeFileSync(f, text.replaceAll('/usr/bin/tlsproxy', path.join(root, 'bin/tlsproxy.js')));
  const r = spawnSync('systemd-analyze', ['verify', f], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
  return `${r.stdout}${r.stderr}`.trim();
}

test('the drain, reload and stop settings', () => {
  assert.is(directive('KillMode'), 'mixed');
  assert.is(directive('ExecReload'), '/usr/bin/tlsproxy reload -c /etc/tlsproxy');
  assert.is(directive('ExecStart'), '/usr/bin/tlsproxy start -c /etc/tlsproxy');
  const drain = Number(/^(\d+)s$/.exec(String(PARAMETER_TABLE.get('tlsproxy_drain_timeout')!.default))![1]);
  assert.ok(Number(/^(\d+)s$/.exec(directive('TimeoutStopSec')!)![1]) > drain, 'TimeoutStopSec > tlsproxy_drain_timeout');
  assert.is(directive('RuntimeDirectory'), 'tlsproxy');
  assert.is(directive('NoNewPrivileges'), 'yes');
  assert.not.ok(directive('MemoryDenyWriteExecute'), 'V8 needs W+X memory');
  assert.not.ok(directive('User'), 'the main process stays root; workers drop to tlsproxy_user');
  for (const cap of ['CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_KILL']) assert.ok(directive('CapabilityBoundingSet')!.includes(cap), cap);
});

test('systemd-analyze verify accepts the unit and reports a broken copy', () => {
  if (!haveAnalyze) {
    skipped('systemd-analyze verify', 'systemd-analyze is not installed (apt-get install systemd)');
    return;
  }
  assert.is(verify(unit), '', 'systemd-analyze verify contrib/tlsproxy.service');
  const broken = verify(unit.replace('KillMode=mixed', 'KillMode=mixd').replace('Type=simple', 'Tpye=simple'));
  assert.match(broken, /kill mode/i);
  assert.match(broken, /Unknown key 'Tpye'/);
});

test.run();
