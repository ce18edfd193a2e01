/**
 * The baseline: a TLS-terminating proxy on node:tls doing tlsproxy's job
 * (accept TLS, connect to the plaintext backend once the handshake is
 * done, relay both ways with backpressure, half-close on EOF). No logging.
 *
 *   node --import tsx --import bench/probe.ts bench/node-proxy.ts CERT KEY BACKEND_PORT [RSA_CERT RSA_KEY]
 *
 * With the RSA pair the server has both certificates (OpenSSL picks by the
 * client's signature algorithms); a second server on another port has
 * tickets off and a session-ID cache, for TLS 1.2 session-ID resumption.
 *
 * Listens on 127.0.0.1, an ephemeral port, and reports it to the parent
 * as the IPC event `listening` { port }.
 */

import { constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { emit } from './ipc.js';
import { pipeToBackend } from './pipe-pair.js';

const [certFile, keyFile, backendPortText, rsaCertFile, rsaKeyFile] = process.argv.slice(2);
if (!certFile || !keyFile || !backendPortText) {
  process.stderr.write('usage: node-proxy.ts CERT KEY BACKEND_PORT [RSA_CERT RSA_KEY]\n');
  process.exit(2);
}
const backendPort = Number(backendPortText);

const certs = rsaCertFile && rsaKeyFile ? { cert: [readFileSync(certFile), readFileSync(rsaCertFile)], key: [readFileSync(keyFile), readFileSync(rsaKeyFile)] } : { cert: readFileSync(certFile), key: readFileSync(keyFile) };

function relay(client: tls.TLSSocket): void {
  pipeToBackend(client, backendPort);
}

// The main server: tickets (TLS 1.3 and 1.2) as node:tls does by default.
const server = tls.createServer({ ...certs, minVersion: 'TLSv1.2', allowHalfOpen: true }, (client) => relay(client));
server.on('tlsClientError', () => {});

// A second server without tickets, for TLS 1.2 session-ID resumption: node:tls has no server
// session cache of its own, the application keeps one (newSession / resumeSession).
const sessionIds = tls.createServer({ ...certs, minVersion: 'TLSv1.2', allowHalfOpen: true, secureOptions: constants.SSL_OP_NO_TICKET }, (client) => relay(client));
sessionIds.on('tlsClientError', () => {});
const cache = new Map<string, Buffer>();
sessionIds.on('newSession', (id: Buffer, data: Buffer, cb: () => void) => {
  if (cache.size >= 10000) cache.delete(cache.keys().next().value!);
  cache.set(id.toString('hex'), data);
  cb();
});
sessionIds.on('resumeSession', (id: Buffer, cb: (err: Error | null, data: Buffer | null) => void) => cb(null, cache.get(id.toString('hex')) ?? null));

server.listen({ host: '127.0.0.1', port: 0 }, () => {
  sessionIds.listen({ host: '127.0.0.1', port: 0 }, () => {
    emit('listening', { port: (server.address() as net.AddressInfo).port, sessionIdPort: (sessionIds.address() as net.AddressInfo).port });
  });
});
