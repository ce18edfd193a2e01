/**
 * TLS 1.2 WAIT_CLIENT_KEY_EXCHANGE (RFC 5246 §7.4.7): derive the
 * pre-master secret from the client's (EC)DHE public value, the master
 * secret (RFC 7627 extended form when negotiated), and the key block.
 * We never request a client certificate here, so a Certificate or
 * CertificateVerify from the client is an unexpected_message.
 */

import { HandshakeType, groupName } from '../constants.js';
import { isPromise, type KeyShare } from '../crypto/provider.js';
import { failure, fail } from '../errors.js';
import type { HandshakeInfo } from '../events.js';
import { checkDhPublic, type DhParams, stripLeadingZeros } from '../ffdhe.js';
import { parseDheClientKeyExchange, parseEcdheClientKeyExchange } from '../messages/client-key-exchange.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import type { ClientCertificateVerdict } from '../config.js';
import { checkClientSignature, examineClientChain, examineClientRawKey, MAX_CLIENT_CHAIN } from '../client-auth.js';
import { parseRawKeyCertificate12 } from '../common/certificate-types.js';
import { parseCertificate12 } from '../messages/certificate12.js';
import { parseCertificateVerify } from '../messages/certificate-verify.js';
import { Tls12Protection } from '../record.js';
import type { Tls12Suite } from '../suites.js';
import { checkKeyShare } from '../common/negotiate.js';
import type { ServerContext, State } from '../common/state.js';
import type { Transcript } from '../common/transcript.js';
import { ExpectChangeCipherSpec } from './expect-finished.js';
import { extendedMasterSecret, keyBlock, masterSecret } from './prf.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

export interface Tls12Pending {
  readonly suite: Tls12Suite;
  readonly transcript: Transcript;
  readonly share: KeyShare;
  readonly group?: number;
  readonly dh?: DhParams;
  readonly clientRandom: Uint8Array;
  readonly serverRandom: Uint8Array;
  readonly extendedMasterSecret: boolean;
  /** Session ID issued in the ServerHello (empty: none). */
  readonly sessionId: Uint8Array;
  /** An RFC 5077 ticket was promised in the ServerHello. */
  readonly issueTicket: boolean;
  readonly serverName?: string;
  readonly info: HandshakeInfo;
  /** The client's certificate verdict, when it sent one (then CertificateVerify follows ClientKeyExchange). */
  readonly clientVerdict?: ClientCertificateVerdict;
}

/** RFC 5246 §7.4.6: after a CertificateRequest the client's first message is its Certificate (maybe empty). */
export class ExpectClientCertificate12 implements State {
  readonly name = 'Tls12ExpectClientCertificate';

