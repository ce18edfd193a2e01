// The import graph of engine/, certs/, providers/ and proxy/ has no cycles
// (no strongly connected component of more than one file, no self-import),
// and the purity rule holds at the folder level: engine/ and certs/ import
// nothing from providers/ or proxy/, and proxy/'s folders only look down.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIRS = ['engine', 'certs', 'providers', 'proxy'];

function files(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(path.join(root, dir))) {
    const rel = path.join(dir, n);
    if (statSync(path.join(root, rel)).isDirectory()) files(rel, out);
    else if (/\.(ts|mjs)$/.test(n) && !n.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Static and dynamic relative imports of each file, resolved to repo paths. */
export function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const all = DIRS.flatMap((d) => files(d));
  const known = new Set(all);
  for (const f of all) {
    const src = readFileSync(path.join(root, f), 'utf8');
    const edges: string[] = [];
    for (const m of src.matchAll(/(?:from\s*|import\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      let t = path.normalize(path.join(path.dirname(f), m[1]!));
      if (t.endsWith('.js') && !known.has(t)) t = t.slice(0, -3) + '.ts';
      if (known.has(t)) edges.push(t);
    }
    graph.set(f, edges);
  }
  return graph;
}

/** Tarjan's strongly connected components. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), on = new Set<string>();
  const stack: string[] = [], out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

test('the Tarjan check finds a planted cycle', () => {
  const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  assert.equal(cycles(g), [['a', 'b', 'c']]);
  assert.equal(cycles(new Map([['a', ['b']], ['b', []]])), []);
});

test('no import cycles in engine/, certs/, providers/, proxy/', () => {
  const found = cycles(importGraph());
  assert.equal(found.map((c) => c.join(' -> ')), [], `import cycles:\n${found.map((c) => c.join(' -> ')).join('\n')}`);
});

// Layers, lowest first: a file may import its own layer and the ones below.
const LAYERS: [string, number][] = [
  ['engine/', 0], ['certs/', 0], ['providers/', 1],
  ['proxy/base/', 2], ['proxy/config/', 3], ['proxy/log/', 4], ['proxy/tls/', 5],
  ['proxy/front-ends/', 6], ['proxy/supervisor/', 7], ['proxy/postfix/', 8], ['proxy/cli/', 9],
];
const layer = (f: string) => LAYERS.find(([p]) => f.startsWith(p))?.[1];

test('every import looks down the layers (engine/certs < providers < proxy base < config < log < tls < front-ends < supervisor < postfix < cli)', () => {
  const bad: string[] = [];
  for (const [f, edges] of importGraph()) {
    const lf = layer(f);
    if (lf === undefined) { bad.push(`${f}: not in any layer`); continue; }
    for (const t of edges) {
      const lt = layer(t)!;
      if (lt > lf || (lf <= 1 && lt !== lf && !(f.startsWith('providers/') && lt === 0))) bad.push(`${f} -> ${t}`);
    }
  }
  assert.equal(bad, []);
});

test.run();
