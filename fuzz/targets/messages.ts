/**
 * The handshake message parsers on their own (engine/messages/), so that
 * those the connection target cannot reach with valid keys are fuzzed too:
 * the TLS 1.3 client Certificate and CertificateVerify travel encrypted.
 * Input: one byte naming the parser (the handshake type; +0x80 for the TLS
 * 1.2 form where both exist), then the message body.
 *
 * Invariant: a parser returns or throws the engine's typed failure
 * (TlsFailure, whose alert comes from the CAUSES table); nothing else.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCertificateChain } from '../../certs/index.js';
import { TlsFailure } from '../../engine/errors.js';
import { parseAlert } from '../../engine/messages/alert.js';
import { encodeCertificate, parseCertificate } from '../../engine/messages/certificate.js';
import { parseCertificate12 } from '../../engine/messages/certificate12.js';
import { encodeCertificateVerify, parseCertificateVerify } from '../../engine/messages/certificate-verify.js';
import { parseClientHello, summarizeClientHello } from '../../engine/messages/client-hello.js';
import { parseDheClientKeyExchange, parseEcdheClientKeyExchange } from '../../engine/messages/client-key-exchange.js';
import { parseFinished } from '../../engine/messages/finished.js';
import { parseKeyUpdate } from '../../engine/messages/key-update.js';
import { FIXTURES } from '../lib/engine-setup.js';
import { GENERIC, splitRecords } from '../lib/mutate.js';
import { Finding, filesOf, type Target } from '../lib/target.js';

const PARSERS: Record<number, (body: Uint8Array) => unknown> = {
  1: (b) => summarizeClientHello(parseClientHello(b, 16384)),
  11: (b) => parseCertificate(b, 16),
  0x8b: (b) => parseCertificate12(b, 16),
  15: (b) => parseCertificateVerify(b),
  16: (b) => parseEcdheClientKeyExchange(b),
  0x90: (b) => parseDheClientKeyExchange(b),
  20: (b) => parseFinished(b, 32),
  24: (b) => parseKeyUpdate(b),
  21: (b) => parseAlert(b),
};
const KINDS = Object.keys(PARSERS).map(Number);

/** Handshake messages (type, body) of the plaintext part of a recorded client stream. */
function messagesOf(stream: Uint8Array): { type: number; body: Uint8Array }[] {
  const { records } = splitRecords(stream);
  const hs: number[] = [];
  for (const r of records) {
    if (r.type === 20) break; // encrypted from here on
    if (r.type === 22) hs.push(...r.body);
  }
  const out: { type: number; body: Uint8Array }[] = [];
  const b = Uint8Array.from(hs);
  for (let i = 0; i + 4 <= b.length;) {
    const len = (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
    if (i + 4 + len > b.length) break;
    out.push({ type: b[i]!, body: b.subarray(i + 4, i + 4 + len) });
    i += 4 + len;
  }
  return out;
}

export const messagesTarget: Target = {
  name: 'messages',
  description: 'engine/messages parsers: ClientHello (+ summary), Certificate (1.3 and 1.2), CertificateVerify, ClientKeyExchange (ECDHE, DHE), Finished, KeyUpdate, Alert',
  mutators: GENERIC,
  maxLength: 1 << 17,
  async seeds() {
    const seeds: Uint8Array[] = filesOf('corpus', 'messages').map((f) => f.data);
    for (const f of filesOf('corpus', 'engine')) {
      const tls12 = f.name.includes('tls12');
      for (const m of messagesOf(f.data)) {
        let kind = m.type;
        if (m.type === 11 && tls12) kind = 0x8b;
        if (m.type === 16 && f.name.includes('dhe')) kind = 0x90;
        if (PARSERS[kind]) seeds.push(Uint8Array.of(kind, ...m.body));
      }
    }
    // TLS 1.3 forms the recordings only have encrypted.
    const chain = ['client-p256.pem', 'client-rsa.pem'].flatMap((n) => parseCertificateChain(readFileSync(path.join(FIXTURES, n), 'utf8'), n));
    seeds.push(Uint8Array.of(11, ...encodeCertificate(new Uint8Array(0), chain).subarray(4)));
    seeds.push(Uint8Array.of(15, ...encodeCertificateVerify(0x0403, new Uint8Array(72).fill(0x30)).subarray(4)));
    seeds.push(Uint8Array.of(24, 1), Uint8Array.of(20, ...new Uint8Array(32)), Uint8Array.of(21, 2, 40));
    return seeds;
  },
  async run(input, rng) {
    const kind = input.length ? input[0]! : rng.pick(KINDS);
    const parser = PARSERS[kind] ?? PARSERS[KINDS[kind % KINDS.length]!]!;
    try {
      parser(input.subarray(1));
      return `ok:${kind}`;
    } catch (e) {
      if (e instanceof TlsFailure) return `${kind}:${e.code}`;
      throw new Finding(`parser ${kind} threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
    }
  },
};
