/**
 * The one interface through which the session pipeline reports what the
 * metrics count (proxy/supervisor/metrics.ts implements it). A serving
 * process installs a recorder with setMetricsObserver(); without one (the
 * default, and whenever tlsproxy_metrics_listen is empty) every call site
 * is a single `metrics?.` check.
 *
 * Call sites (kept to one line each, in files other work changes often):
 *   front-ends/registry.ts   sessionStarted / sessionEnded (with the client socket's byte counts)
 *   tls/service.ts           handshake (with its duration), handshakeFailed
 *   front-ends/postscreen    starttlsRefused
 *   supervisor/limits.ts     clientLimitHit
 */

export interface HandshakeFacts {
  readonly protocol: string;
  readonly cipher: string;
  readonly group: string;
  /** How it was resumed: 'tls13-ticket', 'tls12-ticket', 'tls12-session-id'; undefined for a full handshake. */
  readonly resumed?: string;
}

export interface MetricsObserver {
  sessionStarted(service: string, frontEnd: string): void;
  /** bytesIn/bytesOut: what the client socket received and sent (ciphertext, or SMTP plaintext before STARTTLS). */
  sessionEnded(service: string, frontEnd: string, bytesIn: number, bytesOut: number): void;
  handshake(service: string, facts: HandshakeFacts, seconds: number): void;
  /** cause: the engine's typed cause (engine/errors.ts), or the stream's failure kind (handshake-timeout, socket, eof). */
  handshakeFailed(service: string, cause: string, alert: string): void;
  starttlsRefused(service: string, reason: string): void;
  clientLimitHit(service: string): void;
}

/** The current observer, or undefined (metrics off). */
export let metrics: MetricsObserver | undefined;

export function setMetricsObserver(observer: MetricsObserver | undefined): void {
  metrics = observer;
}
