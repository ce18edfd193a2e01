/**
 * The engine as a library (docs/library.md): package.json "exports" resolve
 * to compiled JavaScript with type declarations, a TypeScript consumer
 * type-checks against them, the neutral bundle holds no Node built-in, and
 * examples/echo-server.mjs serves openssl s_client over node:net.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DIST, ensureBuilt, root } from '../helpers/build.js';
import { interactive } from '../helpers/daemon-proc.js';
import { testPki } from '../helpers/pki.js';
import { freePort } from '../helpers/postfix-backend.js';

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, string | { types: string; default: string }> };

test.before(() => ensureBuilt());

test('every package export resolves to compiled JavaScript in dist/ with its .d.ts', async () => {
  const names = Object.keys(pkg.exports).filter((k) => k !== './package.json');
  assert.equal(names, ['./engine', './certs', './providers/webcrypto', './providers/js', './providers/node', './bundle']);
  for (const k of names) {
    const e = pkg.exports[k] as { types: string; default: string };
    assert.ok(existsSync(path.join(root, e.default)), e.default);
    assert.ok(existsSync(path.join(root, e.types)), e.types);
    assert.ok(e.default.startsWith('./dist/'));
  }
  // Loaded by the package's own name (self-reference through "exports"), in a plain node process.
  const probe = `
    const engine = await import('tlsproxy/engine');
    const certs = await import('tlsproxy/certs');
    const webcrypto = await import('tlsproxy/providers/webcrypto');
    const js = await import('tlsproxy/providers/js');
    const node = await import('tlsproxy/providers/node');
    const bundle = await import('tlsproxy/bundle');
    console.log([typeof engine.ServerConnection, typeof certs.loadKeyPair, typeof webcrypto.createWebCryptoProvider,
      typeof js.createJsCryptoProvider, typeof node.createNodeCryptoProvider, typeof bundle.ServerConnection,
      import.meta.resolve('tlsproxy/engine').replace(${JSON.stringify(`file://${root}/`)}, '')].join(' '));`;
  const dir = path.join(root, 'test/tmp');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `exports-probe-${process.pid}.mjs`);
  writeFileSync(file, probe);
  try {
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', cwd: root });
    assert.is(r.stdout.trim(), 'function function function function function function dist/engine/index.js', r.stderr);
  } finally {
    rmSync(file, { force: true });
  }
});

test('the declarations type-check a TypeScript consumer (tsc, NodeNext resolution by package name)', () => {
  const dir = path.join(root, 'test/tmp', `consumer-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(path.join(dir, 'consumer.ts'), `
import { ServerConnection, type ServerConfig, type HandshakeInfo, DEFAULT_GROUPS, DEFAULT_TLS13_SUITES } from 'tlsproxy/engine';
import { loadKeyPair } from 'tlsproxy/certs';
import { createWebCryptoProvider } from 'tlsproxy/providers/webcrypto';
import { createJsCryptoProvider } from 'tlsproxy/providers/js';
export async function make(certPem: string, keyPem: string): Promise<ServerConnection> {
  const provider = Math.random() < 2 ? createWebCryptoProvider() : createJsCryptoProvider();
  const pair = await loadKeyPair({ certPem, certSource: 'c', keyPem, keySource: 'k' });
  const key = await provider.importSigningKey(pair.key.pkcs8, pair.key.algorithm);
  const config: ServerConfig = { provider, certificates: [{ chain: pair.chain, key, names: pair.names }], cipherSuites: DEFAULT_TLS13_SUITES, groups: DEFAULT_GROUPS, preferServerCiphers: true };
  const seen: HandshakeInfo[] = [];
  return new ServerConnection(config, { write: () => undefined, handshake: (i) => seen.push(i), data: () => undefined, peerClosed: () => undefined, failed: (e) => void e.reason });
}
// @ts-expect-error: the declarations are typed (a string is no Uint8Array)
new ServerConnection({} as ServerConfig, {} as never).receive('not bytes');
`);
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, lib: ['ES2022', 'DOM'], types: [], skipLibCheck: false },
      files: ['consumer.ts'],
    }));
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', cwd: dir });
    assert.is(r.status, 0, r.stdout + r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dist/bundle/engine.js (neutral platform): only engine/ and @noble inputs, no import at all, no Node built-in', () => {
  const meta = JSON.parse(readFileSync(path.join(DIST, 'bundle/engine.meta.json'), 'utf8')) as {
    inputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
    outputs: Record<string, { imports: unknown[] }>;
  };
  const inputs = Object.keys(meta.inputs);
  assert.ok(inputs.some((i) => i.endsWith('engine/connection.ts')));
  const foreign = inputs.filter((i) => !/(^|\/)engine\/.*\.ts$/.test(i) && !/node_modules\/@noble\//.test(i) && i !== 'stub:peculiar-webcrypto' && i !== 'engine-bundle.ts');
  assert.equal(foreign, []);
  for (const [file, input] of Object.entries(meta.inputs)) {
    for (const imp of input.imports) assert.not.match(imp.path, /^node:|^(fs|path|crypto|buffer|process|os|net|stream|util)$/, `${file} imports ${imp.path}`);
  }
  for (const out of Object.values(meta.outputs)) assert.equal(out.imports, []);
  const text = readFileSync(path.join(DIST, 'bundle/engine.js'), 'utf8');
  assert.not.match(text, /["']node:[a-z_/]+["']/);
  assert.not.match(text, /\brequire\s*\(/);
  assert.not.match(text, /\bBuffer\.(from|alloc|concat)\b/);
  assert.not.match(text, /\bprocess\.(env|versions|nextTick)\b/);
});

test('examples/echo-server.mjs: openssl s_client over TLS 1.3 and TLS 1.2 gets its line echoed', async () => {
  const pki = testPki();
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(root, 'examples/echo-server.mjs'), pki.certs.p256.certPath, pki.certs.p256.keyPath, String(port)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`not listening: ${out}`)), 20_000);
      child.stdout.on('data', () => out.includes('listening on') && (clearTimeout(t), resolve()));
      child.on('exit', () => reject(new Error(`exited: ${out}`)));
    });
    for (const [v, line] of [['-tls1_3', 'TLSv1.3 TLS_AES_256_GCM_SHA384 x25519'], ['-tls1_2', 'TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384 x25519']] as const) {
      const r = await interactive('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', pki.caPath, '-nocommands', v], 'echo me\n');
      assert.match(r.out, /Verify return code: 0 \(ok\)/, r.out);
      assert.match(r.out, /\necho me\n/, r.out);
      assert.ok(out.includes(`127.0.0.1: ${line}`), out);
    }
  } finally {
    child.kill();
  }
});

test.run();
