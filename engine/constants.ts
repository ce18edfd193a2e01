/**
 * Named constants from the IANA TLS registries
 * (https://www.iana.org/assignments/tls-parameters, tls-extensiontype-values).
 * Values are numbers on the wire; names follow the RFCs.
 */

/** RFC 8446 §5.1 ContentType */
export const ContentType = {
  invalid: 0,
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
} as const;

/** RFC 8446 §4 HandshakeType (and RFC 5246 §7.4 for TLS 1.2) */
export const HandshakeType = {
  hello_request: 0,
  client_hello: 1,
  server_hello: 2,
  new_session_ticket: 4,
  end_of_early_data: 5,
  encrypted_extensions: 8,
  certificate: 11,
  server_key_exchange: 12,
  certificate_request: 13,
  server_hello_done: 14,
  certificate_verify: 15,
  client_key_exchange: 16,
  finished: 20,
  certificate_status: 22,
  key_update: 24,
  message_hash: 254,
} as const;

/**
 * A constant table's names by value, built once (the first name of a value
 * wins): the name functions below run in every handshake's log and events.
 */
function namesOf(table: Readonly<Record<string, number>>): ReadonlyMap<number, string> {
  const names = new Map<number, string>();
  for (const [k, v] of Object.entries(table)) if (!names.has(v)) names.set(v, k);
  return names;
}

const HANDSHAKE_TYPE_NAMES = namesOf(HandshakeType);
export function handshakeTypeName(t: number): string {
  return HANDSHAKE_TYPE_NAMES.get(t) ?? `unknown(${t})`;
}

/** Protocol versions (RFC 8446 §4.2.1, RFC 5246 appendix A.1) */
export const ProtocolVersion = {
  SSL3_0: 0x0300,
  TLS1_0: 0x0301,
  TLS1_1: 0x0302,
  TLS1_2: 0x0303,
  TLS1_3: 0x0304,
} as const;

export function versionName(v: number): string {
  switch (v) {
    case 0x0300: return 'SSLv3';
    case 0x0301: return 'TLSv1';
    case 0x0302: return 'TLSv1.1';
    case 0x0303: return 'TLSv1.2';
    case 0x0304: return 'TLSv1.3';
    default: return `0x${v.toString(16).padStart(4, '0')}`;
  }
}

/** RFC 8446 §6 AlertLevel */
export const AlertLevel = { warning: 1, fatal: 2 } as const;

/** RFC 8446 §6 AlertDescription */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  no_renegotiation: 100,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;
export type AlertDescriptionValue = (typeof AlertDescription)[keyof typeof AlertDescription];

const ALERT_NAMES = namesOf(AlertDescription);
export function alertName(d: number): string {
  return ALERT_NAMES.get(d) ?? `unknown(${d})`;
}

/** IANA ExtensionType values (RFC 8446 §4.2 and others) */
export const ExtensionType = {
  server_name: 0,
  max_fragment_length: 1,
  status_request: 5,
  supported_groups: 10,
  ec_point_formats: 11,
  signature_algorithms: 13,
  use_srtp: 14,
  heartbeat: 15,
  application_layer_protocol_negotiation: 16,
  signed_certificate_timestamp: 18,
  client_certificate_type: 19,
  server_certificate_type: 20,
  padding: 21,
  encrypt_then_mac: 22,
  extended_master_secret: 23,
  record_size_limit: 28,
  session_ticket: 35,
  pre_shared_key: 41,
  early_data: 42,
  supported_versions: 43,
  cookie: 44,
  psk_key_exchange_modes: 45,
  certificate_authorities: 47,
  oid_filters: 48,
  post_handshake_auth: 49,
  signature_algorithms_cert: 50,
  key_share: 51,
  renegotiation_info: 0xff01,
} as const;

