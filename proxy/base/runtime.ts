/**
 * The JavaScript runtime the daemon runs on: Node, or Deno / Bun through
 * their Node API compatibility (docs/runtimes.md says what works on each).
 * Used for the start-up line that names the runtime, and for the features
 * a runtime lacks, which are refused with a message that says so instead of
 * failing later.
 */

declare const Deno: { version: { deno: string } } | undefined;
declare const Bun: { version: string } | undefined;

export type RuntimeName = 'node' | 'deno' | 'bun';

export interface Runtime {
  readonly name: RuntimeName;
  /** "Node 20.20.2", "Deno 2.9.6", "Bun 1.4.5". */
  readonly label: string;
}

export function currentRuntime(): Runtime {
  if (typeof Deno !== 'undefined' && Deno?.version?.deno) return { name: 'deno', label: `Deno ${Deno.version.deno}` };
  if (typeof Bun !== 'undefined' && Bun?.version) return { name: 'bun', label: `Bun ${Bun.version}` };
  return { name: 'node', label: `Node ${process.versions.node}` };
}

/**
 * Why dropping privileges (tlsproxy_user) cannot work on this runtime, or
 * undefined when it can: the process functions privileges.ts calls.
 */
export function privilegeDropUnavailable(): string | undefined {
  const missing = (['setgroups', 'setgid', 'setuid'] as const).filter((f) => typeof process[f] !== 'function');
  if (missing.length === 0) return undefined;
  return `${currentRuntime().label} has no ${missing.map((f) => `process.${f}()`).join(', ')}`;
}

/**
 * The start-up line on a runtime other than Node: which runtime, and what
 * differs there (docs/runtimes.md). Undefined on Node.
 */
export function runtimeNotice(): string | undefined {
  const r = currentRuntime();
  if (r.name === 'node') return undefined;
  const notes: string[] = [];
  const drop = privilegeDropUnavailable();
  if (drop) notes.push(`no privilege drop (tlsproxy_user): ${drop}`);
  notes.push('the Postfix service mode (native addon) is untested here');
  notes.push('tlsproxy_crypto_provider = webcrypto or js recommended (node means this runtime\'s node:crypto emulation)');
  return `running on ${r.label} through its Node API compatibility (docs/runtimes.md): ${notes.join('; ')}`;
}
