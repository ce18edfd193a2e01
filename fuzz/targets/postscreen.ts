/**
 * The postscreen front end's SMTP readers (proxy/front-ends/postscreen/):
 * the backend reply reader (ReplyReader over a socket, fed in chunks),
 * STARTTLS removal from an EHLO reply, and the client command words
 * (commandVerb/commandArgs) of every line of the input.
 *
 * Invariant: the reader only fails with ReplyError (malformed, too long,
 * lost connection), never takes more than MAX_REPLY_LINES lines or bytes,
 * and the helpers never throw.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { PostscreenSession, type PostscreenService } from '../../proxy/front-ends/postscreen/session.js';
import { loadPostscreenSettings } from '../../proxy/front-ends/postscreen/settings.js';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { Logger, MemorySink } from '../../proxy/log/log.js';
import { MAX_REPLY_LINES, ReplyError, ReplyReader, commandArgs, commandVerb, withoutStarttls } from '../../proxy/front-ends/postscreen/smtp.js';
import { GENERIC } from '../lib/mutate.js';
import { Finding, filesOf, type Target } from '../lib/target.js';

const enc = new TextEncoder();
const dec = new TextDecoder('latin1');

class FakeSocket extends EventEmitter {
  pause(): void {}
}

export const postscreenTarget: Target = {
  name: 'postscreen',
  description: 'ReplyReader (backend replies, chunked), withoutStarttls, commandVerb/commandArgs of client command lines',
  mutators: GENERIC,
  maxLength: 140_000,
  async seeds() {
    return [
      ...filesOf('corpus', 'postscreen').map((f) => f.data),
      enc.encode('220 mail.example.org ESMTP\r\n250-mail.example.org\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n'),
      enc.encode('EHLO client.example\r\nMAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\nDATA\r\nQUIT\r\n'),
      enc.encode('250-a\n250-STARTTLS\n250\n421 bye\r\n'),
    ];
  },
  async run(input, rng) {
    const sock = new FakeSocket();
    const reader = new ReplyReader(sock as unknown as net.Socket);
    const replies: string[][] = [];
    let error = '';
    for (let at = 0; at < input.length;) {
      const n = 1 + rng.below(256);
      sock.emit('data', Buffer.from(input.subarray(at, at + n)));
      at += n;
    }
    sock.emit('end');
    for (let i = 0; i < MAX_REPLY_LINES + 2; i++) {
      try {
        const r = await reader.read(1000);
        if (r.lines.length > MAX_REPLY_LINES) throw new Finding('reply longer than the limit', `${r.lines.length} lines`);
        replies.push([...r.lines]);
        try {
          withoutStarttls(r.lines);
        } catch (e) {
          throw new Finding(`withoutStarttls threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
        }
      } catch (e) {
        if (e instanceof Finding) throw e;
        if (!(e instanceof ReplyError)) throw new Finding(`ReplyReader threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
        error = e.message.replace(/".*"/, '""');
        break;
      }
    }
    reader.detach();
    try {
      for (const line of dec.decode(input).split('\n')) {
        commandVerb(line);
        commandArgs(line);
      }
    } catch (e) {
      throw new Finding(`command words threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
    }
    return `${replies.length > 0}:${error.slice(0, 40)}`;
  },
};

// ------------------------------------------------------------------ the session's command reader


/** A client socket in memory: what the session writes is kept; data arrives by emit('data'). */
class ClientSocket extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  readonly out: string[] = [];
  write(b: string | Uint8Array): boolean {
    if (this.destroyed || this.writableEnded) throw new Error('write after end');
    this.out.push(typeof b === 'string' ? b : Buffer.from(b).toString('latin1'));
    return true;
  }
  setNoDelay(): void {}
  pause(): void {}
  resume(): void {}
  end(): void {
    this.writableEnded = true;
  }
  destroySoon(): void {
    this.writableEnded = true;
    this.destroy();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    queueMicrotask(() => this.emit('close'));
  }
}

let service: PostscreenService | undefined;
const sink = new MemorySink();

/**
 * PostscreenSession itself, fed the client's bytes in chunks (no STARTTLS:
 * the TLS service says unavailable; no backend: a closed port). Invariants:
 * no internal error reaches the session's guard, nothing is written after
 * the socket ended, every line written is an SMTP reply (3 digits, then
 * space or dash, or nothing).
 */
export const postscreenSessionTarget: Target = {
  name: 'postscreen-session',
  description: 'PostscreenSession: the client command reader (line splitting, length and count limits, HELO/EHLO/STARTTLS/QUIT/NOOP/...)',
  mutators: GENERIC,
  maxLength: 20_000,
  async seeds() {
    return [
      ...filesOf('corpus', 'postscreen-session').map((f) => f.data),
      enc.encode('EHLO client.example\r\nNOOP\r\nSTARTTLS\r\nMAIL FROM:<a@b>\r\nHELO x\r\nRSET\r\nQUIT\r\n'),
      enc.encode('HELO\r\nEHLO\r\nXCLIENT ADDR=1.2.3.4\r\nAUTH PLAIN\r\nVRFY x\r\nBDAT 1\r\nfoo bar\r\n\r\n\n\r\n'),
      enc.encode(`EHLO ${'a'.repeat(3000)}\r\nQUIT\r\n`),
    ];
  },
  async run(input, rng) {
    service ??= {
      name: 'fuzz',
      logger: new Logger({ hostname: 'fuzz', pid: 1, sink: sink.sink }),
      postscreen: loadPostscreenSettings(ParameterSet.defaults().withOverrides([{ name: 'postscreen_tls_security_level', value: 'may' }], 'fuzz')),
      tlsService: { request: () => ({ available: false }) } as unknown as PostscreenService['tlsService'],
      backend: { kind: 'inet', host: '127.0.0.1', port: 9 } as unknown as PostscreenService['backend'],
      handshakeTimeoutMs: 1000,
      idleTimeoutMs: 1000,
      connectTimeoutMs: 200,
    };
    const socket = new ClientSocket();
    const before = sink.records.length;
    const endpoints = { client: { address: '192.0.2.1', port: 4000 }, server: { address: '192.0.2.2', port: 25 } };
    const session = new PostscreenSession(socket as unknown as net.Socket, service, () => undefined, endpoints as never);
    try {
      for (let at = 0; at < input.length && !socket.destroyed;) {
        const n = 1 + rng.below(200);
        socket.emit('data', Buffer.from(input.subarray(at, at + n)));
        at += n;
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      throw new Finding(`the session threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
    } finally {
      session.destroy();
    }
    const logged = sink.records.splice(before);
    const internal = logged.find((r) => r.text.includes('internal error'));
    if (internal) throw new Finding('internal error in the session', internal.text);
    const lines = socket.out.join('').split('\r\n').filter(Boolean);
    const bad = lines.find((l) => !/^\d{3}([ -]|$)/.test(l));
    if (bad !== undefined) throw new Finding('not an SMTP reply', JSON.stringify(bad.slice(0, 100)));
    if (sink.records.length > 10_000) sink.records.length = 0;
    return `${lines.length > 20 ? 'many' : lines.length}:${lines[lines.length - 1]?.slice(0, 3) ?? ''}:${socket.destroyed}`;
  },
};
