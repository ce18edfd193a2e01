/**
 * relay_clientcerts (Postfix postconf(5)): lookup tables whose keys are
 * client certificate or public-key fingerprints, in the
 * tlsproxy_tls_fingerprint_digest and Postfix's form (upper-case hex pairs
 * joined by colons). Postfix's smtpd uses it for permit_tls_clientcerts;
 * here it is what makes a client's RFC 7250 raw public key "Trusted": a raw
 * key has no issuer to verify, only a fingerprint to recognise.
 *
 * Supported table types: `inline:{ fp1, fp2 = anything, ... }` and
 * `texthash:/file` (one `key [value]` per line, # comments); the value of
 * an entry is not used. Any other type stops start-up with a message naming
 * the parameter (we do not read Berkeley DB or LMDB files).
 */

import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import { logicalLines } from '../config/lines.js';
import type { ParameterSet } from '../config/main-cf.js';
import { strerror } from '../base/errno.js';
import { splitMapList } from './sni-maps.js';

export const FINGERPRINT_TABLES = 'relay_clientcerts';

/** Canonical form: upper case, colons between byte pairs (accepts a form without colons). */
export function canonicalFingerprint(fp: string): string {
  const hex = fp.replace(/:/g, '').toUpperCase();
  if (!/^(?:[0-9A-F]{2})+$/.test(hex)) return fp.trim().toUpperCase();
  return hex.match(/../g)!.join(':');
}

export function loadFingerprintTables(params: ParameterSet, read: (f: string) => string = (f) => readFileSync(f, 'utf8')): ReadonlySet<string> {
  const out = new Set<string>();
  for (const table of splitMapList(params.get(FINGERPRINT_TABLES))) {
    const colon = table.indexOf(':');
    const type = colon > 0 ? table.slice(0, colon) : '';
    const name = table.slice(colon + 1);
    if (type === 'inline') {
      const m = /^\{(.*)\}$/s.exec(name.trim());
      if (!m) throw new ConfigError(`${FINGERPRINT_TABLES}: ${table}: expected inline:{ fingerprint, ... }`);
      for (const item of splitMapList(m[1]!.replace(/\s*=\s*/g, '='))) {
        const key = item.replace(/^\{\s*(.*?)\s*\}$/s, '$1').split('=')[0]!.trim();
        if (key) out.add(canonicalFingerprint(key));
      }
    } else if (type === 'texthash') {
      let text: string;
      try {
        text = read(name);
      } catch (e) {
        throw new ConfigError(`${FINGERPRINT_TABLES}: ${table}: cannot read the file: ${strerror(e)}`);
      }
      for (const l of logicalLines(text, name).lines) {
        const key = l.text.trim().split(/\s+/)[0];
        if (key) out.add(canonicalFingerprint(key));
      }
    } else {
      throw new ConfigError(`${FINGERPRINT_TABLES}: unsupported table type "${type || table}" (tlsproxy reads inline: and texthash: tables)`);
    }
  }
  return out;
}
