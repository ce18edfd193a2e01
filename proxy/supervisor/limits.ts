/**
 * Limits on concurrent sessions from one client, checked when a connection
 * is accepted and before anything is read from it (a refused connection is
 * closed and logged; it gets no TLS alert, as nothing was negotiated). The
 * limit per process, tlsproxy_process_session_limit, is the TLS service's
 * (tls-service.ts: "not available" beyond it).
 *
 *  - tlsproxy_client_connection_count_limit: sessions from one client
 *    address on one service, across ALL worker processes (Postfix's
 *    smtpd_client_connection_count_limit, counted like anvil(8) does: here
 *    by the main process, asked over IPC; an unanswered question admits the
 *    connection after ADMIT_TIMEOUT_MS). 0 = no limit. Addresses and
 *    networks in tlsproxy_client_connection_limit_exceptions (default: the
 *    loopback networks, as Postfix exempts $mynetworks) are not limited.
 *    Behind a load balancer every connection has the balancer's address:
 *    exempt it there.
 */

import { metrics } from '../base/metrics-hooks.js';
import net from 'node:net';
import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { formatEndpoint, normalizeAddress } from '../base/endpoint.js';
import { ADMIT_TIMEOUT_MS, MAX_ADDRESS, type FromWorker } from './ipc.js';
import type { Logger } from '../log/log.js';

export const CLIENT_LIMIT_PARAMETER = 'tlsproxy_client_connection_count_limit';
export const EXCEPTIONS_PARAMETER = 'tlsproxy_client_connection_limit_exceptions';

export interface ClientLimits {
  readonly clientLimit: number;
  readonly exceptions: net.BlockList;
  /**
   * isExempt()'s answers by client address, at most EXEMPT_MEMO_SIZE
   * (emptied when full): BlockList.check() builds a native SocketAddress
   * for every call, about 7 µs per connection in a handshake profile.
   */
  readonly exemptMemo: Map<string, boolean>;
}

const EXEMPT_MEMO_SIZE = 1024;

/**
 * 4, 6 or 0 (not an address). net.SocketAddress parses with inet_pton;
 * net.isIP's IPv6 regular expression costs ~9 ms to compile on first use,
 * a tenth of the daemon's start-up budget (issue 9). net.isIP where the
 * runtime has no SocketAddress.
 */
function ipFamily(address: string): 0 | 4 | 6 {
  if (typeof net.SocketAddress !== 'function') return net.isIP(address) as 0 | 4 | 6;
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  try {
    new net.SocketAddress({ address, family });
  } catch {
    return 0;
  }
  return family === 'ipv6' ? 6 : 4;
}

/** The limits of a service; throws ConfigError for a bad value. */
export function clientLimits(params: ParameterSet): ClientLimits {
  const exceptions = new net.BlockList();
  for (const raw of params.get(EXCEPTIONS_PARAMETER).split(/[\s,]+/).filter(Boolean)) {
    const m = /^\[?([0-9a-fA-F.:]+)\]?(?:\/(\d{1,3}))?$/.exec(raw);
    const address = m?.[1];
    const type = address ? ipFamily(address) : 0;
    const prefix = m?.[2] === undefined ? undefined : Number(m[2]);
    if (!address || !type || (prefix !== undefined && prefix > (type === 4 ? 32 : 128))) {
      throw new ConfigError(`${EXCEPTIONS_PARAMETER}: bad address or network: ${raw} (use 192.0.2.0/24, [2001:db8::]/32, 192.0.2.1 or [2001:db8::1])`);
    }
    if (prefix === undefined) exceptions.addAddress(address, type === 4 ? 'ipv4' : 'ipv6');
    else exceptions.addSubnet(address, prefix, type === 4 ? 'ipv4' : 'ipv6');
  }
  return { clientLimit: params.getInt(CLIENT_LIMIT_PARAMETER), exceptions, exemptMemo: new Map() };
}

export function isExempt(limits: ClientLimits, address: string): boolean {
  // A peer's address as the socket reports it (IPv4 or IPv6, or empty); anything else is not exempt.
  if (!address) return false;
  const known = limits.exemptMemo.get(address);
  if (known !== undefined) return known;
  let exempt: boolean;
  try {
    exempt = limits.exceptions.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
  } catch {
    exempt = false;
  }
  if (limits.exemptMemo.size >= EXEMPT_MEMO_SIZE) limits.exemptMemo.clear();
  limits.exemptMemo.set(address, exempt);
  return exempt;
}

export interface Verdict {
  readonly ok: boolean;
  /** The client's sessions, counting this one. */
  readonly count: number;
}

/** Counts sessions per (service, client address). */
export interface AddressCounter {
  enter(service: string, address: string, limit: number): Verdict | Promise<Verdict>;
  leave(service: string, address: string): void;
}

/**
 * The counts, kept per owner (a worker process) so that a worker that
 * dies takes its counts with it. The main process holds one for all its
 * workers; a single-process daemon uses it directly (LocalCounter).
 */
