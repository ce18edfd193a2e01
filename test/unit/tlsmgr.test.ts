// The tlsmgr(8) client (proxy/postfix/tlsmgr.ts) against a scripted tlsmgr
// on a UNIX socket: the attr0 conversation with its protocol greeting,
// ticket keys by name, the sealed session cache, and the bounds: a tlsmgr
// that is absent, silent or speaks garbage costs a bounded wait, one warning
// per outage, and never a rejected promise.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AttrListReader, encodeAttrs, type Attr } from '../../proxy/postfix/attr.js';
import { MAX_QUEUED, TLS_MGR_STAT_ERR, TLS_MGR_STAT_FAIL, TLS_MGR_STAT_OK, TlsmgrClient, decodeTicketKey } from '../../proxy/postfix/tlsmgr.js';
import { TlsmgrKeySource, TlsmgrSessionCache, ticketKeyFromTlsmgr } from '../../proxy/postfix/tlsmgr-resumption.js';
import { FetchingRing } from '../../proxy/tls/fetching-keys.js';
import { createNodeCryptoProvider } from '../../providers/node.js';
import { until } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tlsmgr-unit-'));
let n = 0;

function keyStruct(name: number, tout: number): Buffer {
  const b = Buffer.alloc(88);
  b.fill(name, 0, 16);
  b.fill(0xa0 + name, 16, 48);
  b.fill(0xb0 + name, 48, 80);
  b.writeBigInt64LE(BigInt(tout), 80);
  return b;
}

type Handler = (req: Map<string, string>) => Attr[] | 'silent' | 'garbage';

