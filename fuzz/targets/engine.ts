/**
 * The whole engine, in process, one ServerConnection per input: the bytes a
 * client sends (recorded real handshakes, mutated) go through the record
 * layer, handshake reassembly, the ClientHello and every extension parser,
 * HelloRetryRequest, PSK binders, and in TLS 1.2 the client Certificate
 * (verified by certs/verify.ts), ClientKeyExchange (ECDHE, DHE) and
 * CertificateVerify, in chunks split at random points.
 *
 * Invariants:
 *  - receive() never throws; no exception other than the engine's typed
 *    failure (TlsFailure) reaches fatal() (the engine traces any other one
 *    as "internal error:"), and no promise rejection goes unhandled;
 *  - every failure we send is an alert of the CAUSES table, never
 *    internal_error (hostile input is the peer's fault, not ours), and a
 *    failure before the keys changed ends the output with that alert as a
 *    plaintext fatal alert record;
 *  - after a failure nothing is half-open: the state is 'failed', the
 *    connection is not writable, and further input is refused cleanly (no
 *    write, no event, no exception);
 *  - the work ends: every input is processed (whenIdle) within 5 s.
 */
import { AlertDescription } from '../../engine/constants.js';
import { ServerConnection } from '../../engine/connection.js';
import { CAUSES } from '../../engine/errors.js';
import type { ServerConfig } from '../../engine/config.js';
import type { ConnectionError } from '../../engine/events.js';
import { baseConfig } from '../lib/engine-setup.js';
import { TLS } from '../lib/mutate.js';
import { Rng } from '../lib/rng.js';
import { Finding, filesOf, type Target } from '../lib/target.js';

const TABLE_ALERTS = new Set<number>(Object.values(CAUSES).map((c) => AlertDescription[c.alert]));
const INTERNAL = AlertDescription.internal_error;

/** One ServerConnection with its events recorded, and the invariant checks. */
export class EngineProbe {
  readonly writes: Uint8Array[] = [];
  failure: ConnectionError | undefined;
  events = 0;
  handshakes = 0;
  internal: string | undefined;
  readonly conn: ServerConnection;

  constructor(base: ServerConfig, readonly rng: Rng, onWrite?: (b: Uint8Array) => void) {
    this.conn = new ServerConnection({ ...base, random: (n) => rng.bytes(n) }, {
      write: (b) => {
        this.writes.push(b);
        onWrite?.(b);
      },
      handshake: () => {
        this.handshakes++;
        this.events++;
      },
      data: () => {
        this.events++;
      },
      peerClosed: () => {
        this.events++;
      },
      failed: (e) => {
        this.failure = e;
        this.events++;
      },
      closed: () => {
        this.events++;
      },
      trace: (m) => {
        if (m.startsWith('internal error:')) this.internal = m;
      },
    });
  }

  receive(chunk: Uint8Array): void {
    try {
      this.conn.receive(chunk.slice());
    } catch (e) {
      throw new Finding('receive() threw', (e as Error)?.stack ?? String(e));
    }
  }

  idle(): Promise<void> {
    return idle(this.conn);
  }

  /** Check every invariant once the input is in; the outcome label. */
  async verdict(): Promise<string> {
    const { conn, writes } = this;
    await idle(conn);
    // failed() is reported once the alert is written (OutputQueue.whenWritten): let queued work run.
    for (let i = 0; i < 5 && conn.state === 'failed' && !this.failure; i++) await new Promise((r) => setImmediate(r));
    if (this.internal) throw new Finding('untyped exception in the engine', this.internal);
    if (conn.state === 'failed') {
      const failure = this.failure;
      if (!failure) throw new Finding('failed without a failed event', `state failed, ${writes.length} writes`);
      if (failure.direction === 'sent') {
        if (failure.alert === undefined || !TABLE_ALERTS.has(failure.alert)) throw new Finding('alert not from the table', JSON.stringify(failure));
        if (failure.alert === INTERNAL) throw new Finding('internal_error on hostile input', failure.reason);
        const last = writes[writes.length - 1];
        // Before the keys change the alert is a plaintext record: 21, version, length 2, fatal, description.
        if (last && last.length === 7 && last[0] === 21 && (last[5] !== 2 || last[6] !== failure.alert)) {
          throw new Finding('the alert written is not the one reported', `${Array.from(last)} vs ${failure.alert}`);
        }
      }
      if (conn.writable) throw new Finding('writable after a failure', failure.reason);
      // Half-open check: more input after the failure changes nothing.
      const before = { writes: writes.length, events: this.events };
      this.receive(Uint8Array.of(22, 3, 3, 0, 4, 1, 0, 0, 0));
      this.receive(this.rng.bytes(64));
      await idle(conn);
      if (writes.length !== before.writes || this.events !== before.events) throw new Finding('input accepted after a failure', failure.reason);
      return `failed:${failure.direction}:${failure.alertName}:${failure.reason.replace(/\d+/g, 'N').slice(0, 80)}`;
    }
    return this.handshakes ? `handshake:${conn.state}` : `pending:${conn.state}`;
  }
}

export function hash32(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

export async function runEngine(input: Uint8Array): Promise<string> {
  const rng = new Rng(hash32(input)); // the execution is a function of the input alone
  const probe = new EngineProbe(await baseConfig(), rng);
  // Feed in 1 to 4 chunks split at random points.
  const cuts = Array.from({ length: rng.below(4) }, () => rng.below(input.length + 1)).sort((a, b) => a - b);
  let at = 0;
  for (const c of [...cuts, input.length]) {
    probe.receive(input.subarray(at, c));
    at = c;
    await probe.idle();
  }
  return probe.verdict();
}

function idle(conn: ServerConnection): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Finding('hang', 'input not processed within 5 s')), 5000);
    conn.whenIdle(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

export const engineTarget: Target = {
  name: 'engine',
  description: 'ServerConnection.receive(): records, reassembly, ClientHello and extensions, HRR, PSK, TLS 1.2 Certificate/ClientKeyExchange/CertificateVerify',
  mutators: TLS,
  seeds: async () => filesOf('corpus', 'engine').map((f) => f.data),
  run: (input) => runEngine(input),
};
