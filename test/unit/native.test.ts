/**
 * The native addon (native/tlsproxy_native.c): descriptor passing between
 * two processes, UNIX datagrams, accept on a listener, the Poller, flags.
 * Skipped, with the reason printed, where the addon could not be built.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADDON_FILE, loadNative, type NativeAddon, type Poller } from '../../proxy/base/native.js';
import { skipped } from '../helpers/skip.js';

const loaded = loadNative();
if (!loaded.ok) skipped('native addon tests', loaded.reason);
const it = loaded.ok ? test : test.skip;
const n = (loaded.ok ? loaded.addon : undefined) as NativeAddon;

const dirs: string[] = [];
function scratch(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'tlsproxy-native-'));
  dirs.push(d);
  return d;
}

/** Resolves with the first readable/writable event of `fd` (then closes the poller). */
function once(fd: number, readable: boolean, writable: boolean, timeoutMs = 5000, keepFlags = false): Promise<{ readable: boolean; writable: boolean }> {
  return new Promise((resolve, reject) => {
    let poller: Poller | undefined = undefined;
    const timer = setTimeout(() => {
      poller?.close();
      reject(new Error(`no event on fd ${fd} within ${timeoutMs} ms`));
    }, timeoutMs);
    poller = new n.Poller(
      fd,
      (status, r, w) => {
        clearTimeout(timer);
        poller!.close();
        if (status < 0) reject(new Error(`poll status ${status}`));
        else resolve({ readable: r, writable: w });
      },
      keepFlags,
    );
    poller.start(readable, writable);
  });
}

async function recvWhenReady(fd: number, max = 64) {
  for (let i = 0; i < 10; i++) {
    const r = n.recvFd(fd, max);
    if (r) return r;
    await once(fd, true, false);
  }
  throw new Error('nothing received');
}

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('socketpair: bytes both ways, EAGAIN as null, EOF as an empty read', async () => {
  const [a, b] = n.socketpair();
  try {
    assert.is(n.isCloexec(a), true);
    assert.is(n.recvFd(a, 16), null);
    assert.is(n.send(b, Buffer.from('ping')), 4);
    const r = await recvWhenReady(a);
    assert.is(r.data.toString(), 'ping');
    assert.is(r.fd, -1);
    assert.is(r.truncated, false);
    n.close(b);
    const eof = await recvWhenReady(a);
    assert.is(eof.data.length, 0);
  } finally {
    n.close(a);
  }
});

it('send on a closed peer throws EPIPE (no SIGPIPE)', () => {
  const [a, b] = n.socketpair();
  n.close(b);
  try {
    n.send(a, Buffer.from('x'));
    assert.unreachable('send succeeded');
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, 'EPIPE');
  } finally {
    n.close(a);
  }
});

