/**
 * The floor: a plain TCP relay in Node, no TLS at all. It accepts a client,
 * connects to its target, relays both ways with pipe() and closes, which is
 * the part of a proxy's work per connection that has nothing to do with
 * TLS (accept, backend connect, socket set-up, a few writes, teardown).
 * Placed in front of the node:tls proxy, the client's handshakes pass
 * through it untouched; its CPU per session is what any proxy built on
 * node:net pays before doing any TLS (bench/README.md, "The floor").
 *
 *   node [--import bench/probe.ts] bench/tcp-relay.ts TARGET_PORT [TARGET_PORT2]
 *
 * Listens on 127.0.0.1 (one port per target) and reports them to the
 * parent as the IPC event `listening` { port, sessionIdPort }.
 */

import net from 'node:net';
import { emit } from './ipc.js';
import { pipeToBackend } from './pipe-pair.js';

const targets = process.argv.slice(2).map(Number);
if (!targets.length || targets.some((p) => !Number.isInteger(p) || p <= 0)) {
  process.stderr.write('usage: tcp-relay.ts TARGET_PORT [TARGET_PORT2]\n');
  process.exit(2);
}

function relay(target: number): net.Server {
  return net.createServer({ allowHalfOpen: true }, (client) => pipeToBackend(client, target));
}

const servers = targets.map(relay);
let listening = 0;
for (const s of servers) {
  s.listen({ host: '127.0.0.1', port: 0 }, () => {
    if (++listening < servers.length) return;
    const ports = servers.map((x) => (x.address() as net.AddressInfo).port);
    emit('listening', { port: ports[0], sessionIdPort: ports[1] ?? ports[0] });
  });
}
