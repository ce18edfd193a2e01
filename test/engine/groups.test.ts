/**
 * Key exchange groups in TLS 1.3 (RFC 8446 §4.2.7, §4.2.8, §7.4):
 *
 *  - ML-KEM-768 (engine/crypto/mlkem.ts, in every provider) against the
 *    Wycheproof vectors: keygen from seeds, decapsulation (implicit
 *    rejection included), encapsulation and FIPS 203's modulus check;
 *  - the hybrids X25519MLKEM768 and SecP256r1MLKEM768
 *    (draft-ietf-tls-ecdhe-mlkem) with a scripted client built on
 *    @noble/post-quantum and node:crypto, and with Node 24 (OpenSSL 3.5)
 *    when installed in .cache/node24: ecdhCurve X25519MLKEM768:X25519
 *    negotiates it at once, X25519:X25519MLKEM768 (an X25519 share only)
 *    gets a HelloRetryRequest for it under Postfix 3.11's default
 *    ?X25519MLKEM768:DEFAULT;
 *  - TLS 1.3 FFDHE (RFC 7919): ffdhe2048...8192 shares, HelloRetryRequest
 *    to them, 1 < Y < p-1, the shared secret padded to the prime's length,
 *    with openssl s_client -groups and gnutls-cli;
 *  - key share checks (issue 10 item 5): an empty x25519 share, a share for
 *    a group not in supported_groups, for an obsolete or TLS 1.2-only
 *    curve, a malformed share for a group we do not do: illegal_parameter.
 *
 * Every test runs against the node, webcrypto and js providers.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NamedGroup } from '../../engine/constants.js';
import { mlKem768, mlKem768KeyIsValid } from '../../engine/crypto/mlkem.js';
import type { CryptoProvider, KeyShare } from '../../engine/crypto/provider.js';
import { FFDHE2048 } from '../../engine/ffdhe.js';
import { groupPolicy, OPENSSL_DEFAULT_GROUPS } from '../../engine/policy/groups.js';
import { checkClientShare, serverKeyExchange, tls13Groups } from '../../engine/tls13/key-exchange.js';
import { TlsFailure } from '../../engine/errors.js';
import { type EngineServer, provider, type ProviderName, startEngineServer } from '../helpers/engine-server.js';
import { FFDHE, ffdheKey, HYBRID, hybridKey } from '../helpers/group-keys.js';
import { baseHello, type ClientKey, EXT, ext, fatalAlertRecord, GROUP, type HelloSpec, helloRecord, withExt, x25519Key } from '../helpers/hello.js';
import { node24, node24Connect } from '../helpers/node24.js';
import { testPki } from '../helpers/pki.js';
import { Proc } from '../helpers/proc.js';
import { RawConn, Tls13Client } from '../helpers/tls13-client.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const vectors = (name: string) => JSON.parse(readFileSync(path.join(here, '../fixtures/wycheproof', name), 'utf8'));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const pki = testPki();

// ============================================================== ML-KEM-768

interface KemVector {
  tcId: number;
  seed?: string;
  m?: string;
  ek?: string;
  c?: string;
  K?: string;
  result: 'valid' | 'invalid';
  flags: string[];
}

test('ML-KEM-768: Wycheproof keygen + decapsulation (mlkem_768_test.json)', async () => {
  const v = vectors('mlkem_768_test.json');
  let n = 0;
  for (const g of v.testGroups) {
    for (const t of g.tests as KemVector[]) {
      n++;
      const run = async () => {
        const { encapsulationKey, decapsulationKey } = await mlKem768.keygen(hex(t.seed!));
        if (t.ek) assert.is(toHex(encapsulationKey), t.ek, `tcId ${t.tcId}: ek`);
        return toHex(await mlKem768.decapsulate(hex(t.c!), decapsulationKey));
      };
      if (t.result === 'valid') assert.is(await run(), t.K, `tcId ${t.tcId}`);
      else {
        let threw = false;
        try {
          await run();
        } catch {
          threw = true;
        }
        assert.ok(threw, `tcId ${t.tcId}: invalid input accepted`);
      }
    }
  }
  assert.is(n, v.numberOfTests);
});

test('ML-KEM-768: Wycheproof encapsulation and modulus check (mlkem_768_encaps_test.json)', async () => {
  const v = vectors('mlkem_768_encaps_test.json');
  let n = 0;
  let modulus = 0;
  for (const g of v.testGroups) {
    for (const t of g.tests as KemVector[]) {
      n++;
      const ek = hex(t.ek!);
      if (t.result === 'valid') {
        assert.ok(mlKem768KeyIsValid(ek), `tcId ${t.tcId}`);
        const r = await mlKem768.encapsulate(ek, hex(t.m!));
        assert.is(toHex(r.ciphertext), t.c, `tcId ${t.tcId}: c`);
        assert.is(toHex(r.sharedSecret), t.K, `tcId ${t.tcId}: K`);
      } else {
        if (t.flags.includes('ModulusOverflow')) modulus++;
        assert.not.ok(mlKem768.checkEncapsulationKey(ek), `tcId ${t.tcId}: invalid key passes the checks`);
        assert.throws(() => mlKem768.encapsulate(ek, hex(t.m!)), undefined, `tcId ${t.tcId}`);
      }
    }
  }
  assert.is(n, v.numberOfTests);
  assert.ok(modulus >= 12, 'the ModulusOverflow cases ran');
});

test('every provider has ML-KEM-768 and so the hybrid groups', () => {
  for (const p of ['node', 'webcrypto', 'js'] as ProviderName[]) {
    // The node provider's encapsulates on WebAssembly once loaded (providers/mlkem-wasm.ts, test/engine/mlkem-wasm.test.ts), behind the same interface.
    if (p === 'node') assert.is(provider(p).mlKem768?.name, mlKem768.name, p);
    else assert.is(provider(p).mlKem768, mlKem768, p);
    const groups = tls13Groups(provider(p));
    for (const g of [NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768, NamedGroup.ffdhe2048, NamedGroup.ffdhe8192]) assert.ok(groups.includes(g), `${p}: ${g}`);
  }
});

test('FFDHE: the shared secret keeps its leading zeros, padded to the prime length (RFC 8446 §7.4.1)', async () => {
  // A provider whose Z comes back without its leading zero byte (as a bignum library would return it).
  const short = new Uint8Array(FFDHE2048.p.length - 1).fill(7);
  const share: KeyShare = { group: NamedGroup.ffdhe2048, publicKey: new Uint8Array(FFDHE2048.p.length - 2).fill(5), deriveSecret: () => short };
  const p: CryptoProvider = { ...provider('node'), dhKeyShare: () => share };
  const y = ffdheKey(FFDHE.ffdhe2048).publicKey;
  const r = await serverKeyExchange(p, { group: NamedGroup.ffdhe2048, keyExchange: y });
  assert.is(r.secret.length, 256);
  assert.is(r.secret[0], 0);
  assert.is(toHex(r.secret.subarray(1)), toHex(short));
  assert.is(r.share.length, 256, 'Y padded to the size of p (§4.2.8.1)');
  assert.equal([...r.share.subarray(0, 2)], [0, 0]);
});

test('hybrid key shares are checked where no provider has ML-KEM too (the engine checks them itself)', async () => {
  const { ml_kem768 } = await import('@noble/post-quantum/ml-kem.js');
  const ek = Uint8Array.from(ml_kem768.keygen().publicKey);
  const share = (e: Uint8Array) => ({ group: NamedGroup.X25519MLKEM768, keyExchange: Uint8Array.from([...e, ...new Uint8Array(32).fill(9)]) });
  checkClientShare(share(ek));
  ek[1]! |= 0xf0; // coefficient 1 = (b1 >> 4) | (b2 << 4) >= 3329 once b2 >= 0xd1
  ek[2] = 0xff;
  assert.throws(() => checkClientShare(share(ek)), (e: unknown) => e instanceof TlsFailure && e.code === 'MlKemEncapsulationKeyInvalid' && e.alert === 47);
});

// ============================================================== handshakes

/** Postfix 3.11's default groups (?X25519MLKEM768:DEFAULT) as the daemon computes them. */
function defaultGroups(autoCurves = '?X25519MLKEM768:DEFAULT') {
  const p = groupPolicy({ eecdhGrade: '', eecdhGradeParameter: 'g', autoCurves, ffdheGroups: '', usable: () => true, libraryDefaults: OPENSSL_DEFAULT_GROUPS });
  return { groups: p.groups, groupTuples: p.tuples, advertiseGroupsAuto: true };
}

