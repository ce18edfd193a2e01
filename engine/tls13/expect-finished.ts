/**
 * WAIT_FINISHED (RFC 8446 §4.4.4): verify the client's Finished, switch
 * reading to the client application traffic secret, and go CONNECTED.
 */

import { constantTimeEqual } from '../codec.js';
import { HandshakeType } from '../constants.js';
import { fail } from '../errors.js';
import type { HandshakeInfo } from '../events.js';
import { isPromise } from '../crypto/provider.js';
import { parseFinished } from '../messages/finished.js';
import { encodeNewSessionTicket, MAX_TICKET_LIFETIME } from '../messages/new-session-ticket.js';
import { ticketSession } from './psk.js';
import { clientAuthStatus, resumptionContext } from '../session.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import type { Tls13Suite } from '../suites.js';
import { Connected } from './connected.js';
import type { KeySchedule } from './key-schedule.js';
import type { ServerContext, State } from '../common/state.js';
import type { Transcript } from '../common/transcript.js';

export interface AwaitingFinished {
  readonly suite: Tls13Suite;
  readonly schedule: KeySchedule;
  readonly transcript: Transcript;
  readonly clientHandshakeSecret: Uint8Array;
  readonly clientTrafficSecret: Uint8Array;
  readonly serverTrafficSecret: Uint8Array;
  readonly exporterMasterSecret: Uint8Array;
  readonly info: HandshakeInfo;
}

export class ExpectFinished implements State {
  readonly name = 'ExpectFinished';

  constructor(private readonly ctx: ServerContext, private readonly s: AwaitingFinished) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.finished) {
      fail('UnexpectedHandshakeMessage', m.type, 'the client Finished');
    }
    const { schedule, transcript } = this.s;
    const expected = schedule.finishedVerifyData(this.s.clientHandshakeSecret, transcript.current());
    const verifyData = parseFinished(m.body, expected.length);
    // §4.4.4: "Recipients of Finished messages MUST verify that the contents are correct and if
    // incorrect MUST terminate the connection with a "decrypt_error" alert."
    if (!constantTimeEqual(expected, verifyData)) fail('FinishedMismatch');
    transcript.add(m.raw);
    const resumptionMasterSecret = schedule.derive('res master', transcript.current());
    schedule.erase();
    this.s.clientHandshakeSecret.fill(0);
    this.ctx.setReadSecret(this.s.suite, this.s.clientTrafficSecret);
    await this.issueTicket(resumptionMasterSecret);
    this.ctx.trace('client Finished verified');
    this.ctx.handshakeComplete(this.s.info, {
      suite: this.s.suite,
      clientTrafficSecret: this.s.clientTrafficSecret,
      serverTrafficSecret: this.s.serverTrafficSecret,
      exporterMasterSecret: this.s.exporterMasterSecret,
      resumptionMasterSecret,
    });
    return new Connected(this.ctx);
  }

  /** §4.6.1: one NewSessionTicket per handshake, as Postfix does. */
  private async issueTicket(resumptionMasterSecret: Uint8Array): Promise<void> {
    const tickets = this.ctx.config.tickets;
    // §4.2.9: "Servers SHOULD NOT send NewSessionTicket with tickets that are not compatible with the advertised modes."
    if (!tickets) return;
    if (!this.s.info.ticketsUsable) {
      this.ctx.event({ kind: 'ticket', issued: false, reason: 'the client does not offer psk_dhe_ke' });
      return;
    }
    const lifetime = Math.min(tickets.lifetime, MAX_TICKET_LIFETIME);
    const nonce = new Uint8Array(1);
    const { blob, ageAdd } = ticketSession(
      this.ctx, this.s.schedule, this.s.suite, resumptionMasterSecret, nonce, lifetime, this.s.info.serverName, this.s.info.alpn,
      clientAuthStatus(this.s.info.clientCertificate),
    );
    let ticket: Uint8Array;
    try {
      const t = tickets.seal(blob, resumptionContext(this.ctx.config));
      ticket = isPromise(t) ? await t : t;
    } catch (e) {
      this.ctx.trace(`no ticket issued: ${(e as Error).message}`);
      this.ctx.event({ kind: 'ticket', issued: false, reason: (e as Error).message });
      return;
    }
    this.ctx.sendHandshake(encodeNewSessionTicket({ lifetime, ageAdd, nonce, ticket, extensions: [] }));
    this.ctx.trace('sent NewSessionTicket');
    this.ctx.event({ kind: 'ticket', issued: true });
    this.ctx.flush();
  }
}
