/**
 * Client-certificate PKI for the client-certificate tests, made with the
 * `openssl` CLI (OpenSSL 3: `req -x509` for roots, `ca` for everything else
 * so that validity dates can be in the past or the future), once per
 * process, in a temp dir removed at exit.
 *
 *   root          /O=tlsproxy test/CN=Client Root CA        (the CAfile)
 *   inter         /O=tlsproxy test/CN=Client Intermediate CA (issued by root)
 *   interExpired  /O=tlsproxy test/CN=Expired Intermediate CA (root, 2020-2021)
 *   capathRoot    /O=tlsproxy test/CN=CApath Root CA         (in capath/ under its hash name)
 *   capathPlain   /O=tlsproxy test/CN=CApath Plain CA        (in capath/ as plain-ca.pem)
 *   unknown       /O=Elsewhere/CN=Unknown CA                 (trusted by nobody)
 *
 * Client certificates (leaf, key, and a chain file: leaf + intermediates):
 * p256, p384, rsa, ed25519 (root); capath, capathPlain; untrusted (unknown);
 * selfSigned; expired, notYetValid (root); deep (inter); underExpiredCa
 * (interExpired); serverAuth (EKU serverAuth only); keyEncipherment (RSA,
 * keyUsage keyEncipherment only).
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type ClientKind =
  | 'p256' | 'p384' | 'rsa' | 'ed25519' | 'capath' | 'capathPlain' | 'untrusted' | 'selfSigned' | 'expired'
  | 'notYetValid' | 'deep' | 'underExpiredCa' | 'serverAuth' | 'keyEncipherment';

export type CaKind = 'root' | 'inter' | 'interExpired' | 'capathRoot' | 'capathPlain' | 'unknown';

export interface ClientCert {
  readonly kind: ClientKind;
  readonly cn: string;
  readonly subject: string;
  /** The leaf alone (PEM file). */
  readonly certPath: string;
  readonly keyPath: string;
  /** Leaf then the intermediates the client sends (PEM file). */
  readonly chainPath: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly chainPem: string;
  /** Leaf then intermediates, DER. */
  readonly chainDer: readonly Uint8Array[];
}

export interface CaCert {
  readonly subject: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly pem: string;
  readonly der: Uint8Array;
}

export interface ClientPki {
  readonly dir: string;
  /** CAfile: the root alone. */
  readonly caFile: string;
  /** CApath: capathRoot under <hash>.0, capathPlain as plain-ca.pem, and a README that is no certificate. */
  readonly caPath: string;
  readonly cas: Readonly<Record<CaKind, CaCert>>;
  readonly clients: Readonly<Record<ClientKind, ClientCert>>;
  /** Run openssl in the PKI directory; returns stdout. */
  openssl(args: readonly string[], input?: string): string;
}

let cached: ClientPki | undefined;

const CA_CNF = `[ ca ]
default_ca = CA_default
[ CA_default ]
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
default_days = 365
[ policy_any ]
organizationName = optional
commonName = optional
`;

const CA_EXT = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid:always'];
const LEAF_EXT = (eku: string, ku = 'digitalSignature') => [
  'basicConstraints=critical,CA:FALSE', `keyUsage=critical,${ku}`, `extendedKeyUsage=${eku}`,
  'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid:always',
];

const KEYS = {
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  ed25519: ['-algorithm', 'ED25519'],
} as const;

