/**
 * The PROXY protocol (HAProxy's specification, versions 1 and 2): how a
 * proxy tells the server behind it who connected.
 *
 * Towards a backend (tlsproxy_backend_proxy_protocol = none | v1 | v2) we
 * write one header right after connecting, before any SMTP or application
 * byte; version 2 carries the TLS facts as TLVs:
 *
 *   PP2_TYPE_ALPN       the negotiated ALPN protocol
 *   PP2_TYPE_AUTHORITY  the SNI name the client sent
 *   PP2_TYPE_SSL        client flags (PP2_CLIENT_SSL, _CERT_CONN, _CERT_SESS),
 *                       verify (0 = a client certificate was presented and verified),
 *                       sub-TLVs PP2_SUBTYPE_SSL_VERSION ("TLSv1.3"), _CN (client
 *                       certificate subject CN), _CIPHER (OpenSSL name),
 *                       _SIG_ALG ("ecdsa-with-SHA256": how our certificate is signed),
 *                       _KEY_ALG ("EC256", "RSA2048": our certificate's key)
 *
 * From an upstream load balancer (tlsproxy_upstream_proxy_protocol =
 * haproxy, like Postfix's smtpd_upstream_proxy_protocol) we accept either
 * version on a listener that asks for it, with a time limit, before
 * anything else is read. Parsing is strict and bounded:
 *
 *  - v1: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n`, at most 107
 *    bytes, single spaces, addresses in their family's textual form (IPv4
 *    without leading zeros), ports 0..65535 without leading zeros. `UNKNOWN`
 *    is refused, as Postfix does ("those would sidestep address-based
 *    access control").
 *  - v2: the 12-byte signature, version 2, command LOCAL (health checks:
 *    the real endpoints are used) or PROXY, family INET/INET6/UNIX with an
 *    address block of at least the family's size, TLVs that exactly fill
 *    the rest (a PP2_TYPE_SSL value has its 5-byte head and well-formed
 *    sub-TLVs), PP2_TYPE_CRC32C checked when present. At most 16 + 65535
 *    bytes by construction.
 *
 * Error texts follow Postfix's haproxy_srvr.c where it has one
 * ("unexpected protocol header", "unsupported protocol type", ...).
 */

import net from 'node:net';
import { formatIpv6 } from '../../certs/x509.js';
import { normalizeAddress } from '../base/endpoint.js';
import { PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS, PP2_CLIENT_SSL, type SslTlv, type Tlv } from '../base/proxy-tlv.js';

export { PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS, PP2_CLIENT_SSL, type SslTlv, type Tlv };

// ------------------------------------------------------------------ constants

export const V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
/** Longest v1 line, CRLF included (the specification's 107). */
export const V1_MAX_LENGTH = 107;
/** Longest v2 header: 16 bytes + a 16-bit length. */
export const V2_MAX_LENGTH = 16 + 0xffff;

export const PP2_TYPE_ALPN = 0x01;
export const PP2_TYPE_AUTHORITY = 0x02;
export const PP2_TYPE_CRC32C = 0x03;
export const PP2_TYPE_NOOP = 0x04;
export const PP2_TYPE_UNIQUE_ID = 0x05;
export const PP2_TYPE_SSL = 0x20;
export const PP2_SUBTYPE_SSL_VERSION = 0x21;
export const PP2_SUBTYPE_SSL_CN = 0x22;
export const PP2_SUBTYPE_SSL_CIPHER = 0x23;
export const PP2_SUBTYPE_SSL_SIG_ALG = 0x24;
export const PP2_SUBTYPE_SSL_KEY_ALG = 0x25;
export const PP2_TYPE_NETNS = 0x30;


const CMD_LOCAL = 0x0;
const CMD_PROXY = 0x1;
const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const AF_UNIX = 0x3;
const TRANSPORT_STREAM = 0x1;
const TRANSPORT_DGRAM = 0x2;
const UNIX_PATH = 108;

// ------------------------------------------------------------------ types

