/**
 * Client certificates in the engine (TLS 1.3 and 1.2) against openssl
 * s_client: CertificateRequest sent, chain handed to the verifier,
 * CertificateVerify checked, the request / require / requireTrusted
 * policies with their exact alerts. The verifier here is a small test one
 * over node:crypto's X509Certificate (certs/ has the production verifier).
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ClientAuthPolicy, ClientCertificateVerdict } from '../../engine/config.js';
import { startEngineServer, type EngineServer } from '../helpers/engine-server.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const ca = new X509Certificate(pki.caPem);

function verdictFor(der: Uint8Array): ClientCertificateVerdict {
  const cert = new X509Certificate(der);
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  const keyAlgorithm =
    key.asymmetricKeyType === 'rsa' ? 'rsa'
    : key.asymmetricKeyType === 'ed25519' ? 'ed25519'
    : details.namedCurve === 'prime256v1' ? 'ecdsa-p256'
    : details.namedCurve === 'secp384r1' ? 'ecdsa-p384'
    : 'other';
  const trusted = cert.checkIssued(ca) && cert.verify(ca.publicKey);
  return {
    spki: new Uint8Array(key.export({ type: 'spki', format: 'der' })),
    keyAlgorithm,
    keyBits: details.modulusLength ?? (keyAlgorithm === 'ecdsa-p384' ? 384 : 256),
    trusted,
    alert: trusted ? undefined : 'unknown_ca',
    reason: trusted ? undefined : `untrusted issuer ${cert.issuer.replace(/\n/g, '/')}`,
    details: { subject: cert.subject, issuer: cert.issuer, subjectCN: '', issuerCN: '', certFingerprint: '', pkeyFingerprint: '', digest: 'sha256' },
  };
}

function policy(mode: 'request' | 'require', requireTrusted = false): ClientAuthPolicy {
  return { mode, requireTrusted, verify: (chain) => verdictFor(chain[0]!) };
}

const tempDirs: string[] = [];
process.once('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

const selfSigned = (() => {
  const dir = tempDir('tlsproxy-client-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-subj', '/CN=stranger', '-days', '2'], { cwd: dir, stdio: 'ignore' });
  return { cert: path.join(dir, 'c.pem'), key: path.join(dir, 'k.pem') };
})();

/** Run s_client with the given args against the server (asynchronously: the server is in this process). */
function sClient(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', pki.caPath, '-nocommands', ...args],
      { encoding: 'utf8', timeout: 8000 },
      (_err, stdout, stderr) => resolve(`${stdout}${stderr}`),
    );
    // Keep stdin open a moment so s_client reads what follows the handshake (tickets, alerts).
    child.stdin!.write('ping\n');
    setTimeout(() => child.stdin!.end(), 400);
  });
}

async function withServer(p: ClientAuthPolicy, fn: (s: EngineServer) => Promise<void>): Promise<void> {
  const s = await startEngineServer({ certs: ['p256', 'rsa'], config: { clientAuth: p, versions: [0x0304, 0x0303] } });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

/** The server's side of the last connection is over (s_client has exited; the engine finished with what it got). */
const settle = (s: EngineServer) => s.sessionDone(s.sessions.length, 15_000);

for (const version of ['-tls1_3', '-tls1_2'] as const) {
  for (const kind of ['p256', 'rsa'] as const) {
    test(`${version} ${kind} client certificate: requested, verified, signature checked`, async () => {
      await withServer(policy('request'), async (s) => {
        const c = pki.certs[kind];
        const out = await sClient(s.port, [version, '-cert', c.certPath, '-key', c.keyPath]);
        assert.match(out, /(Acceptable|No) client certificate CA names/);
        await settle(s);
        const info = s.sessions.at(-1)!.info!;
        assert.ok(info.clientCertificate, 'client certificate in the handshake info');
        assert.is(info.clientCertificate!.trusted, true);
        assert.match(info.clientCertificate!.signature, kind === 'p256' ? /^ECDSA \(prime256v1\)$/ : /^RSA(-PSS)? \(2048 bits\)$/);
      });
    });
  }

  test(`${version} no client certificate under 'request': handshake completes, anonymous`, async () => {
    await withServer(policy('request'), async (s) => {
      await sClient(s.port, [version]);
      await settle(s);
      const sess = s.sessions.at(-1)!;
      assert.ok(sess.info);
      assert.is(sess.info!.clientCertificate, undefined);
    });
  });

  test(`${version} no client certificate under 'require': ${version === '-tls1_3' ? 'certificate_required' : 'handshake_failure'}`, async () => {
    await withServer(policy('require'), async (s) => {
      await sClient(s.port, [version]);
      await settle(s);
      const f = s.failures.at(-1);
      assert.ok(f, 'session failed');
      assert.is(f!.alertName, version === '-tls1_3' ? 'certificate_required' : 'handshake_failure');
    });
  });

  test(`${version} untrusted certificate: logged as untrusted, or unknown_ca when trust is required`, async () => {
    await withServer(policy('request'), async (s) => {
      await sClient(s.port, [version, '-cert', selfSigned.cert, '-key', selfSigned.key]);
      await settle(s);
      const info = s.sessions.at(-1)!.info!;
      assert.is(info.clientCertificate!.trusted, false);
      assert.match(info.clientCertificate!.reason!, /untrusted issuer/);
    });
    await withServer(policy('request', true), async (s) => {
      const out = await sClient(s.port, [version, '-cert', selfSigned.cert, '-key', selfSigned.key]);
      await settle(s);
      assert.is(s.failures.at(-1)?.alertName, 'unknown_ca');
      // In TLS 1.2 the alert arrives before the client's handshake completes; in 1.3 after.
      if (version === '-tls1_2') assert.match(out, /unknown ca/i);
    });
  });
}

test('TLS 1.3: a PSK resumption skips CertificateRequest and keeps the trust of the original session', async () => {
  const { TicketKeyRing } = await import('../../engine/tickets.js');
  const { provider } = await import('../helpers/engine-server.js');
  const tickets = new TicketKeyRing(provider('node'));
  const s = await startEngineServer({ certs: ['p256'], config: { clientAuth: policy('require'), tickets } });
  try {
    const dir = tempDir('tlsproxy-sess-');
    const sess = path.join(dir, 's.pem');
    const c = pki.certs.p256;
    await sClient(s.port, ['-tls1_3', '-cert', c.certPath, '-key', c.keyPath, '-sess_out', sess]);
    const out = await sClient(s.port, ['-tls1_3', '-sess_in', sess]);
    assert.match(out, /Reused, TLSv1\.3/);
    await settle(s);
    const info = s.sessions.at(-1)!.info!;
    assert.is(info.resumed, true);
    assert.equal({ ...info.clientCertificate }, { trusted: true, resumed: true, signature: '' });
  } finally {
    await s.close();
  }
});

test.run();
