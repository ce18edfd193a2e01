/**
 * The postscreen front end's settings, from Postfix's parameters
 * (tlsproxy-postfix.md §5, postscreen_smtpd.c):
 *
 *  - postscreen_tls_security_level (default $smtpd_tls_security_level):
 *    none = no STARTTLS, may = offered, encrypt = offered and required
 *    before anything but HELO, EHLO, STARTTLS, NOOP and QUIT; fingerprint,
 *    verify, secure = a warning and encrypt; anything else is fatal
 *    (`Invalid TLS level "X"`). Empty: the legacy postscreen_use_tls /
 *    postscreen_enforce_tls (inheriting smtpd_use_tls / smtpd_enforce_tls).
 *  - the greeting `220 $smtpd_banner` and the EHLO reply of postscreen's
 *    dummy SMTP engine: myhostname, SIZE, VRFY, ETRN, STARTTLS,
 *    ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8, CHUNKING (no
 *    PIPELINING), minus postscreen_discard_ehlo_keywords;
 *  - postscreen_command_count_limit, postscreen_command_time_limit,
 *    line_length_limit.
 */

import { ConfigError } from '../../config/errors.js';
import type { ParameterSet } from '../../config/main-cf.js';

export type TlsLevel = 'none' | 'may' | 'encrypt';

export interface PostscreenSettings {
  readonly level: TlsLevel;
  readonly myhostname: string;
  /** `220 <smtpd_banner>\r\n` */
  readonly greeting: string;
  /** `250 <myhostname>\r\n` */
  readonly heloReply: string;
  /** Multi-line EHLO reply before TLS (with STARTTLS when offered). */
  readonly ehloPlain: string;
  /** After TLS: never STARTTLS. */
  readonly ehloTls: string;
  /** STARTTLS is offered (level may/encrypt and not discarded). */
  readonly starttls: boolean;
  readonly commandCountLimit: number;
  readonly commandTimeLimitMs: number;
  readonly lineLengthLimit: number;
  /** `421 <myhostname> Service unavailable - try again later\r\n` */
  readonly reply421: string;
  /** `421 4.4.2 <myhostname> Error: timeout exceeded\r\n` */
  readonly timeoutReply: string;
  /** Start-up warnings (unsupported level...). */
  readonly warnings: readonly string[];
}

/** Postfix's tls_level_lookup for a server-side requester. */
export function resolveTlsLevel(params: ParameterSet, prefix: 'postscreen', warnings: string[]): TlsLevel {
  const name = `${prefix}_tls_security_level`;
  const value = params.get(name).trim();
  if (value) {
    switch (value.toLowerCase()) {
      case 'none':
        return 'none';
      case 'may':
        return 'may';
      case 'encrypt':
        return 'encrypt';
      case 'fingerprint':
      case 'verify':
      case 'secure':
        warnings.push(`${name}: unsupported TLS level "${value}", using "encrypt"`);
        return 'encrypt';
      default:
        throw new ConfigError(`Invalid TLS level "${value}"`);
    }
  }
  const enforce = params.getBool(`${prefix}_enforce_tls`);
  const use = params.getBool(`${prefix}_use_tls`) || enforce;
  return enforce ? 'encrypt' : use ? 'may' : 'none';
}

/** The dummy engine's EHLO reply (psc_smtpd_format_ehlo_reply). */
export function ehloReply(params: ParameterSet, offerStarttls: boolean, discard: ReadonlySet<string>): string {
  const lines = [params.get('myhostname')];
  const keep = (k: string) => !discard.has(k);
  if (keep('size')) {
    const limit = params.getInt('message_size_limit');
    lines.push(limit > 0 ? `SIZE ${limit}` : 'SIZE');
  }
  if (keep('vrfy') && !params.getBool('disable_vrfy_command')) lines.push('VRFY');
  if (keep('etrn')) lines.push('ETRN');
  if (keep('starttls') && offerStarttls) lines.push('STARTTLS');
  if (keep('enhancedstatuscodes')) lines.push('ENHANCEDSTATUSCODES');
  if (keep('8bitmime')) lines.push('8BITMIME');
  if (keep('dsn')) lines.push('DSN');
  if (keep('smtputf8') && params.getBool('smtputf8_enable')) lines.push('SMTPUTF8');
  if (keep('chunking')) lines.push('CHUNKING');
  return lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
}

export function loadPostscreenSettings(params: ParameterSet): PostscreenSettings {
  const warnings: string[] = [];
  const level = resolveTlsLevel(params, 'postscreen', warnings);
  const discard = new Set(
    params
      .get('postscreen_discard_ehlo_keywords')
      .toLowerCase()
      .split(/[\s,]+/)
      .filter(Boolean),
  );
  const starttls = level !== 'none' && !discard.has('starttls');
  const myhostname = params.get('myhostname');
  return {
    level,
    myhostname,
    greeting: `220 ${params.get('smtpd_banner')}\r\n`,
    heloReply: `250 ${myhostname}\r\n`,
    ehloPlain: ehloReply(params, starttls, discard),
    ehloTls: ehloReply(params, false, discard),
    starttls,
    commandCountLimit: params.getInt('postscreen_command_count_limit'),
    commandTimeLimitMs: params.getTime('postscreen_command_time_limit') * 1000,
    lineLengthLimit: params.getInt('line_length_limit'),
    reply421: `421 ${myhostname} Service unavailable - try again later\r\n`,
    timeoutReply: `421 4.4.2 ${myhostname} Error: timeout exceeded\r\n`,
    warnings,
  };
}
