/**
 * FIPS 203 §7.2 input checking of an ML-KEM-768 encapsulation key, on its
 * own (no ML-KEM implementation needed): the engine checks every hybrid key
 * share with it (tls13/key-exchange.ts), and engine/crypto/mlkem.ts before
 * it encapsulates (and providers/mlkem-wasm.ts). Pure: no imports.
 */

/** FIPS 203 §8 Table 3, ML-KEM-768: k = 3. */
const K = 3;
/** FIPS 203 §8 Table 3, ML-KEM-768: encapsulation key, ciphertext and shared secret lengths. */
export const ML_KEM_768_EK_LENGTH = 384 * K + 32; // 1184
export const ML_KEM_768_CT_LENGTH = 1088;
export const ML_KEM_768_SS_LENGTH = 32;
const EK_LENGTH = ML_KEM_768_EK_LENGTH;
const Q = 3329;

/**
 * FIPS 203 §7.2 input checking of an encapsulation key: the type check
 * (exactly 384k + 32 bytes) and the modulus check (every 12-bit
 * coefficient of ByteDecode12(ek[0:384k]) is below q = 3329, i.e.
 * ByteEncode12(ByteDecode12(ek)) = ek).
 */
export function mlKem768KeyIsValid(ek: Uint8Array): boolean {
  if (ek.length !== EK_LENGTH) return false;
  // Two coefficients per 3 bytes, little-endian 12-bit fields (FIPS 203 Algorithm 6).
  for (let i = 0; i < 384 * K; i += 3) {
    const b0 = ek[i]!;
    const b1 = ek[i + 1]!;
    const b2 = ek[i + 2]!;
    if ((b0 | ((b1 & 0x0f) << 8)) >= Q || ((b1 >> 4) | (b2 << 4)) >= Q) return false;
  }
  return true;
}

/** The same check before an encapsulation, whichever implementation does it: throws for a key that fails. */
export function assertMlKem768Key(ek: Uint8Array): void {
  if (!mlKem768KeyIsValid(ek)) throw new Error('ML-KEM-768: invalid encapsulation key (FIPS 203 §7.2 type or modulus check)');
}
