/**
 * Module resolution hooks (module.register, run on Node's loader thread)
 * that refuse `node:crypto` / `crypto` for every importer, and append one
 * line per refused attempt to $NO_NATIVE_CRYPTO_LOG. Used by
 * test/helpers/no-native-crypto.mjs.
 */
import { appendFileSync } from 'node:fs';

let logFile;

export function initialize(data) {
  logFile = data?.logFile;
}

const REFUSED = new Set(['crypto', 'node:crypto']);

export async function resolve(specifier, context, nextResolve) {
  if (REFUSED.has(specifier) || specifier.startsWith('node:crypto/') || specifier.startsWith('crypto/')) {
    if (logFile) appendFileSync(logFile, `import ${specifier} from ${context.parentURL ?? '(entry)'}\n`);
    const e = new Error(`no-native-crypto: import of "${specifier}" refused (from ${context.parentURL ?? 'the entry point'})`);
    e.code = 'ERR_NO_NATIVE_CRYPTO';
    throw e;
  }
  return nextResolve(specifier, context);
}
