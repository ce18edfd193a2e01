/**
 * The parameter table: every parameter tlsproxy knows, with its built-in
 * default exactly as Postfix writes it (inheritance is expressed the Postfix
 * way, as a `$name` reference in the default, expanded at lookup time).
 *
 * Baseline: Postfix 3.11 (tlsproxy-postfix.md §0, §1.1, §1.11). Parameters
 * marked `origin: 'tlsproxy'` are ours (a stand-alone daemon needs a backend,
 * timeouts, a crypto provider) and have no Postfix counterpart.
 *
 * Adding a parameter = adding one entry here; the lookup code needs no change.
 */

import { hostname } from 'node:os';

export type ParameterType = 'string' | 'bool' | 'int' | 'time';

export interface ParameterDefinition {
  readonly name: string;
  /** Raw default, may reference other parameters (`$smtpd_tls_cert_file`). */
  readonly default: string | (() => string);
  readonly type: ParameterType;
  /** Postfix version that introduced it, or 'tlsproxy' for our own. */
  readonly since: string;
  readonly origin: 'postfix' | 'tlsproxy';
  /** For `time` parameters: the unit of a bare number (Postfix: s). */
  readonly unit?: 's' | 'm' | 'h' | 'd' | 'w';
  /** Smallest accepted value (int: the number, time: seconds). */
  readonly min?: number;
  readonly description: string;
}

const p = (
  name: string,
  def: string | (() => string),
  type: ParameterType,
  since: string,
  description: string,
  extra: Partial<Pick<ParameterDefinition, 'unit' | 'min' | 'origin'>> = {},
): ParameterDefinition => ({ name, default: def, type, since, origin: extra.origin ?? 'postfix', unit: extra.unit, min: extra.min, description });

const ours = { origin: 'tlsproxy' as const };

/** The tlsproxy_* parameters that inherit an smtpd_* one, with the smtpd_* default (Postfix 3.11). */
const INHERITED: readonly [suffix: string, smtpdDefault: string, type: ParameterType, since: string, description: string][] = [
  ['tls_security_level', '', 'string', '2.8', 'TLS security level: none, may, encrypt (tlsproxy-postfix.md §1.2)'],
  ['use_tls', 'no', 'bool', '2.8', 'legacy opportunistic TLS switch'],
  ['enforce_tls', 'no', 'bool', '2.8', 'legacy mandatory TLS switch'],
  ['tls_ciphers', 'medium', 'string', '2.8', 'cipher grade with opportunistic TLS'],
  ['tls_mandatory_ciphers', 'medium', 'string', '2.8', 'cipher grade with mandatory TLS'],
  ['tls_exclude_ciphers', '', 'string', '2.8', 'ciphers excluded at all levels'],
  ['tls_mandatory_exclude_ciphers', '', 'string', '2.8', 'ciphers excluded with mandatory TLS'],
  ['tls_protocols', '>=TLSv1', 'string', '2.8', 'protocols with opportunistic TLS'],
  ['tls_mandatory_protocols', '>=TLSv1', 'string', '2.8', 'protocols with mandatory TLS'],
  ['tls_eecdh_grade', 'auto', 'string', '2.8', 'EECDH grade (ignored since 3.6)'],
  ['tls_dh1024_param_file', '', 'string', '2.8', 'DH parameters file'],
  ['tls_dh512_param_file', '', 'string', '2.8', 'export DH parameters file (ignored since 3.6)'],
  ['tls_cert_file', '', 'string', '2.8', 'RSA certificate (+chain) PEM file; "none" runs certificate-less'],
  ['tls_key_file', '$smtpd_tls_cert_file', 'string', '2.8', 'RSA private key PEM file'],
  ['tls_dcert_file', '', 'string', '2.8', 'DSA certificate PEM file (obsolete)'],
  ['tls_dkey_file', '$smtpd_tls_dcert_file', 'string', '2.8', 'DSA private key PEM file (obsolete)'],
  ['tls_eccert_file', '', 'string', '2.8', 'ECDSA certificate (+chain) PEM file'],
  ['tls_eckey_file', '$smtpd_tls_eccert_file', 'string', '2.8', 'ECDSA private key PEM file'],
  ['tls_chain_files', '', 'string', '3.4', 'key-then-chain PEM files; when set, the legacy cert/key files are ignored'],
  ['tls_CAfile', '', 'string', '2.8', 'trust anchors for client certificates'],
  ['tls_CApath', '', 'string', '2.8', 'hashed CA directory'],
  ['tls_ask_ccert', 'no', 'bool', '2.8', 'ask for a client certificate'],
  ['tls_req_ccert', 'no', 'bool', '2.8', 'require a client certificate (never enforced by tlsproxy)'],
  ['tls_ccert_verifydepth', '9', 'int', '2.8', 'maximal client certificate chain depth'],
  ['tls_fingerprint_digest', 'sha256', 'string', '2.8', 'digest for certificate fingerprints'],
  ['tls_loglevel', '0', 'string', '2.8', 'TLS log level (tlsproxy-postfix.md §1.9)'],
  ['tls_always_issue_session_ids', 'yes', 'bool', '2.8', 'issue session IDs without a server-side cache'],
  ['tls_enable_rpk', 'no', 'bool', '3.9', 'ask clients for a raw public key'],
];

