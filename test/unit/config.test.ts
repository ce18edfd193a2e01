import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../proxy/config/errors.js';
import { expand } from '../../proxy/config/expand.js';
import { logicalLines } from '../../proxy/config/lines.js';
import { ParameterSet, loadMainCf, parseMainCf, parseOverride } from '../../proxy/config/main-cf.js';
import { PARAMETERS } from '../../proxy/config/params.js';
import { Logger, MemorySink, formatLogLine, formatTimestamp } from '../../proxy/log/log.js';

const FILE = '/etc/postfix/main.cf';

function fromText(text: string): ParameterSet {
  const { layer, warnings } = parseMainCf(text, FILE);
  return ParameterSet.defaults().withLayer(layer, warnings);
}

const isConfigError = (pattern: RegExp) => (e: unknown) => e instanceof ConfigError && pattern.test(e.message);

test('logical lines: comments, blank lines, continuation, leading whitespace', () => {
  const { lines, warnings } = logicalLines(
    ['  # indented comment', 'a = 1', '', 'b = x', '  y', '# comment inside', '\tz', 'c=3', '   ', '#last'].join('\n') + '\n',
    FILE,
  );
  assert.equal(
    lines.map((l) => [l.line, l.text]),
    [
      [2, 'a = 1'],
      [4, 'b = x  y\tz'],
      [8, 'c=3'],
    ],
  );
  assert.equal(warnings, []);
  const lead = logicalLines('  orphan = 1\nx = 2\n', FILE);
  assert.equal(lead.lines.map((l) => l.text), ['x = 2']);
  assert.match(lead.warnings[0]!, /main\.cf, line 1: logical line must not start with whitespace: "orphan = 1"/);
});

test('main.cf: name = value with whitespace trimmed, CRLF, last definition wins', () => {
  const p = fromText('foo   =   bar baz   \r\nempty =\nfoo = again\n');
  assert.is(p.raw('foo'), 'again');
  assert.is(p.raw('empty'), '');
  assert.is(p.origin('foo'), `${FILE}, line 3`);
});

test('main.cf: syntax errors name the file and line', () => {
  assert.throws(() => fromText('ok = 1\nnot a parameter\n'), isConfigError(/^\/etc\/postfix\/main\.cf, line 2: missing '=' after attribute name: "not"$/));
  assert.throws(() => fromText('= value\n'), isConfigError(/line 1: missing attribute name/));
});

test('expansion: $name, ${name}, $(name), $$, unknown names empty', () => {
  const p = fromText('a = A\nb = [$a] [${a}] [$(a)] [$unknown] [$$a] cost $ 5\nc = $b!\n');
  assert.is(p.get('b'), '[A] [A] [A] [] [$a] cost $ 5');
  assert.is(p.get('c'), '[A] [A] [A] [] [$a] cost $ 5!');
  assert.is(p.get('nothing_at_all'), '');
  assert.is(p.raw('nothing_at_all'), undefined);
});

test('expansion: conditionals ${x?v} ${x:v} ${x?{v}:{w}}', () => {
  const p = fromText(
    [
      'set = yes',
      'unset =',
      'r1 = ${set?on} ${unset?on} ${missing?on}',
      'r2 = ${set:off} ${unset:off} ${missing:off}',
      'r3 = ${set?{ A $set }:{B}} ${unset?{A}:{ B $set }} ${set ? {x} : {y}}',
      'r4 = ${set?{A}:plain text} ${unset?{A}:plain text}',
      'r5 = ${set?value with: colon}',
      'nested = ${set?{${unset:{inner}}}}',
      'eq = ${{$set} == {yes} ? {same} : {different}} ${{$set} != {yes}?{ne}:{eq}}',
    ].join('\n'),
  );
  assert.is(p.get('r1'), 'on  ');
  assert.is(p.get('r2'), ' off off');
  // The ${set ? ...} form has whitespace in the name: a syntax error only for that one.
  assert.throws(() => p.get('r3'), isConfigError(/parameter r3: attribute name syntax error/));
  assert.is(expand('${set?{ A $set }:{B}} ${unset?{A}:{ B $set }}', (n) => p.get(n)), ' A yes   B yes ');
  assert.is(p.get('r4'), 'A plain text');
  assert.is(p.get('r5'), 'value with: colon');
  assert.is(p.get('nested'), 'inner');
  assert.is(p.get('eq'), 'same eq');
});

