/**
 * Shape anchors: one instance of each short-lived handshake class, kept
 * reachable while the process is idle. This is about V8, not about TLS; on
 * other engines it is three references and nothing else.
 *
 * V8's optimised code refers weakly to the hidden classes ("maps") it was
 * specialised on. A map lives as long as some object has it: the first map
 * of a class is held by its constructor, but the maps its fields lead to
 * (class fields, properties set in the constructor) are held by nothing
 * but their objects. When a server goes quiet, every handshake object is
 * garbage; the next full collection (V8's memory reducer, or ours in
 * proxy/base/memory-reducer.ts) frees those maps and throws away the
 * optimised code of every function that used them (`--trace-deopt`:
 * "reason: weak objects"). The next burst runs in the interpreter again
 * and re-optimises hundreds of functions: measured, sequential handshakes at
 * c=32 after one full collection at idle, 1520-1760 µs each over the first
 * 500 against 620-700 before it (bench/README.md, "Warm-up").
 *
 * So each class below puts an instance here, and the anchor keeps its maps
 * alive. An anchor never holds a secret:
 * - Transcript: the last one made; it holds a running hash of handshake
 *   messages, which are no secret (common/transcript.ts);
 * - KeySchedule: the last one erased, once its stage secret is zeroed
 *   (tls13/key-schedule.ts erase());
 * - each handshake state class, both server flights, Reader and Writer: a
 *   stand-in built with INERT arguments, or a one-byte Writer never
 *   written to (keepStandIn below).
 * The connection's own objects are kept by the proxy with the last
 * finished session (proxy/base/shape-anchors.ts), after
 * ServerConnection.forgetKeys() zeroed or released every key they held.
 */
export const shapeAnchors: { transcript?: object; schedule?: object; standIns: object[] } = {
  transcript: undefined,
  schedule: undefined,
  standIns: [],
};

/**
 * What a stand-in is built with, in place of a context, a message or a
 * secret: an empty frozen object. A stand-in is never used; nothing but
 * `shapeAnchors.standIns` refers to it.
 */
export const INERT = Object.freeze({}) as never;

/**
 * A short-lived class keeps its stand-in here: one instance built with
 * INERT arguments when its module loads (so before any real one). Used for
 * the handshake states, the server flights (ServerFlight12/13), Reader and
 * Writer.
 *
 * Why stand-ins: the state a connection leaves is garbage at once, and the
 * maps of its fields ('name', 'ctx', 's': V8 adds each by a transition that
 * only instances hold) die with the last instance. Measured: after a
 * memory-reducing collection at idle, the only maps lost between a
 * heap snapshot under load and one after the reduction were those of
 * ExpectClientHello and ExpectFinished (and two plain objects), and 54
 * optimised functions were thrown away ('weak objects'), our handshake
 * steps and, through inlining, Node's socket code (bench/README.md,
 * "After a quiet spell"). A real state left behind would hold a context,
 * and in TLS 1.2 a key share or a master secret; a stand-in holds nothing.
 * Its fields have the same representation (objects) as a real state's, so
 * both share one map: V8 only widens the recorded field types once, when
 * the first real state is built, before any code is optimised.
 */
export function keepStandIn(standIn: object): void {
  shapeAnchors.standIns.push(standIn);
}
