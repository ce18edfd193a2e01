/**
 * ML-KEM-768 encapsulation on WebAssembly for the node provider: liboqs
 * (Open Quantum Safe) compiled with emscripten, as the npm package
 * @oqs/liboqs-js ships it (dist/ml-kem-768.min.js: the emscripten module
 * with its wasm inside). A TLS server only encapsulates (the hybrid groups
 * X25519MLKEM768 and SecP256r1MLKEM768, draft-ietf-tls-ecdhe-mlkem), and one
 * encapsulation here costs ~50 µs of CPU against ~400-600 µs for
 * @noble/post-quantum in JavaScript (bench/README.md "ML-KEM on
 * WebAssembly"); Node 20's OpenSSL 3.0 has no ML-KEM for the addon to call.
 *
 * How it is used, and what stays as it was:
 *   - `wasmBackedMlKem768(fallback)` is a Kem that encapsulates here once the
 *     module is loaded and with `fallback` (engine/crypto/mlkem.ts, noble)
 *     until then, for known-answer calls (`m` given: liboqs' build exposes no
 *     deterministic encapsulation) and for keygen and decapsulation (clients,
 *     tests). The first encapsulation starts loading it, off the start path:
 *     a daemon that never sees a post-quantum client never loads it.
 *   - Our own FIPS 203 §7.2 key check (mlkem-key.ts) runs before every
 *     encapsulation, whichever implementation does it.
 *   - Loading ends with a self-test: an encapsulation here to a key made by
 *     noble must decapsulate (by noble) to the same secret. A module that
 *     cannot be found, loaded or initialised, fails the self-test or
 *     returns an error later is not used again: noble does the work, and
 *     `mlKemImplementation()` says why.
 *   - The randomness is the module's: emscripten's getentropy, which on Node
 *     is node:crypto's randomFillSync and elsewhere crypto.getRandomValues.
 *   - The shared secret is copied out of the module's memory and its slot
 *     there zeroed after every call; the inputs and the ciphertext are
 *     public. What liboqs keeps on its own stack inside that memory (the
 *     random coins of the encapsulation) is liboqs' to clear, as noble's
 *     intermediate arrays are the garbage collector's.
 *   - The package declares Node >= 22; only its emscripten module is used
 *     here, which the tests run on the Node 20 this daemon supports.
 *   - TLSPROXY_MLKEM_WASM=0 keeps noble (A/B benches; an escape hatch).
 *
 * The module is looked for as Node looks for a package: in node_modules
 * beside this file or above it. It is not bundled (its wasm is 40 KB of
 * binary text, and it is an ES module that the CommonJS bundle loads through
 * the launcher's import(), scripts/build.mjs).
 */

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constantTimeEqual } from '../engine/codec.js';
import { assertMlKem768Key, ML_KEM_768_CT_LENGTH as CT_LENGTH, ML_KEM_768_EK_LENGTH as EK_LENGTH, ML_KEM_768_SS_LENGTH as SS_LENGTH, mlKem768KeyIsValid } from '../engine/crypto/mlkem-key.js';
import type { Kem } from '../engine/crypto/provider.js';

/** What the package ships the ML-KEM-768 module as. */
const PACKAGE = '@oqs/liboqs-js';
const MODULE_FILE = 'dist/ml-kem-768.min.js';

/** The parts of the emscripten module used here (its exported C functions and heap). */
interface OqsModule {
  readonly HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _OQS_init(): void;
  _OQS_KEM_new(name: number): number;
  _OQS_KEM_encaps(kem: number, ciphertext: number, sharedSecret: number, publicKey: number): number;
}

/** One OQS_KEM for ML-KEM-768 and its three buffers in the module's memory, made once. */
class OqsMlKem768 {
  private constructor(
    private readonly mod: OqsModule,
    private readonly kem: number,
    private readonly pk: number,
    private readonly ct: number,
    private readonly ss: number,
  ) {}

  static create(mod: OqsModule): OqsMlKem768 {
    mod._OQS_init();
    const name = new TextEncoder().encode('ML-KEM-768\0');
    const namePtr = mod._malloc(name.length);
    if (!namePtr) throw new Error('out of module memory');
    mod.HEAPU8.set(name, namePtr);
    const kem = mod._OQS_KEM_new(namePtr);
    mod._free(namePtr);
    if (!kem) throw new Error('OQS_KEM_new("ML-KEM-768") failed');
    const pk = mod._malloc(EK_LENGTH);
    const ct = mod._malloc(CT_LENGTH);
    const ss = mod._malloc(SS_LENGTH);
    if (!pk || !ct || !ss) throw new Error('out of module memory');
    return new OqsMlKem768(mod, kem, pk, ct, ss);
  }

  /** Every call is synchronous, so the one set of buffers serves them all. `ek` is checked by the caller. */
  encapsulate(ek: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
    const { mod, pk, ct, ss } = this;
    // HEAPU8 is read again after the call: a module whose memory grows replaces it.
    mod.HEAPU8.set(ek, pk);
    const rc = mod._OQS_KEM_encaps(this.kem, ct, ss, pk);
    const heap = mod.HEAPU8;
    try {
      if (rc !== 0) throw new Error(`OQS_KEM_encaps returned ${rc}`);
      return { ciphertext: heap.slice(ct, ct + CT_LENGTH), sharedSecret: heap.slice(ss, ss + SS_LENGTH) };
    } finally {
      heap.fill(0, ss, ss + SS_LENGTH);
    }
  }
}

