/**
 * WAIT_CERT and WAIT_CV (RFC 8446 §4.4.2, §4.4.2.4, §4.4.3, Appendix A.2):
 * after a CertificateRequest the client answers with Certificate (maybe
 * empty), then CertificateVerify when it sent a certificate, then Finished.
 */

import { HandshakeType } from '../constants.js';
import { examineClientChain, examineClientRawKey, checkClientSignature, MAX_CLIENT_CHAIN } from '../client-auth.js';
import type { ClientCertificateVerdict } from '../config.js';
import { fail } from '../errors.js';
import { parseCertificate } from '../messages/certificate.js';
import { CLIENT_CV_CONTEXT, parseCertificateVerify, signedContent } from '../messages/certificate-verify.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import { type AwaitingFinished, ExpectFinished } from './expect-finished.js';
import type { ServerContext, State } from '../common/state.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

export class ExpectClientCertificate implements State {
  readonly name = 'ExpectClientCertificate';

  constructor(private readonly ctx: ServerContext, private readonly s: AwaitingFinished) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.certificate) fail('UnexpectedHandshakeMessage', m.type, 'the client Certificate');
    const policy = this.ctx.config.clientAuth!;
    const cert = parseCertificate(m.body, MAX_CLIENT_CHAIN);
    // §4.4.2: the context echoes the CertificateRequest's, which was empty.
    if (cert.context.length !== 0) fail('ClientCertificateContextNotEmpty');
    this.s.transcript.add(m.raw);
    if (cert.entries.length === 0) {
      // §4.4.2.4: "If the client does not send any certificates ... the server MAY at its discretion
      // either continue the handshake without client authentication, or abort the handshake with a
      // certificate_required alert."
      if (policy.mode === 'require') fail('ClientCertificateMissing');
      this.ctx.trace('client sent no certificate');
      this.ctx.event({ kind: 'client-certificate' });
      return new ExpectFinished(this.ctx, this.s);
    }
    let verdict: ClientCertificateVerdict;
    if (this.s.info.clientCertificateType === 'raw-public-key') {
      // RFC 7250 §3 / RFC 8446 §4.4.2: one entry whose cert_data is the SubjectPublicKeyInfo.
      if (cert.entries.length !== 1) fail('RawKeyCertificateShape', `${cert.entries.length} entries`);
      verdict = await examineClientRawKey(policy, cert.entries[0]!.certData);
    } else {
      verdict = await examineClientChain(policy, cert.entries.map((e) => e.certData));
    }
    this.ctx.trace(`client certificate ${verdict.trusted ? 'trusted' : `not trusted: ${verdict.reason ?? ''}`}`);
    this.ctx.event({ kind: 'client-certificate', trusted: verdict.trusted, reason: verdict.reason, details: verdict.details });
    return new ExpectClientCertificateVerify(this.ctx, this.s, verdict);
  }
}
keepStandIn(new ExpectClientCertificate(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

class ExpectClientCertificateVerify implements State {
  readonly name = 'ExpectClientCertificateVerify';

  constructor(private readonly ctx: ServerContext, private readonly s: AwaitingFinished, private readonly verdict: ClientCertificateVerdict) {}

  async handle(m: HandshakeMessage): Promise<State> {
    // §4.4.3: a client that sent a certificate MUST send CertificateVerify next.
    if (m.type !== HandshakeType.certificate_verify) fail('UnexpectedHandshakeMessage', m.type, 'the client CertificateVerify');
    const { scheme, signature } = parseCertificateVerify(m.body);
    const signed = signedContent(CLIENT_CV_CONTEXT, this.s.transcript.current());
    const clientCertificate = await checkClientSignature(this.ctx.provider, this.verdict, scheme, signature, signed, false);
    this.s.transcript.add(m.raw);
    return new ExpectFinished(this.ctx, { ...this.s, info: { ...this.s.info, clientCertificate } });
  }
}
keepStandIn(new ExpectClientCertificateVerify(INERT, INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)
