/**
 * ServerConnection.whenBacklogBelow() and `sealing` (issue 9, the webcrypto
 * provider's pipeline): an owner that paused reading while an asynchronous
 * provider fell behind is told as soon as the queued records were handed to
 * the provider, not when they are all opened, so that the next reads arrive
 * while the provider still works; and it can see how many records are still
 * being sealed.
 */

import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ServerConnection } from '../../engine/connection.js';
import type { ConnectionError } from '../../engine/events.js';
import { engineConfig } from '../helpers/engine-server.js';
import { baseHello, cat } from '../helpers/hello.js';
import { Tls13Client } from '../helpers/tls13-client.js';

const RECORD = 16384;
const RECORDS = 20;

test('whenBacklogBelow: at once when the backlog is already that small; on a failure, since nothing more will be taken', async () => {
  const config = await engineConfig({ provider: 'webcrypto', certs: ['p256'] });
  let failure: ConnectionError | undefined;
  const conn = new ServerConnection(config, { write: () => undefined, handshake: () => undefined, data: () => undefined, peerClosed: () => undefined, failed: (e) => (failure = e) });
  let calls = 0;
  conn.whenBacklogBelow(0, () => calls++);
  assert.is(calls, 1, 'nothing received: at once');
  // Three bytes of a record header wait for the rest.
  conn.receive(Uint8Array.of(99, 3, 1));
  assert.is(conn.backlog, 3);
  conn.whenBacklogBelow(2, () => calls++);
  assert.is(calls, 1, 'not while 3 bytes wait');
  // The header completes as a record of type 99: unexpected_message, and the waiter is called.
  conn.receive(Uint8Array.of(0, 1, 0));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(failure?.alert, 10);
  assert.is(calls, 2, 'called on the failure');
});

test(`whenBacklogBelow(0) with the webcrypto provider: called once the ${RECORDS} records received in one read were all handed to it, before the last of them are opened; sealing counts records not yet written`, async () => {
  const config = await engineConfig({ provider: 'webcrypto', certs: ['p256'] });
  let established = false;
  let conn!: ServerConnection;
  let received = 0;
  let receivedWhenCalled = -1;
  let sealingAfterWrite = -1;
  let written = 0;
  let failure: ConnectionError | undefined;
  let allIn!: () => void;
  const done = new Promise<void>((r) => (allIn = r));
  const server = net.createServer((socket) => {
    conn = new ServerConnection(config, {
      write: (b) => {
        if (established) written++;
        socket.write(b.slice());
      },
      handshake: () => {
        established = true;
      },
      peerClosed: () => undefined,
      data: (p) => {
        received += p.length;
        if (received === RECORDS * RECORD) allIn();
      },
      failed: (e) => {
        failure = e;
        allIn();
      },
    });
    const held: Buffer[] = [];
    let heldBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      if (!established) return conn.receive(chunk);
      // The records after the handshake, given to the engine in one receive() once all are here.
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes < RECORDS * (RECORD + 22)) return;
      conn.receive(Buffer.concat(held));
      assert.ok(conn.backlog > 0, 'more records than the engine takes at once');
      conn.whenBacklogBelow(0, () => (receivedWhenCalled = received));
      // Sealed by the provider: not written yet.
      conn.write(new Uint8Array(3 * RECORD));
      sealingAfterWrite = conn.sealing;
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const c = await Tls13Client.connect(port);
  try {
    const { spec, keys } = baseHello();
    await c.handshake(spec, keys);
    c.finish();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(established);
    const payload = new Uint8Array(RECORD).fill(0x61);
    c.raw.send(cat(...Array.from({ length: RECORDS }, () => c.seal(23, payload))));
    await done;
    assert.is(failure, undefined, JSON.stringify(failure));
    assert.is(received, RECORDS * RECORD);
    assert.ok(receivedWhenCalled >= 0, 'the waiter was called');
    assert.ok(receivedWhenCalled < RECORDS * RECORD, `called before every record was opened (${receivedWhenCalled} bytes delivered then)`);
    assert.is(sealingAfterWrite, 3, 'three records being sealed');
    await new Promise((r) => setTimeout(r, 50));
    assert.is(conn.sealing, 0);
    assert.ok(written >= 1);
  } finally {
    c.close();
    server.close();
  }
});

test.run();
