/**
 * Interop against a second, independent TLS 1.3 client: `gnutls-cli`
 * (GnuTLS 3.7; installed by .ci/run). Suites x groups, HelloRetryRequest,
 * certificate types by signature priority, SNI, ALPN, KeyUpdate both ways
 * (inline commands ^rekey^ / ^rekey1^) and a bulk transfer.
 */

import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NamedGroup } from '../engine/constants.js';
import { type EngineServer, type EngineServerOptions, type ProviderName, startEngineServer } from './helpers/engine-server.js';
import { testPki } from './helpers/pki.js';
import { killAll, Proc } from './helpers/proc.js';

const pki = testPki();
const servers: EngineServer[] = [];

async function server(opts: EngineServerOptions = {}): Promise<EngineServer> {
  const s = await startEngineServer({ echoPrefix: 'echo:', ...opts });
  servers.push(s);
  return s;
}

test.after(async () => {
  await killAll();
  await Promise.all(servers.map((s) => s.close()));
});

const BASE = 'NORMAL:-VERS-ALL:+VERS-TLS1.3';

function gnutls(port: number, opts: { priority?: string; sni?: string | null; verifyHost?: string | null; extra?: string[] } = {}): Proc {
  const args = ['-p', String(port), '127.0.0.1', '--x509cafile', pki.caPath, '--inline-commands', '--priority', opts.priority ?? BASE];
  const sni = opts.sni === undefined ? 'localhost' : opts.sni;
  if (sni === null) args.push('--disable-sni');
  else args.push('--sni-hostname', sni);
  const vh = opts.verifyHost === undefined ? sni : opts.verifyHost;
  if (vh) args.push('--verify-hostname', vh);
  else args.push('--insecure');
  return new Proc('gnutls-cli', [...args, ...(opts.extra ?? [])]);
}

/** Handshake, echo one line per entry of `lines` (inline commands allowed between), EOF, wait for exit. */
async function run(port: number, opts: Parameters<typeof gnutls>[1] & { lines?: string[] } = {}): Promise<Proc> {
  const p = gnutls(port, opts);
  try {
    await p.waitFor('Handshake was completed', 5000, 'handshake');
    let rekeys = 0;
    for (const line of opts.lines ?? ['ping']) {
      p.write(`${line}\n`);
      if (line.startsWith('^rekey')) {
        rekeys++;
        await p.waitFor(() => (p.all.match(/Rekey was completed/g)?.length ?? 0) >= rekeys, 3000, `rekey #${rekeys}`);
      } else {
        await p.waitFor(`echo:${line}`, 5000, `echo of ${line}`);
      }
    }
    p.end();
    await p.wait(5000);
    return p;
  } finally {
    p.kill();
  }
}

async function failRun(port: number, opts: Parameters<typeof gnutls>[1] = {}): Promise<Proc> {
  const p = gnutls(port, opts);
  try {
    await p.wait(5000);
    return p;
  } finally {
    p.kill();
  }
}

const SUITES = [
  { gnutls: 'AES-128-GCM', name: 'TLS_AES_128_GCM_SHA256' },
  { gnutls: 'AES-256-GCM', name: 'TLS_AES_256_GCM_SHA384' },
  { gnutls: 'CHACHA20-POLY1305', name: 'TLS_CHACHA20_POLY1305_SHA256' },
] as const;
const GROUPS = [
  { gnutls: 'X25519', engine: 'x25519', desc: 'ECDHE-X25519' },
  { gnutls: 'SECP256R1', engine: 'secp256r1', desc: 'ECDHE-SECP256R1' },
  { gnutls: 'SECP384R1', engine: 'secp384r1', desc: 'ECDHE-SECP384R1' },
] as const;

for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
  let srv: EngineServer | undefined;
  for (const s of SUITES) {
    for (const g of GROUPS) {
      test(`[${providerName}] gnutls ${s.name} x ${g.gnutls}`, async () => {
        srv ??= await server({ provider: providerName });
        const before = srv.sessions.length;
        const p = await run(srv.port, { priority: `${BASE}:-CIPHER-ALL:+${s.gnutls}:-GROUP-ALL:+GROUP-${g.gnutls}` });
        assert.is(p.exitCode, 0, p.all);
        assert.ok(p.all.includes(`(TLS1.3-X.509)-(${g.desc})-`), p.all);
        assert.ok(p.all.includes(`-(${s.gnutls})`), p.all);
        assert.ok(p.all.includes('The certificate is trusted'), p.all);
        const sess = await srv.sessionDone(before + 1);
        assert.is(sess.failure, undefined, JSON.stringify(sess.failure));
        assert.is(sess.info?.cipherName, s.name);
        assert.is(sess.info?.group, g.engine);
        assert.ok(sess.closedCleanly);
      });
    }
  }
}

test('gnutls HelloRetryRequest: server [secp384r1], client shares other groups first', async () => {
  const srv = await server({ config: { groups: [NamedGroup.secp384r1] } });
  const p = await run(srv.port, { priority: `${BASE}:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1` });
  assert.is(p.exitCode, 0, p.all);
  assert.ok(p.all.includes('(ECDHE-SECP384R1)'), p.all);
  const s = await srv.sessionDone(1);
  assert.is(s.info?.helloRetry, true);
  assert.is(s.info?.group, 'secp384r1');
});

