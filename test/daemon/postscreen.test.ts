/**
 * The postscreen front end (proxy/postscreen/) and the TLS service
 * (proxy/tls-service.ts), through the real Daemon on 127.0.0.1 with a fake
 * SMTP backend of our own (test/helpers/postfix-backend.ts) and real
 * clients: raw SMTP + node:tls, `openssl s_client -starttls smtp` (TLS 1.2
 * and 1.3), swaks.
 *
 *  - every reply of tlsproxy-postfix.md §5: greeting, EHLO list, 501/554/502/
 *    530/454/220 around STARTTLS, NOOP/RSET/QUIT, HELO/EHLO syntax;
 *  - STARTTLS command injection (CVE-2011-0411): `STARTTLS\r\nRSET\r\n` in one
 *    write, RSET answered neither in plaintext nor after TLS, logged;
 *  - relay after TLS (backend EHLO reply without STARTTLS) and in plaintext
 *    under may (the stored EHLO replayed);
 *  - TLS unavailable (no certificate, security level none for the TLS
 *    service, session limit) → 454 and the plaintext dialogue goes on;
 *  - limits (line length, command count, command time), backend down;
 *  - log lines of both sides (postfix/postscreen, postfix/tlsproxy).
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningDaemon } from '../helpers/proxy.js';
import { certMainCf, closedPort, delay, run, startDaemon, testPki, writeConfig } from '../helpers/proxy.js';
import { FakeSmtpBackend, SmtpClient } from '../helpers/postfix-backend.js';
import { DaemonProc } from '../helpers/daemon-proc.js';

const EHLO_PLAIN =
  '250-testhost.example\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n';
const EHLO_NO_TLS = EHLO_PLAIN.replace('250-STARTTLS\r\n', '');
const BACKEND_EHLO_NO_STARTTLS = '250-backend.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n';

function service(backend: string, extra = ''): string {
  return `127.0.0.1:0 inet n - n - 1 postscreen -o tlsproxy_backend=${backend} ${extra}`.trim();
}

/** Message texts of one program's lines (`postscreen` or `tlsproxy`), optionally only those naming `peer`. */
function lines(d: RunningDaemon, tag: 'postscreen' | 'tlsproxy', peer?: string): string[] {
  return d.log.records
    .filter((r) => r.line.includes(` postfix/${tag}[`))
    .map((r) => (r.severity === 'info' ? r.text : `${r.severity}: ${r.text}`))
    .filter((m) => !peer || m.includes(peer));
}

interface Fixture {
  d: RunningDaemon;
  backend: FakeSmtpBackend;
  close(): Promise<void>;
}

async function fixture(mainCf: string, extra = '', backendOptions: Parameters<typeof FakeSmtpBackend.start>[0] = {}): Promise<Fixture> {
  const backend = await FakeSmtpBackend.start(backendOptions);
  let d: RunningDaemon;
  try {
    d = await startDaemon(mainCf, service(backend.address, extra));
  } catch (e) {
    await backend.close();
    throw e;
  }
  return {
    d,
    backend,
    close: async () => {
      await d.close();
      await backend.close();
    },
  };
}

const clients: SmtpClient[] = [];
async function connect(port: number, localAddress?: string): Promise<SmtpClient> {
  const c = await SmtpClient.connect(port, { localAddress });
  clients.push(c);
  return c;
}

test.after.each(() => {
  for (const c of clients.splice(0)) c.destroy();
});

// ------------------------------------------------------------------ the dialogue

test('may: greeting, EHLO list with STARTTLS, NOOP, RSET, HELO, syntax errors, QUIT; log lines', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'));
  try {
    const c = await connect(f.d.port);
    assert.is(await c.reply(), '220 testhost.example ESMTP Postfix\r\n');
    assert.is(await c.command('EHLO'), '501 Syntax: EHLO hostname\r\n');
    assert.is(await c.command('HELO'), '501 Syntax: HELO hostname\r\n');
    assert.is(await c.command('EHLO client.example'), EHLO_PLAIN);
    assert.is(await c.command('HELO client.example'), '250 testhost.example\r\n');
    assert.is(await c.command('NOOP'), '250 2.0.0 Ok\r\n');
    assert.is(await c.command('RSET'), '250 2.0.0 Ok\r\n');
    assert.is(await c.command(''), '502 5.5.2 Error: command not recognized\r\n');
    assert.is(await c.command('STARTTLS now'), '501 5.5.4 Syntax: STARTTLS\r\n');
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    await f.d.log.waitFor(`DISCONNECT ${c.peer}`);
    assert.equal(lines(f.d, 'postscreen', c.peer), [`CONNECT from ${c.peer} to [127.0.0.1]:${f.d.port}`, `DISCONNECT ${c.peer}`]);
    // No TLS asked for: the TLS service logged nothing; the backend was never contacted.
    assert.equal(lines(f.d, 'tlsproxy', c.peer), []);
    assert.is(f.backend.sessions.length, 0);
    // the postscreen tag in the full line
    assert.match(f.d.log.lines.find((l) => l.includes('CONNECT from'))!, / testhost postfix\/postscreen\[\d+\]: CONNECT from /);
  } finally {
    await f.close();
  }
});

