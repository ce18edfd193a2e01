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
 * - Writer: a one-byte writer made once, never written to (codec.ts);
 * - Transcript: the last one made; it holds a running hash of handshake
 *   messages, which are no secret (common/transcript.ts);
 * - KeySchedule: the last one erased, once its stage secret is zeroed
 *   (tls13/key-schedule.ts erase()).
 * The connection's own objects are kept by the proxy with the last
 * finished session (proxy/base/shape-anchors.ts), after
 * ServerConnection.forgetKeys() zeroed or released every key they held.
 */
export const shapeAnchors: { writer?: object; transcript?: object; schedule?: object } = {
  writer: undefined,
  transcript: undefined,
  schedule: undefined,
};
