/**
 * From Postfix parameters to the engine's ServerConfig: security level,
 * log level, crypto provider, certificates and keys, groups, preference.
 * Everything here runs once at start-up; every problem is a ConfigError
 * whose message names the parameter (and the file).
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
// certs/ files by name, not certs/index.js: the daemon's bundle then leaves certs/generate.ts (and pkijs)
// to the `certs` command's chunk (start-up time, issue 9).
import { CertificateError } from '../../certs/errors.js';
import { parseDhParams } from '../../certs/dh.js';
import { DEFAULT_TLS13_SUITES, type CertifiedKey, type ServerConfig } from '../../engine/config.js';
import { ProtocolVersion } from '../../engine/constants.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { type DhParams, FFDHE_GROUPS } from '../../engine/ffdhe.js';
import { cipherPolicy, PolicyError, type CipherPolicy } from '../../engine/policy/grades.js';
import { type GroupPolicy, groupPolicy, OPENSSL_DEFAULT_GROUPS } from '../../engine/policy/groups.js';
import { tls13Groups } from '../../engine/tls13/key-exchange.js';
import { parseSslOptions } from '../../engine/policy/options.js';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { strerror } from '../base/errno.js';
import { loadServerCertificates, type LoadedCertificate } from './chain-files.js';

export type { LoadedCertificate } from './chain-files.js';
import { clientAuthConfig, clientAuthFingerprint } from './client-auth.js';
import { isMandatory, selectVersions } from './protocols.js';
import { NO_SESSION_CACHE, ResumptionStore, resumptionSettings } from './resumption.js';
import { certificateSelector, loadSniMaps } from './sni-maps.js';

export interface TlsSettings {
  readonly config: ServerConfig;
  readonly loglevel: number;
  readonly certificates: readonly LoadedCertificate[];
  /** Non-fatal problems to log at start-up (Postfix warns about these). */
  readonly warnings: readonly string[];
  /** tls_server_sni_maps in use: the summary line gets ` to <sni>` on a match, unmatched names are logged. */
  readonly sniMaps?: boolean;
  /** The cipher policy in force (engine/policy/grades.ts); `cipherList` is Postfix's level-2 `TLS cipher list "..."`. */
  readonly ciphers?: CipherPolicy & { readonly mandatory: boolean };
}

export type FileReader = (file: string) => string;

const readText: FileReader = (file) => readFileSync(file, 'utf8');

/**
 * tlsproxy_crypto_provider: node (default), webcrypto or js. Each
 * provider module is loaded only when chosen (start-up time and memory). With `js` every handshake and
 * record primitive is JavaScript (docs/js-provider.md); the daemon around
 * the engine still uses node:crypto for fingerprints and ticket keys, and
 * certs/ uses WebCrypto for the key/certificate match at start-up and for
 * client certificate chains.
 */
export async function createProvider(params: ParameterSet, name = 'tlsproxy_crypto_provider'): Promise<CryptoProvider> {
  const value = params.get(name).trim().toLowerCase();
  let provider = providers.get(value);
  if (!provider) {
    provider = await makeProvider(value, name);
    providers.set(value, provider);
  }
  return provider;
}

/**
 * One provider of each kind per process: the start's check, the start itself, every service and
 * every reload share it, so a certificate and key loaded once (memoised per provider and file
 * contents, chain-files.ts) are not imported and test-signed again (start-up time, issue 9). A
 * provider keeps no per-configuration state.
 */
const providers = new Map<string, CryptoProvider>();

async function makeProvider(value: string, name: string): Promise<CryptoProvider> {
  switch (value) {
    case 'node':
      return (await import('../../providers/node.js')).createNodeCryptoProvider();
    case 'webcrypto':
      return (await import('../../engine/crypto/webcrypto.js')).loadWebCryptoProvider();
    case 'js': {
      const { createJsCryptoProvider } = await import('../../engine/crypto/js.js');
      try {
        return createJsCryptoProvider();
      } catch (e) {
        throw new ConfigError(`${name} = js: ${e instanceof Error ? e.message : String(e)}; the js provider needs the platform's CSPRNG and has no fallback`);
      }
    }
    default:
      throw new ConfigError(`invalid ${name} value: "${value}" (expected node, webcrypto or js)`);
  }
}

