/**
 * Status messages to master(8) on fd 5 (postfix-master-dropin.md §1.5):
 * struct { int pid; unsigned gen; int avail; }, 12 bytes in host byte
 * order, written with one write(2). pid = the process master spawned,
 * gen = $GENERATION (octal text), avail 0 = taken, 1 = available.
 */

import { writeSync } from 'node:fs';
import { endianness } from 'node:os';

export const STATUS_FD = 5;
export const LISTEN_FD = 6;
export const STATUS_SIZE = 12;
export const STATUS_TAKEN = 0;
export const STATUS_AVAIL = 1;

export function encodeStatus(pid: number, generation: number, avail: number, order: 'LE' | 'BE' = endianness()): Buffer {
  const b = Buffer.alloc(STATUS_SIZE);
  if (order === 'LE') {
    b.writeInt32LE(pid, 0);
    b.writeUInt32LE(generation >>> 0, 4);
    b.writeInt32LE(avail, 8);
  } else {
    b.writeInt32BE(pid, 0);
    b.writeUInt32BE(generation >>> 0, 4);
    b.writeInt32BE(avail, 8);
  }
  return b;
}

export function decodeStatus(b: Uint8Array, order: 'LE' | 'BE' = endianness()): { pid: number; generation: number; avail: number } {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length !== STATUS_SIZE) throw new Error(`status message of ${buf.length} bytes`);
  return order === 'LE'
    ? { pid: buf.readInt32LE(0), generation: buf.readUInt32LE(4), avail: buf.readInt32LE(8) }
    : { pid: buf.readInt32BE(0), generation: buf.readUInt32BE(4), avail: buf.readInt32BE(8) };
}

/** $GENERATION is written in octal (`%o`); absent or unreadable -> 0 (master then ignores our updates, which is harmless). */
export function parseGeneration(text: string | undefined): number {
  if (!text || !/^[0-7]+$/.test(text.trim())) return 0;
  return parseInt(text.trim(), 8) >>> 0;
}

export type StatusResult = 'ok' | 'lost' | 'master-gone';

/**
 * Writes status messages. A failed write means master closed its end
 * (reload, or master died): 'master-gone'. EAGAIN (someone made the shared
 * descriptor non-blocking and the buffer is full) only loses gossip.
 */
export class MasterStatus {
  constructor(
    readonly pid: number,
    readonly generation: number,
    private readonly fd = STATUS_FD,
    private readonly write: (fd: number, b: Buffer) => number = writeSync,
  ) {}

  private send(avail: number): StatusResult {
    try {
      const n = this.write(this.fd, encodeStatus(this.pid, this.generation, avail));
      return n === STATUS_SIZE ? 'ok' : 'lost';
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR' ? 'lost' : 'master-gone';
    }
  }

  taken(): StatusResult {
    return this.send(STATUS_TAKEN);
  }

  available(): StatusResult {
    return this.send(STATUS_AVAIL);
  }
}
