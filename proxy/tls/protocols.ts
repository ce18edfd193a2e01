/**
 * Postfix TLS protocol lists (tlsproxy-postfix.md §1.4):
 *
 *   !TLSv1.1        exclude a version
 *   TLSv1.2 TLSv1.3 include (any include excludes every version not named)
 *   >=TLSv1.2       floor, <=TLSv1.3 ceiling (V may be a name, None, or hex: 303, 0x0303)
 *
 * Tokens are separated by comma, space, tab, CR, LF or colon; names are
 * case-insensitive; an empty list means every version. Any unknown token
 * makes the whole list invalid. The engine speaks TLS 1.2 and 1.3, so the
 * result is clamped to those.
 */

import { ProtocolVersion } from '../../engine/constants.js';
import { ConfigError } from '../config/errors.js';

const VERSIONS: readonly [name: string, value: number][] = [
  ['sslv2', 0x0200],
  ['sslv3', 0x0300],
  ['tlsv1', 0x0301],
  ['tlsv1.1', 0x0302],
  ['tlsv1.2', 0x0303],
  ['tlsv1.3', 0x0304],
];

const SUPPORTED = [ProtocolVersion.TLS1_3, ProtocolVersion.TLS1_2];

/** Versions the list enables, as ProtocolVersion values, of all that Postfix knows. */
export function parseProtocolList(list: string): number[] {
  const invalid = () => new ConfigError(`Invalid TLS protocol list "${list}": disabling TLS support`);
  const byName = new Map(VERSIONS);
  const include = new Set<number>();
  const exclude = new Set<number>();
  let floor = 0;
  let ceiling = 0x7fffffff;
  // Postfix's parse_tls_version: a name of tls_version_table (no SSLv2 there),
  // `None`, or a number read with strtoul(.., 16) ("303", "0x0303"; an empty
  // bound is 0, i.e. none). 0 means no bound.
  const bound = (text: string): number => {
    const t = text.toLowerCase();
    if (t === 'none' || t === '') return 0;
    const named = t === 'sslv2' ? undefined : byName.get(t);
    if (named !== undefined) return named;
    if (/^(0x)?[0-9a-f]+$/.test(t)) {
      const v = parseInt(t.replace(/^0x/, ''), 16);
      if (v <= 0x7fffffff) return v;
    }
    throw invalid();
  };
  for (const token of list.split(/[, \t\r\n:]+/).filter(Boolean)) {
    if (token.startsWith('>=')) {
      floor = bound(token.slice(2));
    } else if (token.startsWith('<=')) {
      ceiling = bound(token.slice(2)) || 0x7fffffff;
    } else if (token.startsWith('!')) {
      const v = byName.get(token.slice(1).toLowerCase());
      if (v === undefined) throw invalid();
      exclude.add(v);
    } else {
      const v = byName.get(token.toLowerCase());
      if (v === undefined) throw invalid();
      include.add(v);
    }
  }
  return VERSIONS.map(([, v]) => v).filter((v) => (include.size === 0 || include.has(v)) && !exclude.has(v) && v >= floor && v <= ceiling);
}

/**
 * The engine's `versions` for a service: the mandatory list when TLS is
 * mandatory (level encrypt, or the legacy enforce_tls), else the
 * opportunistic one, clamped to what the engine speaks.
 */
/**
 * Mandatory TLS (§1.2): level encrypt (or a level resolved to it), else,
 * without a level, the legacy enforce_tls. Selects the mandatory ciphers,
 * exclusions and protocols.
 */
export function isMandatory(level: string, enforce: boolean): boolean {
  return level ? level.toLowerCase() !== 'may' : enforce;
}

export function selectVersions(level: string, enforce: boolean, protocols: string, mandatoryProtocols: string, names: { protocols: string; mandatory: string }): number[] {
  const mandatory = isMandatory(level, enforce);
  const [name, value] = mandatory ? [names.mandatory, mandatoryProtocols] : [names.protocols, protocols];
  let versions: number[];
  try {
    versions = parseProtocolList(value);
  } catch (e) {
    throw new ConfigError(`${name}: ${(e as Error).message}`);
  }
  const usable = SUPPORTED.filter((v) => versions.includes(v));
  if (!usable.length) throw new ConfigError(`${name} = ${value}: none of the supported protocols (TLSv1.2, TLSv1.3) is enabled`);
  return usable;
}