/** The file of `pkg` at `rel` in the nearest node_modules from `from` upwards, or undefined. */
function findInNodeModules(from: string, pkg: string, rel: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'node_modules', pkg, rel);
    if (existsSync(file)) return file;
    if (path.dirname(dir) === dir) return undefined;
  }
}

type State =
  | { readonly kind: 'idle' }
  | { readonly kind: 'loading'; readonly done: Promise<boolean> }
  | { readonly kind: 'ready'; readonly kem: OqsMlKem768 }
  | { readonly kind: 'off'; readonly why: string };

/** Told once when loading settles (true: in use) and when the module fails later (false); the daemon logs it. */
export type MlKemReporter = (inUse: boolean, detail: string) => void;
let reporter: MlKemReporter | undefined;

/** Where load results go (the daemon's logger, proxy/supervisor/daemon.ts); the last one set. */
export function reportMlKemTo(r: MlKemReporter | undefined): void {
  reporter = r;
}

function report(inUse: boolean, detail: string): void {
  try {
    reporter?.(inUse, detail);
  } catch {
    // A logger's failure is not the handshake's.
  }
}

// One module per process, whichever providers use it.
let state: State = process.env.TLSPROXY_MLKEM_WASM === '0' ? { kind: 'off', why: 'TLSPROXY_MLKEM_WASM=0' } : { kind: 'idle' };
let wasmEncapsulations = 0;

async function load(selfTest: Kem): Promise<OqsMlKem768> {
  const file = findInNodeModules(path.dirname(fileURLToPath(import.meta.url)), PACKAGE, MODULE_FILE);
  if (!file) throw new Error(`${PACKAGE}/${MODULE_FILE} not found`);
  const wasmModuleUrl = pathToFileURL(file).href;
  const factory = ((await import(wasmModuleUrl)) as { default?: (options?: object) => Promise<OqsModule> }).default;
  if (typeof factory !== 'function') throw new Error(`${MODULE_FILE} exports no module factory`);
  const exitCode = process.exitCode;
  let kem: OqsMlKem768;
  try {
    kem = OqsMlKem768.create(await factory());
  } finally {
    // emscripten's exit path sets process.exitCode before it throws: not this daemon's.
    process.exitCode = exitCode;
  }
  // The self-test: our encapsulation, noble's decapsulation, the same secret.
  const { encapsulationKey, decapsulationKey } = await selfTest.keygen();
  const { ciphertext, sharedSecret } = kem.encapsulate(encapsulationKey);
  const back = await selfTest.decapsulate(ciphertext, decapsulationKey);
  const same = constantTimeEqual(back, sharedSecret);
  sharedSecret.fill(0);
  back.fill(0);
  if (!same) throw new Error('self-test failed: its encapsulation does not decapsulate to the same secret');
  return kem;
}

/** Start loading the module (once); resolves true when it is in use. */
function startLoading(selfTest: Kem): Promise<boolean> {
  if (state.kind === 'ready') return Promise.resolve(true);
  if (state.kind === 'off') return Promise.resolve(false);
  if (state.kind === 'loading') return state.done;
  const done = load(selfTest).then(
    (kem) => {
      state = { kind: 'ready', kem };
      report(true, `liboqs on WebAssembly (${PACKAGE})`);
      return true;
    },
    (e: unknown) => {
      state = { kind: 'off', why: `${PACKAGE}: ${(e as Error)?.message ?? e}` };
      report(false, state.why);
      return false;
    },
  );
  state = { kind: 'loading', done };
  return done;
}

/** Which implementation encapsulates now: 'wasm', or 'noble' with the reason. */
export function mlKemImplementation(): { readonly implementation: 'wasm' | 'noble'; readonly why?: string; readonly wasmEncapsulations: number } {
  if (state.kind === 'ready') return { implementation: 'wasm', wasmEncapsulations };
  const why = state.kind === 'off' ? state.why : state.kind === 'loading' ? 'loading' : 'not loaded yet (no encapsulation so far)';
  return { implementation: 'noble', why, wasmEncapsulations };
}

/** ML-KEM-768 that encapsulates on WebAssembly once loaded, with `fallback` otherwise (see the top). */
export function wasmBackedMlKem768(fallback: Kem): Kem & { ready(): Promise<boolean> } {
  return {
    name: fallback.name,
    encapsulationKeyLength: EK_LENGTH,
    ciphertextLength: CT_LENGTH,
    sharedSecretLength: SS_LENGTH,
    checkEncapsulationKey: mlKem768KeyIsValid,
    encapsulate(ek, m) {
      if (m !== undefined || state.kind !== 'ready') {
        if (m === undefined && state.kind === 'idle') void startLoading(fallback);
        return fallback.encapsulate(ek, m);
      }
      // FIPS 203 §7.2 type and modulus checks, ours, before the module sees the key.
      assertMlKem768Key(ek);
      try {
        const r = state.kem.encapsulate(ek);
        wasmEncapsulations++;
        return r;
      } catch (e) {
        state = { kind: 'off', why: `${PACKAGE}: ${(e as Error)?.message ?? e}` };
        report(false, state.why);
        return fallback.encapsulate(ek);
      }
    },
    keygen: (seed) => fallback.keygen(seed),
    decapsulate: (ciphertext, dk) => fallback.decapsulate(ciphertext, dk),
    /** Load now (tests, benches); true when encapsulations go to the module. */
    ready: () => startLoading(fallback),
  };
}
