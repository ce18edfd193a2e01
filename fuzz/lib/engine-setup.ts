/**
 * The engine configuration the fuzz targets and the corpus recorder share:
 * fixture certificates from fuzz/fixtures (ECDSA P-256 and RSA-2048 server
 * keys, the CA of the recorded client certificates), TLS 1.3 and 1.2,
 * tickets and a session-ID cache, client certificates requested and
 * verified by the real verifier (certs/verify.ts through
 * proxy/tls/client-auth.ts), and a seeded `random`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKeyPair } from '../../certs/index.js';
import { DEFAULT_GROUPS, DEFAULT_TLS13_SUITES, type CertifiedKey, type ServerConfig } from '../../engine/config.js';
import type { CryptoProvider } from '../../engine/crypto/provider.js';
import { MemorySessionCache } from '../../engine/session.js';
import { TicketKeyRing } from '../../engine/tickets.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { clientAuthConfig } from '../../proxy/tls/client-auth.js';

export const FUZZ_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(FUZZ_DIR, 'fixtures');

async function certifiedKey(provider: CryptoProvider, name: string): Promise<CertifiedKey> {
  const certPem = readFileSync(path.join(FIXTURES, `${name}.pem`), 'utf8');
  const keyPem = readFileSync(path.join(FIXTURES, `${name}.key`), 'utf8');
  const pair = await loadKeyPair({ certPem, certSource: name, keyPem, keySource: name });
  const key = await provider.importSigningKey(pair.key.pkcs8, pair.key.algorithm);
  return { chain: pair.chain, key, names: pair.names, label: name };
}

let cached: Promise<ServerConfig> | undefined;

/** The shared base configuration (made once per process). */
export function baseConfig(): Promise<ServerConfig> {
  cached ??= (async () => {
    const provider = createNodeCryptoProvider();
    const certificates = [await certifiedKey(provider, 'server-p256'), await certifiedKey(provider, 'server-rsa')];
    const params = ParameterSet.defaults().withOverrides([
      { name: 'tlsproxy_tls_ask_ccert', value: 'yes' },
      { name: 'tlsproxy_tls_CAfile', value: path.join(FIXTURES, 'client-ca.pem') },
    ], 'fuzz');
    const { clientAuth } = await clientAuthConfig(params, []);
    return {
      provider,
      certificates,
      cipherSuites: [...DEFAULT_TLS13_SUITES],
      groups: [...DEFAULT_GROUPS],
      preferServerCiphers: false,
      tickets: new TicketKeyRing(provider),
      sessionCache: new MemorySessionCache(1000),
      ...(clientAuth ? { clientAuth } : {}),
    } satisfies ServerConfig;
  })();
  return cached;
}
