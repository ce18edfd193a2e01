/**
 * The record layer (RFC 8446 §5): framing, limits, and AEAD protection.
 *
 *   struct { ContentType type; ProtocolVersion legacy_record_version; uint16 length; opaque fragment[length]; } TLSPlaintext;
 *   struct { ContentType opaque_type = application_data; ProtocolVersion legacy_record_version = 0x0303;
 *            uint16 length; opaque encrypted_record[length]; } TLSCiphertext;
 *   struct { opaque content[length]; ContentType type; uint8 zeros[length_of_padding]; } TLSInnerPlaintext;
 *
 * Sequence numbers are assigned synchronously when a record is sealed or
 * opened, before any asynchronous provider call (§5.3), and sealed records
 * leave through an ordered queue, so several records' crypto can be in
 * flight while output stays in order.
 */

import { concat } from './codec.js';
import { ContentType, ProtocolVersion, RecordLimits } from './constants.js';
import type { AeadAlgorithm, AeadKey, CryptoProvider, MaybePromise } from './crypto/provider.js';
import { AEAD_TAG_LENGTH, isPromise } from './crypto/provider.js';
import { fail } from './errors.js';
import type { Tls13Suite } from './suites.js';

export interface RawRecord {
  readonly type: number;
  readonly version: number;
  /** The 5-byte header (the AAD of a TLS 1.3 record, §5.2). */
  readonly header: Uint8Array;
  readonly fragment: Uint8Array;
  /**
   * The record's bytes belong to the engine (a copy, or a chunk pushed as
   * owned): the provider may decrypt them in place (AeadKey.openInPlace).
   */
  readonly owned?: boolean;
  /**
   * The record's bytes are a view of a buffer lent for one
   * ServerConnection.receiveBorrowed() call: opened out of place
   * (RecordProtection.openInto) or copied before anything keeps them.
   */
  readonly borrowed?: boolean;
}

/**
 * Splits the incoming byte stream into records. Received chunks are queued
 * as they are; a record that lies inside one chunk is returned as a view
 * (no copy), and only a record that spans chunks is copied together.
 */
export class RecordReader {
  private chunks: Uint8Array[] = [];
  /** owned[i]: chunks[i] may be overwritten (see push). */
  private owned: boolean[] = [];
  /** Read offset into chunks[0]. */
  private pos = 0;
  private total = 0;
  /** The chunk pushed with `borrowed` (at most one, the last), until ownBorrowed(). */
  private borrowedChunk: Uint8Array | undefined;

  /** Bytes received and not yet returned as records. */
  get buffered(): number {
    return this.total;
  }

  /**
   * Queue received bytes. `owned`: the caller gives them away (a socket
   * read's fresh buffer), so records inside them may be decrypted in place.
   */
  push(bytes: Uint8Array, owned = false): void {
    if (bytes.length === 0) return;
    if (this.borrowedChunk) throw new Error('RecordReader: ownBorrowed() not called');
    this.chunks.push(bytes);
    this.owned.push(owned);
    this.total += bytes.length;
  }

  /**
   * Queue bytes that are valid only until ownBorrowed(): records that lie
   * inside them come out marked `borrowed` (a record that spans into the
   * next chunk is copied together, as always, and is owned).
   */
  pushBorrowed(bytes: Uint8Array): void {
    this.push(bytes, false);
    if (bytes.length) this.borrowedChunk = bytes;
  }

  /** Copy what is left of the borrowed chunk (a partial record, at most one record's size) so that it may be reused. */
  ownBorrowed(): void {
    const b = this.borrowedChunk;
    if (!b) return;
    this.borrowedChunk = undefined;
    const last = this.chunks.length - 1;
    if (last < 0 || this.chunks[last] !== b) return;
    const from = last === 0 ? this.pos : 0;
    this.chunks[last] = b.slice(from);
    this.owned[last] = true;
    if (last === 0) this.pos = 0;
  }

  /** Byte at offset `i` from the read position (i < total). */
  private peek(i: number): number {
    let idx = 0;
    let off = this.pos + i;
    while (off >= this.chunks[idx]!.length) {
      off -= this.chunks[idx]!.length;
      idx++;
    }
    return this.chunks[idx]![off]!;
  }

