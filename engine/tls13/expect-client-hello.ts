/**
 * START / RECVD_CH / NEGOTIATED (RFC 8446 §4.1, Appendix A.2): read the
 * ClientHello, negotiate, and send the whole server flight:
 *
 *   ServerHello, [ChangeCipherSpec], {EncryptedExtensions}, {Certificate},
 *   {CertificateVerify}, {Finished}
 *
 * or a HelloRetryRequest when the client sent no key share we accept
 * (§4.1.4), after which the same state class waits for ClientHello2.
 */

import { constantTimeEqual } from '../codec.js';
import { ExtensionType, HandshakeType, ProtocolVersion, PskKeyExchangeMode, RecordLimits, groupName } from '../constants.js';
import { isPromise } from '../crypto/provider.js';
import { failure, fail } from '../errors.js';
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
import { startTls12 } from '../tls12/start.js';
import { IMPLEMENTED_VERSIONS, negotiateVersion } from '../version.js';
import { ExpectClientCertificate } from './expect-client-certificate.js';
import { ExpectFinished } from './expect-finished.js';
import { clientSchemes } from '../client-auth.js';
import { encodeCertificateRequest } from '../messages/certificate-request.js';
import { KeySchedule } from './key-schedule.js';
import { chooseAlpn, chooseCertificate, chooseGroup, chooseSuite, describeSignature } from './negotiate.js';
import { checkClientShare, serverKeyExchange, tls13Groups } from './key-exchange.js';
import { acceptPsk, preSharedKeyExtension } from './psk.js';
import type { ServerContext, State } from '../common/state.js';
import { Transcript } from '../common/transcript.js';

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

export class ExpectClientHello implements State {
  readonly name: string;

  constructor(private readonly ctx: ServerContext, private readonly retry?: RetryState) {
    this.name = retry ? 'ExpectClientHello2' : 'ExpectClientHello';
  }

  async handle(m: HandshakeMessage): Promise<State> {
    if (m.type !== HandshakeType.client_hello) {
      fail('UnexpectedHandshakeMessage', m.type, 'ClientHello');
    }
    const hello = parseClientHello(m.body, this.ctx.limits.maxExtensions);
    const enabled = this.ctx.config.versions ?? IMPLEMENTED_VERSIONS;
    const version = negotiateVersion(hello, enabled);
    if (version === ProtocolVersion.TLS1_2) {
      // §4.1.4: after a HelloRetryRequest the client must go on with TLS 1.3.
      if (this.retry) fail('Hello2NotTls13');
      return startTls12(this.ctx, hello, m, enabled.includes(ProtocolVersion.TLS1_3));
    }
    this.ctx.setVersion(ProtocolVersion.TLS1_3);
    this.checkTls13Hello(hello);
    if (this.retry) this.checkSecondHello(this.retry, hello);

    const suite = this.retry ? this.retry.suite : chooseSuite(hello, this.ctx.config);
    if (this.retry && !hello.cipherSuites.includes(suite.id)) {
      // §4.1.4: the server MUST ensure the same cipher suite is negotiated after the retry.
      fail('Hello2DroppedSuite');
    }
    // §4.2.8: every key share the client sent must be well formed, also those we do not pick.
    for (const share of hello.keyShares!) checkClientShare(share);
    const groupChoice = chooseGroup(hello, this.ctx.config, tls13Groups(this.ctx.provider));

    if ('retry' in groupChoice) {
      // §4.1.4: at most one HelloRetryRequest; a second would loop.
      if (this.retry) fail('Hello2StillNoKeyShare');
      return this.sendHelloRetryRequest(hello, m, suite, groupChoice.retry);
    }
    if (this.retry && (hello.keyShares!.length !== 1 || groupChoice.share.group !== this.retry.group)) {
      // §4.2.8: after a retry the client sends exactly one share, for the selected group.
      fail('Hello2KeyShareMismatch');
    }
    return this.negotiated(hello, m, suite, groupChoice.share);
  }

