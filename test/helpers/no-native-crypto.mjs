/**
 * Preload (`node --import ./test/helpers/no-native-crypto.mjs ...`) that
 * makes node:crypto and WebCrypto unreachable for everything loaded after
 * it, so that a process running the js provider proves nothing falls back
 * to OpenSSL (test/js-provider-isolated.test.ts):
 *
 *  - ESM: `import 'node:crypto'` / `import('crypto')` are refused by a
 *    resolve hook (module.register, no-native-crypto-hooks.mjs);
 *  - CommonJS: `require('crypto')` is refused (Module._load wrapper);
 *  - process.getBuiltinModule('crypto') and process.binding('crypto') are refused;
 *  - WebCrypto: globalThis.crypto is replaced by an object with only
 *    getRandomValues; crypto.subtle, SubtleCrypto, CryptoKey and Crypto are gone.
 *
 * Kept on purpose: getRandomValues, the platform CSPRNG the js provider
 * needs (it refuses to start without one). On Node it is OpenSSL's
 * RAND_bytes underneath; there is no way to get entropy in JavaScript
 * without the platform, and it is one well-defined entry point rather than
 * a cipher or key-exchange implementation.
 *
 * Every refused attempt is appended to $NO_NATIVE_CRYPTO_LOG (one line each),
 * so the test can check exactly which attempts were made.
 */
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const logFile = process.env.NO_NATIVE_CRYPTO_LOG;
const log = (line) => {
  if (logFile) appendFileSync(logFile, `${line}\n`);
};
const refuse = (what) => {
  log(what);
  const e = new Error(`no-native-crypto: ${what} refused`);
  e.code = 'ERR_NO_NATIVE_CRYPTO';
  return e;
};
const isCrypto = (id) => id === 'crypto' || id === 'node:crypto';

register(new URL('./no-native-crypto-hooks.mjs', import.meta.url), { data: { logFile } });

const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (isCrypto(request)) throw refuse(`require ${request} from ${parent?.filename ?? '(unknown)'}`);
  return load.call(this, request, parent, isMain);
};
if (typeof process.getBuiltinModule === 'function') {
  const get = process.getBuiltinModule.bind(process);
  process.getBuiltinModule = (id) => {
    if (isCrypto(id)) throw refuse(`process.getBuiltinModule(${id})`);
    return get(id);
  };
}
const binding = process.binding?.bind(process);
if (binding) {
  process.binding = (name) => {
    if (name === 'crypto') throw refuse('process.binding(crypto)');
    return binding(name);
  };
}

const platform = globalThis.crypto;
const getRandomValues = platform.getRandomValues.bind(platform);
Object.defineProperty(globalThis, 'crypto', {
  value: Object.freeze({ getRandomValues: (array) => getRandomValues(array) }),
  writable: false,
  configurable: false,
  enumerable: true,
});
for (const name of ['SubtleCrypto', 'CryptoKey', 'Crypto']) delete globalThis[name];