/** A scripted tlsmgr: greets, then answers each request list with `handler`. */
async function fakeTlsmgr(handler: Handler, greeting = 'tlsmgr_protocol'): Promise<{ path: string; requests: Map<string, string>[]; close: () => void }> {
  const p = path.join(dir, `tlsmgr-${n++}`);
  const requests: Map<string, string>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.write(encodeAttrs([['protocol', greeting]]));
    let reader = new AttrListReader();
    s.on('data', (d: Buffer) => {
      let rest: Uint8Array = d;
      while (rest.length) {
        rest = rest.subarray(reader.feed(rest));
        if (!reader.done) return;
        const req = new Map(reader.attrs);
        requests.push(req);
        reader = new AttrListReader();
        const r = handler(req);
        if (r === 'garbage') s.write(`status\0${'x'.repeat(9000)}\0\0`);
        else if (r !== 'silent') s.write(encodeAttrs(r));
      }
    });
  });
  await new Promise<void>((r) => server.listen(p, () => r()));
  return { path: p, requests, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

test('ticket key struct: 88-byte (AES-256) and 56-byte (AES-128) layouts, anything else refused', () => {
  const k = decodeTicketKey(keyStruct(7, 1_800_000_000))!;
  assert.is(k.name.length, 16);
  assert.is(k.bits.length, 32);
  assert.is(k.hmac.length, 32);
  assert.is(k.tout, 1_800_000_000);
  const small = Buffer.alloc(56);
  small.writeBigInt64LE(1234n, 48);
  assert.is(decodeTicketKey(small)!.bits.length, 16);
  assert.is(decodeTicketKey(Buffer.alloc(87)), undefined);
  assert.is(decodeTicketKey(Buffer.alloc(88)), undefined, 'tout 0');
});

test('our key: windows match tlsmgr (encrypts until tout, decrypts half a lifetime longer); secret derived, not the raw bits', () => {
  const tout = 1_800_000_000;
  const k = ticketKeyFromTlsmgr(decodeTicketKey(keyStruct(1, tout))!, 3600);
  assert.is(k.created, (tout + 1 - 1800) * 1000);
  assert.is(k.secret.length, 32);
  assert.not.equal(Buffer.from(k.secret), Buffer.alloc(32, 0xa1));
});

test('policy, keys, cache: the conversation as tls_mgr.c has it', async () => {
  const now = Math.floor(Date.now() / 1000);
  const store = new Map<string, string>();
  const f = await fakeTlsmgr((r) => {
    switch (r.get('request')) {
      case 'policy': return [['status', '0'], ['cachable', '1'], ['timeout', '3600']];
      case 'tktkey': {
        const name = Buffer.from(r.get('keyname')!, 'base64');
        if (name.length === 0) return [['status', '0'], ['keybuf', b64(keyStruct(1, now + 1799))]];
        if (name.equals(Buffer.alloc(16, 1))) return [['status', '0'], ['keybuf', b64(keyStruct(1, now + 1799))]];
        if (name.equals(Buffer.alloc(16, 2))) return [['status', '0'], ['keybuf', b64(keyStruct(2, now - 100))]];
        return [['status', String(TLS_MGR_STAT_ERR >>> 0)], ['keybuf', '']];
      }
      case 'update': store.set(r.get('cache_id')!, r.get('session')!); return [['status', '0']];
      case 'lookup': return store.has(r.get('cache_id')!) ? [['status', '0'], ['session', store.get(r.get('cache_id')!)!]] : [['status', String(-1 >>> 0)], ['session', '']];
      case 'delete': store.delete(r.get('cache_id')!); return [['status', '0']];
      default: return [['status', String(-2 >>> 0)]];
    }
  });
  const warnings: string[] = [];
  const c = new TlsmgrClient({ path: f.path, warn: (m) => warnings.push(m) });
  try {
    assert.equal(await c.policy('smtpd'), { status: TLS_MGR_STAT_OK, cachable: true, timeout: 3600 });
    assert.equal(f.requests[0], new Map([['request', 'policy'], ['cache_type', 'smtpd']]));
    const current = await c.ticketKey();
    assert.equal(Buffer.from(current!.name), Buffer.alloc(16, 1));
    assert.equal(f.requests[1]!.get('keyname'), '', 'the current key is asked with an empty name');
    assert.is(await c.ticketKey(Buffer.alloc(16, 9)), undefined, 'unknown name: TLS_MGR_STAT_ERR');

    // Rings over a tlsmgr key source: seal with the current key; a ticket of a key
    // this process never saw (key 2, still decrypting) is opened after asking by name.
    const provider = createNodeCryptoProvider();
    const source = new TlsmgrKeySource(c, 3600);
    const ring = new FetchingRing(provider, source);
    const ticket = await ring.seal(new Uint8Array([1, 2, 3]));
    assert.equal(Buffer.from(ticket.subarray(0, 16)), Buffer.alloc(16, 1));
    assert.equal(await ring.open(ticket), new Uint8Array([1, 2, 3]));
    const other = new TlsmgrKeySource(c, 3600);
    await other.keyByName(new Uint8Array(16).fill(2));
    const otherRing = new FetchingRing(provider, other);
    const t2 = await Promise.resolve().then(() => otherRing.seal(new Uint8Array([4]))).catch(() => undefined);
    assert.ok(t2 && t2[0] === 1, 'key 2 no longer encrypts: the current key (1) seals');
    // A process that knows nothing opens a ticket by asking for its key.
    const fresh = new FetchingRing(provider, new TlsmgrKeySource(c, 3600));
    const asked = f.requests.length;
    assert.equal(await fresh.open(ticket), new Uint8Array([1, 2, 3]));
    assert.equal(Buffer.from(f.requests[asked]!.get('keyname')!, 'base64'), Buffer.alloc(16, 1));
    assert.is(await fresh.open(new Uint8Array(64).fill(9)), undefined, 'unknown key: no resumption');

    // The cache stores sealed sessions only.
    const cache = new TlsmgrSessionCache(c, ring);
    const secret = new TextEncoder().encode('master secret in here');
    cache.put(new Uint8Array([0xab, 0xcd]), secret);
    await until(() => store.has('abcd'), 'the update request to reach tlsmgr');
    assert.not.ok(Buffer.from(store.get('abcd')!, 'base64').includes(Buffer.from(secret)), 'tlsmgr never sees the session in clear');
    assert.equal(await cache.get(new Uint8Array([0xab, 0xcd])), secret);
    assert.is(await cache.get(new Uint8Array([0x00])), undefined);
    // An entry moved to another cache ID in tlsmgr's database does not open there (the ID is the AEAD context).
    store.set('abce', store.get('abcd')!);
    assert.is(await cache.get(new Uint8Array([0xab, 0xce])), undefined, 'a moved entry is a miss');
    cache.remove(new Uint8Array([0xab, 0xcd]));
    await until(() => !store.has('abcd'), 'the delete request to reach tlsmgr');
    assert.equal(warnings, []);
  } finally {
    c.close();
    f.close();
  }
});

test('a silent tlsmgr: each request ends after the timeout, one warning, then no connection attempts for a while', async () => {
  const f = await fakeTlsmgr(() => 'silent');
  const warnings: string[] = [];
  const c = new TlsmgrClient({ path: f.path, timeoutMs: 300, retryAfterMs: 60_000, warn: (m) => warnings.push(m) });
  try {
    const t0 = Date.now();
    assert.equal(await c.policy('smtpd'), { status: TLS_MGR_STAT_FAIL, cachable: false, timeout: 0 });
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 2000, `bounded wait: ${took} ms`);
    const t1 = Date.now();
    assert.is(await c.ticketKey(), undefined);
    assert.ok(Date.now() - t1 < 50, 'during the quiet period requests fail at once');
    assert.is(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /problem talking to service .*tlsmgr-\d+: timeout after 300 ms/);
  } finally {
    c.close();
    f.close();
  }
});

