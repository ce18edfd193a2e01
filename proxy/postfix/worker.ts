/**
 * The serving process W of the Postfix service mode (launcher.ts starts it
 * with master's fds 5 and 6 and an IPC channel to its parent P, the process
 * master spawned). In order (postfix-master-dropin.md §1.9):
 *
 *   1. master's argv; fds 5 and 6 close-on-exec (nothing we spawn gets them)
 *   2. main.cf ($MAIL_CONFIG) + -o; logging (postlogd or syslog) connected
 *   3. checks: no arguments, -z (process limit 0), fds 5/6 are master's
 *   4. the Postfix version (the protocol); tlsmgr(8) asked for its session
 *      cache policy (tlsmgr-resumption.ts); the server role: certificates
 *      and keys read now, as root
 *   5. -c: chroot to queue_directory; -u: setgid/setgroups/setuid to
 *      mail_owner (P follows suit)
 *   6. the event-server loop (server.ts) with status messages carrying P's pid
 *
 * A fatal error is logged as `fatal: ...` and ends the process with status 1
 * (master then throttles the service, as for the stock daemon).
 */

import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { Logger, stderrSink, type LogSink } from '../log/log.js';
import { ResumptionStore, sessionLifetime } from '../tls/resumption.js';
import { KEYLOG_PARAMETER, keyLogFor, keyLogWarning } from '../tls/keylog.js';
import { TlsService } from '../tls/service.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { FetchingRing } from '../tls/fetching-keys.js';
import { TLS_MGR_STAT_OK, TlsmgrClient } from './tlsmgr.js';
import { SMTPD_CACHE, TlsmgrKeySource, TlsmgrSessionCache } from './tlsmgr-resumption.js';
import { MasterArgsError, parseMasterArgs, type MasterArgs } from './args.js';
import { DatagramLog, DEV_LOG, postlogSink, syslogFacility, syslogSink, teeSink } from '../log/sinks.js';
import { LISTEN_FD, MasterStatus, parseGeneration, STATUS_FD } from './master-status.js';
import { requireNative, type NativeAddon } from '../base/native.js';
import { armTieringForServing, tuneTieringOnFirstSession } from '../base/v8-tiering.js';
import { ENV_COMMAND, ENV_PARENT_PID, type WorkerMessage } from './process.js';
import { RequesterSession } from './requester.js';
import { EventServer, retirementSeconds } from './server.js';
import { checkMaillogFile, loadPostfixParameters, loadServerRole, postfixVersion, timeValue } from './settings.js';


class Fatal extends Error {}

/**
 * Session cache and ticket keys from tlsmgr(8) (`private/<tlsmgr_service_name>`,
 * relative to queue_directory, which master(8) makes our working directory
 * and which a chroot keeps at the same relative place). The start-up policy
 * request decides, as in Postfix's tls_server_init: no answer, no resumption.
 */
async function tlsmgrResumption(p: ParameterSet, logger: Logger, verbose: boolean): Promise<ResumptionStore> {
  const warn = (m: string) => logger.warning(m);
  const info = (m: string) => logger.info(m);
  const lifetime = sessionLifetime(p);
  if (lifetime <= 0) return new ResumptionStore({ role: 'local', disabled: true, warn, info });
  const client = new TlsmgrClient({ path: `private/${p.get('tlsmgr_service_name')}`, warn });
  const policy = await client.policy(SMTPD_CACHE);
  if (policy.status !== TLS_MGR_STAT_OK) {
    client.close();
    logger.warning('TLS session cache and session tickets are disabled: tlsmgr(8) did not answer the policy request');
    return new ResumptionStore({ role: 'local', disabled: true, warn, info });
  }
  if (verbose) logger.info(`tlsmgr: ${SMTPD_CACHE} session cache ${policy.cachable ? 'enabled' : 'disabled'}, timeout ${policy.timeout}s`);
  const shared = new TlsmgrKeySource(client, lifetime);
  void shared.start();
  const sources = new Map<number, TlsmgrKeySource>([[lifetime, shared]]);
  const keySource = (_provider: unknown, lt: number) => {
    let s = sources.get(lt);
    if (!s) sources.set(lt, (s = new TlsmgrKeySource(client, lt)));
    return s;
  };
  return new ResumptionStore({
    role: 'local',
    keySource,
    remoteCache: policy.cachable ? new TlsmgrSessionCache(client, new FetchingRing(createNodeCryptoProvider(), shared)) : undefined,
    cacheSize: p.getInt('tlsproxy_session_cache_size'),
    warn,
    info,
  });
}

