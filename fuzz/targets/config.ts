/**
 * main.cf and master.cf (proxy/config/): the input is main.cf text, a NUL,
 * then master.cf text. main.cf is parsed, layered on the defaults, and
 * every parameter it sets is expanded ($name, ${name?x}, ${name:x},
 * relational ${{$a} == {b} ? {x} : {y}}...) along with the tlsproxy_*
 * parameters whose defaults refer to it; master.cf is parsed (every
 * service, -o overrides, { } grouping).
 *
 * Invariant: only ConfigError comes out (never a RangeError from a
 * recursion, a TypeError...), within the time limit of the runner.
 */
import { ConfigError } from '../../proxy/config/errors.js';
import { ParameterSet, parseMainCf } from '../../proxy/config/main-cf.js';
import { parseMasterCf } from '../../proxy/config/master-cf.js';
import { GENERIC } from '../lib/mutate.js';
import { Finding, filesOf, type Target } from '../lib/target.js';

const enc = new TextEncoder();
const dec = new TextDecoder('latin1');
const ALSO = ['tlsproxy_tls_cert_file', 'tlsproxy_tls_security_level', 'tlsproxy_tls_loglevel', 'smtpd_tls_fingerprint_digest', 'tlsproxy_tls_fingerprint_digest', 'tlsproxy_tls_CAfile'];

const MAIN = `# main.cf
compatibility_level = 3.11
myhostname = mail.example.org
tlsproxy_tls_chain_files = /etc/tlsproxy/ecdsa.pem, /etc/tlsproxy/rsa.pem
smtpd_tls_security_level = may
x = \${myhostname?{yes}:{no}} $(myhostname) \${compatibility_level}
y = \${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}
z = \${{$x} == {b} ? {x} : {y}}
  continued line
tlsproxy_tls_loglevel = 1
a = $b
b = $a
`;
const MASTER = `# master.cf
127.0.0.1:10465  inet  n  -  n  -  -  tlsproxy -o tlsproxy_backend=inet:127.0.0.1:25
  -o { tlsproxy_tls_loglevel = 2 } -o smtpd_tls_wrappermode=yes
submissions inet n - n - 4 tlsproxy -o tlsproxy_backend=unix:/run/backend
tlsproxy unix - - n - 0 tlsproxy
smtp inet n - n - 1 postscreen
`;

export const configTarget: Target = {
  name: 'config',
  description: 'parseMainCf + expansion of every parameter it sets, parseMasterCf',
  mutators: GENERIC,
  maxLength: 1 << 15,
  async seeds() {
    return [...filesOf('corpus', 'config').map((f) => f.data), enc.encode(`${MAIN}\0${MASTER}`), enc.encode('a = ${b?${c?${d}}}\0x inet n - n - - tlsproxy -o { a = b }')];
  },
  async run(input) {
    const all = dec.decode(input);
    const nul = all.indexOf('\0');
    const main = nul < 0 ? all : all.slice(0, nul);
    const master = nul < 0 ? '' : all.slice(nul + 1);
    const outcome: string[] = [];
    const guard = (what: string, f: () => void) => {
      try {
        f();
        outcome.push(`${what}:ok`);
      } catch (e) {
        if (e instanceof ConfigError) {
          // The kind of problem, without the names and values it quotes.
          const kind = e.message.replace(/^[^:]*line \d+: /, '').replace(/^parameter [^:]*: /, '').split(/[:"(]/)[0]!;
          outcome.push(`${what}:${kind.replace(/[^a-z ]/gi, '').split(' ').slice(0, 3).join(' ').slice(0, 24)}`);
          return;
        }
        throw new Finding(`${what} threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
      }
    };
    guard('main.cf', () => {
      const { layer, warnings } = parseMainCf(main, 'main.cf');
      const params = ParameterSet.defaults().withLayer(layer, warnings);
      for (const name of [...layer.values.keys(), ...ALSO]) guard(`get`, () => void params.get(name));
    });
    guard('master.cf', () => void parseMasterCf(master, 'master.cf'));
    // main.cf's and master.cf's outcome, and the first expansion problem: a small label space.
    const gets = outcome.filter((o) => o.startsWith('get:') && o !== 'get:ok');
    return [outcome.find((o) => o.startsWith('main.cf')), outcome.find((o) => o.startsWith('master.cf')), gets[0] ?? 'get:ok'].join('|');
  },
};
