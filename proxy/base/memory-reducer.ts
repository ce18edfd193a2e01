/**
 * Gives V8's young generation back after a burst of new sessions.
 *
 * A burst of handshakes allocates fast and makes V8 grow its young
 * generation to the maximum (two 16 MiB semi-spaces on 64-bit Node 20);
 * V8 then keeps it at that size while the process sits idle holding its
 * connections, so the memory an idle connection seems to cost is mostly
 * heap nobody uses (measured after 1,000 handshakes: 49 KiB of RSS per idle
 * connection, 16 KiB of them live objects). node:tls allocates far less
 * JavaScript per handshake and does not see this.
 *
 * So, in each serving process: when at least MIN_SESSIONS sessions started
 * since the last time, and then none for QUIET_MS (and the last reduction
 * was at least MIN_INTERVAL_MS ago, else as soon as it is and the process is
 * still quiet), the native
 * tlsproxy_memory addon tells V8 "moderate memory pressure" (~1 ms; V8
 * collects and shrinks the heap and returns the pages: 21 KiB of RSS per
 * idle connection in the same measurement, bench/README.md), and "none"
 * again RELIEF_MS later or at the next session. Under steady
 * load there is no quiet moment and nothing happens; a process that serves
 * a trickle never reaches MIN_SESSIONS.
 *
 * Where the addon is not built, or on Deno and Bun (no V8 C++ API for
 * addons), there is no reducer: the call sites are a single `?.` check.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { NATIVE_DIR } from './native.js';
import { currentRuntime } from './runtime.js';

export const QUIET_MS = 500;
export const MIN_SESSIONS = 64;
/**
 * At most one reduction this often: the heap given back has to be grown
 * again when the next burst comes (scavenges and full collections while it
 * regrows), which cost +60 % server CPU per resumed handshake in a bench
 * whose runs are 1 s apart when the reducer ran after every quiet moment.
 */
export const MIN_INTERVAL_MS = 30_000;
/**
 * How long V8 stays at "moderate pressure" before it is set back to none:
 * the level persists, and V8 keeps optimising for memory (at a CPU cost)
 * until told otherwise. A session that starts sooner sets it back at once.
 */
export const RELIEF_MS = 200;
/**
 * afterStart(): how long after the process started serving the start-up
 * reduction comes (the last promise steps of the start are done by then).
 */
export const START_DELAY_MS = 50;

export class MemoryReducer {
  private started = 0;
  private timer: NodeJS.Timeout | undefined;
  private relief: NodeJS.Timeout | undefined;
  private last = -Infinity;
  private startTimer: NodeJS.Timeout | undefined;
  /** How many times the pressure call was made (tests, status). */
  reductions = 0;

  constructor(
    /** pressure(true): moderate memory pressure; pressure(false): none again. */
    private readonly pressure: (on: boolean) => void,
    private readonly quietMs = QUIET_MS,
    private readonly minSessions = MIN_SESSIONS,
    private readonly reliefMs = RELIEF_MS,
    private readonly minIntervalMs = MIN_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether V8 is being told "moderate pressure" now. */
  get pressing(): boolean {
    return this.relief !== undefined;
  }

  /** A session started (front-ends/registry.ts). */
  sessionStarted(): void {
    if (this.relief) this.relieve();
    this.started++;
    if (this.started < this.minSessions) return;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => this.quiet(), this.quietMs);
      this.timer.unref();
    }
  }

  /**
   * The process serves now: give back what starting it left behind
   * (loading modules, the configuration, certificates and keys grow the
   * young generation to 8 MiB; measured: RSS once listening 60.0 -> 55.7 MiB,
   * bench/README.md "Start-up"). Skipped when sessions already started (the
   * burst rule takes over), and it does not count towards minIntervalMs, so
   * the first burst after the start still gets its reduction.
   */
  afterStart(delayMs = START_DELAY_MS): void {
    clearTimeout(this.startTimer);
    this.startTimer = setTimeout(() => {
      this.startTimer = undefined;
      if (this.started === 0 && !this.relief) this.press();
    }, delayMs);
    this.startTimer.unref();
  }

  stop(): void {
    clearTimeout(this.startTimer);
    this.startTimer = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.relief) this.relieve();
  }

  private quiet(): void {
    this.timer = undefined;
    const wait = this.last + this.minIntervalMs - this.now();
    if (wait > 0) {
      // Too soon after the last reduction: this burst's comes once the interval has passed (if
      // it is still quiet then; a session meanwhile puts it off again), not never. Without that, a
      // process left idle after a second burst kept the grown heap (108 against 68 MiB measured).
      this.timer = setTimeout(() => this.quiet(), Math.max(this.quietMs, wait));
      this.timer.unref();
      return;
    }
    this.started = 0;
    this.last = this.now();
    this.press();
  }

  private press(): void {
    this.reductions++;
    this.pressure(true);
    this.relief = setTimeout(() => this.relieve(), this.reliefMs);
    this.relief.unref();
  }

  private relieve(): void {
    clearTimeout(this.relief);
    this.relief = undefined;
    this.pressure(false);
  }
}

/** The serving process's reducer, or undefined (none installed, or no addon). */
export let memoryReducer: MemoryReducer | undefined;

export function setMemoryReducer(r: MemoryReducer | undefined): void {
  memoryReducer?.stop();
  memoryReducer = r;
}

/** The addon's memoryPressure(on), or undefined where it cannot be used (not built, not Node). */
export function loadMemoryPressure(): ((on: boolean) => void) | undefined {
  if (currentRuntime().name !== 'node' || process.env.TLSPROXY_MEMORY_REDUCER === '0') return undefined;
  const file = path.join(NATIVE_DIR, 'build', 'Release', 'tlsproxy_memory.node');
  if (!existsSync(file)) return undefined;
  try {
    const addon = createRequire(import.meta.url)(file) as { memoryPressure?: (on: boolean) => void };
    return typeof addon.memoryPressure === 'function' ? addon.memoryPressure : undefined;
  } catch {
    return undefined;
  }
}

/** Install the reducer in this serving process when the addon is there; returns it (or undefined). */
export function installMemoryReducer(): MemoryReducer | undefined {
  const pressure = loadMemoryPressure();
  setMemoryReducer(pressure ? new MemoryReducer(pressure) : undefined);
  return memoryReducer;
}
