/**
 * Server certificates and keys (tlsproxy-postfix.md §1.6):
 *
 *  - tlsproxy_tls_chain_files: PEM files read as one concatenation, a
 *    sequence of private key, its certificate, the issuers of that
 *    certificate, then the next key... (at most one key per algorithm).
 *    When set, the legacy parameters below are ignored, with Postfix's
 *    warning (double spaces included) if one of them is also set;
 *  - the legacy pairs tlsproxy_tls_cert_file/_key_file (the key file
 *    defaults to the certificate file), _eccert_file/_eckey_file, and
 *    _dcert_file/_dkey_file, for which DSA is refused with a warning;
 *  - tlsproxy_tls_cert_file = none: no RSA certificate (Postfix then runs
 *    anonymous suites only; our engine has none, so another certificate
 *    is still required).
 *
 * Every key is checked against its certificate (a test signature) and
 * imported into the crypto provider at start-up; every problem names the
 * parameter and the file. Candidates are ordered ECDSA P-256, ECDSA P-384,
 * Ed25519, RSA: the engine takes the client's most preferred signature
 * scheme that one of them can make, the order only breaks ties.
 *
 * The same loader reads the values of tls_server_sni_maps (sni-maps.ts).
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CertificateError } from '../../certs/errors.js';
import { loadKeyPair } from '../../certs/load.js';
import { type PemBlock, parsePem, toPem } from '../../certs/pem.js';
import { parseCertificate } from '../../certs/x509.js';
import { OID } from '../../certs/oids.js';
import type { CertifiedKey } from '../../engine/config.js';
import type { CryptoProvider, KeyAlgorithm, SigningKey } from '../../engine/crypto/provider.js';
import type { ParsedPrivateKey } from '../../certs/keys.js';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { strerror } from '../base/errno.js';

/** What start-up logs and `tlsproxy check` show of a loaded certificate. */
export interface LoadedCertificate {
  readonly label: string;
  readonly algorithm: string;
  readonly bits: number;
  readonly names: readonly string[];
}


export type FileReader = (file: string) => string;

const readText: FileReader = (file) => readFileSync(file, 'utf8');

/** Engine candidates and what start-up reports about them. */
export interface ServerCertificates {
  readonly certificates: CertifiedKey[];
  readonly loaded: LoadedCertificate[];
}

/** Problems found while loading: `problems` stop start-up, `warnings` are logged. */
export interface Findings {
  readonly problems: string[];
  readonly warnings: string[];
}

/** Candidate order: the engine picks by the client's scheme order; this breaks ties. */
const ALGORITHM_ORDER: readonly KeyAlgorithm[] = ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa'];

const ALGORITHM_NAMES: Record<KeyAlgorithm, string> = { rsa: 'RSA', 'ecdsa-p256': 'ECDSA P-256', 'ecdsa-p384': 'ECDSA P-384', ed25519: 'Ed25519' };

export const CHAIN_FILES = 'tlsproxy_tls_chain_files';

/** Postfix's warning when chain_files and a legacy file are both set (the double spaces are in the original). */
export function legacyIgnoredWarning(prefix = 'tlsproxy'): string {
  return `Both ${prefix}_tls_chain_files and one or more of the legacy  ${prefix}_tls_cert_file, ${prefix}_tls_eccert_file or ${prefix}_tls_dcert_file are non-empty; the legacy  parameters will be ignored`;
}

/** A parameter holding a file list: comma and/or white space separated. */
export function fileList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

// ------------------------------------------------------------ chain signature schemes

/** X.509 signature algorithm OID → TLS SignatureSchemes that name it (RFC 8446 §4.2.3). */
const SCHEMES_BY_OID: Record<string, readonly number[]> = {
  [OID.sha1WithRSA]: [0x0201],
  [OID.sha256WithRSA]: [0x0401],
  [OID.sha384WithRSA]: [0x0501],
  [OID.sha512WithRSA]: [0x0601],
  [OID.rsassaPss]: [0x0804, 0x0805, 0x0806, 0x0809, 0x080a, 0x080b],
  [OID.ecdsaSha1]: [0x0203],
  [OID.ecdsaSha256]: [0x0403],
  [OID.ecdsaSha384]: [0x0503],
  [OID.ecdsaSha512]: [0x0603],
  [OID.ed25519]: [0x0807],
  [OID.ed448]: [0x0808],
};

/** Schemes a key of each algorithm can sign with (TLS 1.3 and 1.2). */
const KEY_SCHEMES: Record<KeyAlgorithm, readonly number[]> = {
  'ecdsa-p256': [0x0403, 0x0503, 0x0603, 0x0203],
  'ecdsa-p384': [0x0503, 0x0403, 0x0603, 0x0203],
  ed25519: [0x0807],
  rsa: [0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201],
};

