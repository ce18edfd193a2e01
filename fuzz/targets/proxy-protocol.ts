/**
 * PROXY protocol v1 and v2 headers from an upstream load balancer
 * (proxy/front-ends/proxy-protocol.ts parseProxyHeader).
 *
 * Invariants: the parser never throws; an 'ok' header took no more bytes
 * than it was given (and at least the fixed part), its addresses are text
 * and its ports in range.
 */
import { encodeProxyHeader, encodeProxyV2, parseProxyHeader } from '../../proxy/front-ends/proxy-protocol.js';
import { GENERIC } from '../lib/mutate.js';
import { Finding, filesOf, type Target } from '../lib/target.js';

const enc = new TextEncoder();

export const proxyProtocolTarget: Target = {
  name: 'proxy-protocol',
  description: 'parseProxyHeader: PROXY v1 lines and v2 binary headers with TLVs (ALPN, authority, CRC32C, unique ID, SSL sub-TLVs, NOOP)',
  mutators: GENERIC,
  maxLength: 70_000,
  async seeds() {
    const src = { address: '192.0.2.1', port: 4000 };
    const dst = { address: '198.51.100.7', port: 465 };
    const src6 = { address: '2001:db8::1', port: 4000 };
    const dst6 = { address: '2001:db8::2', port: 25 };
    return [
      ...filesOf('corpus', 'proxy-protocol').map((f) => f.data),
      enc.encode('PROXY TCP4 192.0.2.1 198.51.100.7 4000 465\r\n'),
      enc.encode('PROXY TCP6 2001:db8::1 2001:db8::2 4000 25\r\n'),
      enc.encode('PROXY UNKNOWN\r\n'),
      encodeProxyHeader('v1', src, dst, {}),
      encodeProxyHeader('v2', src, dst, {}),
      encodeProxyV2({ source: src6, destination: dst6, alpn: enc.encode('smtp'), authority: 'mail.example.org', uniqueId: new Uint8Array(16).fill(7), crc32c: true,
        ssl: { client: 7, verify: 0, version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', sigAlg: 'ECDSA-SHA256', keyAlg: 'EC256', cn: 'client' }, tlvs: [{ type: 0x04, value: new Uint8Array(3) }] }),
      encodeProxyV2({ command: 'local' }),
      encodeProxyV2({ sourcePath: '/tmp/a', destinationPath: '/tmp/b' }),
    ];
  },
  async run(input) {
    let r: ReturnType<typeof parseProxyHeader>;
    try {
      r = parseProxyHeader(input);
    } catch (e) {
      throw new Finding(`parseProxyHeader threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
    }
    if (r.status === 'ok') {
      const h = r.header;
      if (h.length > input.length || h.length < 8) throw new Finding('header length out of the input', `${h.length} of ${input.length}`);
      for (const ep of [h.source, h.destination]) {
        if (ep && (ep.port < 0 || ep.port > 0xffff || typeof ep.address !== 'string')) throw new Finding('bad endpoint', JSON.stringify(ep));
      }
      return `ok:${h.version}:${h.tlvs.length > 0}`;
    }
    return r.status === 'error' ? `error:${r.reason.replace(/\d+/g, 'N').slice(0, 60)}` : 'incomplete';
  },
};
