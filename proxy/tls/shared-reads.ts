/**
 * Socket reads into one process-wide buffer instead of a fresh 64 KiB
 * ArrayBuffer per read (issue 9: the per-read allocations, and the garbage
 * collection their external memory sets off on V8's helper threads, were
 * the largest cost per record left in the relay after the AEAD).
 *
 * Node reads an accepted socket into a new buffer each time; only sockets
 * it creates itself take `onread: { buffer, callback }` (net.Socket's
 * documented option). That option is the stream handle's
 * `useUserBuffer()` plus three symbol-keyed fields net.Socket consults on
 * every read, pause and resume; `readIntoSharedBuffer` sets the same three
 * fields on a socket that exists already (found by their descriptions on a
 * probe socket made with the documented option, so nothing is guessed) and
 * calls `useUserBuffer()`. Where any of it is missing (another Node
 * version's internals, Deno, Bun), it returns false and the socket keeps
 * Node's ordinary reads: callers must work either way.
 *
 * The contract that makes one buffer safe for every socket of the process:
 * `onBytes` gets a view that is valid only until it returns (the next read,
 * of any socket, overwrites it), so it must consume the bytes synchronously
 * and keep no reference: the engine's ServerConnection.receiveBorrowed()
 * and writeBorrowed() do exactly that (they copy what they must keep).
 * libuv reads one socket at a time on the loop thread, and Node runs the
 * callback before the next read, so nothing else can overwrite the buffer
 * under it.
 */

import { Socket } from 'node:net';
import { currentRuntime } from '../base/runtime.js';

/**
 * How much one read may take: four times what Node itself asks libuv for
 * (64 KiB). A bulk stream's kernel queue usually holds more than 64 KiB, so
 * a read, its callback, the engine's pass over its records and the write of
 * their plaintext happen once per 256 KiB instead of once per 64 KiB, and one
 * record in 16 rather than one in 4 spans two reads (copied together):
 * 17 % less CPU per 16 KiB record in an A/B (bench/README.md). The buffer
 * is one per process.
 */
export const SHARED_READ_SIZE = 256 * 1024;

interface OnreadFields {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

interface UserBufferHandle {
  useUserBuffer?(buffer: Uint8Array): void;
}

let fields: OnreadFields | null | undefined;
let shared: Uint8Array | undefined;

function onreadFields(): OnreadFields | null {
  if (fields !== undefined) return fields;
  fields = null;
  if (process.env.TLSPROXY_SHARED_READS === '0' || currentRuntime().name !== 'node') return fields;
  const marker = new Uint8Array(1);
  const callback = () => true;
  // `onread` is documented for net.connect()'s options; the constructor takes the same object.
  const probe = new Socket({ onread: { buffer: marker, callback } } as ConstructorParameters<typeof Socket>[0]);
  try {
    const own = Object.getOwnPropertySymbols(probe);
    const byName = (d: string) => own.find((s) => s.description === d);
    const buffer = byName('kBuffer');
    const cb = byName('kBufferCb');
    const generator = byName('kBufferGen');
    const p = probe as unknown as Record<symbol, unknown>;
    if (buffer && cb && generator && p[buffer] === marker && p[cb] === callback && p[generator] === null) {
      fields = { buffer, callback: cb, generator };
    }
  } finally {
    probe.destroy();
  }
  return fields;
}

/**
 * From now on, `socket`'s reads land in the process's shared buffer and go
 * to `onBytes` (no 'data' events). Only call it when the socket's readable
 * buffer is empty (readableLength 0), or queued chunks would be delivered
 * after newer ones. False when it cannot be done: nothing changed.
 */
export function readIntoSharedBuffer(socket: Socket, onBytes: (bytes: Uint8Array) => void): boolean {
  const f = onreadFields();
  if (!f) return false;
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  const s = socket as unknown as Record<symbol, unknown>;
  if (!handle || typeof handle.useUserBuffer !== 'function' || socket.readableLength !== 0 || socket.destroyed || s[f.buffer]) return false;
  shared ??= new Uint8Array(SHARED_READ_SIZE);
  const buffer = shared;
  s[f.buffer] = buffer;
  s[f.generator] = null;
  s[f.callback] = (n: number) => {
    onBytes(buffer.subarray(0, n));
  };
  handle.useUserBuffer(buffer);
  return true;
}

/**
 * Plaintext buffers for ServerConnection.receiveBorrowed(): a record read
 * into the shared buffer is decrypted out of place into one of these, and
 * the views written to the backend keep it until the last write of them
 * completed. A lease counts those writes; the buffer goes back to a small
 * process-wide free list when the count reaches zero (a write whose
 * callback never runs, on a destroyed socket, only costs the buffer to GC).
 */
export interface PlaintextLease {
  readonly buffer: Uint8Array;
  /** Writes of views of `buffer` still in flight, plus one while the read is processed. */
  pending: number;
}

/**
 * Free lists of reusable buffers in a few fixed sizes: take() hands out one
 * of the smallest size that holds `length` (undefined above the largest),
 * give() keeps a buffer of one of those sizes for a later take() while its
 * size's list has room. Plaintext leases (below) and a stream's output
 * buffers (stream.ts) use it.
 */
export class SizedBuffers<B extends Uint8Array> {
  private readonly free: B[][];

  /** `sizes` in increasing order; `keep` spare buffers of each at most. */
  constructor(private readonly sizes: readonly { readonly size: number; readonly keep: number }[], private readonly make: (size: number) => B) {
    this.free = sizes.map(() => []);
  }

  take(length: number): B | undefined {
    for (let i = 0; i < this.sizes.length; i++) {
      if (length <= this.sizes[i]!.size) return this.free[i]!.pop() ?? this.make(this.sizes[i]!.size);
    }
    return undefined;
  }

  give(buffer: B): void {
    for (let i = 0; i < this.sizes.length; i++) {
      if (buffer.length === this.sizes[i]!.size) {
        if (this.free[i]!.length < this.sizes[i]!.keep) this.free[i]!.push(buffer);
        return;
      }
    }
  }
}

/**
 * Two sizes of plaintext buffer, so that a small read (an SMTP command, a
 * handshake record) whose write to the backend waits for a drain holds 64
 * KiB, not 256: a read's plaintext is never longer than its ciphertext.
 */
export const SMALL_PLAINTEXT = 64 * 1024;
const plaintextBuffers = new SizedBuffers(
  [
    { size: SMALL_PLAINTEXT, keep: 16 },
    { size: SHARED_READ_SIZE, keep: 4 },
  ],
  (size): Uint8Array => new Uint8Array(size),
);

/** A plaintext buffer for a read of `length` bytes (at most SHARED_READ_SIZE). */
export function leasePlaintext(length: number): PlaintextLease {
  const buffer = plaintextBuffers.take(length);
  if (!buffer) throw new RangeError(`plaintext lease for ${length} bytes: more than a read (${SHARED_READ_SIZE})`);
  return { buffer, pending: 1 };
}

/** One user of the lease is done; the last one returns the buffer to its free list. */
export function releasePlaintext(lease: PlaintextLease): void {
  if (--lease.pending === 0) plaintextBuffers.give(lease.buffer);
}
