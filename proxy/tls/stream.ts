/**
 * TlsServerStream: a stream.Duplex of plaintext over a net.Socket of
 * ciphertext, driving the engine's sans-I/O ServerConnection.
 *
 * Backpressure:
 *  - peer → us: decrypted data is push()ed; when push() says stop, the
 *    socket is paused until _read() asks for more. The socket is also
 *    paused while the engine holds more than `maxBacklog` bytes of
 *    unprocessed ciphertext (an asynchronous provider can fall behind).
 *  - us → peer: a _write() completes when its records were handed to the
 *    socket and the socket does not need a 'drain'.
 *
 * Closing (tlsproxy-postfix.md §2.9):
 *  - end() on our side: pending writes are flushed, close_notify is sent,
 *    the socket is ended (half-close); reading continues until the peer
 *    closes.
 *  - the peer's close_notify (or a plain TCP EOF after the handshake, which
 *    Postfix does not treat as an error): push(null); we may still write
 *    until our side ends.
 *  - a fatal TLS error, a socket error or a timeout: already-decrypted data
 *    is still delivered ('end' first), then the stream is destroyed with a
 *    TlsStreamError ('error', then 'close'). During the handshake there is
 *    no data, so 'error' comes at once. The alert the engine sent is flushed
 *    before the socket is closed.
 *
 * The socket should allow half-open connections (net.Server/net.connect
 * with allowHalfOpen: true), otherwise Node ends our sending side as soon
 * as the peer's FIN arrives.
 *
 * Events besides the Duplex ones: 'secure' (HandshakeInfo) once the
 * handshake completed.
 */

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { ServerConfig } from '../../engine/config.js';
import { ServerConnection } from '../../engine/connection.js';
import type { ConnectionError, HandshakeInfo, TlsEvent } from '../../engine/events.js';
import { SizedBuffers, leasePlaintext, readIntoSharedBuffer, releasePlaintext, type PlaintextLease } from './shared-reads.js';

export interface TlsServerStreamOptions {
  /** Milliseconds for the whole handshake; 0 or undefined = no limit. */
  handshakeTimeout?: number;
  /** Milliseconds without socket activity after the handshake; 0 or undefined = no limit. */
  idleTimeout?: number;
  /** Unprocessed ciphertext (bytes) above which the socket is paused. Default 256 KiB. */
  maxBacklog?: number;
  /** Readable side high-water mark (bytes). */
  readableHighWaterMark?: number;
  /** Engine trace lines (verbose logging). */
  trace?: (message: string) => void;
  /** The engine's typed events (engine/events.ts TlsEvent), for the level 2-4 log lines (log.ts). Must not throw. */
  event?: (event: TlsEvent) => void;
  /** Non-fatal protocol events an operator should see (refused renegotiation...). */
  warning?: (message: string) => void;
  /** Session secrets in NSS key log form (tlsproxy_tls_keylog_file, keylog.ts); absent = none are exported. */
  keylog?: (label: string, clientRandom: Uint8Array, secret: Uint8Array) => void;
}

export type TlsStreamErrorKind =
  /** The engine failed: we sent an alert, or received one. */
  | 'tls'
  /** The peer closed the TCP connection before the handshake completed. */
  | 'eof'
  | 'handshake-timeout'
  | 'idle-timeout'
  /** The socket reported an error or closed under us. */
  | 'socket';