export const PARAMETERS: readonly ParameterDefinition[] = [
  // ---- general Postfix parameters we use
  p('syslog_name', '${multi_instance_name?{$multi_instance_name}:{postfix}}', 'string', '2.1', 'log tag prefix: <syslog_name>/tlsproxy[pid]'),
  p('multi_instance_name', '', 'string', '2.6', 'instance name, used by the syslog_name default'),
  p('myhostname', () => hostname(), 'string', '1.0', 'host name; its first label appears in log lines'),
  p('inet_interfaces', 'all', 'string', '1.0', 'addresses an inet service given as a bare port listens on: all, loopback-only, or a list'),
  p('default_process_limit', '100', 'int', '1.0', 'master.cf maxproc default', { min: 1 }),
  p('tls_preempt_cipherlist', 'no', 'bool', '2.8', 'server cipher preference (also for TLS 1.3)'),
  p('tls_eecdh_auto_curves', 'X25519 X448 prime256v1 secp384r1 secp521r1', 'string', '3.2', 'key exchange groups in server preference order'),
  p('tls_ffdhe_auto_groups', 'ffdhe2048 ffdhe3072', 'string', '3.8', 'FFDHE groups'),
  p('tls_server_sni_maps', '', 'string', '3.4', 'SNI name to key and chain'),
  p('tls_high_cipherlist', 'aNULL:-aNULL:HIGH:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:@STRENGTH', 'string', '2.3', 'high grade cipher list'),
  p('tls_medium_cipherlist', 'aNULL:-aNULL:HIGH:MEDIUM:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:+RC4:@STRENGTH', 'string', '2.3', 'medium grade cipher list'),
  p('tls_null_cipherlist', 'eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL', 'string', '2.3', 'null grade cipher list'),
  p('tls_ssl_options', '', 'string', '3.4', 'extra library options'),
  p('tls_session_ticket_cipher', 'aes-256-cbc', 'string', '3.0', 'session ticket cipher; empty disables tickets'),
  p('smtpd_tls_session_cache_timeout', '3600s', 'time', '2.2', 'session cache and ticket key lifetime; 0 disables resumption', { unit: 's', min: 0 }),
  p('smtpd_tls_session_cache_database', '', 'string', '2.2', 'TLS 1.2 session-ID cache (here: in memory when non-empty)'),
  p('tlsmgr_service_name', 'tlsmgr', 'string', '2.11', 'TLS manager service'),

  // ---- smtpd_* parameters the tlsproxy_* ones inherit, then the tlsproxy_* ones
  ...INHERITED.map(([suffix, def, type, since, description]) => p(`smtpd_${suffix}`, def, type, since, description)),
  ...INHERITED.map(([suffix, , type, since, description]) => p(`tlsproxy_${suffix}`, `$smtpd_${suffix}`, type, since, description)),
  p('tlsproxy_watchdog_timeout', '10s', 'time', '2.8', 'watchdog: longest event-loop iteration', { unit: 's', min: 10 }),
  p('tlsproxy_service_name', 'tlsproxy', 'string', '2.8', 'service name requesters connect to'),

  // ---- ours
  p('tlsproxy_backend', '', 'string', 'tlsproxy', 'plaintext backend: inet:HOST:PORT, inet:[ADDR]:PORT or unix:PATH', ours),
  p('tlsproxy_crypto_provider', 'node', 'string', 'tlsproxy', 'crypto provider of the TLS engine: node or webcrypto', ours),
  p('tlsproxy_handshake_timeout', '60s', 'time', 'tlsproxy', 'time limit for the whole TLS handshake', { ...ours, unit: 's', min: 1 }),
  p('tlsproxy_session_timeout', '300s', 'time', 'tlsproxy', 'idle limit after the handshake (no ciphertext in either direction)', { ...ours, unit: 's', min: 1 }),
  p('tlsproxy_backend_connect_timeout', '10s', 'time', 'tlsproxy', 'time limit for connecting to the backend', { ...ours, unit: 's', min: 1 }),
  p('tlsproxy_worker_processes', '', 'string', 'tlsproxy', 'worker processes for the service: empty = the master.cf maxproc column ("-": default_process_limit capped at the number of CPUs, at least 2; 0: the number of CPUs, at least 2); 1 = serve in the main process', ours),
  p('tlsproxy_session_cache_size', '10000', 'int', 'tlsproxy', 'most TLS 1.2 sessions in the (daemon-wide, in-memory) session-ID cache', { ...ours, min: 1 }),
  p('tlsproxy_tls_session_ticket_key_file', '', 'string', 'tlsproxy', 'session ticket keys shared by a fleet: lines "<unix time> <base64 of 48 bytes>", oldest first; no automatic rotation', ours),
  p('tlsproxy_tls_dh_min_bits', '2048', 'int', 'tlsproxy', 'smallest DH prime accepted in tlsproxy_tls_dh1024_param_file', { ...ours, min: 1024 }),
];

export const PARAMETER_TABLE: ReadonlyMap<string, ParameterDefinition> = new Map(PARAMETERS.map((d) => [d.name, d]));

export function defaultValue(def: ParameterDefinition): string {
  return typeof def.default === 'function' ? def.default() : def.default;
}
