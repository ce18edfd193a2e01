/**
 * WAIT_FINISHED (RFC 8446 §4.4.4): verify the client's Finished, switch
 * reading to the client application traffic secret, and go CONNECTED.
 *
 * The NewSessionTicket (§4.6.1) leaves with the server's first flight when
 * no client certificate was requested: the note in §4.6.1 lets a server
 * that does not request client authentication compute the rest of the
 * transcript itself (the client Finished it expects) and send the ticket
 * right after its own Finished. That saves a socket write and a wake-up of
 * the client per handshake, and the client holds a ticket half a round
 * trip earlier. OpenSSL sends its tickets after the client Finished;
 * rustls sends them early the same way. The ticket event (and so the log)
 * still waits for the verified client Finished. With a CertificateRequest
 * the transcript depends on the client's certificate and the ticket is
 * issued after its Finished, as before.
 */

import { constantTimeEqual } from '../codec.js';
import { HandshakeType } from '../constants.js';
import { fail } from '../errors.js';
import type { HandshakeInfo } from '../events.js';
import { isPromise } from '../crypto/provider.js';
import { encodeFinished, parseFinished } from '../messages/finished.js';
import { encodeNewSessionTicket, MAX_TICKET_LIFETIME } from '../messages/new-session-ticket.js';
import { ticketSession } from './psk.js';
import { clientAuthStatus, resumptionContext } from '../session.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import type { Tls13Suite } from '../suites.js';
import { Connected } from './connected.js';
import type { KeySchedule } from './key-schedule.js';
import type { ServerContext, State } from '../common/state.js';
import type { Transcript } from '../common/transcript.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

export interface AwaitingFinished {
  readonly suite: Tls13Suite;
  readonly schedule: KeySchedule;
  readonly transcript: Transcript;
  readonly clientHandshakeSecret: Uint8Array;
  readonly clientTrafficSecret: Uint8Array;
  readonly serverTrafficSecret: Uint8Array;
  readonly info: HandshakeInfo;
  /**
   * A PSK resumption: when the resumed session ends (ms). The tickets it gets end no later, so a
   * chain of resumptions never outlives the first ticket of the full handshake that authenticated
   * it (§4.6.1: "It is RECOMMENDED that implementations place limits on the total lifetime of such
   * keying material"). Undefined after a full handshake.
   */
  readonly resumedSessionEnds: number | undefined;
  /** Set when the ticket went out with the server flight (sendEarlyTicket): what the client Finished must be, and the outcome to report once it is. */
  readonly early?: { readonly expected: Uint8Array; readonly ticket: TicketOutcome | undefined };
}

type TicketOutcome = { kind: 'ticket'; issued: boolean; reason?: string };

/**
 * §4.6.1 note: with no client authentication the server knows the client's
 * Finished in advance, so the resumption secret and the ticket can be made
 * now, sealed under the server application traffic key already in place.
 */
export async function sendEarlyTicket(ctx: ServerContext, s: AwaitingFinished): Promise<AwaitingFinished> {
  const expected = s.schedule.finishedVerifyData(s.clientHandshakeSecret, s.transcript.current());
  const resumptionMasterSecret = s.schedule.derive('res master', s.transcript.currentWith(encodeFinished(expected)));
  const ticket = await issueTicket(ctx, s, resumptionMasterSecret);
  // The ticket (one per handshake) is made: the resumption secret is not kept.
  resumptionMasterSecret.fill(0);
  return { ...s, early: { expected, ticket } };
}

export class ExpectFinished implements State {
  readonly name = 'ExpectFinished';

  constructor(private readonly ctx: ServerContext, private readonly s: AwaitingFinished) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.finished) {
      fail('UnexpectedHandshakeMessage', m.type, 'the client Finished');
    }
    const { schedule, transcript, early } = this.s;
    const expected = early?.expected ?? schedule.finishedVerifyData(this.s.clientHandshakeSecret, transcript.current());
    const verifyData = parseFinished(m.body, expected.length);
    // §4.4.4: "Recipients of Finished messages MUST verify that the contents are correct and if
    // incorrect MUST terminate the connection with a "decrypt_error" alert."
    if (!constantTimeEqual(expected, verifyData)) fail('FinishedMismatch');
    transcript.add(m.raw);
    // §7.1: the resumption secret covers the client Finished; made already when the ticket left with the flight.
    const resumptionMasterSecret = early ? undefined : schedule.derive('res master', transcript.current());
    schedule.erase();
    this.s.clientHandshakeSecret.fill(0);
    this.ctx.setReadSecret(this.s.suite, this.s.clientTrafficSecret);
    let ticket = early?.ticket;
    if (resumptionMasterSecret) {
      ticket = await issueTicket(this.ctx, this.s, resumptionMasterSecret);
      // §4.6.1: the ticket (one per handshake) is made: the resumption secret is not kept.
      resumptionMasterSecret.fill(0);
    }
    if (ticket) this.ctx.event(ticket);
    this.ctx.trace('client Finished verified');
    this.ctx.handshakeComplete(this.s.info, {
      suite: this.s.suite,
      clientTrafficSecret: this.s.clientTrafficSecret,
      serverTrafficSecret: this.s.serverTrafficSecret,
    });
    return new Connected(this.ctx);
  }
}
keepStandIn(new ExpectFinished(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

/** §4.6.1: one NewSessionTicket per handshake, as Postfix does; the outcome for the ticket event (undefined: tickets are off). */
async function issueTicket(ctx: ServerContext, s: AwaitingFinished, resumptionMasterSecret: Uint8Array): Promise<TicketOutcome | undefined> {
  const tickets = ctx.config.tickets;
  // §4.2.9: "Servers SHOULD NOT send NewSessionTicket with tickets that are not compatible with the advertised modes."
  if (!tickets) return undefined;
  if (!s.info.ticketsUsable) return { kind: 'ticket', issued: false, reason: 'the client does not offer psk_dhe_ke' };
  let lifetime = Math.min(tickets.lifetime, MAX_TICKET_LIFETIME);
  if (s.resumedSessionEnds !== undefined) {
    lifetime = Math.min(lifetime, Math.floor((s.resumedSessionEnds - (ctx.config.now ?? Date.now)()) / 1000));
    // A session at the end of its life gets no ticket (a lifetime of 0 means "discard at once").
    if (lifetime < 1) return { kind: 'ticket', issued: false, reason: 'the resumed session has reached the end of its lifetime' };
  }
  const nonce = new Uint8Array(1);
  const { blob, ageAdd } = ticketSession(
    ctx, s.schedule, s.suite, resumptionMasterSecret, nonce, lifetime, s.info.serverName, s.info.alpn,
    clientAuthStatus(s.info.clientCertificate),
  );
  let ticket: Uint8Array;
  try {
    const t = tickets.seal(blob, resumptionContext(ctx.config));
    ticket = isPromise(t) ? await t : t;
  } catch (e) {
    ctx.trace(`no ticket issued: ${(e as Error).message}`);
    return { kind: 'ticket', issued: false, reason: (e as Error).message };
  }
  ctx.sendHandshake(encodeNewSessionTicket({ lifetime, ageAdd, nonce, ticket, extensions: [] }));
  ctx.trace('sent NewSessionTicket');
  ctx.flush();
  return { kind: 'ticket', issued: true };
}
