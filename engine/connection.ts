/**
 * A server-side TLS connection, sans-I/O: bytes in with `receive()`,
 * bytes and events out through `ConnectionEvents`. No sockets, no timers.
 *
 * This file is the record-level dispatcher (RFC 8446 §5): it decides what
 * each record means in the current state, enforces the record-level MUSTs
 * and our bounds, feeds handshake messages to the state machine
 * (engine/tls13/*), and owns the protection state of both directions.
 * Every failure ends in `fatal()`, which sends the alert errors.ts names.
 */

import type { Limits, ServerConfig } from './config.js';
import { DEFAULT_LIMITS } from './config.js';
import { concat } from './codec.js';
import { AlertDescription, AlertLevel, ContentType, HandshakeType, ProtocolVersion, RecordLimits, alertName } from './constants.js';
import { isPromise, type CryptoProvider, type MaybePromise } from './crypto/provider.js';
import { PeerAlert, RENEGOTIATION_REFUSED_WARNING, TlsFailure, failure, fail } from './errors.js';
import type { ConnectionError, ConnectionEvents, HandshakeInfo, TlsEvent } from './events.js';
import { HandshakeBuffer } from './handshake-buffer.js';
import { parseAlert } from './messages/alert.js';
import { encodeKeyUpdate } from './messages/key-update.js';
import {
  type InnerPlaintext,
  OutputQueue,
  plaintextRecord,
  type RawRecord,
  type RecordProtection,
  RecordReader,
  Tls13Protection,
} from './record.js';
import type { Tls13Suite } from './suites.js';
import { ExpectClientHello } from './common/expect-client-hello.js';
import { nextTrafficSecret, trafficKeys } from './tls13/key-schedule.js';
import type { ConnectedSecrets, ServerContext, State } from './common/state.js';

export type ConnectionState = 'handshake' | 'open' | 'closed' | 'failed';

/**
 * §5.5: AES-GCM keys may protect at most 2^24.5 full-size records; we
 * update our sending key long before that, for every suite.
 */
export const KEY_UPDATE_AFTER_RECORDS = 2 ** 23;

/** Decrypted application data handed over in one `data` event, at most. */
const MAX_DATA_BATCH = 64 * 1024;

/** Records decrypted concurrently with an asynchronous provider. */
const PIPELINE_DEPTH = 8;

/** The handshake state after forgetKeys(): nothing reaches it (receive() stops at a closed connection). */
const FORGOTTEN: State = {
  name: 'Forgotten',
  handle: (m) => fail('UnexpectedHandshakeMessage', m.type, 'nothing: the connection is closed'),
};

export class ServerConnection {
  state: ConnectionState = 'handshake';
  info: HandshakeInfo | undefined;

  private readonly limits: Limits;
  private readonly reader = new RecordReader();
  private readonly hs: HandshakeBuffer;
  private readonly out: OutputQueue;
  private readonly ctx: ServerContext;
  private hsState: State;

  private readProt: RecordProtection | undefined;
  private writeProt: RecordProtection | undefined;
  /** Negotiated version; undefined until the ClientHello is processed. */
  private version: number | undefined;
  private renegotiationAttempts = 0;
  /** TLS 1.2 session-ID cache entry of this connection, dropped if the connection fails (as OpenSSL does). */
  private cachedSessionId: Uint8Array | undefined;
  private flight: Uint8Array[] = [];
  private secrets: ConnectedSecrets | undefined;

  private busy = false;
  /** The provider answered an open() with a promise: pipeline decryption from now on. */
  private asyncOpen = false;
  /** Records taken from the reader but not yet processed (see pipelined()). */
  private requeued: RawRecord[] = [];
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  /** Every record in `batch` was decrypted in place in an owned buffer (see joinInPlace). */
  private batchInPlace = true;
  /** The record just opened was decrypted in place in an owned buffer. */
  private openedInPlace = false;
  /** receiveBorrowed(): where lent records' plaintext goes, and how much of it is taken. */
  private lent: Uint8Array | undefined;
  private lentUsed = 0;
  private idleWaiters: (() => void)[] = [];
  /** whenBacklogBelow(): one waiter at a time (the owner's reader). */
  private backlogWaiter: { bytes: number; fn: () => void } | undefined;
  private earlyData: 'off' | 'trial' | 'all' = 'off';
  private earlySkipped = 0;
  private sawClientHello = false;
  private changeCipherSpecs = 0;
  private emptyRecords = 0;
  private warningAlerts = 0;
  private keyUpdatesWithoutData = 0;
  /** §4.6.3: the peer asked for a KeyUpdate; ours goes out before our next application data record. */
  private keyUpdateOwed = false;

  /** Largest content per outgoing protected record (RFC 8449 lowers it). */
  private maxFragment: number = RecordLimits.maxPlaintext;

  /** The owner's `event` hook; undefined when it wants none (then no event is built). */
  private readonly emit: ((event: TlsEvent) => void) | undefined;
  /** With `emit`: the events of each record pushed to `out`, in push order (released as the record is written). */
  private readonly outEvents: (readonly TlsEvent[] | undefined)[] = [];
  /** Key changes per direction so far (TLS 1.3: 0 handshake, 1 application, then KeyUpdate). */
  private readKeys = 0;
  private writeKeys = 0;

  private pending: { data: Uint8Array; done?: () => void }[] = [];
  private pendingBytes = 0;
  private closeAfterHandshake = false;
  private closeWaiters: (() => void)[] = [];
  private sentClose = false;
  private receivedClose = false;

