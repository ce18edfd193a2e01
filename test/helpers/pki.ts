/**
 * A throw-away test PKI made with the `openssl` CLI (OpenSSL 3), once per
 * process, in a temp dir removed at exit: a CA and server certificates for
 * ECDSA P-256, ECDSA P-384, RSA-2048 and Ed25519, plus three extra P-256
 * certificates for SNI tests (a.example.test, *.wild.test, a default one).
 *
 * Each certificate comes as PEM paths (for s_client / node:tls) and as DER
 * certificate + PKCS#8 DER key (for the engine), independent of certs/.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CertifiedKey } from '../../engine/config.js';
import type { CryptoProvider, KeyAlgorithm } from '../../engine/crypto/provider.js';

export type CertKind = 'p256' | 'p384' | 'rsa' | 'ed25519';
export type SniKind = 'sniA' | 'sniWild' | 'sniDefault';
export type AnyKind = CertKind | SniKind;

export interface TestCert {
  readonly kind: AnyKind;
  readonly algorithm: KeyAlgorithm;
  /** Subject CN, unique per certificate: tells which one a peer was served. */
  readonly cn: string;
  /** subjectAltName dNSNames. */
  readonly names: readonly string[];
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly certDer: Uint8Array;
  readonly keyPkcs8: Uint8Array;
}

export interface TestPki {
  readonly dir: string;
  readonly caPath: string;
  readonly caPem: string;
  readonly caDer: Uint8Array;
  readonly certs: Readonly<Record<AnyKind, TestCert>>;
}

/** SAN names of the four main certificates. */
export const MAIN_NAMES = ['localhost', '*.wild.test', 'a.example.test'] as const;

interface Spec {
  readonly kind: AnyKind;
  readonly algorithm: KeyAlgorithm;
  readonly genpkey: readonly string[];
  readonly cn: string;
  readonly names: readonly string[];
}

const SPECS: readonly Spec[] = [
  { kind: 'p256', algorithm: 'ecdsa-p256', genpkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], cn: 'test-p256', names: MAIN_NAMES },
  { kind: 'p384', algorithm: 'ecdsa-p384', genpkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], cn: 'test-p384', names: MAIN_NAMES },
  { kind: 'rsa', algorithm: 'rsa', genpkey: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], cn: 'test-rsa', names: MAIN_NAMES },
  { kind: 'ed25519', algorithm: 'ed25519', genpkey: ['-algorithm', 'ED25519'], cn: 'test-ed25519', names: MAIN_NAMES },
  { kind: 'sniA', algorithm: 'ecdsa-p256', genpkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], cn: 'sni-a', names: ['a.example.test'] },
  { kind: 'sniWild', algorithm: 'ecdsa-p256', genpkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], cn: 'sni-wild', names: ['*.wild.test'] },
  { kind: 'sniDefault', algorithm: 'ecdsa-p256', genpkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], cn: 'sni-default', names: ['localhost'] },
];

let cached: TestPki | undefined;

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** The test PKI (made on first call, cached for the process). */
export function testPki(): TestPki {
  if (cached) return cached;
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-pki-'));
  process.once('exit', () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  });

  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=tlsproxy test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(dir, ['x509', '-in', 'ca.pem', '-outform', 'DER', '-out', 'ca.der']);

  const certs = {} as Record<AnyKind, TestCert>;
  let serial = 1000;
  for (const s of SPECS) {
    const key = `${s.kind}.key`;
    openssl(dir, ['genpkey', ...s.genpkey, '-out', key]);
    openssl(dir, ['req', '-new', '-key', key, '-subj', `/CN=${s.cn}`, '-out', `${s.kind}.csr`]);
    writeFileSync(
      path.join(dir, `${s.kind}.ext`),
      [
        `subjectAltName=${s.names.map((n) => `DNS:${n}`).join(',')}`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        '',
      ].join('\n'),
    );
    openssl(dir, [
      'x509', '-req', '-in', `${s.kind}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
      '-days', '365', '-extfile', `${s.kind}.ext`, '-out', `${s.kind}.pem`,
    ]);
    openssl(dir, ['x509', '-in', `${s.kind}.pem`, '-outform', 'DER', '-out', `${s.kind}.der`]);
    openssl(dir, ['pkcs8', '-topk8', '-nocrypt', '-in', key, '-outform', 'DER', '-out', `${s.kind}.p8`]);
    certs[s.kind] = {
      kind: s.kind,
      algorithm: s.algorithm,
      cn: s.cn,
      names: s.names,
      certPath: path.join(dir, `${s.kind}.pem`),
      keyPath: path.join(dir, key),
      certPem: readFileSync(path.join(dir, `${s.kind}.pem`), 'utf8'),
      keyPem: readFileSync(path.join(dir, key), 'utf8'),
      certDer: u8(readFileSync(path.join(dir, `${s.kind}.der`))),
      keyPkcs8: u8(readFileSync(path.join(dir, `${s.kind}.p8`))),
    };
  }
  cached = {
    dir,
    caPath: path.join(dir, 'ca.pem'),
    caPem: readFileSync(path.join(dir, 'ca.pem'), 'utf8'),
    caDer: u8(readFileSync(path.join(dir, 'ca.der'))),
    certs,
  };
  return cached;
}

/** The engine's view of a test certificate: chain (leaf only) and a key imported by `provider`. */
export async function certifiedKey(provider: CryptoProvider, cert: TestCert): Promise<CertifiedKey> {
  const key = await provider.importSigningKey(cert.keyPkcs8, cert.algorithm);
  return { chain: [cert.certDer], key, names: cert.names, label: cert.cn };
}

/** Several certified keys, in the given order. */
export async function certifiedKeys(provider: CryptoProvider, kinds: readonly AnyKind[]): Promise<CertifiedKey[]> {
  const pki = testPki();
  const out: CertifiedKey[] = [];
  for (const k of kinds) out.push(await certifiedKey(provider, pki.certs[k]));
  return out;
}