/** Cipher suites we implement (RFC 8446 §B.4). TLS 1.2 suites arrive with the TLS 1.2 issue. */
export const CipherSuite = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
  /** RFC 5746 §3.3 signalling value */
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV: 0x00ff,
  /** RFC 7507 signalling value */
  TLS_FALLBACK_SCSV: 0x5600,
} as const;

/** RFC 8446 §4.2.7 NamedGroup */
export const NamedGroup = {
  secp256r1: 0x0017,
  secp384r1: 0x0018,
  secp521r1: 0x0019,
  x25519: 0x001d,
  x448: 0x001e,
  ffdhe2048: 0x0100,
  ffdhe3072: 0x0101,
  ffdhe4096: 0x0102,
  ffdhe6144: 0x0103,
  ffdhe8192: 0x0104,
  /** draft-ietf-tls-ecdhe-mlkem: P-256 point then ML-KEM-768 (TLS 1.3 only). */
  SecP256r1MLKEM768: 0x11eb,
  /** draft-ietf-tls-ecdhe-mlkem: ML-KEM-768 then X25519 (TLS 1.3 only). */
  X25519MLKEM768: 0x11ec,
} as const;
export type NamedGroupValue = number;

/**
 * The group's name as OpenSSL 3 reports it (SSL_get0_group_name) and so as
 * Postfix 3.10+ logs it after "key-exchange": x25519, secp256r1, ffdhe2048,
 * X25519MLKEM768...
 */
const GROUP_NAMES = namesOf(NamedGroup);
export function groupName(g: number): string {
  const name = GROUP_NAMES.get(g);
  if (name !== undefined) return name;
  return `0x${g.toString(16).padStart(4, '0')}`;
}

/** RFC 8446 §4.2.3 SignatureScheme */
export const SignatureScheme = {
  /** TLS 1.2's RFC 5246 §7.4.1.4.1 defaults for clients that send no signature_algorithms; RFC 9155: never used. */
  rsa_pkcs1_sha1: 0x0201,
  ecdsa_sha1: 0x0203,
  /** TLS 1.2 only (RFC 5246 §7.4.1.4.1 hash sha224 + ecdsa); OpenSSL signs with it. */
  ecdsa_sha224: 0x0303,
  rsa_pkcs1_sha256: 0x0401,
  rsa_pkcs1_sha384: 0x0501,
  rsa_pkcs1_sha512: 0x0601,
  ecdsa_secp256r1_sha256: 0x0403,
  ecdsa_secp384r1_sha384: 0x0503,
  ecdsa_secp521r1_sha512: 0x0603,
  rsa_pss_rsae_sha256: 0x0804,
  rsa_pss_rsae_sha384: 0x0805,
  rsa_pss_rsae_sha512: 0x0806,
  ed25519: 0x0807,
  ed448: 0x0808,
  rsa_pss_pss_sha256: 0x0809,
  rsa_pss_pss_sha384: 0x080a,
  rsa_pss_pss_sha512: 0x080b,
} as const;

const SIGNATURE_SCHEME_NAMES = namesOf(SignatureScheme);
export function signatureSchemeName(s: number): string {
  const name = SIGNATURE_SCHEME_NAMES.get(s);
  if (name !== undefined) return name;
  return `0x${s.toString(16).padStart(4, '0')}`;
}

/** RFC 8446 §4.2.9 PskKeyExchangeMode */
export const PskKeyExchangeMode = { psk_ke: 0, psk_dhe_ke: 1 } as const;

/** RFC 8446 §4.6.3 KeyUpdateRequest */
export const KeyUpdateRequest = { update_not_requested: 0, update_requested: 1 } as const;

/** RFC 8446 §5.1 / §5.2 record limits */
export const RecordLimits = {
  /** TLSPlaintext.length MUST NOT exceed 2^14 */
  maxPlaintext: 1 << 14,
  /** TLSCiphertext.length MUST NOT exceed 2^14 + 256 */
  maxCiphertext: (1 << 14) + 256,
  headerLength: 5,
} as const;