const open = new Set<{ destroy(): void }>();
let srv: EngineServer;
/** Groups listed without tuples: SecP256r1MLKEM768 and every FFDHE group too. */
let flat: EngineServer;
/** Only FFDHE groups: every client that offers an EC share gets a HelloRetryRequest. */
let ffdheOnly: EngineServer;

test.after(async () => {
  for (const c of open) c.destroy();
  await srv?.close();
  await flat?.close();
  await ffdheOnly?.close();
});

/** Full handshake with the scripted client; returns the server's session info. */
async function handshake(server: EngineServer, spec: HelloSpec, keys: ClientKey[], retryKey?: ClientKey) {
  const n = server.sessions.length + 1;
  const c = await Tls13Client.connect(server.port);
  open.add(c.raw);
  let f = await c.handshake(spec, keys);
  if (retryKey) {
    assert.ok(f.helloRetry, 'HelloRetryRequest expected');
    f = await c.retry(withExt(spec, EXT.key_share, ext.keyShare([{ group: retryKey.group, key: retryKey.publicKey }]).data), [retryKey], f.serverHello);
  }
  assert.not.ok(f.helloRetry, 'no (second) HelloRetryRequest');
  c.finish();
  c.sendData('groups');
  assert.is(Buffer.from(await c.readData(6)).toString(), 'groups');
  c.close();
  open.delete(c.raw);
  const s = await server.sessionDone(n, 5000);
  return { info: s.info!, flight: f };
}

