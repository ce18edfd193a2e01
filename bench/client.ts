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
 *                                                 → { count, reused, ms, errors, cpuUs }; with `resume`, each
 *                                                 session offers the last session the server gave
 *   pingpong { port, profile?, count, size }      round-trip times, TLS via a proxy or plaintext direct
 *   hold { port, profile, n } / release           keep `n` idle sessions open / close them
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
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
  'tls13-aes256': {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: 'TLS_AES_256_GCM_SHA384',
    ecdhCurve: 'X25519',
  },
  /** Full handshakes with the RSA-2048 certificate: the client accepts RSA signatures only. */
  'tls13-rsa': {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: 'TLS_AES_128_GCM_SHA256',
    ecdhCurve: 'X25519',
    sigalgs: 'rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512',
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
  'tls12-ecdhe-ecdsa-aes256': {
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384',
    ecdhCurve: 'X25519:P-256',
  },
  'tls12-ecdhe-ecdsa-chacha20': {
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305',
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
      const peer = socket.getPeerCertificate();
      resolve({
        sid,
        cert: peer && 'modulus' in peer && peer.modulus ? 'RSA' : 'EC',
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

/**
 * One session: connect, handshake, the backend's greeting, end. Resolves at
 * the greeting with whether the session was resumed. With `resume`, the
 * latest session the server gave (NewSessionTicket, or the TLS 1.2 session)
 * is offered; every session replaces it with the one it got.
 */
function session(opts: tls.ConnectionOptions, resume?: { session?: Buffer }): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(resume?.session ? { ...opts, session: resume.session } : opts);
    socket.setNoDelay(true);
    if (resume) socket.on('session', (s: Buffer) => (resume.session = s));
    let settled = false;
    socket.once('data', () => {
      settled = true;
      socket.on('error', () => {});
      const reused = socket.isSessionReused();
      // TLS 1.3: the ticket comes after the handshake; wait for the close so it has arrived.
      if (resume) socket.once('close', () => resolve(reused));
      socket.end();
      if (!resume) resolve(reused);
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

async function handshakes(args: { port: number; profile: ProfileName; concurrency: number; durationMs: number; resume?: boolean }) {
  const opts = options(args.port, args.profile);
  // Resumption: each loop keeps its own latest session, primed by one full handshake outside the timing.
  const slots = Array.from({ length: args.concurrency }, () => (args.resume ? ({} as { session?: Buffer }) : undefined));
  if (args.resume) await Promise.all(slots.map((slot) => session(opts, slot)));
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const deadline = start + BigInt(Math.round(args.durationMs * 1e6));
  let count = 0;
  let reused = 0;
  let errors = 0;
  let lastError = '';
  let end = start;
  const loop = async (slot: { session?: Buffer } | undefined) => {
    while (process.hrtime.bigint() < deadline) {
      try {
        if (await session(opts, slot)) reused++;
        count++;
        end = process.hrtime.bigint();
      } catch (e) {
        errors++;
        lastError = (e as Error).message;
        if (errors > 20) throw new Error(`too many failed sessions, the last: ${lastError}`);
      }
    }
  };
  await Promise.all(slots.map(loop));
  const cpu = process.cpuUsage(cpu0);
  return { count, reused, ms: Number(end - start) / 1e6, errors, lastError, cpuUs: cpu.user + cpu.system };
}

/**
 * Ping-pong: `count` round trips of `size` bytes over one connection, TLS
 * through a proxy (`profile`) or plaintext straight to the echo backend
 * (no profile). → latencies in µs, sorted.
 */
async function pingpong(args: { port: number; profile?: ProfileName; count: number; size: number }) {
  const socket: net.Socket = await new Promise((resolve, reject) => {
    const s = args.profile ? tls.connect(options(args.port, args.profile)) : net.connect({ host: '127.0.0.1', port: args.port });
    s.setNoDelay(true);
    s.once('error', reject);
    s.once(args.profile ? 'secureConnect' : 'connect', () => resolve(s));
  });
  const payload = randomBytes(args.size);
  const times: number[] = [];
  let got = 0;
  let t0 = 0n;
  let done: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    got += chunk.length;
    if (got >= args.size && done) {
      got -= args.size;
      const d = done;
      done = undefined;
      d();
    }
  });
  for (let i = 0; i < args.count + 50; i++) {
    await new Promise<void>((resolve) => {
      done = resolve;
      t0 = process.hrtime.bigint();
      socket.write(payload);
    });
    if (i >= 50) times.push(Number(process.hrtime.bigint() - t0) / 1000); // the first 50 warm up
  }
  socket.destroy();
  return times.sort((a, b) => a - b);
}

/**
 * Added latency, robust against noise: two connections (TLS through the
 * proxy, plaintext straight to the echo backend), round trips alternating
 * between them, so scheduling noise hits both alike. → sorted µs of each.
 */
async function pingpair(args: { proxyPort: number; directPort: number; profile: ProfileName; count: number; size: number }) {
  const open = (tlsPort: number | undefined, port: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = tlsPort !== undefined ? tls.connect(options(tlsPort, args.profile)) : net.connect({ host: '127.0.0.1', port });
      s.setNoDelay(true);
      s.once('error', reject);
      s.once(tlsPort !== undefined ? 'secureConnect' : 'connect', () => resolve(s));
    });
  const proxied = await open(args.proxyPort, args.proxyPort);
  const direct = await open(undefined, args.directPort);
  const payload = randomBytes(args.size);
  const rtt = (socket: net.Socket) =>
    new Promise<number>((resolve) => {
      let got = 0;
      const t0 = process.hrtime.bigint();
      const onData = (chunk: Buffer) => {
        got += chunk.length;
        if (got >= args.size) {
          socket.removeListener('data', onData);
          resolve(Number(process.hrtime.bigint() - t0) / 1000);
        }
      };
      socket.on('data', onData);
      socket.write(payload);
    });
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < args.count + 50; i++) {
    const x = await rtt(proxied);
    const y = await rtt(direct);
    if (i >= 50) (a.push(x), b.push(y));
  }
  proxied.destroy();
  direct.destroy();
  return { proxied: a.sort((m, n) => m - n), direct: b.sort((m, n) => m - n) };
}

/** Idle connections: `n` sessions (handshake done, greeting received) kept open until release. */
const held: tls.TLSSocket[] = [];
async function hold(args: { port: number; profile: ProfileName; n: number }) {
  const opts = options(args.port, args.profile);
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const s = tls.connect(opts);
      s.once('error', reject);
      s.once('data', () => {
        s.removeListener('error', reject);
        s.on('error', () => {});
        held.push(s);
        resolve();
      });
    });
  for (let i = 0; i < args.n; i += 50) await Promise.all(Array.from({ length: Math.min(50, args.n - i) }, one));
  return held.length;
}

async function release() {
  const all = held.splice(0);
  await Promise.all(all.map((s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : (s.once('close', () => resolve()), s.end())))));
  return all.length;
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
  pingpong,
  pingpair,
  hold,
  release,
});