  constructor(readonly config: ServerConfig, private readonly events: ConnectionEvents) {
    this.limits = { ...DEFAULT_LIMITS, ...config.limits };
    this.hs = new HandshakeBuffer(this.limits.maxHandshakeMessage);
    const hook = events.event;
    this.emit = hook ? (e) => hook.call(events, e) : undefined;
    this.out = new OutputQueue(
      (b) => {
        if (this.emit) this.written(b);
        this.events.write(b);
      },
      (e) => this.fatal(failure('RecordProtectionFailed', String((e as Error)?.message ?? e))),
    );
    this.ctx = this.makeContext();
    this.hsState = new ExpectClientHello(this.ctx);
  }

  /** Ciphertext received and not yet processed (the owner may pause reading while this is large). */
  get backlog(): number {
    let n = this.reader.buffered;
    for (const r of this.requeued) n += r.header.length + r.fragment.length;
    return n;
  }

  /** False once we sent close_notify or failed. */
  get writable(): boolean {
    return !this.sentClose && this.state !== 'failed' && this.state !== 'closed';
  }

  // ---------------------------------------------------------------- input

  /**
   * Feed ciphertext from the peer. `owned`: the caller gives the bytes away
   * (a socket read's own buffer, not looked at again), so records may be
   * decrypted in place and the plaintext handed to `data` may be a view of
   * them.
   */
  receive(bytes: Uint8Array, owned = false): void {
    if (this.state === 'failed' || this.state === 'closed' || this.receivedClose) return;
    // With an event hook, record events hand out views of the received bytes: keep them intact.
    this.reader.push(bytes, owned && !this.emit);
    this.pump();
  }

  /**
   * Whether receiveBorrowed() decrypts straight from the lent bytes (a
   * synchronous key that opens out of place, no event hook); otherwise it
   * copies them first and lending gains nothing.
   */
  get receivesBorrowed(): boolean {
    return this.state === 'open' && this.readProt?.opensInto === true && !this.emit;
  }

  /** Whether writeBorrowed() seals straight from the lent bytes (a synchronous key). */
  get writesBorrowed(): boolean {
    return this.state === 'open' && this.writeProt?.synchronous === true;
  }

  /**
   * receive() for bytes that are valid only during this call (a read
   * buffer the caller reuses, proxy/tls/shared-reads.ts). Application data
   * records that lie inside them are decrypted out of place into `out`
   * (consecutively from its start, so that one read's records join into
   * one view), and every `data` event for them is emitted before this
   * returns; what else must outlive the call is copied (a partial record
   * at the end, other content types). Returns how many bytes of `out` hold
   * delivered plaintext: 0 means `out` may be reused at once; otherwise it
   * must stay untouched until the consumer is done with that data.
   * `out` must be at least as long as `bytes`.
   */
  receiveBorrowed(bytes: Uint8Array, out: Uint8Array): number {
    if (this.state === 'failed' || this.state === 'closed' || this.receivedClose) return 0;
    if (!this.receivesBorrowed || this.busy || out.length < bytes.length) {
      this.receive(bytes.slice(), true);
      return 0;
    }
    this.lent = out;
    this.lentUsed = 0;
    this.reader.pushBorrowed(bytes);
    try {
      this.pump();
    } finally {
      // Records not yet taken (a partial one, or all after an asynchronous step) must not see the buffer reused.
      this.reader.ownBorrowed();
      this.lent = undefined;
    }
    return this.lentUsed;
  }

  /**
   * Call `fn` once every byte received so far has been processed (records
   * decrypted, events emitted); at once when nothing is pending. Use it on
   * transport EOF before concluding that no more data will come.
   */
  whenIdle(fn: () => void): void {
    if (!this.busy) fn();
    else this.idleWaiters.push(fn);
  }

  /**
   * Call `fn` once `backlog` is at most `bytes` (at once if it is): an
   * owner that paused reading while an asynchronous provider fell behind
   * resumes as soon as the records queued have been handed to it, with the
   * provider still busy, instead of polling. A later call replaces an
   * earlier waiter; failure or close calls it too (nothing more will be
   * taken).
   */
  whenBacklogBelow(bytes: number, fn: () => void): void {
    this.backlogWaiter = { bytes, fn };
    this.checkBacklogWaiter();
  }

  private checkBacklogWaiter(): void {
    const w = this.backlogWaiter;
    if (w && (this.backlog <= w.bytes || this.state === 'failed' || this.receivedClose)) {
      this.backlogWaiter = undefined;
      w.fn();
    }
  }

  /** Records handed to the provider whose bytes have not been passed to `events.write` yet. */
  get sealing(): number {
    return this.out.pending;
  }

