import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineSplitter } from '@tapwatch/collector';

const b = (s: string) => Buffer.from(s, 'utf8');

test('splits on newline and keeps a message split across chunks whole', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(b('{"a":1}\n{"b"')).map(String), ['{"a":1}']);
  assert.deepEqual(s.push(b(':2}\n')).map(String), ['{"b":2}']);
  assert.equal(s.end(), undefined);
});

test('strips exactly one trailing CR (CRLF peers)', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(b('x\r\ny\r\r\n')).map(String), ['x', 'y\r']);
});

test('does not split on U+2028 / U+2029 inside JSON strings', () => {
  const s = new LineSplitter();
  const msg = JSON.stringify({ t: 'a\u2028b\u2029c' })
    .replace(/\\u2028/g, '\u2028')
    .replace(/\\u2029/g, '\u2029');
  const out = s.push(b(msg + '\n'));
  assert.equal(out.length, 1);
  assert.equal(JSON.parse(out[0]!.toString('utf8')).t, 'a\u2028b\u2029c');
});

test('a multi-byte character split across chunks is rejoined intact', () => {
  const s = new LineSplitter();
  const bytes = b('{"t":"é€😀"}\n');
  const out = [...s.push(bytes.subarray(0, 8)), ...s.push(bytes.subarray(8, 11)), ...s.push(bytes.subarray(11))];
  assert.equal(out.length, 1);
  assert.equal(JSON.parse(out[0]!.toString('utf8')).t, 'é€😀');
});

test('an oversized message is skipped from observation and counted, the next one is seen', () => {
  const s = new LineSplitter({ maxLineBytes: 10 });
  assert.deepEqual(s.push(b('0123456789ABCDEF')), []);
  assert.deepEqual(s.push(b('GHIJ\nok\n')).map(String), ['ok']);
  assert.equal(s.oversized, 1);
});

test('an unterminated last message is returned at end of stream', () => {
  const s = new LineSplitter();
  s.push(b('{"x":1}'));
  assert.equal(String(s.end()), '{"x":1}');
});

test('property: for any lines and any chunking, the framed lines equal the lines sent', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.string({ unit: 'grapheme' }).filter((x) => !x.includes('\n') && !x.endsWith('\r')),
        { maxLength: 20 },
      ),
      fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }),
      (lines, cuts) => {
        const all = Buffer.from(lines.map((l) => l + '\n').join(''), 'utf8');
        const s = new LineSplitter();
        const got: string[] = [];
        let i = 0;
        let c = 0;
        while (i < all.length) {
          const n = cuts[c++ % cuts.length]!;
          for (const line of s.push(all.subarray(i, i + n))) got.push(line.toString('utf8'));
          i += n;
        }
        assert.deepEqual(got, lines);
      },
    ),
  );
});
