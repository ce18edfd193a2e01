/*
 * AEAD record protection for the node provider (providers/native-aead.ts),
 * over the OpenSSL that Node itself links (its EVP symbols are exported).
 *
 * node:crypto needs a new Cipheriv object per record (createCipheriv: a
 * context, a key schedule, two Buffers and a JS object each time, about
 * 2 µs before any byte is encrypted) and cannot write into a caller's
 * buffer. Here one EVP_CIPHER_CTX per direction keeps the key schedule; a
 * record only sets the nonce and runs, writing straight into the record
 * buffer (seal) or decrypting in place (open).
 *
 *   aeadCreate(alg, key, encrypt)       alg 0 AES-128-GCM, 1 AES-256-GCM, 2 ChaCha20-Poly1305:
 *                                       an External holding the context (freed by GC, key cleansed)
 *   aeadSeal(ctx, nonce, aad, content, trailer, out, offset)
 *                                       out[offset..] = enc(content || trailer) || tag(16)
 *   aeadOpen(ctx, nonce, aad, data)     data = ciphertext || tag(16): decrypts in place,
 *                                       true when the tag verifies (false: data's first
 *                                       part is garbage and must be dropped)
 *   aeadOpenInto(ctx, nonce, aad, data, out, offset)
 *                                       the same, the plaintext written to out[offset..]
 *                                       (data untouched; on failure that range is zeroed)
 *
 *   hmac(alg, keyLen, dataLen, scratch)
 *                                       alg 0 SHA-256, 1 SHA-384, 2 SHA-512: HMAC (RFC 2104)
 *                                       of scratch[keyLen..keyLen+dataLen) under the key
 *                                       scratch[0..keyLen), written over scratch[0..]; returns
 *                                       the MAC's length (below)
 *
 *   hashCreate(alg), hashUpdate(h, data), hashDigest(h, out), hashClone(h)
 *                                       running SHA-2 hashes for the transcript (below)
 *
 * Lengths are checked here too (nonce 12, tag 16, out large enough): a
 * caller's mistake throws instead of writing out of bounds.
 */

#define NAPI_VERSION 8
#include <node_api.h>

/* Without OpenSSL's headers the rest of the addon still builds; the node
 * provider then uses node:crypto (providers/native-aead.ts). */
#if defined(__has_include)
#if __has_include(<openssl/evp.h>)
#define TLSPROXY_HAVE_EVP 1
#endif
#endif

#ifndef TLSPROXY_HAVE_EVP
napi_value tlsproxy_aead_init(napi_env env, napi_value exports) { return exports; }
#else

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#define TAG_LEN 16
#define NONCE_LEN 12

/* Type tags on the Externals (N-API 8): an AEAD context handed where an
 * X25519 key is expected (or anything else) is refused instead of being
 * read as the wrong C structure. */
static const napi_type_tag AEAD_TAG = {0x746c7370726f7879ULL, 0x6165616430303031ULL};   /* "tlsproxy" "aead0001" */
static const napi_type_tag X25519_TAG = {0x746c7370726f7879ULL, 0x7832353531393031ULL}; /* "tlsproxy" "x2551901" */

/* The pointer inside an External carrying `tag`, or NULL. */
static void *tagged_external(napi_env env, napi_value v, const napi_type_tag *tag) {
  bool ok = false;
  void *p = NULL;
  if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok) return NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

typedef struct {
  EVP_CIPHER_CTX *ctx;
  int encrypt;
} aead_t;

static void aead_free(napi_env env, void *data, void *hint) {
  aead_t *a = data;
  if (a) {
    EVP_CIPHER_CTX_free(a->ctx); /* cleanses the key schedule */
    free(a);
  }
}

/* OpenSSL's error queue is per thread and node:crypto reads it after its own
 * calls: whatever a failed operation here left in it must not surface there. */
static napi_value throw_msg(napi_env env, const char *msg) {
  ERR_clear_error();
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static bool bytes(napi_env env, napi_value v, unsigned char **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, len, &p, &ab, &off) != napi_ok || type != napi_uint8_array) return false;
  *data = p;
  return true;
}