export type ProxyProtocolVersion = 'none' | 'v1' | 'v2';

/** An IP endpoint; IPv4-mapped IPv6 addresses are given in IPv4 form. */
export interface IpEndpoint {
  readonly address: string;
  readonly port: number;
}


export interface ProxyHeader {
  readonly version: 1 | 2;
  /** LOCAL (v2 only): no addresses to use, the connection's own endpoints apply. */
  readonly command: 'proxy' | 'local';
  readonly family: 'tcp4' | 'tcp6' | 'unix' | 'unspec';
  readonly transport: 'stream' | 'dgram' | 'unspec';
  /** The client and the address it connected to (tcp4/tcp6 with PROXY). */
  readonly source?: IpEndpoint;
  readonly destination?: IpEndpoint;
  /** UNIX family. */
  readonly sourcePath?: string;
  readonly destinationPath?: string;
  /** v2 TLVs in order (the SSL one also decoded in `ssl`). */
  readonly tlvs: readonly Tlv[];
  readonly alpn?: Uint8Array;
  readonly authority?: string;
  readonly uniqueId?: Uint8Array;
  readonly ssl?: SslTlv;
  /** Bytes the header took. */
  readonly length: number;
}

export type ParseResult =
  | { readonly status: 'ok'; readonly header: ProxyHeader }
  | { readonly status: 'incomplete' }
  | { readonly status: 'error'; readonly reason: string };

// ------------------------------------------------------------------ addresses

/** 4 bytes of a dotted-quad IPv4 address (strict: no leading zeros). */
function ipv4Bytes(text: string): Uint8Array | undefined {
  if (!net.isIPv4(text)) return undefined;
  const parts = text.split('.');
  if (parts.some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
  return Uint8Array.from(parts.map(Number));
}

/** 16 bytes of an IPv6 address (with `::` and a trailing dotted quad allowed; no zone). */
export function ipv6Bytes(text: string): Uint8Array | undefined {
  if (!net.isIPv6(text) || text.includes('%')) return undefined;
  let head = text;
  let tail4: Uint8Array | undefined;
  const lastColon = head.lastIndexOf(':');
  if (head.slice(lastColon + 1).includes('.')) {
    tail4 = ipv4Bytes(head.slice(lastColon + 1));
    if (!tail4) return undefined;
    head = `${head.slice(0, lastColon + 1)}0:0`;
  }
  const words: number[] = [];
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  words.push(...left, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right);
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)) return undefined;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (tail4) out.set(tail4, 12);
  return out;
}

function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Text of 16 address bytes; IPv4-mapped ones as IPv4 (Postfix does the same). */
function ipv6Text(b: Uint8Array): string {
  return isMapped(b) ? `${b[12]}.${b[13]}.${b[14]}.${b[15]}` : formatIpv6(b);
}

/** An address as the family it will be sent in: 4 or 16 bytes. */
function addressBytes(address: string): Uint8Array {
  const a = normalizeAddress(address);
  const b = ipv4Bytes(a) ?? ipv6Bytes(a);
  if (!b) throw new RangeError(`PROXY protocol: not an IP address: "${address}"`);
  return b;
}

function mapped(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

/** Both addresses in one family (IPv4 if both are, else both as IPv6). */
function commonFamily(src: string, dst: string): { v6: boolean; src: Uint8Array; dst: Uint8Array } {
  const s = addressBytes(src);
  const d = addressBytes(dst);
  if (s.length === 4 && d.length === 4) return { v6: false, src: s, dst: d };
  return { v6: true, src: s.length === 4 ? mapped(s) : s, dst: d.length === 4 ? mapped(d) : d };
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`PROXY protocol: bad port ${port}`);
}

// ------------------------------------------------------------------ encode