/** The hello must be answered with exactly the plaintext fatal alert `desc`. */
async function expectAlert(server: EngineServer, spec: HelloSpec, desc: number, reason?: RegExp): Promise<void> {
  const n = server.sessions.length + 1;
  const c = await RawConn.open(server.port);
  open.add(c);
  c.send(helloRecord(spec));
  const { data, eof } = await c.readToEnd(3000);
  c.destroy();
  open.delete(c);
  assert.is(toHex(data), toHex(fatalAlertRecord(desc)));
  assert.ok(eof);
  const s = await server.sessionDone(n, 5000);
  assert.is(s.failure?.alert, desc, s.failure?.reason);
  if (reason) assert.match(s.failure!.reason, reason);
}

const hello = (groups: number[], keys: ClientKey[]) => {
  const { spec } = baseHello({ groups, shareGroups: [] });
  return withExt(spec, EXT.key_share, ext.keyShare(keys.map((k) => ({ group: k.group, key: k.publicKey }))).data);
};
const shareOf = (spec: HelloSpec, entries: { group: number; key: Uint8Array }[]) => withExt(spec, EXT.key_share, ext.keyShare(entries).data);
/** The supported_groups extension in EncryptedExtensions (type 8), as a list, or undefined. */
function eeGroups(flight: { messages: { type: number; body: Uint8Array }[] }): number[] | undefined {
  const ee = flight.messages.find((m) => m.type === 8)!.body;
  let p = 2;
  while (p < ee.length) {
    const t = (ee[p]! << 8) | ee[p + 1]!;
    const l = (ee[p + 2]! << 8) | ee[p + 3]!;
    if (t === EXT.supported_groups) {
      const out: number[] = [];
      for (let i = p + 6; i < p + 4 + l; i += 2) out.push((ee[i]! << 8) | ee[i + 1]!);
      return out;
    }
    p += 4 + l;
  }
  return undefined;
}