/* What every X25519 call would otherwise look up again. OpenSSL 3.0
 * resolves an algorithm by name on each implicit fetch (EVP_PKEY_CTX_new_id,
 * EVP_PKEY_new_raw_public_key), and that lookup walks its whole name table:
 * in a profile of the daemon's handshakes it cost about as much as the
 * X25519 derivation itself (bench/README.md, "Per handshake, by layer").
 * Made once per N-API environment (a worker thread that loads the addon
 * gets its own: these contexts are not shared between threads), freed with
 * it. The derivation still makes a context per call (EVP_PKEY_CTX_new on
 * the private key: OpenSSL has no way to reuse one for another key). */
typedef struct {
  EVP_PKEY_CTX *x25519_gen;   /* keygen_init done: EVP_PKEY_keygen may be called again and again */
  EVP_PKEY_CTX *x25519_peer;  /* fromdata_init done: a peer's public key from its 32 bytes */
  EVP_MD *md[3];              /* SHA-256, SHA-384, SHA-512, fetched once (HMAC below) */
  EVP_MD_CTX *hmac_md;        /* the one digest context HMAC reuses; left in its initial state */
  EVP_MD_CTX *hash_copy;      /* where hashDigest finishes a copy of a running hash */
} addon_state;

static void state_free(napi_env env, void *data, void *hint) {
  addon_state *st = data;
  if (!st) return;
  EVP_PKEY_CTX_free(st->x25519_gen);
  EVP_PKEY_CTX_free(st->x25519_peer);
  for (int i = 0; i < 3; i++) EVP_MD_free(st->md[i]);
  EVP_MD_CTX_free(st->hmac_md);
  EVP_MD_CTX_free(st->hash_copy);
  free(st);
}

/* This environment's state, made on first use; NULL when out of memory. A
 * context OpenSSL could not make stays NULL (that operation then fails). */
static addon_state *state(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) == napi_ok && data) return data;
  addon_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->x25519_gen = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
  if (st->x25519_gen && EVP_PKEY_keygen_init(st->x25519_gen) != 1) {
    EVP_PKEY_CTX_free(st->x25519_gen);
    st->x25519_gen = NULL;
  }
  st->x25519_peer = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
  if (st->x25519_peer && EVP_PKEY_fromdata_init(st->x25519_peer) != 1) {
    EVP_PKEY_CTX_free(st->x25519_peer);
    st->x25519_peer = NULL;
  }
  static const char *const md_names[3] = {"SHA256", "SHA384", "SHA512"};
  for (int i = 0; i < 3; i++) st->md[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
  st->hmac_md = EVP_MD_CTX_new();
  st->hash_copy = EVP_MD_CTX_new();
  ERR_clear_error();
  if (napi_set_instance_data(env, st, state_free, NULL) != napi_ok) {
    state_free(env, st, NULL);
    return NULL;
  }
  return st;
}

