/**
 * V8's tier-up for a process that serves for hours.
 *
 * V8 optimises a function with TurboFan once it has used up its
 * "interrupt budget" (66 KiB of executed bytecode by default on Node 20)
 * a few times. A browser tab wants that high: most of its code runs a few
 * times and compiling it would be wasted. A TLS terminator runs the same
 * handshake and record code for every session, and most of its functions
 * run once or a few times per session. With the default budget those stay
 * in the interpreter or in baseline code for thousands of sessions, and
 * some never get optimised. Measured on this machine kind, sequential full
 * TLS 1.3 handshakes through one daemon, CPU per handshake over the first
 * 4,500 / the next 4,500 sessions, eight interleaved pairs: 1040-1285 /
 * 829-1109 µs with the default budget, 847-1205 / 744-1038 µs with a
 * quarter of it; lower in all 8 pairs over the first half, in 7 of 8 over
 * the second (bench/README.md, "Warm-up").
 *
 * So a serving process (the single process, a worker, a Postfix service
 * worker: armTieringForServing()) sets --interrupt-budget to a quarter of
 * the default when its first session starts. Not during the start: the
 * functions that ran most there would then all reach TurboFan at once, and
 * that burst of compiling, right after the sockets listen, made the bench's start-up row
 * 20-30 ms slower (the "listening" log line waited for it). A process that
 * never serves keeps V8's default. V8 reads the flag whenever it resets a
 * function's budget, so setting it at run time takes effect from then on
 * (test/unit/v8-tiering.test.ts checks it); this is the one V8 flag the
 * daemon sets itself. TLSPROXY_V8_TIERING=0 leaves V8's default (for A/B
 * measurements). Deno and Bun: nothing (their own engines, or no such
 * flag).
 *
 * TurboFan after the start. The launcher (bin/tlsproxy.js) turns Node's
 * optimising compiler off (--no-turbofan) once the bundle's top level has
 * run, as does a worker process once its modules are loaded
 * (supervisor/worker.ts), and the first session turns it back on with the
 * budget above. A start runs nothing worth optimising (the five functions
 * that got hot enough were asn1js' type checks, the cipher-string matcher,
 * the PEM decoder and node:path's normalizeString), and the first function
 * optimised pages in TurboFan's own code, ~5 MiB of the node binary: 55.2
 * -> 50.0 MiB once listening (bench/README.md, "TurboFan after the start"),
 * for a daemon that may wait a long time for its first session. A start
 * still running after LONG_START_MS gets it back then (a large
 * tls_server_sni_maps), and so does a process that never serves (the
 * supervisor of worker processes, `check`) once it has run that long.
 * Functions that ran in the start stay in baseline code until then, and V8
 * reads the flag at each tier-up decision (test/unit/v8-tiering.test.ts
 * checks both ways).
 *
 * V8 refuses a code cache made under other flags than its own (its flag
 * hash), Node's own for its built-in modules included: set before the
 * bundle's top level loads node:net, node:crypto and the rest, the flag cost
 * a start ~10 ms of compiling them from source. The next start compiles
 * with the default flags, so bin/code-cache.js writes its cache with
 * TurboFan's flag put back for the moment (the long-start timer's flag puts
 * the defaults back for good); and it registers BEFORE_FLAGS_CHANGE while it
 * still has a cache to write, and the serving budget is set only after that
 * hook wrote it (on the first start after an install or a rebuild, the first
 * session waits for that write).
 */
import { setFlagsFromString } from 'node:v8';
import { currentRuntime } from './runtime.js';

/** Bytecode bytes per budget: a quarter of Node 20's default of 67,584. */
export const SERVING_INTERRUPT_BUDGET = 16 * 1024;

/** bin/code-cache.js's hook (a global: the launcher is not part of the bundle): write a pending code cache now. */
export const BEFORE_FLAGS_CHANGE = Symbol.for('tlsproxy.beforeV8FlagsChange');

/** true while this process runs with TurboFan off until its first session (bin/code-cache.js reads it too). */
export const TURBOFAN_DEFERRED = Symbol.for('tlsproxy.turbofanDeferred');