function send(message: WorkerMessage): void {
  try {
    process.send?.(message);
  } catch {
    // the parent is gone
  }
}

/** Where the log goes, connected now (before chroot and the privilege drop). */
function logSink(native: NativeAddon, params: ParameterSet | undefined, env: NodeJS.ProcessEnv, args: MasterArgs | undefined, tag: () => string): LogSink {
  const sinks: LogSink[] = [];
  const maillog = params?.get('maillog_file').trim() ?? '';
  if (maillog || env.POSTLOG_SERVICE) {
    const where = env.POSTLOG_SERVICE || `${params?.get('queue_directory') ?? '/var/spool/postfix'}/public/${params?.get('postlog_service_name') || 'postlog'}`;
    const log = new DatagramLog(native, where);
    log.connect();
    sinks.push(postlogSink(log));
  } else {
    const facility = syslogFacility(params?.get('syslog_facility') ?? 'mail') ?? 2;
    const log = new DatagramLog(native, DEV_LOG);
    log.connect();
    sinks.push(syslogSink(log, facility, tag, process.pid));
  }
  if (args?.stderrLog) sinks.push(stderrSink);
  return sinks.length === 1 ? sinks[0]! : teeSink(...sinks);
}

/** mail_owner's ids, looked up before chroot (the jail has no /etc/passwd). */
function mailOwner(native: NativeAddon, user: string): { uid: number; gid: number } {
  let pw;
  try {
    pw = native.getpwnam(user);
  } catch (e) {
    throw new Fatal(`getpwnam(${user}): ${(e as Error).message}`);
  }
  if (!pw) throw new Fatal(`parameter mail_owner: unknown user name value: ${user}`);
  if (pw.uid === 0) throw new Fatal(`mail_owner ${user} has privileged user ID 0`);
  return { uid: pw.uid, gid: pw.gid };
}

/** setgid, setgroups([gid]), setuid, in that order (Postfix set_ugid). */
function dropPrivileges(ids: { uid: number; gid: number }, user: string): void {
  if (process.getuid?.() === 0) {
    process.setgid!(ids.gid);
    process.setgroups?.([ids.gid]);
    process.setuid!(ids.uid);
  } else if (process.getuid?.() !== ids.uid) {
    throw new Fatal(`cannot become mail_owner ${user}: not running as root`);
  }
}