static napi_value AeadCreate(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return throw_msg(env, "aeadCreate: 3 arguments");
  int32_t alg;
  bool enc;
  unsigned char *key;
  size_t keylen;
  if (napi_get_value_int32(env, argv[0], &alg) != napi_ok || !bytes(env, argv[1], &key, &keylen) || napi_get_value_bool(env, argv[2], &enc) != napi_ok)
    return throw_msg(env, "aeadCreate: bad arguments");
  /* The built-in getters, not ciphers fetched once: with an EVP_CIPHER_fetch()ed AES-GCM, sealing
   * records (a nonce re-init per record) measured 10-15 % more CPU per record in the bench's
   * TLS 1.3 download rows (two interleaved pairs); a fetch per key costs less than that. */
  const EVP_CIPHER *cipher = alg == 0 ? EVP_aes_128_gcm() : alg == 1 ? EVP_aes_256_gcm() : alg == 2 ? EVP_chacha20_poly1305() : NULL;
  if (!cipher) return throw_msg(env, "aeadCreate: unknown algorithm");
  if ((int)keylen != EVP_CIPHER_key_length(cipher)) return throw_msg(env, "aeadCreate: wrong key length");
  aead_t *a = calloc(1, sizeof *a);
  if (!a) return throw_msg(env, "aeadCreate: out of memory");
  a->ctx = EVP_CIPHER_CTX_new();
  a->encrypt = enc ? 1 : 0;
  if (!a->ctx || EVP_CipherInit_ex(a->ctx, cipher, NULL, NULL, NULL, a->encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
      EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, a->encrypt) != 1) {
    aead_free(env, a, NULL);
    return throw_msg(env, "aeadCreate: OpenSSL refused the key");
  }
  napi_value ext;
  if (napi_create_external(env, a, aead_free, NULL, &ext) != napi_ok) {
    aead_free(env, a, NULL);
    return throw_msg(env, "aeadCreate: napi_create_external");
  }
  if (napi_type_tag_object(env, ext, &AEAD_TAG) != napi_ok) return throw_msg(env, "aeadCreate: napi_type_tag_object");
  return ext;
}

static aead_t *get_ctx(napi_env env, napi_value v) { return tagged_external(env, v, &AEAD_TAG); }

static napi_value AeadSeal(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7) return throw_msg(env, "aeadSeal: 7 arguments");
  aead_t *a = get_ctx(env, argv[0]);
  unsigned char *nonce, *aad, *content, *trailer, *out;
  size_t nlen, aadlen, clen, tlen, olen;
  uint32_t off;
  if (!a || !a->encrypt || !bytes(env, argv[1], &nonce, &nlen) || !bytes(env, argv[2], &aad, &aadlen) || !bytes(env, argv[3], &content, &clen) ||
      !bytes(env, argv[4], &trailer, &tlen) || !bytes(env, argv[5], &out, &olen) || napi_get_value_uint32(env, argv[6], &off) != napi_ok)
    return throw_msg(env, "aeadSeal: bad arguments");
  if (nlen != NONCE_LEN) return throw_msg(env, "aeadSeal: nonce must be 12 bytes");
  if (clen > INT_MAX / 2 || tlen > INT_MAX / 2 || aadlen > INT_MAX || off > olen || olen - off < clen + tlen + TAG_LEN)
    return throw_msg(env, "aeadSeal: output too small");
  int n = 0;
  unsigned char *o = out + off;
  /* As aeadOpen: the content sealed exactly in place or apart (EVP does not handle a partial
   * overlap), and the trailer, read after the content's ciphertext is written, apart from what is
   * written or exactly where its own ciphertext goes. A caller's mistake throws instead of sending
   * a record sealed from bytes it had already overwritten. */
  unsigned char *end = o + clen + tlen + TAG_LEN;
  if ((clen && content != o && content < end && o < content + clen) || (tlen && trailer != o + clen && trailer < end && o < trailer + tlen))
    return throw_msg(env, "aeadSeal: output overlaps the input");
  if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, 1) != 1 || (aadlen && EVP_CipherUpdate(a->ctx, NULL, &n, aad, (int)aadlen) != 1) ||
      (clen && EVP_CipherUpdate(a->ctx, o, &n, content, (int)clen) != 1))
    return throw_msg(env, "aeadSeal: OpenSSL failed");
  o += clen;
  if (tlen && EVP_CipherUpdate(a->ctx, o, &n, trailer, (int)tlen) != 1) return throw_msg(env, "aeadSeal: OpenSSL failed");
  o += tlen;
  if (EVP_CipherFinal_ex(a->ctx, o, &n) != 1 || n != 0 || EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, o) != 1)
    return throw_msg(env, "aeadSeal: OpenSSL failed");
  return NULL;
}

