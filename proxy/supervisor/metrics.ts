/**
 * Prometheus metrics (tlsproxy_metrics_listen, off by default), with
 * prom-client for the registry and the text exposition format.
 *
 * Every serving process (each worker, or the only process) counts into a
 * MetricsRecorder (the MetricsObserver of base/metrics-hooks.ts: plain
 * maps, no prom-client). A worker sends what it counted since its last
 * heartbeat to the main process with the heartbeat (IPC `metrics`: counter
 * increments, its current gauges, handshake durations), and once more when
 * it exits normally; a worker killed loses at most its last second. The
 * main process owns the one prom-client registry: it adds the increments
 * up, sums the gauges over the live workers (a worker that exits drops
 * out), observes the durations into the histogram, and counts what only
 * it sees (workers, reloads, watchdog kills, worker deaths). The HTTP
 * server runs in the main process too: GET /metrics. The registry and the
 * server are in prometheus.ts, loaded only when tlsproxy_metrics_listen is
 * set (prom-client is ~170 KiB of JavaScript to compile at start-up).
 *
 * Labels are bounded: at most MAX_SERIES label sets per metric (more are
 * dropped and counted in tlsproxy_metrics_dropped_total), label values at
 * most 64 characters.
 */

import type { HandshakeFacts, MetricsObserver } from '../base/metrics-hooks.js';

type Kind = 'counter' | 'gauge' | 'histogram';

interface Definition {
  readonly kind: Kind;
  readonly help: string;
  readonly labels: readonly string[];
  /** Counted by workers (and sent over IPC), or only by the main process. */
  readonly fromWorkers: boolean;
}

export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export const METRICS: Readonly<Record<string, Definition>> = {
  tlsproxy_sessions_total: { kind: 'counter', help: 'Client sessions accepted, per service and front end', labels: ['service', 'front_end'], fromWorkers: true },
  tlsproxy_sessions_active: { kind: 'gauge', help: 'Client sessions in progress, per service and front end', labels: ['service', 'front_end'], fromWorkers: true },
  tlsproxy_handshakes_total: { kind: 'counter', help: 'Completed TLS handshakes by protocol, cipher suite and key exchange group', labels: ['service', 'protocol', 'cipher', 'group'], fromWorkers: true },
  tlsproxy_handshake_duration_seconds: { kind: 'histogram', help: 'Time from the hand-over of the connection to the completed TLS handshake', labels: ['service', 'protocol'], fromWorkers: true },
  tlsproxy_resumptions_total: { kind: 'counter', help: 'Resumed TLS handshakes by kind (tls13-ticket, tls12-ticket, tls12-session-id)', labels: ['service', 'kind'], fromWorkers: true },
  tlsproxy_handshake_failures_total: { kind: 'counter', help: 'Failed TLS handshakes by typed cause (engine/errors.ts, or the stream failure kind) and alert', labels: ['service', 'cause', 'alert'], fromWorkers: true },
  tlsproxy_starttls_refusals_total: { kind: 'counter', help: 'STARTTLS commands refused, by reason', labels: ['service', 'reason'], fromWorkers: true },
  tlsproxy_client_bytes_total: { kind: 'counter', help: 'Bytes on client connections (received from, sent to clients), counted when a session ends', labels: ['service', 'direction'], fromWorkers: true },
  tlsproxy_client_limit_hits_total: { kind: 'counter', help: 'Connections closed by tlsproxy_client_connection_count_limit', labels: ['service'], fromWorkers: true },
  tlsproxy_workers: { kind: 'gauge', help: 'Worker processes by state (starting, ready, draining)', labels: ['service', 'state'], fromWorkers: false },
  tlsproxy_worker_deaths_total: { kind: 'counter', help: 'Worker processes that exited unexpectedly (killed or failed)', labels: ['service'], fromWorkers: false },
  tlsproxy_watchdog_kills_total: { kind: 'counter', help: 'Worker processes killed by the watchdog (tlsproxy_watchdog_timeout)', labels: ['service'], fromWorkers: false },
  tlsproxy_reloads_total: { kind: 'counter', help: 'Reloads (SIGHUP, tlsproxy reload) by result: changed, unchanged, refused', labels: ['result'], fromWorkers: false },
  tlsproxy_configuration_generation: { kind: 'gauge', help: 'Configuration generation: 1 at start, +1 per reload that changed something', labels: [], fromWorkers: false },
  tlsproxy_start_time_seconds: { kind: 'gauge', help: 'Start time of the daemon (unix time)', labels: [], fromWorkers: false },
  tlsproxy_metrics_dropped_total: { kind: 'counter', help: 'Metric updates dropped (too many label sets, or malformed from a worker)', labels: [], fromWorkers: false },
};

