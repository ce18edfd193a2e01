/**
 * TLS 1.2 parameter selection (RFC 5246 §7.4.1.2-§7.4.1.4, RFC 8422 §5,
 * RFC 7919 §4): cipher suite, certificate, ServerKeyExchange signature
 * scheme, and the (EC)DHE group, chosen together because each constrains
 * the others. Pure functions.
 */

import type { CertifiedKey, ServerConfig } from '../config.js';
import { NamedGroup, SignatureScheme } from '../constants.js';
import type { SigningKey } from '../crypto/provider.js';
import { fail } from '../errors.js';
import { type DhParams, FFDHE_GROUPS, FFDHE2048 } from '../ffdhe.js';
import { prioritizeChacha } from '../policy/options.js';
import type { ClientHello } from '../messages/client-hello.js';
import { DEFAULT_TLS12_SUITES, type Tls12Suite, TLS12_SUITES } from '../suites.js';

export interface Tls12Choice {
  readonly suite: Tls12Suite;
  readonly cert: CertifiedKey;
  /** SignatureScheme for the ServerKeyExchange signature. */
  readonly scheme: number;
  /** ECDHE: the named curve. */
  readonly group?: number;
  /** DHE: the parameters. */
  readonly dh?: DhParams;
}

const EC_GROUPS: ReadonlySet<number> = new Set([NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1]);
const isFfdhe = (g: number) => g >= 0x0100 && g <= 0x01ff;

/**
 * Schemes a key can sign TLS 1.2 ServerKeyExchange with, best first. Never
 * SHA-1 or MD5 (RFC 9155 §2: "MUST NOT" in TLS 1.2 signatures); ECDSA with
 * SHA-224 (ecdsa_sha224) for clients that offer only that, as OpenSSL does.
 */
export function tls12SchemesFor(key: SigningKey): number[] {
  switch (key.algorithm) {
    case 'ecdsa-p256':
      return [SignatureScheme.ecdsa_secp256r1_sha256, SignatureScheme.ecdsa_secp384r1_sha384, SignatureScheme.ecdsa_secp521r1_sha512, SignatureScheme.ecdsa_sha224];
    case 'ecdsa-p384':
      return [SignatureScheme.ecdsa_secp384r1_sha384, SignatureScheme.ecdsa_secp256r1_sha256, SignatureScheme.ecdsa_secp521r1_sha512, SignatureScheme.ecdsa_sha224];
    case 'ed25519':
      return [SignatureScheme.ed25519];
    case 'rsa':
      return [
        SignatureScheme.rsa_pss_rsae_sha256,
        SignatureScheme.rsa_pss_rsae_sha384,
        SignatureScheme.rsa_pss_rsae_sha512,
        SignatureScheme.rsa_pkcs1_sha256,
        SignatureScheme.rsa_pkcs1_sha384,
        SignatureScheme.rsa_pkcs1_sha512,
      ];
  }
}

/**
 * RFC 5246 §7.4.1.4.1: a client that sends no signature_algorithms is
 * taken to support {sha1, rsa} and {sha1, ecdsa} only; RFC 9155 §5 forbids
 * those, so such a client gets handshake_failure (unless it resumes: no
 * signature then). chooseTls12 refuses it before this is used.
 */
function clientSchemes(hello: ClientHello): readonly number[] {
  return hello.signatureAlgorithms ?? [];
}

function authFits(suite: Tls12Suite, key: SigningKey): boolean {
  // RFC 8422 §2 / §3: ECDHE_ECDSA suites are also the suites for Ed25519 certificates.
  return suite.auth === 'RSA' ? key.algorithm === 'rsa' : key.algorithm !== 'rsa';
}

/**
 * RFC 8422 §5.1 / §5.3: an ECDSA certificate is usable only if its curve is
 * among the client's supported_groups (when the client sent the extension).
 */
