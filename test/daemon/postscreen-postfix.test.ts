/**
 * The postscreen front end in front of a REAL Postfix smtpd (Debian's
 * postfix package): a private instance on a loopback port started by this
 * test (test/helpers/postfix-backend.ts: its own config_directory,
 * queue_directory and data_directory in a temp directory, smtpd with
 * smtpd_upstream_proxy_protocol = haproxy, every message put on HOLD so it
 * stays in the queue), never the system instance.
 *
 * swaks sends mail from a fresh 127.0.0.N through our postscreen service,
 * over STARTTLS (TLS 1.3 and 1.2) and in plaintext under `may`; the
 * message lands in Postfix's hold queue with the client's real address in
 * its Received header (postcat), and smtpd logs `connect from
 * unknown[127.0.0.N]`: the PROXY header (v2, then v1) carried it.
 *
 * Skipped, with the reason, when Postfix is not installed or we are not
 * root (CI installs it and runs as root: .ci/run).
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningDaemon } from '../helpers/proxy.js';
import { certMainCf, run, startDaemon, tempDir } from '../helpers/proxy.js';
import { PostfixInstance, postfixUnavailable } from '../helpers/postfix-backend.js';
import { skipped } from '../helpers/skip.js';

const why = postfixUnavailable();
const pfxTest = why ? (name: string, _fn: () => Promise<void>) => test.skip(`${name} [skipped: ${why}]`) : test;
if (why) skipped('postscreen with a real Postfix backend', why);

let postfix: PostfixInstance | undefined;
const daemons: RunningDaemon[] = [];

test.before(async () => {
  if (why) return;
  postfix = await PostfixInstance.start(tempDir('tlsproxy-pfxbackend-'));
});

test.after(async () => {
  for (const d of daemons.splice(0)) await d.close();
  await postfix?.remove();
});

async function postscreen(level: 'may' | 'encrypt', proxy: 'v1' | 'v2'): Promise<RunningDaemon> {
  const d = await startDaemon(
    await certMainCf(`postscreen_tls_security_level = ${level}`),
    `127.0.0.1:0 inet n - n - 1 postscreen -o tlsproxy_backend=${postfix!.backendAddress} -o tlsproxy_backend_proxy_protocol=${proxy}`,
  );
  daemons.push(d);
  return d;
}

function swaks(port: number, from: string, extra: readonly string[]) {
  return run(
    'swaks',
    ['--server', `127.0.0.1:${port}`, '--local-interface', from, '--to', 'test@example.com', '--from', 'sender@example.net', '--ehlo', 'client.example', '--timeout', '15', ...extra],
    '',
    0,
    30_000,
  );
}

/** The held message whose Received header names `addr` (postcat output). */
async function heldFrom(addr: string, count: number): Promise<string> {
  const ids = await postfix!.waitForHeld(count);
  for (const id of ids) {
    const text = await postfix!.postcat(id);
    if (text.includes(`[${addr}]`)) return text;
  }
  throw new Error(`no held message from ${addr}; queue:\n${await postfix!.queue()}\nlog:\n${postfix!.log()}`);
}

pfxTest('swaks over STARTTLS (TLS 1.3) through postscreen, PROXY v2: the message is in Postfix\'s queue with the client\'s real address in its Received header', async () => {
  const d = await postscreen('encrypt', 'v2');
  const r = await swaks(d.port, '127.0.0.5', ['--tls', '--tls-protocol', 'tlsv1_3', '--header', 'Subject: through tlsproxy (v2)']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /<-  220 testhost\.example ESMTP Postfix/);
  assert.match(r.stdout, /<-  250-STARTTLS/);
  assert.match(r.stdout, /<-  220 2\.0\.0 Ready to start TLS/);
  assert.match(r.stdout, /=== TLS started with cipher TLSv1\.3:/);
  // After TLS the EHLO reply is Postfix's own, without STARTTLS.
  assert.match(r.stdout, new RegExp(`<~  250-${postfix!.myhostname.replace(/\./g, '\\.')}`));
  assert.not.match(r.stdout, /<~  250.STARTTLS/);
  assert.match(r.stdout, /<~  250 2\.0\.0 Ok: queued as [0-9A-F]+/);
  const message = await heldFrom('127.0.0.5', 1);
  assert.match(message, new RegExp(`Received: from client\\.example \\(unknown \\[127\\.0\\.0\\.5\\]\\)\\s+by ${postfix!.myhostname.replace(/\./g, '\\.')} \\(Postfix\\) with ESMTP id `));
  assert.match(message, /Subject: through tlsproxy \(v2\)/);
  assert.match(postfix!.log(), /postfix\/smtpd\[\d+\]: connect from unknown\[127\.0\.0\.5\]/);
  await d.log.waitFor(/^DISCONNECT \[127\.0\.0\.5\]/);
  assert.ok(d.log.messages.some((m) => /^Anonymous TLS connection established from \[127\.0\.0\.5\]:\d+: TLSv1\.3 /.test(m)));
  assert.ok(d.log.messages.some((m) => m.startsWith(`RELAY [127.0.0.5]:`) && m.endsWith(`to ${postfix!.backendAddress} after EHLO with TLS`)));
});

pfxTest('swaks over STARTTLS with TLS 1.2, PROXY v1: Received header from the real address', async () => {
  const d = await postscreen('may', 'v1');
  const r = await swaks(d.port, '127.0.0.6', ['--tls', '--tls-protocol', 'tlsv1_2', '--header', 'Subject: through tlsproxy (v1)']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /=== TLS started with cipher TLSv1\.2:/);
  const message = await heldFrom('127.0.0.6', 2);
  assert.match(message, /Received: from client\.example \(unknown \[127\.0\.0\.6\]\)/);
  assert.match(postfix!.log(), /connect from unknown\[127\.0\.0\.6\]/);
});

pfxTest('plaintext under may: the client goes on without STARTTLS; Postfix gets the replayed EHLO and the mail from the real address', async () => {
  const d = await postscreen('may', 'v2');
  const r = await swaks(d.port, '127.0.0.8', ['--header', 'Subject: plaintext through tlsproxy']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /<-  250 2\.0\.0 Ok: queued as /);
  const message = await heldFrom('127.0.0.8', 3);
  assert.match(message, /Received: from client\.example \(unknown \[127\.0\.0\.8\]\)/);
  assert.ok(d.log.messages.some((m) => /^RELAY \[127\.0\.0\.8\]:\d+ to .* after MAIL$/.test(m)));
});

pfxTest('encrypt: a client that does not STARTTLS gets 530 at MAIL and nothing reaches Postfix', async () => {
  const d = await postscreen('encrypt', 'v2');
  const before = (await postfix!.heldQueueIds()).length;
  const r = await swaks(d.port, '127.0.0.9', []);
  assert.match(r.stdout, /<\*\* 530 5\.7\.0 Must issue a STARTTLS command first/);
  assert.is((await postfix!.heldQueueIds()).length, before);
  assert.not.match(postfix!.log(), /unknown\[127\.0\.0\.9\]/);
});

test.run();