test('a slow tlsmgr: the bound covers the time queued behind other requests, and the queue is bounded', async () => {
  // Answers each request 150 ms after it arrives, one at a time (as tlsmgr serves one client).
  const p = path.join(dir, `tlsmgr-${n++}`);
  let received = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.write(encodeAttrs([['protocol', 'tlsmgr_protocol']]));
    let reader = new AttrListReader();
    s.on('data', (d: Buffer) => {
      let rest: Uint8Array = d;
      while (rest.length) {
        rest = rest.subarray(reader.feed(rest));
        if (!reader.done) return;
        received++;
        reader = new AttrListReader();
        setTimeout(() => s.destroyed || s.write(encodeAttrs([['status', '0']])), 150);
      }
    });
  });
  await new Promise<void>((r) => server.listen(p, () => r()));
  const c = new TlsmgrClient({ path: p, timeoutMs: 400, retryAfterMs: 60_000, warn: () => undefined });
  try {
    // Ten handshakes ask at once: before, the tenth waited 10 x 150 ms although the bound is 400 ms.
    const t0 = Date.now();
    const all = await Promise.all(Array.from({ length: 10 }, () => c.delete('smtpd', 'aa')));
    const took = Date.now() - t0;
    assert.ok(took < 1000, `every request ends within about its bound: ${took} ms`);
    assert.is(all.filter((v) => v === TLS_MGR_STAT_OK).length, 2, `two answered in time: ${all.join(' ')}`);
    assert.ok(received <= 3, `requests that waited out their bound are not sent: ${received} received`);
  } finally {
    c.close();
    for (const s of sockets) s.destroy();
    server.close();
  }
  // A silent tlsmgr: beyond MAX_QUEUED waiting requests, a new one fails at once.
  const f = await fakeTlsmgr(() => 'silent');
  const c2 = new TlsmgrClient({ path: f.path, timeoutMs: 300, warn: () => undefined });
  try {
    const waiting = Array.from({ length: MAX_QUEUED + 1 }, () => c2.lookup('smtpd', 'aa'));
    const t1 = Date.now();
    assert.is(await c2.lookup('smtpd', 'bb'), undefined);
    assert.ok(Date.now() - t1 < 100, 'refused at once, not queued');
    assert.ok((await Promise.all(waiting)).every((v) => v === undefined));
  } finally {
    c2.close();
    f.close();
  }
});

test('garbage, a wrong greeting, or no tlsmgr at all: failures, never exceptions', async () => {
  for (const [label, make] of [
    ['garbage', () => fakeTlsmgr(() => 'garbage')],
    ['a reply without status', () => fakeTlsmgr(() => [['bogus', '1']])],
    ['wrong greeting', () => fakeTlsmgr(() => [['status', '0']], 'scache_protocol')],
  ] as const) {
    const f = await make();
    const warnings: string[] = [];
    const c = new TlsmgrClient({ path: f.path, timeoutMs: 500, warn: (m) => warnings.push(m) });
    assert.is((await c.policy('smtpd')).status, TLS_MGR_STAT_FAIL, label);
    assert.match(warnings.join('\n'), /bad reply from tlsmgr/, label);
    c.close();
    f.close();
  }
  const warnings: string[] = [];
  const c = new TlsmgrClient({ path: path.join(dir, 'nothing-here'), warn: (m) => warnings.push(m) });
  assert.is(await c.lookup('smtpd', 'x'), undefined);
  assert.match(warnings[0]!, /nothing-here: connect ENOENT/);
  c.close();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
