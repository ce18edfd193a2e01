/**
 * Server configuration as the engine sees it: already-validated values.
 * Parsing Postfix parameters into this shape is proxy/'s job.
 */

import type { CryptoProvider, MaybePromise, SigningKey } from './crypto/provider.js';
import { CipherSuite, NamedGroup } from './constants.js';
import type { CertificateRefusal } from './errors.js';
import type { DhParams } from './ffdhe.js';
import { MAX_CLIENT_HELLO } from './handshake-buffer.js';
import type { SessionCache, TicketProtector } from './session.js';
import type { ClientCertificateDetails } from './events.js';

/** A certificate chain (leaf first, DER) with its private key. */
export interface CertifiedKey {
  /** DER certificates, leaf first. */
  readonly chain: readonly Uint8Array[];
  readonly key: SigningKey;
  /**
   * DNS names the leaf is valid for (subjectAltName dNSName, else the
   * subject CN), lower case; may contain wildcards such as "*.example.org".
   */
  readonly names: readonly string[];
  /** Human label for logs, e.g. the file it came from. */
  readonly label?: string;
  /** The leaf's SubjectPublicKeyInfo (DER): what we send as a raw public key (RFC 7250). */
  readonly spki?: Uint8Array;
}

/** What the SNI hook learns about the client before ServerHello is built. */
export interface ClientHelloSummary {
  readonly serverName: string | undefined;
  /** A server_name that is not a valid host name (RFC 6066 §3); not used for the choice. */
  readonly invalidServerName?: string;
  /** signature_algorithms_cert (RFC 8446 §4.2.3), when the client sent it. */
  readonly signatureAlgorithmsCert?: readonly number[];
  readonly signatureSchemes: readonly number[];
  readonly alpn: readonly string[];
  readonly cipherSuites: readonly number[];
  readonly groups: readonly number[];
}

export interface SniChoice {
  /** Candidate certificates for this name, best first. */
  readonly certificates: readonly CertifiedKey[];
  /** True when the name matched a configured name (logs `to <sni>`). */
  readonly matched: boolean;
}

/** What the certificate verifier says about a client's chain. */
export interface ClientCertificateVerdict {
  /** The leaf's SubjectPublicKeyInfo (DER), used to check CertificateVerify. */
  readonly spki: Uint8Array;
  /** The leaf's key type, for choosing acceptable CertificateVerify schemes. */
  readonly keyAlgorithm: 'rsa' | 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519' | 'other';
  /** Key size in bits (RSA modulus; curve size). */
  readonly keyBits: number;
  /** The chain verified against the trust anchors. */
  readonly trusted: boolean;
  /** When not trusted: the alert a strict server sends (RFC 8446 §6.2). */
  readonly alert?: CertificateRefusal;
  /** Why not trusted, for the log ("untrusted issuer /CN=...", "certificate has expired"). */
  readonly reason?: string;
  /** What the owner wants back in HandshakeInfo (subject, CNs, fingerprints). */
  readonly details?: ClientCertificateDetails;
}

/** Client certificate policy (Postfix ask_ccert / req_ccert). */
export interface ClientAuthPolicy {
  /** 'request': ask, accept none; 'require': a client without a certificate fails (certificate_required in TLS 1.3). */
  readonly mode: 'request' | 'require';
  /** Fail the handshake when the chain does not verify (ours; Postfix never does). */
  readonly requireTrusted?: boolean;
  /** DER-encoded distinguished names sent as certificate_authorities (Postfix: the CAfile subjects). */
  readonly certificateAuthorities?: readonly Uint8Array[];
  /** Longest client chain accepted (Postfix ccert_verifydepth + 1). */
  readonly maxChainLength?: number;
  /**
   * Examine the client's chain (leaf first). Throws only when the leaf
   * cannot be used at all (unparseable: bad_certificate); an untrusted
   * chain is a verdict, not an exception.
   */
  verify(chain: readonly Uint8Array[]): MaybePromise<ClientCertificateVerdict>;
  /**
   * RFC 7250: accept a raw public key from the client instead of a chain,
   * and judge it (Postfix: by its public-key fingerprint). Absent: only
   * X.509 chains are accepted.
   */
  verifyRawPublicKey?(spki: Uint8Array): MaybePromise<ClientCertificateVerdict>;
}

/** Bounds on what a peer can make us hold or repeat (DEVELOPERS.md: bound everything). */
export interface Limits {
  /** Largest handshake message we accept (ClientHello, client Certificate...); longer is decode_error. */
  maxHandshakeMessage: number;
  /** Most extensions in one ClientHello. */
  maxExtensions: number;
  /** Consecutive warning alerts tolerated (TLS 1.3 has none but user_canceled/close_notify). */
  maxWarningAlerts: number;
  /** Consecutive records with empty content (all padding / zero-length appdata). */
  maxEmptyRecords: number;
  /** KeyUpdates from the peer without application data in between. */
  maxKeyUpdatesWithoutData: number;
  /** Change-cipher-spec compatibility records accepted during the handshake. */
  maxChangeCipherSpec: number;
  /** TLS 1.2 renegotiation attempts refused with a no_renegotiation warning before we give up. */
  maxRenegotiationAttempts: number;
  /** TLS 1.3 PSK identities examined per ClientHello (the rest are ignored). */
  maxPskIdentities: number;
  /** TLS 1.3: largest difference (ms) between the client's and our view of a ticket's age. */
  ticketAgeWindow: number;
  /** Bytes of early data we skip (RFC 8446 §4.2.10) before failing. */
  maxEarlyDataSkip: number;
  /** Plaintext bytes buffered by write() before the handshake completes. */
  maxPendingPlaintext: number;
}

