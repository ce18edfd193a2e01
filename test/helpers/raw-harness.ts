/**
 * The raw-connection harness of the engine's hostile-input tests
 * (test/engine/negative.test.ts, test/engine/conformance.test.ts): hand-made
 * records on raw TCP against an engine server, the exact alert the server
 * must answer with, the session record the server kept, and a normal
 * node:tls session afterwards to show the server still serves.
 *
 * `server()` names the server a call uses by default: the test files swap
 * servers per provider, so it is read at each call.
 */

import tls from 'node:tls';
import * as assert from 'uvu/assert';
import type { EngineServer, Session } from './engine-server.js';
import { baseHello, fatalAlertRecord } from './hello.js';
import { RawConn, Tls13Client } from './tls13-client.js';

export interface RawHarnessOptions {
  /** The CA that signed the servers' certificate (for the node:tls check). */
  caPem: string;
  /** The default server of every call. */
  server: () => EngineServer;
  /** How long the server may take to record a session's end (ms). */
  sessionTimeoutMs?: number;
}

export interface PlainAlertOptions {
  server?: EngineServer;
  /** Half-close the connection after sending (the server sees EOF mid-message). */
  endWrite?: boolean;
}

export type RawHarness = ReturnType<typeof rawHarness>;

export function rawHarness(opts: RawHarnessOptions) {
  /** Every connection still open: `closeAll()` destroys them (test.after). */
  const open = new Set<{ destroy(): void }>();
  const sessionTimeoutMs = opts.sessionTimeoutMs ?? 5000;

  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').replace(/(..)/g, '$1 ').trim();

  /** The server still completes a normal session (node:tls client) after whatever came before. */
  async function stillServes(server: EngineServer = opts.server()): Promise<void> {
    const s = tls.connect({ host: '127.0.0.1', port: server.port, minVersion: 'TLSv1.3', ca: opts.caPem, servername: 'localhost' });
    open.add(s);
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('good session timed out')), 5000);
        s.once('secureConnect', () => s.write('still-alive'));
        s.on('data', (d: Buffer) => {
          clearTimeout(timer);
          resolve(d.toString());
        });
        s.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
      assert.is(got, 'still-alive');
    } finally {
      s.destroy();
      open.delete(s);
    }
  }

  /** A raw TCP connection and the number its session will have on the server. */
  async function raw(server: EngineServer = opts.server()): Promise<{ c: RawConn; n: number }> {
    const n = server.sessions.length + 1;
    const c = await RawConn.open(server.port);
    open.add(c);
    return { c, n };
  }

  /** Session `n` as the server recorded it at its end; `receive()` never threw. */
  async function session(n: number, server: EngineServer = opts.server()): Promise<Session> {
    const s = await server.sessionDone(n, sessionTimeoutMs);
    assert.is(s.thrown, undefined, `receive() threw: ${String(s.thrown)}`);
    return s;
  }

  /**
   * Send `chunks` on a fresh connection; the server must answer with exactly
   * the plaintext fatal alert `desc` (15 03 03 00 02 02 desc) and close, and
   * then still serve a normal session.
   */
  async function expectPlainAlert(chunks: Uint8Array[], desc: number, o: PlainAlertOptions = {}): Promise<Session> {
    const server = o.server ?? opts.server();
    const { c, n } = await raw(server);
    let s: Session;
    try {
      c.send(...chunks);
      if (o.endWrite) c.endWrite();
      const { data, eof } = await c.readToEnd(5000);
      assert.is(hex(data), hex(fatalAlertRecord(desc)), 'server reply');
      assert.ok(eof, 'server closes the connection after the alert');
      s = await session(n, server);
      assert.is(s.failure?.direction, 'sent');
      assert.is(s.failure?.alert, desc, s.failure?.reason);
    } finally {
      c.destroy();
      open.delete(c);
    }
    await stillServes(server);
    return s;
  }

  /** Handshake done up to the server flight: the client writes under its handshake key. */
  async function handshaken(server: EngineServer = opts.server()): Promise<{ c: Tls13Client; n: number }> {
    const { spec, keys } = baseHello();
    const n = server.sessions.length + 1;
    const c = await Tls13Client.connect(server.port);
    open.add(c.raw);
    await c.handshake(spec, keys);
    return { c, n };
  }

  /** Handshake complete, data flowing: the client writes under its application key. */
  async function connected(server: EngineServer = opts.server()): Promise<{ c: Tls13Client; n: number }> {
    const r = await handshaken(server);
    r.c.finish({ ccs: true });
    r.c.sendData('up');
    assert.is(Buffer.from(await r.c.readData(2)).toString(), 'up');
    return r;
  }

  /** The server must send the encrypted fatal alert `desc` and close; then it still serves. */
  async function expectEncryptedAlert(c: Tls13Client, n: number, desc: number, server: EngineServer = opts.server()): Promise<void> {
    const a = await c.alert(3000);
    assert.ok(a, 'an alert before EOF');
    assert.equal({ level: a!.level, description: a!.description }, { level: 2, description: desc });
    assert.ok(a!.closed, 'connection closed after the alert');
    const s = await session(n, server);
    assert.is(s.failure?.alert, desc, s.failure?.reason);
    assert.is(s.failure?.direction, 'sent');
    c.close();
    await stillServes(server);
  }

  function closeAll(): void {
    for (const c of open) c.destroy();
    open.clear();
  }

  return { open, hex, stillServes, raw, session, expectPlainAlert, handshaken, connected, expectEncryptedAlert, closeAll };
}
