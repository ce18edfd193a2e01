/**
 * Issuing TLS 1.2 session state: an RFC 5077 NewSessionTicket (sent just
 * before the server's ChangeCipherSpec, §3.3), and the session-ID cache entry.
 */

import { isPromise } from '../crypto/provider.js';
import { encodeNewSessionTicket12 } from '../messages/new-session-ticket.js';
import { encodeSession, resumptionContext, type SessionState } from '../session.js';
import type { ServerContext } from '../common/state.js';
import type { Transcript } from '../common/transcript.js';

export async function issueTls12Ticket(ctx: ServerContext, transcript: Transcript, session: SessionState): Promise<void> {
  const tickets = ctx.config.tickets!;
  let ticket: Uint8Array;
  try {
    const context = resumptionContext(ctx.config);
    const t = tickets.seal(encodeSession({ ...session, lifetime: tickets.lifetime, context }), context);
    ticket = isPromise(t) ? await t : t;
  } catch (e) {
    // RFC 5077 §3.3: having promised a ticket, an empty one says "no ticket this time".
    ctx.trace(`no ticket issued: ${(e as Error).message}`);
    ctx.event({ kind: 'ticket', issued: false, reason: (e as Error).message });
    ticket = new Uint8Array(0);
  }
  if (ticket.length) ctx.event({ kind: 'ticket', issued: true });
  // The hint is what is left of the session's life: all of it after a full handshake, less after a
  // resumption by ID (the session keeps its first handshake's time, resume.ts).
  const age = Math.max(0, Math.floor(((ctx.config.now ?? Date.now)() - session.createdAt) / 1000));
  const nst = encodeNewSessionTicket12(Math.max(0, tickets.lifetime - age), ticket);
  transcript.add(nst);
  ctx.sendHandshake(nst);
}
