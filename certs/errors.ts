/**
 * The one error type of the certs/ module.
 *
 * `source` names where the data came from, usually the configuration
 * parameter and the file ("tlsproxy_tls_key_file=/etc/x.pem"); the message
 * starts with it so that it can be logged as is. Errors raised below the
 * point where the source is known (PEM decoding, DER parsing) carry no
 * source and are re-labelled by `withSource`.
 */
export class CertificateError extends Error {
  /** Where the data came from, when known. */
  readonly source: string | undefined;
  /** The message without the source prefix. */
  readonly detail: string;

  constructor(source: string | undefined, detail: string) {
    super(source ? `${source}: ${detail}` : detail);
    this.name = 'CertificateError';
    this.source = source;
    this.detail = detail;
  }
}

/**
 * Returns `err` as a CertificateError labelled with `source`. A
 * CertificateError that already has a source is returned as is; otherwise
 * the detail is the error's message, after `context` when one is given.
 */
export function withSource(err: unknown, source: string, context?: string): CertificateError {
  if (err instanceof CertificateError && err.source !== undefined) return err;
  const message = err instanceof CertificateError ? err.detail : err instanceof Error ? err.message : String(err);
  return new CertificateError(source, context ? `${context}: ${message}` : message);
}