/* aeadOpen (4 arguments, in place) and aeadOpenInto (6, out of place). */
static napi_value open_common(napi_env env, napi_callback_info info, size_t want) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return throw_msg(env, "aeadOpen: too few arguments");
  aead_t *a = get_ctx(env, argv[0]);
  unsigned char *nonce, *aad, *data, *out;
  size_t nlen, aadlen, dlen, olen;
  uint32_t off = 0;
  if (!a || a->encrypt || !bytes(env, argv[1], &nonce, &nlen) || !bytes(env, argv[2], &aad, &aadlen) || !bytes(env, argv[3], &data, &dlen))
    return throw_msg(env, "aeadOpen: bad arguments");
  if (want == 6) {
    if (!bytes(env, argv[4], &out, &olen) || napi_get_value_uint32(env, argv[5], &off) != napi_ok) return throw_msg(env, "aeadOpen: bad arguments");
  } else {
    out = data;
    olen = dlen;
  }
  bool ok = false;
  if (nlen == NONCE_LEN && dlen >= TAG_LEN && dlen - TAG_LEN <= INT_MAX && aadlen <= INT_MAX) {
    size_t clen = dlen - TAG_LEN;
    /* Out of place: out[off .. off + clen) must lie inside out (a caller's mistake throws). */
    if (off > olen || olen - off < clen) return throw_msg(env, "aeadOpen: output too small");
    unsigned char *o = out + off;
    /* In place exactly, or apart: EVP does not handle a partial overlap. */
    if (o != data && o < data + dlen && data < o + clen) return throw_msg(env, "aeadOpen: output overlaps the input");
    int n = 0;
    unsigned char tag[TAG_LEN], fin[TAG_LEN];
    for (int i = 0; i < TAG_LEN; i++) tag[i] = data[clen + i];
    ok = EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, 0) == 1 && (!aadlen || EVP_CipherUpdate(a->ctx, NULL, &n, aad, (int)aadlen) == 1) &&
         (!clen || EVP_CipherUpdate(a->ctx, o, &n, data, (int)clen) == 1) && EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) == 1 &&
         EVP_CipherFinal_ex(a->ctx, fin, &n) == 1; /* the tag check (constant time in OpenSSL) */
    /* Unauthenticated plaintext never stays in a caller's buffer that outlives the call. */
    if (!ok && o != data) OPENSSL_cleanse(o, clen);
  }
  if (!ok) ERR_clear_error();
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

static napi_value AeadOpen(napi_env env, napi_callback_info info) { return open_common(env, info, 4); }
static napi_value AeadOpenInto(napi_env env, napi_callback_info info) { return open_common(env, info, 6); }


/* ------------------------------------------------------------------ X25519
 *
 *   x25519Keygen(pubOut)            a fresh key pair: the private key stays in C (an External,
 *                                   freed by GC); pubOut (32 bytes) gets the public key
 *   x25519Derive(priv, peer, out)   out (32 bytes) = X25519(priv, peer); false when OpenSSL
 *                                   refuses (a peer key of the wrong size, an all-zero result)
 *
 * node:crypto's generateKeyPairSync('x25519') plus a JWK import of the peer
 * key cost about three times the two scalar multiplications themselves.
 */

static void pkey_free(napi_env env, void *data, void *hint) { EVP_PKEY_free(data); }

static napi_value X25519Keygen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  unsigned char *pub;
  size_t publen;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !bytes(env, argv[0], &pub, &publen) || publen != 32)
    return throw_msg(env, "x25519Keygen: a 32-byte output");
  EVP_PKEY *pkey = NULL;
  addon_state *st = state(env);
  size_t len = 32;
  bool ok = st && st->x25519_gen && EVP_PKEY_keygen(st->x25519_gen, &pkey) == 1 && EVP_PKEY_get_raw_public_key(pkey, pub, &len) == 1 && len == 32;
  if (!ok) {
    EVP_PKEY_free(pkey);
    return throw_msg(env, "x25519Keygen: OpenSSL failed");
  }
  napi_value ext;
  if (napi_create_external(env, pkey, pkey_free, NULL, &ext) != napi_ok) {
    EVP_PKEY_free(pkey);
    return throw_msg(env, "x25519Keygen: napi_create_external");
  }
  if (napi_type_tag_object(env, ext, &X25519_TAG) != napi_ok) return throw_msg(env, "x25519Keygen: napi_type_tag_object");
  return ext;
}

