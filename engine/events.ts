/**
 * What a connection tells its owner. The engine is sans-I/O: the owner
 * feeds received bytes with `receive()`, and the engine calls these hooks.
 *
 * Ordering guarantees: `write` is called with records in sequence order;
 * `handshake` is called before the first `data`; after `failed` or
 * `closed` nothing else is called.
 */

export interface HandshakeInfo {
  /** "TLSv1.3" */
  readonly protocol: string;
  readonly version: number;
  /** IANA value and OpenSSL name, e.g. "TLS_AES_128_GCM_SHA256". */
  readonly cipherSuite: number;
  readonly cipherName: string;
  /** Effective / algorithm key bits as OpenSSL reports them (128/128, 256/256). */
  readonly cipherBits: number;
  /** Key exchange group as OpenSSL 3 names it: "x25519", "secp256r1"... */
  readonly group: string;
  /** "ECDSA (prime256v1)", "RSA-PSS (2048 bits)", "ED25519"; undefined when resumed. */
  readonly serverSignature?: string;
  /** "SHA256", "SHA384"; undefined for EdDSA. */
  readonly serverDigest?: string;
  /** Server name the client sent (SNI), if any. */
  readonly serverName?: string;
  /** True when the SNI name matched a configured certificate name. */
  readonly serverNameMatched: boolean;
  readonly alpn?: string;
  /** A server_name that was not a valid host name (logged, then ignored). */
  readonly invalidServerName?: string;
  /** True when a HelloRetryRequest was needed. */
  readonly helloRetry: boolean;
  /** Label of the certificate served (e.g. its file). */
  readonly certificateLabel?: string;
  readonly resumed: boolean;
  /** How the session was resumed: a TLS 1.3 PSK ticket, a TLS 1.2 RFC 5077 ticket, or a TLS 1.2 session ID. */
  readonly resumedVia?: 'ticket' | 'session-id';
  /** The client's certificate, when it sent one. */
  readonly clientCertificate?: ClientCertificateInfo;
  /** TLS 1.3: the client's psk_key_exchange_modes allow the tickets we issue (psk_dhe_ke). */
  readonly ticketsUsable?: boolean;
  /** TLS 1.2: RFC 7627 extended master secret in use. */
  readonly extendedMasterSecret?: boolean;
}

export interface ConnectionEvents {
  /** Ciphertext for the peer, in order. */
  write(bytes: Uint8Array): void;
  /** The handshake completed (client Finished verified). */
  handshake(info: HandshakeInfo): void;
  /** Decrypted application data. */
  data(plaintext: Uint8Array): void;
  /** The peer sent close_notify: no more data will arrive. We may still write until we close(). */
  peerClosed(): void;
  /**
   * Fatal: we sent an alert (`sent`), or received one (`received`), or a
   * provider failed. The alert, if any, has been passed to `write` first.
   */
  failed(error: ConnectionError): void;
  /** Both directions are finished cleanly (close_notify sent, and received or not awaited). */
  closed?(): void;
  /**
   * Secrets in NSS key log form (SSLKEYLOGFILE), for debugging with Wireshark:
   * `label` is CLIENT_RANDOM (TLS 1.2 master secret) or CLIENT/SERVER_HANDSHAKE_TRAFFIC_SECRET,
   * CLIENT/SERVER_TRAFFIC_SECRET_0, EXPORTER_SECRET (TLS 1.3). Only called when present: leave it
   * unset in production unless the operator asked for a key log.
   */
  keylog?(label: string, clientRandom: Uint8Array, secret: Uint8Array): void;
  /** A non-fatal protocol event an operator should see (refused renegotiation, invalid SNI...). */
  warning?(message: string): void;
  /** Diagnostic trace for verbose logging (state transitions, alerts). Optional. */
  trace?(message: string): void;
}

export interface ConnectionError {
  /** 'sent': we detected the problem and sent `alert`; 'received': the peer sent `alert`. */
  readonly direction: 'sent' | 'received' | 'none';
  readonly alert?: number;
  /** Alert name, e.g. "handshake_failure". */
  readonly alertName?: string;
  /** What went wrong, for the log. */
  readonly reason: string;
  /** The typed cause (engine/errors.ts CAUSES) when we failed the session; 'PeerAlert' when the peer did. */
  readonly cause?: string;
  /** True while the handshake had not completed. */
  readonly duringHandshake: boolean;
}

export interface ClientCertificateInfo {
  readonly trusted: boolean;
  /** From a resumed session: no signature was made in this handshake. */
  readonly resumed?: boolean;
  readonly reason?: string;
  /** "ECDSA (prime256v1)", "RSA-PSS (2048 bits)", "RSA (2048 bits)", "ED25519". */
  readonly signature: string;
  /** "SHA256"...; undefined for EdDSA. */
  readonly digest?: string;
  /** The verifier's details (subject, fingerprints...). */
  readonly details?: unknown;
}
