/**
 * A small hand-written ClientHello builder for hostile-input tests:
 * a valid TLS 1.3 base hello (x25519 share from node:crypto) whose every
 * field and extension a test can replace, drop, duplicate or corrupt.
 * Independent of the engine's codecs on purpose.
 */

import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';

export const EXT = {
  server_name: 0,
  supported_groups: 10,
  ec_point_formats: 11,
  signature_algorithms: 13,
  alpn: 16,
  padding: 21,
  record_size_limit: 28,
  pre_shared_key: 41,
  early_data: 42,
  supported_versions: 43,
  cookie: 44,
  psk_key_exchange_modes: 45,
  key_share: 51,
} as const;

export const GROUP = { secp256r1: 0x17, secp384r1: 0x18, x25519: 0x1d } as const;
export const SUITE = { aes128: 0x1301, aes256: 0x1302, chacha: 0x1303 } as const;
export const DEFAULT_SIGALGS = [0x0403, 0x0503, 0x0804, 0x0805, 0x0806, 0x0807] as const;

export interface Ext {
  type: number;
  data: Uint8Array;
}

export interface HelloSpec {
  legacyVersion: number;
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuites: number[];
  compression: number[];
  /** null: no extensions block at all (a pre-TLS-1.0-extensions hello). */
  extensions: Ext[] | null;
}

// --------------------------------------------------------------- encoding

