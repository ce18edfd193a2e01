/**
 * CONNECTED (RFC 8446 §4.6): the only handshake message a TLS 1.3 server
 * accepts after the handshake is KeyUpdate (we never send CertificateRequest
 * post-handshake). A ClientHello here is a renegotiation attempt, which
 * TLS 1.3 does not have: unexpected_message (§4.1.2 / §6.2).
 */

import { HandshakeType } from '../constants.js';
import { fail } from '../errors.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import { parseKeyUpdate } from '../messages/key-update.js';
import type { ServerContext, State } from '../common/state.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

export class Connected implements State {
  readonly name = 'Connected';

  constructor(private readonly ctx: ServerContext) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type === HandshakeType.key_update) {
      this.ctx.peerKeyUpdate(parseKeyUpdate(m.body));
      return this;
    }
    return fail('HandshakeMessageAfterHandshake', m.type);
  }
}
keepStandIn(new Connected(INERT)); // its shape outlives its instances (common/shape-anchors.ts)