const G = NamedGroup;
for (const P of ['node', 'webcrypto', 'js'] as ProviderName[]) {
  const t = (name: string, fn: () => unknown) => test(`[${P}] ${name}`, async () => void (await fn()));

  test(`[${P}] servers start`, async () => {
    await srv?.close();
    await flat?.close();
    await ffdheOnly?.close();
    srv = await startEngineServer({ provider: P, config: defaultGroups() });
    flat = await startEngineServer({
      provider: P,
      config: { groups: [G.x25519, G.X25519MLKEM768, G.SecP256r1MLKEM768, G.secp256r1, G.ffdhe2048, G.ffdhe3072, G.ffdhe4096, G.ffdhe6144, G.ffdhe8192], preferServerCiphers: true },
    });
    ffdheOnly = await startEngineServer({ provider: P, config: { groups: [G.ffdhe3072, G.ffdhe2048], advertiseGroupsAuto: true } });
  });

  // ------------------------------------------------------------ hybrids

  t('X25519MLKEM768 share: negotiated, 1120-byte server share, no HelloRetryRequest, no supported_groups in EE', async () => {
    const k = hybridKey(HYBRID.X25519MLKEM768);
    const { info, flight } = await handshake(srv, hello([HYBRID.X25519MLKEM768, GROUP.x25519], [k]), [k]);
    assert.is(info.group, 'X25519MLKEM768');
    assert.is(info.helloRetry, false);
    assert.is(eeGroups(flight), undefined, 'our first choice: nothing to advertise');
  });
  t('SecP256r1MLKEM768 share (EC point first) negotiated where configured', async () => {
    const k = hybridKey(HYBRID.SecP256r1MLKEM768);
    const { info } = await handshake(flat, hello([HYBRID.SecP256r1MLKEM768], [k]), [k]);
    assert.is(info.group, 'SecP256r1MLKEM768');
  });
  t('client lists X25519MLKEM768 but sends only x25519: HelloRetryRequest for it (its own tuple), then negotiated', async () => {
    const x = x25519Key();
    const k = hybridKey(HYBRID.X25519MLKEM768);
    const { info } = await handshake(srv, hello([GROUP.x25519, HYBRID.X25519MLKEM768], [x]), [x], k);
    assert.is(info.group, 'X25519MLKEM768');
    assert.is(info.helloRetry, true);
  });
  t('one tuple (list without / or DEFAULT): the x25519 share is used, no HelloRetryRequest', async () => {
    const x = x25519Key();
    const { info } = await handshake(flat, hello([HYBRID.X25519MLKEM768, GROUP.x25519], [x]), [x]);
    assert.is(info.group, 'x25519');
    assert.is(info.helloRetry, false);
  });
  t('a client without the hybrid: x25519, and EncryptedExtensions tells it our groups (not our first choice)', async () => {
    const x = x25519Key();
    const { info, flight } = await handshake(srv, hello([GROUP.x25519, GROUP.secp256r1], [x]), [x]);
    assert.is(info.group, 'x25519');
    assert.equal(eeGroups(flight), [G.X25519MLKEM768, G.x25519, G.secp256r1, G.secp384r1, G.ffdhe2048, G.ffdhe3072]);
  });
  t('X25519MLKEM768 share one byte short -> illegal_parameter (47)', () => {
    const k = hybridKey(HYBRID.X25519MLKEM768);
    return expectAlert(srv, shareOf(hello([HYBRID.X25519MLKEM768], []), [{ group: k.group, key: k.publicKey.subarray(1) }]), 47, /1215 bytes, expected 1216/);
  });
  t('X25519MLKEM768 share one byte long -> illegal_parameter (47)', () => {
    const k = hybridKey(HYBRID.X25519MLKEM768);
    return expectAlert(srv, shareOf(hello([HYBRID.X25519MLKEM768], []), [{ group: k.group, key: Uint8Array.from([...k.publicKey, 0]) }]), 47);
  });
  t('X25519MLKEM768 encapsulation key failing the FIPS 203 modulus check -> illegal_parameter (47)', () => {
    const k = hybridKey(HYBRID.X25519MLKEM768, (ek) => {
      const bad = Uint8Array.from(ek);
      bad[0] = 0xff; // coefficient 0 = 0x?ff with the low nibble of byte 1: >= 3329 once that nibble is 0xf
      bad[1]! |= 0x0f;
      return bad;
    });
    return expectAlert(srv, hello([HYBRID.X25519MLKEM768], [k]), 47, /modulus check/);
  });
  t('X25519MLKEM768 with an all-zero X25519 part -> illegal_parameter (47)', () => {
    const k = hybridKey(HYBRID.X25519MLKEM768);
    const key = Uint8Array.from(k.publicKey);
    key.fill(0, 1184);
    return expectAlert(srv, shareOf(hello([HYBRID.X25519MLKEM768], []), [{ group: k.group, key }]), 47);
  });
  t('SecP256r1MLKEM768 with a compressed P-256 point -> illegal_parameter (47)', () => {
    const k = hybridKey(HYBRID.SecP256r1MLKEM768);
    const key = Uint8Array.from(k.publicKey);
    key[0] = 0x02;
    return expectAlert(flat, shareOf(hello([HYBRID.SecP256r1MLKEM768], []), [{ group: k.group, key }]), 47);
  });
  t('a hybrid group in a TLS 1.2 ClientHello is never used (TLS 1.3 only)', async () => {
    const p = new Proc('openssl', ['s_client', '-connect', `127.0.0.1:${srv.port}`, '-tls1_2', '-servername', 'localhost', '-CAfile', pki.caPath]);
    p.end();
    await p.wait(5000);
    assert.match(p.all, /Server Temp Key: X25519/);
  });

  // ------------------------------------------------------------ FFDHE

  for (const [name, group] of Object.entries(FFDHE)) {
    t(`${name} key share negotiated in TLS 1.3, the secret padded to the prime length`, async () => {
      const k = ffdheKey(group);
      const { info } = await handshake(flat, hello([group], [k]), [k]);
      assert.is(info.group, name);
    });
  }
  t('HelloRetryRequest to ffdhe3072 for a client that sent only an x25519 share', async () => {
    const x = x25519Key();
    const k = ffdheKey(FFDHE.ffdhe3072);
    const { info, flight } = await handshake(ffdheOnly, hello([GROUP.x25519, FFDHE.ffdhe2048, FFDHE.ffdhe3072], [x]), [x], k);
    assert.is(info.group, 'ffdhe3072');
    assert.is(eeGroups(flight), undefined);
  });
  t('ffdhe2048 when the client prefers it (client order): EncryptedExtensions lists ffdhe3072 first', async () => {
    const k = ffdheKey(FFDHE.ffdhe2048);
    const { info, flight } = await handshake(ffdheOnly, hello([FFDHE.ffdhe2048, FFDHE.ffdhe3072], [k]), [k]);
    assert.is(info.group, 'ffdhe2048');
    assert.equal(eeGroups(flight), [G.ffdhe3072, G.ffdhe2048]);
  });
  const p2048 = BigInt(`0x${toHex(FFDHE2048.p)}`);
  const pad = (v: bigint) => hex(v.toString(16).padStart(512, '0'));
  for (const [what, y] of [
    ['Y = 0', pad(0n)],
    ['Y = 1', pad(1n)],
    ['Y = p-1', pad(p2048 - 1n)],
    ['Y = p', pad(p2048)],
    ['Y = 2^2048-1', new Uint8Array(256).fill(0xff)],
  ] as const) {
    t(`ffdhe2048 share with ${what} -> illegal_parameter (47) (RFC 7919 §5.1)`, () =>
      expectAlert(flat, hello([FFDHE.ffdhe2048], [ffdheKey(FFDHE.ffdhe2048, y)]), 47, /1 < Y < p-1/));
  }
  t('ffdhe2048 share not padded to 256 bytes -> illegal_parameter (47) (§4.2.8.1)', () => {
    const k = ffdheKey(FFDHE.ffdhe2048);
    return expectAlert(flat, shareOf(hello([FFDHE.ffdhe2048], []), [{ group: k.group, key: k.publicKey.subarray(1) }]), 47);
  });
  t('openssl s_client -groups ffdhe2048 / ffdhe3072 (TLS 1.3)', async () => {
    for (const g of ['ffdhe2048', 'ffdhe3072']) {
      const n = flat.sessions.length + 1;
      const p = new Proc('openssl', ['s_client', '-connect', `127.0.0.1:${flat.port}`, '-tls1_3', '-groups', g, '-servername', 'localhost', '-CAfile', pki.caPath]);
      p.end();
      await p.wait(5000);
      assert.match(p.all, /Verify return code: 0 \(ok\)/);
      assert.match(p.all, new RegExp(`Server Temp Key: DH, ${g.slice(5)} bits`));
      assert.is((await flat.sessionDone(n, 5000)).info?.group, g);
    }
  });
  t('openssl s_client -groups x25519:ffdhe2048 to an FFDHE-only server: HelloRetryRequest, then ffdhe2048', async () => {
    const n = ffdheOnly.sessions.length + 1;
    const p = new Proc('openssl', ['s_client', '-connect', `127.0.0.1:${ffdheOnly.port}`, '-tls1_3', '-groups', 'x25519:ffdhe2048', '-servername', 'localhost', '-CAfile', pki.caPath]);
    p.end();
    await p.wait(5000);
    assert.match(p.all, /Server Temp Key: DH, 2048 bits/);
    const s = await ffdheOnly.sessionDone(n, 5000);
    assert.is(s.info?.group, 'ffdhe2048');
    assert.is(s.info?.helloRetry, true);
  });
  t('gnutls-cli with only FFDHE3072 (TLS 1.3)', async () => {
    const n = flat.sessions.length + 1;
    const p = new Proc('gnutls-cli', ['--x509cafile', pki.caPath, '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-FFDHE3072', '-p', String(flat.port), 'localhost']);
    p.end();
    await p.wait(5000);
    assert.match(p.all, /\(TLS1\.3[^)]*\)-\(DHE-FFDHE3072\)/);
    assert.is((await flat.sessionDone(n, 5000)).info?.group, 'ffdhe3072');
  });

  // ------------------------------------------------------------ key share checks (issue 10 item 5)

  t('empty x25519 key share -> illegal_parameter (47)', () => expectAlert(srv, shareOf(hello([GROUP.x25519], []), [{ group: GROUP.x25519, key: new Uint8Array(0) }]), 47));
  t('key share for a group not in supported_groups -> illegal_parameter (47)', () => {
    const k = x25519Key();
    return expectAlert(srv, hello([GROUP.secp256r1], [k]), 47, /not in supported_groups/);
  });
  for (const [name, group] of [
    ['secp192r1', 0x0013],
    ['secp224r1', 0x0015],
    ['sect163k1', 0x0001],
    ['brainpoolP256r1 (TLS 1.2 only)', 0x001a],
    ['arbitrary_explicit_prime_curves', 0xff01],
  ] as const) {
    t(`key share for obsolete ${name} listed in supported_groups -> illegal_parameter (47)`, () => {
      const x = x25519Key();
      return expectAlert(srv, shareOf(hello([group, GROUP.x25519], []), [{ group, key: new Uint8Array(49).fill(4) }, { group: x.group, key: x.publicKey }]), 47, /not a TLS 1\.3 group/);
    });
  }
  t('malformed x448 share (a group we do not do) -> illegal_parameter (47)', () => {
    const x = x25519Key();
    return expectAlert(srv, shareOf(hello([G.x448, GROUP.x25519], []), [{ group: G.x448, key: new Uint8Array(32).fill(9) }, { group: x.group, key: x.publicKey }]), 47, /x448/);
  });
  t('well-formed x448 and GREASE shares are ignored: the x25519 share is used', async () => {
    const x = x25519Key();
    const spec = shareOf(hello([0x2a2a, G.x448, GROUP.x25519], []), [
      { group: 0x2a2a, key: Uint8Array.of(0) },
      { group: G.x448, key: new Uint8Array(56).fill(9) },
      { group: x.group, key: x.publicKey },
    ]);
    const { info } = await handshake(srv, spec, [x]);
    assert.is(info.group, 'x25519');
  });
}

