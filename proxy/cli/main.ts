/**
 * The command line:
 *
 *   tlsproxy start [-c CONFIG_DIR] [-o name=value]...   run in the foreground
 *   tlsproxy certs DIR                                  write a test CA and server certificates
 *   tlsproxy config [-c DIR] [-n | -d] [-x] [-h] [-P] [-o name=value]... [name...]
 *                                                       print parameters like postconf(1)
 *   tlsproxy check [-c DIR] [-o name=value]...          validate everything start would load
 *   tlsproxy reload [-c DIR] [-o name=value]...         the running daemon re-reads its configuration
 *   tlsproxy stop [-c DIR] [-o name=value]...           the running daemon drains and stops
 *   tlsproxy status [-c DIR] [-o name=value]...         whether it runs, pid, uptime, generation, workers
 *   tlsproxy ticket-keys [-c DIR] [-o name=value]... [-s SECONDS] create|rotate|list [FILE]
 *                                                       make or rotate a ticket key file for a fleet
 *   tlsproxy --help
 *
 * Exit status: 0 after a clean stop (SIGINT/SIGTERM), 1 for a configuration
 * or start-up error (logged as one `fatal:` line), 2 for bad usage.
 */

import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinConfiguration, builtinListen, hasTestPki, stateDirectory, BUILTIN_FILES } from '../config/builtin.js';
import { ConfigError } from '../config/errors.js';
import { ParameterSet, parseOverride, readMainCf, type Override } from '../config/main-cf.js';
import { loadMasterCf } from '../config/master-cf.js';
import { postconf, postconfServices, type PostconfMode } from '../config/postconf.js';
import { checkConfiguration } from './check.js';
import { ticketKeysCommand, type TicketKeysAction } from './ticket-keys.js';
import { loadConfiguration, type Configuration } from '../config/configuration.js';
import { loggerFor } from '../supervisor/daemon.js';
import { startDemoBackend, type DemoBackend } from './demo-backend.js';
import { hostPort } from '../base/endpoint.js';
import type { ConfigSource } from '../supervisor/ipc.js';
import { isMasterInvocation } from '../postfix/args.js';
import { Logger, stderrSink, type LogSink } from '../log/log.js';
import { openLogTarget, type LogTarget } from '../log/target.js';
import { reloadCommand, runDaemon, stopCommand } from '../supervisor/run.js';
import { statusCommand } from '../supervisor/status.js';

// For bin/tlsproxy.js, which calls it once this bundle's top level has run.
export { deferTurbofanUntilServing } from '../base/v8-tiering.js';

