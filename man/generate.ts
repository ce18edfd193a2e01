/**
 * Builds man/tlsproxy.8 (roff, man(7) macros, in the layout of Postfix's
 * section 8 pages) from the two sources that define what it documents:
 *
 *  - the COMMANDS section from the CLI's usage text (proxy/cli/main.ts USAGE),
 *  - the CONFIGURATION PARAMETERS section from the parameter table
 *    (proxy/config/params.ts PARAMETERS): every parameter, with its
 *    default exactly as `tlsproxy config -d` prints it, in groups.
 *
 *   npm run man          rewrite man/tlsproxy.8
 *
 * test/unit/man-page.test.ts regenerates the page in memory and fails when
 * the committed file differs (so it cannot drift), and lints it with
 * `mandoc -T lint` when mandoc is installed.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { USAGE } from '../proxy/cli/main.js';
import { PARAMETERS, type ParameterDefinition } from '../proxy/config/params.js';

/** The page's date: when its sources last changed in a way that matters (update with the version). */
const PAGE_DATE = '2026-12-08';
const version = (JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string }).version;

export const MAN_PAGE = fileURLToPath(new URL('./tlsproxy.8', import.meta.url));

/** The environment variables the daemon reads (all optional; main.cf configures everything else). */
const ENVIRONMENT: readonly [name: string, text: string][] = [
  ['UV_THREADPOOL_SIZE', "libuv's thread pool (the webcrypto provider's crypto jobs, name lookups of a backend, asynchronous file access); when unset, bin/tlsproxy.js sets it to the CPUs available, at least 2 and at most 4, before the pool starts."],
  ['TLSPROXY_SHARED_READS=0', "Node's own socket reads (a new buffer each) instead of reads of up to 256 KiB into one buffer per process once a session relays."],
  ['TLSPROXY_NATIVE_AEAD=0', "the node provider without the native addon's AEAD and X25519: node:crypto only."],
  ['TLSPROXY_MLKEM_WASM=0', "the node provider's ML-KEM-768 encapsulation (X25519MLKEM768, SecP256r1MLKEM768) in JavaScript (@noble/post-quantum) instead of liboqs on WebAssembly (@oqs/liboqs-js, loaded at the first post-quantum handshake)."],
  ['TLSPROXY_MEMORY_REDUCER=0', "no memory pressure signal to V8 after a burst of sessions or once the daemon serves."],
  ['TLSPROXY_V8_TIERING=0', "keep V8's defaults: its optimising compiler from the start (instead of from the first session: a start optimises nothing worth its ~5 MiB of compiler code), and its default interrupt budget in a serving process instead of a quarter of it from its first session on (the per-session code reaches the optimising compiler sooner)."],
  ['NODE_OPTIONS', "read by Node; bin/tlsproxy.js also looks for --jitless, --[no-]turbofan and --[no-]opt in it (and on node's command line), and then leaves the optimising compiler as Node was told."],
  ['TLSPROXY_FROM_SOURCES=1', 'run the TypeScript sources through tsx instead of the compiled dist/ (development and tests).'],
  ['TLSPROXY_CODE_CACHE=0', "Node: compile the daemon's bundle (dist/run/main.cjs) at every start instead of using V8's code cache kept beside it (written by the first start, by the user the bundle belongs to; used only while the bundle, the cache and their directory belong to that user and nobody else may write them)."],
];

/** Parameter groups, in page order; the first whose test matches takes a parameter. */
const GROUPS: readonly [title: string, test: (name: string) => boolean][] = [
  ['Metrics and status', (n) => /^tlsproxy_metrics_/.test(n)],
  [
    'Processes, limits and operations',
    (n) =>
      /^tlsproxy_(min_processes|process_|worker_processes|client_connection_|drain_timeout|pid_directory|user|group|allow_root|watchdog_timeout|handshake_timeout|session_timeout|backend_connect_timeout)/.test(n) ||
      n === 'max_idle' ||
      n === 'max_use' ||
      n === 'default_process_limit',
  ],
  [
    'Front ends, backend and the PROXY protocol',
    (n) =>
      /^postscreen_/.test(n) ||
      /proxy_protocol|proxy_timeout/.test(n) ||
      ['tlsproxy_backend', 'mail_name', 'smtpd_banner', 'smtpd_discard_ehlo_keywords', 'line_length_limit', 'message_size_limit', 'disable_vrfy_command', 'smtputf8_enable', 'inet_interfaces'].includes(n),
  ],
  [
    'Session resumption',
    (n) => /session_cache|session_ticket|tlsmgr_service_name|always_issue_session_ids/.test(n) || n === 'tls_ssl_options',
  ],
  ['Client role (accepted for compatibility, not used)', (n) => /^(smtp_|tlsproxy_client_(?!connection))/.test(n) || n === 'smtp_use_tls' || n === 'smtp_enforce_tls'],
  ['TLS server settings', (n) => /^(smtpd_tls_|smtpd_use_tls|smtpd_enforce_tls|tlsproxy_tls_|tlsproxy_use_tls|tlsproxy_enforce_tls|tls_|tlsproxy_crypto_provider)/.test(n)],
  ['Logging', (n) => /^(syslog_|maillog_|postlog_|tlsproxy_syslog_)/.test(n)],
  ['General and Postfix service mode', () => true],
];

export function groupOf(name: string): string {
  return GROUPS.find(([, t]) => t(name))![0];
}

/** Text for roff: backslashes escaped, a leading dot or quote neutralized. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

/** Filled text as roff input lines of at most 78 characters (words are never split). */
function wrap(text: string): string {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (cur && Buffer.byteLength(cur) + 1 + Buffer.byteLength(w) > 72) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return roff(lines.join('\n'));
}

function bold(text: string): string {
  return `\\fB${roff(text)}\\fR`;
}

