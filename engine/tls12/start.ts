/**
 * TLS 1.2 server first flight (RFC 5246 §7.3):
 *
 *   ServerHello, Certificate, ServerKeyExchange, ServerHelloDone
 *
 * with RFC 5746 renegotiation_info, RFC 7627 extended_master_secret,
 * RFC 8422 ec_point_formats, RFC 7301 ALPN, RFC 6066 server_name, and the
 * RFC 8446 §4.1.3 downgrade sentinel when TLS 1.3 was possible.
 */

import { Writer, fromHex } from '../codec.js';
import { CipherSuite, ExtensionType, ProtocolVersion, groupName } from '../constants.js';
import { isPromise, type KeyShare } from '../crypto/provider.js';
import { failure, fail } from '../errors.js';
import type { SniChoice } from '../config.js';
import type { HandshakeInfo } from '../events.js';
import { encodeCertificate12 } from '../messages/certificate12.js';
import { CertificateType, certificateTypeName, chooseCertificateTypes, encodeRawKeyCertificate12 } from '../common/certificate-types.js';
import { type ClientHello, summarizeClientHello } from '../messages/client-hello.js';
import { alpnSelected, recordSizeLimitExtension, serverNameAck } from '../messages/encrypted-extensions.js';
import type { Extension } from '../messages/extensions.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import { encodeServerHelloDone } from '../messages/server-hello-done.js';
import { dheParams, ecdheParams, encodeServerKeyExchange, signedParams } from '../messages/server-key-exchange.js';
import { encodeServerHello } from '../messages/server-hello.js';
import { defaultCertificateChoice } from '../sni.js';
import { chooseAlpn } from '../common/negotiate.js';
import type { ServerContext, State } from '../common/state.js';
import { Transcript } from '../common/transcript.js';
import { ExpectClientCertificate12, ExpectClientKeyExchange, type Tls12Pending } from './expect-client-key-exchange.js';
import { clientSchemes } from '../client-auth.js';
import { encodeCertificateRequest12 } from '../messages/certificate-request.js';
import { chooseTls12, type Tls12Choice } from './negotiate.js';
import { findTls12Session, resumeTls12 } from './resume.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

/** RFC 8446 §4.1.3: the last 8 bytes of ServerHello.random when a TLS 1.3 server negotiates TLS 1.2. */
export const DOWNGRADE_TLS12 = fromHex('444f574e47524401');

/**
 * The TLS 1.2 server flight, as named RFC steps (the shape of Go's
 * handshake_server.go): processClientHello, pickServerName,
 * serverHelloExtensions, checkForResumption (the abbreviated handshake in
 * resume.ts), pickParameters, sendServerHello, sendCertificate,
 * sendServerKeyExchange, sendCertificateRequest, sendServerHelloDone.
 */
export function startTls12(ctx: ServerContext, hello: ClientHello, m: HandshakeMessage, tls13Enabled: boolean): Promise<State> {
  return new ServerFlight12(ctx, hello, m, tls13Enabled).run();
}

class ServerFlight12 {
  private secureRenegotiation = false;
  private sni!: SniChoice;
  private alpn: string | undefined;
  private serverRandom!: Uint8Array;
  private readonly exts: Extension[] = [];
  private baseInfo!: Omit<HandshakeInfo, 'cipherSuite' | 'cipherName' | 'cipherBits' | 'group'>;
  private choice!: Tls12Choice;
  private types!: ReturnType<typeof chooseCertificateTypes>;
  private issueTicket = false;
  private sessionId!: Uint8Array;
  private transcript!: Transcript;
  private share!: KeyShare;

  constructor(
    private readonly ctx: ServerContext,
    private readonly hello: ClientHello,
    private readonly m: HandshakeMessage,
    private readonly tls13Enabled: boolean,
  ) {}

  async run(): Promise<State> {
    this.processClientHello();
    this.pickServerName();
    this.serverHelloExtensions();
    const resumed = await this.checkForResumption();
    if (resumed) return resumed;
    this.pickParameters();
    this.sendServerHello();
    this.sendCertificate();
    await this.sendServerKeyExchange();
    this.sendCertificateRequest();
    return this.sendServerHelloDone();
  }

