/**
 * The built-in demo backend of `tlsproxy start` without a configuration: a
 * plaintext line service on a loopback port.
 *
 *   220 tlsproxy demo backend ready: type a line and it is echoed back, QUIT to close
 *   hello           → 250 echo: hello
 *   QUIT            → 221 bye (and the connection closes)
 *
 * Lines end with LF (a CR before it is dropped); a line longer than
 * MAX_LINE is answered with `500 line too long` and discarded. Replies end
 * with CRLF. Output backpressure pauses reading.
 */

import net from 'node:net';
import { formatEndpoint, hostPort } from '../base/endpoint.js';
import type { Logger } from '../log/log.js';

export const DEMO_GREETING = '220 tlsproxy demo backend ready: type a line and it is echoed back, QUIT to close';
export const MAX_LINE = 4096;

export interface DemoBackend {
  readonly host: string;
  readonly port: number;
  /** `inet:127.0.0.1:PORT`, ready for tlsproxy_backend. */
  readonly address: string;
  close(): Promise<void>;
}

export interface DemoBackendOptions {
  host?: string;
  /** 0 (default) = an ephemeral port. */
  port?: number;
  logger?: Logger;
}

export function startDemoBackend(options: DemoBackendOptions = {}): Promise<DemoBackend> {
  const host = options.host ?? '127.0.0.1';
  const log = options.logger;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const peer = formatEndpoint(socket.remoteAddress, socket.remotePort);
    log?.info(`connect from ${peer}`);
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    let buffered = '';
    let discarding = false;
    const reply = (text: string) => {
      if (!socket.write(`${text}\r\n`)) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    };
    reply(DEMO_GREETING);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0 && !socket.writableEnded; nl = buffered.indexOf('\n')) {
        let line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (discarding) {
          discarding = false;
          continue;
        }
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line.trim().toUpperCase() === 'QUIT') {
          socket.end('221 bye\r\n');
          return;
        }
        reply(`250 echo: ${line}`);
      }
      if (buffered.length > MAX_LINE) {
        reply('500 line too long');
        buffered = '';
        discarding = true;
      }
    });
    socket.on('end', () => {
      if (!socket.writableEnded) socket.end();
    });
    socket.on('error', (e) => log?.warning(`${peer}: ${e.message}`));
    socket.on('close', () => {
      sockets.delete(socket);
      log?.info(`disconnect from ${peer}`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: options.port ?? 0 }, () => {
      server.removeListener('error', reject);
      const a = server.address() as net.AddressInfo;
      resolve({
        host: a.address,
        port: a.port,
        address: `inet:${hostPort(a.address, a.port)}`,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
