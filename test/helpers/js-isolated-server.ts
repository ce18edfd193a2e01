/**
 * The child process of test/js-provider-isolated.test.ts, started as
 *   node --import tsx --import ./test/helpers/no-native-crypto.mjs test/helpers/js-isolated-server.ts
 * so that node:crypto and WebCrypto are unreachable. It first tries the
 * other providers (each must fail), then serves the engine (echo mode) with
 * the js provider, and prints one line
 *   READY {"port":..., "caPath":..., "attempts":{...}, "subtle":"undefined"}
 * then one `HANDSHAKE {...}` line per completed handshake.
 */

import { DEFAULT_GROUPS, type ServerConfig } from '../../engine/config.js';
import { NamedGroup } from '../../engine/constants.js';
import { loadWebCryptoProvider } from '../../engine/crypto/webcrypto.js';
import { TicketKeyRing } from '../../engine/tickets.js';
import { provider, startEngineServer } from './engine-server.js';
import { testPki } from './pki.js';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const attempts: Record<string, string> = {};

// The webcrypto provider on the platform's WebCrypto: there is none.
try {
  attempts.webcrypto = `created ${provider('webcrypto').name}`;
} catch (e) {
  attempts.webcrypto = `failed: ${message(e)}`;
}
// loadWebCryptoProvider's fallback, @peculiar/webcrypto, is built on node:crypto.
try {
  attempts.peculiar = `created ${(await loadWebCryptoProvider()).name}`;
} catch (e) {
  attempts.peculiar = `failed: ${message(e)}`;
}
// An engine server with the node provider, in this same harness.
try {
  const s = await startEngineServer({ provider: 'node' });
  attempts.node = `started on port ${s.port}`;
} catch (e) {
  attempts.node = `failed: ${message(e)}`;
}

// Session tickets sealed and opened by the js provider's AEAD.
// The hybrid groups too (ML-KEM-768 from engine/crypto/mlkem.ts), after the default ones.
const config: Partial<ServerConfig> = {
  tickets: new TicketKeyRing(provider('js')),
  groups: [...DEFAULT_GROUPS, NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768],
};
const server = await startEngineServer({
  provider: 'js',
  echoPrefix: 'echo:',
  certs: ['p256', 'p384', 'rsa', 'ed25519'],
  config,
  onHandshake(_s, info) {
    process.stdout.write(`HANDSHAKE ${JSON.stringify({ provider: server.config.provider.name, protocol: info.protocol, cipher: info.cipherName, group: info.group, signature: info.serverSignature ?? null, resumed: info.serverSignature === undefined })}\n`);
  },
});
process.stdout.write(
  `READY ${JSON.stringify({ port: server.port, caPath: testPki().caPath, attempts, provider: server.config.provider.name, subtle: typeof (globalThis.crypto as { subtle?: unknown }).subtle })}\n`,
);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
