/**
 * Parameters of the Postfix service mode: $MAIL_CONFIG/main.cf (default
 * /etc/postfix) read with the project's parser, then master.cf's `-o`
 * overrides, exactly as a Postfix daemon layers them; plus what a daemon
 * under master needs beyond the project's own table (queue_directory,
 * mail_owner, postlog_service_name, command_directory...), the Postfix
 * version that decides the protocol, and whether the server role is
 * available (the status 1/0 rules of tlsproxy-postfix.md §1.2, §2.5).
 */

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError } from '../config/errors.js';
import { loadMainCf, type ParameterSet } from '../config/main-cf.js';
import { PARAMETER_TABLE } from '../config/params.js';
import type { Logger } from '../log/log.js';
import type { ResumptionStore } from '../tls/resumption.js';
import { createProvider, loadTlsSettings } from '../tls/settings.js';
import type { MasterArgs } from './args.js';
import { atLeast, parseMailVersion, type PostfixVersion } from './protocol.js';
import type { ServerRole } from './requester.js';

/** Postfix's defaults for what a daemon needs and the project's table does not define. */
const POSTFIX_DEFAULTS: Record<string, string> = {
  queue_directory: '/var/spool/postfix',
  command_directory: '/usr/sbin',
  daemon_directory: '/usr/lib/postfix/sbin',
  mail_owner: 'postfix',
  postlog_service_name: 'postlog',
  syslog_facility: 'mail',
  maillog_file: '',
  maillog_file_prefixes: '/var, /dev/stdout',
  max_idle: '100s',
  max_use: '100',
  config_directory: '/etc/postfix',
  // Ours: the Postfix version whose protocol to speak; empty = ask postconf.
  tlsproxy_postfix_version: '',
};

/** The newest release whose protocol we know; assumed when the version cannot be found out. */
export const ASSUMED_VERSION: PostfixVersion = { major: 3, minor: 11, text: '3.11' };

export function configDirectory(env: NodeJS.ProcessEnv): string {
  return env.MAIL_CONFIG || '/etc/postfix';
}

/** main.cf + the daemon's read-only values + master.cf `-o`. Throws ConfigError. */
export function loadPostfixParameters(args: MasterArgs, env: NodeJS.ProcessEnv, pid = process.pid): ParameterSet {
  const dir = configDirectory(env);
  const runtime: Record<string, string> = {};
  for (const [name, value] of Object.entries(POSTFIX_DEFAULTS)) if (!PARAMETER_TABLE.has(name)) runtime[name] = value;
  runtime.process_name = 'tlsproxy';
  runtime.process_id = String(pid);
  const main = loadMainCf(dir, runtime);
  // Read-only values over main.cf, then master.cf's -o (which may use $service_name).
  return main
    .withOverrides(
      [
        { name: 'service_name', value: args.serviceName },
        { name: 'process_name', value: 'tlsproxy' },
        { name: 'process_id', value: String(pid) },
        { name: 'config_directory', value: dir },
      ],
      'daemon',
    )
    .withOverrides(args.overrides, `${path.join(dir, 'master.cf')}: -o`);
}

/** Postfix time value in seconds (`100s`, `5m`, a bare number = seconds). */
export function timeValue(params: ParameterSet, name: string): number {
  const v = params.get(name).trim();
  const m = /^(\d+)([smhdw]?)$/i.exec(v);
  if (!m) throw new ConfigError(`parameter ${name}: bad time value or unit: ${v}`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(m[2] || 's').toLowerCase() as 's'];
  return Number(m[1]) * unit;
}

export interface VersionResult {
  readonly version: PostfixVersion;
  /** How it was found, for the verbose log. */
  readonly source: string;
  /** Set when it had to be assumed. */
  readonly warning?: string;
}

/**
 * tlsproxy_postfix_version when set, else `$command_directory/postconf
 * -dh mail_version` (absolute path: master passes no PATH), else the newest
 * known release (with a warning).
 */
export function postfixVersion(params: ParameterSet, env: NodeJS.ProcessEnv, run = runPostconf): VersionResult {
  const set = params.get('tlsproxy_postfix_version').trim();
  if (set) {
    const v = parseMailVersion(set);
    if (!v) throw new ConfigError(`invalid tlsproxy_postfix_version value: "${set}" (expected a Postfix version such as 3.7.11)`);
    return { version: v, source: 'tlsproxy_postfix_version' };
  }
  const postconf = path.join(params.get('command_directory') || '/usr/sbin', 'postconf');
  const out = run(postconf, env);
  const v = out === undefined ? undefined : parseMailVersion(out);
  if (v) return { version: v, source: `${postconf} -dh mail_version` };
  return {
    version: ASSUMED_VERSION,
    source: 'assumed',
    warning: `cannot find out the Postfix version (${postconf} -dh mail_version${out === undefined ? ' failed' : ` said "${out.trim()}"`}): speaking the protocol of Postfix ${ASSUMED_VERSION.text}; set tlsproxy_postfix_version to be sure`,
  };
}

function runPostconf(postconf: string, env: NodeJS.ProcessEnv): string | undefined {
  try {
    const r = spawnSync(postconf, ['-dh', 'mail_version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'], env: { ...env, LANG: 'C' } });
    return r.status === 0 ? r.stdout : undefined;
  } catch {
    return undefined;
  }
}

/** The role-disabled warning of each version (§4.1). */
export function disabledWarning(version: PostfixVersion): string {
  if (atLeast(version, 3, 11)) return 'TLS server role is disabled by configuration';
  if (atLeast(version, 3, 6)) return 'TLS server role is disabled with tlsproxy_tls_security_level or tlsproxy_use_tls';
  return 'TLS service is requested, but disabled with tlsproxy_tls_security_level or tlsproxy_use_tls';
}

/**
 * Whether the server role is available, loaded once at start-up, before
 * chroot and the privilege drop (certificates and keys are read here).
 *
 * Postfix's level resolution (§1.2): a non-empty tlsproxy_tls_security_level
 * decides (none = disabled); an empty one falls back to tlsproxy_use_tls
 * || tlsproxy_enforce_tls, both `no` by default: disabled. Any
 * configuration problem (no certificate, unreadable key, invalid level or
 * protocol list...) makes the role unavailable with that reason, logged
 * now and with every refused request: requesters then get status 0 at once
 * (postscreen answers 454) instead of waiting for a process that does not
 * start.
 */
export async function loadServerRole(params: ParameterSet, version: PostfixVersion, logger: Logger, resumption: ResumptionStore): Promise<ServerRole> {
  const disabled = disabledWarning(version);
  try {
    const level = params.get('tlsproxy_tls_security_level').trim().toLowerCase();
    const use = level ? level !== 'none' : params.getBool('tlsproxy_use_tls') || params.getBool('tlsproxy_enforce_tls');
    if (!use) {
      logger.warning(disabled);
      return { available: false, reason: disabled, warning: disabled };
    }
    const provider = await createProvider(params);
    const tls = await loadTlsSettings(params, provider, { resumption });
    for (const w of tls.warnings) logger.warning(w);
    return { available: true, tls };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    logger.warning(e.message);
    return { available: false, reason: e.message, warning: `TLS server role is not available: ${e.message}` };
  }
}

/** maillog_file must start with one of maillog_file_prefixes (else every Postfix program is fatal). */
export { checkMaillogFile } from '../config/validate.js';
