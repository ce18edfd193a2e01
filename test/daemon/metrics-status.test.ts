/**
 * tlsproxy_metrics_listen and `tlsproxy status`, on the REAL daemon with
 * worker processes (an implicit-TLS service with 2 workers, a postscreen
 * service with 1): the metrics are scraped over HTTP while sessions are
 * held open and after they end, and each value must move as it should:
 *
 *  - sessions active (summed over the workers) and total, per service and
 *    front end; client bytes both ways; handshakes by protocol, suite and
 *    group; the duration histogram's count; resumptions by kind (a TLS 1.3
 *    and a TLS 1.2 ticket); a failed handshake by its typed cause and
 *    alert; a STARTTLS refusal by reason; per-client limit hits;
 *  - workers by state, reloads by result and the configuration
 *    generation after a changing reload, a watchdog kill (SIGSTOP) and the worker death;
 *  - `tlsproxy status -c DIR`: pid, uptime, generation, each worker with
 *    its sessions; exit 1 with "not running" after the stop.
 */

import { appendFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../proxy/cli/main.js';
import { certMainCf, delay, echoBackend, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, FILE_LIFETIME_MS, nodeTls, stopAllDaemons } from '../helpers/daemon-proc.js';

let backend: TestBackend;
let daemon: DaemonProc;
let dir: string;
let caPem: string;
let metricsPort = 0;
let postscreenPort = 0;
const TLS_SERVICE = '127.0.0.1:0';

async function scrape(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return r.text();
}

/** Sum of the samples of `name` whose labels include every pair of `labels`. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Until `check` holds on a fresh scrape (heartbeats carry the workers' counts every second). */
async function eventually(check: (text: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < end) {
    text = await scrape();
    if (check(text)) return text;
    await delay(200);
  }
  throw new Error(`metrics: ${what} never held:\n${text.split('\n').filter((l) => l && !l.startsWith('#') && !/ 0$/.test(l)).join('\n')}`);
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

/** A TLS session that echoed `ping` and stays open until close(). */
async function held(localAddress: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: daemon.port, ca: caPem, servername: 'localhost', localAddress } as tls.ConnectionOptions);
    s.once('error', reject);
    s.once('secureConnect', () => s.write('ping\n'));
    s.once('data', () => resolve(s));
  });
}

