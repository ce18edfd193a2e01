/**
 * Logging in Postfix's maillog_file format (msg_logger.c):
 *
 *   Mmm dd HH:MM:SS host syslog_name/tlsproxy[pid]: text
 *   Mmm dd HH:MM:SS host syslog_name/tlsproxy[pid]: warning: text
 *
 * Local time, day of month zero-padded (strftime "%b %d %H:%M:%S"), only the
 * first label of the host name, text cut at 2000 characters. Lines go to a
 * sink: stderr by default, a MemorySink in tests.
 */

import { closeSync, openSync, writeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';

export type Severity = 'info' | 'warning' | 'error' | 'fatal' | 'panic';

export interface LogRecord {
  readonly severity: Severity;
  /** The message as passed, without time stamp, tag or severity. */
  readonly text: string;
  /** The complete formatted line (no newline). */
  readonly line: string;
}

export type LogSink = (record: LogRecord) => void;

export interface LoggerOptions {
  /** Log tag prefix (main.cf syslog_name); default `postfix`. */
  syslogName?: string;
  /** Program name after the slash; default `tlsproxy`. */
  processName?: string;
  /** Host name; only its first label is printed. Default: os.hostname(). */
  hostname?: string;
  pid?: number;
  sink?: LogSink;
  clock?: () => Date;
}

/** Postfix cuts a record's text at this length (MSG_LOGGER_RECLEN). */
export const MAX_TEXT = 2000;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The last second formatted, and its text: under load, the CONNECT and
 * DISCONNECT lines of many sessions fall in one second, and the local-time
 * fields cost more than the rest of a line (~3 µs a line in a handshake
 * profile).
 */
let stampSecond = NaN;
let stampText = '';

/** strftime("%b %d %H:%M:%S") in local time. */
export function formatTimestamp(d: Date): string {
  const second = Math.floor(d.getTime() / 1000);
  if (second === stampSecond) return stampText;
  const two = (n: number) => String(n).padStart(2, '0');
  const text = `${MONTHS[d.getMonth()]} ${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  stampSecond = second;
  stampText = text;
  return text;
}

/** The first label of the last host name seen (a line each time otherwise). */
let labelHost = '';
let labelText = '';

export function formatLogLine(when: Date, host: string, tag: string, pid: number, severity: Severity, text: string): string {
  if (host !== labelHost) {
    labelHost = host;
    labelText = host.split('.')[0] || host;
  }
  const label = labelText;
  const body = text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text;
  const sev = severity === 'info' ? '' : `${severity}: `;
  return `${formatTimestamp(when)} ${label} ${tag}[${pid}]: ${sev}${body}`;
}

export const stderrSink: LogSink = (r) => {
  process.stderr.write(`${r.line}\n`);
};

export class Logger {
  syslogName: string;
  readonly processName: string;
  hostname: string;
  readonly pid: number;
  sink: LogSink;
  private readonly clock: () => Date;

  constructor(options: LoggerOptions = {}) {
    this.syslogName = options.syslogName ?? 'postfix';
    this.processName = options.processName ?? 'tlsproxy';
    this.hostname = options.hostname ?? osHostname();
    this.pid = options.pid ?? process.pid;
    this.sink = options.sink ?? stderrSink;
    this.clock = options.clock ?? (() => new Date());
  }

  /** `postfix/tlsproxy` */
  get tag(): string {
    return `${this.syslogName}/${this.processName}`;
  }

  log(severity: Severity, text: string): void {
    const line = formatLogLine(this.clock(), this.hostname, this.tag, this.pid, severity, text);
    this.sink({ severity, text, line });
  }

  info(text: string): void {
    this.log('info', text);
  }

  warning(text: string): void {
    this.log('warning', text);
  }

  error(text: string): void {
    this.log('error', text);
  }

  fatal(text: string): void {
    this.log('fatal', text);
  }
}

/** Collects records in memory (tests); can also pass them on to another sink. */
export class MemorySink {
  readonly records: LogRecord[] = [];
  private waiters: { test: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];

  constructor(private readonly next?: LogSink) {}

  readonly sink: LogSink = (r) => {
    this.records.push(r);
    this.next?.(r);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(r)) return true;
      w.resolve(r);
      return false;
    });
  };

  /** Message texts with the severity prefix, as they follow `tag[pid]: ` (`warning: ...`). */
  get messages(): string[] {
    return this.records.map((r) => (r.severity === 'info' ? r.text : `${r.severity}: ${r.text}`));
  }

  get lines(): string[] {
    return this.records.map((r) => r.line);
  }

  clear(): void {
    this.records.length = 0;
  }

  /** Resolves with the first record (already logged or future) whose message matches. */
  waitFor(pattern: RegExp | string, timeoutMs = 5000): Promise<LogRecord> {
    const test = (r: LogRecord) => {
      const m = r.severity === 'info' ? r.text : `${r.severity}: ${r.text}`;
      return typeof pattern === 'string' ? m === pattern : pattern.test(m);
    };
    const found = this.records.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; got:\n${this.messages.join('\n')}`));
      }, timeoutMs);
      const done = (r: LogRecord) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push({ test, resolve: done });
    });
  }
}

/**
 * maillog_file: each record appended as one line (synchronously, so lines
 * keep their order and survive a crash). `reopen()` (SIGHUP) closes and
 * opens the file again, for log rotation; `/dev/stdout` writes to standard
 * output. A write that fails goes to stderr instead: logging never stops
 * the daemon.
 */
export class FileSink {
  private fd: number | undefined;

  constructor(readonly file: string) {
    this.open();
  }

  private open(): void {
    if (this.file === '/dev/stdout') return;
    this.fd = openSync(this.file, 'a', 0o644);
  }

  /** Close and open the file again (after it was renamed by log rotation). */
  reopen(): void {
    this.close();
    this.open();
  }

  close(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
  }

  readonly sink: LogSink = (r) => {
    const text = `${r.line}\n`;
    try {
      if (this.file === '/dev/stdout') process.stdout.write(text);
      else if (this.fd !== undefined) writeSync(this.fd, text);
      else stderrSink(r);
    } catch {
      stderrSink(r);
    }
  };
}