  private shift(): void {
    this.chunks.shift();
    this.owned.shift();
    this.pos = 0;
  }

  /**
   * The next complete record, or undefined. `maxLength` is checked on the
   * header alone, so an oversized record is refused before it is buffered.
   * A record inside one chunk is a view of it (no copy); only a record that
   * spans chunks is copied together.
   */
  next(maxLength: number, maxApplicationData = maxLength): RawRecord | undefined {
    if (this.total < RecordLimits.headerLength) return undefined;
    const first = this.chunks[0]!;
    const p = this.pos;
    let type: number;
    let version: number;
    let length: number;
    if (first.length - p >= RecordLimits.headerLength) {
      // The usual case: the header lies in the first chunk.
      type = first[p]!;
      version = (first[p + 1]! << 8) | first[p + 2]!;
      length = (first[p + 3]! << 8) | first[p + 4]!;
    } else {
      type = this.peek(0);
      version = (this.peek(1) << 8) | this.peek(2);
      length = (this.peek(3) << 8) | this.peek(4);
    }
    if (
      type !== ContentType.change_cipher_spec &&
      type !== ContentType.alert &&
      type !== ContentType.handshake &&
      type !== ContentType.application_data
    ) {
      // §5: "If a TLS implementation receives an unexpected record type, it MUST terminate the connection with an unexpected_message alert."
      fail('UnknownRecordType', type);
    }
    if ((version >>> 8) !== 0x03) {
      // legacy_record_version is otherwise ignored (§5.1), but a first byte other than 3 is not TLS at all.
      fail('RecordVersionNotTls', version);
    }
    // §5.1 / §5.2: "MUST terminate the connection with a record_overflow alert".
    const max = type === ContentType.application_data ? maxApplicationData : maxLength;
    if (length > max) fail('RecordOverflow', length, max);
    const n = RecordLimits.headerLength + length;
    if (this.total < n) return undefined;
    let whole: Uint8Array;
    let owned: boolean;
    let borrowed = false;
    if (first.length - p >= n) {
      whole = first.subarray(p, p + n);
      owned = this.owned[0]!;
      borrowed = first === this.borrowedChunk;
      this.pos += n;
      if (this.pos === first.length) this.shift();
    } else {
      whole = new Uint8Array(n);
      owned = true;
      let o = 0;
      while (o < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length - this.pos, n - o);
        whole.set(c.subarray(this.pos, this.pos + k), o);
        o += k;
        this.pos += k;
        if (this.pos === c.length) this.shift();
      }
    }
    this.total -= n;
    return { type, version, header: whole.subarray(0, 5), fragment: whole.subarray(5), owned, borrowed };
  }
}

/** §5.3: per-record nonce = iv XOR (64-bit big-endian sequence number, left-padded to the iv length). */
export function recordNonce(iv: Uint8Array, seq: number): Uint8Array {
  return fillNonce(new Uint8Array(iv.length), iv, seq);
}

/** recordNonce into `nonce` (iv.length bytes), for a reused buffer. */
function fillNonce(nonce: Uint8Array, iv: Uint8Array, seq: number): Uint8Array {
  nonce.set(iv);
  const hi = Math.floor(seq / 0x100000000);
  const lo = seq >>> 0;
  const n = nonce.length;
  nonce[n - 8]! ^= (hi >>> 24) & 0xff;
  nonce[n - 7]! ^= (hi >>> 16) & 0xff;
  nonce[n - 6]! ^= (hi >>> 8) & 0xff;
  nonce[n - 5]! ^= hi & 0xff;
  nonce[n - 4]! ^= (lo >>> 24) & 0xff;
  nonce[n - 3]! ^= (lo >>> 16) & 0xff;
  nonce[n - 2]! ^= (lo >>> 8) & 0xff;
  nonce[n - 1]! ^= lo & 0xff;
  return nonce;
}

/** §5.3: a sequence number must never wrap; we stop far before 2^64 (JS integers are exact to 2^53). */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

export interface InnerPlaintext {
  readonly type: number;
  readonly content: Uint8Array;
}

