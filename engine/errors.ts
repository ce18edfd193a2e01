/**
 * Every way a TLS session can fail, and the alert each one gets: the one
 * auditable table of "which input gets which alert" (the rustls way).
 *
 * Code anywhere in the engine throws `fail(Cause, ...details)`; a cause
 * names one distinct misbehaviour of the peer (or one failure of ours),
 * and this table alone gives its alert, the RFC section that requires that
 * alert, and the log text (derived from the cause and its details). The
 * connection catches the TlsFailure, sends `alert`, reports the failure as
 * an event, and closes. Nothing else in engine/ chooses an alert
 * (test/failure-causes.test.ts greps engine/ for alert names outside this file).
 *
 * Deliberate choices where the RFCs name no alert are marked "(ours)".
 */

import { AlertDescription, type AlertDescriptionValue, handshakeTypeName, versionName } from './constants.js';

export type AlertName = Exclude<keyof typeof AlertDescription, 'close_notify' | 'user_canceled'>;

interface CauseSpec {
  /** The alert we send (RFC 8446 §6.2 names). */
  readonly alert: AlertName;
  /** Where the RFCs (or our documented choice) fix that alert. */
  readonly rfc: string;
  /** The log text; its parameters are the details a throw site knows. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly text: (...details: any[]) => string;
}

const cause = <A extends unknown[]>(alert: AlertName, rfc: string, text: (...details: A) => string) => ({ alert, rfc, text });
const hs = handshakeTypeName;
const hex4 = (v: number) => `0x${v.toString(16).padStart(4, '0')}`;

export const CAUSES = {
  // ------------------------------------------------ record layer (RFC 8446 §5, RFC 5246 §6)
  UnknownRecordType: cause('unexpected_message', 'RFC 8446 §5', (type: number) => `record of unknown content type ${type}`),
  RecordVersionNotTls: cause('unexpected_message', 'RFC 8446 §5.1 (ours: a first byte other than 3 is not TLS)', (version: number) => `record with version 0x${version.toString(16)}`),
  RecordOverflow: cause('record_overflow', 'RFC 8446 §5.1, §5.2; RFC 5246 §6.2.1', (length: number, max: number) => `record of ${length} bytes exceeds ${max}`),
  InnerPlaintextOverflow: cause('record_overflow', 'RFC 8446 §5.4', (length: number) => `inner plaintext of ${length} bytes`),
  Tls12PlaintextOverflow: cause('record_overflow', 'RFC 5246 §6.2.3', (length: number) => `record of ${length} plaintext bytes`),
  RecordShorterThanTag: cause('bad_record_mac', 'RFC 8446 §5.2', () => 'protected record shorter than its tag'),
  RecordShorterThanNonceAndTag: cause('bad_record_mac', 'RFC 5246 §6.2.3.3', () => 'protected record shorter than its nonce and tag'),
  RecordAuthenticationFailed: cause('bad_record_mac', 'RFC 8446 §5.2; RFC 5246 §7.2.2', () => 'record failed authentication'),
  NoInnerContentType: cause('unexpected_message', 'RFC 8446 §5.4', () => 'protected record with no content type'),
  UnknownInnerContentType: cause('unexpected_message', 'RFC 8446 §5', (type: number) => `inner content type ${type}`),
  UnexpectedRecordType: cause('unexpected_message', 'RFC 8446 §5; RFC 5246 §6', (type: number) => `record type ${type}`),
  EmptyAlertRecord: cause('unexpected_message', 'RFC 8446 §5.4; RFC 5246 §6.2.1', () => 'alert record with empty content'),
  EmptyHandshakeRecord: cause('unexpected_message', 'RFC 8446 §5.1, §5.4; RFC 5246 §6.2.1', () => 'zero-length handshake fragment'),
  ProtectedRecordBeforeKeys: cause('unexpected_message', 'RFC 8446 §5', () => 'protected record before the handshake keys exist'),
  PlaintextHandshakeAfterKeyChange: cause('unexpected_message', 'RFC 8446 §5', () => 'plaintext handshake record after the keys changed'),
  PlaintextAlertAfterHandshake: cause('unexpected_message', 'RFC 8446 §5', () => 'plaintext alert after the handshake'),
  ProtectedChangeCipherSpec: cause('unexpected_message', 'RFC 8446 §5', () => 'protected change_cipher_spec record'),
  ChangeCipherSpecOutsideHandshake: cause('unexpected_message', 'RFC 8446 §5', () => 'change_cipher_spec outside the handshake'),
  ChangeCipherSpecAfterKeyChange: cause('unexpected_message', 'RFC 5246 §7.1 (a second CCS would renegotiate)', () => 'ChangeCipherSpec after the keys changed'),
  MalformedChangeCipherSpec: cause('unexpected_message', 'RFC 8446 §5; RFC 5246 §7.1', () => 'malformed change_cipher_spec'),
  ChangeCipherSpecInsideMessage: cause('unexpected_message', 'RFC 8446 §5.1; RFC 5246 §7.1', () => 'change_cipher_spec inside a fragmented handshake message'),
  ChangeCipherSpecInWrongState: cause('unexpected_message', 'RFC 5246 §7.1, §7.3', (state: string) => `ChangeCipherSpec in state ${state}`),
  RepeatedChangeCipherSpec: cause('unexpected_message', 'RFC 8446 §5, §D.4', () => 'repeated change_cipher_spec'),
  AlertInsideMessage: cause('unexpected_message', 'RFC 8446 §5.1', () => 'alert inside a fragmented handshake message'),
  ApplicationDataBeforeHandshake: cause('unexpected_message', 'RFC 8446 §2, §5; RFC 5246 §7.4', () => 'application data before the handshake completed'),
  ApplicationDataInsideMessage: cause('unexpected_message', 'RFC 8446 §5.1', () => 'application data inside a fragmented handshake message'),
  HandshakeSpansKeyChange: cause('unexpected_message', 'RFC 8446 §5.1', () => 'handshake data follows a key change in the same record'),
  KeyUpdateNotAtRecordEnd: cause('unexpected_message', 'RFC 8446 §5.1, §4.6.3', () => 'data after KeyUpdate in the same record'),
  EarlyDataOverLimit: cause('unexpected_message', 'RFC 8446 §4.2.10', (max: number) => `more than ${max} bytes of early data`),
  TooManyWarningAlerts: cause('unexpected_message', 'RFC 8446 §6.2 (ours: a bound)', () => 'too many warning alerts'),
  TooManyEmptyRecords: cause('unexpected_message', 'RFC 8446 §6.2 (ours: a bound)', () => 'too many empty records'),
  TooManyKeyUpdates: cause('unexpected_message', 'RFC 8446 §6.2 (ours: a bound)', () => 'too many KeyUpdates'),
  RenegotiationRepeated: cause('no_renegotiation', 'RFC 5746 §4.4; RFC 5246 §7.2.2', (attempts: number) => `renegotiation attempted ${attempts} times`),

  // ------------------------------------------------ decoding (RFC 8446 §3, §6.2 decode_error)
  FieldOverrun: cause('decode_error', 'RFC 8446 §6.2 (a length runs past its container)', (what: string) => `truncated ${what}`),
  VectorLengthOutOfRange: cause('decode_error', 'RFC 8446 §3, §6.2', (what: string, n: number, min: number, max: number) => `${what}: length ${n} outside ${min}..${max}`),
  TrailingBytes: cause('decode_error', 'RFC 8446 §6.2', (what: string, n: number) => `${n} trailing bytes after ${what}`),
  OddLengthList: cause('decode_error', 'RFC 8446 §3, §6.2', (what: string) => `${what}: odd length`),
  ExtensionNotEmpty: cause('decode_error', 'RFC 8446 §4.2.10; RFC 7627 §5.1; RFC 8446 §4.2.6', (what: string) => `${what}: extension must be empty`),
  AlertWrongLength: cause('decode_error', 'RFC 8446 §6, §6.2', (length: number) => `alert record of ${length} bytes`),
  FinishedWrongLength: cause('decode_error', 'RFC 8446 §4.4.4, §6.2', (length: number, expected: number) => `Finished of ${length} bytes, expected ${expected}`),
  HandshakeMessageTooLong: cause(
    'decode_error',
    'RFC 8446 §6.2 ("the length of the message was incorrect"): the bound is the longest legal ClientHello (131,396 bytes); smaller for Finished, KeyUpdate, EndOfEarlyData, CertificateVerify, ClientKeyExchange (handshake-buffer.ts)',
    (type: number, length: number, max: number) => `${hs(type)} message of ${length} bytes exceeds the limit of ${max}`,
  ),

  // ------------------------------------------------ extensions and ClientHello fields
  DuplicateExtension: cause('illegal_parameter', 'RFC 8446 §4.2', (what: string, type: number) => `${what}: duplicate extension ${type}`),
  TooManyExtensions: cause('illegal_parameter', 'RFC 8446 §4.2 (ours: a bound)', (what: string, max: number) => `${what}: more than ${max} extensions`),
  DuplicateServerName: cause('illegal_parameter', 'RFC 6066 §3', () => 'server_name: two host_name entries'),
  DuplicateKeyShare: cause('illegal_parameter', 'RFC 8446 §4.2.8', (group: number) => `key_share: two entries for group ${group}`),
  PskBinderCountMismatch: cause('illegal_parameter', 'RFC 8446 §4.2.11', () => 'pre_shared_key: binder count differs from identity count'),
  PskNotLastExtension: cause('illegal_parameter', 'RFC 8446 §4.2.11', () => 'pre_shared_key is not the last extension'),
  RecordSizeLimitTooSmall: cause('illegal_parameter', 'RFC 8449 §4', (limit: number) => `record_size_limit ${limit} below 64`),
  KeyUpdateBadRequest: cause('illegal_parameter', 'RFC 8446 §4.6.3', (value: number) => `KeyUpdate request_update ${value}`),
  CertificateChainTooLong: cause('illegal_parameter', 'RFC 8446 §4.4.2 (ours: a bound)', (max: number) => `certificate chain longer than ${max}`),

  // ------------------------------------------------ version negotiation (RFC 8446 §4.2.1, §D; RFC 7507)
  NoSharedVersion: cause('protocol_version', 'RFC 8446 §4.2.1; RFC 5246 §E.1', (offered: number, enabled: readonly number[]) =>
    `client offers ${offered ? versionName(offered) : 'no TLS version'}; enabled: ${enabled.map(versionName).join(', ') || 'none'}`),
  LegacyVersionTooLow: cause('protocol_version', 'RFC 8446 §4.1.2, §D.2 (legacy_version below TLS 1.0 is not a TLS ClientHello)', (version: number) =>
    `ClientHello legacy_version ${hex4(version)} below TLS 1.0`),
  InappropriateFallback: cause('inappropriate_fallback', 'RFC 7507 §3', (chosen: number, best: number) => `fallback to ${versionName(chosen)} while ${versionName(best)} is enabled`),

  // ------------------------------------------------ handshake sequence
  UnexpectedHandshakeMessage: cause('unexpected_message', 'RFC 8446 §4, §6.2; RFC 5246 §7.3', (type: number, expected: string) => `${hs(type)} instead of ${expected}`),
  HandshakeMessageAfterHandshake: cause('unexpected_message', 'RFC 8446 §4.6; RFC 5246 §7.4.1.1 (no renegotiation from the client)', (type: number) => `${hs(type)} after the handshake`),
  MessageBeforeChangeCipherSpec: cause('unexpected_message', 'RFC 5246 §7.1, §7.4.9', (type: number) => `${hs(type)} before the client's ChangeCipherSpec`),

  // ------------------------------------------------ TLS 1.3 ClientHello (RFC 8446 §4.1.2, §9.2)
  Tls13CompressionNotNull: cause('illegal_parameter', 'RFC 8446 §4.1.2', () => 'TLS 1.3 ClientHello with compression methods other than null'),
  MissingSignatureAlgorithms: cause('missing_extension', 'RFC 8446 §9.2', () => 'ClientHello without signature_algorithms'),
  MissingSupportedGroups: cause('missing_extension', 'RFC 8446 §9.2', () => 'ClientHello without supported_groups'),
  MissingKeyShare: cause('missing_extension', 'RFC 8446 §9.2', () => 'ClientHello without key_share'),
  MissingPskModes: cause('missing_extension', 'RFC 8446 §4.2.9', () => 'pre_shared_key without psk_key_exchange_modes'),
  NoPskNoSignatureAlgorithms: cause('missing_extension', 'RFC 8446 §9.2', () => 'no acceptable PSK and no signature_algorithms'),
  Hello2NotTls13: cause('illegal_parameter', 'RFC 8446 §4.1.4', () => 'ClientHello2 does not offer TLS 1.3'),
  Hello2DroppedSuite: cause('illegal_parameter', 'RFC 8446 §4.1.4', () => 'ClientHello2 dropped the cipher suite chosen for the retry'),
  Hello2StillNoKeyShare: cause('illegal_parameter', 'RFC 8446 §4.1.4', () => 'ClientHello2 still has no acceptable key share'),
  Hello2KeyShareMismatch: cause('illegal_parameter', 'RFC 8446 §4.1.2, §4.2.8', () => 'ClientHello2 key share does not match the HelloRetryRequest'),
  Hello2ChangedFields: cause('illegal_parameter', 'RFC 8446 §4.1.2', () => 'ClientHello2 changed fields a retry may not change'),
  Hello2ChangedExtensions: cause('illegal_parameter', 'RFC 8446 §4.1.2', () => 'ClientHello2 changed its extensions'),
  EarlyDataInHello2: cause('illegal_parameter', 'RFC 8446 §4.2.10', () => 'early_data in ClientHello2'),

  // ------------------------------------------------ TLS 1.3 negotiation (RFC 8446 §4.1.1, §4.2.8)
  NoSharedTls13Suite: cause('handshake_failure', 'RFC 8446 §4.1.1', () => 'no shared TLS 1.3 cipher suite'),
  NoSharedGroup: cause('handshake_failure', 'RFC 8446 §4.1.1', () => 'no shared key exchange group'),
  KeyShareNotInSupportedGroups: cause('illegal_parameter', 'RFC 8446 §4.2.8', (group: number) => `key_share for group ${group} not in supported_groups`),
  MalformedKeyShare: cause('illegal_parameter', 'RFC 8446 §4.2.8, §4.2.8.2', (group: number, length: number) => `malformed key share for group ${group} (${length} bytes)`),
  InvalidKeyShare: cause('illegal_parameter', 'RFC 8446 §4.2.8.2', (group: string, why: string) => `invalid ${group} key share: ${why}`),
  AllZeroSharedSecret: cause('illegal_parameter', 'RFC 8446 §7.4.2; RFC 8422 §5.11', (group: string) => `${group} shared secret is all zeros`),
  KeyShareForObsoleteGroup: cause('illegal_parameter', 'RFC 8446 §4.2.7, §4.2.8 (obsolete_RESERVED and TLS 1.2-only curves are not TLS 1.3 groups)', (group: string) =>
    `key share for ${group}, which is not a TLS 1.3 group`),
  KeyShareWrongLength: cause('illegal_parameter', 'RFC 8446 §4.2.8, §4.2.8.1, §4.2.8.2; draft-ietf-tls-ecdhe-mlkem §4', (group: string, length: number, expected: number) =>
    `malformed key share for group ${group} (${length} bytes, expected ${expected})`),
  KeyShareNotUncompressedPoint: cause('illegal_parameter', 'RFC 8446 §4.2.8.2', (group: string) => `${group} key share: not an uncompressed point`),
  FfdheKeyShareOutOfRange: cause('illegal_parameter', 'RFC 8446 §4.2.8.1; RFC 7919 §5.1', (group: string) => `${group} key share out of range (1 < Y < p-1)`),
  MlKemEncapsulationKeyInvalid: cause('illegal_parameter', 'RFC 8446 §4.2.8 (draft-ietf-tls-ecdhe-mlkem §4: the FIPS 203 §7.2 check of the encapsulation key)', (group: string) =>
    `${group} key share: ML-KEM-768 encapsulation key fails the FIPS 203 modulus check`),
  NoCertificateForSignatureSchemes: cause('handshake_failure', 'RFC 8446 §4.4.2.2', () => 'no certificate for any signature scheme the client offered'),
  NoSharedAlpn: cause('no_application_protocol', 'RFC 7301 §3.2', (offered: readonly string[]) => `no common ALPN protocol (client offered ${offered.join(',')})`),
  BinderMismatch: cause('decrypt_error', 'RFC 8446 §4.2.11, §6.2', () => 'PSK binder does not verify'),
  FinishedMismatch: cause('decrypt_error', 'RFC 8446 §4.4.4; RFC 5246 §7.4.9', () => 'client Finished does not verify'),

  // ------------------------------------------------ TLS 1.2 (RFC 5246, RFC 8422, RFC 5746, RFC 7627, RFC 7919, RFC 9155)
  Tls12NoNullCompression: cause('illegal_parameter', 'RFC 5246 §7.4.1.2', () => 'ClientHello without the null compression method'),
  RenegotiationInfoNotEmpty: cause('handshake_failure', 'RFC 5746 §3.6', () => 'non-empty renegotiation_info on an initial handshake'),
  PointFormatsWithoutUncompressed: cause('illegal_parameter', 'RFC 8422 §5.1.2', () => 'ec_point_formats without the uncompressed format'),
  NoSharedTls12Suite: cause('handshake_failure', 'RFC 5246 §7.4.1.3', () => 'no shared TLS 1.2 cipher suite for our certificates and groups'),
  Tls12NoSignatureAlgorithms: cause('handshake_failure', 'RFC 9155 §5 (without signature_algorithms only SHA-1 would do, RFC 5246 §7.4.1.4.1)', () =>
    'TLS 1.2 ClientHello without signature_algorithms: SHA-1 signatures are refused (RFC 9155)'),
  ResumptionWithoutExtendedMasterSecret: cause('handshake_failure', 'RFC 7627 §5.3', () => 'resumption of an extended-master-secret session without the extension'),
  InvalidPublicValue: cause('illegal_parameter', 'RFC 8422 §5.11; RFC 7919 §5.1', (group: string, why: string) => `invalid ${group} public value: ${why}`),
  DhPublicValueOutOfRange: cause('illegal_parameter', 'RFC 7919 §5.1', () => 'DH public value out of range (1 < Y < p-1)'),

  // ------------------------------------------------ raw public keys (RFC 7250)
  NoCommonCertificateType: cause('unsupported_certificate', 'RFC 7250 §4.2', (side: string, offered: readonly number[]) =>
    `no ${side} certificate type in common (client offers ${offered.join(',')})`),
  RawKeyCertificateShape: cause('decode_error', 'RFC 7250 §3; RFC 8446 §4.4.2', (why: string) => `raw public key Certificate: ${why}`),

  // ------------------------------------------------ client certificates (RFC 8446 §4.4.2.4, §4.4.3; RFC 5246 §7.4.6, §7.4.8)
  ClientCertificateContextNotEmpty: cause('illegal_parameter', 'RFC 8446 §4.4.2', () => 'client Certificate with a certificate_request_context we did not send'),
  ClientCertificateMissing: cause('certificate_required', 'RFC 8446 §4.4.2.4', () => 'the client sent no certificate'),
  Tls12ClientCertificateMissing: cause('handshake_failure', 'RFC 5246 §7.4.6', () => 'the client sent no certificate'),
  ClientCertificateUnusable: cause('bad_certificate', 'RFC 8446 §6.2 bad_certificate', (why: string) => `client certificate unusable: ${why}`),
  ClientCertificateBad: cause('bad_certificate', 'RFC 8446 §6.2', (why: string) => `client certificate not trusted: ${why}`),
  ClientCertificateUnsupported: cause('unsupported_certificate', 'RFC 8446 §6.2', (why: string) => `client certificate not trusted: ${why}`),
  ClientCertificateExpired: cause('certificate_expired', 'RFC 8446 §6.2', (why: string) => `client certificate not trusted: ${why}`),
  ClientCertificateUnknown: cause('certificate_unknown', 'RFC 8446 §6.2', (why: string) => `client certificate not trusted: ${why}`),
  ClientCertificateUnknownCa: cause('unknown_ca', 'RFC 8446 §6.2', (why: string) => `client certificate not trusted: ${why}`),
  ClientCertificateAccessDenied: cause('access_denied', 'RFC 8446 §6.2', (why: string) => `client certificate not trusted: ${why}`),
  ClientSignatureSchemeMismatch: cause('illegal_parameter', 'RFC 8446 §4.4.3; RFC 5246 §7.4.8', (scheme: number, key: string) =>
    `client CertificateVerify with scheme 0x${scheme.toString(16)} for a ${key} key`),
  ClientSignatureInvalid: cause('decrypt_error', 'RFC 8446 §4.4.3; RFC 5246 §7.4.8', () => 'client CertificateVerify signature does not verify'),

  // ------------------------------------------------ our own failures (RFC 8446 §6.2 internal_error)
  SequenceExhausted: cause('internal_error', 'RFC 8446 §5.3', () => 'record sequence number exhausted'),
  KeyShareGenerationFailed: cause('internal_error', 'RFC 8446 §6.2', (why: string) => `key share generation failed: ${why}`),
  SigningFailed: cause('internal_error', 'RFC 8446 §6.2', (what: string, why: string) => `signing ${what} failed: ${why}`),
  RecordProtectionFailed: cause('internal_error', 'RFC 8446 §6.2', (why: string) => `record protection failed: ${why}`),
  InternalError: cause('internal_error', 'RFC 8446 §6.2', (why: string) => why),
} as const satisfies Record<string, CauseSpec>;

export type Cause = keyof typeof CAUSES;
type Details<C extends Cause> = Parameters<(typeof CAUSES)[C]['text']>;

/** The alert a cause gets: the only function in engine/ that maps a failure to an alert. */
export function alertFor(code: Cause): AlertDescriptionValue {
  return AlertDescription[CAUSES[code].alert];
}

export class TlsFailure extends Error {
  readonly alert: AlertDescriptionValue;
  constructor(readonly code: Cause, message: string) {
    super(message);
    this.name = 'TlsFailure';
    this.alert = alertFor(code);
  }
}

/** Throw the failure for `code`; the log text comes from the table. */
export function fail<C extends Cause>(code: C, ...details: Details<C>): never {
  throw failure(code, ...details);
}

/** The TlsFailure for `code`, to throw or reject with. */
export function failure<C extends Cause>(code: C, ...details: Details<C>): TlsFailure {
  const text = CAUSES[code].text as (...d: Details<C>) => string;
  return new TlsFailure(code, text(...details));
}

/** Alerts a certificate verifier may ask for when it refuses a client chain (engine/config.ts). */
export type CertificateRefusal = 'bad_certificate' | 'unsupported_certificate' | 'certificate_expired' | 'certificate_unknown' | 'unknown_ca' | 'access_denied';

/** The cause for a verifier's refusal. */
export const REFUSAL_CAUSES = {
  bad_certificate: 'ClientCertificateBad',
  unsupported_certificate: 'ClientCertificateUnsupported',
  certificate_expired: 'ClientCertificateExpired',
  certificate_unknown: 'ClientCertificateUnknown',
  unknown_ca: 'ClientCertificateUnknownCa',
  access_denied: 'ClientCertificateAccessDenied',
} as const satisfies Record<CertificateRefusal, Cause>;

/**
 * The one non-fatal alert we send: RFC 5746 §4.4 / RFC 5246 §7.4.1.2, a
 * server that will not renegotiate answers with a no_renegotiation warning.
 * (close_notify, RFC 8446 §6.1, is a closure, not a failure.)
 */
export const RENEGOTIATION_REFUSED_WARNING: AlertDescriptionValue = AlertDescription.no_renegotiation;

/** Raised when the peer sent us a fatal alert (we send nothing back). */
export class PeerAlert extends Error {
  constructor(readonly description: number, readonly level: number) {
    super(`peer sent alert ${description}`);
    this.name = 'PeerAlert';
  }
}
