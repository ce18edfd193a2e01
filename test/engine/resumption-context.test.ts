/**
 * Tickets and cached sessions are bound to the service and its
 * client-certificate policy (ServerConfig.resumptionContext, issue 10): two
 * servers sharing one ticket key ring and one session-ID cache, with
 * different contexts, never resume each other's sessions (TLS 1.3 tickets,
 * TLS 1.2 tickets, TLS 1.2 session IDs), while each resumes its own; the
 * context is authenticated as ticket AEAD associated data; and the daemon's
 * context (proxy/tls/settings.ts) changes with the service name and with the
 * CAfile, and not otherwise.
 */

import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSession, encodeSession, MemorySessionCache } from '../../engine/session.js';
import { TicketKeyRing } from '../../engine/tickets.js';
import { ParameterSet } from '../../proxy/config/main-cf.js';
import { clientAuthConfig } from '../../proxy/tls/client-auth.js';
import { resumptionContextOf } from '../../proxy/tls/settings.js';
import { clientPki } from '../helpers/client-pki.js';
import { type EngineServer, provider, startEngineServer } from '../helpers/engine-server.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const servers: EngineServer[] = [];
const sockets = new Set<{ destroy(): void }>();

test.after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => s.close()));
});

const CONTEXT_A = new Uint8Array(32).fill(0xaa);
const CONTEXT_B = new Uint8Array(32).fill(0xbb);

async function pair(kind: 'tickets' | 'session-id') {
  const ring = new TicketKeyRing(provider('node'));
  const cache = new MemorySessionCache();
  const shared = kind === 'tickets' ? { tickets: ring } : { sessionCache: cache };
  const a = await startEngineServer({ echoPrefix: 'a:', config: { ...shared, resumptionContext: CONTEXT_A } });
  const b = await startEngineServer({ echoPrefix: 'b:', config: { ...shared, resumptionContext: CONTEXT_B } });
  servers.push(a, b);
  return { a, b };
}

function connect(port: number, version: 'TLSv1.3' | 'TLSv1.2', session?: Buffer): Promise<{ reused: boolean; session?: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, minVersion: version, maxVersion: version, ca: pki.caPem, servername: 'localhost', session });
    sockets.add(s);
    let ticket: Buffer | undefined;
    const timer = setTimeout(() => reject(new Error('timeout')), 5000);
    s.on('session', (t: Buffer) => (ticket = t));
    s.once('secureConnect', () => s.write('x'));
    s.once('data', () => {
      const reused = s.isSessionReused();
      s.end();
      s.once('close', () => {
        clearTimeout(timer);
        resolve({ reused, session: ticket ?? s.getSession() });
      });
    });
    s.once('error', reject);
  });
}

for (const [version, kind] of [['TLSv1.3', 'tickets'], ['TLSv1.2', 'tickets'], ['TLSv1.2', 'session-id']] as const) {
  test(`${version} ${kind}: a session of service A is not resumed by service B (shared keys and cache), and is by A`, async () => {
    const { a, b } = await pair(kind);
    const first = await connect(a.port, version);
    assert.ok(first.session, 'a session to resume');
    assert.not.ok(first.reused);
    const atB = await connect(b.port, version, first.session);
    assert.not.ok(atB.reused, 'B must not resume A\'s session');
    const atA = await connect(a.port, version, first.session);
    assert.ok(atA.reused, 'A resumes its own session');
    const [bSession] = await b.allDone(1);
    assert.is(bSession!.info?.resumed, false);
    const aSessions = await a.allDone(2);
    assert.is(aSessions[1]!.info?.resumed, true);
    if (kind === 'session-id') assert.is(aSessions[1]!.info?.resumedVia, 'session-id');
  });
}

test('the context is ticket associated data: a ticket opens only under the context it was sealed with', async () => {
  const ring = new TicketKeyRing(provider('node'));
  const blob = encodeSession({
    version: 0x0304, cipherSuite: 0x1301, secret: new Uint8Array(32), extendedMasterSecret: false, createdAt: Date.now(),
    lifetime: 60, ageAdd: 1, clientAuth: 2, context: CONTEXT_A,
  });
  const ticket = await ring.seal(blob, CONTEXT_A);
  assert.equal(await ring.open(ticket, CONTEXT_A), blob);
  assert.is(await ring.open(ticket, CONTEXT_B), undefined);
  assert.is(await ring.open(ticket), undefined);
  assert.equal(decodeSession(blob)?.context, CONTEXT_A);
});

test('the daemon\'s context: same for the same service and policy, different with another service name or CAfile', async () => {
  const cpki = clientPki();
  const params = (o: Record<string, string>) => ParameterSet.defaults().withOverrides(Object.entries(o).map(([name, value]) => ({ name, value })), 'test');
  const ctx = async (o: Record<string, string>) => {
    const p = params(o);
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    return hex(resumptionContextOf(p, (await clientAuthConfig(p, [])).clientAuth));
  };
  const base = { service_name: 'smtps', tlsproxy_tls_ask_ccert: 'yes', tlsproxy_tls_CAfile: cpki.caFile };
  const one = await ctx(base);
  assert.is(await ctx(base), one, 'deterministic (every worker, every daemon of a fleet)');
  assert.is.not(await ctx({ ...base, service_name: 'submissions' }), one);
  assert.is.not(await ctx({ ...base, tlsproxy_tls_CAfile: cpki.cas.unknown.certPath }), one);
  assert.is.not(await ctx({ ...base, tlsproxy_tls_ccert_verifydepth: '2' }), one);
  assert.is.not(await ctx({ ...base, tlsproxy_tls_ask_ccert: 'no' }), one);
  assert.is((await ctx({ ...base, tlsproxy_tls_loglevel: '2' })), one, 'logging does not change the verdict');
});

test.run();