  constructor(private readonly ctx: ServerContext, private readonly s: Tls12Pending) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.certificate) fail('UnexpectedHandshakeMessage', m.type, 'the client Certificate');
    const policy = this.ctx.config.clientAuth!;
    // RFC 7250 §3: a raw key is one SubjectPublicKeyInfo, no certificate_list around it.
    const raw = this.s.info.clientCertificateType === 'raw-public-key';
    const rawKey = raw ? parseRawKeyCertificate12(m.body) : undefined;
    const chain = raw ? (rawKey ? [rawKey] : []) : parseCertificate12(m.body, MAX_CLIENT_CHAIN);
    this.s.transcript.add(m.raw);
    if (chain.length === 0) {
      // RFC 5246 §7.4.6: without a certificate the server may go on, or answer handshake_failure.
      if (policy.mode === 'require') fail('Tls12ClientCertificateMissing');
      this.ctx.event({ kind: 'client-certificate' });
      return new ExpectClientKeyExchange(this.ctx, this.s);
    }
    const clientVerdict = raw ? await examineClientRawKey(policy, rawKey!) : await examineClientChain(policy, chain);
    this.ctx.trace(`client certificate ${clientVerdict.trusted ? 'trusted' : `not trusted: ${clientVerdict.reason ?? ''}`}`);
    this.ctx.event({ kind: 'client-certificate', trusted: clientVerdict.trusted, reason: clientVerdict.reason, details: clientVerdict.details });
    return new ExpectClientKeyExchange(this.ctx, { ...this.s, clientVerdict });
  }
}
keepStandIn(new ExpectClientCertificate12(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

/** RFC 5246 §7.4.8: the client's CertificateVerify signs every handshake message before it. */
class ExpectCertificateVerify12 implements State {
  readonly name = 'Tls12ExpectCertificateVerify';

  constructor(
    private readonly ctx: ServerContext,
    private readonly s: Tls12Pending,
    private readonly next: (info: HandshakeInfo) => State,
  ) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.certificate_verify) fail('UnexpectedHandshakeMessage', m.type, 'CertificateVerify');
    const { scheme, signature } = parseCertificateVerify(m.body);
    const clientCertificate = await checkClientSignature(this.ctx.provider, this.s.clientVerdict!, scheme, signature, this.s.transcript.messages(), true);
    this.s.transcript.add(m.raw);
    return this.next({ ...this.s.info, clientCertificate });
  }
}
keepStandIn(new ExpectCertificateVerify12(INERT, INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

export class ExpectClientKeyExchange implements State {
  readonly name = 'Tls12ExpectClientKeyExchange';

  constructor(private readonly ctx: ServerContext, private readonly s: Tls12Pending) {}

  async handle(m: HandshakeMessage): Promise<State> {
    // An unrequested client Certificate (or CertificateVerify) lands here too: unexpected_message.
    if (m.type !== HandshakeType.client_key_exchange) {
      fail('UnexpectedHandshakeMessage', m.type, 'ClientKeyExchange');
    }
    const { s, ctx } = this;
    let peer: Uint8Array;
    if (s.group !== undefined) {
      peer = parseEcdheClientKeyExchange(m.body);
      // RFC 8422 §5.7 / RFC 8446 §4.2.8.2: the point must have the curve's encoding.
      checkKeyShare({ group: s.group, keyExchange: peer });
    } else {
      peer = parseDheClientKeyExchange(m.body);
      checkDhPublic(s.dh!, peer);
    }
    let z: Uint8Array;
    try {
      const d = s.share.deriveSecret(peer);
      z = isPromise(d) ? await d : d;
    } catch (e) {
      throw failure('InvalidPublicValue', s.group !== undefined ? groupName(s.group) : 'DH', (e as Error).message);
    }
    if (z.every((b) => b === 0)) fail('AllZeroSharedSecret', s.group !== undefined ? groupName(s.group) : 'DH');
    // RFC 5246 §8.1.2: leading zero bytes of a DH Z are stripped; RFC 8422 §5.10: the ECDH x-coordinate is used as is.
    const preMaster = s.group === undefined ? stripLeadingZeros(z) : z;

    s.transcript.add(m.raw);
    const hash = s.suite.hash;
    // RFC 7627 §4: session_hash covers the handshake through ClientKeyExchange.
    const master = s.extendedMasterSecret
      ? extendedMasterSecret(ctx.provider, hash, preMaster, s.transcript.current())
      : masterSecret(ctx.provider, hash, preMaster, s.clientRandom, s.serverRandom);
    z.fill(0);
    ctx.keylog('CLIENT_RANDOM', s.clientRandom, master);
    const ivLength = s.suite.aead === 'CHACHA20-POLY1305' ? 12 : 4;
    const keyLength = s.suite.aead === 'AES-128-GCM' ? 16 : 32;
    const kb = keyBlock(ctx.provider, hash, master, s.clientRandom, s.serverRandom, keyLength, ivLength);
    const read = new Tls12Protection(ctx.provider, s.suite.aead, kb.clientKey, kb.clientIv);
    const write = new Tls12Protection(ctx.provider, s.suite.aead, kb.serverKey, kb.serverIv);
    kb.clientKey.fill(0);
    kb.serverKey.fill(0);
    const next = (info: HandshakeInfo) =>
      new ExpectChangeCipherSpec(ctx, {
        suite: s.suite,
        transcript: s.transcript,
        master,
        read,
        write,
        info,
        sessionId: s.sessionId,
        issueTicket: s.issueTicket,
        extendedMasterSecret: s.extendedMasterSecret,
      });
    return s.clientVerdict ? new ExpectCertificateVerify12(ctx, s, next) : next(s.info);
  }
}
keepStandIn(new ExpectClientKeyExchange(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)