export async function runWorker(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const native = requireNative();
  const parentPid = Number(env[ENV_PARENT_PID]) || process.ppid;
  let logger = new Logger({ syslogName: env.MAIL_LOGTAG || 'postfix', sink: stderrSink });
  const fatal = (message: string): never => {
    logger.fatal(message);
    // Give the datagram a moment to leave; nothing else is pending.
    process.exit(1);
  };
  // 1. Nothing this process spawns may inherit master's descriptors.
  for (const fd of [STATUS_FD, LISTEN_FD]) {
    try {
      native.setCloexec(fd, true);
    } catch {
      // checked below
    }
  }
  let args: MasterArgs | undefined;
  let params: ParameterSet | undefined;
  try {
    args = parseMasterArgs(argv, env[ENV_COMMAND] || 'tlsproxy');
  } catch (e) {
    logger = new Logger({ syslogName: env.MAIL_LOGTAG || 'postfix', sink: logSink(native, undefined, env, undefined, () => logger.tag) });
    fatal(e instanceof MasterArgsError ? e.message : String(e));
  }
  // 2. Parameters and logging.
  let configError: unknown;
  try {
    params = loadPostfixParameters(args!, env);
  } catch (e) {
    configError = e;
  }
  let syslogName = env.MAIL_LOGTAG || 'postfix';
  let hostname: string | undefined;
  try {
    if (params) {
      syslogName = params.get('syslog_name');
      hostname = params.get('myhostname');
    }
  } catch (e) {
    configError ??= e;
  }
  logger = new Logger({ syslogName, hostname, sink: logSink(native, params, env, args, () => logger.tag) });
  if (configError) fatal(configError instanceof ConfigError ? configError.message : String((configError as Error)?.message ?? configError));
  const a = args!;
  const p = params!;
  try {
    checkMaillogFile(p);
    // 3. What master must have given us.
    if (a.extra.length) throw new Fatal(`unexpected command-line argument: ${a.extra[0]}`);
    if (!a.zeroLimit) throw new Fatal(`service ${a.serviceName} requires a process limit of 0`);
    if (a.standalone) throw new Fatal('stand-alone mode (-S) is not supported by this tlsproxy');
    if (a.socketCount !== 1) throw new Fatal(`${a.socketCount} listen sockets (-s): tlsproxy serves exactly one`);
    if (a.transport !== undefined && a.transport !== 'unix' && a.transport !== 'inet' && a.transport !== 'pass') {
      throw new Fatal(`unsupported transport type: ${a.transport}`);
    }
    if (a.debugger) logger.warning('-D (debugger_command) is not supported: ignored');
    const listen = native.socketInfo(LISTEN_FD);
    if (listen.type !== 'stream' || !listen.listening) {
      throw new Fatal(`descriptor ${LISTEN_FD} is not a listening stream socket: tlsproxy in Postfix service mode must be started by master(8)`);
    }
    if (native.socketInfo(STATUS_FD).type === 'none') {
      throw new Fatal(`descriptor ${STATUS_FD} (master status channel) is not open: tlsproxy in Postfix service mode must be started by master(8)`);
    }
    const verbose = a.verbose > 0 || !!env.MAIL_VERBOSE;
    // 4. Protocol version and the server role (files are read here, as root).
    const v = postfixVersion(p, env);
    if (v.warning) logger.warning(v.warning);
    if (verbose) logger.info(`speaking the tlsproxy protocol of Postfix ${v.version.text} (${v.source})`);
    const resumption = await tlsmgrResumption(p, logger, verbose);
    const server = await loadServerRole(p, v.version, logger, resumption);
    // The key log is opened now, as root, before chroot and the privilege drop.
    const keylogFile = p.get(KEYLOG_PARAMETER).trim();
    const keylog = keyLogFor(p);
    if (keylogFile) logger.warning(keyLogWarning(keylogFile));
    // The one TLS hand-over (tls/service.ts), as the built-in front ends use it; -v: at least level 2.
    const tls = new TlsService({
      name: a.serviceName,
      logger,
      resumption,
      keylog,
      sessionLimit: p.getInt('tlsproxy_process_session_limit'),
      ...(server.available
        ? { settings: { ...server.tls, loglevel: verbose ? Math.max(2, server.tls.loglevel) : server.tls.loglevel } }
        : { unavailable: server.reason, unavailableWarning: server.warning }),
    });
    const maxIdle = a.maxIdle ?? timeValue(p, 'max_idle');
    const maxUse = a.maxUse ?? p.getInt('max_use');
    const watchdog = Math.max(10, timeValue(p, 'tlsproxy_watchdog_timeout'));
    // 5. chroot, then the privilege drop.
    const owner = a.unprivileged ? mailOwner(native, p.get('mail_owner')) : undefined;
    if (a.chroot) {
      // Local time zone read now: the jail has no /etc/localtime.
      void new Date().toString();
      const dir = p.get('queue_directory');
      try {
        native.chroot(dir);
      } catch (e) {
        throw new Fatal(`chroot(${dir}): ${(e as Error).message}`);
      }
    }
    if (owner) {
      dropPrivileges(owner, p.get('mail_owner'));
      send({ type: 'privileges', ...owner });
    }
    // The watchdog: a loop iteration longer than tlsproxy_watchdog_timeout ends the process (SIGALRM).
    native.alarm(watchdog);
    setInterval(() => native.alarm(watchdog), 1000).unref();
    // 6. Serve.
    const status = new MasterStatus(parentPid, parseGeneration(env.GENERATION));
    const sessions = new Set<RequesterSession>();
    const loop = new EventServer({
      native,
      logger,
      status,
      maxIdle,
      maxUse,
      retire: retirementSeconds(maxIdle, maxUse, a.retire),
      verbose,
      onAccept: (fd, closed) => {
        tuneTieringOnFirstSession(); // base/v8-tiering.ts
        const s = new RequesterSession(fd, { native, logger, version: v.version, tls }, (x) => {
          sessions.delete(x);
          closed();
        });
        sessions.add(s);
        s.start();
      },
      onDrain: (why) => send({ type: 'drain', why }),
      exit: (code) => process.exit(code),
    });
    // The parent (the pid master knows) is gone: do as on reload.
    process.on('disconnect', () => loop.drain('parent process gone'));
    armTieringForServing(); // base/v8-tiering.ts
    loop.start();
  } catch (e) {
    if (e instanceof Fatal || e instanceof ConfigError) fatal(e.message);
    fatal(`${(e as Error)?.stack ?? e}`);
  }
}
