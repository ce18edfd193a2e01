/**
 * TLS 1.2 after the handshake. Renegotiation is never done (DEVELOPERS.md):
 * a ClientHello here is answered with a no_renegotiation warning and the
 * session goes on (RFC 5746 §4.4, RFC 5246 §7.2.2); repeated attempts end
 * it. Any other handshake message is an unexpected_message.
 */

import { HandshakeType } from '../constants.js';
import { fail } from '../errors.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import type { ServerContext, State } from '../common/state.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

export class Tls12Connected implements State {
  readonly name = 'Tls12Connected';

  constructor(private readonly ctx: ServerContext) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type === HandshakeType.client_hello) {
      this.ctx.refuseRenegotiation();
      return this;
    }
    return fail('HandshakeMessageAfterHandshake', m.type);
  }
}
keepStandIn(new Tls12Connected(INERT)); // its shape outlives its instances (common/shape-anchors.ts)
