/**
 * tls_server_sni_maps (tlsproxy-postfix.md §1.6, §1.11; Postfix 3.4+
 * tls_server.c server_sni_callback restated):
 *
 *   tls_server_sni_maps = texthash:/etc/tlsproxy/sni
 *
 *   # /etc/tlsproxy/sni: name, then key-and-chain files (chain_files order)
 *   mail.example.com    /etc/tlsproxy/mail.pem
 *   .example.net        /etc/tlsproxy/example-net-rsa.pem, /etc/tlsproxy/example-net-ec.pem
 *
 * The client's server name is looked up as it is, then by parent domain
 * with a leading dot: for a.b.example.net, `a.b.example.net`, then
 * `.b.example.net`, `.example.net`, `.net` (parent_domain_matches_subdomains
 * plays no part, as in Postfix); with several tables, each key is tried in
 * every table before the next parent. A match serves that entry's chains
 * (ServerConfig.selectCertificates runs before ServerHello is built),
 * acknowledges the name and adds ` to <name>` to the summary line; no
 * match serves the default chains with `TLS SNI <name> from <endpt> not
 * matched, using default chain`.
 *
 * Tables: `texthash:FILE` (Postfix table syntax: `key value` lines, `#`
 * comments, continuation lines; keys folded to lower case; a duplicate key
 * keeps the first entry) and `inline:{ key = value, ... }`. A `hash:`,
 * `lmdb:`, `btree:`, `cdb:`, `dbm:` or `sdbm:` table reads its source
 * file (what postmap would index) with a warning; a bare path is taken as
 * texthash. Other types are refused. Every entry's files are loaded and
 * checked at start-up.
 */

import { readFileSync } from 'node:fs';
import type { CertifiedKey, ClientHelloSummary, ServerConfig, SniChoice } from '../../engine/config.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { defaultCertificateChoice } from '../../engine/sni.js';
import { fileList, loadChainFiles, preferVerifiable, type FileReader, type Findings, type ServerCertificates } from './chain-files.js';
import { ConfigError } from '../config/errors.js';
import { logicalLines } from '../config/lines.js';
import type { ParameterSet } from '../config/main-cf.js';
import { strerror } from '../base/errno.js';

export const SNI_MAPS = 'tls_server_sni_maps';

const readText: FileReader = (file) => readFileSync(file, 'utf8');

/** Indexed table types whose source file we read instead (no postmap here). */
const INDEXED = new Set(['hash', 'btree', 'lmdb', 'cdb', 'dbm', 'sdbm']);

export interface SniEntry {
  /** The key as written (lower case): `mail.example.com` or `.example.net`. */
  readonly key: string;
  /** `texthash:/etc/tlsproxy/sni, line 3`. */
  readonly where: string;
  readonly certificates: readonly CertifiedKey[];
}

export interface SniTable {
  /** As written in the parameter: `texthash:/etc/tlsproxy/sni`. */
  readonly title: string;
  readonly entries: ReadonlyMap<string, SniEntry>;
}

export class SniMaps {
  constructor(readonly tables: readonly SniTable[]) {}

  /** The entry for a server name: exact, then `.parent` domains; undefined when none. */
  lookup(name: string): SniEntry | undefined {
    let key: string | undefined = name.toLowerCase();
    while (key !== undefined) {
      for (const t of this.tables) {
        const e = t.entries.get(key);
        if (e) return e;
      }
      const dot: number = key.indexOf('.', 1);
      key = dot < 0 ? undefined : key.slice(dot);
    }
    return undefined;
  }

  get size(): number {
    return this.tables.reduce((n, t) => n + t.entries.size, 0);
  }
}

/** Split a map list on commas and white space, keeping `{...}` groups whole (mystrtokq). */
export function splitMapList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of value) {
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    if (depth === 0 && /[\s,]/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur) out.push(cur);
  return out;
}

interface RawEntry {
  readonly key: string;
  readonly value: string;
  readonly where: string;
}

/** `inline:{ key = value, { key = value with spaces } }` (dict_inline.c). */
function inlineEntries(title: string, body: string, findings: Findings): RawEntry[] {
  const m = /^\{(.*)\}$/s.exec(body.trim());
  if (!m) {
    findings.problems.push(`${SNI_MAPS}: ${title}: expected inline:{ name = value, ... }`);
    return [];
  }
  const out: RawEntry[] = [];
  for (let item of splitMapList(m[1]!.replace(/\s*=\s*/g, '='))) {
    item = item.replace(/^\{\s*(.*?)\s*\}$/s, '$1');
    const eq = item.indexOf('=');
    if (eq <= 0) {
      findings.problems.push(`${SNI_MAPS}: ${title}: "${item}": missing '=' after attribute name`);
      continue;
    }
    out.push({ key: item.slice(0, eq).trim(), value: item.slice(eq + 1).trim(), where: title });
  }
  return out;
}

