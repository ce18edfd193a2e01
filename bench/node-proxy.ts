/**
 * The baseline: a TLS-terminating proxy on node:tls doing tlsproxy's job
 * (accept TLS, connect to the plaintext backend once the handshake is
 * done, relay both ways with backpressure, half-close on EOF). No logging.
 *
 *   node --import tsx --import bench/probe.ts bench/node-proxy.ts CERT KEY BACKEND_PORT
 *
 * Listens on 127.0.0.1, an ephemeral port, and reports it to the parent
 * as the IPC event `listening` { port }.
 */

import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { emit } from './ipc.js';

const [certFile, keyFile, backendPortText] = process.argv.slice(2);
if (!certFile || !keyFile || !backendPortText) {
  process.stderr.write('usage: node-proxy.ts CERT KEY BACKEND_PORT\n');
  process.exit(2);
}
const backendPort = Number(backendPortText);

const server = tls.createServer(
  {
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    minVersion: 'TLSv1.2',
    allowHalfOpen: true,
  },
  (client) => {
    client.setNoDelay(true);
    const backend = net.connect({ host: '127.0.0.1', port: backendPort, allowHalfOpen: true, noDelay: true });
    const done = () => {
      client.destroy();
      backend.destroy();
    };
    client.on('error', done);
    backend.on('error', done);
    client.on('close', () => backend.destroySoon());
    backend.on('close', () => {
      if (!client.destroyed) client.end();
    });
    client.pipe(backend);
    backend.pipe(client);
  },
);
server.on('tlsClientError', () => {});
server.listen({ host: '127.0.0.1', port: 0 }, () => {
  const a = server.address() as net.AddressInfo;
  emit('listening', { port: a.port });
});
