/**
 * Project Wycheproof vectors (test/fixtures/wycheproof/, Apache 2.0, see
 * its README) against EVERY crypto provider (node, webcrypto, js), through
 * the provider interface the engine uses (engine/crypto/provider.ts):
 * AEAD (AES-GCM, ChaCha20-Poly1305), X25519, ECDH with uncompressed points
 * (P-256, P-384), ECDSA verification (DER, and P1363 re-encoded to the DER
 * the interface takes), Ed25519, RSA-PSS and PKCS#1 v1.5 verification,
 * HKDF (engine/hkdf.ts over the provider's HMAC) and HMAC.
 *
 * `valid` vectors must succeed, `invalid` ones must fail. `acceptable` ones
 * may go either way, unless TLS decides (an all-zero X25519 secret must be
 * refused, RFC 8446 §7.4.2; a compressed point must be refused, RFC 8446
 * §4.2.8.2). A vector the interface cannot express (a 192-bit AES key, a
 * nonce that is not 12 bytes...) is listed by tcId with the reason, and the
 * test asserts that the provider refuses it rather than silently skipping.
 * Each file prints one summary line per provider.
 */

import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromHex, hex } from '../../engine/codec.js';
import type { AeadAlgorithm, CryptoProvider, HashAlgorithm } from '../../engine/crypto/provider.js';
import { createJsCryptoProvider } from '../../engine/crypto/js.js';
import { createWebCryptoProvider, ecdsaRawToDer } from '../../engine/crypto/webcrypto.js';
import { hkdfExpand, hkdfExtract } from '../../engine/hkdf.js';
import { createNodeCryptoProvider } from '../../providers/node.js';

const PROVIDERS: [string, CryptoProvider][] = [
  ['node', createNodeCryptoProvider()],
  ['webcrypto', createWebCryptoProvider()],
  ['js', createJsCryptoProvider()],
];

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [k: string]: unknown;
}
interface Group {
  tests: Vector[];
  [k: string]: unknown;
}

function load(name: string): Group[] {
  const file = new URL(`../fixtures/wycheproof/${name}_test.json`, import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { testGroups: Group[] }).testGroups;
}

const h = (v: unknown) => fromHex(v as string);

/** Outcome counts for the summary line, and the explicit list of vectors the interface cannot run. */
class Tally {
  valid = 0;
  invalid = 0;
  acceptableOk = 0;
  acceptableRefused = 0;
  readonly refused = new Map<string, number[]>();
  readonly failures: string[] = [];

  constructor(
    readonly provider: string,
    readonly file: string,
  ) {}

  /** `ok`: the provider accepted the vector (verified, decrypted, derived the expected value). */
  outcome(v: Vector, ok: boolean, detail = ''): void {
    if (v.result === 'valid') {
      if (ok) this.valid++;
      else this.failures.push(`tcId ${v.tcId} (valid, ${v.flags.join(',')}) refused ${detail}`);
    } else if (v.result === 'invalid') {
      if (!ok) this.invalid++;
      else this.failures.push(`tcId ${v.tcId} (invalid, ${v.flags.join(',')}) accepted ${detail}`);
    } else if (ok) this.acceptableOk++;
    else this.acceptableRefused++;
  }

  /** A vector the provider interface cannot express: `refusedOk` says the provider refused it as it must. */
  notApplicable(v: Vector, reason: string, refusedOk: boolean): void {
    if (!refusedOk) this.failures.push(`tcId ${v.tcId}: ${reason}, but the provider did not refuse it`);
    const list = this.refused.get(reason) ?? [];
    list.push(v.tcId);
    this.refused.set(reason, list);
  }

  /** A TLS rule decides an `acceptable` vector: it must be refused. */
  mustRefuse(v: Vector, ok: boolean, rule: string): void {
    if (ok) this.failures.push(`tcId ${v.tcId} (${v.result}, ${v.flags.join(',')}) accepted, but ${rule}`);
    else this.notApplicable(v, `refused as ${rule}`, true);
  }

  finish(): void {
    const na = [...this.refused].map(([reason, ids]) => `${ids.length} ${reason} (tcId ${ranges(ids)})`).join('; ');
    console.log(
      `  wycheproof ${this.file} [${this.provider}]: ${this.valid} valid ok, ${this.invalid} invalid refused, ` +
        `acceptable ${this.acceptableOk} accepted / ${this.acceptableRefused} refused` +
        (na ? `; not expressible or decided by TLS: ${na}` : ''),
    );
    assert.equal(this.failures, [], `${this.provider} ${this.file}`);
  }
}