/** One direction's record protection: seal outgoing records, open incoming ones. */
export interface RecordProtection {
  readonly sequence: number;
  /**
   * The connection is over (ServerConnection.forgetKeys): the IV zeroed,
   * the key zeroed or dropped (forgetKey). Nothing is sealed or opened
   * afterwards: every use throws.
   */
  forget(): void;
  seal(type: number, content: Uint8Array, padding?: number): MaybePromise<Uint8Array>;
  open(record: RawRecord): MaybePromise<InnerPlaintext | null>;
  /**
   * Open a record as if it had sequence number `seq`, without touching
   * this direction's state; `advance()` then moves past it. For decrypting
   * several records concurrently and consuming the results in order.
   */
  openAt(record: RawRecord, seq: number): MaybePromise<InnerPlaintext | null>;
  advance(): void;
  /** Records marked `owned` are decrypted in place (the plaintext is a view of the record). */
  readonly opensInPlace: boolean;
  /**
   * seal() consumes its content before returning (a synchronous key): the
   * caller may reuse the content's memory afterwards. Absent means false.
   */
  readonly synchronous?: boolean;
  /**
   * Out-of-place opening (synchronous keys with AeadKey.openInto): open()
   * of the next record with its plaintext written to `out` at `offset` and
   * the record's bytes untouched (a borrowed read buffer, see
   * ServerConnection.receiveBorrowed). The fragment's length minus the
   * overhead must fit in `out` from `offset`.
   */
  readonly opensInto?: boolean;
  openInto?(record: RawRecord, out: Uint8Array, offset: number): InnerPlaintext | null;
  /**
   * Several records into one buffer (one allocation, one socket write):
   * present when the key can (synchronous, AeadKey.sealRecordInto).
   * `sealedLength` is the record's size on the wire; sealInto writes it at
   * `offset` of `out`.
   */
  sealedLength?(contentLength: number, padding: number): number;
  sealInto?(type: number, content: Uint8Array, padding: number, out: Uint8Array, offset: number): void;
}

/**
 * Open the next record in sequence. The sequence number advances only for
 * records that authenticate (a failed record is fatal, or skipped early
 * data that was never in this key's sequence).
 */
function openNext(p: RecordProtection, record: RawRecord): MaybePromise<InnerPlaintext | null> {
  const result = p.openAt(record, p.sequence);
  if (!isPromise(result)) {
    if (result) p.advance();
    return result;
  }
  return result.then((r) => {
    if (r) p.advance();
    return r;
  });
}

/**
 * The key once it is known synchronously: the record layer then runs
 * without a promise or a closure per record, and reuses its nonce, AAD and
 * header buffers (a synchronous provider consumes them before returning).
 */
function syncKeyOf(key: MaybePromise<AeadKey>): AeadKey | undefined {
  return !isPromise(key) && key.synchronous ? key : undefined;
}

function forgotten(): never {
  throw new Error('AEAD key used after its connection forgot it');
}

/** What a protection holds instead of a key it dropped (forgetKey): every use throws. */
const FORGOTTEN_KEY: AeadKey = {
  algorithm: 'AES-128-GCM',
  synchronous: true,
  seal: forgotten,
  sealRecord: forgotten,
  sealRecordInto: forgotten,
  open: forgotten,
  openInPlace: forgotten,
  openInto: forgotten,
};

/**
 * RecordProtection.forget(): the key zeroed and released by its provider
 * (AeadKey.forget), or dropped when the provider cannot; a key still being
 * imported (a promise) is forgotten when it arrives (the constructor's
 * then(), which would otherwise put it back).
 */
function forgetKey(key: MaybePromise<AeadKey>): AeadKey {
  if (isPromise(key) || !key.forget) return FORGOTTEN_KEY;
  key.forget();
  return key;
}

/**
 * The synchronous path's nonce, AAD and header buffers: one set for the
 * whole process, not one per protection (a session holds two protections
 * for its whole life). Safe because a synchronous key has consumed them
 * when it returns (AeadKey.synchronous) and JavaScript seals or opens one
 * record at a time; each record fills them anew before its AEAD call. (A
 * native provider also pays once per process, not per session, for V8
 * moving these small arrays off its heap the first time C reads them.)
 */