  private pump(): void {
    if (this.busy) return;
    try {
      while (this.state !== 'failed' && !this.receivedClose) {
        // §5.1: a plaintext record is at most 2^14 bytes; §5.2: a protected one at most 2^14 + 256,
        // and so is an early-data record skipped after a HelloRetryRequest (no read key yet, §4.2.10).
        const max = this.readProt ? RecordLimits.maxCiphertext : RecordLimits.maxPlaintext;
        const maxAppData = this.earlyData === 'all' ? RecordLimits.maxCiphertext : max;
        let rec = this.requeued.shift() ?? this.nextRecord(max, maxAppData);
        if (!rec) break;
        if (rec.borrowed && !this.opensLent(rec)) rec = ownedCopy(rec);
        const r = this.pipelined(rec) ?? this.processRecord(rec);
        if (isPromise(r)) {
          this.flushData();
          this.busy = true;
          // The records of this batch left the backlog: a paused reader may read on while they are opened.
          if (this.backlogWaiter) this.checkBacklogWaiter();
          r.then(
            () => {
              this.busy = false;
              this.pump();
            },
            (e) => {
              this.busy = false;
              this.fatal(e);
              this.pump();
            },
          );
          return;
        }
      }
    } catch (e) {
      this.fatal(e);
    }
    this.flushData();
    if (this.backlogWaiter) this.checkBacklogWaiter();
    if (!this.busy && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** receiveBorrowed(): `rec` (lent bytes) is opened out of place into the lent buffer (else it is copied first). */
  private opensLent(rec: RawRecord): boolean {
    const out = this.lent;
    return (
      out !== undefined && rec.type === ContentType.application_data && this.state === 'open' && this.earlyData === 'off' &&
      this.readProt?.opensInto === true && out.length - this.lentUsed >= rec.fragment.length
    );
  }

  /**
   * A record opened into the lent buffer: application data stays there (the
   * next record's plaintext follows it); anything else is copied out, since
   * handshake messages and alerts may be kept after the call.
   */
  private openLent(rec: RawRecord): InnerPlaintext | null {
    const inner = this.readProt!.openInto!(rec, this.lent!, this.lentUsed);
    if (!inner) return null;
    if (inner.type !== ContentType.application_data) return { type: inner.type, content: inner.content.slice() };
    this.lentUsed += inner.content.length;
    this.openedInPlace = true;
    return inner;
  }

  /**
   * With an asynchronous provider, decrypt the application-data records
   * already received concurrently (sequence numbers assigned up front) and
   * consume the results in order. A record that changes the read key
   * (KeyUpdate) invalidates the speculative results after it: those records
   * are put back and opened again under the new key. Undefined when there
   * is nothing to pipeline (the synchronous path stays a plain loop).
   */
  private pipelined(first: RawRecord): Promise<void> | undefined {
    const prot = this.readProt;
    if (!this.asyncOpen || !prot || this.state !== 'open' || first.type !== ContentType.application_data) return undefined;
    const batch = [first];
    // A malformed record further on is reported after the good ones before it were delivered.
    let deferred: unknown;
    while (batch.length < PIPELINE_DEPTH) {
      let next: RawRecord | undefined;
      try {
        next = this.requeued.shift() ?? this.nextRecord(RecordLimits.maxCiphertext);
      } catch (e) {
        deferred = e;
        break;
      }
      if (!next) break;
      if (next.type !== ContentType.application_data) {
        // Only protected application_data records are batched (a TLS 1.2 CCS or plaintext alert takes the normal path).
        this.requeued.unshift(next);
        break;
      }
      batch.push(next);
    }
    const base = prot.sequence;
    const results = batch.map((r, i) => Promise.resolve().then(() => prot.openAt(r, base + i)));
    // Results we abandon (after a key change or a failure) must not become unhandled rejections.
    for (const p of results) p.catch(() => undefined);
    return (async () => {
      for (let i = 0; i < batch.length; i++) {
        const opened = await results[i]!;
        if (this.state === 'failed' || this.receivedClose) return;
        if (this.readProt !== prot) {
          // The key changed under the records after i: open them again.
          this.requeued.unshift(...batch.slice(i));
          return;
        }
        if (!opened) fail('RecordAuthenticationFailed');
        prot.advance();
        const r = this.version === ProtocolVersion.TLS1_2 ? this.dispatchTls12(opened.type, opened.content) : this.onOpened(batch[i]!, opened);
        if (isPromise(r)) await r;
      }
      if (deferred !== undefined) throw deferred;
    })();
  }

  /** The next complete record from the peer (reported as read, before it is processed). */
  private nextRecord(max: number, maxAppData?: number): RawRecord | undefined {
    const rec = this.reader.next(max, maxAppData);
    if (rec && this.emit) this.emit({ kind: 'record', direction: 'received', header: rec.header, fragment: rec.fragment });
    return rec;
  }

  private processRecord(rec: RawRecord): MaybePromise<void> {
    if (this.version === ProtocolVersion.TLS1_2) return this.processTls12Record(rec);
    switch (rec.type) {
      case ContentType.change_cipher_spec:
        return this.onChangeCipherSpec(rec.fragment);
      case ContentType.application_data: {
        if (this.earlyData === 'all' || !this.readProt) {
          if (this.earlyData !== 'off') return this.skipEarlyData(rec);
          return fail('ProtectedRecordBeforeKeys');
        }
        if (rec.borrowed) return this.onOpened(rec, this.openLent(rec));
        const opened = this.readProt.open(rec);
        if (isPromise(opened)) {
          this.asyncOpen = true;
          return opened.then((p) => this.onOpened(rec, p));
        }
        this.openedInPlace = rec.owned === true && this.readProt.opensInPlace;
        return this.onOpened(rec, opened);
      }
      case ContentType.handshake:
        // §5: once keys are in use, every record is protected.
        if (this.readProt) fail('PlaintextHandshakeAfterKeyChange');
        return this.onHandshakeFragment(rec.fragment);
      case ContentType.alert:
        // A client that cannot read our ServerHello answers in plaintext; after the
        // handshake an unprotected alert is an unexpected record.
        if (this.readProt && this.state !== 'handshake') fail('PlaintextAlertAfterHandshake');
        return this.onAlert(rec.fragment);
      default:
        return fail('UnexpectedRecordType', rec.type);
    }
  }

  /**
   * TLS 1.2 (RFC 5246 §6.2): the outer content type is the real one, and
   * after the client's ChangeCipherSpec every record is protected.
   */
  private processTls12Record(rec: RawRecord): MaybePromise<void> {
    if (rec.type === ContentType.change_cipher_spec) {
      this.emit?.({ kind: 'change-cipher-spec', direction: 'received' });
      // RFC 5246 §7.1: one byte of value 1; a CCS under protection would start a renegotiation, which we refuse.
      if (this.readProt) fail('ChangeCipherSpecAfterKeyChange');
      if (rec.fragment.length !== 1 || rec.fragment[0] !== 1) fail('MalformedChangeCipherSpec');
      // §7.1 with §5.1's rule that handshake messages must not span a key change.
      if (this.hs.hasPartial) fail('ChangeCipherSpecInsideMessage');
      const next = this.hsState.changeCipherSpec?.();
      if (!next) return fail('ChangeCipherSpecInWrongState', this.hsState.name);
      this.hsState = next;
      return;
    }
    if (!this.readProt) {
      if (rec.type === ContentType.application_data) fail('ApplicationDataBeforeHandshake');
      return this.dispatchTls12(rec.type, rec.fragment);
    }
    if (rec.borrowed) {
      const lent = this.openLent(rec);
      // RFC 5246 §7.2.2: a record that fails authentication is bad_record_mac.
      if (!lent) return fail('RecordAuthenticationFailed');
      return this.dispatchTls12(lent.type, lent.content);
    }
    const opened = this.readProt.open(rec);
    if (isPromise(opened)) {
      this.asyncOpen = true;
      return opened.then((p) => {
        // RFC 5246 §7.2.2: a record that fails authentication is bad_record_mac.
        if (!p) return fail('RecordAuthenticationFailed');
        return this.dispatchTls12(p.type, p.content);
      });
    }
    // RFC 5246 §7.2.2: a record that fails authentication is bad_record_mac.
    if (!opened) return fail('RecordAuthenticationFailed');
    this.openedInPlace = rec.owned === true && this.readProt.opensInPlace;
    return this.dispatchTls12(opened.type, opened.content);
  }

  private dispatchTls12(type: number, content: Uint8Array): MaybePromise<void> {
    switch (type) {
      case ContentType.handshake:
        return this.onHandshakeFragment(content);
      case ContentType.alert:
        return this.onAlert(content);
      case ContentType.application_data:
        return this.onApplicationData(content);
      default:
        return fail('UnexpectedRecordType', type);
    }
  }

  private onOpened(rec: RawRecord, inner: InnerPlaintext | null): MaybePromise<void> {
    if (!inner) {
      if (this.earlyData === 'trial') return this.skipEarlyData(rec);
      // §5.2: "If the decryption fails, the receiver MUST terminate the connection with a bad_record_mac alert."
      return fail('RecordAuthenticationFailed');
    }
    // The first record that authenticates under the handshake key ends early-data skipping (§4.2.10).
    if (this.earlyData === 'trial') this.earlyData = 'off';
    switch (inner.type) {
      case ContentType.handshake:
        return this.onHandshakeFragment(inner.content);
      case ContentType.alert:
        return this.onAlert(inner.content);
      case ContentType.application_data:
        return this.onApplicationData(inner.content);
      case ContentType.change_cipher_spec:
        // §5: "... or which receives a protected change_cipher_spec record MUST abort the handshake with an unexpected_message alert."
        return fail('ProtectedChangeCipherSpec');
      default:
        return fail('UnknownInnerContentType', inner.type);
    }
  }

  /** §4.2.10: skip early data we did not accept, up to a bound. */
  private skipEarlyData(rec: RawRecord): void {
    this.earlySkipped += rec.fragment.length;
    if (this.earlySkipped > this.limits.maxEarlyDataSkip) {
      // §4.2.10: beyond max_early_data_size, "terminate the connection with an unexpected_message alert".
      fail('EarlyDataOverLimit', this.limits.maxEarlyDataSkip);
    }
    this.trace(`skipped ${rec.fragment.length} bytes of early data`);
  }

  private onChangeCipherSpec(fragment: Uint8Array): void {
    this.emit?.({ kind: 'change-cipher-spec', direction: 'received' });
    // §5: a single 0x01 byte may arrive after the first ClientHello and before the peer's Finished;
    // anything else is unexpected_message.
    if (!this.sawClientHello || this.state !== 'handshake') fail('ChangeCipherSpecOutsideHandshake');
    if (fragment.length !== 1 || fragment[0] !== 1) fail('MalformedChangeCipherSpec');
    if (this.hs.hasPartial) fail('ChangeCipherSpecInsideMessage');
    if (++this.changeCipherSpecs > this.limits.maxChangeCipherSpec) fail('RepeatedChangeCipherSpec');
  }

  private async onHandshakeFragment(fragment: Uint8Array): Promise<void> {
    this.hs.push(fragment);
    for (let m = this.hs.pop(); m; m = this.hs.pop()) {
      this.emit?.({ kind: 'message', direction: 'received', type: m.type, protected: this.readProt !== undefined });
      this.hsState = await this.hsState.handle(m);
      this.sawClientHello = true;
      if (this.state === 'failed') return;
    }
  }

  private onAlert(fragment: Uint8Array): void {
    // §5.1: "Handshake messages MUST NOT be interleaved with other record types."
    if (this.hs.hasPartial) fail('AlertInsideMessage');
    const alert = parseAlert(fragment);
    this.emit?.({ kind: 'alert', direction: 'received', level: alert.level, description: alert.description, protected: this.readProt !== undefined });
    this.trace(`received alert ${alert.level === AlertLevel.warning ? 'warning' : 'fatal'}:${alertName(alert.description)}`);
    if (alert.description === AlertDescription.close_notify) {
      if (this.state === 'handshake') throw new PeerAlert(alert.description, alert.level);
      // §6.1: data after close_notify is ignored.
      this.receivedClose = true;
      this.flushData();
      this.events.peerClosed();
      if (this.sentClose) this.finish();
      return;
    }
    const tolerated =
      alert.level === AlertLevel.warning &&
      // §6.1: user_canceled is a closure alert that a close_notify should follow.
      // RFC 5246 §7.2: in TLS 1.2 any warning alert may be ignored.
      (alert.description === AlertDescription.user_canceled || this.version === ProtocolVersion.TLS1_2);
    if (tolerated) {
      if (++this.warningAlerts > this.limits.maxWarningAlerts) fail('TooManyWarningAlerts');
      return;
    }
    // RFC 8446 §6: every other alert, whatever its level, is an error alert in TLS 1.3.
    throw new PeerAlert(alert.description, alert.level);
  }

  private onApplicationData(content: Uint8Array): void {
    if (this.state !== 'open') fail('ApplicationDataBeforeHandshake');
    if (this.hs.hasPartial) fail('ApplicationDataInsideMessage');
    if (content.length === 0) {
      if (++this.emptyRecords > this.limits.maxEmptyRecords) fail('TooManyEmptyRecords');
      return;
    }
    this.emptyRecords = 0;
    this.warningAlerts = 0;
    this.keyUpdatesWithoutData = 0;
    // Records decrypted from one receive() are handed over together: fewer,
    // larger writes downstream (one per socket read rather than per record).
    if (!this.openedInPlace) this.batchInPlace = false;
    this.openedInPlace = false;
    this.batch.push(content);
    this.batchBytes += content.length;
    if (this.batchBytes >= MAX_DATA_BATCH) this.flushData();
  }

  private flushData(): void {
    if (!this.batch.length) return;
    const parts = this.batch;
    const inPlace = this.batchInPlace;
    this.batch = [];
    this.batchBytes = 0;
    this.batchInPlace = true;
    if (parts.length === 1) this.events.data(parts[0]!);
    else if (!inPlace) this.events.data(concat(...parts));
    else {
      // Decrypted in place: each run of records in one socket buffer is joined there (no copy
      // to a new buffer); a record that spanned two reads was copied together and stands alone.
      let start = 0;
      for (let i = 1; i <= parts.length; i++) {
        if (i < parts.length && parts[i]!.buffer === parts[start]!.buffer) continue;
        this.events.data(i - start === 1 ? parts[start]! : (joinInPlace(parts.slice(start, i)) ?? concat(...parts.slice(start, i))));
        start = i;
      }
    }
  }

  // --------------------------------------------------------------- output

  /** Queue application data; `done` runs once its records were passed to `events.write`. */
  write(plaintext: Uint8Array, done?: () => void): void {
    if (!this.writable) throw new Error(`cannot write: connection is ${this.sentClose ? 'closed for writing' : this.state}`);
    if (this.state === 'handshake') {
      this.pendingBytes += plaintext.length;
      if (this.pendingBytes > this.limits.maxPendingPlaintext) {
        throw new Error(`more than ${this.limits.maxPendingPlaintext} bytes written before the handshake completed`);
      }
      this.pending.push({ data: plaintext.slice(), done });
      return;
    }
    this.sealApplicationData(plaintext);
    if (done) this.out.whenWritten(done);
  }

  /**
   * write() for bytes that are valid only during this call (a read buffer
   * the caller reuses, proxy/tls/shared-reads.ts): sealed straight from
   * them when the key is synchronous (seal() consumes its content before
   * returning), copied first otherwise (queued before the handshake
   * completes, or an asynchronous provider that reads them later).
   */
  writeBorrowed(plaintext: Uint8Array, done?: () => void): void {
    const w = this.writeProt;
    // A KeyUpdate on the way would seal the rest under a new key, which need not be synchronous.
    const direct = this.state === 'open' && w?.synchronous === true &&
      !(this.version === ProtocolVersion.TLS1_3 && w.sequence + Math.ceil(plaintext.length / this.maxFragment) + 1 >= KEY_UPDATE_AFTER_RECORDS);
    this.write(direct ? plaintext : plaintext.slice(), done);
  }

  private sealApplicationData(data: Uint8Array): void {
    const prot = () => this.writeProt!;
    const max = this.maxFragment;
    const tls13 = this.version === ProtocolVersion.TLS1_3;
    if (this.keyUpdateOwed && data.length) {
      // §4.6.3: one KeyUpdate answers every update_requested received since our last data
      // ("an implementation which receives multiple KeyUpdates while it is silent ... respond[s] with a single update").
      this.sendKeyUpdate(false);
    }
    const w = this.writeProt!;
    const sealedLength = w.sealedLength;
    const records = Math.ceil(data.length / max);
    // Several records, a synchronous key, no per-record events and no key update due on the way:
    // all of them sealed into one buffer, one write (fewer allocations, one syscall).
    if (records > 1 && sealedLength && w.sealInto && !this.emit && !(tls13 && w.sequence + records >= KEY_UPDATE_AFTER_RECORDS)) {
      const pads: number[] = [];
      let total = 0;
      for (let off = 0; off < data.length; off += max) {
        const len = Math.min(max, data.length - off);
        const pad = this.padding(ContentType.application_data, len);
        pads.push(pad);
        total += sealedLength(len, pad);
      }
      const out = this.events.allocate?.(total).subarray(0, total) ?? new Uint8Array(total);
      let o = 0;
      for (let i = 0, off = 0; off < data.length; off += max, i++) {
        const chunk = data.subarray(off, Math.min(data.length, off + max));
        w.sealInto(ContentType.application_data, chunk, pads[i]!, out, o);
        o += sealedLength(chunk.length, pads[i]!);
      }
      this.pushRecord(out);
      return;
    }
    for (let off = 0; off < data.length; off += max) {
      if (tls13 && prot().sequence >= KEY_UPDATE_AFTER_RECORDS) this.sendKeyUpdate(false);
      const chunk = data.subarray(off, Math.min(data.length, off + max));
      this.pushRecord(prot().seal(ContentType.application_data, chunk, this.padding(ContentType.application_data, chunk.length)));
    }
  }

  private padding(type: number, length: number): number {
    if (!this.config.padding) return 0;
    return Math.max(0, Math.min(this.config.padding(type, length), this.maxFragment - length));
  }

  /**
   * Send close_notify (after everything written so far); `done` runs once
   * it has been passed to `events.write`. Reading continues until the peer
   * closes. During the handshake the close happens when it completes.
   */
  close(done?: () => void): void {
    if (this.state === 'failed' || this.state === 'closed' || this.sentClose) {
      done?.();
      return;
    }
    if (this.state === 'handshake') {
      this.closeAfterHandshake = true;
      if (done) this.closeWaiters.push(done);
      return;
    }
    this.sendAlert(AlertLevel.warning, AlertDescription.close_notify);
    this.sentClose = true;
    const waiters = [...this.closeWaiters, ...(done ? [done] : [])];
    this.closeWaiters = [];
    if (waiters.length) this.out.whenWritten(() => waiters.forEach((w) => w()));
    if (this.receivedClose) this.finish();
  }

  /** §4.6.3: update our sending key; `requestPeer` asks the peer to update too. */
  keyUpdate(requestPeer: boolean): void {
    if (this.state !== 'open' || this.sentClose) throw new Error('key update needs an open connection');
    if (this.version !== ProtocolVersion.TLS1_3) throw new Error('KeyUpdate exists only in TLS 1.3');
    this.sendKeyUpdate(requestPeer);
  }

  private sendKeyUpdate(requestPeer: boolean): void {
    const s = this.secrets!;
    // Any KeyUpdate of ours, whatever prompted it, answers the requests received so far (§4.6.3).
    this.keyUpdateOwed = false;
    this.pushRecord(this.writeProt!.seal(ContentType.handshake, encodeKeyUpdate(requestPeer)), this.emit && [{ kind: 'message', direction: 'sent', type: HandshakeType.key_update, protected: true }]);
    const next = nextTrafficSecret(this.config.provider, s.suite, s.serverTrafficSecret);
    s.serverTrafficSecret.fill(0);
    s.serverTrafficSecret = next;
    this.writeProt = this.protection(s.suite, next);
    this.keysChanged('write');
    this.trace(`sent KeyUpdate${requestPeer ? ' (update_requested)' : ''}`);
  }

  private sendAlert(level: number, description: number): void {
    const body = Uint8Array.of(level, description);
    const prot = this.writeProt;
    this.pushRecord(
      prot ? prot.seal(ContentType.alert, body) : plaintextRecord(ContentType.alert, body),
      this.emit && [{ kind: 'alert', direction: 'sent', level, description, protected: prot !== undefined }],
    );
  }

  /** Queue one record for the peer; `events` are reported just before it is written. */
  private pushRecord(record: MaybePromise<Uint8Array>, events?: readonly TlsEvent[]): void {
    if (this.emit) this.outEvents.push(events);
    this.out.push(record);
  }

  /** With `emit`: a record is being written: its events first, then the record itself. */
  private written(record: Uint8Array): void {
    const events = this.outEvents.shift();
    if (events) for (const e of events) this.emit!(e);
    this.emit!({ kind: 'record', direction: 'sent', header: record.subarray(0, 5), fragment: record.subarray(5) });
  }

  private keysChanged(direction: 'read' | 'write'): void {
    const n = direction === 'read' ? this.readKeys++ : this.writeKeys++;
    if (!this.emit) return;
    const phase = this.version === ProtocolVersion.TLS1_2 ? 'application' : n === 0 ? 'handshake' : n === 1 ? 'application' : 'key-update';
    this.emit({ kind: 'keys', direction, phase });
  }

  /**
   * The owner is done with this connection (its transport is gone): once
   * no handshake step is running, zero the traffic secrets and drop what
   * holds keys or data: the record protection (its AEAD keys), the state
   * of an unfinished handshake (its secrets), plaintext not yet
   * delivered or sent. RFC 8446 §7.1: a secret "SHOULD be erased" once
   * what derives from it is computed; here, also so that an object kept
   * after its session (proxy/base/shape-anchors.ts) keeps no key. Nothing
   * is read or written afterwards: the connection is closed (no event).
   */
  forgetKeys(): void {
    this.whenIdle(() => {
      const s = this.secrets;
      if (s) {
        s.clientTrafficSecret.fill(0);
        s.serverTrafficSecret.fill(0);
      }
      this.secrets = undefined;
      // The protection objects stay, emptied (they keep their shape for V8: proxy/base/shape-anchors.ts).
      this.readProt?.forget();
      this.writeProt?.forget();
      // A completed handshake's state (Connected) holds only the context; an unfinished one may hold its secrets.
      if (this.info === undefined) this.hsState = FORGOTTEN;
      this.pending = [];
      this.pendingBytes = 0;
      this.batch = [];
      this.batchBytes = 0;
      this.requeued = [];
      this.flight = [];
      if (this.state !== 'failed') this.state = 'closed';
    });
  }

  private finish(): void {
    this.state = 'closed';
    this.out.whenWritten(() => this.events.closed?.());
  }

  private fatal(e: unknown): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    // Data decrypted before the failure is still delivered first (spec §2.9 "trickle out").
    this.flushData();
    const duringHandshake = this.state === 'handshake';
    let error: ConnectionError;
    if (e instanceof PeerAlert) {
      error = {
        direction: 'received',
        alert: e.description,
        alertName: alertName(e.description),
        reason: `peer sent ${e.level === AlertLevel.warning ? 'warning' : 'fatal'} alert ${alertName(e.description)}`,
        cause: 'PeerAlert',
        duringHandshake,
      };
    } else {
      const f = e instanceof TlsFailure ? e : failure('InternalError', (e as Error)?.message ?? String(e));
      if (!(e instanceof TlsFailure)) this.trace(`internal error: ${(e as Error)?.stack ?? e}`);
      this.flight = [];
      if (!this.sentClose) {
        try {
          this.sendAlert(AlertLevel.fatal, f.alert);
        } catch {
          // nothing more we can do; the owner closes the socket
        }
      }
      error = { direction: 'sent', alert: f.alert, alertName: alertName(f.alert), reason: f.message, cause: f.code, duringHandshake };
    }
    this.state = 'failed';
    this.pending = [];
    this.trace(`failed: ${error.reason}`);
    if (this.cachedSessionId) {
      this.config.sessionCache?.remove(this.cachedSessionId);
      this.cachedSessionId = undefined;
    }
    const closeWaiters = this.closeWaiters;
    this.closeWaiters = [];
    this.out.whenWritten(() => {
      this.events.failed(error);
      for (const w of closeWaiters) w();
    });
  }

  private trace(message: string): void {
    this.events.trace?.(message);
  }

  private protection(suite: Tls13Suite, secret: Uint8Array): RecordProtection {
    const { key, iv } = trafficKeys(this.config.provider, suite, secret);
    return new Tls13Protection(this.config.provider, suite, key, iv);
  }

  // ------------------------------------------------- what states may do

  private makeContext(): ServerContext {
    return new ServerConnection.StateContext(this);
  }

  /**
   * What the states may do to this connection (ServerContext,
   * common/state.ts). One small object per connection with its methods on
   * a shared prototype: an object literal of closures over the connection
   * cost ~1.3 KB for each session's whole life (bench/README.md, idle
   * connections). Declared inside ServerConnection, so that it alone may
   * reach the connection's private state.
   */
  private static readonly StateContext = class StateContext implements ServerContext {
    readonly config: ServerConfig;
    readonly provider: CryptoProvider;
    readonly limits: Limits;

    constructor(private readonly c: ServerConnection) {
      this.config = c.config;
      this.provider = c.config.provider;
      this.limits = c.limits;
    }

    random(length: number): Uint8Array {
      const own = this.config.random;
      return own ? own(length) : this.provider.random(length);
    }

    trace(message: string): void {
      this.c.trace(message);
    }

    event(event: TlsEvent): void {
      this.c.emit?.(event);
    }

    sendHandshake(message: Uint8Array): void {
      this.c.flight.push(message);
    }

    sendChangeCipherSpec(): void {
      this.flush();
      this.c.pushRecord(plaintextRecord(ContentType.change_cipher_spec, Uint8Array.of(1)), this.c.emit && [{ kind: 'change-cipher-spec', direction: 'sent' }]);
    }

    flush(): void {
      if (!this.c.flight.length) return;
      const messages = this.c.flight;
      const all = messages.length === 1 ? messages[0]! : concat(...messages);
      this.c.flight = [];
      const prot = this.c.writeProt;
      // Each message is reported with the record that carries its first byte.
      let next = 0;
      let start = 0;
      // Handshake messages are coalesced into as few records as the 2^14 limit allows (§5.1).
      const max = prot ? this.c.maxFragment : RecordLimits.maxPlaintext;
      for (let off = 0; off < all.length; off += max) {
        const end = Math.min(all.length, off + max);
        const chunk = all.subarray(off, end);
        let events: TlsEvent[] | undefined;
        if (this.c.emit) {
          events = [];
          for (; next < messages.length && start < end; start += messages[next]!.length, next++) {
            events.push({ kind: 'message', direction: 'sent', type: messages[next]![0]!, protected: prot !== undefined });
          }
        }
        this.c.pushRecord(
          prot ? prot.seal(ContentType.handshake, chunk, this.c.padding(ContentType.handshake, chunk.length)) : plaintextRecord(ContentType.handshake, chunk),
          events,
        );
      }
    }

    setVersion(version: number): void {
      this.c.version = version;
      this.c.emit?.({ kind: 'version', version });
    }

    setWriteProtection(protection: RecordProtection): void {
      this.flush();
      this.c.writeProt = protection;
      this.c.keysChanged('write');
    }

    setReadProtection(protection: RecordProtection): void {
      if (this.c.hs.hasPartial) fail('HandshakeSpansKeyChange');
      this.c.readProt = protection;
      this.c.keysChanged('read');
    }

    warning(message: string): void {
      this.c.events.warning?.(message);
    }

    noteCachedSession(id: Uint8Array): void {
      this.c.cachedSessionId = id.slice();
    }

    keylog(label: string, clientRandom: Uint8Array, secret: Uint8Array): void {
      this.c.events.keylog?.(label, clientRandom, secret);
    }

    refuseRenegotiation(): void {
      // RFC 5746 §4.4 / RFC 5246 §7.4.1.2: a server that will not renegotiate answers with a
      // no_renegotiation warning and the session goes on; repeated attempts end it.
      if (++this.c.renegotiationAttempts > this.c.limits.maxRenegotiationAttempts) {
        fail('RenegotiationRepeated', this.c.renegotiationAttempts);
      }
      this.c.sendAlert(AlertLevel.warning, RENEGOTIATION_REFUSED_WARNING);
      this.c.events.warning?.('client attempted renegotiation: refused with a no_renegotiation warning');
    }

    setWriteSecret(suite: Tls13Suite, secret: Uint8Array): void {
      this.flush();
      this.c.writeProt = this.c.protection(suite, secret);
      this.c.keysChanged('write');
    }

    setReadSecret(suite: Tls13Suite, secret: Uint8Array): void {
      // §5.1: "Handshake messages MUST NOT span key changes ... If a handshake message is followed
      // by a key change, it MUST be aligned to a record boundary", else unexpected_message.
      if (this.c.hs.hasPartial) fail('HandshakeSpansKeyChange');
      this.c.readProt = this.c.protection(suite, secret);
      this.c.keysChanged('read');
    }

    setPeerRecordSizeLimit(limit: number): void {
      // RFC 8449 §4: in TLS 1.3 the limit counts the content type byte (and padding).
      this.c.maxFragment = Math.min(RecordLimits.maxPlaintext, limit - 1);
    }

    skipEarlyData(mode: 'trial' | 'all' | 'off'): void {
      this.c.earlyData = mode;
    }

    handshakeComplete(info: HandshakeInfo, secrets?: ConnectedSecrets): void {
      if (secrets) this.c.secrets = secrets;
      this.c.info = info;
      this.c.state = 'open';
      this.c.events.handshake(info);
      const pending = this.c.pending;
      this.c.pending = [];
      this.c.pendingBytes = 0;
      for (const p of pending) {
        if (!this.c.writable) break;
        this.c.write(p.data, p.done);
      }
      if (this.c.closeAfterHandshake) this.c.close();
    }

    peerKeyUpdate(requested: boolean): void {
      // §4.6.3 with §5.1: KeyUpdate must end its record, since the key changes after it.
      if (this.c.hs.hasPartial) fail('KeyUpdateNotAtRecordEnd');
      if (++this.c.keyUpdatesWithoutData > this.c.limits.maxKeyUpdatesWithoutData) fail('TooManyKeyUpdates');
      const s = this.c.secrets!;
      const next = nextTrafficSecret(this.c.config.provider, s.suite, s.clientTrafficSecret);
      s.clientTrafficSecret.fill(0);
      s.clientTrafficSecret = next;
      this.c.readProt = this.c.protection(s.suite, next);
      this.c.keysChanged('read');
      this.c.trace(`received KeyUpdate${requested ? ' (update_requested)' : ''}`);
      // §4.6.3: answer update_requested with our own KeyUpdate "prior to sending its next Application
      // Data record": once for all the requests received until then (sealApplicationData).
      if (requested && !this.c.sentClose) this.c.keyUpdateOwed = true;
    }
  };
}

/** A record with its own copy of the bytes (from a lent buffer). */
function ownedCopy(rec: RawRecord): RawRecord {
  const whole = new Uint8Array(rec.header.length + rec.fragment.length);
  whole.set(rec.header, 0);
  whole.set(rec.fragment, rec.header.length);
  return { type: rec.type, version: rec.version, header: whole.subarray(0, rec.header.length), fragment: whole.subarray(rec.header.length), owned: true, borrowed: false };
}

/**
 * Plaintexts decrypted in place, in order, inside the same owned buffer
 * (the records of one socket read): moved together over the record headers
 * and tags between them (memmove, no allocation), as one view. Undefined
 * when they do not lie in one buffer in increasing order.
 */
function joinInPlace(parts: Uint8Array[]): Uint8Array | undefined {
  const first = parts[0]!;
  const buf = first.buffer;
  let end = first.byteOffset + first.length;
  let total = first.length;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.buffer !== buf || p.byteOffset < end) return undefined;
    end = p.byteOffset + p.length;
    total += p.length;
  }
  const all = new Uint8Array(buf, first.byteOffset, end - first.byteOffset);
  let o = first.length;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    all.copyWithin(o, p.byteOffset - first.byteOffset, p.byteOffset - first.byteOffset + p.length);
    o += p.length;
  }
  return all.subarray(0, total);
}