export const SEP = '\x1f';
export const MAX_SERIES = 2000;
export const MAX_LABEL = 64;
/** Bounds on one IPC snapshot. */
export const MAX_ENTRIES = 5000;
export const MAX_DURATIONS = 100_000;

const label = (v: string) => (v.length > MAX_LABEL ? v.slice(0, MAX_LABEL) : v);

/** One process's counts since the last snapshot (what crosses the IPC channel). */
export interface MetricsSnapshot {
  /** [metric SEP label values..., increment] */
  readonly c: [string, number][];
  /** [metric SEP label values..., current value] (this process's whole gauge set) */
  readonly g: [string, number][];
  /** [metric SEP label values..., durations in seconds] */
  readonly h: [string, number[]][];
}

/** Counts in a serving process: cheap map updates, drained by snapshot(). */
export class MetricsRecorder implements MetricsObserver {
  private counters = new Map<string, number>();
  private readonly gauges = new Map<string, number>();
  private durations = new Map<string, number[]>();
  private durationCount = 0;

  private inc(name: string, values: readonly string[], n = 1): void {
    const k = [name, ...values.map(label)].join(SEP);
    this.counters.set(k, (this.counters.get(k) ?? 0) + n);
  }

  private add(name: string, values: readonly string[], n: number): void {
    const k = [name, ...values.map(label)].join(SEP);
    this.gauges.set(k, (this.gauges.get(k) ?? 0) + n);
  }

  sessionStarted(service: string, frontEnd: string): void {
    this.inc('tlsproxy_sessions_total', [service, frontEnd]);
    this.add('tlsproxy_sessions_active', [service, frontEnd], 1);
  }

  sessionEnded(service: string, frontEnd: string, bytesIn: number, bytesOut: number): void {
    this.add('tlsproxy_sessions_active', [service, frontEnd], -1);
    if (bytesIn > 0) this.inc('tlsproxy_client_bytes_total', [service, 'received'], bytesIn);
    if (bytesOut > 0) this.inc('tlsproxy_client_bytes_total', [service, 'sent'], bytesOut);
  }

  handshake(service: string, f: HandshakeFacts, seconds: number): void {
    this.inc('tlsproxy_handshakes_total', [service, f.protocol, f.cipher, f.group]);
    if (f.resumed) this.inc('tlsproxy_resumptions_total', [service, f.resumed]);
    if (this.durationCount >= MAX_DURATIONS) return;
    const k = ['tlsproxy_handshake_duration_seconds', label(service), label(f.protocol)].join(SEP);
    let list = this.durations.get(k);
    if (!list) this.durations.set(k, (list = []));
    list.push(seconds);
    this.durationCount++;
  }

  handshakeFailed(service: string, cause: string, alert: string): void {
    this.inc('tlsproxy_handshake_failures_total', [service, cause, alert]);
  }

  starttlsRefused(service: string, reason: string): void {
    this.inc('tlsproxy_starttls_refusals_total', [service, reason]);
  }

  clientLimitHit(service: string): void {
    this.inc('tlsproxy_client_limit_hits_total', [service]);
  }

  /** Increments since the last call, the gauges as they are now, the durations since the last call. */
  snapshot(): MetricsSnapshot {
    const c = [...this.counters];
    const h = [...this.durations];
    this.counters = new Map();
    this.durations = new Map();
    this.durationCount = 0;
    return { c, g: [...this.gauges], h };
  }

  get empty(): boolean {
    return !this.counters.size && !this.durations.size;
  }
}

/** `host:port`, `[v6]:port`, or a bare port (loopback). */
export function parseListen(value: string): { host: string; port: number } | undefined {
  const v = value.trim();
  let m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(v) ?? /^([^:\s]+):(\d{1,5})$/.exec(v);
  if (!m) {
    m = /^(\d{1,5})$/.exec(v);
    if (!m) return undefined;
    return Number(m[1]) <= 65535 ? { host: '127.0.0.1', port: Number(m[1]) } : undefined;
  }
  const port = Number(m[2]);
  return port <= 65535 ? { host: m[1]!, port } : undefined;
}
