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
import { ExpectClientCertificate12, ExpectClientKeyExchange } from './expect-client-key-exchange.js';
import { clientSchemes } from '../client-auth.js';
import { encodeCertificateRequest12 } from '../messages/certificate-request.js';
import { chooseTls12 } from './negotiate.js';
import { findTls12Session, resumeTls12 } from './resume.js';

/** RFC 8446 §4.1.3: the last 8 bytes of ServerHello.random when a TLS 1.3 server negotiates TLS 1.2. */
export const DOWNGRADE_TLS12 = fromHex('444f574e47524401');

export async function startTls12(ctx: ServerContext, hello: ClientHello, m: HandshakeMessage, tls13Enabled: boolean): Promise<State> {
  ctx.setVersion(ProtocolVersion.TLS1_2);

  // RFC 5246 §7.4.1.2: the null compression method MUST be offered; we select it (no compression, ever).
  if (!hello.compressionMethods.includes(0)) fail('Tls12NoNullCompression');
  // RFC 5746 §3.6: on an initial handshake the renegotiation_info extension must be empty.
  if (hello.renegotiationInfo && hello.renegotiationInfo.length > 0) {
    fail('RenegotiationInfoNotEmpty');
  }
  const secureRenegotiation =
    hello.renegotiationInfo !== undefined || hello.cipherSuites.includes(CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV);

  const summary = summarizeClientHello(hello);
  const sni = (ctx.config.selectCertificates ?? defaultCertificateChoice(ctx.config.certificates))(summary);
  const alpn = chooseAlpn(hello, ctx.config);
  const serverRandom = ctx.random(32).slice();
  if (tls13Enabled) serverRandom.set(DOWNGRADE_TLS12, 24);

  const exts: Extension[] = [];
  if (secureRenegotiation) exts.push({ type: ExtensionType.renegotiation_info, data: Uint8Array.of(0) });
  if (hello.extendedMasterSecret) exts.push({ type: ExtensionType.extended_master_secret, data: new Uint8Array(0) });
  if (sni.matched && hello.serverName) exts.push(serverNameAck());
  if (alpn !== undefined) exts.push(alpnSelected(alpn));
  if (hello.recordSizeLimit !== undefined) {
    // RFC 8449 §4: in TLS 1.2 the value counts plaintext only.
    ctx.setPeerRecordSizeLimit(hello.recordSizeLimit + 1);
    exts.push(recordSizeLimitExtension(1 << 14));
  }
  const baseInfo = {
    protocol: 'TLSv1.2',
    version: ProtocolVersion.TLS1_2,
    serverName: hello.serverName,
    serverNameMatched: sni.matched,
    invalidServerName: hello.invalidServerName,
    alpn,
    helloRetry: false,
    resumed: false,
    extendedMasterSecret: hello.extendedMasterSecret,
  };

  const resumable = await findTls12Session(ctx, hello);
  ctx.event(resumable ? { kind: 'resumption', resumed: true, via: resumable.via } : { kind: 'resumption', resumed: false });
  if (resumable) return resumeTls12(ctx, hello, m, resumable, serverRandom, exts, baseInfo);

  const choice = chooseTls12(hello, ctx.config, sni.certificates, ctx.provider.groups, ctx.provider.dhKeyShare !== undefined);
  const { suite } = choice;
  ctx.event({ kind: 'certificate', label: choice.cert.label, matchedServerName: sni.matched });
  const clientAuth = ctx.config.clientAuth;
  // RFC 7250 §4.2: certificate types, announced in the ServerHello.
  const types = chooseCertificateTypes(hello.extensions, {
    sendRaw: !!ctx.config.rawPublicKey && choice.cert.spki !== undefined,
    acceptRaw: clientAuth?.verifyRawPublicKey !== undefined,
    requestingClientCertificate: clientAuth !== undefined,
  });
  exts.push(...types.extensions);
  if (suite.kx === 'ECDHE' && hello.ecPointFormats) exts.push({ type: ExtensionType.ec_point_formats, data: Uint8Array.of(1, 0) });
  // Resumable state is only issued for sessions with the extended master secret (RFC 7627 §5.3).
  const issueTicket = ctx.config.tickets !== undefined && hello.sessionTicket !== undefined && hello.extendedMasterSecret;
  if (issueTicket) exts.push({ type: ExtensionType.session_ticket, data: new Uint8Array(0) });
  const sessionId = ctx.config.sessionCache && hello.extendedMasterSecret ? ctx.random(32).slice() : new Uint8Array(0);

  const transcript = new Transcript(ctx.provider, suite.hash);
  if (clientAuth) transcript.keepMessages();
  transcript.add(m.raw);

  const sh = encodeServerHello({
    random: serverRandom,
    sessionIdEcho: sessionId,
    cipherSuite: suite.id,
    extensions: exts,
  });
  transcript.add(sh);
  ctx.sendHandshake(sh);

  const cert = types.server === CertificateType.RawPublicKey ? encodeRawKeyCertificate12(choice.cert.spki!) : encodeCertificate12(choice.cert.chain);
  transcript.add(cert);
  ctx.sendHandshake(cert);

  // ServerKeyExchange (RFC 5246 §7.4.3, RFC 8422 §5.4)
  let share: KeyShare;
  let params: Uint8Array;
  try {
    if (choice.group !== undefined) {
      const s = ctx.provider.generateKeyShare(choice.group);
      share = isPromise(s) ? await s : s;
      params = ecdheParams(choice.group, share.publicKey);
    } else {
      const dh = choice.dh!;
      const s = ctx.provider.dhKeyShare!(dh.p, dh.g);
      share = isPromise(s) ? await s : s;
      params = dheParams(dh.p, dh.g, share.publicKey);
    }
  } catch (e) {
    throw failure('KeyShareGenerationFailed', (e as Error).message);
  }
  let signature: Uint8Array;
  try {
    const sig = choice.cert.key.sign(choice.scheme, signedParams(hello.random, serverRandom, params), { tls12: true });
    signature = isPromise(sig) ? await sig : sig;
  } catch (e) {
    throw failure('SigningFailed', 'ServerKeyExchange', (e as Error).message);
  }
  const ske = encodeServerKeyExchange(params, choice.scheme, signature);
  transcript.add(ske);
  ctx.sendHandshake(ske);

  // CertificateRequest (RFC 5246 §7.4.4)
  if (clientAuth) {
    const cr = encodeCertificateRequest12(clientSchemes(true), clientAuth.certificateAuthorities);
    transcript.add(cr);
    ctx.sendHandshake(cr);
  }

  const shd = encodeServerHelloDone();
  transcript.add(shd);
  ctx.sendHandshake(shd);
  ctx.flush();
  ctx.trace(`TLS 1.2 server flight: ${suite.name}, ${choice.group !== undefined ? groupName(choice.group) : `DHE ${choice.dh!.bits} bits`}`);

  const pending = {
    suite,
    transcript,
    share,
    group: choice.group,
    dh: choice.dh,
    clientRandom: hello.random,
    serverRandom,
    extendedMasterSecret: hello.extendedMasterSecret,
    sessionId,
    issueTicket,
    serverName: hello.serverName,
    info: {
      ...baseInfo,
      cipherSuite: suite.id,
      cipherName: suite.name,
      cipherBits: suite.bits,
      group: choice.group !== undefined ? groupName(choice.group) : choice.dh!.group !== undefined ? groupName(choice.dh!.group) : `DHE (${choice.dh!.bits} bits)`,
      certificateLabel: choice.cert.label,
      serverCertificateType: certificateTypeName(types.server),
      clientCertificateType: types.client !== undefined ? certificateTypeName(types.client) : undefined,
    },
  };
  return clientAuth ? new ExpectClientCertificate12(ctx, pending) : new ExpectClientKeyExchange(ctx, pending);
}

/** For tests: the server's RFC 5746 renegotiation_info answer. */
export function emptyRenegotiationInfo(): Uint8Array {
  return new Writer(1).vec(1, new Uint8Array(0)).finish();
}
