/**
 * A node:net server on 127.0.0.1:0 that runs the TypeScript TLS 1.3 engine
 * (ServerConnection) on every accepted socket, for interop and negative
 * tests. By default it echoes application data back (optionally with a
 * prefix); hooks observe handshakes, failures, traces, and can make the
 * server send KeyUpdate(update_requested) after N received bytes.
 */

import net from 'node:net';
import type { CertifiedKey, ServerConfig } from '../../engine/config.js';
import { DEFAULT_GROUPS, DEFAULT_TLS13_SUITES } from '../../engine/config.js';
import { ServerConnection } from '../../engine/connection.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { createWebCryptoProvider } from '../../engine/crypto/webcrypto.js';
import type { ConnectionError, HandshakeInfo, TlsEvent } from '../../engine/events.js';
import { createJsCryptoProvider } from '../../engine/crypto/js.js';
import { type AnyKind, certifiedKeys } from './pki.js';

export type ProviderName = 'node' | 'webcrypto' | 'js';

// node:crypto is loaded here only if it can be: in the process of
// test/js-provider-isolated.test.ts it is refused, and provider('node') throws.
let createNodeCryptoProvider: (() => CryptoProvider) | undefined;
let nodeUnavailable: unknown;
try {
  createNodeCryptoProvider = (await import('../../providers/node.js')).createNodeCryptoProvider;
} catch (e) {
  nodeUnavailable = e;
}

const providers = new Map<ProviderName, CryptoProvider>();

function makeProvider(name: ProviderName): CryptoProvider {
  switch (name) {
    case 'node':
      if (!createNodeCryptoProvider) throw new Error(`the node provider is unavailable: ${nodeUnavailable instanceof Error ? nodeUnavailable.message : String(nodeUnavailable)}`);
      return createNodeCryptoProvider();
    case 'webcrypto':
      return createWebCryptoProvider();
    case 'js':
      return createJsCryptoProvider();
  }
}

export function provider(name: ProviderName = 'node'): CryptoProvider {
  let p = providers.get(name);
  if (!p) {
    p = makeProvider(name);
    providers.set(name, p);
  }
  return p;
}

export interface EngineServerOptions {
  /** Crypto provider (default node). */
  provider?: ProviderName;
  /** Certificates from the test PKI (default: all four main ones, P-256 first). */
  certs?: readonly AnyKind[];
  /** Ready-made certificates (overrides `certs`). */
  certificates?: readonly CertifiedKey[];
  /** Overrides on top of the defaults (suites, groups, preferServerCiphers=false, alpn...). */
  config?: Partial<Omit<ServerConfig, 'provider' | 'certificates'>>;
  /** Echo mode (default): data is written back, prefixed by `echoPrefix` if given. 'sink' discards. */
  mode?: 'echo' | 'sink';
  echoPrefix?: string;
  /** After this many application bytes were received, call keyUpdate(true) once. */
  keyUpdateAfter?: number;
  /** Pause reading while the engine's unprocessed input or the socket's unsent output exceed this. */
  highWater?: number;
  onHandshake?: (s: Session, info: HandshakeInfo) => void;
  onFailure?: (s: Session, e: ConnectionError) => void;
  onData?: (s: Session, data: Uint8Array) => void;
}

export interface Session {
  readonly id: number;
  readonly socket: net.Socket;
  readonly conn: ServerConnection;
  info?: HandshakeInfo;
  failure?: ConnectionError;
  readonly traces: string[];
  /** The engine's typed events (TlsEvent), in order. */
  readonly events: TlsEvent[];
  bytesIn: number;
  bytesOut: number;
  /** The engine reported `closed` (close_notify both ways). */
  closedCleanly: boolean;
  peerClosed: boolean;
  socketClosed: boolean;
  socketError?: Error;
  /** Handler threw (engine bug surfaced as an exception out of receive/write). */
  thrown?: unknown;
  /** Resolves when the socket has closed. */
  readonly done: Promise<void>;
}

export interface EngineServer {
  readonly port: number;
  readonly config: ServerConfig;
  readonly sessions: Session[];
  readonly failures: ConnectionError[];
  /** Resolves with the `n`th session (1-based) once its socket closed, or rejects after `timeoutMs`. */
  sessionDone(n: number, timeoutMs?: number): Promise<Session>;
  /** Resolves when `n` sessions exist and all of them closed. */
  allDone(n: number, timeoutMs?: number): Promise<Session[]>;
  close(): Promise<void>;
}

/** The engine configuration these tests use. */
export async function engineConfig(opts: EngineServerOptions = {}): Promise<ServerConfig> {
  const p = provider(opts.provider);
  const certificates = opts.certificates ?? (await certifiedKeys(p, opts.certs ?? ['p256', 'p384', 'rsa', 'ed25519']));
  return {
    cipherSuites: [...DEFAULT_TLS13_SUITES],
    groups: [...DEFAULT_GROUPS],
    preferServerCiphers: false,
    ...opts.config,
    provider: p,
    certificates,
  };
}

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

const MAX_TRACES = 200;

