/**
 * The requester <-> tlsproxy conversation (tlsproxy-postfix.md §2), per
 * Postfix version:
 *
 *   3.6+        T->R  protocol=tlsproxy_protocol            (greeting)
 *   2.8         R->T  remote_endpoint, flags, timeout
 *   2.9-3.3     R->T  remote_endpoint, flags, timeout, server_id
 *   3.4+        R->T  remote_endpoint, flags, timeout, timeout, serverid
 *               (client role, and 3.12 server role unless PROBE_ONLY: a second list)
 *               T->R  status=1|0
 *               R->T  one NUL byte + SCM_RIGHTS (the remote peer's socket)
 *   SEND_CONTEXT T->R the context list (§2.7), then plaintext.
 *
 * The request is recognised by its attribute names (so a requester of
 * another version than the one configured is still understood); the
 * greeting and the context layout follow the configured version.
 */

import type { HandshakeInfo } from '../../engine/events.js';
import { AttrCursor, encodeAttrs, type Attr } from './attr.js';

export const FLAG_ROLE_SERVER = 1;
export const FLAG_ROLE_CLIENT = 2;
export const FLAG_SEND_CONTEXT = 4;
export const FLAG_PROBE_ONLY = 8;

export interface PostfixVersion {
  readonly major: number;
  readonly minor: number;
  /** As given (`3.7.11`, `3.12-20260821`). */
  readonly text: string;
}

/** `3.7.11`, `3.12-20260821`, `3.6`: undefined when unreadable. */
export function parseMailVersion(text: string): PostfixVersion | undefined {
  const m = /^\s*(\d+)\.(\d+)/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), text: text.trim() };
}

/** a >= major.minor */
export function atLeast(v: PostfixVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** 3.6+: tlsproxy greets first. */
export function hasGreeting(v: PostfixVersion): boolean {
  return atLeast(v, 3, 6);
}

export const GREETING: Buffer = encodeAttrs([['protocol', 'tlsproxy_protocol']]);

export function statusReply(available: boolean): Buffer {
  return encodeAttrs([['status', available ? '1' : '0']]);
}

export type RequestForm = '2.8' | '2.9' | '3.4';

export interface Request {
  /** `[addr]:port`, lower-cased (tlsproxy uses it verbatim in every line). */
  readonly endpoint: string;
  readonly flags: number;
  /** Seconds. 3.4+: the handshake timeout; before: the one timeout. */
  readonly handshakeTimeout: number;
  /** Seconds: the session timeout (3.4+), else the same one timeout. */
  readonly sessionTimeout: number;
  /** serverid (3.4+) / server_id (2.9-3.3); empty for 2.8. */
  readonly serverId: string;
  readonly form: RequestForm;
}

/** The first request list; throws AttrError. */
export function parseRequest(attrs: readonly Attr[]): Request {
  const c = new AttrCursor(attrs);
  const endpoint = c.str('remote_endpoint').toLowerCase();
  const flags = c.int('flags');
  const timeout = c.int('timeout');
  let form: RequestForm = '2.8';
  let sessionTimeout = timeout;
  let serverId = '';
  if (c.peekName() === 'timeout') {
    sessionTimeout = c.int('timeout');
    serverId = c.str('serverid');
    form = '3.4';
  } else if (c.peekName() === 'server_id') {
    serverId = c.str('server_id');
    form = '2.9';
  }
  c.end();
  return { endpoint, flags, handshakeTimeout: timeout, sessionTimeout, serverId, form };
}

export type Role = 'server' | 'client' | 'bogus';

/** Exactly one role bit must be set. */
export function roleOf(flags: number): Role {
  switch (flags & (FLAG_ROLE_SERVER | FLAG_ROLE_CLIENT)) {
    case FLAG_ROLE_SERVER:
      return 'server';
    case FLAG_ROLE_CLIENT:
      return 'client';
    default:
      return 'bogus';
  }
}

/** `CONNECT from <endpt>` / `CONNECT to <endpt>` / `CONNECT (bogus_direction) <endpt>`. */
export function connectLine(role: Role, endpoint: string): string {
  return `CONNECT ${role === 'server' ? 'from' : role === 'client' ? 'to' : '(bogus_direction)'} ${endpoint}`;
}

/**
 * Whether a second list follows the request: the client role's TLS
 * settings (3.4+), and in 3.12 the server role's too unless PROBE_ONLY.
 */
export function expectsSecondList(request: Request, version: PostfixVersion): boolean {
  if (request.form !== '3.4') return false;
  const role = roleOf(request.flags);
  if (role === 'client') return true;
  return role === 'server' && atLeast(version, 3, 12) && !(request.flags & FLAG_PROBE_ONLY);
}

/** "ECDSA (prime256v1)" -> ECDSA, prime256v1, 0; "RSA-PSS (2048 bits)" -> RSA-PSS, '', 2048; "ED25519" -> ED25519. */
export function splitSignature(text: string | undefined): { name: string; curve: string; bits: number } {
  if (!text) return { name: '', curve: '', bits: 0 };
  const m = /^(\S+)(?: \((?:(\d+) bits|([^)]*))\))?$/.exec(text);
  if (!m) return { name: text, curve: '', bits: 0 };
  return { name: m[1]!, curve: m[3] ?? '', bits: m[2] ? Number(m[2]) : 0 };
}

