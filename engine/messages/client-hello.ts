/**
 * ClientHello (RFC 8446 §4.1.2; the same wire format as RFC 5246 §7.4.1.2):
 *
 *   struct {
 *       ProtocolVersion legacy_version = 0x0303;
 *       Random random;                                   (32 bytes)
 *       opaque legacy_session_id<0..32>;
 *       CipherSuite cipher_suites<2..2^16-2>;
 *       opaque legacy_compression_methods<1..2^8-1>;
 *       Extension extensions<8..2^16-1>;                 (absent in some old hellos)
 *   } ClientHello;
 *
 * Every extension is kept (type + raw data, in order); the ones a server
 * acts on are decoded here and a malformed one is a decode_error.
 */

import { Reader } from '../codec.js';
import type { ClientHelloSummary } from '../config.js';
import { ExtensionType } from '../constants.js';
import { fail } from '../errors.js';
import { type Extension, parseExtensions } from './extensions.js';

export interface KeyShareEntry {
  readonly group: number;
  readonly keyExchange: Uint8Array;
}

export interface PskIdentity {
  readonly identity: Uint8Array;
  readonly obfuscatedTicketAge: number;
}

export interface OfferedPsks {
  readonly identities: readonly PskIdentity[];
  readonly binders: readonly Uint8Array[];
  /** Length of the binders vector including its 2-byte length: the truncated hello is body minus this (§4.2.11.2). */
  readonly bindersLength: number;
}

export interface ClientHello {
  readonly legacyVersion: number;
  readonly random: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly cipherSuites: readonly number[];
  readonly compressionMethods: Uint8Array;
  readonly extensions: readonly Extension[];
  /** True when the hello carried an extensions block at all. */
  readonly hasExtensionsBlock: boolean;

  readonly serverName?: string;
  /** A server_name that was present but is not a valid DNS host name (RFC 6066 §3). */
  readonly invalidServerName?: string;
  readonly supportedVersions?: readonly number[];
  readonly supportedGroups?: readonly number[];
  readonly signatureAlgorithms?: readonly number[];
  readonly signatureAlgorithmsCert?: readonly number[];
  readonly keyShares?: readonly KeyShareEntry[];
  readonly pskModes?: readonly number[];
  readonly alpn?: readonly string[];
  readonly cookie?: Uint8Array;
  readonly earlyData: boolean;
  readonly preSharedKey?: OfferedPsks;
  readonly renegotiationInfo?: Uint8Array;
  readonly extendedMasterSecret: boolean;
  readonly sessionTicket?: Uint8Array;
  readonly ecPointFormats?: Uint8Array;
  readonly postHandshakeAuth: boolean;
  /** RFC 8449 record_size_limit. */
  readonly recordSizeLimit?: number;
}

/** RFC 952/1123 host name as RFC 6066 §3 requires: ASCII, no trailing dot. */
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/i;

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function u16List(data: Uint8Array, min: number, max: number, what: string): number[] {
  const r = new Reader(data);
  const v = r.sub(2, min, max, what);
  r.end(what);
  if (v.remaining % 2) fail('OddLengthList', what);
  const out: number[] = [];
  while (v.remaining) out.push(v.u16(what));
  return out;
}

function parseServerName(data: Uint8Array): { name?: string; invalid?: string } {
  // RFC 6066 §3: struct { NameType name_type; select (name_type) { case host_name: HostName; } name; } ServerName;
  //              struct { ServerName server_name_list<1..2^16-1> } ServerNameList;
  const r = new Reader(data);
  const list = r.sub(2, 1, 0xffff, 'server_name list');
  r.end('server_name');
  let host: Uint8Array | undefined;
  while (list.remaining) {
    const type = list.u8('server_name type');
    const name = list.vec(2, 1, 0xffff, 'server_name');
    if (type === 0) {
      // "The ServerNameList MUST NOT contain more than one name of the same name_type."
      if (host) fail('DuplicateServerName');
      host = name;
    }
  }
  if (!host) return {};
  const s = latin1(host);
  if (!HOSTNAME.test(s)) return { invalid: s.replace(/[^\x20-\x7e]/g, '?') };
  return { name: s.toLowerCase() };
}

