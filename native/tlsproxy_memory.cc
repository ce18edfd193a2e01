/*
 * tlsproxy_memory: one call Node has no API for, in its own addon so that
 * tlsproxy_native (plain N-API, C) still loads on runtimes without V8's C++
 * API (Deno, Bun):
 *
 *   memoryPressure(on) v8::Isolate::MemoryPressureNotification(kModerate), or
 *                      kNone when `on` is false. Under moderate pressure V8
 *                      collects and shrinks its heap, the young generation
 *                      included, and returns the pages to the OS; the level
 *                      stays until it is set back to none (V8 keeps
 *                      optimising for memory, at a CPU cost, until then).
 *
 *                      Setting it back to none also hands the C heap's free
 *                      pages back to the OS (glibc's malloc_trim): the
 *                      buffers V8 freed meanwhile (socket reads, the start's
 *                      file reads and code cache) otherwise stay resident in
 *                      malloc's arenas.
 *
 * proxy/base/memory-reducer.ts calls it once after a burst of new sessions
 * is followed by a quiet moment: a burst of handshakes grows V8's young
 * generation to its maximum (2 x 16 MiB semi-spaces on 64-bit Node 20), and
 * V8 keeps it that size while the process sits idle with its connections
 * (measured: 49 KiB of RSS per idle connection after 1,000 handshakes, of
 * which 16 KiB live JavaScript objects; 21 KiB after this call, ~1 ms).
 */
#include <node_api.h>
#include <v8.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value MemoryPressure(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = true;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc >= 1) napi_get_value_bool(env, argv[0], &on);
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  if (isolate) isolate->MemoryPressureNotification(on ? v8::MemoryPressureLevel::kModerate : v8::MemoryPressureLevel::kNone);
#if defined(__GLIBC__)
  // After the collection the pressure set off (the reducer relieves it RELIEF_MS later).
  if (!on) malloc_trim(0);
#endif
  return nullptr;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"memoryPressure", nullptr, MemoryPressure, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns) != napi_ok) return nullptr;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
