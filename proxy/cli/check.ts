/**
 * `tlsproxy check [-c DIR]`: everything `tlsproxy start` would load and
 * check, without listening, reporting every problem instead of the first:
 *
 *  1. main.cf line by line (each syntax error), then every parameter's
 *     expansion and typed value, the digest, maillog_file (validate.ts),
 *     the privileges start would take (privileges.ts);
 *  2. master.cf and the tlsproxy services in it;
 *  3. per service, each group of start-up checks on its own, with the
 *     daemon's own functions: crypto provider, security level, log level,
 *     protocols, certificates and keys (chain files included), SNI maps,
 *     cipher grade and exclusions, client-certificate CAs, DH parameter
 *     file, session resumption (ticket key file), groups, backend address;
 *  4. per service, the daemon's whole start-up path (loadServices) as a
 *     last pass, so whatever else start-up refuses is reported too.
 *
 * Problems are returned in that order, each once; a problem that every
 * service has is reported once without a prefix, otherwise with
 * `service NAME: `.
 */

import { parseListen } from '../supervisor/metrics.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { parseBackend } from '../front-ends/backend.js';
import { examineServerCertificates, type Findings } from '../tls/chain-files.js';
import { clientAuthConfig } from '../tls/client-auth.js';
import { ConfigError } from '../config/errors.js';
import { logicalLines } from '../config/lines.js';
import { ParameterSet, splitNameValue, type Override, type ParameterValue } from '../config/main-cf.js';
import { loadMasterCf } from '../config/master-cf.js';
import { checkMaillogFile, serviceParameterProblems } from '../config/validate.js';
import { buildConfiguration, type Configuration, type ServiceDefinition } from '../config/configuration.js';
import { loadServices } from '../supervisor/daemon.js';
import { strerror } from '../base/errno.js';
import type { LogRecord } from '../log/log.js';
import { privilegePlan } from '../supervisor/privileges.js';
import { selectVersions } from '../tls/protocols.js';
import { ResumptionStore, resumptionSettings } from '../tls/resumption.js';
import { examineSniMaps } from '../tls/sni-maps.js';
import { checkSecurityLevel, createProvider, loadDhParams, loadPolicy, parseLogLevel, selectCiphers, selectGroups } from '../tls/settings.js';

export interface CheckReport {
  /** Each problem once, in the order found. */
  readonly problems: string[];
  readonly warnings: string[];
  /** The tlsproxy services found (names). */
  readonly services: string[];
}

