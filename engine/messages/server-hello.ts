/**
 * ServerHello and HelloRetryRequest (RFC 8446 §4.1.3, §4.1.4):
 *
 *   struct {
 *       ProtocolVersion legacy_version = 0x0303;
 *       Random random;
 *       opaque legacy_session_id_echo<0..32>;
 *       CipherSuite cipher_suite;
 *       uint8 legacy_compression_method = 0;
 *       Extension extensions<6..2^16-1>;
 *   } ServerHello;
 *
 * A HelloRetryRequest is a ServerHello whose random is the SHA-256 of
 * "HelloRetryRequest" (§4.1.3).
 */

import { Reader, Writer, fromHex } from '../codec.js';
import { ExtensionType, HandshakeType, ProtocolVersion } from '../constants.js';
import { type Extension, parseExtensions, writeExtensions } from './extensions.js';
import { buildHandshake } from './handshake.js';

export const HELLO_RETRY_REQUEST_RANDOM = fromHex(
  'CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C',
);

export interface ServerHello {
  readonly random: Uint8Array;
  readonly sessionIdEcho: Uint8Array;
  readonly cipherSuite: number;
  readonly extensions: readonly Extension[];
}

export function encodeServerHello(sh: ServerHello): Uint8Array {
  return buildHandshake(HandshakeType.server_hello, (w) => {
    w.u16(ProtocolVersion.TLS1_2).bytes(sh.random).vec(1, sh.sessionIdEcho).u16(sh.cipherSuite).u8(0);
    writeExtensions(w, sh.extensions);
  });
}

/** Parse (for tests and trace replays). */
export function parseServerHello(body: Uint8Array): ServerHello & { legacyVersion: number } {
  const r = new Reader(body);
  const legacyVersion = r.u16();
  const random = r.bytes(32);
  const sessionIdEcho = r.vec(1, 0, 32);
  const cipherSuite = r.u16();
  r.u8();
  const extensions = parseExtensions(r.sub(2, 0, 0xffff), 64, 'ServerHello');
  r.end('ServerHello');
  return { legacyVersion, random, sessionIdEcho, cipherSuite, extensions };
}

/** §4.2.1: the selected_version form of supported_versions. */
export function supportedVersionsSelected(version: number): Extension {
  return { type: ExtensionType.supported_versions, data: new Writer(2).u16(version).finish() };
}

/** §4.2.8: KeyShareServerHello { KeyShareEntry server_share; } */
export function keyShareServer(group: number, keyExchange: Uint8Array): Extension {
  return { type: ExtensionType.key_share, data: new Writer(4 + keyExchange.length).u16(group).vec(2, keyExchange).finish() };
}

/** §4.2.8: KeyShareHelloRetryRequest { NamedGroup selected_group; } */
export function keyShareRetry(group: number): Extension {
  return { type: ExtensionType.key_share, data: new Writer(2).u16(group).finish() };
}

/** §4.2.2: Cookie { opaque cookie<1..2^16-1>; } */
export function cookieExtension(cookie: Uint8Array): Extension {
  return { type: ExtensionType.cookie, data: new Writer(cookie.length + 2).vec(2, cookie).finish() };
}
