/**
 * The fuzzer: a mutation fuzzer over every parser that reads untrusted
 * bytes (fuzz/targets/), seeded with the corpus in fuzz/corpus/<target>/
 * (recorded real handshakes for the engine) and replaying every crash in
 * fuzz/crashes/<target>/ first.
 *
 *   npm run fuzz -- --time=60                  all targets, 60 s in total
 *   npm run fuzz -- --time=600 --target=engine,x509 --seed=7
 *   npm run fuzz -- --replay                   corpus and crashes once, exit 1 on a finding
 *
 * A finding (a broken invariant, see each target) is saved as
 * fuzz/crashes/<target>/<kind>-<hash>.bin with a .txt of the message, and
 * becomes a regression case (test/unit/fuzz.test.ts replays them all). An
 * input whose outcome label (e.g. failure cause) was never seen joins the
 * corpus, and the first ones are saved as fuzz/corpus/<target>/found-*.bin.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUZZ_DIR } from './lib/engine-setup.js';
import { mutate } from './lib/mutate.js';
import { Rng } from './lib/rng.js';
import { Finding, filesOf, type Target } from './lib/target.js';
import { TARGETS } from './targets/index.js';

export interface FuzzOptions {
  /** Total seconds (split between targets by weight). */
  readonly seconds?: number;
  /** Stop each target after this many mutated executions. */
  readonly execsPerTarget?: number;
  readonly targets?: readonly string[];
  readonly seed?: number;
  /** Save findings and new corpus entries to fuzz/ (default true). */
  readonly save?: boolean;
  readonly log?: (line: string) => void;
}

export interface TargetReport {
  target: string;
  replayed: number;
  executions: number;
  labels: number;
  savedCorpus: number;
  findings: { kind: string; file?: string; message: string }[];
}

const WEIGHTS: Record<string, number> = { engine: 4, messages: 2, x509: 2 };
const MAX_SAVED_PER_RUN = 20;
const MAX_CORPUS_FILES = 200;
/** An execution longer than this is a finding ("slow input"). */
const SLOW_MS = 3000;

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
}

let current: { target: Target; input: Uint8Array } | undefined;
const strayRejections: { target: string; input: Uint8Array; error: unknown }[] = [];
process.on('unhandledRejection', (error) => {
  if (current) strayRejections.push({ target: current.target.name, input: current.input, error });
});

