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
  /** RFC 7250: we authenticated with our raw public key, not the chain. */
  readonly serverCertificateType?: 'x509' | 'raw-public-key';
  /** RFC 7250: the certificate type the client was asked for (when we sent CertificateRequest). */
  readonly clientCertificateType?: 'x509' | 'raw-public-key';
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
  /**
   * Optional: a buffer of at least `length` bytes (its content does not
   * matter) for several records sealed together, which will be passed to
   * `write` as a view of it: the owner may recycle buffers once their
   * write completed, instead of the engine allocating one per write.
   */
  allocate?(length: number): Uint8Array;
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
  /** Diagnostic trace for verbose logging, free text for a human: never parse it (use `event`). Optional. */
  trace?(message: string): void;
  /**
   * What the handshake did, as typed events (TlsEvent), for the verbose log
   * and anything else that must follow the protocol without re-parsing the
   * wire. Optional: when unset the engine builds no events at all.
   */
  event?(event: TlsEvent): void;
}

export type Direction = 'sent' | 'received';

/**
 * One step of a connection, in the order it happened on the wire:
 *
 *  - `record`: a record as it is on the wire (its 5-byte header and body, still
 *    protected; with an event hook the engine never decrypts received records in place,
 *    so the views stay as they were): received, before anything in it is processed; sent, just
 *    before it goes to `write` (after the events of what it carries);
 *  - `message`: a handshake message (RFC 8446 §4 / RFC 5246 §7.4 HandshakeType).
 *    Received: before it is processed (OpenSSL's read states, too, are entered
 *    on the header). Sent: just before the record that carries its first byte
 *    goes to `write`;
 *  - `change-cipher-spec`: the ChangeCipherSpec record (TLS 1.2), or the
 *    middlebox compatibility one (TLS 1.3, RFC 8446 §D.4);
 *  - `alert`: an alert record, close_notify included (sent: just before its
 *    record goes to `write`);
 *  - `version`: the negotiated version, before ServerHello is sent;
 *  - `keys`: a direction changed keys (TLS 1.3: handshake, application, then
 *    KeyUpdate; TLS 1.2: the ChangeCipherSpec keys);
 *  - `resumption`: whether the ClientHello resumes a session, and how;
 *  - `ticket`: whether a ticket was issued (the reason when not);
 *  - `certificate`: the certificate chosen to authenticate us (none when resumed);
 *  - `client-certificate`: the verdict on the client's chain (absent: it sent none).
 */
export type TlsEvent =
  | { readonly kind: 'record'; readonly direction: Direction; readonly header: Uint8Array; readonly fragment: Uint8Array }
  | { readonly kind: 'message'; readonly direction: Direction; readonly type: number; readonly protected: boolean }
  | { readonly kind: 'change-cipher-spec'; readonly direction: Direction }
  | { readonly kind: 'alert'; readonly direction: Direction; readonly level: number; readonly description: number; readonly protected: boolean }
  | { readonly kind: 'version'; readonly version: number }
  | { readonly kind: 'keys'; readonly direction: 'read' | 'write'; readonly phase: 'handshake' | 'application' | 'key-update' }
  | { readonly kind: 'resumption'; readonly resumed: boolean; readonly via?: 'ticket' | 'session-id' }
  | { readonly kind: 'ticket'; readonly issued: boolean; readonly reason?: string }
  | { readonly kind: 'certificate'; readonly label?: string; readonly matchedServerName: boolean }
  | { readonly kind: 'client-certificate'; readonly trusted?: boolean; readonly reason?: string; readonly details?: ClientCertificateDetails };

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
  readonly details?: ClientCertificateDetails;
}

/** What a client-certificate verifier reports about the leaf (proxy/tls/client-auth.ts fills it in). */
export interface ClientCertificateDetails {
  /** OpenSSL one-line DNs of the client's certificate. */
  readonly subject: string;
  readonly issuer: string;
  /** Subject CN ('' when none), issuer CN (else issuer O). */
  readonly subjectCN: string;
  readonly issuerCN: string;
  /** Fingerprints of the certificate and of its public key, "AB:CD:..." in `digest`. */
  readonly certFingerprint: string;
  readonly pkeyFingerprint: string;
  /** The fingerprint digest's name, e.g. "sha256". */
  readonly digest: string;
  /** Why it is not trusted: the verifier's error. */
  readonly error?: ClientCertificateError;
  /** RFC 7250: a raw public key, not a certificate (no subject, issuer or certificate fingerprint). */
  readonly rawPublicKey?: boolean;
}

/** A chain verification failure as the verifier reports it (OpenSSL's X509_V_ERR number and text, the depth). */
export interface ClientCertificateError {
  readonly code: number;
  readonly depth: number;
  readonly reason: string;
}