/** `PROXY TCP4|TCP6 src dst sport dport\r\n` */
export function encodeProxyV1(source: IpEndpoint, destination: IpEndpoint): Uint8Array {
  checkPort(source.port);
  checkPort(destination.port);
  const f = commonFamily(source.address, destination.address);
  const text = (b: Uint8Array) => (b.length === 4 ? Array.from(b).join('.') : f.v6 && isMapped(b) ? `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}` : formatIpv6(b));
  const line = `PROXY ${f.v6 ? 'TCP6' : 'TCP4'} ${text(f.src)} ${text(f.dst)} ${source.port} ${destination.port}\r\n`;
  return new TextEncoder().encode(line);
}

export interface V2Options {
  /** Default 'proxy'; 'local' sends no addresses (family UNSPEC). */
  readonly command?: 'proxy' | 'local';
  readonly source?: IpEndpoint;
  readonly destination?: IpEndpoint;
  /** UNIX family instead of IP (both paths, at most 108 bytes each). */
  readonly sourcePath?: string;
  readonly destinationPath?: string;
  readonly alpn?: string | Uint8Array;
  readonly authority?: string;
  readonly uniqueId?: Uint8Array;
  readonly ssl?: SslTlv;
  /** Further TLVs, written after the ones above. */
  readonly tlvs?: readonly Tlv[];
  /** Append a PP2_TYPE_CRC32C of the whole header. */
  readonly crc32c?: boolean;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

function tlvBytes(type: number, value: Uint8Array): Uint8Array {
  if (value.length > 0xffff) throw new RangeError(`PROXY protocol: TLV 0x${type.toString(16)} value of ${value.length} bytes`);
  const out = new Uint8Array(3 + value.length);
  out[0] = type;
  out[1] = value.length >> 8;
  out[2] = value.length & 0xff;
  out.set(value, 3);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function encodeSslTlv(ssl: SslTlv): Uint8Array {
  const head = new Uint8Array(5);
  head[0] = ssl.client & 0xff;
  new DataView(head.buffer).setUint32(1, ssl.verify >>> 0);
  const subs: Uint8Array[] = [];
  const sub = (type: number, v: string | undefined) => {
    if (v !== undefined && v !== '') subs.push(tlvBytes(type, utf8(v)));
  };
  sub(PP2_SUBTYPE_SSL_VERSION, ssl.version);
  sub(PP2_SUBTYPE_SSL_CN, ssl.cn);
  sub(PP2_SUBTYPE_SSL_CIPHER, ssl.cipher);
  sub(PP2_SUBTYPE_SSL_SIG_ALG, ssl.sigAlg);
  sub(PP2_SUBTYPE_SSL_KEY_ALG, ssl.keyAlg);
  return tlvBytes(PP2_TYPE_SSL, concat([head, ...subs]));
}

export function encodeProxyV2(options: V2Options): Uint8Array {
  const command = options.command ?? 'proxy';
  let famByte = (AF_UNSPEC << 4) | 0;
  let addresses: Uint8Array = new Uint8Array(0);
  if (command === 'proxy') {
    if (options.sourcePath !== undefined || options.destinationPath !== undefined) {
      famByte = (AF_UNIX << 4) | TRANSPORT_STREAM;
      addresses = new Uint8Array(2 * UNIX_PATH);
      const s = utf8(options.sourcePath ?? '');
      const d = utf8(options.destinationPath ?? '');
      if (s.length > UNIX_PATH || d.length > UNIX_PATH) throw new RangeError('PROXY protocol: UNIX path longer than 108 bytes');
      addresses.set(s, 0);
      addresses.set(d, UNIX_PATH);
    } else {
      const src = options.source;
      const dst = options.destination;
      if (!src || !dst) throw new RangeError('PROXY protocol: a PROXY command needs source and destination');
      checkPort(src.port);
      checkPort(dst.port);
      const f = commonFamily(src.address, dst.address);
      famByte = ((f.v6 ? AF_INET6 : AF_INET) << 4) | TRANSPORT_STREAM;
      const n = f.src.length;
      addresses = new Uint8Array(2 * n + 4);
      addresses.set(f.src, 0);
      addresses.set(f.dst, n);
      const view = new DataView(addresses.buffer);
      view.setUint16(2 * n, src.port);
      view.setUint16(2 * n + 2, dst.port);
    }
  }
  const tlvs: Uint8Array[] = [];
  if (options.alpn !== undefined) tlvs.push(tlvBytes(PP2_TYPE_ALPN, typeof options.alpn === 'string' ? utf8(options.alpn) : options.alpn));
  if (options.authority !== undefined) tlvs.push(tlvBytes(PP2_TYPE_AUTHORITY, utf8(options.authority)));
  if (options.uniqueId !== undefined) {
    if (options.uniqueId.length > 128) throw new RangeError('PROXY protocol: PP2_TYPE_UNIQUE_ID longer than 128 bytes');
    tlvs.push(tlvBytes(PP2_TYPE_UNIQUE_ID, options.uniqueId));
  }
  if (options.ssl) tlvs.push(encodeSslTlv(options.ssl));
  for (const t of options.tlvs ?? []) tlvs.push(tlvBytes(t.type, t.value));
  if (options.crc32c) tlvs.push(tlvBytes(PP2_TYPE_CRC32C, new Uint8Array(4)));
  const body = concat([addresses, ...tlvs]);
  if (body.length > 0xffff) throw new RangeError(`PROXY protocol: v2 header of ${16 + body.length} bytes`);
  const head = new Uint8Array(16);
  head.set(V2_SIGNATURE, 0);
  head[12] = 0x20 | (command === 'proxy' ? CMD_PROXY : CMD_LOCAL);
  head[13] = famByte;
  head[14] = body.length >> 8;
  head[15] = body.length & 0xff;
  const out = concat([head, body]);
  if (options.crc32c) new DataView(out.buffer).setUint32(out.length - 4, crc32c(out));
  return out;
}

/** The header a backend gets: nothing for 'none'. */
export function encodeProxyHeader(version: ProxyProtocolVersion, source: IpEndpoint, destination: IpEndpoint, extras: Omit<V2Options, 'source' | 'destination' | 'command'> = {}): Uint8Array {
  switch (version) {
    case 'none':
      return new Uint8Array(0);
    case 'v1':
      return encodeProxyV1(source, destination);
    case 'v2':
      return encodeProxyV2({ ...extras, source, destination });
  }
}

// ------------------------------------------------------------------ parse

const PREFIX_V1 = utf8('PROXY ');
const PORT = /^(0|[1-9][0-9]{0,4})$/;

/**
 * Parse a PROXY header at the start of `data`. 'incomplete' means: read
 * more (the caller bounds the wait); an error names what is wrong.
 */
export function parseProxyHeader(data: Uint8Array): ParseResult {
  if (!data.length) return { status: 'incomplete' };
  if (data[0] === 0x0d) return parseV2(data);
  if (data[0] === PREFIX_V1[0]) return parseV1(data);
  return { status: 'error', reason: 'unexpected protocol header' };
}

function error(reason: string): ParseResult {
  return { status: 'error', reason };
}

function parseV1(data: Uint8Array): ParseResult {
  const n = Math.min(data.length, PREFIX_V1.length);
  for (let i = 0; i < n; i++) if (data[i] !== PREFIX_V1[i]) return error('unexpected protocol header');
  const lf = data.indexOf(0x0a);
  if (lf < 0) return data.length >= V1_MAX_LENGTH ? error('line too long') : { status: 'incomplete' };
  if (lf + 1 > V1_MAX_LENGTH) return error('line too long');
  if (lf === 0 || data[lf - 1] !== 0x0d) return error('line does not end in CRLF');
  for (let i = 0; i < lf - 1; i++) if (data[i]! < 0x20 || data[i]! > 0x7e) return error('unexpected protocol header');
  const line = new TextDecoder().decode(data.subarray(0, lf - 1));
  const tokens = line.split(' ');
  if (tokens[0] !== 'PROXY') return error('unexpected protocol header');
  const proto = tokens[1];
  if (proto !== 'TCP4' && proto !== 'TCP6') return error('unsupported protocol type');
  const v6 = proto === 'TCP6';
  const addr = (s: string | undefined): string | undefined => {
    if (s === undefined) return undefined;
    if (!v6) return ipv4Bytes(s) ? s : undefined;
    const b = ipv6Bytes(s);
    return b ? ipv6Text(b) : undefined;
  };
  const src = addr(tokens[2]);
  if (src === undefined) return error('unexpected client address syntax');
  const dst = addr(tokens[3]);
  if (dst === undefined) return error('unexpected server address syntax');
  const port = (s: string | undefined) => (s !== undefined && PORT.test(s) && Number(s) <= 0xffff ? Number(s) : undefined);
  const sport = port(tokens[4]);
  if (sport === undefined) return error('unexpected client port syntax');
  const dport = port(tokens[5]);
  if (dport === undefined) return error('unexpected server port syntax');
  if (tokens.length !== 6) return error('unexpected protocol header');
  return {
    status: 'ok',
    header: {
      version: 1,
      command: 'proxy',
      family: v6 ? 'tcp6' : 'tcp4',
      transport: 'stream',
      source: { address: src, port: sport },
      destination: { address: dst, port: dport },
      tlvs: [],
      length: lf + 1,
    },
  };
}

function parseV2(data: Uint8Array): ParseResult {
  const n = Math.min(data.length, V2_SIGNATURE.length);
  for (let i = 0; i < n; i++) if (data[i] !== V2_SIGNATURE[i]) return error('unexpected protocol header');
  if (data.length < 16) return { status: 'incomplete' };
  const version = data[12]! >> 4;
  const cmd = data[12]! & 0x0f;
  if (version !== 2) return error(`unsupported protocol version ${version}`);
  if (cmd !== CMD_LOCAL && cmd !== CMD_PROXY) return error(`unsupported command 0x${cmd.toString(16)}`);
  const fam = data[13]! >> 4;
  const trans = data[13]! & 0x0f;
  if (fam > AF_UNIX || trans > TRANSPORT_DGRAM) return error('unsupported protocol type');
  const len = (data[14]! << 8) | data[15]!;
  if (data.length < 16 + len) return { status: 'incomplete' };
  const body = data.subarray(16, 16 + len);
  const family = (['unspec', 'tcp4', 'tcp6', 'unix'] as const)[fam]!;
  const transport = (['unspec', 'stream', 'dgram'] as const)[trans]!;
  const addrLen = fam === AF_INET ? 12 : fam === AF_INET6 ? 36 : fam === AF_UNIX ? 2 * UNIX_PATH : 0;
  if (body.length < addrLen) return error('address block too short for the address family');
  let source: IpEndpoint | undefined;
  let destination: IpEndpoint | undefined;
  let sourcePath: string | undefined;
  let destinationPath: string | undefined;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (cmd === CMD_PROXY) {
    if (fam === AF_INET) {
      source = { address: Array.from(body.subarray(0, 4)).join('.'), port: view.getUint16(8) };
      destination = { address: Array.from(body.subarray(4, 8)).join('.'), port: view.getUint16(10) };
    } else if (fam === AF_INET6) {
      source = { address: ipv6Text(body.subarray(0, 16)), port: view.getUint16(32) };
      destination = { address: ipv6Text(body.subarray(16, 32)), port: view.getUint16(34) };
    } else if (fam === AF_UNIX) {
      const path = (b: Uint8Array) => {
        const z = b.indexOf(0);
        return new TextDecoder().decode(z < 0 ? b : b.subarray(0, z));
      };
      sourcePath = path(body.subarray(0, UNIX_PATH));
      destinationPath = path(body.subarray(UNIX_PATH, 2 * UNIX_PATH));
    }
  }
  const tlvs = parseTlvs(body.subarray(addrLen));
  if (typeof tlvs === 'string') return error(tlvs);
  let alpn: Uint8Array | undefined;
  let authority: string | undefined;
  let uniqueId: Uint8Array | undefined;
  let ssl: SslTlv | undefined;
  for (const t of tlvs) {
    switch (t.type) {
      case PP2_TYPE_ALPN:
        alpn ??= t.value;
        break;
      case PP2_TYPE_AUTHORITY: {
        const text = decodeUtf8(t.value);
        if (text === undefined) return error('PP2_TYPE_AUTHORITY is not UTF-8');
        authority ??= text;
        break;
      }
      case PP2_TYPE_UNIQUE_ID:
        if (t.value.length > 128) return error('PP2_TYPE_UNIQUE_ID longer than 128 bytes');
        uniqueId ??= t.value;
        break;
      case PP2_TYPE_CRC32C: {
        if (t.value.length !== 4) return error('PP2_TYPE_CRC32C is not 4 bytes');
        const offset = t.value.byteOffset - data.byteOffset;
        const copy = data.slice(0, 16 + len);
        copy.fill(0, offset, offset + 4);
        const expected = new DataView(t.value.buffer, t.value.byteOffset, 4).getUint32(0);
        if (crc32c(copy) !== expected) return error('PP2_TYPE_CRC32C mismatch');
        break;
      }
      case PP2_TYPE_SSL: {
        const s = parseSsl(t.value);
        if (typeof s === 'string') return error(s);
        ssl ??= s;
        break;
      }
    }
  }
  return {
    status: 'ok',
    header: {
      version: 2,
      command: cmd === CMD_PROXY ? 'proxy' : 'local',
      family,
      transport,
      ...(source ? { source, destination } : {}),
      ...(sourcePath !== undefined ? { sourcePath, destinationPath } : {}),
      tlvs,
      ...(alpn ? { alpn } : {}),
      ...(authority !== undefined ? { authority } : {}),
      ...(uniqueId ? { uniqueId } : {}),
      ...(ssl ? { ssl } : {}),
      length: 16 + len,
    },
  };
}

function decodeUtf8(b: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}

/** TLVs that must exactly fill `b`; a string is the error. */
function parseTlvs(b: Uint8Array): Tlv[] | string {
  const out: Tlv[] = [];
  let o = 0;
  while (o < b.length) {
    if (b.length - o < 3) return 'malformed TLV: truncated header';
    const type = b[o]!;
    const len = (b[o + 1]! << 8) | b[o + 2]!;
    if (o + 3 + len > b.length) return `malformed TLV 0x${type.toString(16)}: value runs past the header`;
    out.push({ type, value: b.subarray(o + 3, o + 3 + len) });
    o += 3 + len;
  }
  return out;
}

function parseSsl(v: Uint8Array): SslTlv | string {
  if (v.length < 5) return 'malformed PP2_TYPE_SSL: shorter than 5 bytes';
  const client = v[0]!;
  const verify = new DataView(v.buffer, v.byteOffset + 1, 4).getUint32(0);
  const subs = parseTlvs(v.subarray(5));
  if (typeof subs === 'string') return `malformed PP2_TYPE_SSL: ${subs}`;
  const fields: { -readonly [K in 'version' | 'cn' | 'cipher' | 'sigAlg' | 'keyAlg']?: string } = {};
  const names: Record<number, keyof typeof fields> = {
    [PP2_SUBTYPE_SSL_VERSION]: 'version',
    [PP2_SUBTYPE_SSL_CN]: 'cn',
    [PP2_SUBTYPE_SSL_CIPHER]: 'cipher',
    [PP2_SUBTYPE_SSL_SIG_ALG]: 'sigAlg',
    [PP2_SUBTYPE_SSL_KEY_ALG]: 'keyAlg',
  };
  for (const s of subs) {
    const name = names[s.type];
    if (!name) continue;
    const text = decodeUtf8(s.value);
    if (text === undefined) return `malformed PP2_TYPE_SSL: sub-TLV 0x${s.type.toString(16)} is not UTF-8`;
    fields[name] ??= text;
  }
  return { client, verify, ...fields, subTlvs: subs };
}

// ------------------------------------------------------------------ CRC32C

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32C (Castagnoli), as PP2_TYPE_CRC32C uses it. */
export function crc32c(data: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// ------------------------------------------------------------------ reading from a socket

export class ProxyHeaderError extends Error {
  override readonly name = 'ProxyHeaderError';
}

/**
 * Read a PROXY header (v1 or v2) from the start of `socket` within
 * `timeoutMs`. On success the bytes after the header are put back
 * (unshift) and the socket is left paused: the next owner resumes it.
 * Rejects with a ProxyHeaderError whose message reads like Postfix's
 * `haproxy read: ...` reasons (time limit exceeded, lost connection, the
 * parse error).
 */
export function readProxyHeader(socket: net.Socket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (e: Error | undefined, header?: ProxyHeader, rest?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
      socket.removeListener('close', onEnd);
      if (e) {
        reject(e);
        return;
      }
      socket.pause();
      if (rest && rest.length) socket.unshift(rest);
      resolve(header!);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const r = parseProxyHeader(buffered);
      if (r.status === 'ok') finish(undefined, r.header, buffered.subarray(r.header.length));
      else if (r.status === 'error') finish(new ProxyHeaderError(`${r.reason}: ${escapeBytes(buffered.subarray(0, 100))}`));
      else if (buffered.length > V2_MAX_LENGTH) finish(new ProxyHeaderError('line too long'));
    };
    const onEnd = () => finish(new ProxyHeaderError('lost connection'));
    const onError = (e: Error) => finish(new ProxyHeaderError(e.message));
    const timer = setTimeout(() => finish(new ProxyHeaderError('time limit exceeded')), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}

/** Postfix escape(): printable ASCII as is, the rest as C escapes. */
export function escapeBytes(b: Uint8Array): string {
  let out = '';
  for (const c of b) {
    if (c === 0x0d) out += '\\r';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += `\\${c.toString(8).padStart(3, '0')}`;
  }
  return out;
}

// ------------------------------------------------------------------ configuration

/** tlsproxy_backend_proxy_protocol: none (default), v1 or v2. */
export function parseBackendProxyProtocol(value: string, name = 'tlsproxy_backend_proxy_protocol'): ProxyProtocolVersion {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'none') return 'none';
  if (v === 'v1' || v === '1') return 'v1';
  if (v === 'v2' || v === '2') return 'v2';
  throw new RangeError(`invalid ${name} value: "${value}" (expected none, v1 or v2)`);
}

/** tlsproxy_upstream_proxy_protocol: empty (off) or haproxy (v1 or v2 accepted), as Postfix's smtpd_upstream_proxy_protocol. */
export function parseUpstreamProxyProtocol(value: string, name = 'tlsproxy_upstream_proxy_protocol'): boolean {
  const v = value.trim().toLowerCase();
  if (v === '') return false;
  if (v === 'haproxy') return true;
  throw new RangeError(`unsupported ${name} value: "${value}" (expected empty or haproxy)`);
}

// ------------------------------------------------------------------ endpoints of a connection

/** Who connected, and to which address: from the socket, or from an upstream PROXY header. */
export interface ConnectionEndpoints {
  readonly client: IpEndpoint;
  readonly server: IpEndpoint;
  /** Learnt from an upstream PROXY header (the socket's peer is the load balancer). */
  readonly proxied?: boolean;
}

export function socketEndpoints(socket: net.Socket): ConnectionEndpoints {
  return {
    client: { address: normalizeAddress(socket.remoteAddress), port: socket.remotePort ?? 0 },
    server: { address: normalizeAddress(socket.localAddress), port: socket.localPort ?? 0 },
  };
}

/** The endpoints an upstream header names (PROXY over TCP), else the socket's own (LOCAL). */
export function headerEndpoints(header: ProxyHeader, socket: net.Socket): ConnectionEndpoints {
  if (header.command === 'local' || !header.source || !header.destination) return socketEndpoints(socket);
  return { client: header.source, server: header.destination, proxied: true };
}
