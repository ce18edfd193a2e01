/**
 * The TLS client side (node:tls), in its own process so that its CPU never
 * counts as the proxy's.
 *
 *   init { ca }                                   trust anchor for every connection
 *   connect { port, profile }                     → { sid, protocol, cipher, group }
 *   upload { sid, bytes, chunk }                  write `bytes` in `chunk`-sized writes (backpressure respected)
 *   download { sid, bytes }                       wait until `bytes` arrived → { ms } (first to last byte)
 *   close { sid }                                 end (close_notify + FIN) and wait for the close
 *   handshakes { port, profile, concurrency, durationMs }
 *                                                 connect, handshake, wait for the backend's greeting,
 *                                                 end; `concurrency` loops for `durationMs`
 *                                                 → { count, ms, errors, cpuUs }
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { serve } from './ipc.js';

/** TLS client settings by name, so both proxies see the very same ClientHello. */
export const PROFILES = {
  'tls13-aes128': {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: 'TLS_AES_128_GCM_SHA256',
    ecdhCurve: 'X25519',
  },
  'tls13-chacha20': {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: 'TLS_CHACHA20_POLY1305_SHA256',
    ecdhCurve: 'X25519',
  },
  'tls12-ecdhe-ecdsa-aes128': {
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    // TLS 1.2 ECDSA also needs the certificate's curve among supported_groups (RFC 8422 §5.1.1).
    ecdhCurve: 'X25519:P-256',
  },
  /** Only X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem): needs OpenSSL 3.5, the Node 24 client (.cache/node24). */
  'tls13-x25519mlkem768': {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: 'TLS_AES_128_GCM_SHA256',
    ecdhCurve: 'X25519MLKEM768',
  },
} satisfies Record<string, tls.ConnectionOptions>;

export type ProfileName = keyof typeof PROFILES;

interface Conn {
  socket: tls.TLSSocket;
  received: number;
  first: bigint;
  last: bigint;
  onData?: () => void;
}

let ca: Buffer | undefined;
let nextSid = 1;
const conns = new Map<number, Conn>();
const payloads = new Map<number, Buffer>();

function options(port: number, profile: ProfileName): tls.ConnectionOptions {
  if (!ca) throw new Error('init first');
  return { host: '127.0.0.1', port, servername: 'localhost', ca, ...PROFILES[profile] };
}

function connect(args: { port: number; profile: ProfileName }) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(options(args.port, args.profile));
    socket.setNoDelay(true);
    const c: Conn = { socket, received: 0, first: 0n, last: 0n };
    socket.on('data', (chunk: Buffer) => {
      const now = process.hrtime.bigint();
      if (c.received === 0) c.first = now;
      c.last = now;
      c.received += chunk.length;
      c.onData?.();
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      const sid = nextSid++;
      conns.set(sid, c);
      const key = socket.getEphemeralKeyInfo();
      resolve({
        sid,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().standardName,
        group: key && 'name' in key ? key.name : undefined,
      });
    });
  });
}

function conn(sid: number): Conn {
  const c = conns.get(sid);
  if (!c) throw new Error(`no connection ${sid}`);
  return c;
}

function upload(args: { sid: number; bytes: number; chunk: number }) {
  const { socket } = conn(args.sid);
  let buf = payloads.get(args.chunk);
  if (!buf) payloads.set(args.chunk, (buf = randomBytes(args.chunk)));
  const chunk = buf;
  return new Promise<number>((resolve, reject) => {
    let sent = 0;
    const onClose = () => reject(new Error(`connection closed after ${sent} bytes`));
    socket.once('close', onClose);
    const pump = (): void => {
      while (sent < args.bytes) {
        const n = Math.min(chunk.length, args.bytes - sent);
        sent += n;
        if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.removeListener('close', onClose);
      resolve(sent);
    };
    pump();
  });
}

function download(args: { sid: number; bytes: number }) {
  const c = conn(args.sid);
  return new Promise<{ ms: number; bytes: number }>((resolve, reject) => {
    const check = () => {
      if (c.received >= args.bytes) {
        c.onData = undefined;
        c.socket.removeListener('close', onClose);
        resolve({ ms: Number(c.last - c.first) / 1e6, bytes: c.received });
      }
    };
    const onClose = () => reject(new Error(`connection closed after ${c.received} bytes`));
    c.socket.once('close', onClose);
    c.onData = check;
    check();
  });
}

function close(args: { sid: number }) {
  const c = conn(args.sid);
  conns.delete(args.sid);
  return new Promise<boolean>((resolve) => {
    if (c.socket.destroyed) return resolve(true);
    const timer = setTimeout(() => {
      c.socket.destroy();
      resolve(false);
    }, 5000);
    c.socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    c.socket.end();
  });
}

/** One full session: connect, handshake, the backend's greeting, end. Resolves at the greeting. */
function session(opts: tls.ConnectionOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(opts);
    socket.setNoDelay(true);
    let settled = false;
    socket.once('data', () => {
      settled = true;
      socket.on('error', () => {});
      socket.end();
      resolve();
    });
    socket.on('error', (e) => {
      if (!settled) {
        settled = true;
        socket.destroy();
        reject(e);
      }
    });
    socket.once('close', () => {
      if (!settled) {
        settled = true;
        reject(new Error('closed before the greeting'));
      }
    });
  });
}

async function handshakes(args: { port: number; profile: ProfileName; concurrency: number; durationMs: number }) {
  const opts = options(args.port, args.profile);
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const deadline = start + BigInt(Math.round(args.durationMs * 1e6));
  let count = 0;
  let errors = 0;
  let lastError = '';
  let end = start;
  const loop = async () => {
    while (process.hrtime.bigint() < deadline) {
      try {
        await session(opts);
        count++;
        end = process.hrtime.bigint();
      } catch (e) {
        errors++;
        lastError = (e as Error).message;
        if (errors > 20) throw new Error(`too many failed sessions, the last: ${lastError}`);
      }
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, loop));
  const cpu = process.cpuUsage(cpu0);
  return { count, ms: Number(end - start) / 1e6, errors, lastError, cpuUs: cpu.user + cpu.system };
}

serve({
  init: (args: { ca: string }) => {
    ca = readFileSync(args.ca);
    return true;
  },
  connect,
  upload,
  download,
  close,
  handshakes,
});