const SYNC = {
  nonce: new Uint8Array(12),
  /** A record header: TLS 1.3 AAD and prefix, TLS 1.2 prefix without an explicit nonce. */
  header: new Uint8Array(5),
  /** TLS 1.2 with an explicit nonce: header || nonce_explicit (RFC 5288 §3). */
  prefix: new Uint8Array(13),
  /** TLS 1.2 additional_data (RFC 5246 §6.2.3.3). */
  aad: new Uint8Array(13),
  trailer: new Uint8Array(1),
};

/** One direction's TLS 1.3 protection state: key, IV and sequence number. */
export class Tls13Protection implements RecordProtection {
  private seq = 0;
  private key: MaybePromise<AeadKey>;
  private sync: AeadKey | undefined;

  constructor(provider: CryptoProvider, readonly suite: Tls13Suite, key: Uint8Array, private readonly iv: Uint8Array) {
    // §5.3: the per-record nonce is iv_length bytes, which every AEAD here fixes at 12 (SYNC.nonce).
    if (iv.length !== 12) throw new Error('TLS 1.3 AEAD: wrong IV length');
    this.key = provider.aeadKey(suite.aead, key);
    this.sync = syncKeyOf(this.key);
    if (isPromise(this.key)) this.key.then((k) => (this.key = this.key === FORGOTTEN_KEY ? forgetKey(k) : k), () => undefined);
  }

  get opensInPlace(): boolean {
    return this.sync?.openInPlace !== undefined;
  }

  get synchronous(): boolean {
    return this.sync !== undefined;
  }

  get opensInto(): boolean {
    return this.sync?.openInto !== undefined;
  }

  get sequence(): number {
    return this.seq;
  }

  forget(): void {
    this.iv.fill(0);
    const key = forgetKey(this.key);
    this.key = key;
    if (this.sync) this.sync = key;
  }

  private nextSeq(): number {
    if (this.seq >= MAX_SEQUENCE) fail('SequenceExhausted');
    return this.seq++;
  }

  /** open() into `out` at `offset`; only when opensInto. */
  openInto(record: RawRecord, out: Uint8Array, offset: number): InnerPlaintext | null {
    // §5.2: the AEAD output is at most 2^14 + 256 bytes; the tag alone is 16.
    if (record.fragment.length < AEAD_TAG_LENGTH + 1) fail('RecordShorterThanTag');
    const nonce = fillNonce(SYNC.nonce, this.iv, this.seq);
    if (!this.sync!.openInto!(nonce, record.header, record.fragment, out, offset)) return null;
    const inner = parseInner(out.subarray(offset, offset + record.fragment.length - AEAD_TAG_LENGTH));
    this.advance();
    return inner;
  }

  /**
   * Seal one record: returns header || encrypted_record. `padding` zero
   * bytes are appended to the inner plaintext (§5.4).
   */
  seal(type: number, content: Uint8Array, padding = 0): MaybePromise<Uint8Array> {
    const seq = this.nextSeq();
    const innerLen = content.length + 1 + padding;
    if (innerLen > RecordLimits.maxPlaintext + 1 + 255) throw new Error('record content too long');
    const length = innerLen + AEAD_TAG_LENGTH;
    const k = this.sync;
    if (k?.sealRecord) {
      const header = this.syncHeader(length);
      return k.sealRecord(fillNonce(SYNC.nonce, this.iv, seq), header, header, content, this.syncTrailer(type, padding)) as Uint8Array;
    }
    const header = Uint8Array.of(ContentType.application_data, 0x03, 0x03, length >>> 8, length & 0xff);
    const nonce = recordNonce(this.iv, seq);
    const trailer = new Uint8Array(1 + padding);
    trailer[0] = type;
    const withKey = (k: AeadKey): MaybePromise<Uint8Array> => {
      if (k.sealRecord) return k.sealRecord(nonce, header, header, content, trailer);
      const inner = new Uint8Array(innerLen);
      inner.set(content, 0);
      inner.set(trailer, content.length);
      const sealed = k.seal(nonce, header, inner);
      return isPromise(sealed) ? sealed.then((ct) => concat(header, ct)) : concat(header, sealed);
    };
    const key = this.key;
    return isPromise(key) ? key.then(withKey) : withKey(key);
  }