test('STARTTLS then EHLO over TLS: 220 after the hand-over, backend reply without STARTTLS, mail relayed; both programs log', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('EHLO client.example'), EHLO_PLAIN);
    assert.is(await c.command('STARTTLS'), '220 2.0.0 Ready to start TLS\r\n');
    const t = await c.tls({ servername: 'localhost' });
    assert.is(t.getProtocol(), 'TLSv1.3');
    assert.is(await c.command('STARTTLS'), '554 5.5.1 Error: TLS already active\r\n');
    assert.is(await c.command('NOOP'), '250 2.0.0 Ok\r\n');
    assert.is(await c.command('EHLO client.example'), BACKEND_EHLO_NO_STARTTLS);
    assert.is(await c.command('MAIL FROM:<a@example.net>'), '250 2.1.0 Ok\r\n');
    assert.is(await c.command('RCPT TO:<b@example.com>'), '250 2.1.5 Ok\r\n');
    assert.match(await c.command('DATA'), /^354 /);
    assert.is(await c.command('Subject: hi\r\n\r\nbody line\r\n..dot\r\n.'), '250 2.0.0 Ok: queued as FAKE1\r\n');
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    const b = f.backend.sessions[0]!;
    assert.equal(b.commands, ['EHLO client.example', 'MAIL FROM:<a@example.net>', 'RCPT TO:<b@example.com>', 'DATA', 'QUIT']);
    assert.equal(b.messages, ['Subject: hi\r\n\r\nbody line\r\n.dot']);
    await f.d.log.waitFor(/^DISCONNECT/);
    await delay(50);
    const tl = lines(f.d, 'tlsproxy', c.peer);
    assert.is(tl.length, 3, tl.join('\n'));
    assert.is(tl[0], `CONNECT from ${c.peer}`);
    assert.match(tl[1]!, new RegExp(`^Anonymous TLS connection established from \\[127\\.0\\.0\\.1\\]:${c.localPort}: TLSv1\\.3 with cipher `));
    assert.is(tl[2], `DISCONNECT ${c.peer}`);
    assert.equal(lines(f.d, 'postscreen', c.peer), [
      `CONNECT from ${c.peer} to [127.0.0.1]:${f.d.port}`,
      `RELAY ${c.peer} to ${f.backend.address} after EHLO with TLS`,
      `DISCONNECT ${c.peer}`,
    ]);
    // Order of the two DISCONNECTs: postscreen first, then tlsproxy (as in Postfix's log).
    const order = f.d.log.lines.filter((l) => l.includes(`DISCONNECT ${c.peer}`));
    assert.match(order[0]!, /postfix\/postscreen/);
    assert.match(order[1]!, /postfix\/tlsproxy/);
  } finally {
    await f.close();
  }
});

test('command injection: STARTTLS\\r\\nRSET\\r\\n in one write: RSET answered neither in plaintext nor after TLS, discarded and logged', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    await c.command('EHLO client.example');
    c.write('STARTTLS\r\nRSET\r\n');
    assert.is(await c.reply(), '220 2.0.0 Ready to start TLS\r\n');
    await delay(300);
    assert.is(c.pending(), '', 'nothing else in plaintext');
    await c.tls({ servername: 'localhost' });
    await delay(300);
    assert.is(c.pending(), '', 'nothing answered after TLS either');
    assert.is(await c.command('NOOP'), '250 2.0.0 Ok\r\n', 'the next reply is the NOOP one');
    assert.is(await c.command('EHLO client.example'), BACKEND_EHLO_NO_STARTTLS);
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    assert.ok(
      lines(f.d, 'postscreen').includes(`warning: ${c.peer}: discarding 6 bytes of plaintext sent after STARTTLS (command injection): RSET\\r\\n`),
      lines(f.d, 'postscreen').join('\n'),
    );
    // The backend never saw an RSET.
    assert.equal(f.backend.sessions[0]!.commands, ['EHLO client.example', 'QUIT']);
  } finally {
    await f.close();
  }
});