/** A Postfix table source file: `key whitespace value` logical lines. */
function textEntries(title: string, file: string, findings: Findings, read: FileReader): RawEntry[] {
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    findings.problems.push(`${SNI_MAPS}: ${title}: cannot read the file: ${strerror(e)}`);
    return [];
  }
  const { lines, warnings } = logicalLines(text, file);
  findings.warnings.push(...warnings);
  const out: RawEntry[] = [];
  for (const l of lines) {
    const m = /^(\S+)\s+(\S.*)$/s.exec(l.text.trim());
    if (!m) {
      findings.warnings.push(`${file}, line ${l.line}: expected format: key whitespace value -- ignoring this line`);
      continue;
    }
    out.push({ key: m[1]!, value: m[2]!.trim(), where: `${title}, line ${l.line}` });
  }
  return out;
}

/**
 * The tables of tls_server_sni_maps with every entry's chains loaded;
 * undefined when the parameter is empty. All problems are collected in
 * `findings` (none thrown).
 */
export async function examineSniMaps(params: ParameterSet, provider: CryptoProvider, findings: Findings, read: FileReader = readText): Promise<SniMaps | undefined> {
  const value = params.get(SNI_MAPS).trim();
  if (!value) return undefined;
  const tables: SniTable[] = [];
  // The same files named by several keys are loaded once.
  const loadedFiles = new Map<string, Promise<ServerCertificates>>();
  for (const title of splitMapList(value)) {
    const colon = title.indexOf(':');
    let type = colon > 0 ? title.slice(0, colon).toLowerCase() : 'texthash';
    const name = colon > 0 ? title.slice(colon + 1) : title;
    if (colon <= 0 && !title.startsWith('/')) {
      findings.problems.push(`${SNI_MAPS}: ${title}: expected type:name (texthash:/path/to/file)`);
      continue;
    }
    let raw: RawEntry[];
    if (type === 'inline') {
      raw = inlineEntries(title, name, findings);
    } else {
      if (INDEXED.has(type)) {
        findings.warnings.push(`${SNI_MAPS}: ${title}: indexed tables are not supported: reading the source file ${name} as texthash:${name}`);
        type = 'texthash';
      }
      if (type !== 'texthash') {
        findings.problems.push(`${SNI_MAPS}: ${title}: unsupported lookup table type "${type}" (use texthash:, inline:, or the source file of a hash: or lmdb: table)`);
        continue;
      }
      raw = textEntries(title, name, findings, read);
    }
    const entries = new Map<string, SniEntry>();
    for (const r of raw) {
      const key = r.key.toLowerCase();
      if (entries.has(key)) {
        findings.warnings.push(`${r.where}: duplicate entry: "${key}"`);
        continue;
      }
      const files = fileList(r.value);
      const id = files.join('\0');
      let loading = loadedFiles.get(id);
      if (!loading) {
        loading = loadChainFiles(files, `${SNI_MAPS} ${r.where} (${key})`, provider, findings, read);
        loadedFiles.set(id, loading);
      }
      const chains = await loading;
      if (!chains.certificates.length) continue;
      entries.set(key, { key, where: r.where, certificates: chains.certificates });
    }
    tables.push({ title, entries });
  }
  return new SniMaps(tables);
}

/** Start-up: the maps, or a ConfigError naming the first problem. */
export async function loadSniMaps(params: ParameterSet, provider: CryptoProvider, warnings: string[], read: FileReader = readText): Promise<SniMaps | undefined> {
  const findings: Findings = { problems: [], warnings: [] };
  const maps = await examineSniMaps(params, provider, findings, read);
  warnings.push(...findings.warnings);
  if (findings.problems.length) throw new ConfigError(findings.problems[0]!);
  return maps;
}

/**
 * The engine's SNI hook: the SNI map's chains when the name matches one,
 * else the default chains (without maps: the engine's own choice by
 * certificate names, as before). Either way the candidates whose chain and
 * key the client can verify come first ("where possible").
 */
export function certificateSelector(defaults: readonly CertifiedKey[], maps: SniMaps | undefined): (hello: ClientHelloSummary) => SniChoice {
  const byNames = defaultCertificateChoice(defaults);
  return (hello) => {
    if (!maps) {
      const c = byNames(hello);
      return { certificates: preferVerifiable(c.certificates, hello.signatureSchemes), matched: c.matched };
    }
    const entry = hello.serverName ? maps.lookup(hello.serverName) : undefined;
    if (entry) return { certificates: preferVerifiable(entry.certificates, hello.signatureSchemes), matched: true };
    return { certificates: preferVerifiable(defaults, hello.signatureSchemes), matched: false };
  };
}

/** Postfix's info line for a name no map entry matched. */
export function notMatchedLine(name: string, endpoint: string): string {
  return `TLS SNI ${name} from ${endpoint} not matched, using default chain`;
}

/** `config` whose SNI hook also reports names no map entry matched (one connection's copy). */
export function withSniLog(config: ServerConfig, notMatched: (name: string) => void): ServerConfig {
  const select = config.selectCertificates;
  if (!select) return config;
  return {
    ...config,
    selectCertificates: (hello) => {
      const choice = select(hello);
      if (!choice.matched && hello.serverName) notMatched(hello.serverName);
      return choice;
    },
  };
}