  get sealedLength(): ((contentLength: number, padding: number) => number) | undefined {
    return this.sync?.sealRecordInto ? tls13SealedLength : undefined;
  }

  /** The synchronous paths' reused record header (no allocation per record). */
  private syncHeader(length: number): Uint8Array {
    const header = SYNC.header;
    header[0] = ContentType.application_data;
    header[1] = 0x03;
    header[2] = 0x03;
    header[3] = length >>> 8;
    header[4] = length & 0xff;
    return header;
  }

  /** TLSInnerPlaintext's tail, type || zeros[padding] (§5.2): the reused one-byte buffer unless padded. */
  private syncTrailer(type: number, padding: number): Uint8Array {
    const trailer = padding ? new Uint8Array(1 + padding) : SYNC.trailer;
    trailer[0] = type;
    return trailer;
  }

  /** seal() into `out` at `offset` (sealedLength bytes); only when sealedLength is defined. */
  sealInto(type: number, content: Uint8Array, padding: number, out: Uint8Array, offset: number): void {
    const k = this.sync!;
    const seq = this.nextSeq();
    const innerLen = content.length + 1 + padding;
    if (innerLen > RecordLimits.maxPlaintext + 1 + 255) throw new Error('record content too long');
    const header = this.syncHeader(innerLen + AEAD_TAG_LENGTH);
    const trailer = this.syncTrailer(type, padding);
    k.sealRecordInto!(fillNonce(SYNC.nonce, this.iv, seq), header, header, content, trailer, out, offset);
  }

  /**
   * Open one protected record. Returns null when authentication fails
   * (the caller decides: bad_record_mac, or skipped early data).
   */
  open(record: RawRecord): MaybePromise<InnerPlaintext | null> {
    return openNext(this, record);
  }

  openAt(record: RawRecord, seq: number): MaybePromise<InnerPlaintext | null> {
    // §5.2: the AEAD output is at most 2^14 + 256 bytes; the tag alone is 16.
    if (record.fragment.length < AEAD_TAG_LENGTH + 1) fail('RecordShorterThanTag');
    const k = this.sync;
    if (k) {
      const nonce = fillNonce(SYNC.nonce, this.iv, seq);
      const opened = record.owned && k.openInPlace ? k.openInPlace(nonce, record.header, record.fragment) : k.open(nonce, record.header, record.fragment);
      return parseInner(opened as Uint8Array | null);
    }
    const nonce = recordNonce(this.iv, seq);
    const withKey = (k: AeadKey): MaybePromise<InnerPlaintext | null> => {
      const opened = k.open(nonce, record.header, record.fragment);
      return isPromise(opened) ? opened.then(parseInner) : parseInner(opened);
    };
    const key = this.key;
    return isPromise(key) ? key.then(withKey) : withKey(key);
  }

  advance(): void {
    this.nextSeq();
  }
}

/**
 * TLS 1.2 AEAD protection (RFC 5246 §6.2.3.3):
 *   additional_data = seq_num + TLSCompressed.type + TLSCompressed.version + TLSCompressed.length
 * AES-GCM (RFC 5288 §3): nonce = salt (4 bytes from the key block) || nonce_explicit (8 bytes,
 * sent in the record; we use the sequence number, as §3 suggests).
 * ChaCha20-Poly1305 (RFC 7905 §2): nonce = 12-byte IV XOR the padded sequence number, nothing explicit.
 */
export class Tls12Protection implements RecordProtection {
  private seq = 0;
  private key: MaybePromise<AeadKey>;
  private sync: AeadKey | undefined;
  private readonly explicitNonce: boolean;

  constructor(provider: CryptoProvider, aead: AeadAlgorithm, key: Uint8Array, private readonly iv: Uint8Array) {
    this.key = provider.aeadKey(aead, key);
    this.sync = syncKeyOf(this.key);
    if (isPromise(this.key)) this.key.then((k) => (this.key = this.key === FORGOTTEN_KEY ? forgetKey(k) : k), () => undefined);
    this.explicitNonce = aead !== 'CHACHA20-POLY1305';
    if (iv.length !== (this.explicitNonce ? 4 : 12)) throw new Error('TLS 1.2 AEAD: wrong IV length');
  }

