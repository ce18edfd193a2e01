/**
 * `tlsproxy ticket-keys [-c DIR] [-o name=value]... [-s SECONDS] create|rotate|list [FILE]`
 * (proxy/tls/ticket-key-file.ts does the work). FILE defaults to
 * tlsproxy_tls_session_ticket_key_file of the configuration; the key
 * lifetime is its smtpd_tls_session_cache_timeout.
 */

import type { ParameterSet } from '../config/main-cf.js';
import { KEY_FILE_PARAMETER, readTicketKeyFile } from '../tls/ticket-keys.js';
import { createKeyFile, defaultStageSeconds, keyStates, rotateKeyFile } from '../tls/ticket-key-file.js';
import { sessionLifetime } from '../tls/resumption.js';

export type TicketKeysAction = 'create' | 'rotate' | 'list';

const iso = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');

export function ticketKeysCommand(
  action: TicketKeysAction,
  fileArg: string | undefined,
  stage: number | undefined,
  params: ParameterSet,
  stdout: (t: string) => void,
  stderr: (t: string) => void,
): number {
  const file = fileArg ?? (params.get(KEY_FILE_PARAMETER).trim() || undefined);
  if (!file) {
    stderr(`tlsproxy: ticket-keys: no FILE given and ${KEY_FILE_PARAMETER} is not set\n`);
    return 2;
  }
  const lifetime = sessionLifetime(params);
  if (lifetime <= 0) {
    stderr('tlsproxy: ticket-keys: smtpd_tls_session_cache_timeout = 0 disables session resumption: no ticket keys are used\n');
    return 1;
  }
  try {
    const now = Date.now();
    if (action === 'create') {
      const k = createKeyFile(file, { now });
      stdout(`${file}: created with one key (seals now, until ${iso(k.created / 1000 + lifetime / 2)}; opens tickets until ${iso(k.created / 1000 + lifetime)})\n`);
    } else if (action === 'rotate') {
      const s = stage ?? defaultStageSeconds(lifetime);
      const before = readTicketKeyFile(file, lifetime, now, true).parsed;
      const r = rotateKeyFile(file, lifetime, s, { now });
      const created = r.added.created / 1000;
      stdout(
        r.immediate
          ? `${file}: no key was sealing any more: added a key that seals now; removed ${r.removed} expired\n`
          : `${file}: staged a new key: it opens tickets as soon as a daemon reads the file and seals from ${iso(created)} (in ${s}s); removed ${r.removed} expired, ${r.kept} kept\n`,
      );
      // A gap: the key sealing now stops before the staged one starts (rotated less often than every L/2).
      const sealing = keyStates(before.keys, before.lines, lifetime, now).find((k) => k.state === 'encrypting');
      if (!r.immediate && sealing && sealing.created + Math.floor(lifetime / 2) < created) {
        stderr(
          `tlsproxy: warning: ticket-keys: no key seals from ${iso(sealing.created + Math.floor(lifetime / 2))} to ${iso(created)}: ` +
            `rotate at least every ${Math.floor(lifetime / 2)}s (half of smtpd_tls_session_cache_timeout)\n`,
        );
      }
      stdout(`${file}: copy it to every daemon of the fleet within ${s}s (they re-read it within ${Math.min(60, Math.floor(lifetime / 4))}s, or at tlsproxy reload)\n`);
    } else {
      const { parsed } = readTicketKeyFile(file, lifetime, now, true);
      stdout(`${file}: ${parsed.keys.length} key${parsed.keys.length === 1 ? '' : 's'}, lifetime ${lifetime}s (smtpd_tls_session_cache_timeout)\n`);
      for (const k of keyStates(parsed.keys, parsed.lines, lifetime, now)) {
        const what = { staged: 'staged, seals from', encrypting: 'seals and opens, seals until', decrypting: 'opens only, until', expired: 'expired at' }[k.state];
        stdout(`  line ${k.line}: created ${iso(k.created)} name ${k.name}...: ${what} ${iso(k.until)}\n`);
      }
    }
    return 0;
  } catch (e) {
    stderr(`tlsproxy: ticket-keys: ${(e as Error).message}\n`);
    return 1;
  }
}
