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
 * since the last time, and then none for QUIET_MS, the native
 * tlsproxy_memory addon tells V8 "moderate memory pressure" once (~1 ms;
 * V8 collects and shrinks the heap and returns the pages: 21 KiB of RSS per
 * idle connection in the same measurement, bench/README.md). Under steady
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

export const QUIET_MS = 250;
export const MIN_SESSIONS = 64;

export class MemoryReducer {
  private started = 0;
  private timer: NodeJS.Timeout | undefined;
  /** How many times the pressure call was made (tests, status). */
  reductions = 0;

  constructor(
    private readonly reduce: () => void,
    private readonly quietMs = QUIET_MS,
    private readonly minSessions = MIN_SESSIONS,
  ) {}

  /** A session started (front-ends/registry.ts). */
  sessionStarted(): void {
    this.started++;
    if (this.started < this.minSessions) return;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => this.quiet(), this.quietMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private quiet(): void {
    this.timer = undefined;
    this.started = 0;
    this.reductions++;
    this.reduce();
  }
}

/** The serving process's reducer, or undefined (none installed, or no addon). */
export let memoryReducer: MemoryReducer | undefined;

export function setMemoryReducer(r: MemoryReducer | undefined): void {
  memoryReducer?.stop();
  memoryReducer = r;
}

/** The addon's memoryPressure(), or undefined where it cannot be used (not built, not Node). */
export function loadMemoryPressure(): (() => void) | undefined {
  if (currentRuntime().name !== 'node' || process.env.TLSPROXY_MEMORY_REDUCER === '0') return undefined;
  const file = path.join(NATIVE_DIR, 'build', 'Release', 'tlsproxy_memory.node');
  if (!existsSync(file)) return undefined;
  try {
    const addon = createRequire(import.meta.url)(file) as { memoryPressure?: () => void };
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
