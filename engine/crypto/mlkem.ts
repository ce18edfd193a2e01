/**
 * ML-KEM-768 (FIPS 203) for every provider, in pure JavaScript from
 * @noble/post-quantum (audited, no native code, the same on Node, Deno,
 * Bun and browsers). A provider offers it by setting
 * `mlKem768: mlKem768` (CryptoProvider.mlKem768); the engine then can do
 * the hybrid TLS 1.3 groups X25519MLKEM768 and SecP256r1MLKEM768
 * (draft-ietf-tls-ecdhe-mlkem, engine/tls13/key-exchange.ts).
 *
 * The server side of TLS only encapsulates; keygen and decapsulate are
 * here for clients (tests, the bench) and for the Wycheproof vectors.
 *
 * Portable: Uint8Array only, no runtime-specific imports.
 */

import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { assertMlKem768Key, ML_KEM_768_CT_LENGTH, ML_KEM_768_EK_LENGTH, ML_KEM_768_SS_LENGTH, mlKem768KeyIsValid } from './mlkem-key.js';
import type { Kem } from './provider.js';

const EK_LENGTH = ML_KEM_768_EK_LENGTH;
const CT_LENGTH = ML_KEM_768_CT_LENGTH;

export { mlKem768KeyIsValid };

export const mlKem768: Kem = {
  name: 'ML-KEM-768',
  encapsulationKeyLength: EK_LENGTH,
  ciphertextLength: CT_LENGTH,
  sharedSecretLength: ML_KEM_768_SS_LENGTH,
  checkEncapsulationKey: mlKem768KeyIsValid,
  encapsulate(ek, m) {
    // Our own check first, so an invalid key is refused whatever the library version does.
    assertMlKem768Key(ek);
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(ek, m);
    return { ciphertext: cipherText, sharedSecret: Uint8Array.from(sharedSecret) };
  },
  keygen(seed) {
    const { publicKey, secretKey } = ml_kem768.keygen(seed);
    return { encapsulationKey: publicKey, decapsulationKey: secretKey };
  },
  decapsulate(ciphertext, dk) {
    // FIPS 203 §7.3: the ciphertext type check; a wrong ciphertext of the right length is implicitly rejected.
    if (ciphertext.length !== CT_LENGTH) throw new Error(`ML-KEM-768: ciphertext of ${ciphertext.length} bytes, expected ${CT_LENGTH}`);
    return ml_kem768.decapsulate(ciphertext, dk);
  },
};