const CURVE_NAMES: Record<string, string> = { secp256r1: 'prime256v1', secp384r1: 'secp384r1', secp521r1: 'secp521r1' };

/**
 * key_exchange / _curve / _bits. Postfix 3.4-3.9 names the peer's
 * ephemeral key (`X25519`, `ECDHE` + curve, `DHE` + bits); 3.10+ with
 * OpenSSL 3 the library's group name.
 */
export function keyExchange(group: string, version: PostfixVersion): { name: string; curve: string; bits: number } {
  const g = group.toLowerCase();
  if (!g) return { name: '', curve: '', bits: 0 };
  // 3.10+: OpenSSL's group name as it is (x25519, secp256r1, ffdhe2048, X25519MLKEM768: engine groupName).
  if (atLeast(version, 3, 10)) return { name: group, curve: '', bits: 0 };
  // A hybrid ML-KEM group has no classic ephemeral key to describe: its name (unverified against 3.4-3.9 with OpenSSL 3.5).
  if (g.includes('mlkem')) return { name: group, curve: '', bits: 0 };
  if (g === 'x25519' || g === 'x448') return { name: g.toUpperCase(), curve: '', bits: 0 };
  const ff = /^ffdhe(\d+)$/.exec(g);
  if (ff) return { name: 'DHE', curve: '', bits: Number(ff[1]) };
  return { name: 'ECDHE', curve: CURVE_NAMES[g] ?? g, bits: 0 };
}

/**
 * The post-handshake context list (§2.7) for the server role, in the
 * order and with the fields of `version`.
 */
export function contextAttrs(info: HandshakeInfo, endpoint: string, version: PostfixVersion): Attr[] {
  const cc = info.clientCertificate;
  const peer = cc?.details;
  const peerStatus = cc ? 1 | (cc.trusted ? 4 : 0) : 0;
  const out: [string, string][] = [
    ['peer_CN', peer?.subjectCN ?? ''],
    ['issuer_CN', peer?.issuerCN ?? ''],
    ['peer_fingerprint', peer?.certFingerprint ?? ''],
  ];
  if (atLeast(version, 2, 9)) out.push(['peer_pubkey_fingerprint', peer?.pkeyFingerprint ?? '']);
  if (atLeast(version, 3, 6)) out.push(['level', '0']);
  out.push(['peer_status', String(peerStatus)], ['cipher_protocol', info.protocol], ['cipher_name', info.cipherName], ['cipher_usebits', String(info.cipherBits)], ['cipher_algbits', String(info.cipherBits)]);
  if (!atLeast(version, 3, 4)) return out;
  const kex = keyExchange(info.group, version);
  out.push(['key_exchange', kex.name], ['key_exchange_curve', kex.curve], ['key_exchange_bits', String(kex.bits)]);
  if (atLeast(version, 3, 9)) out.push(['ctos_rpk', '0'], ['stoc_rpk', '0']);
  const clnt = splitSignature(cc && !cc.resumed ? cc.signature : undefined);
  out.push(['clnt_signature', clnt.name], ['clnt_signature_curve', clnt.curve], ['clnt_signature_bits', String(clnt.bits)], ['clnt_signature_digest', cc && !cc.resumed ? (cc.digest ?? '') : '']);
  const srvr = splitSignature(info.serverSignature);
  out.push(['srvr_signature', srvr.name], ['srvr_signature_curve', srvr.curve], ['srvr_signature_bits', String(srvr.bits)], ['srvr_signature_digest', info.serverSignature ? (info.serverDigest ?? '') : '']);
  out.push(['namaddr', endpoint]);
  if (atLeast(version, 3, 10)) out.push(['rpt_reported', '0']);
  if (atLeast(version, 3, 12)) out.push(['trace_size_limit', '0']);
  return out;
}

export function encodeContext(info: HandshakeInfo, endpoint: string, version: PostfixVersion): Buffer {
  return encodeAttrs(contextAttrs(info, endpoint, version));
}