function defaultText(d: ParameterDefinition): string {
  if (typeof d.default === 'function') return '(computed at run time)';
  return d.default === '' ? 'empty' : d.default;
}

interface UsageCommand {
  readonly synopsis: string;
  readonly text: string;
}

function usageCommands(): UsageCommand[] {
  const out: { synopsis: string; lines: string[] }[] = [];
  for (const line of USAGE.split('\n').slice(1)) {
    if (/^  tlsproxy /.test(line)) out.push({ synopsis: line.trim(), lines: [] });
    else if (line.trim() && out.length) out[out.length - 1]!.lines.push(line.trim());
  }
  return out.map((c) => ({ synopsis: c.synopsis, text: c.lines.join(' ') }));
}

export function manPage(): string {
  const commands = usageCommands();
  const o: string[] = [];
  o.push(
    '.\\" Generated by man/generate.ts from proxy/cli/main.ts (USAGE) and proxy/config/params.ts; edit those, then run: npm run man',
    `.TH TLSPROXY 8 "${PAGE_DATE}" "tlsproxy ${version}" "System Manager's Manual"`,
    '.SH NAME',
    'tlsproxy',
    '\\-',
    'TLS proxy daemon with its own TLS engine',
    '.SH "SYNOPSIS"',
    '.na',
    '.nf',
    ...commands.map((c) => roff(c.synopsis)),
    '.SH DESCRIPTION',
    'The \\fBtlsproxy\\fR(8) daemon accepts TLS connections, completes the',
    'TLS handshake with its own TLS 1.2 and 1.3 engine, and relays the',
    'plaintext to a backend, in the spirit of Postfix\'s \\fBtlsproxy\\fR(8).',
    'It reads \\fBmain.cf\\fR and \\fBmaster.cf\\fR in Postfix syntax: every',
    '\\fBmaster.cf\\fR inet service whose command is \\fBtlsproxy\\fR (implicit',
    'TLS) or \\fBpostscreen\\fR (SMTP with STARTTLS) is served, relaying to',
    'the service\'s \\fBtlsproxy_backend\\fR, optionally with a PROXY protocol',
    'header that names the client.',
    '.PP',
    'The main process binds the listening sockets, reads the configuration',
    'and the ticket key files, and supervises worker processes, which handle',
    'the connections and drop privileges to \\fBtlsproxy_user\\fR. It never',
    'reads client data. SIGHUP reloads the configuration, SIGTERM drains',
    'the sessions in progress and stops.',
    '.PP',
    'Started by a Postfix \\fBmaster\\fR(8) with its arguments, \\fBtlsproxy\\fR',
    'instead runs as a drop\\-in Postfix tlsproxy service (the requester',
    'protocol of \\fBsmtpd\\fR(8) and \\fBpostscreen\\fR(8)).',
    '.SH COMMANDS',
  );
  for (const c of commands) {
    o.push('.IP "' + bold(c.synopsis).replace(/"/g, '\\(dq') + '"', wrap(c.text));
  }
  o.push(
    '.SH "CONFIGURATION PARAMETERS"',
    'Parameters are read from \\fBmain.cf\\fR and may be overridden per service',
    'with \\fBmaster.cf\\fR \\fB\\-o\\fR \\fIname\\fR=\\fIvalue\\fR, and on the command',
    'line with \\fB\\-o\\fR. \\fBtlsproxy config \\-d\\fR prints every default.',
    'A \\fB$name\\fR in a default refers to another parameter (Postfix',
    'inheritance). Time values take the suffixes s, m, h, d, w.',
  );
  const byGroup = new Map<string, ParameterDefinition[]>(GROUPS.map(([t]) => [t, []]));
  for (const d of PARAMETERS) byGroup.get(groupOf(d.name))!.push(d);
  for (const [title, defs] of byGroup) {
    if (!defs.length) continue;
    o.push(`.SH "${title.toUpperCase()}"`);
    for (const d of defs) {
      const since = d.origin === 'tlsproxy' ? 'tlsproxy' : `Postfix ${d.since}`;
      o.push(`.IP "${bold(`${d.name} (default: ${defaultText(d)})`).replace(/"/g, '\\(dq')}"`, wrap(`${d.description} (${since}).`));
    }
  }
  o.push(
    '.SH ENVIRONMENT',
    ...ENVIRONMENT.flatMap(([name, text]) => [`.IP "${bold(name)}"`, wrap(text)]),
    '.SH FILES',
    '.na',
    '.nf',
    '$config_directory/main.cf, configuration parameters',
    '$config_directory/master.cf, services',
    '$tlsproxy_pid_directory/tlsproxy.pid, the pid file',
    '$tlsproxy_pid_directory/tlsproxy.status, the verdict of the last reload',
    '$tlsproxy_tls_session_ticket_key_file, ticket keys shared by a fleet',
    'contrib/tlsproxy.service, a systemd unit',
    '.SH "SEE ALSO"',
    '.na',
    '.nf',
    'postconf(5), configuration parameters',
    'master(5), master.cf syntax',
    'tlsproxy(8) of Postfix, the original',
    'postscreen(8), the SMTP front end it models',
    'memcache_table(5), the shared session cache syntax',
    'haproxy(1), a load balancer in front of several instances',
    'systemd.service(5), the unit in contrib/',
    '.SH "README FILES"',
    '.na',
    '.nf',
    'docs/configuration.md, every parameter in detail',
    'docs/operations.md, reload, stop, limits, privileges, fleets, metrics',
    'docs/resumption.md, session IDs, tickets, ticket keys',
    '.SH LICENSE',
    'MIT.',
    '',
  );
  return o.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(MAN_PAGE, manPage());
  process.stdout.write(`${MAN_PAGE} written\n`);
}