interface ChainInfo {
  readonly algorithm: KeyAlgorithm;
  /** Per certificate that a client must verify (self-issued ones excluded): the schemes naming its signature. */
  readonly signatures: readonly (readonly number[])[];
}

const chainInfo = new WeakMap<CertifiedKey, ChainInfo>();

function describeChain(chain: readonly Uint8Array[], algorithm: KeyAlgorithm): ChainInfo {
  const signatures: (readonly number[])[] = [];
  for (const der of chain) {
    try {
      const info = parseCertificate(der);
      if (info.selfIssued) continue;
      const schemes = SCHEMES_BY_OID[info.signatureAlgorithm];
      if (schemes) signatures.push(schemes);
    } catch {
      // already validated by loadKeyPair; nothing to learn here
    }
  }
  return { algorithm, signatures };
}

/**
 * True when the client can verify the chain and the key can answer with a
 * scheme the client offered (RFC 8446 §4.2.3 / §4.4.2.2: without
 * signature_algorithms_cert, signature_algorithms covers certificates
 * too). Unknown candidates count as usable.
 */
export function suitsClient(candidate: CertifiedKey, clientSchemes: readonly number[]): boolean {
  const info = chainInfo.get(candidate);
  if (!info || !clientSchemes.length) return true;
  if (!KEY_SCHEMES[info.algorithm].some((s) => clientSchemes.includes(s))) return false;
  return info.signatures.every((schemes) => schemes.some((s) => clientSchemes.includes(s)));
}

/** The candidates that suit the client, in their order; all of them when none does ("where possible"). */
export function preferVerifiable(candidates: readonly CertifiedKey[], clientSchemes: readonly number[]): readonly CertifiedKey[] {
  const ok = candidates.filter((c) => suitsClient(c, clientSchemes));
  return ok.length ? ok : candidates;
}

function sortCandidates(out: ServerCertificates): ServerCertificates {
  const rank = (c: CertifiedKey) => ALGORITHM_ORDER.indexOf(chainInfo.get(c)?.algorithm ?? 'rsa');
  const order = out.certificates.map((c, i) => ({ c, l: out.loaded[i]!, i })).sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i);
  return { certificates: order.map((x) => x.c), loaded: order.map((x) => x.l) };
}

// ------------------------------------------------------------ loading

function readOrProblem(read: FileReader, file: string, source: string, findings: Findings): string | undefined {
  try {
    return read(file);
  } catch (e) {
    findings.problems.push(`${source}: cannot read the file: ${strerror(e)}`);
    return undefined;
  }
}

type Certified = { key: CertifiedKey; loaded: LoadedCertificate; algorithm: KeyAlgorithm };

/**
 * Key pairs already loaded and checked, per provider, by a digest of the
 * files' contents and names: services that share a certificate reuse its
 * parsed chain and imported key instead of parsing, importing and
 * test-signing again (start-up time, issue 9). There is one provider of
 * each kind per process (settings.ts createProvider), so the start's check,
 * the start and every reload share this: a reload reads every file again,
 * and files whose names and contents are unchanged reuse their checked pair
 * (nothing in the check depends on the time); changed ones are checked as
 * new. Only successes are kept, at most CERTIFIED_ENTRIES per provider, the
 * oldest dropped first: the key of a replaced certificate stays in memory
 * until then. The map's key is a SHA-256 digest, so no private key text is
 * held in it.
 */
const CERTIFIED_ENTRIES = 32;
const certifiedMemo = new WeakMap<CryptoProvider, Map<string, Certified>>();

async function certified(
  opts: { certPem: string; certSource: string; keyPem: string; keySource: string },
  provider: CryptoProvider,
  findings: Findings,
  dsaIsWarning: boolean,
): Promise<Certified | undefined> {
  const digest = createHash('sha256');
  for (const part of [opts.certSource, opts.keySource, opts.certPem, opts.keyPem]) digest.update(part).update('\0');
  const id = digest.digest('hex');
  let memo = certifiedMemo.get(provider);
  const known = memo?.get(id);
  if (known) return known;
  const loaded = await loadCertified(opts, provider, findings, dsaIsWarning);
  if (loaded) {
    if (!memo) certifiedMemo.set(provider, (memo = new Map()));
    if (memo.size >= CERTIFIED_ENTRIES) memo.delete(memo.keys().next().value!);
    memo.set(id, loaded);
  }
  return loaded;
}