test('injection with pipelined EHLO+MAIL after STARTTLS: all discarded, none reaches the backend', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    c.write('EHLO a\r\nSTARTTLS\r\nEHLO evil\r\nMAIL FROM:<evil@example>\r\n');
    assert.is(await c.reply(), EHLO_PLAIN);
    assert.is(await c.reply(), '220 2.0.0 Ready to start TLS\r\n');
    await c.tls({ servername: 'localhost' });
    assert.is(await c.command('EHLO good'), BACKEND_EHLO_NO_STARTTLS);
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    assert.equal(f.backend.sessions[0]!.commands, ['EHLO good', 'QUIT']);
    assert.ok(lines(f.d, 'postscreen').some((m) => m.startsWith(`warning: ${c.peer}: discarding 37 bytes of plaintext sent after STARTTLS`)));
  } finally {
    await f.close();
  }
});

test('encrypt: 530 before STARTTLS for MAIL RCPT DATA RSET VRFY ETRN BDAT; 502 5.5.2 for AUTH and unknown; HELO/EHLO/NOOP/QUIT allowed', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = encrypt'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('EHLO client.example'), EHLO_PLAIN);
    for (const cmd of ['MAIL FROM:<a@b>', 'RCPT TO:<c@d>', 'DATA', 'RSET', 'VRFY x', 'ETRN x', 'BDAT 10 LAST']) {
      assert.is(await c.command(cmd), '530 5.7.0 Must issue a STARTTLS command first\r\n', cmd);
    }
    assert.is(await c.command('AUTH PLAIN'), '502 5.5.2 Error: command not recognized\r\n');
    assert.is(await c.command('FOO'), '502 5.5.2 Error: command not recognized\r\n');
    assert.is(await c.command('HELO x'), '250 testhost.example\r\n');
    assert.is(await c.command('NOOP'), '250 2.0.0 Ok\r\n');
    assert.is(await c.command('STARTTLS'), '220 2.0.0 Ready to start TLS\r\n');
    await c.tls({ servername: 'localhost' });
    // After TLS: RSET locally, MAIL without EHLO goes to the backend.
    assert.is(await c.command('RSET'), '250 2.0.0 Ok\r\n');
    assert.is(await c.command('MAIL FROM:<a@b>'), '250 2.1.0 Ok\r\n');
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    assert.equal(f.backend.sessions[0]!.commands, ['MAIL FROM:<a@b>', 'QUIT'], 'no HELO replayed after TLS (it was forgotten)');
    assert.is(f.backend.sessions.length, 1);
  } finally {
    await f.close();
  }
});

test('none (the default, as smtpd_tls_security_level is empty): no STARTTLS offered, STARTTLS → 502 5.5.1; plaintext relay', async () => {
  const f = await fixture(await certMainCf());
  try {
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('EHLO client.example'), EHLO_NO_TLS);
    assert.is(await c.command('STARTTLS'), '502 5.5.1 Error: command not implemented\r\n');
    assert.is(await c.command('MAIL FROM:<a@b>'), '250 2.1.0 Ok\r\n');
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    assert.equal(f.backend.sessions[0]!.commands, ['EHLO client.example', 'MAIL FROM:<a@b>', 'QUIT']);
  } finally {
    await f.close();
  }
});

test('postscreen_discard_ehlo_keywords: dropped from the list; starttls dropped also refuses STARTTLS', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may\npostscreen_discard_ehlo_keywords = starttls, vrfy, chunking'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(
      await c.command('EHLO client.example'),
      '250-testhost.example\r\n250-SIZE 10240000\r\n250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n',
    );
    assert.is(await c.command('STARTTLS'), '502 5.5.1 Error: command not implemented\r\n');
  } finally {
    await f.close();
  }
});