function ranges(ids: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j]! + 1) j++;
    out.push(i === j ? `${ids[i]}` : `${ids[i]}-${ids[j]}`);
    i = j;
  }
  return out.join(',');
}

async function throws(f: () => unknown): Promise<boolean> {
  try {
    await f();
    return false;
  } catch {
    return true;
  }
}

// ------------------------------------------------------------------ AEAD

const AEAD_FILES: [string, (keyBits: number) => AeadAlgorithm | null][] = [
  ['aes_gcm', (bits) => (bits === 128 ? 'AES-128-GCM' : bits === 256 ? 'AES-256-GCM' : null)],
  ['chacha20_poly1305', (bits) => (bits === 256 ? 'CHACHA20-POLY1305' : null)],
];

for (const [file, algOf] of AEAD_FILES) {
  for (const [name, p] of PROVIDERS) {
    test(`wycheproof ${file} [${name}]`, async () => {
      const t = new Tally(name, file);
      for (const g of load(file)) {
        const keyBits = g.keySize as number;
        const alg = algOf(keyBits);
        for (const v of g.tests) {
          const key = h(v.key);
          const iv = h(v.iv);
          const aad = h(v.aad);
          const msg = h(v.msg);
          const sealed = new Uint8Array([...h(v.ct), ...h(v.tag)]);
          if (!alg) {
            // The interface has AES-128/256-GCM only (RFC 8446 §B.4): aeadKey must refuse a 192-bit key.
            const other = file === 'aes_gcm' ? 'AES-128-GCM' : 'CHACHA20-POLY1305';
            t.notApplicable(v, `${keyBits}-bit key (aeadKey refuses it)`, await throws(() => p.aeadKey(other, key)));
            continue;
          }
          const k = await p.aeadKey(alg, key);
          if (g.tagSize !== 128) throw new Error('only 128-bit tags in these files');
          if (iv.length !== 12) {
            // TLS nonces are 12 bytes (RFC 8446 §5.3): seal must throw, open must return null.
            const sealRefused = await throws(() => k.seal(iv, aad, msg));
            const openRefused = (await k.open(iv, aad, sealed)) === null;
            t.notApplicable(v, `${iv.length * 8}-bit nonce (seal throws, open returns null)`, sealRefused && openRefused);
            continue;
          }
          const opened = await k.open(iv, aad, sealed);
          const openOk = opened !== null && hex(opened) === hex(msg);
          if (v.result === 'valid') {
            // Sealing must give exactly ct || tag.
            const ours = await k.seal(iv, aad, msg);
            t.outcome(v, openOk && hex(ours) === hex(sealed), openOk ? '(seal output differs)' : '(open failed)');
          } else {
            t.outcome(v, opened !== null, '(open returned plaintext)');
          }
        }
      }
      t.finish();
    });
  }
}

// ---------------------------------------------------------------- X25519

for (const [name, p] of PROVIDERS) {
  test(`wycheproof x25519 [${name}]`, async () => {
    const t = new Tally(name, 'x25519');
    for (const g of load('x25519')) {
      for (const v of g.tests) {
        const share = await p.generateKeyShare(0x001d, h(v.private));
        let secret: Uint8Array | null = null;
        try {
          secret = await share.deriveSecret(h(v.public));
        } catch {
          secret = null;
        }
        const ok = secret !== null && hex(secret) === v.shared;
        if (v.flags.includes('ZeroSharedSecret')) {
          t.mustRefuse(v, secret !== null, 'an all-zero X25519 secret must be (RFC 8446 §7.4.2)');
        } else {
          t.outcome(v, ok);
        }
      }
    }
    t.finish();
  });
}

// ------------------------------------------------------- ECDH (ecpoint)

for (const [file, group, secretLen] of [
  ['ecdh_secp256r1_ecpoint', 0x0017, 32],
  ['ecdh_secp384r1_ecpoint', 0x0018, 48],
] as const) {
  for (const [name, p] of PROVIDERS) {
    test(`wycheproof ${file} [${name}]`, async () => {
      const t = new Tally(name, file);
      // The interface takes no fixed private key for NIST groups (generateKeyShare
      // refuses one by design), so each vector runs against a fresh key share:
      // valid points must be accepted (the value is checked by the cross-provider
      // agreement tests in crypto-providers.test.ts), invalid ones refused.
      const share = await p.generateKeyShare(group);
      for (const g of load(file)) {
        for (const v of g.tests) {
          let secret: Uint8Array | null = null;
          try {
            secret = await share.deriveSecret(h(v.public));
          } catch {
            secret = null;
          }
          const ok = secret !== null && secret.length === secretLen;
          if (v.flags.includes('CompressedPoint')) {
            t.mustRefuse(v, ok, 'TLS 1.3 allows only uncompressed points (RFC 8446 §4.2.8.2)');
          } else {
            t.outcome(v, ok);
          }
        }
      }
      t.finish();
    });
  }
}