const LOG_KEYWORDS: Record<string, number> = {
  none: 0,
  routine: 1,
  summary: 1,
  untrusted: 1,
  peercert: 1,
  certmatch: 1,
  dane: 1,
  debug: 2,
  verbose: 2,
  cache: 2,
  'ssl-debug': 2,
  'ssl-expert': 3,
  'ssl-handshake-packet-dump': 3,
  'ssl-developer': 4,
  'ssl-session-packet-dump': 4,
};

/** A TLS log level (tlsproxy-postfix.md §1.9): a number, or keywords (highest wins). */
export function parseLogLevel(value: string, name: string): number {
  const v = value.trim().toLowerCase();
  if (/^\d+$/.test(v)) return Math.min(Number(v), 9);
  const words = v.split(/[\s,:]+/).filter(Boolean);
  if (!words.length) throw new ConfigError(`invalid ${name} value: "${value}"`);
  let level = 0;
  for (const w of words) {
    const l = LOG_KEYWORDS[w];
    if (l === undefined) throw new ConfigError(`invalid ${name} value: "${value}": unknown keyword "${w}"`);
    level = Math.max(level, l);
  }
  return level;
}

/**
 * tlsproxy_tls_security_level (§1.2); returns the effective level ('' = legacy
 * switches). Deliberate difference: an empty level
 * with the legacy use_tls=no does not disable TLS here, because a
 * stand-alone implicit-TLS proxy has no plaintext mode to fall back to;
 * only an explicit `none` is refused.
 */
export function checkSecurityLevel(params: ParameterSet, warnings: string[]): string {
  const name = 'tlsproxy_tls_security_level';
  const level = params.get(name).trim();
  switch (level.toLowerCase()) {
    case '':
    case 'may':
    case 'encrypt':
      return level.toLowerCase();
    case 'none':
      throw new ConfigError(`TLS server role is disabled by configuration (${name} = none)`);
    case 'fingerprint':
    case 'verify':
    case 'secure':
      warnings.push(`${name}: unsupported TLS level "${level}", using "encrypt"`);
      return 'encrypt';
    default:
      throw new ConfigError(`Invalid TLS level "${level}"`);
  }
}

/**
 * Groups in server preference order (§1.5, engine/policy/groups.ts):
 * tlsproxy_tls_eecdh_grade (ignored since Postfix 3.6, older values
 * accepted with a warning), tls_eecdh_auto_curves then
 * tls_ffdhe_auto_groups; unknown or unsupported names are skipped
 * silently, duplicates removed; nothing usable → Postfix's warnings and
 * the Postfix defaults.
 */
export function selectGroups(params: ParameterSet, provider: CryptoProvider, warnings: string[]): number[] {
  return [...selectGroupPolicy(params, provider, warnings).groups];
}

/** selectGroups with the OpenSSL 3.5 tuples (engine/policy/groups.ts) the TLS 1.3 choice follows. */
export function selectGroupPolicy(params: ParameterSet, provider: CryptoProvider, warnings: string[]): GroupPolicy {
  // TLS 1.3 groups the engine can do with this provider (ECDHE, FFDHE, hybrids), and the
  // RFC 7919 groups, which TLS 1.2 DHE uses whatever the provider.
  const tls13 = new Set(tls13Groups(provider));
  const usable = (g: number) => tls13.has(g) || FFDHE_GROUPS.has(g);
  const policy = groupPolicy({
    eecdhGrade: params.get('tlsproxy_tls_eecdh_grade'),
    eecdhGradeParameter: 'tlsproxy_tls_eecdh_grade',
    autoCurves: params.get('tls_eecdh_auto_curves'),
    ffdheGroups: params.get('tls_ffdhe_auto_groups'),
    usable,
    // Postfix 3.10+: both lists empty leaves the choice to the library (OpenSSL 3.5's DEFAULT).
    libraryDefaults: OPENSSL_DEFAULT_GROUPS,
  });
  warnings.push(...policy.warnings);
  return policy;
}

/**
 * The TLS 1.2 cipher suites (§1.3, engine/policy/grades.ts): the grade of
 * tlsproxy_tls_mandatory_ciphers (mandatory TLS) or tlsproxy_tls_ciphers,
 * its tls_*_cipherlist, minus tlsproxy_tls_exclude_ciphers, (mandatory)
 * tlsproxy_tls_mandatory_exclude_ciphers and, when client certificates are
 * requested, aNULL; evaluated as OpenSSL would, then restricted to the
 * suites the engine implements. Bad values are ConfigErrors naming the
 * parameter; a selection of only unimplemented suites is a warning.
 */
