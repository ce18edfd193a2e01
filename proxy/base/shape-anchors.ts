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
let last: object | undefined;

/** A session is over: keep it instead of the previous one. */
export function anchorFinishedSession(session: object): void {
  last = session;
}

/** What is kept (tests). */
export function anchoredSession(): object | undefined {
  return last;
}