/** A node option that says how to optimise: the operator's, left as it is. */
const OPTIMISER_FLAG = /^--(jitless|(no-)?turbofan|(no-)?opt)(=|$)/;

/**
 * TurboFan off until the first session (above, "TurboFan after the start"): called by the launcher
 * once the bundle's top level has run (bin/tlsproxy.js) and by a worker process's entry module;
 * true when it was turned off. Not on Deno or Bun, with TLSPROXY_V8_TIERING=0, or when node's
 * command line or NODE_OPTIONS has --jitless, --[no-]turbofan or --[no-]opt.
 */
export function deferTurbofanUntilServing(
  set: (flags: string) => void = setFlagsFromString,
  env: Record<string, string | undefined> = process.env,
  runtime = currentRuntime().name,
  nodeArgs: readonly string[] = [...process.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)],
  longStartMs = LONG_START_MS,
): boolean {
  if (runtime !== 'node' || env.TLSPROXY_V8_TIERING === '0' || nodeArgs.some((a) => OPTIMISER_FLAG.test(a))) return false;
  set('--no-turbofan');
  const launcher = globalThis as Record<symbol, unknown>;
  launcher[TURBOFAN_DEFERRED] = true;
  // A long start (thousands of certificates in tls_server_sni_maps: decoding 2,000 takes 214 ms
  // without TurboFan, 48 with it) gets the optimiser back; armTieringForServing() (the process
  // listens) stops the timer.
  clearTimeout(longStart);
  longStart = setTimeout(() => {
    longStart = undefined;
    if (launcher[TURBOFAN_DEFERRED] !== true) return;
    set('--turbofan');
    launcher[TURBOFAN_DEFERRED] = false;
  }, longStartMs);
  longStart.unref?.();
  return true;
}

/** How long a start may run without TurboFan (from the bundle's top level; a start here listens after ~60-90 ms). */
export const LONG_START_MS = 500;
let longStart: ReturnType<typeof setTimeout> | undefined;

function runBeforeFlagsChange(): void {
  const hook = (globalThis as Record<symbol, unknown>)[BEFORE_FLAGS_CHANGE];
  if (typeof hook === 'function') hook();
}

/**
 * Set the serving budget in this process; returns the flag set, or undefined
 * when it is left alone (not Node, or TLSPROXY_V8_TIERING=0). `before` runs
 * first (the code cache's hook).
 */
export function tuneTieringForServing(
  set: (flags: string) => void = setFlagsFromString,
  env: Record<string, string | undefined> = process.env,
  runtime = currentRuntime().name,
  before: () => void = runBeforeFlagsChange,
): string | undefined {
  if (runtime !== 'node' || env.TLSPROXY_V8_TIERING === '0') return undefined;
  const launcher = globalThis as Record<symbol, unknown>;
  // Only what the launcher turned off is turned back on (a node --jitless or --no-turbofan of the operator's stays).
  const flag = `--interrupt-budget=${SERVING_INTERRUPT_BUDGET}${launcher[TURBOFAN_DEFERRED] === true ? ' --turbofan' : ''}`;
  before();
  set(flag);
  launcher[TURBOFAN_DEFERRED] = false;
  return flag;
}

/** `fn` on the first sessionStarted() after arm(); every other call does nothing. */
export function firstSessionTuner(fn: () => void): { arm(): void; sessionStarted(): void } {
  let armed = false;
  let done = false;
  return {
    arm: () => {
      armed = true;
    },
    sessionStarted: () => {
      if (!armed || done) return;
      done = true;
      fn();
    },
  };
}

const tuner = firstSessionTuner(() => tuneTieringForServing());

/**
 * This process serves (supervisor/run.ts, supervisor/worker.ts, postfix/worker.ts): its first
 * session tunes. Other processes that start sessions (the tests) keep V8's default.
 */
export function armTieringForServing(): void {
  clearTimeout(longStart);
  longStart = undefined;
  tuner.arm();
}

/** A session starts in this process (front-ends/registry.ts, postfix/worker.ts). */
export function tuneTieringOnFirstSession(): void {
  tuner.sessionStarted();
}