// ============================================================== Node 24 (OpenSSL 3.5)

test('Node 24 (OpenSSL 3.5): X25519MLKEM768:X25519 negotiates the hybrid; X25519:X25519MLKEM768 gets a HelloRetryRequest for it; SecP256r1MLKEM768', async () => {
  const bin = node24();
  if (!bin) return;
  for (const P of ['node', 'webcrypto', 'js'] as ProviderName[]) {
    const server = await startEngineServer({ provider: P, config: defaultGroups() });
    try {
      for (const [curve, group, hrr] of [
        ['X25519MLKEM768:X25519', 'X25519MLKEM768', false],
        ['X25519:X25519MLKEM768', 'X25519MLKEM768', true],
        ['X25519', 'x25519', false],
        ['ffdhe2048', 'ffdhe2048', false],
      ] as const) {
        const n = server.sessions.length + 1;
        const r = await node24Connect(bin, server.port, { ecdhCurve: curve, ca: pki.caPem, minVersion: 'TLSv1.3' });
        assert.is(r.error, undefined, `${P} ${curve}: ${r.error}`);
        assert.ok(r.openssl.startsWith('3.5') || r.openssl >= '3.5', r.openssl);
        assert.is(r.protocol, 'TLSv1.3');
        assert.is(r.hrr, hrr, `${P} ${curve}: HelloRetryRequest in the client's trace`);
        const s = await server.sessionDone(n, 5000);
        assert.is(s.info?.group, group, `${P} ${curve}`);
        assert.is(s.info?.helloRetry, hrr);
      }
      // SecP256r1MLKEM768 is not in OpenSSL's DEFAULT: configured in front of it.
      const p256 = await startEngineServer({ provider: P, config: defaultGroups('SecP256r1MLKEM768:DEFAULT') });
      try {
        const r = await node24Connect(bin, p256.port, { ecdhCurve: 'SecP256r1MLKEM768', ca: pki.caPem, minVersion: 'TLSv1.3' });
        assert.is(r.error, undefined, `${P} SecP256r1MLKEM768: ${r.error}`);
        assert.is((await p256.sessionDone(1, 5000)).info?.group, 'SecP256r1MLKEM768');
      } finally {
        await p256.close();
      }
    } finally {
      await server.close();
    }
  }
});

test.run();