export class Anvil<O> {
  private readonly counts = new Map<string, number>();
  private readonly owners = new Map<O, Map<string, number>>();

  enter(owner: O, service: string, address: string, limit: number): Verdict {
    const key = `${service}\0${address}`;
    const count = (this.counts.get(key) ?? 0) + 1;
    if (limit > 0 && count > limit) return { ok: false, count };
    this.counts.set(key, count);
    let mine = this.owners.get(owner);
    if (!mine) this.owners.set(owner, (mine = new Map()));
    mine.set(key, (mine.get(key) ?? 0) + 1);
    return { ok: true, count };
  }

  leave(owner: O, service: string, address: string): void {
    const key = `${service}\0${address}`;
    const mine = this.owners.get(owner);
    const n = mine?.get(key);
    if (!mine || !n) return;
    if (n > 1) mine.set(key, n - 1);
    else mine.delete(key);
    this.decrement(key, 1);
  }

  /** Forget everything `owner` held (it exited). */
  dropOwner(owner: O): void {
    const mine = this.owners.get(owner);
    if (!mine) return;
    this.owners.delete(owner);
    for (const [key, n] of mine) this.decrement(key, n);
  }

  count(service: string, address: string): number {
    return this.counts.get(`${service}\0${address}`) ?? 0;
  }

  get size(): number {
    return this.counts.size;
  }

  private decrement(key: string, n: number): void {
    const left = (this.counts.get(key) ?? 0) - n;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }
}

/** One process counts for itself. */
export class LocalCounter implements AddressCounter {
  private readonly anvil = new Anvil<0>();
  enter(service: string, address: string, limit: number): Verdict {
    return this.anvil.enter(0, service, address, limit);
  }
  leave(service: string, address: string): void {
    this.anvil.leave(0, service, address);
  }
}

/** A worker asks the main process (ipc.ts admit / admit-reply / leave). */
export class IpcCounter implements AddressCounter {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: Verdict) => void; timer: NodeJS.Timeout }>();

  constructor(
    private readonly send: (m: FromWorker) => boolean,
    private readonly timeoutMs = ADMIT_TIMEOUT_MS,
  ) {}

  enter(service: string, address: string, limit: number): Promise<Verdict> {
    const q = this.next;
    this.next = this.next >= 0x7fffffff ? 1 : this.next + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answer(q, true, 0), this.timeoutMs);
      this.pending.set(q, { resolve, timer });
      if (!this.send({ t: 'admit', q, service, address: address.slice(0, MAX_ADDRESS), limit })) this.answer(q, true, 0);
    });
  }

  leave(service: string, address: string): void {
    this.send({ t: 'leave', service, address: address.slice(0, MAX_ADDRESS) });
  }

  answer(q: number, ok: boolean, count: number): void {
    const p = this.pending.get(q);
    if (!p) return;
    this.pending.delete(q);
    clearTimeout(p.timer);
    p.resolve({ ok, count });
  }

  /** The channel closed: everything waiting is admitted. */
  drop(): void {
    for (const q of [...this.pending.keys()]) this.answer(q, true, 0);
  }
}

/** What admission needs to know about a service (daemon.ts RunningService has it). */
export interface AdmissionService {
  readonly name: string;
  readonly logger: Logger;
  readonly definition: { readonly params: ParameterSet };
}

/** Called when an admitted session ends. */
export type Release = () => void;

/**
 * Decide about an accepted connection: a Release when it may have a
 * session, undefined when it was refused (logged here; the caller closes
 * the socket).
 */
export type AdmitFn = (service: AdmissionService, socket: net.Socket) => Release | undefined | Promise<Release | undefined>;

const NOTHING: Release = () => undefined;

/**
 * Admission for one process: `counter` counts per client address
 * (LocalCounter, or IpcCounter in a worker process).
 */
export function makeAdmission(counter: AddressCounter): AdmitFn {
  const cache = new WeakMap<object, ClientLimits>();
  return (service, socket) => {
    let limits = cache.get(service);
    if (!limits) {
      limits = clientLimits(service.definition.params);
      cache.set(service, limits);
    }
    const endpoint = formatEndpoint(socket.remoteAddress, socket.remotePort);
    const address = normalizeAddress(socket.remoteAddress);
    if (limits.clientLimit <= 0 || isExempt(limits, address)) return NOTHING;
    const name = service.name;
    const decide = (v: Verdict): Release | undefined => {
      if (v.ok) return () => counter.leave(name, address);
      service.logger.warning(`Connection concurrency limit exceeded: ${v.count} from ${endpoint} for service ${name} (${CLIENT_LIMIT_PARAMETER} = ${limits.clientLimit})`);
      metrics?.clientLimitHit(name);
      return undefined;
    };
    const v = counter.enter(name, address, limits.clientLimit);
    if (!(v instanceof Promise)) return decide(v);
    return v.then(decide, () => NOTHING);
  };
}
