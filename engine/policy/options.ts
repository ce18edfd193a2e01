/**
 * tls_ssl_options (tlsproxy-postfix.md §1.11): OpenSSL option names, or
 * numbers (`0x4000`), separated by comma, space, tab, CR, LF or `|`, case
 * insensitive. Postfix only ever *adds* these options. What each means for
 * our engine:
 *
 *   NO_TICKET                  no session tickets (TLS 1.2 and 1.3); enforced
 *   PRIORITIZE_CHACHA          with server preference: when the client's
 *                              first suite is CHACHA20-POLY1305, our
 *                              CHACHA20 suites move to the front; enforced
 *   NO_RENEGOTIATION           we never renegotiate anyway (a ClientHello
 *                              after the handshake gets no_renegotiation)
 *   NO_COMPRESSION             we never compress
 *   ENABLE_MIDDLEBOX_COMPAT    our TLS 1.3 server always answers a client's
 *                              legacy session id with the compatibility CCS
 *                              (OpenSSL's default too)
 *   LEGACY_SERVER_CONNECT,
 *   NO_SESSION_RESUMPTION_ON_RENEGOTIATION
 *                              client-side or renegotiation-only: no effect
 *
 * Unknown names: warning `unknown tls_ssl_options value "X" in "V"` (as
 * Postfix's NAME_MASK_WARN), and the rest still applies.
 *
 * Pure: no node: imports.
 */

import { TLS13_SUITES } from '../suites.js';
import { isChachaSuite, OPENSSL_CIPHERS_BY_ID } from './cipher-string.js';

/** A suite OpenSSL knows (its TLS <= 1.2 table or a TLS 1.3 suite): GREASE and SCSVs are not. */
export const knownSuite = (id: number): boolean => OPENSSL_CIPHERS_BY_ID.has(id) || TLS13_SUITES.has(id);

/** OpenSSL's SSL_OP_* bits for the names Postfix knows. */
export const SSL_OP: Readonly<Record<string, number>> = {
  LEGACY_SERVER_CONNECT: 0x4,
  NO_TICKET: 0x4000,
  NO_SESSION_RESUMPTION_ON_RENEGOTIATION: 0x10000,
  NO_COMPRESSION: 0x20000,
  ENABLE_MIDDLEBOX_COMPAT: 0x100000,
  PRIORITIZE_CHACHA: 0x200000,
  NO_RENEGOTIATION: 0x40000000,
};

export interface SslOptions {
  /** The OpenSSL option mask. */
  readonly mask: number;
  readonly noTicket: boolean;
  readonly prioritizeChacha: boolean;
  readonly warnings: readonly string[];
}

export function parseSslOptions(value: string, parameter = 'tls_ssl_options'): SslOptions {
  let mask = 0;
  const warnings: string[] = [];
  for (const word of value.split(/[, \t\r\n|]+/).filter(Boolean)) {
    if (/^[0-9]/.test(word)) {
      // strtoul(word, &end, 0): 0x hex, 0 octal, else decimal.
      const n = /^0x[0-9a-f]+$/i.test(word) ? Number.parseInt(word.slice(2), 16) : /^0[0-7]*$/.test(word) ? Number.parseInt(word, 8) : /^[1-9][0-9]*$/.test(word) ? Number(word) : NaN;
      if (Number.isNaN(n) || n > 0xffffffff) warnings.push(`invalid ${parameter} value "${word}" in "${value}"`);
      else mask = (mask | n) >>> 0;
      continue;
    }
    const bit = SSL_OP[word.toUpperCase()];
    if (bit === undefined) warnings.push(`unknown ${parameter} value "${word}" in "${value}"`);
    else mask = (mask | bit) >>> 0;
  }
  return { mask, noTicket: (mask & SSL_OP.NO_TICKET!) !== 0, prioritizeChacha: (mask & SSL_OP.PRIORITIZE_CHACHA!) !== 0, warnings };
}

/**
 * OpenSSL's SSL_OP_PRIORITIZE_CHACHA (ssl3_choose_cipher), for a server
 * that uses its own order: when the first suite of the client's list that
 * we know of is a CHACHA20-POLY1305 suite and our list has one, our
 * CHACHA20 suites come first (in our order), then the rest (in our order).
 * Otherwise our order unchanged.
 */
export function prioritizeChacha(ours: readonly number[], clientSuites: readonly number[]): readonly number[] {
  const first = clientSuites.find(knownSuite);
  if (first === undefined || !isChachaSuite(first) || !ours.some(isChachaSuite)) return ours;
  return [...ours.filter(isChachaSuite), ...ours.filter((s) => !isChachaSuite(s))];
}