async function loadCertified(
  opts: { certPem: string; certSource: string; keyPem: string; keySource: string },
  provider: CryptoProvider,
  findings: Findings,
  dsaIsWarning: boolean,
): Promise<Certified | undefined> {
  let pair;
  // The key-pair test and the signing key in one import, with the engine's provider.
  let signer: SigningKey | undefined;
  const checkPair = async (key: ParsedPrivateKey, spki: Uint8Array): Promise<boolean> => {
    try {
      signer = await provider.importSigningKey(key.pkcs8, key.algorithm);
    } catch (e) {
      throw new CertificateError(opts.keySource, `the private key cannot be used with the ${provider.name} crypto provider: ${(e as Error)?.message ?? e}`);
    }
    const scheme = PAIR_TEST_SCHEME[key.algorithm];
    const challenge = provider.random(32);
    return await provider.verify(spki, scheme, challenge, await signer.sign(scheme, challenge));
  };
  try {
    pair = await loadKeyPair({ ...opts, checkPair });
  } catch (e) {
    const message = e instanceof CertificateError ? e.message : `${opts.certSource}: ${(e as Error)?.message ?? e}`;
    if (dsaIsWarning && /DSA (keys|certificates) are not supported/.test(message)) {
      findings.warnings.push(`${message}: ignoring this key and its certificate`);
    } else {
      findings.problems.push(message);
    }
    return undefined;
  }
  // loadKeyPair returned: checkPair ran and imported the key.
  const key: CertifiedKey = { chain: pair.chain, key: signer!, names: pair.names, label: pair.source, spki: pair.leaf.spki };
  chainInfo.set(key, describeChain(pair.chain, pair.key.algorithm));
  return { key, algorithm: pair.key.algorithm, loaded: { label: pair.source, algorithm: pair.key.algorithm, bits: pair.key.bits, names: pair.names } };
}

/** The TLS 1.3 scheme each key type's pair test signs with (RFC 8446 §4.2.3). */
const PAIR_TEST_SCHEME: Record<ParsedPrivateKey['algorithm'], number> = {
  'ecdsa-p256': 0x0403, // ecdsa_secp256r1_sha256
  'ecdsa-p384': 0x0503, // ecdsa_secp384r1_sha384
  rsa: 0x0804, // rsa_pss_rsae_sha256
  ed25519: 0x0807,
};

interface Group {
  readonly file: string;
  readonly key: PemBlock;
  readonly certs: PemBlock[];
}

const KEY_LABELS = /^(|ANY |RSA |EC |DSA |ENCRYPTED |OPENSSH )PRIVATE KEY$/;
const CERT_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'X.509 CERTIFICATE', 'TRUSTED CERTIFICATE']);
/** PEM objects a key-and-chain file may hold besides keys and certificates. */
const IGNORED_LABELS = new Set(['EC PARAMETERS']);

/**
 * Load key-and-chain files: the files are one concatenation of (key,
 * certificate, issuers...) groups. `source` names them in messages
 * (`tlsproxy_tls_chain_files`, `tls_server_sni_maps ... line 3`).
 */
export async function loadChainFiles(
  files: readonly string[],
  source: string,
  provider: CryptoProvider,
  findings: Findings,
  read: FileReader = readText,
): Promise<ServerCertificates> {
  const groups: Group[] = [];
  let current: Group | undefined;
  let structural = false;
  for (const file of files) {
    const where = `${source}=${file}`;
    const text = readOrProblem(read, file, where, findings);
    if (text === undefined) {
      structural = true;
      continue;
    }
    let blocks: PemBlock[];
    try {
      blocks = parsePem(text);
    } catch (e) {
      findings.problems.push(`${where}: ${(e as Error).message}`);
      structural = true;
      continue;
    }
    if (!blocks.length) {
      findings.problems.push(`${where}: ${text.trim() ? 'no PEM data found' : 'the file is empty'}: expected a private key followed by its certificate chain`);
      structural = true;
      continue;
    }
    for (const b of blocks) {
      if (KEY_LABELS.test(b.label)) {
        current = { file, key: b, certs: [] };
        groups.push(current);
      } else if (CERT_LABELS.has(b.label)) {
        if (!current) {
          findings.problems.push(`${where}: a certificate comes before any private key: ${source} must list each private key followed by its certificate, then that certificate's issuers`);
          structural = true;
          break;
        }
        current.certs.push(b);
      } else if (!IGNORED_LABELS.has(b.label)) {
        findings.problems.push(`${where}: unexpected PEM object "${b.label}": expected private keys and certificates`);
        structural = true;
      }
    }
  }
  if (structural) return { certificates: [], loaded: [] };
  const out: ServerCertificates = { certificates: [], loaded: [] };
  const seen = new Map<KeyAlgorithm, string>();
  for (const g of groups) {
    const where = `${source}=${g.file}`;
    if (!g.certs.length) {
      findings.problems.push(`${where}: a private key is not followed by its certificate`);
      continue;
    }
    const r = await certified(
      { certPem: g.certs.map((c) => toPem(c.label, c.der)).join(''), certSource: where, keyPem: toPem(g.key.label, g.key.der), keySource: where },
      provider,
      findings,
      true,
    );
    if (!r) continue;
    const before = seen.get(r.algorithm);
    if (before !== undefined) {
      findings.problems.push(`${where}: a second ${ALGORITHM_NAMES[r.algorithm]} key (the first is in ${before}): at most one key per algorithm`);
      continue;
    }
    seen.set(r.algorithm, g.file);
    out.certificates.push(r.key);
    out.loaded.push(r.loaded);
  }
  if (!groups.length && !findings.problems.length) findings.problems.push(`${source}: no private key and certificate found`);
  return sortCandidates(out);
}

