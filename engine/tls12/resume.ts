/**
 * TLS 1.2 session resumption: the abbreviated handshake (RFC 5246 §7.3,
 * figure 2), by session ID or by RFC 5077 ticket.
 *
 *   ServerHello, [NewSessionTicket], ChangeCipherSpec, Finished
 *                                    <- ChangeCipherSpec, Finished
 *
 * A session is resumed only if it used the extended master secret
 * (RFC 7627 §5.3: if the old session had it and the new hello lacks it,
 * the handshake is aborted; a session without it is never resumed), the
 * client still offers its cipher suite, the server name is the same, and
 * it is within its lifetime. Anything else means a full handshake.
 */

import { constantTimeEqual } from '../codec.js';
import { ExtensionType, HandshakeType, ProtocolVersion } from '../constants.js';
import { isPromise } from '../crypto/provider.js';
import { fail } from '../errors.js';
import type { HandshakeInfo } from '../events.js';
import type { ClientHello } from '../messages/client-hello.js';
import type { Extension } from '../messages/extensions.js';
import { encodeFinished, parseFinished } from '../messages/finished.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import { encodeServerHello } from '../messages/server-hello.js';
import { Tls12Protection } from '../record.js';
import { decodeSession, resumableUnder, resumptionContext, sameResumptionContext, sessionFresh, type SessionState } from '../session.js';
import { DEFAULT_TLS12_SUITES, TLS12_SUITES, type Tls12Suite } from '../suites.js';
import type { ServerContext, State } from '../common/state.js';
import { Transcript } from '../common/transcript.js';
import { Tls12Connected } from './connected.js';
import { finishedVerifyData, keyBlock } from './prf.js';
import { issueTls12Ticket } from './tickets.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

export interface Resumable {
  readonly session: SessionState;
  readonly via: 'ticket' | 'session-id';
}

/** Find a session the client offers that we may resume, or undefined. */
export async function findTls12Session(ctx: ServerContext, hello: ClientHello): Promise<Resumable | undefined> {
  let blob: Uint8Array | undefined;
  let via: Resumable['via'] = 'ticket';
  const context = resumptionContext(ctx.config);
  if (ctx.config.tickets && hello.sessionTicket && hello.sessionTicket.length > 0) {
    const t = ctx.config.tickets.open(hello.sessionTicket, context);
    blob = isPromise(t) ? await t : t;
  }
  if (!blob && ctx.config.sessionCache && hello.sessionId.length > 0) {
    const c = ctx.config.sessionCache.get(hello.sessionId);
    blob = isPromise(c) ? await c : c;
    via = 'session-id';
  }
  const session = blob && decodeSession(blob);
  if (!session || session.version !== ProtocolVersion.TLS1_2) return undefined;
  // A session of another service, or of this one under another client-certificate policy (a cache entry; a ticket would not open).
  if (!sameResumptionContext(session, context)) {
    ctx.trace('session made under another resumption context');
    return undefined;
  }
  const now = (ctx.config.now ?? Date.now)();
  if (!sessionFresh(session, now)) return undefined;
  // RFC 7627 §5.3: a session without the extended master secret is never resumed ...
  if (!session.extendedMasterSecret) return undefined;
  // ... and one with it cannot be resumed by a hello without it.
  if (!hello.extendedMasterSecret) fail('ResumptionWithoutExtendedMasterSecret');
  const ours = ctx.config.tls12CipherSuites ?? DEFAULT_TLS12_SUITES;
  if (!hello.cipherSuites.includes(session.cipherSuite) || !ours.includes(session.cipherSuite)) return undefined;
  if ((session.serverName ?? '') !== (hello.serverName ?? '')) return undefined;
  // Resumption skips the CertificateRequest: only sessions that satisfied the client-certificate policy.
  if (!resumableUnder(ctx.config.clientAuth, session.clientAuth)) return undefined;
  ctx.trace(`resuming TLS 1.2 session by ${via}`);
  return { session, via };
}

