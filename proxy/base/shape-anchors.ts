/**
 * The last finished session, kept reachable until the next one finishes,
 * so that V8 keeps the optimised code of the session, relay and close
 * paths (ours, and Node's net and stream code) through a quiet spell.
 * Why: engine/common/shape-anchors.ts, the same mechanism; measured in
 * bench/README.md, "Warm-up".
 *
 * What it holds: a session whose sockets are closed and whose TLS engine
 * has forgotten its keys (ServerConnection.forgetKeys(), called when the
 * TLS stream is destroyed, which every session waits for before it
 * finishes): traffic secrets zeroed, record keys emptied, no state of an
 * unfinished handshake, no undelivered plaintext. test/unit/shape-anchors.test.ts walks
 * the kept objects for the session's keys.
 */
import { executionAsyncResource } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import net from 'node:net';

let last: object | undefined;

/**
 * Node's own short-lived objects, one of each. A finished session holds
 * none of them, and their maps are transitions only live instances hold,
 * so a memory-reducing collection at idle (base/memory-reducer.ts) freed
 * them and threw away the optimised code of Node's event, nextTick,
 * socket and connect paths that used them, and, through inlining, ours.
 * Found with --log-maps-details against the maps --print-opt-code lists
 * for each function --trace-deopt reported ('weak objects'); measured in
 * bench/README.md, "After a quiet spell". None holds data of a session:
 * - tick: a process.nextTick() entry (its callback, no arguments), the
 *   resource async_hooks reports while it runs;
 * - once: an emitter with one once() listener that never fires (the
 *   wrapper is a bound function given a `listener` property, its state an
 *   object literal);
 * - normalizedArgs: what net.connect() makes of its arguments (an array
 *   marked with a symbol), from net's exported normaliser;
 * - connectRequest: the last backend connect request (TCPConnectWrap or
 *   PipeConnectWrap: the callback, the address and port; its native side
 *   is gone once it completed), taken in the 'connect' handler
 *   (front-ends/backend.ts).
 * Not kept: a socket write request (WriteWrap), which Node makes only
 * inside its write path and which holds the written bytes.
 * The functions below refer to `nodeAnchors`, which keeps it in the
 * module's context: a module-level object that no function refers to is
 * garbage once the module has run, anchors and all (a first trial, an
 * emitter in such a constant, kept nothing).
 */
const nodeAnchors: { tick?: object; once: EventEmitter; normalizedArgs?: unknown; connectRequest?: object } = {
  tick: undefined,
  once: new EventEmitter(),
  normalizedArgs: (net as { _normalizeArgs?: (args: unknown[]) => unknown })._normalizeArgs?.([{ port: 0 }]),
  connectRequest: undefined,
};
nodeAnchors.once.once('never', () => {});
process.nextTick(() => {
  nodeAnchors.tick = executionAsyncResource();
});

/** In a backend socket's 'connect' handler: keep the connect request that just completed. */
export function anchorConnectRequest(): void {
  const r = executionAsyncResource();
  if (r && typeof r === 'object' && r.constructor?.name?.endsWith('ConnectWrap')) nodeAnchors.connectRequest = r;
}

/** Node's anchors (tests). */
export function nodeShapeAnchors(): typeof nodeAnchors {
  return nodeAnchors;
}

/** A session is over: keep it instead of the previous one. */
export function anchorFinishedSession(session: object): void {
  last = session;
}

/** What is kept (tests). */
export function anchoredSession(): object | undefined {
  return last;
}