it('passes a TCP socket from another process with SCM_RIGHTS; the received descriptor works as a net.Socket', async () => {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const [mine, theirs] = n.socketpair();
  // The child connects to our server and passes that connection over its fd 3 with one NUL byte, as postscreen does.
  const script = `
    const net = require('node:net');
    const n = require(${JSON.stringify(ADDON_FILE)});
    const s = net.connect(${port}, '127.0.0.1', () => {
      n.sendFd(3, s._handle.fd, Buffer.from([0]));
      s.destroy();
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
  n.close(theirs);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    const r = await recvWhenReady(mine, 1);
    assert.is(r.data.length, 1);
    assert.is(r.data[0], 0);
    assert.ok(r.fd > 2, `got fd ${r.fd}`);
    assert.is(n.isCloexec(r.fd), true);
    assert.is(n.socketInfo(r.fd).type, 'stream');
    assert.is(n.socketInfo(r.fd).unix, false);
    assert.is(await exited, 0);
    const client = new net.Socket({ fd: r.fd, readable: true, writable: true });
    const peer = await accepted;
    assert.is(client.remotePort, port);
    const got = new Promise<string>((resolve) => peer.once('data', (d) => resolve(d.toString())));
    client.write('through the passed descriptor');
    assert.is(await got, 'through the passed descriptor');
    const back = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())));
    peer.write('and back');
    assert.is(await back, 'and back');
    client.destroy();
    peer.destroy();
  } finally {
    clearTimeout(killer);
    n.close(mine);
    await new Promise<void>((r) => server.close(() => r()));
  }
});

it('datagrams: connect, send, receive; ENOENT without a receiver, ECONNREFUSED after it is gone', async () => {
  const dir = scratch();
  const sockPath = path.join(dir, 'postlog');
  try {
    n.dgramConnect(sockPath);
    assert.unreachable('connected to nothing');
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, 'ENOENT');
  }
  const rx = n.dgramBind(sockPath);
  assert.is(n.socketInfo(rx).type, 'dgram');
  const tx = n.dgramConnect(sockPath);
  assert.is(n.send(tx, Buffer.from('Nov 05 10:00:00 host postfix/tlsproxy[1]: one')), 45);
  assert.is(n.send(tx, Buffer.from('two')), 3);
  const first = await recvWhenReady(rx, 4096);
  assert.is(first.data.toString(), 'Nov 05 10:00:00 host postfix/tlsproxy[1]: one');
  const second = await recvWhenReady(rx, 4096);
  assert.is(second.data.toString(), 'two', 'one record per datagram');
  n.close(rx);
  try {
    n.send(tx, Buffer.from('three'));
    assert.unreachable('sent to a closed receiver');
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  }
  n.close(tx);
});

it('accept on a listening socket: -1 when nothing is pending, then a non-blocking close-on-exec descriptor', async () => {
  const dir = scratch();
  const sockPath = path.join(dir, 'tlsproxy');
  const l = n.listenUnix(sockPath, 100);
  try {
    assert.equal(n.socketInfo(l), { type: 'stream', listening: true, unix: true });
    assert.is(n.accept(l), -1);
    const c = net.connect(sockPath);
    await once(l, true, false);
    const s = n.accept(l);
    assert.ok(s > 2);
    assert.is(n.isNonblock(s), true);
    assert.is(n.isCloexec(s), true);
    assert.is(n.socketInfo(s).listening, false);
    n.send(s, Buffer.from('hello'));
    const got = await new Promise<string>((resolve) => c.once('data', (d) => resolve(d.toString())));
    assert.is(got, 'hello');
    c.destroy();
    n.close(s);
  } finally {
    n.close(l);
  }
});

it('Poller: keepFlags leaves a blocking descriptor blocking (the shared status socket), otherwise libuv makes it non-blocking', async () => {
  const [a, b] = n.socketpair();
  const [c, d] = n.socketpair();
  try {
    assert.is(n.isNonblock(a), false);
    const p1 = new n.Poller(a, () => undefined, true);
    assert.is(n.isNonblock(a), false);
    p1.close();
    const p2 = new n.Poller(c, () => undefined, false);
    assert.is(n.isNonblock(c), true);
    p2.close();
    // Hang-up is reported as readable.
    const ev = once(a, true, false, 5000, true);
    n.close(b);
    assert.is((await ev).readable, true);
    assert.is(n.isNonblock(a), false);
  } finally {
    n.close(a);
    n.close(c);
    n.close(d);
  }
});

it('Poller: an exception in the callback reaches uncaughtException', async () => {
  const [a, b] = n.socketpair();
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  try {
    const caught = new Promise<Error>((resolve) => process.once('uncaughtException', resolve));
    const p = new n.Poller(a, () => {
      p.close();
      throw new Error('from the callback');
    });
    p.start(false, true);
    assert.is((await caught).message, 'from the callback');
  } finally {
    for (const l of listeners) process.on('uncaughtException', l);
    n.close(a);
    n.close(b);
  }
});

it('getpwnam, cloexec and non-blocking flags, socketInfo on a non-socket', () => {
  const root = n.getpwnam('root');
  assert.equal(root && { uid: root.uid, gid: root.gid }, { uid: 0, gid: 0 });
  assert.is(n.getpwnam('no-such-user-tlsproxy'), null);
  const [a, b] = n.socketpair();
  n.setCloexec(a, false);
  assert.is(n.isCloexec(a), false);
  n.setCloexec(a, true);
  assert.is(n.isCloexec(a), true);
  n.setNonblock(a, true);
  assert.is(n.isNonblock(a), true);
  n.close(a);
  n.close(b);
  assert.is(n.socketInfo(0).type === 'none' || n.socketInfo(0).type !== 'dgram', true);
  assert.is(n.socketInfo(987654).type, 'none');
  try {
    n.close(987654);
    assert.unreachable('closed a bad descriptor');
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, 'EBADF');
  }
});

test.run();