export async function resumeTls12(
  ctx: ServerContext,
  hello: ClientHello,
  m: HandshakeMessage,
  r: Resumable,
  serverRandom: Uint8Array,
  baseExtensions: readonly Extension[],
  info: Omit<HandshakeInfo, 'cipherSuite' | 'cipherName' | 'cipherBits' | 'group'>,
): Promise<State> {
  const suite = TLS12_SUITES.get(r.session.cipherSuite)!;
  const transcript = new Transcript(ctx.provider, suite.hash);
  transcript.add(m.raw);
  // RFC 5077 §3.3 lets a server renew the ticket it resumed; we do not, as Postfix does not (its
  // ticket callback accepts a ticket as "decryptable and re-usable"): the client keeps using its
  // ticket until the key that sealed it stops decrypting. A session resumed by ID gets a ticket
  // when the client asks for one (an empty session_ticket extension, §3.2), as with OpenSSL.
  // Either way the session keeps the time of its full handshake, so resumption never extends the
  // life of what that handshake authenticated (deliberate: docs/deliberate-differences.md).
  const newTicket = ctx.config.tickets !== undefined && hello.sessionTicket !== undefined && r.via === 'session-id';
  const exts: Extension[] = [...baseExtensions];
  if (newTicket) exts.push({ type: ExtensionType.session_ticket, data: new Uint8Array(0) });
  const sh = encodeServerHello({
    random: serverRandom,
    // RFC 5246 §7.4.1.3 (by ID) and RFC 5077 §3.4 (by ticket): echo the client's session ID.
    sessionIdEcho: hello.sessionId,
    cipherSuite: suite.id,
    extensions: exts,
  });
  transcript.add(sh);
  ctx.sendHandshake(sh);

  const master = r.session.secret;
  ctx.keylog('CLIENT_RANDOM', hello.random, master);
  if (r.via === 'session-id') ctx.noteCachedSession(hello.sessionId);
  if (newTicket) await issueTls12Ticket(ctx, transcript, r.session);

  const ivLength = suite.aead === 'CHACHA20-POLY1305' ? 12 : 4;
  const keyLength = suite.aead === 'AES-128-GCM' ? 16 : 32;
  const kb = keyBlock(ctx.provider, suite.hash, master, hello.random, serverRandom, keyLength, ivLength);
  const read = new Tls12Protection(ctx.provider, suite.aead, kb.clientKey, kb.clientIv);
  const write = new Tls12Protection(ctx.provider, suite.aead, kb.serverKey, kb.serverIv);

  ctx.sendChangeCipherSpec();
  ctx.setWriteProtection(write);
  const fin = encodeFinished(finishedVerifyData(ctx.provider, suite.hash, master, 'server finished', transcript.current()));
  transcript.add(fin);
  ctx.sendHandshake(fin);
  ctx.flush();

  const full: HandshakeInfo = {
    ...info,
    cipherSuite: suite.id,
    cipherName: suite.name,
    cipherBits: suite.bits,
    group: '',
    resumed: true,
    resumedVia: r.via,
    clientCertificate: r.session.clientAuth ? { trusted: r.session.clientAuth === 2, resumed: true, signature: '' } : undefined,
  };
  return new ResumedExpectChangeCipherSpec(ctx, { suite, transcript, master, read, info: full });
}

interface ResumedKeys {
  readonly suite: Tls12Suite;
  readonly transcript: Transcript;
  readonly master: Uint8Array;
  readonly read: Tls12Protection;
  readonly info: HandshakeInfo;
}

class ResumedExpectChangeCipherSpec implements State {
  readonly name = 'Tls12ResumedExpectChangeCipherSpec';

  constructor(private readonly ctx: ServerContext, private readonly k: ResumedKeys) {}

  async handle(m: HandshakeMessage): Promise<State> {
    return fail('MessageBeforeChangeCipherSpec', m.type);
  }

  changeCipherSpec(): State {
    this.ctx.setReadProtection(this.k.read);
    return new ResumedExpectFinished(this.ctx, this.k);
  }
}
keepStandIn(new ResumedExpectChangeCipherSpec(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

class ResumedExpectFinished implements State {
  readonly name = 'Tls12ResumedExpectFinished';

  constructor(private readonly ctx: ServerContext, private readonly k: ResumedKeys) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.finished) fail('UnexpectedHandshakeMessage', m.type, 'Finished');
    const { ctx, k } = this;
    const verifyData = parseFinished(m.body, 12);
    const expected = finishedVerifyData(ctx.provider, k.suite.hash, k.master, 'client finished', k.transcript.current());
    if (!constantTimeEqual(expected, verifyData)) fail('FinishedMismatch');
    ctx.trace('TLS 1.2 abbreviated handshake complete');
    ctx.handshakeComplete(k.info);
    return new Tls12Connected(ctx);
  }
}
keepStandIn(new ResumedExpectFinished(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)