export function u8(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff);
}
export function u16(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}
export function u24(n: number): Uint8Array {
  return Uint8Array.of((n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
/** A vector with a `lenBytes`-byte length prefix. */
export function vec(lenBytes: 1 | 2 | 3, body: Uint8Array): Uint8Array {
  const len = lenBytes === 1 ? u8(body.length) : lenBytes === 2 ? u16(body.length) : u24(body.length);
  return cat(len, body);
}
export function u16s(values: readonly number[]): Uint8Array {
  return cat(...values.map(u16));
}
export function hexBytes(h: string): Uint8Array {
  return Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
}

// ------------------------------------------------------------- extensions

export const ext = {
  raw: (type: number, data: Uint8Array): Ext => ({ type, data }),
  serverName: (name: string): Ext => ({
    type: EXT.server_name,
    data: vec(2, cat(u8(0), vec(2, new TextEncoder().encode(name)))),
  }),
  supportedVersions: (versions: readonly number[]): Ext => ({ type: EXT.supported_versions, data: vec(1, u16s(versions)) }),
  supportedGroups: (groups: readonly number[]): Ext => ({ type: EXT.supported_groups, data: vec(2, u16s(groups)) }),
  signatureAlgorithms: (schemes: readonly number[]): Ext => ({ type: EXT.signature_algorithms, data: vec(2, u16s(schemes)) }),
  keyShare: (entries: readonly { group: number; key: Uint8Array }[]): Ext => ({
    type: EXT.key_share,
    data: vec(2, cat(...entries.map((e) => cat(u16(e.group), vec(2, e.key))))),
  }),
  pskModes: (modes: readonly number[]): Ext => ({ type: EXT.psk_key_exchange_modes, data: vec(1, Uint8Array.from(modes)) }),
  alpn: (protocols: readonly string[]): Ext => ({
    type: EXT.alpn,
    data: vec(2, cat(...protocols.map((p) => vec(1, new TextEncoder().encode(p))))),
  }),
  earlyData: (): Ext => ({ type: EXT.early_data, data: new Uint8Array(0) }),
  recordSizeLimit: (n: number): Ext => ({ type: EXT.record_size_limit, data: u16(n) }),
  /** An (unverifiable) PSK offer: one identity, one 32-byte binder. */
  preSharedKey: (): Ext => ({
    type: EXT.pre_shared_key,
    data: cat(vec(2, cat(vec(2, new TextEncoder().encode('ticket-id')), Uint8Array.of(0, 0, 0, 0))), vec(2, vec(1, new Uint8Array(32)))),
  }),
};

// ------------------------------------------------------------- key shares

export interface ClientKey {
  readonly group: number;
  readonly publicKey: Uint8Array;
  /** ECDH with the server's key_share. */
  derive(peer: Uint8Array): Uint8Array;
}

export function x25519Key(): ClientKey {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return {
    group: GROUP.x25519,
    publicKey: Uint8Array.from(spki.subarray(spki.length - 32)),
    derive(peer) {
      const pub: KeyObject = createPublicKey({
        key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(peer)]),
        format: 'der',
        type: 'spki',
      });
      return Uint8Array.from(diffieHellman({ privateKey, publicKey: pub }));
    },
  };
}

export function nistKey(group: number): ClientKey {
  const ecdh = createECDH(group === GROUP.secp256r1 ? 'prime256v1' : 'secp384r1');
  const pub = ecdh.generateKeys();
  return { group, publicKey: Uint8Array.from(pub), derive: (peer) => Uint8Array.from(ecdh.computeSecret(peer)) };
}

// ------------------------------------------------------------------ hellos

export interface BaseHelloOptions {
  suites?: number[];
  groups?: number[];
  /** Groups to send key shares for (default: the first group). */
  shareGroups?: number[];
  sigalgs?: number[];
  sessionId?: Uint8Array;
  serverName?: string | null;
  alpn?: string[];
}

/** A valid TLS 1.3 ClientHello spec plus the private keys for its shares. */
export function baseHello(o: BaseHelloOptions = {}): { spec: HelloSpec; keys: ClientKey[] } {
  const groups = o.groups ?? [GROUP.x25519, GROUP.secp256r1, GROUP.secp384r1];
  const keys = (o.shareGroups ?? groups.slice(0, 1)).map((g) => (g === GROUP.x25519 ? x25519Key() : nistKey(g)));
  const extensions: Ext[] = [];
  if (o.serverName !== null) extensions.push(ext.serverName(o.serverName ?? 'localhost'));
  extensions.push(
    ext.supportedVersions([0x0304]),
    ext.supportedGroups(groups),
    ext.signatureAlgorithms(o.sigalgs ?? [...DEFAULT_SIGALGS]),
    ext.keyShare(keys.map((k) => ({ group: k.group, key: k.publicKey }))),
    ext.pskModes([1]),
  );
  if (o.alpn) extensions.push(ext.alpn(o.alpn));
  return {
    spec: {
      legacyVersion: 0x0303,
      random: Uint8Array.from(randomBytes(32)),
      sessionId: o.sessionId ?? new Uint8Array(0),
      cipherSuites: o.suites ?? [SUITE.aes128, SUITE.aes256, SUITE.chacha],
      compression: [0],
      extensions,
    },
    keys,
  };
}

/** A TLS 1.2 (or older) hello: no supported_versions, legacy_version says it all. */
export function legacyHello(version: number): HelloSpec {
  return {
    legacyVersion: version,
    random: Uint8Array.from(randomBytes(32)),
    sessionId: new Uint8Array(0),
    cipherSuites: [0xc02f, 0xc02b, 0x009c, 0x002f, 0x00ff],
    compression: [0],
    extensions:
      version >= 0x0303
        ? [ext.serverName('localhost'), ext.supportedGroups([GROUP.x25519, GROUP.secp256r1]), ext.signatureAlgorithms([0x0401, 0x0403, 0x0804]), ext.raw(EXT.ec_point_formats, Uint8Array.of(1, 0))]
        : [ext.serverName('localhost'), ext.supportedGroups([GROUP.secp256r1]), ext.raw(EXT.ec_point_formats, Uint8Array.of(1, 0))],
  };
}

export function helloBody(h: HelloSpec): Uint8Array {
  const parts = [u16(h.legacyVersion), h.random, vec(1, h.sessionId), vec(2, u16s(h.cipherSuites)), vec(1, Uint8Array.from(h.compression))];
  if (h.extensions) parts.push(vec(2, cat(...h.extensions.map((e) => cat(u16(e.type), vec(2, e.data))))));
  return cat(...parts);
}

export function handshakeMessage(type: number, body: Uint8Array): Uint8Array {
  return cat(u8(type), u24(body.length), body);
}

export function clientHello(h: HelloSpec): Uint8Array {
  return handshakeMessage(1, helloBody(h));
}

/** A plaintext record. */
export function record(type: number, fragment: Uint8Array, version = 0x0303): Uint8Array {
  return cat(u8(type), u16(version), u16(fragment.length), fragment);
}

/** `message` cut into records of at most `size` bytes (2^14, the most a plaintext record holds, by default). */
export function fragments(message: Uint8Array, version = 0x0301, size = 1 << 14): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < message.length; off += size) out.push(record(22, message.subarray(off, Math.min(message.length, off + size)), version));
  return out;
}

/** The ClientHello record most clients send (record version 0x0301). */
export function helloRecord(h: HelloSpec): Uint8Array {
  return record(22, clientHello(h), 0x0301);
}

/** The exact bytes of a plaintext fatal alert record as the server must send it before keys exist. */
export function fatalAlertRecord(description: number): Uint8Array {
  return Uint8Array.of(0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description);
}

/** Replace (or with data=null remove) the first extension of `type`. */
export function withExt(h: HelloSpec, type: number, data: Uint8Array | null): HelloSpec {
  const exts = (h.extensions ?? []).flatMap((e) => (e.type !== type ? [e] : data === null ? [] : [{ type, data }]));
  return { ...h, extensions: exts };
}
