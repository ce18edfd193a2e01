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
 * server runs in the main process too: GET /metrics.
 *
 * Labels are bounded: at most MAX_SERIES label sets per metric (more are
 * dropped and counted in tlsproxy_metrics_dropped_total), label values at
 * most 64 characters.
 */

import http from 'node:http';
import client from 'prom-client';
import type { HandshakeFacts, MetricsObserver } from '../base/metrics-hooks.js';
import type { Logger } from '../log/log.js';

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

const SEP = '\x1f';
export const MAX_SERIES = 2000;
const MAX_LABEL = 64;
/** Bounds on one IPC snapshot. */
const MAX_ENTRIES = 5000;
const MAX_DURATIONS = 100_000;

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

/** The main process's registry: the sum over all serving processes, plus its own counts. */
export class MetricsAggregator {
  readonly registry = new client.Registry();
  private readonly counters = new Map<string, client.Counter<string>>();
  private readonly gauges = new Map<string, client.Gauge<string>>();
  private readonly histograms = new Map<string, client.Histogram<string>>();
  private readonly series = new Map<string, Set<string>>();
  /** Gauges per source (worker pid, or 'local'), summed at scrape time. */
  private readonly sourceGauges = new Map<string, Map<string, number>>();
  private workerStates: () => { service: string; state: string; count: number }[] = () => [];
  /** Called before each scrape (the one-process daemon moves its recorder's counts in). */
  beforeScrape: (() => void) | undefined;

  constructor() {
    const self = this;
    for (const [name, d] of Object.entries(METRICS)) {
      const common = { name, help: d.help, labelNames: [...d.labels], registers: [this.registry] };
      if (d.kind === 'counter') this.counters.set(name, new client.Counter(common));
      else if (d.kind === 'histogram') this.histograms.set(name, new client.Histogram({ ...common, buckets: DURATION_BUCKETS }));
      else if (name === 'tlsproxy_sessions_active')
        this.gauges.set(
          name,
          new client.Gauge({
            ...common,
            collect() {
              this.reset();
              for (const [k, v] of self.summedGauges(name)) this.set(labelsOf(name, k.split(SEP).slice(1)), v);
            },
          }),
        );
      else if (name === 'tlsproxy_workers')
        this.gauges.set(
          name,
          new client.Gauge({
            ...common,
            collect() {
              this.reset();
              for (const w of self.workerStates()) this.set({ service: w.service, state: w.state }, w.count);
            },
          }),
        );
      else this.gauges.set(name, new client.Gauge(common));
    }
    this.set('tlsproxy_start_time_seconds', [], Math.floor(Date.now() / 1000));
    this.set('tlsproxy_configuration_generation', [], 1);
  }

  /** Where the tlsproxy_workers gauge comes from (the worker pool). */
  setWorkerStates(fn: () => { service: string; state: string; count: number }[]): void {
    this.workerStates = fn;
  }

  private admit(name: string, values: readonly string[]): boolean {
    let s = this.series.get(name);
    if (!s) this.series.set(name, (s = new Set()));
    const k = values.join(SEP);
    if (s.has(k)) return true;
    if (s.size >= MAX_SERIES) {
      this.counters.get('tlsproxy_metrics_dropped_total')!.inc();
      return false;
    }
    s.add(k);
    return true;
  }

  inc(name: string, values: readonly string[], n = 1): void {
    const c = this.counters.get(name);
    if (!c || values.length !== METRICS[name]!.labels.length || !this.admit(name, values)) return;
    c.inc(labelsOf(name, values), n);
  }

  set(name: string, values: readonly string[], v: number): void {
    const g = this.gauges.get(name);
    if (!g || values.length !== METRICS[name]!.labels.length) return;
    g.set(labelsOf(name, values), v);
  }

