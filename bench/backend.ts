/**
 * The plaintext backend both proxies relay to, on 127.0.0.1. Its mode,
 * set by the bench before each run, applies to the connections accepted
 * after it:
 *
 *   sink { bytes }   count what arrives; event `sink-done` { cid, bytes, ms }
 *                    once `bytes` arrived (ms = first byte to last byte)
 *   source           wait; the `source` command { cid, bytes, chunk } then
 *                    writes that many bytes (backpressure respected)
 *   echo             write back whatever arrives (ping-pong latency)
 *   greet            send a one-line greeting at once, close when the
 *                    client's side ends (an SMTP-like session: the
 *                    handshake benchmark waits for this line)
 *
 * Events: `accepted` { cid } (sink and source modes), `closed` { cid }.
 */

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { emit, serve } from './ipc.js';

type Mode = { kind: 'sink'; bytes: number } | { kind: 'source' } | { kind: 'greet' } | { kind: 'echo' };

const GREETING = Buffer.from('220 bench backend ready\r\n');

let mode: Mode = { kind: 'greet' };
let nextCid = 1;
const conns = new Map<number, net.Socket>();

const server = net.createServer({ noDelay: true }, (socket) => {
  const cid = nextCid++;
  const m = mode;
  socket.on('error', () => {});
  if (m.kind === 'greet') {
    // allowHalfOpen is off: the client's EOF ends our side too.
    socket.write(GREETING);
    socket.resume();
    return;
  }
  if (m.kind === 'echo') {
    // Ping-pong: every byte straight back (the client also connects here directly, for the plaintext baseline).
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    return;
  }
  conns.set(cid, socket);
  socket.on('close', () => {
    conns.delete(cid);
    emit('closed', { cid });
  });
  if (m.kind === 'sink') {
    let received = 0;
    let first = 0n;
    let reported = false;
    socket.on('data', (chunk: Buffer) => {
      const now = process.hrtime.bigint();
      if (received === 0) first = now;
      received += chunk.length;
      if (!reported && received >= m.bytes) {
        reported = true;
        emit('sink-done', { cid, bytes: received, ms: Number(now - first) / 1e6 });
      }
    });
  } else {
    socket.resume();
  }
  emit('accepted', { cid });
});

const chunks = new Map<number, Buffer>();
function payload(size: number): Buffer {
  let b = chunks.get(size);
  if (!b) chunks.set(size, (b = randomBytes(size)));
  return b;
}

serve({
  listen: () =>
    new Promise<number>((resolve) => {
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve((server.address() as net.AddressInfo).port));
    }),
  mode: (args: Mode) => {
    mode = args;
    return true;
  },
  source: (args: { cid: number; bytes: number; chunk: number }) =>
    new Promise<number>((resolve, reject) => {
      const socket = conns.get(args.cid);
      if (!socket) throw new Error(`no connection ${args.cid}`);
      const buf = payload(args.chunk);
      let sent = 0;
      const onClose = () => reject(new Error(`connection ${args.cid} closed after ${sent} bytes`));
      socket.once('close', onClose);
      const pump = (): void => {
        while (sent < args.bytes) {
          const n = Math.min(buf.length, args.bytes - sent);
          sent += n;
          if (!socket.write(n === buf.length ? buf : buf.subarray(0, n))) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.removeListener('close', onClose);
        resolve(sent);
      };
      pump();
    }),
  /** Connections of the sink/source modes still open. */
  open: () => conns.size,
});
