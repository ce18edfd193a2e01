/**
 * master.cf in Postfix's column format:
 *
 *   service type private unpriv chroot wakeup maxproc command args...
 *
 * Comments and continuation lines as in main.cf (lines.ts). Arguments may
 * group whitespace with `{ text }` (Postfix 3.0+: the braces and the
 * whitespace just inside them are removed). `-o name=value` and
 * `-o { name = value }` arguments become per-service parameter overrides.
 *
 * Validation follows master_ent.c; errors read `FILE: line N: ...`.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { strerror } from '../base/errno.js';
import { ConfigError } from './errors.js';
import { logicalLines } from './lines.js';
import { parseOverride, type Override } from './main-cf.js';

export type ServiceType = 'inet' | 'unix' | 'unix-dgram' | 'fifo' | 'pass';

const SERVICE_TYPES: readonly ServiceType[] = ['inet', 'unix', 'unix-dgram', 'fifo', 'pass'];

/** Where an inet service listens; host undefined = as inet_interfaces says. */
export interface InetEndpoint {
  readonly host: string | undefined;
  readonly port: number;
}

export interface MasterEntry {
  /** Column 1 as written: `127.0.0.1:10465`, `10465`, `[::1]:10465`, `tlsproxy`. */
  readonly service: string;
  readonly type: ServiceType;
  readonly private: boolean;
  readonly unprivileged: boolean;
  readonly chroot: boolean;
  /** Seconds; 0 = none. */
  readonly wakeup: number;
  /** Wakeup written with a `?` suffix (only after first use). */
  readonly wakeupConditional: boolean;
  /** 0 = unlimited. */
  readonly maxproc: number;
  /** Present (true) when the column was `-` (maxproc is then default_process_limit). */
  readonly maxprocDefault?: true;
  readonly command: string;
  /** Arguments after the command, braces already removed, `-o` included. */
  readonly args: readonly string[];
  /** The `-o name=value` arguments, in order. */
  readonly overrides: readonly Override[];
  /** For inet services. */
  readonly listen?: InetEndpoint;
  readonly file: string;
  readonly line: number;
}

export interface MasterCf {
  readonly file: string;
  readonly entries: readonly MasterEntry[];
  readonly warnings: readonly string[];
}

export interface MasterCfOptions {
  /** The maxproc used for `-` (Postfix: default_process_limit, 100). */
  readonly defaultProcessLimit?: number;
}

/** Well-known service names for inet ports (a few; numbers always work). */
const PORT_NAMES: Record<string, number> = { smtp: 25, submission: 587, submissions: 465, smtps: 465, imaps: 993, pop3s: 995, https: 443 };

export function parseMasterCf(source: string, file: string, options: MasterCfOptions = {}): MasterCf {
  const { lines, warnings } = logicalLines(source, file);
  const entries: MasterEntry[] = [];
  const seen = new Map<string, number>();
  for (const l of lines) {
    const fail = (message: string): never => {
      throw new ConfigError(`${file}: line ${l.line}: ${message}`);
    };
    const tokens = tokenize(l.text, fail);
    let next = 0;
    const field = (name: string, def?: string): string => {
      const v = tokens[next++];
      if (v === undefined) return fail(`missing "${name}" field`);
      if (v === '-') {
        if (def === undefined) return fail(`field "${name}" has no default value`);
        return def;
      }
      return v;
    };
    const bool = (name: string, def: string): boolean => {
      const v = field(name, def);
      if (v === 'y') return true;
      if (v === 'n') return false;
      return fail(`field "${name}" bad value: "${v}"`);
    };

    const service = tokens[next++]!;
    const typeText = field('transport type');
    if (!SERVICE_TYPES.includes(typeText as ServiceType)) fail(`bad transport type: ${typeText}`);
    const type = typeText as ServiceType;
    const listen = type === 'inet' ? parseInetService(service, fail) : undefined;
    const isPrivate = bool('private', 'y');
    if (type === 'inet' && isPrivate) fail('inet service cannot be private');
    const unprivileged = bool('unprivileged', 'y');
    // Postfix 3.0 changed the chroot default to n.
    const chroot = bool('chroot', 'n');
    const wakeupText = field('wakeup_time', '0');
    const w = /^(\d+)(\?)?$/.exec(wakeupText);
    if (!w) fail(`field "wakeup_time" bad value: "${wakeupText}"`);
    const maxprocDefault = tokens[next] === '-';
    const maxprocText = field('max_proc', String(options.defaultProcessLimit ?? 100));
    if (!/^\d+$/.test(maxprocText)) fail(`field "max_proc" bad value: "${maxprocText}"`);
    const command = field('command');
    const args = tokens.slice(next);
    const overrides = parseArgs(args, `${file}: line ${l.line}`, fail);

    const key = `${type}/${service}`;
    if (seen.has(key)) warnings.push(`${file}: line ${l.line}: duplicate service name "${service}" type "${type}" (first on line ${seen.get(key)}), using the last`);
    seen.set(key, l.line);

    entries.push({
      service,
      type,
      private: isPrivate,
      unprivileged,
      chroot,
      wakeup: Number(w![1]),
      wakeupConditional: Number(w![1]) > 0 && w![2] === '?',
      maxproc: Number(maxprocText),
      ...(maxprocDefault ? { maxprocDefault: true as const } : {}),
      command,
      args,
      overrides,
      listen,
      file,
      line: l.line,
    });
  }
  // A later duplicate replaces the earlier one, as master.cf's last word wins.
  const last = entries.filter((e) => seen.get(`${e.type}/${e.service}`) === e.line);
  return { file, entries: last, warnings };
}

