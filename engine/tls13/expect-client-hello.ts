/**
 * RECVD_CH / NEGOTIATED (RFC 8446 §4.1, Appendix A.2), after the version
 * dispatch (../common/expect-client-hello.ts) chose TLS 1.3: check the
 * ClientHello, negotiate, and send the whole server flight:
 *
 *   ServerHello, [ChangeCipherSpec], {EncryptedExtensions}, [{CertificateRequest}],
 *   {Certificate}, {CertificateVerify}, {Finished}, [NewSessionTicket]
 *
 * or a HelloRetryRequest when the client sent no key share we accept
 * (§4.1.4), after which ExpectClientHello2 waits for ClientHello2. The
 * NewSessionTicket is part of the flight when no client certificate is
 * requested (RFC 8446 §4.6.1's note, expect-finished.ts).
 *
 * The flight is a sequence of named steps, as in Go's crypto/tls
 * (handshake_server_tls13.go): processClientHello, sendHelloRetryRequest,
 * then ServerFlight13: pickServerName, checkForResumption, pickCertificate,
 * sendServerHello, establishHandshakeKeys, sendServerParameters,
 * sendServerCertificate, sendServerFinished, establishApplicationKeys,
 * sendEarlyTicket.
 */

import { constantTimeEqual } from '../codec.js';
import { ExtensionType, HandshakeType, ProtocolVersion, PskKeyExchangeMode, RecordLimits, groupName } from '../constants.js';
import { isPromise } from '../crypto/provider.js';
import { failure, fail } from '../errors.js';
import { sessionEnds } from '../session.js';
import type { HandshakeInfo } from '../events.js';
import { encodeCertificate } from '../messages/certificate.js';
import { CertificateType, certificateTypeName, chooseCertificateTypes } from '../common/certificate-types.js';
import { encodeCertificateVerify, SERVER_CV_CONTEXT, signedContent } from '../messages/certificate-verify.js';
import { type ClientHello, type KeyShareEntry, parseClientHello, summarizeClientHello } from '../messages/client-hello.js';
import {
  alpnSelected,
  encodeEncryptedExtensions,
  recordSizeLimitExtension,
  serverNameAck,
  supportedGroupsExtension,
} from '../messages/encrypted-extensions.js';
import type { Extension } from '../messages/extensions.js';
import { encodeFinished } from '../messages/finished.js';
import type { HandshakeMessage } from '../messages/handshake.js';
import {
  encodeServerHello,
  HELLO_RETRY_REQUEST_RANDOM,
  keyShareRetry,
  keyShareServer,
  supportedVersionsSelected,
} from '../messages/server-hello.js';
import { defaultCertificateChoice } from '../sni.js';
import type { Tls13Suite } from '../suites.js';
import { IMPLEMENTED_VERSIONS, negotiateVersion } from '../version.js';
import type { CertifiedKey, ClientHelloSummary, SniChoice } from '../config.js';
import { ExpectClientCertificate } from './expect-client-certificate.js';
import { ExpectFinished, sendEarlyTicket } from './expect-finished.js';
import { clientSchemes } from '../client-auth.js';
import { encodeCertificateRequest } from '../messages/certificate-request.js';
import { KeySchedule } from './key-schedule.js';
import type { AwaitingFinished } from './expect-finished.js';
import { chooseCertificate, chooseGroup, chooseSuite } from './negotiate.js';
import { chooseAlpn, describeSignature } from '../common/negotiate.js';
import { checkClientShare, serverKeyExchange, tls13Groups } from './key-exchange.js';
import { type AcceptedPsk, acceptPsk, preSharedKeyExtension } from './psk.js';
import type { ServerContext, State } from '../common/state.js';
import { Transcript } from '../common/transcript.js';
import { INERT, keepStandIn } from '../common/shape-anchors.js';

/** What we remember between a HelloRetryRequest and ClientHello2. */
interface RetryState {
  readonly hello1: ClientHello;
  readonly suite: Tls13Suite;
  readonly group: number;
  readonly transcript: Transcript;
  readonly sentChangeCipherSpec: boolean;
}

