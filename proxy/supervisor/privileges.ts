/**
 * Privileges, Postfix style (master runs as root; its daemons drop to
 * mail_owner / default_privs once their files are open):
 *
 *  - the main process keeps the rights it was started with: it binds the
 *    listening sockets (node:cluster binds in the main process, also the
 *    new addresses a reload brings), reads the configuration, key files and
 *    ticket key files, writes the pid file, and never reads client data;
 *  - a worker process loads its certificates and keys, opens the key log
 *    file, starts listening, and then becomes tlsproxy_user /
 *    tlsproxy_group (supplementary groups dropped) BEFORE it accepts its
 *    first connection; it checks that it can no longer become root;
 *  - started as root with no tlsproxy_user, the daemon refuses to start,
 *    unless tlsproxy_allow_root = yes says that running as root is meant
 *    (tests, development; the built-in `npm start` mode sets it), which is
 *    logged as a warning at every start;
 *  - started as another user, nothing changes (tlsproxy_user, if set, must
 *    then be that user; otherwise it is a warning).
 *
 * Users and groups are looked up in /etc/passwd and /etc/group (names or
 * numbers); tlsproxy_group defaults to the user's primary group.
 */

import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { privilegeDropUnavailable } from '../base/runtime.js';

export const USER_PARAMETER = 'tlsproxy_user';
export const GROUP_PARAMETER = 'tlsproxy_group';
export const ALLOW_ROOT_PARAMETER = 'tlsproxy_allow_root';

export interface Privileges {
  readonly user: string;
  readonly uid: number;
  readonly group: string;
  readonly gid: number;
}

interface Entry {
  readonly name: string;
  readonly id: number;
  /** passwd: the primary group id. */
  readonly gid?: number;
}

function readTable(file: string, gidField: boolean): Entry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || !f[0] || line.startsWith('#')) continue;
    const id = Number(f[2]);
    if (!Number.isInteger(id)) continue;
    out.push({ name: f[0], id, gid: gidField && f[3] !== undefined && /^\d+$/.test(f[3]) ? Number(f[3]) : undefined });
  }
  return out;
}

export interface Tables {
  readonly passwd: string;
  readonly group: string;
}

const SYSTEM: Tables = { passwd: '/etc/passwd', group: '/etc/group' };

/** tlsproxy_user / tlsproxy_group resolved; undefined when tlsproxy_user is empty. Throws ConfigError. */
export function resolvePrivileges(params: ParameterSet, tables: Tables = SYSTEM): Privileges | undefined {
  const userValue = params.get(USER_PARAMETER).trim();
  const groupValue = params.get(GROUP_PARAMETER).trim();
  if (!userValue) {
    if (groupValue) throw new ConfigError(`${GROUP_PARAMETER} = ${groupValue} needs ${USER_PARAMETER}`);
    return undefined;
  }
  const users = readTable(tables.passwd, true);
  const u = /^\d+$/.test(userValue) ? (users.find((x) => x.id === Number(userValue)) ?? { name: userValue, id: Number(userValue) }) : users.find((x) => x.name === userValue);
  if (!u) throw new ConfigError(`${USER_PARAMETER} = ${userValue}: unknown user`);
  if (u.id === 0) throw new ConfigError(`${USER_PARAMETER} = ${userValue}: must not be root (an unprivileged account, as Postfix's mail_owner)`);
  const groups = readTable(tables.group, false);
  let group: Entry | undefined;
  if (groupValue) {
    group = /^\d+$/.test(groupValue) ? (groups.find((x) => x.id === Number(groupValue)) ?? { name: groupValue, id: Number(groupValue) }) : groups.find((x) => x.name === groupValue);
    if (!group) throw new ConfigError(`${GROUP_PARAMETER} = ${groupValue}: unknown group`);
  } else {
    if (u.gid === undefined) throw new ConfigError(`${USER_PARAMETER} = ${userValue}: no primary group known; set ${GROUP_PARAMETER}`);
    group = groups.find((x) => x.id === u.gid) ?? { name: String(u.gid), id: u.gid };
  }
  if (group.id === 0) throw new ConfigError(`${groupValue ? GROUP_PARAMETER : USER_PARAMETER} = ${groupValue || userValue}: the group must not be root (gid 0)`);
  return { user: u.name, uid: u.id, group: group.name, gid: group.id };
}

export interface PrivilegePlan {
  /** Drop to these in the serving processes (root only). */
  readonly drop?: Privileges;
  /** A warning to log at start (running as root on purpose, a user that cannot be taken...). */
  readonly warning?: string;
}

/**
 * What to do about privileges for this configuration and process.
 * Throws ConfigError when running as root without tlsproxy_user and
 * without tlsproxy_allow_root = yes, or when tlsproxy_user is unusable.
 */
export function privilegePlan(params: ParameterSet, euid = process.geteuid?.() ?? -1, tables: Tables = SYSTEM): PrivilegePlan {
  const p = resolvePrivileges(params, tables);
  if (euid !== 0) {
    if (p && p.uid !== euid) return { warning: `${USER_PARAMETER} = ${p.user} is ignored: not started as root (running as uid ${euid})` };
    return {};
  }
  if (p) {
    const why = privilegeDropUnavailable();
    if (why) {
      throw new ConfigError(`${USER_PARAMETER} = ${p.user}: privileges cannot be dropped on this runtime (${why}); ` +
        `start tlsproxy as ${p.user} instead (leave ${USER_PARAMETER} unset), or run it on Node (docs/runtimes.md)`);
    }
    return { drop: p };
  }
  if (params.getBool(ALLOW_ROOT_PARAMETER)) {
    return { warning: `running as root: no ${USER_PARAMETER} is set and ${ALLOW_ROOT_PARAMETER} = yes; worker processes keep root privileges (for tests and development only)` };
  }
  throw new ConfigError(
    `started as root without ${USER_PARAMETER}: set ${USER_PARAMETER} (and optionally ${GROUP_PARAMETER}) to an unprivileged account such as nobody, ` +
      `so that the processes that handle client data do not run as root; or set ${ALLOW_ROOT_PARAMETER} = yes to run as root anyway (tests, development)`,
  );
}

/** Become `p` for good (supplementary groups, group, then user); throws when it did not take. */
export function dropPrivileges(p: Privileges): void {
  if (process.geteuid?.() !== 0) return;
  process.setgroups!([p.gid]);
  process.setgid!(p.gid);
  process.setuid!(p.uid);
  if (process.getuid!() !== p.uid || process.geteuid!() !== p.uid || process.getgid!() !== p.gid || process.getegid!() !== p.gid) {
    throw new Error(`could not become ${p.user}:${p.group} (uid ${p.uid}, gid ${p.gid})`);
  }
  let regained = false;
  try {
    process.setuid!(0);
    regained = true;
  } catch {
    // expected: root is gone
  }
  if (regained) throw new Error(`still able to become root after switching to ${p.user}`);
}
