/**
 * What the daemon runs: the tlsproxy services of a configuration directory
 * (main.cf + master.cf), each with its own parameter set:
 *
 *   built-in defaults < main.cf < service_name < master.cf -o < command-line -o
 *
 * Command-line overrides come last so that `tlsproxy start -o name=value`
 * wins over everything, also over a service's own -o.
 */

import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { ParameterSet, loadMainCf, type Override } from './main-cf.js';
import { isFrontEndCommand, type FrontEndKind } from './front-end-kinds.js';
import { loadMasterCf, type InetEndpoint, type MasterCf } from './master-cf.js';
import { serviceParameterProblems } from './validate.js';

export interface ServiceDefinition {
  /** The master.cf service name (`127.0.0.1:10465`). */
  readonly name: string;
  /** The master.cf command: `tlsproxy` (implicit TLS, the default) or `postscreen` (SMTP STARTTLS), see front-ends.ts. */
  readonly command?: FrontEndKind;
  readonly listen: InetEndpoint;
  /** Fully layered parameters for this service. */
  readonly params: ParameterSet;
  /** `-v` in master.cf: verbose logging. */
  readonly verbose: boolean;
  /** `master.cf, line N` (or `built-in`), for messages. */
  readonly where: string;
  /** Worker processes serving it (1 = may be served in the main process); see workerProcesses(). */
  readonly processes: number;
}

export interface Configuration {
  /** main.cf + command-line overrides (no service layer): syslog_name for daemon-wide lines. */
  readonly params: ParameterSet;
  readonly services: readonly ServiceDefinition[];
  /** What to say at start-up (`configuration /etc/tlsproxy`). */
  readonly description: string;
  /** Non-fatal problems found in the files. */
  readonly warnings: readonly string[];
}

/** The service's parameters: base + service_name + its -o + the command line's -o. */
export function serviceParameters(base: ParameterSet, name: string, overrides: readonly Override[], where: string, cli: readonly Override[]): ParameterSet {
  return base
    .withOverrides([{ name: 'service_name', value: name }], 'service name')
    .withOverrides(overrides, `${where}: -o`)
    .withOverrides(cli, 'command line -o');
}

/** Largest number of worker processes for one service. */
export const MAX_WORKER_PROCESSES = 1024;

/**
 * How many worker processes serve a service:
 *
 *  - tlsproxy_worker_processes, when set, is the number (1..1024);
 *  - else the master.cf maxproc column: `-` means default_process_limit
 *    (100 in Postfix) capped at the number of CPUs, but at least 2; `0`
 *    (Postfix: no limit; upstream's tlsproxy line uses it) means the
 *    number of CPUs, at least 2; any other number is taken as it is.
 *
 * Postfix's master starts processes on demand up to maxproc; we start
 * them all at once (each serves many sessions), hence the cap.
 * `maxproc` undefined = the column was `-`.
 */
export function workerProcesses(params: ParameterSet, maxproc: number | undefined, cpus = availableParallelism()): number {
  const name = 'tlsproxy_worker_processes';
  const forced = params.get(name).trim();
  const auto = Math.max(2, cpus);
  let n: number;
  if (forced) {
    if (!/^\d+$/.test(forced)) throw new ConfigError(`bad numerical configuration: ${name} = ${forced}`);
    n = Number(forced);
    if (n < 1) throw new ConfigError(`invalid ${name} parameter value ${n} < 1`);
  } else if (maxproc === undefined) {
    n = Math.min(params.getInt('default_process_limit'), auto);
  } else {
    n = maxproc === 0 ? auto : maxproc;
  }
  if (n > MAX_WORKER_PROCESSES) throw new ConfigError(`${forced ? name : 'master.cf maxproc'}: ${n} worker processes is more than ${MAX_WORKER_PROCESSES}`);
  return n;
}

/** Load CONFIG_DIR/main.cf and CONFIG_DIR/master.cf. */
export function loadConfiguration(configDir: string, cli: readonly Override[] = []): Configuration {
  const dir = path.resolve(configDir);
  const main = loadMainCf(dir);
  const params = main.withOverrides(cli, 'command line -o');
  const master = loadMasterCf(dir, { defaultProcessLimit: params.getInt('default_process_limit') });
  const configuration = buildConfiguration(dir, main, master, cli);
  // Parameter values every service needs right, checked before anything is loaded (validate.ts).
  for (const s of configuration.services) {
    const problems = serviceParameterProblems(s.params);
    if (problems.length) throw new ConfigError(problems[0]!);
  }
  return configuration;
}

/**
 * The tlsproxy services of master.cf with their parameters (main.cf,
 * service name, the service's -o, the command line's -o). Throws
 * ConfigError for a master.cf problem (unsupported service type aside,
 * which is a warning).
 */
export function buildConfiguration(dir: string, main: ParameterSet, master: MasterCf, cli: readonly Override[] = []): Configuration {
  const params = main.withOverrides(cli, 'command line -o');
  const warnings = [...main.warnings, ...master.warnings];
  const services: ServiceDefinition[] = [];
  for (const entry of master.entries) {
    const command = path.basename(entry.command);
    if (!isFrontEndCommand(command)) continue;
    const where = `${master.file}, line ${entry.line}`;
    if (entry.type !== 'inet' || !entry.listen) {
      warnings.push(`${where}: service ${entry.service}: only inet ${command} services are supported; ignoring this ${entry.type} service`);
      continue;
    }
    let verbose = false;
    for (let i = 0; i < entry.args.length; i++) {
      const a = entry.args[i]!;
      if (a === '-o') i++;
      else if (a.startsWith('-o')) continue;
      else if (a === '-v') verbose = true;
      else if (a.startsWith('-')) throw new ConfigError(`${where}: service ${entry.service}: invalid option: ${a}`);
      else throw new ConfigError(`${where}: service ${entry.service}: unexpected command-line argument: ${a}`);
    }
    const params = serviceParameters(main, entry.service, entry.overrides, where, cli);
    services.push({
      name: entry.service,
      command,
      listen: entry.listen,
      params,
      verbose,
      where,
      processes: workerProcesses(params, entry.maxprocDefault ? undefined : entry.maxproc),
    });
  }
  if (!services.length) throw new ConfigError(`${master.file}: no inet service runs the tlsproxy command`);
  return { params, services, description: `configuration ${dir}`, warnings };
}
