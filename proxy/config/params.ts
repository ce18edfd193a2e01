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

/**
 * Postfix 3.6+: `${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}`
 * (mail_params.h DEF_SMTPD_TLS_FPT_DGST), evaluated at lookup time.
 */
export const COMPAT_FINGERPRINT_DIGEST = '${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}';

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
  ['tls_fingerprint_digest', COMPAT_FINGERPRINT_DIGEST, 'string', '2.8', 'digest for certificate fingerprints: md5 below compatibility_level 3.6, else sha256'],
  ['tls_loglevel', '0', 'string', '2.8', 'TLS log level (tlsproxy-postfix.md §1.9)'],
  ['tls_always_issue_session_ids', 'yes', 'bool', '2.8', 'issue session IDs without a server-side cache'],
  ['tls_enable_rpk', 'no', 'bool', '3.9', 'ask clients for a raw public key'],
];

/**
 * Client-role parameters (tlsproxy-postfix.md §1.12, Postfix 3.4+), each
 * inheriting its smtp_* counterpart. tlsproxy here never acts as a TLS
 * client: they are in the table so that `tlsproxy config` knows them and
 * main.cf files written for Postfix load without "unused parameter" noise.
 */
const CLIENT_INHERITED: readonly [tlsproxyName: string, smtpName: string, smtpDefault: string, type: ParameterType, since: string][] = [
  ['tlsproxy_client_CAfile', 'smtp_tls_CAfile', '', 'string', '3.4'],
  ['tlsproxy_client_CApath', 'smtp_tls_CApath', '', 'string', '3.4'],
  ['tlsproxy_client_chain_files', 'smtp_tls_chain_files', '', 'string', '3.4'],
  ['tlsproxy_client_cert_file', 'smtp_tls_cert_file', '', 'string', '3.4'],
  ['tlsproxy_client_key_file', 'smtp_tls_key_file', '$smtp_tls_cert_file', 'string', '3.4'],
  ['tlsproxy_client_dcert_file', 'smtp_tls_dcert_file', '', 'string', '3.4'],
  ['tlsproxy_client_dkey_file', 'smtp_tls_dkey_file', '$smtp_tls_dcert_file', 'string', '3.4'],
  ['tlsproxy_client_eccert_file', 'smtp_tls_eccert_file', '', 'string', '3.4'],
  ['tlsproxy_client_eckey_file', 'smtp_tls_eckey_file', '$smtp_tls_eccert_file', 'string', '3.4'],
  ['tlsproxy_client_fingerprint_digest', 'smtp_tls_fingerprint_digest', COMPAT_FINGERPRINT_DIGEST, 'string', '3.4'],
  ['tlsproxy_client_loglevel', 'smtp_tls_loglevel', '0', 'string', '3.4'],
  ['tlsproxy_client_scert_verifydepth', 'smtp_tls_scert_verifydepth', '9', 'int', '3.4'],
  ['tlsproxy_client_use_tls', 'smtp_use_tls', 'no', 'bool', '3.4'],
  ['tlsproxy_client_enforce_tls', 'smtp_enforce_tls', 'no', 'bool', '3.4'],
  ['tlsproxy_client_per_site', 'smtp_tls_per_site', '', 'string', '3.4'],
  ['tlsproxy_client_security_level', 'smtp_tls_security_level', '${{$compatibility_level} <level {3.11} ? {} : {may}}', 'string', '3.7'],
  ['tlsproxy_client_policy_maps', 'smtp_tls_policy_maps', '', 'string', '3.7'],
];