static napi_value X25519Derive(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  void *priv = NULL;
  unsigned char *peer, *out;
  size_t peerlen, outlen;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !(priv = tagged_external(env, argv[0], &X25519_TAG)) ||
      !bytes(env, argv[1], &peer, &peerlen) || !bytes(env, argv[2], &out, &outlen) || outlen != 32)
    return throw_msg(env, "x25519Derive: bad arguments");
  bool ok = false;
  addon_state *st = state(env);
  if (peerlen == 32 && st && st->x25519_peer) {
    /* The peer's key as EVP_PKEY_new_raw_public_key makes it, from the context prepared once. */
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, peer, 32), OSSL_PARAM_construct_end()};
    EVP_PKEY *peerkey = NULL;
    if (EVP_PKEY_fromdata(st->x25519_peer, &peerkey, EVP_PKEY_PUBLIC_KEY, params) != 1) peerkey = NULL;
    EVP_PKEY_CTX *ctx = peerkey ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
    size_t len = 32;
    ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peerkey) == 1 && EVP_PKEY_derive(ctx, out, &len) == 1 && len == 32;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peerkey);
  }
  if (!ok) ERR_clear_error();
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}


/* ------------------------------------------------------------------ HMAC
 *
 * The TLS 1.3 key schedule is ~30 HMACs per handshake over a few dozen
 * bytes each. node:crypto's createHmac costs a JS object, a Buffer and an
 * OpenSSL 3 HMAC set-up that looks the digest up again every time. OpenSSL
 * 3.0's own HMAC (EVP_MAC, even duplicated from a prepared context) still
 * allocates and sets up its digest contexts on every call: 0.9-1.2 us
 * against 0.3-0.4 us for the construction below at these sizes, measured
 * on this machine kind (bench/README.md, "HMAC on OpenSSL's digests"). So
 * HMAC here is RFC 2104 over OpenSSL's digests, fetched once, in one
 * digest context per environment:
 *
 *   HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m))
 *
 * where K0 is the key zero-padded to the hash's block size B, or H(K) padded
 * when the key is longer than B (RFC 2104 §2). Checked against RFC 4231's
 * vectors and against node:crypto for each hash and key lengths 0..300
 * (test/unit/native-aead.test.ts). The key and data come in one buffer the
 * caller keeps for the process (off V8's heap): a small typed array handed
 * to native code would be moved off the heap first, costing more than the
 * HMAC. The caller wipes the key from it afterwards; the padded key and the
 * inner hash are cleansed here, and the digest context is put back in its
 * initial state, which holds nothing of the key.
 */

#define HMAC_MAX_BLOCK 128 /* SHA-384 and SHA-512 */

static bool hmac_digest(addon_state *st, uint32_t alg, const unsigned char *key, size_t klen, const unsigned char *data, size_t dlen,
                        unsigned char *mac, unsigned int *maclen) {
  const EVP_MD *md = st->md[alg];
  EVP_MD_CTX *c = st->hmac_md;
  if (!md || !c) return false;
  int block = EVP_MD_get_block_size(md);
  if (block <= 0 || block > HMAC_MAX_BLOCK) return false;
  unsigned char k0[HMAC_MAX_BLOCK], inner[EVP_MAX_MD_SIZE];
  unsigned int ilen = 0, hlen = 0;
  memset(k0, 0, sizeof k0);
  bool ok = true;
  if (klen > (size_t)block) /* RFC 2104 §2: a key longer than B is hashed first */
    ok = EVP_DigestInit_ex2(c, md, NULL) == 1 && EVP_DigestUpdate(c, key, klen) == 1 && EVP_DigestFinal_ex(c, k0, &hlen) == 1;
  else if (klen > 0)
    memcpy(k0, key, klen);
  for (int i = 0; i < block; i++) k0[i] ^= 0x36; /* ipad */
  ok = ok && EVP_DigestInit_ex2(c, md, NULL) == 1 && EVP_DigestUpdate(c, k0, block) == 1 && EVP_DigestUpdate(c, data, dlen) == 1 &&
       EVP_DigestFinal_ex(c, inner, &ilen) == 1;
  for (int i = 0; i < block; i++) k0[i] ^= 0x36 ^ 0x5c; /* ipad off, opad on */
  ok = ok && EVP_DigestInit_ex2(c, md, NULL) == 1 && EVP_DigestUpdate(c, k0, block) == 1 && EVP_DigestUpdate(c, inner, ilen) == 1 &&
       EVP_DigestFinal_ex(c, mac, maclen) == 1;
  OPENSSL_cleanse(k0, sizeof k0);
  OPENSSL_cleanse(inner, sizeof inner);
  /* Back to the hash's initial state: nothing derived from the key stays in the context. */
  if (EVP_DigestInit_ex2(c, md, NULL) != 1) ok = false;
  return ok;
}

