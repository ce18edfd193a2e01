/**
 * The event-server skeleton (Postfix event_server.c, postfix-master-dropin.md
 * §1.8-§1.9), for one process serving master's listener:
 *
 *   fd 6 readable      accept (EAGAIN: another process won; not an error);
 *                      TAKEN; the service's accept handler; AVAIL
 *                      (a failed status write = master is gone: drain)
 *   session closed     clients - 1, uses + 1; no client left: uses >= max_use
 *                      -> exit, else arm the idle timer
 *   idle timer         exit 0
 *   fd 5 readable      (reload, or master died): drain
 *   retirement timer   drain
 *   drain              stop accepting, close fds 5 and 6, tell the parent
 *                      (which exits so that master can start a new
 *                      generation), finish the sessions, exit 0
 *
 * fd 5 is watched without making it non-blocking (its open file
 * description is shared with master and every process of the service) and
 * never read. fds 3 and 4 are never touched.
 */

import type { Logger } from '../log/log.js';
import { LISTEN_FD, MasterStatus, STATUS_FD } from './master-status.js';
import type { NativeAddon, Poller } from '../base/native.js';

export interface EventServerOptions {
  readonly native: NativeAddon;
  readonly logger: Logger;
  readonly status: MasterStatus;
  /** Seconds; 0 = never. */
  readonly maxIdle: number;
  /** 0 = no limit. */
  readonly maxUse: number;
  /** Seconds until voluntary retirement; 0 = never. */
  readonly retire: number;
  /** Accept handler: start serving `fd`; call `closed()` once when done with it. */
  readonly onAccept: (fd: number, closed: () => void) => void;
  /** Called once when draining starts (tell the placeholder parent). */
  readonly onDrain: (why: string) => void;
  /** How the process ends (tests replace it). */
  readonly exit: (code: number) => void;
  readonly listenFd?: number;
  readonly statusFd?: number;
  readonly verbose?: boolean;
}

export class EventServer {
  private listenPoller: Poller | undefined;
  private statusPoller: Poller | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private retireTimer: NodeJS.Timeout | undefined;
  private clients = 0;
  private uses = 0;
  private draining = false;
  private exiting = false;
  private readonly listenFd: number;
  private readonly statusFd: number;

  constructor(private readonly o: EventServerOptions) {
    this.listenFd = o.listenFd ?? LISTEN_FD;
    this.statusFd = o.statusFd ?? STATUS_FD;
  }

  get activeClients(): number {
    return this.clients;
  }

  get useCount(): number {
    return this.uses;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  start(): void {
    const n = this.o.native;
    this.listenPoller = new n.Poller(this.listenFd, (status) => this.onListenEvent(status));
    this.listenPoller.start(true, false);
    // keepFlags: uv_poll_init would make the shared status socket non-blocking for everyone.
    this.statusPoller = new n.Poller(this.statusFd, () => this.drain('master disconnect'), true);
    this.statusPoller.start(true, false);
    this.statusPoller.unref();
    this.armIdle();
    if (this.o.retire > 0) {
      this.retireTimer = setTimeout(() => this.drain('retirement'), this.o.retire * 1000);
      this.retireTimer.unref();
    }
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.o.maxIdle > 0 && !this.draining) {
      this.idleTimer = setTimeout(() => {
        if (this.o.verbose) this.o.logger.info('idle timeout -- exiting');
        this.exit(0);
      }, this.o.maxIdle * 1000);
    }
  }

  private onListenEvent(status: number): void {
    if (this.draining || this.exiting) return;
    if (status < 0) {
      this.o.logger.warning(`accept: poll status ${status}`);
      return;
    }
    let fd: number;
    try {
      fd = this.o.native.accept(this.listenFd);
    } catch (e) {
      this.o.logger.warning(`accept connection: ${(e as Error).message}`);
      return;
    }
    if (fd < 0) return; // another process took it
    if (this.clients === 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.clients++;
    this.o.status.taken();
    let closedOnce = false;
    try {
      this.o.onAccept(fd, () => {
        if (closedOnce) return;
        closedOnce = true;
        this.sessionClosed();
      });
    } catch (e) {
      this.o.logger.warning(`accept handler: ${(e as Error)?.message ?? e}`);
    }
    if (this.o.status.available() === 'master-gone') this.drain('master disconnect');
  }

  private sessionClosed(): void {
    this.clients--;
    this.uses++;
    if (this.clients > 0) return;
    if (this.draining) {
      this.exit(0);
      return;
    }
    if (this.o.maxUse > 0 && this.uses >= this.o.maxUse) {
      if (this.o.verbose) this.o.logger.info(`use count ${this.uses} -- exiting`);
      this.exit(0);
      return;
    }
    this.armIdle();
  }

  /** Stop accepting; finish the sessions in progress; exit when none is left. */
  drain(why: string): void {
    if (this.draining || this.exiting) return;
    this.draining = true;
    if (this.o.verbose) this.o.logger.info(`${why} -- draining ${this.clients} session(s)`);
    clearTimeout(this.idleTimer);
    clearTimeout(this.retireTimer);
    this.listenPoller?.close();
    this.listenPoller = undefined;
    this.statusPoller?.close();
    this.statusPoller = undefined;
    // Our copies only: master keeps its listener and its end of the status socket.
    for (const fd of [this.listenFd, this.statusFd]) {
      try {
        this.o.native.close(fd);
      } catch {
        // not open
      }
    }
    this.o.onDrain(why);
    if (this.clients === 0) this.exit(0);
  }

  /** Stop everything (tests). */
  stop(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.retireTimer);
    this.listenPoller?.close();
    this.statusPoller?.close();
    this.listenPoller = this.statusPoller = undefined;
    this.exiting = true;
  }

  private exit(code: number): void {
    if (this.exiting) return;
    this.exiting = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.retireTimer);
    this.listenPoller?.close();
    this.statusPoller?.close();
    this.o.exit(code);
  }
}

/**
 * tlsproxy asks for voluntary retirement: after max_idle x max_use
 * seconds; 18000 if either is 0 or the product is larger (§1.8).
 */
export function retirementSeconds(maxIdle: number, maxUse: number, override?: number): number {
  if (override !== undefined) return override;
  const product = maxIdle * maxUse;
  return maxIdle === 0 || maxUse === 0 || product > 18000 ? 18000 : product;
}
