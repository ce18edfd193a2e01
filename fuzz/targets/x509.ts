/**
 * certs/: X.509 certificates a client sends (DER, mutated), prepared for
 * path validation (pkijs + our DER reader, names, subjectAltName,
 * nameConstraints) and verified as a chain against the fixture CA; PEM
 * text as a CAfile holds it.
 *
 * Invariant: only CertificateError comes out (the engine turns it into
 * bad_certificate); no TypeError, RangeError or other exception, whatever
 * the bytes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  CertificateError, TrustStore, parseCertificate, parseCertificateChain, parseTrustAnchors, prepareCertificate, verifyClientChain,
} from '../../certs/index.js';
import { FIXTURES } from '../lib/engine-setup.js';
import { GENERIC } from '../lib/mutate.js';
import { Finding, filesOf, type Target } from '../lib/target.js';

let store: TrustStore | undefined;
const utf8 = new TextDecoder();

export const x509Target: Target = {
  name: 'x509',
  description: 'certs/: prepareCertificate, parseCertificate, verifyClientChain (leaf + itself as issuer), parseTrustAnchors on PEM text',
  mutators: GENERIC,
  maxLength: 1 << 16,
  async seeds() {
    const seeds = filesOf('corpus', 'x509').map((f) => f.data);
    for (const n of ['client-p256.pem', 'client-rsa.pem', 'client-ca.pem', 'server-p256.pem', 'server-rsa.pem']) {
      seeds.push(...parseCertificateChain(readFileSync(path.join(FIXTURES, n), 'utf8'), n));
    }
    seeds.push(new TextEncoder().encode(readFileSync(path.join(FIXTURES, 'client-ca.pem'), 'utf8')));
    return seeds;
  },
  async run(input) {
    store ??= new TrustStore(parseTrustAnchors(readFileSync(path.join(FIXTURES, 'client-ca.pem'), 'utf8'), 'fuzz'));
    const allowed = (e: unknown) => e instanceof CertificateError;
    const outcome: string[] = [];
    const step = async (what: string, f: () => unknown) => {
      try {
        await f();
        outcome.push(`${what}:ok`);
      } catch (e) {
        if (!allowed(e)) throw new Finding(`${what} threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
        outcome.push(`${what}:${(e as Error).message.replace(/\(.*$|"[^"]*"|[\d.]+/g, '').split(' ').slice(0, 4).join(' ')}`);
      }
    };
    if (input[0] === 0x2d /* '-': PEM */) {
      await step('pem', () => parseTrustAnchors(utf8.decode(input), 'fuzz'));
      return outcome.join('|');
    }
    await step('parse', () => parseCertificate(input));
    await step('prepare', () => prepareCertificate(input));
    await step('verify', async () => {
      const r = await verifyClientChain([input, input], { anchors: store!, verifyDepth: 3 });
      outcome.push(`code:${r.error?.code ?? 0}`);
      if (r.publicKeyOperations > 4) throw new Finding('unbounded verification work', `${r.publicKeyOperations} operations for one certificate`);
    });
    return outcome.join('|');
  },
};
