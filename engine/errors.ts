/**
 * Every way a TLS session can fail, and the alert RFC 8446 §6.2 names for it.
 *
 * Code anywhere in the engine throws `TlsFailure(kind, detail)`; the
 * connection catches it, sends the alert from this one table, reports the
 * failure as an event, and closes. Nothing else decides which alert is sent.
 */

import { AlertDescription, type AlertDescriptionValue } from './constants.js';

export const FAILURES = {
  /** §6.2 decode_error: a message could not be parsed (bad length, trailing bytes, out-of-range field). */
  malformed_message: AlertDescription.decode_error,
  /** §6.2 illegal_parameter: a field was syntactically right but semantically wrong. */
  illegal_parameter: AlertDescription.illegal_parameter,
  /** §6.2 unexpected_message: a message or record arrived in the wrong state. */
  unexpected_message: AlertDescription.unexpected_message,
  /** §5.2 bad_record_mac: a record failed AEAD authentication. */
  bad_record_mac: AlertDescription.bad_record_mac,
  /** §5.1/§5.2 record_overflow: a record longer than the limits. */
  record_overflow: AlertDescription.record_overflow,
  /** §4.1.1 handshake_failure: no common cipher suite, group or signature scheme. */
  handshake_failure: AlertDescription.handshake_failure,
  /** §4.2.1 protocol_version: the client offers no version we speak. */
  protocol_version: AlertDescription.protocol_version,
  /** §4.4.4 decrypt_error: Finished or a signature did not verify. */
  decrypt_error: AlertDescription.decrypt_error,
  /** §4.2 missing_extension: a mandatory extension is absent. */
  missing_extension: AlertDescription.missing_extension,
  /** §4.2 unsupported_extension: an extension not allowed in this message. */
  unsupported_extension: AlertDescription.unsupported_extension,
  /** RFC 7301 §3.2 no_application_protocol: no ALPN protocol in common. */
  no_application_protocol: AlertDescription.no_application_protocol,
  /** RFC 6066 §3 unrecognized_name: SNI not served (only when configured to be strict). */
  unrecognized_name: AlertDescription.unrecognized_name,
  /** §4.2.2 / RFC 5746: renegotiation refused. */
  no_renegotiation: AlertDescription.no_renegotiation,
  /** RFC 7507 inappropriate_fallback. */
  inappropriate_fallback: AlertDescription.inappropriate_fallback,
  /** §6.2 bad_certificate / unsupported_certificate / certificate_expired / certificate_unknown / unknown_ca / access_denied: a client certificate we refuse. */
  bad_certificate: AlertDescription.bad_certificate,
  unsupported_certificate: AlertDescription.unsupported_certificate,
  certificate_expired: AlertDescription.certificate_expired,
  certificate_unknown: AlertDescription.certificate_unknown,
  unknown_ca: AlertDescription.unknown_ca,
  access_denied: AlertDescription.access_denied,
  /** §4.4.2.4: a client certificate is required and none was sent (TLS 1.3). */
  certificate_required: AlertDescription.certificate_required,
  /** §6.2 insufficient_security: parameters acceptable but weaker than required. */
  insufficient_security: AlertDescription.insufficient_security,
  /** A limit of ours was exceeded (too many warnings, KeyUpdates, empty records, ...). §6.2: unexpected_message. */
  limit_exceeded: AlertDescription.unexpected_message,
  /** Our own bug or a provider failure: §6.2 internal_error. */
  internal_error: AlertDescription.internal_error,
} as const satisfies Record<string, AlertDescriptionValue>;

export type FailureKind = keyof typeof FAILURES;

export class TlsFailure extends Error {
  readonly alert: AlertDescriptionValue;
  constructor(readonly kind: FailureKind, detail: string) {
    super(detail);
    this.name = 'TlsFailure';
    this.alert = FAILURES[kind];
  }
}

/** A structure could not be decoded (§6.2 decode_error). */
export class DecodeError extends TlsFailure {
  constructor(detail: string) {
    super('malformed_message', detail);
    this.name = 'DecodeError';
  }
}

/** Raised when the peer sent us a fatal alert (we send nothing back). */
export class PeerAlert extends Error {
  constructor(readonly description: number, readonly level: number) {
    super(`peer sent alert ${description}`);
    this.name = 'PeerAlert';
  }
}

export function fail(kind: FailureKind, detail: string): never {
  throw new TlsFailure(kind, detail);
}
