/**
 * Built-in defaults: `tlsproxy start` without `-c`.
 *
 *  - state directory `./state` (or $TLSPROXY_STATE_DIR) holding a test CA
 *    and server certificates, created on first start, reused afterwards;
 *  - one service on 127.0.0.1:10465 (or $TLSPROXY_LISTEN, `host:port`,
 *    port 0 = ephemeral) with implicit TLS;
 *  - ECDSA P-256 and RSA-2048 certificates, tlsproxy_tls_loglevel = 1 so
 *    the summary line shows;
 *  - the backend given by the caller (the demo backend, unless the command
 *    line sets tlsproxy_backend).
 */

import { access } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from './errors.js';
import { ParameterSet, type Override, type ParameterValue } from './main-cf.js';
import { parseInetService, type InetEndpoint } from './master-cf.js';
import { serviceParameters, workerProcesses, type Configuration } from './configuration.js';
import { hostPort } from '../base/endpoint.js';

export const BUILTIN_LISTEN: InetEndpoint = { host: '127.0.0.1', port: 10465 };

/** The files of the test PKI the built-in service uses. */
export const BUILTIN_FILES = {
  eccert: 'server-ecdsa-p256.pem',
  eckey: 'server-ecdsa-p256-key.pem',
  cert: 'server-rsa-2048.pem',
  key: 'server-rsa-2048-key.pem',
  ca: 'ca.pem',
} as const;

export function stateDirectory(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, env.TLSPROXY_STATE_DIR || 'state');
}

export function builtinListen(env: NodeJS.ProcessEnv = process.env): InetEndpoint {
  const value = env.TLSPROXY_LISTEN;
  if (!value) return BUILTIN_LISTEN;
  return parseInetService(value, (m) => {
    throw new ConfigError(`TLSPROXY_LISTEN=${value}: ${m}`);
  });
}

/** True when every file the built-in service needs is in `dir`. */
export async function hasTestPki(dir: string): Promise<boolean> {
  try {
    // fs.access, not node:fs/promises: that module (and the readline and stream modules it loads) is off the start path.
    await Promise.all(Object.values(BUILTIN_FILES).map((f) => promisify(access)(path.join(dir, f))));
    return true;
  } catch {
    return false;
  }
}

export interface BuiltinOptions {
  readonly stateDir: string;
  /** tlsproxy_backend for the service (the demo backend's address). */
  readonly backend: string;
  readonly listen?: InetEndpoint;
  readonly cli?: readonly Override[];
}

export function builtinConfiguration(options: BuiltinOptions): Configuration {
  const dir = options.stateDir;
  const listen = options.listen ?? BUILTIN_LISTEN;
  const values = new Map<string, ParameterValue>();
  const set = (name: string, value: string) => values.set(name, { value, origin: 'built-in defaults' });
  set('tlsproxy_tls_eccert_file', path.join(dir, BUILTIN_FILES.eccert));
  set('tlsproxy_tls_eckey_file', path.join(dir, BUILTIN_FILES.eckey));
  set('tlsproxy_tls_cert_file', path.join(dir, BUILTIN_FILES.cert));
  set('tlsproxy_tls_key_file', path.join(dir, BUILTIN_FILES.key));
  set('tlsproxy_tls_loglevel', '1');
  set('tlsproxy_backend', options.backend);
  // A demonstration on loopback with test certificates: running as root (CI) is meant (privileges.ts).
  set('tlsproxy_allow_root', 'yes');
  const base = ParameterSet.defaults({ config_directory: dir }).withLayer({ label: 'built-in defaults', values });
  const cli = options.cli ?? [];
  const name = listen.host === undefined ? String(listen.port) : hostPort(listen.host, listen.port);
  // One process unless tlsproxy_worker_processes says otherwise: the demo is simplest that way.
  const params = serviceParameters(base, name, [], 'built-in', cli);
  return {
    params: base.withOverrides(cli, 'command line -o'),
    services: [{ name, listen, params, verbose: false, where: 'built-in', processes: params.get('tlsproxy_worker_processes').trim() ? workerProcesses(params, 1) : 1 }],
    description: `built-in configuration, state directory ${dir}`,
    warnings: [],
  };
}