/** The client PKI (made on first call, cached for the process). */
export function clientPki(): ClientPki {
  if (cached) return cached;
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-ccert-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const run = (args: readonly string[], input?: string): string =>
    execFileSync('openssl', args, { cwd: dir, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
  mkdirSync(path.join(dir, 'newcerts'));
  mkdirSync(path.join(dir, 'capath'));
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '1000\n');
  writeFileSync(path.join(dir, 'ca.cnf'), CA_CNF);
  const file = (n: string) => path.join(dir, n);
  const der = (pemFile: string) => new Uint8Array(execFileSync('openssl', ['x509', '-in', pemFile, '-outform', 'DER'], { cwd: dir }));

  const cas = {} as Record<CaKind, CaCert>;
  const selfSignedCa = (kind: CaKind, subject: string) => {
    const f = `ca-${kind}`;
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${f}.key`, '-out', `${f}.pem`,
      '-days', '3650', '-subj', subject, ...CA_EXT.slice(0, 2).flatMap((e) => ['-addext', e])]);
    cas[kind] = { subject, certPath: file(`${f}.pem`), keyPath: file(`${f}.key`), pem: readFileSync(file(`${f}.pem`), 'utf8'), der: der(`${f}.pem`) };
  };
  /** Issue with `openssl ca`: a new key, a CSR, then the certificate. */
  const issue = (name: string, issuer: CaKind, subject: string, key: readonly string[], ext: readonly string[], dates?: [string, string]) => {
    run(['genpkey', ...key, '-out', `${name}.key`]);
    run(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
    writeFileSync(file(`${name}.ext`), `[ ext ]\n${ext.join('\n')}\n`);
    run(['ca', '-batch', '-config', 'ca.cnf', '-cert', cas[issuer].certPath, '-keyfile', cas[issuer].keyPath, '-in', `${name}.csr`,
      '-out', `${name}.pem`, '-notext', '-extfile', `${name}.ext`, '-extensions', 'ext',
      ...(dates ? ['-startdate', dates[0], '-enddate', dates[1]] : ['-days', '365'])]);
  };
  const issuedCa = (kind: CaKind, issuer: CaKind, subject: string, dates?: [string, string]) => {
    const f = `ca-${kind}`;
    issue(f, issuer, subject, KEYS.p256, CA_EXT, dates);
    cas[kind] = { subject, certPath: file(`${f}.pem`), keyPath: file(`${f}.key`), pem: readFileSync(file(`${f}.pem`), 'utf8'), der: der(`${f}.pem`) };
  };

  selfSignedCa('root', '/O=tlsproxy test/CN=Client Root CA');
  selfSignedCa('capathRoot', '/O=tlsproxy test/CN=CApath Root CA');
  selfSignedCa('capathPlain', '/O=tlsproxy test/CN=CApath Plain CA');
  selfSignedCa('unknown', '/O=Elsewhere/CN=Unknown CA');
  issuedCa('inter', 'root', '/O=tlsproxy test/CN=Client Intermediate CA');
  issuedCa('interExpired', 'root', '/O=tlsproxy test/CN=Expired Intermediate CA', ['20200101000000Z', '20210101000000Z']);

  const hash = run(['x509', '-hash', '-noout', '-in', cas.capathRoot.certPath]).trim();
  writeFileSync(path.join(dir, 'capath', `${hash}.0`), cas.capathRoot.pem);
  writeFileSync(path.join(dir, 'capath', 'plain-ca.pem'), cas.capathPlain.pem);
  writeFileSync(path.join(dir, 'capath', 'README'), 'not a certificate\n');

  const clients = {} as Record<ClientKind, ClientCert>;
  const client = (kind: ClientKind, cn: string, intermediates: CaKind[] = []) => {
    const certPem = readFileSync(file(`${kind}.pem`), 'utf8');
    const chainPem = certPem + intermediates.map((c) => cas[c].pem).join('');
    writeFileSync(file(`${kind}-chain.pem`), chainPem);
    clients[kind] = {
      kind, cn, subject: `/CN=${cn}`,
      certPath: file(`${kind}.pem`), keyPath: file(`${kind}.key`), chainPath: file(`${kind}-chain.pem`),
      certPem, keyPem: readFileSync(file(`${kind}.key`), 'utf8'), chainPem,
      chainDer: [der(`${kind}.pem`), ...intermediates.map((c) => cas[c].der)],
    };
  };
  const leaf = (kind: ClientKind, issuer: CaKind, opts: { key?: readonly string[]; eku?: string; ku?: string; dates?: [string, string]; chain?: CaKind[] } = {}) => {
    const cn = `client-${kind}`;
    issue(kind, issuer, `/CN=${cn}`, opts.key ?? KEYS.p256, LEAF_EXT(opts.eku ?? 'clientAuth', opts.ku), opts.dates);
    client(kind, cn, opts.chain);
  };
  leaf('p256', 'root');
  leaf('p384', 'root', { key: KEYS.p384 });
  leaf('rsa', 'root', { key: KEYS.rsa });
  leaf('ed25519', 'root', { key: KEYS.ed25519 });
  leaf('capath', 'capathRoot');
  leaf('capathPlain', 'capathPlain');
  leaf('untrusted', 'unknown');
  leaf('expired', 'root', { dates: ['20200101000000Z', '20210101000000Z'] });
  leaf('notYetValid', 'root', { dates: ['20900101000000Z', '20910101000000Z'] });
  leaf('deep', 'inter', { chain: ['inter'] });
  leaf('underExpiredCa', 'interExpired', { chain: ['interExpired'] });
  leaf('serverAuth', 'root', { eku: 'serverAuth' });
  leaf('keyEncipherment', 'root', { key: KEYS.rsa, ku: 'keyEncipherment' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'selfSigned.key', '-out', 'selfSigned.pem',
    '-days', '30', '-subj', '/CN=client-selfSigned']);
  client('selfSigned', 'client-selfSigned');

  cached = { dir, caFile: cas.root.certPath, caPath: path.join(dir, 'capath'), cas, clients, openssl: run };
  return cached;
}
