/**
 * Client certificates (tlsproxy-postfix.md §1.6, §1.8, §1.9, §4.2, §4.3):
 * from Postfix parameters to the engine's ClientAuthPolicy, and the log
 * lines of one connection.
 *
 * Parameters:
 *   tlsproxy_tls_ask_ccert          send a CertificateRequest (TLS 1.3 and 1.2)
 *   tlsproxy_tls_req_ccert          with mandatory TLS (encrypt / enforce_tls): also ask,
 *                                   and force the "untrusted" log lines. Never enforced,
 *                                   as in Postfix: without mandatory TLS it only earns the
 *                                   warning `Can't require client certs unless TLS is required`.
 *   tlsproxy_tls_CAfile             trust anchors; their subject names are sent as
 *                                   certificate_authorities
 *   tlsproxy_tls_CApath             a directory: every certificate in every file is an
 *                                   anchor (hashed names or not); names not advertised
 *   tlsproxy_tls_ccert_verifydepth  deepest certificate accepted (leaf = 0), default 9
 *   tlsproxy_tls_ccert_rsa_min_bits (ours) smallest RSA key in the chain, default 2048 (OpenSSL
 *                                   security level 2); a smaller one is untrusted (66 leaf, 67 CA)
 *   tlsproxy_tls_fingerprint_digest md5, sha1, sha224, sha256, sha384, sha512; anything
 *                                   else stops start-up (Postfix: TLS unavailable)
 *   tlsproxy_tls_require_trusted_ccert (ours, default no): a missing or untrusted client
 *                                   certificate ends the handshake (certificate_required
 *                                   in TLS 1.3, handshake_failure in 1.2; for an untrusted
 *                                   one the alert of the reason: unknown_ca,
 *                                   certificate_expired, unsupported_certificate,
 *                                   bad_certificate). For services that are not SMTP.
 *
 * Log lines of a connection (ClientCertificateLog):
 *   <endpt>: depth=<n> verify=<0|1> subject=<DN>      level >= 2, as the chain is verified
 *   [client |CA ]certificate verification failed for <endpt>: <reason>
 *                                                     "untrusted" lines: the loglevel keyword
 *                                                     `untrusted`, or forced by mandatory TLS +
 *                                                     req_ccert, or by require_trusted_ccert
 *   subject=<DN> / issuer=<DN>                        level >= 2
 *   <endpt>: subject_CN=<cn>, issuer=<icn>, cert fingerprint=<fp>, pkey fingerprint=<fp>
 *                                                     level >= 2 or the keyword `peercert`
 *                                                     (Postfix 3.9+ form; empty parts omitted)
 *   <endpt>: re-using session with untrusted certificate, look for details earlier in the log
 *                                                     resumption of an untrusted session, with
 *                                                     the "untrusted" lines on
 * The Trusted / Untrusted / Anonymous word and client-signature/-digest are
 * the summary line's (summary.ts).
 */

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CertificateError } from '../../certs/errors.js';
import {
  TrustStore, digestText, parseFingerprintDigest, parseTrustAnchors, unusableRsaKey, verificationFailureText, verifyClientChain,
  type ChainVerification, type FingerprintDigest, type VerifiableCertificate, type VerifyError,
} from '../../certs/verify.js';
import { describeSpki } from '../../certs/x509.js';
import type { ClientAuthPolicy, ClientCertificateVerdict, ServerConfig } from '../../engine/config.js';
import type { ClientCertificateDetails as EngineCertificateDetails, HandshakeInfo } from '../../engine/events.js';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { strerror } from '../base/errno.js';
import type { Logger } from '../log/log.js';
import { FINGERPRINT_TABLES, loadFingerprintTables } from './fingerprint-table.js';

/** What our verifier hands back through HandshakeInfo.clientCertificate.details (the engine's type, narrowed). */
export interface ClientCertificateDetails extends EngineCertificateDetails {
  readonly digest: FingerprintDigest;
  /** Why it is not trusted. */
  readonly error?: VerifyError;
}