class Collector {
  readonly items: string[] = [];
  add(message: string): void {
    if (!this.items.includes(message)) this.items.push(message);
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Run one check; a ConfigError (or any error) becomes a problem. */
async function group(problems: Collector, f: () => unknown): Promise<void> {
  try {
    await f();
  } catch (e) {
    problems.add(messageOf(e));
  }
}

/** main.cf with every syntax error collected (the valid lines still count). */
function tolerantMainCf(dir: string, problems: Collector, warnings: Collector): ParameterSet | undefined {
  const file = path.join(dir, 'main.cf');
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    problems.add(`open ${file}: ${strerror(e)}`);
    return undefined;
  }
  const { lines, warnings: w } = logicalLines(source, file);
  w.forEach((x) => warnings.add(x));
  const values = new Map<string, ParameterValue>();
  for (const l of lines) {
    const where = `${file}, line ${l.line}`;
    try {
      const { name, value } = splitNameValue(l.text, where);
      values.set(name, { value, origin: where });
    } catch (e) {
      problems.add(messageOf(e));
    }
  }
  return ParameterSet.defaults({ config_directory: dir }).withLayer({ label: file, values }, w);
}

/** The checks of one service: problems and warnings, in start-up order. */
async function checkService(service: ServiceDefinition, configuration: Configuration): Promise<{ problems: Collector; warnings: Collector }> {
  const problems = new Collector();
  const warnings = new Collector();
  const p = service.params;
  serviceParameterProblems(p).forEach((m) => problems.add(m));

  let provider: CryptoProvider | undefined;
  await group(problems, async () => {
    provider = await createProvider(p);
  });
  let level = '';
  const w: string[] = [];
  await group(problems, () => {
    level = checkSecurityLevel(p, w);
  });
  await group(problems, () => parseLogLevel(p.get('tlsproxy_tls_loglevel'), 'tlsproxy_tls_loglevel'));
  await group(problems, () =>
    selectVersions(level, p.getBool('tlsproxy_enforce_tls'), p.get('tlsproxy_tls_protocols'), p.get('tlsproxy_tls_mandatory_protocols'), {
      protocols: 'tlsproxy_tls_protocols',
      mandatory: 'tlsproxy_tls_mandatory_protocols',
    }),
  );
  // Cipher grade and exclusions, then the whole policy (an empty TLS 1.2 selection, tls_ssl_options).
  await group(problems, () => {
    const mandatory = level ? level !== 'may' : p.getBool('tlsproxy_enforce_tls');
    try {
      selectCiphers(p, mandatory, w);
    } catch (e) {
      // A bad grade hides bad exclusions: look at those with a good grade too.
      problems.add(messageOf(e));
      const grades = ['tlsproxy_tls_ciphers', 'tlsproxy_tls_mandatory_ciphers'].map((name) => ({ name, value: 'medium' }));
      selectCiphers(p.withOverrides(grades, 'check'), mandatory, []);
    }
  });
  await group(problems, () => loadPolicy(p, w));
  // Client certificates: CAfile, CApath, depth... (client-auth.ts)
  await group(problems, () => clientAuthConfig(p, w));
  if (provider) {
    const certs = await examineServerCertificates(p, provider);
    certs.problems.forEach((m) => problems.add(m));
    certs.warnings.forEach((m) => warnings.add(m));
    const findings: Findings = { problems: [], warnings: [] };
    await group(problems, () => examineSniMaps(p, provider!, findings));
    findings.problems.forEach((m) => problems.add(m));
    findings.warnings.forEach((m) => warnings.add(m));
    await group(problems, () => selectGroups(p, provider!, w));
    const store = new ResumptionStore();
    try {
      await group(problems, () => resumptionSettings(p, provider!, store, w));
    } finally {
      store.close();
    }
  }
  await group(problems, () => loadDhParams(p));
  await group(problems, () => {
    const backend = p.get('tlsproxy_backend');
    if (!backend.trim()) {
      throw new ConfigError(`${service.where}: service ${service.name}: tlsproxy_backend is not set (use -o tlsproxy_backend=inet:HOST:PORT or unix:PATH)`);
    }
    parseBackend(backend);
  });
  w.forEach((m) => warnings.add(m));

  // Last: the daemon's own start-up path for this service, for anything the groups above do not cover.
  const store = new ResumptionStore();
  try {
    // Its warnings arrive as log records (logWarnings), whatever the shape of what it returns.
    const sink = (r: LogRecord) => {
      if (r.severity === 'warning') warnings.add(r.text);
    };
    await loadServices({ ...configuration, services: [service], warnings: [] }, { sink, resumption: store, logWarnings: true, logInit: false });
  } catch (e) {
    const m = messageOf(e);
    // The same problem may read slightly differently there: report it only when it is new.
    if (!problems.items.some((x) => x === m || m.startsWith(x) || x.startsWith(m))) problems.add(m);
  } finally {
    store.close();
  }
  return { problems, warnings };
}

export async function checkConfiguration(configDir: string, overrides: readonly Override[] = []): Promise<CheckReport> {
  const dir = path.resolve(configDir);
  const problems = new Collector();
  const warnings = new Collector();
  const main = tolerantMainCf(dir, problems, warnings);
  if (!main) return { problems: problems.items, warnings: warnings.items, services: [] };
  const params = main.withOverrides(overrides, 'command line -o');
  await group(problems, () => checkMaillogFile(params));
  await group(problems, () => {
    const listen = params.get('tlsproxy_metrics_listen').trim();
    if (listen && !parseListen(listen)) problems.add(`tlsproxy_metrics_listen = ${listen}: expected host:port, [ipv6]:port or a port`);
  });
  // Started as root: tlsproxy_user (or tlsproxy_allow_root), as start decides it (privileges.ts).
  await group(problems, () => {
    const plan = privilegePlan(params);
    if (plan.warning) warnings.add(plan.warning);
  });

  let configuration: Configuration | undefined;
  await group(problems, () => {
    let limit = 100;
    try {
      limit = params.getInt('default_process_limit');
    } catch {
      // reported with the service checks
    }
    const master = loadMasterCf(dir, { defaultProcessLimit: limit });
    configuration = buildConfiguration(dir, main, master, overrides);
    configuration.warnings.forEach((m) => warnings.add(m));
  });
  if (!configuration) {
    // Still check the main.cf values that every service would inherit.
    serviceParameterProblems(params).forEach((m) => problems.add(m));
    return { problems: problems.items, warnings: warnings.items, services: [] };
  }

  const results: { s: ServiceDefinition; r: { problems: Collector; warnings: Collector } }[] = [];
  for (const s of configuration.services) results.push({ s, r: await checkService(s, configuration) });
  const everywhere = (m: string, kind: 'problems' | 'warnings') => results.every((x) => x.r[kind].items.includes(m));
  for (const { s, r } of results) {
    for (const m of r.problems.items) problems.add(results.length > 1 && !everywhere(m, 'problems') ? `service ${s.name}: ${m}` : m);
    for (const m of r.warnings.items) warnings.add(results.length > 1 && !everywhere(m, 'warnings') ? `service ${s.name}: ${m}` : m);
  }
  return { problems: problems.items, warnings: warnings.items, services: configuration.services.map((s) => s.name) };
}
