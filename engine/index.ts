/**
 * The public API of the sans-I/O TLS engine (package export "tlsproxy/engine",
 * documented in docs/library.md): a ServerConnection takes the peer's bytes
 * with receive() and reports through ConnectionEvents. No sockets, no
 * timers, no Node APIs. Crypto comes from a CryptoProvider
 * ("tlsproxy/providers/webcrypto", "tlsproxy/providers/js", "tlsproxy/providers/node").
 */
export { ServerConnection, type ConnectionState, KEY_UPDATE_AFTER_RECORDS } from './connection.js';
export {
  type CertifiedKey, type ClientAuthPolicy, type ClientCertificateVerdict, type ClientHelloSummary, type Limits,
  type ServerConfig, type SniChoice, DEFAULT_GROUPS, DEFAULT_LIMITS, DEFAULT_TLS13_SUITES,
} from './config.js';
export type { ClientCertificateInfo, ConnectionError, ConnectionEvents, Direction, HandshakeInfo, TlsEvent } from './events.js';
export type {
  AeadAlgorithm, AeadKey, CryptoProvider, HashAlgorithm, HashContext, KeyAlgorithm, KeyShare, MaybePromise, SigningKey,
} from './crypto/provider.js';
export {
  AlertDescription, CipherSuite, NamedGroup, ProtocolVersion, SignatureScheme, alertName, groupName, signatureSchemeName,
  versionName,
} from './constants.js';
export { CAUSES, type Cause, TlsFailure } from './errors.js';
export { DEFAULT_TLS12_SUITES, TLS12_SUITES, TLS13_SUITES, tls13Suite } from './suites.js';
export { MemorySessionCache, type SessionCache, type SessionState, type TicketProtector } from './session.js';
export { TicketKeyRing, type TicketKey, type TicketKeyRingOptions, ticketKeyFromMaterial } from './tickets.js';
export { FFDHE2048, FFDHE3072, type DhParams } from './ffdhe.js';
export { nameMatches } from './sni.js';
export { fromHex, hex } from './codec.js';