/** What we keep about a policy we built, beyond what the engine sees. */
interface PolicyInternals {
  readonly anchors: TrustStore;
  readonly verifyDepth: number;
  readonly minRsaBits: number;
  readonly digest: FingerprintDigest;
  /** Log verification failures (Postfix TLS_LOG_UNTRUSTED). */
  readonly logUntrusted: boolean;
  /** Log the subject_CN/fingerprint line even below level 2 (TLS_LOG_PEERCERT). */
  readonly logPeercert: boolean;
  readonly now: () => Date;
}

const internals = new WeakMap<ClientAuthPolicy, PolicyInternals>();

export interface ClientAuthOptions {
  /** Reads a CA file (default: readFileSync utf8). */
  readonly readFile?: (file: string) => string;
  /** Verification clock (tests). */
  readonly now?: () => Date;
}

/** Most bytes of CA names in one CertificateRequest (the vector holds at most 2^16-1). */
const MAX_CA_NAMES_BYTES = 65_000;
/** CApath files larger than this are skipped (a CA file is a few KB). */
const MAX_CA_FILE_BYTES = 4 * 1024 * 1024;

/** The "mandatory TLS" of §1.2: an explicit level other than may, else the legacy enforce switch. */
function mandatoryTls(params: ParameterSet): boolean {
  const level = params.get('tlsproxy_tls_security_level').trim().toLowerCase();
  return level ? level !== 'may' && level !== 'none' : params.getBool('tlsproxy_enforce_tls');
}

/** Keywords of tlsproxy_tls_loglevel (§1.9), lower case. */
function logKeywords(params: ParameterSet): Set<string> {
  return new Set(params.get('tlsproxy_tls_loglevel').toLowerCase().split(/[\s,:]+/).filter(Boolean));
}

/**
 * The engine settings for client certificates: `{ clientAuth }` when
 * certificates are asked for, `{}` otherwise. Problems stop start-up
 * (ConfigError naming the parameter and file); Postfix's warnings go to
 * `warnings`.
 */
export async function clientAuthConfig(params: ParameterSet, warnings: string[], options: ClientAuthOptions = {}): Promise<{ clientAuth?: ClientAuthPolicy }> {
  const digestName = params.get('tlsproxy_tls_fingerprint_digest').trim();
  const digest = parseFingerprintDigest(digestName);
  if (!digest) {
    throw new ConfigError(`tlsproxy_tls_fingerprint_digest: Digest algorithm "${digestName}" not found: TLS can't be enabled (use md5, sha1, sha224, sha256, sha384 or sha512)`);
  }
  const verifyDepth = params.getInt('tlsproxy_tls_ccert_verifydepth');
  if (verifyDepth < 0) throw new ConfigError(`invalid tlsproxy_tls_ccert_verifydepth value: ${verifyDepth} (expected 0 or more)`);
  const minRsaBits = params.getInt('tlsproxy_tls_ccert_rsa_min_bits');
  if (minRsaBits < 1024) throw new ConfigError(`invalid tlsproxy_tls_ccert_rsa_min_bits value: ${minRsaBits} (expected 1024 or more)`);
  const mandatory = mandatoryTls(params);
  const ask = params.getBool('tlsproxy_tls_ask_ccert');
  const req = params.getBool('tlsproxy_tls_req_ccert');
  const strict = params.getBool('tlsproxy_tls_require_trusted_ccert');
  if (req && !mandatory) warnings.push("Can't require client certs unless TLS is required");

  const read = options.readFile ?? ((f: string) => readFileSync(f, 'utf8'));
  const { anchors: caFileAnchors, source: caFileSource } = loadCaFile(params, read);
  const caPathAnchors = loadCaPath(params, read, warnings);
  const anchors = new TrustStore([...caFileAnchors, ...caPathAnchors]);

  if (!(ask || (mandatory && req) || strict)) return {};
  if (strict && anchors.size === 0) {
    throw new ConfigError('tlsproxy_tls_require_trusted_ccert = yes needs trust anchors: tlsproxy_tls_CAfile and tlsproxy_tls_CApath are both empty');
  }
  const certificateAuthorities = caNames(caFileAnchors, caFileSource, warnings);
  const keywords = logKeywords(params);
  const inner: PolicyInternals = {
    anchors,
    verifyDepth,
    minRsaBits,
    digest,
    logUntrusted: (mandatory && req) || strict || keywords.has('untrusted'),
    logPeercert: keywords.has('peercert'),
    now: options.now ?? (() => new Date()),
  };
  // RFC 7250 (Postfix 3.9 tlsproxy_tls_enable_rpk): ask for a raw public key; one is
  // "Trusted" when its public-key fingerprint is listed in relay_clientcerts.
  const rpk = params.getBool('tlsproxy_tls_enable_rpk');
  const known = rpk ? loadFingerprintTables(params, read) : new Set<string>();
  const policy: ClientAuthPolicy = {
    mode: strict ? 'require' : 'request',
    requireTrusted: strict,
    ...(certificateAuthorities.length ? { certificateAuthorities } : {}),
    verify: async (chain) => verdictOf(await verifyWith(inner, chain), inner.digest),
    ...(rpk ? { verifyRawPublicKey: (spki: Uint8Array) => rawKeyVerdict(spki, inner, known) } : {}),
  };
  internals.set(policy, inner);
  return { clientAuth: policy };
}