const SIGS = [
  { sign: 'SIGN-ECDSA-SECP256R1-SHA256', cn: 'test-p256', desc: 'ECDSA-SECP256R1-SHA256' },
  { sign: 'SIGN-ECDSA-SECP384R1-SHA384', cn: 'test-p384', desc: 'ECDSA-SECP384R1-SHA384' },
  { sign: 'SIGN-RSA-PSS-RSAE-SHA256', cn: 'test-rsa', desc: 'RSA-PSS-RSAE-SHA256' },
  { sign: 'SIGN-RSA-PSS-RSAE-SHA512', cn: 'test-rsa', desc: 'RSA-PSS-RSAE-SHA512' },
  { sign: 'SIGN-EDDSA-ED25519', cn: 'test-ed25519', desc: 'EdDSA-Ed25519' },
] as const;

for (const providerName of ['node', 'webcrypto'] as ProviderName[]) {
  test(`[${providerName}] gnutls certificate type by signature priority`, async () => {
    const srv = await server({ provider: providerName, certs: ['p256', 'p384', 'rsa', 'ed25519'] });
    // Only the scheme under test: the certificate served and the CertificateVerify scheme must follow it.
    // (--insecure: with one scheme the client would not accept the CA's ECDSA signature on the chain.)
    for (const sg of SIGS) {
      const p = await run(srv.port, { priority: `${BASE}:-SIGN-ALL:+${sg.sign}`, verifyHost: null });
      assert.is(p.exitCode, 0, p.all);
      assert.ok(p.all.includes(`subject \`CN=${sg.cn}'`), p.all);
      assert.ok(p.all.includes(`-(${sg.desc})-`), p.all);
    }
    // With the CA's scheme added the chain verifies too.
    const p = await run(srv.port, { priority: `${BASE}:-SIGN-ALL:+SIGN-EDDSA-ED25519:+SIGN-ECDSA-SECP256R1-SHA256` });
    assert.ok(p.all.includes('The certificate is trusted'), p.all);
    assert.ok(p.all.includes("subject `CN=test-ed25519'"), p.all);
  });
}

test('gnutls SNI: exact, wildcard, fallback, none', async () => {
  const srv = await server({ certs: ['sniDefault', 'sniA', 'sniWild'] });
  for (const c of [
    { sni: 'a.example.test', cn: 'sni-a' },
    { sni: 'z.wild.test', cn: 'sni-wild' },
    { sni: 'other.test', cn: 'sni-default', verifyHost: null },
    { sni: null, cn: 'sni-default', verifyHost: 'localhost' },
  ] as { sni: string | null; cn: string; verifyHost?: string | null }[]) {
    const p = await run(srv.port, { sni: c.sni, verifyHost: c.verifyHost });
    assert.is(p.exitCode, 0, p.all);
    assert.ok(p.all.includes(`subject \`CN=${c.cn}'`), p.all);
  }
});

test('gnutls ALPN: selected, and no overlap -> no_application_protocol', async () => {
  const srv = await server({ config: { alpn: ['smtp', 'http/1.1'] } });
  const p = await run(srv.port, { extra: ['--alpn', 'h2', '--alpn', 'http/1.1'] });
  assert.ok(p.all.includes('Application protocol: http/1.1'), p.all);
  const f = await failRun(srv.port, { extra: ['--alpn', 'h2'] });
  assert.is.not(f.exitCode, 0);
  assert.match(f.all, /No supported application protocol could be negotiated|no_application_protocol|application protocol/i);
  const s = await srv.sessionDone(2);
  assert.is(s.failure?.alertName, 'no_application_protocol');
});

test('gnutls KeyUpdate: ^rekey^ (update_requested) and ^rekey1^ (local), data flows after each', async () => {
  const srv = await server();
  const p = await run(srv.port, { lines: ['one', '^rekey^', 'two', '^rekey1^', 'three', '^rekey^', 'four'] });
  assert.is(p.exitCode, 0, p.all);
  const s = await srv.sessionDone(1);
  assert.is(s.failure, undefined, JSON.stringify(s.failure));
  assert.is(s.traces.filter((t) => t === 'received KeyUpdate (update_requested)').length, 2, s.traces.join('\n'));
  assert.is(s.traces.filter((t) => t === 'received KeyUpdate').length, 1, s.traces.join('\n'));
  assert.is(s.traces.filter((t) => t === 'sent KeyUpdate').length, 2, s.traces.join('\n'));
});

test('gnutls: server-initiated KeyUpdate(update_requested) is answered, data flows', async () => {
  const srv = await server({ keyUpdateAfter: 1 });
  const p = await run(srv.port, { lines: ['a1', 'a2', 'a3'] });
  assert.is(p.exitCode, 0, p.all);
  const s = await srv.sessionDone(1);
  assert.is(s.failure, undefined, JSON.stringify(s.failure));
  const iSent = s.traces.indexOf('sent KeyUpdate (update_requested)');
  const iRecv = s.traces.indexOf('received KeyUpdate');
  assert.ok(iSent >= 0 && iRecv > iSent, s.traces.join('\n'));
});

test('gnutls: 256 KiB of lines echoed intact', async () => {
  const srv = await server({ echoPrefix: undefined });
  const lines = Array.from({ length: 2048 }, () => randomBytes(96).toString('base64'));
  const payload = `${lines.join('\n')}\n`;
  const p = gnutls(srv.port);
  try {
    await p.waitFor('Handshake was completed', 5000);
    p.write(payload);
    await p.waitFor(() => p.all.includes(lines[lines.length - 1]!), 15_000, 'last line');
    p.end();
    await p.wait(5000);
  } finally {
    p.kill();
  }
  const out = p.stdout.toString('latin1');
  assert.ok(out.includes(payload), 'echoed payload differs');
  const s = await srv.sessionDone(1);
  assert.is(s.bytesIn, payload.length);
});

test.run();
