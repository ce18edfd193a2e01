/**
 * PEM (RFC 7468 textual encoding, with RFC 1421 headers) and base64.
 *
 * Parsing is "lax" in the RFC 7468 §3 sense: any text before, between and
 * after blocks is ignored (OpenSSL "Bag Attributes", comments, the output
 * of `openssl x509 -text`), CR, LF and CRLF line ends are all accepted and
 * whitespace inside the base64 body is skipped. It is strict where a
 * mistake would be silent: a BEGIN line without its matching END line, or
 * a body that is not base64, is an error rather than a skipped block.
 */
import { CertificateError } from './errors.js';

export interface PemBlock {
  /** The label between "BEGIN " and "-----", e.g. "CERTIFICATE". */
  label: string;
  /** RFC 1421 headers (e.g. "Proc-Type", "DEK-Info"), as written. */
  headers: Record<string, string>;
  /** The decoded body. */
  der: Uint8Array;
}

const BEGIN = /^-----BEGIN ([^\r\n]*?)-----\s*$/;
const END = /^-----END ([^\r\n]*?)-----\s*$/;
// RFC 7468 §3: label = [ labelchar *( ["-" / SP] labelchar ) ], labelchar is
// any printable ASCII character except "-".
const LABEL = /^(?:[\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*)?$/;
const HEADER = /^([\x21-\x39\x3b-\x7e]+):[ \t]*(.*)$/;

/** Decodes every PEM block in `text`, in order. Text outside blocks is ignored. */
export function parsePem(text: string): PemBlock[] {
  const lines = text.split(/\r\n|\r|\n/);
  const blocks: PemBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const begin = BEGIN.exec(lines[i]!.trimStart());
    i++;
    if (!begin) continue;
    const label = begin[1]!;
    const beginLine = i;
    if (!LABEL.test(label)) throw new CertificateError(undefined, `PEM: invalid label "${label}" on line ${beginLine}`);

    const body: string[] = [];
    let ended = false;
    while (i < lines.length) {
      const line = lines[i]!.trim();
      i++;
      const end = END.exec(line);
      if (end) {
        if (end[1] !== label) {
          throw new CertificateError(undefined,
            `PEM: block "${label}" starting on line ${beginLine} ends with "END ${end[1]}" on line ${i}`);
        }
        ended = true;
        break;
      }
      if (BEGIN.test(line)) break;
      body.push(line);
    }
    if (!ended) {
      throw new CertificateError(undefined,
        `PEM: block "${label}" starting on line ${beginLine} has no "-----END ${label}-----" line`);
    }

    // RFC 1421 §4.4 encapsulated headers: "Name: value" lines, continuation
    // lines start with white space, a blank line separates them from the body.
    const headers: Record<string, string> = {};
    let start = 0;
    if (body.length > 0 && HEADER.test(body[0]!)) {
      let last: string | undefined;
      for (; start < body.length; start++) {
        const raw = body[start]!;
        if (raw === '') { start++; break; }
        const h = HEADER.exec(raw);
        if (last !== undefined && /^\s/.test(lines[beginLine + start] ?? '')) {
          headers[last] = `${headers[last]} ${raw}`.trim();
        } else if (h) {
          last = h[1]!;
          headers[last] = h[2]!.trim();
        } else {
          break;
        }
      }
    }

    const b64 = body.slice(start).join('');
    let der: Uint8Array;
    try {
      der = base64Decode(b64);
    } catch (e) {
      throw new CertificateError(undefined,
        `PEM: block "${label}" starting on line ${beginLine}: ${(e as Error).message}`);
    }
    if (der.length === 0) {
      throw new CertificateError(undefined, `PEM: block "${label}" starting on line ${beginLine} is empty`);
    }
    blocks.push({ label, headers, der });
  }
  return blocks;
}

/** Encodes `der` as a PEM block with 64-character lines (RFC 7468 §2), ending with a newline. */
export function toPem(label: string, der: Uint8Array): string {
  if (!LABEL.test(label)) throw new CertificateError(undefined, `PEM: invalid label "${label}"`);
  const b64 = base64Encode(der);
  const lines: string[] = [`-----BEGIN ${label}-----`];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(`-----END ${label}-----`, '');
  return lines.join('\n');
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Standard base64 (RFC 4648 §4), padded. */
export function base64Encode(data: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  if (i + 1 === data.length) {
    const n = data[i]! << 16;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + '==';
  } else if (i + 2 === data.length) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + '=';
  }
  return out;
}

/**
 * Standard base64 decoding. White space is skipped; padding is optional but
 * nothing may follow it; any other character is an error. Like OpenSSL,
 * non-zero leftover bits in the last symbol are ignored.
 */
export function base64Decode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4) + 3);
  let len = 0;
  let acc = 0;
  let bits = 0;
  let symbols = 0;
  let padding = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    if (c === 0x3d) { padding++; continue; }
    const v = c < 128 ? DECODE[c]! : -1;
    if (v < 0) throw new Error(`invalid base64 character ${JSON.stringify(text[i])}`);
    if (padding > 0) throw new Error('base64 data after "=" padding');
    symbols++;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[len++] = (acc >> bits) & 0xff;
    }
  }
  const rem = symbols % 4;
  if (rem === 1) throw new Error('truncated base64 data');
  if (padding > 0 && (padding > 2 || (rem + padding) % 4 !== 0)) throw new Error('invalid base64 padding');
  return out.slice(0, len);
}
