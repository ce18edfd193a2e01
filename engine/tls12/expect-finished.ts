/**
 * TLS 1.2 WAIT_CHANGE_CIPHER_SPEC and WAIT_FINISHED (RFC 5246 §7.1, §7.4.9).
 *
 * The order is enforced by the states themselves: a Finished before the
 * client's ChangeCipherSpec, or a second ChangeCipherSpec, is an
 * unexpected_message (the SKIP / early-CCS class of state machine bugs).
 * After the client Finished verifies, the server answers with its own
 * ChangeCipherSpec and Finished.
 */

import { constantTimeEqual } from '../codec.js';
import { HandshakeType, ProtocolVersion } from '../constants.js';
import { clientAuthStatus, encodeSession, resumptionContext, type SessionState } from '../session.js';
import { issueTls12Ticket } from './tickets.js';
import { fail } from '../errors.js';
import type { HandshakeInfo } from '../events.js';
import { encodeFinished, parseFinished } from '../messages/finished.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import type { Tls12Protection } from '../record.js';
import type { Tls12Suite } from '../suites.js';
import type { ServerContext, State } from '../common/state.js';
import type { Transcript } from '../common/transcript.js';
import { Tls12Connected } from './connected.js';
import { finishedVerifyData } from './prf.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

export interface Tls12Keys {
  readonly suite: Tls12Suite;
  readonly transcript: Transcript;
  readonly master: Uint8Array;
  readonly read: Tls12Protection;
  readonly write: Tls12Protection;
  readonly info: HandshakeInfo;
  readonly sessionId: Uint8Array;
  readonly issueTicket: boolean;
  readonly extendedMasterSecret: boolean;
}

/** RFC 5246 §7.4.9: verify_data is 12 bytes for every suite we have. */
const VERIFY_DATA_LENGTH = 12;

export class ExpectChangeCipherSpec implements State {
  readonly name = 'Tls12ExpectChangeCipherSpec';

  constructor(private readonly ctx: ServerContext, private readonly k: Tls12Keys) {}

  async handle(m: HandshakeMessage): Promise<State> {
    return fail('MessageBeforeChangeCipherSpec', m.type);
  }

  changeCipherSpec(): State {
    this.ctx.setReadProtection(this.k.read);
    return new ExpectFinished12(this.ctx, this.k);
  }
}
keepStandIn(new ExpectChangeCipherSpec(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

export class ExpectFinished12 implements State {
  readonly name = 'Tls12ExpectFinished';

  constructor(private readonly ctx: ServerContext, private readonly k: Tls12Keys) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.finished) fail('UnexpectedHandshakeMessage', m.type, 'Finished');
    const { ctx, k } = this;
    const hash = k.suite.hash;
    const verifyData = parseFinished(m.body, VERIFY_DATA_LENGTH);
    const expected = finishedVerifyData(ctx.provider, hash, k.master, 'client finished', k.transcript.current());
    // RFC 5246 §7.4.9: a Finished that does not verify is a decrypt_error.
    if (!constantTimeEqual(expected, verifyData)) fail('FinishedMismatch');
    k.transcript.add(m.raw);

    // Resumable state (RFC 5077 ticket before our CCS; session-ID cache entry).
    if (k.issueTicket || k.sessionId.length) {
      const session: SessionState = {
        version: ProtocolVersion.TLS1_2,
        cipherSuite: k.suite.id,
        secret: k.master.slice(),
        extendedMasterSecret: k.extendedMasterSecret,
        createdAt: (ctx.config.now ?? Date.now)(),
        lifetime: ctx.config.sessionLifetime ?? 3600,
        ageAdd: 0,
        serverName: k.info.serverName,
        alpn: k.info.alpn,
        clientAuth: clientAuthStatus(k.info.clientCertificate),
        context: resumptionContext(ctx.config),
      };
      if (k.issueTicket) await issueTls12Ticket(ctx, k.transcript, session);
      if (k.sessionId.length && ctx.config.sessionCache) {
        ctx.config.sessionCache.put(k.sessionId, encodeSession(session), session.lifetime);
        ctx.noteCachedSession(k.sessionId);
      }
    }

    ctx.sendChangeCipherSpec();
    ctx.setWriteProtection(k.write);
    const fin = encodeFinished(finishedVerifyData(ctx.provider, hash, k.master, 'server finished', k.transcript.current()));
    k.transcript.add(fin);
    ctx.sendHandshake(fin);
    ctx.flush();
    k.master.fill(0);
    ctx.trace('TLS 1.2 handshake complete');
    ctx.handshakeComplete(k.info);
    return new Tls12Connected(ctx);
  }
}
keepStandIn(new ExpectFinished12(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)