test('may, plaintext: the client goes on without TLS: its stored EHLO is replayed to the backend, the reply swallowed, MAIL relayed', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('EHLO client.example'), EHLO_PLAIN);
    // Pipelined after MAIL: relayed in order once the backend is ready.
    c.write('MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n');
    assert.is(await c.reply(), '250 2.1.0 Ok\r\n');
    assert.is(await c.reply(), '250 2.1.5 Ok\r\n');
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    assert.equal(f.backend.sessions[0]!.commands, ['EHLO client.example', 'MAIL FROM:<a@b>', 'RCPT TO:<c@d>', 'QUIT']);
    await f.d.log.waitFor(`DISCONNECT ${c.peer}`);
    assert.ok(lines(f.d, 'postscreen').includes(`RELAY ${c.peer} to ${f.backend.address} after MAIL`));
  } finally {
    await f.close();
  }
});

test('bytes are relayed as sent: a UTF-8 address in the command that starts the relay and in the backend reply', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'), '', { ehlo: ['SMTPUTF8', 'X-\u00e9t\u00e9'] });
  try {
    const c = await connect(f.d.port);
    await c.reply();
    const mail = Buffer.from('MAIL FROM:<j\u00f6rg@example.net> SMTPUTF8\r\n', 'utf8');
    c.write(mail);
    assert.is(await c.reply(), '250 2.1.0 Ok\r\n');
    assert.is(f.backend.sessions[0]!.commands[0], mail.toString('latin1').trimEnd(), 'the same bytes');
    // Over TLS the backend's EHLO reply goes through our reply reader (STARTTLS filter): bytes kept.
    const t = await connect(f.d.port);
    await t.reply();
    assert.is(await t.command('STARTTLS'), '220 2.0.0 Ready to start TLS\r\n');
    await t.tls({ servername: 'localhost' });
    assert.is(await t.command('EHLO again'), Buffer.from('250-backend.example\r\n250-SMTPUTF8\r\n250 X-\u00e9t\u00e9\r\n', 'utf8').toString('latin1'));
  } finally {
    await f.close();
  }
});

// ------------------------------------------------------------------ TLS not available

test('TLS unavailable: no certificate → start-up warning, STARTTLS still offered, 454, plaintext goes on; the TLS service logs CONNECT/warning/DISCONNECT', async () => {
  const f = await fixture('myhostname = testhost.example\npostscreen_tls_security_level = may');
  try {
    assert.ok(f.d.log.messages.includes("warning: No server certs available. TLS can't be enabled"), f.d.log.messages.join('\n'));
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('EHLO client.example'), EHLO_PLAIN);
    c.write('STARTTLS\r\nNOOP\r\n');
    assert.is(await c.reply(), '454 4.7.0 TLS not available due to local problem\r\n');
    assert.is(await c.reply(), '250 2.0.0 Ok\r\n', 'pipelined input is kept when TLS was refused');
    assert.is(await c.command('MAIL FROM:<a@b>'), '250 2.1.0 Ok\r\n');
    assert.is(await c.command('QUIT'), '221 2.0.0 Bye\r\n');
    await c.closedPromise();
    assert.equal(lines(f.d, 'tlsproxy', c.peer), [`CONNECT from ${c.peer}`, `DISCONNECT ${c.peer}`]);
    assert.ok(lines(f.d, 'tlsproxy').includes("warning: TLS server role is not available: No server certs available. TLS can't be enabled"));
  } finally {
    await f.close();
  }
});

test('TLS unavailable: tlsproxy_tls_security_level = none → "TLS server role is disabled by configuration" per request, 454', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may\ntlsproxy_tls_security_level = none'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('STARTTLS'), '454 4.7.0 TLS not available due to local problem\r\n');
    assert.is(await c.command('STARTTLS'), '454 4.7.0 TLS not available due to local problem\r\n');
    assert.equal(
      lines(f.d, 'tlsproxy').filter((m) => m.startsWith('warning')),
      ['warning: TLS server role is disabled by configuration', 'warning: TLS server role is disabled by configuration'],
    );
  } finally {
    await f.close();
  }
});

