/**
 * fast-check properties over structured inputs (issue 10, fuzzing), with
 * the fuzz targets' invariants as the oracle:
 *  - ClientHellos with arbitrary extension lists (known and unknown types,
 *    any payload, duplicates), arbitrary suites and versions, in records of
 *    arbitrary sizes: the engine either goes on or fails with an alert of
 *    the table, never internal_error, never an untyped exception, and
 *    refuses input after a failure;
 *  - arbitrary record sequences (any type, version, fragment) likewise;
 *  - PROXY v2 headers with arbitrary TLVs parse back to the same TLVs;
 *  - Postfix attribute lists survive encode -> chunked incremental read;
 *  - main.cf text of arbitrary `name = value` lines with $references only
 *    ever fails with ConfigError.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configTarget } from '../../fuzz/targets/config.js';
import { runEngine } from '../../fuzz/targets/engine.js';
import { Rng } from '../../fuzz/lib/rng.js';
import { encodeProxyV2, parseProxyHeader } from '../../proxy/front-ends/proxy-protocol.js';
import { AttrListReader, encodeAttrs } from '../../proxy/postfix/attr.js';
import { baseHello, cat, clientHello, fragments, record, type Ext } from '../helpers/hello.js';

const RUNS = { numRuns: 150, seed: 20261204 };

const extension: fc.Arbitrary<Ext> = fc.record({
  type: fc.oneof(fc.constantFrom(0, 10, 11, 13, 16, 21, 23, 35, 41, 42, 43, 44, 45, 50, 51, 0xff01, 28), fc.integer({ min: 0, max: 0xffff })),
  data: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 3000 })),
});

test('ClientHellos with arbitrary extensions, suites and fragmentation: the engine invariants hold', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(extension, { maxLength: 12 }), fc.boolean(), fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }),
    fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 1 << 14 }), fc.integer({ min: 0, max: 12 }),
    async (exts, keepBase, suites, version, fragment, position) => {
      const { spec } = baseHello();
      const base = keepBase ? spec.extensions ?? [] : [];
      const extensions = [...base.slice(0, position), ...exts, ...base.slice(position)];
      const hello = clientHello({ ...spec, legacyVersion: keepBase ? spec.legacyVersion : version, cipherSuites: keepBase ? spec.cipherSuites : suites, extensions });
      const label = await runEngine(cat(...fragments(hello, 0x0301, fragment)));
      assert.type(label, 'string');
    },
  ), RUNS);
});

test('arbitrary record sequences: the engine invariants hold', async () => {
  const rec = fc.record({ type: fc.oneof(fc.constantFrom(20, 21, 22, 23), fc.integer({ min: 0, max: 255 })), version: fc.constantFrom(0x0301, 0x0303, 0x0304, 0x0300, 0x0200), body: fc.uint8Array({ maxLength: 600 }) });
  await fc.assert(fc.asyncProperty(fc.array(rec, { maxLength: 8 }), fc.boolean(), async (records, withHello) => {
    const head = withHello ? [fragments(clientHello(baseHello().spec))[0]!] : [];
    await runEngine(cat(...head, ...records.map((r) => record(r.type, r.body, r.version))));
  }), RUNS);
});

test('PROXY v2 with arbitrary TLVs: parsed back to the same TLVs', () => {
  const tlv = fc.record({ type: fc.integer({ min: 0xe0, max: 0xef }), value: fc.uint8Array({ maxLength: 300 }) });
  fc.assert(fc.property(fc.array(tlv, { maxLength: 10 }), fc.integer({ min: 0, max: 0xffff }), (tlvs, port) => {
    const bytes = encodeProxyV2({ source: { address: '192.0.2.1', port }, destination: { address: '192.0.2.2', port: 25 }, tlvs });
    const r = parseProxyHeader(bytes);
    assert.is(r.status, 'ok');
    if (r.status !== 'ok') return;
    assert.is(r.header.length, bytes.length);
    assert.equal(r.header.tlvs.map((t) => [t.type, [...t.value]]), tlvs.map((t) => [t.type, [...t.value]]));
    assert.is(r.header.source?.port, port);
  }), RUNS);
});

test('Postfix attribute lists: encode, then read in arbitrary chunks, give the same list', () => {
  const text = fc.string({ maxLength: 40 }).map((s) => s.replace(/\0/g, ''));
  fc.assert(fc.property(fc.array(fc.tuple(text.filter((s) => s.length > 0), text), { maxLength: 20 }), fc.integer({ min: 1, max: 50 }), (attrs, chunk) => {
    const bytes = encodeAttrs(attrs.map(([n, v]) => [n, v] as const));
    const r = new AttrListReader();
    for (let at = 0; at < bytes.length && !r.done; at += chunk) r.feed(bytes.subarray(at, at + chunk));
    assert.ok(r.done);
    assert.equal(r.attrs.map(([n, v]) => [n, v]), attrs.map(([n, v]) => [Buffer.from(n, 'utf8').toString('latin1'), Buffer.from(v, 'utf8').toString('latin1')]));
  }), RUNS);
});

test('main.cf of arbitrary lines with references: only ConfigError', async () => {
  const name = fc.constantFrom('a', 'b', 'c', 'myhostname', 'compatibility_level', 'tlsproxy_tls_loglevel');
  const piece = fc.oneof(fc.constantFrom('$a', '${b}', '$(c)', '${a?x}', '${b:y}', '${{$a} == {b} ? {x} : {y}}', '${a?{$b}:{$c}}', '{', '}', '$', '${', ' '), fc.string({ maxLength: 5 }));
  const line = fc.tuple(name, fc.array(piece, { maxLength: 6 })).map(([n, v]) => `${n} = ${v.join('')}`);
  await fc.assert(fc.asyncProperty(fc.array(line, { maxLength: 8 }), async (lines) => {
    await configTarget.run(new TextEncoder().encode(lines.join('\n')), new Rng(1));
  }), RUNS);
});

test.run();
