/**
 * Where the daemon's log records go (`tlsproxy start`):
 *
 *  - maillog_file = /path: appended to that file (it must start with one
 *    of maillog_file_prefixes, as in Postfix), reopened on SIGHUP so that
 *    log rotation works; maillog_file = /dev/stdout: standard output;
 *  - else tlsproxy_syslog_enable = yes: one RFC 3164 datagram per record
 *    to /dev/log (`<PRI>Mmm dd HH:MM:SS postfix/tlsproxy[pid]: text`,
 *    facility syslog_facility), through the native addon's UNIX datagram
 *    socket (Node has none of its own; proxy/postfix/native.ts);
 *  - else standard error, the default of a foreground daemon (Postfix
 *    itself logs to syslog by default).
 */

import { ConfigError } from '../config/errors.js';
import type { ParameterSet } from '../config/main-cf.js';
import { checkMaillogFile } from '../config/validate.js';
import { strerror } from '../base/errno.js';
import { FileSink, stderrSink, type LogSink, type Severity } from './log.js';
import { DEV_LOG, DatagramLog, syslogFacility } from './sinks.js';
import { loadNative } from '../base/native.js';

export interface LogTarget {
  readonly sink: LogSink;
  /** What to call it in messages: `maillog_file /var/log/tlsproxy.log`, `syslog`, `stderr`. */
  readonly description: string;
  /** SIGHUP: reopen the file (no-op otherwise). */
  reopen(): void;
  close(): void;
}

/** syslog(3) severities for Postfix's msg levels. */
const SEVERITY: Record<Severity, number> = { info: 6, warning: 4, error: 3, fatal: 2, panic: 2 };

/** A maillog line (`Mmm dd HH:MM:SS host tag[pid]: text`) as the datagram syslog(3) sends (no host name). */
export function syslogDatagram(line: string, severity: Severity, facility: number): string {
  return `<${facility * 8 + SEVERITY[severity]}>${line.replace(/^(\w{3} \d\d \d\d:\d\d:\d\d) \S+ /, '$1 ')}`;
}

export function openLogTarget(params: ParameterSet): LogTarget {
  const file = params.get('maillog_file').trim();
  if (file) {
    checkMaillogFile(params);
    let sink: FileSink;
    try {
      sink = new FileSink(file);
    } catch (e) {
      throw new ConfigError(`open maillog_file ${file}: ${strerror(e)}`);
    }
    return { sink: sink.sink, description: `maillog_file ${file}`, reopen: () => sink.reopen(), close: () => sink.close() };
  }
  if (params.getBool('tlsproxy_syslog_enable')) {
    const facilityName = params.get('syslog_facility');
    const facility = syslogFacility(facilityName);
    if (facility === undefined) throw new ConfigError(`syslog_facility: unknown syslog facility "${facilityName}"`);
    const native = loadNative();
    if (!native.ok) throw new ConfigError(`tlsproxy_syslog_enable = yes needs the native addon: ${native.reason}`);
    const log = new DatagramLog(native.addon, DEV_LOG);
    const error = log.connect();
    if (error !== undefined) throw new ConfigError(`tlsproxy_syslog_enable = yes: connect to ${DEV_LOG}: ${error}`);
    return { sink: (r) => void log.send(syslogDatagram(r.line, r.severity, facility)), description: 'syslog', reopen: () => undefined, close: () => log.close() };
  }
  return { sink: stderrSink, description: 'stderr', reopen: () => undefined, close: () => undefined };
}
