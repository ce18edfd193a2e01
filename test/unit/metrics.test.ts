/**
 * proxy/supervisor/metrics.ts in-process: a recorder's snapshot carries
 * increments once (drained), its gauges as they are, durations into the
 * histogram; the aggregator sums gauges over sources and drops a source's
 * gauges when it goes (a dead worker's sessions are no longer active);
 * malformed or unknown entries from a worker are dropped and counted,
 * main-only metrics cannot be sent by a worker; the exposition is
 * Prometheus text; parseListen.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { Logger } from '../../proxy/log/log.js';
import { MetricsRecorder, parseListen } from '../../proxy/supervisor/metrics.js';
import { MAX_METRICS_CONNECTIONS, MetricsAggregator, startMetricsServer } from '../../proxy/supervisor/prometheus.js';

const line = (text: string, re: RegExp) => text.split('\n').find((l) => re.test(l));

test('recorder snapshots: increments drained, gauges kept, durations observed', async () => {
  const agg = new MetricsAggregator();
  const a = new MetricsRecorder();
  const b = new MetricsRecorder();
  a.sessionStarted('s1', 'tlsproxy');
  a.sessionStarted('s1', 'tlsproxy');
  b.sessionStarted('s1', 'tlsproxy');
  a.handshake('s1', { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', group: 'x25519', resumed: 'tls13-ticket' }, 0.004);
  a.handshakeFailed('s1', 'UnknownRecordType', 'unexpected_message');
  agg.ingest('1', a.snapshot());
  agg.ingest('2', b.snapshot());
  agg.ingest('1', a.snapshot()); // nothing new: the counters must not double
  let t = await agg.text();
  assert.match(t, /# TYPE tlsproxy_sessions_total counter/);
  assert.is(line(t, /^tlsproxy_sessions_total\{/), 'tlsproxy_sessions_total{service="s1",front_end="tlsproxy"} 3');
  assert.is(line(t, /^tlsproxy_sessions_active\{/), 'tlsproxy_sessions_active{service="s1",front_end="tlsproxy"} 3');
  assert.is(line(t, /^tlsproxy_resumptions_total\{/), 'tlsproxy_resumptions_total{service="s1",kind="tls13-ticket"} 1');
  assert.is(line(t, /^tlsproxy_handshake_failures_total\{/), 'tlsproxy_handshake_failures_total{service="s1",cause="UnknownRecordType",alert="unexpected_message"} 1');
  assert.is(line(t, /^tlsproxy_handshake_duration_seconds_bucket\{le="0.005"/), 'tlsproxy_handshake_duration_seconds_bucket{le="0.005",service="s1",protocol="TLSv1.3"} 1');
  a.sessionEnded('s1', 'tlsproxy', 100, 2000);
  agg.ingest('1', a.snapshot());
  agg.forget('2'); // worker 2 died
  t = await agg.text();
  assert.is(line(t, /^tlsproxy_sessions_active\{/), 'tlsproxy_sessions_active{service="s1",front_end="tlsproxy"} 1');
  assert.is(line(t, /^tlsproxy_client_bytes_total\{.*sent/), 'tlsproxy_client_bytes_total{service="s1",direction="sent"} 2000');
});

test('malformed snapshots are dropped and counted; main-only metrics are not accepted from workers', async () => {
  const agg = new MetricsAggregator();
  agg.ingest('9', 'nonsense');
  agg.ingest('9', { c: [['tlsproxy_sessions_total\x1fs1', 1], ['tlsproxy_watchdog_kills_total\x1fs1', 5], ['tlsproxy_nope\x1fx', 1], ['tlsproxy_sessions_total\x1fs1\x1ftlsproxy', -4], 'x'] });
  const t = await agg.text();
  assert.is(line(t, /^tlsproxy_metrics_dropped_total/), 'tlsproxy_metrics_dropped_total 5');
  assert.not.ok(line(t, /^tlsproxy_watchdog_kills_total\{/));
  assert.not.ok(line(t, /^tlsproxy_sessions_total\{/));
});

test('the endpoint holds at most MAX_METRICS_CONNECTIONS connections open; a scrape still works after', async () => {
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, new MetricsAggregator(), new Logger({ sink: () => undefined }));
  const idle: net.Socket[] = [];
  try {
    const closed: number[] = [];
    for (let i = 0; i < MAX_METRICS_CONNECTIONS + 8; i++) {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => closed.push(i));
      idle.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(closed.length >= 8, `connections beyond the bound are closed: ${closed.length}`);
    for (const s of idle) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.is(res.status, 200);
    await res.text();
  } finally {
    for (const s of idle) s.destroy();
    await server.close();
  }
});

test('parseListen', () => {
  assert.equal(parseListen('127.0.0.1:9469'), { host: '127.0.0.1', port: 9469 });
  assert.equal(parseListen('[::1]:9469'), { host: '::1', port: 9469 });
  assert.equal(parseListen('9469'), { host: '127.0.0.1', port: 9469 });
  assert.is(parseListen('127.0.0.1:70000'), undefined);
  assert.is(parseListen('nothing here'), undefined);
});

test.run();