export const PARAMETERS: readonly ParameterDefinition[] = [
  // ---- general Postfix parameters we use
  p('syslog_name', '${multi_instance_name?{$multi_instance_name}:{postfix}}', 'string', '2.1', 'log tag prefix: <syslog_name>/tlsproxy[pid]'),
  p('multi_instance_name', '', 'string', '2.6', 'instance name, used by the syslog_name default'),
  p('myhostname', () => hostname(), 'string', '1.0', 'host name; its first label appears in log lines'),
  p('inet_interfaces', 'all', 'string', '1.0', 'addresses an inet service given as a bare port listens on: all, loopback-only, or a list'),
  p('default_process_limit', '100', 'int', '1.0', 'master.cf maxproc default', { min: 1 }),
  p('compatibility_level', '0', 'string', '3.0', 'backwards-compatible defaults below this level (smtpd_tls_fingerprint_digest: md5 below 3.6)'),
  p('config_directory', '/etc/postfix', 'string', '1.0', 'the configuration directory (set by -c)'),
  p('data_directory', '/var/lib/postfix', 'string', '2.5', 'writable data files (the tls_random_exchange_name default)'),
  p('service_name', '', 'string', '2.9', 'read-only: the master.cf service name of the process'),
  p('syslog_facility', 'mail', 'string', '1.0', 'syslog facility (only with a syslog transport: see maillog_file)'),
  p('maillog_file', '', 'string', '3.4', 'log to this file instead of stderr (reopened on SIGHUP); /dev/stdout logs to standard output'),
  p('maillog_file_prefixes', '/var, /dev/stdout', 'string', '3.4', 'allowed maillog_file name prefixes'),
  p('queue_directory', '/var/spool/postfix', 'string', '1.0', 'the Postfix queue (Postfix service mode: private/ and public/ sockets)'),
  p('command_directory', '/usr/sbin', 'string', '1.0', 'where postconf(1) is (Postfix service mode asks it the version)'),
  p('mail_owner', 'postfix', 'string', '1.0', 'the unprivileged account of Postfix daemons (Postfix service mode)'),
  p('postlog_service_name', 'postlog', 'string', '3.4', 'the postlogd service that takes maillog_file records (Postfix service mode)'),
  p('tlsproxy_postfix_version', '', 'string', 'tlsproxy', 'Postfix service mode: the Postfix version whose requester protocol to speak; empty = ask postconf', ours),
  p('tlsproxy_syslog_enable', 'no', 'bool', 'tlsproxy', 'with an empty maillog_file: log to syslog (/dev/log, syslog_facility; needs the native addon) instead of stderr', ours),
  p('max_idle', '100s', 'time', '1.0', 'generic daemon idle limit; here: how long the load must stay low before the supervisor retires a worker process beyond tlsproxy_min_processes', { unit: 's', min: 1 }),
  p('max_use', '100', 'int', '1.0', 'generic daemon connection limit (not used: tlsproxy here is a long-running daemon)', { min: 1 }),
  p('parent_domain_matches_subdomains', 'debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps', 'string', '1.1', 'lists where "example.com" also matches subdomains (does not apply to tls_server_sni_maps, which looks up ".example.com" explicitly)'),
  p('tls_preempt_cipherlist', 'no', 'bool', '2.8', 'server cipher preference (also for TLS 1.3)'),
  // Postfix 3.11 built with OpenSSL 3.5 or later (3.8-3.10, or OpenSSL < 3.5: X25519 X448 prime256v1
  // secp384r1 secp521r1 and ffdhe2048 ffdhe3072). The engine has ML-KEM, so it is "OpenSSL 3.5".
  p('tls_eecdh_auto_curves', '?X25519MLKEM768:DEFAULT', 'string', '3.2', 'key exchange groups in server preference order, OpenSSL 3.5 syntax (?name, DEFAULT, / between tuples; engine/policy/groups.ts)'),
  p('tls_ffdhe_auto_groups', '', 'string', '3.8', 'FFDHE groups after tls_eecdh_auto_curves (TLS 1.3 key shares and TLS 1.2 DHE); empty with OpenSSL 3.5, whose DEFAULT has ffdhe2048 ffdhe3072'),
  p('tls_server_sni_maps', '', 'string', '3.4', 'SNI name to key and chain'),
  p('relay_clientcerts', '', 'string', '2.2', 'client certificate or public-key fingerprints (inline:, texthash:); a listed RFC 7250 raw public key is Trusted'),
  p('tls_high_cipherlist', 'aNULL:-aNULL:HIGH:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:@STRENGTH', 'string', '2.3', 'high grade cipher list'),
  p('tls_medium_cipherlist', 'aNULL:-aNULL:HIGH:MEDIUM:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:+RC4:@STRENGTH', 'string', '2.3', 'medium grade cipher list'),
  p('tls_null_cipherlist', 'eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL', 'string', '2.3', 'null grade cipher list'),
  p('tls_low_cipherlist', '', 'string', '2.3', 'low grade cipher list (ignored since 3.8: low is medium)'),
  p('tls_export_cipherlist', '', 'string', '2.3', 'export grade cipher list (ignored since 3.8: export is medium)'),
  p('tls_eecdh_strong_curve', 'prime256v1', 'string', '2.6', 'curve of the "strong" eecdh grade (ignored since 3.6)'),
  p('tls_eecdh_ultra_curve', 'secp384r1', 'string', '2.6', 'curve of the "ultra" eecdh grade (ignored since 3.6)'),
  p('tls_disable_workarounds', '', 'string', '2.11', 'library bug work-arounds to turn off (none apply to our engine)'),
  p('tls_append_default_CA', 'no', 'bool', '2.8', 'add the system trust store to the CAfile/CApath anchors'),
  p('tls_daemon_random_bytes', '32', 'int', '2.2', 'seed bytes from tlsmgr (our engine seeds from the crypto provider)', { min: 1 }),
  p('tls_config_file', 'default', 'string', '3.9', 'OpenSSL configuration file (not used by our engine)'),
  p('tls_config_name', '', 'string', '3.9', 'OpenSSL configuration application name (not used by our engine)'),
  p('tls_fast_shutdown_enable', 'yes', 'bool', '3.3', 'do not wait for the peer close_notify (tlsproxy never does)'),
  p('tls_legacy_public_key_fingerprints', 'no', 'bool', '2.9', 'pre-2.9.5 public key fingerprints (honoured 2.9-3.8 only)'),
  p('tls_wildcard_matches_multiple_labels', 'yes', 'bool', '3.6', 'a wildcard in a peer certificate name matches several labels (client role)'),
  p('tls_random_source', 'dev:/dev/urandom', 'string', '2.2', 'tlsmgr entropy source (not used by our engine)'),
  p('tls_random_bytes', '32', 'int', '2.2', 'tlsmgr entropy bytes (not used by our engine)', { min: 1 }),
  p('tls_random_exchange_name', '${data_directory}/prng_exch', 'string', '2.2', 'tlsmgr PRNG exchange file (not used by our engine)'),
  p('tls_random_prng_update_period', '3600s', 'time', '2.2', 'tlsmgr PRNG save period (not used by our engine)', { unit: 's', min: 1 }),
  p('tls_random_reseed_period', '3600s', 'time', '2.2', 'tlsmgr re-seed period (not used by our engine)', { unit: 's', min: 1 }),
  p('tls_ssl_options', '', 'string', '3.4', 'extra library options'),
  p('tls_session_ticket_cipher', 'aes-256-cbc', 'string', '3.0', 'session ticket cipher; empty disables tickets'),
  p('smtpd_tls_session_cache_timeout', '3600s', 'time', '2.2', 'session cache and ticket key lifetime; 0 disables resumption', { unit: 's', min: 0 }),
  p('smtpd_tls_session_cache_database', '', 'string', '2.2', 'TLS 1.2 session-ID cache: memcache:FILE (memcache_table(5) syntax: memcached shared by a fleet, values sealed with the ticket key file), any other non-empty value: in the daemon\'s memory'),
  p('tlsmgr_service_name', 'tlsmgr', 'string', '2.11', 'TLS manager service'),

  // ---- smtpd_* parameters the tlsproxy_* ones inherit, then the tlsproxy_* ones
  ...INHERITED.map(([suffix, def, type, since, description]) => p(`smtpd_${suffix}`, def, type, since, description)),
  ...INHERITED.map(([suffix, , type, since, description]) => p(`tlsproxy_${suffix}`, `$smtpd_${suffix}`, type, since, description)),
  p('tlsproxy_watchdog_timeout', '10s', 'time', '2.8', 'watchdog: longest event-loop iteration', { unit: 's', min: 10 }),
  p('tlsproxy_service_name', 'tlsproxy', 'string', '2.8', 'service name requesters connect to'),

  // ---- client role (not implemented here): smtp_* then tlsproxy_client_*
  ...CLIENT_INHERITED.map(([, smtp, def, type]) => p(smtp, def, type, '2.2', 'smtp(8) client TLS setting (inherited by tlsproxy_client_*)')),
  ...CLIENT_INHERITED.map(([name, smtp, , type, since]) => p(name, `$${smtp}`, type, since, 'client role: not implemented, accepted for compatibility')),
  p('tlsproxy_client_loglevel_parameter', 'smtp_tls_loglevel', 'string', '3.4', 'client role: not implemented, accepted for compatibility'),

  // ---- ours
  p('tlsproxy_backend', '', 'string', 'tlsproxy', 'plaintext backend: inet:HOST:PORT, inet:[ADDR]:PORT or unix:PATH', ours),
  p('tlsproxy_crypto_provider', 'node', 'string', 'tlsproxy', 'crypto provider of the TLS engine: node (node:crypto, OpenSSL), webcrypto (the platform WebCrypto) or js (pure JavaScript: @noble libraries, BigInt RSA)', ours),
  p('tlsproxy_handshake_timeout', '60s', 'time', 'tlsproxy', 'time limit for the whole TLS handshake', { ...ours, unit: 's', min: 1 }),
  p('tlsproxy_session_timeout', '300s', 'time', 'tlsproxy', 'idle limit after the handshake (no ciphertext in either direction)', { ...ours, unit: 's', min: 1 }),
  p('tlsproxy_backend_connect_timeout', '10s', 'time', 'tlsproxy', 'time limit for connecting to the backend', { ...ours, unit: 's', min: 1 }),
  p('tlsproxy_worker_processes', '', 'string', 'tlsproxy', 'worker processes for the service: empty = the master.cf maxproc column ("-": default_process_limit capped at the number of CPUs, at least 2; 0: the number of CPUs, at least 2); 1 = serve in the main process', ours),
  p('tlsproxy_session_cache_lookup_ms', '200', 'int', 'tlsproxy', 'smtpd_tls_session_cache_database = memcache:FILE: longest wait of a TLS handshake for a session look-up (milliseconds); then a miss (full handshake)', { ...ours, min: 1 }),
  p('tlsproxy_session_cache_size', '10000', 'int', 'tlsproxy', 'most TLS 1.2 sessions in the (daemon-wide, in-memory) session-ID cache', { ...ours, min: 1 }),
  p('tlsproxy_tls_session_ticket_key_file', '', 'string', 'tlsproxy', 'session ticket keys shared by a fleet: lines "<unix time> <base64 of 48 bytes>", oldest first; made and rotated with tlsproxy ticket-keys (a key dated ahead is staged: it decrypts at once, encrypts from its time)', ours),
  p('tlsproxy_tls_dh_min_bits', '2048', 'int', 'tlsproxy', 'smallest DH prime accepted in tlsproxy_tls_dh1024_param_file', { ...ours, min: 1024 }),
  p('tlsproxy_tls_ccert_rsa_min_bits', '2048', 'int', 'tlsproxy', 'smallest RSA key in a client certificate chain (leaf: X509 error 66, CA: 67, so the certificate is untrusted); 2048 is OpenSSL security level 2, 1024 for old Postfix clients', { ...ours, min: 1024 }),
  p('tlsproxy_tls_require_trusted_ccert', 'no', 'bool', 'tlsproxy', 'client certificates for services that are not SMTP: ask for one, and end the handshake when it is missing (TLS 1.3 certificate_required, 1.2 handshake_failure) or does not verify against tlsproxy_tls_CAfile/CApath (the alert of the reason: unknown_ca, certificate_expired, unsupported_certificate...)', ours),

  // ---- front ends and the PROXY protocol (issue 5: proxy/tls-service.ts, proxy/postscreen/, proxy/proxy-protocol.ts)
  p('tlsproxy_process_session_limit', '0', 'int', 'tlsproxy', 'most TLS sessions of a service at once in one (worker) process; 0 = no limit. Beyond it the TLS service answers "not available" (postscreen: 454)', { ...ours, min: 0 }),
  p('tlsproxy_backend_proxy_protocol', 'none', 'string', 'tlsproxy', 'PROXY protocol header towards the backend: none, v1 or v2 (v2 with ALPN, SNI and TLS TLVs)', ours),
  p('tlsproxy_upstream_proxy_protocol', '', 'string', 'tlsproxy', 'accept a PROXY protocol header (v1 or v2) from an upstream load balancer: empty or haproxy (like smtpd_upstream_proxy_protocol)', ours),
  p('tlsproxy_upstream_proxy_timeout', '5s', 'time', 'tlsproxy', 'time limit for the upstream PROXY protocol header', { ...ours, unit: 's', min: 1 }),
  p('postscreen_upstream_proxy_protocol', '$tlsproxy_upstream_proxy_protocol', 'string', '2.10', 'postscreen services: the upstream PROXY protocol (empty or haproxy)'),
  p('postscreen_upstream_proxy_timeout', '$tlsproxy_upstream_proxy_timeout', 'time', '2.10', 'postscreen services: time limit for the upstream PROXY protocol header', { unit: 's', min: 1 }),
  p('mail_name', 'Postfix', 'string', '1.0', 'the mail system name in smtpd_banner'),
  p('smtpd_banner', '$myhostname ESMTP $mail_name', 'string', '1.0', 'text after 220 in the SMTP greeting (postscreen front end)'),
  p('smtpd_discard_ehlo_keywords', '', 'string', '2.2', 'EHLO keywords not to announce'),
  p('postscreen_tls_security_level', '$smtpd_tls_security_level', 'string', '2.8', 'postscreen: none (no STARTTLS), may (offered) or encrypt (530 before STARTTLS)'),
  p('postscreen_use_tls', '$smtpd_use_tls', 'bool', '2.8', 'postscreen: legacy opportunistic TLS switch'),
  p('postscreen_enforce_tls', '$smtpd_enforce_tls', 'bool', '2.8', 'postscreen: legacy mandatory TLS switch'),
  p('postscreen_discard_ehlo_keywords', '$smtpd_discard_ehlo_keywords', 'string', '2.8', 'postscreen: EHLO keywords not to announce (starttls here also refuses STARTTLS)'),
  p('postscreen_command_count_limit', '20', 'int', '2.8', 'postscreen: most SMTP commands before the session is relayed', { min: 1 }),
  p('postscreen_command_time_limit', '300s', 'time', '2.8', 'postscreen: time limit to receive one command', { unit: 's', min: 1 }),
  p('line_length_limit', '2048', 'int', '1.0', 'longest SMTP command line postscreen accepts', { min: 512 }),
  p('message_size_limit', '10240000', 'int', '1.0', 'announced as EHLO SIZE by postscreen (0: SIZE without a number)', { min: 0 }),
  p('disable_vrfy_command', 'no', 'bool', '1.1', 'do not announce VRFY'),
  p('smtputf8_enable', 'yes', 'bool', '3.0', 'announce SMTPUTF8'),

  // ---- processes and operations (issue 5: proxy/workers.ts, proxy/supervisor*.ts, pidfile.ts, privileges.ts, keylog.ts)
  p('tlsproxy_min_processes', '2', 'int', 'tlsproxy', 'fewest worker processes of a service (at most its master.cf maxproc, which is the most); the supervisor starts more under load and retires them after max_idle of low load', { ...ours, min: 1 }),
  p('tlsproxy_process_grow_sessions', '100', 'int', 'tlsproxy', 'start another worker process when the accepting ones average this many sessions', { ...ours, min: 1 }),
  p('tlsproxy_process_grow_cpu', '75', 'int', 'tlsproxy', 'start another worker process when the accepting ones average this percentage of one CPU', { ...ours, min: 1 }),
  p('tlsproxy_client_connection_count_limit', '50', 'int', 'tlsproxy', 'most sessions at once from one client address on one service, across all worker processes (like smtpd_client_connection_count_limit); 0 = no limit', { ...ours, min: 0 }),
  p('tlsproxy_client_connection_limit_exceptions', '127.0.0.0/8 [::1]/128', 'string', 'tlsproxy', 'client addresses and networks exempt from tlsproxy_client_connection_count_limit (a load balancer in front must be listed)', ours),
  p('tlsproxy_drain_timeout', '60s', 'time', 'tlsproxy', 'on stop (SIGTERM, tlsproxy stop): how long sessions in progress may go on before they are closed', { ...ours, unit: 's', min: 0 }),
  p('tlsproxy_pid_directory', '$config_directory', 'string', 'tlsproxy', 'directory of the pid file (tlsproxy.pid) that tlsproxy reload and tlsproxy stop use', ours),
  p('tlsproxy_user', '', 'string', 'tlsproxy', 'unprivileged user the worker processes become after opening their files and sockets (like mail_owner); required when started as root', ours),
  p('tlsproxy_group', '', 'string', 'tlsproxy', 'group of the worker processes; empty = the primary group of tlsproxy_user', ours),
  p('tlsproxy_allow_root', 'no', 'bool', 'tlsproxy', 'started as root without tlsproxy_user: run as root anyway instead of refusing to start (tests, development)', ours),
  p('tlsproxy_metrics_listen', '', 'string', 'tlsproxy', 'serve Prometheus metrics (GET /metrics, aggregated over all worker processes) on this address, e.g. 127.0.0.1:9469; empty = off. Read at start only', ours),
  p('tlsproxy_tls_keylog_file', '', 'string', 'tlsproxy', 'write TLS secrets in SSLKEYLOGFILE (NSS key log) format to this file, mode 0600, for debugging with Wireshark; empty = off. Whoever reads the file can decrypt the traffic', ours),
];

export const PARAMETER_TABLE: ReadonlyMap<string, ParameterDefinition> = new Map(PARAMETERS.map((d) => [d.name, d]));

export function defaultValue(def: ParameterDefinition): string {
  return typeof def.default === 'function' ? def.default() : def.default;
}
