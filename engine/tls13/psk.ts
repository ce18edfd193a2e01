/**
 * TLS 1.3 resumption: choosing an offered PSK (RFC 8446 §4.2.11) and
 * issuing tickets (§4.6.1).
 *
 * We accept only tickets we sealed, only in psk_dhe_ke mode (§4.2.9: a
 * fresh (EC)DHE on every resumption), at most `maxPskIdentities` of them
 * per hello, with the cipher suite's hash matching, the same SNI, within
 * the ticket lifetime and with the client's idea of the ticket age within
 * a window of ours (§8.3, §4.2.11.1). A PSK we cannot use means a full
 * handshake, never a failure; but the binder of the PSK we select MUST
 * verify (§4.2.11.2: decrypt_error otherwise).
 */

import { constantTimeEqual } from '../codec.js';
import { ExtensionType, PskKeyExchangeMode, ProtocolVersion } from '../constants.js';
import { isPromise } from '../crypto/provider.js';
import { fail } from '../errors.js';
import type { ClientHello } from '../messages/client-hello.js';
import type { Extension } from '../messages/extensions.js';
import { Writer } from '../codec.js';
import { type ClientAuthStatus, decodeSession, encodeSession, resumableUnder, resumptionContext, sameResumptionContext, sessionFresh, type SessionState } from '../session.js';
import type { Tls13Suite } from '../suites.js';
import { KeySchedule } from './key-schedule.js';
import type { ServerContext } from '../common/state.js';
import type { Transcript } from '../common/transcript.js';

export interface AcceptedPsk {
  readonly index: number;
  readonly session: SessionState;
  /** The key schedule, already at the early secret of this PSK. */
  readonly schedule: KeySchedule;
}

/**
 * Returns the PSK to resume with, or undefined for a full handshake.
 * `prefix` is the transcript before this ClientHello (after a
 * HelloRetryRequest); `raw` the whole ClientHello message.
 */
export async function acceptPsk(
  ctx: ServerContext,
  hello: ClientHello,
  raw: Uint8Array,
  suite: Tls13Suite,
  prefix: Transcript | undefined,
): Promise<AcceptedPsk | undefined> {
  const offered = hello.preSharedKey;
  const tickets = ctx.config.tickets;
  if (!offered || !tickets) return undefined;
  // §4.2.9: we only do psk_dhe_ke.
  if (!hello.pskModes?.includes(PskKeyExchangeMode.psk_dhe_ke)) {
    ctx.trace('PSK offered without psk_dhe_ke: full handshake');
    return undefined;
  }
  const now = (ctx.config.now ?? Date.now)();
  const context = resumptionContext(ctx.config);
  const n = Math.min(offered.identities.length, ctx.limits.maxPskIdentities);
  for (let i = 0; i < n; i++) {
    const id = offered.identities[i]!;
    const opened = tickets.open(id.identity, context);
    const blob = isPromise(opened) ? await opened : opened;
    const session = blob && decodeSession(blob);
    if (!session) continue;
    if (!sameResumptionContext(session, context)) continue;
    if (session.version !== ProtocolVersion.TLS1_3) continue;
    if (!sessionFresh(session, now)) {
      ctx.trace('ticket expired');
      continue;
    }
    // §4.2.11: a PSK is only usable with a cipher suite of the same hash.
    if (suiteHash(session.cipherSuite) !== suite.hash) continue;
    // Resumption skips CertificateRequest: only sessions that satisfied the client-certificate policy.
    if (!resumableUnder(ctx.config.clientAuth, session.clientAuth)) {
      ctx.trace('ticket without the client certificate the policy requires');
      continue;
    }
    // §4.6.1 / RFC 6066 §3: never resume a session made for another server name.
    if ((session.serverName ?? '') !== (hello.serverName ?? '')) {
      ctx.trace('ticket for another server name');
      continue;
    }
    // §4.2.11.1: the client's view of the age, de-obfuscated, must agree with ours.
    const clientAge = (id.obfuscatedTicketAge - session.ageAdd) >>> 0;
    const ourAge = now - session.createdAt;
    if (Math.abs(clientAge - ourAge) > ctx.limits.ticketAgeWindow) {
      ctx.trace(`ticket age mismatch: client ${clientAge} ms, ours ${ourAge} ms`);
      continue;
    }
    // §4.2.11.2: binder over the transcript up to and including the truncated ClientHello.
    const schedule = new KeySchedule(ctx.provider, suite, session.secret);
    const binderKey = schedule.derive('res binder', ctx.provider.hash(suite.hash).digest());
    const truncated = raw.subarray(0, raw.length - offered.bindersLength);
    const th = prefix ? prefix.currentWith(truncated) : hashOf(ctx, suite, truncated);
    const expected = schedule.finishedVerifyData(binderKey, th);
    if (!constantTimeEqual(expected, offered.binders[i]!)) fail('BinderMismatch');
    return { index: i, session, schedule };
  }
  return undefined;
}

function hashOf(ctx: ServerContext, suite: Tls13Suite, data: Uint8Array): Uint8Array {
  const h = ctx.provider.hash(suite.hash);
  h.update(data);
  return h.digest();
}

function suiteHash(id: number): string | undefined {
  return id === 0x1302 ? 'SHA-384' : id === 0x1301 || id === 0x1303 ? 'SHA-256' : undefined;
}

/** §4.2.11: the server's pre_shared_key extension: uint16 selected_identity. */
export function preSharedKeyExtension(index: number): Extension {
  return { type: ExtensionType.pre_shared_key, data: new Writer(2).u16(index).finish() };
}

/** The state sealed into a TLS 1.3 ticket (§4.6.1: PSK = HKDF-Expand-Label(resumption_master_secret, "resumption", nonce, Hash.length)). */
export function ticketSession(
  ctx: ServerContext,
  schedule: KeySchedule,
  suite: Tls13Suite,
  resumptionMasterSecret: Uint8Array,
  nonce: Uint8Array,
  lifetime: number,
  serverName: string | undefined,
  alpn: string | undefined,
  clientAuth: ClientAuthStatus,
): { blob: Uint8Array; ageAdd: number } {
  const r = ctx.random(4);
  const ageAdd = ((r[0]! << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!) >>> 0;
  const state: SessionState = {
    version: ProtocolVersion.TLS1_3,
    cipherSuite: suite.id,
    secret: schedule.resumptionPsk(resumptionMasterSecret, nonce),
    extendedMasterSecret: false,
    createdAt: (ctx.config.now ?? Date.now)(),
    lifetime,
    ageAdd,
    serverName,
    alpn,
    clientAuth,
    context: resumptionContext(ctx.config),
  };
  return { blob: encodeSession(state), ageAdd };
}
