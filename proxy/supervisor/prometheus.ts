/**
 * The main process's Prometheus registry (prom-client) and GET /metrics
 * server, for tlsproxy_metrics_listen (metrics.ts says how the counts get
 * here). run.ts imports this module only when metrics are configured.
 */

import http from 'node:http';
import client from 'prom-client';
import type { Logger } from '../log/log.js';
import { DURATION_BUCKETS, MAX_DURATIONS, MAX_ENTRIES, MAX_LABEL, MAX_SERIES, METRICS, SEP, type MetricsSnapshot } from './metrics.js';

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
