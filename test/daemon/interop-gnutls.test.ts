/**
 * gnutls-cli (GnuTLS 3.7) through the REAL daemon (one process), data
 * through to an echo backend, certificate verified against the test CA
 * (--x509cafile):
 *
 *  - TLS 1.2 (`NORMAL:-VERS-ALL:+VERS-TLS1.2`) with a few key exchanges,
 *    ciphers and groups, including RFC 7919 FFDHE groups for DHE-RSA
 *    (gnutls checks that the server used exactly the group named: its
 *    description then reads DHE-FFDHE3072);
 *  - TLS 1.3 (`+VERS-TLS1.3`) with a few groups and ciphers;
 *  - --resume: TLS 1.2 by ticket, TLS 1.2 by session ID (%NO_TICKETS),
 *    TLS 1.3 by ticket ("This is a resumed session", and the daemon's
 *    "Reusing old session" line).
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certMainCf, echoBackend, testPki, writeConfig, type TestBackend } from '../helpers/proxy.js';
import { DaemonProc, FILE_LIFETIME_MS, gnutlsCli, served, stopAllDaemons } from '../helpers/daemon-proc.js';

let backend: TestBackend;
let ca: string;
let daemon: DaemonProc;

const TLS12 = 'NORMAL:-VERS-ALL:+VERS-TLS1.2';
const TLS13 = 'NORMAL:-VERS-ALL:+VERS-TLS1.3';

test.before(async () => {
  backend = await echoBackend();
  ca = (await testPki()).ca;
  const main = await certMainCf(['tlsproxy_tls_loglevel = 2', 'smtpd_tls_session_cache_database = internal:'].join('\n'));
  daemon = await DaemonProc.start(writeConfig(main, `127.0.0.1:0 inet n - n - 1 tlsproxy -o tlsproxy_backend=${backend.address}`), [], 30_000, { hardTimeoutMs: FILE_LIFETIME_MS });
});

test.after(async () => {
  await stopAllDaemons();
  await backend?.close();
});

interface Case {
  readonly priority: string;
  /** gnutls-cli's "- Description:" line. */
  readonly description: RegExp;
  /** The daemon's summary line. */
  readonly summary: RegExp;
  /** The engine's trace of the TLS 1.2 server flight, when it matters. */
  readonly flight?: RegExp;
}

async function check(c: Case, input: string): Promise<void> {
  const r = await served(daemon, () => gnutlsCli(daemon.port, ca, c.priority, [], input));
  const what = `${c.priority}:\n${r.out}\n--- daemon:\n${r.lines.map((l) => l.text).join('\n')}`;
  assert.match(r.out, '- Status: The certificate is trusted.', what);
  assert.match(r.out, '- Handshake was completed', what);
  assert.match(r.out, c.description, what);
  assert.match(r.out, input.trimEnd(), what);
  assert.ok(r.lines.some((l) => c.summary.test(l.text)), what);
  if (c.flight) assert.ok(r.lines.some((l) => c.flight!.test(l.text)), what);
}

test('TLS 1.2: ECDHE-ECDSA / ECDHE-RSA, AES-GCM and ChaCha20, several groups', async () => {
  const cases: Case[] = [
    {
      priority: `${TLS12}:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1`,
      description: /\(TLS1\.2-X\.509\)-\(ECDHE-X25519\)-\(ECDSA-SHA\d+\)-\(AES-128-GCM\)/,
      summary: /TLSv1\.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 \(128\/128 bits\)$/,
    },
    {
      priority: `${TLS12}:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:+AES-256-GCM:-GROUP-ALL:+GROUP-SECP256R1`,
      description: /\(TLS1\.2-X\.509\)-\(ECDHE-SECP256R1\)-\(ECDSA-SHA\d+\)-\(AES-256-GCM\)/,
      summary: /TLSv1\.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 \(256\/256 bits\)$/,
    },
    {
      priority: `${TLS12}:-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-SECP384R1`,
      description: /\(TLS1\.2-X\.509\)-\(ECDHE-SECP384R1\)-\(RSA-[A-Z0-9-]+\)-\(CHACHA20-POLY1305\)/,
      summary: /TLSv1\.2 with cipher ECDHE-RSA-CHACHA20-POLY1305 \(256\/256 bits\)$/,
    },
    {
      priority: `${TLS12}:-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-X25519`,
      description: /\(TLS1\.2-X\.509\)-\(ECDHE-X25519\)-\(RSA-[A-Z0-9-]+\)-\(AES-128-GCM\)/,
      summary: /TLSv1\.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 \(128\/128 bits\)$/,
    },
  ];
  let i = 0;
  for (const c of cases) await check(c, `gnutls tls12 ${i++}\n`);
});