export class TlsStreamError extends Error {
  override readonly name = 'TlsStreamError';
  constructor(
    readonly kind: TlsStreamErrorKind,
    message: string,
    readonly duringHandshake: boolean,
    /** For kind 'tls': the engine's account. */
    readonly tls?: ConnectionError,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const DEFAULT_MAX_BACKLOG = 256 * 1024;
/** relay(): records an asynchronous provider may be sealing at once (16 KiB each: as DEFAULT_MAX_BACKLOG). */
const MAX_SEALING = 16;
/** Room for four full TLS records (16 KiB + 256 + header each): what a 64 KiB write becomes. */
const SMALL_OUTPUT = 4 * (16384 + 256 + 5) + 64;
/** Sixteen: what a full shared read of the backend (256 KiB, shared-reads.ts) becomes. */
const LARGE_OUTPUT = 16 * (16384 + 256 + 5) + 64;
/** Output buffer sizes, with the spares a stream keeps of each (those in flight are bounded by RELAY_HIGH_WATER). */
const OUTPUT_SIZES = [
  { size: SMALL_OUTPUT, keep: 4 },
  { size: LARGE_OUTPUT, keep: 1 },
];
/** relay(): bytes queued on a socket before the other side stops reading (each way). */
const RELAY_HIGH_WATER = 256 * 1024;
/** How long a failed session's last bytes (the alert) may take to leave before the socket is dropped. */
const LINGER_MS = 2000;

type Callback = (error?: Error | null) => void;

export class TlsServerStream extends Duplex {
  readonly conn: ServerConnection;
  /** Set once the session failed (the 'error' may still be pending behind unread data). */
  failure: TlsStreamError | undefined;

  private readonly maxBacklog: number;
  private readonly idleTimeout: number;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Paused because the reader does not want more. */
  private readerPaused = false;
  /** relay(): paused because the plaintext socket wants a 'drain'. */
  private relayPaused = false;
  /** relay(): the plaintext socket decrypted data goes to, and comes from. */
  private relayTarget: Socket | undefined;
  /** Output buffers whose write completed (allocateOutput); made on the first multi-record write. */
  private outputs: SizedBuffers<Buffer> | undefined;
  /** relay(): unrelay() was called: nothing more goes to the plaintext socket. */
  private relayDetached = false;
  /** relay(): plain's shared reads (if any) still go to relayData (unrelay(true) stops them). */
  private relayShared = true;
  private relayData: (chunk: Uint8Array, borrowed?: boolean) => void = () => undefined;
  private relayEnd: () => void = () => undefined;
  private readonly ownOutput = new WeakSet<ArrayBufferLike>();
  /** Paused because the engine has too much unprocessed ciphertext. */
  private backlogPaused = false;
  /** onCiphertext(): corked while an asynchronous provider's records complete. */
  private sealCorked = false;
  /** push(null) done. */
  private readDone = false;
  /** Writes (and _final) waiting for the handshake to complete. */
  private waitingForHandshake: (() => void)[] = [];
  /** The callback of the write in progress, so a failure can release it. */
  private pendingWriteCallback: Callback | undefined;
  private socketClosing = false;
  /** onCiphertext(): the socket is corked until the end of this tick (a handshake flight). */
  private flightCorked = false;
  /** onSocketBorrowed(): the plaintext buffer of the read being processed. */
  private lease: PlaintextLease | undefined;

  constructor(readonly socket: Socket, config: ServerConfig, options: TlsServerStreamOptions = {}) {
    super({ allowHalfOpen: true, readableHighWaterMark: options.readableHighWaterMark });
    this.maxBacklog = options.maxBacklog ?? DEFAULT_MAX_BACKLOG;
    this.idleTimeout = options.idleTimeout ?? 0;
    const trace = options.trace;
    this.conn = new ServerConnection(config, {
      write: (bytes) => this.onCiphertext(bytes),
      allocate: (length) => this.allocateOutput(length),
      handshake: (info) => this.onHandshake(info),
      data: (plaintext) => this.onPlaintext(plaintext),
      peerClosed: () => this.onPeerClosed(),
      failed: (error) => this.onEngineFailed(error),
      trace: trace ? (m) => trace(m) : undefined,
      warning: options.warning ? (m) => options.warning!(m) : undefined,
      ...(options.event ? { event: options.event } : {}),
      ...(options.keylog ? { keylog: options.keylog } : {}),
    });
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('end', () => this.onSocketEnd());
    socket.on('error', (e) => this.abort(new TlsStreamError('socket', `ciphertext read/write error: ${e.message}`, this.inHandshake, undefined, { cause: e })));
    socket.on('close', () => {
      if (!this.failure && !this.destroyed && !(this.readDone && this.writableFinished)) {
        this.abort(new TlsStreamError('socket', 'connection closed', this.inHandshake));
      }
    });
    socket.on('timeout', () => {
      this.abort(new TlsStreamError('idle-timeout', 'ciphertext read/write timeout', false));
    });
    if (options.handshakeTimeout) {
      this.handshakeTimer = setTimeout(() => {
        this.abort(new TlsStreamError('handshake-timeout', 'TLS handshake timeout', true));
      }, options.handshakeTimeout);
    }
  }

  /** The negotiated parameters, once the handshake completed. */
  get info(): HandshakeInfo | undefined {
    return this.conn.info;
  }

  get inHandshake(): boolean {
    return this.conn.state === 'handshake';
  }

  /** Ask for a KeyUpdate (RFC 8446 §4.6.3). */
  keyUpdate(requestPeerUpdate: boolean): void {
    this.conn.keyUpdate(requestPeerUpdate);
  }

  /**
   * Relay plaintext both ways between this stream and `plain` (the
   * backend), with the semantics of `this.pipe(plain); plain.pipe(this)`
   * (backpressure both ways; this side's end ends `plain`, `plain`'s end
   * ends this side with close_notify) but without the stream machinery on
   * the hot path: decrypted records go straight to plain.write() (corked:
   * one writev per socket read), and plain's reads go straight to the
   * engine (socket corked: one write of all their records). Call it once
   * the handshake completed. unpipe() has nothing to undo afterwards.
   */
  relay(plain: Socket): void {
    if (this.relayTarget) throw new Error('relay() called twice');
    this.relayTarget = plain;
    // What was decrypted before (data that came with the client's Finished) goes first.
    for (let c = this.read() as Buffer | null; c !== null; c = this.read() as Buffer | null) plain.write(c);
    if (this.readerPaused) {
      this.readerPaused = false;
      this.updateFlow();
    }
    // Nothing is push()ed any more, but push(null) must still reach 'end'.
    this.resume();
    this.once('end', () => {
      if (!this.relayDetached && !plain.destroyed && !plain.writableEnded) plain.end();
    });
    let drainWait = false;
    let sealWait = false;
    const maybeResume = () => {
      if (!drainWait && !sealWait && plain.isPaused()) plain.resume();
    };
    // `borrowed`: the bytes are plain's shared read buffer (shared-reads.ts), valid during this call only.
    this.relayData = (chunk: Uint8Array, borrowed = false) => {
      if (this.failure || this.destroyed || this.writableEnded) return;
      if (this.conn.state === 'handshake' || !this.conn.writable) {
        // Not expected after 'secure'; the Duplex path queues or drops as it would for pipe().
        this.write(borrowed ? Buffer.from(chunk) : chunk);
        return;
      }
      let written = false;
      this.socket.cork();
      try {
        const done = () => {
          written = true;
          if (sealWait && this.conn.sealing <= MAX_SEALING / 2) {
            sealWait = false;
            maybeResume();
          }
        };
        if (borrowed) this.conn.writeBorrowed(chunk, done);
        else this.conn.write(chunk, done);
      } catch {
        // The connection failed under us: the failure path reports it.
        written = true;
      } finally {
        this.socket.uncork();
      }
      if (!written && !sealWait && this.conn.sealing > MAX_SEALING) {
        // An asynchronous provider still seals more than MAX_SEALING records: read no more until
        // half of them left (several reads in flight keep its threads busy while we read on).
        sealWait = true;
        plain.pause();
      }
      if (this.socket.writableLength > RELAY_HIGH_WATER && !drainWait && !this.socket.destroyed) {
        drainWait = true;
        plain.pause();
        this.socket.once('drain', () => {
          drainWait = false;
          maybeResume();
        });
      }
    };
    this.relayEnd = () => {
      if (!this.destroyed && !this.writableEnded) this.end();
    };
    plain.once('end', this.relayEnd);
    plain.on('data', this.relayData);
    // Both sockets read straight into the process's shared buffer from now on (no 64 KiB allocation
    // per read), where this runtime allows it and the keys use the lent bytes directly (synchronous,
    // out-of-place opening); otherwise (or with bytes already queued) 'data' events as before.
    // An exception never goes into libuv's read callback: the session fails instead.
    const guarded = (f: (bytes: Uint8Array) => void) => (bytes: Uint8Array) => {
      try {
        f(bytes);
      } catch (e) {
        this.destroy(e instanceof Error ? e : new Error(String(e)));
      }
    };
    if (this.socket.readableLength === 0 && this.conn.receivesBorrowed) {
      readIntoSharedBuffer(this.socket, guarded((bytes) => this.onSocketBorrowed(bytes)));
    }
    if (plain.readableLength === 0 && this.conn.writesBorrowed) {
      readIntoSharedBuffer(plain, guarded((bytes) => this.relayShared && this.relayData(bytes, true)));
    }
    // As pipe() does: flowing even if its previous reader paused it.
    plain.resume();
  }

  /** Undo relay() towards `plain` (decrypted data is dropped from now on) and, with `both`, back. */
  unrelay(both: boolean): void {
    const plain = this.relayTarget;
    if (!plain) return;
    this.relayDetached = true;
    if (both) {
      this.relayShared = false;
      plain.removeListener('data', this.relayData);
      plain.removeListener('end', this.relayEnd);
    }
  }

  // ------------------------------------------------------------ engine events

  /**
   * Output buffers for the engine's multi-record writes, recycled once the
   * socket has written them (no allocation per write, much less GC): 4
   * records' room for a write of up to 64 KiB, 16 records' for more.
   */
  private allocateOutput(length: number): Uint8Array {
    this.outputs ??= new SizedBuffers(OUTPUT_SIZES, (size) => {
      const b = Buffer.allocUnsafeSlow(size);
      this.ownOutput.add(b.buffer);
      return b;
    });
    return this.outputs.take(length) ?? Buffer.allocUnsafeSlow(length);
  }

  private onCiphertext(bytes: Uint8Array): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    if (this.conn.state === 'handshake' && !this.flightCorked) {
      // A handshake flight is several records (ServerHello, ChangeCipherSpec, EncryptedExtensions,
      // Certificate, CertificateVerify, Finished) written one by one, across promise steps: with
      // TCP_NODELAY each would be its own segment and syscall. Corked until the end of this tick
      // (after the microtasks that produce the rest), they leave in one writev, as node:tls sends them.
      // end() and destroySoon() uncork, so an alert is never held back.
      this.flightCorked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.flightCorked = false;
        this.socket.uncork();
      });
    }
    if (!this.sealCorked && this.conn.sealing > 0 && this.conn.state !== 'handshake') {
      // An asynchronous provider's records complete one by one, each in its own callback: those
      // completed in one turn of the event loop leave in one writev (uncorked when the last one
      // in flight is written, or after this turn).
      this.sealCorked = true;
      this.socket.cork();
      setImmediate(() => this.releaseSealCork());
    }
    this.writeCiphertext(bytes);
    if (this.sealCorked && this.conn.sealing === 0) this.releaseSealCork();
  }

  private releaseSealCork(): void {
    if (!this.sealCorked) return;
    this.sealCorked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  }

  private writeCiphertext(bytes: Uint8Array): void {
    if (this.ownOutput.has(bytes.buffer)) {
      // One of ours (allocateOutput): back to its free list once the socket has written it.
      const whole = Buffer.from(bytes.buffer, 0, bytes.buffer.byteLength);
      this.socket.write(bytes, () => this.outputs!.give(whole));
      return;
    }
    this.socket.write(bytes);
  }

  private onHandshake(info: HandshakeInfo): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    if (this.idleTimeout) this.socket.setTimeout(this.idleTimeout);
    this.emit('secure', info);
    const waiting = this.waitingForHandshake;
    this.waitingForHandshake = [];
    for (const w of waiting) w();
  }

  private onPlaintext(plaintext: Uint8Array): void {
    // After an EOF-induced end, a record still in an asynchronous provider cannot be delivered.
    if (this.readDone) return;
    const chunk = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    const target = this.relayTarget;
    if (target) {
      // relay(): straight to the plaintext socket (corked for the whole socket read, see onSocketData).
      if (this.relayDetached || target.destroyed || target.writableEnded) return;
      const lease = this.lease;
      if (lease && plaintext.buffer === lease.buffer.buffer) {
        // A view of a leased buffer (onSocketBorrowed): it is reused once this write completed.
        lease.pending++;
        target.write(chunk, () => releasePlaintext(lease));
      } else {
        target.write(chunk);
      }
      // A deeper queue than the socket's 16 KiB high-water mark: a pause per 64 KiB read would stall the stream.
      if (target.writableLength > RELAY_HIGH_WATER && !this.relayPaused) {
        this.relayPaused = true;
        this.updateFlow();
        target.once('drain', () => {
          this.relayPaused = false;
          this.updateFlow();
        });
      }
      return;
    }
    // Not expected (borrowed reads start with relay()), but a leased buffer is reused: push a copy.
    if (!this.push(this.lease && plaintext.buffer === this.lease.buffer.buffer ? Buffer.from(chunk) : chunk)) {
      this.readerPaused = true;
      this.updateFlow();
    }
  }

  private onPeerClosed(): void {
    this.endReadable();
  }

  private onEngineFailed(error: ConnectionError): void {
    const message =
      error.direction === 'received'
        ? `${error.reason}`
        : `${error.reason}${error.alertName ? ` (sent ${error.alertName} alert)` : ''}`;
    this.abort(new TlsStreamError('tls', message, error.duringHandshake, error));
  }

  // ------------------------------------------------------------ socket events

  private onSocketData(chunk: Buffer): void {
    if (this.failure) return;
    this.receiveCorked(() => this.conn.receive(chunk, true));
  }

  /** With relay(): every record of one socket read reaches the plaintext socket in one writev. */
  private receiveCorked(receive: () => void): void {
    const target = this.relayTarget;
    const cork = target !== undefined && !target.destroyed;
    if (cork) target.cork();
    try {
      receive();
    } finally {
      if (cork) target.uncork();
    }
    this.checkBacklog();
  }

  /**
   * A read into the process's shared buffer (relay(), shared-reads.ts):
   * `bytes` are valid during this call only. The engine decrypts them into
   * a leased plaintext buffer, written to the plaintext socket before this
   * returns (corked: one writev), and copies what it keeps.
   */
  private onSocketBorrowed(bytes: Uint8Array): void {
    if (this.failure) return;
    const lease = leasePlaintext(bytes.length);
    this.lease = lease;
    try {
      this.receiveCorked(() => this.conn.receiveBorrowed(bytes, lease.buffer));
    } finally {
      this.lease = undefined;
      releasePlaintext(lease);
    }
  }

  /** An asynchronous provider fell behind: stop reading until it caught up (maxBacklog). */
  private checkBacklog(): void {
    if (this.conn.backlog > this.maxBacklog && !this.backlogPaused && !this.failure) {
      this.backlogPaused = true;
      this.updateFlow();
      // Read on once half of it went to the provider (not when it is all done: the next reads
      // then arrive while those records are still being opened).
      this.conn.whenBacklogBelow(this.maxBacklog / 2, () => {
        if (this.failure || this.destroyed) return;
        this.backlogPaused = false;
        this.updateFlow();
      });
    }
  }

  private onSocketEnd(): void {
    if (this.failure) return;
    if (this.conn.state === 'handshake') {
      this.abort(new TlsStreamError('eof', 'lost connection during TLS handshake', true));
      return;
    }
    // Unexpected EOF (no close_notify) is not an error (Postfix). Let the engine
    // finish what it has buffered, then end the readable side.
    this.conn.whenIdle(() => {
      if (!this.failure) this.endReadable();
    });
  }

  private endReadable(): void {
    if (this.readDone) return;
    this.readDone = true;
    this.push(null);
    this.updateFlow();
  }

  private updateFlow(): void {
    if (this.socket.destroyed) return;
    const pause = this.readerPaused || this.relayPaused || this.backlogPaused || this.readDone || !!this.failure;
    if (pause && !this.socket.isPaused()) this.socket.pause();
    else if (!pause && this.socket.isPaused()) this.socket.resume();
  }

  // ------------------------------------------------------------ Duplex side

  override _read(): void {
    if (this.readerPaused) {
      this.readerPaused = false;
      this.updateFlow();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    this.writeChunks([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: Callback): void {
    this.writeChunks(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  private writeChunks(chunks: Buffer[], callback: Callback): void {
    if (this.failure || !this.conn.writable) {
      // The failure is reported once the reader has the data that arrived before it.
      callback();
      return;
    }
    if (this.conn.state === 'handshake') {
      this.waitingForHandshake.push(() => this.writeChunks(chunks, callback));
      return;
    }
    this.pendingWriteCallback = callback;
    const done = () => {
      if (this.pendingWriteCallback !== callback) return;
      if (this.socket.writableNeedDrain && !this.socket.destroyed) {
        this.socket.once('drain', () => this.releaseWrite(callback));
      } else {
        this.releaseWrite(callback);
      }
    };
    this.socket.cork();
    try {
      for (let i = 0; i < chunks.length; i++) this.conn.write(chunks[i]!, i === chunks.length - 1 ? done : undefined);
    } catch {
      // The connection stopped being writable under us (it failed): the failure path reports it.
      this.releaseWrite(callback);
    } finally {
      this.socket.uncork();
    }
  }

  private releaseWrite(callback: Callback): void {
    if (this.pendingWriteCallback !== callback) return;
    this.pendingWriteCallback = undefined;
    callback();
  }

  override _final(callback: Callback): void {
    if (this.failure) {
      callback();
      return;
    }
    if (this.conn.state === 'handshake') {
      this.waitingForHandshake.push(() => this._final(callback));
      return;
    }
    const endSocket = () => {
      if (this.socket.destroyed || this.socket.writableEnded) {
        callback();
        return;
      }
      this.socket.end(() => callback());
    };
    if (!this.conn.writable) {
      endSocket();
      return;
    }
    // close(done) runs `done` once the close_notify record itself has been
    // written, even when an asynchronous provider is still sealing records.
    this.conn.close(endSocket);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    // Writers still waiting for the handshake are dropped with the stream.
    this.waitingForHandshake = [];
    if (!this.socketClosing) this.socket.destroy();
    // Nothing more goes through the engine: its keys are zeroed and dropped (engine/connection.ts).
    this.conn.forgetKeys();
    callback(error);
  }

  // ------------------------------------------------------------ failure

  /**
   * End the session because of `error`: stop reading, let the engine's
   * alert (if any) leave, release waiting writers, deliver what was already
   * decrypted, then destroy with the error.
   */
  private abort(error: TlsStreamError): void {
    if (this.failure || this.destroyed) return;
    this.failure = error;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.updateFlow();
    if (!this.socket.destroyed) {
      this.socket.setTimeout(0);
      if (error.kind === 'tls' && error.tls?.direction === 'sent') {
        // The engine's alert is in the socket's queue: flush it, then close.
        this.socketClosing = true;
        this.socket.destroySoon();
        this.lingerTimer = setTimeout(() => this.socket.destroy(), LINGER_MS);
        this.lingerTimer.unref();
        this.socket.once('close', () => clearTimeout(this.lingerTimer));
      } else {
        this.socket.destroy();
      }
    }
    const pendingWrite = this.pendingWriteCallback;
    if (pendingWrite) this.releaseWrite(pendingWrite);
    const waiting = this.waitingForHandshake;
    this.waitingForHandshake = [];
    for (const w of waiting) w();

    if (error.duringHandshake || this.readableEnded) {
      this.destroy(error);
      return;
    }
    // Let the reader have what was decrypted before the failure, and its end.
    this.once('end', () => this.destroy(error));
    this.endReadable();
    const fallback = setTimeout(() => this.destroy(error), LINGER_MS * 5);
    fallback.unref();
    this.once('close', () => clearTimeout(fallback));
  }
}
