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
