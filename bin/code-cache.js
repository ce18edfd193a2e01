// Runs one CommonJS script (the daemon's bundle, dist/run/main.cjs) through V8's code cache, so
// that a start after the first deserialises the bytecode the previous one compiled instead of
// parsing and compiling ~800 KB of JavaScript again, and runs the functions a start calls at once
// instead of compiling each on its first call (bench/README.md, "Start-up"). Node 22.1+ has
// module.enableCompileCache() for this, in the system's temporary directory; Node 20 has nothing
// for ES modules, and a cache an unprivileged user can write is code that a root daemon would
// run. Here the cache is trusted exactly as far as the script itself:
//
//   - it lives beside the script: `<script>.<node version>-<arch>.cache`;
//   - it is read only when it, the script and their directory belong to the same user, and none
//     of them is writable by group or others (whoever could write the cache could write the
//     script);
//   - it is written (atomically: a new file renamed over) only by a process of that same user,
//     once, `saveAfterMs` after the start and off the start path, when no valid cache was used;
//   - it starts with the SHA-256 of the script's bytes, so a changed script (an upgrade, a
//     rebuild) never runs a stale cache even when V8's own check (the source's length, V8's
//     version and flags) would accept it, then the SHA-256 of the cached data itself: a release
//     build of V8 does not checksum what it deserialises, and a damaged cache (a disk error, a
//     partial copy) would crash the process inside the deserialiser (checked: it aborts).
//
// Any problem (no cache yet, another user, V8 refusing it) only means compiling as usual.
// TLSPROXY_CODE_CACHE=0 turns it off (read nor write); the loader is used on Node only.
'use strict';
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const MAGIC = 'tlsproxy-code-cache-1\n';
/** The hook a run-time V8 flag change calls first (proxy/base/v8-tiering.ts BEFORE_FLAGS_CHANGE). */
const BEFORE_FLAGS_CHANGE = Symbol.for('tlsproxy.beforeV8FlagsChange');
/** Set by the launcher while it keeps TurboFan off (bin/tlsproxy.js, proxy/base/v8-tiering.ts TURBOFAN_DEFERRED). */
const TURBOFAN_DEFERRED = Symbol.for('tlsproxy.turbofanDeferred');
/** MAGIC, the script's SHA-256 and the data's, in hex, each on its line. */
const HEADER = MAGIC.length + 2 * (64 + 1);

/**
 * `make()` under V8's default flags, which the next start reads the cache with: the launcher turns
 * TurboFan off after the start's code is compiled (deferTurbofanUntilServing, proxy/base/v8-tiering.ts),
 * and a cache carries a hash of the flags it was made under (V8 refuses it under others; a flag
 * set back to its default gives the default hash again).
 */
function underDefaultFlags(make) {
  if (globalThis[TURBOFAN_DEFERRED] !== true) return make();
  const { setFlagsFromString } = require('node:v8');
  setFlagsFromString('--turbofan');
  try {
    return make();
  } finally {
    setFlagsFromString('--no-turbofan');
  }
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The cache file of `file` for this Node and architecture. */
function cachePath(file) {
  return `${file}.${process.version}-${process.arch}.cache`;
}

/** Owned by `uid` and writable by nobody else. */
function trusted(st, uid) {
  return st.uid === uid && (st.mode & 0o022) === 0;
}

/**
 * The cached data for `source` (its SHA-256 `digest`) when the cache may be used, or undefined.
 * `owner`: the script's owner, whom the directory and the cache must belong to too.
 */
function readCache(file, digest, owner) {
  const at = cachePath(file);
  let fd;
  try {
    if (!trusted(fs.statSync(path.dirname(file)), owner)) return undefined;
    // O_NOFOLLOW: the cache itself, not where a link put there would point.
    fd = fs.openSync(at, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !trusted(st, owner) || st.size <= HEADER) return undefined;
    const data = fs.readFileSync(fd);
    const body = data.subarray(HEADER);
    if (data.latin1Slice(0, HEADER) !== `${MAGIC}${digest}\n${sha256(body)}\n`) return undefined;
    return body;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Write the cache for `script` (compiled from the source whose SHA-256 is `digest`); false when it cannot. */
function writeCache(file, digest, script) {
  const at = cachePath(file);
  const tmp = `${at}.${process.pid}.tmp`;
  try {
    const data = underDefaultFlags(() => script.createCachedData());
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
    try {
      fs.writeSync(fd, `${MAGIC}${digest}\n${sha256(data)}\n`);
      fs.writeSync(fd, data);
      fs.fchmodSync(fd, 0o644);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, at);
    return true;
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // Nothing was made.
    }
    return false;
  }
}

/**
 * Run the CommonJS script `file` and return its exports, with the code cache when allowed.
 * `state` (returned too, for tests): whether a cache was used, and `save()`,
 * which writes one now (the timer calls it), true when written.
 */
function runCached(file, options = {}) {
  const enabled = options.enabled ?? process.env.TLSPROXY_CODE_CACHE !== '0';
  const bytes = fs.readFileSync(file);
  // The bundle is ASCII (scripts/build.mjs: charset ascii): latin1 is its text, without UTF-8 decoding.
  const source = bytes.latin1Slice(0, bytes.length);
  const digest = sha256(bytes);
  // The user the script belongs to, whom the cache and the directory must belong to; -1 (no cache)
  // when others may write the script.
  let owner;
  try {
    const st = fs.statSync(file);
    owner = trusted(st, st.uid) ? st.uid : -1;
  } catch {
    owner = -1;
  }
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  let cachedData = enabled && owner >= 0 ? readCache(file, digest, owner) : undefined;
  // The script's import()s go through __tlsproxyImport (scripts/build.mjs): on Node 20 an import()
  // in a script compiled from a code cache has no module loader behind it.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __tlsproxyImport) {${source}\n})`, { filename: file, cachedData });
  const used = cachedData !== undefined && !script.cachedDataRejected;
  cachedData = undefined;
  const mod = { exports: {} };
  // Only the script's own user writes its cache.
  const mayWrite = enabled && owner >= 0 && owner === euid;
  const state = { used, save: () => mayWrite && writeCache(file, digest, script) };
  if (!used && mayWrite) {
    // After the start, so the cache holds what a start compiles; a command that ends sooner writes none.
    let pending = true;
    const saveOnce = () => {
      if (!pending) return;
      pending = false;
      clearTimeout(timer);
      if (globalThis[BEFORE_FLAGS_CHANGE] === saveOnce) delete globalThis[BEFORE_FLAGS_CHANGE];
      state.save();
    };
    const timer = setTimeout(saveOnce, options.saveAfterMs ?? 2000);
    timer.unref();
    // V8 refuses a cache made under other flags than the reading process's (a hash of them), and
    // a start compiles the script with the default ones (the launcher turns TurboFan off after
    // that, and writeCache() undoes it while it writes): a V8 flag the daemon sets at run time (its
    // first session sets --interrupt-budget, proxy/base/v8-tiering.ts) calls this first, so the
    // cache is written before the flags change, or not at all.
    globalThis[BEFORE_FLAGS_CHANGE] = saveOnce;
  }
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, path.dirname(file), (specifier) => import(specifier));
  return { exports: mod.exports, state };
}

module.exports = { runCached, cachePath, BEFORE_FLAGS_CHANGE };
