/**
 * main.cf and parameter lookup.
 *
 * A ParameterSet is a stack of layers: built-in defaults (params.ts),
 * run-time values (config_directory, service_name...), main.cf, then any
 * number of `-o name=value` override layers (master.cf per service, the
 * command line). Lookup takes the highest layer that defines a name;
 * `$name` expansion happens at lookup time against the whole stack, so an
 * override of smtpd_tls_cert_file also changes the tlsproxy_tls_cert_file
 * default that refers to it, as in Postfix.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { strerror } from '../base/errno.js';
import { ConfigError } from './errors.js';
import { expand } from './expand.js';
import { logicalLines } from './lines.js';
import { PARAMETER_TABLE, defaultValue, type ParameterDefinition } from './params.js';

export interface ParameterValue {
  readonly value: string;
  /** Where it was set, for diagnostics: `/etc/postfix/main.cf, line 3`, `master.cf, line 9: -o`, `command line -o`. */
  readonly origin: string;
}

export interface Layer {
  readonly label: string;
  readonly values: ReadonlyMap<string, ParameterValue>;
}

export interface Override {
  readonly name: string;
  readonly value: string;
}

/** Nesting beyond this is a loop in all but name (Postfix: "unreasonable macro call nesting"). */
const MAX_DEPTH = 100;

const TIME_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export class ParameterSet {
  private constructor(
    private readonly layers: readonly Layer[],
    private readonly table: ReadonlyMap<string, ParameterDefinition>,
    /** Non-fatal problems found while reading the files (Postfix warns about them). */
    readonly warnings: readonly string[],
  ) {}

  /** Only the built-in defaults (plus `runtime` values such as config_directory). */
  static defaults(runtime: Record<string, string> = {}, table: ReadonlyMap<string, ParameterDefinition> = PARAMETER_TABLE): ParameterSet {
    const values = new Map(Object.entries(runtime).map(([k, v]) => [k, { value: v, origin: 'built-in' }]));
    return new ParameterSet([{ label: 'built-in', values }], table, []);
  }

  /** A new set with one more layer on top (this one is unchanged). */
  withLayer(layer: Layer, warnings: readonly string[] = []): ParameterSet {
    return new ParameterSet([...this.layers, layer], this.table, [...this.warnings, ...warnings]);
  }

  /** A new set with `-o name=value` overrides on top; `origin` says where they came from. */
  withOverrides(overrides: readonly Override[], origin: string): ParameterSet {
    if (!overrides.length) return this;
    const values = new Map<string, ParameterValue>();
    for (const o of overrides) values.set(o.name, { value: o.value, origin });
    return this.withLayer({ label: origin, values });
  }

  /** The unexpanded value: highest layer that sets it, else the built-in default, else undefined. */
  raw(name: string): string | undefined {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const v = this.layers[i]!.values.get(name);
      if (v) return v.value;
    }
    const def = this.table.get(name);
    return def ? defaultValue(def) : undefined;
  }

  /** Where the effective value comes from ('default' when from the table). */
  origin(name: string): string | undefined {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const v = this.layers[i]!.values.get(name);
      if (v) return v.origin;
    }
    return this.table.has(name) ? 'default' : undefined;
  }

  /** True when any layer or the table knows the name. */
  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /**
   * The expanded value; unknown names are empty. Throws ConfigError on a loop or a syntax error.
   * A set never changes (withLayer/withOverrides make new ones), so each name is expanded once
   * (a start asks for some parameters hundreds of times: one per service, certificate, CA file).
   */
  get(name: string): string {
    let v = this.expanded.get(name);
    if (v === undefined) {
      v = this.lookup(name, []) ?? '';
      this.expanded.set(name, v);
    }
    return v;
  }

  private readonly expanded = new Map<string, string>();

  getBool(name: string): boolean {
    const v = this.get(name);
    if (/^yes$/i.test(v)) return true;
    if (/^no$/i.test(v)) return false;
    throw new ConfigError(`bad boolean configuration: ${name} = ${v}`);
  }

  getInt(name: string): number {
    const v = this.get(name).trim();
    if (!/^-?\d+$/.test(v)) throw new ConfigError(`bad numerical configuration: ${name} = ${v}`);
    const n = Number(v);
    const min = this.table.get(name)?.min;
    if (min !== undefined && n < min) throw new ConfigError(`invalid ${name} parameter value ${n} < ${min}`);
    return n;
  }

  /** A Postfix time value (`10s`, `5m`, `1h`, a bare number in the parameter's default unit), in seconds. */
  getTime(name: string): number {
    const v = this.get(name).trim();
    const m = /^(\d+)([smhdw]?)$/i.exec(v);
    if (!m) throw new ConfigError(`parameter ${name}: bad time value or unit: ${v}`);
    const def = this.table.get(name);
    const unit = (m[2] || def?.unit || 's').toLowerCase();
    const seconds = Number(m[1]) * TIME_UNITS[unit]!;
    if (def?.min !== undefined && seconds < def.min) throw new ConfigError(`invalid ${name}: ${v} (min ${def.min}s)`);
    return seconds;
  }

  /** The value set above the built-in layer (main.cf, master.cf -o, command-line -o), if any. */
  explicit(name: string): ParameterValue | undefined {
    for (let i = this.layers.length - 1; i >= 1; i--) {
      const v = this.layers[i]!.values.get(name);
      if (v) return v;
    }
    return undefined;
  }

  /** Names set above the built-in layer, sorted. */
  explicitNames(): string[] {
    const all = new Set<string>();
    for (const l of this.layers.slice(1)) for (const k of l.values.keys()) all.add(k);
    return [...all].sort();
  }

  /** The table's definition of `name` (undefined for names the table does not know). */
  definition(name: string): ParameterDefinition | undefined {
    return this.table.get(name);
  }

  /** Every name this set knows: table entries and anything set in a layer. */
  names(): string[] {
    const all = new Set(this.table.keys());
    for (const l of this.layers) for (const k of l.values.keys()) all.add(k);
    return [...all].sort();
  }

  private lookup(name: string, chain: string[]): string | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    if (chain.includes(name)) {
      throw new ConfigError(`parameter ${chain[0]}: recursive expansion: ${[...chain, name].map((n) => `$${n}`).join(' -> ')}`);
    }
    if (chain.length >= MAX_DEPTH) throw new ConfigError(`parameter ${chain[0]}: unreasonable macro call nesting: "${name}"`);
    chain.push(name);
    try {
      return expand(raw, (n) => this.lookup(n, chain));
    } catch (e) {
      if (e instanceof ConfigError && !e.message.startsWith('parameter ')) {
        throw new ConfigError(`parameter ${name}: ${e.message}`);
      }
      throw e;
    } finally {
      chain.pop();
    }
  }
}

