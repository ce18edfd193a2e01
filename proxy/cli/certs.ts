/**
 * `tlsproxy certs DIR`: writes a test PKI (a CA and one server certificate
 * per key type) into DIR. The CLI wiring lives in proxy/cli/main.ts.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GENERATED_KEY_ALGORITHMS, generateTestPki } from '../../certs/generate.js';

/** Names the test server certificates are issued for. */
export const TEST_PKI_NAMES = ['localhost', '127.0.0.1', '::1'];

/**
 * Generates a test PKI and writes it into `dir` (created with mode 0700 when
 * missing): ca.pem, ca-key.pem, and for each of ecdsa-p256, ecdsa-p384,
 * rsa-2048 and ed25519 a server-ALG.pem (leaf then CA certificate) and a
 * server-ALG-key.pem. Private keys are written with mode 0600, certificates
 * 0644; each file is replaced atomically. Returns the paths written.
 */
export async function writeTestPki(dir: string, names: string[] = TEST_PKI_NAMES): Promise<string[]> {
  const target = path.resolve(dir);
  await mkdir(target, { recursive: true, mode: 0o700 });
  const pki = await generateTestPki(names);
  const files: [string, string, number][] = [
    ['ca.pem', pki.ca.certPem, 0o644],
    ['ca-key.pem', pki.ca.keyPem, 0o600],
  ];
  for (const alg of GENERATED_KEY_ALGORITHMS) {
    const server = pki.servers[alg];
    files.push([`server-${alg}.pem`, server.chainPem, 0o644], [`server-${alg}-key.pem`, server.keyPem, 0o600]);
  }
  const written: string[] = [];
  for (const [name, content, mode] of files) {
    const file = path.join(target, name);
    await writeAtomically(file, content, mode);
    written.push(file);
  }
  return written;
}

/** Writes a new file with `mode` from the start (no window with looser permissions), then renames it into place. */
async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, content, { mode, flag: 'wx' });
    await chmod(tmp, mode); // the umask may have removed bits from `mode`
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