test('TLS unavailable: no capacity (tlsproxy_process_session_limit = 1) → 454 for the second client until the first one ends', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may\ntlsproxy_process_session_limit = 1'));
  try {
    const a = await connect(f.d.port);
    await a.reply();
    assert.is(await a.command('STARTTLS'), '220 2.0.0 Ready to start TLS\r\n');
    await a.tls({ servername: 'localhost' });
    const b = await connect(f.d.port);
    await b.reply();
    assert.is(await b.command('STARTTLS'), '454 4.7.0 TLS not available due to local problem\r\n');
    assert.ok(lines(f.d, 'tlsproxy').some((m) => /^warning: TLS server role is not available for \[127\.0\.0\.1\]:\d+: 1 TLS sessions in this process \(tlsproxy_process_session_limit = 1\)$/.test(m)));
    assert.is(await a.command('QUIT'), '221 2.0.0 Bye\r\n');
    await a.closedPromise();
    await f.d.log.waitFor(new RegExp(`^DISCONNECT \\[127\\.0\\.0\\.1\\]:${a.localPort}`));
    await delay(100);
    assert.is(await b.command('STARTTLS'), '220 2.0.0 Ready to start TLS\r\n');
    await b.tls({ servername: 'localhost' });
    assert.is(await b.command('QUIT'), '221 2.0.0 Bye\r\n');
  } finally {
    await f.close();
  }
});

// ------------------------------------------------------------------ real clients