/** Replay the corpus and crashes, then mutate for the time or executions given. */
export async function fuzz(options: FuzzOptions = {}): Promise<TargetReport[]> {
  const log = options.log ?? (() => undefined);
  const save = options.save ?? true;
  const targets = TARGETS.filter((t) => !options.targets?.length || options.targets.includes(t.name));
  const rng = new Rng(options.seed ?? Date.now());
  const totalWeight = targets.reduce((n, t) => n + (WEIGHTS[t.name] ?? 1), 0);
  const reports: TargetReport[] = [];
  for (const target of targets) {
    const report: TargetReport = { target: target.name, replayed: 0, executions: 0, labels: 0, savedCorpus: 0, findings: [] };
    reports.push(report);
    const seen = new Set<string>();
    const kinds = new Set<string>();
    const record = (input: Uint8Array, e: unknown, replay: boolean) => {
      const kind = e instanceof Finding ? e.kind : `unexpected ${(e as Error)?.name ?? 'throw'}`;
      const message = (e as Error)?.message ?? String(e);
      if (kinds.has(kind)) return;
      kinds.add(kind);
      let file: string | undefined;
      if (save && !replay) {
        const dir = path.join(FUZZ_DIR, 'crashes', target.name);
        mkdirSync(dir, { recursive: true });
        file = path.join(dir, `${slug(kind)}-${sha(input)}.bin`);
        writeFileSync(file, input);
        writeFileSync(file.replace(/\.bin$/, '.txt'), `${message}\n`);
      }
      report.findings.push({ kind, ...(file ? { file: path.relative(FUZZ_DIR, file) } : {}), message: message.split('\n').slice(0, 6).join('\n') });
      log(`[${target.name}] FINDING ${kind}${file ? ` -> ${path.relative(FUZZ_DIR, file)}` : ''}\n  ${message.split('\n').slice(0, 4).join('\n  ')}`);
    };
    const exec = async (input: Uint8Array, replay: boolean): Promise<string | undefined> => {
      current = { target, input };
      const t0 = Date.now();
      try {
        const label = await target.run(input, rng);
        // A denial of service is a finding too: no input may take seconds (the machine may be loaded: a generous bound).
        const ms = Date.now() - t0;
        if (ms > SLOW_MS) throw new Finding('slow input', `${ms} ms for ${input.length} bytes`);
        return label;
      } catch (e) {
        record(input, e, replay);
        return undefined;
      } finally {
        for (const s of strayRejections.splice(0)) record(s.input, new Finding('unhandled promise rejection', (s.error as Error)?.stack ?? String(s.error)), replay);
        current = undefined;
      }
    };
    // Replay: seeds, corpus and every known crash (regressions).
    const corpus = await target.seeds();
    const crashes = filesOf('crashes', target.name).map((f) => f.data);
    for (const input of [...corpus, ...crashes]) {
      const label = await exec(input, true);
      report.replayed++;
      if (label) seen.add(label);
    }
    if (!corpus.length) corpus.push(new Uint8Array(0));
    let saved = 0;
    let existing = 0;
    try {
      existing = readdirSync(path.join(FUZZ_DIR, 'corpus', target.name)).length;
    } catch {
      existing = 0;
    }
    const share = (WEIGHTS[target.name] ?? 1) / totalWeight;
    const deadline = options.seconds !== undefined ? Date.now() + options.seconds * 1000 * share : Number.POSITIVE_INFINITY;
    const maxExecs = options.execsPerTarget ?? (options.seconds === undefined ? 0 : Number.POSITIVE_INFINITY);
    let lastLog = Date.now();
    while (report.executions < maxExecs && Date.now() < deadline) {
      const parent = rng.pick(corpus);
      const input = mutate(rng, parent, corpus, target.mutators, 4, target.maxLength ?? 1 << 17);
      const label = await exec(input, false);
      report.executions++;
      if (label && !seen.has(label)) {
        seen.add(label);
        corpus.push(input);
        if (save && saved < MAX_SAVED_PER_RUN && existing + saved < MAX_CORPUS_FILES) {
          const dir = path.join(FUZZ_DIR, 'corpus', target.name);
          mkdirSync(dir, { recursive: true });
          writeFileSync(path.join(dir, `found-${sha(input)}.bin`), input);
          saved++;
        }
      }
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`[${target.name}] ${report.executions} executions, ${seen.size} outcome labels, ${report.findings.length} findings`);
      }
    }
    report.labels = seen.size;
    report.savedCorpus = saved;
    log(`[${target.name}] done: replayed ${report.replayed}, ${report.executions} executions, ${seen.size} outcome labels, ${report.findings.length} findings`);
  }
  return reports;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const replay = process.argv.includes('--replay');
  const seed = Number(arg('seed') ?? Date.now() % 1e9);
  const reports = await fuzz({
    seconds: replay ? undefined : Number(arg('time') ?? 60),
    targets: arg('target')?.split(','),
    seed,
    log: (l) => console.log(l),
  });
  const total = reports.reduce((n, r) => n + r.executions, 0);
  const findings = reports.reduce((n, r) => n + r.findings.length, 0);
  console.log(JSON.stringify({ seed, executions: total, findings, targets: reports.map(({ target, replayed, executions, labels, savedCorpus, findings: f }) => ({ target, replayed, executions, labels, savedCorpus, findings: f.map((x) => x.kind) })) }, null, 1));
  process.exit(findings ? 1 : 0);
}
