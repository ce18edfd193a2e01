/**
 * EncryptedExtensions (RFC 8446 §4.3.1):
 *   struct { Extension extensions<0..2^16-1>; } EncryptedExtensions;
 */

import { Reader, Writer } from '../codec.js';
import { ExtensionType, HandshakeType } from '../constants.js';
import { type Extension, parseExtensions, writeExtensions } from './extensions.js';
import { buildHandshake } from './handshake.js';

export function encodeEncryptedExtensions(exts: readonly Extension[]): Uint8Array {
  return buildHandshake(HandshakeType.encrypted_extensions, (w) => writeExtensions(w, exts));
}

export function parseEncryptedExtensions(body: Uint8Array): Extension[] {
  const r = new Reader(body);
  const exts = parseExtensions(r.sub(2, 0, 0xffff, 'EncryptedExtensions'), 64, 'EncryptedExtensions');
  r.end('EncryptedExtensions');
  return exts;
}

/** RFC 6066 §3: the server's empty server_name acknowledgement. */
export function serverNameAck(): Extension {
  return { type: ExtensionType.server_name, data: new Uint8Array(0) };
}

/** RFC 7301 §3.1: exactly one selected protocol. */
export function alpnSelected(protocol: string): Extension {
  const name = new Uint8Array(protocol.length);
  for (let i = 0; i < protocol.length; i++) name[i] = protocol.charCodeAt(i) & 0xff;
  return {
    type: ExtensionType.application_layer_protocol_negotiation,
    data: new Writer(name.length + 3).begin(2).vec(1, name).close().finish(),
  };
}

/** §4.2.7: the server's supported_groups, sent in EncryptedExtensions. */
export function supportedGroupsExtension(groups: readonly number[]): Extension {
  const w = new Writer(2 + groups.length * 2).begin(2);
  for (const g of groups) w.u16(g);
  return { type: ExtensionType.supported_groups, data: w.close().finish() };
}

/** RFC 8449 §4: RecordSizeLimit (uint16). */
export function recordSizeLimitExtension(limit: number): Extension {
  return { type: ExtensionType.record_size_limit, data: new Writer(2).u16(limit).finish() };
}