  private summedGauges(name: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const m of this.sourceGauges.values()) for (const [k, v] of m) if (k.startsWith(name + SEP) || k === name) out.set(k, (out.get(k) ?? 0) + v);
    return out;
  }

  /** A snapshot from a serving process (checked: a confused worker only loses its own counts). */
  ingest(source: string, raw: unknown): void {
    if (!raw || typeof raw !== 'object') return;
    const s = raw as Partial<MetricsSnapshot>;
    const parse = (k: unknown): [string, string[]] | undefined => {
      if (typeof k !== 'string' || k.length > 600) return undefined;
      const [name, ...values] = k.split(SEP);
      const d = METRICS[name!];
      if (!d || !d.fromWorkers || values.length !== d.labels.length || values.some((v) => v.length > MAX_LABEL)) return undefined;
      return [name!, values];
    };
    let bad = 0;
    if (Array.isArray(s.c) && s.c.length <= MAX_ENTRIES) {
      for (const e of s.c) {
        const p = Array.isArray(e) ? parse(e[0]) : undefined;
        const n = Array.isArray(e) ? e[1] : undefined;
        if (!p || typeof n !== 'number' || !Number.isFinite(n) || n < 0 || METRICS[p[0]]!.kind !== 'counter') bad++;
        else this.inc(p[0], p[1], n);
      }
    }
    if (Array.isArray(s.g) && s.g.length <= MAX_ENTRIES) {
      const m = new Map<string, number>();
      for (const e of s.g) {
        const p = Array.isArray(e) ? parse(e[0]) : undefined;
        const n = Array.isArray(e) ? e[1] : undefined;
        if (!p || typeof n !== 'number' || !Number.isFinite(n) || METRICS[p[0]]!.kind !== 'gauge' || !this.admit(p[0], p[1])) bad++;
        else m.set(e[0] as string, n);
      }
      this.sourceGauges.set(source, m);
    }
    if (Array.isArray(s.h) && s.h.length <= MAX_ENTRIES) {
      let total = 0;
      for (const e of s.h) {
        const p = Array.isArray(e) ? parse(e[0]) : undefined;
        const list = Array.isArray(e) ? e[1] : undefined;
        if (!p || !Array.isArray(list) || METRICS[p[0]]!.kind !== 'histogram' || (total += list.length) > MAX_DURATIONS || !this.admit(p[0], p[1])) {
          bad++;
          continue;
        }
        const h = this.histograms.get(p[0])!;
        const labels = labelsOf(p[0], p[1]);
        for (const v of list) if (typeof v === 'number' && Number.isFinite(v) && v >= 0) h.observe(labels, v);
      }
    }
    if (bad) this.counters.get('tlsproxy_metrics_dropped_total')!.inc(bad);
  }

  /** A serving process is gone: its sessions no longer count as active. */
  forget(source: string): void {
    this.sourceGauges.delete(source);
  }

  async text(): Promise<string> {
    this.beforeScrape?.();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function labelsOf(name: string, values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  METRICS[name]!.labels.forEach((l, i) => (out[l] = values[i]!));
  return out;
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

export interface MetricsServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Concurrent connections to the metrics endpoint; more are closed at once. */
export const MAX_METRICS_CONNECTIONS = 16;

/** Serve GET /metrics on `listen`; rejects when it cannot bind. */
export function startMetricsServer(listen: { host: string; port: number }, aggregator: MetricsAggregator, logger: Logger): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('tlsproxy: metrics are at /metrics\n');
      return;
    }
    aggregator.text().then(
      (body) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (e: Error) => {
        logger.warning(`metrics: ${e.message}`);
        res.writeHead(500).end();
      },
    );
  });
  // Whoever can reach the address can connect: bound what they can hold open (a scraper needs one).
  server.maxConnections = MAX_METRICS_CONNECTIONS;
  server.maxHeadersCount = 64;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.removeListener('error', reject);
      server.on('error', (e) => logger.warning(`metrics: ${e.message}`));
      const a = server.address() as { address: string; port: number };
      server.unref();
      resolve({
        address: a.address,
        port: a.port,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}