function loadCaFile(params: ParameterSet, read: (f: string) => string): { anchors: VerifiableCertificate[]; source: string } {
  const name = 'tlsproxy_tls_CAfile';
  const file = params.get(name).trim();
  const source = `${name}=${file}`;
  if (!file) return { anchors: [], source };
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    throw new ConfigError(`${source}: cannot read the file: ${strerror(e)}`);
  }
  try {
    return { anchors: parseTrustAnchors(text, source), source };
  } catch (e) {
    if (e instanceof CertificateError) throw new ConfigError(e.message);
    throw e;
  }
}

/** Every certificate of every regular file (symbolic links followed) in the CApath directory, in name order. */
function loadCaPath(params: ParameterSet, read: (f: string) => string, warnings: string[]): VerifiableCertificate[] {
  const name = 'tlsproxy_tls_CApath';
  const dir = params.get(name).trim();
  if (!dir) return [];
  const source = `${name}=${dir}`;
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (e) {
    throw new ConfigError(`${source}: cannot read the directory: ${strerror(e)}`);
  }
  const out: VerifiableCertificate[] = [];
  for (const entry of entries) {
    const file = path.join(dir, entry);
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) continue;
      size = st.size;
    } catch {
      continue; // a dangling link
    }
    if (size > MAX_CA_FILE_BYTES) {
      warnings.push(`${source}: skipping ${file}: larger than ${MAX_CA_FILE_BYTES} bytes`);
      continue;
    }
    let text: string;
    try {
      text = read(file);
    } catch (e) {
      warnings.push(`${source}: skipping ${file}: ${strerror(e)}`);
      continue;
    }
    // Hashed directories also hold CRLs (<hash>.r0) and other files: only certificates count.
    if (!/-----BEGIN (?:X509 |X\.509 |TRUSTED )?CERTIFICATE-----/.test(text)) continue;
    try {
      out.push(...parseTrustAnchors(text, file));
    } catch (e) {
      warnings.push(`${source}: skipping ${(e as Error).message}`);
    }
  }
  return out;
}