export async function startEngineServer(opts: EngineServerOptions = {}): Promise<EngineServer> {
  const config = await engineConfig(opts);
  const sessions: Session[] = [];
  const failures: ConnectionError[] = [];
  const sockets = new Set<net.Socket>();
  const highWater = opts.highWater ?? 256 * 1024;
  const prefix = opts.echoPrefix ? new TextEncoder().encode(opts.echoPrefix) : undefined;
  const waiters: (() => void)[] = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    let keyUpdated = false;
    let paused = false;

    const maybeResume = () => {
      if (paused && conn.backlog < highWater && socket.writableLength < highWater) {
        paused = false;
        socket.resume();
      }
    };
    const maybePause = () => {
      if (!paused && (conn.backlog >= highWater || socket.writableLength >= highWater)) {
        paused = true;
        socket.pause();
        // Engine input is processed asynchronously with webcrypto: resume once it took the backlog.
        if (conn.backlog >= highWater) conn.whenBacklogBelow(highWater - 1, maybeResume);
      }
    };
    const endSocket = () => {
      if (!socket.destroyed) socket.end();
      // If the peer never closes its side, do not keep the socket forever.
      setTimeout(() => socket.destroy(), 2000).unref();
    };

    const conn: ServerConnection = new ServerConnection(config, {
      write(bytes) {
        session.bytesOut += bytes.length;
        if (!socket.destroyed && socket.writable) {
          socket.write(bytes);
          maybePause();
        }
      },
      handshake(info) {
        session.info = info;
        opts.onHandshake?.(session, info);
      },
      data(plaintext) {
        session.bytesIn += plaintext.length;
        opts.onData?.(session, plaintext);
        if ((opts.mode ?? 'echo') === 'echo' && conn.writable) {
          if (prefix) {
            const out = new Uint8Array(prefix.length + plaintext.length);
            out.set(prefix, 0);
            out.set(plaintext, prefix.length);
            conn.write(out);
          } else {
            conn.write(plaintext.slice());
          }
        }
        if (opts.keyUpdateAfter !== undefined && !keyUpdated && session.bytesIn >= opts.keyUpdateAfter && conn.writable) {
          keyUpdated = true;
          conn.keyUpdate(true);
        }
      },
      peerClosed() {
        session.peerClosed = true;
        // Answer with our close_notify, and end the socket once it is written.
        conn.close(() => endSocket());
      },
      failed(error) {
        session.failure = error;
        failures.push(error);
        opts.onFailure?.(session, error);
        // The alert (if any) has been passed to write() already.
        endSocket();
      },
      closed() {
        session.closedCleanly = true;
        endSocket();
      },
      trace(message) {
        if (session.traces.length < MAX_TRACES) session.traces.push(message);
      },
      event(e) {
        if (session.events.length < MAX_TRACES) session.events.push(e);
      },
    });

    const session: Session = {
      id: sessions.length + 1,
      socket,
      conn,
      traces: [],
      events: [],
      bytesIn: 0,
      bytesOut: 0,
      closedCleanly: false,
      peerClosed: false,
      socketClosed: false,
      done,
    };
    sessions.push(session);

    socket.on('data', (b: Buffer) => {
      try {
        conn.receive(u8(b), true);
      } catch (e) {
        // receive() must never throw: record it so a test can flag it.
        session.thrown = e;
        socket.destroy();
        return;
      }
      maybePause();
    });
    socket.on('drain', maybeResume);
    socket.on('end', () => {
      // Transport EOF. Let the engine finish what it received first (asynchronous providers):
      // if that included close_notify, the peerClosed path ends the socket after our answer.
      conn.whenIdle(() => {
        if (!session.peerClosed) endSocket();
      });
    });
    socket.on('error', (e) => {
      session.socketError = e;
    });
    socket.on('close', () => {
      sockets.delete(socket);
      // Input already received may still be in the engine (asynchronous providers, slower still on a
      // loaded machine): report the session done once the engine processed all of it, and, when that
      // ended it (state closed or failed), once its closed()/failed() event came (after our last record
      // was sealed). 15 s bounds an engine that never gets there.
      const started = Date.now();
      const report = () => {
        session.socketClosed = true;
        resolveDone();
        notify();
      };
      const settle = () => {
        const terminal = session.closedCleanly || session.failure !== undefined;
        if (terminal || Date.now() - started > 15_000) return report();
        conn.whenIdle(() => {
          if (conn.state === 'closed' || conn.state === 'failed') setTimeout(settle, 5);
          else report();
        });
      };
      settle();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  const waitUntil = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), timeoutMs);
      const tryIt = () => {
        const v = check();
        if (v !== undefined) {
          clearTimeout(timer);
          resolve(v);
        } else {
          waiters.push(tryIt);
        }
      };
      tryIt();
    });

  return {
    port,
    config,
    sessions,
    failures,
    sessionDone(n, timeoutMs = 5000) {
      return waitUntil(() => {
        const s = sessions[n - 1];
        return s?.socketClosed ? s : undefined;
      }, timeoutMs, `session ${n} to close`);
    },
    allDone(n, timeoutMs = 10000) {
      return waitUntil(() => (sessions.length >= n && sessions.every((s) => s.socketClosed) ? sessions : undefined), timeoutMs, `${n} sessions to close`);
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };
}
