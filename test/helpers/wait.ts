/**
 * Waiting for a condition instead of sleeping a fixed time: a fixed sleep
 * is too short on a loaded machine (2 cores shared by many processes) and
 * too long on an idle one. `until` polls a condition with a generous
 * deadline (the deadline only bounds a failure, a passing test returns as
 * soon as the condition holds); `idle` waits for an engine connection to
 * have processed everything it was given.
 */

/** Resolve as soon as `cond()` is truthy (polled every `everyMs`); reject after `timeoutMs` naming `what`. */
export async function until(cond: () => unknown, what: string | (() => string), timeoutMs = 15_000, everyMs = 5): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A connection (ServerConnection, ClientConnection) that can say when its input is processed. */
interface Idler {
  whenIdle(fn: () => void): void;
}

/**
 * Resolve once `conn` has processed every byte received so far (records
 * opened, events emitted), then one more macrotask so that records sealed
 * asynchronously in that last step reach `write` as well.
 */
export async function idle(conn: Idler, timeoutMs = 15_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    new Promise<void>((resolve) => conn.whenIdle(resolve)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection not idle after ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  await new Promise((r) => setTimeout(r, 0));
}