function parseKeyShares(data: Uint8Array): KeyShareEntry[] {
  // §4.2.8: struct { KeyShareEntry client_shares<0..2^16-1>; } KeyShareClientHello;
  const r = new Reader(data);
  const list = r.sub(2, 0, 0xffff, 'key_share list');
  r.end('key_share');
  const out: KeyShareEntry[] = [];
  const seen = new Set<number>();
  while (list.remaining) {
    const group = list.u16('key_share group');
    // key_exchange<1..2^16-1>: an empty one is refused as a bad share (illegal_parameter,
    // tls13/key-exchange.ts checkClientShare), as conformance suites expect, not as a decode_error.
    const keyExchange = list.vec(2, 0, 0xffff, 'key_exchange');
    // §4.2.8: "Clients MUST NOT offer multiple KeyShareEntry values for the same group."
    if (seen.has(group)) fail('DuplicateKeyShare', group);
    seen.add(group);
    out.push({ group, keyExchange });
  }
  return out;
}

function parseAlpn(data: Uint8Array): string[] {
  // RFC 7301 §3.1: ProtocolName protocol_name_list<2..2^16-1>; opaque ProtocolName<1..2^8-1>;
  const r = new Reader(data);
  const list = r.sub(2, 2, 0xffff, 'ALPN list');
  r.end('ALPN');
  const out: string[] = [];
  while (list.remaining) out.push(latin1(list.vec(1, 1, 0xff, 'ALPN protocol')));
  return out;
}

function parsePreSharedKey(data: Uint8Array): OfferedPsks {
  // §4.2.11: struct { PskIdentity identities<7..2^16-1>; PskBinderEntry binders<33..2^16-1>; } OfferedPsks;
  const r = new Reader(data);
  const ids = r.sub(2, 7, 0xffff, 'PSK identities');
  const identities: PskIdentity[] = [];
  while (ids.remaining) {
    identities.push({ identity: ids.vec(2, 1, 0xffff, 'PSK identity'), obfuscatedTicketAge: ids.u32('ticket age') });
  }
  const bindersStart = r.offset;
  const bl = r.sub(2, 33, 0xffff, 'PSK binders');
  const binders: Uint8Array[] = [];
  while (bl.remaining) binders.push(bl.vec(1, 32, 255, 'PSK binder'));
  const bindersLength = r.offset - bindersStart;
  r.end('pre_shared_key');
  // §4.2.11: the number of binders must match the number of identities.
  if (binders.length !== identities.length) fail('PskBinderCountMismatch');
  return { identities, binders, bindersLength };
}

function expectEmpty(data: Uint8Array, what: string): void {
  if (data.length) fail('ExtensionNotEmpty', what);
}

