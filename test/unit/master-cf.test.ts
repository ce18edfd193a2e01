import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../proxy/config/errors.js';
import { parseMasterCf } from '../../proxy/config/master-cf.js';

const FILE = '/etc/postfix/master.cf';
const isConfigError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigError && pattern.test(e.message);

test('columns, defaults for "-", comments and continuation lines', () => {
  const { entries, warnings } = parseMasterCf(
    [
      '# service type  private unpriv  chroot  wakeup  maxproc command + args',
      '#               (yes)   (yes)   (no)    (never) (100)',
      'tlsproxy  unix  -       -       n       -       0       tlsproxy',
      '127.0.0.1:10465 inet n  -       n       -       -       tlsproxy',
      '  -o tlsproxy_backend=inet:127.0.0.1:25',
      '# a comment between continuation lines',
      '  -o { syslog_name = postfix/tls in }',
      '  -o{tlsproxy_tls_loglevel=2} -v',
      'pickup    unix  n       -       y       60?     1       pickup',
    ].join('\n'),
    FILE,
  );
  assert.equal(warnings, []);
  assert.is(entries.length, 3);
  const [unix, inet, pickup] = entries;
  assert.equal(
    { ...unix, listen: unix!.listen },
    {
      service: 'tlsproxy',
      type: 'unix',
      private: true,
      unprivileged: true,
      chroot: false,
      wakeup: 0,
      wakeupConditional: false,
      maxproc: 0,
      command: 'tlsproxy',
      args: [],
      overrides: [],
      listen: undefined,
      file: FILE,
      line: 3,
    },
  );
  assert.is(inet!.type, 'inet');
  assert.is(inet!.private, false);
  assert.is(inet!.maxproc, 100);
  assert.is(inet!.line, 4);
  assert.equal(inet!.listen, { host: '127.0.0.1', port: 10465 });
  assert.equal(inet!.args, ['-o', 'tlsproxy_backend=inet:127.0.0.1:25', '-o', 'syslog_name = postfix/tls in', '-o{tlsproxy_tls_loglevel=2}', '-v']);
  assert.equal(inet!.overrides, [
    { name: 'tlsproxy_backend', value: 'inet:127.0.0.1:25' },
    { name: 'syslog_name', value: 'postfix/tls in' },
    { name: 'tlsproxy_tls_loglevel', value: '2' },
  ]);
  assert.is(pickup!.wakeup, 60);
  assert.is(pickup!.wakeupConditional, true);
  assert.is(pickup!.chroot, true);
  assert.is(pickup!.private, false);
});

test('inet service names: port, host:port, [v6]:port, *:port, names', () => {
  const line = (service: string) => parseMasterCf(`${service} inet n - n - - tlsproxy\n`, FILE).entries[0]!.listen;
  assert.equal(line('10465'), { host: undefined, port: 10465 });
  assert.equal(line('smtps'), { host: undefined, port: 465 });
  assert.equal(line('localhost:10465'), { host: 'localhost', port: 10465 });
  assert.equal(line('[::1]:10465'), { host: '::1', port: 10465 });
  assert.equal(line('[127.0.0.1]:0'), { host: '127.0.0.1', port: 0 });
  assert.equal(line('::1:10465'), { host: '::1', port: 10465 });
  assert.equal(line('*:10465'), { host: undefined, port: 10465 });
  assert.throws(() => line('host:99999'), isConfigError(/^\/etc\/postfix\/master\.cf: line 1: bad port "99999" in "host:99999"$/));
  assert.throws(() => line('[::1]10465'), isConfigError(/missing "\]:port"/));
  assert.throws(() => line('host:nosuchservice'), isConfigError(/bad port "nosuchservice"/));
});

test('validation errors carry file and line', () => {
  const bad = (text: string, pattern: RegExp) => assert.throws(() => parseMasterCf(text, FILE), isConfigError(pattern));
  bad('# c\n\nsmtp bogus n - n - - smtpd\n', /^\/etc\/postfix\/master\.cf: line 3: bad transport type: bogus$/);
  bad('smtp inet n - n - -\n', /line 1: missing "command" field$/);
  bad('smtp\n', /line 1: missing "transport type" field$/);
  bad('smtp inet y - n - - smtpd\n', /line 1: inet service cannot be private$/);
  bad('smtp inet n x n - - smtpd\n', /line 1: field "unprivileged" bad value: "x"$/);
  bad('smtp inet n - n soon - smtpd\n', /field "wakeup_time" bad value: "soon"/);
  bad('smtp inet n - n - many smtpd\n', /field "max_proc" bad value: "many"/);
  bad('smtp inet n - n - - -\n', /field "command" has no default value/);
  bad('smtp inet n - n - - smtpd -o\n', /option requires an argument -- o/);
  bad('smtp inet n - n - - smtpd -o novalue\n', /line 1: -o: missing '=' after attribute name: "novalue"/);
  bad('smtp inet n - n - - smtpd -o { a = b\n', /line 1: syntax error: missing "}"/);
  bad('a unix - - n - - x\nb unix - - n - - y\n  -o x=}\n', /line 2: syntax error: unexpected "}"/);
});

test('duplicate services: the last one wins, with a warning', () => {
  const { entries, warnings } = parseMasterCf('a unix - - n - - x\na unix - - n - - y\n25 inet n - n - - z\n', FILE);
  assert.equal(entries.map((e) => [e.type, e.command]), [['unix', 'y'], ['inet', 'z']]);
  assert.match(warnings[0]!, /line 2: duplicate service name "a" type "unix" \(first on line 1\)/);
});

test.run();
