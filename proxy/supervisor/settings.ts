/**
 * The operations side of a configuration, checked at start and at every
 * reload before anything changes: process bounds, client limits, the
 * watchdog, privileges, the pid directory, the drain bound; and a
 * fingerprint that tells a reload whether anything changed at all.
 */

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Configuration } from '../config/configuration.js';
import { keyLogFiles, KEYLOG_PARAMETER } from '../tls/keylog.js';
import { pidDirectory } from './pidfile.js';
import { privilegePlan, type PrivilegePlan } from './privileges.js';
import { clientLimits } from './limits.js';
import { processBounds } from './policy.js';

export const DRAIN_PARAMETER = 'tlsproxy_drain_timeout';

export interface OperationsSettings {
  readonly privileges: PrivilegePlan;
  readonly pidDirectory: string;
  /** tlsproxy_drain_timeout in ms: how long a stop waits for sessions to finish. */
  readonly drainTimeoutMs: number;
  /** Key log files turned on (tlsproxy_tls_keylog_file), for the start-up warning. */
  readonly keyLogFiles: readonly string[];
}

/** Check every operations parameter of `configuration`; throws ConfigError. */
export function operationsSettings(configuration: Configuration, euid?: number): OperationsSettings {
  for (const s of configuration.services) {
    processBounds(s.params, s.processes);
    clientLimits(s.params);
    s.params.getTime('tlsproxy_watchdog_timeout');
  }
  return {
    privileges: privilegePlan(configuration.params, euid),
    pidDirectory: pidDirectory(configuration.params),
    drainTimeoutMs: configuration.params.getTime(DRAIN_PARAMETER) * 1000,
    keyLogFiles: keyLogFiles(configuration.services),
  };
}

/** Parameters whose values name files or directories the serving processes read. */
const INPUT_FILES = /(_cert_file|_key_file|_dcert_file|_dkey_file|_eccert_file|_eckey_file|_chain_files|_CAfile|_CApath|_param_file|_sni_maps)$/;
/** Read by the main process on SIGHUP by itself, or written by us: their contents are not configuration. */
const NOT_INPUT = new Set(['tlsproxy_tls_session_ticket_key_file', KEYLOG_PARAMETER, 'maillog_file', 'tlsproxy_pid_directory']);
const MAX_HASHED = 16 * 1024 * 1024;

function hashPath(h: ReturnType<typeof createHash>, file: string): void {
  h.update(`\0file ${file}\0`);
  try {
    const st = statSync(file);
    if (st.isDirectory()) {
      for (const name of readdirSync(file).sort()) {
        try {
          const e = statSync(path.join(file, name));
          h.update(`${name} ${e.size} ${e.mtimeMs}\n`);
        } catch {
          h.update(`${name} ?\n`);
        }
      }
    } else if (st.size <= MAX_HASHED) {
      h.update(readFileSync(file));
    } else {
      h.update(`${st.size} ${st.mtimeMs}`);
    }
  } catch (e) {
    h.update(`error ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/**
 * A digest of everything a reload would change: every service's name,
 * address, process count and every parameter's expanded value, plus the
 * contents of the certificate, key, CA, DH and SNI files they name.
 * Equal fingerprints: nothing to reload (the ticket key file has its own
 * reload, which SIGHUP always does).
 */
export function configurationFingerprint(configuration: Configuration): string {
  const h = createHash('sha256');
  const files = new Set<string>();
  const dump = (label: string, params: Configuration['params']) => {
    h.update(`\0${label}\0`);
    for (const name of params.names()) {
      let value: string;
      try {
        value = params.get(name);
      } catch (e) {
        value = `error ${(e as Error).message}`;
      }
      h.update(`${name}=${value}\n`);
      if (INPUT_FILES.test(name) && !NOT_INPUT.has(name)) {
        for (const token of value.split(/[\s,]+/)) {
          const file = token.replace(/^[a-z0-9_]+:/i, '');
          if (path.isAbsolute(file)) files.add(file);
        }
      }
    }
  };
  dump('main', configuration.params);
  for (const s of configuration.services) {
    h.update(`\0service ${s.name} ${s.listen.host ?? '*'} ${s.listen.port} ${s.processes} ${s.verbose}\0`);
    dump(s.name, s.params);
  }
  for (const f of [...files].sort()) {
    hashPath(h, f);
    // hash:/path tables: the .db Postfix would read.
    if (!f.endsWith('.db')) {
      try {
        statSync(`${f}.db`);
        hashPath(h, `${f}.db`);
      } catch {
        // none
      }
    }
  }
  return h.digest('hex');
}
