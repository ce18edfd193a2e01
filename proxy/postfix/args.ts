/**
 * The command line master(8) gives a daemon (postfix-master-dropin.md §1.2):
 *
 *   <command> [-l | -z] [-n <service>] -t <transport> [-d] [-v] [-u] [-c] [-o stress=...] [-s <n>] <master.cf args...>
 *
 * plus what the event-server skeleton accepts from master.cf: -o name=value,
 * -i max_idle, -m max_use, -r retirement, -D, -S, -V. getopt(3) style:
 * flags may be bundled (`-zu`), an option's value may be attached (`-ttunix`).
 *
 * This module is loaded by the CLI to recognise such an invocation, so it
 * imports nothing heavy.
 */

export interface MasterArgs {
  /** -n, else the basename of the command (`tlsproxy`). */
  readonly serviceName: string;
  readonly serviceNameGiven: boolean;
  /** -t: unix, inet, pass, fifo, unix-dgram. */
  readonly transport: string | undefined;
  /** -z: process limit 0 (tlsproxy requires it). */
  readonly zeroLimit: boolean;
  /** -l: process limit 1. */
  readonly solitary: boolean;
  /** -u: drop privileges to mail_owner. */
  readonly unprivileged: boolean;
  /** -c: chroot to queue_directory. */
  readonly chroot: boolean;
  /** -d: master runs in the foreground (nothing to do for us). */
  readonly foreground: boolean;
  /** -v count. */
  readonly verbose: number;
  /** -V: also log to stderr. */
  readonly stderrLog: boolean;
  /** -D: run debugger_command (not supported: warned about). */
  readonly debugger: boolean;
  /** -S: stand-alone mode (one session on stdin): refused. */
  readonly standalone: boolean;
  /** -s: number of listen sockets (default 1). */
  readonly socketCount: number;
  readonly maxIdle: number | undefined;
  readonly maxUse: number | undefined;
  readonly retire: number | undefined;
  /** -o name=value, in order. */
  readonly overrides: readonly { readonly name: string; readonly value: string }[];
  /** Non-option arguments (tlsproxy accepts none). */
  readonly extra: readonly string[];
}

export class MasterArgsError extends Error {
  override readonly name = 'MasterArgsError';
}

const WITH_VALUE = new Set(['i', 'm', 'n', 'o', 'r', 's', 't']);
const FLAGS = new Set(['c', 'd', 'D', 'l', 'S', 'u', 'v', 'V', 'z']);

function positive(option: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new MasterArgsError(`invalid -${option} argument: ${value}`);
  return Number(value);
}

/** Parse master's argv (without argv[0]); `command` is argv[0] as master passed it, for the default service name. */
export function parseMasterArgs(argv: readonly string[], command = 'tlsproxy'): MasterArgs {
  let serviceName: string | undefined;
  let transport: string | undefined;
  let zeroLimit = false;
  let solitary = false;
  let unprivileged = false;
  let chroot = false;
  let foreground = false;
  let verbose = 0;
  let stderrLog = false;
  let debuggerFlag = false;
  let standalone = false;
  let socketCount = 1;
  let maxIdle: number | undefined;
  let maxUse: number | undefined;
  let retire: number | undefined;
  const overrides: { name: string; value: string }[] = [];
  const extra: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const o = a[j]!;
      if (WITH_VALUE.has(o)) {
        let value: string;
        if (j + 1 < a.length) value = a.slice(j + 1);
        else {
          const next = argv[++i];
          if (next === undefined) throw new MasterArgsError(`option requires an argument -- '${o}'`);
          value = next;
        }
        switch (o) {
          case 'i':
            maxIdle = positive(o, value);
            break;
          case 'm':
            maxUse = positive(o, value);
            break;
          case 'r':
            retire = positive(o, value);
            break;
          case 's':
            socketCount = positive(o, value);
            break;
          case 'n':
            serviceName = value;
            break;
          case 't':
            transport = value;
            break;
          case 'o': {
            const eq = value.indexOf('=');
            const name = (eq < 0 ? value : value.slice(0, eq)).trim();
            if (eq < 0 || !name || /\s/.test(name)) throw new MasterArgsError(`bad -o argument: ${value} (expected name=value)`);
            overrides.push({ name, value: value.slice(eq + 1).trim() });
            break;
          }
        }
        break;
      }
      if (!FLAGS.has(o)) throw new MasterArgsError(`invalid option -- '${o}'`);
      switch (o) {
        case 'c':
          chroot = true;
          break;
        case 'd':
          foreground = true;
          break;
        case 'D':
          debuggerFlag = true;
          break;
        case 'l':
          solitary = true;
          break;
        case 'S':
          standalone = true;
          break;
        case 'u':
          unprivileged = true;
          break;
        case 'v':
          verbose++;
          break;
        case 'V':
          stderrLog = true;
          break;
        case 'z':
          zeroLimit = true;
          break;
      }
    }
  }
  for (; i < argv.length; i++) extra.push(argv[i]!);
  const base = command.split('/').pop() || 'tlsproxy';
  return {
    serviceName: serviceName ?? base,
    serviceNameGiven: serviceName !== undefined,
    transport,
    zeroLimit,
    solitary,
    unprivileged,
    chroot,
    foreground,
    verbose,
    stderrLog,
    debugger: debuggerFlag,
    standalone,
    socketCount,
    maxIdle,
    maxUse,
    retire,
    overrides,
    extra,
  };
}

/**
 * True when the arguments are master(8)'s rather than a subcommand of ours:
 * they start with an option (never true of `tlsproxy start|certs|...`,
 * apart from --help), and master's `-t` transport or its GENERATION
 * environment variable is there.
 */
export function isMasterInvocation(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  const first = argv[0];
  if (first === undefined || !first.startsWith('-') || first.startsWith('--') || first === '-h') return false;
  return env.GENERATION !== undefined || argv.some((a) => a === '-t' || /^-[a-zA-Z]*t/.test(a));
}
