/**
 * The TLS 1.3 states after the keys change, which a replayed recording
 * cannot reach: an in-process scripted client (test/helpers/tls13-client.ts,
 * node:crypto only) completes the ClientHello / server flight with the
 * engine (client certificates requested), then sends what the input says,
 * encrypted under the right keys: the client Certificate and
 * CertificateVerify (valid ones, or fuzzed bytes), Finished, then
 * application data, KeyUpdate, alerts, any record.
 *
 * Input: items of [op][length: 2 bytes][payload]:
 *   0 raw handshake bytes (appended to the pending handshake plaintext)
 *   1 a valid Certificate (the fixture client chain)   2 a valid CertificateVerify
 *   3 the valid client Finished (then application keys)
 *   4 flush the pending handshake bytes as one record (payload[0] = padding)
 *   5 an encrypted record: inner type payload[0], content the rest
 *   6 raw bytes on the wire, as they are              7 KeyUpdate (payload[0] & 1: requested)
 *   8 switch to the application keys without Finished 9 application data
 * Invariants: those of the engine target (EngineProbe.verdict()).
 */
import { createPrivateKey, sign } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCertificateChain } from '../../certs/index.js';
import { encodeCertificate } from '../../engine/messages/certificate.js';
import { baseHello, cat, handshakeMessage, u16 } from '../../test/helpers/hello.js';
import { RawConn, Tls13Client } from '../../test/helpers/tls13-client.js';
import { baseConfig, FIXTURES } from '../lib/engine-setup.js';
import { GENERIC } from '../lib/mutate.js';
import { Rng } from '../lib/rng.js';
import { Finding, filesOf, type Target } from '../lib/target.js';
import { EngineProbe, hash32 } from './engine.js';

class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(private readonly sink: (b: Uint8Array) => void) {
    super();
  }
  write(b: Uint8Array): boolean {
    if (!this.destroyed) this.sink(new Uint8Array(b));
    return true;
  }
  setNoDelay(): void {}
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

let fixture: { chain: Uint8Array[]; key: ReturnType<typeof createPrivateKey> } | undefined;

function item(op: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  return cat(Uint8Array.of(op), u16(payload.length), payload);
}

const enc = new TextEncoder();

interface ClientInternals {
  transcript: Uint8Array[];
  th(): Uint8Array;
}

export const engineTls13Target: Target = {
  name: 'engine-tls13',
  description: 'ServerConnection after the TLS 1.3 keys change, through an in-process client: client Certificate, CertificateVerify, Finished, application data, KeyUpdate, alerts',
  mutators: GENERIC,
  maxLength: 1 << 16,
  async seeds() {
    return [
      ...filesOf('corpus', 'engine-tls13').map((f) => f.data),
      cat(item(1), item(2), item(3), item(9, enc.encode('hello')), item(7, Uint8Array.of(1)), item(9, enc.encode('more')), item(5, Uint8Array.of(21, 1, 0))),
      cat(item(0, Uint8Array.of(11, 0, 0, 4, 0, 0, 0, 0)), item(3), item(9, enc.encode('anonymous'))),
      cat(item(1), item(3)),
      cat(item(1), item(2), item(4, Uint8Array.of(7)), item(3), item(5, Uint8Array.of(22, 4, 0, 0, 4, 0, 0, 0, 0))),
      cat(item(1), item(2), item(3), item(5, Uint8Array.of(21, 2, 10)), item(9, enc.encode('x'))),
    ];
  },
  async run(input) {
    fixture ??= {
      chain: parseCertificateChain(readFileSync(path.join(FIXTURES, 'client-p256.pem'), 'utf8'), 'client'),
      key: createPrivateKey(readFileSync(path.join(FIXTURES, 'client-p256.key'))),
    };
    const rng = new Rng(hash32(input));
    let probe: EngineProbe | undefined;
    const socket = new FakeSocket((b) => probe!.receive(b));
    probe = new EngineProbe(await baseConfig(), rng, (b) => socket.emit('data', Buffer.from(b)));
    const raw = new (RawConn as unknown as new (s: unknown) => RawConn)(socket);
    const client = new Tls13Client(raw);
    const internals = client as unknown as ClientInternals;
    const { spec, keys } = baseHello();
    try {
      await client.handshake(spec, keys);
    } catch (e) {
      throw new Finding('the valid handshake start failed', (e as Error).message);
    }
    let pending: Uint8Array[] = [];
    const flush = (padding = 0) => {
      if (!pending.length) return;
      client.sendProtected(22, cat(...pending), { padding });
      pending = [];
    };
    const sent = (msg: Uint8Array) => {
      pending.push(msg);
      internals.transcript.push(msg);
    };
    for (let i = 0; i + 3 <= input.length;) {
      const op = input[i]! % 10;
      const len = (input[i + 1]! << 8) | input[i + 2]!;
      const payload = input.subarray(i + 3, i + 3 + len);
      i += 3 + len;
      if (op > 3 && op !== 4) flush();
      switch (op) {
        case 0:
          sent(payload.slice());
          break;
        case 1:
          sent(encodeCertificate(new Uint8Array(0), fixture.chain));
          break;
        case 2: {
          const content = cat(new Uint8Array(64).fill(0x20), enc.encode('TLS 1.3, client CertificateVerify'), Uint8Array.of(0), internals.th());
          const sig = sign('sha256', content, { key: fixture.key, dsaEncoding: 'der' });
          sent(handshakeMessage(15, cat(u16(0x0403), u16(sig.length), sig)));
          break;
        }
        case 3: {
          const fin = client.finishedMessage();
          sent(fin);
          flush();
          client.switchToApplicationKeys();
          break;
        }
        case 4:
          flush(payload[0] ?? 0);
          break;
        case 5:
          client.sendProtected(payload[0] ?? 23, payload.subarray(1));
          break;
        case 6:
          raw.send(payload.slice());
          break;
        case 7:
          client.keyUpdate(((payload[0] ?? 0) & 1) === 1);
          break;
        case 8:
          client.switchToApplicationKeys();
          break;
        case 9:
          client.sendData(payload.slice());
          break;
      }
      await probe.idle();
      if (probe.conn.state === 'failed') break;
    }
    flush();
    return probe.verdict();
  },
};
