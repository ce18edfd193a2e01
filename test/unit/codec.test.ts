import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Reader, Writer, fromHex, hex } from '../../engine/codec.js';
import { TlsFailure } from '../../engine/errors.js';

const decodeError = (code: string) => (e: unknown) => e instanceof TlsFailure && e.alert === 50 && e.code === code;

test('writer back-patches nested length prefixes', () => {
  const w = new Writer(4);
  w.u8(1).begin(2).u16(0xabcd).begin(1).bytes(fromHex('0102')).close().close().u24(5);
  assert.is(hex(w.finish()), '01' + '0005' + 'abcd' + '02' + '0102' + '000005');
});

test('reader sub-readers are bounded and reject trailing bytes', () => {
  const r = new Reader(fromHex('0003 aabbcc ff'));
  const sub = r.sub(2, 0, 10, 'v');
  assert.is(sub.u8(), 0xaa);
  assert.throws(() => sub.end('v'), decodeError('TrailingBytes'));
  sub.bytes(2);
  sub.end();
  assert.throws(() => sub.u8(), decodeError('FieldOverrun'));
  assert.is(r.u8(), 0xff);
  r.end();
});

test('reader rejects vectors outside their declared bounds', () => {
  assert.throws(() => new Reader(fromHex('0001aa')).vec(2, 2, 10), /outside/);
  assert.throws(() => new Reader(fromHex('0005aa')).vec(2, 0, 10), /truncated/);
});

test.run();
