/**
 * `tlsproxy config`: parameters printed the way postconf(1) prints them
 * (postconf_main.c, postconf_unused.c restated):
 *
 *   (no option)  every known parameter, `name = value`, the main.cf (or -o)
 *                value when set, else the built-in default; sorted by name
 *   -n           only the parameters set in main.cf (or with -o)
 *   -d           the built-in defaults, main.cf ignored
 *   -x           expand `$name` (with -d: against the defaults only)
 *   -h           the value without `name = `
 *   -P           master.cf `-o` settings as `service/type/name = value`
 *   name ...     only these, in this order; an unknown name gets
 *                `postconf: warning: NAME: unknown parameter` (and exit 0)
 *
 * Values are printed unexpanded unless -x, with runs of white space
 * folded to one space, and `name =` (no trailing space) for an empty
 * value. Parameters set in main.cf that nothing knows are shown only when
 * another value refers to them (`$name`: "user-defined"), otherwise they
 * get `postconf: warning: DIR/main.cf: unused parameter: name=value` after
 * the output, as postconf does; so do the legacy parameters Postfix 3.9
 * deprecated. The messages say `postconf:` on purpose: scripts written for
 * postconf(1) read this output unchanged.
 */

import { ConfigError } from './errors.js';
import { ParameterSet } from './main-cf.js';
import type { MasterEntry } from './master-cf.js';

export type PostconfMode = 'all' | 'nondefault' | 'defaults';

export interface PostconfOptions {
  readonly mode: PostconfMode;
  /** -x */
  readonly expand: boolean;
  /** -h */
  readonly valueOnly: boolean;
  readonly names: readonly string[];
  /** DIR/main.cf, for the unused/deprecated warnings. */
  readonly mainCf?: string;
}

export interface PostconfOutput {
  readonly stdout: string[];
  readonly stderr: string[];
}

/**
 * Parameters Postfix 3.9-3.11 still accepts but warns about
 * (postconf_unused.c pcf_depr_param_info), with the suggested alternative.
 */
export const DEPRECATED: ReadonlyMap<string, string> = new Map([
  ['smtpd_use_tls', 'specify smtpd_tls_security_level'],
  ['smtpd_enforce_tls', 'specify smtpd_tls_security_level'],
  ['tlsproxy_use_tls', 'specify tlsproxy_tls_security_level'],
  ['tlsproxy_enforce_tls', 'specify tlsproxy_tls_security_level'],
  ['smtp_use_tls', 'specify smtp_tls_security_level'],
  ['smtp_enforce_tls', 'specify smtp_tls_security_level'],
  ['smtp_tls_per_site', 'specify smtp_tls_policy_maps'],
  ['tlsproxy_client_use_tls', 'specify tlsproxy_client_security_level'],
  ['tlsproxy_client_enforce_tls', 'specify tlsproxy_client_security_level'],
  ['tlsproxy_client_per_site', 'specify tlsproxy_client_policy_maps'],
]);

/** `name = value` with white space folded (postconf print_line without -f). */
export function formatParameter(name: string, value: string, valueOnly = false): string {
  const words = value.split(/[ \t\r\n]+/).filter(Boolean).join(' ');
  if (valueOnly) return words;
  return words ? `${name} = ${words}` : `${name} =`;
}

const REFERENCE = /\$(?:\{|\()?([A-Za-z0-9_]+)/g;

/** Names set in main.cf/-o that the table does not know but some explicit value refers to. */
export function userDefinedNames(params: ParameterSet): Set<string> {
  const referenced = new Set<string>();
  for (const n of params.explicitNames()) {
    const v = params.explicit(n)!.value;
    for (const m of v.matchAll(REFERENCE)) referenced.add(m[1]!);
  }
  return new Set(params.explicitNames().filter((n) => !params.definition(n) && referenced.has(n)));
}

export function postconf(params: ParameterSet, options: PostconfOptions): PostconfOutput {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const defaults = ParameterSet.defaults();
  const userDefined = options.mode === 'defaults' ? new Set<string>() : userDefinedNames(params);
  const known = (n: string) => params.definition(n) !== undefined || userDefined.has(n);

  const value = (name: string): string | undefined => {
    switch (options.mode) {
      case 'defaults':
        return options.expand ? defaults.get(name) : defaults.raw(name);
      case 'nondefault': {
        const v = params.explicit(name);
        if (!v) return undefined;
        return options.expand ? expanded(params, name) : v.value;
      }
      default:
        return options.expand ? expanded(params, name) : params.raw(name);
    }
  };

  const print = (name: string) => {
    const v = value(name);
    if (v !== undefined) stdout.push(formatParameter(name, v, options.valueOnly));
  };

  if (options.names.length) {
    for (const name of options.names) {
      if (!known(name)) stderr.push(`postconf: warning: ${name}: unknown parameter`);
      else print(name);
    }
  } else {
    const all = new Set([...params.names().filter((n) => params.definition(n)), ...userDefined]);
    for (const name of [...all].sort(byCodePoint)) print(name);
  }

  if (options.mode !== 'defaults' && options.mainCf) {
    for (const name of params.explicitNames()) {
      const v = params.explicit(name)!;
      if (!v.origin.startsWith(`${options.mainCf},`)) continue;
      const alternative = DEPRECATED.get(name);
      if (!known(name)) stderr.push(`postconf: warning: ${options.mainCf}: unused parameter: ${name}=${printable(v.value)}`);
      else if (alternative) stderr.push(`postconf: warning: ${options.mainCf}: support for parameter ${name} will be removed; instead, ${alternative}`);
    }
  }
  return { stdout, stderr };
}

/** postconf -P: master.cf `-o name=value` settings, `service/type/name = value`. */
export function postconfServices(entries: readonly MasterEntry[], names: readonly string[], valueOnly: boolean): string[] {
  const out: string[] = [];
  for (const e of entries) {
    for (const o of e.overrides) {
      const key = `${e.service}/${e.type}/${o.name}`;
      if (names.length && !names.includes(key) && !names.includes(o.name)) continue;
      out.push(formatParameter(key, o.value, valueOnly));
    }
  }
  return out;
}

function expanded(params: ParameterSet, name: string): string {
  try {
    return params.get(name);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${e.message}; macro processing error`);
    throw e;
  }
}

/** Non-printable characters as `?` (Postfix printable()). */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/** strcmp order, as postconf's qsort (not localeCompare). */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
