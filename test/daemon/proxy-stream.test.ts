import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import tls from 'node:tls';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { TlsServerStream, TlsStreamError, type TlsServerStreamOptions } from '../../proxy/tls/stream.js';
import { loadTlsSettings } from '../../proxy/tls/settings.js';
import type { ServerConfig } from '../../engine/config.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import type { HandshakeInfo } from '../../engine/events.js';
import { delay, testPki } from '../helpers/proxy.js';

let config: ServerConfig | undefined;

async function serverConfig(): Promise<ServerConfig> {
  if (config) return config;
  const pki = await testPki();
  const params = ParameterSet.defaults().withOverrides(
    [
      { name: 'tlsproxy_tls_eccert_file', value: pki.file('server-ecdsa-p256.pem') },
      { name: 'tlsproxy_tls_eckey_file', value: pki.file('server-ecdsa-p256-key.pem') },
    ],
    'test',
  );
  config = (await loadTlsSettings(params, createNodeCryptoProvider())).config;
  return config;
}

/** A server whose connections become TlsServerStreams handed to `onStream`. */
async function withServer(
  onStream: (s: TlsServerStream) => void,
  body: (port: number) => Promise<void>,
  options: TlsServerStreamOptions = {},
  configured?: ServerConfig,
): Promise<void> {
  const cfg = configured ?? (await serverConfig());
  const streams: TlsServerStream[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const s = new TlsServerStream(socket, cfg, options);
    streams.push(s);
    onStream(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    await body((server.address() as net.AddressInfo).port);
  } finally {
    for (const s of streams) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

async function client(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const pki = await testPki();
  const c = tls.connect({ host: '127.0.0.1', port, ca: pki.caPem, servername: 'localhost', ...options });
  await new Promise<void>((resolve, reject) => {
    c.once('secureConnect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

const collect = (s: NodeJS.ReadableStream) => {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer | string) => chunks.push(Buffer.from(d)));
  return () => Buffer.concat(chunks).toString();
};

test('writes before the handshake are sent after it; secure event; end() sends close_notify, reading continues (half-close)', async () => {
  let info: HandshakeInfo | undefined;
  let serverGot: () => string = () => '';
  const serverEnded = new Promise<void>((resolve) =>
    withServer(
      (s) => {
        s.write('early ');
        s.end('and bye');
        s.once('secure', (i: HandshakeInfo) => (info = i));
        serverGot = collect(s);
        s.once('end', () => resolve());
      },
      async (port) => {
        const c = await client(port, { allowHalfOpen: true } as never);
        const got = collect(c);
        await new Promise((r) => c.once('end', r));
        assert.is(got(), 'early and bye');
        // Our side was closed by the server; we may still send.
        c.end('late data');
        await new Promise((r) => c.once('close', r));
        await delay(20);
      },
    ),
  );
  await serverEnded;
  assert.is(serverGot(), 'late data');
  assert.is(info?.protocol, 'TLSv1.3');
});

test('the server flight (ServerHello to Finished) leaves in one socket write, not one per engine write', async () => {
  const writes: number[] = [];
  let secured = 0;
  let serverSecure!: () => void;
  const secure = new Promise<void>((r) => (serverSecure = r));
  await withServer(
    (s) => {
      const sock = s.socket as unknown as { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
      const w = sock._write.bind(sock);
      const wv = sock._writev.bind(sock);
      sock._write = (...a: unknown[]) => (secured === 0 && writes.push(1), w(...a));
      sock._writev = (chunks: unknown, ...a: unknown[]) => (secured === 0 && writes.push((chunks as unknown[]).length), wv(chunks, ...a));
      s.once('secure', () => {
        secured = writes.length;
        serverSecure();
      });
    },
    async (port) => {
      const c = await client(port, { minVersion: 'TLSv1.3' });
      await secure;
      c.destroy();
    },
  );
  // The engine's writes of the flight (three for TLS 1.3 here) went through one writev; the
  // NewSessionTicket, sent once the client's Finished arrived, is the only other write.
  assert.ok(writes[0]! >= 2, `engine writes in the first socket write: ${JSON.stringify(writes)}`);
  assert.ok(secured <= 2, `socket writes before the handshake completed: ${JSON.stringify(writes)}`);
});

/**
 * The node provider with every AEAD call answered by a promise, all those of
 * one turn of the event loop resolved together (as libuv's thread pool hands
 * back the jobs done since the last turn): the webcrypto provider's shape,
 * made deterministic.
 */
function batchedAsync(base: CryptoProvider): CryptoProvider {
  let queue: (() => void)[] = [];
  const later = <T>(value: T): Promise<T> =>
    new Promise((resolve) => {
      if (queue.length === 0) {
        setImmediate(() => {
          const q = queue;
          queue = [];
          for (const r of q) r();
        });
      }
      queue.push(() => resolve(value));
    });
  return {
    ...base,
    name: 'batched-async',
    async aeadKey(algorithm, raw) {
      const k = await base.aeadKey(algorithm, raw);
      return {
        algorithm,
        seal: async (nonce, aad, plaintext) => later(await k.seal(nonce, aad, plaintext)),
        open: async (nonce, aad, data) => later(await k.open(nonce, aad, data)),
      };
    },
  };
}

test('an asynchronous provider: the records it completes in one turn of the event loop leave in one socket write', async () => {
  const cfg = { ...(await serverConfig()), provider: batchedAsync(createNodeCryptoProvider()) };
  const RECORDS = 16;
  const data = Buffer.alloc(RECORDS * 16384, 7);
  const writes: number[] = [];
  let counting = false;
  await withServer(
    (s) => {
      const sock = s.socket as unknown as { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
      const w = sock._write.bind(sock);
      const wv = sock._writev.bind(sock);
      sock._write = (...a: unknown[]) => (counting && writes.push(1), w(...a));
      sock._writev = (chunks: unknown, ...a: unknown[]) => (counting && writes.push((chunks as unknown[]).length), wv(chunks, ...a));
      s.once('secure', () => {
        counting = true;
        s.write(data);
      });
    },
    async (port) => {
      const c = await client(port, { minVersion: 'TLSv1.3' });
      let got = 0;
      await new Promise<void>((resolve) =>
        c.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= data.length) resolve();
        }),
      );
      assert.is(got, data.length);
      c.destroy();
    },
    {},
    cfg,
  );
  // One record per 16 KiB; without the coalescing each would be its own write (and syscall).
  assert.is(writes.reduce((a, b) => a + b, 0), RECORDS, `socket writes (records in each): ${JSON.stringify(writes)}`);
  assert.ok(writes.length <= 2, `socket writes (records in each): ${JSON.stringify(writes)}`);
});

test('a TLS failure after data: the data is delivered, then end, then error', async () => {
  const events: string[] = [];
  let error: TlsStreamError | undefined;
  await withServer(
    (s) => {
      s.on('data', (d: Buffer) => events.push(`data:${d}`));
      s.on('end', () => events.push('end'));
      s.on('error', (e: TlsStreamError) => {
        error = e;
        events.push('error');
      });
      s.on('close', () => events.push('close'));
    },
    async (port) => {
      const raw = net.connect(port, '127.0.0.1');
      const c = tls.connect({ socket: raw, ca: (await testPki()).caPem, servername: 'localhost' });
      await new Promise((r) => c.once('secureConnect', r));
      c.write('hello');
      while (!events.length) await delay(5);
      // A forged application_data record: fails authentication.
      raw.write(Buffer.from([23, 3, 3, 0, 20, ...new Array(20).fill(7)]));
      c.on('error', () => undefined);
      while (!events.includes('close')) await delay(5);
      c.destroy();
    },
  );
  assert.equal(events, ['data:hello', 'end', 'error', 'close']);
  assert.is(error?.kind, 'tls');
  assert.is(error?.duringHandshake, false);
  assert.is(error?.tls?.alertName, 'bad_record_mac');
});

test('readable backpressure pauses the socket; nothing is lost', async () => {
  const total = 4 * 1024 * 1024;
  let stream: TlsServerStream | undefined;
  await withServer(
    (s) => {
      stream = s;
      s.pause();
    },
    async (port) => {
      const c = await client(port);
      const data = Buffer.alloc(total, 0x61);
      c.write(data);
      await delay(300);
      // The server did not read: the socket is paused and little was consumed.
      assert.ok(stream!.socket.isPaused(), 'server socket paused');
      assert.ok(stream!.readableLength < total / 2, `buffered ${stream!.readableLength}`);
      let got = 0;
      const done = new Promise<void>((r) =>
        stream!.on('data', (d: Buffer) => {
          got += d.length;
          if (got === total) r();
        }),
      );
      stream!.resume();
      await done;
      c.destroy();
    },
  );
});

test('EOF without close_notify after the handshake is a normal end; EOF during the handshake is an error', async () => {
  const seen: string[] = [];
  await withServer(
    (s) => {
      s.once('secure', () => seen.push('secure'));
      s.on('data', () => undefined);
      s.on('end', () => seen.push('end'));
      s.on('error', (e: TlsStreamError) => seen.push(`error:${e.kind}:${e.duringHandshake}`));
    },
    async (port) => {
      const raw = net.connect(port, '127.0.0.1');
      const c = tls.connect({ socket: raw, ca: (await testPki()).caPem, servername: 'localhost' });
      await new Promise((r) => c.once('secureConnect', r));
      // The client's Finished must have arrived before the EOF.
      while (!seen.length) await delay(5);
      raw.end();
      while (seen.length < 2) await delay(5);
      c.destroy();
      const half = net.connect(port, '127.0.0.1');
      await new Promise((r) => half.once('connect', r));
      half.end();
      while (seen.length < 3) await delay(5);
    },
  );
  assert.equal(seen, ['secure', 'end', 'error:eof:true']);
});

test('idle timeout after the handshake', async () => {
  let error: TlsStreamError | undefined;
  await withServer(
    (s) => {
      s.on('data', () => undefined);
      s.on('error', (e: TlsStreamError) => (error = e));
    },
    async (port) => {
      const c = await client(port);
      c.on('error', () => undefined);
      await new Promise((r) => c.once('close', r));
    },
    { idleTimeout: 200 },
  );
  assert.is(error?.kind, 'idle-timeout');
});

test.run();