  get opensInPlace(): boolean {
    return this.sync?.openInPlace !== undefined;
  }

  get synchronous(): boolean {
    return this.sync !== undefined;
  }

  get opensInto(): boolean {
    return this.sync?.openInto !== undefined;
  }

  /** open() into `out` at `offset`; only when opensInto. */
  openInto(record: RawRecord, out: Uint8Array, offset: number): InnerPlaintext | null {
    const seq = this.seq;
    const plainLength = this.checkedPlainLength(record);
    const ct = this.recordNonce(record, seq, SYNC.nonce);
    const aad = fillAdditionalData(SYNC.aad, seq, record.type, plainLength);
    if (!this.sync!.openInto!(SYNC.nonce, aad, ct, out, offset)) return null;
    this.advance();
    return { type: record.type, content: out.subarray(offset, offset + ct.length - AEAD_TAG_LENGTH) };
  }

  get sequence(): number {
    return this.seq;
  }

  forget(): void {
    this.iv.fill(0);
    const key = forgetKey(this.key);
    this.key = key;
    if (this.sync) this.sync = key;
  }

  private nextSeq(): number {
    if (this.seq >= MAX_SEQUENCE) fail('SequenceExhausted');
    return this.seq++;
  }

  private nonce(seq: number): { nonce: Uint8Array; explicit?: Uint8Array } {
    if (!this.explicitNonce) return { nonce: recordNonce(this.iv, seq) };
    const explicit = seqBytes(seq);
    const nonce = new Uint8Array(12);
    nonce.set(this.iv, 0);
    nonce.set(explicit, 4);
    return { nonce, explicit };
  }

  get sealedLength(): ((contentLength: number, padding: number) => number) | undefined {
    if (!this.sync?.sealRecordInto) return undefined;
    const overhead = 5 + (this.explicitNonce ? 8 : 0) + AEAD_TAG_LENGTH;
    return (contentLength) => overhead + contentLength;
  }

  /** seal() into `out` at `offset`; only when sealedLength is defined. TLS 1.2 has no padding. */
  sealInto(type: number, content: Uint8Array, _padding: number, out: Uint8Array, offset: number): void {
    if (content.length > RecordLimits.maxPlaintext) throw new Error('record content too long');
    const seq = this.nextSeq();
    const { nonce, aad, prefix } = this.fillSync(seq, type, content.length);
    this.sync!.sealRecordInto!(nonce, aad, prefix, content, EMPTY, out, offset);
  }

  /** Nonce, AAD and header (+ explicit nonce) of record `seq`, in the reused buffers. */
  private fillSync(seq: number, type: number, contentLength: number): { nonce: Uint8Array; aad: Uint8Array; prefix: Uint8Array } {
    const length = (this.explicitNonce ? 8 : 0) + contentLength + AEAD_TAG_LENGTH;
    const aad = fillAdditionalData(SYNC.aad, seq, type, contentLength);
    const prefix = this.explicitNonce ? SYNC.prefix : SYNC.header;
    prefix[0] = type;
    prefix[1] = 0x03;
    prefix[2] = 0x03;
    prefix[3] = length >>> 8;
    prefix[4] = length & 0xff;
    const nonce = SYNC.nonce;
    if (this.explicitNonce) {
      nonce.set(this.iv, 0);
      // nonce_explicit = the sequence number: the AAD's first 8 bytes.
      nonce.set(aad.subarray(0, 8), 4);
      prefix.set(aad.subarray(0, 8), 5);
    } else {
      fillNonce(nonce, this.iv, seq);
    }
    return { nonce, aad, prefix };
  }

