/**
 * The attribute protocol of the Postfix mode (proxy/postfix/attr.ts,
 * protocol.ts): what the Postfix smtpd/postscreen side sends over the
 * tlsproxy service socket, fed in chunks to the incremental reader, then
 * read as a request the way the service does.
 *
 * Invariant: only AttrError comes out; a reader that says `done` consumed
 * no more than it was fed; a parsed request has a role.
 */
import { AttrError, AttrListReader, encodeAttrs } from '../../proxy/postfix/attr.js';
import { expectsSecondList, parseMailVersion, parseRequest, roleOf } from '../../proxy/postfix/protocol.js';
import { GENERIC } from '../lib/mutate.js';
import { Finding, filesOf, type Target } from '../lib/target.js';

export const postfixAttrTarget: Target = {
  name: 'postfix-attr',
  description: 'AttrListReader (chunked), parseRequest, roleOf, expectsSecondList: the request lists of Postfix 2.8, 2.9 and 3.4+',
  mutators: GENERIC,
  maxLength: 40_000,
  async seeds() {
    return [
      ...filesOf('corpus', 'postfix-attr').map((f) => f.data),
      encodeAttrs([['remote_endpoint', '[192.0.2.1]:4000'], ['flags', '1'], ['timeout', '300']]),
      encodeAttrs([['remote_endpoint', '[192.0.2.1]:4000'], ['flags', '5'], ['timeout', '300'], ['server_id', 'smtpd&x']]),
      encodeAttrs([['remote_endpoint', '[2001:db8::1]:25'], ['flags', '13'], ['timeout', '300'], ['timeout', '3600'], ['serverid', 'smtpd&c=1']]),
    ];
  },
  async run(input, rng) {
    const r = new AttrListReader();
    let used = 0;
    try {
      for (let at = 0; at < input.length && !r.done;) {
        const n = 1 + rng.below(64);
        const chunk = input.subarray(at, at + n);
        const took = r.feed(chunk);
        if (took > chunk.length) throw new Finding('reader consumed more than fed', `${took} > ${chunk.length}`);
        used += took;
        at += took;
        if (took < chunk.length && !r.done) throw new Finding('reader stopped early without being done', `${took} of ${chunk.length}`);
      }
      if (!r.done) return `incomplete:${Math.min(r.attrs.length, 5)}`;
      const req = parseRequest(r.attrs);
      const role = roleOf(req.flags);
      expectsSecondList(req, parseMailVersion('3.12.0')!);
      return `ok:${req.form}:${role}:${used === input.length}`;
    } catch (e) {
      if (e instanceof Finding) throw e;
      if (e instanceof AttrError) return `error:${e.message.split(/[:("]/)[0]!.replace(/\d+/g, 'N').slice(0, 40)}`;
      throw new Finding(`attribute reader threw ${(e as Error)?.name}`, (e as Error)?.stack ?? String(e));
    }
  },
};
