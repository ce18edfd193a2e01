/**
 * START (RFC 8446 Appendix A.2; RFC 5246 §7.3): the first ClientHello and
 * the version dispatch both versions share (RFC 8446 §4.2.1, Appendix D;
 * version.ts): TLS 1.3 goes on in tls13/expect-client-hello.ts, TLS 1.2
 * in tls12/start.ts.
 */

import { HandshakeType, ProtocolVersion } from '../constants.js';
import { fail } from '../errors.js';
import { parseClientHello } from '../messages/client-hello.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import { startTls12 } from '../tls12/start.js';
import { startTls13 } from '../tls13/expect-client-hello.js';
import { IMPLEMENTED_VERSIONS, negotiateVersion } from '../version.js';
import type { ServerContext, State } from './state.js';
import { INERT, keepStandIn } from './shape-anchors.js';

export class ExpectClientHello implements State {
  readonly name = 'ExpectClientHello';

  constructor(private readonly ctx: ServerContext) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.client_hello) fail('UnexpectedHandshakeMessage', m.type, 'ClientHello');
    const hello = parseClientHello(m.body, this.ctx.limits.maxExtensions);
    const enabled = this.ctx.config.versions ?? IMPLEMENTED_VERSIONS;
    if (negotiateVersion(hello, enabled) === ProtocolVersion.TLS1_2) {
      // RFC 8446 §4.1.3: a server that could have done TLS 1.3 marks ServerHello.random (the downgrade sentinel).
      return startTls12(this.ctx, hello, m, enabled.includes(ProtocolVersion.TLS1_3));
    }
    return startTls13(this.ctx, hello, m);
  }
}
keepStandIn(new ExpectClientHello(INERT)); // its shape outlives its instances (common/shape-anchors.ts)
