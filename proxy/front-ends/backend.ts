/**
 * The plaintext backend a service relays to (tlsproxy_backend):
 *
 *   inet:HOST:PORT    inet:[ADDR]:PORT    unix:PATH
 *
 * (`HOST:PORT` without a prefix is inet, a value starting with `/` is unix.)
 */

import net from 'node:net';
import { ConfigError } from '../config/errors.js';
import { anchorConnectRequest } from '../base/shape-anchors.js';

export type BackendAddress =
  | { readonly kind: 'inet'; readonly host: string; readonly port: number; readonly text: string }
  | { readonly kind: 'unix'; readonly path: string; readonly text: string };

export function parseBackend(value: string, parameter = 'tlsproxy_backend'): BackendAddress {
  const text = value.trim();
  const bad = (why: string): never => {
    throw new ConfigError(`invalid ${parameter} value "${text}": ${why} (expected inet:HOST:PORT or unix:PATH)`);
  };
  if (!text) return bad('empty');
  if (text.startsWith('unix:') || text.startsWith('/')) {
    const path = text.startsWith('unix:') ? text.slice(5) : text;
    if (!path) bad('missing path');
    return { kind: 'unix', path, text };
  }
  const rest = text.startsWith('inet:') ? text.slice(5) : text;
  let host: string;
  let port: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return bad('missing "]:port"');
    host = rest.slice(1, close);
    port = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) return bad('missing port');
    host = rest.slice(0, colon);
    port = rest.slice(colon + 1);
  }
  if (!host) bad('missing host');
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) bad(`bad port "${port}"`);
  return { kind: 'inet', host, port: Number(port), text };
}

/**
 * Connect to the backend; resolves with a connected socket (half-open
 * allowed, Nagle off) or rejects with the system error (ETIMEDOUT after
 * `timeoutMs`).
 */
export function connectBackend(backend: BackendAddress, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      backend.kind === 'inet'
        ? net.connect({ host: backend.host, port: backend.port, allowHalfOpen: true, noDelay: true })
        : net.connect({ path: backend.path, allowHalfOpen: true });
    const timer = setTimeout(() => {
      const e: NodeJS.ErrnoException = new Error('connect timed out');
      e.code = 'ETIMEDOUT';
      socket.destroy();
      reject(e);
    }, timeoutMs);
    socket.once('connect', () => {
      anchorConnectRequest(); // base/shape-anchors.ts
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    socket.once('error', onError);
  });
}
