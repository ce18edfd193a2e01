/**
 * RFC 8448 §3 "Simple 1-RTT Handshake", replayed against our server byte
 * for byte: the client's records from the trace go in, and the server's
 * records must come out identical. The trace's fixed server randomness and
 * x25519 key are injected; its RSA-PSS signature is randomised, so the
 * signing key returns the trace's signature (and checks what it was asked
 * to sign is exactly the trace's CertificateVerify input).
 *
 * Vectors: RFC 8448 §3 (values as published there).
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromHex as h, hex } from '../../engine/codec.js';
import { NamedGroup, SignatureScheme } from '../../engine/constants.js';
import type { CryptoProvider, SigningKey } from '../../engine/crypto/provider.js';
import { ServerConnection } from '../../engine/connection.js';
import type { ServerConfig } from '../../engine/config.js';
import type { ConnectionError, HandshakeInfo } from '../../engine/events.js';
import { KeySchedule } from '../../engine/tls13/key-schedule.js';
import { Transcript } from '../../engine/common/transcript.js';
import { Tls13Protection } from '../../engine/record.js';
import { tls13Suite } from '../../engine/suites.js';
import { ContentType } from '../../engine/constants.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { createJsCryptoProvider } from '../../engine/crypto/js.js';
import { createWebCryptoProvider } from '../../engine/crypto/webcrypto.js';
import { idle, until } from '../helpers/wait.js';

import {
  CLIENT_PUBLIC, SERVER_PRIVATE, SERVER_PUBLIC, SHARED, SERVER_RANDOM, CLIENT_HELLO,
  CLIENT_HELLO_RECORD, SERVER_HELLO, SERVER_HELLO_RECORD, ENCRYPTED_EXTENSIONS, CERTIFICATE, CERT_DER,
  CERTIFICATE_VERIFY, SIGNATURE, SERVER_FINISHED, SERVER_FLIGHT_RECORD, CLIENT_FINISHED_RECORD, CLIENT_APP_RECORD,
  SERVER_APP_RECORD, PAYLOAD, TRACE_GROUPS,
} from '../fixtures/rfc8448-trace.js';


const providers: [string, () => CryptoProvider][] = [
  ['node', createNodeCryptoProvider],
  ['webcrypto', () => createWebCryptoProvider()],
  ['js', () => createJsCryptoProvider()],
];

for (const [name, make] of providers) {
  const provider = make();

  test(`[${name}] RFC 8448 §3 key schedule: secrets, keys and Finished`, () => {
    const suite = tls13Suite('TLS_AES_128_GCM_SHA256')!;
    const ks = new KeySchedule(provider, suite);
    ks.inputSharedSecret(SHARED);
    const t = new Transcript(provider, 'SHA-256');
    t.add(CLIENT_HELLO);
    t.add(SERVER_HELLO);
    const chs = ks.derive('c hs traffic', t.current());
    const shs = ks.derive('s hs traffic', t.current());
    assert.is(hex(chs), 'b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21');
    assert.is(hex(shs), 'b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38');
    assert.is(hex(ks.trafficKeys(shs).key), '3fce516009c21727d0f2e4e86ee403bc');
    assert.is(hex(ks.trafficKeys(shs).iv), '5d313eb2671276ee13000b30');
    assert.is(hex(ks.trafficKeys(chs).key), 'dbfaa693d1762c5b666af5d950258d01');
    assert.is(hex(ks.trafficKeys(chs).iv), '5bd3c71b836e0b76bb73265f');
    t.add(ENCRYPTED_EXTENSIONS);
    t.add(CERTIFICATE);
    t.add(CERTIFICATE_VERIFY);
    assert.is(hex(ks.finishedVerifyData(shs, t.current())), hex(SERVER_FINISHED.subarray(4)));
    t.add(SERVER_FINISHED);
    ks.toMasterSecret();
    const cap = ks.derive('c ap traffic', t.current());
    const sap = ks.derive('s ap traffic', t.current());
    assert.is(hex(cap), '9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5');
    assert.is(hex(sap), 'a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643');
    assert.is(hex(ks.derive('exp master', t.current())), 'fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50');
    assert.is(hex(ks.trafficKeys(sap).key), '9f02283b6c9c07efc26bb9f2ac92e356');
    assert.is(hex(ks.trafficKeys(sap).iv), 'cf782b88dd83549aadf1e984');
    assert.is(hex(ks.trafficKeys(cap).key), '17422dda596ed5d9acd890e3c63f5051');
  });

  test(`[${name}] RFC 8448 §3 record protection at a non-zero sequence number`, async () => {
    const suite = tls13Suite('TLS_AES_128_GCM_SHA256')!;
    const w = new Tls13Protection(provider, suite, h('9f02283b6c9c07efc26bb9f2ac92e356'), h('cf782b88dd83549aadf1e984'));
    await w.seal(ContentType.handshake, new Uint8Array(10)); // the trace's NewSessionTicket took sequence 0
    assert.is(hex(await w.seal(ContentType.application_data, PAYLOAD)), hex(SERVER_APP_RECORD));
  });

  test(`[${name}] RFC 8448 §3 whole handshake replayed against ServerConnection, byte for byte`, async () => {
    const signer: SigningKey = {
      algorithm: 'rsa',
      bits: 1024,
      sign(scheme) {
        assert.is(scheme, SignatureScheme.rsa_pss_rsae_sha256);
        return SIGNATURE;
      },
    };
    const fixedProvider: CryptoProvider = Object.create(provider, {
      generateKeyShare: {
        value: (group: number) => {
          assert.is(group, NamedGroup.x25519);
          return provider.generateKeyShare(group, SERVER_PRIVATE);
        },
      },
    });
    const config: ServerConfig = {
      provider: fixedProvider,
      certificates: [{ chain: [CERT_DER], key: signer, names: ['server'] }],
      cipherSuites: [0x1301, 0x1302, 0x1303],
      groups: [NamedGroup.x25519],
      preferServerCiphers: false,
      advertiseGroups: TRACE_GROUPS,
      random: (n) => {
        assert.is(n, 32);
        return SERVER_RANDOM;
      },
    };
    const written: Uint8Array[] = [];
    const data: Uint8Array[] = [];
    let info: HandshakeInfo | undefined;
    let failure: ConnectionError | undefined;
    const conn = new ServerConnection(config, {
      write: (b) => written.push(b),
      handshake: (i) => (info = i),
      data: (d) => data.push(d),
      peerClosed: () => undefined,
      failed: (e) => (failure = e),
    });
    // Asynchronous providers (webcrypto) finish later: wait for the outcome, then for the engine to be idle.
    const settle = async (done: () => unknown, what: string) => {
      await until(() => failure || done(), what);
      await idle(conn);
    };
    // Feed the ClientHello in two pieces to exercise reassembly across reads.
    conn.receive(CLIENT_HELLO_RECORD.subarray(0, 50));
    conn.receive(CLIENT_HELLO_RECORD.subarray(50));
    await settle(() => written.length >= 2, 'the ServerHello and the encrypted flight');
    assert.is(failure, undefined);
    assert.is(written.length, 2, 'ServerHello record, then one record with the encrypted flight');
    assert.is(hex(written[0]!), hex(SERVER_HELLO_RECORD));
    assert.is(hex(written[1]!), hex(SERVER_FLIGHT_RECORD));
    assert.is(info, undefined, 'not complete before the client Finished');

    conn.receive(CLIENT_FINISHED_RECORD);
    await settle(() => info, 'the handshake to complete');
    assert.is(failure, undefined);
    assert.ok(info);
    assert.is(info!.cipherName, 'TLS_AES_128_GCM_SHA256');
    assert.is(info!.group, 'x25519');
    assert.is(info!.serverSignature, 'RSA-PSS (1024 bits)');
    assert.is(info!.serverName, 'server');
    assert.is(info!.serverNameMatched, true);

    conn.receive(CLIENT_APP_RECORD);
    await settle(() => data.length, 'the application data');
    assert.is(data.length, 1);
    assert.is(hex(data[0]!), hex(PAYLOAD));
  });

  test(`[${name}] RFC 8448 client Finished with one flipped bit: bad_record_mac`, async () => {
    const fixedProvider: CryptoProvider = Object.create(provider, {
      generateKeyShare: { value: (g: number) => provider.generateKeyShare(g, SERVER_PRIVATE) },
    });
    const written: Uint8Array[] = [];
    let failure: ConnectionError | undefined;
    const conn = new ServerConnection(
      {
        provider: fixedProvider,
        certificates: [{ chain: [CERT_DER], key: { algorithm: 'rsa', bits: 1024, sign: () => SIGNATURE }, names: ['server'] }],
        cipherSuites: [0x1301],
        groups: [NamedGroup.x25519],
        preferServerCiphers: false,
        random: () => SERVER_RANDOM,
      },
      { write: (b) => written.push(b), handshake: () => undefined, data: () => undefined, peerClosed: () => undefined, failed: (e) => (failure = e) },
    );
    conn.receive(CLIENT_HELLO_RECORD);
    await until(() => failure || written.length >= 2, 'the server flight');
    await idle(conn);
    assert.is(failure, undefined);
    const bad = CLIENT_FINISHED_RECORD.slice();
    bad[bad.length - 1]! ^= 1;
    conn.receive(bad);
    await until(() => failure, 'the failure on the altered Finished');
    await idle(conn);
    assert.ok(failure);
    assert.is(failure!.alertName, 'bad_record_mac');
    assert.is(failure!.direction, 'sent');
    assert.is(conn.state, 'failed');
  });
}

test('the server public key in the trace matches its private key', async () => {
  const p = createNodeCryptoProvider();
  const ks = await p.generateKeyShare(NamedGroup.x25519, SERVER_PRIVATE);
  assert.is(hex(ks.publicKey), hex(SERVER_PUBLIC));
  assert.is(hex(await ks.deriveSecret(CLIENT_PUBLIC)), hex(SHARED));
});

test.run();