// ------------------------------------------------------------------ ECDSA

for (const [file, scheme, n, p1363] of [
  ['ecdsa_secp256r1_sha256', 0x0403, 32, false],
  ['ecdsa_secp256r1_sha256_p1363', 0x0403, 32, true],
  ['ecdsa_secp384r1_sha384', 0x0503, 48, false],
  ['ecdsa_secp384r1_sha384_p1363', 0x0503, 48, true],
] as const) {
  for (const [name, p] of PROVIDERS) {
    test(`wycheproof ${file} [${name}]`, async () => {
      const t = new Tally(name, file);
      for (const g of load(file)) {
        const spki = h(g.publicKeyDer);
        for (const v of g.tests) {
          let sig = h(v.sig);
          if (p1363) {
            // TLS carries ECDSA signatures in DER (RFC 8446 §4.2.3): r||s of
            // the right size is re-encoded; any other size has no DER form.
            if (sig.length !== 2 * n) {
              const refused = !(await p.verify(spki, scheme, h(v.msg), sig));
              t.notApplicable(v, `P1363 signature of ${sig.length} bytes (no DER form; refused as DER)`, refused && v.result === 'invalid');
              continue;
            }
            sig = ecdsaRawToDer(sig);
          }
          t.outcome(v, await p.verify(spki, scheme, h(v.msg), sig));
        }
      }
      t.finish();
    });
  }
}

// ---------------------------------------------------------------- Ed25519

for (const [name, p] of PROVIDERS) {
  test(`wycheproof ed25519 [${name}]`, async () => {
    const t = new Tally(name, 'ed25519');
    for (const g of load('ed25519')) {
      const spki = h(g.publicKeyDer);
      for (const v of g.tests) t.outcome(v, await p.verify(spki, 0x0807, h(v.msg), h(v.sig)));
    }
    t.finish();
  });
}

// -------------------------------------------------------------------- RSA

for (const [file, scheme] of [
  ['rsa_pss_2048_sha256_mgf1_32', 0x0804], // rsa_pss_rsae_sha256: MGF1-SHA-256, salt 32 (RFC 8446 §4.2.3)
  ['rsa_signature_2048_sha256', 0x0401], // rsa_pkcs1_sha256
] as const) {
  for (const [name, p] of PROVIDERS) {
    test(`wycheproof ${file} [${name}]`, async () => {
      const t = new Tally(name, file);
      for (const g of load(file)) {
        const spki = h(g.publicKeyDer);
        for (const v of g.tests) t.outcome(v, await p.verify(spki, scheme, h(v.msg), h(v.sig)));
      }
      t.finish();
    });
  }
}

// ----------------------------------------------------------- HKDF, HMAC

for (const [file, alg] of [
  ['hkdf_sha256', 'SHA-256'],
  ['hkdf_sha384', 'SHA-384'],
] as const) {
  for (const [name, p] of PROVIDERS) {
    test(`wycheproof ${file} [${name}] (engine/hkdf.ts over the provider's HMAC)`, () => {
      const t = new Tally(name, file);
      for (const g of load(file)) {
        for (const v of g.tests) {
          let okm: Uint8Array | null;
          try {
            const prk = hkdfExtract(p, alg as HashAlgorithm, h(v.salt), h(v.ikm));
            okm = hkdfExpand(p, alg as HashAlgorithm, prk, h(v.info), v.size as number);
          } catch {
            okm = null;
          }
          t.outcome(v, okm !== null && hex(okm) === v.okm);
        }
      }
      t.finish();
    });
  }
}

for (const [file, alg] of [
  ['hmac_sha256', 'SHA-256'],
  ['hmac_sha384', 'SHA-384'],
] as const) {
  for (const [name, p] of PROVIDERS) {
    test(`wycheproof ${file} [${name}]`, () => {
      const t = new Tally(name, file);
      for (const g of load(file)) {
        const bytes = (g.tagSize as number) / 8; // truncated tags compare the prefix (RFC 2104 §5)
        for (const v of g.tests) {
          const mac = p.hmac(alg as HashAlgorithm, h(v.key), h(v.msg));
          t.outcome(v, hex(mac.subarray(0, bytes)) === v.tag);
        }
      }
      t.finish();
    });
  }
}

test.run();