  seal(type: number, content: Uint8Array): MaybePromise<Uint8Array> {
    if (content.length > RecordLimits.maxPlaintext) throw new Error('record content too long');
    const seq = this.nextSeq();
    const length = (this.explicitNonce ? 8 : 0) + content.length + AEAD_TAG_LENGTH;
    const k = this.sync;
    if (k?.sealRecord) {
      const { nonce, aad, prefix } = this.fillSync(seq, type, content.length);
      return k.sealRecord(nonce, aad, prefix, content, EMPTY) as Uint8Array;
    }
    const aad = additionalData(seq, type, content.length);
    const { nonce, explicit } = this.nonce(seq);
    const header = Uint8Array.of(type, 0x03, 0x03, length >>> 8, length & 0xff);
    const prefix = explicit ? concat(header, explicit) : header;
    const withKey = (k: AeadKey): MaybePromise<Uint8Array> => {
      if (k.sealRecord) return k.sealRecord(nonce, aad, prefix, content, EMPTY);
      const sealed = k.seal(nonce, aad, content);
      return isPromise(sealed) ? sealed.then((ct) => concat(prefix, ct)) : concat(prefix, sealed);
    };
    const key = this.key;
    return isPromise(key) ? key.then(withKey) : withKey(key);
  }

  open(record: RawRecord): MaybePromise<InnerPlaintext | null> {
    return openNext(this, record);
  }

  /**
   * Fill `nonce` for `record` and return its ciphertext: RFC 5288 §3, the
   * 4-byte salt then the record's 8-byte explicit nonce (which precedes the
   * ciphertext); RFC 7905 §2, the IV XOR the sequence number.
   */
  private recordNonce(record: RawRecord, seq: number, nonce: Uint8Array): Uint8Array {
    if (!this.explicitNonce) {
      fillNonce(nonce, this.iv, seq);
      return record.fragment;
    }
    nonce.set(this.iv, 0);
    nonce.set(record.fragment.subarray(0, 8), 4);
    return record.fragment.subarray(8);
  }

  private checkedPlainLength(record: RawRecord): number {
    const overhead = (this.explicitNonce ? 8 : 0) + AEAD_TAG_LENGTH;
    if (record.fragment.length < overhead) fail('RecordShorterThanNonceAndTag');
    const plainLength = record.fragment.length - overhead;
    // RFC 5246 §6.2.1: TLSPlaintext.length MUST NOT exceed 2^14.
    if (plainLength > RecordLimits.maxPlaintext) fail('Tls12PlaintextOverflow', plainLength);
    return plainLength;
  }

  openAt(record: RawRecord, seq: number): MaybePromise<InnerPlaintext | null> {
    const plainLength = this.checkedPlainLength(record);
    const k = this.sync;
    const nonce = k ? SYNC.nonce : new Uint8Array(12);
    const ct = this.recordNonce(record, seq, nonce);
    if (k) {
      const aad = fillAdditionalData(SYNC.aad, seq, record.type, plainLength);
      const plain = record.owned && k.openInPlace ? k.openInPlace(nonce, aad, ct) : k.open(nonce, aad, ct);
      return plain ? { type: record.type, content: plain as Uint8Array } : null;
    }
    const aad = additionalData(seq, record.type, plainLength);
    const done = (plain: Uint8Array | null): InnerPlaintext | null => (plain ? { type: record.type, content: plain } : null);
    const withKey = (k: AeadKey): MaybePromise<InnerPlaintext | null> => {
      const opened = k.open(nonce, aad, ct);
      return isPromise(opened) ? opened.then(done) : done(opened);
    };
    const key = this.key;
    return isPromise(key) ? key.then(withKey) : withKey(key);
  }

  advance(): void {
    this.nextSeq();
  }
}

const EMPTY = new Uint8Array(0);

/** A TLS 1.3 record on the wire: header, content, type byte, padding, tag. */
function tls13SealedLength(contentLength: number, padding: number): number {
  return 5 + contentLength + 1 + padding + AEAD_TAG_LENGTH;
}

function seqBytes(seq: number): Uint8Array {
  const b = new Uint8Array(8);
  const hi = Math.floor(seq / 0x100000000);
  const lo = seq >>> 0;
  b[0] = hi >>> 24; b[1] = (hi >>> 16) & 0xff; b[2] = (hi >>> 8) & 0xff; b[3] = hi & 0xff;
  b[4] = lo >>> 24; b[5] = (lo >>> 16) & 0xff; b[6] = (lo >>> 8) & 0xff; b[7] = lo & 0xff;
  return b;
}

