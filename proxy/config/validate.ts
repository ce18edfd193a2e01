/**
 * Parameter values checked before anything else is loaded, so that a bad
 * value stops start-up (and shows in `tlsproxy check`) instead of
 * surprising a session later:
 *
 *  - every parameter expands (`$name`, `${name?...}`: loops, syntax);
 *  - every bool / int / time parameter of the table parses and respects
 *    its minimum (the same messages as when the value is used);
 *  - tlsproxy_tls_fingerprint_digest names a digest (Postfix:
 *    `Digest algorithm "X" not found`, which disables TLS at init);
 *  - maillog_file starts with one of maillog_file_prefixes.
 *
 * Each function returns every problem found, one message each.
 */

import { ConfigError } from './errors.js';
import type { ParameterSet } from './main-cf.js';

/** Digests a fingerprint may use (OpenSSL names, case-insensitive). */
export const FINGERPRINT_DIGESTS = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'] as const;

function attempt(problems: string[], f: () => void): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (!problems.includes(e.message)) problems.push(e.message);
    return false;
  }
}

/** Expansion of every known or set parameter, then the typed ones. */
export function parameterProblems(params: ParameterSet): string[] {
  const problems: string[] = [];
  for (const name of params.names()) {
    if (!attempt(problems, () => params.get(name))) continue;
    const def = params.definition(name);
    if (!def) continue;
    switch (def.type) {
      case 'bool':
        attempt(problems, () => params.getBool(name));
        break;
      case 'int':
        attempt(problems, () => params.getInt(name));
        break;
      case 'time':
        attempt(problems, () => params.getTime(name));
        break;
      default:
        break;
    }
  }
  return problems;
}

export function checkFingerprintDigest(params: ParameterSet, name = 'tlsproxy_tls_fingerprint_digest'): void {
  const value = params.get(name).trim();
  if (!(FINGERPRINT_DIGESTS as readonly string[]).includes(value.toLowerCase())) {
    // The same words as client-auth.ts, which checks it again when it loads.
    throw new ConfigError(`${name}: Digest algorithm "${value}" not found: TLS can't be enabled (use ${FINGERPRINT_DIGESTS.slice(0, -1).join(', ')} or ${FINGERPRINT_DIGESTS.at(-1)})`);
  }
}

/** maillog_file must start with one of maillog_file_prefixes (Postfix maillog_client.c). */
export function checkMaillogFile(params: ParameterSet): void {
  const file = params.get('maillog_file').trim();
  if (!file) return;
  const prefixes = params.get('maillog_file_prefixes').split(/[\s,]+/).filter(Boolean);
  if (!prefixes.some((p) => file.startsWith(p))) {
    throw new ConfigError(`maillog_file value '${file}' does not match any prefix in maillog_file_prefixes`);
  }
}

/** What loadConfiguration refuses for a service (the first one) and check reports (all). */
export function serviceParameterProblems(params: ParameterSet): string[] {
  const problems = parameterProblems(params);
  attempt(problems, () => checkFingerprintDigest(params));
  attempt(problems, () => checkMaillogFile(params));
  return problems;
}
