/**
 * Client certificate authentication shared by both versions
 * (RFC 8446 §4.3.2, §4.4.2.4, §4.4.3; RFC 5246 §7.4.4, §7.4.6, §7.4.8).
 *
 * The engine asks for a certificate, hands the chain to the configured
 * verifier (certs/ does the X.509 work), and checks the CertificateVerify
 * signature against the leaf's public key. Postfix semantics by default:
 * an untrusted chain is logged, not fatal ("Untrusted TLS connection");
 * `requireTrusted` makes it fatal with the verifier's alert.
 */

import type { ClientAuthPolicy, ClientCertificateVerdict } from './config.js';
import { SignatureScheme } from './constants.js';
import type { CryptoProvider } from './crypto/provider.js';
import { isPromise } from './crypto/provider.js';
import { REFUSAL_CAUSES, failure, fail } from './errors.js';
import type { ClientCertificateInfo } from './events.js';
import { describeKeySignature } from './common/negotiate.js';

/** Hard bound on a client chain, whatever the policy says (a decode-time limit). */
export const MAX_CLIENT_CHAIN = 16;

/** Schemes we accept in a client CertificateVerify, in the order we list them. */
export function clientSchemes(tls12: boolean): number[] {
  const s: number[] = [
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pss_rsae_sha512,
    SignatureScheme.ed25519,
  ];
  // RFC 8446 §4.2.3: RSASSA-PKCS1-v1_5 only in TLS 1.2.
  if (tls12) s.push(SignatureScheme.rsa_pkcs1_sha256, SignatureScheme.rsa_pkcs1_sha384, SignatureScheme.rsa_pkcs1_sha512);
  return s;
}

function schemeFits(scheme: number, key: ClientCertificateVerdict['keyAlgorithm'], tls12: boolean): boolean {
  switch (scheme) {
    case SignatureScheme.ecdsa_secp256r1_sha256:
      return key === 'ecdsa-p256' || (tls12 && key === 'ecdsa-p384');
    case SignatureScheme.ecdsa_secp384r1_sha384:
      return key === 'ecdsa-p384' || (tls12 && key === 'ecdsa-p256');
    case SignatureScheme.ed25519:
      return key === 'ed25519';
    default:
      return key === 'rsa';
  }
}

/** Run the verifier on a non-empty chain; apply the strict policy. */
export async function examineClientChain(policy: ClientAuthPolicy, chain: readonly Uint8Array[]): Promise<ClientCertificateVerdict> {
  let verdict: ClientCertificateVerdict;
  try {
    const v = policy.verify(chain);
    verdict = isPromise(v) ? await v : v;
  } catch (e) {
    // §6.2 bad_certificate: "A certificate was corrupt, contained signatures that did not verify correctly, etc."
    throw failure('ClientCertificateUnusable', (e as Error).message);
  }
  if (!verdict.trusted && policy.requireTrusted) {
    fail(verdict.alert ? REFUSAL_CAUSES[verdict.alert] : 'ClientCertificateBad', verdict.reason ?? 'verification failed');
  }
  return verdict;
}

/** RFC 7250: judge a client's raw public key; apply the strict policy as for chains. */
export async function examineClientRawKey(policy: ClientAuthPolicy, spki: Uint8Array): Promise<ClientCertificateVerdict> {
  if (!policy.verifyRawPublicKey) return fail('NoCommonCertificateType', 'client', [2]);
  let verdict: ClientCertificateVerdict;
  try {
    const v = policy.verifyRawPublicKey(spki);
    verdict = isPromise(v) ? await v : v;
  } catch (e) {
    throw failure('ClientCertificateUnusable', (e as Error).message);
  }
  if (!verdict.trusted && policy.requireTrusted) {
    fail(verdict.alert ? REFUSAL_CAUSES[verdict.alert] : 'ClientCertificateBad', verdict.reason ?? 'raw public key not accepted');
  }
  return verdict;
}

/** Check the client's CertificateVerify (§4.4.3 / RFC 5246 §7.4.8). */
export async function checkClientSignature(
  provider: CryptoProvider,
  verdict: ClientCertificateVerdict,
  scheme: number,
  signature: Uint8Array,
  signed: Uint8Array,
  tls12: boolean,
): Promise<ClientCertificateInfo> {
  // §4.4.3: the scheme must be one we offered in CertificateRequest, and fit the key.
  if (!clientSchemes(tls12).includes(scheme) || !schemeFits(scheme, verdict.keyAlgorithm, tls12)) {
    fail('ClientSignatureSchemeMismatch', scheme, verdict.keyAlgorithm);
  }
  const ok = provider.verify(verdict.spki, scheme, signed, signature, { tls12 });
  // §4.4.3: "If the verification fails, the receiver MUST terminate the handshake with a decrypt_error alert."
  if (!(isPromise(ok) ? await ok : ok)) fail('ClientSignatureInvalid');
  return {
    trusted: verdict.trusted,
    reason: verdict.reason,
    details: verdict.details,
    ...describeKeySignature(verdict.keyAlgorithm, verdict.keyBits, scheme),
  };
}