/** Read `dir/master.cf`. */
export function loadMasterCf(dir: string, options: MasterCfOptions = {}): MasterCf {
  const file = path.join(dir, 'master.cf');
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`open ${file}: ${strerror(e)}`);
  }
  return parseMasterCf(source, file, options);
}

/**
 * Split on whitespace, keeping `{ ... }` groups (balanced) together; a
 * token that is a whole group loses the braces and the whitespace inside them.
 */
function tokenize(text: string, fail: (m: string) => never): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    const start = i;
    let level = 0;
    while (i < text.length && (level > 0 || !/\s/.test(text[i]!))) {
      if (text[i] === '{') level++;
      else if (text[i] === '}') {
        if (level === 0) fail(`syntax error: unexpected "}" in "${text.slice(start).split(/\s/)[0]}"`);
        level--;
      }
      i++;
    }
    if (level > 0) fail(`syntax error: missing "}" in "${text.slice(start)}"`);
    tokens.push(ungroup(text.slice(start, i)));
  }
  return tokens;
}

/** `{ text }` → `text` when the braces enclose the whole token. */
function ungroup(token: string): string {
  return token.startsWith('{') && token.endsWith('}') && closesAtEnd(token) ? token.slice(1, -1).trim() : token;
}

/** True when the `{` at 0 is closed by the final `}` (not `{a}{b}`). */
function closesAtEnd(token: string): boolean {
  let level = 0;
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '{') level++;
    else if (token[i] === '}' && --level === 0) return i === token.length - 1;
  }
  return false;
}

/** The `-o` overrides among the arguments (`-o name=value`, `-oname=value`). */
function parseArgs(args: readonly string[], where: string, fail: (m: string) => never): Override[] {
  const overrides: Override[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-o') {
      const v = args[++i];
      if (v === undefined) fail('option requires an argument -- o');
      overrides.push(parseOverride(v!, `${where}: -o`));
    } else if (a.startsWith('-o') && a.length > 2) {
      overrides.push(parseOverride(ungroup(a.slice(2)), `${where}: -o`));
    }
  }
  return overrides;
}

/**
 * An inet service name (Postfix host_port): `port`, `host:port`,
 * `[addr]:port`, `*:port`. The port is a number or a well-known name;
 * port 0 (ours, for tests) listens on an ephemeral port.
 */
export function parseInetService(name: string, fail: (m: string) => never): InetEndpoint {
  let host: string | undefined;
  let port: string;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close < 0 || name[close + 1] !== ':') return fail(`missing "]:port" in "${name}"`);
    host = name.slice(1, close);
    port = name.slice(close + 2);
    if (!host) return fail(`missing host in "${name}"`);
  } else {
    const colon = name.lastIndexOf(':');
    if (colon < 0) {
      port = name;
    } else {
      host = name.slice(0, colon);
      port = name.slice(colon + 1);
      if (host === '' || host === '*') host = undefined;
    }
  }
  const n = /^\d+$/.test(port) ? Number(port) : PORT_NAMES[port];
  if (n === undefined || n > 65535) return fail(`bad port "${port}" in "${name}"`);
  return { host, port: n };
}