export function selectCiphers(params: ParameterSet, mandatory: boolean, warnings: string[]): CipherPolicy & { readonly mandatory: boolean } {
  const gradeParameter = mandatory ? 'tlsproxy_tls_mandatory_ciphers' : 'tlsproxy_tls_ciphers';
  const exclusions = [{ parameter: 'tlsproxy_tls_exclude_ciphers', value: params.get('tlsproxy_tls_exclude_ciphers') }];
  if (mandatory) exclusions.push({ parameter: 'tlsproxy_tls_mandatory_exclude_ciphers', value: params.get('tlsproxy_tls_mandatory_exclude_ciphers') });
  const excludeAnonymous = params.getBool('tlsproxy_tls_ask_ccert') || (mandatory && params.getBool('tlsproxy_tls_req_ccert'));
  let policy: CipherPolicy;
  try {
    policy = cipherPolicy({
      grade: params.get(gradeParameter),
      gradeParameter,
      exclusions,
      excludeAnonymous,
      lists: { high: params.get('tls_high_cipherlist'), medium: params.get('tls_medium_cipherlist'), null: params.get('tls_null_cipherlist') },
    });
  } catch (e) {
    if (e instanceof PolicyError) throw new ConfigError(e.message);
    throw e;
  }
  warnings.push(...policy.warnings, ...policy.notes);
  return { ...policy, mandatory };
}

/**
 * Load every configured certificate with its key (§1.6): chain_files, or
 * the legacy cert/key pairs (chain-files.ts). A missing, unreadable or
 * mismatched file is an error naming `parameter=file`.
 */
export async function loadCertificates(
  params: ParameterSet,
  provider: CryptoProvider,
  warnings: string[],
  read: FileReader = readText,
): Promise<{ certificates: CertifiedKey[]; loaded: LoadedCertificate[] }> {
  return loadServerCertificates(params, provider, warnings, read);
}

function readOrFail(read: FileReader, file: string, source: string): string {
  try {
    return read(file);
  } catch (e) {
    throw new ConfigError(`${source}: cannot read the file: ${strerror(e)}`);
  }
}

/**
 * tlsproxy_tls_dh1024_param_file (§1.7): empty or `auto` = no file (the
 * engine uses the RFC 7919 group the client names, else ffdhe2048);
 * otherwise a PKCS #3 "DH PARAMETERS" PEM file whose prime has at least
 * tlsproxy_tls_dh_min_bits (2048) bits. A bad file stops start-up.
 */
export function loadDhParams(params: ParameterSet, read: FileReader = readText): DhParams | undefined {
  const name = 'tlsproxy_tls_dh1024_param_file';
  const minBits = params.getInt('tlsproxy_tls_dh_min_bits');
  const file = params.get(name).trim();
  if (!file || file.toLowerCase() === 'auto') return undefined;
  const source = `${name}=${file}`;
  const pem = readOrFail(read, file, source);
  try {
    return parseDhParams(pem, source, minBits);
  } catch (e) {
    if (e instanceof CertificateError) throw new ConfigError(e.message);
    throw e;
  }
}

export interface PolicySettings {
  /** The effective security level ('' = the legacy switches). */
  readonly level: string;
  /** Mandatory TLS: the mandatory grade, exclusions and protocols apply. */
  readonly mandatory: boolean;
  readonly versions: readonly number[];
  readonly ciphers: CipherPolicy & { readonly mandatory: boolean };
  readonly prioritizeChacha: boolean;
}

/**
 * The protocol and cipher policy of a service (§1.2-§1.4, tls_ssl_options):
 * security level, protocol versions, TLS 1.2 suites. Throws ConfigError
 * for a bad value (naming the parameter); warnings are appended.
 * (`tlsproxy check` can call this alone.)
 */
