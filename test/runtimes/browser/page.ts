/**
 * Runs in headless Chromium (test/runtimes/browser.test.ts): the RFC 8448 §3
 * handshake replayed against ServerConnection from the neutral engine bundle
 * (dist/bundle/engine.js, loaded by URL), on the browser's own WebCrypto.
 * The result goes to `window.rfc8448`, which the test reads.
 */
import type * as Engine from '../../../engine/index.js';
import type { createWebCryptoProvider } from '../../../engine/crypto/webcrypto.js';

/** What dist/bundle/engine.js exports (scripts/build.mjs), as far as this page uses it. */
type Bundle = typeof Engine & { createWebCryptoProvider: typeof createWebCryptoProvider };
import {
  CERT_DER, CLIENT_APP_RECORD, CLIENT_FINISHED_RECORD, CLIENT_HELLO_RECORD, PAYLOAD, SERVER_FLIGHT_RECORD,
  SERVER_HELLO_RECORD, SERVER_PRIVATE, SERVER_RANDOM, SIGNATURE, TRACE_GROUPS,
} from '../../fixtures/rfc8448-trace.js';

interface Outcome {
  readonly ok: boolean;
  readonly steps: string[];
  readonly error?: string;
}

const ENGINE_URL = '/engine.js';

async function replay(): Promise<Outcome> {
  const steps: string[] = [];
  const tls = (await import(/* @vite-ignore */ ENGINE_URL)) as Bundle;
  const hex = tls.hex;
  const provider = tls.createWebCryptoProvider(globalThis.crypto);
  const fixed = Object.create(provider, {
    generateKeyShare: { value: (group: number) => provider.generateKeyShare(group, SERVER_PRIVATE) },
  });
  const written: Uint8Array[] = [];
  const data: Uint8Array[] = [];
  let info: Engine.HandshakeInfo | undefined;
  let failure: Engine.ConnectionError | undefined;
  const conn = new tls.ServerConnection(
    {
      provider: fixed,
      certificates: [{ chain: [CERT_DER], key: { algorithm: 'rsa', bits: 1024, sign: () => SIGNATURE }, names: ['server'] }],
      cipherSuites: [0x1301, 0x1302, 0x1303],
      groups: [tls.NamedGroup.x25519],
      preferServerCiphers: false,
      advertiseGroups: TRACE_GROUPS,
      random: () => SERVER_RANDOM,
    },
    {
      write: (b) => written.push(b.slice()),
      handshake: (i) => (info = i),
      data: (d) => data.push(d.slice()),
      peerClosed: () => undefined,
      failed: (e) => (failure = e),
    },
  );
  const settle = async (until: () => boolean) => {
    for (let i = 0; i < 200 && !until() && !failure; i++) await new Promise((r) => setTimeout(r, 10));
  };
  const check = (what: string, got: string, want: string) => {
    if (got !== want) throw new Error(`${what}: got ${got.slice(0, 80)}..., want ${want.slice(0, 80)}...`);
    steps.push(what);
  };
  conn.receive(CLIENT_HELLO_RECORD.slice(0, 50));
  conn.receive(CLIENT_HELLO_RECORD.slice(50));
  await settle(() => written.length >= 2);
  if (failure) throw new Error(`failed: ${failure.alertName} ${failure.reason}`);
  check('ServerHello record', hex(written[0]!), hex(SERVER_HELLO_RECORD));
  check('encrypted server flight record', hex(written[1]!), hex(SERVER_FLIGHT_RECORD));
  conn.receive(CLIENT_FINISHED_RECORD.slice());
  await settle(() => info !== undefined);
  if (!info) throw new Error(`no handshake after the client Finished: ${(failure as Engine.ConnectionError | undefined)?.reason ?? 'nothing'}`);
  check('handshake info', `${info.cipherName} ${info.group} ${info.serverName}`, 'TLS_AES_128_GCM_SHA256 x25519 server');
  conn.receive(CLIENT_APP_RECORD.slice());
  await settle(() => data.length > 0);
  check('client application data decrypted', data[0] ? hex(data[0]) : '', hex(PAYLOAD));
  return { ok: true, steps };
}

declare global {
  interface Window {
    rfc8448?: Outcome;
  }
}

replay().then(
  (r) => (window.rfc8448 = r),
  (e: Error) => (window.rfc8448 = { ok: false, steps: [], error: String(e?.stack ?? e) }),
);
