{
  "targets": [
    {
      "target_name": "tlsproxy_native",
      "sources": ["tlsproxy_native.c", "tlsproxy_aead.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
    },
    {
      "target_name": "tlsproxy_memory",
      "sources": ["tlsproxy_memory.cc"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
