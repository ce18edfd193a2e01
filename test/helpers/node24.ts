/**
 * A Node 24 (OpenSSL 3.5) client for the X25519MLKEM768 interop tests.
 * Node 24 is installed from npm OUTSIDE node_modules (its `node` bin would
 * shadow the system node in npm scripts): `.ci/run` runs
 * `npm install --prefix .cache/node24 --no-save node@24`. Without it the
 * tests that need it skip with a message saying so.
 */

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipped } from './skip.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NODE24 = path.join(root, '.cache/node24/node_modules/.bin/node');
const SCRIPT = path.join(root, 'test/helpers/node24-client.mjs');

/** The Node 24 binary, or undefined (after printing how to get it). */
export function node24(): string | undefined {
  if (existsSync(NODE24)) return NODE24;
  skipped('X25519MLKEM768 interop with Node 24', 'Node 24 is not installed: run `npm install --prefix .cache/node24 --no-save node@24`, as .ci/run does');
  return undefined;
}

export interface Node24Result {
  readonly protocol?: string;
  readonly cipher?: string;
  readonly echoed?: boolean;
  readonly error?: string;
  /** A HelloRetryRequest was seen in OpenSSL's message trace. */
  readonly hrr: boolean;
  readonly openssl: string;
  readonly trace: string;
}

/** HelloRetryRequest's special ServerHello.random (RFC 8446 §4.1.3), as OpenSSL's trace prints it. */
const HRR_TRACE = /HelloRetryRequest|E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C/i;

/** Connect to 127.0.0.1:`port` with node:tls options (`ca` a PEM string), send ping, wait for the echo. */
export function node24Connect(bin: string, port: number, options: Record<string, unknown>): Promise<Node24Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [SCRIPT, String(port), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(out.trim().split('\n').at(-1)!) as Omit<Node24Result, 'hrr' | 'trace'>;
        resolve({ ...r, hrr: HRR_TRACE.test(err), trace: err });
      } catch {
        reject(new Error(`node24 client printed ${JSON.stringify(out)}; stderr ${err.slice(0, 2000)}`));
      }
    });
  });
}
