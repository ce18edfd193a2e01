/**
 * The server handshake as explicit states (RFC 8446 Appendix A.2):
 *
 *   START --ClientHello--> (HelloRetryRequest) --> START2 --ClientHello-->
 *   NEGOTIATED: send ServerHello..Finished --> WAIT_FINISHED --Finished--> CONNECTED
 *
 * Each state handles one handshake message and returns the next state,
 * like rustls's `State::handle`. Anything a state does not expect is an
 * unexpected_message (§6.2).
 */

import type { ServerConfig, Limits } from '../config.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { HandshakeInfo, TlsEvent } from '../events.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import type { RecordProtection } from '../record.js';
import type { Tls13Suite } from '../suites.js';

export interface State {
  readonly name: string;
  handle(message: HandshakeMessage): Promise<State>;
  /** TLS 1.2 only: a ChangeCipherSpec record arrived (RFC 5246 §7.1). Absent: unexpected_message. */
  changeCipherSpec?(): State;
}

/** What states may ask of the connection. */
export interface ServerContext {
  readonly config: ServerConfig;
  readonly provider: CryptoProvider;
  readonly limits: Limits;
  random(length: number): Uint8Array;
  trace(message: string): void;
  /** Report a typed event (TlsEvent: resumption, ticket, certificate and client-certificate decisions). */
  event(event: TlsEvent): void;

  /** Queue a handshake message in the outgoing flight (coalesced into records by flush). */
  sendHandshake(message: Uint8Array): void;
  /** §D.4 middlebox compatibility: one dummy change_cipher_spec record. */
  sendChangeCipherSpec(): void;
  /** Emit the queued flight as records under the current write protection. */
  flush(): void;
  /** The negotiated protocol version (TLS 1.2 changes how records are dispatched). */
  setVersion(version: number): void;
  /** TLS 1.2: install write protection (flushes first) / read protection (record boundary checked). */
  setWriteProtection(protection: RecordProtection): void;
  setReadProtection(protection: RecordProtection): void;
  /** TLS 1.2: this connection's session is in the session cache under `id` (removed again if the connection fails). */
  noteCachedSession(id: Uint8Array): void;
  /** Report a secret for the key log (a no-op unless the owner asked for one). */
  keylog(label: string, clientRandom: Uint8Array, secret: Uint8Array): void;
  /** A non-fatal event worth a log line (invalid SNI...). */
  warning(message: string): void;
  /** TLS 1.2: answer a renegotiation attempt with a no_renegotiation warning (bounded). */
  refuseRenegotiation(): void;
  /** Switch the write direction to a new traffic secret (flushes first). */
  setWriteSecret(suite: Tls13Suite, secret: Uint8Array): void;
  /** Switch the read direction; §5.1: fails unless the triggering message ended its record. */
  setReadSecret(suite: Tls13Suite, secret: Uint8Array): void;
  /**
   * §4.2.10: early data offered and not accepted. 'trial': skip records that
   * fail to decrypt under the handshake key; 'all': skip protected records
   * until the second ClientHello (after a HelloRetryRequest).
   */
  skipEarlyData(mode: 'trial' | 'all' | 'off'): void;
  /** RFC 8449: the largest protected record (inner plaintext incl. content type) the peer accepts. */
  setPeerRecordSizeLimit(limit: number): void;
  /** The handshake is done; application data may flow. */
  handshakeComplete(info: HandshakeInfo, connected?: ConnectedSecrets): void;
  /** Received a KeyUpdate; `requested`: the peer wants us to update too. */
  peerKeyUpdate(requested: boolean): void;
}

/**
 * What an established TLS 1.3 session keeps: the current traffic secrets,
 * for KeyUpdate (§4.6.3, §7.2). The exporter and resumption master secrets
 * are not kept (no exporter API; the one ticket is made with the flight).
 */
export interface ConnectedSecrets {
  readonly suite: Tls13Suite;
  clientTrafficSecret: Uint8Array;
  serverTrafficSecret: Uint8Array;
}