test('expansion: loops are detected, syntax errors reported with the parameter', () => {
  const p = fromText('a = x $b\nb = ${c}\nc = $(a)\nself = $self\nbad = ${unclosed\nviabad = $bad\n');
  assert.throws(() => p.get('a'), isConfigError(/^parameter a: recursive expansion: \$a -> \$b -> \$c -> \$a$/));
  assert.throws(() => p.get('self'), isConfigError(/recursive expansion: \$self -> \$self/));
  assert.throws(() => p.get('bad'), isConfigError(/^parameter bad: missing '}'/));
  assert.throws(() => p.get('viabad'), isConfigError(/^parameter bad: missing '}'/));
  // the same name twice side by side is not a loop
  assert.is(fromText('x = 1\ny = $x$x\n').get('y'), '11');
});

test('defaults: tlsproxy_* inherit smtpd_* (3.11 table)', () => {
  const d = ParameterSet.defaults();
  assert.is(d.raw('tlsproxy_tls_cert_file'), '$smtpd_tls_cert_file');
  assert.is(d.get('tlsproxy_tls_cert_file'), '');
  assert.is(d.get('tlsproxy_tls_loglevel'), '0');
  assert.is(d.get('tlsproxy_tls_security_level'), '');
  assert.is(d.get('syslog_name'), 'postfix');
  assert.is(d.get('tlsproxy_backend'), '');
  assert.is(d.get('tlsproxy_tls_protocols'), '>=TLSv1');
  assert.is(d.getTime('tlsproxy_watchdog_timeout'), 10);

  const p = fromText('smtpd_tls_cert_file = /etc/ssl/rsa.pem\nsmtpd_tls_eccert_file = /etc/ssl/ec.pem\nmulti_instance_name = postfix-out\n');
  assert.is(p.get('tlsproxy_tls_cert_file'), '/etc/ssl/rsa.pem');
  assert.is(p.get('tlsproxy_tls_key_file'), '/etc/ssl/rsa.pem'); // key defaults to the cert file
  assert.is(p.get('tlsproxy_tls_eccert_file'), '/etc/ssl/ec.pem');
  assert.is(p.get('tlsproxy_tls_eckey_file'), '/etc/ssl/ec.pem');
  assert.is(p.get('syslog_name'), 'postfix-out');
  // every table entry has a unique name and expands without error
  assert.is(new Set(PARAMETERS.map((x) => x.name)).size, PARAMETERS.length);
  for (const def of PARAMETERS) d.get(def.name);
});

test('-o overrides: precedence over main.cf, later layers win, inheritance follows', () => {
  const base = fromText('smtpd_tls_cert_file = /main.pem\ntlsproxy_tls_loglevel = 2\n');
  const service = base.withOverrides([parseOverride('smtpd_tls_cert_file = /service.pem', 'x'), parseOverride('tlsproxy_backend=inet:127.0.0.1:25', 'x')], 'master.cf, line 3: -o');
  const cli = service.withOverrides([parseOverride('tlsproxy_tls_loglevel=1', 'cli')], 'command line -o');
  assert.is(base.get('tlsproxy_tls_cert_file'), '/main.pem');
  assert.is(service.get('tlsproxy_tls_cert_file'), '/service.pem');
  assert.is(service.get('tlsproxy_tls_key_file'), '/service.pem');
  assert.is(service.get('tlsproxy_backend'), 'inet:127.0.0.1:25');
  assert.is(service.get('tlsproxy_tls_loglevel'), '2');
  assert.is(cli.get('tlsproxy_tls_loglevel'), '1');
  assert.is(cli.origin('tlsproxy_tls_loglevel'), 'command line -o');
  assert.is(base.get('tlsproxy_backend'), '');
  assert.equal(parseOverride('a=b=c', 'x'), { name: 'a', value: 'b=c' });
  assert.throws(() => parseOverride('novalue', '-o'), isConfigError(/^-o: missing '=' after attribute name: "novalue"/));
});