test('TLS 1.2 DHE-RSA: the RFC 7919 group the client names (ffdhe3072, ffdhe2048)', async () => {
  await check(
    {
      priority: `${TLS12}:-KX-ALL:+DHE-RSA:-CIPHER-ALL:+AES-256-GCM:-GROUP-ALL:+GROUP-FFDHE3072`,
      description: /\(TLS1\.2-X\.509\)-\(DHE-FFDHE3072\)-\(RSA-[A-Z0-9-]+\)-\(AES-256-GCM\)/,
      summary: /TLSv1\.2 with cipher DHE-RSA-AES256-GCM-SHA384 \(256\/256 bits\)$/,
      flight: /TLS 1\.2 server flight: DHE-RSA-AES256-GCM-SHA384, DHE 3072 bits$/,
    },
    'gnutls ffdhe3072\n',
  );
  await check(
    {
      priority: `${TLS12}:-KX-ALL:+DHE-RSA:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-FFDHE2048`,
      description: /\(TLS1\.2-X\.509\)-\(DHE-FFDHE2048\)-\(RSA-[A-Z0-9-]+\)-\(AES-128-GCM\)/,
      summary: /TLSv1\.2 with cipher DHE-RSA-AES128-GCM-SHA256 \(128\/128 bits\)$/,
      flight: /TLS 1\.2 server flight: DHE-RSA-AES128-GCM-SHA256, DHE 2048 bits$/,
    },
    'gnutls ffdhe2048\n',
  );
});

test('TLS 1.3: groups and ciphers', async () => {
  const cases: Case[] = [
    {
      priority: TLS13,
      description: /\(TLS1\.3-X\.509\)-\(ECDHE-[A-Z0-9]+\)-\([A-Z0-9-]+\)-\(AES-256-GCM\)/,
      summary: /TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256\/256 bits\) key-exchange \S+ server-signature /,
    },
    {
      priority: `${TLS13}:-GROUP-ALL:+GROUP-SECP384R1:-CIPHER-ALL:+CHACHA20-POLY1305`,
      description: /\(TLS1\.3-X\.509\)-\(ECDHE-SECP384R1\)-\([A-Z0-9-]+\)-\(CHACHA20-POLY1305\)/,
      summary: /TLSv1\.3 with cipher TLS_CHACHA20_POLY1305_SHA256 \(256\/256 bits\) key-exchange secp384r1 /,
    },
    {
      priority: `${TLS13}:-GROUP-ALL:+GROUP-X25519:-CIPHER-ALL:+AES-128-GCM`,
      description: /\(TLS1\.3-X\.509\)-\(ECDHE-X25519\)-\([A-Z0-9-]+\)-\(AES-128-GCM\)/,
      summary: /TLSv1\.3 with cipher TLS_AES_128_GCM_SHA256 \(128\/128 bits\) key-exchange x25519 /,
    },
  ];
  let i = 0;
  for (const c of cases) await check(c, `gnutls tls13 ${i++}\n`);
});

async function resume(priority: string, input: string, ticket: boolean): Promise<void> {
  const mark = daemon.mark();
  const r = await gnutlsCli(daemon.port, ca, priority, ['--resume'], input, 5000);
  await daemon.waitFor(/^DISCONNECT /, { since: mark });
  // Both connections done: two DISCONNECT lines.
  const end = Date.now() + 5000;
  while (daemon.texts(mark).filter((t) => t.startsWith('DISCONNECT ')).length < 2 && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
  const lines = daemon.texts(mark);
  const what = `${priority}:\n${r.out}\n--- daemon:\n${lines.join('\n')}`;
  assert.match(r.out, '- Connecting again- trying to resume previous session', what);
  assert.match(r.out, '*** This is a resumed session', what);
  assert.match(r.out, input.trimEnd(), what);
  assert.is(lines.filter((t) => t.startsWith('CONNECT from')).length, 2, what);
  const reusing = lines.filter((t) => /: Reusing old session/.test(t));
  assert.is(reusing.length, 1, what);
  assert.is(reusing[0]!.endsWith(' (RFC 5077 session ticket)'), ticket, what);
}

test('--resume: TLS 1.2 by ticket', async () => {
  await resume(TLS12, 'resume 1.2 ticket\n', true);
});

test('--resume: TLS 1.2 by session ID (%NO_TICKETS)', async () => {
  await resume(`${TLS12}:%NO_TICKETS`, 'resume 1.2 id\n', false);
});

test('--resume: TLS 1.3 by ticket', async () => {
  await resume(TLS13, 'resume 1.3\n', true);
});

test.run();
