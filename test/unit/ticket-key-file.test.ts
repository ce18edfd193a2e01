/**
 * proxy/tls/ticket-key-file.ts and the staged keys of engine/tickets.ts:
 * create (mode 0600, refuses an existing file), rotate (a key staged
 * ahead, expired keys retired, a staged key already waiting refused, a
 * file with no sealing key gets a key that seals at once), the atomic
 * write (no temporary file left), and a ring with a staged key: it opens
 * tickets sealed with it, and seals with the older key until its time.
 */

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TicketKeyRing } from '../../engine/tickets.js';
import { createNodeCryptoProvider } from '../../providers/node.js';

const nodeProvider = createNodeCryptoProvider();
import { createKeyFile, keyStates, rotateKeyFile } from '../../proxy/tls/ticket-key-file.js';
import { parseTicketKeyFile } from '../../proxy/tls/ticket-keys.js';
import { tempDir } from '../helpers/proxy.js';

const L = 3600;
const read = (f: string, now: number) => parseTicketKeyFile(readFileSync(f, 'utf8'), 'k', L, now, true);

test('create: one key sealing now, mode 0600, an existing file refused', () => {
  const dir = tempDir('tk-');
  const f = path.join(dir, 'keys');
  const now = 1_800_000_000_000;
  createKeyFile(f, { now });
  assert.is((statSync(f).mode & 0o777).toString(8), '600');
  const p = read(f, now);
  assert.is(p.keys.length, 1);
  assert.is(p.keys[0]!.created, now);
  assert.equal(keyStates(p.keys, p.lines, L, now).map((k) => k.state), ['encrypting']);
  assert.throws(() => createKeyFile(f, { now }), /exists already/);
  assert.equal(readdirSync(dir), ['keys'], 'no temporary file left');
});

test('rotate: staged ahead, expired keys retired, a second staged key refused', () => {
  const dir = tempDir('tk-');
  const f = path.join(dir, 'keys');
  const t0 = 1_800_000_000_000;
  createKeyFile(f, { now: t0 });
  // 20 minutes later: stage a key 300 s ahead.
  const t1 = t0 + 1200_000;
  const r1 = rotateKeyFile(f, L, 300, { now: t1 });
  assert.is(r1.immediate, false);
  assert.is(r1.added.created, t1 + 300_000);
  let p = read(f, t1);
  assert.equal(keyStates(p.keys, p.lines, L, t1).map((k) => k.state), ['encrypting', 'staged']);
  assert.throws(() => rotateKeyFile(f, L, 300, { now: t1 + 1000 }), /a key is staged already/);
  // After the stage, the new key seals and the first only opens.
  assert.equal(keyStates(p.keys, p.lines, L, t1 + 301_000).map((k) => k.state), ['decrypting', 'encrypting']);
  // Two more rotations, the last one more than L after the first key: it is retired.
  rotateKeyFile(f, L, 300, { now: t1 + 1200_000 });
  const t3 = t0 + L * 1000 + 1000;
  const r3 = rotateKeyFile(f, L, 300, { now: t3 });
  assert.is(r3.removed, 1);
  p = read(f, t3);
  assert.is(p.keys.length, 3);
  assert.not.ok(p.keys.some((k) => k.created === t0));
  assert.is((statSync(f).mode & 0o777).toString(8), '600');
  assert.equal(readdirSync(dir), ['keys']);
  assert.throws(() => rotateKeyFile(f, L, L, { now: t3 + 400_000 }), /stage time/);
});

test('rotate: a file whose keys no longer seal gets a key that seals at once', () => {
  const f = path.join(tempDir('tk-'), 'keys');
  const t0 = 1_800_000_000_000;
  createKeyFile(f, { now: t0 });
  const r = rotateKeyFile(f, L, 300, { now: t0 + 2 * L * 1000 });
  assert.is(r.immediate, true);
  assert.is(r.removed, 1);
  assert.is(r.added.created, t0 + 2 * L * 1000);
});

test('rotate refuses a group-readable file', () => {
  const f = path.join(tempDir('tk-'), 'keys');
  writeFileSync(f, `${Math.floor(Date.now() / 1000)} ${Buffer.alloc(48, 1).toString('base64')}\n`, { mode: 0o644 });
  assert.throws(() => rotateKeyFile(f, L), /readable or writable by group or others/);
});

test('ring: a staged key opens tickets at once and seals only from its time', async () => {
  let now = 1_800_000_000_000;
  const old = { name: new Uint8Array(16).fill(1), secret: new Uint8Array(32).fill(2), created: now - 60_000 };
  const staged = { name: new Uint8Array(16).fill(3), secret: new Uint8Array(32).fill(4), created: now + 300_000 };
  const a = new TicketKeyRing(nodeProvider, { lifetime: L, autoRotate: false, keys: [old, staged], now: () => now });
  const t1 = await a.seal(new Uint8Array([9, 9]));
  assert.equal([...t1.subarray(0, 16)], [...old.name], 'sealed with the old key while the new one is staged');
  // Another instance already sealing with the new key (its clock is ahead): we open its ticket.
  const b = new TicketKeyRing(nodeProvider, { lifetime: L, autoRotate: false, keys: [old, staged], now: () => now + 301_000 });
  const t2 = await b.seal(new Uint8Array([7]));
  assert.equal([...t2.subarray(0, 16)], [...staged.name]);
  assert.equal([...((await a.open(t2)) ?? [])], [7]);
  now += 301_000;
  const t3 = await a.seal(new Uint8Array([8]));
  assert.equal([...t3.subarray(0, 16)], [...staged.name], 'seals with the new key from its time');
  assert.equal([...((await a.open(t1)) ?? [])], [9, 9], 'old tickets still open');
});

test.run();