  /** Checks every TLS 1.3 ClientHello must pass (§4.1.2, §9.2). */
  private checkTls13Hello(hello: ClientHello): void {
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
  private checkSecondHello(retry: RetryState, h2: ClientHello): void {
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
    this.ctx.skipEarlyData('off');
  }

  private sendHelloRetryRequest(hello: ClientHello, m: HandshakeMessage, suite: Tls13Suite, group: number): State {
    const transcript = new Transcript(this.ctx.provider, suite.hash);
    transcript.add(m.raw);
    transcript.replaceWithMessageHash();
    const hrr = encodeServerHello({
      random: HELLO_RETRY_REQUEST_RANDOM,
      sessionIdEcho: hello.sessionId,
      cipherSuite: suite.id,
      extensions: [supportedVersionsSelected(ProtocolVersion.TLS1_3), keyShareRetry(group)],
    });
    transcript.add(hrr);
    this.ctx.sendHandshake(hrr);
    // §D.4: the compatibility CCS follows the server's first handshake message.
    const ccs = hello.sessionId.length > 0;
    if (ccs) this.ctx.sendChangeCipherSpec();
    this.ctx.flush();
    // §4.2.10: early data sent with ClientHello1 is skipped wholesale until ClientHello2.
    this.ctx.skipEarlyData(hello.earlyData ? 'all' : 'off');
    this.ctx.trace(`HelloRetryRequest for ${groupName(group)}`);
    return new ExpectClientHello(this.ctx, { hello1: hello, suite, group, transcript, sentChangeCipherSpec: ccs });
  }

  private async negotiated(hello: ClientHello, m: HandshakeMessage, suite: Tls13Suite, share: KeyShareEntry): Promise<State> {
    const { ctx } = this;
    const summary = summarizeClientHello(hello);
    // RFC 6066 §3 / the SNI hook: choose the certificate before ServerHello is built.
    const choice = (ctx.config.selectCertificates ?? defaultCertificateChoice(ctx.config.certificates))(summary);
    const alpn = chooseAlpn(hello, ctx.config);
    // §4.2.11: resume when an offered ticket is acceptable; otherwise authenticate with a certificate.
    const psk = await acceptPsk(ctx, hello, m.raw, suite, this.retry?.transcript);
    ctx.event(psk ? { kind: 'resumption', resumed: true, via: 'ticket' } : { kind: 'resumption', resumed: false });
    // A PSK-only hello whose PSK we do not accept cannot authenticate us with a certificate (§9.2).
    if (!psk && !hello.signatureAlgorithms) fail('NoPskNoSignatureAlgorithms');
    const auth = psk ? undefined : chooseCertificate(choice.certificates, summary.signatureSchemes);
    if (auth) ctx.event({ kind: 'certificate', label: auth.cert.label, matchedServerName: choice.matched });
    const requestCertificate = ctx.config.clientAuth !== undefined && !psk;
    // RFC 7250 §4.2: certificate types, decided before ServerHello (no common type: unsupported_certificate).
    const types = auth
      ? chooseCertificateTypes(hello.extensions, {
        sendRaw: !!ctx.config.rawPublicKey && auth.cert.spki !== undefined,
        acceptRaw: ctx.config.clientAuth?.verifyRawPublicKey !== undefined,
        requestingClientCertificate: requestCertificate,
      })
      : undefined;

    // Key exchange (§4.2.8, §7.4): ECDHE, FFDHE or hybrid ML-KEM (key-exchange.ts).
    const { share: serverShare, secret: shared } = await serverKeyExchange(ctx.provider, share);

    const transcript = this.retry ? this.retry.transcript : new Transcript(ctx.provider, suite.hash);
    transcript.add(m.raw);

    const sh = encodeServerHello({
      random: ctx.random(32),
      sessionIdEcho: hello.sessionId,
      cipherSuite: suite.id,
      extensions: [
        keyShareServer(share.group, serverShare),
        supportedVersionsSelected(ProtocolVersion.TLS1_3),
        ...(psk ? [preSharedKeyExtension(psk.index)] : []),
      ],
    });
    transcript.add(sh);
    ctx.sendHandshake(sh);
    if (hello.sessionId.length > 0 && !this.retry?.sentChangeCipherSpec) ctx.sendChangeCipherSpec();

    const schedule = psk ? psk.schedule : new KeySchedule(ctx.provider, suite);
    schedule.inputSharedSecret(shared);
    shared.fill(0);
    const hsHash = transcript.current();
    const clientHandshakeSecret = schedule.derive('c hs traffic', hsHash);
    const serverHandshakeSecret = schedule.derive('s hs traffic', hsHash);
    ctx.keylog('CLIENT_HANDSHAKE_TRAFFIC_SECRET', hello.random, clientHandshakeSecret);
    ctx.keylog('SERVER_HANDSHAKE_TRAFFIC_SECRET', hello.random, serverHandshakeSecret);
    ctx.setWriteSecret(suite, serverHandshakeSecret);
    // §5.1: the ClientHello must be the last message in its record, as the key changes after it.
    ctx.setReadSecret(suite, clientHandshakeSecret);
    // §4.2.10: early data offered is never accepted; skip what fails to decrypt.
    ctx.skipEarlyData(hello.earlyData ? 'trial' : 'off');

    // {EncryptedExtensions} §4.3.1
    const exts: Extension[] = [];
    // §4.2.7: the server may tell the client which groups it prefers.
    const advertise = ctx.config.advertiseGroups ?? (ctx.config.advertiseGroupsAuto ? advertisedGroups(ctx.config.groups, tls13Groups(ctx.provider), share.group) : undefined);
    if (advertise?.length) exts.push(supportedGroupsExtension(advertise));
    if (hello.recordSizeLimit !== undefined) {
      // RFC 8449 §4: honour the client's limit, and state ours (2^14 + 1 in TLS 1.3: content plus type).
      ctx.setPeerRecordSizeLimit(hello.recordSizeLimit);
      exts.push(recordSizeLimitExtension(RecordLimits.maxPlaintext + 1));
    }
    if (choice.matched && hello.serverName) exts.push(serverNameAck());
    if (alpn !== undefined) exts.push(alpnSelected(alpn));
    if (types) exts.push(...types.extensions);
    const ee = encodeEncryptedExtensions(exts);
    transcript.add(ee);
    ctx.sendHandshake(ee);
    ctx.trace('sent EncryptedExtensions');

    // {CertificateRequest} §4.3.2 — never with a PSK ("Servers which are authenticating with a PSK
    // MUST NOT send the CertificateRequest message in the main handshake").
    if (requestCertificate) {
      const cr = encodeCertificateRequest(new Uint8Array(0), clientSchemes(false), ctx.config.clientAuth!.certificateAuthorities);
      transcript.add(cr);
      ctx.sendHandshake(cr);
      ctx.trace('sent CertificateRequest');
    }

    let sig: { signature: string; digest?: string } | undefined;
    if (auth) {
      const { cert, scheme } = auth;
      // {Certificate} §4.4.2
      // RFC 7250 / RFC 8446 §4.4.2: a raw key travels as the cert_data of the one entry.
      const certMsg = encodeCertificate(new Uint8Array(0), types?.server === CertificateType.RawPublicKey ? [cert.spki!] : cert.chain);
      transcript.add(certMsg);
      ctx.sendHandshake(certMsg);
      ctx.trace('sent Certificate');

      // {CertificateVerify} §4.4.3
      let signature: Uint8Array;
      try {
        const s = cert.key.sign(scheme, signedContent(SERVER_CV_CONTEXT, transcript.current()));
        signature = isPromise(s) ? await s : s;
      } catch (e) {
        throw failure('SigningFailed', 'CertificateVerify', (e as Error).message);
      }
      const cv = encodeCertificateVerify(scheme, signature);
      transcript.add(cv);
      ctx.sendHandshake(cv);
      ctx.trace('sent CertificateVerify');
      sig = describeSignature(cert.key, scheme);
    }

    // {Finished} §4.4.4
    const fin = encodeFinished(schedule.finishedVerifyData(serverHandshakeSecret, transcript.current()));
    transcript.add(fin);
    ctx.sendHandshake(fin);
    ctx.trace('sent Finished');
    ctx.flush();

    // §7.1: application traffic secrets from the transcript through the server Finished.
    schedule.toMasterSecret();
    const finHash = transcript.current();
    const clientTrafficSecret = schedule.derive('c ap traffic', finHash);
    const serverTrafficSecret = schedule.derive('s ap traffic', finHash);
    const exporterMasterSecret = schedule.derive('exp master', finHash);
    ctx.keylog('CLIENT_TRAFFIC_SECRET_0', hello.random, clientTrafficSecret);
    ctx.keylog('SERVER_TRAFFIC_SECRET_0', hello.random, serverTrafficSecret);
    ctx.keylog('EXPORTER_SECRET', hello.random, exporterMasterSecret);
    ctx.setWriteSecret(suite, serverTrafficSecret);
    serverHandshakeSecret.fill(0);

    const info: HandshakeInfo = {
      protocol: 'TLSv1.3',
      version: ProtocolVersion.TLS1_3,
      cipherSuite: suite.id,
      cipherName: suite.name,
      cipherBits: suite.bits,
      group: groupName(share.group),
      serverSignature: sig?.signature,
      serverDigest: sig?.digest,
      serverName: hello.serverName,
      serverNameMatched: choice.matched,
      invalidServerName: hello.invalidServerName,
      alpn,
      helloRetry: this.retry !== undefined,
      resumed: psk !== undefined,
      resumedVia: psk ? 'ticket' : undefined,
      clientCertificate: psk && psk.session.clientAuth ? { trusted: psk.session.clientAuth === 2, resumed: true, signature: '' } : undefined,
      // §4.2.9: tickets only for clients that can resume them the way we do (psk_dhe_ke).
      ticketsUsable: hello.pskModes?.includes(PskKeyExchangeMode.psk_dhe_ke) ?? false,
      certificateLabel: auth?.cert.label,
      serverCertificateType: types ? certificateTypeName(types.server) : undefined,
      clientCertificateType: types?.client !== undefined ? certificateTypeName(types.client) : undefined,
    };
    ctx.trace(`sent server flight: ${suite.name}, ${info.group}, ${psk ? `resumed with PSK ${psk.index}` : sig!.signature}`);
    const awaiting = {
      suite,
      schedule,
      transcript,
      clientHandshakeSecret,
      clientTrafficSecret,
      serverTrafficSecret,
      exporterMasterSecret,
      info,
    };
    return requestCertificate ? new ExpectClientCertificate(ctx, awaiting) : new ExpectFinished(ctx, awaiting);
  }
}

/**
 * §4.2.7 as OpenSSL does it: our TLS 1.3 groups in preference order, sent
 * only when the negotiated group is not the first of them.
 */
function advertisedGroups(groups: readonly number[], available: readonly number[], negotiated: number): number[] | undefined {
  const ours = groups.filter((g) => available.includes(g));
  return ours.length && ours[0] !== negotiated ? ours : undefined;
}