/** Parse main.cf text into a layer. */
export function parseMainCf(source: string, file: string): { layer: Layer; warnings: string[] } {
  const { lines, warnings } = logicalLines(source, file);
  const values = new Map<string, ParameterValue>();
  for (const l of lines) {
    const where = `${file}, line ${l.line}`;
    const { name, value } = splitNameValue(l.text, where);
    values.set(name, { value, origin: where });
  }
  return { layer: { label: file, values }, warnings };
}

/**
 * `name = value` (Postfix split_nameval): whitespace around both is
 * removed; the name may not contain whitespace.
 */
export function splitNameValue(text: string, where: string): Override {
  const eq = text.indexOf('=');
  const name = (eq < 0 ? text : text.slice(0, eq)).trim();
  if (!name) throw new ConfigError(`${where}: missing attribute name: "${text.trim()}"`);
  if (eq < 0 || /\s/.test(name)) throw new ConfigError(`${where}: missing '=' after attribute name: "${name.split(/\s/)[0]}"`);
  return { name, value: text.slice(eq + 1).trim() };
}

/** Parse a `-o name=value` argument. */
export function parseOverride(arg: string, where: string): Override {
  return splitNameValue(arg, where);
}

/**
 * Read `dir/main.cf` on top of the built-in defaults. A missing file is an
 * error, as in Postfix (`open /etc/postfix/main.cf: No such file or directory`).
 */
export function loadMainCf(dir: string, runtime: Record<string, string> = {}): ParameterSet {
  const { layer, warnings } = readMainCf(dir);
  return ParameterSet.defaults({ config_directory: dir, ...runtime }).withLayer(layer, warnings);
}

/** Parse `dir/main.cf`; a missing or unreadable file is Postfix's `open <file>: <error>`. */
export function readMainCf(dir: string): ReturnType<typeof parseMainCf> {
  const file = path.join(dir, 'main.cf');
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`open ${file}: ${strerror(e)}`);
  }
  return parseMainCf(source, file);
}
