/**
 * NewSessionTicket (RFC 8446 §4.6.1):
 *   struct {
 *       uint32 ticket_lifetime;
 *       uint32 ticket_age_add;
 *       opaque ticket_nonce<0..255>;
 *       opaque ticket<1..2^16-1>;
 *       Extension extensions<0..2^16-2>;
 *   } NewSessionTicket;
 */

import { Reader } from '../codec.js';
import { HandshakeType } from '../constants.js';
import { type Extension, parseExtensions, writeExtensions } from './extensions.js';
import { buildHandshake } from './handshake.js';

export interface NewSessionTicket {
  readonly lifetime: number;
  readonly ageAdd: number;
  readonly nonce: Uint8Array;
  readonly ticket: Uint8Array;
  readonly extensions: readonly Extension[];
}

/** §4.6.1: "Servers MUST NOT use any value greater than 604800 seconds (7 days)." */
export const MAX_TICKET_LIFETIME = 604800;

export function encodeNewSessionTicket(t: NewSessionTicket): Uint8Array {
  if (t.lifetime > MAX_TICKET_LIFETIME) throw new Error('ticket lifetime above 7 days');
  return buildHandshake(HandshakeType.new_session_ticket, (w) => {
    w.u32(t.lifetime).u32(t.ageAdd).vec(1, t.nonce).vec(2, t.ticket);
    writeExtensions(w, t.extensions);
  });
}

export function parseNewSessionTicket(body: Uint8Array): NewSessionTicket {
  const r = new Reader(body);
  const lifetime = r.u32();
  const ageAdd = r.u32();
  const nonce = r.vec(1, 0, 255, 'ticket_nonce');
  const ticket = r.vec(2, 1, 0xffff, 'ticket');
  const extensions = parseExtensions(r.sub(2, 0, 0xfffe), 16, 'NewSessionTicket');
  r.end('NewSessionTicket');
  return { lifetime, ageAdd, nonce, ticket, extensions };
}

/**
 * TLS 1.2 NewSessionTicket (RFC 5077 §3.3):
 *   struct { uint32 ticket_lifetime_hint; opaque ticket<0..2^16-1>; } NewSessionTicket;
 */
export function encodeNewSessionTicket12(lifetimeHint: number, ticket: Uint8Array): Uint8Array {
  return buildHandshake(HandshakeType.new_session_ticket, (w) => {
    w.u32(lifetimeHint).vec(2, ticket);
  });
}