test('typed values: bool, int, time', () => {
  const p = fromText('b1 = YES\nb2 = no\nb3 = maybe\ntlsproxy_session_timeout = 2m\ntlsproxy_handshake_timeout = 7\ntlsproxy_watchdog_timeout = 5s\ntlsproxy_tls_ccert_verifydepth = x\nh = 1h\n');
  assert.is(p.getBool('b1'), true);
  assert.is(p.getBool('b2'), false);
  assert.throws(() => p.getBool('b3'), isConfigError(/^bad boolean configuration: b3 = maybe$/));
  assert.is(p.getTime('tlsproxy_session_timeout'), 120);
  assert.is(p.getTime('tlsproxy_handshake_timeout'), 7);
  assert.is(p.getTime('h'), 3600);
  assert.throws(() => p.getTime('tlsproxy_watchdog_timeout'), isConfigError(/invalid tlsproxy_watchdog_timeout: 5s \(min 10s\)/));
  assert.throws(() => p.getInt('tlsproxy_tls_ccert_verifydepth'), isConfigError(/bad numerical configuration: tlsproxy_tls_ccert_verifydepth = x/));
  assert.throws(() => p.getTime('b3'), isConfigError(/parameter b3: bad time value or unit: maybe/));
});

test('loadMainCf reads DIR/main.cf; a missing file is an error', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tlsproxy-config-'));
  try {
    assert.throws(() => loadMainCf(dir), isConfigError(/^open .*main\.cf: No such file or directory$/));
    writeFileSync(path.join(dir, 'main.cf'), 'syslog_name = test\n');
    const p = loadMainCf(dir);
    assert.is(p.get('syslog_name'), 'test');
    assert.is(p.get('config_directory'), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('log lines in Postfix maillog_file format', () => {
  const when = new Date(2024, 2, 5, 9, 7, 3);
  assert.is(formatTimestamp(when), 'Mar 05 09:07:03');
  // One second's text is reused within that second, and only within it.
  assert.is(formatTimestamp(new Date(when.getTime() + 900)), 'Mar 05 09:07:03');
  assert.is(formatTimestamp(new Date(when.getTime() + 1000)), 'Mar 05 09:07:04');
  assert.is(formatTimestamp(when), 'Mar 05 09:07:03');
  assert.is(formatLogLine(when, 'other.example.org', 't', 1, 'info', 'x'), 'Mar 05 09:07:03 other t[1]: x');
  assert.is(formatLogLine(when, 'mx.example.org', 'postfix/tlsproxy', 42, 'info', 'CONNECT from [192.0.2.7]:41862'), 'Mar 05 09:07:03 mx postfix/tlsproxy[42]: CONNECT from [192.0.2.7]:41862');
  assert.is(formatLogLine(when, 'mx', 'postfix/tlsproxy', 42, 'warning', 'x'), 'Mar 05 09:07:03 mx postfix/tlsproxy[42]: warning: x');
  assert.is(formatLogLine(when, 'mx', 'p/t', 1, 'fatal', 'y'.repeat(3000)).length, 'Mar 05 09:07:03 mx p/t[1]: fatal: '.length + 2000);

  const mem = new MemorySink();
  const log = new Logger({ syslogName: 'postfix-in', hostname: 'host.example', pid: 7, sink: mem.sink, clock: () => when });
  log.info('hello');
  log.warning('careful');
  log.fatal('bye');
  assert.equal(mem.lines, [
    'Mar 05 09:07:03 host postfix-in/tlsproxy[7]: hello',
    'Mar 05 09:07:03 host postfix-in/tlsproxy[7]: warning: careful',
    'Mar 05 09:07:03 host postfix-in/tlsproxy[7]: fatal: bye',
  ]);
  assert.equal(mem.messages, ['hello', 'warning: careful', 'fatal: bye']);
});

test('MemorySink.waitFor sees past and future lines', async () => {
  const mem = new MemorySink();
  const log = new Logger({ sink: mem.sink });
  log.info('first');
  assert.is((await mem.waitFor('first')).text, 'first');
  const later = mem.waitFor(/^warning: sec/);
  setTimeout(() => log.warning('second'), 5);
  assert.is((await later).text, 'second');
  await mem.waitFor('never', 20).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /no log line matching never/),
  );
});


test('expansion is remembered per set: the same value again, errors every time, a new layer sees its own values', () => {
  const p = fromText('x = 1\ny = $x$x\nloop = $loop\n');
  assert.is(p.get('y'), '11');
  assert.is(p.get('y'), '11');
  assert.throws(() => p.get('loop'), isConfigError(/recursive expansion/));
  assert.throws(() => p.get('loop'), isConfigError(/recursive expansion/), 'a failed expansion is not remembered as a value');
  const q = p.withOverrides([{ name: 'x', value: '2' }], 'test');
  assert.is(q.get('y'), '22', 'the layered set expands with its own values');
  assert.is(p.get('y'), '11', 'and the base set is unchanged');
});

test.run();
