/**
 * proxy/tls/shared-reads.ts: socket reads into the one process-wide buffer
 * (up to SHARED_READ_SIZE, 256 KiB, per read), and the plaintext buffers
 * leased for them in two sizes, so that a small read never holds a large
 * buffer.
 */

import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SHARED_READ_SIZE, SMALL_PLAINTEXT, leasePlaintext, readIntoSharedBuffer, releasePlaintext } from '../../proxy/tls/shared-reads.js';

test('leasePlaintext: 64 KiB for a read up to 64 KiB, 256 KiB above, refused beyond a read; released buffers come back by size', () => {
  assert.is(SMALL_PLAINTEXT, 64 * 1024);
  assert.is(SHARED_READ_SIZE, 256 * 1024);
  const small = leasePlaintext(100);
  assert.is(small.buffer.length, SMALL_PLAINTEXT);
  assert.is(leasePlaintext(SMALL_PLAINTEXT).buffer.length, SMALL_PLAINTEXT);
  const large = leasePlaintext(SMALL_PLAINTEXT + 1);
  assert.is(large.buffer.length, SHARED_READ_SIZE);
  assert.throws(() => leasePlaintext(SHARED_READ_SIZE + 1), /more than a read/);
  // A lease with a write still in flight stays out of the free list until the last user is done.
  large.pending++;
  releasePlaintext(large);
  const other = leasePlaintext(SHARED_READ_SIZE);
  assert.is.not(other.buffer, large.buffer, 'still in use: not handed out again');
  releasePlaintext(large);
  assert.is(leasePlaintext(200_000).buffer, large.buffer, 'the large buffer back for a large read');
  releasePlaintext(small);
  assert.is(leasePlaintext(10).buffer, small.buffer, 'the small buffer back for a small read');
});

test('readIntoSharedBuffer: reads of more than 64 KiB land in the shared buffer, the bytes in order and intact', async () => {
  const data = randomBytes(4 * 1024 * 1024);
  let largest = 0;
  let shared = false;
  const hash = createHash('sha256');
  let got = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const server = net.createServer((socket) => {
    const onBytes = (bytes: Uint8Array) => {
      // The first read holds the loop for a while: the peer's bytes pile up in the kernel, so that the next reads are long.
      if (got === 0) for (const until = Date.now() + 50; Date.now() < until; );
      largest = Math.max(largest, bytes.length);
      hash.update(bytes);
      got += bytes.length;
      if (got === data.length) done();
    };
    shared = readIntoSharedBuffer(socket, onBytes);
    if (!shared) socket.on('data', onBytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  try {
    client.write(data);
    await finished;
    if (!shared) {
      console.log('  (shared reads not available on this runtime: only the data checked)');
    } else {
      assert.ok(largest > 64 * 1024, `the longest read: ${largest} bytes`);
      assert.ok(largest <= SHARED_READ_SIZE);
    }
    assert.is(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  } finally {
    client.destroy();
    server.close();
  }
});

test.run();
