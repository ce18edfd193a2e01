/**
 * proxy/log/sinks.ts DatagramLog when the receiver (postlogd, syslogd) is behind: Linux queues only
 * net.unix.max_dgram_qlen (10) datagrams, and a full queue is EAGAIN on our non-blocking socket.
 * Postfix's own logger blocks there; we wait up to DATAGRAM_WAIT_MS for room, then drop (counted),
 * and do not wait again while the receiver stays stuck. A fake addon stands for the socket.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NativeAddon } from '../../proxy/base/native.js';
import { DATAGRAM_WAIT_MS, DatagramLog } from '../../proxy/log/sinks.js';

/** A socket whose queue is full for `fullMs` after each `stall()`; `sent` holds what got through. */
function fakeSocket() {
  const sent: string[] = [];
  let fullUntil = 0;
  const native = {
    dgramConnect: () => 7,
    close: () => undefined,
    send: (_fd: number, data: Buffer) => {
      if (Date.now() < fullUntil) return -1;
      sent.push(data.toString('utf8'));
      return data.length;
    },
  } as unknown as NativeAddon;
  return { native, sent, stall: (fullMs: number) => (fullUntil = Date.now() + fullMs) };
}

test('a receiver behind for less than the wait: the record waits and is delivered, in order', () => {
  const f = fakeSocket();
  const log = new DatagramLog(f.native, '/fake');
  assert.ok(log.send('one'));
  f.stall(30);
  const t0 = Date.now();
  assert.ok(log.send('two'), 'delivered after the queue had room again');
  const waited = Date.now() - t0;
  assert.ok(waited >= 25 && waited < DATAGRAM_WAIT_MS + 50, `waited ${waited} ms`);
  assert.ok(log.send('three'));
  assert.equal(f.sent, ['one', 'two', 'three']);
  assert.is(log.dropped, 0);
});

test('a receiver stuck: the record is dropped after the wait, the next ones do not wait until one gets through', () => {
  const f = fakeSocket();
  const log = new DatagramLog(f.native, '/fake');
  f.stall(60_000);
  const t0 = Date.now();
  assert.not.ok(log.send('lost'));
  const waited = Date.now() - t0;
  assert.ok(waited >= DATAGRAM_WAIT_MS - 5, `waited ${waited} ms`);
  const t1 = Date.now();
  assert.not.ok(log.send('lost too'));
  assert.ok(Date.now() - t1 < 20, 'no second wait while the receiver stays stuck');
  assert.is(log.dropped, 2);
  f.stall(0);
  assert.ok(log.send('back'));
  f.stall(30);
  assert.ok(log.send('waits again'), 'after a success, a full queue is waited for again');
  assert.equal(f.sent, ['back', 'waits again']);
});

test.run();