/** The CAfile subject names for certificate_authorities, in file order, without duplicates, within the vector's size. */
function caNames(anchors: readonly VerifiableCertificate[], source: string, warnings: string[]): Uint8Array[] {
  const names: Uint8Array[] = [];
  const seen = new Set<string>();
  let bytes = 0;
  for (const a of anchors) {
    const key = Buffer.from(a.subjectDer).toString('hex');
    if (seen.has(key)) continue;
    seen.add(key);
    if (bytes + a.subjectDer.length + 2 > MAX_CA_NAMES_BYTES) {
      warnings.push(`${source}: only the first ${names.length} of the CA names fit in a CertificateRequest; the others are not advertised`);
      break;
    }
    bytes += a.subjectDer.length + 2;
    names.push(a.subjectDer);
  }
  return names;
}

/**
 * Text that changes whenever the verdict on a client certificate could:
 * asked or not, strict or not, the trust anchors (their DER, in any order),
 * the depth limit and the RSA minimum. Part of the service's resumption
 * context (settings.ts), so that a session whose certificate was trusted
 * under one policy is not resumed under another.
 */
export function clientAuthFingerprint(policy: ClientAuthPolicy | undefined): string {
  if (!policy) return 'no client certificates';
  const inner = internals.get(policy);
  const anchors = inner ? inner.anchors.anchors.map((a) => createHash('sha256').update(a.der).digest('hex')).sort() : [];
  return JSON.stringify({
    mode: policy.mode,
    requireTrusted: policy.requireTrusted ?? false,
    verifyDepth: inner?.verifyDepth,
    minRsaBits: inner?.minRsaBits,
    anchors,
  });
}

function verifyWith(inner: PolicyInternals, chain: readonly Uint8Array[]): Promise<ChainVerification> {
  return verifyClientChain(chain, { anchors: inner.anchors, verifyDepth: inner.verifyDepth, minRsaBits: inner.minRsaBits, now: inner.now() });
}

const KEY_ALGORITHMS = new Set(['rsa', 'ecdsa-p256', 'ecdsa-p384', 'ed25519']);

function verdictOf(r: ChainVerification, digest: FingerprintDigest): ClientCertificateVerdict {
  const leaf = r.leaf;
  const details: ClientCertificateDetails = {
    subject: leaf.info.subject,
    issuer: leaf.info.issuer,
    subjectCN: leaf.subjectCN,
    issuerCN: leaf.issuerCN,
    certFingerprint: digestText(leaf.der, digest),
    pkeyFingerprint: digestText(leaf.info.spki, digest),
    digest,
    ...(r.error ? { error: r.error } : {}),
  };
  return {
    spki: leaf.info.spki,
    keyAlgorithm: KEY_ALGORITHMS.has(leaf.info.keyAlgorithm) ? (leaf.info.keyAlgorithm as 'rsa') : 'other',
    keyBits: leaf.info.keyBits,
    trusted: r.trusted,
    ...(r.error ? { alert: r.error.alert, reason: r.error.reason } : {}),
    details,
  };
}

/**
 * A client's raw public key (RFC 7250): no chain to verify, so it is
 * trusted exactly when its fingerprint is listed in relay_clientcerts. The
 * key must be one we can check a CertificateVerify with, and an RSA key
 * obeys the same size and exponent rules as in a certificate.
 */
function rawKeyVerdict(spki: Uint8Array, inner: PolicyInternals, known: ReadonlySet<string>): ClientCertificateVerdict {
  let key;
  try {
    key = describeSpki(spki);
  } catch (e) {
    throw new CertificateError(undefined, `raw public key: ${(e as Error).message}`);
  }
  if (!KEY_ALGORITHMS.has(key.keyAlgorithm)) throw new CertificateError(undefined, `raw public key: unsupported key type ${key.keyAlgorithmName}`);
  const unusable = unusableRsaKey({ ...key } as Parameters<typeof unusableRsaKey>[0]) ?? (key.keyAlgorithm === 'rsa' && key.keyBits < inner.minRsaBits ? `RSA key of ${key.keyBits} bits is shorter than ${inner.minRsaBits} bits` : undefined);
  if (unusable) throw new CertificateError(undefined, `raw public key: ${unusable}`);
  const pkeyFingerprint = digestText(spki, inner.digest);
  const trusted = known.has(pkeyFingerprint);
  return {
    spki,
    keyAlgorithm: key.keyAlgorithm as 'rsa',
    keyBits: key.keyBits,
    trusted,
    ...(trusted ? {} : { alert: 'access_denied' as const, reason: `raw public key fingerprint not in ${FINGERPRINT_TABLES}` }),
    details: { subject: '', issuer: '', subjectCN: '', issuerCN: '', certFingerprint: '', pkeyFingerprint, digest: inner.digest, rawPublicKey: true },
  };
}