test.before(async () => {
  backend = await echoBackend();
  caPem = (await testPki()).caPem;
  const mainCf = await certMainCf(
    [
      'tlsproxy_metrics_listen = 127.0.0.1:0',
      'tlsproxy_client_connection_count_limit = 5',
      'tlsproxy_client_connection_limit_exceptions =',
      'tlsproxy_min_processes = 2',
    ].join('\n'),
  );
  dir = writeConfig(
    mainCf,
    [`${TLS_SERVICE} inet n - n - 2 tlsproxy -o tlsproxy_backend=${backend.address}`, `127.0.0.2:0 inet n - n - 1 postscreen -o tlsproxy_backend=${backend.address} -o tlsproxy_client_connection_count_limit=0`].join('\n'),
  );
  daemon = await DaemonProc.start(dir, [], 30_000, { hardTimeoutMs: FILE_LIFETIME_MS });
  const m = await daemon.waitFor(/^metrics: serving Prometheus metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics$/);
  metricsPort = Number(/:(\d+)\/metrics$/.exec(m.text)![1]);
  const l = await daemon.waitFor(/listening on 127\.0\.0\.2:\d+/);
  postscreenPort = Number(/listening on 127\.0\.0\.2:(\d+)/.exec(l.text)![1]);
  assert.ok(postscreenPort, daemon.tail());
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

test('sessions, bytes, handshakes and durations move under load (summed over the worker processes)', async () => {
  const before = await scrape();
  assert.is(value(before, 'tlsproxy_workers', { state: 'ready' }), 3, 'two workers for the TLS service, one for postscreen');
  const total0 = value(before, 'tlsproxy_sessions_total', { service: TLS_SERVICE, front_end: 'tlsproxy' });
  const sockets = await Promise.all(Array.from({ length: 16 }, (_, i) => held(`127.0.0.${10 + i}`)));
  await eventually(
    (t) =>
      value(t, 'tlsproxy_sessions_active', { service: TLS_SERVICE, front_end: 'tlsproxy' }) === 16 &&
      value(t, 'tlsproxy_sessions_total', { service: TLS_SERVICE, front_end: 'tlsproxy' }) - total0 === 16 &&
      value(t, 'tlsproxy_handshakes_total', { service: TLS_SERVICE, protocol: 'TLSv1.3', group: 'x25519' }) >= 16 &&
      value(t, 'tlsproxy_handshake_duration_seconds_count', { service: TLS_SERVICE, protocol: 'TLSv1.3' }) >= 16,
    '16 active sessions, 16 more in total, 16 TLS 1.3 x25519 handshakes and durations',
  );
  // Both workers served some (round-robin): the status screen shows them with their sessions.
  const st = await cli(['status', '-c', dir]);
  assert.is(st.code, 0, st.err);
  assert.match(st.out, /^tlsproxy: running, pid \d+, up \d/);
  assert.match(st.out, /generation 1/);
  assert.match(st.out, new RegExp(`service ${TLS_SERVICE.replace(/\./g, '\\.')} \\(tlsproxy\\): 2 worker processes, 16 sessions`));
  assert.is((st.out.match(/^ {2}pid \d+ +ready +generation 1 +sessions \d+/gm) ?? []).length, 3, st.out);
  for (const s of sockets) s.end();
  const after = await eventually((t) => value(t, 'tlsproxy_sessions_active', { service: TLS_SERVICE }) === 0, 'no active sessions');
  assert.ok(value(after, 'tlsproxy_client_bytes_total', { service: TLS_SERVICE, direction: 'received' }) > 16 * 300);
  assert.ok(value(after, 'tlsproxy_client_bytes_total', { service: TLS_SERVICE, direction: 'sent' }) > 16 * 1000);
});

test('resumptions by kind: a TLS 1.3 ticket and a TLS 1.2 ticket', async () => {
  for (const [version, kind] of [['TLSv1.3', 'tls13-ticket'], ['TLSv1.2', 'tls12-ticket']] as const) {
    const before = value(await scrape(), 'tlsproxy_resumptions_total', { service: TLS_SERVICE, kind });
    const first = await nodeTls(daemon.port, caPem, { maxVersion: version, minVersion: version, localAddress: '127.0.0.40' } as tls.ConnectionOptions);
    const second = await nodeTls(daemon.port, caPem, { maxVersion: version, minVersion: version, session: first.session, localAddress: '127.0.0.40' } as tls.ConnectionOptions);
    assert.ok(second.reused, `${version} resumed`);
    await eventually((t) => value(t, 'tlsproxy_resumptions_total', { service: TLS_SERVICE, kind }) === before + 1, `one more ${kind} resumption`);
  }
});

test('a failed handshake by its typed cause and alert', async () => {
  const count = (t: string) => value(t, 'tlsproxy_handshake_failures_total', { service: TLS_SERVICE, cause: 'UnknownRecordType', alert: 'unexpected_message' });
  const before = count(await scrape());
  await new Promise<void>((resolve) => {
    const s = net.connect({ port: daemon.port, host: '127.0.0.1', localAddress: '127.0.0.41' }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
    s.on('error', () => undefined);
    s.resume();
    s.on('close', () => resolve());
  });
  await eventually((t) => count(t) === before + 1, 'one more UnknownRecordType/unexpected_message failure');
});

test('a STARTTLS refusal by reason (postscreen, TLS not offered)', async () => {
  const reply = await new Promise<string>((resolve) => {
    let text = '';
    const s = net.connect(postscreenPort, '127.0.0.2');
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      text += d;
      if (/^220 /m.test(text) && !/EHLO sent/.test(text)) {
        text += '\nEHLO sent\n';
        s.write('EHLO client.example\r\nSTARTTLS\r\n');
      }
      if (/^502 5\.5\.1 /m.test(text)) {
        s.end('QUIT\r\n');
        resolve(text);
      }
    });
    s.on('error', () => resolve(text));
  });
  assert.match(reply, /502 5\.5\.1 Error: command not implemented/);
  await eventually((t) => value(t, 'tlsproxy_starttls_refusals_total', { reason: 'not-offered' }) === 1, 'one not-offered refusal');
  const t = await scrape();
  assert.ok(value(t, 'tlsproxy_sessions_total', { front_end: 'postscreen' }) >= 1);
});

test('per-client limit hits', async () => {
  const open: net.Socket[] = [];
  const connect = () =>
    new Promise<net.Socket>((resolve) => {
      const s = net.connect({ port: daemon.port, host: '127.0.0.1', localAddress: '127.0.0.3' }, () => resolve(s));
      s.on('error', () => undefined);
      open.push(s);
    });
  for (let i = 0; i < 5; i++) await connect();
  await daemon.waitFor(/^CONNECT from \[127\.0\.0\.3\]/);
  await delay(300);
  await connect();
  await connect();
  await eventually((t) => value(t, 'tlsproxy_client_limit_hits_total', { service: TLS_SERVICE }) === 2, 'two limit hits');
  for (const s of open) s.destroy();
});

test('reloads by result, configuration generation, a watchdog kill and worker death; status after the reload', async () => {
  const r0 = await cli(['reload', '-c', dir]);
  assert.is(r0.code, 0, r0.err);
  await eventually((t) => value(t, 'tlsproxy_reloads_total', { result: 'unchanged' }) === 1, 'one unchanged reload');
  appendFileSync(path.join(dir, 'main.cf'), 'tlsproxy_tls_loglevel = 2\n');
  const r1 = await cli(['reload', '-c', dir]);
  assert.is(r1.code, 0, r1.err);
  await eventually((x) => value(x, 'tlsproxy_reloads_total', { result: 'changed' }) === 1 && value(x, 'tlsproxy_configuration_generation') === 2, 'a changing reload, generation 2');
  await eventually((x) => value(x, 'tlsproxy_workers', { state: 'ready' }) === 3 && value(x, 'tlsproxy_workers', { state: 'draining' }) === 0, 'the new generation serving alone', 30_000);
  const st = await cli(['status', '-c', dir]);
  assert.match(st.out, /configuration: .*, generation 2/);
  assert.match(st.out, /pid \d+ +ready +generation 2 /);
  // A worker of the TLS service, from the status screen.
  const block = st.out.split(/^service /m).find((b) => b.startsWith(`${TLS_SERVICE} `))!;
  const pid = Number(/^ {2}pid (\d+)/m.exec(block)![1]);
  // Stopped, its heartbeats stop: the watchdog kills it after tlsproxy_watchdog_timeout (10 s).
  process.kill(pid, 'SIGSTOP');
  await eventually((x) => value(x, 'tlsproxy_watchdog_kills_total', { service: TLS_SERVICE }) === 1, 'one watchdog kill', 25_000);
  await eventually((x) => value(x, 'tlsproxy_worker_deaths_total', { service: TLS_SERVICE }) === 1, 'one worker death');
  await daemon.waitFor(new RegExp(`worker process pid \\d+ started \\(replacing pid ${pid}\\)`));
});

test('status: not running after the stop', async () => {
  await daemon.stop();
  const st = await cli(['status', '-c', dir]);
  assert.is(st.code, 1);
  assert.match(st.out, /^tlsproxy: not running/);
});

test.run();
