// PROXY protocol v2 (haproxy's proxy-protocol.txt §2.2.5): the PP2_TYPE_SSL
// value shared by the TLS session (which fills it) and the PROXY codec.

export const PP2_CLIENT_SSL = 0x01;
export const PP2_CLIENT_CERT_CONN = 0x02;
export const PP2_CLIENT_CERT_SESS = 0x04;

export interface Tlv {
  readonly type: number;
  readonly value: Uint8Array;
}

/** PP2_TYPE_SSL, decoded (parse) or to encode. */
export interface SslTlv {
  /** PP2_CLIENT_* bits. */
  readonly client: number;
  /** 0 when the client presented a certificate and it was verified. */
  readonly verify: number;
  readonly version?: string;
  readonly cn?: string;
  readonly cipher?: string;
  readonly sigAlg?: string;
  readonly keyAlg?: string;
  /** Every sub-TLV as received (parse only; unknown ones included). */
  readonly subTlvs?: readonly Tlv[];
}