export const USAGE = `Usage:
  tlsproxy start [-c CONFIG_DIR] [-o name=value]...
      Run the TLS proxy in the foreground until SIGINT or SIGTERM.
      With -c: read CONFIG_DIR/main.cf and CONFIG_DIR/master.cf (Postfix
      syntax) and serve every master.cf inet service whose command is
      tlsproxy, relaying to its -o tlsproxy_backend=inet:HOST:PORT|unix:PATH.
      Without -c: built-in defaults: test certificates in ./state (or
      $TLSPROXY_STATE_DIR, created on first start), implicit TLS on
      127.0.0.1:10465 (or $TLSPROXY_LISTEN), relaying to a demo echo backend.
      -o name=value overrides a parameter (after main.cf and master.cf).
  tlsproxy certs DIR
      Write a test CA and server certificates (ECDSA P-256/P-384, RSA-2048,
      Ed25519) into DIR and list the files.
  tlsproxy config [-c CONFIG_DIR] [-n | -d] [-x] [-h] [-P] [-o name=value]... [name...]
      Print parameters as postconf(1) does: "name = value", the main.cf
      value or the default (-n: only those set in main.cf or with -o;
      -d: the defaults), unexpanded unless -x; -h: values only; -P: the
      master.cf -o settings as service/type/name = value. CONFIG_DIR
      defaults to $MAIL_CONFIG.
  tlsproxy check [-c CONFIG_DIR] [-o name=value]...
      Load and check everything start would (main.cf, master.cf, every
      parameter, certificates and keys, chain files, SNI maps, DH and
      ticket key files...) without listening; print one line per problem
      and exit 1 if there is any, 0 otherwise.
  tlsproxy reload [-c CONFIG_DIR] [-o name=value]...
      Tell the daemon started with the same CONFIG_DIR (found through the
      pid file in tlsproxy_pid_directory) to re-read its configuration:
      valid and changed, new sessions get it while sessions in progress
      finish undisturbed; invalid, it is refused with the reason (printed
      here, exit 1) and the running configuration stays. Same as SIGHUP.
  tlsproxy stop [-c CONFIG_DIR] [-o name=value]...
      Tell that daemon to stop accepting, let sessions finish for up to
      tlsproxy_drain_timeout, and exit; waits until it is gone. Same as
      SIGTERM.
  tlsproxy status [-c CONFIG_DIR] [-o name=value]...
      Whether the daemon of CONFIG_DIR runs; if it does, its pid, uptime,
      configuration generation, listening addresses, and each worker
      process with its state and sessions (exit 0), else exit 1.
  tlsproxy ticket-keys [-c CONFIG_DIR] [-o name=value]... [-s SECONDS] create|rotate|list [FILE]
      Manage a session ticket key file shared by a fleet (FILE defaults to
      tlsproxy_tls_session_ticket_key_file; the key lifetime L is
      smtpd_tls_session_cache_timeout). create: a new file (mode 0600)
      with one key. rotate: add a key STAGED for SECONDS (default
      min(300, L/4)): daemons open tickets with it at once and seal with
      it only from then on; keys older than L are removed; the file is
      replaced atomically. Run it at least every L/2 and copy the file to
      every host within SECONDS. list: each key's state, no key material.
  tlsproxy --help
      Show this text.
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'start'; readonly configDir?: string; readonly overrides: Override[] }
  | { readonly kind: 'certs'; readonly dir: string }
  | ConfigCommand
  | { readonly kind: 'check'; readonly configDir?: string; readonly overrides: Override[] }
  | { readonly kind: 'reload' | 'stop' | 'status'; readonly configDir?: string; readonly overrides: Override[] }
  | { readonly kind: 'ticket-keys'; readonly configDir?: string; readonly overrides: Override[]; readonly action: TicketKeysAction; readonly file?: string; readonly stage?: number };

export interface ConfigCommand {
  readonly kind: 'config';
  readonly configDir?: string;
  readonly overrides: Override[];
  readonly mode: PostconfMode;
  readonly expand: boolean;
  readonly valueOnly: boolean;
  readonly services: boolean;
  readonly names: string[];
}

/**
 * getopt-style options: `-c DIR`/`-cDIR`, `-o name=value`/`-oname=value`,
 * and the single-letter flags in `flags`, combinable (`-nx`). Arguments
 * after the options (or after `--`) are returned as operands.
 */
function getopt(args: readonly string[], flags: string): { configDir?: string; overrides: Override[]; set: Set<string>; operands: string[] } {
  let configDir: string | undefined;
  const overrides: Override[] = [];
  const set = new Set<string>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const letter = a[j]!;
      if (letter === 'c' || letter === 'o') {
        let v = a.slice(j + 1);
        if (!v) {
          const next = args[++i];
          if (next === undefined) throw new UsageError(`option -${letter} needs a value`);
          v = next;
        }
        if (letter === 'c') {
          if (configDir !== undefined) throw new UsageError('-c given twice');
          configDir = v;
        } else {
          overrides.push(parseOption(v));
        }
        break;
      }
      if (!flags.includes(letter)) throw new UsageError(`unknown option -${letter}`);
      set.add(letter);
    }
  }
  return { configDir, overrides, set, operands: args.slice(i) };
}

export function parseCommandLine(argv: readonly string[]): Command {
  if (!argv.length) throw new UsageError('missing command');
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') return { kind: 'help' };
  if (rest.includes('--help') || (command !== 'config' && rest.includes('-h'))) return { kind: 'help' };
  switch (command) {
    case 'start': {
      let configDir: string | undefined;
      const overrides: Override[] = [];
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i]!;
        const value = (option: string): string => {
          const v = rest[++i];
          if (v === undefined) throw new UsageError(`option ${option} needs a value`);
          return v;
        };
        if (a === '-c') {
          if (configDir !== undefined) throw new UsageError('-c given twice');
          configDir = value('-c');
        } else if (a.startsWith('-c') && a.length > 2) {
          if (configDir !== undefined) throw new UsageError('-c given twice');
          configDir = a.slice(2);
        } else if (a === '-o') {
          overrides.push(parseOption(value('-o')));
        } else if (a.startsWith('-o') && a.length > 2) {
          overrides.push(parseOption(a.slice(2)));
        } else if (a.startsWith('-')) {
          throw new UsageError(`unknown option ${a}`);
        } else {
          throw new UsageError(`unexpected argument "${a}"`);
        }
      }
      return { kind: 'start', configDir, overrides };
    }
    case 'certs':
      if (rest.length !== 1 || rest[0]!.startsWith('-')) throw new UsageError('certs needs exactly one argument: the directory');
      return { kind: 'certs', dir: rest[0]! };
    case 'config': {
      const o = getopt(rest, 'ndxhP');
      if (o.set.has('n') && o.set.has('d')) throw new UsageError('specify one of -n or -d');
      if (o.set.has('P') && (o.set.has('n') || o.set.has('d'))) throw new UsageError('-P cannot be combined with -n or -d');
      const mode: PostconfMode = o.set.has('n') ? 'nondefault' : o.set.has('d') ? 'defaults' : 'all';
      return { kind: 'config', configDir: o.configDir, overrides: o.overrides, mode, expand: o.set.has('x'), valueOnly: o.set.has('h'), services: o.set.has('P'), names: o.operands };
    }
    case 'reload':
    case 'stop':
    case 'status': {
      const o = getopt(rest, '');
      if (o.operands.length) throw new UsageError(`unexpected argument "${o.operands[0]}"`);
      return { kind: command, configDir: o.configDir, overrides: o.overrides };
    }
    case 'ticket-keys': {
      let stage: number | undefined;
      const args = [...rest];
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        if (a === '--') break;
        if (a === '-s' || (a.startsWith('-s') && a.length > 2)) {
          const v = a === '-s' ? args[i + 1] : a.slice(2);
          if (v === undefined || !/^\d{1,9}$/.test(v)) throw new UsageError('option -s needs a number of seconds');
          stage = Number(v);
          args.splice(i, a === '-s' ? 2 : 1);
          i--;
        }
      }
      const o = getopt(args, '');
      const [action, file, ...more] = o.operands;
      if (action !== 'create' && action !== 'rotate' && action !== 'list') throw new UsageError('ticket-keys needs an action: create, rotate or list');
      if (more.length) throw new UsageError(`unexpected argument "${more[0]}"`);
      return { kind: 'ticket-keys', configDir: o.configDir, overrides: o.overrides, action, file, stage };
    }
    case 'check': {
      const o = getopt(rest, '');
      if (o.operands.length) throw new UsageError(`unexpected argument "${o.operands[0]}"`);
      return { kind: 'check', configDir: o.configDir, overrides: o.overrides };
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function parseOption(text: string): Override {
  try {
    return parseOverride(text, '-o');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export interface MainOptions {
  env?: NodeJS.ProcessEnv;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  sink?: LogSink;
  /** Resolves when the daemon should stop (default: the first SIGINT or SIGTERM). */
  stopSignal?: () => Promise<string>;
}

export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const stdout = options.stdout ?? ((t) => process.stdout.write(t));
  const stderr = options.stderr ?? ((t) => process.stderr.write(t));
  // master(8) execs us with its own arguments: the Postfix service mode (proxy/postfix/).
  if (isMasterInvocation(argv, options.env ?? process.env)) {
    const { runUnderMaster } = await import('../postfix/launcher.js');
    return runUnderMaster(argv, options.env ?? process.env);
  }
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (e) {
    stderr(`tlsproxy: ${(e as Error).message} (see tlsproxy --help)\n`);
    return 2;
  }
  switch (command.kind) {
    case 'help':
      stdout(USAGE);
      return 0;
    case 'certs':
      try {
        // certs.ts brings pkijs (certificate generation): loaded only for this (start-up time, issue 9).
        const { writeTestPki } = await import('./certs.js');
        const files = await writeTestPki(command.dir);
        for (const f of files) stdout(`${f}\n`);
        return 0;
      } catch (e) {
        stderr(`tlsproxy: certs: ${(e as Error)?.message ?? e}\n`);
        return 1;
      }
    case 'start':
      return start(command.configDir, command.overrides, options);
    case 'config':
      return configCommand(command, options.env ?? process.env, stdout, stderr);
    case 'check':
      return checkCommand(command.configDir, command.overrides, options.env ?? process.env, stdout, stderr);
    case 'ticket-keys': {
      const env = options.env ?? process.env;
      const dir = configDirectory(command.configDir, env);
      let params: ParameterSet;
      try {
        params = dir !== undefined ? configParameters(dir, command.overrides) : ParameterSet.defaults().withOverrides(command.overrides, 'command line -o');
      } catch (e) {
        stderr(`tlsproxy: ticket-keys: ${(e as Error)?.message ?? e}\n`);
        return 1;
      }
      return ticketKeysCommand(command.action, command.file, command.stage, params, stdout, stderr);
    }
    case 'reload':
    case 'stop':
    case 'status':
      return controlCommand(command.kind, command.configDir, command.overrides, options.env ?? process.env, stdout, stderr);
  }
}

/** `tlsproxy reload` / `tlsproxy stop`: the daemon of -c DIR (or of the built-in mode's state directory), through its pid file. */
async function controlCommand(kind: 'reload' | 'stop' | 'status', configDir: string | undefined, overrides: Override[], env: NodeJS.ProcessEnv, stdout: (t: string) => void, stderr: (t: string) => void): Promise<number> {
  let params: ParameterSet;
  try {
    params =
      configDir !== undefined
        ? configParameters(path.resolve(configDir), overrides)
        : ParameterSet.defaults({ config_directory: stateDirectory(env) }).withOverrides(overrides, 'command line -o');
  } catch (e) {
    if (configDir === undefined) {
      stderr(`tlsproxy: ${kind}: ${(e as Error)?.message ?? e}\n`);
      return 1;
    }
    // A main.cf the daemon will refuse must not keep us from asking it (it says why): find
    // the pid directory anyway, from a plain tlsproxy_pid_directory line or the default.
    const dir = path.resolve(configDir);
    let pidDir: string | undefined;
    try {
      pidDir = /^tlsproxy_pid_directory\s*=\s*([^$\s]+)\s*$/m.exec(readFileSync(path.join(dir, 'main.cf'), 'utf8'))?.[1];
    } catch {
      // the default then
    }
    params = ParameterSet.defaults({ config_directory: dir })
      .withOverrides(pidDir ? [{ name: 'tlsproxy_pid_directory', value: pidDir }] : [], 'main.cf')
      .withOverrides(overrides, 'command line -o');
  }
  return (kind === 'reload' ? reloadCommand : kind === 'stop' ? stopCommand : statusCommand)(params, { stdout, stderr });
}

/** -c DIR, else $MAIL_CONFIG (as Postfix commands do). */
function configDirectory(configDir: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const dir = configDir ?? env.MAIL_CONFIG;
  return dir ? path.resolve(dir) : undefined;
}

/**
 * main.cf as postconf -c DIR sees it: config_directory is set (so -n
 * shows it, as postconf does), then main.cf, then -o.
 */
function configParameters(dir: string, overrides: readonly Override[]): ParameterSet {
  const { layer, warnings } = readMainCf(dir);
  return ParameterSet.defaults()
    .withLayer({ label: 'command line -c', values: new Map([['config_directory', { value: dir, origin: 'command line -c' }]]) })
    .withLayer(layer, warnings)
    .withOverrides(overrides, 'command line -o');
}

function configCommand(command: ConfigCommand, env: NodeJS.ProcessEnv, stdout: (t: string) => void, stderr: (t: string) => void): number {
  const dir = configDirectory(command.configDir, env);
  try {
    let params: ParameterSet;
    let mainCf: string | undefined;
    if (dir === undefined) {
      if (command.mode !== 'defaults') throw new ConfigError('no configuration directory: use -c CONFIG_DIR (or set MAIL_CONFIG), or -d for the defaults');
      params = ParameterSet.defaults();
    } else {
      mainCf = path.join(dir, 'main.cf');
      params = command.mode === 'defaults' ? ParameterSet.defaults() : configParameters(dir, command.overrides);
    }
    if (command.services) {
      if (dir === undefined) throw new ConfigError('no configuration directory: use -c CONFIG_DIR (or set MAIL_CONFIG)');
      const master = loadMasterCf(dir, { defaultProcessLimit: 100 });
      for (const l of postconfServices(master.entries, command.names, command.valueOnly)) stdout(`${l}\n`);
      return 0;
    }
    const out = postconf(params, { mode: command.mode, expand: command.expand, valueOnly: command.valueOnly, names: command.names, mainCf });
    if (dir !== undefined && command.mode !== 'defaults' && !existsSync(path.join(dir, 'master.cf'))) {
      out.stderr.unshift(`postconf: warning: open ${path.join(dir, 'master.cf')}: No such file or directory`);
    }
    for (const l of out.stdout) stdout(`${l}\n`);
    for (const l of out.stderr) stderr(`${l}\n`);
    return 0;
  } catch (e) {
    stderr(`postconf: fatal: ${(e as Error)?.message ?? e}\n`);
    return 1;
  }
}

async function checkCommand(configDir: string | undefined, overrides: Override[], env: NodeJS.ProcessEnv, stdout: (t: string) => void, stderr: (t: string) => void): Promise<number> {
  const dir = configDirectory(configDir, env);
  if (dir === undefined) {
    stderr('tlsproxy: error: no configuration directory: use -c CONFIG_DIR (or set MAIL_CONFIG)\n');
    return 1;
  }
  const report = await checkConfiguration(dir, overrides);
  for (const w of report.warnings) stderr(`tlsproxy: warning: ${w}\n`);
  for (const p of report.problems) stderr(`tlsproxy: error: ${p}\n`);
  if (report.problems.length) return 1;
  stdout(`${dir}: ${report.services.length} tlsproxy service${report.services.length === 1 ? '' : 's'} checked, no problems\n`);
  return 0;
}

async function start(configDir: string | undefined, overrides: Override[], options: MainOptions): Promise<number> {
  const env = options.env ?? process.env;
  let sink = options.sink ?? stderrSink;
  let logger = new Logger({ sink });
  // maillog_file or syslog when configured (log-target.ts); tests pass their own sink.
  let target: LogTarget | undefined;
  let demo: DemoBackend | undefined;
  let configuration: Configuration;
  let source: ConfigSource;
  try {
    if (configDir !== undefined) {
      source = { kind: 'dir', dir: path.resolve(configDir), overrides };
      configuration = loadConfiguration(source.dir, overrides);
    } else {
      const stateDir = stateDirectory(env);
      const listen = builtinListen(env);
      if (!(await hasTestPki(stateDir))) {
        const { writeTestPki } = await import('./certs.js');
        await writeTestPki(stateDir);
        logger.info(`created a test CA and server certificates in ${stateDir}`);
      }
      let backend = overrides.filter((o) => o.name === 'tlsproxy_backend').pop()?.value;
      if (!backend) {
        demo = await startDemoBackend({ logger: new Logger({ processName: 'demo-backend', sink }) });
        backend = demo.address;
        logger.info(`demo backend started on ${demo.address.slice('inet:'.length)}`);
      }
      const builtin = { stateDir, backend, listen, cli: overrides };
      source = { kind: 'builtin', options: builtin };
      configuration = builtinConfiguration(builtin);
    }
    if (!options.sink) {
      target = openLogTarget(configuration.params);
      sink = target.sink;
    }
    logger = loggerFor(configuration.params, sink);
  } catch (e) {
    const message = e instanceof ConfigError ? e.message : ((e as Error)?.message ?? String(e));
    logger.fatal(message);
    // With a log file or syslog the terminal still learns why start-up failed.
    if (target && target.description !== 'stderr') new Logger({ syslogName: logger.syslogName, hostname: logger.hostname, sink: stderrSink }).fatal(message);
    target?.close();
    await demo?.close();
    return 1;
  }
  // The rest (pid file, privileges, worker processes or one process, SIGHUP reload, SIGTERM drain): supervisor-run.ts.
  const ca = path.join(stateDirectory(env), BUILTIN_FILES.ca);
  return runDaemon(configuration, source, {
    sink,
    stopSignal: options.stopSignal,
    onListening:
      configDir === undefined
        ? (listening) => {
            const l = listening[0];
            if (l) logger.info(`try: openssl s_client -connect ${hostPort(l.address, l.port)} -CAfile ${ca} -quiet`);
          }
        : undefined,
    // SIGHUP also reopens maillog_file.
    onSighup: () => {
      if (target && target.description.startsWith('maillog_file')) {
        target.reopen();
        logger.info(`reload on signal SIGHUP: reopened ${target.description}`);
      }
    },
    onFatal: (message) => {
      if (target && target.description !== 'stderr') new Logger({ syslogName: logger.syslogName, hostname: logger.hostname, sink: stderrSink }).fatal(message);
    },
    cleanup: async () => {
      await demo?.close();
      target?.close();
    },
  });
}

/** True when this file is the program node was started with (npm start). */
function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`tlsproxy: ${(e as Error)?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
