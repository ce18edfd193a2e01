/**
 * The last finished session's sockets, kept reachable until the next one
 * finishes, so that V8 keeps the optimised code of the accept, relay and
 * close paths (Node's net and stream code, and ours) through a quiet spell.
 * Why: engine/common/shape-anchors.ts, same mechanism; measured,
 * bench/README.md "Warm-up".
 *
 * Only closed net.Sockets are kept: they hold no key and no data (their
 * buffers were drained or dropped when they closed). The TLS stream and
 * the engine's connection are not kept: their record protection holds the
 * session's traffic keys, and those go with the session.
 */
const last: { client: object | undefined; backend: object | undefined } = { client: undefined, backend: undefined };

/** A session is over: keep its sockets (client side, backend side) instead of the previous session's. */
export function anchorSessionShapes(client: object | undefined, backend: object | undefined): void {
  last.client = client;
  last.backend = backend;
}

/** What is kept (tests). */
export function anchoredSessionShapes(): { client: object | undefined; backend: object | undefined } {
  return { ...last };
}