interface CertKeyPair {
  readonly certParam: string;
  readonly keyParam: string;
}

/** The legacy cert/key parameter pairs (DSA last: it is only warned about). */
const PAIRS: readonly CertKeyPair[] = [
  { certParam: 'tlsproxy_tls_cert_file', keyParam: 'tlsproxy_tls_key_file' },
  { certParam: 'tlsproxy_tls_eccert_file', keyParam: 'tlsproxy_tls_eckey_file' },
];

/**
 * Every server certificate of a service, with all problems found (none
 * thrown): what `tlsproxy check` reports and what start-up refuses.
 */
export async function examineServerCertificates(params: ParameterSet, provider: CryptoProvider, read: FileReader = readText): Promise<ServerCertificates & Findings> {
  const findings: Findings = { problems: [], warnings: [] };
  const certFile = params.get('tlsproxy_tls_cert_file').trim();
  const none = certFile.toLowerCase() === 'none';
  const eccert = params.get('tlsproxy_tls_eccert_file').trim();
  const dcert = params.get('tlsproxy_tls_dcert_file').trim();
  const chainFiles = fileList(params.get(CHAIN_FILES));
  const legacy = (!none && certFile !== '') || eccert !== '' || dcert !== '';

  let out: ServerCertificates = { certificates: [], loaded: [] };
  if (chainFiles.length) {
    if (legacy) findings.warnings.push(legacyIgnoredWarning());
    out = await loadChainFiles(chainFiles, CHAIN_FILES, provider, findings, read);
  } else {
    if (dcert) {
      findings.warnings.push(`tlsproxy_tls_dcert_file=${dcert}: DSA certificates are not supported (an obsolete algorithm that TLS 1.3 does not allow): ignoring tlsproxy_tls_dcert_file and tlsproxy_tls_dkey_file; use an ECDSA, RSA or Ed25519 certificate`);
    }
    for (const { certParam, keyParam } of PAIRS) {
      const cert = params.get(certParam).trim();
      if (!cert || (certParam === 'tlsproxy_tls_cert_file' && none)) continue;
      const keyFile = params.get(keyParam).trim() || cert;
      const certSource = `${certParam}=${cert}`;
      const keySource = `${keyParam}=${keyFile}`;
      const certPem = readOrProblem(read, cert, certSource, findings);
      const keyPem = keyFile === cert ? certPem : readOrProblem(read, keyFile, keySource, findings);
      if (certPem === undefined || keyPem === undefined) continue;
      const r = await certified({ certPem, certSource, keyPem, keySource }, provider, findings, false);
      if (!r) continue;
      out.certificates.push(r.key);
      out.loaded.push(r.loaded);
    }
    out = sortCandidates(out);
  }
  if (!out.certificates.length && !findings.problems.length) {
    // Postfix's words; with cert_file = none, why (tlsproxy check shows the warning).
    if (none && !chainFiles.length) {
      findings.warnings.push(
        'tlsproxy_tls_cert_file = none: certificate-less TLS needs anonymous cipher suites, which this engine does not implement: configure tlsproxy_tls_chain_files or a certificate file',
      );
    }
    findings.problems.push("No server certs available. TLS can't be enabled");
  }
  return { ...out, ...findings };
}

/** Start-up: the certificates, or a ConfigError with the first problem; warnings go to `warnings`. */
export async function loadServerCertificates(params: ParameterSet, provider: CryptoProvider, warnings: string[], read: FileReader = readText): Promise<ServerCertificates> {
  const r = await examineServerCertificates(params, provider, read);
  warnings.push(...r.warnings);
  if (r.problems.length) throw new ConfigError(r.problems[0]!);
  return { certificates: r.certificates, loaded: r.loaded };
}