function additionalData(seq: number, type: number, length: number): Uint8Array {
  return fillAdditionalData(new Uint8Array(13), seq, type, length);
}

/** seq_num(8) || type || version(0x0303) || length into `aad` (13 bytes). */
function fillAdditionalData(aad: Uint8Array, seq: number, type: number, length: number): Uint8Array {
  const hi = Math.floor(seq / 0x100000000);
  const lo = seq >>> 0;
  aad[0] = hi >>> 24; aad[1] = (hi >>> 16) & 0xff; aad[2] = (hi >>> 8) & 0xff; aad[3] = hi & 0xff;
  aad[4] = lo >>> 24; aad[5] = (lo >>> 16) & 0xff; aad[6] = (lo >>> 8) & 0xff; aad[7] = lo & 0xff;
  aad[8] = type;
  aad[9] = 0x03;
  aad[10] = 0x03;
  aad[11] = length >>> 8;
  aad[12] = length & 0xff;
  return aad;
}


/** §5.4: strip zero padding from the end; the last non-zero byte is the real content type. */
function parseInner(plain: Uint8Array | null): InnerPlaintext | null {
  if (!plain) return null;
  let i = plain.length - 1;
  while (i >= 0 && plain[i] === 0) i--;
  // "If a receiving implementation does not find a non-zero octet in the cleartext, it MUST terminate the connection with an unexpected_message alert."
  if (i < 0) fail('NoInnerContentType');
  // §5.4: "The full encoded TLSInnerPlaintext MUST NOT exceed 2^14 + 1 octets."
  if (plain.length > RecordLimits.maxPlaintext + 1) fail('InnerPlaintextOverflow', plain.length);
  return { type: plain[i]!, content: plain.subarray(0, i) };
}

/** An unprotected record (ServerHello, HelloRetryRequest, plaintext alerts, CCS). */
export function plaintextRecord(type: number, fragment: Uint8Array): Uint8Array {
  if (fragment.length > RecordLimits.maxPlaintext) throw new Error('plaintext record too long');
  const out = new Uint8Array(5 + fragment.length);
  out[0] = type;
  out[1] = ProtocolVersion.TLS1_2 >>> 8;
  out[2] = ProtocolVersion.TLS1_2 & 0xff;
  out[3] = fragment.length >>> 8;
  out[4] = fragment.length & 0xff;
  out.set(fragment, 5);
  return out;
}

/**
 * Records leave in the order they were sealed, whatever order the
 * provider's promises resolve in. A slot is taken synchronously when a
 * record is sealed; `write` is called for the longest filled prefix.
 */
export class OutputQueue {
  private readonly slots: (Uint8Array | null)[] = [];
  private readonly callbacks: { upTo: number; fn: () => void }[] = [];
  private base = 0; // index of slots[0]
  private failedError: unknown;

  constructor(private readonly write: (bytes: Uint8Array) => void, private readonly onError: (e: unknown) => void) {}

  /** Slots not yet written. */
  get pending(): number {
    return this.slots.length;
  }

  push(record: MaybePromise<Uint8Array>): void {
    if (this.failedError !== undefined) return;
    const index = this.base + this.slots.length;
    if (isPromise(record)) {
      this.slots.push(null);
      record.then(
        (bytes) => {
          this.slots[index - this.base] = bytes;
          this.flush();
        },
        (e) => {
          this.failedError = e ?? new Error('seal failed');
          this.onError(this.failedError);
        },
      );
    } else {
      this.slots.push(record);
      if (this.slots.length === 1) this.flush();
    }
  }

  /** Call `fn` once everything pushed so far has been written. */
  whenWritten(fn: () => void): void {
    const upTo = this.base + this.slots.length;
    if (this.slots.length === 0) fn();
    else this.callbacks.push({ upTo, fn });
  }

  private flush(): void {
    while (this.slots.length && this.slots[0] !== null) {
      const bytes = this.slots.shift()!;
      this.base++;
      this.write(bytes);
    }
    while (this.callbacks.length && this.callbacks[0]!.upTo <= this.base) this.callbacks.shift()!.fn();
  }
}