/** The details the verifier put in HandshakeInfo.clientCertificate (undefined for a resumed session). */
export function clientCertificateDetails(info: HandshakeInfo): EngineCertificateDetails | undefined {
  return info.clientCertificate?.details;
}

/** `<endpt>: subject_CN=<cn>, issuer=<icn>, cert fingerprint=<fp>, pkey fingerprint=<fp>` (Postfix 3.9+, empty parts omitted). */
export function peerCertificateLine(endpoint: string, d: EngineCertificateDetails): string {
  const parts = [
    d.subjectCN ? `subject_CN=${d.subjectCN}` : '',
    d.issuerCN ? `issuer=${d.issuerCN}` : '',
    d.certFingerprint ? `cert fingerprint=${d.certFingerprint}` : '',
    d.pkeyFingerprint ? `pkey fingerprint=${d.pkeyFingerprint}` : '',
  ].filter(Boolean);
  return `${endpoint}: ${parts.join(', ')}`;
}

/**
 * The client-certificate lines of one connection. `config` is the
 * connection's ServerConfig with a verifier that logs as it verifies; call
 * `secure(info)` when the handshake completed, before the summary line.
 * Without client certificates (no policy of ours) it changes nothing.
 */
export class ClientCertificateLog {
  readonly config: ServerConfig;
  private readonly inner: PolicyInternals | undefined;

  constructor(config: ServerConfig, private readonly log: Logger, private readonly endpoint: string, private readonly loglevel: number) {
    const policy = config.clientAuth;
    this.inner = policy ? internals.get(policy) : undefined;
    const inner = this.inner;
    if (!policy || !inner) {
      this.config = config;
      return;
    }
    const wrapped: ClientAuthPolicy = {
      ...policy,
      verify: async (chain) => {
        const r = await verifyWith(inner, chain);
        this.verified(r);
        return verdictOf(r, inner.digest);
      },
    };
    this.config = { ...config, clientAuth: wrapped };
  }

  private verified(r: ChainVerification): void {
    if (this.loglevel >= 2) {
      for (const d of r.depthReports) this.log.info(`${this.endpoint}: depth=${d.depth} verify=${d.ok ? 1 : 0} subject=${d.subject}`);
    }
    if (r.error && this.inner?.logUntrusted) this.log.info(verificationFailureText(r.error, this.endpoint));
  }

  /** After the handshake: the peer certificate lines, or the reminder on resumption. */
  secure(info: HandshakeInfo): void {
    const cc = info.clientCertificate;
    if (!cc || !this.inner) return;
    const d = clientCertificateDetails(info);
    if (d?.rawPublicKey && !cc.resumed) {
      // RFC 7250: a raw key has no subject or issuer; Postfix 3.9 logs its fingerprint.
      if (this.loglevel >= 2 || this.inner.logPeercert) this.log.info(`${this.endpoint}: raw public key fingerprint=${d.pkeyFingerprint}`);
    } else if (d && !cc.resumed) {
      if (this.loglevel >= 2) {
        this.log.info(`subject=${d.subject}`);
        this.log.info(`issuer=${d.issuer}`);
      }
      if (this.loglevel >= 2 || this.inner.logPeercert) this.log.info(peerCertificateLine(this.endpoint, d));
    }
    if (cc.resumed && !cc.trusted && this.inner.logUntrusted) {
      this.log.info(`${this.endpoint}: re-using session with untrusted certificate, look for details earlier in the log`);
    }
  }
}