static napi_value Hmac(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint32_t alg, klen, dlen;
  unsigned char *buf;
  size_t blen;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_uint32(env, argv[0], &alg) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &klen) != napi_ok || napi_get_value_uint32(env, argv[2], &dlen) != napi_ok ||
      !bytes(env, argv[3], &buf, &blen))
    return throw_msg(env, "hmac: expected (alg, keyLength, dataLength, scratch)");
  if (alg > 2) return throw_msg(env, "hmac: unknown hash");
  if (klen > blen || dlen > blen - klen || blen < EVP_MAX_MD_SIZE) return throw_msg(env, "hmac: lengths outside the scratch buffer");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  addon_state *st = state(env);
  bool ok = st && hmac_digest(st, alg, buf, klen, buf + klen, dlen, mac, &maclen);
  if (ok) memcpy(buf, mac, maclen);
  OPENSSL_cleanse(mac, sizeof mac);
  if (!ok) return throw_msg(env, "hmac: OpenSSL failed");
  napi_value r;
  napi_create_uint32(env, maclen, &r);
  return r;
}

/* ------------------------------------------------------------------ hashes
 *
 * The handshake transcript (RFC 8446 §4.4.1) is a running hash that the key
 * schedule reads at five to eight points of a handshake without ending it.
 * node:crypto's Hash does that as copy() then digest(): a new JS object, an
 * OpenSSL context and a Buffer per reading, ~20 us of a handshake in all.
 * Here a running hash is an EVP_MD_CTX in an External:
 *
 *   hashCreate(alg)             alg as for hmac: a new running hash
 *   hashUpdate(h, data)         hash data
 *   hashDigest(h, out)          out[0..len) = the hash of everything so far
 *                               (a copy is finished; h goes on); returns len
 *   hashClone(h)                an independent copy of h
 *
 * A transcript holds handshake messages, nothing secret; the contexts are
 * cleansed when freed all the same (EVP_MD_CTX_free).
 */

static const napi_type_tag HASH_TAG = {0x746c7370726f7879ULL, 0x6861736830303031ULL}; /* "tlsproxy" "hash0001" */

static void md_ctx_free(napi_env env, void *data, void *hint) { EVP_MD_CTX_free(data); }

/* `c` in a new tagged External (freed with it), or NULL with an exception pending. */
static napi_value wrap_md_ctx(napi_env env, EVP_MD_CTX *c, const char *who) {
  napi_value ext;
  if (napi_create_external(env, c, md_ctx_free, NULL, &ext) != napi_ok) {
    EVP_MD_CTX_free(c);
    return throw_msg(env, who);
  }
  if (napi_type_tag_object(env, ext, &HASH_TAG) != napi_ok) return throw_msg(env, who);
  return ext;
}