export function parseClientHello(body: Uint8Array, maxExtensions: number): ClientHello {
  const r = new Reader(body);
  const legacyVersion = r.u16('legacy_version');
  const random = r.bytes(32, 'random');
  const sessionId = r.vec(1, 0, 32, 'legacy_session_id');
  const suitesReader = r.sub(2, 2, 0xfffe, 'cipher_suites');
  if (suitesReader.remaining % 2) fail('OddLengthList', 'cipher_suites');
  const cipherSuites: number[] = [];
  while (suitesReader.remaining) cipherSuites.push(suitesReader.u16());
  const compressionMethods = r.vec(1, 1, 0xff, 'legacy_compression_methods');

  const hasExtensionsBlock = r.remaining > 0;
  let extensions: Extension[] = [];
  if (hasExtensionsBlock) {
    const er = r.sub(2, 0, 0xffff, 'extensions');
    extensions = parseExtensions(er, maxExtensions, 'ClientHello');
  }
  r.end('ClientHello');

  const hello: {
    -readonly [K in keyof ClientHello]: ClientHello[K];
  } = {
    legacyVersion,
    random,
    sessionId,
    cipherSuites,
    compressionMethods,
    extensions,
    hasExtensionsBlock,
    // Every optional field is here from the start, so that each ClientHello
    // has this literal's shape whatever the client sent and in whatever
    // order: one map, held by the literal's boilerplate, for every code path
    // that reads a hello (common/shape-anchors.ts).
    serverName: undefined,
    invalidServerName: undefined,
    supportedVersions: undefined,
    supportedGroups: undefined,
    signatureAlgorithms: undefined,
    signatureAlgorithmsCert: undefined,
    keyShares: undefined,
    pskModes: undefined,
    alpn: undefined,
    cookie: undefined,
    earlyData: false,
    preSharedKey: undefined,
    renegotiationInfo: undefined,
    extendedMasterSecret: false,
    sessionTicket: undefined,
    ecPointFormats: undefined,
    postHandshakeAuth: false,
    recordSizeLimit: undefined,
  };

  extensions.forEach((ext, index) => {
    const d = ext.data;
    switch (ext.type) {
      case ExtensionType.server_name: {
        if (d.length === 0) break; // allowed in a ServerHello only, but harmless
        const sn = parseServerName(d);
        if (sn.name) hello.serverName = sn.name;
        if (sn.invalid) hello.invalidServerName = sn.invalid;
        break;
      }
      case ExtensionType.supported_versions: {
        // §4.2.1: ProtocolVersion versions<2..254>;
        const vr = new Reader(d);
        const list = vr.sub(1, 2, 254, 'supported_versions');
        vr.end('supported_versions');
        if (list.remaining % 2) fail('OddLengthList', 'supported_versions');
        const versions: number[] = [];
        while (list.remaining) versions.push(list.u16());
        hello.supportedVersions = versions;
        break;
      }
      case ExtensionType.supported_groups:
        hello.supportedGroups = u16List(d, 2, 0xffff, 'supported_groups');
        break;
      case ExtensionType.signature_algorithms:
        hello.signatureAlgorithms = u16List(d, 2, 0xfffe, 'signature_algorithms');
        break;
      case ExtensionType.signature_algorithms_cert:
        hello.signatureAlgorithmsCert = u16List(d, 2, 0xfffe, 'signature_algorithms_cert');
        break;
      case ExtensionType.key_share:
        hello.keyShares = parseKeyShares(d);
        break;
      case ExtensionType.psk_key_exchange_modes: {
        const mr = new Reader(d);
        const modes = mr.vec(1, 1, 255, 'psk_key_exchange_modes');
        mr.end('psk_key_exchange_modes');
        hello.pskModes = Array.from(modes);
        break;
      }
      case ExtensionType.application_layer_protocol_negotiation:
        hello.alpn = parseAlpn(d);
        break;
      case ExtensionType.cookie: {
        const cr = new Reader(d);
        hello.cookie = cr.vec(2, 1, 0xffff, 'cookie');
        cr.end('cookie');
        break;
      }
      case ExtensionType.early_data:
        expectEmpty(d, 'early_data');
        hello.earlyData = true;
        break;
      case ExtensionType.pre_shared_key:
        // §4.2.11: "The "pre_shared_key" extension MUST be the last extension in the ClientHello."
        if (index !== extensions.length - 1) fail('PskNotLastExtension');
        hello.preSharedKey = parsePreSharedKey(d);
        break;
      case ExtensionType.renegotiation_info: {
        const rr = new Reader(d);
        hello.renegotiationInfo = rr.vec(1, 0, 255, 'renegotiation_info');
        rr.end('renegotiation_info');
        break;
      }
      case ExtensionType.extended_master_secret:
        expectEmpty(d, 'extended_master_secret');
        hello.extendedMasterSecret = true;
        break;
      case ExtensionType.session_ticket:
        hello.sessionTicket = d;
        break;
      case ExtensionType.ec_point_formats: {
        const pr = new Reader(d);
        hello.ecPointFormats = pr.vec(1, 1, 255, 'ec_point_formats');
        pr.end('ec_point_formats');
        break;
      }
      case ExtensionType.post_handshake_auth:
        expectEmpty(d, 'post_handshake_auth');
        hello.postHandshakeAuth = true;
        break;
      case ExtensionType.record_size_limit: {
        const lr = new Reader(d);
        const limit = lr.u16('record_size_limit');
        lr.end('record_size_limit');
        // RFC 8449 §4: "Endpoints MUST NOT send a value lower than 64 ... MUST treat receipt of a smaller value as a fatal error ... illegal_parameter".
        if (limit < 64) fail('RecordSizeLimitTooSmall', limit);
        hello.recordSizeLimit = limit;
        break;
      }
      default:
        // Unknown or not acted upon: kept raw in `extensions` (§4.2: servers ignore unrecognised extensions).
        break;
    }
  });
  return hello;
}

/** What the SNI hook sees of a ClientHello (engine/config.ts ClientHelloSummary). */
export function summarizeClientHello(hello: ClientHello): ClientHelloSummary {
  return {
    serverName: hello.serverName,
    invalidServerName: hello.invalidServerName,
    signatureAlgorithmsCert: hello.signatureAlgorithmsCert,
    signatureSchemes: hello.signatureAlgorithms ?? [],
    alpn: hello.alpn ?? [],
    cipherSuites: hello.cipherSuites,
    groups: hello.supportedGroups ?? [],
  };
}