export function loadPolicy(params: ParameterSet, warnings: string[]): PolicySettings {
  const level = checkSecurityLevel(params, warnings);
  const enforce = params.getBool('tlsproxy_enforce_tls');
  const versions = selectVersions(level, enforce, params.get('tlsproxy_tls_protocols'), params.get('tlsproxy_tls_mandatory_protocols'), {
    protocols: 'tlsproxy_tls_protocols',
    mandatory: 'tlsproxy_tls_mandatory_protocols',
  });
  const mandatory = isMandatory(level, enforce);
  const ciphers = selectCiphers(params, mandatory, warnings);
  if (!ciphers.tls12Suites.length && !versions.includes(ProtocolVersion.TLS1_3)) {
    throw new ConfigError(`TLS 1.2 is the only protocol enabled, and the cipher grade selects none of its suites that this server implements (cipher list "${ciphers.cipherList}")`);
  }
  const sslOptions = parseSslOptions(params.get('tls_ssl_options'));
  warnings.push(...sslOptions.warnings);
  return { level, mandatory, versions, ciphers, prioritizeChacha: sslOptions.prioritizeChacha };
}

export interface TlsSettingsOptions {
  readonly readFile?: FileReader;
  /** Ticket keys and session cache shared between services (default: this service's own). */
  readonly resumption?: ResumptionStore;
}

/** The engine's group settings: preference, tuples, and supported_groups in EncryptedExtensions as OpenSSL sends it. */
function groupSettings(policy: GroupPolicy): Pick<ServerConfig, 'groups' | 'groupTuples' | 'advertiseGroupsAuto'> {
  return { groups: policy.groups, groupTuples: policy.tuples, advertiseGroupsAuto: true };
}

/**
 * The engine's resumptionContext for a service: SHA-256 of its master.cf
 * name and its client-certificate policy (clientAuthFingerprint). Tickets
 * are sealed with it and cached sessions carry it, so a ticket or session
 * made by one service (or by this one before its CAfile changed) is not
 * resumed by another, even with shared ticket keys (issue 10). The same
 * configuration gives the same context in every worker and every daemon of
 * a fleet sharing tlsproxy_tls_session_ticket_key_file.
 */
export function resumptionContextOf(params: ParameterSet, clientAuth: ServerConfig['clientAuth']): Uint8Array {
  const text = `tlsproxy resumption context 1\0${params.get('service_name') || 'tlsproxy'}\0${clientAuthFingerprint(clientAuth)}`;
  return new Uint8Array(createHash('sha256').update(text).digest());
}

/** Everything the engine needs for one service. */
export async function loadTlsSettings(params: ParameterSet, provider: CryptoProvider, options: TlsSettingsOptions = {}): Promise<TlsSettings> {
  const warnings: string[] = [];
  const { versions, ciphers, prioritizeChacha } = loadPolicy(params, warnings);
  const loglevel = parseLogLevel(params.get('tlsproxy_tls_loglevel'), 'tlsproxy_tls_loglevel');
  const { certificates, loaded } = await loadCertificates(params, provider, warnings, options.readFile ?? readText);
  const sni = await loadSniMaps(params, provider, warnings, options.readFile ?? readText);
  const dhParams = loadDhParams(params, options.readFile ?? readText);
  const resumption = resumptionSettings(params, provider, options.resumption ?? new ResumptionStore(), warnings);
  // Postfix: without a cache, tlsproxy_tls_always_issue_session_ids still
  // sends session IDs (clients that want one get one; it never resumes).
  const alwaysIssue = !resumption.sessionCache && params.getBool('tlsproxy_tls_always_issue_session_ids');
  const clientAuth = await clientAuthConfig(params, warnings, { readFile: options.readFile ?? readText });
  const config: ServerConfig = {
    provider,
    certificates,
    selectCertificates: certificateSelector(certificates, sni),
    versions,
    // §1.3: grades and exclusions restrict TLS 1.2 only; the TLS 1.3 suites are always all three.
    cipherSuites: DEFAULT_TLS13_SUITES,
    tls12CipherSuites: ciphers.tls12Suites,
    ...groupSettings(selectGroupPolicy(params, provider, warnings)),
    preferServerCiphers: params.getBool('tls_preempt_cipherlist'),
    prioritizeChacha,
    ...(dhParams ? { dhParams } : {}),
    ...resumption,
    ...(alwaysIssue ? { sessionCache: NO_SESSION_CACHE } : {}),
    ...clientAuth,
    // RFC 7250: like Postfix 3.9, send our raw public key to a client that prefers one.
    rawPublicKey: true,
    resumptionContext: resumptionContextOf(params, clientAuth.clientAuth),
  };
  return { config, loglevel, certificates: loaded, warnings, sniMaps: sni !== undefined, ciphers };
}
