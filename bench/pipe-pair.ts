/**
 * The relay both baselines share (node-proxy.ts, tcp-relay.ts): connect to
 * 127.0.0.1:port for an accepted client and pipe() both ways; either side's
 * error ends both, the client's close lets the backend flush and close, the
 * backend's close ends the client.
 */

import net from 'node:net';

export function pipeToBackend(client: net.Socket, port: number): void {
  client.setNoDelay(true);
  const backend = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
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
}