  /** RFC 5246 §7.4.1.2 compression, RFC 5746 §3.6 renegotiation_info. */
  private processClientHello(): void {
    const { ctx, hello } = this;
    ctx.setVersion(ProtocolVersion.TLS1_2);
    // RFC 5246 §7.4.1.2: the null compression method MUST be offered; we select it (no compression, ever).
    if (!hello.compressionMethods.includes(0)) fail('Tls12NoNullCompression');
    // RFC 5746 §3.6: on an initial handshake the renegotiation_info extension must be empty.
    if (hello.renegotiationInfo && hello.renegotiationInfo.length > 0) {
      fail('RenegotiationInfoNotEmpty');
    }
    this.secureRenegotiation =
      hello.renegotiationInfo !== undefined || hello.cipherSuites.includes(CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
  }

  /** RFC 6066 §3 / the SNI hook: the certificates to choose from; RFC 7301 ALPN; our random (RFC 8446 §4.1.3 sentinel). */
  private pickServerName(): void {
    const { ctx, hello } = this;
    this.sni = (ctx.config.selectCertificates ?? defaultCertificateChoice(ctx.config.certificates))(summarizeClientHello(hello));
    this.alpn = chooseAlpn(hello, ctx.config);
    this.serverRandom = ctx.random(32).slice();
    if (this.tls13Enabled) this.serverRandom.set(DOWNGRADE_TLS12, 24);
  }

  /** The ServerHello extensions a full and an abbreviated handshake share (RFC 5746, RFC 7627, RFC 6066, RFC 7301, RFC 8449). */
  private serverHelloExtensions(): void {
    const { ctx, hello, exts } = this;
    if (this.secureRenegotiation) exts.push({ type: ExtensionType.renegotiation_info, data: Uint8Array.of(0) });
    if (hello.extendedMasterSecret) exts.push({ type: ExtensionType.extended_master_secret, data: new Uint8Array(0) });
    if (this.sni.matched && hello.serverName) exts.push(serverNameAck());
    if (this.alpn !== undefined) exts.push(alpnSelected(this.alpn));
    if (hello.recordSizeLimit !== undefined) {
      // RFC 8449 §4: in TLS 1.2 the value counts plaintext only.
      ctx.setPeerRecordSizeLimit(hello.recordSizeLimit + 1);
      exts.push(recordSizeLimitExtension(1 << 14));
    }
    this.baseInfo = {
      protocol: 'TLSv1.2',
      version: ProtocolVersion.TLS1_2,
      serverName: hello.serverName,
      serverNameMatched: this.sni.matched,
      invalidServerName: hello.invalidServerName,
      alpn: this.alpn,
      helloRetry: false,
      resumed: false,
      extendedMasterSecret: hello.extendedMasterSecret,
    };
  }

  /** RFC 5077 §3.4 ticket or RFC 5246 §7.4.1.2 session ID: the abbreviated handshake (resume.ts). */
  private async checkForResumption(): Promise<State | undefined> {
    const { ctx, hello } = this;
    const resumable = await findTls12Session(ctx, hello);
    ctx.event(resumable ? { kind: 'resumption', resumed: true, via: resumable.via } : { kind: 'resumption', resumed: false });
    return resumable ? resumeTls12(ctx, hello, this.m, resumable, this.serverRandom, this.exts, this.baseInfo) : undefined;
  }

  /** Suite, certificate, scheme and group together (negotiate.ts); RFC 7250 certificate types; tickets and session ID. */
  private pickParameters(): void {
    const { ctx, hello, exts } = this;
    this.choice = chooseTls12(hello, ctx.config, this.sni.certificates, ctx.provider.groups, ctx.provider.dhKeyShare !== undefined);
    ctx.event({ kind: 'certificate', label: this.choice.cert.label, matchedServerName: this.sni.matched });
    const clientAuth = ctx.config.clientAuth;
    // RFC 7250 §4.2: certificate types, announced in the ServerHello.
    this.types = chooseCertificateTypes(hello.extensions, {
      sendRaw: !!ctx.config.rawPublicKey && this.choice.cert.spki !== undefined,
      acceptRaw: clientAuth?.verifyRawPublicKey !== undefined,
      requestingClientCertificate: clientAuth !== undefined,
    });
    exts.push(...this.types.extensions);
    if (this.choice.suite.kx === 'ECDHE' && hello.ecPointFormats) exts.push({ type: ExtensionType.ec_point_formats, data: Uint8Array.of(1, 0) });
    // Resumable state is only issued for sessions with the extended master secret (RFC 7627 §5.3).
    this.issueTicket = ctx.config.tickets !== undefined && hello.sessionTicket !== undefined && hello.extendedMasterSecret;
    if (this.issueTicket) exts.push({ type: ExtensionType.session_ticket, data: new Uint8Array(0) });
    this.sessionId = ctx.config.sessionCache && hello.extendedMasterSecret ? ctx.random(32).slice() : new Uint8Array(0);
  }

  /** RFC 5246 §7.4.1.3. */
  private sendServerHello(): void {
    const { ctx } = this;
    this.transcript = new Transcript(ctx.provider, this.choice.suite.hash);
    if (ctx.config.clientAuth) this.transcript.keepMessages();
    this.transcript.add(this.m.raw);
    const sh = encodeServerHello({
      random: this.serverRandom,
      sessionIdEcho: this.sessionId,
      cipherSuite: this.choice.suite.id,
      extensions: this.exts,
    });
    this.transcript.add(sh);
    ctx.sendHandshake(sh);
  }

  /** RFC 5246 §7.4.2 (a raw key as RFC 7250 §3 says). */
  private sendCertificate(): void {
    const { cert } = this.choice;
    const msg = this.types.server === CertificateType.RawPublicKey ? encodeRawKeyCertificate12(cert.spki!) : encodeCertificate12(cert.chain);
    this.transcript.add(msg);
    this.ctx.sendHandshake(msg);
  }

  /** RFC 5246 §7.4.3, RFC 8422 §5.4: our ephemeral share, signed over both randoms. */
  private async sendServerKeyExchange(): Promise<void> {
    const { ctx, hello, choice } = this;
    let params: Uint8Array;
    try {
      if (choice.group !== undefined) {
        const s = ctx.provider.generateKeyShare(choice.group);
        this.share = isPromise(s) ? await s : s;
        params = ecdheParams(choice.group, this.share.publicKey);
      } else {
        const dh = choice.dh!;
        const s = ctx.provider.dhKeyShare!(dh.p, dh.g);
        this.share = isPromise(s) ? await s : s;
        params = dheParams(dh.p, dh.g, this.share.publicKey);
      }
    } catch (e) {
      throw failure('KeyShareGenerationFailed', (e as Error).message);
    }
    let signature: Uint8Array;
    try {
      const sig = choice.cert.key.sign(choice.scheme, signedParams(hello.random, this.serverRandom, params), { tls12: true });
      signature = isPromise(sig) ? await sig : sig;
    } catch (e) {
      throw failure('SigningFailed', 'ServerKeyExchange', (e as Error).message);
    }
    const ske = encodeServerKeyExchange(params, choice.scheme, signature);
    this.transcript.add(ske);
    ctx.sendHandshake(ske);
  }

  /** RFC 5246 §7.4.4, when the policy asks for a client certificate. */
  private sendCertificateRequest(): void {
    const clientAuth = this.ctx.config.clientAuth;
    if (!clientAuth) return;
    const cr = encodeCertificateRequest12(clientSchemes(true), clientAuth.certificateAuthorities);
    this.transcript.add(cr);
    this.ctx.sendHandshake(cr);
  }

  /** RFC 5246 §7.4.5; the flight leaves, and we wait for the client's (§7.4.6-7.4.9). */
  private sendServerHelloDone(): State {
    const { ctx, hello, choice, types } = this;
    const { suite } = choice;
    const shd = encodeServerHelloDone();
    this.transcript.add(shd);
    ctx.sendHandshake(shd);
    ctx.flush();
    ctx.trace(`TLS 1.2 server flight: ${suite.name}, ${choice.group !== undefined ? groupName(choice.group) : `DHE ${choice.dh!.bits} bits`}`);
    const pending: Tls12Pending = {
      suite,
      transcript: this.transcript,
      share: this.share,
      group: choice.group,
      dh: choice.dh,
      clientRandom: hello.random,
      serverRandom: this.serverRandom,
      extendedMasterSecret: hello.extendedMasterSecret,
      sessionId: this.sessionId,
      issueTicket: this.issueTicket,
      serverName: hello.serverName,
      info: {
        ...this.baseInfo,
        cipherSuite: suite.id,
        cipherName: suite.name,
        cipherBits: suite.bits,
        group: choice.group !== undefined ? groupName(choice.group) : choice.dh!.group !== undefined ? groupName(choice.dh!.group) : `DHE (${choice.dh!.bits} bits)`,
        certificateLabel: choice.cert.label,
        serverCertificateType: certificateTypeName(types.server),
        clientCertificateType: types.client !== undefined ? certificateTypeName(types.client) : undefined,
      },
    };
    return ctx.config.clientAuth ? new ExpectClientCertificate12(ctx, pending) : new ExpectClientKeyExchange(ctx, pending);
  }
}
keepStandIn(new ServerFlight12(INERT, INERT, INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

/** For tests: the server's RFC 5746 renegotiation_info answer. */
export function emptyRenegotiationInfo(): Uint8Array {
  return new Writer(1).vec(1, new Uint8Array(0)).finish();
}