function curveAcceptable(key: SigningKey, hello: ClientHello): boolean {
  if (!hello.supportedGroups) return true;
  if (key.algorithm === 'ecdsa-p256') return hello.supportedGroups.includes(NamedGroup.secp256r1);
  if (key.algorithm === 'ecdsa-p384') return hello.supportedGroups.includes(NamedGroup.secp384r1);
  return true;
}

function pickCertificate(suite: Tls12Suite, hello: ClientHello, candidates: readonly CertifiedKey[]): { cert: CertifiedKey; scheme: number } | undefined {
  for (const scheme of clientSchemes(hello)) {
    for (const cert of candidates) {
      if (authFits(suite, cert.key) && curveAcceptable(cert.key, hello) && tls12SchemesFor(cert.key).includes(scheme)) return { cert, scheme };
    }
  }
  return undefined;
}

function pickCurve(hello: ClientHello, config: ServerConfig, providerGroups: readonly number[]): number | undefined {
  const ours = config.groups.filter((g) => EC_GROUPS.has(g) && providerGroups.includes(g));
  const theirs = hello.supportedGroups?.filter((g) => !isFfdhe(g));
  // RFC 8422 §4: without supported_groups the client supports secp256r1 (the curve every client has).
  if (!theirs) return ours.includes(NamedGroup.secp256r1) ? NamedGroup.secp256r1 : undefined;
  const [first, second] = config.preferServerCiphers ? [ours, theirs] : [theirs, ours];
  return first.find((g) => second.includes(g));
}

function pickDh(hello: ClientHello, config: ServerConfig): DhParams | undefined {
  const theirs = (hello.supportedGroups ?? []).filter(isFfdhe);
  // RFC 7919 §4: a client naming FFDHE groups gets one of them, or no DHE suite at all.
  if (theirs.length) {
    const ours = config.groups.filter((g) => FFDHE_GROUPS.has(g));
    const [first, second] = config.preferServerCiphers ? [ours, theirs] : [theirs, ours];
    const g = first.find((x) => second.includes(x));
    return g === undefined ? undefined : FFDHE_GROUPS.get(g);
  }
  return config.dhParams ?? FFDHE2048;
}

export function chooseTls12(
  hello: ClientHello,
  config: ServerConfig,
  candidates: readonly CertifiedKey[],
  providerGroups: readonly number[],
  hasDh: boolean,
): Tls12Choice {
  // RFC 8422 §5.1.2: a client that lists point formats must include uncompressed.
  if (hello.ecPointFormats && !hello.ecPointFormats.includes(0)) {
    fail('PointFormatsWithoutUncompressed');
  }
  // RFC 9155 §5: "If a client does not send a signature_algorithms extension, then the server MUST
  // abort the handshake with a handshake_failure alert, except when digital signatures are not used".
  if (!hello.signatureAlgorithms) fail('Tls12NoSignatureAlgorithms');
  const enabled = (config.tls12CipherSuites ?? DEFAULT_TLS12_SUITES).filter((s) => TLS12_SUITES.has(s));
  const ours = config.prioritizeChacha ? prioritizeChacha(enabled, hello.cipherSuites) : enabled;
  const order = config.preferServerCiphers ? ours.filter((s) => hello.cipherSuites.includes(s)) : hello.cipherSuites.filter((s) => ours.includes(s));
  let curve: number | undefined | null = null;
  let dh: DhParams | undefined | null = null;
  for (const id of order) {
    const suite = TLS12_SUITES.get(id)!;
    const auth = pickCertificate(suite, hello, candidates);
    if (!auth) continue;
    if (suite.kx === 'ECDHE') {
      if (curve === null) curve = pickCurve(hello, config, providerGroups);
      if (curve !== undefined) return { suite, ...auth, group: curve };
    } else {
      if (!hasDh) continue;
      if (dh === null) dh = pickDh(hello, config);
      if (dh !== undefined) return { suite, ...auth, dh };
    }
  }
  // RFC 5246 §7.4.1.3: no acceptable choices -> handshake_failure.
  return fail('NoSharedTls12Suite');
}