static napi_value HashCreate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t alg;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_uint32(env, argv[0], &alg) != napi_ok || alg > 2)
    return throw_msg(env, "hashCreate: unknown hash");
  addon_state *st = state(env);
  EVP_MD_CTX *c = st && st->md[alg] ? EVP_MD_CTX_new() : NULL;
  if (!c || EVP_DigestInit_ex2(c, st->md[alg], NULL) != 1) {
    EVP_MD_CTX_free(c);
    return throw_msg(env, "hashCreate: OpenSSL failed");
  }
  return wrap_md_ctx(env, c, "hashCreate: napi_create_external");
}

/* The (running hash, bytes) arguments of hashUpdate and hashDigest; false when they are not that. */
static bool hash_and_bytes(napi_env env, napi_callback_info info, EVP_MD_CTX **c, unsigned char **data, size_t *len) {
  size_t argc = 2;
  napi_value argv[2];
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 2 && (*c = tagged_external(env, argv[0], &HASH_TAG)) &&
         bytes(env, argv[1], data, len);
}

static napi_value HashUpdate(napi_env env, napi_callback_info info) {
  EVP_MD_CTX *c = NULL;
  unsigned char *data;
  size_t len;
  if (!hash_and_bytes(env, info, &c, &data, &len)) return throw_msg(env, "hashUpdate: bad arguments");
  if (EVP_DigestUpdate(c, data, len) != 1) return throw_msg(env, "hashUpdate: OpenSSL failed");
  return NULL;
}

static napi_value HashDigest(napi_env env, napi_callback_info info) {
  EVP_MD_CTX *c = NULL;
  unsigned char *out;
  size_t outlen;
  if (!hash_and_bytes(env, info, &c, &out, &outlen)) return throw_msg(env, "hashDigest: bad arguments");
  const EVP_MD *md = EVP_MD_CTX_get0_md(c);
  if (!md || outlen < (size_t)EVP_MD_get_size(md)) return throw_msg(env, "hashDigest: output too short");
  addon_state *st = state(env);
  EVP_MD_CTX *copy = st ? st->hash_copy : NULL;
  unsigned int len = 0;
  bool ok = copy && EVP_MD_CTX_copy_ex(copy, c) == 1 && EVP_DigestFinal_ex(copy, out, &len) == 1;
  if (!ok) return throw_msg(env, "hashDigest: OpenSSL failed");
  napi_value r;
  napi_create_uint32(env, len, &r);
  return r;
}

static napi_value HashClone(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  EVP_MD_CTX *c = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !(c = tagged_external(env, argv[0], &HASH_TAG)))
    return throw_msg(env, "hashClone: bad arguments");
  EVP_MD_CTX *d = EVP_MD_CTX_new();
  if (!d || EVP_MD_CTX_copy_ex(d, c) != 1) {
    EVP_MD_CTX_free(d);
    return throw_msg(env, "hashClone: OpenSSL failed");
  }
  return wrap_md_ctx(env, d, "hashClone: napi_create_external");
}

napi_value tlsproxy_aead_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"hmac", NULL, Hmac, NULL, NULL, NULL, napi_default, NULL},
      {"hashCreate", NULL, HashCreate, NULL, NULL, NULL, napi_default, NULL},
      {"hashUpdate", NULL, HashUpdate, NULL, NULL, NULL, napi_default, NULL},
      {"hashDigest", NULL, HashDigest, NULL, NULL, NULL, napi_default, NULL},
      {"hashClone", NULL, HashClone, NULL, NULL, NULL, napi_default, NULL},
      {"x25519Keygen", NULL, X25519Keygen, NULL, NULL, NULL, napi_default, NULL},
      {"x25519Derive", NULL, X25519Derive, NULL, NULL, NULL, napi_default, NULL},
      {"aeadCreate", NULL, AeadCreate, NULL, NULL, NULL, napi_default, NULL},
      {"aeadSeal", NULL, AeadSeal, NULL, NULL, NULL, napi_default, NULL},
      {"aeadOpen", NULL, AeadOpen, NULL, NULL, NULL, napi_default, NULL},
      {"aeadOpenInto", NULL, AeadOpenInto, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns) != napi_ok) return NULL;
  return exports;
}

#endif /* TLSPROXY_HAVE_EVP */