/** Extensions a client may change in ClientHello2 (§4.1.2). */
const MAY_CHANGE_AFTER_RETRY: ReadonlySet<number> = new Set([
  ExtensionType.key_share,
  ExtensionType.early_data,
  ExtensionType.cookie,
  ExtensionType.pre_shared_key,
  ExtensionType.padding,
]);

/** TLS 1.3 chosen for the first ClientHello (the version dispatch in ../common/expect-client-hello.ts). */
export function startTls13(ctx: ServerContext, hello: ClientHello, m: HandshakeMessage): Promise<State> {
  return processClientHello(ctx, hello, m);
}

/** After a HelloRetryRequest: the second ClientHello (§4.1.4), which must go on with TLS 1.3. */
class ExpectClientHello2 implements State {
  readonly name = 'ExpectClientHello2';

  constructor(private readonly ctx: ServerContext, private readonly retry: RetryState) {}

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.client_hello) fail('UnexpectedHandshakeMessage', m.type, 'ClientHello');
    const hello = parseClientHello(m.body, this.ctx.limits.maxExtensions);
    // §4.1.4: after a HelloRetryRequest the client must go on with TLS 1.3.
    if (negotiateVersion(hello, this.ctx.config.versions ?? IMPLEMENTED_VERSIONS) !== ProtocolVersion.TLS1_3) fail('Hello2NotTls13');
    return processClientHello(this.ctx, hello, m, this.retry);
  }
}
keepStandIn(new ExpectClientHello2(INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

/** Check the hello, choose the suite and the key share; a HelloRetryRequest when no share fits (§4.1.1, §4.1.4). */
async function processClientHello(ctx: ServerContext, hello: ClientHello, m: HandshakeMessage, retry?: RetryState): Promise<State> {
  ctx.setVersion(ProtocolVersion.TLS1_3);
  checkTls13Hello(hello);
  if (retry) checkSecondHello(ctx, retry, hello);

  const suite = retry ? retry.suite : chooseSuite(hello, ctx.config);
  if (retry && !hello.cipherSuites.includes(suite.id)) {
    // §4.1.4: the server MUST ensure the same cipher suite is negotiated after the retry.
    fail('Hello2DroppedSuite');
  }
  // §4.2.8: every key share the client sent must be well formed, also those we do not pick.
  for (const share of hello.keyShares!) checkClientShare(share);
  const groupChoice = chooseGroup(hello, ctx.config, tls13Groups(ctx.provider));

  if ('retry' in groupChoice) {
    // §4.1.4: at most one HelloRetryRequest; a second would loop.
    if (retry) fail('Hello2StillNoKeyShare');
    return sendHelloRetryRequest(ctx, hello, m, suite, groupChoice.retry);
  }
  if (retry && (hello.keyShares!.length !== 1 || groupChoice.share.group !== retry.group)) {
    // §4.2.8: after a retry the client sends exactly one share, for the selected group.
    fail('Hello2KeyShareMismatch');
  }
  return new ServerFlight13(ctx, hello, m, suite, groupChoice.share, retry).run();
}

/** Checks every TLS 1.3 ClientHello must pass (§4.1.2, §9.2). */
function checkTls13Hello(hello: ClientHello): void {
  // §4.1.2: "For every TLS 1.3 ClientHello, this vector MUST contain exactly one byte, set to zero ...
  // If a TLS 1.3 ClientHello is received with any other value in this field, the server MUST abort
  // the handshake with an "illegal_parameter" alert."
  if (hello.compressionMethods.length !== 1 || hello.compressionMethods[0] !== 0) {
    fail('Tls13CompressionNotNull');
  }
  // §9.2: "If not containing a pre_shared_key extension, it MUST contain both a signature_algorithms
  // extension and a supported_groups extension"; supported_groups and key_share go together.
  if (!hello.signatureAlgorithms && !hello.preSharedKey) fail('MissingSignatureAlgorithms');
  if (!hello.supportedGroups) fail('MissingSupportedGroups');
  if (!hello.keyShares) fail('MissingKeyShare');
  if (hello.preSharedKey && !hello.pskModes) {
    // §4.2.9: a client offering pre_shared_key MUST also send psk_key_exchange_modes.
    fail('MissingPskModes');
  }
}

/** §4.1.2: ClientHello2 must equal ClientHello1 except for the listed changes. */
function checkSecondHello(ctx: ServerContext, retry: RetryState, h2: ClientHello): void {
  const h1 = retry.hello1;
  const same =
    h1.legacyVersion === h2.legacyVersion &&
    constantTimeEqual(h1.random, h2.random) &&
    constantTimeEqual(h1.sessionId, h2.sessionId) &&
    h1.cipherSuites.length === h2.cipherSuites.length &&
    h1.cipherSuites.every((s, i) => h2.cipherSuites[i] === s) &&
    constantTimeEqual(h1.compressionMethods, h2.compressionMethods);
  if (!same) fail('Hello2ChangedFields');
  const rest = (h: ClientHello) => h.extensions.filter((e) => !MAY_CHANGE_AFTER_RETRY.has(e.type));
  const r1 = rest(h1);
  const r2 = rest(h2);
  if (r1.length !== r2.length || r1.some((e, i) => e.type !== r2[i]!.type || !constantTimeEqual(e.data, r2[i]!.data))) {
    fail('Hello2ChangedExtensions');
  }
  // §4.2.10: "A client MUST NOT include the "early_data" extension in its followup ClientHello."
  if (h2.earlyData) fail('EarlyDataInHello2');
  ctx.skipEarlyData('off');
}

/** §4.1.4: ask for a share of `group`; the transcript starts again with message_hash (§4.4.1). */
function sendHelloRetryRequest(ctx: ServerContext, hello: ClientHello, m: HandshakeMessage, suite: Tls13Suite, group: number): State {
  const transcript = new Transcript(ctx.provider, suite.hash);
  transcript.add(m.raw);
  transcript.replaceWithMessageHash();
  const hrr = encodeServerHello({
    random: HELLO_RETRY_REQUEST_RANDOM,
    sessionIdEcho: hello.sessionId,
    cipherSuite: suite.id,
    extensions: [supportedVersionsSelected(ProtocolVersion.TLS1_3), keyShareRetry(group)],
  });
  transcript.add(hrr);
  ctx.sendHandshake(hrr);
  // §D.4: the compatibility CCS follows the server's first handshake message.
  const ccs = hello.sessionId.length > 0;
  if (ccs) ctx.sendChangeCipherSpec();
  ctx.flush();
  // §4.2.10: early data sent with ClientHello1 is skipped wholesale until ClientHello2.
  ctx.skipEarlyData(hello.earlyData ? 'all' : 'off');
  ctx.trace(`HelloRetryRequest for ${groupName(group)}`);
  return new ExpectClientHello2(ctx, { hello1: hello, suite, group, transcript, sentChangeCipherSpec: ccs });
}

/**
 * The server flight for a negotiated ClientHello (Go's serverHandshakeStateTLS13):
 * each step is one RFC step, in order; the fields are what the steps hand on.
 */
class ServerFlight13 {
  private summary!: ClientHelloSummary;
  private choice!: SniChoice;
  private alpn: string | undefined;
  private psk: AcceptedPsk | undefined;
  private auth: { cert: CertifiedKey; scheme: number } | undefined;
  private transcript!: Transcript;
  private schedule!: KeySchedule;
  private clientHandshakeSecret!: Uint8Array;
  private serverHandshakeSecret!: Uint8Array;
  private requestCertificate = false;
  private types: ReturnType<typeof chooseCertificateTypes> | undefined;
  private sig: { signature: string; digest?: string } | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly hello: ClientHello,
    private readonly m: HandshakeMessage,
    private readonly suite: Tls13Suite,
    private readonly share: KeyShareEntry,
    private readonly retry: RetryState | undefined,
  ) {}

  async run(): Promise<State> {
    this.pickServerName();
    await this.checkForResumption();
    this.pickCertificate();
    await this.sendServerHello();
    this.establishHandshakeKeys();
    this.sendServerParameters();
    await this.sendServerCertificate();
    this.sendServerFinished();
    const awaiting = this.establishApplicationKeys();
    // §4.6.1 note: without a CertificateRequest the ticket leaves with this flight (expect-finished.ts).
    return this.requestCertificate ? new ExpectClientCertificate(this.ctx, awaiting) : new ExpectFinished(this.ctx, await sendEarlyTicket(this.ctx, awaiting));
  }

  /** RFC 6066 §3 / the SNI hook: the certificates to choose from, before ServerHello is built; RFC 7301 ALPN. */
  private pickServerName(): void {
    const { ctx } = this;
    this.summary = summarizeClientHello(this.hello);
    this.choice = (ctx.config.selectCertificates ?? defaultCertificateChoice(ctx.config.certificates))(this.summary);
    this.alpn = chooseAlpn(this.hello, ctx.config);
  }

  /** §4.2.11: resume when an offered ticket is acceptable (psk.ts). */
  private async checkForResumption(): Promise<void> {
    const { ctx } = this;
    this.psk = await acceptPsk(ctx, this.hello, this.m.raw, this.suite, this.retry?.transcript);
    ctx.event(this.psk ? { kind: 'resumption', resumed: true, via: 'ticket' } : { kind: 'resumption', resumed: false });
  }

  /** §4.4.2.2, §4.4.3: without a PSK we authenticate with a certificate and a scheme the client accepts. */
  private pickCertificate(): void {
    const { ctx } = this;
    // §4.3.2: never with a PSK ("Servers which are authenticating with a PSK MUST NOT send the
    // CertificateRequest message in the main handshake").
    this.requestCertificate = ctx.config.clientAuth !== undefined && !this.psk;
    if (this.psk) return;
    // A PSK-only hello whose PSK we do not accept cannot authenticate us with a certificate (§9.2).
    if (!this.hello.signatureAlgorithms) fail('NoPskNoSignatureAlgorithms');
    this.auth = chooseCertificate(this.choice.certificates, this.summary.signatureSchemes);
    ctx.event({ kind: 'certificate', label: this.auth.cert.label, matchedServerName: this.choice.matched });
    // RFC 7250 §4.2: certificate types, decided before ServerHello (no common type: unsupported_certificate).
    this.types = chooseCertificateTypes(this.hello.extensions, {
      sendRaw: !!ctx.config.rawPublicKey && this.auth.cert.spki !== undefined,
      acceptRaw: ctx.config.clientAuth?.verifyRawPublicKey !== undefined,
      requestingClientCertificate: this.requestCertificate,
    });
  }

  /** §4.1.3 ServerHello with our key share (§4.2.8, §7.4: ECDHE, FFDHE or hybrid ML-KEM, key-exchange.ts), then §D.4's CCS. */
  private async sendServerHello(): Promise<void> {
    const { ctx, hello, psk } = this;
    const { share: serverShare, secret: shared } = await serverKeyExchange(ctx.provider, this.share);
    this.transcript = this.retry ? this.retry.transcript : new Transcript(ctx.provider, this.suite.hash);
    this.transcript.add(this.m.raw);
    const sh = encodeServerHello({
      random: ctx.random(32),
      sessionIdEcho: hello.sessionId,
      cipherSuite: this.suite.id,
      extensions: [
        keyShareServer(this.share.group, serverShare),
        supportedVersionsSelected(ProtocolVersion.TLS1_3),
        ...(psk ? [preSharedKeyExtension(psk.index)] : []),
      ],
    });
    this.transcript.add(sh);
    ctx.sendHandshake(sh);
    if (hello.sessionId.length > 0 && !this.retry?.sentChangeCipherSpec) ctx.sendChangeCipherSpec();
    this.schedule = psk ? psk.schedule : new KeySchedule(ctx.provider, this.suite);
    this.schedule.inputSharedSecret(shared);
    shared.fill(0);
  }

  /** §7.1: the handshake traffic secrets; both directions switch (§5.1: the ClientHello must end its record). */
  private establishHandshakeKeys(): void {
    const { ctx, hello, suite } = this;
    const hsHash = this.transcript.current();
    this.clientHandshakeSecret = this.schedule.derive('c hs traffic', hsHash);
    this.serverHandshakeSecret = this.schedule.derive('s hs traffic', hsHash);
    ctx.keylog('CLIENT_HANDSHAKE_TRAFFIC_SECRET', hello.random, this.clientHandshakeSecret);
    ctx.keylog('SERVER_HANDSHAKE_TRAFFIC_SECRET', hello.random, this.serverHandshakeSecret);
    ctx.setWriteSecret(suite, this.serverHandshakeSecret);
    ctx.setReadSecret(suite, this.clientHandshakeSecret);
    // §4.2.10: early data offered is never accepted; skip what fails to decrypt.
    ctx.skipEarlyData(hello.earlyData ? 'trial' : 'off');
  }

  /** {EncryptedExtensions} §4.3.1, then {CertificateRequest} §4.3.2 when the policy asks for a client certificate. */
  private sendServerParameters(): void {
    const { ctx, hello } = this;
    const exts: Extension[] = [];
    // §4.2.7: the server may tell the client which groups it prefers.
    const advertise = ctx.config.advertiseGroups ?? (ctx.config.advertiseGroupsAuto ? advertisedGroups(ctx.config.groups, tls13Groups(ctx.provider), this.share.group) : undefined);
    if (advertise?.length) exts.push(supportedGroupsExtension(advertise));
    if (hello.recordSizeLimit !== undefined) {
      // RFC 8449 §4: honour the client's limit, and state ours (2^14 + 1 in TLS 1.3: content plus type).
      ctx.setPeerRecordSizeLimit(hello.recordSizeLimit);
      exts.push(recordSizeLimitExtension(RecordLimits.maxPlaintext + 1));
    }
    if (this.choice.matched && hello.serverName) exts.push(serverNameAck());
    if (this.alpn !== undefined) exts.push(alpnSelected(this.alpn));
    if (this.types) exts.push(...this.types.extensions);
    const ee = encodeEncryptedExtensions(exts);
    this.transcript.add(ee);
    ctx.sendHandshake(ee);
    ctx.trace('sent EncryptedExtensions');

    if (this.requestCertificate) {
      const cr = encodeCertificateRequest(new Uint8Array(0), clientSchemes(false), ctx.config.clientAuth!.certificateAuthorities);
      this.transcript.add(cr);
      ctx.sendHandshake(cr);
      ctx.trace('sent CertificateRequest');
    }
  }

  /** {Certificate} §4.4.2 and {CertificateVerify} §4.4.3 (not when resuming with a PSK). */
  private async sendServerCertificate(): Promise<void> {
    const { ctx, auth } = this;
    if (!auth) return;
    const { cert, scheme } = auth;
    // RFC 7250 / RFC 8446 §4.4.2: a raw key travels as the cert_data of the one entry.
    const certMsg =
      this.types?.server === CertificateType.RawPublicKey ? encodeCertificate(new Uint8Array(0), [cert.spki!]) : serverCertificateMessage(cert.chain);
    this.transcript.add(certMsg);
    ctx.sendHandshake(certMsg);
    ctx.trace('sent Certificate');

    let signature: Uint8Array;
    try {
      const s = cert.key.sign(scheme, signedContent(SERVER_CV_CONTEXT, this.transcript.current()));
      signature = isPromise(s) ? await s : s;
    } catch (e) {
      throw failure('SigningFailed', 'CertificateVerify', (e as Error).message);
    }
    const cv = encodeCertificateVerify(scheme, signature);
    this.transcript.add(cv);
    ctx.sendHandshake(cv);
    ctx.trace('sent CertificateVerify');
    this.sig = describeSignature(cert.key, scheme);
  }

  /** {Finished} §4.4.4; the flight leaves. */
  private sendServerFinished(): void {
    const { ctx } = this;
    const fin = encodeFinished(this.schedule.finishedVerifyData(this.serverHandshakeSecret, this.transcript.current()));
    this.transcript.add(fin);
    ctx.sendHandshake(fin);
    ctx.trace('sent Finished');
    ctx.flush();
  }

  /** §7.1: the application traffic secrets from the transcript through the server Finished; what the client's flight is checked against. */
  private establishApplicationKeys(): AwaitingFinished {
    const { ctx, hello, suite, psk } = this;
    this.schedule.toMasterSecret();
    const finHash = this.transcript.current();
    const clientTrafficSecret = this.schedule.derive('c ap traffic', finHash);
    const serverTrafficSecret = this.schedule.derive('s ap traffic', finHash);
    const exporterMasterSecret = this.schedule.derive('exp master', finHash);
    ctx.keylog('CLIENT_TRAFFIC_SECRET_0', hello.random, clientTrafficSecret);
    ctx.keylog('SERVER_TRAFFIC_SECRET_0', hello.random, serverTrafficSecret);
    ctx.keylog('EXPORTER_SECRET', hello.random, exporterMasterSecret);
    // §7.5: this engine offers no exporter (RFC 5705 keying material): the secret is derived for the
    // key log only, and not kept for the session's life.
    exporterMasterSecret.fill(0);
    ctx.setWriteSecret(suite, serverTrafficSecret);
    this.serverHandshakeSecret.fill(0);

    const info: HandshakeInfo = {
      protocol: 'TLSv1.3',
      version: ProtocolVersion.TLS1_3,
      cipherSuite: suite.id,
      cipherName: suite.name,
      cipherBits: suite.bits,
      group: groupName(this.share.group),
      serverSignature: this.sig?.signature,
      serverDigest: this.sig?.digest,
      serverName: hello.serverName,
      serverNameMatched: this.choice.matched,
      invalidServerName: hello.invalidServerName,
      alpn: this.alpn,
      helloRetry: this.retry !== undefined,
      resumed: psk !== undefined,
      resumedVia: psk ? 'ticket' : undefined,
      clientCertificate: psk && psk.session.clientAuth ? { trusted: psk.session.clientAuth === 2, resumed: true, signature: '' } : undefined,
      // §4.2.9: tickets only for clients that can resume them the way we do (psk_dhe_ke).
      ticketsUsable: hello.pskModes?.includes(PskKeyExchangeMode.psk_dhe_ke) ?? false,
      certificateLabel: this.auth?.cert.label,
      serverCertificateType: this.types ? certificateTypeName(this.types.server) : undefined,
      clientCertificateType: this.types?.client !== undefined ? certificateTypeName(this.types.client) : undefined,
    };
    ctx.trace(`sent server flight: ${suite.name}, ${info.group}, ${psk ? `resumed with PSK ${psk.index}` : this.sig!.signature}`);
    return {
      suite,
      schedule: this.schedule,
      transcript: this.transcript,
      clientHandshakeSecret: this.clientHandshakeSecret,
      clientTrafficSecret,
      serverTrafficSecret,
      info,
      resumedSessionEnds: psk ? sessionEnds(psk.session) : undefined,
    };
  }
}
keepStandIn(new ServerFlight13(INERT, INERT, INERT, INERT, INERT, INERT)); // its shape outlives its instances (common/shape-anchors.ts)

/**
 * §4.2.7 as OpenSSL does it: our TLS 1.3 groups in preference order, sent
 * only when the negotiated group is not the first of them.
 */
function advertisedGroups(groups: readonly number[], available: readonly number[], negotiated: number): number[] | undefined {
  const ours = groups.filter((g) => available.includes(g));
  return ours.length && ours[0] !== negotiated ? ours : undefined;
}

/**
 * The server's Certificate message (empty request context, no extensions
 * per entry) depends on the chain alone: encoded once per configured chain
 * and reused by every handshake (it is only read afterwards: transcript,
 * records).
 */
const certificateMessages = new WeakMap<readonly Uint8Array[], Uint8Array>();
function serverCertificateMessage(chain: readonly Uint8Array[]): Uint8Array {
  let m = certificateMessages.get(chain);
  if (!m) {
    m = encodeCertificate(new Uint8Array(0), chain);
    certificateMessages.set(chain, m);
  }
  return m;
}

