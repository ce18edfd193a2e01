/**
 * Logging the Postfix way under master(8) (postfix-master-dropin.md §1.11):
 *
 *  - maillog_file set: one UNIX datagram per record to postlogd at
 *    $POSTLOG_SERVICE, else $queue_directory/public/$postlog_service_name;
 *    the record is the line as the maillog file shows it
 *    (`Mmm dd HH:MM:SS host postfix/tlsproxy[pid]: text`);
 *  - otherwise syslog: one datagram per record to /dev/log,
 *    `<PRI>Mmm dd HH:MM:SS postfix/tlsproxy[pid]: text` (what syslog(3)
 *    sends), facility syslog_facility, severity info/warning/err/crit.
 *
 * The socket is connected once, before chroot and the privilege drop, and
 * kept; a failed send reconnects once (postlogd restarted, syslogd
 * restarted). Records that cannot be delivered are dropped: logging never
 * stops the daemon.
 */

import { appendFileSync } from 'node:fs';
import { formatTimestamp, type LogRecord, type LogSink, type Severity } from './log.js';
import type { NativeAddon } from '../base/native.js';

export const DEV_LOG = '/dev/log';

const FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

/** syslog_facility -> facility number; undefined when unknown (Postfix: fatal "unknown syslog facility"). */
export function syslogFacility(name: string): number | undefined {
  return FACILITIES[name.trim().toLowerCase()];
}

/** Postfix msg_syslog: info -> LOG_INFO, warning -> LOG_WARNING, error -> LOG_ERR, fatal/panic -> LOG_CRIT. */
const SEVERITY: Record<Severity, number> = { info: 6, warning: 4, error: 3, fatal: 2, panic: 2 };

/** The datagram syslog(3) would send for a record. */
export function syslogRecord(record: LogRecord, facility: number, tag: string, pid: number, when: Date = new Date()): string {
  const sev = record.severity === 'info' ? '' : `${record.severity}: `;
  return `<${facility * 8 + SEVERITY[record.severity]}>${formatTimestamp(when)} ${tag}[${pid}]: ${sev}${record.text}`;
}

/**
 * How long one record may wait for room in the receiver's queue. Postfix's own logger sends on a
 * blocking socket and waits; Linux queues only net.unix.max_dgram_qlen (10) datagrams, so a burst of
 * level-2 lines while postlogd is not scheduled (a loaded machine) used to lose lines. We wait this
 * long, then drop, so that logging never stops the daemon for long.
 */
export const DATAGRAM_WAIT_MS = 100;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** A connected datagram socket that reconnects once when a send fails. */
export class DatagramLog {
  private fd = -1;
  /** Records that could not be sent (for diagnostics and tests). */
  dropped = 0;
  /** The last record was dropped for want of room: do not wait again until a send succeeds. */
  private behind = false;

  constructor(
    private readonly native: NativeAddon,
    readonly path: string,
  ) {}

  /** Connect now; returns the error text, or undefined when connected. */
  connect(): string | undefined {
    this.close();
    try {
      this.fd = this.native.dgramConnect(this.path);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }

  send(text: string): boolean {
    const data = Buffer.from(text, 'utf8');
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.fd < 0 && this.connect() !== undefined) break;
      try {
        // EAGAIN (-1): the receiver's queue is full: wait for room a little, then drop.
        const deadline = Date.now() + (this.behind ? 0 : DATAGRAM_WAIT_MS);
        for (;;) {
          if (this.native.send(this.fd, data) >= 0) {
            this.behind = false;
            return true;
          }
          if (Date.now() >= deadline) break;
          Atomics.wait(pause, 0, 0, 1);
        }
        this.behind = true;
        break;
      } catch {
        this.close();
      }
    }
    this.dropped++;
    return false;
  }

  close(): void {
    if (this.fd >= 0) {
      try {
        this.native.close(this.fd);
      } catch {
        // already gone
      }
      this.fd = -1;
    }
  }
}

/** Sink for postlogd: the maillog line as it is. */
export function postlogSink(log: DatagramLog): LogSink {
  return (r) => {
    log.send(r.line);
  };
}

/** Sink for syslogd on /dev/log. */
export function syslogSink(log: DatagramLog, facility: number, tag: () => string, pid: number): LogSink {
  return (r) => {
    log.send(syslogRecord(r, facility, tag(), pid));
  };
}

/**
 * Last resort when there is no way to send datagrams (the addon is
 * missing): append to maillog_file directly, so that the reason shows
 * where the administrator looks. Errors are ignored.
 */
export function appendFileSink(file: string): LogSink {
  return (r) => {
    try {
      appendFileSync(file, `${r.line}\n`);
    } catch {
      // nowhere else to go
    }
  };
}

/** Several sinks (e.g. postlogd and stderr with -V). */
export function teeSink(...sinks: LogSink[]): LogSink {
  return (r) => {
    for (const s of sinks) s(r);
  };
}