export const DEFAULT_LIMITS: Limits = {
  // The longest legal ClientHello (131,396 bytes, ~128 KiB like OpenSSL's bound): every large but legal hello fits.
  maxHandshakeMessage: MAX_CLIENT_HELLO,
  // As many as a 65,535-byte extensions block can hold (4 bytes each): the count is bounded by the size.
  maxExtensions: 16384,
  maxWarningAlerts: 4,
  maxEmptyRecords: 32,
  maxKeyUpdatesWithoutData: 32,
  maxChangeCipherSpec: 1,
  maxRenegotiationAttempts: 2,
  maxPskIdentities: 4,
  ticketAgeWindow: 10_000,
  maxEarlyDataSkip: 64 * 1024,
  maxPendingPlaintext: 256 * 1024,
};

export interface ServerConfig {
  readonly provider: CryptoProvider;
  /** Default certificate candidates (one per key algorithm, typically). */
  readonly certificates: readonly CertifiedKey[];
  /**
   * SNI hook, runs after the ClientHello is parsed and before ServerHello
   * is built. Default: match `certificates[].names` (wildcards included),
   * falling back to all certificates.
   */
  readonly selectCertificates?: (hello: ClientHelloSummary) => SniChoice;
  /** TLS 1.3 suites in server preference order. */
  readonly cipherSuites: readonly number[];
  /** Protocol versions enabled (ProtocolVersion values); default TLS 1.3 and TLS 1.2. */
  readonly versions?: readonly number[];
  /** TLS 1.2 suites in server preference order; default DEFAULT_TLS12_SUITES (engine/suites.ts). */
  readonly tls12CipherSuites?: readonly number[];
  /**
   * DH parameters for DHE suites when the client names no RFC 7919 group
   * (Postfix: tlsproxy_tls_dh1024_param_file); default ffdhe2048.
   */
  readonly dhParams?: DhParams;
  /** Groups in server preference order. */
  readonly groups: readonly number[];
  /**
   * `groups` cut into OpenSSL 3.5 tuples (engine/policy/groups.ts): TLS 1.3
   * takes the first tuple with a group the client supports, uses a key share
   * the client sent for a group of that tuple, or asks for the tuple's best
   * group with a HelloRetryRequest. Default: one tuple, `groups`.
   */
  readonly groupTuples?: readonly (readonly number[])[];
  /** true: server order wins (Postfix tls_preempt_cipherlist); false: client order. */
  readonly preferServerCiphers: boolean;
  /**
   * With preferServerCiphers: when the client's first suite is a
   * CHACHA20-POLY1305 one, our CHACHA20 suites go first (OpenSSL's
   * PRIORITIZE_CHACHA, Postfix tls_ssl_options; engine/policy/options.ts).
   */
  readonly prioritizeChacha?: boolean;
  /** Groups announced in EncryptedExtensions (§4.2.7); default: not sent. */
  readonly advertiseGroups?: readonly number[];
  /**
   * Without advertiseGroups: announce our TLS 1.3 groups in
   * EncryptedExtensions when the negotiated group is not our first choice
   * (OpenSSL's rule), so the client can send the right share next time.
   */
  readonly advertiseGroupsAuto?: boolean;
  /** ALPN protocols the server speaks, in preference order; empty = ALPN ignored. */
  readonly alpn?: readonly string[];
  /** Randomness source (defaults to provider.random). Tests inject fixed bytes. */
  readonly random?: (length: number) => Uint8Array;
  /** Clock in milliseconds (defaults to Date.now). */
  readonly now?: () => number;
  readonly limits?: Partial<Limits>;
  /** Client certificates: absent means none are requested. */
  readonly clientAuth?: ClientAuthPolicy;
  /** RFC 7250: send our raw public key instead of the chain to a client that asks for it (Postfix *_tls_enable_rpk). */
  readonly rawPublicKey?: boolean;
  /** TLS 1.2 session-ID cache; without it no session IDs are issued. */
  readonly sessionCache?: SessionCache;
  /** Session tickets (RFC 5077 for TLS 1.2, NewSessionTicket for TLS 1.3); without it none are issued or accepted. */
  readonly tickets?: TicketProtector;
  /**
   * Bytes naming the service and its client-certificate policy (at most 64;
   * e.g. a digest of the service name, CAfile contents and verification
   * parameters). Tickets are sealed with it as AEAD associated data and
   * cached sessions carry it: a session made under one context is never
   * resumed under another, so a "trusted" verdict does not travel to a
   * service that trusts other CAs. Default: empty.
   */
  readonly resumptionContext?: Uint8Array;
  /** Seconds a cached TLS 1.2 session may be resumed (Postfix smtpd_tls_session_cache_timeout, default 3600). */
  readonly sessionLifetime?: number;
  /** Record padding policy: bytes of padding to add to a record of `length` content bytes. Default 0. */
  readonly padding?: (contentType: number, length: number) => number;
}

export const DEFAULT_TLS13_SUITES = [
  CipherSuite.TLS_AES_256_GCM_SHA384,
  CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
  CipherSuite.TLS_AES_128_GCM_SHA256,
] as const;

/** ECDHE groups (TLS 1.3 and TLS 1.2) then RFC 7919 groups (TLS 1.2 DHE), in server preference order. */
export const DEFAULT_GROUPS = [
  NamedGroup.x25519,
  NamedGroup.secp256r1,
  NamedGroup.secp384r1,
  NamedGroup.ffdhe2048,
  NamedGroup.ffdhe3072,
] as const;
