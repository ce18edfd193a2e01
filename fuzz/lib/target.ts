/** What every fuzz target provides, and how a target reports a broken invariant. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Mutator } from './mutate.js';
import type { Rng } from './rng.js';
import { FUZZ_DIR } from './engine-setup.js';

/** A broken invariant: the input is a finding (saved under fuzz/crashes/<target>/). */
export class Finding extends Error {
  constructor(readonly kind: string, detail: string) {
    super(`${kind}: ${detail}`);
    this.name = 'Finding';
  }
}

export interface Target {
  readonly name: string;
  /** What the target feeds and which invariant it checks (for the report). */
  readonly description: string;
  readonly mutators: readonly Mutator[];
  /** Longest input (default 128 KiB). */
  readonly maxLength?: number;
  /** Seeds: files of fuzz/corpus/<name>/ plus any the target derives. */
  seeds(): Promise<Uint8Array[]>;
  /**
   * One execution. Returns a short label of the outcome (e.g. the failure
   * cause): an input with a label never seen before joins the corpus.
   * Throws Finding when an invariant breaks.
   */
  run(input: Uint8Array, rng: Rng): Promise<string>;
}

/** Every file of fuzz/<kind>/<target>/ (corpus or crashes), sorted by name. */
export function filesOf(kind: 'corpus' | 'crashes', target: string): { name: string; data: Uint8Array }[] {
  const dir = path.join(FUZZ_DIR, kind, target);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.bin')).sort();
  } catch {
    return [];
  }
  return names.map((n) => ({ name: n, data: new Uint8Array(readFileSync(path.join(dir, n))) }));
}

/** Only `allowed` errors may come out of `f`; anything else is a Finding. */
export async function onlyThrows<T>(what: string, allowed: (e: unknown) => boolean, f: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    if (allowed(e)) return undefined;
    throw new Finding(`${what} threw ${(e as Error)?.name ?? typeof e}`, (e as Error)?.stack ?? String(e));
  }
}

export const text = new TextDecoder('latin1');
