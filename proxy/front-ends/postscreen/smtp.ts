/**
 * SMTP pieces of the postscreen front end: reading the backend's replies
 * (bounded), taking STARTTLS out of an EHLO reply, client command lines.
 */

import type net from 'node:net';

/** Most bytes and lines of one backend reply. */
export const MAX_REPLY_BYTES = 64 * 1024;
export const MAX_REPLY_LINES = 500;

export class ReplyError extends Error {
  override readonly name = 'ReplyError';
}

/** A complete SMTP reply: its lines without CRLF. */
export interface Reply {
  readonly lines: readonly string[];
  /** The three-digit code of the last line. */
  readonly code: number;
}

/** `250-X` / `250 X` / `250`: a final line has a space (or nothing) after the code. */
const LINE = /^(\d{3})([ -]|$)/;

/**
 * Reads replies from a backend socket. While reading, the socket flows
 * into our buffer; `detach()` stops that and returns what came after the
 * last reply (to be relayed as it is).
 */
export class ReplyReader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.waiter?.();
  };
  private readonly onEnd = () => {
    this.ended ??= new ReplyError('lost connection');
    this.waiter?.();
  };
  private readonly onError = (e: Error) => {
    this.ended ??= new ReplyError(e.message);
    this.waiter?.();
  };

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** The next complete reply, within `timeoutMs`. */
  read(timeoutMs: number): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new ReplyError('timeout exceeded')), timeoutMs);
      const finish = (e?: Error, r?: Reply) => {
        clearTimeout(timer);
        this.waiter = undefined;
        if (e) reject(e);
        else resolve(r!);
      };
      const check = () => {
        let r: Reply | undefined;
        try {
          r = this.take();
        } catch (e) {
          finish(e as Error);
          return;
        }
        if (r) finish(undefined, r);
        else if (this.ended) finish(this.ended);
      };
      this.waiter = check;
      check();
    });
  }

  /** Stop reading; the bytes after the last reply. The socket is left paused. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('close', this.onEnd);
    this.socket.removeListener('error', this.onError);
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  /** A complete reply from the buffer, if there is one; throws on a malformed or oversized one. */
  private take(): Reply | undefined {
    const lines: string[] = [];
    let offset = 0;
    for (;;) {
      const lf = this.buffer.indexOf(0x0a, offset);
      if (lf < 0) {
        if (this.buffer.length > MAX_REPLY_BYTES) throw new ReplyError('reply too long');
        return undefined;
      }
      const end = lf > offset && this.buffer[lf - 1] === 0x0d ? lf - 1 : lf;
      const line = this.buffer.toString('latin1', offset, end);
      offset = lf + 1;
      const m = LINE.exec(line);
      if (!m) throw new ReplyError(`malformed reply: ${JSON.stringify(line.slice(0, 100))}`);
      lines.push(line);
      if (lines.length > MAX_REPLY_LINES || offset > MAX_REPLY_BYTES) throw new ReplyError('reply too long');
      if (m[2] !== '-') {
        this.buffer = this.buffer.subarray(offset);
        return { lines, code: Number(m[1]) };
      }
    }
  }
}

/** The reply as bytes (CRLF line ends). */
export function formatReply(lines: readonly string[]): string {
  return lines.map((l) => `${l}\r\n`).join('');
}

/**
 * An EHLO reply without its STARTTLS line (the client already has TLS,
 * or gets it from us): the last remaining line becomes the final one.
 */
export function withoutStarttls(lines: readonly string[]): string[] {
  const out = lines.filter((l, i) => i === 0 || !/^\d{3}[ -]STARTTLS\s*$/i.test(l));
  if (out.length && out.length !== lines.length) {
    const last = out[out.length - 1]!;
    out[out.length - 1] = `${last.slice(0, 3)}${last.length > 3 ? ' ' : ''}${last.slice(4)}`;
  }
  return out;
}

/** The verb of a command line, upper case (`MAIL` for `mail from:<x>`). */
export function commandVerb(line: string): string {
  return (line.split(' ').find(Boolean) ?? '').toUpperCase();
}

/** The words after the verb (Postfix splits on spaces only). */
export function commandArgs(line: string): string[] {
  return line.split(' ').filter(Boolean).slice(1);
}