for (const version of ['-tls1_2', '-tls1_3'] as const) {
  for (const level of ['may', 'encrypt'] as const) {
    test(`openssl s_client -starttls smtp ${version} under ${level}: mail through to the backend`, async () => {
      const f = await fixture(await certMainCf(`postscreen_tls_security_level = ${level}`));
      try {
        const pki = await testPki();
        const r = await run(
          'openssl',
          ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${f.d.port}`, version, '-quiet', '-CAfile', pki.ca, '-verify_return_error', '-servername', 'localhost'],
          'EHLO ossl.example\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nQUIT\r\n',
          1500,
        );
        assert.match(r.stdout, /^250-backend\.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n250 2\.1\.0 Ok\r\n250 2\.1\.5 Ok\r\n221 2\.0\.0 Bye\r\n$/, r.stdout + r.stderr);
        await f.backend.waitFor(() => f.backend.sessions[0]?.closed === true);
        assert.equal(f.backend.sessions[0]!.commands, ['EHLO ossl.example', 'MAIL FROM:<a@b>', 'RCPT TO:<c@d>', 'QUIT']);
        const summary = await f.d.log.waitFor(/^Anonymous TLS connection established/);
        assert.match(summary.text, version === '-tls1_2' ? /: TLSv1\.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 \(256\/256 bits\)$/ : /: TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 /);
      } finally {
        await f.close();
      }
    });
  }
}

test('swaks --tls from 127.0.0.2: message delivered to the backend, which learns the client from a PROXY v2 header with the TLS TLVs', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = encrypt'), '-o tlsproxy_backend_proxy_protocol=v2', { proxy: true });
  try {
    const r = await run(
      'swaks',
      ['--server', `127.0.0.1:${f.d.port}`, '--local-interface', '127.0.0.2', '--tls', '--tls-sni', 'mail.example', '--to', 'test@example.com', '--from', 'sender@example.net', '--ehlo', 'client.example', '--body', 'hello from swaks'],
      '',
      0,
      20_000,
    );
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<~  250 2\.0\.0 Ok: queued as FAKE1/);
    await f.backend.waitFor(() => f.backend.sessions[0]?.closed === true);
    const b = f.backend.sessions[0]!;
    assert.is(b.messages.length, 1);
    assert.match(b.messages[0]!, /hello from swaks/);
    const h = b.proxy!;
    assert.is(h.version, 2);
    assert.is(h.source!.address, '127.0.0.2');
    assert.equal(h.destination, { address: '127.0.0.1', port: f.d.port });
    assert.is(h.authority, 'mail.example');
    assert.is(h.ssl!.client & 1, 1, 'PP2_CLIENT_SSL');
    assert.is(h.ssl!.version, 'TLSv1.3');
    assert.is(h.ssl!.cipher, 'TLS_AES_256_GCM_SHA384');
    assert.is(h.ssl!.keyAlg, 'EC256');
    assert.is(h.ssl!.sigAlg, 'ecdsa-with-SHA256');
    assert.is(h.ssl!.verify, 1, 'no client certificate: not verified');
    // The log names the real client.
    assert.ok(lines(f.d, 'postscreen').some((m) => /^CONNECT from \[127\.0\.0\.2\]:\d+ to \[127\.0\.0\.1\]:\d+$/.test(m)));
  } finally {
    await f.close();
  }
});

test('tlsproxy_backend_proxy_protocol = v1: one PROXY TCP4 line naming the client before SMTP', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'), '-o tlsproxy_backend_proxy_protocol=v1', { proxy: true });
  try {
    const c = await connect(f.d.port, '127.0.0.3');
    await c.reply();
    assert.is(await c.command('EHLO x'), EHLO_PLAIN);
    assert.is(await c.command('MAIL FROM:<a@b>'), '250 2.1.0 Ok\r\n');
    const h = f.backend.sessions[0]!.proxy!;
    assert.is(h.version, 1);
    assert.equal(h.source, { address: '127.0.0.3', port: c.localPort });
    assert.equal(h.destination, { address: '127.0.0.1', port: f.d.port });
  } finally {
    await f.close();
  }
});

// ------------------------------------------------------------------ limits and failures

test('line_length_limit: COMMAND LENGTH LIMIT and 421; command count limit: COMMAND COUNT LIMIT and 421', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may\nline_length_limit = 512\npostscreen_command_count_limit = 3'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    c.write(`NOOP ${'x'.repeat(600)}`);
    assert.is(await c.reply(), '421 testhost.example Service unavailable - try again later\r\n');
    await c.closedPromise();
    await f.d.log.waitFor(`COMMAND LENGTH LIMIT from ${c.peer} after CONNECT`);
    const d = await connect(f.d.port);
    await d.reply();
    assert.is(await d.command('NOOP'), '250 2.0.0 Ok\r\n');
    assert.is(await d.command('NOOP'), '250 2.0.0 Ok\r\n');
    assert.is(await d.command('NOOP'), '250 2.0.0 Ok\r\n');
    assert.is(await d.command('NOOP'), '421 testhost.example Service unavailable - try again later\r\n');
    await d.closedPromise();
    await f.d.log.waitFor(`COMMAND COUNT LIMIT from ${d.peer} after NOOP`);
    await f.d.log.waitFor(`DISCONNECT ${d.peer}`);
  } finally {
    await f.close();
  }
});

test('postscreen_command_time_limit: COMMAND TIME LIMIT, 421 4.4.2 ... timeout exceeded', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may\npostscreen_command_time_limit = 1s'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('NOOP'), '250 2.0.0 Ok\r\n');
    assert.is(await c.reply(3000), '421 4.4.2 testhost.example Error: timeout exceeded\r\n');
    await c.closedPromise();
    await f.d.log.waitFor(`COMMAND TIME LIMIT from ${c.peer} after NOOP`);
  } finally {
    await f.close();
  }
});

test('client hangs up: HANGUP line; a failed TLS handshake: the TLS service logs it, postscreen HANGUP, both DISCONNECT', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'));
  try {
    const c = await connect(f.d.port);
    await c.reply();
    c.end();
    await f.d.log.waitFor(`DISCONNECT ${c.peer}`);
    assert.ok(lines(f.d, 'postscreen', c.peer).some((m) => new RegExp(`^HANGUP after \\d+\\.\\d from \\[127\\.0\\.0\\.1\\]:${c.localPort} in tests after SMTP handshake$`).test(m)));

    const t = await connect(f.d.port);
    await t.reply();
    assert.is(await t.command('STARTTLS'), '220 2.0.0 Ready to start TLS\r\n');
    t.write('this is not a ClientHello\r\n');
    await t.closedPromise();
    await f.d.log.waitFor(new RegExp(`^DISCONNECT \\[127\\.0\\.0\\.1\\]:${t.localPort}$`));
    await delay(100);
    const tl = lines(f.d, 'tlsproxy', t.peer);
    assert.is(tl[0], `CONNECT from ${t.peer}`);
    assert.ok(tl.includes(`TLS handshake failed for service=smtpd peer=${t.peer}`), tl.join('\n'));
    assert.is(tl[tl.length - 1], `DISCONNECT ${t.peer}`);
    const pl = lines(f.d, 'postscreen', t.peer);
    assert.match(pl[1]!, /^HANGUP after /);
    assert.is(pl[2], `DISCONNECT ${t.peer}`);
    assert.is(f.backend.sessions.length, 0);
  } finally {
    await f.close();
  }
});

test('backend down: 421 Service unavailable and a warning naming the backend', async () => {
  const port = await closedPort();
  const d = await startDaemon(await certMainCf('postscreen_tls_security_level = may'), service(`inet:127.0.0.1:${port}`));
  try {
    const c = await connect(d.port);
    await c.reply();
    await c.command('EHLO x');
    assert.is(await c.command('MAIL FROM:<a@b>'), '421 testhost.example Service unavailable - try again later\r\n');
    await c.closedPromise();
    await d.log.waitFor(`DISCONNECT ${c.peer}`);
    assert.ok(lines(d, 'postscreen').some((m) => m.startsWith(`warning: backend inet:127.0.0.1:${port} for ${c.peer}: connect: `)), lines(d, 'postscreen').join('\n'));
  } finally {
    await d.close();
  }
});

test('backend greets with 554: 421 to the client, warning with the greeting', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'), '', { greeting: '554 5.3.2 not now' });
  try {
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('MAIL FROM:<a@b>'), '421 testhost.example Service unavailable - try again later\r\n');
    await c.closedPromise();
    assert.ok(lines(f.d, 'postscreen').includes(`warning: backend ${f.backend.address} for ${c.peer}: unexpected greeting: 554 5.3.2 not now`));
  } finally {
    await f.close();
  }
});

test('postscreen_tls_security_level: fingerprint warns and means encrypt; an unknown level stops the start', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = verify'));
  try {
    assert.ok(f.d.log.messages.includes('warning: postscreen_tls_security_level: unsupported TLS level "verify", using "encrypt"'));
    const c = await connect(f.d.port);
    await c.reply();
    assert.is(await c.command('MAIL FROM:<a@b>'), '530 5.7.0 Must issue a STARTTLS command first\r\n');
  } finally {
    await f.close();
  }
  const backend = await FakeSmtpBackend.start();
  try {
    let error: Error | undefined;
    try {
      const d = await startDaemon(await certMainCf('postscreen_tls_security_level = dane'), service(backend.address));
      await d.close();
    } catch (e) {
      error = e as Error;
    }
    assert.is(error?.message, 'Invalid TLS level "dane"');
  } finally {
    await backend.close();
  }
});

test('the real daemon (bin/tlsproxy.js) with 2 worker processes runs a postscreen service: openssl -starttls smtp and swaks through it, lines tagged by worker pid', async () => {
  const backend = await FakeSmtpBackend.start({ proxy: true });
  const dir = writeConfig(await certMainCf('postscreen_tls_security_level = may\ntlsproxy_allow_root = yes'), `127.0.0.1:0 inet n - n - 2 postscreen -o tlsproxy_backend=${backend.address} -o tlsproxy_backend_proxy_protocol=v2`);
  const d = await DaemonProc.start(dir);
  try {
    const pki = await testPki();
    const r = await run('openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${d.port}`, '-quiet', '-CAfile', pki.ca, '-verify_return_error', '-servername', 'localhost'], 'EHLO w.example\r\nQUIT\r\n', 1500);
    assert.match(r.stdout, /^250-backend\.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n221 2\.0\.0 Bye\r\n$/, r.stdout + r.stderr);
    const s = await run('swaks', ['--server', `127.0.0.1:${d.port}`, '--local-interface', '127.0.0.11', '--tls', '--to', 'a@example.com', '--from', 'b@example.net'], '', 0, 20_000);
    assert.is(s.code, 0, s.stdout + s.stderr);
    await backend.waitFor(() => backend.sessions.length === 2 && backend.sessions.every((x) => x.closed));
    assert.is(backend.sessions[1]!.proxy!.source!.address, '127.0.0.11');
    assert.is(backend.sessions[1]!.messages.length, 1);
    const ps = await d.waitFor(/^CONNECT from \[127\.0\.0\.11\]:\d+ to /);
    assert.match(ps.line, /postfix\/postscreen\[\d+\]/);
    assert.ok(d.workerPids().includes(ps.pid), 'logged by a worker process');
    await d.waitFor(/^DISCONNECT \[127\.0\.0\.11\]/);
  } finally {
    await d.stop();
    await backend.close();
  }
});

test('daemon close ends open postscreen sessions (plaintext, TLS, relaying) and nothing is left', async () => {
  const f = await fixture(await certMainCf('postscreen_tls_security_level = may'));
  const a = await connect(f.d.port);
  await a.reply();
  const b = await connect(f.d.port);
  await b.reply();
  await b.command('STARTTLS');
  await b.tls({ servername: 'localhost' });
  const c = await connect(f.d.port);
  await c.reply();
  await c.command('MAIL FROM:<a@b>');
  assert.is(f.d.daemon.activeSessions, 3);
  await f.close();
  await Promise.all([a.closedPromise(), b.closedPromise(), c.closedPromise()]);
  assert.is(f.d.daemon.activeSessions, 0);
});

test.run();
