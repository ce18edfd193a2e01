/**
 * man/tlsproxy.8 cannot drift from the code: it is regenerated in memory
 * from the CLI usage text and the parameter table (man/generate.ts) and
 * compared with the committed file (run `npm run man` after changing
 * either); every parameter appears with its default; every command of the
 * usage text has its entry; every environment variable the code reads is
 * in ENVIRONMENT; `mandoc -T lint -W warning` finds nothing
 * (skipped with a message without mandoc).
 */

import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAN_PAGE, manPage } from '../../man/generate.js';
import { USAGE } from '../../proxy/cli/main.js';
import { PARAMETERS } from '../../proxy/config/params.js';
import { skipped } from '../helpers/skip.js';

test('the committed man page is the generated one (npm run man)', () => {
  const committed = readFileSync(MAN_PAGE, 'utf8');
  assert.ok(committed === manPage(), 'man/tlsproxy.8 is out of date: run npm run man and commit it');
});

test('every parameter is there with its default, every command too', () => {
  const page = manPage().replace(/\\e/g, '\\').replace(/\\&/g, '').replace(/\\\(dq/g, '"');
  for (const d of PARAMETERS) {
    const def = typeof d.default === 'function' ? '(computed at run time)' : d.default === '' ? 'empty' : d.default;
    assert.ok(page.includes(`.IP "\\fB${d.name} (default: ${def})\\fR"`), `${d.name} missing or with another default`);
  }
  for (const line of USAGE.split('\n').filter((l) => /^  tlsproxy /.test(l))) assert.ok(page.includes(`.IP "\\fB${line.trim()}\\fR"`), line);
  for (const section of ['NAME', '"SYNOPSIS"', 'DESCRIPTION', 'COMMANDS', '"CONFIGURATION PARAMETERS"', 'FILES', '"SEE ALSO"']) assert.ok(page.includes(`\n.SH ${section}\n`), section);
});

test('every environment variable the daemon reads is in ENVIRONMENT (TLSPROXY_WORKER, set by the supervisor for its workers, aside)', () => {
  const page = manPage();
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : /\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path.join(dir, e.name)] : [],
    );
  const names = new Set<string>();
  for (const f of ['bin', 'proxy', 'providers', 'engine', 'certs'].flatMap(files)) {
    for (const m of readFileSync(path.join(root, f), 'utf8').matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]!);
  }
  names.delete('TLSPROXY_WORKER');
  assert.ok(names.has('UV_THREADPOOL_SIZE') && names.size >= 4, [...names].join(' '));
  const section = page.slice(page.indexOf('\n.SH ENVIRONMENT\n'), page.indexOf('\n.SH FILES\n'));
  for (const n of names) assert.ok(section.includes(`.IP "\\fB${n}`), `${n} is read by the code but not in the man page's ENVIRONMENT`);
});

test('mandoc -T lint: no warnings', () => {
  if (spawnSync('mandoc', ['-V']).error) {
    skipped('mandoc -T lint', 'mandoc is not installed (apt-get install mandoc)');
    return;
  }
  const r = spawnSync('mandoc', ['-T', 'lint', '-W', 'warning', MAN_PAGE], { encoding: 'utf8' });
  assert.is(r.stdout + r.stderr, '', 'mandoc -T lint');
  assert.is(r.status, 0);
});

test.run();
